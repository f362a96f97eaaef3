//! The selected runs compared: their curves overlaid (any metric; x by step, epoch or time; smoothing;
//! log scale; decimated to the plot's width), the side-by-side table of what differs with the best value
//! of each metric marked, and two confusion matrices next to each other.

use egui_plot::{Legend, Line, Plot};
use kiln_core::compare::{Comparison, ExportFormat, Section};

use super::controller::{CurveRequest, XAxis};
use super::report::confusion_of;
use super::{RunsCommand, RunsController, RunsView};
use crate::gui::command::Command;
use crate::gui::state::AppState;
use crate::gui::widgets::heatmap;

/// Side by side reads for a handful of runs; more go to the charts.
const SIDE_BY_SIDE: usize = 12;

pub fn ui(
    ui: &mut egui::Ui,
    state: &AppState,
    v: &mut RunsView,
    ctl: &RunsController,
    cmds: &mut Vec<Command>,
) {
    let ids = v.checked_in_order();
    if ids.len() < 2 {
        ui.weak(
            "Tick two or more runs in the table (the boxes next to their numbers) to compare them.",
        );
        if ids.is_empty() {
            return;
        }
    }
    curves(ui, v, ctl, cmds, &ids);
    let Some(table) = &v.table else {
        return;
    };
    if ids.len() < 2 {
        return;
    }
    if ids.len() > SIDE_BY_SIDE {
        ui.weak(format!(
            "The table below shows the first {SIDE_BY_SIDE} of the {} selected runs; the curves show all.",
            ids.len()
        ));
    }
    let ids: Vec<i64> = ids.iter().copied().take(SIDE_BY_SIDE).collect();
    let comparison = match Comparison::of(table, &ids) {
        Ok(c) => c,
        Err(e) => {
            ui.colored_label(ui.visuals().error_fg_color, e.to_string());
            return;
        }
    };
    ui.separator();
    ui.horizontal(|ui| {
        ui.strong("Side by side");
        ui.checkbox(&mut v.only_diff, "Only differences");
        ui.menu_button("Export", |ui| {
            for (f, label) in [
                (ExportFormat::Markdown, "Copy as Markdown"),
                (ExportFormat::Csv, "Copy as CSV"),
                (ExportFormat::Json, "Copy as JSON"),
            ] {
                if ui.button(label).clicked()
                    && let Ok(text) = comparison.export(v.only_diff, f)
                {
                    ui.ctx().copy_text(text);
                    ui.close();
                }
            }
        });
        ui.weak("best value of each metric in green");
    });
    let best_bg = egui::Color32::from_rgb(40, 140, 80);
    egui::Grid::new("diff")
        .striped(true)
        .min_col_width(80.0)
        .show(ui, |ui| {
            ui.strong("");
            for id in &comparison.runs {
                ui.strong(format!("run {id}"));
            }
            ui.end_row();
            let mut section = None;
            for row in comparison.rows(v.only_diff) {
                if section != Some(row.section) {
                    section = Some(row.section);
                    ui.label(
                        egui::RichText::new(match row.section {
                            Section::Run => "Run",
                            Section::Cost => "Cost",
                            Section::Param => "Parameters",
                            Section::Metric => "Metrics",
                        })
                        .strong()
                        .underline(),
                    );
                    ui.end_row();
                }
                ui.label(&row.name);
                for (i, val) in row.values.iter().enumerate() {
                    let text = val.as_deref().map_or_else(
                        || "—".to_owned(),
                        |t| row.numbers[i].map_or_else(|| t.to_owned(), super::report::human),
                    );
                    if row.best.contains(&i) {
                        ui.label(
                            egui::RichText::new(format!(" {text} "))
                                .strong()
                                .color(egui::Color32::WHITE)
                                .background_color(best_bg),
                        );
                    } else {
                        ui.label(text);
                    }
                }
                ui.end_row();
            }
        });
    let runs: Vec<&kiln_core::Run> = ids
        .iter()
        .take(2)
        .filter_map(|id| state.runs.iter().find(|r| r.id == *id))
        .collect();
    if runs.len() == 2 {
        ui.separator();
        ui.strong("Confusion matrices (test rows: true class against prediction)");
        ui.columns(2, |cols| {
            for (col, run) in cols.iter_mut().zip(&runs) {
                col.label(format!("run {}", run.id));
                let (classes, matrix) = confusion_of(run);
                heatmap::confusion(col, ("cmp-cm", run.id), &classes, &matrix);
            }
        });
    }
}

