//! The Runs room: the runs table (filter, sort, group, choose columns, export) with selection, and views
//! over it: one run's report, the selected runs compared (overlaid curves, side-by-side diff, confusion
//! matrices), parallel coordinates and scatter, cost against quality, and learning curves.

mod charts;
mod compare;
mod controller;
mod panel;
mod report;

pub use controller::{CurveRequest, Curves, RunsController, XAxis};
pub use panel::{RunsView, Tab};
pub use report::human;

use super::command::Command;
use super::room::{Cx, Room};
use super::state::{AppState, PanelId};

pub const ID: PanelId = PanelId("runs");

/// What the Runs room does.
#[derive(Clone, Debug, PartialEq)]
pub enum RunsCommand {
    /// Show a run's report (its metric history is read on a worker).
    Select(i64),
    /// Read and prepare the curves of runs for the overlay (on a worker).
    Curves(CurveRequest),
    /// Add (or remove) a tag of a run.
    Tag { run: i64, tag: String, remove: bool },
    /// Replace a run's note.
    Note { run: i64, text: String },
}

impl From<RunsCommand> for Command {
    fn from(c: RunsCommand) -> Self {
        Command::Runs(c)
    }
}

#[derive(Default)]
pub struct RunsRoom {
    ctl: RunsController,
    view: RunsView,
}

impl RunsRoom {
    pub fn controller(&self) -> &RunsController {
        &self.ctl
    }

    pub fn view(&self) -> &RunsView {
        &self.view
    }

    pub fn view_mut(&mut self) -> &mut RunsView {
        &mut self.view
    }
}

impl Room for RunsRoom {
    fn id(&self) -> PanelId {
        ID
    }

    fn title(&self) -> &'static str {
        "Runs"
    }

    fn badge(&self, state: &AppState) -> Option<usize> {
        Some(state.resumable.len()).filter(|n| *n > 0)
    }

    fn ui(&mut self, ui: &mut egui::Ui, state: &AppState, cmds: &mut Vec<Command>) {
        panel::ui(ui, state, &mut self.view, &self.ctl, cmds);
    }

    fn apply(&mut self, cmd: Command, cx: &mut Cx<'_>) -> Option<Command> {
        match cmd {
            Command::Runs(c) => {
                self.ctl.apply(c, cx);
                None
            }
            other => Some(other),
        }
    }

    fn poll(&mut self, cx: &mut Cx<'_>) {
        self.ctl.poll(cx);
    }
}
