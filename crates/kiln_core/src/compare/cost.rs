//! Cost against quality (the Pareto front) and quality against data volume (learning curves).

use std::collections::BTreeMap;

use kiln_store::{Run, RunStatus};
use serde::Serialize;

/// A run placed by what it cost and how good it is.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct ParetoPoint {
    pub run: i64,
    pub cost: f64,
    pub quality: f64,
}

/// The runs no other run beats on both counts (cheaper or as cheap, and better or as good, one of them
/// strictly), by increasing cost: the positions of `points` on the front. Points with a non-finite cost
/// or quality are left out.
pub fn pareto_front(points: &[ParetoPoint]) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..points.len())
        .filter(|&i| points[i].cost.is_finite() && points[i].quality.is_finite())
        .collect();
    // Cheapest first; at equal cost the better first, so it alone is kept.
    idx.sort_by(|&a, &b| {
        points[a]
            .cost
            .total_cmp(&points[b].cost)
            .then(points[b].quality.total_cmp(&points[a].quality))
    });
    let mut front = Vec::new();
    let mut best = f64::NEG_INFINITY;
    for i in idx {
        if points[i].quality > best {
            best = points[i].quality;
            front.push(i);
        }
    }
    front
}

/// The cheapest run whose quality is within `tolerance` of the best (e.g. 0.005: half a point of
/// accuracy): the position in `points`.
pub fn cheapest_within(points: &[ParetoPoint], tolerance: f64) -> Option<usize> {
    let best = points
        .iter()
        .filter(|p| p.cost.is_finite() && p.quality.is_finite())
        .map(|p| p.quality)
        .reduce(f64::max)?;
    (0..points.len())
        .filter(|&i| {
            let p = points[i];
            p.cost.is_finite() && p.quality.is_finite() && p.quality >= best - tolerance
        })
        .min_by(|&a, &b| {
            points[a]
                .cost
                .total_cmp(&points[b].cost)
                .then(points[b].quality.total_cmp(&points[a].quality))
        })
}

/// One fraction of the training rows on a learning curve: the metric over the seeds that trained on it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CurvePoint {
    pub fraction: f64,
    /// Mean training rows of its runs.
    pub train_rows: f64,
    pub runs: Vec<i64>,
    pub mean: f64,
    pub min: f64,
    pub max: f64,
    /// Sample standard deviation (0 for one run).
    pub std: f64,
}

/// The learning curve of finished runs: `metric` by training fraction (the `fraction` parameter, 1 when
/// a run has none), with its spread over the runs of each fraction, by increasing fraction.
pub fn learning_curve(runs: &[Run], metric: &str) -> Vec<CurvePoint> {
    let mut by: BTreeMap<u64, Vec<(&Run, f64)>> = BTreeMap::new();
    for r in runs.iter().filter(|r| r.status == RunStatus::Finished) {
        let Some(v) = r.metrics[metric].as_f64() else {
            continue;
        };
        let f = r.params["fraction"].as_f64().unwrap_or(1.0);
        by.entry(f.to_bits()).or_default().push((r, v));
    }
    let mut out: Vec<CurvePoint> = by
        .into_iter()
        .map(|(bits, items)| {
            let n = items.len() as f64;
            let values: Vec<f64> = items.iter().map(|(_, v)| *v).collect();
            let mean = values.iter().sum::<f64>() / n;
            let var = if items.len() > 1 {
                values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0)
            } else {
                0.0
            };
            let rows: Vec<f64> = items
                .iter()
                .filter_map(|(r, _)| r.metrics["train_rows"].as_f64())
                .collect();
            CurvePoint {
                fraction: f64::from_bits(bits),
                train_rows: if rows.is_empty() {
                    f64::NAN
                } else {
                    rows.iter().sum::<f64>() / rows.len() as f64
                },
                runs: items.iter().map(|(r, _)| r.id).collect(),
                mean,
                min: values.iter().copied().fold(f64::INFINITY, f64::min),
                max: values.iter().copied().fold(f64::NEG_INFINITY, f64::max),
                std: var.sqrt(),
            }
        })
        .collect();
    out.sort_by(|a, b| a.fraction.total_cmp(&b.fraction));
    out
}
