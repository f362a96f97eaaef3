//! *Try it*: the candidate and the champion side by side on rows of the evaluation data, or on a row the
//! user edits, with the probability of each class.

use kiln_core::release::ModelOverview;

use super::panel::{GREEN, RED, badge};
use super::{ReleaseCommand, ReleaseController, ReleaseData, ReleaseView};
use crate::gui::command::Command;

pub fn ui(
    ui: &mut egui::Ui,
    v: &mut ReleaseView,
    ctl: &ReleaseController,
    data: &ReleaseData,
    m: &ModelOverview,
    cmds: &mut Vec<Command>,
) {
    let Some((_, columns, rows)) = data.eval_columns.iter().find(|(n, _, _)| *n == m.name) else {
        ui.weak(format!(
            "Set the evaluation data first: kiln models brief {} --eval DATASET@V",
            m.name
        ));
        return;
    };
    // The versions to compare: the selected request's (or the newest) and the champion.
    let candidate = v
        .request
        .and_then(|id| m.requests.iter().find(|r| r.id == id))
        .map(|r| r.version)
        .or(m.versions.last().map(|x| x.version));
    let mut versions: Vec<i64> = candidate.into_iter().collect();
    if let Some(c) = m.champion.filter(|c| Some(*c) != candidate) {
        versions.push(c);
    }
    ui.label(format!(
        "Pick a row of the evaluation data ({rows} rows) or edit one, and see what {} predict.",
        versions
            .iter()
            .map(|x| format!("v{x}"))
            .collect::<Vec<_>>()
            .join(" and ")
    ));
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
            ui.label(
                row.iter()
                    .filter(|(c, _)| c != "split")
                    .map(|(c, x)| format!("{c} {x}"))
                    .collect::<Vec<_>>()
                    .join(" · "),
            );
            ui.columns(t.versions.len().max(1), |cols| {
                for (col, (ver, classes, probs)) in cols.iter_mut().zip(&t.versions) {
                    let p = &probs[i];
                    let best = (0..p.len())
                        .max_by(|a, b| p[*a].total_cmp(&p[*b]))
                        .unwrap_or(0);
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
