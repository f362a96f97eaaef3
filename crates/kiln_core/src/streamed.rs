//! Training on a version larger than the memory budget: batches stream from its Parquet object a row
//! group at a time. Each row's split part comes from the version's own `split` column, or else from a
//! seeded hash of its position (72 / 8 / 20, not stratified: stratifying needs every label up front).
//! The encoding is fitted in a first streaming pass over the training rows — means, standard deviations,
//! the pixel maximum, categories and classes exactly as [`FeatureSpec::fit`] computes them on a frame —
//! and every epoch visits the row groups in an order shuffled by the run's seed, rows shuffled within
//! each group. Memory is bounded by a few decoded row groups whatever the version's size.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use kiln_data::PagedFrame;
use kiln_data::polars::prelude::*;
use kiln_train::{FeatureColumn, FeatureSpec, Rows, TrainError};
use rand::seq::SliceRandom;

use crate::Result;

/// Ratios of a split drawn for a version without a `split` column.
pub(crate) const RATIOS: [f64; 3] = [0.72, 0.08, 0.2];

/// Training rows the encoding's shape (column kinds, image layout) is first fitted on.
const SHAPE_SAMPLE: usize = 50_000;

/// Which part of the split each row belongs to.
#[derive(Clone, Debug)]
pub(crate) struct SplitRule {
    /// The version's own `split` column decides; else a hash of the row's position and the seed.
    own_column: bool,
    seed: u64,
    /// Share of the training rows kept (a learning curve's smaller runs), by a second hash.
    fraction: f64,
}

/// splitmix64: a well-mixed 64-bit hash of a position and a seed.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn unit(h: u64) -> f64 {
    (h >> 11) as f64 / (1u64 << 53) as f64
}

/// The part (0 train, 1 validation, 2 test) a generated streamed split puts the row at `position` in.
pub(crate) fn hashed_part(seed: u64, position: u64) -> u8 {
    let u = unit(mix(seed ^ mix(position)));
    if u < RATIOS[0] {
        0
    } else if u < RATIOS[0] + RATIOS[1] {
        1
    } else {
        2
    }
}

impl SplitRule {
    /// The part (0 train, 1 validation, 2 test) of each row of a row group starting at `first_row`;
    /// `None` for rows in no part (an unknown `split` value, or left out by `fraction`).
    fn parts(&self, df: &DataFrame, first_row: usize) -> Result<Vec<Option<u8>>> {
        let mut parts: Vec<Option<u8>> = if self.own_column {
            let s = df
                .column("split")?
                .as_materialized_series()
                .cast(&DataType::String)?;
            s.str()?
                .iter()
                .map(|v| match v {
                    Some("train") => Some(0),
                    Some("validation") => Some(1),
                    Some("test") => Some(2),
                    _ => None,
                })
                .collect()
        } else {
            (0..df.height())
                .map(|i| Some(hashed_part(self.seed, (first_row + i) as u64)))
                .collect()
        };
        if self.fraction < 1.0 {
            for (i, p) in parts.iter_mut().enumerate() {
                let u = unit(mix(!self.seed ^ mix((first_row + i) as u64)));
                if *p == Some(0) && u >= self.fraction {
                    *p = None;
                }
            }
        }
        Ok(parts)
    }

    /// The rows of a row group in `part`.
    fn select(&self, df: &DataFrame, first_row: usize, part: u8) -> Result<DataFrame> {
        let mask: BooleanChunked = self
            .parts(df, first_row)?
            .into_iter()
            .map(|p| Some(p == Some(part)))
            .collect();
        Ok(df.filter(&mask)?)
    }
}

/// One part of the split, read batch by batch from the object.
pub(crate) struct StreamedPart {
    table: Arc<PagedFrame>,
    spec: Arc<FeatureSpec>,
    rule: SplitRule,
    part: u8,
    rows: usize,
}

impl Rows for StreamedPart {
    fn rows(&self) -> usize {
        self.rows
    }

    fn width(&self) -> usize {
        self.spec.width()
    }

