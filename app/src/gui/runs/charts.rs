//! Charts over the filtered runs: parallel coordinates of parameters into a metric (brushing an axis
//! filters the table) with a scatter of any column against the metric; cost against quality with the
//! Pareto front; and learning curves of the sweeps that vary the share of training rows.

use egui_plot::{Legend, Line, Plot, Points};
use kiln_core::compare::{
    ColumnGroup, ParetoPoint, RunTable, cheapest_within, learning_curve, pareto_front,
};
use kiln_core::data::polars::prelude::{DataFrame, DataType};

use super::report::human;
use super::{RunsCommand, RunsView};
use crate::gui::command::Command;
use crate::gui::state::AppState;
use crate::gui::widgets::parallel::{self, Axis, Brush};

/// A numeric column of a view as floats (NaN for missing).
fn numbers(view: &DataFrame, name: &str) -> Vec<f64> {
    view.column(name)
        .ok()
        .and_then(|c| c.cast(&DataType::Float64).ok())
        .and_then(|c| {
            c.f64()
                .ok()
                .map(|f| f.iter().map(|v| v.unwrap_or(f64::NAN)).collect())
        })
        .unwrap_or_else(|| vec![f64::NAN; view.height()])
}

fn metric_names(table: &RunTable) -> Vec<String> {
    table
        .columns
        .iter()
        .filter(|c| c.numeric && c.group == ColumnGroup::Metric)
        .map(|c| c.name.clone())
        .collect()
}

fn pick(ui: &mut egui::Ui, id: &str, value: &mut String, options: &[String]) -> bool {
    let before = value.clone();
    egui::ComboBox::from_id_salt(id)
        .selected_text(value.as_str())
        .show_ui(ui, |ui| {
            for o in options {
                ui.selectable_value(value, o.clone(), o);
            }
        });
    *value != before
}

pub fn parallel(ui: &mut egui::Ui, v: &mut RunsView, _cmds: &mut [Command]) {
    let (Some(table), Some(view)) = (v.table.clone(), v.view.clone()) else {
        return;
    };
    let metrics = metric_names(&table);
    // All runs of the filter (before brushing) draw; those outside a brush are dimmed.
    let base = table
        .view(&kiln_core::compare::ViewQuery {
            filter: v.filter.clone(),
            ..Default::default()
        })
        .unwrap_or(view.clone());
    // Axes: the numeric parameters that vary over the filtered runs (before brushing, so a brush never
    // takes its own axis away), then the metric.
    let candidates: Vec<String> = table
        .columns
        .iter()
        .filter(|c| c.numeric && c.group == ColumnGroup::Param && c.name != "seed")
        .map(|c| c.name.clone())
        .filter(|n| {
            let vals = numbers(&base, n);
            let mut finite = vals.iter().filter(|x| x.is_finite());
            finite
                .next()
                .is_some_and(|first| finite.any(|x| x.to_bits() != first.to_bits()))
        })
        .collect();
    ui.horizontal(|ui| {
        ui.label("Colour and last axis:");
        pick(ui, "pc-metric", &mut v.metric, &metrics);
        ui.label("log axes:");
        for n in candidates.iter().chain(std::iter::once(&v.metric.clone())) {
            let mut on = v.log_axes.contains(n);
            if ui.checkbox(&mut on, n).changed() {
                if on {
                    v.log_axes.insert(n.clone());
                } else {
                    v.log_axes.remove(n);
                }
            }
        }
    });
    let mut names: Vec<String> = candidates
        .iter()
        .filter(|n| **n != v.metric)
        .cloned()
        .collect();
    names.truncate(8);
    names.push(v.metric.clone());
    let cols: Vec<Vec<f64>> = names.iter().map(|n| numbers(&base, n)).collect();
    let axes: Vec<Axis<'_>> = names
        .iter()
        .zip(&cols)
        .map(|(n, vals)| Axis {
            name: n,
            values: vals,
            log: v.log_axes.contains(n),
        })
        .collect();
    let brushes: Vec<Option<(f64, f64)>> =
        names.iter().map(|n| v.brushes.get(n).copied()).collect();
    ui.strong(format!(
        "How parameters lead to {} ({} runs)",
        v.metric,
        base.height()
    ));
    match parallel::show(ui, &axes, &brushes, 300.0) {
        Some(Brush::Set(i, lo, hi)) => {
            v.brushes.insert(names[i].clone(), (lo, hi));
            v.invalidate();
        }
        Some(Brush::Clear(i)) if v.brushes.remove(&names[i]).is_some() => v.invalidate(),
        _ => {}
    }
    ui.separator();
    let xs: Vec<String> = table
        .columns
        .iter()
        .filter(|c| c.numeric && c.name != v.metric && c.name != "run")
        .map(|c| c.name.clone())
        .collect();
    let mut x = v.scatter_x.clone().unwrap_or_else(|| {
        candidates
            .first()
            .cloned()
            .unwrap_or_else(|| "duration_s".into())
    });
    ui.horizontal(|ui| {
        ui.strong("Scatter:");
        pick(ui, "scatter-x", &mut x, &xs);
        ui.label(format!("against {}", v.metric));
    });
    v.scatter_x = Some(x.clone());
    let (xv, yv) = (numbers(&view, &x), numbers(&view, &v.metric));
    let pts: Vec<[f64; 2]> = xv
        .iter()
        .zip(&yv)
        .filter(|(a, b)| a.is_finite() && b.is_finite())
        .map(|(a, b)| [*a, *b])
        .collect();
    Plot::new("scatter")
        .height(220.0)
        .x_axis_label(x.as_str())
        .y_axis_label(v.metric.as_str())
        .show(ui, |p| p.points(Points::new("runs", pts).radius(3.0)));
}

