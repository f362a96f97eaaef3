//! Data behind the plots: histograms, value counts and decimated scatter series.

use std::collections::{BTreeMap, HashSet};

use polars::prelude::*;
use serde::Serialize;

use crate::{Cancel, DataError};

/// Equal-width bins over the finite values of a numeric column.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Histogram {
    /// `counts.len() + 1` bin edges.
    pub edges: Vec<f64>,
    pub counts: Vec<u64>,
}

/// Histogram of a numeric column with `bins` bins (nulls and NaN are left out).
pub fn histogram(df: &DataFrame, column: &str, bins: usize) -> Result<Histogram, DataError> {
    let s = numeric_f64(df, column)?;
    let ca = s.f64()?;
    let (lo, hi) = finite_range(ca);
    let Some(binner) = Binner::new(lo, hi, bins) else {
        return Ok(Histogram {
            edges: vec![],
            counts: vec![],
        });
    };
    let mut counts = vec![0u64; binner.bins];
    binner.add(&mut counts, ca);
    Ok(Histogram {
        edges: binner.edges,
        counts,
    })
}

/// The smallest and largest finite value (`lo > hi` when there is none).
pub(crate) fn finite_range(ca: &Float64Chunked) -> (f64, f64) {
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for v in ca.iter().flatten().filter(|v| v.is_finite()) {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    (lo, hi)
}

/// Equal-width bins between two finite bounds, filled a chunk at a time (so a histogram can be counted
/// over batches as they stream past).
pub(crate) struct Binner {
    pub edges: Vec<f64>,
    pub bins: usize,
    lo: f64,
    norm: f64,
}

impl Binner {
    /// `None` when there is no finite value (`lo > hi`); a single value gets a bin of width 1 around it.
    pub fn new(mut lo: f64, mut hi: f64, bins: usize) -> Option<Self> {
        let bins = bins.max(1);
        if lo > hi || !lo.is_finite() || !hi.is_finite() {
            return None;
        }
        if hi - lo <= 0.0 {
            lo -= 0.5;
            hi += 0.5;
        }
        let width = (hi - lo) / bins as f64;
        let edges = (0..=bins)
            .map(|i| if i == bins { hi } else { lo + width * i as f64 })
            .collect();
        Some(Self {
            edges,
            bins,
            lo,
            norm: bins as f64 / (hi - lo),
        })
    }

    /// Count the finite values of `ca` into `counts` (`bins` long). numpy's rule: the bin from the scaled
    /// offset, corrected against the edges for rounding; the last bin is closed on the right.
    pub fn add(&self, counts: &mut [u64], ca: &Float64Chunked) {
        let (edges, bins) = (&self.edges, self.bins);
        for v in ca.iter().flatten().filter(|v| v.is_finite()) {
            let mut i = (((v - self.lo) * self.norm) as usize).min(bins - 1);
            if v < edges[i] {
                i = i.saturating_sub(1);
            } else if i + 1 < bins && v >= edges[i + 1] {
                i += 1;
            }
            counts[i] += 1;
        }
    }
}

/// One value and how often it occurs.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ValueCount {
    pub value: String,
    pub count: u64,
}

/// The `top` most frequent values (nulls shown as `null`), most frequent first, ties by value; the rest
/// summed into one `(N others)` entry.
pub fn value_counts(
    df: &DataFrame,
    column: &str,
    top: usize,
) -> Result<Vec<ValueCount>, DataError> {
    let s = df
        .column(column)
        .map_err(|_| DataError::UnknownColumn(column.to_owned()))?
        .as_materialized_series()
        .cast(&DataType::String)?;
    let mut counts: BTreeMap<Option<&str>, u64> = BTreeMap::new();
    for v in s.str()?.iter() {
        *counts.entry(v).or_default() += 1;
    }
    Ok(top_values(
        counts
            .into_iter()
            .map(|(v, count)| ValueCount {
                value: v.unwrap_or("null").to_owned(),
                count,
            })
            .collect(),
        top,
    ))
}

/// The `top` most frequent of `all`, most frequent first, ties by value; the rest summed into one
/// `(N others)` entry.
pub(crate) fn top_values(mut all: Vec<ValueCount>, top: usize) -> Vec<ValueCount> {
    all.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.value.cmp(&b.value)));
    if all.len() > top {
        let rest: u64 = all[top..].iter().map(|v| v.count).sum();
        let others = all.len() - top;
        all.truncate(top);
        all.push(ValueCount {
            value: format!("({others} others)"),
            count: rest,
        });
    }
    all
}

/// The points of one colour group of a scatter plot.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ScatterSeries {
    pub label: String,
    pub points: Vec<[f64; 2]>,
    /// Points in the group before decimation.
    pub total: usize,
}

