//! `kiln runs`: list, filter, sort, group and export the runs table; show one run; compare runs side by
//! side; tag and annotate runs. Resuming is training's (`train.rs`).

use std::io::Write;

use anyhow::{Context, Result, bail};
use clap::Subcommand;
use kiln_core::Workspace;
use kiln_core::compare::{ExportFormat, ViewQuery, export_frame};
use kiln_train::DeviceChoice;
use serde_json::json;

use super::train::parse_device;

fn parse_format(s: &str) -> Result<ExportFormat, String> {
    ExportFormat::parse(s).ok_or_else(|| format!("unknown format `{s}` (csv, json, md)"))
}

/// Columns `kiln runs list` prints unless `--columns` says otherwise (those the table has).
const DEFAULT_COLUMNS: [&str; 9] = [
    "run",
    "status",
    "dataset",
    "model",
    "duration_s",
    "test_accuracy",
    "test_loss",
    "sweep",
    "tags",
];

#[derive(Debug, Subcommand)]
pub enum RunsSubcommand {
    /// The runs table, newest first: filter it with a SQL condition over its columns (run, cost,
    /// parameter and metric columns, `tags`), sort it, group it, export it.
    List {
        /// Only the runs of this sweep.
        #[arg(long)]
        sweep: Option<String>,
        /// A condition, e.g. `test_accuracy > 0.95 and model = 'cnn'` or `tags LIKE '%baseline%'`.
        #[arg(long)]
        filter: Option<String>,
        /// Sort by this column (ascending; `--desc` for descending). Runs without a value come last.
        #[arg(long)]
        sort: Option<String>,
        #[arg(long)]
        desc: bool,
        /// Columns to print, comma-separated (`all` for every column).
        #[arg(long, value_delimiter = ',')]
        columns: Vec<String>,
        /// Group the runs by this column: count, mean, min and max of `--metric`.
        #[arg(long, requires = "metric")]
        group_by: Option<String>,
        /// The metric `--group-by` summarises.
        #[arg(long)]
        metric: Option<String>,
        /// csv, md (Markdown) or json (the table's rows; `--json` alone prints whole run records). Default: aligned text.
        #[arg(long, value_parser = parse_format)]
        format: Option<ExportFormat>,
    },
    /// One run with its parameters, metrics, evaluation and metric history.
    Show { run: i64 },
    /// Runs side by side: what they trained on, parameters, cost and metrics, the best value of each
    /// metric marked.
    Compare {
        #[arg(required = true, num_args = 2..)]
        runs: Vec<i64>,
        /// Only the rows where the runs differ.
        #[arg(long)]
        only_diff: bool,
        /// csv, md (Markdown, best values in bold) or json. Default: aligned text.
        #[arg(long, value_parser = parse_format)]
        format: Option<ExportFormat>,
    },
    /// Add tags to a run (or remove them with `--remove`).
    Tag {
        run: i64,
        #[arg(required = true)]
        tags: Vec<String>,
        #[arg(long)]
        remove: bool,
    },
    /// Set a run's note (an empty text clears it).
    Note { run: i64, text: String },
    /// Continue a stopped, failed or interrupted run from its last checkpoint.
    Resume {
        run: i64,
        /// auto, cpu or wgpu.
        #[arg(long, default_value = "auto", value_parser = parse_device)]
        device: DeviceChoice,
    },
}

/// Aligned text columns.
fn text_table(df: &kiln_core::data::polars::prelude::DataFrame, out: &mut dyn Write) -> Result<()> {
    let names: Vec<String> = df
        .get_column_names()
        .iter()
        .map(ToString::to_string)
        .collect();
    let cells: Vec<Vec<String>> = df
        .columns()
        .iter()
        .map(|c| {
            (0..df.height())
                .map(|r| kiln_core::data::cell_text(c, r))
                .collect()
        })
        .collect();
    let widths: Vec<usize> = names
        .iter()
        .zip(&cells)
        .map(|(n, c)| {
            c.iter()
                .map(|s| s.chars().count())
                .chain([n.len()])
                .max()
                .unwrap_or(0)
                .min(40)
        })
        .collect();
    let line = |items: Vec<&str>| -> String {
        items
            .iter()
            .zip(&widths)
            .map(|(s, w)| format!("{:<w$}", s.chars().take(40).collect::<String>(), w = *w))
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_owned()
    };
    writeln!(out, "{}", line(names.iter().map(String::as_str).collect()))?;
    for r in 0..df.height() {
        writeln!(
            out,
            "{}",
            line(cells.iter().map(|c| c[r].as_str()).collect())
        )?;
    }
    Ok(())
}

