//! *Try it*: model versions side by side on held-out evaluation rows, on a row the user typed, or on a
//! drawing for a model that reads grey pixel columns — the same calls for the GUI, the CLI and tests.

use kiln_data::polars::prelude::*;
use serde::{Deserialize, Serialize};

use super::{EvaluationRows, invalid};
use crate::{Result, Workspace};

/// A canvas for a model that reads `height × width` grey pixel columns (row by row).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Drawing {
    pub columns: Vec<String>,
    pub height: usize,
    pub width: usize,
    /// The largest pixel value in the evaluation rows (full ink).
    pub ink: f64,
}

/// Predictions of model versions on some rows.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TryResult {
    pub model: String,
    /// The rows as shown (column, value).
    pub rows: Vec<Vec<(String, String)>>,
    /// The true class of each row, when the rows have one.
    pub truth: Vec<Option<String>>,
    /// Per version: its classes and, per row, the probabilities.
    pub versions: Vec<(i64, Vec<String>, Vec<Vec<f64>>)>,
}

/// Which rows to try.
#[derive(Clone, Debug, PartialEq)]
pub enum TryInput<'a> {
    /// Positions among the held-out evaluation rows of the versions tried (out of range ones skipped).
    Rows(&'a [usize]),
    /// One typed row, `(column, text)`: each value parsed as the column's type in the evaluation data.
    Typed(&'a [(String, String)]),
}

impl Workspace {
    /// The evaluation rows *Try it* picks from for `versions` of `model`: its brief's evaluation data
    /// less the rows any of them trained or validated on.
    pub fn try_it_rows(&self, model: &str, versions: &[i64]) -> Result<EvaluationRows> {
        self.held_out_rows(&self.brief(model)?, model, versions)
    }

    /// Run `versions` of `model` on `input`: each version's class probabilities, and the true class of
    /// each row when the evaluation data has the model's target.
    pub fn try_rows(
        &self,
        model: &str,
        versions: &[i64],
        input: &TryInput<'_>,
    ) -> Result<TryResult> {
        let df = self.try_it_rows(model, versions)?.rows;
        let picked = match input {
            TryInput::Typed(cells) => typed_row(&df, cells)?,
            TryInput::Rows(rows) => {
                let idx: Vec<IdxSize> = rows
                    .iter()
                    .filter(|r| **r < df.height())
                    .map(|r| *r as IdxSize)
                    .collect();
                df.take(&IdxCa::from_vec("idx".into(), idx))?
            }
        };
        let mut out_versions = Vec::new();
        let mut target = None;
        for &v in versions {
            let run = self.store.model_version(model, v)?.run_id;
            let m = self.load_model(run)?;
            target = Some(m.target().to_owned());
            out_versions.push((v, m.classes().to_vec(), m.predict_proba(&picked)?));
        }
        let truth = match target.and_then(|t| picked.column(&t).ok().cloned()) {
            Some(c) => (0..picked.height())
                .map(|i| kiln_data::cell(&c, i))
                .collect(),
            None => vec![None; picked.height()],
        };
        let shown = (0..picked.height())
            .map(|i| {
                picked
                    .columns()
                    .iter()
                    .map(|c| (c.name().to_string(), kiln_data::cell_text(c, i)))
                    .collect()
            })
            .collect();
        Ok(TryResult {
            model: model.to_owned(),
            rows: shown,
            truth,
            versions: out_versions,
        })
    }

    /// A canvas for `model` when its newest version reads one grey image from pixel columns; `eval` sets
    /// the ink (the largest pixel value in it).
    pub fn drawing_of(&self, model: &str, eval: &DataFrame) -> Option<Drawing> {
        let newest = self.store.model_versions(model).ok()?.into_iter().last()?;
        let run = self.run(newest.run_id).ok()?;
        let spec: kiln_train::FeatureSpec =
            serde_json::from_value(run.artifacts["feature_spec"].clone()).ok()?;
        let [channels, height, width] = spec.image?;
        let columns: Vec<String> = spec
            .columns
            .iter()
            .map(|c| match c {
                kiln_train::data::FeatureColumn::Numeric { name, .. } => Some(name.clone()),
                _ => None,
            })
            .collect::<Option<_>>()?;
        if channels != 1 || columns.len() != height * width {
            return None;
        }
        let ink = columns
            .iter()
            .filter_map(|c| {
                eval.column(c)
                    .ok()?
                    .cast(&DataType::Float64)
                    .ok()?
                    .f64()
                    .ok()?
                    .max()
            })
            .fold(0.0, f64::max);
        Some(Drawing {
            columns,
            height,
            width,
            ink: if ink > 0.0 { ink } else { 1.0 },
        })
    }
}

/// One row typed by the user, each value parsed as its column's type in `df`.
fn typed_row(df: &DataFrame, cells: &[(String, String)]) -> Result<DataFrame> {
    let mut cols = Vec::new();
    for (name, text) in cells {
        let dtype = df.column(name)?.dtype().clone();
        let bad = || invalid(format!("`{text}` is not a valid {dtype} for `{name}`"));
        let c = if text.trim().is_empty() {
            Series::full_null(name.as_str().into(), 1, &dtype)
        } else {
            let mut c = Series::new(name.as_str().into(), [text.as_str()])
                .cast(&dtype)
                .map_err(|_| bad())?;
            // A whole number written as a float (`2009.0`, as JSON numbers are logged) in an integer
            // column.
            if c.null_count() > 0
                && dtype.is_integer()
                && let Ok(x) = text.trim().parse::<f64>()
                && x.fract() == 0.0
            {
                c = Series::new(name.as_str().into(), [x as i64])
                    .cast(&dtype)
                    .map_err(|_| bad())?;
            }
            if c.null_count() > 0 {
                return Err(bad());
            }
            c
        };
        cols.push(c.into_column());
    }
    Ok(DataFrame::new(1, cols)?)
}
