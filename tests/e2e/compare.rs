//! The runs table at scale through the command line: generated run histories filtered, sorted, grouped,
//! compared, tagged and exported; learning curves from `kiln train --fractions`.

use kiln_core::Workspace;
use kiln_core::compare::synthetic::{SyntheticRuns, generate};

use crate::support::kiln;

fn generated(runs: usize) -> (tempfile::TempDir, std::path::PathBuf) {
    let d = tempfile::tempdir().unwrap();
    let ws_dir = d.path().join("ws");
    let mut ws = Workspace::open(&ws_dir).unwrap();
    let ids = generate(
        &mut ws,
        &SyntheticRuns {
            runs,
            points_per_run: 50,
            seed: 3,
        },
    )
    .unwrap();
    assert_eq!(ids.len(), runs);
    (d, ws_dir)
}

#[test]
fn runs_list_filters_sorts_and_groups_like_the_records_say() {
    let (_d, ws_dir) = generated(300);
    let runs = Workspace::open(&ws_dir).unwrap().runs().unwrap();
    let expected: Vec<i64> = runs
        .iter()
        .filter(|r| {
            r.model == "cnn"
                && r.metrics["test_accuracy"]
                    .as_f64()
                    .is_some_and(|a| a > 0.95)
        })
        .map(|r| r.id)
        .collect();
    assert!(
        !expected.is_empty() && expected.len() < 300,
        "{}",
        expected.len()
    );
    let out = kiln(
        &ws_dir,
        &[
            "runs",
            "list",
            "--filter",
            "test_accuracy > 0.95 and model = 'cnn'",
            "--json",
        ],
    )
    .json();
    let ids: Vec<i64> = out
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, expected, "newest first, the same runs");

    // Sorted by a metric, best first; runs without it (failed ones) last.
    let csv = kiln(
        &ws_dir,
        &[
            "runs",
            "list",
            "--sort",
            "test_accuracy",
            "--desc",
            "--columns",
            "run,test_accuracy",
            "--format",
            "csv",
        ],
    );
    assert_eq!(csv.code, 0, "{}", csv.stderr);
    let best = runs
        .iter()
        .filter_map(|r| r.metrics["test_accuracy"].as_f64().map(|a| (r.id, a)))
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .unwrap();
    let first = csv.stdout.lines().nth(1).unwrap();
    assert_eq!(first.split(',').next().unwrap(), best.0.to_string());
    assert!(
        csv.stdout.lines().last().unwrap().ends_with(','),
        "a failed run has no accuracy"
    );

    // Group by a parameter: the counts add up to the runs.
    let g = kiln(
        &ws_dir,
        &[
            "runs",
            "list",
            "--group-by",
            "model",
            "--metric",
            "test_accuracy",
            "--json",
        ],
    )
    .json();
    let counts: i64 = g
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["runs"].as_i64().unwrap())
        .sum();
    assert_eq!(counts, 300);
    let cnn = g
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["model"] == "cnn")
        .unwrap();
    assert!(
        cnn["test_accuracy max"].as_f64().unwrap() >= cnn["test_accuracy mean"].as_f64().unwrap()
    );

    // Bad expressions and columns fail with a message and a non-zero exit.
    for (args, says) in [
        (
            vec!["runs", "list", "--filter", "test_accuracy >>> 1"],
            "invalid filter",
        ),
        (vec!["runs", "list", "--filter", "nope > 1"], "nope"),
        (vec!["runs", "list", "--sort", "nope"], "nope"),
        (
            vec!["runs", "list", "--columns", "run,nope"],
            "no column `nope`",
        ),
        (vec!["runs", "list", "--format", "xml"], "unknown format"),
    ] {
        let r = kiln(&ws_dir, &args);
        assert_ne!(r.code, 0, "{args:?}");
        assert!(r.stderr.contains(says), "{args:?}: {}", r.stderr);
    }
}

