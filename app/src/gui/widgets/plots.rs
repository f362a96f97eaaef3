//! Plots of the Data panel. The data handed to `egui_plot` is already reduced on a worker thread (bins,
//! top values, grid-decimated points), so a frame never touches more than a few thousand points.

use egui_plot::{Bar, BarChart, Legend, Plot, Points};
use kiln_core::data::{Histogram, ScatterSeries, ValueCount};

/// A histogram of a numeric column.
pub fn histogram(ui: &mut egui::Ui, column: &str, h: &Histogram) {
    let bars: Vec<Bar> = h
        .counts
        .iter()
        .enumerate()
        .map(|(i, &c)| {
            let (lo, hi) = (h.edges[i], h.edges[i + 1]);
            Bar::new(f64::midpoint(lo, hi), c as f64)
                .width(hi - lo)
                .name(format!("{lo:.4} – {hi:.4}"))
        })
        .collect();
    let total: u64 = h.counts.iter().sum();
    ui.label(format!(
        "{column}: {total} values in {} bins",
        h.counts.len()
    ));
    Plot::new(("hist", column))
        .x_axis_label(column)
        .y_axis_label("count")
        .allow_scroll(false)
        .show(ui, |p| p.bar_chart(BarChart::new(column, bars)));
}

/// Value counts of a categorical/string column as horizontal bars, most frequent on top.
pub fn counts(ui: &mut egui::Ui, column: &str, v: &[ValueCount]) {
    ui.label(format!("{column}: {} most frequent values", v.len()));
    let n = v.len();
    let bars: Vec<Bar> = v
        .iter()
        .enumerate()
        .map(|(i, vc)| {
            Bar::new((n - i) as f64, vc.count as f64)
                .width(0.7)
                .name(&vc.value)
        })
        .collect();
    let labels: Vec<String> = v.iter().map(|vc| vc.value.clone()).collect();
    Plot::new(("counts", column))
        .y_axis_formatter(move |mark, _| {
            let i = n as f64 - mark.value;
            if i.fract().abs() < 1e-9 && i >= 0.0 && (i as usize) < labels.len() {
                labels[i as usize].clone()
            } else {
                String::new()
            }
        })
        .x_axis_label("count")
        .allow_scroll(false)
        .show(ui, |p| {
            p.bar_chart(BarChart::new(column, bars).horizontal());
        });
}

/// A scatter plot, one colour per group, with a legend.
pub fn scatter(ui: &mut egui::Ui, x: &str, y: &str, series: &[ScatterSeries]) {
    let shown: usize = series.iter().map(|s| s.points.len()).sum();
    let total: usize = series.iter().map(|s| s.total).sum();
    if shown < total {
        ui.label(format!(
            "{x} vs {y}: {shown} of {total} points drawn (decimated per screen cell)"
        ));
    } else {
        ui.label(format!("{x} vs {y}: {total} points"));
    }
    Plot::new(("scatter", x, y))
        .legend(Legend::default())
        .x_axis_label(x)
        .y_axis_label(y)
        .show(ui, |p| {
            for s in series {
                let name = if s.label.is_empty() {
                    "points"
                } else {
                    s.label.as_str()
                };
                p.points(Points::new(name, s.points.clone()).radius(2.0).filled(true));
            }
        });
}
