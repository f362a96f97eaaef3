//! Parallel coordinates: one vertical axis per numeric column, one polyline per run coloured by the last
//! axis (the metric). Dragging along an axis brushes a range of it; the caller filters its table by the
//! brushed ranges. Each axis can be logarithmic.

use egui::{Align2, Color32, FontId, Pos2, Sense, Shape, Stroke, pos2, vec2};

/// One axis: its column name, values per run (NaN: none), whether it is logarithmic.
pub struct Axis<'a> {
    pub name: &'a str,
    pub values: &'a [f64],
    pub log: bool,
}

/// What the user did this frame: a new brush `(axis, low, high)` or a cleared one.
pub enum Brush {
    Set(usize, f64, f64),
    Clear(usize),
}

fn scale(v: f64, lo: f64, hi: f64, log: bool) -> Option<f32> {
    if !v.is_finite() || (log && v <= 0.0) {
        return None;
    }
    let (v, lo, hi) = if log {
        (v.log10(), lo.log10(), hi.log10())
    } else {
        (v, lo, hi)
    };
    Some(if hi > lo {
        ((v - lo) / (hi - lo)) as f32
    } else {
        0.5
    })
}

fn unscale(t: f32, lo: f64, hi: f64, log: bool) -> f64 {
    let t = f64::from(t.clamp(0.0, 1.0));
    if log {
        10f64.powf(lo.log10() + t * (hi.log10() - lo.log10()))
    } else {
        lo + t * (hi - lo)
    }
}

/// A colour from blue (low) to orange (high).
pub fn ramp(t: f32) -> Color32 {
    let t = t.clamp(0.0, 1.0);
    let lerp = |a: u8, b: u8| (f32::from(a) + (f32::from(b) - f32::from(a)) * t) as u8;
    Color32::from_rgb(lerp(50, 240), lerp(110, 140), lerp(230, 40))
}

