//! Comparing runs: one table of every run (status, data, cost, parameters, metrics, tags) that can be
//! filtered with a SQL condition, sorted, grouped and exported; side-by-side comparisons of chosen runs;
//! the cost-versus-quality front; learning curves; and curve smoothing and decimation for the plots.
//! The table is a polars frame, so filtering, sorting and grouping are polars' own.

mod cost;
mod diff;
pub mod series;
pub mod synthetic;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write as _;

use kiln_data::polars::prelude::*;
use kiln_store::Run;
use serde::Serialize;

pub use cost::{CurvePoint, ParetoPoint, cheapest_within, learning_curve, pareto_front};
pub use diff::{Comparison, DiffRow, Section};

use crate::{CoreError, Result, Workspace};

/// Where a column of the runs table comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ColumnGroup {
    /// What the run is: id, status, data, model, device, tags.
    Run,
    /// What it cost: time, throughput, size.
    Cost,
    /// A training parameter.
    Param,
    /// A recorded metric.
    Metric,
}

/// One column of the runs table.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ColumnMeta {
    pub name: String,
    pub group: ColumnGroup,
    pub numeric: bool,
}

/// Cost figures that training records with the metrics (see `training.rs`).
pub const COST_METRICS: [&str; 5] = [
    "samples_per_s",
    "param_count",
    "weights_bytes",
    "train_rows",
    "latency_ms_per_row",
];

/// The run-describing columns, in table order (`duration_s` is a cost).
const RUN_COLUMNS: [&str; 11] = [
    "run",
    "status",
    "dataset",
    "model",
    "target",
    "device",
    "duration_s",
    "sweep",
    "tags",
    "note",
    "started",
];

/// Which way a metric improves, judged from its name: accuracies, F1, precision, recall and throughput
/// go up; losses, errors, latency, duration and size go down; anything else (epochs, row counts) has
/// no better direction.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Better {
    Higher,
    Lower,
}

pub fn better(name: &str) -> Option<Better> {
    let n = name.to_ascii_lowercase();
    let has = |words: &[&str]| words.iter().any(|w| n.contains(w));
    if has(&[
        "accuracy",
        "f1",
        "precision",
        "recall",
        "auc",
        "samples_per_s",
    ]) {
        Some(Better::Higher)
    } else if has(&[
        "loss",
        "error",
        "latency",
        "duration",
        "param_count",
        "weights_bytes",
    ]) {
        Some(Better::Lower)
    } else {
        None
    }
}

/// Every run as one row: the run columns, cost, parameters and metrics.
#[derive(Clone, Debug)]
pub struct RunTable {
    pub df: DataFrame,
    pub columns: Vec<ColumnMeta>,
}

/// What a view of the runs table shows: a SQL condition, numeric ranges (brushed axes) and a sort.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ViewQuery {
    pub filter: String,
    /// `(column, low, high)`, both ends included.
    pub ranges: Vec<(String, f64, f64)>,
    /// `(column, descending)`.
    pub sort: Option<(String, bool)>,
}