    fn batches(
        &self,
        batch: usize,
        shuffle: Option<(u64, u64)>,
        f: &mut dyn FnMut(&[f32], &[i64]) -> bool,
    ) -> std::result::Result<(), TrainError> {
        let mut groups: Vec<usize> = (0..self.table.row_groups()).collect();
        if let Some((seed, epoch)) = shuffle {
            groups.shuffle(&mut kiln_train::epoch_rng(seed, epoch));
        }
        let failed = |e: &dyn std::fmt::Display| TrainError::Invalid(format!("reading rows: {e}"));
        for g in groups {
            let df = self.table.group(g).map_err(|e| failed(&e))?;
            let (first, _) = self.table.locate_group(g);
            let rows = self
                .rule
                .select(&df, first, self.part)
                .map_err(|e| failed(&e))?;
            let prepared = self.spec.transform(&rows, true)?;
            let mut go = true;
            // Rows shuffled within the group by their own stream of the epoch's generator.
            let within = shuffle.map(|(seed, epoch)| (seed ^ mix(g as u64), epoch));
            prepared.batches(batch, within, &mut |x, y| {
                go = f(x, y);
                go
            })?;
            if !go {
                break;
            }
        }
        Ok(())
    }
}

/// Running sums of one numeric column over the training rows, shifted by a first guess of the mean so
/// the variance keeps its precision.
#[derive(Clone, Debug, Default)]
struct Moments {
    shift: f64,
    n: f64,
    sum: f64,
    sum_sq: f64,
    max: f64,
    /// Every value a non-negative whole number (an image pixel).
    whole: bool,
}

impl Moments {
    fn mean(&self) -> Option<f64> {
        (self.n > 0.0).then(|| self.shift + self.sum / self.n)
    }

    /// Population standard deviation (ddof 0), as the in-memory fit.
    fn std(&self) -> Option<f64> {
        (self.n > 0.0).then(|| {
            let m = self.sum / self.n;
            (self.sum_sq / self.n - m * m).max(0.0).sqrt()
        })
    }
}

/// The encoded parts of a version larger than memory, its encoding and a description of its split.
pub(crate) struct Streamed {
    pub spec: FeatureSpec,
    pub split: serde_json::Value,
    pub parts: [StreamedPart; 3],
}

