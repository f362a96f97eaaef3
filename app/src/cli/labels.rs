//! `kiln label` (scripted labeling) and `kiln labels` (schema, import, export).

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use kiln_core::Workspace;
use kiln_core::versions::LabelFormat;

#[derive(Debug, Args)]
pub struct LabelArgs {
    /// NAME (latest version) or NAME@VERSION to label.
    pub reference: String,
    /// The label column (created if it does not exist).
    #[arg(long)]
    pub column: String,
    /// `ROW=VALUE`: set the label of the row with that id (an empty VALUE clears it). Repeat.
    #[arg(long = "set", value_name = "ROW=VALUE", required = true)]
    pub sets: Vec<String>,
    /// Message recorded with the new version.
    #[arg(long, short)]
    pub message: Option<String>,
    /// Author recorded with the new version (default: the OS user).
    #[arg(long)]
    pub author: Option<String>,
    /// These labels fix rows of suspects run RUN (`labels suspects`): the version's message names it.
    #[arg(long, value_name = "RUN")]
    pub fixes_from: Option<i64>,
}

#[derive(Debug, Subcommand)]
pub enum LabelsSubcommand {
    /// Show or define the classes of a label column.
    Schema {
        name: String,
        #[arg(long)]
        column: String,
        /// `NAME[:HOTKEY[:#RRGGBB]]`; repeat for each class. Without any, print the current schema.
        #[arg(long = "class", value_name = "CLASS")]
        classes: Vec<String>,
    },
    /// Apply labels from Label Studio JSON tasks or a `row_id,label` CSV as a new version.
    Import {
        /// NAME or NAME@VERSION the labels belong to.
        reference: String,
        #[arg(long)]
        from: PathBuf,
        /// Label column (default: the file's `from_name` or CSV header).
        #[arg(long)]
        column: Option<String>,
        #[arg(long, short)]
        message: Option<String>,
        /// Author recorded with the new version (default: the OS user).
        #[arg(long)]
        author: Option<String>,
    },
    /// Write the labels of a column as Label Studio JSON tasks (.json) or `row_id,label` CSV.
    Export {
        reference: String,
        #[arg(long)]
        column: String,
        #[arg(long)]
        out: PathBuf,
        /// Add this run's prediction to every task as Label Studio `predictions` (`model_version`,
        /// `score`): annotators start from the model. JSON only.
        #[arg(long, value_name = "RUN")]
        predictions: Option<i64>,
    },
    /// Rows whose given label the model doubts: k-fold cross-validation gives every labelled row
    /// out-of-sample probabilities; confident learning ranks the doubtful ones (lowest probability of
    /// the given label first). The run is recorded; rows kept with `labels keep` are left out.
    Suspects {
        /// NAME (latest version) or NAME@VERSION.
        reference: String,
        #[arg(long)]
        column: String,
        #[arg(long, default_value = "mlp", value_parser = ["mlp", "cnn"])]
        model: String,
        #[arg(long, default_value_t = 5)]
        folds: usize,
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// `KEY=VALUE` training parameter (as for `train`); repeat.
        #[arg(long = "param", value_name = "KEY=VALUE")]
        params: Vec<String>,
        /// cpu, wgpu or auto.
        #[arg(long, default_value = "cpu")]
        device: String,
        /// Show at most this many suspects (all are recorded).
        #[arg(long)]
        limit: Option<usize>,
        /// predicted-neq-given (the default: every row whose most probable class is another one, the
        /// most doubtful first — the queue that finds the most wrong labels), confident-learning (only
        /// rows another class beats while clearing its threshold: fewer rows, nearly all wrong) or
        /// prune-by-noise-rate (per pair of classes, as many rows as the calibrated joint estimates).
        #[arg(long, default_value = "predicted-neq-given")]
        filter: String,
    },
    /// Keep rows' labels as they are: they are not suspected again for this version.
    Keep {
        /// NAME@VERSION the decision is about.
        reference: String,
        #[arg(long)]
        column: String,
        /// Row ids, comma-separated.
        #[arg(long, value_delimiter = ',', required = true)]
        rows: Vec<u64>,
    },
    /// The unlabeled rows a run is least sure about: label these first.
    Next {
        reference: String,
        #[arg(long)]
        column: String,
        #[arg(long)]
        run: i64,
        /// least-confidence, margin or entropy.
        #[arg(long, default_value = "margin")]
        strategy: String,
        #[arg(long, default_value_t = 50)]
        count: usize,
    },
}

