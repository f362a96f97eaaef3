use super::{Command, Panel};
use crate::gui::state::{AppState, PanelId};

/// A panel of a phase that is not built yet: it says honestly what is coming and where to go now.
pub struct Placeholder {
    id: PanelId,
    heading: &'static str,
    text: &'static str,
}

impl Placeholder {
    pub fn new(id: PanelId, heading: &'static str, text: &'static str) -> Self {
        Self { id, heading, text }
    }
}

impl Panel for Placeholder {
    fn id(&self) -> PanelId {
        self.id
    }

    fn ui(&mut self, ui: &mut egui::Ui, _state: &AppState, cmds: &mut Vec<Command>) {
        ui.vertical_centered(|ui| {
            ui.add_space(ui.available_height() * 0.3);
            ui.heading(self.heading);
            ui.add_space(8.0);
            ui.label(self.text);
            ui.add_space(8.0);
            ui.label(egui::RichText::new("Not available yet in this version of Kiln.").weak());
            ui.add_space(16.0);
            if ui.button("Go to Data").clicked() {
                cmds.push(Command::ShowPanel(PanelId::Data));
            }
        });
    }
}
