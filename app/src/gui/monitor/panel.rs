//! The Monitor panel: serving health first (with alerts), then data drift with a verdict in words, the
//! per-column table and the selected column's histograms overlaid.

use egui::{Color32, RichText};

use crate::gui::widgets::badge::{AMBER, GREEN, RED, badge};
use egui_plot::{Bar, BarChart, Legend, Plot};
use kiln_core::drift::{ServedWindow, ServingHealth};

use super::{DriftResult, MonitorCommand};
use crate::gui::command::Command;
use crate::gui::state::AppState;

/// Error rate above this raises an alert.
const ERROR_ALERT: f64 = 0.05;

/// What the drift section compares.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum DriftMode {
    /// A served model's inputs against what it trained on.
    #[default]
    Served,
    /// Two dataset versions.
    Versions,
}

#[derive(Default)]
pub struct MonitorView {
    pub mode: DriftMode,
    pub served_model: Option<String>,
    pub window: ServedWindow,
    /// Whether the served drift was computed once on its own (when the room first had a served model).
    pub served_started: bool,
    pub reference: Option<String>,
    pub current: Option<String>,
    pub column: Option<String>,
}

/// Why a model's serving needs attention, if it does.
pub fn alert(h: &ServingHealth) -> Option<String> {
    if h.error_rate > ERROR_ALERT {
        Some(format!("{:.1}% of requests failed", h.error_rate * 100.0))
    } else if h.fallback_rate > ERROR_ALERT {
        Some(format!(
            "{:.1}% answered by the fallback",
            h.fallback_rate * 100.0
        ))
    } else {
        None
    }
}

fn version_row(ui: &mut egui::Ui, v: &kiln_core::drift::VersionHealth) {
    let ci = |x: f64, (lo, hi): (f64, f64)| {
        format!("{:.1}% [{:.1}, {:.1}]", x * 100.0, lo * 100.0, hi * 100.0)
    };
    ui.label(format!("   version {}", v.version));
    ui.label(v.requests.to_string());
    for _ in 0..5 {
        ui.label("");
    }
    ui.label(
        v.accuracy_on_feedback
            .map_or_else(|| "no labels".into(), |a| ci(a, v.accuracy_ci)),
    );
    ui.label(
        v.outcome_rate
            .map_or_else(|| "—".into(), |r| ci(r, v.outcome_ci)),
    );
    ui.label("");
    ui.end_row();
}

/// Accuracy on feedback by the hour the predictions were served (concept drift).
fn concept(ui: &mut egui::Ui, h: &ServingHealth) {
    ui.label(format!(
        "{}: accuracy on feedback by the hour the predictions were served (concept drift)",
        h.model
    ));
    let pts: Vec<[f64; 2]> = h
        .hourly_accuracy
        .iter()
        .enumerate()
        .map(|(i, (_, _, a))| [i as f64, *a])
        .collect();
    let hours: Vec<String> = h
        .hourly_accuracy
        .iter()
        .map(|(t, n, _)| format!("{} ({n})", t.replace('T', " ")))
        .collect();
    egui_plot::Plot::new(("concept", &h.model))
        .height(140.0)
        .allow_scroll(false)
        .include_y(0.0)
        .include_y(1.0)
        .x_axis_formatter(move |m, _| {
            let i = m.value.round();
            if (m.value - i).abs() < 1e-6 && i >= 0.0 && (i as usize) < hours.len() {
                hours[i as usize].clone()
            } else {
                String::new()
            }
        })
        .show(ui, |p| {
            p.line(egui_plot::Line::new("accuracy", pts.clone()));
            p.points(egui_plot::Points::new("accuracy", pts).radius(3.0));
        });
}

