//! `kiln train`, `kiln runs` and `kiln predict`.

use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
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
}

fn parse_device(s: &str) -> Result<DeviceChoice, String> {
    DeviceChoice::parse(s).ok_or_else(|| format!("unknown device `{s}` (auto, cpu, wgpu)"))
}

#[derive(Debug, Subcommand)]
pub enum RunsCommand {
    /// Every run, newest first.
    List {
        /// Only the runs of this sweep.
        #[arg(long)]
        sweep: Option<String>,
    },
    /// One run with its parameters, metrics, evaluation and metric history.
    Show { run: i64 },
    /// Continue a stopped, failed or interrupted run from its last checkpoint.
    Resume {
        run: i64,
        /// auto, cpu or wgpu.
        #[arg(long, default_value = "auto", value_parser = parse_device)]
        device: DeviceChoice,
    },
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
fn interrupt_flag() -> &'static AtomicBool {
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
    let summary = ws.train(&req, interrupt_flag(), &mut epoch_printer(json_out))?;
    print_summary(&summary, json_out, out)
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

pub fn run_runs(
    ws: &Workspace,
    cmd: &RunsCommand,
    json_out: bool,
    out: &mut dyn Write,
) -> Result<()> {
    match cmd {
        RunsCommand::Resume { .. } => bail!("internal: resume needs a writable workspace"),
        RunsCommand::List { sweep } => {
            let runs = match sweep {
                Some(id) => {
                    let mut r = ws.sweep_runs(id)?;
                    if r.is_empty() && !ws.sweeps()?.iter().any(|s| &s.id == id) {
                        bail!("no sweep `{id}`");
                    }
                    r.reverse();
                    r
                }
                None => ws.runs()?,
            };
            if json_out {
                return super::report::print_json(out, &serde_json::to_value(&runs)?);
            }
            for r in runs {
                writeln!(
                    out,
                    "run {:<5} {:<11} {:<6} target {:<16} test acc {:<8} {}{}",
                    r.id,
                    r.status,
                    r.model,
                    r.target,
                    r.metrics["test_accuracy"]
                        .as_f64()
                        .map_or_else(|| "-".into(), |v| format!("{v:.4}")),
                    r.started_at,
                    r.sweep_id
                        .as_ref()
                        .map(|s| format!("  {s}"))
                        .unwrap_or_default()
                )?;
            }
            Ok(())
        }
        RunsCommand::Show { run } => {
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
