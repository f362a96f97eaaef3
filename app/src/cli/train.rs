//! `kiln train`, `kiln sweep`, `kiln runs resume` and `kiln predict`.

use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;

use anyhow::{Context, Result, bail};
use clap::Args;
use kiln_core::Workspace;
use kiln_core::training::TrainRequest;
use kiln_train::{DeviceChoice, TrainParams};
use serde_json::json;

#[derive(Debug, Args)]
pub struct TrainArgs {
    /// NAME or NAME@VERSION of the dataset.
    #[arg(long)]
    pub dataset: String,
    /// The column to predict.
    #[arg(long)]
    pub target: String,
    /// Model template: an MLP for tabular data, a small CNN for images (pixel columns or an image column).
    /// Each has its own defaults (the CNN: lr 0.003, dropout 0.3, 30 epochs); `--param` overrides them.
    #[arg(long, default_value = "mlp", value_parser = ["mlp", "cnn"])]
    pub model: String,
    /// Feature columns, comma-separated (default: all but the target and `split`).
    #[arg(long, value_delimiter = ',')]
    pub features: Vec<String>,
    /// `KEY=VALUE` hyperparameter: `hidden=128,64`, `filters=32,64` (CNN), `dropout`, `lr`,
    /// `schedule=constant|cosine|step` (`step_size`, `gamma`), `optimizer=adam|sgd`, `weight_decay`,
    /// `batch_size`, `epochs`, `patience`. Repeat.
    #[arg(long = "param", value_name = "KEY=VALUE")]
    pub params: Vec<String>,
    /// auto (a real GPU through wgpu if there is one, else the CPU), cpu or wgpu.
    #[arg(long, default_value = "auto", value_parser = parse_device)]
    pub device: DeviceChoice,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Learning curve: train the same configuration on these shares of the training rows (nested
    /// stratified subsets, e.g. `0.1,0.25,0.5,1`) and print test accuracy against training rows.
    #[arg(long, value_delimiter = ',')]
    pub fractions: Vec<f64>,
    /// Seeds per fraction of a learning curve (its spread), counted up from `--seed`.
    #[arg(long, default_value_t = 3, requires = "fractions")]
    pub repeats: usize,
}

pub(super) fn parse_device(s: &str) -> Result<DeviceChoice, String> {
    DeviceChoice::parse(s).ok_or_else(|| format!("unknown device `{s}` (auto, cpu, wgpu)"))
}

#[derive(Debug, Args)]
pub struct SweepArgs {
    #[command(flatten)]
    pub train: TrainArgs,
    /// `KEY=V1,V2,...`: values to try (several widths per layer: `hidden=64,128x64`). Repeat per key.
    #[arg(long = "grid", value_name = "KEY=VALUES")]
    pub grid: Vec<String>,
    /// `KEY=LOW:HIGH[:log][:int]`: a range for random search. Repeat per key.
    #[arg(long = "range", value_name = "KEY=RANGE")]
    pub ranges: Vec<String>,
    /// Random search with this many trials (default: a grid over every combination).
    #[arg(long)]
    pub random: Option<usize>,
    /// Seed of the random search.
    #[arg(long, default_value_t = 0)]
    pub search_seed: u64,
    /// Runs at a time (on CPU cores).
    #[arg(long, default_value_t = 1)]
    pub parallel: usize,
}

#[derive(Debug, Args)]
pub struct PredictArgs {
    #[arg(long)]
    pub run: i64,
    /// File with the feature columns (any importable format).
    #[arg(long)]
    pub input: PathBuf,
    /// Output file (.csv, .parquet, ...): the input with a `prediction` column.
    #[arg(long)]
    pub out: PathBuf,
    /// The input CSV has no header row (columns are named `column_1`, ... as on import).
    #[arg(long)]
    pub no_header: bool,
}

pub fn request(args: &TrainArgs) -> Result<TrainRequest> {
    let mut params = TrainParams {
        seed: args.seed,
        ..TrainParams::for_model(kiln_train::ModelKind::parse(&args.model).unwrap_or_default())
    };
    for p in &args.params {
        let (k, v) = p
            .split_once('=')
            .with_context(|| format!("`{p}` is not KEY=VALUE"))?;
        params.set(k.trim(), v.trim())?;
    }
    Ok(TrainRequest {
        dataset: args.dataset.clone(),
        target: args.target.clone(),
        features: (!args.features.is_empty()).then(|| args.features.clone()),
        params,
        device: args.device,
        sweep_id: None,
    })
}

/// The cancel flag of a command-line run: the first Ctrl+C stops the run at the next batch (it is
/// recorded as `stopped`, keeps its best model and can be resumed); a second one quits at once.
pub(super) fn interrupt_flag() -> &'static AtomicBool {
    static FLAG: AtomicBool = AtomicBool::new(false);
    static INSTALL: std::sync::Once = std::sync::Once::new();
    INSTALL.call_once(|| {
        let installed = ctrlc::set_handler(|| {
            if FLAG.swap(true, std::sync::atomic::Ordering::SeqCst) {
                std::process::exit(130);
            }
            eprintln!("stopping after this batch (Ctrl+C again to quit now)");
        });
        if let Err(e) = installed {
            tracing::debug!("no Ctrl+C handler: {e}");
        }
    });
    &FLAG
}

