//! The Label room's controller: the open session (from `kiln_core::labels`), its loading and commit jobs.

use kiln_core::assist::{Suggestions, SuspectReport, SuspectSettings, Uncertainty};
use kiln_core::labels::LabelSession;
use kiln_core::{DatasetVersion, ImportOutcome, Workspace};

use super::LabelCommand;
use crate::gui::jobs::{Finished, Task};
use crate::gui::room::Cx;
use crate::gui::state::AppState;

/// Where a labeling session opens.
#[derive(Clone, Copy)]
enum At {
    /// At this position (a version larger than the memory budget: the window from here).
    Position(usize),
    /// At the row with this id (in the window that holds it).
    Row(u64),
}

#[derive(Default)]
pub struct LabelController {
    session: Option<LabelSession>,
    load: Option<Task<LabelSession>>,
    commit: Option<Task<ImportOutcome>>,
    suspects: Option<Task<SuspectReport>>,
    suggest: Option<Task<(i64, Suggestions)>>,
    order: Option<Task<(i64, Uncertainty, Vec<usize>)>>,
    /// The last suspects run's summary (estimated errors per class pair), for the panel.
    pub report: Option<SuspectReport>,
    /// For a session that holds a window: the committed labels of the whole version, by class.
    version_counts: Option<VersionCounts>,
    counting: Option<Task<VersionCounts>>,
}

/// The committed labels of a label column in a whole version, by class (most first).
#[derive(Clone, Debug)]
pub struct VersionCounts {
    pub version_id: i64,
    pub column: String,
    pub counts: Vec<(String, u64)>,
}

impl VersionCounts {
    /// Whether these are the counts of `column` in the version with id `version_id`.
    fn of(&self, version_id: i64, column: &str) -> bool {
        self.version_id == version_id && self.column == column
    }
}

impl LabelController {
    pub fn session(&self) -> Option<&LabelSession> {
        self.session.as_ref()
    }

    pub fn loading(&self) -> bool {
        self.load.is_some()
    }

    /// The whole version's committed labels, once counted, when the session holds a window of it.
    pub fn version_counts(&self) -> Option<&VersionCounts> {
        let s = self.session.as_ref()?;
        self.version_counts
            .as_ref()
            .filter(|c| c.of(s.base.id, &s.column))
    }

    pub fn counting(&self) -> bool {
        self.counting.is_some()
    }

    pub fn committing(&self) -> bool {
        self.commit.is_some()
    }

    pub fn finding_suspects(&self) -> bool {
        self.suspects.is_some()
    }

    pub fn suggesting(&self) -> bool {
        self.suggest.is_some() || self.order.is_some()
    }

    pub fn apply(&mut self, cmd: LabelCommand, cx: &mut Cx<'_>) {
        let state = &mut *cx.state;
        match cmd {
            LabelCommand::Start { column } => {
                let Some(v) = state.open_version.clone() else {
                    state.error("Open a dataset version first", "");
                    return;
                };
                self.start(state, v, column, At::Position(0));
            }
            LabelCommand::Window(start) => {
                if let Some(s) = &self.session {
                    let (base, column) = (s.base.clone(), s.column.clone());
                    self.start(state, base, column, At::Position(start));
                }
            }
            LabelCommand::GoToRow(id) => {
                if let Some(s) = &mut self.session {
                    if let Some(pos) = s.position_of(id) {
                        s.move_to(pos);
                    } else {
                        let (base, column) = (s.base.clone(), s.column.clone());
                        self.start(state, base, column, At::Row(id));
                    }
                }
            }
            LabelCommand::Set {
                rows,
                value,
                advance,
            } => {
                if let Some(s) = &mut self.session
                    && let Err(e) = s.set(&state.ws, &rows, value.as_deref(), advance)
                {
                    state.error("Label not saved", &e.to_string());
                }
            }
            LabelCommand::Undo => {
                if let Some(s) = &mut self.session
                    && let Err(e) = s.undo(&state.ws)
                {
                    state.error("Undo not saved", &e.to_string());
                }
            }
            LabelCommand::MoveCursor(pos) => {
                if let Some(s) = &mut self.session {
                    s.move_to(pos);
                }
            }
            LabelCommand::SetOnlyUnlabeled(on) => {
                if let Some(s) = &mut self.session {
                    s.only_unlabeled = on;
                }
            }
            LabelCommand::SaveSchema(classes) => {
                if let Some(s) = &mut self.session
                    && let Err(e) = s.set_schema(&state.ws, classes)
                {
                    state.error("Could not save the label classes", &e.to_string());
                }
            }
            LabelCommand::Commit { message, author } => {
                let Some(s) = &self.session else { return };
                let (base, column) = (s.base.clone(), s.column.clone());
                // Fixes from a suspect review name the run they came from.
                let message = kiln_core::assist::commit_message(
                    &message,
                    s.assist.review.as_ref().map(|r| r.run),
                );
                let author = Some(author).filter(|a| !a.trim().is_empty());
                let root = state.ws.root().to_path_buf();
                self.commit = state.spawn("Commit labels", "commit-labels", move |_, p| {
                    p.set(0.1, "working");
                    let mut ws = Workspace::open(&root)?;
                    ws.commit_labels(&base, &column, message.as_deref(), author.as_deref())
                });
            }
            other => self.apply_assist(other, state),
        }
    }

