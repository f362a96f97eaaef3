//! The room of a phase that is not built yet: it says honestly what is coming and where to go now.

use crate::gui::command::Command;
use crate::gui::room::Room;
use crate::gui::state::{AppState, PanelId};

pub struct PlaceholderRoom {
    pub id: PanelId,
    pub title: &'static str,
    /// What the phase will do, in a sentence.
    pub text: &'static str,
}

impl Room for PlaceholderRoom {
    fn id(&self) -> PanelId {
        self.id
    }

    fn title(&self) -> &'static str {
        self.title
    }

    fn ui(&mut self, ui: &mut egui::Ui, _state: &AppState, cmds: &mut Vec<Command>) {
        ui.vertical_centered(|ui| {
            ui.add_space(ui.available_height() * 0.3);
            ui.heading(self.title);
            ui.add_space(8.0);
            ui.label(self.text);
            ui.add_space(8.0);
            ui.label(egui::RichText::new("Not available yet in this version of Kiln.").weak());
            ui.add_space(16.0);
            if ui.button("Go to Data").clicked() {
                cmds.push(Command::show(crate::gui::data::ID));
            }
        });
    }
}