/// Epoch lines on stderr (text mode).
fn epoch_printer(json_out: bool) -> impl FnMut(&kiln_train::Event) {
    move |e| {
        if let kiln_train::Event::Epoch {
            epoch,
            train_loss,
            val_loss,
            val_accuracy,
            ..
        } = e
            && !json_out
        {
            eprintln!(
                "epoch {epoch:>3}  train loss {train_loss:.4}  val loss {val_loss:.4}  val acc {val_accuracy:.4}"
            );
        }
    }
}

pub fn run_train(
    ws: &mut Workspace,
    args: &TrainArgs,
    json_out: bool,
    out: &mut dyn Write,
) -> Result<()> {
    let req = request(args)?;
    if !args.fractions.is_empty() {
        return run_learning_curve(ws, req, args, json_out, out);
    }
    let summary = ws.train(&req, interrupt_flag(), &mut epoch_printer(json_out))?;
    print_summary(&summary, json_out, out)
}

/// `kiln train … --fractions`: a sweep over the fractions and seeds, then its curve.
fn run_learning_curve(
    ws: &mut Workspace,
    req: TrainRequest,
    args: &TrainArgs,
    json_out: bool,
    out: &mut dyn Write,
) -> Result<()> {
    let spec = kiln_core::sweeps::SweepSpec::learning_curve(req, &args.fractions, args.repeats)?;
    let quiet = json_out;
    let outcome = ws.sweep(&spec, interrupt_flag(), &|t, total| {
        if !quiet {
            eprintln!(
                "run {}/{total}  {}  {}",
                t.trial + 1,
                t.assignment
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join(" "),
                t.test_accuracy
                    .map_or_else(|| t.status.to_string(), |a| format!("test acc {a:.4}"))
            );
        }
    })?;
    let curve = ws.learning_curve(&outcome.sweep_id, "test_accuracy")?;
    if json_out {
        return super::report::print_json(
            out,
            &json!({ "sweep_id": outcome.sweep_id, "status": outcome.status, "curve": curve }),
        );
    }
    writeln!(
        out,
        "learning curve {} ({}): test accuracy by training rows",
        outcome.sweep_id, outcome.status
    )?;
    writeln!(out, "fraction  rows     runs  mean     min      max")?;
    for p in &curve {
        writeln!(
            out,
            "{:<8}  {:<7.0}  {:<4}  {:.4}   {:.4}   {:.4}",
            p.fraction,
            p.train_rows,
            p.runs.len(),
            p.mean,
            p.min,
            p.max
        )?;
    }
    if let [.., a, b] = curve.as_slice() {
        let gain = (b.mean - a.mean) * 100.0;
        writeln!(
            out,
            "the last step ({:.0} → {:.0} rows) changed mean test accuracy by {gain:+.2} points",
            a.train_rows, b.train_rows
        )?;
    }
    Ok(())
}

fn print_summary(
    summary: &kiln_core::training::RunSummary,
    json_out: bool,
    out: &mut dyn Write,
) -> Result<()> {
    if json_out {
        let mut doc =
            json!({ "run_id": summary.run_id, "status": summary.status, "device": summary.device });
        for (k, v) in &summary.metrics {
            doc[k] = json!(v);
        }
        return super::report::print_json(out, &doc);
    }
    writeln!(
        out,
        "run {} {} on {}",
        summary.run_id, summary.status, summary.device
    )?;
    for (k, v) in &summary.metrics {
        writeln!(out, "  {k:<24} {v:.5}")?;
    }
    Ok(())
}