/// Draw the chart; `brushes[i]` is axis `i`'s brushed range. Returns a brush change, if any.
pub fn show(
    ui: &mut egui::Ui,
    axes: &[Axis<'_>],
    brushes: &[Option<(f64, f64)>],
    height: f32,
) -> Option<Brush> {
    if axes.len() < 2 {
        ui.weak("Parallel coordinates need at least two numeric columns that vary.");
        return None;
    }
    let width = ui.available_width().max(300.0);
    let (response, painter) = ui.allocate_painter(vec2(width, height), Sense::click_and_drag());
    let rect = response.rect;
    let visuals = ui.visuals();
    let text = visuals.text_color();
    let font = FontId::proportional(11.0);
    let (top, bottom) = (rect.top() + 22.0, rect.bottom() - 22.0);
    let step = (rect.width() - 80.0) / (axes.len() - 1) as f32;
    let x_of = |i: usize| rect.left() + 40.0 + step * i as f32;
    let ranges: Vec<(f64, f64)> = axes
        .iter()
        .map(|a| {
            let vals = a
                .values
                .iter()
                .copied()
                .filter(|v| v.is_finite() && (!a.log || *v > 0.0));
            let lo = vals.clone().fold(f64::INFINITY, f64::min);
            let hi = vals.fold(f64::NEG_INFINITY, f64::max);
            if lo.is_finite() { (lo, hi) } else { (0.0, 1.0) }
        })
        .collect();
    let y_of = |t: f32| bottom - t * (bottom - top);
    let n = axes[0].values.len();
    let last = axes.len() - 1;
    let inside = |i: usize, r: usize| -> bool {
        brushes.get(i).copied().flatten().is_none_or(|(lo, hi)| {
            let v = axes[i].values[r];
            v >= lo && v <= hi
        })
    };
    // Dimmed lines first, then the runs inside every brush on top.
    for pass in [false, true] {
        for r in 0..n {
            let keep = (0..axes.len()).all(|i| inside(i, r));
            if keep != pass {
                continue;
            }
            let points: Vec<Pos2> = (0..axes.len())
                .filter_map(|i| {
                    let (lo, hi) = ranges[i];
                    scale(axes[i].values[r], lo, hi, axes[i].log).map(|t| pos2(x_of(i), y_of(t)))
                })
                .collect();
            if points.len() < 2 {
                continue;
            }
            let (lo, hi) = ranges[last];
            let color =
                scale(axes[last].values[r], lo, hi, axes[last].log).map_or(Color32::GRAY, ramp);
            let color = if keep {
                color.gamma_multiply(0.8)
            } else {
                Color32::GRAY.gamma_multiply(0.15)
            };
            painter.add(Shape::line(
                points,
                Stroke::new(if keep { 1.4 } else { 1.0 }, color),
            ));
        }
    }
    let fmt = |v: f64| {
        if v.abs() >= 1000.0 || (v != 0.0 && v.abs() < 0.01) {
            format!("{v:.2e}")
        } else {
            format!("{v:.3}")
        }
    };
    for (i, a) in axes.iter().enumerate() {
        let x = x_of(i);
        painter.line_segment([pos2(x, top), pos2(x, bottom)], Stroke::new(1.5, text));
        painter.text(
            pos2(x, rect.top() + 2.0),
            Align2::CENTER_TOP,
            if a.log {
                format!("{} (log)", a.name)
            } else {
                a.name.to_owned()
            },
            font.clone(),
            text,
        );
        let (lo, hi) = ranges[i];
        painter.text(
            pos2(x + 4.0, bottom),
            Align2::LEFT_BOTTOM,
            fmt(lo),
            font.clone(),
            text.gamma_multiply(0.7),
        );
        painter.text(
            pos2(x + 4.0, top),
            Align2::LEFT_TOP,
            fmt(hi),
            font.clone(),
            text.gamma_multiply(0.7),
        );
        if let Some((blo, bhi)) = brushes.get(i).copied().flatten() {
            let (a_, b_) = (
                scale(blo, lo, hi, a.log).unwrap_or(0.0),
                scale(bhi, lo, hi, a.log).unwrap_or(1.0),
            );
            let r = egui::Rect::from_x_y_ranges(
                x - 6.0..=x + 6.0,
                y_of(b_.clamp(0.0, 1.0))..=y_of(a_.clamp(0.0, 1.0)),
            );
            painter.rect_filled(r, 2.0, Color32::from_rgba_unmultiplied(240, 180, 40, 90));
        }
    }
    painter.text(
        pos2(rect.center().x, rect.bottom() - 2.0),
        Align2::CENTER_BOTTOM,
        "drag along an axis to filter the runs · click an axis to clear its filter",
        font,
        text.gamma_multiply(0.6),
    );
    // Brushing: the drag's start picks the nearest axis.
    let axis_at = |p: Pos2| {
        (0..axes.len())
            .min_by(|&a, &b| (x_of(a) - p.x).abs().total_cmp(&(x_of(b) - p.x).abs()))
            .filter(|&i| (x_of(i) - p.x).abs() < 20.0)
    };
    let t_at = |y: f32| (bottom - y) / (bottom - top);
    if response.dragged()
        && let (Some(start), Some(now)) = (
            response
                .interact_pointer_pos()
                .and_then(|_| ui.input(|i| i.pointer.press_origin())),
            response.interact_pointer_pos(),
        )
        && let Some(i) = axis_at(start)
    {
        let (lo, hi) = ranges[i];
        let (a, b) = (
            unscale(t_at(start.y), lo, hi, axes[i].log),
            unscale(t_at(now.y), lo, hi, axes[i].log),
        );
        if (start.y - now.y).abs() > 3.0 {
            return Some(Brush::Set(i, a.min(b), a.max(b)));
        }
    }
    if response.clicked()
        && let Some(p) = response.interact_pointer_pos()
        && let Some(i) = axis_at(p)
    {
        return Some(Brush::Clear(i));
    }
    None
}