pub fn run_runs(
    ws: &mut Workspace,
    cmd: &RunsSubcommand,
    json_out: bool,
    out: &mut dyn Write,
) -> Result<()> {
    match cmd {
        RunsSubcommand::Resume { .. } => bail!("internal: resume is training's"),
        RunsSubcommand::List {
            sweep,
            filter,
            sort,
            desc,
            columns,
            group_by,
            metric,
            format,
        } => {
            let table = match sweep {
                Some(id) => {
                    let mut r = ws.sweep_runs(id)?;
                    if r.is_empty() && !ws.sweeps()?.iter().any(|s| &s.id == id) {
                        bail!("no sweep `{id}`");
                    }
                    r.reverse();
                    ws.table_of(&r)?
                }
                None => ws.run_table()?,
            };
            let view = table.view(&ViewQuery {
                filter: filter.clone().unwrap_or_default(),
                ranges: Vec::new(),
                sort: sort.clone().map(|c| (c, *desc)),
            })?;
            if json_out && group_by.is_none() && format.is_none() {
                // `--json` keeps printing whole run records (as `runs show`), in the view's order.
                let ids = kiln_core::compare::RunTable::ids(&view);
                let by_id: std::collections::HashMap<i64, kiln_core::Run> = match sweep {
                    Some(id) => ws.sweep_runs(id)?,
                    None => ws.runs()?,
                }
                .into_iter()
                .map(|r| (r.id, r))
                .collect();
                let records: Vec<&kiln_core::Run> =
                    ids.iter().filter_map(|i| by_id.get(i)).collect();
                return super::report::print_json(out, &serde_json::to_value(records)?);
            }
            let format = if json_out {
                Some(ExportFormat::Json)
            } else {
                *format
            };
            let (frame, cols) = if let Some(by) = group_by {
                let m = metric.as_deref().context("--group-by needs --metric")?;
                (table.group(&view, by, m)?, Vec::new())
            } else {
                let cols: Vec<String> = if columns.iter().any(|c| c == "all") {
                    Vec::new()
                } else if columns.is_empty() {
                    DEFAULT_COLUMNS
                        .iter()
                        .filter(|c| table.column(c).is_some())
                        .map(|c| (*c).to_owned())
                        .collect()
                } else {
                    for c in columns {
                        if table.column(c).is_none() {
                            bail!("no column `{c}` in the runs table");
                        }
                    }
                    columns.clone()
                };
                (view, cols)
            };
            if let Some(f) = format {
                write!(out, "{}", export_frame(&frame, &cols, f)?)?;
            } else {
                let frame = if cols.is_empty() {
                    frame
                } else {
                    frame.select(cols.iter().map(String::as_str))?
                };
                text_table(&frame, out)?;
            }
            Ok(())
        }
        RunsSubcommand::Compare {
            runs,
            only_diff,
            format,
        } => {
            let c = ws.compare(runs)?;
            let format = if json_out {
                Some(ExportFormat::Json)
            } else {
                *format
            };
            if let Some(f) = format {
                writeln!(out, "{}", c.export(*only_diff, f)?.trim_end())?;
                return Ok(());
            }
            let name_w = c
                .rows
                .iter()
                .map(|r| r.name.len())
                .max()
                .unwrap_or(4)
                .max(4);
            write!(out, "{:<name_w$}", "")?;
            for r in &c.runs {
                write!(out, "  {:<14}", format!("run {r}"))?;
            }
            writeln!(out)?;
            for row in c.rows(*only_diff) {
                write!(out, "{:<name_w$}", row.name)?;
                for (i, v) in row.values.iter().enumerate() {
                    let mut t: String = v.as_deref().unwrap_or("-").chars().take(12).collect();
                    if row.best.contains(&i) {
                        t.push_str(" *");
                    }
                    write!(out, "  {t:<14}")?;
                }
                writeln!(out)?;
            }
            writeln!(out, "(* best value)")?;
            Ok(())
        }
        RunsSubcommand::Tag { run, tags, remove } => {
            let now = if *remove {
                ws.tag_run(*run, &[], tags)?
            } else {
                ws.tag_run(*run, tags, &[])?
            };
            if json_out {
                return super::report::print_json(out, &json!({ "run": run, "tags": now }));
            }
            writeln!(out, "run {run} tags: {}", now.join(", "))?;
            Ok(())
        }
        RunsSubcommand::Note { run, text } => {
            ws.note_run(*run, text)?;
            if json_out {
                return super::report::print_json(out, &json!({ "run": run, "note": text.trim() }));
            }
            writeln!(out, "run {run} note saved")?;
            Ok(())
        }
        RunsSubcommand::Show { run } => {
            let r = ws.run(*run)?;
            let history = ws.metric_history(*run)?;
            let version = ws.run_version(&r)?;
            if json_out {
                let mut doc = serde_json::to_value(&r)?;
                doc["dataset"] = json!({
                    "name": version.dataset,
                    "version": version.version,
                    "content_hash": version.content_hash,
                });
                doc["history"] = serde_json::to_value(&history)?;
                return super::report::print_json(out, &doc);
            }
            writeln!(
                out,
                "run {} · {} · {} · device {}",
                r.id, r.status, r.model, r.device
            )?;
            writeln!(
                out,
                "data {}@{} (blake3 {})",
                version.dataset, version.version, version.content_hash
            )?;
            if !r.tags.is_empty() {
                writeln!(out, "tags {}", r.tags.join(", "))?;
            }
            if !r.note.is_empty() {
                writeln!(out, "note {}", r.note)?;
            }
            writeln!(out, "params {}", r.params)?;
            writeln!(out, "metrics {}", r.metrics)?;
            if let Some(e) = &r.error {
                writeln!(out, "error: {e}")?;
            }
            writeln!(out, "{} metric points", history.len())?;
            Ok(())
        }
    }
}
