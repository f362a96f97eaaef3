//! Model-assisted labeling from the command line: suspect labels (a clean toy set has none; flipped
//! iris labels are found; a kept label is not suspected again), what to label next, and a run's
//! predictions exported as Label Studio `predictions` that never come back as labels.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use crate::support::{iris, kiln};

#[test]
fn a_clean_toy_dataset_has_no_suspect_labels() {
    let d = tempfile::tempdir().unwrap();
    let ws = d.path().join("ws");
    // Two clusters far apart: every label is what the data says.
    let mut csv = String::from("x,y,label\n");
    for i in 0..30 {
        let t = f64::from(i) / 30.0;
        let _ = writeln!(csv, "{t},{},low", 1.0 - t);
        let _ = writeln!(csv, "{},{},high", 10.0 + t, 11.0 - t);
    }
    let file = d.path().join("toy.csv");
    std::fs::write(&file, csv).unwrap();
    kiln(
        &ws,
        &["import", file.to_str().unwrap(), "--name", "toy", "--json"],
    )
    .json();
    let r = kiln(
        &ws,
        &[
            "labels", "suspects", "toy", "--column", "label", "--folds", "3", "--json",
        ],
    )
    .json();
    assert_eq!(r["suspects"], serde_json::json!([]), "{r}");
    assert_eq!(r["labelled_rows"], 60);
    assert_eq!(r["agreement"], 1.0);
    assert!(r["estimated_errors"].as_f64().unwrap().abs() < 1e-9);
    // Too few rows of a class for the folds is an error naming the class.
    let e = kiln(
        &ws,
        &[
            "labels", "suspects", "toy", "--column", "label", "--folds", "40",
        ],
    );
    assert_ne!(e.code, 0);
    assert!(
        e.stderr.contains("at least 40 labelled rows"),
        "{}",
        e.stderr
    );
    let e = kiln(&ws, &["labels", "suspects", "toy", "--column", "nope"]);
    assert!(e.stderr.contains("no column `nope`"), "{}", e.stderr);
}

#[test]
fn flipped_labels_are_suspected_and_a_kept_one_is_not_suggested_again() {
    let d = tempfile::tempdir().unwrap();
    let ws = d.path().join("ws");
    iris(&ws);
    // Flip eight labels (two per class block boundary would be unfair: pick clear-cut rows).
    let flips: [(u64, &str); 8] = [
        (3, "2"),
        (17, "1"),
        (30, "2"),
        (44, "1"),
        (60, "0"),
        (88, "0"),
        (110, "0"),
        (140, "0"),
    ];
    let sets: Vec<String> = flips.iter().map(|(r, v)| format!("{r}={v}")).collect();
    let mut args = vec![
        "label", "iris", "--column", "column_5", "-m", "flips", "--json",
    ];
    for s in &sets {
        args.extend(["--set", s.as_str()]);
    }
    kiln(&ws, &args).json();
    let run = |extra: &[&str]| {
        let mut a = vec![
            "labels", "suspects", "iris@2", "--column", "column_5", "--folds", "5", "--json",
        ];
        a.extend(extra);
        kiln(&ws, &a).json()
    };
    let r = run(&[]);
    let suspects = r["suspects"].as_array().unwrap();
    let top: BTreeSet<u64> = suspects
        .iter()
        .take(flips.len())
        .map(|s| s["row_id"].as_u64().unwrap())
        .collect();
    let flipped: BTreeSet<u64> = flips.iter().map(|(r, _)| *r).collect();
    let found = top.intersection(&flipped).count();
    assert!(found >= 7, "found {found} of 8 flips in {top:?}");
    // Every suspect names the given label (as flipped) and a suggestion that beat it.
    for s in suspects {
        assert_ne!(s["given"], s["suggested"]);
        assert!(s["suggested_probability"].as_f64() > s["given_probability"].as_f64());
    }
    let probs: Vec<f64> = suspects
        .iter()
        .map(|s| s["given_probability"].as_f64().unwrap())
        .collect();
    assert!(
        probs.windows(2).all(|w| w[0] <= w[1]),
        "ranked lowest first"
    );
    assert_eq!(r["classes"], serde_json::json!(["0", "1", "2"]));
    let first = suspects[0]["row_id"].as_u64().unwrap().to_string();
    // Keep the first suspect as it is: the next run leaves it out (and counts it).
    kiln(
        &ws,
        &[
            "labels", "keep", "iris@2", "--column", "column_5", "--rows", &first, "--json",
        ],
    )
    .json();
    let again = run(&[]);
    assert!(again["run"].as_i64() > r["run"].as_i64());
    assert_eq!(again["kept"], 1);
    assert!(
        again["suspects"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["row_id"].as_u64().unwrap().to_string() != first)
    );
    assert_eq!(
        again["suspects"].as_array().unwrap().len(),
        suspects.len() - 1
    );
    // The same seed gives the same probabilities.
    assert_eq!(again["thresholds"], r["thresholds"]);
    // The other rules on the same probabilities: confident learning lists the fewest rows, cleanlab's
    // default filter at least as many, the default queue (every doubted label) the most.
    let surest = run(&["--filter", "confident-learning"]);
    assert_eq!(surest["thresholds"], r["thresholds"]);
    let surest = surest["suspects"].as_array().unwrap().len();
    let pruned = run(&["--filter", "prune-by-noise-rate"]);
    assert_eq!(pruned["thresholds"], r["thresholds"]);
    let rows: BTreeSet<u64> = pruned["suspects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["row_id"].as_u64().unwrap())
        .collect();
    assert!(rows.len() + 1 >= surest, "{} vs {surest}", rows.len());
    assert!(
        again["suspects"].as_array().unwrap().len() >= rows.len().max(surest),
        "the default queue is the longest"
    );
    // The kept row is left out of this run too.
    let kept = u64::from(flipped.contains(&first.parse::<u64>().unwrap()));
    assert!(
        rows.intersection(&flipped).count() as u64 + kept >= 7,
        "{rows:?}"
    );
    // Fixes made from the command line name the run they came from; a run of another column is refused.
    let run_id = r["run"].as_i64().unwrap().to_string();
    let fixed = kiln(
        &ws,
        &[
            "label",
            "iris@2",
            "--column",
            "column_5",
            "--set",
            "3=0",
            "--fixes-from",
            &run_id,
            "--json",
        ],
    )
    .json();
    let versions = kiln(&ws, &["datasets", "versions", "iris", "--json"]).json();
    let made = versions
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["version"] == fixed["version"])
        .unwrap();
    assert_eq!(
        made["message"],
        format!("Fix labels from suspects run {run_id}")
    );
    let wrong = kiln(
        &ws,
        &[
            "label",
            "iris@2",
            "--column",
            "column_1",
            "--set",
            "3=1",
            "--fixes-from",
            &run_id,
        ],
    );
    assert_ne!(wrong.code, 0);
    assert!(
        wrong.stderr.contains("is of another version or column"),
        "{}",
        wrong.stderr
    );
    let bad = kiln(
        &ws,
        &[
            "labels", "suspects", "iris@2", "--column", "column_5", "--filter", "nope",
        ],
    );
    assert!(
        bad.stderr.contains("unknown filter `nope`"),
        "{}",
        bad.stderr
    );
}