/// A parameter value as a table cell: numbers stay numbers, width lists read `128x64`.
/// The entries of a JSON object of every run (`of`), as `value` gives them: the names in order, and a
/// column of values per name (`None` where a run lacks it).
fn gather<'a, T: Clone>(
    runs: &'a [Run],
    of: impl Fn(&'a Run) -> &'a serde_json::Value,
    value: impl Fn(&'a serde_json::Value) -> Option<T>,
) -> (Vec<String>, Vec<Vec<Option<T>>>) {
    let mut at: HashMap<&'a str, usize> = HashMap::new();
    let mut columns: Vec<Vec<Option<T>>> = Vec::new();
    for (row, r) in runs.iter().enumerate() {
        for (k, v) in of(r).as_object().into_iter().flatten() {
            let i = *at.entry(k.as_str()).or_insert_with(|| {
                columns.push(vec![None; runs.len()]);
                columns.len() - 1
            });
            columns[i][row] = value(v);
        }
    }
    let mut names: Vec<(&str, usize)> = at.into_iter().collect();
    names.sort_unstable();
    let ordered = names
        .iter()
        .map(|&(_, i)| std::mem::take(&mut columns[i]))
        .collect();
    (
        names.into_iter().map(|(n, _)| n.to_owned()).collect(),
        ordered,
    )
}

fn param_text(v: &serde_json::Value) -> Option<String> {
    match v {
        serde_json::Value::Null => None,
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Array(items) => Some(
            items
                .iter()
                .map(|i| i.as_str().map_or_else(|| i.to_string(), str::to_owned))
                .collect::<Vec<_>>()
                .join("x"),
        ),
        other => Some(other.to_string()),
    }
}

impl RunTable {
    /// Build the table from runs; `dataset` names the version a run trained on (`name@version`).
    pub fn from_runs(runs: &[Run], dataset: impl Fn(i64) -> String) -> Result<Self> {
        // Metric and parameter values, gathered in one pass a run at a time (its maps read once, while
        // in cache) into a column per name, in name order.
        let (metric_names, metric_values) = gather(runs, |r| &r.metrics, serde_json::Value::as_f64);
        let (param_names, param_values) = gather(runs, |r| &r.params, Some);
        let mut columns: Vec<Column> = Vec::new();
        let mut meta = Vec::new();
        let mut push = |col: Column, group: ColumnGroup| {
            meta.push(ColumnMeta {
                name: col.name().to_string(),
                group,
                numeric: col.dtype().is_primitive_numeric(),
            });
            columns.push(col);
        };
        // Text columns borrow from the runs (a string copied once, into the column).
        let text = |name: &str, f: &dyn Fn(&Run) -> Option<&str>| {
            Column::new(name.into(), runs.iter().map(f).collect::<Vec<_>>())
        };
        let owned = |name: &str, f: &dyn Fn(&Run) -> String| {
            Column::new(name.into(), runs.iter().map(f).collect::<Vec<_>>())
        };
        // Dataset labels by version id, looked up once each.
        let mut labels: std::collections::HashMap<i64, String> = std::collections::HashMap::new();
        for r in runs {
            labels
                .entry(r.dataset_version_id)
                .or_insert_with(|| dataset(r.dataset_version_id));
        }
        for name in RUN_COLUMNS {
            let col = match name {
                "run" => Column::new(name.into(), runs.iter().map(|r| r.id).collect::<Vec<_>>()),
                "duration_s" => Column::new(
                    name.into(),
                    runs.iter().map(|r| r.duration_s).collect::<Vec<_>>(),
                ),
                "status" => text(name, &|r| Some(r.status.as_str())),
                "dataset" => Column::new(
                    name.into(),
                    runs.iter()
                        .map(|r| labels.get(&r.dataset_version_id).map(String::as_str))
                        .collect::<Vec<_>>(),
                ),
                "model" => text(name, &|r| Some(r.model.as_str())),
                "target" => text(name, &|r| Some(r.target.as_str())),
                "device" => text(name, &|r| Some(r.device.as_str())),
                "sweep" => text(name, &|r| r.sweep_id.as_deref()),
                "tags" => owned(name, &|r| r.tags.join(",")),
                "note" => text(name, &|r| Some(r.note.as_str())),
                // `2026-12-07T10:00:00.000Z` as `2026-12-07 10:00:00`.
                _ => owned(name, &|r| {
                    let t = &r.started_at;
                    t.get(..19).unwrap_or(t).replacen('T', " ", 1)
                }),
            };
            let group = if name == "duration_s" {
                ColumnGroup::Cost
            } else {
                ColumnGroup::Run
            };
            push(col, group);
        }
        let taken: BTreeSet<String> = RUN_COLUMNS.iter().map(|s| (*s).to_owned()).collect();
        for (name, values) in metric_names.iter().zip(metric_values) {
            let col_name = if taken.contains(name) {
                format!("metric_{name}")
            } else {
                name.clone()
            };
            let group = if COST_METRICS.contains(&name.as_str()) {
                ColumnGroup::Cost
            } else {
                ColumnGroup::Metric
            };
            push(Column::new(col_name.into(), values), group);
        }
        for (name, values) in param_names.iter().zip(param_values) {
            if name == "model" {
                continue;
            }
            let col_name = if taken.contains(name) || metric_names.contains(name) {
                format!("param_{name}")
            } else {
                name.clone()
            };
            let is_number =
                |v: Option<&serde_json::Value>| v.is_none_or(|v| v.is_number() || v.is_null());
            let col = if values.iter().all(|v| is_number(*v)) {
                Column::new(
                    col_name.into(),
                    values
                        .iter()
                        .map(|v| v.and_then(serde_json::Value::as_f64))
                        .collect::<Vec<_>>(),
                )
            } else {
                Column::new(
                    col_name.into(),
                    values
                        .iter()
                        .map(|v| v.and_then(param_text))
                        .collect::<Vec<_>>(),
                )
            };
            push(col, ColumnGroup::Param);
        }
        // Cost columns read best next to each other, right after the run columns.
        let order = |g: ColumnGroup| match g {
            ColumnGroup::Run => 0,
            ColumnGroup::Cost => 1,
            ColumnGroup::Param => 2,
            ColumnGroup::Metric => 3,
        };
        let mut idx: Vec<usize> = (0..columns.len()).collect();
        idx.sort_by_key(|&i| order(meta[i].group));
        let columns: Vec<Column> = idx.iter().map(|&i| columns[i].clone()).collect();
        let meta = idx.iter().map(|&i| meta[i].clone()).collect();
        Ok(Self {
            df: DataFrame::new(runs.len(), columns)?,
            columns: meta,
        })
    }

    pub fn len(&self) -> usize {
        self.df.height()
    }

    pub fn is_empty(&self) -> bool {
        self.df.height() == 0
    }

    pub fn column(&self, name: &str) -> Option<&ColumnMeta> {
        self.columns.iter().find(|c| c.name == name)
    }

    /// The rows a query keeps, in its order. A bad condition or an unknown column is an error naming it.
    pub fn view(&self, q: &ViewQuery) -> Result<DataFrame> {
        let mut df = kiln_data::apply_filter(&self.df, &q.filter)?;
        if !q.ranges.is_empty() {
            let mut lf = df.lazy();
            for (c, lo, hi) in &q.ranges {
                if self.column(c).is_none_or(|m| !m.numeric) {
                    return Err(CoreError::Invalid(format!(
                        "`{c}` is not a numeric column of the runs table"
                    )));
                }
                lf = lf.filter(
                    col(c.as_str())
                        .gt_eq(lit(*lo))
                        .and(col(c.as_str()).lt_eq(lit(*hi))),
                );
            }
            df = lf.collect()?;
        }
        if let Some((c, desc)) = &q.sort {
            df = kiln_data::sort_by(&df, c, *desc)?;
        }
        Ok(df)
    }

    /// Run ids of a view, in its order.
    pub fn ids(view: &DataFrame) -> Vec<i64> {
        view.column("run")
            .ok()
            .and_then(|c| c.i64().ok().map(|c| c.into_no_null_iter().collect()))
            .unwrap_or_default()
    }

    /// Runs of `view` grouped by the values of `by`: how many, and the mean, minimum and maximum of
    /// `metric`, ordered by `by`.
    pub fn group(&self, view: &DataFrame, by: &str, metric: &str) -> Result<DataFrame> {
        for c in [by, metric] {
            if self.column(c).is_none() {
                return Err(CoreError::Invalid(format!(
                    "no column `{c}` in the runs table"
                )));
            }
        }
        if !self.column(metric).is_some_and(|m| m.numeric) {
            return Err(CoreError::Invalid(format!(
                "`{metric}` is not numeric: group statistics need a number"
            )));
        }
        let out = view
            .clone()
            .lazy()
            .group_by([col(by)])
            .agg([
                len().alias("runs"),
                col(metric).mean().alias(format!("{metric} mean")),
                col(metric).min().alias(format!("{metric} min")),
                col(metric).max().alias(format!("{metric} max")),
            ])
            .sort([by], SortMultipleOptions::default().with_nulls_last(true))
            .collect()?;
        Ok(out)
    }
}

/// A table or comparison written for a report or a pull request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExportFormat {
    Csv,
    Json,
    Markdown,
}

