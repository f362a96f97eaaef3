//! Models & Releases: the registry, quality gates and release approval (the product side's view). For now
//! the room says what is coming.

use crate::gui::command::Command;
use crate::gui::room::Room;
use crate::gui::state::{AppState, PanelId};

pub const ID: PanelId = PanelId("models");

pub struct ReleaseRoom;

impl Room for ReleaseRoom {
    fn id(&self) -> PanelId {
        ID
    }

    fn title(&self) -> &'static str {
        "Models & Releases"
    }

    fn ui(&mut self, ui: &mut egui::Ui, _state: &AppState, cmds: &mut Vec<Command>) {
        crate::gui::widgets::placeholder::show(
            ui,
            self.title(),
            "Register models, run quality gates, get a reviewer's approval and release — with an audit trail.",
            cmds,
        );
    }
}