const COSTS: [&str; 4] = [
    "duration_s",
    "param_count",
    "latency_ms_per_row",
    "weights_bytes",
];

pub fn cost(ui: &mut egui::Ui, v: &mut RunsView, cmds: &mut Vec<Command>) {
    let (Some(table), Some(view)) = (v.table.clone(), v.view.clone()) else {
        return;
    };
    let metrics = metric_names(&table);
    let costs: Vec<String> = COSTS
        .iter()
        .filter(|c| table.column(c).is_some())
        .map(|c| (*c).to_owned())
        .collect();
    ui.horizontal(|ui| {
        ui.label("Quality");
        pick(ui, "pareto-q", &mut v.metric, &metrics);
        ui.label("against cost");
        pick(ui, "pareto-c", &mut v.cost, &costs);
    });
    let ids = RunTable::ids(&view);
    let (cv, qv) = (numbers(&view, &v.cost), numbers(&view, &v.metric));
    let points: Vec<ParetoPoint> = ids
        .iter()
        .zip(cv.iter().zip(&qv))
        .map(|(&run, (&cost, &quality))| ParetoPoint { run, cost, quality })
        .filter(|p| p.cost.is_finite() && p.quality.is_finite())
        .collect();
    if points.is_empty() {
        ui.weak(format!(
            "No run in the table has both {} and {}.",
            v.cost, v.metric
        ));
        return;
    }
    let front = pareto_front(&points);
    let higher_is_better =
        kiln_core::compare::better(&v.metric) != Some(kiln_core::compare::Better::Lower);
    let cheapest = higher_is_better
        .then(|| cheapest_within(&points, 0.005))
        .flatten();
    let best = points
        .iter()
        .map(|p| p.quality)
        .fold(f64::NEG_INFINITY, f64::max);
    if let Some(i) = cheapest {
        let p = points[i];
        let priciest = front.last().map(|&j| points[j]);
        ui.label(
            egui::RichText::new(format!(
                "The cheapest run within half a point of the best {} ({}) is run {}: {} at {} {}{}.",
                v.metric,
                human(best),
                p.run,
                human(p.quality),
                human(p.cost),
                v.cost,
                priciest.filter(|b| b.run != p.run).map(|b| format!(" (the best costs {})", human(b.cost))).unwrap_or_default()
            ))
            .strong(),
        );
    }
    let all: Vec<[f64; 2]> = points.iter().map(|p| [p.cost, p.quality]).collect();
    let line: Vec<[f64; 2]> = front
        .iter()
        .map(|&i| [points[i].cost, points[i].quality])
        .collect();
    let log_x = v.log_axes.contains(&v.cost);
    ui.horizontal(|ui| {
        let mut on = log_x;
        if ui.checkbox(&mut on, "log cost axis").changed() {
            if on {
                v.log_axes.insert(v.cost.clone());
            } else {
                v.log_axes.remove(&v.cost);
            }
        }
    });
    let tx = |x: f64| if log_x { x.max(1e-12).log10() } else { x };
    let cost_name = v.cost.clone();
    Plot::new("pareto")
        .legend(Legend::default())
        .height(280.0)
        .x_axis_label(if log_x {
            format!("{cost_name} (log)")
        } else {
            cost_name
        })
        .y_axis_label(v.metric.as_str())
        .x_axis_formatter(move |m, _| {
            if log_x {
                crate::gui::widgets::plots::log_axis_number(m.value)
            } else {
                crate::gui::widgets::plots::axis_number(m.value, m.step_size)
            }
        })
        .show(ui, |p| {
            p.points(
                Points::new(
                    "runs",
                    all.iter().map(|[x, y]| [tx(*x), *y]).collect::<Vec<_>>(),
                )
                .radius(3.0),
            );
            p.line(
                Line::new(
                    "Pareto front",
                    line.iter().map(|[x, y]| [tx(*x), *y]).collect::<Vec<_>>(),
                )
                .width(2.0),
            );
            p.points(
                Points::new(
                    "Pareto front",
                    line.iter().map(|[x, y]| [tx(*x), *y]).collect::<Vec<_>>(),
                )
                .radius(5.0),
            );
        });
    ui.strong("Runs on the front (none is both cheaper and better)");
    egui::Grid::new("front").striped(true).show(ui, |ui| {
        ui.strong("run");
        ui.strong(v.cost.as_str());
        ui.strong(v.metric.as_str());
        ui.end_row();
        for &i in &front {
            let p = points[i];
            if ui.link(format!("run {}", p.run)).clicked() {
                cmds.push(RunsCommand::Select(p.run).into());
                v.tab = super::Tab::Report;
            }
            ui.label(human(p.cost));
            ui.label(human(p.quality));
            ui.end_row();
        }
    });
}

