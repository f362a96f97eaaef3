use std::io::Write;

use anyhow::Result;
use clap::Subcommand;
use kiln_core::data::polars::prelude::DataFrame;
use std::path::PathBuf;

use kiln_core::versions::SplitSpec;
use kiln_core::{Cancel, ColumnStats, Format, Progress, Workspace};

use super::report::report_outcome;
use serde_json::{Value, json};

#[derive(Debug, Subcommand)]
pub enum DatasetsSubcommand {
    /// Every dataset with its number of versions.
    List,
    /// A dataset version's schema, and optionally column statistics and the first rows.
    Show {
        /// NAME (latest version) or NAME@VERSION.
        reference: String,
        /// Compute per-column statistics.
        #[arg(long)]
        stats: bool,
        /// Print the first N rows.
        #[arg(long, value_name = "N")]
        head: Option<usize>,
    },
    /// The versions of one dataset (lineage), oldest first.
    Versions { name: String },
    /// What changed between two versions: rows added, removed, changed; label changes by class.
    Diff { a: String, b: String },
    /// Read the dataset's source again (its file, or its database query: all of it, or only the rows past
    /// its cursor with --incremental-by); a new version only if its content changed.
    Pull {
        name: String,
        /// Accept a database source whose columns changed since the last pull (the change is written
        /// in the version's message); without it such a pull is refused.
        #[arg(long)]
        allow_schema_change: bool,
    },
    /// Write a version to a file: .csv .tsv .parquet .arrow/.ipc/.feather .json .ndjson.
    Export {
        reference: String,
        #[arg(long)]
        out: PathBuf,
        /// Format (default: from the extension).
        #[arg(long, default_value = "auto", value_parser = super::args::parse_format)]
        format: Format,
    },
    /// A dataset made from another by a recorded polars SQL recipe (the parent is the table `self`); it is
    /// made again whenever the parent gets a new version. The same NAME with another recipe makes its
    /// next version (a new recipe version).
    Derive {
        /// The derived dataset.
        name: String,
        /// The parent: NAME (followed as it changes) or NAME@V (pinned).
        #[arg(long)]
        from: String,
        /// The query, e.g. `SELECT *, amount / items AS avg_price FROM self`.
        #[arg(long)]
        sql: String,
        /// A dataset (NAME or NAME@V) left-joined to the parent on --on before the query.
        #[arg(long, requires = "on")]
        join: Option<String>,
        /// The key column of --join.
        #[arg(long, requires = "join")]
        on: Option<String>,
        #[arg(long, short)]
        message: Option<String>,
    },
    /// A new version with the rows matching a polars SQL condition.
    Filter {
        reference: String,
        #[arg(long = "where", value_name = "CONDITION")]
        condition: String,
        #[arg(long, short)]
        message: Option<String>,
    },
    /// A new version with a reproducible (stratified) train/validation/test `split` column.
    Split {
        reference: String,
        /// Train, validation and test shares.
        #[arg(long, default_value = "0.8,0.1,0.1", value_parser = parse_ratios)]
        ratios: Ratios,
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Keep this column's class proportions in each part.
        #[arg(long)]
        stratify: Option<String>,
        #[arg(long, short)]
        message: Option<String>,
    },
}

/// Three split shares.
#[derive(Clone, Copy, Debug)]
pub struct Ratios(pub [f64; 3]);

fn parse_ratios(s: &str) -> Result<Ratios, String> {
    let parts: Vec<f64> = s
        .split(',')
        .map(|p| {
            p.trim()
                .parse::<f64>()
                .map_err(|_| format!("`{p}` is not a number"))
        })
        .collect::<Result<_, _>>()?;
    match parts.as_slice() {
        [a, b] => Ok(Ratios([*a, 0.0, *b])),
        [a, b, c] => Ok(Ratios([*a, *b, *c])),
        _ => Err("give TRAIN,TEST or TRAIN,VALIDATION,TEST shares".into()),
    }
}

