//! The Train room: the form (data, target, features, template, hyperparameters, device), a run followed
//! live with Stop and Resume, and sweeps.

mod controller;
mod panel;

use kiln_core::DatasetVersion;
use kiln_core::sweeps::SweepSpec;
use kiln_core::training::TrainRequest;

pub use controller::{EpochPoint, LiveSweep, LiveTraining, TrainController};
use panel::TrainPanel;

use super::command::Command;
use super::room::{Cx, Room};
use super::state::{AppState, PanelId};

pub const ID: PanelId = PanelId("train");

/// What the Train room does.
#[derive(Clone, Debug, PartialEq)]
pub enum TrainCommand {
    /// Work out the form's defaults (target guess, image features) for a version.
    Defaults(DatasetVersion),
    /// Train a model in the background, followed live.
    Start(TrainRequest),
    /// Stop the running training (the run keeps its best model and can be resumed).
    Stop,
    /// Continue a stopped, failed or interrupted run from its last checkpoint.
    Resume(i64),
    StartSweep(SweepSpec),
    StopSweep,
}

impl From<TrainCommand> for Command {
    fn from(c: TrainCommand) -> Self {
        Command::Train(Box::new(c))
    }
}

#[derive(Default)]
pub struct TrainRoom {
    ctl: TrainController,
    panel: TrainPanel,
}

impl TrainRoom {
    pub fn controller(&self) -> &TrainController {
        &self.ctl
    }
}

impl Room for TrainRoom {
    fn id(&self) -> PanelId {
        ID
    }

    fn title(&self) -> &'static str {
        "Train"
    }

    fn ui(&mut self, ui: &mut egui::Ui, state: &AppState, cmds: &mut Vec<Command>) {
        self.panel.ui(ui, state, &self.ctl, cmds);
    }

    fn apply(&mut self, cmd: Command, cx: &mut Cx<'_>) -> Option<Command> {
        match cmd {
            Command::Train(c) => {
                self.ctl.apply(*c, cx);
                None
            }
            other => Some(other),
        }
    }

    fn poll(&mut self, cx: &mut Cx<'_>) {
        self.ctl.poll(cx);
    }
}