pub fn run_predict(
    ws: &Workspace,
    args: &PredictArgs,
    json_out: bool,
    out: &mut dyn Write,
) -> Result<()> {
    let model = ws.load_model(args.run)?;
    let mut df = kiln_core::data::read_file(
        &args.input,
        &kiln_core::ImportOptions {
            has_header: !args.no_header,
            ..kiln_core::ImportOptions::default()
        },
        &kiln_core::Cancel::new(),
        &kiln_core::Progress::new(),
    )?;
    let predictions = model.predict(&df)?;
    df.with_column(kiln_core::data::polars::prelude::Column::new(
        "prediction".into(),
        predictions,
    ))?;
    kiln_core::data::export_file(&df, &args.out, kiln_core::Format::Auto)?;
    if json_out {
        super::report::print_json(
            out,
            &json!({ "run_id": model.run_id, "rows": df.height(), "out": args.out.display().to_string() }),
        )
    } else {
        writeln!(
            out,
            "wrote {} predictions to {}",
            df.height(),
            args.out.display()
        )?;
        Ok(())
    }
}

/// `kiln runs resume RUN`.
pub fn run_resume(
    ws: &mut Workspace,
    run: i64,
    device: DeviceChoice,
    json_out: bool,
    out: &mut dyn Write,
) -> Result<()> {
    let summary = ws.resume(run, device, interrupt_flag(), &mut epoch_printer(json_out))?;
    print_summary(&summary, json_out, out)
}

fn key_value(text: &str) -> Result<(&str, &str)> {
    let (k, v) = text
        .split_once('=')
        .with_context(|| format!("`{text}` is not KEY=VALUE"))?;
    Ok((k.trim(), v.trim()))
}

/// `kiln sweep`.
pub fn run_sweep(
    ws: &mut Workspace,
    args: &SweepArgs,
    json_out: bool,
    out: &mut dyn Write,
) -> Result<()> {
    use kiln_core::sweeps::{ParamRange, Search, SweepSpec};
    if !args.train.fractions.is_empty() {
        bail!(
            "--fractions makes a learning curve with `kiln train`; in a sweep use --grid fraction=0.1,0.5,1"
        );
    }
    let mut values = std::collections::BTreeMap::new();
    for g in &args.grid {
        let (k, v) = key_value(g)?;
        values.insert(k.to_owned(), kiln_core::sweeps::split_values(v));
    }
    let mut ranges = std::collections::BTreeMap::new();
    for r in &args.ranges {
        let (k, v) = key_value(r)?;
        let range = ParamRange::parse(v)
            .with_context(|| format!("`{v}` is not LOW:HIGH[:log][:int] (for `{k}`)"))?;
        ranges.insert(k.to_owned(), range);
    }
    if values.is_empty() && ranges.is_empty() {
        bail!(
            "nothing to sweep: give --grid KEY=V1,V2 and/or --range KEY=LOW:HIGH with --random N"
        );
    }
    let spec = SweepSpec {
        base: request(&args.train)?,
        values,
        ranges,
        search: match args.random {
            Some(trials) => Search::Random {
                trials,
                seed: args.search_seed,
            },
            None => Search::Grid,
        },
        parallel: args.parallel,
    };
    let quiet = json_out;
    let outcome = ws.sweep(&spec, interrupt_flag(), &|t, total| {
        if !quiet {
            let assignment: Vec<String> = t
                .assignment
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            eprintln!(
                "trial {}/{total}  {}  {}  {}",
                t.trial + 1,
                assignment.join(" "),
                t.status,
                t.test_accuracy.map_or_else(
                    || t.error.clone().unwrap_or_default(),
                    |a| format!("test acc {a:.4}")
                )
            );
        }
    })?;
    if json_out {
        return super::report::print_json(out, &serde_json::to_value(&outcome)?);
    }
    writeln!(
        out,
        "{} {}: {} trials, best run {}",
        outcome.sweep_id,
        outcome.status,
        outcome.trials.len(),
        outcome
            .best_run
            .map_or_else(|| "-".into(), |r| r.to_string())
    )?;
    Ok(())
}