pub fn run(
    ws: &mut Workspace,
    cmd: &DatasetsSubcommand,
    json: bool,
    out: &mut dyn Write,
) -> Result<()> {
    match cmd {
        DatasetsSubcommand::Diff { a, b } => diff(ws, a, b, json, out),
        DatasetsSubcommand::Pull {
            name,
            allow_schema_change,
        } => {
            let outcome =
                ws.pull_allowing(name, *allow_schema_change, &Cancel::new(), &Progress::new())?;
            // The datasets derived from it follow.
            let derived = if outcome.created {
                ws.refresh_derived(name, &Cancel::new(), &Progress::new())?
            } else {
                Vec::new()
            };
            if json {
                let mut doc = super::report::outcome_json(&outcome);
                doc["derived"] = derived
                    .iter()
                    .map(super::report::outcome_json)
                    .collect::<Vec<_>>()
                    .into();
                return super::report::print_json(out, &doc);
            }
            report_outcome(&outcome, json, out, "pull")?;
            for d in &derived {
                report_outcome(d, json, out, "derived")?;
            }
            Ok(())
        }
        DatasetsSubcommand::Export {
            reference,
            out: path,
            format,
        } => {
            let v = ws.export(reference, path, *format)?;
            if json {
                super::report::print_json(
                    out,
                    &json!({ "dataset": v.dataset, "version": v.version, "rows": v.row_count, "out": path.display().to_string() }),
                )
            } else {
                writeln!(
                    out,
                    "wrote {}@{} ({} rows) to {}",
                    v.dataset,
                    v.version,
                    v.row_count,
                    path.display()
                )?;
                Ok(())
            }
        }
        DatasetsSubcommand::Derive {
            name,
            from,
            sql,
            join,
            on,
            message,
        } => {
            let recipe = kiln_core::sources::Recipe {
                from: from.clone(),
                sql: sql.clone(),
                join: join.clone(),
                on: on.clone(),
            };
            let outcome = ws.derive_sql(
                name,
                &recipe,
                message.as_deref(),
                &Cancel::new(),
                &Progress::new(),
            )?;
            report_outcome(&outcome, json, out, "derive")
        }
        DatasetsSubcommand::Filter {
            reference,
            condition,
            message,
        } => {
            let outcome = ws.derive_filter(reference, condition, message.as_deref())?;
            report_outcome(&outcome, json, out, &format!("filter {condition}"))
        }
        DatasetsSubcommand::Split {
            reference,
            ratios,
            seed,
            stratify,
            message,
        } => {
            let spec = SplitSpec {
                ratios: ratios.0,
                seed: *seed,
                stratify: stratify.clone(),
            };
            let outcome = ws.derive_split(reference, &spec, message.as_deref())?;
            report_outcome(&outcome, json, out, "split")
        }
        DatasetsSubcommand::List => list(ws, json, out),
        DatasetsSubcommand::Show {
            reference,
            stats,
            head,
        } => show(ws, reference, *stats, *head, json, out),
        DatasetsSubcommand::Versions { name } => versions(ws, name, json, out),
    }
}

fn list(ws: &Workspace, json: bool, out: &mut dyn Write) -> Result<()> {
    let datasets = ws.datasets()?;
    if json {
        return super::report::print_json(out, &serde_json::to_value(&datasets)?);
    }
    if datasets.is_empty() {
        writeln!(
            out,
            "no datasets yet: import one with `kiln import FILE --name NAME`"
        )?;
        return Ok(());
    }
    writeln!(
        out,
        "{:<32} {:>8} {:>7}  created",
        "name", "versions", "latest"
    )?;
    for d in datasets {
        writeln!(
            out,
            "{:<32} {:>8} {:>7}  {}",
            d.name,
            d.versions,
            d.latest_version
                .map_or_else(|| "-".into(), |v| format!("@{v}")),
            d.created_at
        )?;
    }
    Ok(())
}

fn versions(ws: &Workspace, name: &str, json: bool, out: &mut dyn Write) -> Result<()> {
    let versions = ws.versions(name)?;
    if json {
        return super::report::print_json(out, &serde_json::to_value(&versions)?);
    }
    for v in versions {
        writeln!(
            out,
            "{}@{:<4} {:<8} {:>10} rows  {}  {}",
            v.dataset,
            v.version,
            v.operation,
            v.row_count,
            &v.content_hash[..12],
            v.created_at
        )?;
    }
    Ok(())
}