fn parse_set(s: &str) -> Result<(u64, Option<String>)> {
    let (row, value) = s
        .split_once('=')
        .with_context(|| format!("`{s}` is not ROW=VALUE"))?;
    let row = row
        .trim()
        .parse::<u64>()
        .with_context(|| format!("`{row}` in `{s}` is not a row id"))?;
    Ok((row, (!value.is_empty()).then(|| value.to_owned())))
}

pub fn run_label(
    ws: &mut Workspace,
    args: &LabelArgs,
    json: bool,
    out: &mut dyn Write,
) -> Result<()> {
    let sets = args
        .sets
        .iter()
        .map(|s| parse_set(s))
        .collect::<Result<Vec<_>>>()?;
    let message = match args.fixes_from {
        Some(run) => {
            ws.fixes_message(&args.reference, &args.column, args.message.as_deref(), run)?
        }
        None => args.message.clone(),
    };
    let outcome = ws.set_labels(
        &args.reference,
        &args.column,
        &sets,
        message.as_deref(),
        args.author.as_deref(),
    )?;
    super::report::report_outcome(
        &outcome,
        json,
        out,
        &format!("{} label(s) on `{}`", sets.len(), args.column),
    )
}

pub fn run(
    ws: &mut Workspace,
    cmd: &LabelsSubcommand,
    json: bool,
    out: &mut dyn Write,
) -> Result<()> {
    match cmd {
        LabelsSubcommand::Schema {
            name,
            column,
            classes,
        } => {
            if !classes.is_empty() {
                let parsed = kiln_core::labels::parse_classes(classes)?;
                ws.set_label_schema(name, column, &parsed)?;
            }
            let schema = ws.label_schema(name, column)?;
            if json {
                return super::report::print_json(
                    out,
                    &serde_json::json!({ "dataset": name, "column": column, "classes": schema }),
                );
            }
            match schema {
                None => writeln!(out, "{name}: column `{column}` has no label schema")?,
                Some(classes) => {
                    for c in classes {
                        writeln!(
                            out,
                            "{:<24} key {:<3} {}",
                            c.name,
                            c.hotkey.as_deref().unwrap_or("-"),
                            c.color
                        )?;
                    }
                }
            }
            Ok(())
        }
        LabelsSubcommand::Import {
            reference,
            from,
            column,
            message,
            author,
        } => {
            let outcome = ws.import_labels(
                reference,
                column.as_deref(),
                from,
                message.as_deref(),
                author.as_deref(),
            )?;
            super::report::report_outcome(
                &outcome,
                json,
                out,
                &format!("labels from {}", from.display()),
            )
        }
        LabelsSubcommand::Suspects {
            reference,
            column,
            model,
            folds,
            seed,
            params,
            device,
            limit,
            filter,
        } => suspects(
            ws,
            reference,
            column,
            (model, *folds, *seed, params, device, filter),
            *limit,
            json,
            out,
        ),
        LabelsSubcommand::Keep {
            reference,
            column,
            rows,
        } => {
            ws.keep_labels(reference, column, rows)?;
            if json {
                super::report::print_json(out, &serde_json::json!({ "kept": rows }))
            } else {
                writeln!(
                    out,
                    "kept {} label(s) of `{column}` in {reference} as they are",
                    rows.len()
                )?;
                Ok(())
            }
        }
        LabelsSubcommand::Next {
            reference,
            column,
            run,
            strategy,
            count,
        } => {
            let s = kiln_core::assist::Uncertainty::parse(strategy).with_context(|| {
                format!("unknown strategy `{strategy}`: least-confidence, margin or entropy")
            })?;
            let items = ws.next_to_label(reference, column, *run, s, *count)?;
            if json {
                return super::report::print_json(out, &serde_json::to_value(&items)?);
            }
            writeln!(out, "{:>8}  {:>11}  predicted (p)", "row_id", s.label())?;
            for i in &items {
                writeln!(
                    out,
                    "{:>8}  {:>11.3}  {} ({:.2})",
                    i.row_id, i.uncertainty, i.predicted, i.score
                )?;
            }
            Ok(())
        }
        LabelsSubcommand::Export {
            reference,
            column,
            out: path,
            predictions,
        } => {
            let n = ws.export_labels(
                reference,
                column,
                path,
                LabelFormat::from_path(path),
                *predictions,
            )?;
            if json {
                super::report::print_json(
                    out,
                    &serde_json::json!({ "labels": n, "out": path.display().to_string() }),
                )
            } else {
                writeln!(
                    out,
                    "wrote {n} label(s) of `{column}` to {}",
                    path.display()
                )?;
                Ok(())
            }
        }
    }
}

