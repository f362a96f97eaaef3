//! The Runs panel: every recorded training run with its status and metrics; the selected run's
//! parameters, loss and accuracy curves, confusion matrix and per-class scores.

use egui_extras::{Column, TableBuilder};
use egui_plot::{Legend, Line, Plot};
use kiln_core::Run;

use super::{RunsCommand, RunsController};
use crate::gui::command::Command;
use crate::gui::state::AppState;
use crate::gui::train::TrainCommand;

fn metric(run: &Run, name: &str) -> String {
    run.metrics[name].as_f64().map_or_else(
        || "—".into(),
        |v| {
            if v.fract().abs() < f64::EPSILON && v.abs() < 1e9 {
                format!("{v:.0}")
            } else {
                format!("{v:.4}")
            }
        },
    )
}

/// Draw the Runs panel: the table of runs, and the selected run's details.
pub fn ui(ui: &mut egui::Ui, state: &AppState, ctl: &RunsController, cmds: &mut Vec<Command>) {
    if state.runs.is_empty() {
        ui.vertical_centered(|ui| {
            ui.add_space(ui.available_height() * 0.3);
            ui.heading("No training runs yet");
            ui.add_space(8.0);
            ui.label(
                "Train a model in the Train panel, or: kiln train --dataset NAME --target COLUMN",
            );
            if ui.button("Go to Train").clicked() {
                cmds.push(Command::show(crate::gui::train::ID));
            }
        });
        return;
    }
    ui.heading(format!("Runs ({})", state.runs.len()));
    let headers = [
        "run",
        "status",
        "model",
        "target",
        "device",
        "test accuracy",
        "test loss",
        "epochs",
        "sweep",
        "started",
    ];
    TableBuilder::new(ui)
        .id_salt("runs")
        .striped(true)
        .sense(egui::Sense::click())
        .column(Column::exact(44.0))
        .column(Column::initial(80.0))
        .column(Column::exact(50.0))
        .column(Column::initial(100.0))
        .column(Column::initial(160.0).clip(true))
        .columns(Column::initial(90.0), 3)
        .column(Column::initial(70.0))
        .column(Column::remainder())
        .max_scroll_height(200.0)
        .header(20.0, |mut h| {
            for name in headers {
                h.col(|ui| {
                    ui.strong(name);
                });
            }
        })
        .body(|body| {
            body.rows(20.0, state.runs.len(), |mut row| {
                let r = &state.runs[row.index()];
                row.set_selected(ctl.selected == Some(r.id));
                row.col(|ui| {
                    if ui
                        .selectable_label(ctl.selected == Some(r.id), format!("#{}", r.id))
                        .clicked()
                    {
                        cmds.push(RunsCommand::Select(r.id).into());
                    }
                });
                let cells = [
                    r.status.to_string(),
                    r.model.clone(),
                    r.target.clone(),
                    r.device.clone(),
                    metric(r, "test_accuracy"),
                    metric(r, "test_loss"),
                    metric(r, "epochs"),
                    r.sweep_id.clone().unwrap_or_default(),
                    r.started_at.replace('T', " ").chars().take(19).collect(),
                ];
                for c in cells {
                    row.col(|ui| {
                        ui.label(c);
                    });
                }
                if row.response().clicked() {
                    cmds.push(RunsCommand::Select(r.id).into());
                }
            });
        });
    let Some(run) = ctl
        .selected
        .and_then(|id| state.runs.iter().find(|r| r.id == id))
    else {
        ui.label(egui::RichText::new("Click a run to see its curves and evaluation.").weak());
        return;
    };
    ui.separator();
    ui.strong(format!(
        "Run {} · {} · seed {} · {}",
        run.id, run.status, run.seed, run.device
    ));
    ui.label(
        egui::RichText::new(format!("params {}", run.params))
            .monospace()
            .small(),
    );
    if let Some(e) = &run.error {
        ui.colored_label(ui.visuals().error_fg_color, e);
    }
    if let Some(r) = state.resumable.iter().find(|r| r.run_id == run.id) {
        // (A second run while one trains is refused by the Train room with a message.)
        if ui
            .button(format!("Resume from epoch {}", r.epoch + 1))
            .clicked()
        {
            cmds.push(TrainCommand::Resume(run.id).into());
        }
    }
    ui.columns(2, |cols| {
        if let Some((_, points)) = ctl.history.as_ref().filter(|(id, _)| *id == run.id) {
            let series = |name: &str| -> Vec<[f64; 2]> {
                points
                    .iter()
                    .filter(|p| p.name == name)
                    .map(|p| [p.step as f64, p.value])
                    .collect()
            };
            cols[0].label("Loss per epoch");
            Plot::new(("run-loss", run.id))
                .legend(Legend::default())
                .height(220.0)
                .show(&mut cols[0], |p| {
                    p.line(Line::new("train_loss", series("train_loss")));
                    p.line(Line::new("val_loss", series("val_loss")));
                });
            cols[0].label("Accuracy per epoch");
            Plot::new(("run-acc", run.id))
                .legend(Legend::default())
                .height(220.0)
                .show(&mut cols[0], |p| {
                    p.line(Line::new("train_accuracy", series("train_accuracy")));
                    p.line(Line::new("val_accuracy", series("val_accuracy")));
                });
        }
        let eval = &run.evaluation;
        if let Some(per_class) = eval["per_class"].as_array() {
            cols[1].label("Test split, per class");
            egui::Grid::new(("per-class", run.id))
                .striped(true)
                .show(&mut cols[1], |ui| {
                    for h in ["class", "precision", "recall", "F1", "support"] {
                        ui.strong(h);
                    }
                    ui.end_row();
                    for c in per_class {
                        ui.label(c["class"].as_str().unwrap_or_default());
                        for k in ["precision", "recall", "f1"] {
                            ui.label(format!("{:.3}", c[k].as_f64().unwrap_or_default()));
                        }
                        ui.label(c["support"].to_string());
                        ui.end_row();
                    }
                });
        }
    });
}
