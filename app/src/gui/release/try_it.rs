//! *Try it*: the candidate and the champion side by side on rows of the evaluation data, or on a row the
//! user edits, with the probability of each class.

use kiln_core::release::ModelOverview;

use super::{ReleaseCommand, ReleaseController, ReleaseData, ReleaseView};
use crate::gui::command::Command;
use crate::gui::widgets::badge::{GREEN, RED, badge};

pub fn ui(
    ui: &mut egui::Ui,
    v: &mut ReleaseView,
    ctl: &ReleaseController,
    data: &ReleaseData,
    m: &ModelOverview,
    cmds: &mut Vec<Command>,
) {
    let Some(t) = data.try_data.iter().find(|t| t.model == m.name) else {
        ui.weak(format!(
            "Set the evaluation data first (Edit the brief, or kiln models brief {} --eval DATASET@V)",
            m.name
        ));
        return;
    };
    let columns = &t.columns;
    // The versions to compare: the selected request's (or the newest) and the champion.
    let candidate = v
        .request
        .and_then(|id| m.requests.iter().find(|r| r.id == id))
        .map(|r| r.version)
        .or(m.versions.last().map(|x| x.version));
    let versions = super::controller::tried_versions(m, candidate);
    let names = versions
        .iter()
        .map(|x| format!("v{x}"))
        .collect::<Vec<_>>()
        .join(" and ");
    let rows = match t.held_out.iter().find(|(vs, _)| *vs == versions) {
        Some((_, Ok(h))) => {
            ui.label(format!(
                "Pick a row of the evaluation data — {} — or edit one, and see what {names} predict.",
                h.sentence(),
            ));
            h.judged()
        }
        Some((_, Err(why))) => {
            ui.colored_label(ui.visuals().error_fg_color, why);
            return;
        }
        None => {
            ui.weak("No held-out rows are known for these versions yet.");
            return;
        }
    };
    let rows = &rows;
    ui.horizontal(|ui| {
        ui.label("Row");
        ui.add(egui::DragValue::new(&mut v.try_row).range(0..=rows.saturating_sub(1)));
        if ui.button("Predict this row").clicked() {
            cmds.push(
                ReleaseCommand::Try {
                    model: m.name.clone(),
                    versions: versions.clone(),
                    rows: vec![v.try_row],
                    edited: None,
                }
                .into(),
            );
        }
        if ui.button("Next 5 rows").clicked() {
            let start = v.try_row;
            cmds.push(
                ReleaseCommand::Try {
                    model: m.name.clone(),
                    versions: versions.clone(),
                    rows: (start..(start + 5).min(*rows)).collect(),
                    edited: None,
                }
                .into(),
            );
            v.try_row = (start + 5).min(rows.saturating_sub(1));
        }
    });
    let drawing = data
        .drawings
        .iter()
        .find(|(n, _)| *n == m.name)
        .map(|(_, d)| d);
    if let Some(d) = drawing {
        canvas(ui, v, d, &m.name, &versions, cmds);
    }
    if let Some(t) = ctl.tried.as_ref().filter(|t| t.model == m.name) {
        if ui.button("Edit the first row").clicked()
            && let Some(first) = t.rows.first()
        {
            v.try_edit = first
                .iter()
                .filter(|(c, _)| c != "split")
                .cloned()
                .collect();
        }
        for (i, row) in t.rows.iter().enumerate() {
            ui.separator();
            let truth = t.truth.get(i).cloned().flatten();
            let drawn = drawing.is_some_and(|d| {
                row.len() == d.columns.len() && row.iter().zip(&d.columns).all(|((c, _), n)| c == n)
            });
            if drawn {
                ui.strong("Your drawing:");
            } else {
                ui.label(
                    row.iter()
                        .filter(|(c, _)| c != "split")
                        .map(|(c, x)| format!("{c} {x}"))
                        .collect::<Vec<_>>()
                        .join(" · "),
                );
            }
            ui.columns(t.versions.len().max(1), |cols| {
                for (col, (ver, classes, probs)) in cols.iter_mut().zip(&t.versions) {
                    let p = &probs[i];
                    let best = kiln_core::best_class(p);
                    col.horizontal(|ui| {
                        ui.strong(format!(
                            "v{ver}: {}",
                            classes.get(best).cloned().unwrap_or_default()
                        ));
                        if let Some(truth) = &truth {
                            if classes.get(best) == Some(truth) {
                                badge(ui, "right", GREEN);
                            } else {
                                badge(ui, &format!("wrong, it is {truth}"), RED);
                            }
                        }
                    });
                    for (c, pr) in classes.iter().zip(p) {
                        col.add(
                            egui::ProgressBar::new(*pr as f32)
                                .text(format!("{c} {:.1}%", pr * 100.0)),
                        );
                    }
                }
            });
        }
    }
    if !v.try_edit.is_empty() {
        ui.separator();
        ui.strong("Edited row");
        egui::Grid::new("try-edit").show(ui, |ui| {
            for (c, x) in &mut v.try_edit {
                if columns.contains(c) {
                    ui.label(c.as_str());
                    ui.add(egui::TextEdit::singleline(x).desired_width(160.0));
                    ui.end_row();
                }
            }
        });
        if ui.button("Predict the edited row").clicked() {
            cmds.push(
                ReleaseCommand::Try {
                    model: m.name.clone(),
                    versions,
                    rows: vec![],
                    edited: Some(v.try_edit.clone()),
                }
                .into(),
            );
        }
    }
}