fn suspects(
    ws: &Workspace,
    reference: &str,
    column: &str,
    (model, folds, seed, params, device, filter): (&str, usize, u64, &[String], &str, &str),
    limit: Option<usize>,
    json: bool,
    out: &mut dyn Write,
) -> Result<()> {
    let kind =
        kiln_train::ModelKind::parse(model).with_context(|| format!("unknown model `{model}`"))?;
    let mut settings = kiln_core::assist::SuspectSettings::new(kind);
    settings.folds = folds;
    settings.seed = seed;
    settings.filter = kiln_core::assist::SuspectFilter::parse(filter).with_context(|| {
        format!("unknown filter `{filter}`: confident-learning, prune-by-noise-rate or predicted-neq-given")
    })?;
    settings.device = kiln_train::DeviceChoice::parse(device)
        .with_context(|| format!("unknown device `{device}`: cpu, wgpu or auto"))?;
    for p in params {
        let (k, v) = p
            .split_once('=')
            .with_context(|| format!("`{p}` is not KEY=VALUE"))?;
        settings.params.set(k.trim(), v.trim())?;
    }
    let cancel = super::train::interrupt_flag();
    let mut report = ws.find_suspects(reference, column, &settings, cancel, &mut |done, all| {
        if !json {
            eprintln!("fold {done} of {all} done");
        }
    })?;
    if let Some(n) = limit {
        report.suspects.truncate(n);
    }
    if json {
        return super::report::print_json(out, &serde_json::to_value(&report)?);
    }
    writeln!(
        out,
        "suspects run {}: {} of {} labelled rows of `{column}` look wrong ({:.0} label errors estimated; the \
         model agreed with {:.1}% of the labels out of sample; {} kept earlier)",
        report.run,
        report.suspects.len(),
        report.labelled_rows,
        report.estimated_errors,
        report.agreement * 100.0,
        report.kept
    )?;
    for p in report.pairs.iter().take(5) {
        writeln!(
            out,
            "  labelled {} but looks like {}: about {:.0}",
            p.given, p.suggested, p.estimated
        )?;
    }
    writeln!(
        out,
        "{:>8}  {:>10}  {:>10}  p(given)  p(suggested)",
        "row_id", "given", "suggested"
    )?;
    for s in &report.suspects {
        writeln!(
            out,
            "{:>8}  {:>10}  {:>10}  {:>8.3}  {:>12.3}",
            s.row_id, s.given, s.suggested, s.given_probability, s.suggested_probability
        )?;
    }
    Ok(())
}
