//! Held-out evaluation: which rows a run trained and validated on, and the evaluation rows that none of
//! the compared model versions saw.
//!
//! Row ids survive every derivation of a dataset (label commits, filters and splits keep them; imports
//! and pulls number rows by position), so a row of a dataset is the pair (dataset, row id). A run's
//! training and validation rows are found again from what the run recorded: its data version and its
//! split — the version's own `split` column, or the split training drew (stratified by the target with
//! the run's seed in memory, a seeded hash of the row position for a version streamed from disk). A
//! split that cannot be read back counts every row as seen: an evaluation is never flattered by a guess.

use std::collections::HashSet;

use kiln_data::polars::prelude::*;
use serde::{Deserialize, Serialize};

use crate::{Result, Workspace};

/// The rows of one dataset a run trained or validated on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SeenRows {
    pub dataset_id: i64,
    pub ids: HashSet<u64>,
}

/// What leaving out seen rows did to a brief's evaluation data.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct HeldOut {
    /// Evaluation rows before any was left out (the version's `test` rows, or all of its rows).
    pub total: usize,
    /// Rows left out because a compared version trained or validated on them.
    pub left_out: usize,
    /// The compared versions, and those of them that trained or validated on evaluation rows.
    pub versions: Vec<i64>,
    pub trained_on: Vec<i64>,
}

impl HeldOut {
    /// Rows the evaluation judges on.
    pub fn judged(&self) -> usize {
        self.total - self.left_out
    }

    /// One plain sentence: "70 rows none of the versions trained on (1,727 of 1,797 left out: v1 and v2
    /// trained or validated on them)".
    pub fn sentence(&self) -> String {
        let whom = if self.versions.len() == 1 {
            "the version"
        } else {
            "the versions"
        };
        let judged = format!(
            "{} {} none of {whom} trained on",
            count(self.judged()),
            rows_word(self.judged())
        );
        if self.left_out == 0 {
            judged
        } else {
            format!(
                "{judged} ({} of {} left out: {} trained or validated on them)",
                count(self.left_out),
                count(self.total),
                versions_text(&self.trained_on)
            )
        }
    }
}

/// The rows a model's brief judges on, and what was left out of them.
#[derive(Clone, Debug)]
pub struct EvaluationRows {
    /// `NAME@VERSION` of the evaluation data.
    pub dataset: String,
    /// The held-out rows, without row ids.
    pub rows: DataFrame,
    pub held_out: HeldOut,
}

/// A brief's evaluation version and the rows it may judge on, with their row ids (see
/// [`Workspace::evaluation_candidates`]).
#[derive(Clone, Debug)]
pub struct EvaluationCandidates {
    pub version: kiln_store::DatasetVersion,
    pub rows: DataFrame,
}

/// `1,797`: a count with thousands separated.
pub fn count(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn rows_word(n: usize) -> &'static str {
    if n == 1 { "row" } else { "rows" }
}

/// "v1", "v1 and v2", "v1, v2 and v3".
fn versions_text(versions: &[i64]) -> String {
    let names: Vec<String> = versions.iter().map(|v| format!("v{v}")).collect();
    match names.split_last() {
        None => String::new(),
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} and {last}", rest.join(", ")),
    }
}

/// The ids of the rows of `parts` (one per row, `None` for a row in no part) in training or validation.
fn seen_ids(ids: &[u64], parts: impl Iterator<Item = Option<u8>>) -> HashSet<u64> {
    ids.iter()
        .zip(parts)
        .filter(|(_, p)| matches!(p, Some(0 | 1)))
        .map(|(id, _)| *id)
        .collect()
}

fn part_of(name: Option<&str>) -> Option<u8> {
    match name {
        Some("train") => Some(0),
        Some("validation") => Some(1),
        Some("test") => Some(2),
        _ => None,
    }
}

impl Workspace {
    /// The rows run `run_id` trained or validated on, found again from its data version and its split.
    pub fn rows_seen_by(&self, run_id: i64) -> Result<SeenRows> {
        let run = self.store.run(run_id)?;
        let version = self.store.version_by_id(run.dataset_version_id)?;
        let path = self.objects.absolute(&version.object_path);
        let split = &run.split;
        let stratify = split["stratify"].as_str().unwrap_or(run.target.as_str());
        let df = kiln_data::read_parquet_columns(&path, &[kiln_data::ROW_ID, "split", stratify])?;
        let ids = kiln_data::row_ids(&df)?;
        let all = || ids.iter().copied().collect::<HashSet<u64>>();
        let seen = match split["source"].as_str() {
            Some("version") if df.column("split").is_ok() => {
                let s = df
                    .column("split")?
                    .as_materialized_series()
                    .cast(&DataType::String)?;
                seen_ids(&ids, s.str()?.iter().map(part_of))
            }
            Some("generated") => {
                let seed = split["seed"].as_u64().unwrap_or(run.seed as u64);
                if split.get("method").is_some() {
                    // Streamed from disk: a seeded hash of each row's position.
                    seen_ids(
                        &ids,
                        (0..ids.len() as u64).map(|p| Some(crate::streamed::hashed_part(seed, p))),
                    )
                } else {
                    let ratios: Option<Vec<f64>> = split["ratios"]
                        .as_array()
                        .map(|r| r.iter().filter_map(serde_json::Value::as_f64).collect());
                    match ratios.as_deref() {
                        Some(&[a, b, c]) if df.column(stratify).is_ok() => {
                            // Training drew its split on the rows by position (ids stripped).
                            let drawn = kiln_data::split(
                                &kiln_data::without_row_ids(&df).select([stratify])?,
                                [a, b, c],
                                seed,
                                Some(stratify),
                            )?;
                            let s = drawn.column("split")?.as_materialized_series().clone();
                            seen_ids(&ids, s.str()?.iter().map(part_of))
                        }
                        _ => all(),
                    }
                }
            }
            _ => all(),
        };
        Ok(SeenRows {
            dataset_id: version.dataset_id,
            ids: seen,
        })
    }

