//! One run as a report: what it is and what it trained on (with a link to the data), its cost, its
//! parameters as a table, tags and note, its curves, the confusion matrix as a heatmap and per-class
//! scores.

use egui_plot::{Legend, Line, Plot};
use kiln_core::Run;

use super::{RunsCommand, RunsController, RunsView};
use crate::gui::command::Command;
use crate::gui::data::DataCommand;
use crate::gui::state::AppState;
use crate::gui::train::TrainCommand;
use crate::gui::widgets::heatmap;

/// A number for people: thousands separated, few decimals.
pub fn human(v: f64) -> String {
    if !v.is_finite() {
        return "—".into();
    }
    if v.fract().abs() < 1e-9 && v.abs() < 1e15 {
        let out = kiln_core::release::heldout::count(v.abs() as usize);
        return if v < 0.0 { format!("-{out}") } else { out };
    }
    if v.abs() >= 100.0 {
        format!("{v:.1}")
    } else if v.abs() >= 0.01 {
        format!("{v:.4}")
    } else {
        format!("{v:.3e}")
    }
}

fn bytes(v: f64) -> String {
    if v >= 1_048_576.0 {
        format!("{:.1} MiB", v / 1_048_576.0)
    } else if v >= 1024.0 {
        format!("{:.1} KiB", v / 1024.0)
    } else {
        format!("{v:.0} B")
    }
}

/// The confusion matrix and class names of a run's test evaluation.
pub fn confusion_of(run: &Run) -> (Vec<String>, Vec<Vec<u64>>) {
    let classes = run.evaluation["per_class"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|c| c["class"].as_str().unwrap_or_default().to_owned())
                .collect()
        })
        .unwrap_or_default();
    let matrix = run.evaluation["confusion"]
        .as_array()
        .map(|rows| {
            rows.iter()
                .map(|r| {
                    r.as_array()
                        .map(|c| c.iter().map(|x| x.as_u64().unwrap_or(0)).collect())
                        .unwrap_or_default()
                })
                .collect()
        })
        .unwrap_or_default();
    (classes, matrix)
}

