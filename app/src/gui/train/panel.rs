//! The Train panel: choose a dataset version, target, features, template and hyperparameters; train on
//! a worker thread with live loss/accuracy curves, progress with ETA, Stop and Resume; launch sweeps.

use std::collections::{BTreeMap, BTreeSet};

use egui_plot::{Legend, Line, Plot, PlotPoints, Points};
use kiln_core::sweeps::{ParamRange, Search, SweepSpec};
use kiln_core::training::TrainRequest;
use kiln_train::{DeviceChoice, ModelKind, Optimizer, Schedule, TrainParams};

use super::{LiveSweep, LiveTraining, TrainCommand, TrainController};
use crate::gui::command::Command;
use crate::gui::state::AppState;

/// The sweep dialog's inputs.
struct SweepForm {
    open: bool,
    random: bool,
    trials: usize,
    seed: u64,
    parallel: usize,
    /// Parameter → comma-separated values (grid, or choices in a random search).
    values: BTreeMap<&'static str, String>,
    /// Parameter → `LOW:HIGH[:log][:int]` (random search).
    ranges: BTreeMap<&'static str, String>,
}

/// Parameters the sweep dialog offers.
const SWEEPABLE: [&str; 10] = [
    "lr",
    "hidden",
    "filters",
    "dropout",
    "weight_decay",
    "batch_size",
    "epochs",
    "optimizer",
    "schedule",
    "seed",
];

impl Default for SweepForm {
    fn default() -> Self {
        Self {
            open: false,
            random: false,
            trials: 8,
            seed: 0,
            parallel: 1,
            values: BTreeMap::from([("lr", "0.001, 0.01".to_owned())]),
            ranges: BTreeMap::new(),
        }
    }
}

pub struct TrainPanel {
    dataset: Option<String>,
    /// `None` = the latest version.
    version: Option<i64>,
    target: Option<String>,
    /// Feature columns the user unticked.
    excluded: BTreeSet<String>,
    /// The version (id) the target and exclusions were defaulted for.
    defaults_for: Option<i64>,
    params: TrainParams,
    hidden_text: String,
    filters_text: String,
    device: DeviceChoice,
    form_error: Option<String>,
    sweep: SweepForm,
}

impl Default for TrainPanel {
    fn default() -> Self {
        let params = TrainParams::default();
        Self {
            dataset: None,
            version: None,
            target: None,
            excluded: BTreeSet::new(),
            defaults_for: None,
            hidden_text: join(&params.hidden),
            filters_text: join(&params.filters),
            params,
            device: DeviceChoice::Auto,
            form_error: None,
            sweep: SweepForm::default(),
        }
    }
}

