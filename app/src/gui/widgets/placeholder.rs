//! The panel of a phase that is not built yet: it says honestly what is coming and where to go now.

use crate::gui::command::Command;

pub fn show(ui: &mut egui::Ui, heading: &str, text: &str, cmds: &mut Vec<Command>) {
    ui.vertical_centered(|ui| {
        ui.add_space(ui.available_height() * 0.3);
        ui.heading(heading);
        ui.add_space(8.0);
        ui.label(text);
        ui.add_space(8.0);
        ui.label(egui::RichText::new("Not available yet in this version of Kiln.").weak());
        ui.add_space(16.0);
        if ui.button("Go to Data").clicked() {
            cmds.push(Command::show(crate::gui::data::ID));
        }
    });
}
