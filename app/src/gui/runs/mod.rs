//! The Runs room: every recorded run, and the selected run's curves and evaluation.

mod controller;
mod panel;

pub use controller::RunsController;

use super::command::Command;
use super::room::{Cx, Room};
use super::state::{AppState, PanelId};

pub const ID: PanelId = PanelId("runs");

/// What the Runs room does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunsCommand {
    /// Show a run's details (its metric history is read on a worker).
    Select(i64),
}

impl From<RunsCommand> for Command {
    fn from(c: RunsCommand) -> Self {
        Command::Runs(c)
    }
}

#[derive(Default)]
pub struct RunsRoom {
    ctl: RunsController,
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
        panel::ui(ui, state, &self.ctl, cmds);
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
