//! A confusion matrix as a heatmap: one cell per (true, predicted) class pair with its count, shaded by
//! the share of the true class's rows it holds, so a row that is mostly on the diagonal reads as good.

use egui::{Align2, Color32, FontId, Sense, Stroke, vec2};

/// Draw `matrix[true][predicted]` with class names; `id` keeps hover texts apart.
pub fn confusion(
    ui: &mut egui::Ui,
    id: impl std::hash::Hash,
    classes: &[String],
    matrix: &[Vec<u64>],
) {
    let k = matrix.len();
    if k == 0 {
        ui.weak("No confusion matrix recorded.");
        return;
    }
    let label_w = 90.0;
    let cell = ((ui.available_width() - label_w - 8.0) / k as f32).clamp(18.0, 56.0);
    let size = vec2(label_w + cell * k as f32, 18.0 + cell * k as f32 + 18.0);
    let (rect, response) = ui.allocate_exact_size(size, Sense::hover());
    let painter = ui.painter_at(rect);
    let visuals = ui.visuals();
    let text = visuals.text_color();
    let base = if visuals.dark_mode {
        Color32::from_rgb(30, 34, 40)
    } else {
        Color32::from_rgb(245, 247, 250)
    };
    let hot = Color32::from_rgb(40, 120, 220);
    let small = FontId::proportional(11.0);
    let origin = rect.min + vec2(label_w, 18.0);
    painter.text(
        rect.min + vec2(label_w + cell * k as f32 / 2.0, 0.0),
        Align2::CENTER_TOP,
        "predicted class",
        small.clone(),
        text,
    );
    let name = |i: usize| classes.get(i).cloned().unwrap_or_else(|| i.to_string());
    let mut hovered = None;
    for (t, row) in matrix.iter().enumerate() {
        let total: u64 = row.iter().sum();
        let y = origin.y + cell * t as f32;
        let mut short = name(t);
        if short.chars().count() > 12 {
            short = short.chars().take(11).collect::<String>() + "…";
        }
        painter.text(
            egui::pos2(origin.x - 6.0, y + cell / 2.0),
            Align2::RIGHT_CENTER,
            short,
            small.clone(),
            text,
        );
        for (p, &count) in row.iter().enumerate() {
            let share = if total == 0 {
                0.0
            } else {
                count as f32 / total as f32
            };
            let r = egui::Rect::from_min_size(
                egui::pos2(origin.x + cell * p as f32, y),
                vec2(cell, cell),
            );
            painter.rect_filled(r.shrink(1.0), 2.0, base.lerp_to_gamma(hot, share));
            let fg = if share > 0.5 { Color32::WHITE } else { text };
            if cell >= 24.0 || count > 0 {
                painter.text(
                    r.center(),
                    Align2::CENTER_CENTER,
                    count.to_string(),
                    small.clone(),
                    fg,
                );
            }
            if t == p {
                painter.rect_stroke(
                    r.shrink(1.0),
                    2.0,
                    Stroke::new(1.0, text.gamma_multiply(0.5)),
                    egui::StrokeKind::Inside,
                );
            }
            if response.hovered() && response.hover_pos().is_some_and(|h| r.contains(h)) {
                hovered = Some((t, p, count, share));
            }
        }
    }
    painter.text(
        egui::pos2(rect.min.x, origin.y + cell * k as f32 + 2.0),
        Align2::LEFT_TOP,
        "rows: true class",
        small,
        text,
    );
    if let Some((t, p, count, share)) = hovered {
        response.on_hover_text(format!(
            "{count} rows of {} predicted as {} ({:.1}% of {})",
            name(t),
            name(p),
            share * 100.0,
            name(t)
        ));
    }
    let _ = id;
}