    /// The evaluation rows of `name`'s brief that none of `versions` trained or validated on: the
    /// brief's [`Workspace::evaluation_candidates`] less every row (of the same dataset) a compared
    /// version saw ([`Workspace::leave_out_seen`]).
    pub fn held_out_rows(
        &self,
        brief: &super::Brief,
        name: &str,
        versions: &[i64],
    ) -> Result<EvaluationRows> {
        self.leave_out_seen(name, &self.evaluation_candidates(brief, name)?, versions)
    }

    /// A brief's evaluation version and the rows it may judge on, with their row ids: the version's
    /// `test` rows when it has a `split` column (all rows when none is `test`), else all its rows. Read
    /// once, it serves any number of [`Workspace::leave_out_seen`] calls.
    pub fn evaluation_candidates(
        &self,
        brief: &super::Brief,
        name: &str,
    ) -> Result<EvaluationCandidates> {
        let Some(reference) = &brief.eval_dataset else {
            return Err(super::invalid(format!(
                "model `{name}` has no evaluation dataset: kiln models brief {name} --eval DATASET@VERSION"
            )));
        };
        let version = self.resolve(reference)?;
        let df = self.load_with_ids(&version)?;
        let rows = if df.column("split").is_ok() {
            let test = df
                .clone()
                .lazy()
                .filter(col("split").cast(DataType::String).eq(lit("test")))
                .collect()?;
            if test.height() > 0 { test } else { df }
        } else {
            df
        };
        Ok(EvaluationCandidates { version, rows })
    }

    /// `candidates` less every row one of `versions` of `name` trained or validated on. Refuses when no
    /// row is left, saying how to make a held-out split.
    pub fn leave_out_seen(
        &self,
        name: &str,
        candidates: &EvaluationCandidates,
        versions: &[i64],
    ) -> Result<EvaluationRows> {
        let EvaluationCandidates {
            version: v,
            rows: df,
        } = candidates;
        let mut versions: Vec<i64> = versions.to_vec();
        versions.sort_unstable();
        versions.dedup();
        let mut seen: HashSet<u64> = HashSet::new();
        let mut trained_on = Vec::new();
        let ids = kiln_data::row_ids(df)?;
        for &mv in &versions {
            let run = self.store.model_version(name, mv)?.run_id;
            // Rows of another dataset are other rows: nothing to read back.
            let trained = self.store.run(run)?.dataset_version_id;
            if self.store.version_by_id(trained)?.dataset_id != v.dataset_id {
                continue;
            }
            let s = self.rows_seen_by(run)?;
            if ids.iter().any(|id| s.ids.contains(id)) {
                trained_on.push(mv);
                seen.extend(s.ids);
            }
        }
        let keep: BooleanChunked = ids.iter().map(|id| Some(!seen.contains(id))).collect();
        let rows = kiln_data::without_row_ids(&df.filter(&keep)?);
        let dataset = format!("{}@{}", v.dataset, v.version);
        let held_out = HeldOut {
            total: df.height(),
            left_out: df.height() - rows.height(),
            versions,
            trained_on,
        };
        if rows.height() == 0 {
            return Err(super::invalid(format!(
                "no evaluation row is held out: {} trained or validated on all {} evaluation rows of \
                 {dataset}. Make a held-out split once (kiln datasets split {} --ratios 0.7,0.1,0.2 \
                 --seed 1 --stratify TARGET), train on the split version (training keeps its `split` \
                 column) and judge on its test rows (kiln models brief {name} --eval {}@NEW)",
                versions_text(&held_out.trained_on),
                count(held_out.total),
                v.dataset,
                v.dataset,
            )));
        }
        Ok(EvaluationRows {
            dataset,
            rows,
            held_out,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_sentences_read_plainly() {
        assert_eq!(count(0), "0");
        assert_eq!(count(999), "999");
        assert_eq!(count(1_797), "1,797");
        assert_eq!(count(1_234_567), "1,234,567");
        let h = HeldOut {
            total: 1_797,
            left_out: 1_727,
            versions: vec![1, 2],
            trained_on: vec![1, 2],
        };
        assert_eq!(h.judged(), 70);
        assert_eq!(
            h.sentence(),
            "70 rows none of the versions trained on (1,727 of 1,797 left out: v1 and v2 trained or validated on them)"
        );
        let clean = HeldOut {
            total: 69,
            left_out: 0,
            versions: vec![3],
            trained_on: vec![],
        };
        assert_eq!(clean.sentence(), "69 rows none of the version trained on");
        assert_eq!(versions_text(&[1, 2, 3]), "v1, v2 and v3");
    }
}