pub fn learning(ui: &mut egui::Ui, state: &AppState, v: &mut RunsView) {
    // Sweeps whose runs vary the share of training rows.
    let mut sweeps: Vec<String> = Vec::new();
    for r in &state.runs {
        if let Some(s) = &r.sweep_id
            && !sweeps.contains(s)
        {
            let fractions: std::collections::BTreeSet<u64> = state
                .runs
                .iter()
                .filter(|x| x.sweep_id.as_ref() == Some(s))
                .map(|x| x.params["fraction"].as_f64().unwrap_or(1.0).to_bits())
                .collect();
            if fractions.len() > 1 {
                sweeps.push(s.clone());
            }
        }
    }
    if sweeps.is_empty() {
        ui.label("Would more data help? Train a learning curve: the same configuration on growing shares of the training rows.");
        ui.weak("In the Train room press “Learning curve”, or run: kiln train --dataset NAME --target COLUMN --fractions 0.1,0.25,0.5,1");
        return;
    }
    let mut s = v
        .sweep
        .clone()
        .filter(|s| sweeps.contains(s))
        .unwrap_or_else(|| sweeps[0].clone());
    ui.horizontal(|ui| {
        ui.label("Learning curve of");
        pick(ui, "lc-sweep", &mut s, &sweeps);
    });
    v.sweep = Some(s.clone());
    let runs: Vec<kiln_core::Run> = state
        .runs
        .iter()
        .filter(|r| r.sweep_id.as_ref() == Some(&s))
        .cloned()
        .collect();
    let curve = learning_curve(&runs, "test_accuracy");
    if curve.is_empty() {
        ui.weak("No finished run of this sweep yet.");
        return;
    }
    if let [.., a, b] = curve.as_slice() {
        let gain = (b.mean - a.mean) * 100.0;
        let verdict = if gain > 1.0 {
            "still climbing: more data would likely help"
        } else if gain > 0.2 {
            "flattening: more data helps a little"
        } else {
            "flat: more of the same data is unlikely to help"
        };
        ui.label(egui::RichText::new(format!(
            "Going from {:.0} to {:.0} training rows changed test accuracy by {gain:+.2} points — {verdict}.",
            a.train_rows, b.train_rows
        )).strong());
    }
    let mean: Vec<[f64; 2]> = curve.iter().map(|p| [p.train_rows, p.mean]).collect();
    let lo: Vec<[f64; 2]> = curve.iter().map(|p| [p.train_rows, p.min]).collect();
    let hi: Vec<[f64; 2]> = curve.iter().map(|p| [p.train_rows, p.max]).collect();
    Plot::new("learning-curve")
        .legend(Legend::default())
        .height(260.0)
        .x_axis_label("training rows")
        .y_axis_label("test accuracy")
        .show(ui, |p| {
            p.line(Line::new("mean over seeds", mean.clone()).width(2.0));
            p.points(Points::new("mean over seeds", mean).radius(4.0));
            p.line(Line::new("lowest seed", lo).style(egui_plot::LineStyle::dashed_dense()));
            p.line(Line::new("highest seed", hi).style(egui_plot::LineStyle::dashed_dense()));
        });
    egui::Grid::new("lc-table").striped(true).show(ui, |ui| {
        for h in ["share", "rows", "runs", "mean", "min", "max", "std"] {
            ui.strong(h);
        }
        ui.end_row();
        for p in &curve {
            ui.label(format!("{:.0}%", p.fraction * 100.0));
            ui.label(format!("{:.0}", p.train_rows));
            ui.label(p.runs.len().to_string());
            for x in [p.mean, p.min, p.max, p.std] {
                ui.label(format!("{x:.4}"));
            }
            ui.end_row();
        }
    });
}