fn join(v: &[usize]) -> String {
    v.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// `(name, dtype)` of every column of a version.
fn columns(v: &kiln_core::DatasetVersion) -> Vec<(String, String)> {
    v.schema
        .as_array()
        .map(|a| {
            a.iter()
                .map(|c| {
                    (
                        c["name"].as_str().unwrap_or_default().to_owned(),
                        c["dtype"].as_str().unwrap_or_default().to_owned(),
                    )
                })
                .filter(|(n, _)| !kiln_train::RESERVED_COLUMNS.contains(&n.as_str()))
                .collect()
        })
        .unwrap_or_default()
}

/// How the Target box is filled in, in the words of its tooltip.
const TARGET_RULE: &str = "Kiln picks a column named label, labels, target, class, y, category or \
     outcome (in that order, any case); else the last column with 2 to 20 distinct values (and at \
     most half as many as rows); else none. Choose another here.";

fn fmt_secs(s: f64) -> String {
    if s >= 3600.0 {
        format!(
            "{:.0} h {:.0} min",
            (s / 3600.0).floor(),
            (s % 3600.0) / 60.0
        )
    } else if s >= 60.0 {
        format!("{:.0} min {:.0} s", (s / 60.0).floor(), s % 60.0)
    } else {
        format!("{s:.0} s")
    }
}

impl TrainPanel {
    /// The request the form describes, or what is wrong with it.
    fn request(&mut self, state: &AppState) -> Result<TrainRequest, String> {
        let dataset = self.dataset.clone().ok_or("choose a dataset")?;
        let target = self.target.clone().ok_or("choose a target column")?;
        let mut params = self.params.clone();
        params
            .set("hidden", &self.hidden_text)
            .map_err(|e| e.to_string())?;
        params
            .set("filters", &self.filters_text)
            .map_err(|e| e.to_string())?;
        params.check().map_err(|e| e.to_string())?;
        let version = state
            .versions
            .get(&dataset)
            .and_then(|vs| match self.version {
                Some(n) => vs.iter().find(|v| v.version == n),
                None => vs.last(),
            })
            .ok_or("the dataset has no version")?;
        let features: Vec<String> = columns(version)
            .into_iter()
            .map(|(c, _)| c)
            .filter(|c| *c != target && !self.excluded.contains(c))
            .collect();
        if features.is_empty() {
            return Err("tick at least one feature column".into());
        }
        Ok(TrainRequest {
            dataset: format!("{dataset}@{}", version.version),
            target,
            features: Some(features),
            params,
            device: self.device,
            sweep_id: None,
        })
    }

    fn data_section(
        &mut self,
        ui: &mut egui::Ui,
        state: &AppState,
        ctl: &TrainController,
        cmds: &mut Vec<Command>,
    ) {
        ui.strong("Data");
        if self.dataset.is_none() {
            self.dataset = state.datasets.first().map(|d| d.name.clone());
        }
        egui::Grid::new("train-data").num_columns(2).show(ui, |ui| {
            ui.label("Dataset");
            let before = self.dataset.clone();
            egui::ComboBox::from_id_salt("train-dataset")
                .selected_text(self.dataset.clone().unwrap_or_else(|| "—".into()))
                .show_ui(ui, |ui| {
                    for d in &state.datasets {
                        ui.selectable_value(&mut self.dataset, Some(d.name.clone()), &d.name);
                    }
                });
            if before != self.dataset {
                // The target and features are defaulted again below for the new version.
                self.version = None;
            }
            ui.end_row();
            let versions = self
                .dataset
                .as_ref()
                .and_then(|d| state.versions.get(d))
                .cloned()
                .unwrap_or_default();
            ui.label("Version");
            egui::ComboBox::from_id_salt("train-version")
                .selected_text(
                    self.version
                        .map_or_else(|| "latest".to_owned(), |v| format!("@{v}")),
                )
                .show_ui(ui, |ui| {
                    ui.selectable_value(&mut self.version, None, "latest");
                    for v in versions.iter().rev() {
                        ui.selectable_value(
                            &mut self.version,
                            Some(v.version),
                            format!("@{} · {} · {} rows", v.version, v.operation, v.row_count),
                        );
                    }
                });
            ui.end_row();
            let version = match self.version {
                Some(n) => versions.iter().find(|v| v.version == n),
                None => versions.last(),
            };
            let cols = version.map(columns).unwrap_or_default();
            let key = version.map(|v| v.id);
            if key != self.defaults_for
                && let Some(v) = version
            {
                // The target guess and the image rule come from the core, worked out on a worker.
                match ctl.defaults(v.id) {
                    Some(d) => {
                        self.defaults_for = key;
                        self.target.clone_from(&d.target);
                        self.excluded = d.excluded.iter().cloned().collect();
                    }
                    None if !ctl.defaults_pending() => {
                        cmds.push(TrainCommand::Defaults(v.clone()).into());
                    }
                    None => {}
                }
            }
            let l = ui.label("Target").on_hover_text(TARGET_RULE);
            egui::ComboBox::from_id_salt("train-target")
                .selected_text(self.target.clone().unwrap_or_else(|| "—".into()))
                .show_ui(ui, |ui| {
                    for (c, _) in &cols {
                        ui.selectable_value(&mut self.target, Some(c.clone()), c);
                    }
                })
                .response
                .on_hover_text(TARGET_RULE)
                .labelled_by(l.id);
            ui.end_row();
            let features: Vec<&(String, String)> = cols
                .iter()
                .filter(|(c, _)| Some(c) != self.target.as_ref())
                .collect();
            let on = features
                .iter()
                .filter(|(c, _)| !self.excluded.contains(c))
                .count();
            ui.label("Features");
            ui.vertical(|ui| {
                egui::CollapsingHeader::new(format!("{on} of {} columns", features.len()))
                    .id_salt("train-features")
                    .show(ui, |ui| {
                        ui.horizontal(|ui| {
                            if ui.small_button("All").clicked() {
                                self.excluded.clear();
                            }
                            if ui.small_button("None").clicked() {
                                self.excluded = features.iter().map(|(c, _)| c.clone()).collect();
                            }
                        });
                        egui::ScrollArea::vertical()
                            .max_height(160.0)
                            .show(ui, |ui| {
                                for (c, dtype) in &features {
                                    let mut ticked = !self.excluded.contains(c);
                                    if ui
                                        .checkbox(&mut ticked, format!("{c}  ({dtype})"))
                                        .changed()
                                    {
                                        if ticked {
                                            self.excluded.remove(c);
                                        } else {
                                            self.excluded.insert(c.clone());
                                        }
                                    }
                                }
                            });
                    });
                ui.label(
                    egui::RichText::new(
                        "numeric: standardized · text: one-hot · pixels / images: scaled to 0–1",
                    )
                    .small()
                    .weak(),
                );
            });
            ui.end_row();
        });
    }

    fn model_section(&mut self, ui: &mut egui::Ui) {
        ui.strong("Model");
        let before = self.params.model;
        ui.horizontal(|ui| {
            ui.selectable_value(&mut self.params.model, ModelKind::Mlp, "MLP (tabular)");
            ui.selectable_value(&mut self.params.model, ModelKind::Cnn, "CNN (images)");
        });
        if before != self.params.model {
            // The other template's defaults, keeping the seed; values the user changed from the
            // previous template's defaults are kept too.
            let old = TrainParams::for_model(before);
            let new = TrainParams::for_model(self.params.model);
            let p = &mut self.params;
            if (p.learning_rate - old.learning_rate).abs() < 1e-12 {
                p.learning_rate = new.learning_rate;
            }
            if (p.dropout - old.dropout).abs() < 1e-12 {
                p.dropout = new.dropout;
            }
            if p.epochs == old.epochs {
                p.epochs = new.epochs;
            }
        }
        let p = &mut self.params;
        egui::Grid::new("train-params")
            .num_columns(2)
            .spacing([12.0, 6.0])
            .show(ui, |ui| {
                ui.label(if p.model == ModelKind::Mlp {
                    "Hidden layers"
                } else {
                    "Dense layer"
                })
                .on_hover_text("Widths, comma-separated (the CNN uses the first)");
                ui.text_edit_singleline(&mut self.hidden_text);
                ui.end_row();
                if p.model == ModelKind::Cnn {
                    ui.label("Conv filters")
                        .on_hover_text("One 3×3 convolution + 2×2 max-pool per entry");
                    ui.text_edit_singleline(&mut self.filters_text);
                    ui.end_row();
                }
                ui.label("Dropout");
                ui.add(egui::Slider::new(&mut p.dropout, 0.0..=0.9));
                ui.end_row();
                ui.label("Optimizer");
                ui.horizontal(|ui| {
                    ui.selectable_value(&mut p.optimizer, Optimizer::Adam, "Adam");
                    ui.selectable_value(&mut p.optimizer, Optimizer::Sgd, "SGD");
                });
                ui.end_row();
                ui.label("Learning rate");
                ui.add(
                    egui::DragValue::new(&mut p.learning_rate)
                        .range(1e-6..=1.0)
                        .speed(1e-4)
                        .max_decimals(6),
                );
                ui.end_row();
                ui.label("Schedule");
                ui.horizontal(|ui| {
                    ui.selectable_value(&mut p.schedule, Schedule::Constant, "constant");
                    ui.selectable_value(&mut p.schedule, Schedule::Cosine, "cosine");
                    ui.selectable_value(&mut p.schedule, Schedule::Step, "step");
                });
                ui.end_row();
                if p.schedule == Schedule::Step {
                    ui.label("Step every / by");
                    ui.horizontal(|ui| {
                        ui.add(egui::DragValue::new(&mut p.step_size).range(1..=10_000))
                            .on_hover_text("epochs");
                        ui.add(
                            egui::DragValue::new(&mut p.gamma)
                                .range(0.01..=1.0)
                                .speed(0.01),
                        )
                        .on_hover_text("factor");
                    });
                    ui.end_row();
                }
                ui.label("Weight decay");
                ui.add(
                    egui::DragValue::new(&mut p.weight_decay)
                        .range(0.0..=1.0)
                        .speed(1e-5)
                        .max_decimals(6),
                );
                ui.end_row();
                ui.label("Batch size");
                ui.add(egui::DragValue::new(&mut p.batch_size).range(1..=65_536));
                ui.end_row();
                ui.label("Epochs");
                ui.add(egui::DragValue::new(&mut p.epochs).range(1..=100_000));
                ui.end_row();
                ui.label("Early stopping")
                    .on_hover_text("Epochs without a better validation loss; 0 = off");
                ui.add(egui::DragValue::new(&mut p.patience).range(0..=100_000));
                ui.end_row();
                ui.label("Seed");
                ui.add(egui::DragValue::new(&mut p.seed));
                ui.end_row();
                ui.label("Device");
                ui.horizontal(|ui| {
                    ui.selectable_value(&mut self.device, DeviceChoice::Auto, "Auto")
                        .on_hover_text("A real GPU through wgpu if there is one, else the CPU");
                    ui.selectable_value(&mut self.device, DeviceChoice::Cpu, "CPU");
                    ui.selectable_value(&mut self.device, DeviceChoice::Wgpu, "wgpu");
                });
                ui.end_row();
            });
    }

    fn live_view(ui: &mut egui::Ui, t: &LiveTraining, cmds: &mut Vec<Command>) {
        ui.horizontal(|ui| {
            ui.heading(&t.title);
        });
        if let Some(d) = &t.device {
            ui.label(egui::RichText::new(format!("Device: {d}")).weak());
        }
        if t.running() {
            let epoch = t.epochs.last().map_or(t.first_epoch, |e| e.epoch + 1);
            let eta = t.eta_s().map_or_else(
                || "estimating…".to_owned(),
                |s| format!("ETA {}", fmt_secs(s)),
            );
            ui.horizontal(|ui| {
                ui.add(
                    egui::ProgressBar::new(t.fraction())
                        .desired_width(ui.available_width() - 90.0)
                        .text(format!(
                            "epoch {} of {} · step {} of {} · {eta}",
                            epoch.min(t.total_epochs.max(1)),
                            t.total_epochs,
                            t.last_step,
                            t.total_steps()
                        )),
                );
                if ui
                    .button("Stop")
                    .on_hover_text(
                        "Stop at the next batch; the best model is kept and the run can be resumed",
                    )
                    .clicked()
                {
                    cmds.push(TrainCommand::Stop.into());
                }
            });
        } else {
            match &t.result {
                Some(Ok(s)) => {
                    ui.horizontal(|ui| {
                        ui.strong(format!("Run {} {}", s.run_id, s.status));
                        if let Some(a) = s.metrics.get("test_accuracy") {
                            ui.label(format!("· test accuracy {a:.4}"));
                        }
                        if let Some(l) = s.metrics.get("test_loss") {
                            ui.label(format!("· test loss {l:.4}"));
                        }
                        if s.status == kiln_core::RunStatus::Stopped
                            && ui.button("Resume this run").clicked()
                        {
                            cmds.push(TrainCommand::Resume(s.run_id).into());
                        }
                        if ui.button("Open in Runs").clicked() {
                            cmds.push(Command::show(crate::gui::runs::ID));
                        }
                    });
                }
                Some(Err(e)) => {
                    ui.colored_label(ui.visuals().error_fg_color, format!("Failed: {e}"));
                }
                None => {}
            }
        }
        let per_epoch = t.steps_per_epoch.max(1) as f64;
        let (val_loss, val_acc) = if t.validation {
            ("validation loss", "validation accuracy")
        } else {
            // No validation rows in the split: the loop evaluates (and early-stops) on the train rows.
            (
                "train-set loss (no validation rows)",
                "train-set accuracy (no validation rows)",
            )
        };
        let h = ((ui.available_height() - 40.0) / 2.0).clamp(120.0, 320.0);
        ui.label("Loss");
        Plot::new("train-loss")
            .legend(Legend::default())
            .height(h)
            .x_axis_label("epoch")
            .show(ui, |p| {
                // Every batch, thinned to at most ~2000 points for drawing.
                let stride = (t.steps.len() / 2000).max(1);
                let steps: PlotPoints = t
                    .steps
                    .iter()
                    .step_by(stride)
                    .map(|[s, l]| [s / per_epoch, *l])
                    .collect();
                p.line(Line::new("batch loss", steps).width(1.0));
                let epochs = |f: fn(&super::EpochPoint) -> f64| -> Vec<[f64; 2]> {
                    t.epochs.iter().map(|e| [e.epoch as f64, f(e)]).collect()
                };
                p.line(Line::new("train loss", epochs(|e| e.train_loss)).width(2.0));
                p.line(Line::new(val_loss, epochs(|e| e.val_loss)).width(2.0));
                p.points(Points::new(val_loss, epochs(|e| e.val_loss)).radius(2.0));
            });
        ui.label("Accuracy");
        Plot::new("train-accuracy")
            .legend(Legend::default())
            .height(h)
            .x_axis_label("epoch")
            .include_y(1.0)
            .show(ui, |p| {
                let epochs = |f: fn(&super::EpochPoint) -> f64| -> Vec<[f64; 2]> {
                    t.epochs.iter().map(|e| [e.epoch as f64, f(e)]).collect()
                };
                p.line(Line::new("train accuracy", epochs(|e| e.train_accuracy)).width(2.0));
                p.line(Line::new(val_acc, epochs(|e| e.val_accuracy)).width(2.0));
            });
    }

    fn sweep_window(
        &mut self,
        ctx: &egui::Context,
        state: &AppState,
        ctl: &TrainController,
        cmds: &mut Vec<Command>,
    ) {
        if !self.sweep.open {
            return;
        }
        let mut open = true;
        let base = self.request(state);
        egui::Window::new("Sweep")
            .open(&mut open)
            .default_width(460.0)
            .show(ctx, |ui| {
                ui.label("Runs the form's settings once per combination; every trial is a run tagged with the sweep.");
                ui.horizontal(|ui| {
                    ui.selectable_value(&mut self.sweep.random, false, "Grid");
                    ui.selectable_value(&mut self.sweep.random, true, "Random");
                    if self.sweep.random {
                        ui.label("trials");
                        ui.add(egui::DragValue::new(&mut self.sweep.trials).range(1..=1000));
                        ui.label("seed");
                        ui.add(egui::DragValue::new(&mut self.sweep.seed));
                    }
                });
                egui::Grid::new("sweep-params").num_columns(3).striped(true).show(ui, |ui| {
                    ui.strong("parameter");
                    ui.strong("values (comma-separated)");
                    if self.sweep.random {
                        ui.strong("range LOW:HIGH[:log][:int]");
                    }
                    ui.end_row();
                    for key in SWEEPABLE {
                        ui.label(key);
                        let v = self.sweep.values.entry(key).or_default();
                        ui.add(egui::TextEdit::singleline(v).desired_width(180.0).id_salt(("sweep-v", key)));
                        if self.sweep.random {
                            let r = self.sweep.ranges.entry(key).or_default();
                            ui.add(egui::TextEdit::singleline(r).desired_width(140.0).id_salt(("sweep-r", key)));
                        }
                        ui.end_row();
                    }
                });
                ui.horizontal(|ui| {
                    ui.label("Runs at a time");
                    ui.add(egui::DragValue::new(&mut self.sweep.parallel).range(1..=64));
                });
                let spec = base.and_then(|b| self.sweep_spec(b));
                let trials = spec.as_ref().map_err(Clone::clone).and_then(|s| {
                    s.trials().map(|t| t.len()).map_err(|e| e.to_string())
                });
                match &trials {
                    Ok(n) => ui.label(format!("{n} runs")),
                    Err(e) => ui.colored_label(ui.visuals().error_fg_color, e),
                };
                let running = ctl.sweep.as_ref().is_some_and(|s| s.result.is_none());
                ui.horizontal(|ui| {
                    if ui
                        .add_enabled(trials.is_ok() && !running, egui::Button::new("Start sweep"))
                        .clicked()
                        && let Ok(spec) = spec
                    {
                        cmds.push(TrainCommand::StartSweep(spec).into());
                    }
                    if running && ui.button("Stop sweep").clicked() {
                        cmds.push(TrainCommand::StopSweep.into());
                    }
                });
            });
        self.sweep.open = open;
    }

    fn sweep_spec(&self, base: TrainRequest) -> Result<SweepSpec, String> {
        let mut values = BTreeMap::new();
        for (k, v) in &self.sweep.values {
            let list = kiln_core::sweeps::split_values(v);
            if !list.is_empty() {
                values.insert((*k).to_owned(), list);
            }
        }
        let mut ranges = BTreeMap::new();
        if self.sweep.random {
            for (k, r) in &self.sweep.ranges {
                if r.trim().is_empty() {
                    continue;
                }
                let range = ParamRange::parse(r)
                    .ok_or_else(|| format!("`{r}` is not LOW:HIGH[:log][:int] (for {k})"))?;
                values.remove(*k);
                ranges.insert((*k).to_owned(), range);
            }
        }
        if values.is_empty() && ranges.is_empty() {
            return Err("give values for at least one parameter".into());
        }
        Ok(SweepSpec {
            base,
            values,
            ranges,
            search: if self.sweep.random {
                Search::Random {
                    trials: self.sweep.trials,
                    seed: self.sweep.seed,
                }
            } else {
                Search::Grid
            },
            parallel: self.sweep.parallel,
        })
    }

    fn sweep_progress(ui: &mut egui::Ui, sweep: Option<&LiveSweep>, cmds: &mut Vec<Command>) {
        let Some(sw) = sweep else {
            return;
        };
        ui.separator();
        let running = sw.result.is_none();
        ui.horizontal(|ui| {
            ui.strong(match &sw.result {
                Some(Ok(o)) => format!("{} {}", o.sweep_id, o.status),
                Some(Err(_)) => "Sweep failed".to_owned(),
                None => "Sweep running".to_owned(),
            });
            ui.label(format!("{} of {} runs done", sw.trials.len(), sw.total));
            if running && ui.button("Stop sweep").clicked() {
                cmds.push(TrainCommand::StopSweep.into());
            }
        });
        if let Some(Err(e)) = &sw.result {
            ui.colored_label(ui.visuals().error_fg_color, e);
        }
        let best = sw
            .trials
            .iter()
            .filter_map(|t| Some((t.run_id?, t.test_accuracy?)))
            .max_by(|a, b| a.1.total_cmp(&b.1));
        egui::ScrollArea::vertical()
            .id_salt("sweep-trials")
            .max_height(140.0)
            .show(ui, |ui| {
                egui::Grid::new("sweep-trials-grid")
                    .striped(true)
                    .show(ui, |ui| {
                        for h in ["trial", "parameters", "run", "status", "test accuracy"] {
                            ui.strong(h);
                        }
                        ui.end_row();
                        for t in &sw.trials {
                            ui.label(format!("{}", t.trial + 1));
                            let a: Vec<String> = t
                                .assignment
                                .iter()
                                .map(|(k, v)| format!("{k}={v}"))
                                .collect();
                            ui.label(a.join("  "));
                            ui.label(t.run_id.map_or_else(|| "—".into(), |r| format!("#{r}")));
                            ui.label(t.status.as_str());
                            let acc = t.test_accuracy.map_or_else(
                                || t.error.clone().unwrap_or_default(),
                                |a| format!("{a:.4}"),
                            );
                            if best.is_some_and(|(r, _)| Some(r) == t.run_id) {
                                ui.strong(format!("{acc}  (best)"));
                            } else {
                                ui.label(acc);
                            }
                            ui.end_row();
                        }
                    });
            });
    }
}

impl TrainPanel {
    pub fn ui(
        &mut self,
        ui: &mut egui::Ui,
        state: &AppState,
        ctl: &TrainController,
        cmds: &mut Vec<Command>,
    ) {
        if state.datasets.is_empty() {
            ui.vertical_centered(|ui| {
                ui.add_space(ui.available_height() * 0.3);
                ui.heading("Nothing to train on yet");
                ui.label("Import a dataset in the Data panel first.");
                if ui.button("Go to Data").clicked() {
                    cmds.push(Command::show(crate::gui::data::ID));
                }
            });
            return;
        }
        let training = ctl.training.as_ref().is_some_and(LiveTraining::running);
        egui::Panel::left("train-form")
            .resizable(true)
            .default_size(340.0)
            .show(ui, |ui| {
                egui::ScrollArea::vertical().show(ui, |ui| {
                    self.data_section(ui, state, ctl, cmds);
                    ui.separator();
                    self.model_section(ui);
                    ui.separator();
                    ui.horizontal(|ui| {
                        let train = ui.add_enabled(
                            !training,
                            egui::Button::new(egui::RichText::new("Start training").strong())
                                .min_size(egui::vec2(90.0, 28.0)),
                        );
                        if train.clicked() {
                            match self.request(state) {
                                Ok(req) => {
                                    self.form_error = None;
                                    cmds.push(TrainCommand::Start(req).into());
                                }
                                Err(e) => self.form_error = Some(e),
                            }
                        }
                        if ui.button("Sweep…").clicked() {
                            self.sweep.open = true;
                        }
                        let curve = ui
                            .add_enabled(!training, egui::Button::new("Learning curve"))
                            .on_hover_text(
                                "Would more data help? Trains these settings on 10%, 25%, 50% and 100% of the training rows (nested, stratified), three seeds each; see Runs, More data?",
                            );
                        if curve.clicked() {
                            match self.request(state).and_then(|req| {
                                kiln_core::sweeps::SweepSpec::learning_curve(
                                    req,
                                    &[0.1, 0.25, 0.5, 1.0],
                                    3,
                                )
                                .map_err(|e| e.to_string())
                            }) {
                                Ok(spec) => {
                                    self.form_error = None;
                                    cmds.push(TrainCommand::StartSweep(spec).into());
                                }
                                Err(e) => self.form_error = Some(e),
                            }
                        }
                    });
                    if let Some(e) = &self.form_error {
                        ui.colored_label(ui.visuals().error_fg_color, e);
                    }
                    if !state.resumable.is_empty() {
                        ui.separator();
                        ui.strong("Resume a run");
                        for r in state.resumable.iter().take(5) {
                            let (id, epoch) = (r.run_id, r.epoch);
                            ui.horizontal(|ui| {
                                let status = state
                                    .runs
                                    .iter()
                                    .find(|r| r.id == id)
                                    .map_or("", |r| r.status.as_str());
                                ui.label(format!("Run {id} ({status}, after epoch {epoch})"));
                                if ui
                                    .add_enabled(!training, egui::Button::new("Resume"))
                                    .clicked()
                                {
                                    cmds.push(TrainCommand::Resume(id).into());
                                }
                            });
                        }
                    }
                });
            });
        let ctx = ui.ctx().clone();
        self.sweep_window(&ctx, state, ctl, cmds);
        egui::CentralPanel::default().show(ui, |ui| {
            match &ctl.training {
                Some(t) => Self::live_view(ui, t, cmds),
                None => {
                    ui.vertical_centered(|ui| {
                        ui.add_space(40.0);
                        ui.heading("Train a model");
                        ui.label("Choose the data and the model on the left, then Train. Curves appear here live; every run is recorded in Runs.");
                    });
                }
            }
            Self::sweep_progress(ui, ctl.sweep.as_ref(), cmds);
        });
    }
}
