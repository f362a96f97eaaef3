//! Training from the command line on the CPU backend: accuracy on the real datasets, reproducibility, the
//! recorded run, batch predictions.

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

#[test]
fn digits_mlp_is_accurate_and_the_run_is_recorded() {
    let d = tempfile::tempdir().unwrap();
    let ws = d.path().join("ws");
    import_digits(&ws);
    // scikit-learn's MLPClassifier(128) on the same three splits (72% train): 0.9665, 0.9804, 0.9665.
    let mut accuracies = Vec::new();
    for seed in ["1", "2", "0"] {
        let run = kiln(
            &ws,
            &[
                "train",
                "--dataset",
                "digits",
                "--target",
                "column_65",
                "--model",
                "mlp",
                "--device",
                "cpu",
                "--seed",
                seed,
                "--json",
            ],
        )
        .json();
        accuracies.push(run["test_accuracy"].as_f64().unwrap());
    }
    let mean = accuracies.iter().sum::<f64>() / 3.0;
    assert!(mean >= 0.96, "test accuracies {accuracies:?}");
    let run = kiln(&ws, &["runs", "list", "--json"]).json()[0].clone();
    let run = serde_json::json!({
        "run_id": run["id"], "status": run["status"], "device": run["device"],
        "test_loss": run["metrics"]["test_loss"],
    });
    assert!(run["test_loss"].as_f64().unwrap() > 0.0);
    assert_eq!(run["status"], "finished");
    assert!(run["device"].as_str().unwrap().starts_with("CPU"));
    let id = run["run_id"].as_i64().unwrap().to_string();
    let show = kiln(&ws, &["runs", "show", &id, "--json"]).json();
    assert_eq!(show["status"], "finished");
    assert_eq!(show["target"], "column_65");
    assert_eq!(show["params"]["hidden"], serde_json::json!([256]));
    assert_eq!(show["split"]["source"], "generated");
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
    for name in ["train_loss", "val_loss", "train_accuracy", "val_accuracy"] {
        assert_eq!(
            history.iter().filter(|p| p["name"] == name).count(),
            epochs,
            "{name}"
        );
    }
    assert!(history.iter().any(|p| p["name"] == "train_step_loss"));
    let weights = show["artifacts"]["weights"].as_str().unwrap();
    assert!(ws.join(weights).exists());
    let list = kiln(&ws, &["runs", "list", "--json"]).json();
    assert_eq!(list.as_array().unwrap().len(), 3);
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
    let args = [
        "train",
        "--dataset",
        "penguins",
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
    assert!(a["test_accuracy"].as_f64().unwrap() >= 0.95, "{a}");
    // Batch predictions with the run's model.
    let out = d.path().join("pred.csv");
    let id = a["run_id"].as_i64().unwrap().to_string();
    let r = kiln(
        &ws,
        &[
            "predict",
            "--run",
            &id,
            "--input",
            p.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--json",
        ],
    )
    .json();
    assert_eq!(r["rows"], 344);
    let text = std::fs::read_to_string(&out).unwrap();
    let header = text.lines().next().unwrap();
    assert!(header.ends_with(",prediction"), "{header}");
    let correct = text
        .lines()
        .skip(1)
        .filter(|l| {
            let species = l.split(',').next().unwrap();
            l.ends_with(&format!(",{species}"))
        })
        .count();
    assert!(correct as f64 / 344.0 > 0.95, "{correct} of 344");
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
