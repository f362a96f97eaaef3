//! Monitor: the served model's traffic, drift and health. For now the room says what is coming.

use crate::gui::command::Command;
use crate::gui::room::Room;
use crate::gui::state::{AppState, PanelId};

pub const ID: PanelId = PanelId("monitor");

pub struct MonitorRoom;

impl Room for MonitorRoom {
    fn id(&self) -> PanelId {
        ID
    }

    fn title(&self) -> &'static str {
        "Monitor"
    }

    fn ui(&mut self, ui: &mut egui::Ui, _state: &AppState, cmds: &mut Vec<Command>) {
        crate::gui::widgets::placeholder::show(
            ui,
            self.title(),
            "Serve the released model over HTTP and watch its inputs drift from the training data.",
            cmds,
        );
    }
}