#[test]
fn runs_compare_tag_and_note_round_trip() {
    let (_d, ws_dir) = generated(20);
    let r = kiln(&ws_dir, &["runs", "tag", "3", "baseline", "keep"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("baseline, keep"));
    assert_eq!(
        kiln(&ws_dir, &["runs", "tag", "3", "keep", "--remove"]).code,
        0
    );
    assert_eq!(
        kiln(&ws_dir, &["runs", "note", "4", "wider layers, same data"]).code,
        0
    );
    let tagged = kiln(
        &ws_dir,
        &[
            "runs",
            "list",
            "--filter",
            "tags LIKE '%baseline%'",
            "--json",
        ],
    )
    .json();
    assert_eq!(tagged.as_array().unwrap().len(), 1);
    assert_eq!(tagged[0]["tags"], serde_json::json!(["baseline"]));
    let shown = kiln(&ws_dir, &["runs", "show", "4", "--json"]).json();
    assert_eq!(shown["note"], "wider layers, same data");
    let bad = kiln(&ws_dir, &["runs", "tag", "3", "a,b"]);
    assert_ne!(bad.code, 0);
    assert!(bad.stderr.contains("invalid tag"), "{}", bad.stderr);
    assert_ne!(kiln(&ws_dir, &["runs", "tag", "999", "x"]).code, 0);

    let md = kiln(
        &ws_dir,
        &[
            "runs",
            "compare",
            "3",
            "4",
            "7",
            "--only-diff",
            "--format",
            "md",
        ],
    );
    assert_eq!(md.code, 0, "{}", md.stderr);
    assert!(
        md.stdout.starts_with("| | run 3 | run 4 | run 7 |"),
        "{}",
        md.stdout
    );
    assert!(md.stdout.contains("| learning_rate |"));
    assert!(
        !md.stdout.contains("| target |"),
        "the same for all: left out"
    );
    assert!(md.stdout.contains("**"), "best values in bold");
    let json = kiln(&ws_dir, &["runs", "compare", "3", "4", "--json"]).json();
    assert_eq!(json["runs"], serde_json::json!([3, 4]));
    assert!(
        json["rows"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["name"] == "target" && r["differs"] == false)
    );
    let missing = kiln(&ws_dir, &["runs", "compare", "3", "999"]);
    assert_ne!(missing.code, 0);
}

#[test]
fn fractions_train_a_nested_learning_curve_with_spread_over_seeds() {
    let d = tempfile::tempdir().unwrap();
    let ws_dir = crate::support::penguins_workspace(d.path());
    let out = kiln(
        &ws_dir,
        &[
            "train",
            "--dataset",
            "penguins",
            "--target",
            "species",
            "--device",
            "cpu",
            "--param",
            "epochs=10",
            "--fractions",
            "0.25,0.5,1",
            "--repeats",
            "2",
            "--json",
        ],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let doc = out.json();
    let curve = doc["curve"].as_array().unwrap();
    assert_eq!(curve.len(), 3);
    let rows: Vec<f64> = curve
        .iter()
        .map(|p| p["train_rows"].as_f64().unwrap())
        .collect();
    // 72% of 344 rows train (248); a stratified quarter and half keep every species (ceil per class).
    assert!((rows[2] - 248.0).abs() < 1e-9, "{rows:?}");
    assert!(
        rows[0] >= 62.0 && rows[0] <= 65.0 && rows[1] >= 124.0 && rows[1] <= 126.0,
        "{rows:?}"
    );
    for p in curve {
        assert_eq!(p["runs"].as_array().unwrap().len(), 2);
        assert!(p["min"].as_f64().unwrap() <= p["mean"].as_f64().unwrap());
        assert!(p["mean"].as_f64().unwrap() <= p["max"].as_f64().unwrap());
    }
    let bad = kiln(
        &ws_dir,
        &[
            "train",
            "--dataset",
            "penguins",
            "--target",
            "species",
            "--fractions",
            "0,1",
        ],
    );
    assert_ne!(bad.code, 0);
    assert!(bad.stderr.contains("fraction"), "{}", bad.stderr);
}