impl ExportFormat {
    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().as_str() {
            "csv" => Some(Self::Csv),
            "json" => Some(Self::Json),
            "md" | "markdown" => Some(Self::Markdown),
            _ => None,
        }
    }
}

/// Markdown table cell: pipes escaped, line breaks flattened.
fn md_cell(s: &str) -> String {
    s.replace('|', "\\|").replace(['\n', '\r'], " ")
}

/// Write `columns` of a frame (all when empty) as CSV, a JSON array of records, or a Markdown table.
pub fn export_frame(df: &DataFrame, columns: &[String], format: ExportFormat) -> Result<String> {
    let mut df = if columns.is_empty() {
        df.clone()
    } else {
        df.select(columns.iter().map(String::as_str))?
    };
    match format {
        ExportFormat::Csv => {
            let mut buf = Vec::new();
            CsvWriter::new(&mut buf).finish(&mut df)?;
            Ok(String::from_utf8_lossy(&buf).into_owned())
        }
        ExportFormat::Json => {
            let mut buf = Vec::new();
            JsonWriter::new(&mut buf)
                .with_json_format(JsonFormat::Json)
                .finish(&mut df)?;
            Ok(String::from_utf8_lossy(&buf).into_owned())
        }
        ExportFormat::Markdown => {
            let names: Vec<String> = df.get_column_names().iter().map(|n| md_cell(n)).collect();
            let mut out = format!("| {} |\n", names.join(" | "));
            let _ = writeln!(out, "|{}", " --- |".repeat(names.len()));
            for row in 0..df.height() {
                let cells: Vec<String> = df
                    .columns()
                    .iter()
                    .map(|c| md_cell(&kiln_data::cell_text(c, row)))
                    .collect();
                let _ = writeln!(out, "| {} |", cells.join(" | "));
            }
            Ok(out)
        }
    }
}

