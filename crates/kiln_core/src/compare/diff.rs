//! Chosen runs side by side: what they were (data, model, device), their parameters and their metrics,
//! which rows differ, and the best value of each metric that has a better direction.

use std::fmt::Write as _;

use serde::Serialize;

use super::{Better, ColumnGroup, ExportFormat, RunTable, better, md_cell};
use crate::{CoreError, Result};

/// Which part of a comparison a row belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Section {
    Run,
    Cost,
    Param,
    Metric,
}

/// One row of a comparison: a name and each run's value.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DiffRow {
    pub section: Section,
    pub name: String,
    /// Display text per run (`None`: the run has no such value).
    pub values: Vec<Option<String>>,
    /// The numbers behind them, where numeric.
    #[serde(skip)]
    pub numbers: Vec<Option<f64>>,
    /// Not every run has the same value.
    pub differs: bool,
    /// Positions of the runs with the best value (a metric with a better direction, and a difference).
    pub best: Vec<usize>,
}

/// Runs side by side.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Comparison {
    pub runs: Vec<i64>,
    pub rows: Vec<DiffRow>,
}

impl Comparison {
    /// Compare the runs `ids` (each must be in `table`), in that order.
    pub fn of(table: &RunTable, ids: &[i64]) -> Result<Self> {
        let all = RunTable::ids(&table.df);
        let positions = ids
            .iter()
            .map(|id| {
                all.iter()
                    .position(|a| a == id)
                    .ok_or_else(|| CoreError::Invalid(format!("no run {id} to compare")))
            })
            .collect::<Result<Vec<_>>>()?;
        let mut rows = Vec::new();
        for meta in &table.columns {
            if meta.name == "run" {
                continue;
            }
            let col = table.df.column(&meta.name)?;
            let values: Vec<Option<String>> = positions
                .iter()
                .map(|&p| kiln_data::cell(col, p).filter(|s| !s.is_empty()))
                .collect();
            let numbers: Vec<Option<f64>> = if meta.numeric {
                let f = col.cast(&kiln_data::polars::prelude::DataType::Float64)?;
                let f = f.f64()?;
                positions.iter().map(|&p| f.get(p)).collect()
            } else {
                vec![None; positions.len()]
            };
            // A column no compared run has says nothing.
            if values.iter().all(Option::is_none) {
                continue;
            }
            let differs = values.windows(2).any(|w| w[0] != w[1]);
            let section = match meta.group {
                ColumnGroup::Run => Section::Run,
                ColumnGroup::Cost => Section::Cost,
                ColumnGroup::Param => Section::Param,
                ColumnGroup::Metric => Section::Metric,
            };
            let best = match better(&meta.name) {
                Some(dir) if differs && section != Section::Param => {
                    let pick = |a: f64, b: f64| match dir {
                        Better::Higher => a.max(b),
                        Better::Lower => a.min(b),
                    };
                    let target = numbers.iter().flatten().copied().reduce(pick);
                    target.map_or_else(Vec::new, |t| {
                        (0..numbers.len())
                            .filter(|&i| numbers[i] == Some(t))
                            .collect()
                    })
                }
                _ => Vec::new(),
            };
            rows.push(DiffRow {
                section,
                name: meta.name.clone(),
                values,
                numbers,
                differs,
                best,
            });
        }
        Ok(Self {
            runs: ids.to_vec(),
            rows,
        })
    }

    /// The rows to show: all, or only those that differ.
    pub fn rows(&self, only_differences: bool) -> impl Iterator<Item = &DiffRow> {
        self.rows
            .iter()
            .filter(move |r| !only_differences || r.differs)
    }

    /// The comparison as CSV (`section,name,run A,run B,…`), JSON or a Markdown table with the best
    /// values in bold.
    pub fn export(&self, only_differences: bool, format: ExportFormat) -> Result<String> {
        let heads: Vec<String> = self.runs.iter().map(|r| format!("run {r}")).collect();
        let section = |s: Section| match s {
            Section::Run => "run",
            Section::Cost => "cost",
            Section::Param => "param",
            Section::Metric => "metric",
        };
        Ok(match format {
            ExportFormat::Json => {
                let rows: Vec<&DiffRow> = self.rows(only_differences).collect();
                serde_json::to_string_pretty(&serde_json::json!({
                    "runs": self.runs,
                    "only_differences": only_differences,
                    "rows": rows,
                }))
                .unwrap_or_default()
            }
            ExportFormat::Csv => {
                let quote = |s: &str| {
                    if s.contains([',', '"', '\n']) {
                        format!("\"{}\"", s.replace('"', "\"\""))
                    } else {
                        s.to_owned()
                    }
                };
                let mut out = format!("section,name,{}\n", heads.join(","));
                for r in self.rows(only_differences) {
                    let cells: Vec<String> = r
                        .values
                        .iter()
                        .map(|v| quote(v.as_deref().unwrap_or_default()))
                        .collect();
                    let _ = writeln!(
                        out,
                        "{},{},{}",
                        section(r.section),
                        quote(&r.name),
                        cells.join(",")
                    );
                }
                out
            }
            ExportFormat::Markdown => {
                let mut out = format!(
                    "| | {} |\n|---|{}\n",
                    heads.join(" | "),
                    "---|".repeat(heads.len())
                );
                for r in self.rows(only_differences) {
                    let cells: Vec<String> = r
                        .values
                        .iter()
                        .enumerate()
                        .map(|(i, v)| {
                            let t = md_cell(v.as_deref().unwrap_or("—"));
                            if r.best.contains(&i) {
                                format!("**{t}**")
                            } else {
                                t
                            }
                        })
                        .collect();
                    let _ = writeln!(out, "| {} | {} |", md_cell(&r.name), cells.join(" | "));
                }
                out
            }
        })
    }
}
