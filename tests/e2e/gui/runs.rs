//! The Runs room: a run's report, comparisons, long curves.

use egui_kittest::kittest::Queryable;
use kiln_app::gui::runs::RunsRoom;
use kiln_core::Workspace;
use std::path::Path;

use super::support::{harness, screenshot, settle};

#[test]
fn runs_panel_shows_a_recorded_run_as_a_report() {
    let d = tempfile::tempdir().unwrap();
    let ws_dir = crate::support::penguins_workspace(d.path());
    let run = train_penguins(&ws_dir, &["epochs=15"]);
    let mut h = harness(&ws_dir);
    settle(&mut h);
    h.get_by_label("Runs").click();
    h.run_steps(2);
    h.get_by_label("Runs (1 of 1)");
    h.get_by_label(&format!("{:.4}", run["test_accuracy"].as_f64().unwrap()));
    // A click on the row (not its checkbox) opens the run's report.
    h.get_by_label("finished").click();
    settle(&mut h);
    h.get_by_label("Run 1");
    h.get_by_label("Per class");
    h.get_by_label("Loss per epoch");
    h.get_by_label("Chinstrap");
    h.get_by_label("training rows");
    // The data version: in the table and as the report's link to it.
    assert_eq!(h.query_all_by_label("penguins@1").count(), 2);
    // Parameters read as a table (not a JSON line): `learning_rate` is a table column and a row.
    assert_eq!(h.query_all_by_label("learning_rate").count(), 2);
    h.get_by_label("Test rows: true class against prediction");
    screenshot(&mut h, "runs-report");
}

/// Train on penguins through the command line; the run's JSON summary.
fn train_penguins(ws_dir: &Path, params: &[&str]) -> serde_json::Value {
    let mut args = vec![
        "train",
        "--dataset",
        "penguins",
        "--target",
        "species",
        "--device",
        "cpu",
        "--json",
    ];
    for p in params {
        args.extend(["--param", p]);
    }
    let r = crate::support::kiln(ws_dir, &args);
    assert_eq!(r.code, 0, "{}", r.stderr);
    r.json()
}

#[test]
fn runs_compare_two_runs_with_curves_diff_parallel_coordinates_pareto_and_learning_curve() {
    let d = tempfile::tempdir().unwrap();
    let ws_dir = crate::support::penguins_workspace(d.path());
    train_penguins(&ws_dir, &["epochs=8", "lr=0.001"]);
    train_penguins(&ws_dir, &["epochs=8", "lr=0.01", "hidden=32"]);
    let r = crate::support::kiln(
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
            "epochs=8",
            "--fractions",
            "0.3,1",
            "--repeats",
            "2",
            "--json",
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let mut h = harness(&ws_dir);
    settle(&mut h);
    h.get_by_label("Runs").click();
    h.run_steps(2);
    h.get_by_label("Runs (6 of 6)");
    screenshot(&mut h, "runs-table");

    // A bad filter says what is wrong and keeps the table; a good one narrows it.
    h.get_by_label("Filter runs").focus();
    h.get_by_label("Filter runs")
        .type_text("test_accuracy >>> 1");
    h.run_steps(3);
    h.get_by_label_contains("invalid filter");
    h.get_by_label("Runs (6 of 6)");
    h.get_by_label("Filter runs").focus();
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::A);
    h.get_by_label("Filter runs").type_text("sweep IS NULL");
    h.run_steps(3);
    h.get_by_label("Runs (2 of 6)");
    assert!(h.query_by_label_contains("invalid filter").is_none());

    // Tick both runs and compare them: both curves, the side-by-side table.
    h.get_by_label("#1").click();
    h.get_by_label("#2").click();
    h.run_steps(2);
    h.get_by_label("Compare selected (2)").click();
    settle(&mut h);
    {
        let runs = h.state().room::<RunsRoom>().unwrap();
        let curves = runs.controller().curves.as_ref().expect("curves were read");
        assert_eq!(curves.metric, "val_accuracy");
        let ids: Vec<i64> = curves.series.iter().map(|(id, _, _)| *id).collect();
        assert_eq!(ids, [2, 1], "table order, newest first");
        assert!(
            curves
                .series
                .iter()
                .all(|(_, lod, n)| *n == 8 && lod.len() == 8)
        );
    }
    h.get_by_label("Side by side");
    h.get_by_label("Only differences");
    // `learning_rate`: a column of the runs table and a row of the comparison.
    assert_eq!(h.query_all_by_label("learning_rate").count(), 2);
    h.get_by_label("hidden");
    // Only differences is on: the target (the same for both) is not listed.
    assert!(h.query_by_label("target").is_none());
    h.get_by_label("Confusion matrices (test rows: true class against prediction)");
    screenshot(&mut h, "runs-compare");

    h.get_by_label("Filter runs").focus();
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::A);
    h.key_press(egui::Key::Backspace);
    h.run_steps(3);
    h.get_by_label("Parameters vs metric").click();
    h.run_steps(3);
    h.get_by_label_contains("How parameters lead to test_accuracy (6 runs)");
    screenshot(&mut h, "runs-parallel");

    h.get_by_label("Cost vs quality").click();
    h.run_steps(3);
    h.get_by_label_contains("The cheapest run within half a point");
    h.get_by_label("Runs on the front (none is both cheaper and better)");
    screenshot(&mut h, "runs-pareto");

    h.get_by_label("More data?").click();
    h.run_steps(3);
    h.get_by_label("Learning curve of");
    h.get_by_label("30%");
    h.get_by_label("100%");
    screenshot(&mut h, "runs-learning-curve");
}

#[test]
fn long_curves_draw_from_summaries_first_then_every_point() {
    use kiln_core::compare::synthetic::{SyntheticRuns, generate};
    let d = tempfile::tempdir().unwrap();
    let ws_dir = d.path().join("ws");
    let mut ws = Workspace::open(&ws_dir).unwrap();
    let ids = generate(
        &mut ws,
        &SyntheticRuns {
            runs: 2,
            points_per_run: 20_000,
            seed: 5,
        },
    )
    .unwrap();
    // The stored summary keeps the series' extremes in a few thousand points.
    let full = ws.metric_series(ids[0], "train_step_loss").unwrap();
    let preview = ws.series_preview(ids[0], "train_step_loss").unwrap();
    assert!(preview.summary && preview.points == 20_000);
    assert!(preview.series.value.len() <= 2 * kiln_store::SUMMARY_BUCKETS);
    let max = full.value.iter().copied().fold(f64::MIN, f64::max);
    assert!(
        preview
            .series
            .value
            .iter()
            .any(|v| v.to_bits() == max.to_bits())
    );
    drop(ws);

    let mut h = harness(&ws_dir);
    settle(&mut h);
    h.get_by_label("Runs").click();
    h.run_steps(2);
    h.get_by_label("#1").click();
    h.get_by_label("#2").click();
    h.run_steps(2);
    h.get_by_label("Compare selected (2)").click();
    settle(&mut h);
    let runs = h.state().room::<RunsRoom>().unwrap();
    let curves = runs.controller().curves.as_ref().unwrap();
    assert_eq!(curves.metric, "train_step_loss");
    assert!(!curves.coarse, "every point replaced the summaries");
    assert!(
        curves
            .series
            .iter()
            .all(|(_, lod, n)| *n == 20_000 && lod.len() == 20_000)
    );
}