fn show(
    ws: &Workspace,
    reference: &str,
    stats: bool,
    head: Option<usize>,
    json: bool,
    out: &mut dyn Write,
) -> Result<()> {
    let v = ws.resolve(reference)?;
    // Statistics read the version whole when it fits the memory budget and stream it when not; the head
    // alone reads only the row groups it needs (from the shared store by byte ranges on a team workspace).
    let table = if stats {
        Some(ws.objects().open_table(&v, ws.memory_budget())?)
    } else if head.is_some() {
        Some(kiln_core::data::TableData::Paged(std::sync::Arc::new(
            ws.objects().open_paged(&v)?,
        )))
    } else {
        None
    };
    let stats = match (&table, stats) {
        (Some(t), true) => Some(t.column_stats(&Cancel::new(), &Progress::new())?),
        _ => None,
    };
    let df = match (&table, head) {
        (Some(t), Some(n)) => Some(t.rows(0, n)?),
        _ => None,
    };
    let columns: Vec<Value> = v
        .schema
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .enumerate()
        .map(|(i, c)| match stats.as_ref().and_then(|s| s.get(i)) {
            Some(s) => merge_stats(c, s),
            None => c,
        })
        .collect();
    if json {
        let mut doc = json!({
            "dataset": v.dataset,
            "version": v.version,
            "rows": v.row_count,
            "columns": columns,
            "content_hash": v.content_hash,
            "byte_size": v.byte_size,
            "source_path": v.source_path,
            "import_options": v.import_options,
            "operation": v.operation,
            "created_at": v.created_at,
        });
        if let Some(df) = &df {
            doc["head"] = records(df);
        }
        return super::report::print_json(out, &doc);
    }
    writeln!(
        out,
        "{}@{}: {} rows × {} columns, {} bytes, blake3 {}",
        v.dataset,
        v.version,
        v.row_count,
        columns.len(),
        v.byte_size,
        v.content_hash
    )?;
    if let Some(src) = &v.source_path {
        writeln!(out, "source: {src}")?;
    }
    match &stats {
        Some(stats) => print_stats(stats, out)?,
        None => {
            for c in &columns {
                writeln!(
                    out,
                    "  {:<32} {}",
                    c["name"].as_str().unwrap_or(""),
                    c["dtype"].as_str().unwrap_or("")
                )?;
            }
        }
    }
    if let Some(df) = &df {
        writeln!(out, "{df}")?;
    }
    Ok(())
}

fn merge_stats(mut column: Value, s: &ColumnStats) -> Value {
    let extra = json!({
        "count": s.count, "nulls": s.nulls, "unique": s.unique, "min": s.min, "max": s.max,
        "mean": s.mean, "std": s.std, "median": s.median, "q25": s.q25, "q75": s.q75,
    });
    let mut extra = extra;
    if let Some(n) = s.sample_rows {
        // Distinct counts and quantiles of a version larger than the memory budget: from a sample.
        extra["sample_rows"] = json!(n);
    }
    if let (Some(obj), Value::Object(extra)) = (column.as_object_mut(), extra) {
        obj.extend(extra);
    }
    column
}

fn print_stats(stats: &[ColumnStats], out: &mut dyn Write) -> Result<()> {
    writeln!(
        out,
        "  {:<24} {:<8} {:>9} {:>7} {:>8} {:>12} {:>12} {:>12} {:>12} {:>12}",
        "column", "dtype", "count", "nulls", "unique", "min", "max", "mean", "std", "median"
    )?;
    let num = |x: Option<f64>| x.map_or_else(String::new, |x| format!("{x:.5}"));
    let val = |v: &Value| match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        v => v.to_string(),
    };
    for s in stats {
        writeln!(
            out,
            "  {:<24} {:<8} {:>9} {:>7} {:>8} {:>12} {:>12} {:>12} {:>12} {:>12}",
            s.name,
            s.dtype,
            s.count,
            s.nulls,
            s.unique,
            val(&s.min),
            val(&s.max),
            num(s.mean),
            num(s.std),
            num(s.median)
        )?;
    }
    Ok(())
}

/// Rows as JSON records, via polars' own JSON writer so every dtype is encoded as polars does.
fn records(df: &DataFrame) -> Value {
    use kiln_core::data::polars::prelude::{JsonFormat, JsonWriter, SerWriter};
    let mut buf = Vec::new();
    let mut df = df.clone();
    if JsonWriter::new(&mut buf)
        .with_json_format(JsonFormat::Json)
        .finish(&mut df)
        .is_err()
    {
        return Value::Null;
    }
    serde_json::from_slice(&buf).unwrap_or(Value::Null)
}

fn diff(ws: &Workspace, a: &str, b: &str, json: bool, out: &mut dyn Write) -> Result<()> {
    let d = ws.diff(a, b)?;
    if json {
        let mut doc = serde_json::to_value(&d)?;
        doc["a"] = json!(a);
        doc["b"] = json!(b);
        return super::report::print_json(out, &doc);
    }
    writeln!(out, "{a} → {b}: {} → {} rows", d.rows_a, d.rows_b)?;
    writeln!(
        out,
        "  rows added {}, removed {}, changed {} ({} cells)",
        d.added, d.removed, d.changed_rows, d.changed_cells
    )?;
    if !d.columns_added.is_empty() {
        writeln!(out, "  columns added: {}", d.columns_added.join(", "))?;
    }
    if !d.columns_removed.is_empty() {
        writeln!(out, "  columns removed: {}", d.columns_removed.join(", "))?;
    }
    for (c, n) in &d.changed_by_column {
        writeln!(out, "  {c}: {n} cell(s) changed")?;
    }
    for l in &d.label_changes {
        writeln!(out, "  {}: {} → {}  ×{}", l.column, l.from, l.to, l.count)?;
    }
    Ok(())
}