/// A shadow beside the champion: the sentence, then agreement, latency, failures and drops as badges.
fn shadow(ui: &mut egui::Ui, s: &kiln_core::shadow::ShadowSummary) {
    ui.add_space(6.0);
    ui.strong(format!("{}: shadow", s.model));
    ui.label(s.sentence());
    ui.horizontal(|ui| {
        if let (Some(a), Some((lo, hi))) = (s.agreement, s.agreement_ci95) {
            badge(
                ui,
                &format!(
                    "agrees {:.1}% (95% CI {:.1}–{:.1}%)",
                    a * 100.0,
                    lo * 100.0,
                    hi * 100.0
                ),
                if a >= 0.95 { GREEN } else { AMBER },
            );
        }
        if let Some(p) = s.latency_p99_ms {
            badge(ui, &format!("shadow p99 {p:.1} ms behind"), GREEN);
        }
        badge(
            ui,
            &format!("{} failed", s.failures),
            if s.failures == 0 { GREEN } else { RED },
        );
        badge(
            ui,
            &format!("{} dropped", s.dropped),
            if s.dropped == 0 { GREEN } else { AMBER },
        );
    });
    for (a, b, n) in s.flips.iter().take(5) {
        ui.weak(format!("champion {a} · shadow {b}: {n}"));
    }
    if let Some(e) = &s.last_error {
        ui.colored_label(ui.visuals().error_fg_color, format!("last failure: {e}"));
    }
}