pub fn ui(
    ui: &mut egui::Ui,
    state: &AppState,
    v: &mut RunsView,
    ctl: &RunsController,
    cmds: &mut Vec<Command>,
) {
    let Some(run) = ctl
        .selected
        .and_then(|id| state.runs.iter().find(|r| r.id == id))
    else {
        ui.weak("Click a run in the table for its report; tick runs to compare them.");
        return;
    };
    ui.horizontal(|ui| {
        ui.heading(format!("Run {}", run.id));
        let (color, word) = match run.status {
            kiln_core::RunStatus::Finished => (egui::Color32::from_rgb(60, 160, 90), "finished"),
            kiln_core::RunStatus::Running => (egui::Color32::from_rgb(60, 120, 220), "running"),
            _ => (egui::Color32::from_rgb(200, 120, 40), run.status.as_str()),
        };
        ui.label(
            egui::RichText::new(format!(" {word} "))
                .color(egui::Color32::WHITE)
                .background_color(color),
        );
        if let Some(acc) = run.metrics["test_accuracy"].as_f64() {
            ui.label(
                egui::RichText::new(format!("{:.1}% correct on held-out test rows", acc * 100.0))
                    .strong(),
            );
        }
    });
    if let Some(e) = &run.error {
        ui.colored_label(ui.visuals().error_fg_color, e);
    }
    let version = state
        .versions
        .values()
        .flatten()
        .find(|ver| ver.id == run.dataset_version_id);
    ui.horizontal(|ui| {
        ui.label(format!("{} model predicting", run.model.to_uppercase()));
        ui.strong(&run.target);
        ui.label("from");
        if let Some(ver) = version {
            if ui
                .link(format!("{}@{}", ver.dataset, ver.version))
                .on_hover_text("Open this dataset version in the Data room")
                .clicked()
            {
                cmds.push(
                    DataCommand::OpenVersion {
                        dataset: ver.dataset.clone(),
                        version: Some(ver.version),
                    }
                    .into(),
                );
                cmds.push(Command::show(crate::gui::data::ID));
            }
            ui.weak(format!(
                "({} rows, blake3 {})",
                ver.row_count,
                &ver.content_hash[..12.min(ver.content_hash.len())]
            ));
        }
    });
    if run.status == kiln_core::RunStatus::Finished {
        ui.horizontal(|ui| {
            ui.label("Register this run's model as");
            ui.add(
                egui::TextEdit::singleline(&mut v.register_name)
                    .hint_text("model name")
                    .desired_width(140.0),
            );
            egui::ComboBox::from_id_salt("register-stage")
                .selected_text(v.register_stage.as_str())
                .show_ui(ui, |ui| {
                    for s in ["candidate", "poc"] {
                        ui.selectable_value(&mut v.register_stage, s.to_owned(), s);
                    }
                });
            let name = v.register_name.trim().to_owned();
            if ui
                .add_enabled(!name.is_empty(), egui::Button::new("Register"))
                .on_hover_text("A new version of this model name, shown in Models & Releases")
                .clicked()
            {
                cmds.push(
                    crate::gui::release::ReleaseCommand::Register {
                        run: run.id,
                        model: name,
                        stage: v.register_stage.clone(),
                        by: kiln_core::current_user(),
                    }
                    .into(),
                );
            }
        });
    }
    if let Some(r) = state.resumable.iter().find(|r| r.run_id == run.id)
        && ui
            .button(format!("Resume from epoch {}", r.epoch + 1))
            .clicked()
    {
        cmds.push(TrainCommand::Resume(run.id).into());
    }
    ui.add_space(6.0);
    ui.columns(3, |cols| {
        cols[0].strong("Cost");
        egui::Grid::new(("cost", run.id))
            .striped(true)
            .show(&mut cols[0], |ui| {
                let m = |k: &str| run.metrics[k].as_f64();
                let rows: [(&str, Option<String>); 8] = [
                    ("training time", run.duration_s.map(|d| format!("{d:.2} s"))),
                    ("samples / s", m("samples_per_s").map(human)),
                    ("parameters", m("param_count").map(human)),
                    ("weights size", m("weights_bytes").map(bytes)),
                    ("training rows", m("train_rows").map(human)),
                    (
                        "latency / row",
                        m("latency_ms_per_row").map(|l| format!("{l:.4} ms")),
                    ),
                    ("device", Some(run.device.clone())),
                    (
                        "code version",
                        Some(format!(
                            "kiln {}{}",
                            run.kiln_version,
                            run.git_commit
                                .as_ref()
                                .map(|c| format!(" · git {}", &c[..8.min(c.len())]))
                                .unwrap_or_default()
                        )),
                    ),
                ];
                for (k, val) in rows {
                    ui.label(k);
                    ui.label(val.unwrap_or_else(|| "—".into()));
                    ui.end_row();
                }
            });
        cols[1].strong("Parameters");
        egui::Grid::new(("params", run.id))
            .striped(true)
            .show(&mut cols[1], |ui| {
                if let Some(p) = run.params.as_object() {
                    for (k, val) in p {
                        ui.label(k);
                        ui.label(match val {
                            serde_json::Value::String(s) => s.clone(),
                            serde_json::Value::Array(a) => a
                                .iter()
                                .map(ToString::to_string)
                                .collect::<Vec<_>>()
                                .join(" × "),
                            serde_json::Value::Number(n) => {
                                n.as_f64().map_or_else(|| n.to_string(), human)
                            }
                            other => other.to_string(),
                        });
                        ui.end_row();
                    }
                }
            });
        let ui = &mut cols[2];
        ui.strong("Tags and note");
        ui.horizontal_wrapped(|ui| {
            for t in &run.tags {
                if ui
                    .button(format!("{t} ×"))
                    .on_hover_text("Remove this tag")
                    .clicked()
                {
                    cmds.push(
                        RunsCommand::Tag {
                            run: run.id,
                            tag: t.clone(),
                            remove: true,
                        }
                        .into(),
                    );
                }
            }
        });
        ui.horizontal(|ui| {
            let r = ui.add(
                egui::TextEdit::singleline(&mut v.tag_text)
                    .hint_text("new tag")
                    .desired_width(110.0),
            );
            let enter = r.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter));
            if (ui.button("Add tag").clicked() || enter) && !v.tag_text.trim().is_empty() {
                cmds.push(
                    RunsCommand::Tag {
                        run: run.id,
                        tag: std::mem::take(&mut v.tag_text),
                        remove: false,
                    }
                    .into(),
                );
            }
        });
        if v.note.as_ref().is_none_or(|(id, _)| *id != run.id) {
            v.note = Some((run.id, run.note.clone()));
        }
        if let Some((_, text)) = &mut v.note {
            ui.add(
                egui::TextEdit::multiline(text)
                    .hint_text("Note: why this run, what it showed")
                    .desired_rows(3),
            );
            if *text != run.note && ui.button("Save note").clicked() {
                cmds.push(
                    RunsCommand::Note {
                        run: run.id,
                        text: text.clone(),
                    }
                    .into(),
                );
            }
        }
    });
    ui.add_space(6.0);
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
                .height(180.0)
                .show(&mut cols[0], |p| {
                    p.line(Line::new("train_loss", series("train_loss")));
                    p.line(Line::new("val_loss", series("val_loss")));
                });
            cols[0].label("Accuracy per epoch");
            Plot::new(("run-acc", run.id))
                .legend(Legend::default())
                .height(180.0)
                .show(&mut cols[0], |p| {
                    p.line(Line::new("train_accuracy", series("train_accuracy")));
                    p.line(Line::new("val_accuracy", series("val_accuracy")));
                });
        }
        let (classes, matrix) = confusion_of(run);
        if !matrix.is_empty() {
            cols[1].strong("Test rows: true class against prediction");
            heatmap::confusion(&mut cols[1], ("cm", run.id), &classes, &matrix);
        }
        if let Some(per_class) = run.evaluation["per_class"].as_array() {
            cols[1].strong("Per class");
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