/// A tag as typed: trimmed, 1–64 characters, no commas (the table lists tags comma-separated).
fn check_tag(tag: &str) -> Result<String> {
    let t = tag.trim();
    if t.is_empty() || t.chars().count() > 64 || t.contains(',') {
        return Err(CoreError::Invalid(format!(
            "invalid tag `{tag}`: a tag is 1 to 64 characters without commas"
        )));
    }
    Ok(t.to_owned())
}

impl Workspace {
    /// Every run as a [`RunTable`], newest first.
    pub fn run_table(&self) -> Result<RunTable> {
        let runs = self.runs()?;
        self.table_of(&runs)
    }

    /// A [`RunTable`] of the given runs.
    pub fn table_of(&self, runs: &[Run]) -> Result<RunTable> {
        let mut labels: BTreeMap<i64, String> = BTreeMap::new();
        for id in runs.iter().map(|r| r.dataset_version_id) {
            if let std::collections::btree_map::Entry::Vacant(e) = labels.entry(id) {
                let v = self.store.version_by_id(id)?;
                e.insert(format!("{}@{}", v.dataset, v.version));
            }
        }
        RunTable::from_runs(runs, |id| labels.get(&id).cloned().unwrap_or_default())
    }

    /// Add and remove tags of a run; returns its tags.
    pub fn tag_run(&mut self, run: i64, add: &[String], remove: &[String]) -> Result<Vec<String>> {
        let add = add
            .iter()
            .map(|t| check_tag(t))
            .collect::<Result<Vec<_>>>()?;
        let remove: Vec<String> = remove.iter().map(|t| t.trim().to_owned()).collect();
        Ok(self.store.tag_run(run, &add, &remove)?)
    }

    /// Replace a run's note (empty clears it).
    pub fn note_run(&mut self, run: i64, note: &str) -> Result<()> {
        Ok(self.store.set_run_note(run, note.trim())?)
    }

    /// One metric of a run as columns, by step.
    pub fn metric_series(&self, run: i64, name: &str) -> Result<kiln_store::MetricSeries> {
        Ok(self.store.metric_series(run, name)?)
    }

    /// A series as first shown: its stored min/max summary when it is long, else every point.
    pub fn series_preview(&self, run: i64, name: &str) -> Result<kiln_store::SeriesPreview> {
        Ok(self.store.series_preview(run, name)?)
    }

    /// The metrics a run recorded, by name.
    pub fn metric_names(&self, run: i64) -> Result<Vec<String>> {
        Ok(self.store.metric_name_list(run)?)
    }