/// A grid to draw an image on (left button draws, right button erases), then predict it.
fn canvas(
    ui: &mut egui::Ui,
    v: &mut ReleaseView,
    d: &kiln_core::release::Drawing,
    model: &str,
    versions: &[i64],
    cmds: &mut Vec<Command>,
) {
    ui.separator();
    ui.strong(format!(
        "Draw a {}×{} image (left button draws, right button erases)",
        d.height, d.width
    ));
    let n = d.height * d.width;
    if v.canvas.len() != n {
        v.canvas = vec![0.0; n];
    }
    let cell = (220.0 / d.height.max(d.width) as f32).clamp(6.0, 28.0);
    let size = egui::vec2(cell * d.width as f32, cell * d.height as f32);
    let (response, painter) = ui.allocate_painter(size, egui::Sense::click_and_drag());
    let rect = response.rect;
    if let Some(pos) = response.interact_pointer_pos()
        && (response.dragged() || response.clicked() || response.secondary_clicked())
        && rect.contains(pos)
    {
        let (cx, cy) = (
            ((pos.x - rect.left()) / cell) as usize,
            ((pos.y - rect.top()) / cell) as usize,
        );
        let erase = ui.input(|i| i.pointer.secondary_down()) || response.secondary_clicked();
        // A soft brush: the cell under the pointer, and a little of its neighbours.
        for (dx, dy, amount) in [
            (0i64, 0i64, 1.0f32),
            (1, 0, 0.35),
            (-1, 0, 0.35),
            (0, 1, 0.35),
            (0, -1, 0.35),
        ] {
            let (x, y) = (cx as i64 + dx, cy as i64 + dy);
            if x < 0 || y < 0 || x >= d.width as i64 || y >= d.height as i64 {
                continue;
            }
            let i = y as usize * d.width + x as usize;
            v.canvas[i] = if erase {
                0.0
            } else {
                (v.canvas[i] + amount).min(1.0)
            };
        }
    }
    painter.rect_filled(rect, 2.0, egui::Color32::BLACK);
    for (i, val) in v.canvas.iter().enumerate() {
        let (x, y) = ((i % d.width) as f32, (i / d.width) as f32);
        let r = egui::Rect::from_min_size(
            rect.min + egui::vec2(x * cell, y * cell),
            egui::vec2(cell, cell),
        );
        let g = (val * 255.0) as u8;
        painter.rect_filled(r.shrink(0.5), 1.0, egui::Color32::from_gray(g));
    }
    ui.horizontal(|ui| {
        if ui.button("Clear the drawing").clicked() {
            v.canvas = vec![0.0; n];
        }
        if ui.button("Predict the drawing").clicked() {
            let cells = d
                .columns
                .iter()
                .zip(&v.canvas)
                .map(|(c, val)| (c.clone(), format!("{}", (f64::from(*val) * d.ink).round())))
                .collect();
            cmds.push(
                ReleaseCommand::Try {
                    model: model.to_owned(),
                    versions: versions.to_vec(),
                    rows: vec![],
                    edited: Some(cells),
                }
                .into(),
            );
        }
    });
}
