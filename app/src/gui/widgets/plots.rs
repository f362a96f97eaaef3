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

/// An axis mark's number with as many decimals as the grid's step needs: `0.7`, not
/// `0.7000000000000001`.
pub fn axis_number(value: f64, step: f64) -> String {
    let decimals = if step.is_finite() && step > 0.0 {
        (-step.log10().floor()).clamp(0.0, 12.0) as usize
    } else {
        3
    };
    let text = format!("{value:.decimals$}");
    // "-0" and "-0.00" read as zero.
    if text
        .trim_start_matches('-')
        .chars()
        .all(|c| c == '0' || c == '.')
    {
        text.trim_start_matches('-').to_owned()
    } else {
        text
    }
}

/// A mark of a log10 axis as the number it stands for: `0.001`, `20`, `1e-7`.
pub fn log_axis_number(exponent: f64) -> String {
    let v = 10f64.powf(exponent);
    if (1e-4..1e6).contains(&v) {
        let digits = (-v.log10().floor()).max(0.0) as usize + 2;
        let text = format!("{v:.digits$}");
        let text = text.trim_end_matches('0').trim_end_matches('.');
        text.to_owned()
    } else {
        format!("{v:.0e}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axis_numbers_read_plainly() {
        assert_eq!(axis_number(0.700_000_000_000_000_1, 0.1), "0.7");
        assert_eq!(axis_number(0.25, 0.05), "0.25");
        assert_eq!(axis_number(1500.0, 500.0), "1500");
        assert_eq!(axis_number(-0.000_000_1, 0.1), "0.0");
        assert_eq!(log_axis_number(-3.0), "0.001");
        assert_eq!(log_axis_number(1.0), "10");
        assert_eq!(log_axis_number(-7.0), "1e-7");
    }
}
