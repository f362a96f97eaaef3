//! The Label room's controller: the open session (from `kiln_core::labels`), its loading and commit jobs.

use kiln_core::labels::LabelSession;
use kiln_core::{DatasetVersion, ImportOutcome, Workspace};

use super::LabelCommand;
use crate::gui::jobs::{Finished, Task};
use crate::gui::room::Cx;
use crate::gui::state::AppState;

#[derive(Default)]
pub struct LabelController {
    session: Option<LabelSession>,
    load: Option<Task<LabelSession>>,
    commit: Option<Task<ImportOutcome>>,
}

impl LabelController {
    pub fn session(&self) -> Option<&LabelSession> {
        self.session.as_ref()
    }

    pub fn loading(&self) -> bool {
        self.load.is_some()
    }

    pub fn committing(&self) -> bool {
        self.commit.is_some()
    }

    pub fn apply(&mut self, cmd: LabelCommand, cx: &mut Cx<'_>) {
        let state = &mut *cx.state;
        match cmd {
            LabelCommand::Start { column } => {
                let Some(v) = state.open_version.clone() else {
                    state.error("Open a dataset version first", "");
                    return;
                };
                self.start(state, v, column);
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
                let message = Some(message).filter(|m| !m.trim().is_empty());
                let author = Some(author).filter(|a| !a.trim().is_empty());
                let root = state.ws.root().to_path_buf();
                self.commit = state.spawn("Commit labels", "commit-labels", move |_, p| {
                    p.set(0.1, "working");
                    let mut ws = Workspace::open(&root)?;
                    ws.commit_labels(&base, &column, message.as_deref(), author.as_deref())
                });
            }
        }
    }

    fn start(&mut self, state: &mut AppState, version: DatasetVersion, column: String) {
        let root = state.ws.root().to_path_buf();
        state.jobs.replace(&mut self.load);
        self.load = state.spawn("Load for labeling", "label-load", move |_, p| {
            p.set(0.1, "loading");
            Workspace::open(&root)?.label_session(version, column)
        });
    }

    pub fn poll(&mut self, cx: &mut Cx<'_>) {
        let state = &mut *cx.state;
        match state.poll(&mut self.load) {
            Some(Finished::Done(session)) => {
                self.session = Some(session);
                state.active = super::ID;
            }
            Some(Finished::Failed(e)) => {
                state.error("Could not open the version for labeling", &e.to_string());
            }
            _ => {}
        }
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
                // Go on labeling the new version with the same column.
                let column = self
                    .session
                    .as_ref()
                    .filter(|s| Some(s.base.id) == v.parent_id)
                    .map(|s| s.column.clone());
                if let Some(column) = column {
                    self.start(state, v.clone(), column);
                }
            }
            Some(Finished::Failed(e)) => {
                state.error("Commit labels failed; nothing was changed", &e.to_string());
            }
            _ => {}
        }
    }
}
