//! A small coloured label with white text (PASS, pending, drifted…), and the colours the rooms use.

use egui::{Color32, RichText};

pub const GREEN: Color32 = Color32::from_rgb(46, 140, 80);
pub const RED: Color32 = Color32::from_rgb(190, 60, 50);
pub const AMBER: Color32 = Color32::from_rgb(200, 130, 30);

pub fn badge(ui: &mut egui::Ui, text: &str, color: Color32) {
    egui::Frame::new()
        .fill(color)
        .inner_margin(egui::Margin::symmetric(5, 1))
        .corner_radius(4.0)
        .show(ui, |ui| {
            ui.label(RichText::new(text).strong().color(Color32::WHITE));
        });
}
