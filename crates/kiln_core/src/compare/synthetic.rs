//! Generated run histories of any size, for tests and benchmarks of the comparison views (not part of
//! the command line). Runs vary the model, learning rate, width, dropout and batch size; their metrics
//! follow from those with seeded noise, and each has a step-loss curve with occasional spikes.

use std::io::Write;

use kiln_store::{EndedRun, MetricPoint, NewRun, RunStatus};
use rand::{Rng, SeedableRng};

use crate::{Cancel, CoreError, ImportOptions, Progress, Result, Workspace};

/// What to generate.
#[derive(Clone, Debug)]
pub struct SyntheticRuns {
    pub runs: usize,
    /// Points of the `train_step_loss` curve of each run (0: none).
    pub points_per_run: usize,
    pub seed: u64,
}

/// A tiny dataset the generated runs point to (runs must name a dataset version).
fn seed_dataset(ws: &mut Workspace) -> Result<i64> {
    let tmp = ws.objects.temp("csv");
    let path = tmp.path().to_path_buf();
    let mut f = std::fs::File::create(&path).map_err(|e| CoreError::io(&path, e))?;
    writeln!(f, "x,label\n1,a\n2,b\n3,a\n4,b").map_err(|e| CoreError::io(&path, e))?;
    drop(f);
    let out = ws.import(
        &path,
        "synthetic-runs",
        &ImportOptions {
            format: crate::Format::Csv,
            ..ImportOptions::default()
        },
        &Cancel::new(),
        &Progress::new(),
    )?;
    Ok(out.version.id)
}

/// Record `spec.runs` generated runs (ended, with metrics, cost and a loss curve); returns their ids.
pub fn generate(ws: &mut Workspace, spec: &SyntheticRuns) -> Result<Vec<i64>> {
    let version = seed_dataset(ws)?;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(spec.seed);
    let mut ids = Vec::with_capacity(spec.runs);
    let widths = [32, 64, 128, 256, 512];
    for i in 0..spec.runs {
        let cnn = rng.random::<f64>() < 0.3;
        let lr = 10f64.powf(rng.random_range(-4.0..-1.5));
        let width = widths[rng.random_range(0..widths.len())];
        let dropout = [0.0, 0.1, 0.3][rng.random_range(0..3)];
        let batch = [16, 32, 64, 128][rng.random_range(0..4)];
        let epochs = rng.random_range(10..60);
        // Accuracy peaks near lr 1e-3, grows with width, and the CNN does a little better.
        let quality = 0.97 - 0.02 * (lr.log10() + 3.0).powi(2) + 0.004 * f64::from(width).log2()
            - 0.03
            + if cnn { 0.01 } else { 0.0 };
        let acc = (quality + rng.random_range(-0.01..0.01)).clamp(0.3, 0.999);
        let params = serde_json::json!({
            "model": if cnn { "cnn" } else { "mlp" },
            "hidden": [width], "dropout": dropout, "learning_rate": lr, "batch_size": batch,
            "epochs": epochs, "optimizer": "adam", "seed": i, "fraction": 1.0,
        });
        let param_count = if cnn {
            20_000 + width * 300
        } else {
            width * 70 + 650
        };
        let duration = f64::from(epochs)
            * (if cnn { 0.4 } else { 0.05 })
            * (f64::from(width) / 64.0).sqrt()
            * rng.random_range(0.8..1.2);
        let train_rows = 1293.0;
        let metrics = serde_json::json!({
            "test_accuracy": acc, "test_loss": (1.0 - acc) * 2.0 + rng.random_range(0.0..0.05),
            "best_val_accuracy": (acc + rng.random_range(-0.01..0.01)).min(1.0),
            "epochs": epochs, "train_rows": train_rows,
            "samples_per_s": train_rows * f64::from(epochs) / duration,
            "param_count": param_count, "weights_bytes": param_count * 4 + 1200,
            "latency_ms_per_row": if cnn { 0.05 } else { 0.004 } * rng.random_range(0.8..1.2),
        });
        let failed = rng.random::<f64>() < 0.03;
        let started = format!(
            "2026-{:02}-{:02}T{:02}:{:02}:00.000Z",
            1 + (i / 2000) % 12,
            1 + (i / 80) % 28,
            (i / 4) % 24,
            i % 60
        );
        let id = ws.store.insert_ended_run(
            &NewRun {
                dataset_version_id: version,
                model: if cnn { "cnn" } else { "mlp" },
                target: "label",
                features: serde_json::json!([]),
                params,
                split: serde_json::json!({"source": "generated"}),
                device: "cpu",
                seed: i as i64,
                kiln_version: crate::VERSION,
                git_commit: None,
                sweep_id: None,
            },
            &EndedRun {
                status: if failed {
                    RunStatus::Failed
                } else {
                    RunStatus::Finished
                },
                started_at: &started,
                duration_s: duration,
                metrics: &if failed {
                    serde_json::json!({})
                } else {
                    metrics
                },
                evaluation: &serde_json::json!({}),
                artifacts: &serde_json::json!({}),
            },
        )?;
        if spec.points_per_run > 0 {
            let n = spec.points_per_run;
            let per_epoch = n.div_ceil(epochs as usize).max(1);
            let mut batch = Vec::with_capacity(n.min(100_000));
            for s in 0..n {
                let t = s as f64 / n as f64;
                let spike = if rng.random::<f64>() < 2e-4 { 3.0 } else { 0.0 };
                batch.push(MetricPoint {
                    name: "train_step_loss".into(),
                    step: s as i64 + 1,
                    epoch: Some((s / per_epoch) as i64 + 1),
                    value: (1.0 - acc)
                        + 2.0 * (-6.0 * t).exp()
                        + rng.random_range(0.0..0.1)
                        + spike,
                    wall_s: Some(duration * t),
                });
                if batch.len() == 100_000 {
                    ws.store.log_metrics(id, &batch)?;
                    batch.clear();
                }
            }
            ws.store.log_metrics(id, &batch)?;
            ws.store.summarize_run(id)?;
        }
        ids.push(id);
    }
    Ok(ids)
}