pub fn ui(
    ui: &mut egui::Ui,
    state: &AppState,
    v: &mut MonitorView,
    drift: Option<Result<&DriftResult, &str>>,
    health: Option<&[ServingHealth]>,
    busy: bool,
    cmds: &mut Vec<Command>,
) {
    ui.heading("Monitor");
    egui::ScrollArea::vertical()
        .id_salt("monitor")
        .show(ui, |ui| {
            ui.strong("Serving health");
            match health {
                None => {
                    ui.spinner();
                }
                Some([]) => {
                    ui.weak("No model has answered requests yet: kiln serve --model NAME@champion");
                }
                Some(list) => {
                    egui::Grid::new("health").striped(true).show(ui, |ui| {
                        for h in [
                            "model",
                            "requests",
                            "now",
                            "failed",
                            "fallback",
                            "time p50",
                            "time p99",
                            "right on feedback",
                            "outcome rate",
                            "",
                        ] {
                            ui.strong(h);
                        }
                        ui.end_row();
                        for h in list {
                            ui.label(&h.model);
                            ui.label(h.requests.to_string());
                            ui.label(if h.requests_per_s > 0.0 {
                                format!("{:.1} req/s", h.requests_per_s)
                            } else {
                                "idle".to_owned()
                            });
                            ui.label(format!("{} ({:.1}%)", h.errors, h.error_rate * 100.0));
                            ui.label(format!("{} ({:.1}%)", h.fallbacks, h.fallback_rate * 100.0));
                            ui.label(format!("{:.2} ms", h.latency_p50_ms));
                            ui.label(format!("{:.2} ms", h.latency_p99_ms));
                            ui.label(h.accuracy_on_feedback.map_or_else(
                                || "no labels yet".into(),
                                |a| format!("{:.1}% of {}", a * 100.0, h.labelled),
                            ));
                            ui.label(h.outcome_rate.map_or_else(
                                || "—".into(),
                                |r| format!("{:.1}% of {}", r * 100.0, h.outcomes),
                            ));
                            match alert(h) {
                                Some(a) => badge(ui, &a, RED),
                                None => badge(ui, "healthy", GREEN),
                            }
                            ui.end_row();
                            // Each served version (the arms of an A/B test) with 95% intervals.
                            if h.versions.len() > 1 {
                                for v in &h.versions {
                                    version_row(ui, v);
                                }
                            }
                        }
                    });
                    for h in list {
                        if let Some(sh) = &h.shadow {
                            shadow(ui, sh);
                        }
                    }
                    // Several servers on one workspace (replicas behind a load balancer): each one.
                    for h in list.iter().filter(|h| h.replicas.len() > 1) {
                        ui.add_space(6.0);
                        ui.label(format!(
                            "{} is answered by {} servers:",
                            h.model,
                            h.replicas.len()
                        ));
                        egui::Grid::new(("replicas", &h.model))
                            .striped(true)
                            .show(ui, |ui| {
                                for c in ["server", "requests", "failed", "time p99", "last answer"]
                                {
                                    ui.strong(c);
                                }
                                ui.end_row();
                                for r in &h.replicas {
                                    ui.label(&r.replica);
                                    ui.label(r.requests.to_string());
                                    ui.label(r.errors.to_string());
                                    ui.label(format!("{:.2} ms", r.latency_p99_ms));
                                    ui.label(
                                        r.last_at.get(..19).unwrap_or(&r.last_at).replace('T', " "),
                                    );
                                    ui.end_row();
                                }
                            });
                    }
                }
            }
            if let Some(list) = health {
                for h in list.iter().filter(|h| !h.hourly_accuracy.is_empty()) {
                    concept(ui, h);
                }
            }
            ui.separator();
            ui.strong("Data drift");
            ui.horizontal(|ui| {
                ui.selectable_value(
                    &mut v.mode,
                    DriftMode::Served,
                    "What a model is served, against what it trained on",
                );
                ui.selectable_value(&mut v.mode, DriftMode::Versions, "Two dataset versions");
            });
            let ready = match v.mode {
                DriftMode::Served => served_drift_form(ui, v, health, busy, cmds),
                DriftMode::Versions => versions_drift_form(ui, state, v, busy, cmds),
            };
            if !ready {
                return;
            }
            let drift = match drift {
                Some(Err(e)) => {
                    ui.colored_label(ui.visuals().error_fg_color, e);
                    return;
                }
                Some(Ok(d)) => Some(d),
                None => None,
            };
            let Some(d) = drift else {
                return;
            };
            let r = &d.report;
            ui.horizontal(|ui| {
                if r.dataset_drift {
                    badge(ui, "the data drifted", RED);
                } else {
                    badge(ui, "no dataset drift", GREEN);
                }
                ui.label(
                    RichText::new(if d.served {
                        // The labels say what was compared and how many rows each has.
                        format!(
                            "{} of {} columns moved away: the {}, against {}.",
                            r.drifted_columns,
                            r.columns.len(),
                            d.current,
                            d.reference,
                        )
                    } else {
                        format!(
                            "{} of {} columns of {} moved away from {} ({} rows against {}).",
                            r.drifted_columns,
                            r.columns.len(),
                            d.current,
                            d.reference,
                            r.current_rows,
                            r.reference_rows
                        )
                    })
                    .strong(),
                );
            });
            egui::Grid::new("drift").striped(true).show(ui, |ui| {
                for h in ["column", "test", "statistic", "p-value", "PSI", ""] {
                    ui.strong(h);
                }
                ui.end_row();
                for c in &r.columns {
                    if ui
                        .selectable_label(v.column.as_ref() == Some(&c.name), &c.name)
                        .clicked()
                    {
                        v.column = Some(c.name.clone());
                    }
                    ui.label(&c.method);
                    ui.label(format!("{:.4}", c.statistic));
                    ui.label(c.p_value.map_or_else(|| "—".into(), |p| format!("{p:.4}")));
                    ui.label(format!("{:.3}", c.psi));
                    if c.drifted {
                        badge(ui, "drifted", RED);
                    } else {
                        badge(ui, "stable", GREEN);
                    }
                    ui.end_row();
                }
            });
            if v.column
                .as_ref()
                .is_none_or(|c| !d.histograms.iter().any(|h| &h.name == c))
            {
                v.column = r
                    .columns
                    .iter()
                    .find(|c| c.drifted)
                    .or(r.columns.first())
                    .map(|c| c.name.clone());
            }
            if let Some(h) = v
                .column
                .as_ref()
                .and_then(|c| d.histograms.iter().find(|h| &h.name == c))
            {
                ui.label(format!(
                    "{}: share of rows per bin, reference against current",
                    h.name
                ));
                let bars = |vals: &[f64], offset: f64, name: &str, color: Color32| {
                    BarChart::new(
                        name,
                        vals.iter()
                            .enumerate()
                            .map(|(i, s)| Bar::new(i as f64 + offset, *s).width(0.4))
                            .collect(),
                    )
                    .color(color)
                };
                let labels = h.bins.clone();
                Plot::new(("drift-hist", &h.name))
                    .legend(Legend::default())
                    .height(220.0)
                    .allow_scroll(false)
                    .x_axis_formatter(move |m, _| {
                        let i = m.value.round();
                        if (m.value - i).abs() < 1e-6 && i >= 0.0 && (i as usize) < labels.len() {
                            labels[i as usize].clone()
                        } else {
                            String::new()
                        }
                    })
                    .show(ui, |p| {
                        p.bar_chart(bars(
                            &h.reference,
                            -0.2,
                            &format!("reference {}", d.reference),
                            Color32::from_rgb(90, 140, 220),
                        ));
                        p.bar_chart(bars(
                            &h.current,
                            0.2,
                            &format!("current {}", d.current),
                            Color32::from_rgb(230, 140, 50),
                        ));
                    });
            }
        });
}

