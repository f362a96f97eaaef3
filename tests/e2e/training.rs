//! Training from the command line on the CPU backend: accuracy on the real datasets, reproducibility, the
//! recorded run, batch predictions.

use polars::prelude::SerReader;

use crate::support::{asset, fixture, kiln};

fn import_digits(ws: &std::path::Path) {
    let p = asset("digits.csv");
    let r = kiln(
        ws,
        &[
            "import",
            p.to_str().unwrap(),
            "--name",
            "digits",
            "--no-header",
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
}

/// A stratified 80/20 split of digits drawn with `seed` (a new version); returns its reference.
fn split_80_20(ws: &std::path::Path, seed: &str) -> String {
    let v = kiln(
        ws,
        &[
            "datasets",
            "split",
            "digits@1",
            "--ratios",
            "0.8,0,0.2",
            "--stratify",
            "column_65",
            "--seed",
            seed,
            "--json",
        ],
    )
    .json();
    format!("digits@{}", v["version"])
}

/// The test rows of a split version (`NAME@V` with a `split` column) exported as CSV with a header:
/// rows its runs never trained on, to check predictions with.
fn held_out(ws: &std::path::Path, version: &str, out: &std::path::Path) -> usize {
    let filtered = kiln(
        ws,
        &[
            "datasets",
            "filter",
            version,
            "--where",
            "split = 'test'",
            "--json",
        ],
    )
    .json();
    let reference = format!(
        "{}@{}",
        filtered["dataset"].as_str().unwrap(),
        filtered["version"]
    );
    let r = kiln(
        ws,
        &[
            "datasets",
            "export",
            &reference,
            "--out",
            out.to_str().unwrap(),
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    filtered["rows"].as_u64().unwrap() as usize
}

/// `kiln predict --run ID --input INPUT --out OUT --json`.
fn predict(
    ws: &std::path::Path,
    id: &str,
    input: &std::path::Path,
    out: &std::path::Path,
) -> crate::support::Run {
    kiln(
        ws,
        &[
            "predict",
            "--run",
            id,
            "--input",
            input.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--json",
        ],
    )
}

/// Run `kiln predict` with run `id` on a CSV with a header; returns (right, rows) against `target`.
fn predict_held_out(
    ws: &std::path::Path,
    id: &str,
    input: &std::path::Path,
    target: &str,
) -> (usize, usize) {
    let out = input.with_extension("pred.parquet");
    let r = predict(ws, id, input, &out).json();
    let pred = polars::prelude::ParquetReader::new(std::fs::File::open(&out).unwrap())
        .finish()
        .unwrap();
    assert_eq!(r["rows"].as_u64().unwrap() as usize, pred.height());
    let truth = pred
        .column(target)
        .unwrap()
        .cast(&polars::prelude::DataType::String)
        .unwrap();
    let guess = pred.column("prediction").unwrap();
    let right = truth
        .str()
        .unwrap()
        .iter()
        .zip(guess.str().unwrap().iter())
        .filter(|(a, b)| a == b)
        .count();
    (right, pred.height())
}

fn train_json(ws: &std::path::Path, args: &[&str]) -> serde_json::Value {
    let mut all = vec!["train", "--device", "cpu", "--json"];
    all.extend(args);
    kiln(ws, &all).json()
}

#[test]
fn digits_mlp_is_accurate_and_the_run_is_recorded() {
    let d = tempfile::tempdir().unwrap();
    let ws = d.path().join("ws");
    import_digits(&ws);
    // Three stratified 80/20 splits, the default MLP (128 hidden, as scikit-learn's MLPClassifier(128)).
    // scikit-learn on these same splits: see BENCHMARKS.md. Measured here: 0.9749 / 0.9749 / 0.9721;
    // the bounds leave room for another CPU's float rounding.
    let mut accs = Vec::new();
    for seed in ["0", "1", "2"] {
        let version = split_80_20(&ws, seed);
        let run = train_json(&ws, &["--dataset", &version, "--target", "column_65"]);
        let acc = run["test_accuracy"].as_f64().unwrap();
        assert!(acc >= 0.965, "split seed {seed}: test accuracy {acc}");
        accs.push(acc);
    }
    let mean = accs.iter().sum::<f64>() / accs.len() as f64;
    assert!(mean >= 0.97, "mean test accuracy {mean} ({accs:?})");
    let run = kiln(&ws, &["runs", "list", "--json"]).json()[0].clone();
    assert_eq!(run["status"], "finished");
    assert!(run["device"].as_str().unwrap().starts_with("CPU"));
    let id = run["id"].as_i64().unwrap().to_string();
    let show = kiln(&ws, &["runs", "show", &id, "--json"]).json();
    assert_eq!(show["status"], "finished");
    assert_eq!(show["model"], "mlp");
    assert_eq!(show["target"], "column_65");
    assert_eq!(show["params"]["hidden"], serde_json::json!([128]));
    assert_eq!(show["split"]["source"], "version");
    assert_eq!(show["dataset"]["name"], "digits");
    assert_eq!(show["dataset"]["content_hash"].as_str().unwrap().len(), 64);
    assert!(show["metrics"]["best_val_loss"].as_f64().unwrap() >= 0.0);
    assert!(show["metrics"]["best_val_accuracy"].as_f64().unwrap() > 0.9);
    assert_eq!(show["kiln_version"], env!("CARGO_PKG_VERSION"));
    assert!(show["duration_s"].as_f64().unwrap() > 0.0);
    let confusion = show["evaluation"]["confusion"].as_array().unwrap();
    assert_eq!(confusion.len(), 10);
    let test_rows: u64 = confusion
        .iter()
        .flat_map(|r| r.as_array().unwrap())
        .map(|v| v.as_u64().unwrap())
        .sum();
    // 20% of every class, rounded per class: 359.4 in all, give or take a few.
    assert!((355..=365).contains(&test_rows), "{test_rows} test rows");
    assert_eq!(
        show["evaluation"]["per_class"].as_array().unwrap().len(),
        10
    );
    let history = show["history"].as_array().unwrap();
    let epochs = show["metrics"]["epochs"].as_f64().unwrap() as usize;
    for name in [
        "train_loss",
        "val_loss",
        "train_accuracy",
        "val_accuracy",
        "learning_rate",
    ] {
        assert_eq!(
            history.iter().filter(|p| p["name"] == name).count(),
            epochs,
            "{name}"
        );
    }
    assert!(history.iter().any(|p| p["name"] == "train_step_loss"));
    let weights = show["artifacts"]["weights"].as_str().unwrap();
    assert!(ws.join(weights).exists());
    // A finished run keeps no checkpoint (its weights are in objects/).
    assert!(!ws.join(format!("checkpoints/run-{id}")).exists());
    // The generated split when the version has none: 72/8/20 by the seed.
    let run = train_json(
        &ws,
        &[
            "--dataset",
            "digits@1",
            "--target",
            "column_65",
            "--param",
            "epochs=2",
        ],
    );
    let show = kiln(&ws, &["runs", "show", &run["run_id"].to_string(), "--json"]).json();
    assert_eq!(show["split"]["source"], "generated");
}

#[test]
fn digits_cnn_on_pixel_columns_is_accurate_and_predicts() {
    let d = tempfile::tempdir().unwrap();
    let ws = d.path().join("ws");
    import_digits(&ws);
    let version = split_80_20(&ws, "0");
    let run = train_json(
        &ws,
        &[
            "--dataset",
            &version,
            "--target",
            "column_65",
            "--model",
            "cnn",
        ],
    );
    let acc = run["test_accuracy"].as_f64().unwrap();
    assert!(acc >= 0.97, "CNN test accuracy {acc}");
    let id = run["run_id"].to_string();
    let show = kiln(&ws, &["runs", "show", &id, "--json"]).json();
    assert_eq!(show["model"], "cnn");
    assert_eq!(show["artifacts"]["model_config"]["kind"], "cnn");
    assert_eq!(show["artifacts"]["model_config"]["height"], 8);
    assert_eq!(show["artifacts"]["model_config"]["width"], 8);
    // The CNN's own defaults.
    assert_eq!(show["params"]["epochs"], 30);
    assert_eq!(show["params"]["dropout"], 0.3);
    // The learning rate of every epoch is recorded.
    let lr: Vec<f64> = show["history"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["name"] == "learning_rate")
        .map(|p| p["value"].as_f64().unwrap())
        .collect();
    assert_eq!(lr.len(), 30);
    assert!(lr.iter().all(|v| (v - 0.003).abs() < 1e-12), "{lr:?}");
    // Batch predictions with the CNN. A headerless file read as if it had a header is refused (its
    // first row of pixels would be column names that match no feature).
    let out = d.path().join("pred.parquet");
    let input = asset("digits.csv");
    let r = predict(&ws, &id, &input, &out);
    assert_ne!(r.code, 0, "a first row of pixels was taken as a header");
    // On the held-out rows the predictions score exactly the run's test accuracy.
    let test_csv = d.path().join("test.csv");
    let rows = held_out(&ws, &version, &test_csv);
    let (right, n) = predict_held_out(&ws, &id, &test_csv, "column_65");
    assert_eq!(n, rows);
    assert!(
        (right as f64 / n as f64 - acc).abs() < 1e-9,
        "{right} of {n} right; the run's test accuracy is {acc}"
    );
    // A CNN on features that are not an image is refused before a run is recorded.
    let p = fixture("penguins.csv");
    kiln(
        &ws,
        &[
            "import",
            p.to_str().unwrap(),
            "--name",
            "penguins",
            "--json",
        ],
    )
    .json();
    let before = kiln(&ws, &["runs", "list", "--json"]).json();
    let r = kiln(
        &ws,
        &[
            "train",
            "--dataset",
            "penguins",
            "--target",
            "species",
            "--model",
            "cnn",
        ],
    );
    assert_ne!(r.code, 0);
    assert!(
        r.stderr.contains("the CNN needs image features"),
        "{}",
        r.stderr
    );
    assert_eq!(kiln(&ws, &["runs", "list", "--json"]).json(), before);
}

#[test]
fn same_seed_gives_identical_metrics_on_the_cpu_and_penguins_reach_095() {
    let d = tempfile::tempdir().unwrap();
    let ws = d.path().join("ws");
    let p = fixture("penguins.csv");
    assert_eq!(
        kiln(&ws, &["import", p.to_str().unwrap(), "--name", "penguins"]).code,
        0
    );
    // A stratified 80/20 split, so the predictions can be checked on rows the model never saw.
    let split = kiln(
        &ws,
        &[
            "datasets",
            "split",
            "penguins",
            "--ratios",
            "0.8,0,0.2",
            "--stratify",
            "species",
            "--seed",
            "3",
            "--json",
        ],
    )
    .json();
    let version = format!("penguins@{}", split["version"]);
    let args = [
        "train",
        "--dataset",
        &version,
        "--target",
        "species",
        "--device",
        "cpu",
        "--seed",
        "3",
        "--json",
    ];
    let a = kiln(&ws, &args).json();
    let b = kiln(&ws, &args).json();
    assert_eq!(a["test_loss"], b["test_loss"]);
    assert_eq!(a["test_accuracy"], b["test_accuracy"]);
    assert_eq!(a["final_val_loss"], b["final_val_loss"]);
    let acc = a["test_accuracy"].as_f64().unwrap();
    assert!(acc >= 0.95, "{a}");
    // Batch predictions with the run's model on the held-out rows (NA values included).
    let test_csv = d.path().join("test.csv");
    let rows = held_out(&ws, &version, &test_csv);
    let id = a["run_id"].as_i64().unwrap().to_string();
    let (right, n) = predict_held_out(&ws, &id, &test_csv, "species");
    assert_eq!(n, rows);
    assert!(
        (right as f64 / n as f64 - acc).abs() < 1e-9,
        "{right} of {n} right; the run's test accuracy is {acc}"
    );
    // CSV output keeps the input's columns and adds the prediction.
    let out = d.path().join("pred.csv");
    let r = predict(&ws, &id, &test_csv, &out);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let text = std::fs::read_to_string(&out).unwrap();
    assert!(text.lines().next().unwrap().ends_with(",prediction"));
    // Weights that no longer match the blake3 recorded with the run are refused, not loaded.
    let show = kiln(&ws, &["runs", "show", &id, "--json"]).json();
    let weights = ws.join(show["artifacts"]["weights"].as_str().unwrap());
    crate::support::damage(&weights);
    let r = predict(&ws, &id, &test_csv, &d.path().join("never.csv"));
    assert_ne!(r.code, 0);
    assert!(
        r.stderr.contains("does not match the run's record"),
        "{}",
        r.stderr
    );
    assert!(!d.path().join("never.csv").exists());
}

#[test]
fn bad_training_requests_fail_clearly() {
    let d = tempfile::tempdir().unwrap();
    let ws = d.path().join("ws");
    let p = fixture("penguins.csv");
    assert_eq!(
        kiln(&ws, &["import", p.to_str().unwrap(), "--name", "penguins"]).code,
        0
    );
    for (extra, want) in [
        (
            ["--target", "nope", "--device", "cpu"],
            "target column `nope` not found",
        ),
        (
            ["--target", "species", "--param", "lr=-1"],
            "invalid value `-1` for `lr`",
        ),
        (
            ["--target", "species", "--param", "colour=red"],
            "unknown parameter `colour`",
        ),
        (
            ["--target", "species", "--device", "tpu"],
            "unknown device `tpu`",
        ),
    ] {
        let mut args = vec!["train", "--dataset", "penguins"];
        args.extend(extra);
        let r = kiln(&ws, &args);
        assert_ne!(r.code, 0, "{extra:?} was accepted");
        assert!(r.stderr.contains(want), "{extra:?}: {}", r.stderr);
    }
    assert!(
        kiln(&ws, &["runs", "list", "--json"])
            .json()
            .as_array()
            .unwrap()
            .is_empty()
    );
}

#[test]
fn a_stopped_run_resumes_from_its_checkpoint_as_if_never_stopped() {
    use std::sync::atomic::{AtomicBool, Ordering};
    let d = tempfile::tempdir().unwrap();
    let ws_dir = crate::support::penguins_workspace(d.path());
    let mut ws = kiln_core::Workspace::open(&ws_dir).unwrap();
    let req =
        crate::support::penguins_request(&[("epochs", "8"), ("patience", "0"), ("hidden", "16")]);
    let never = AtomicBool::new(false);
    let straight = ws.train(&req, &never, &mut |_| {}).unwrap();

    // Stop after the third epoch (the flag is seen at the next batch).
    let cancel = AtomicBool::new(false);
    let stopped = ws
        .train(&req, &cancel, &mut |e| {
            if matches!(e, kiln_train::Event::Epoch { epoch: 3, .. }) {
                cancel.store(true, Ordering::Relaxed);
            }
        })
        .unwrap();
    assert_eq!(stopped.status, kiln_core::RunStatus::Stopped);
    assert!((stopped.metrics["epochs"] - 3.0).abs() < f64::EPSILON);
    let id = stopped.run_id;
    assert_eq!(ws.resumable_epoch(id), Some(3));
    let run = ws.run(id).unwrap();
    assert_eq!(run.status, kiln_core::RunStatus::Stopped);
    assert!(
        run.artifacts["weights"].is_string(),
        "the best model so far is kept"
    );

    let mut first = None;
    let resumed = ws
        .resume(id, kiln_train::DeviceChoice::Cpu, &never, &mut |e| {
            if let kiln_train::Event::Start { first_epoch, .. } = e {
                first = Some(*first_epoch);
            }
        })
        .unwrap();
    assert_eq!(first, Some(4));
    assert_eq!(resumed.run_id, id);
    assert_eq!(resumed.status, kiln_core::RunStatus::Finished);
    // Same weights, optimizer state and shuffling: the same numbers as the run never stopped.
    for k in [
        "test_loss",
        "test_accuracy",
        "final_train_loss",
        "final_val_loss",
        "epochs",
    ] {
        // Bit for bit: compare the representations.
        assert_eq!(
            resumed.metrics[k].to_bits(),
            straight.metrics[k].to_bits(),
            "{k}"
        );
    }
    let history = ws.metric_history(id).unwrap();
    assert_eq!(history.iter().filter(|p| p.name == "train_loss").count(), 8);
    assert!(
        ws.resumable_epoch(id).is_none(),
        "a finished run keeps no checkpoint"
    );
    // Only stopped, failed or interrupted runs resume.
    let e = ws
        .resume(id, kiln_train::DeviceChoice::Cpu, &never, &mut |_| {})
        .unwrap_err()
        .to_string();
    assert!(e.contains("is finished"), "{e}");
    let r = kiln(&ws_dir, &["runs", "resume", &straight.run_id.to_string()]);
    assert_ne!(r.code, 0);
    assert!(
        r.stderr
            .contains("only a stopped, failed or interrupted run"),
        "{}",
        r.stderr
    );
}

#[test]
fn sweeps_run_every_trial_as_a_tagged_run() {
    let d = tempfile::tempdir().unwrap();
    let ws = crate::support::penguins_workspace(d.path());
    let base = [
        "sweep",
        "--dataset",
        "penguins",
        "--target",
        "species",
        "--device",
        "cpu",
        "--param",
        "epochs=3",
        "--json",
    ];
    let mut args = base.to_vec();
    args.extend([
        "--grid",
        "lr=0.01,0.001",
        "--grid",
        "hidden=8,16x8",
        "--parallel",
        "2",
    ]);
    let out = kiln(&ws, &args).json();
    assert_eq!(out["status"], "finished");
    let trials = out["trials"].as_array().unwrap();
    assert_eq!(trials.len(), 4);
    assert!(trials.iter().all(|t| t["status"] == "finished"));
    let sweep = out["sweep_id"].as_str().unwrap();
    let runs = kiln(&ws, &["runs", "list", "--sweep", sweep, "--json"]).json();
    let runs = runs.as_array().unwrap();
    assert_eq!(runs.len(), 4);
    let mut combos: Vec<String> = runs
        .iter()
        .map(|r| format!("{}/{}", r["params"]["learning_rate"], r["params"]["hidden"]))
        .collect();
    combos.sort();
    assert_eq!(
        combos,
        ["0.001/[16,8]", "0.001/[8]", "0.01/[16,8]", "0.01/[8]"]
    );
    assert!(runs.iter().all(|r| r["sweep_id"] == sweep));
    let best = out["best_run"].as_i64().unwrap();
    assert!(runs.iter().any(|r| r["id"] == best));

    // Random search: reproducible draws within the ranges.
    let mut args = base.to_vec();
    args.extend([
        "--random",
        "3",
        "--range",
        "lr=1e-4:1e-1:log",
        "--range",
        "dropout=0:0.3",
    ]);
    let out = kiln(&ws, &args).json();
    let trials = out["trials"].as_array().unwrap();
    assert_eq!(trials.len(), 3);
    for t in trials {
        for (k, v) in t["assignment"].as_array().unwrap().iter().map(|a| {
            (
                a[0].as_str().unwrap().to_owned(),
                a[1].as_str().unwrap().parse::<f64>().unwrap(),
            )
        }) {
            match k.as_str() {
                "lr" => assert!((1e-4..=1e-1).contains(&v)),
                "dropout" => assert!((0.0..=0.3).contains(&v)),
                _ => panic!("{k}"),
            }
        }
    }

    // A bad value is refused before any run is recorded.
    let before = kiln(&ws, &["runs", "list", "--json"]).json();
    let mut args = base.to_vec();
    args.extend(["--grid", "lr=0.01,fast"]);
    let r = kiln(&ws, &args);
    assert_ne!(r.code, 0);
    assert!(
        r.stderr.contains("invalid value `fast` for `lr`"),
        "{}",
        r.stderr
    );
    assert_eq!(kiln(&ws, &["runs", "list", "--json"]).json(), before);
}

#[test]
fn one_epoch_on_wgpu_matches_the_cpu() {
    let d = tempfile::tempdir().unwrap();
    let ws_dir = crate::support::penguins_workspace(d.path());
    let mut ws = kiln_core::Workspace::open(&ws_dir).unwrap();
    let mut req =
        crate::support::penguins_request(&[("epochs", "1"), ("patience", "0"), ("hidden", "16")]);
    req.params.set("batch_size", "64").unwrap();
    let never = std::sync::atomic::AtomicBool::new(false);
    let cpu = ws.train(&req, &never, &mut |_| {}).unwrap();
    req.device = kiln_train::DeviceChoice::Wgpu;
    let gpu = match ws.train(&req, &never, &mut |_| {}) {
        Ok(s) => s,
        Err(kiln_core::CoreError::Train(kiln_train::TrainError::NoGpu(why))) => {
            // Only a machine without any Vulkan/Metal/DX12 adapter (not even lavapipe) gets here. CI
            // installs lavapipe, so there this is a failure, never a silent pass.
            assert!(
                std::env::var_os("CI").is_none(),
                "no wgpu adapter under CI ({why}): install mesa-vulkan-drivers"
            );
            eprintln!("no wgpu adapter on this machine ({why}); only the CPU half ran");
            return;
        }
        Err(e) => panic!("wgpu training failed: {e}"),
    };
    assert!(!gpu.device.starts_with("CPU (flex)"), "{}", gpu.device);
    for k in ["final_train_loss", "final_val_loss", "test_loss"] {
        let (a, b) = (cpu.metrics[k], gpu.metrics[k]);
        assert!(
            (a - b).abs() <= 1e-3 * a.abs().max(1.0),
            "{k}: cpu {a}, wgpu {b} on {}",
            gpu.device
        );
    }
}

#[test]
fn cnn_trains_on_an_image_folder() {
    // An ImageFolder-style tree of grey 8×8 PNGs drawn from digits 0, 1 and 2.
    let d = tempfile::tempdir().unwrap();
    let root = d.path().join("images");
    let text = std::fs::read_to_string(asset("digits.csv")).unwrap();
    let mut n = 0;
    for (i, line) in text.lines().enumerate() {
        let v: Vec<u8> = line.split(',').map(|x| x.trim().parse().unwrap()).collect();
        let class = v[64];
        if class > 2 {
            continue;
        }
        let pixels: Vec<u8> = v[..64].iter().map(|p| p * 15).collect();
        let img = image::GrayImage::from_raw(8, 8, pixels).unwrap();
        let dir = root.join(format!("digit_{class}"));
        std::fs::create_dir_all(&dir).unwrap();
        img.save(dir.join(format!("{i:04}.png"))).unwrap();
        n += 1;
    }
    let ws = d.path().join("ws");
    let r = kiln(
        &ws,
        &[
            "import",
            root.to_str().unwrap(),
            "--images",
            "--name",
            "threes",
            "--json",
        ],
    )
    .json();
    assert_eq!(r["rows"], n);
    let run = train_json(
        &ws,
        &[
            "--dataset",
            "threes",
            "--target",
            "label",
            "--model",
            "cnn",
            "--param",
            "epochs=10",
            "--param",
            "lr=0.003",
        ],
    );
    let acc = run["test_accuracy"].as_f64().unwrap();
    assert!(acc >= 0.95, "test accuracy {acc}");
    let show = kiln(&ws, &["runs", "show", &run["run_id"].to_string(), "--json"]).json();
    // The images alone are the features (not their file names), decoded as one grey channel.
    let features = show["features"].as_array().unwrap();
    assert_eq!(features.len(), 1);
    assert_eq!(features[0]["kind"], "image");
    assert_eq!(features[0]["channels"], 1);
    assert_eq!(show["artifacts"]["model_config"]["height"], 8);
}

#[test]
fn concurrent_runs_with_dropout_are_reproducible() {
    let d = tempfile::tempdir().unwrap();
    let ws_dir = crate::support::penguins_workspace(d.path());
    let req = crate::support::penguins_request(&[
        ("epochs", "6"),
        ("patience", "0"),
        ("dropout", "0.3"),
        ("seed", "5"),
    ]);
    let never = std::sync::atomic::AtomicBool::new(false);
    // Three runs of one request at the same time, each on its own thread and connection.
    let results: Vec<kiln_core::training::RunSummary> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..3)
            .map(|_| {
                s.spawn(|| {
                    let mut ws = kiln_core::Workspace::open(&ws_dir).unwrap();
                    ws.train(&req, &never, &mut |_| {}).unwrap()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for r in &results[1..] {
        for k in ["test_loss", "final_train_loss", "final_val_loss"] {
            assert_eq!(
                r.metrics[k].to_bits(),
                results[0].metrics[k].to_bits(),
                "{k}"
            );
        }
    }
    // Dropout changes the run (the masks are really applied).
    let mut plain = req.clone();
    plain.params.set("dropout", "0").unwrap();
    let mut ws = kiln_core::Workspace::open(&ws_dir).unwrap();
    let p = ws.train(&plain, &never, &mut |_| {}).unwrap();
    assert_ne!(
        p.metrics["final_train_loss"].to_bits(),
        results[0].metrics["final_train_loss"].to_bits()
    );
}