/// Points of two numeric columns, grouped by an optional colour column. Frames of more than `grid²/8`
/// rows are decimated to at most one point per cell of a `grid`×`grid` raster per group: the picture
/// (extent, clusters, outliers) is kept while the plot gets at most `grid²` points per group however many
/// rows there are. Smaller frames keep every point.
pub fn scatter(
    df: &DataFrame,
    x: &str,
    y: &str,
    color: Option<&str>,
    grid: usize,
    cancel: &Cancel,
) -> Result<Vec<ScatterSeries>, DataError> {
    let xs = numeric_f64(df, x)?;
    let ys = numeric_f64(df, y)?;
    let (xs, ys) = (xs.f64()?, ys.f64()?);
    let labels = match color {
        Some(c) => Some(
            df.column(c)
                .map_err(|_| DataError::UnknownColumn(c.to_owned()))?
                .as_materialized_series()
                .cast(&DataType::String)?,
        ),
        None => None,
    };
    let label_ca = labels.as_ref().map(Series::str).transpose()?;
    let bounds = |ca: &Float64Chunked| {
        let lo = ca.min().unwrap_or(0.0);
        let hi = ca.max().unwrap_or(1.0);
        (lo, if hi > lo { hi - lo } else { 1.0 })
    };
    let ((x0, xw), (y0, yw)) = (bounds(xs), bounds(ys));
    let grid = grid.max(1);
    let decimate = xs.len() > grid * grid / 8;
    let mut groups: BTreeMap<String, (ScatterSeries, HashSet<(usize, usize)>)> = BTreeMap::new();
    for (i, (xv, yv)) in xs.iter().zip(ys.iter()).enumerate() {
        if i % 1_000_000 == 0 {
            cancel.check()?;
        }
        let (Some(xv), Some(yv)) = (xv, yv) else {
            continue;
        };
        if !xv.is_finite() || !yv.is_finite() {
            continue;
        }
        let label = label_ca
            .and_then(|l| l.get(i))
            .unwrap_or(if color.is_some() { "null" } else { "" })
            .to_owned();
        let (series, seen) = groups.entry(label.clone()).or_insert_with(|| {
            (
                ScatterSeries {
                    label,
                    points: Vec::new(),
                    total: 0,
                },
                HashSet::new(),
            )
        });
        series.total += 1;
        let cell = (
            (((xv - x0) / xw) * (grid - 1) as f64) as usize,
            (((yv - y0) / yw) * (grid - 1) as f64) as usize,
        );
        if !decimate || seen.insert(cell) {
            series.points.push([xv, yv]);
        }
    }
    Ok(groups.into_values().map(|(s, _)| s).collect())
}

pub(crate) fn numeric_f64(df: &DataFrame, column: &str) -> Result<Series, DataError> {
    let c = df
        .column(column)
        .map_err(|_| DataError::UnknownColumn(column.to_owned()))?;
    if !c.dtype().is_primitive_numeric() {
        return Err(DataError::Filter(format!(
            "column `{column}` is {}, not numeric",
            c.dtype()
        )));
    }
    Ok(c.as_materialized_series().cast(&DataType::Float64)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_counts_every_finite_value_once() {
        let df = df!("x" => [Some(0.0), Some(1.0), Some(2.0), None, Some(f64::NAN), Some(10.0)])
            .unwrap();
        let h = histogram(&df, "x", 5).unwrap();
        assert_eq!(h.counts.iter().sum::<u64>(), 4);
        // Bins of width 2: [0, 2) holds 0 and 1; [2, 4) holds 2; the last bin is closed and holds 10.
        assert_eq!(h.counts, vec![2, 1, 0, 0, 1]);
        assert_eq!(h.edges.len(), 6);
        assert!((h.edges[5] - 10.0).abs() < 1e-12);
    }

    #[test]
    fn value_counts_sorted_with_others() {
        let df = df!("s" => [Some("a"), Some("b"), Some("b"), None, Some("c"), Some("b")]).unwrap();
        let v = value_counts(&df, "s", 2).unwrap();
        assert_eq!(
            v[0],
            ValueCount {
                value: "b".into(),
                count: 3
            }
        );
        assert_eq!(
            v[1],
            ValueCount {
                value: "a".into(),
                count: 1
            }
        );
        assert_eq!(
            v[2],
            ValueCount {
                value: "(2 others)".into(),
                count: 2
            }
        );
    }

    #[test]
    fn scatter_decimates_but_keeps_groups_and_extent() {
        let n = 100_000;
        let x: Vec<f64> = (0..n).map(|i| f64::from(i % 1000)).collect();
        let y: Vec<f64> = (0..n).map(|i| f64::from(i / 1000)).collect();
        let g: Vec<&str> = (0..n)
            .map(|i| if i % 2 == 0 { "even" } else { "odd" })
            .collect();
        let df = df!("x" => x, "y" => y, "g" => g).unwrap();
        let s = scatter(&df, "x", "y", Some("g"), 50, &Cancel::new()).unwrap();
        let all = scatter(&df.head(Some(300)), "x", "y", Some("g"), 50, &Cancel::new()).unwrap();
        assert_eq!(
            all.iter().map(|s| s.points.len()).sum::<usize>(),
            300,
            "small frames keep every point"
        );
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].total + s[1].total, n as usize);
        for series in &s {
            assert!(series.points.len() <= 50 * 50);
            let max_x = series.points.iter().map(|p| p[0]).fold(0.0, f64::max);
            assert!(max_x >= 980.0);
        }
    }
}