/// Pick a served model and a window; computes once on its own the first time a served model is known.
/// Whether there is something to compare.
fn served_drift_form(
    ui: &mut egui::Ui,
    v: &mut MonitorView,
    health: Option<&[ServingHealth]>,
    busy: bool,
    cmds: &mut Vec<Command>,
) -> bool {
    let Some(health) = health else {
        ui.spinner();
        return false;
    };
    let models: Vec<String> = health.iter().map(|h| h.model.clone()).collect();
    if models.is_empty() {
        ui.weak(
            "No model has been served yet: once one answers requests with their inputs logged \
             (kiln serve --model NAME@champion --log-every 1), its inputs are compared here with what \
             it trained on.",
        );
        return false;
    }
    if v.served_model.as_ref().is_none_or(|m| !models.contains(m)) {
        v.served_model = models.first().cloned();
    }
    let mut compute = false;
    ui.horizontal(|ui| {
        let l = ui.label("Model");
        egui::ComboBox::from_id_salt("served-model")
            .selected_text(v.served_model.clone().unwrap_or_default())
            .show_ui(ui, |ui| {
                for m in &models {
                    if ui
                        .selectable_value(&mut v.served_model, Some(m.clone()), m)
                        .changed()
                    {
                        compute = true;
                    }
                }
            })
            .response
            .labelled_by(l.id);
        let l = ui.label("Inputs served");
        egui::ComboBox::from_id_salt("served-window")
            .selected_text(v.window.label())
            .show_ui(ui, |ui| {
                for w in ServedWindow::EVERY {
                    if ui.selectable_value(&mut v.window, w, w.label()).changed() {
                        compute = true;
                    }
                }
            })
            .response
            .labelled_by(l.id);
        if ui
            .add_enabled(!busy, egui::Button::new("Compute drift"))
            .clicked()
        {
            compute = true;
        }
        if busy {
            ui.spinner();
        }
    });
    if !v.served_started {
        v.served_started = true;
        compute = true;
    }
    if compute && let Some(m) = v.served_model.clone() {
        cmds.push(
            MonitorCommand::ServedDrift {
                model: m,
                window: v.window,
            }
            .into(),
        );
    }
    true
}

/// Pick two dataset versions. Whether there is something to compare.
fn versions_drift_form(
    ui: &mut egui::Ui,
    state: &AppState,
    v: &mut MonitorView,
    busy: bool,
    cmds: &mut Vec<Command>,
) -> bool {
    let versions: Vec<String> = state
        .versions
        .values()
        .flatten()
        .map(|d| format!("{}@{}", d.dataset, d.version))
        .collect();
    if versions.len() < 2 {
        ui.weak("Drift compares two dataset versions; import or derive a second one first.");
        return false;
    }
    if v.reference.is_none() {
        v.reference = versions.first().cloned();
    }
    if v.current.is_none() {
        // The newest version of the reference's dataset.
        let ds = v
            .reference
            .as_deref()
            .and_then(|r| r.split('@').next())
            .unwrap_or_default()
            .to_owned();
        v.current = versions
            .iter()
            .rev()
            .find(|x| x.starts_with(&format!("{ds}@")))
            .cloned();
    }
    ui.horizontal(|ui| {
        for (label, slot) in [("Reference", &mut v.reference), ("Current", &mut v.current)] {
            let l = ui.label(label);
            egui::ComboBox::from_id_salt(label)
                .selected_text(slot.clone().unwrap_or_default())
                .show_ui(ui, |ui| {
                    for x in &versions {
                        ui.selectable_value(slot, Some(x.clone()), x);
                    }
                })
                .response
                .labelled_by(l.id);
        }
        if ui
            .add_enabled(!busy, egui::Button::new("Compute drift"))
            .clicked()
            && let (Some(r), Some(c)) = (v.reference.clone(), v.current.clone())
        {
            cmds.push(
                MonitorCommand::Drift {
                    reference: r,
                    current: c,
                }
                .into(),
            );
        }
        if busy {
            ui.spinner();
        }
    });
    true
}