fn curves(
    ui: &mut egui::Ui,
    v: &mut RunsView,
    ctl: &RunsController,
    cmds: &mut Vec<Command>,
    ids: &[i64],
) {
    let names = ctl
        .curves
        .as_ref()
        .map(|c| c.names.clone())
        .unwrap_or_default();
    let shown_metric = ctl
        .curves
        .as_ref()
        .map(|c| c.metric.clone())
        .unwrap_or_default();
    ui.horizontal(|ui| {
        ui.strong("Curves");
        egui::ComboBox::from_id_salt("curve-metric")
            .selected_text(v.curve_metric.clone().unwrap_or(shown_metric.clone()))
            .show_ui(ui, |ui| {
                for n in &names {
                    ui.selectable_value(&mut v.curve_metric, Some(n.clone()), n);
                }
            });
        ui.label("x:");
        for x in [XAxis::Step, XAxis::Epoch, XAxis::WallTime] {
            ui.selectable_value(&mut v.x_axis, x, x.label());
        }
        ui.add(egui::Slider::new(&mut v.smoothing, 0.0..=0.99).text("smoothing"))
            .on_hover_text(
                "Exponential moving average, debiased so the start is not pulled to zero",
            );
        ui.checkbox(&mut v.log_y, "log scale");
    });
    let req = CurveRequest {
        runs: ids.to_vec(),
        metric: v.curve_metric.clone(),
        x: v.x_axis,
        smoothing: v.smoothing,
        log_y: v.log_y,
    };
    if ctl.pending.as_ref() != Some(&req) {
        cmds.push(RunsCommand::Curves(req.clone()).into());
    }
    let Some(c) = ctl.curves.as_ref() else {
        ui.spinner();
        return;
    };
    if !c.untimed.is_empty() {
        ui.weak(format!(
            "Runs {:?} recorded no times (made before times were recorded); they are not on the time axis.",
            c.untimed
        ));
    }
    let log = c.request.log_y;
    let metric = c.metric.clone();
    // Buckets per curve: the plot's width for a few curves; with many, a shared budget of points per
    // frame (min/max buckets keep every spike either way).
    let width = ui.available_width().max(200.0) as usize;
    let width = (20_000 / (4 * c.series.len().max(1))).clamp(32, width);
    Plot::new("overlay")
        .legend(Legend::default())
        .height(260.0)
        .x_axis_label(c.request.x.label())
        .y_axis_label(if log {
            format!("{metric} (log)")
        } else {
            metric.clone()
        })
        .y_axis_formatter(move |mark, _| {
            if log {
                crate::gui::widgets::plots::log_axis_number(mark.value)
            } else {
                crate::gui::widgets::plots::axis_number(mark.value, mark.step_size)
            }
        })
        .label_formatter(move |pos| {
            let (name, p) = match pos {
                egui_plot::HoverPosition::NearDataPoint {
                    plot_name,
                    position,
                    ..
                } => (*plot_name, *position),
                egui_plot::HoverPosition::Elsewhere { position } => ("", *position),
            };
            let y = if log { 10f64.powf(p.y) } else { p.y };
            Some(format!("{name}\nx {:.4}\n{y:.6}", p.x))
        })
        .show(ui, |p| {
            let bounds = p.plot_bounds();
            let auto = p.auto_bounds().x;
            for (run, lod, _) in &c.series {
                let (lo, hi) = if auto {
                    lod.x_range().unwrap_or((0.0, 0.0))
                } else {
                    // A little beyond the edges, so panning shows no gap before the next frame.
                    let span = bounds.max()[0] - bounds.min()[0];
                    (bounds.min()[0] - span * 0.25, bounds.max()[0] + span * 0.25)
                };
                p.line(Line::new(format!("run {run}"), lod.decimate(lo, hi, width)));
            }
        });
    if c.coarse {
        ui.weak("Drawn from stored summaries (every spike kept); reading every point for zooming…");
    }
    let total: usize = c.series.iter().map(|(_, _, n)| n).sum();
    ui.weak(format!("{total} points in {} curves; each drawn with at most a few points per pixel column, spikes kept", c.series.len()));
}