    fn apply_assist(&mut self, cmd: LabelCommand, state: &mut AppState) {
        let Some(session) = &mut self.session else {
            return;
        };
        let root = state.ws.root().to_path_buf();
        match cmd {
            LabelCommand::FindSuspects {
                model,
                folds,
                filter,
            } => {
                let reference = format!("{}@{}", session.base.dataset, session.base.version);
                let column = session.column.clone();
                let mut settings = SuspectSettings::new(model);
                settings.folds = folds;
                settings.filter = filter;
                state.jobs.replace(&mut self.suspects);
                self.suspects =
                    state.spawn("Find suspect labels", "label-suspects", move |cancel, p| {
                        p.set(0.0, "cross-validating");
                        Workspace::open(&root)?.find_suspects(
                            &reference,
                            &column,
                            &settings,
                            cancel.flag(),
                            &mut |done, all| {
                                p.set(done as f32 / all as f32, &format!("fold {done} of {all}"));
                            },
                        )
                    });
            }
            LabelCommand::ReviewDecide(label) => {
                if let Err(e) = session.review_decide(&state.ws, label.as_deref()) {
                    state.error("Decision not saved", &e.to_string());
                }
            }
            LabelCommand::CloseReview => session.assist.review = None,
            LabelCommand::Suggest { run } => {
                let snapshot = session.clone();
                state.jobs.replace(&mut self.suggest);
                self.suggest = state.spawn("Suggest labels", "label-suggest", move |_, p| {
                    p.set(0.1, "predicting");
                    Ok((run, Workspace::open(&root)?.suggestions(&snapshot, run)?))
                });
            }
            LabelCommand::AcceptSuggestions { min } => {
                match session.accept_suggestions(&state.ws, min) {
                    Ok(n) => state.info(format!("Accepted {n} suggestion(s) as labels (draft)")),
                    Err(e) => state.error("Suggestions not accepted", &e.to_string()),
                }
            }
            LabelCommand::OrderBy(None) => {
                session.assist.order = None;
                session.assist.order_by = None;
            }
            LabelCommand::OrderBy(Some((run, strategy))) => {
                let snapshot = session.clone();
                state.jobs.replace(&mut self.order);
                self.order = state.spawn("Order by uncertainty", "label-order", move |_, p| {
                    p.set(0.1, "predicting");
                    let order =
                        Workspace::open(&root)?.uncertainty_order(&snapshot, run, strategy)?;
                    Ok((run, strategy, order))
                });
            }
            _ => {}
        }
    }

    fn start(&mut self, state: &mut AppState, version: DatasetVersion, column: String, at: At) {
        let root = state.ws.root().to_path_buf();
        let budget = state.ws.memory_budget();
        state.jobs.replace(&mut self.load);
        self.load = state.spawn("Load for labeling", "label-load", move |_, p| {
            p.set(0.1, "loading");
            let mut ws = Workspace::open(&root)?;
            ws.set_memory_budget(budget);
            match at {
                At::Position(start) => ws.label_session_at(version, column, start),
                At::Row(id) => {
                    p.set(0.1, "finding the row");
                    ws.label_session_at_row(version, column, id)
                }
            }
        });
    }

