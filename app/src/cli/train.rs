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
    /// Model template.
    #[arg(long, default_value = "mlp", value_parser = ["mlp"])]
    pub model: String,
    /// Feature columns, comma-separated (default: all but the target and `split`).
    #[arg(long, value_delimiter = ',')]
    pub features: Vec<String>,
    /// `KEY=VALUE` hyperparameter: `hidden=128,64`, `dropout`, `lr`, `optimizer=adam|sgd`,
    /// `weight_decay`, `batch_size`, `epochs`, `patience`. Repeat.
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
    List,
    /// One run with its parameters, metrics, evaluation and metric history.
    Show { run: i64 },
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
}

pub fn request(args: &TrainArgs) -> Result<TrainRequest> {
    let mut params = TrainParams {
        seed: args.seed,
        ..TrainParams::default()
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

pub fn run_train(
    ws: &mut Workspace,
    args: &TrainArgs,
    json_out: bool,
    out: &mut dyn Write,
) -> Result<()> {
    let req = request(args)?;
    let cancel = AtomicBool::new(false);
    let mut last = 0usize;
    let summary = ws.train(&req, &cancel, &mut |e| {
        if let kiln_train::Event::Epoch { epoch, train_loss, val_loss, val_accuracy, .. } = e
            && !json_out
            && *epoch > last
        {
            last = *epoch;
            eprintln!("epoch {epoch:>3}  train loss {train_loss:.4}  val loss {val_loss:.4}  val acc {val_accuracy:.4}");
        }
    })?;
    if json_out {
        let mut doc =
            json!({ "run_id": summary.run_id, "status": summary.status, "device": summary.device });
        for (k, v) in &summary.metrics {
            doc[k] = json!(v);
        }
        return super::print_json(out, &doc);
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
        RunsCommand::List => {
            let runs = ws.store().list_runs()?;
            if json_out {
                return super::print_json(out, &serde_json::to_value(&runs)?);
            }
            for r in runs {
                writeln!(
                    out,
                    "run {:<5} {:<11} {:<6} target {:<16} test acc {:<8} {}",
                    r.id,
                    r.status,
                    r.model,
                    r.target,
                    r.metrics["test_accuracy"]
                        .as_f64()
                        .map_or_else(|| "-".into(), |v| format!("{v:.4}")),
                    r.started_at
                )?;
            }
            Ok(())
        }
        RunsCommand::Show { run } => {
            let r = ws.store().run(*run)?;
            let history = ws.store().metric_history(*run)?;
            if json_out {
                let mut doc = serde_json::to_value(&r)?;
                doc["history"] = serde_json::to_value(&history)?;
                return super::print_json(out, &doc);
            }
            writeln!(
                out,
                "run {} · {} · {} · device {}",
                r.id, r.status, r.model, r.device
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
    let r = ws.store().run(args.run)?;
    if r.artifacts["weights"].is_null() {
        bail!("run {} has no trained model (status {})", r.id, r.status);
    }
    let spec: kiln_train::FeatureSpec =
        serde_json::from_value(r.artifacts["feature_spec"].clone())?;
    let c = &r.artifacts["model_config"];
    let config = kiln_train::MlpConfig::new(
        c["input"].as_u64().unwrap_or_default() as usize,
        serde_json::from_value(c["hidden"].clone())?,
        c["output"].as_u64().unwrap_or_default() as usize,
    );
    let device = kiln_train::pick_device(DeviceChoice::Cpu)?;
    let weights = ws
        .objects()
        .absolute(r.artifacts["weights"].as_str().unwrap_or_default());
    let model = kiln_train::inference::load(&config, &weights, &device.device)?;
    let mut df = kiln_core::data::read_file(
        &args.input,
        &kiln_core::ImportOptions::default(),
        &kiln_core::Cancel::new(),
        &kiln_core::Progress::new(),
    )?;
    let predictions = kiln_train::inference::predict(&model, &spec, &df, &device.device)?;
    df.with_column(kiln_core::data::polars::prelude::Column::new(
        "prediction".into(),
        predictions,
    ))?;
    kiln_core::data::export_file(&df, &args.out, kiln_core::Format::Auto)?;
    if json_out {
        super::print_json(
            out,
            &json!({ "run_id": r.id, "rows": df.height(), "out": args.out.display().to_string() }),
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