    /// The side-by-side comparison of runs, in the order given.
    pub fn compare(&self, ids: &[i64]) -> Result<Comparison> {
        let runs = ids
            .iter()
            .map(|&id| self.run(id))
            .collect::<Result<Vec<_>>>()?;
        Comparison::of(&self.table_of(&runs)?, ids)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kiln_store::RunStatus;

    fn run(id: i64, model: &str, lr: f64, acc: Option<f64>, seconds: f64) -> Run {
        let mut metrics = serde_json::json!({ "train_rows": 100.0, "test_loss": 0.3 });
        if let Some(a) = acc {
            metrics["test_accuracy"] = serde_json::json!(a);
        }
        Run {
            id,
            dataset_version_id: 1,
            status: RunStatus::Finished,
            error: None,
            model: model.into(),
            target: "y".into(),
            features: serde_json::json!([]),
            params: serde_json::json!({ "model": model, "learning_rate": lr, "hidden": [64, 32], "seed": 0 }),
            split: serde_json::json!({}),
            device: "cpu".into(),
            seed: 0,
            kiln_version: "0".into(),
            git_commit: None,
            sweep_id: None,
            started_at: "2026-01-01T00:00:00Z".into(),
            ended_at: None,
            duration_s: Some(seconds),
            metrics,
            evaluation: serde_json::json!({}),
            artifacts: serde_json::json!({}),
            note: String::new(),
            tags: if id == 2 {
                vec!["baseline".into()]
            } else {
                vec![]
            },
        }
    }

    fn table() -> RunTable {
        let runs = [
            run(1, "mlp", 0.001, Some(0.91), 10.0),
            run(2, "cnn", 0.003, Some(0.97), 40.0),
            run(3, "cnn", 0.01, Some(0.93), 35.0),
            run(4, "mlp", 0.001, None, 5.0),
        ];
        RunTable::from_runs(&runs, |_| "iris@1".into()).unwrap()
    }

    #[test]
    fn table_has_run_cost_param_and_metric_columns() {
        let t = table();
        assert_eq!(t.len(), 4);
        let group = |n: &str| t.column(n).map(|c| (c.group, c.numeric));
        assert_eq!(group("model"), Some((ColumnGroup::Run, false)));
        assert_eq!(group("duration_s"), Some((ColumnGroup::Cost, true)));
        assert_eq!(group("train_rows"), Some((ColumnGroup::Cost, true)));
        assert_eq!(group("learning_rate"), Some((ColumnGroup::Param, true)));
        assert_eq!(group("hidden"), Some((ColumnGroup::Param, false)));
        assert_eq!(group("test_accuracy"), Some((ColumnGroup::Metric, true)));
        let hidden = t.df.column("hidden").unwrap();
        assert_eq!(kiln_data::cell_text(hidden, 0), "64x32");
        assert_eq!(
            kiln_data::cell_text(t.df.column("dataset").unwrap(), 0),
            "iris@1"
        );
    }

    #[test]
    fn views_filter_over_params_metrics_and_tags_and_sort() {
        let t = table();
        let q = |filter: &str, sort: Option<(&str, bool)>| ViewQuery {
            filter: filter.into(),
            ranges: vec![],
            sort: sort.map(|(c, d)| (c.to_owned(), d)),
        };
        let v = t
            .view(&q("test_accuracy > 0.92 and model = 'cnn'", None))
            .unwrap();
        assert_eq!(RunTable::ids(&v), [2, 3]);
        let v = t.view(&q("tags LIKE '%baseline%'", None)).unwrap();
        assert_eq!(RunTable::ids(&v), [2]);
        // Sorted by a metric, runs without it last.
        let v = t.view(&q("", Some(("test_accuracy", true)))).unwrap();
        assert_eq!(RunTable::ids(&v), [2, 3, 1, 4]);
        let v = t
            .view(&ViewQuery {
                ranges: vec![("learning_rate".into(), 0.002, 0.02)],
                ..ViewQuery::default()
            })
            .unwrap();
        assert_eq!(RunTable::ids(&v), [2, 3]);
        for bad in ["test_accuracy >> 1", "nope = 1", "model = "] {
            let e = t.view(&q(bad, None)).unwrap_err().to_string();
            assert!(e.contains("invalid filter"), "{bad}: {e}");
        }
        assert!(t.view(&q("", Some(("nope", false)))).is_err());
    }

    #[test]
    fn groups_give_count_mean_min_and_max() {
        let t = table();
        let g = t.group(&t.df, "model", "test_accuracy").unwrap();
        let text = |c: &str, r: usize| kiln_data::cell_text(g.column(c).unwrap(), r);
        assert_eq!(
            (text("model", 0), text("runs", 0)),
            ("cnn".into(), "2".into())
        );
        let mean = g
            .column("test_accuracy mean")
            .unwrap()
            .f64()
            .unwrap()
            .get(0)
            .unwrap();
        assert!((mean - 0.95).abs() < 1e-12);
        assert_eq!(text("test_accuracy max", 1), text("test_accuracy min", 1));
        assert!(t.group(&t.df, "model", "status").is_err());
    }

    #[test]
    fn comparison_marks_differences_and_best_values_and_exports() {
        let t = table();
        let c = Comparison::of(&t, &[1, 2]).unwrap();
        let row = |n: &str| c.rows.iter().find(|r| r.name == n).unwrap();
        assert!(row("model").differs && !row("target").differs);
        assert_eq!(row("test_accuracy").best, [1]);
        assert_eq!(row("duration_s").best, [0]);
        assert!(row("train_rows").best.is_empty(), "no better direction");
        assert!(c.rows(true).all(|r| r.differs));
        let md = c.export(true, ExportFormat::Markdown).unwrap();
        assert!(md.starts_with("| | run 1 | run 2 |"), "{md}");
        assert!(md.contains("| test_accuracy | 0.91 | **0.97** |"), "{md}");
        assert!(!md.contains("| target |"), "only differences");
        let csv = c.export(false, ExportFormat::Csv).unwrap();
        assert!(csv.contains("run,target,y,y"), "{csv}");
        let json: serde_json::Value =
            serde_json::from_str(&c.export(false, ExportFormat::Json).unwrap()).unwrap();
        assert_eq!(json["runs"], serde_json::json!([1, 2]));
        assert!(Comparison::of(&t, &[1, 99]).is_err());
        let table_md = export_frame(
            &t.df,
            &["run".into(), "model".into()],
            ExportFormat::Markdown,
        )
        .unwrap();
        assert_eq!(table_md.lines().nth(2), Some("| 1 | mlp |"));
    }

    #[test]
    fn pareto_front_and_cheapest_within_tolerance() {
        let p = |run, cost, quality| ParetoPoint { run, cost, quality };
        let pts = [
            p(1, 10.0, 0.90),
            p(2, 40.0, 0.97),
            p(3, 35.0, 0.93),
            p(4, 12.0, 0.89),
            p(5, 20.0, 0.966),
            p(6, 20.0, 0.95),
            p(7, f64::NAN, 0.99),
        ];
        let front: Vec<i64> = pareto_front(&pts).iter().map(|&i| pts[i].run).collect();
        assert_eq!(front, [1, 5, 2]);
        assert_eq!(cheapest_within(&pts, 0.005).map(|i| pts[i].run), Some(5));
        assert_eq!(cheapest_within(&pts, 0.0).map(|i| pts[i].run), Some(2));
        assert_eq!(cheapest_within(&[], 0.1), None);
    }

    #[test]
    fn learning_curve_groups_by_fraction_with_spread() {
        let mut runs = Vec::new();
        for (i, (f, acc, rows)) in [(0.1, 0.8, 10.0), (0.1, 0.7, 10.0), (1.0, 0.95, 100.0)]
            .into_iter()
            .enumerate()
        {
            let mut r = run(i as i64, "mlp", 0.001, Some(acc), 1.0);
            r.params["fraction"] = serde_json::json!(f);
            r.metrics["train_rows"] = serde_json::json!(rows);
            runs.push(r);
        }
        let mut failed = run(9, "mlp", 0.001, Some(0.1), 1.0);
        failed.status = RunStatus::Failed;
        runs.push(failed);
        let c = learning_curve(&runs, "test_accuracy");
        assert_eq!(c.len(), 2);
        assert_eq!(
            (c[0].fraction, c[0].runs.len(), c[0].train_rows),
            (0.1, 2, 10.0)
        );
        assert!((c[0].mean - 0.75).abs() < 1e-12 && (c[0].min, c[0].max) == (0.7, 0.8));
        assert!((c[0].std - 0.005f64.sqrt()).abs() < 1e-12);
        assert_eq!((c[1].mean, c[1].std), (0.95, 0.0));
    }

    #[test]
    fn better_direction_comes_from_the_name() {
        assert_eq!(better("test_accuracy"), Some(Better::Higher));
        assert_eq!(better("final_val_loss"), Some(Better::Lower));
        assert_eq!(better("latency_ms_per_row"), Some(Better::Lower));
        assert_eq!(better("samples_per_s"), Some(Better::Higher));
        assert_eq!(better("epochs"), None);
    }
}