/// Fit the encoding in one streaming pass and set up the three parts.
pub(crate) fn prepare(
    table: &Arc<PagedFrame>,
    target: &str,
    features: Option<&[String]>,
    seed: u64,
    fraction: f64,
) -> Result<Streamed> {
    if !table.schema().contains(target) {
        return Err(TrainError::NoTarget(target.to_owned()).into());
    }
    let rule = SplitRule {
        own_column: table.schema().contains("split"),
        seed,
        fraction,
    };
    // The shape of the encoding from the training rows of row groups spread through the table.
    let groups = table.row_groups();
    let mut sample: Option<DataFrame> = None;
    let step = (groups / 8).max(1);
    for g in (0..groups).step_by(step) {
        let (first, _) = table.locate_group(g);
        let part = rule.select(&*table.group(g)?, first, 0)?;
        match &mut sample {
            None => sample = Some(part),
            Some(s) => {
                s.vstack_mut(&part)?;
            }
        }
        if sample.as_ref().is_some_and(|s| s.height() >= SHAPE_SAMPLE) {
            break;
        }
    }
    let sample = sample.unwrap_or_else(|| DataFrame::empty_with_schema(table.schema()));
    let mut spec = FeatureSpec::fit(&sample, target, features)?;
    // Then every training row: exact moments, categories and classes.
    let mut moments: HashMap<String, Moments> = HashMap::new();
    for c in &spec.columns {
        if let FeatureColumn::Numeric { name, offset, .. } = c {
            let m = Moments {
                shift: *offset,
                whole: true,
                ..Moments::default()
            };
            moments.insert(name.clone(), m);
        }
    }
    let mut categories: HashMap<String, BTreeSet<String>> = HashMap::new();
    let mut targets: [BTreeMap<String, usize>; 3] = Default::default();
    for g in 0..groups {
        let df = table.group(g)?;
        let (first, _) = table.locate_group(g);
        let parts = rule.parts(&df, first)?;
        let t = df
            .column(target)?
            .as_materialized_series()
            .cast(&DataType::String)?;
        for (p, v) in parts.iter().zip(t.str()?.iter()) {
            if let (Some(p), Some(v)) = (p, v) {
                *targets[*p as usize].entry(v.to_owned()).or_default() += 1;
            }
        }
        let train_mask: BooleanChunked = parts.iter().map(|p| Some(*p == Some(0))).collect();
        let train = df.filter(&train_mask)?;
        for c in &spec.columns {
            match c {
                FeatureColumn::Numeric { name, .. } => {
                    let s = train
                        .column(name)?
                        .as_materialized_series()
                        .cast(&DataType::Float64)?;
                    let m = moments
                        .get_mut(name)
                        .expect("every numeric column has moments");
                    for v in s.f64()?.iter().flatten() {
                        let d = v - m.shift;
                        m.n += 1.0;
                        m.sum += d;
                        m.sum_sq += d * d;
                        m.max = m.max.max(v);
                        m.whole &= v >= 0.0 && v.fract() == 0.0;
                    }
                }
                FeatureColumn::Categorical { name, .. } => {
                    let s = train
                        .column(name)?
                        .as_materialized_series()
                        .cast(&DataType::String)?;
                    let set = categories.entry(name.clone()).or_default();
                    set.extend(s.str()?.iter().flatten().map(str::to_owned));
                    if set.len() > 1000 {
                        return Err(TrainError::BadFeature {
                            column: name.clone(),
                            dtype: "text with more than 1000 distinct values".into(),
                        }
                        .into());
                    }
                }
                FeatureColumn::Image { .. } => {}
            }
        }
    }
    // The fit of a frame, on every training row: pixels share their maximum, other numbers standardise.
    let numeric = spec
        .columns
        .iter()
        .all(|c| matches!(c, FeatureColumn::Numeric { .. }));
    let pixels = numeric && spec.columns.len() >= 16 && moments.values().all(|m| m.whole);
    let pixel_max = moments.values().map(|m| m.max).fold(0.0, f64::max);
    for c in &mut spec.columns {
        match c {
            FeatureColumn::Numeric {
                name,
                offset,
                scale,
                fill,
            } => {
                let m = &moments[name.as_str()];
                let mean = m.mean().unwrap_or(0.0);
                *fill = mean;
                if pixels {
                    *offset = 0.0;
                    *scale = if pixel_max > 0.0 { pixel_max } else { 1.0 };
                } else {
                    *offset = mean;
                    *scale = m.std().filter(|s| *s > 1e-12).unwrap_or(1.0);
                }
            }
            FeatureColumn::Categorical {
                name,
                categories: cats,
            } => {
                *cats = kiln_train::sorted_unique(
                    categories
                        .remove(name.as_str())
                        .unwrap_or_default()
                        .into_iter(),
                );
            }
            FeatureColumn::Image { .. } => {}
        }
    }
    spec.classes = kiln_train::sorted_unique(targets[0].keys().cloned());
    if spec.classes.len() < 2 {
        return Err(TrainError::Invalid(format!(
            "target `{target}` needs at least two classes, found {}",
            spec.classes.len()
        ))
        .into());
    }
    let known: BTreeSet<&str> = spec.classes.iter().map(String::as_str).collect();
    let count = |p: usize| {
        targets[p]
            .iter()
            .filter(|(k, _)| known.contains(k.as_str()))
            .map(|(_, n)| n)
            .sum::<usize>()
    };
    let rows = [count(0), count(1), count(2)];
    let split = if rule.own_column {
        serde_json::json!({ "source": "version", "streamed": true })
    } else {
        serde_json::json!({
            "source": "generated", "ratios": RATIOS, "seed": seed,
            "method": "hash of the row position (streamed: larger than the memory budget)",
        })
    };
    let spec_arc = Arc::new(spec.clone());
    let part = |p: u8| StreamedPart {
        table: table.clone(),
        spec: spec_arc.clone(),
        rule: rule.clone(),
        part: p,
        rows: rows[p as usize],
    };
    Ok(Streamed {
        spec,
        split,
        parts: [part(0), part(1), part(2)],
    })
}
