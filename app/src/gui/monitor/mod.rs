//! Monitor: how served models are doing (requests, errors, latency, accuracy on feedback, product
//! outcomes) and whether the data drifted between two dataset versions (per-column test, statistic,
//! p-value, PSI, and the two histograms overlaid).

mod panel;

use kiln_core::Workspace;
use kiln_core::drift::{ColumnHistogram, DriftReport, ServingHealth};

use super::command::Command;
use super::jobs::{Finished, Task};
use super::room::{Cx, Room};
use super::state::{AppState, PanelId};

pub const ID: PanelId = PanelId("monitor");

#[derive(Clone, Debug, PartialEq)]
pub enum MonitorCommand {
    /// Compare two dataset versions (`NAME@VERSION`) on a worker.
    Drift { reference: String, current: String },
    /// Compare what `model` was served in `window` with what it trained on, on a worker.
    ServedDrift {
        model: String,
        window: kiln_core::drift::ServedWindow,
    },
}

impl From<MonitorCommand> for Command {
    fn from(c: MonitorCommand) -> Self {
        Command::Monitor(c)
    }
}

/// A computed drift report with its histograms.
pub struct DriftResult {
    pub reference: String,
    pub current: String,
    pub report: DriftReport,
    pub histograms: Vec<ColumnHistogram>,
    /// Served inputs against training rows (the labels then carry their own counts).
    pub served: bool,
}

#[derive(Default)]
pub struct MonitorRoom {
    pub drift: Option<DriftResult>,
    /// Why the last drift could not be computed (shown in place of the report).
    pub drift_error: Option<String>,
    pub health: Option<Vec<ServingHealth>>,
    drift_job: Option<Task<DriftResult>>,
    health_job: Option<Task<Vec<ServingHealth>>>,
    generation: Option<u64>,
    /// The serving log's change count when the health was last read.
    served_generation: u64,
    /// When the health was last read, and when the room was last on screen: while it is, the health
    /// is read again every few seconds (the live request rate).
    read_at: Option<std::time::Instant>,
    shown_at: Option<std::time::Instant>,
    view: panel::MonitorView,
}

/// How often the health is read again while the Monitor room is on screen.
const REFRESH: std::time::Duration = std::time::Duration::from_secs(5);

impl Room for MonitorRoom {
    fn id(&self) -> PanelId {
        ID
    }

    fn title(&self) -> &'static str {
        "Monitor"
    }

    fn badge(&self, _state: &AppState) -> Option<usize> {
        let alerts = self.health.as_ref().map_or(0, |h| {
            h.iter().filter(|x| panel::alert(x).is_some()).count()
        });
        Some(alerts).filter(|n| *n > 0)
    }

    fn ui(&mut self, ui: &mut egui::Ui, state: &AppState, cmds: &mut Vec<Command>) {
        self.shown_at = Some(std::time::Instant::now());
        ui.ctx().request_repaint_after(REFRESH);
        panel::ui(
            ui,
            state,
            &mut self.view,
            match (&self.drift, &self.drift_error) {
                (_, Some(e)) => Some(Err(e.as_str())),
                (Some(d), None) => Some(Ok(d)),
                (None, None) => None,
            },
            self.health.as_deref(),
            self.drift_job.is_some(),
            cmds,
        );
    }

    fn apply(&mut self, cmd: Command, cx: &mut Cx<'_>) -> Option<Command> {
        match cmd {
            Command::Monitor(MonitorCommand::Drift { reference, current }) => {
                let state = &mut *cx.state;
                let root = state.ws.root().to_path_buf();
                state.jobs.replace(&mut self.drift_job);
                self.drift_job = state.spawn("Compute drift", "monitor-drift", move |_, _| {
                    let (report, histograms) =
                        Workspace::open(&root)?.drift_with_histograms(&reference, &current)?;
                    Ok(DriftResult {
                        reference,
                        current,
                        report,
                        histograms,
                        served: false,
                    })
                });
                None
            }
            Command::Monitor(MonitorCommand::ServedDrift { model, window }) => {
                let state = &mut *cx.state;
                let root = state.ws.root().to_path_buf();
                state.jobs.replace(&mut self.drift_job);
                self.drift_job = state.spawn(
                    "Compute drift of served inputs",
                    "monitor-drift",
                    move |_, _| {
                        let d =
                            Workspace::open(&root)?.served_drift_with_histograms(&model, window)?;
                        Ok(DriftResult {
                            reference: d.reference,
                            current: d.current,
                            report: d.report,
                            histograms: d.histograms,
                            served: true,
                        })
                    },
                );
                None
            }
            other => Some(other),
        }
    }

    fn poll(&mut self, cx: &mut Cx<'_>) {
        let state = &mut *cx.state;
        let now = std::time::Instant::now();
        let on_screen = self
            .shown_at
            .is_some_and(|t| now.duration_since(t) < 2 * REFRESH);
        let due = self
            .read_at
            .is_none_or(|t| now.duration_since(t) >= REFRESH);
        // Another process served or took feedback: read again, at most once a second.
        let served_changed = self.served_generation != state.served_generation
            && self
                .read_at
                .is_none_or(|t| now.duration_since(t) >= std::time::Duration::from_secs(1));
        if self.generation != Some(state.generation)
            || (on_screen && due && self.health_job.is_none())
            || (served_changed && self.health_job.is_none())
        {
            self.generation = Some(state.generation);
            self.served_generation = state.served_generation;
            self.read_at = Some(now);
            let root = state.ws.root().to_path_buf();
            state.jobs.replace(&mut self.health_job);
            self.health_job = state.spawn_shown(
                "Read serving health",
                "monitor-health",
                super::jobs::Shown::Hidden,
                move |_, _| Workspace::open(&root)?.serving_health(),
            );
        }
        match state.poll(&mut self.health_job) {
            Some(Finished::Done(h)) => self.health = Some(h),
            Some(Finished::Failed(e)) => {
                state.error("Could not read the serving log", &e.to_string());
            }
            _ => {}
        }
        match state.poll(&mut self.drift_job) {
            Some(Finished::Done(d)) => {
                self.drift = Some(d);
                self.drift_error = None;
            }
            Some(Finished::Failed(e)) => {
                self.drift = None;
                self.drift_error = Some(e.to_string());
            }
            _ => {}
        }
    }
}