    /// Count the committed labels of the whole version a windowed session holds, on a worker (one
    /// streaming pass over the label column), unless they are counted already.
    fn count_version(&mut self, state: &mut AppState, session: &LabelSession) {
        let counted = self
            .version_counts
            .as_ref()
            .is_some_and(|c| c.of(session.base.id, &session.column));
        if counted {
            return;
        }
        let (base, column) = (session.base.clone(), session.column.clone());
        let root = state.ws.root().to_path_buf();
        state.jobs.replace(&mut self.counting);
        self.counting = state.spawn("Count labels", "label-count", move |_, p| {
            p.set(0.1, "counting the whole version's labels");
            let ws = Workspace::open(&root)?;
            let counts = ws.committed_label_counts(&base, &column)?;
            Ok(VersionCounts {
                version_id: base.id,
                column,
                counts,
            })
        });
    }

    pub fn poll(&mut self, cx: &mut Cx<'_>) {
        let state = &mut *cx.state;
        match state.poll(&mut self.load) {
            Some(Finished::Done(session)) => {
                if session.window.is_some() {
                    self.count_version(state, &session);
                }
                self.session = Some(session);
                state.active = super::ID;
            }
            Some(Finished::Failed(e)) => {
                state.error("Could not open the version for labeling", &e.to_string());
            }
            _ => {}
        }
        match state.poll(&mut self.counting) {
            Some(Finished::Done(counts)) => self.version_counts = Some(counts),
            Some(Finished::Failed(e)) => {
                state.error("Could not count the version's labels", &e.to_string());
            }
            _ => {}
        }
        self.poll_assist(state);
        match state.poll(&mut self.commit) {
            Some(Finished::Done(out)) => {
                state.report_version("Commit labels", &out);
                let v = &out.version;
                cx.cmds.push(
                    crate::gui::data::DataCommand::OpenVersion {
                        dataset: v.dataset.clone(),
                        version: Some(v.version),
                    }
                    .into(),
                );
                // Go on labeling the new version with the same column (and the same rows of a
                // version larger than the memory budget).
                let go_on = self
                    .session
                    .as_ref()
                    .filter(|s| Some(s.base.id) == v.parent_id)
                    .map(|s| (s.column.clone(), s.window.map_or(0, |w| w.start)));
                if let Some((column, at)) = go_on {
                    self.start(state, v.clone(), column, At::Position(at));
                }
            }
            Some(Finished::Failed(e)) => {
                state.error("Commit labels failed; nothing was changed", &e.to_string());
            }
            _ => {}
        }
    }
}

impl LabelController {
    fn poll_assist(&mut self, state: &mut AppState) {
        match state.poll(&mut self.suspects) {
            Some(Finished::Done(report)) => {
                if let Some(s) = &mut self.session {
                    if report.suspects.is_empty() {
                        state.info(format!(
                            "No suspect labels in {}@{}: the model agrees with every label it can judge",
                            report.dataset, report.version
                        ));
                    } else {
                        s.start_review(&report);
                    }
                }
                self.report = Some(report);
            }
            Some(Finished::Failed(e)) => {
                state.error("Could not find suspect labels", &e.to_string());
            }
            _ => {}
        }
        match state.poll(&mut self.suggest) {
            Some(Finished::Done((run, suggestions))) => {
                if let Some(s) = &mut self.session {
                    s.assist.suggestions = suggestions;
                    s.assist.run = Some(run);
                }
            }
            Some(Finished::Failed(e)) => state.error("Could not suggest labels", &e.to_string()),
            _ => {}
        }
        match state.poll(&mut self.order) {
            Some(Finished::Done((run, strategy, order))) => {
                if let Some(s) = &mut self.session {
                    s.assist.order = Some(order);
                    s.assist.order_by = Some(strategy);
                    s.assist.run = Some(run);
                    s.only_unlabeled = true;
                    if let Some(&first) = s.assist.order.as_ref().and_then(|o| o.first()) {
                        s.cursor = first;
                    }
                }
            }
            Some(Finished::Failed(e)) => {
                state.error("Could not order by uncertainty", &e.to_string());
            }
            _ => {}
        }
    }
}