#[test]
fn next_items_by_uncertainty_and_predictions_exported_never_become_labels() {
    let d = tempfile::tempdir().unwrap();
    let ws = d.path().join("ws");
    iris(&ws);
    // Clear six labels: the unlabeled rows to order.
    let cleared = [5u64, 52, 70, 77, 106, 133];
    let sets: Vec<String> = cleared.iter().map(|r| format!("{r}=")).collect();
    let mut args = vec!["label", "iris", "--column", "column_5", "--json"];
    for s in &sets {
        args.extend(["--set", s.as_str()]);
    }
    kiln(&ws, &args).json();
    let run = kiln(
        &ws,
        &[
            "train",
            "--dataset",
            "iris@2",
            "--target",
            "column_5",
            "--device",
            "cpu",
            "--param",
            "epochs=30",
            "--json",
        ],
    )
    .json();
    let run_id = run["run_id"].as_i64().unwrap().to_string();
    let next = kiln(
        &ws,
        &[
            "labels",
            "next",
            "iris@2",
            "--column",
            "column_5",
            "--run",
            &run_id,
            "--strategy",
            "margin",
            "--count",
            "4",
            "--json",
        ],
    )
    .json();
    let items = next.as_array().unwrap();
    assert_eq!(items.len(), 4);
    for i in items {
        assert!(cleared.contains(&i["row_id"].as_u64().unwrap()), "{i}");
    }
    let u: Vec<f64> = items
        .iter()
        .map(|i| i["uncertainty"].as_f64().unwrap())
        .collect();
    assert!(
        u.windows(2).all(|w| w[0] >= w[1]),
        "most uncertain first: {u:?}"
    );
    let bad = kiln(
        &ws,
        &[
            "labels",
            "next",
            "iris@2",
            "--column",
            "column_5",
            "--run",
            &run_id,
            "--strategy",
            "x",
        ],
    );
    assert!(
        bad.stderr.contains("unknown strategy `x`"),
        "{}",
        bad.stderr
    );
    // Pre-labels: suggestions for the unlabeled rows, which count as labels only once accepted.
    {
        let ws_ = kiln_core::Workspace::open(&ws).unwrap();
        let base = ws_.resolve("iris@2").unwrap();
        let mut session = ws_.label_session(base, "column_5".into()).unwrap();
        assert_eq!(session.labeled(), 150 - cleared.len());
        session.assist.suggestions = ws_.suggestions(&session, run_id.parse().unwrap()).unwrap();
        assert_eq!(session.assist.suggestions.len(), cleared.len());
        assert_eq!(
            session.labeled(),
            150 - cleared.len(),
            "suggestions are not labels"
        );
        assert_eq!(session.draft_count(), 0);
        let pos = session.position_of(cleared[0]).unwrap();
        assert!(session.suggestion_at(pos).is_some());
        let confident = session.suggestions_above(0.99).len();
        let n = session.accept_suggestions(&ws_, 0.0).unwrap();
        assert_eq!(n, cleared.len());
        assert!(confident <= n);
        assert_eq!(session.labeled(), 150);
        assert!(
            session.suggestion_at(pos).is_none(),
            "a labelled row has no suggestion"
        );
        // One undo step takes them all back.
        session.undo(&ws_).unwrap();
        assert_eq!(session.labeled(), 150 - cleared.len());
        assert!(ws_.drafts(&session.base, "column_5").unwrap().is_empty());
    }
    // Label Studio tasks with the run's predictions.
    let out = d.path().join("tasks.json");
    kiln(
        &ws,
        &[
            "labels",
            "export",
            "iris@2",
            "--column",
            "column_5",
            "--out",
            out.to_str().unwrap(),
            "--predictions",
            &run_id,
            "--json",
        ],
    )
    .json();
    let tasks: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    let tasks = tasks.as_array().unwrap();
    assert_eq!(tasks.len(), 150);
    for t in tasks {
        let p = &t["predictions"][0];
        assert_eq!(p["model_version"], format!("run-{run_id}"));
        let score = p["score"].as_f64().unwrap();
        assert!(score > 0.3 && score <= 1.0, "{p}");
        let choice = p["result"][0]["value"]["choices"][0].as_str().unwrap();
        assert!(["0", "1", "2"].contains(&choice));
        assert_eq!(p["result"][0]["from_name"], "column_5");
        assert_eq!(p["result"][0]["type"], "choices");
    }
    let unlabeled = tasks
        .iter()
        .filter(|t| t["annotations"].as_array().unwrap().is_empty())
        .count();
    assert_eq!(unlabeled, cleared.len());
    // Importing the tasks back changes nothing: predictions are not labels.
    let r = kiln(
        &ws,
        &[
            "labels",
            "import",
            "iris@2",
            "--from",
            out.to_str().unwrap(),
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let csv = d.path().join("labels.csv");
    kiln(
        &ws,
        &[
            "labels",
            "export",
            "iris",
            "--column",
            "column_5",
            "--out",
            csv.to_str().unwrap(),
        ],
    );
    let labelled = std::fs::read_to_string(&csv).unwrap().lines().count() - 1;
    assert_eq!(labelled, 150 - cleared.len());
    // CSV has no place for predictions.
    let e = kiln(
        &ws,
        &[
            "labels",
            "export",
            "iris@2",
            "--column",
            "column_5",
            "--out",
            csv.to_str().unwrap(),
            "--predictions",
            &run_id,
        ],
    );
    assert!(e.stderr.contains("Label Studio JSON"), "{}", e.stderr);
}

#[test]
fn the_default_queue_holds_nine_in_ten_of_seeded_flips_in_its_top_rows() {
    use rand::seq::SliceRandom;
    use rand::{Rng, SeedableRng};
    let d = tempfile::tempdir().unwrap();
    let ws = crate::support::digits_workspace(d.path());
    // 5 % of the labels flipped to another digit drawn uniformly (seeded), committed as digits@2.
    let w = kiln_core::Workspace::open(&ws).unwrap();
    let df = w.load(&w.resolve("digits@1").unwrap()).unwrap();
    let labels: Vec<i64> = df
        .column("column_65")
        .unwrap()
        .i64()
        .unwrap()
        .iter()
        .map(Option::unwrap_or_default)
        .collect();
    drop(w);
    let n = (labels.len() as f64 * 0.05).round() as usize;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
    let mut rows: Vec<u64> = (0..labels.len() as u64).collect();
    rows.shuffle(&mut rng);
    rows.truncate(n);
    let sets: Vec<String> = rows
        .iter()
        .map(|&r| {
            let to = (labels[r as usize] + rng.random_range(1..10)) % 10;
            format!("{r}={to}")
        })
        .collect();
    let mut args = vec!["label", "digits", "--column", "column_65", "-m", "flips"];
    for s in &sets {
        args.extend(["--set", s.as_str()]);
    }
    assert_eq!(kiln(&ws, &args).code, 0);
    // The default rule, no options: every doubted label, most doubtful first.
    let r = kiln(
        &ws,
        &[
            "labels",
            "suspects",
            "digits@2",
            "--column",
            "column_65",
            "--json",
        ],
    )
    .json();
    let flipped: BTreeSet<u64> = rows.iter().copied().collect();
    let top: BTreeSet<u64> = r["suspects"]
        .as_array()
        .unwrap()
        .iter()
        .take(n)
        .map(|s| s["row_id"].as_u64().unwrap())
        .collect();
    let found = top.intersection(&flipped).count();
    assert!(
        found as f64 >= 0.9 * n as f64,
        "{found} of {n} flips in the top {n} rows"
    );
    // The queue goes on past the estimate (it is a queue, not a cut).
    assert!(r["suspects"].as_array().unwrap().len() > n);
    assert!(r["estimated_errors"].as_f64().unwrap() > 0.5 * n as f64);
}
