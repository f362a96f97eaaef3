//! The real app driven through `egui_kittest`: import by drag-and-drop, see rows, sort, filter, stats,
//! histogram and scatter; labeling, training, sweeps, runs. Every test renders PNG screenshots: into the
//! build folder by default (a plain `cargo test` changes no tracked file), into the folder named by
//! `KILN_SCREENSHOTS` when set — `KILN_SCREENSHOTS=$PWD/screenshots cargo test -p kiln_e2e gui::`
//! refreshes the README's pictures.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use egui_kittest::Harness;
use egui_kittest::kittest::{By, Queryable};
use kiln_app::gui::KilnApp;
use kiln_app::gui::data::DataRoom;
use kiln_app::gui::runs::RunsRoom;
use kiln_app::gui::train::{LiveTraining, TrainCommand, TrainRoom};
use kiln_core::{RunStatus, Workspace};

fn harness(ws: &Path) -> Harness<'static, KilnApp> {
    harness_on(Workspace::open(ws).unwrap())
}

fn harness_on(ws: Workspace) -> Harness<'static, KilnApp> {
    Harness::builder()
        .with_size(egui::vec2(1280.0, 800.0))
        .wgpu()
        .build_eframe(|cc| KilnApp::new(cc, ws))
}

/// Step frames until no background job is running (and a few more to draw the results).
fn settle(h: &mut Harness<'_, KilnApp>) {
    // Commands from the last input are applied in the next frames' `logic`, which may start jobs.
    h.run_steps(2);
    let start = Instant::now();
    loop {
        h.step();
        if !h.state().busy() {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_mins(2),
            "background work did not finish"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    h.run_steps(4);
}

/// Step until `label` (a substring) is on screen.
fn wait_for(h: &mut Harness<'_, KilnApp>, label: &str) {
    let start = Instant::now();
    while h.query_by_label_contains(label).is_none() {
        assert!(
            start.elapsed() < Duration::from_mins(1),
            "`{label}` never appeared"
        );
        h.step();
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// The Data room's open version as the table shows it.
fn table_view(h: &Harness<'_, KilnApp>) -> kiln_core::data::TableData {
    let data = h.state().room::<DataRoom>().unwrap();
    data.controller().current.view.clone().unwrap()
}

/// All its rows, read into memory.
fn table_frame(h: &Harness<'_, KilnApp>) -> polars::prelude::DataFrame {
    let t = table_view(h);
    t.rows(0, t.height()).unwrap()
}

/// The run followed in the Train room.
fn live<'a>(h: &'a Harness<'_, KilnApp>) -> Option<&'a LiveTraining> {
    let train = h.state().room::<TrainRoom>().unwrap();
    train.controller().training.as_ref()
}

fn screenshot(h: &mut Harness<'_, KilnApp>, name: &str) {
    let dir = std::env::var_os("KILN_SCREENSHOTS").map_or_else(
        || Path::new(env!("CARGO_TARGET_TMPDIR")).join("screenshots"),
        PathBuf::from,
    );
    std::fs::create_dir_all(&dir).unwrap();
    let image = h
        .render()
        .expect("rendering with wgpu (install mesa-vulkan-drivers for lavapipe)");
    image.save(dir.join(format!("{name}.png"))).unwrap();
}

/// A file dropped on the window, as the native integration reports it.
#[derive(Debug)]
struct DroppedPath(PathBuf);

impl egui::DroppedFile for DroppedPath {
    fn path(&self) -> &Path {
        &self.0
    }

    fn bytes(&self) -> Result<Vec<u8>, String> {
        std::fs::read(&self.0).map_err(|e| e.to_string())
    }
}

fn drop_file(h: &mut Harness<'_, KilnApp>, path: PathBuf) {
    h.input_mut()
        .dropped_files
        .push(std::sync::Arc::new(DroppedPath(path)));
    h.step();
}

#[test]
fn import_by_drop_then_browse_sort_filter_stats_histogram_and_scatter() {
    let d = tempfile::tempdir().unwrap();
    let mut h = harness(d.path());
    h.run_steps(2);
    // A new workspace tells the user what to do first.
    h.get_by_label_contains("Import a dataset — Ctrl+O or drop a file here");
    screenshot(&mut h, "data-empty");

    drop_file(&mut h, crate::support::fixture("penguins.csv"));
    assert!(
        h.state()
            .room::<DataRoom>()
            .unwrap()
            .controller()
            .import_dialog_open()
    );
    wait_for(&mut h, "Preview: first 50 rows · 8 columns");
    h.get_by_label_contains("bill_length_mm: f64");
    screenshot(&mut h, "import-dialog");
    h.get_by_label("Import").click();
    settle(&mut h);

    // The version is open and its rows are in the table.
    h.get_by_label_contains("344 rows × 8 columns");
    assert!(!h.get_all_by_label("Adelie").collect::<Vec<_>>().is_empty());
    h.get_by_label("bill_length_mm");
    assert_eq!(table_frame(&h).height(), 344);
    screenshot(&mut h, "data-table");

    // Sorting by a header click: smallest bill first, nulls last.
    h.get_by_label("bill_length_mm").click();
    settle(&mut h);
    let df = table_frame(&h);
    assert_eq!(
        kiln_core::data::cell_text(df.column("bill_length_mm").unwrap(), 0),
        "32.1"
    );
    assert_eq!(
        kiln_core::data::cell_text(df.column("bill_length_mm").unwrap(), 343),
        ""
    );

    // A filter with bad syntax says so; a good one narrows the rows.
    h.get_by_label("Filter").focus();
    h.get_by_label("Filter").type_text("bill_length_mm >>> 3");
    h.get_by_label("Apply").click();
    settle(&mut h);
    h.get_by_label_contains("invalid filter");
    h.get_by_label("Filter").focus();
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::A);
    h.get_by_label("Filter").type_text("species = 'Gentoo'");
    h.get_by_label("Apply").click();
    settle(&mut h);
    h.get_by_label_contains("124 of 344 rows");
    assert!(h.query_by_label_contains("invalid filter").is_none());
    h.get_by_label("Clear").click();
    settle(&mut h);
    h.get_by_label_contains("344 rows × 8 columns");

    // Stats run in the background and show the pandas reference values.
    h.get_by_label("Stats").click();
    h.step();
    settle(&mut h);
    h.get_by_label("43.92193");
    h.get_by_label("5.45958");
    screenshot(&mut h, "data-stats");

    // Histogram of a numeric column.
    h.get_by_label("Histogram").click();
    settle(&mut h);
    h.get_by_label_contains("species: 3 most frequent values");
    h.get_by_label("Column").click();
    h.run_steps(2);
    h.get_by_label("bill_length_mm").click();
    h.step();
    settle(&mut h);
    h.get_by_label_contains("bill_length_mm: 342 values in 40 bins");
    screenshot(&mut h, "data-histogram");

    // Scatter of two numeric columns coloured by species.
    h.get_by_label("Scatter").click();
    h.step();
    settle(&mut h);
    h.get_by_label("Color by").click();
    h.run_steps(2);
    h.get_by_label("species").click();
    h.step();
    settle(&mut h);
    h.get_by_label_contains("bill_length_mm vs bill_depth_mm: 342 points");
    screenshot(&mut h, "data-scatter");
}

#[test]
fn failed_import_shows_an_error_toast_and_keeps_the_workspace() {
    let d = tempfile::tempdir().unwrap();
    let bad = d.path().join("ragged.csv");
    let mut body = String::from("a,b\n");
    for i in 0..100 {
        writeln!(body, "{i},{}", i * 2).unwrap();
    }
    body.push_str("7\n"); // a short row: fine for the preview, an error for the import
    std::fs::write(&bad, body).unwrap();
    let ws = d.path().join("ws");
    let mut h = harness(&ws);
    h.step();
    let before = crate::support::db_rows(&ws);
    drop_file(&mut h, bad);
    settle(&mut h);
    // The preview (first 50 rows) is fine; the full import reads every row and fails on line 102.
    h.get_by_label("Import").click();
    settle(&mut h);
    h.get_by_label_contains("failed; the workspace is unchanged");
    h.get_by_label("details").click();
    h.run_steps(2);
    screenshot(&mut h, "import-error");
    h.get_by_label_contains("ragged.csv: line 102: expected 2 fields");
    assert!(h.state().state.datasets.is_empty());
    assert_eq!(crate::support::version_rows(&ws), 0);
    assert_eq!(crate::support::db_rows(&ws), before);
}

#[test]
fn navigation_reaches_every_panel_and_empty_ones_say_what_to_do() {
    let d = tempfile::tempdir().unwrap();
    let mut h = harness(d.path());
    h.step();
    h.get_by_label("Label").click();
    h.run_steps(2);
    h.get_by_label_contains("Open a dataset version in the Data panel first");
    h.get_by_label("Train").click();
    h.run_steps(2);
    h.get_by_label_contains("Nothing to train on yet");
    h.get_by_label("Monitor").click();
    settle(&mut h);
    h.get_by_label_contains("No model has answered requests yet");
    h.get_by_label_contains("Drift compares two dataset versions");
    h.get_by_label("Runs").click();
    h.run_steps(2);
    h.get_by_label_contains("No training runs yet");
    h.get_by_label("Models & Releases").click();
    settle(&mut h);
    h.get_by_label("No registered models yet");
    h.get_by_label_contains("Data").click();
    h.run_steps(2);
    h.get_by_label_contains("Import a dataset");
}

#[test]
fn label_twenty_digits_by_hotkeys_undo_one_and_commit() {
    let d = tempfile::tempdir().unwrap();
    let ws_dir = d.path().join("ws");
    {
        let mut ws = Workspace::open(&ws_dir).unwrap();
        let opts = kiln_core::ImportOptions {
            has_header: false,
            ..Default::default()
        };
        ws.import(
            &crate::support::asset("digits.csv"),
            "digits",
            &opts,
            &kiln_core::Cancel::new(),
            &kiln_core::Progress::new(),
        )
        .unwrap();
    }
    let original: Vec<i64> = {
        let ws = Workspace::open(&ws_dir).unwrap();
        let df = ws.load(&ws.resolve("digits@1").unwrap()).unwrap();
        let c = df
            .column("column_65")
            .unwrap()
            .as_materialized_series()
            .clone();
        c.i64()
            .unwrap()
            .iter()
            .take(20)
            .map(Option::unwrap)
            .collect()
    };
    let mut h = harness(&ws_dir);
    settle(&mut h);
    h.get_by_label("Label").click();
    h.run_steps(2);
    h.get_by_label("Start labeling").click();
    settle(&mut h);
    h.get_by_label_contains("1797 / 1797 labeled");
    h.get_by_label_contains("0 label(s) saved in the draft");
    // 20 hotkey presses: each labels the current digit (with a class other than its own) and advances.
    let pressed: Vec<i64> = original.iter().map(|c| (c + 1) % 10).collect();
    for class in &pressed {
        let key = egui::Key::from_name(&class.to_string()).unwrap();
        h.key_press(key);
        h.step();
    }
    h.run_steps(2);
    h.get_by_label_contains("20 label(s) saved in the draft");
    screenshot(&mut h, "label-grid");
    // Paging moves the current item along; the keys then label on the new page.
    h.get_by_label_contains("Page 1 of 5");
    h.get_by_label("Page >").click();
    h.run_steps(3);
    h.get_by_label_contains("Page 2 of 5");
    h.get_by_label("< Page").click();
    h.run_steps(3);
    h.get_by_label_contains("Page 1 of 5");
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::Z);
    h.run_steps(2);
    h.get_by_label_contains("19 label(s) saved in the draft");
    // Every label shown as saved is in the workspace draft already.
    {
        let ws = Workspace::open(&ws_dir).unwrap();
        let drafts = ws
            .drafts(&ws.resolve("digits@1").unwrap(), "column_65")
            .unwrap();
        assert_eq!(drafts.len(), 19);
    }
    h.get_by_label("Message").focus();
    h.get_by_label("Message").type_text("first 19 relabelled");
    h.get_by_label("Commit labels").click();
    settle(&mut h);
    settle(&mut h);

    let ws = Workspace::open(&ws_dir).unwrap();
    let v2 = ws.resolve("digits").unwrap();
    let v1 = ws.resolve("digits@1").unwrap();
    assert_eq!(v2.version, 2);
    assert_eq!(v2.parent_id, Some(v1.id));
    assert_eq!(v2.operation, "labels");
    assert_eq!(v2.message.as_deref(), Some("first 19 relabelled"));
    let df = ws.load(&v2).unwrap();
    let labels: Vec<i64> = df
        .column("column_65")
        .unwrap()
        .as_materialized_series()
        .i64()
        .unwrap()
        .iter()
        .take(20)
        .map(Option::unwrap)
        .collect();
    assert_eq!(&labels[..19], &pressed[..19]);
    assert_eq!(
        labels[19], original[19],
        "the undone label is not committed"
    );
    let diff = ws.diff("digits@1", "digits@2").unwrap();
    assert_eq!((diff.changed_rows, diff.added, diff.removed), (19, 0, 0));
    assert_eq!(
        diff.label_changes.iter().map(|c| c.count).sum::<usize>(),
        19
    );
    assert!(
        ws.drafts(&v1, "column_65").unwrap().is_empty(),
        "the commit consumed the draft"
    );

    // The versions view shows the lineage and the diff.
    h.get_by_label("Data  (1)").click();
    h.run_steps(2);
    h.get_by_label("Versions").click();
    h.run_steps(2);
    h.get_by_label("Diff v1 to v2").click();
    settle(&mut h);
    h.get_by_label_contains("0 added · 0 removed · 19 changed rows (19 cells)");
    screenshot(&mut h, "versions");
}

#[test]
fn image_folder_grid_shows_broken_images_without_panicking() {
    let d = tempfile::tempdir().unwrap();
    let src = d.path().join("pets");
    for class in ["cat", "dog"] {
        std::fs::create_dir_all(src.join(class)).unwrap();
        for i in 0..4u8 {
            let img = image::RgbImage::from_pixel(16, 16, image::Rgb([i * 60, 80, 200 - i * 40]));
            img.save(src.join(class).join(format!("{i}.png"))).unwrap();
        }
    }
    std::fs::write(
        src.join("cat").join("truncated.png"),
        b"\x89PNG\r\n\x1a\n broken",
    )
    .unwrap();
    let ws_dir = d.path().join("ws");
    {
        let mut ws = Workspace::open(&ws_dir).unwrap();
        ws.import_images(
            &src,
            "pets",
            &kiln_core::Cancel::new(),
            &kiln_core::Progress::new(),
        )
        .unwrap();
    }
    let mut h = harness(&ws_dir);
    settle(&mut h);
    h.get_by_label("Label").click();
    h.run_steps(2);
    h.get_by_label("Start labeling").click();
    settle(&mut h);
    // Thumbnails decode on worker threads; the broken one is reported, not a panic.
    wait_for(&mut h, "1 image(s) could not be decoded");
    h.get_by_label_contains("9 / 9 labeled");
    screenshot(&mut h, "label-images");
}

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
fn command_palette_reaches_actions_by_name() {
    let d = tempfile::tempdir().unwrap();
    let mut h = harness(d.path());
    h.run_steps(2);
    assert!(!h.state().state.light_theme);
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::K);
    h.run_steps(2);
    h.get_by_label("Action").type_text("light theme");
    h.run_steps(2);
    h.get_by_label("Switch to the light theme");
    h.key_press(egui::Key::Enter);
    h.run_steps(3);
    assert!(h.state().state.light_theme);
    assert!(
        h.query_by_label("Action").is_none(),
        "the palette closes after running an action"
    );
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::K);
    h.run_steps(2);
    h.get_by_label("Action").type_text("go to label");
    h.run_steps(2);
    h.get_by_label("Go to Label").click();
    h.run_steps(3);
    assert_eq!(h.state().state.active, kiln_app::gui::label::ID);
}

/// The app on `ws_dir`, showing the Train panel with the CPU chosen (tests do not depend on the machine's
/// GPU) once the form has its defaults.
fn train_panel(ws_dir: &Path) -> Harness<'static, KilnApp> {
    let mut h = harness(ws_dir);
    settle(&mut h);
    h.get_by_label("Train").click();
    settle(&mut h);
    h.get_by_label("CPU").click();
    h.run_steps(1);
    h
}

/// Choose the target column in the Train form.
fn choose_target(h: &mut Harness<'_, KilnApp>, column: &str) {
    h.get_by_label("Target").click();
    h.run_steps(2);
    h.get_by_label(column).click();
    h.run_steps(2);
}

#[test]
fn train_panel_trains_with_live_curves_and_records_the_run() {
    let d = tempfile::tempdir().unwrap();
    let ws_dir = crate::support::penguins_workspace(d.path());
    // The form picks the dataset and guesses a target by its rule (here the last column with few
    // distinct values, `year`); the user picks `species` (checked on the recorded run below).
    let mut h = train_panel(&ws_dir);
    h.get(By::new().label("Target").value("year"));
    choose_target(&mut h, "species");
    h.get(By::new().label("Target").value("species"));
    h.get_by_label("Start training").click();
    // Live: the progress bar with its ETA, and points arriving while the run goes on.
    wait_for(&mut h, "epoch ");
    let start = Instant::now();
    while live(&h).unwrap().epochs.len() < 2 {
        assert!(
            start.elapsed() < Duration::from_mins(1),
            "no epochs arrived"
        );
        h.step();
        std::thread::sleep(Duration::from_millis(5));
    }
    h.get_by_label("Stop");
    settle(&mut h);
    wait_for(&mut h, "Open in Runs");
    h.get_by_label("Run 1 finished");
    let t = live(&h).unwrap();
    assert!(t.steps.len() > 20, "{} batch points", t.steps.len());
    assert!(t.epochs.len() >= 2);
    assert!(t.device.as_deref().unwrap().starts_with("CPU"));
    let first = t.epochs.first().unwrap().train_loss;
    let last = t.epochs.last().unwrap().train_loss;
    assert!(last < first, "the loss went from {first} to {last}");
    assert!(h.query_all_by_label_contains("test accuracy").count() >= 1);
    h.get_by_label("Loss");
    h.get_by_label("Accuracy");
    let runs = h.state().state.ws.runs().unwrap();
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].status, RunStatus::Finished);
    assert_eq!(runs[0].target, "species");
    screenshot(&mut h, "train");
    h.get_by_label("Open in Runs").click();
    h.run_steps(2);
    h.get_by_label("Runs (1 of 1)");
}

#[test]
fn sweep_dialog_runs_a_grid_as_tagged_runs() {
    let d = tempfile::tempdir().unwrap();
    let ws_dir = crate::support::penguins_workspace(d.path());
    let mut h = train_panel(&ws_dir);
    choose_target(&mut h, "species");
    h.get_by_label("Sweep…").click();
    h.run_steps(2);
    // The dialog starts with two learning rates: a grid of two runs.
    h.get_by_label("2 runs");
    h.get_by_label("Random").click();
    h.run_steps(2);
    h.get_by_label_contains("range LOW:HIGH");
    h.get_by_label("Grid").click();
    h.run_steps(2);
    h.get_by_label("Start sweep").click();
    settle(&mut h);
    wait_for(&mut h, "2 of 2 runs done");
    h.get_by_label("sweep-1 finished");
    h.get_by_label_contains("(best)");
    let runs = h.state().state.ws.sweep_runs("sweep-1").unwrap();
    assert_eq!(runs.len(), 2);
    let mut lrs: Vec<f64> = runs
        .iter()
        .map(|r| r.params["learning_rate"].as_f64().unwrap())
        .collect();
    lrs.sort_by(f64::total_cmp);
    assert_eq!(lrs, [0.001, 0.01]);
    screenshot(&mut h, "sweep");
}

#[test]
fn train_panel_stops_a_run_and_resumes_it() {
    let d = tempfile::tempdir().unwrap();
    let ws_dir = crate::support::penguins_workspace(d.path());
    let mut h = harness(&ws_dir);
    settle(&mut h);
    // A run that would go on for a long time.
    let mut params = kiln_train::TrainParams::default();
    for (k, v) in [("epochs", "100000"), ("patience", "0"), ("hidden", "16")] {
        params.set(k, v).unwrap();
    }
    h.state_mut()
        .push(TrainCommand::Start(kiln_core::training::TrainRequest {
            dataset: "penguins".into(),
            target: "species".into(),
            features: None,
            params,
            device: kiln_train::DeviceChoice::Cpu,
            sweep_id: None,
        }));
    let epochs_seen = |h: &Harness<'_, KilnApp>| live(h).map_or(0, |t| t.epochs.len());
    let start = Instant::now();
    while epochs_seen(&h) < 3 {
        assert!(
            start.elapsed() < Duration::from_mins(1),
            "no epochs arrived"
        );
        h.step();
        std::thread::sleep(Duration::from_millis(5));
    }
    h.get_by_label("Stop").click();
    settle(&mut h);
    wait_for(&mut h, "Resume this run");
    h.get_by_label("Run 1 stopped");
    let run = h.state().state.ws.run(1).unwrap();
    assert_eq!(run.status, RunStatus::Stopped);
    assert!(
        run.artifacts["weights"].is_string(),
        "the best model is kept"
    );
    let checkpoint = h.state().state.ws.resumable_epoch(1).unwrap();
    assert!(checkpoint >= 3);
    // Resume from the panel: the run goes on after its checkpoint.
    h.get_by_label("Resume this run").click();
    h.run_steps(2);
    wait_for(&mut h, "Run 1 (resumed)");
    let start = Instant::now();
    while epochs_seen(&h) < 2 {
        assert!(
            start.elapsed() < Duration::from_mins(1),
            "the resumed run did not go on"
        );
        h.step();
        std::thread::sleep(Duration::from_millis(5));
    }
    let t = live(&h).unwrap();
    assert_eq!(t.first_epoch, checkpoint + 1);
    assert_eq!(t.epochs[0].epoch, checkpoint + 1);
    assert_eq!(
        h.state().state.ws.run(1).unwrap().status,
        RunStatus::Running
    );
    h.state_mut().push(TrainCommand::Stop);
    settle(&mut h);
    assert_eq!(
        h.state().state.ws.run(1).unwrap().status,
        RunStatus::Stopped
    );
    assert_eq!(h.state().state.ws.runs().unwrap().len(), 1);
}

#[test]
fn train_panel_trains_a_cnn_on_an_image_folder_by_its_images() {
    let d = tempfile::tempdir().unwrap();
    let root = d.path().join("shapes");
    for (class, lit) in [("dark", 20u8), ("light", 230u8)] {
        std::fs::create_dir_all(root.join(class)).unwrap();
        for i in 0..8u8 {
            let img = image::GrayImage::from_fn(8, 8, |x, y| {
                image::Luma([lit.saturating_add(((x + y) as u8 + i) % 16)])
            });
            img.save(root.join(class).join(format!("{i}.png"))).unwrap();
        }
    }
    let ws_dir = d.path().join("ws");
    let r = crate::support::kiln(
        &ws_dir,
        &[
            "import",
            root.to_str().unwrap(),
            "--images",
            "--name",
            "shapes",
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let mut h = train_panel(&ws_dir);
    // Only the image column is ticked by default (not the file names).
    h.get_by_label("1 of 2 columns");
    h.get_by_label("CNN (images)").click();
    h.run_steps(2);
    h.get_by_label("Start training").click();
    settle(&mut h);
    wait_for(&mut h, "Open in Runs");
    let run = h.state().state.ws.run(1).unwrap();
    assert_eq!(run.status, RunStatus::Finished, "{:?}", run.error);
    assert_eq!(run.model, "cnn");
    assert_eq!(run.target, "label");
    let features = run.features.as_array().unwrap();
    assert_eq!(features.len(), 1);
    assert_eq!(features[0]["name"], "image");
    assert_eq!(run.params["epochs"], 30);
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

fn room_tried(h: &Harness<'_, KilnApp>) -> kiln_app::gui::release::TryResult {
    let room = h
        .state()
        .room::<kiln_app::gui::release::ReleaseRoom>()
        .unwrap();
    room.controller()
        .tried
        .clone()
        .expect("predictions came back")
}

#[test]
fn a_pm_approves_a_pending_release_from_the_models_panel() {
    let (_d, ws_dir) = crate::release::release_workspace();
    let kiln = |args: &[&str]| crate::support::kiln(&ws_dir, args);
    // v1 is the champion already; v2 (longer training) waits for approval.
    let first = kiln(&[
        "release",
        "request",
        "penguin-id",
        "--version",
        "1",
        "--by",
        "sam",
        "--json",
    ])
    .json();
    let id = first["request_id"].as_i64().unwrap().to_string();
    assert_eq!(
        kiln(&[
            "release",
            "approve",
            &id,
            "--by",
            "ada",
            "--comment",
            "first"
        ])
        .code,
        0
    );
    let r = kiln(&[
        "release",
        "request",
        "penguin-id",
        "--version",
        "2",
        "--by",
        "sam",
        "--notes",
        "longer training",
        "--json",
    ])
    .json();
    assert_eq!(r["gates_passed"], true);
    assert_eq!(r["champion_version"], 1);
    let mut h = harness(&ws_dir);
    settle(&mut h);
    // The nav entry counts the pending requests once the registry is read.
    wait_for(&mut h, "Models & Releases  (1)");
    h.get_by_label("Models & Releases  (1)").click();
    settle(&mut h);
    h.get_by_label("Tell the species from body measurements");
    // Both requests pass their gates; the second waits.
    assert_eq!(h.query_all_by_label("gates PASS").count(), 2);
    h.get_by_label("pending");
    // The verdict in words, with its interval and p-value.
    h.get_by_label_contains("95% CI");
    h.get_by_label("What changed from the champion");
    // The approver picks themself, writes the mandatory comment and approves.
    h.get_by_label("Acting as").click();
    h.run_steps(2);
    h.get_by_label("pat (approver)").click();
    h.run_steps(2);
    h.get_by_label("Comment (required)").focus();
    h.get_by_label("Comment (required)")
        .type_text("Checked the Gentoo recall; fine to ship");
    h.run_steps(2);
    screenshot(&mut h, "release");
    h.get_by_label("Approve").click();
    settle(&mut h);
    let room = h
        .state()
        .room::<kiln_app::gui::release::ReleaseRoom>()
        .unwrap();
    let model = &room.controller().data.as_ref().unwrap().models[0];
    assert_eq!(model.champion, Some(2));
    assert_eq!(model.requests[0].status, "approved");
    assert_eq!(model.requests[0].decided_by.as_deref(), Some("pat"));
    assert_eq!(h.query_all_by_label("approved").count(), 2);
    assert!(h.query_by_label("pending").is_none());
    // Try it: the newest version and the champion on an evaluation row, with probabilities.
    h.get_by_label("Try it").click();
    h.run_steps(2);
    h.get_by_label("Next 5 rows").click();
    settle(&mut h);
    let tried = room_tried(&h);
    assert_eq!(tried.rows.len(), 5);
    assert_eq!(
        tried.versions.len(),
        1,
        "v2 is both the newest and the champion"
    );
    for p in &tried.versions[0].2 {
        assert!(
            (p.iter().sum::<f64>() - 1.0).abs() < 1e-4,
            "probabilities sum to 1: {p:?}"
        );
    }
    screenshot(&mut h, "release-try");
    // Serve: the champion answers over HTTP from the app, then stops.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    h.state_mut()
        .room_mut::<kiln_app::gui::release::ReleaseRoom>()
        .unwrap()
        .view_mut()
        .serve_port = port;
    h.get_by_label("Serve").click();
    settle(&mut h);
    h.get_by_label("Stop serving");
    let health = |port: u16| {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
        s.write_all(b"GET /v1/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .ok()?;
        let mut out = String::new();
        s.read_to_string(&mut out).ok()?;
        Some(out)
    };
    let answer = health(port).expect("the server answers");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains("\"version\":2"), "{answer}");
    h.get_by_label("Stop serving").click();
    settle(&mut h);
    h.get_by_label("Serve");
    assert!(health(port).is_none(), "stopped");
    let ws = Workspace::open(&ws_dir).unwrap();
    assert!(ws.audit_verify().unwrap().ok);
}

#[test]
fn try_it_draws_a_digit_for_an_image_model_and_predicts_it() {
    let d = tempfile::tempdir().unwrap();
    let ws_dir = d.path().join("ws");
    let kiln = |args: &[&str]| {
        let r = crate::support::kiln(&ws_dir, args);
        assert_eq!(r.code, 0, "{args:?}: {}", r.stderr);
        r
    };
    let digits = crate::support::asset("digits.csv");
    kiln(&[
        "import",
        digits.to_str().unwrap(),
        "--name",
        "digits",
        "--no-header",
    ]);
    kiln(&[
        "datasets",
        "split",
        "digits",
        "--ratios",
        "0.8,0,0.2",
        "--seed",
        "1",
        "--stratify",
        "column_65",
    ]);
    kiln(&[
        "train",
        "--dataset",
        "digits@2",
        "--target",
        "column_65",
        "--device",
        "cpu",
        "--param",
        "epochs=5",
    ]);
    kiln(&["users", "add", "pat", "--role", "approver", "--by", "pat"]);
    kiln(&[
        "models",
        "register",
        "--run",
        "1",
        "--name",
        "digit-reader",
        "--by",
        "pat",
    ]);
    kiln(&[
        "models",
        "brief",
        "digit-reader",
        "--problem",
        "Read handwritten digits",
        "--eval",
        "digits@2",
        "--target",
        "accuracy>=0.8",
        "--by",
        "pat",
    ]);
    let mut h = harness(&ws_dir);
    settle(&mut h);
    h.get_by_label("Models & Releases").click();
    settle(&mut h);
    h.get_by_label("Try it").click();
    h.run_steps(2);
    h.get_by_label_contains("Draw a 8×8 image");
    // A "1": a vertical stroke down the middle (what dragging the pointer paints).
    {
        let app = h.state_mut();
        let room = app
            .room_mut::<kiln_app::gui::release::ReleaseRoom>()
            .unwrap();
        let canvas = &mut room.view_mut().canvas;
        *canvas = vec![0.0; 64];
        for y in 1..7 {
            canvas[y * 8 + 3] = 1.0;
            canvas[y * 8 + 4] = 0.6;
        }
    }
    h.run_steps(2);
    h.get_by_label("Predict the drawing").click();
    settle(&mut h);
    let tried = room_tried(&h);
    assert_eq!(tried.rows.len(), 1);
    assert_eq!(tried.rows[0].len(), 64, "the 64 pixel columns");
    assert_eq!(tried.truth, [None]);
    let probs = &tried.versions[0].2[0];
    assert_eq!(probs.len(), 10);
    assert!((probs.iter().sum::<f64>() - 1.0).abs() < 1e-4);
    screenshot(&mut h, "release-draw");
}

#[test]
fn monitor_shows_serving_health_and_drift_with_histograms() {
    let (_d, ws_dir) = crate::release::release_workspace();
    let kiln = |args: &[&str]| {
        let r = crate::support::kiln(&ws_dir, args);
        assert_eq!(r.code, 0, "{args:?}: {}", r.stderr);
    };
    // Gentoo only: a shifted population.
    kiln(&[
        "datasets",
        "filter",
        "penguins",
        "--where",
        "species = 'Gentoo'",
    ]);
    // A served model's log: 40 answers (2 failures), 10 labelled back (8 right), 5 outcomes.
    let mut ws = Workspace::open(&ws_dir).unwrap();
    let rows: Vec<kiln_core::ServedRequestRecord> = (0..40)
        .map(|i| kiln_core::ServedRequestRecord {
            at: kiln_core::serving::now(),
            model: "penguin-id".into(),
            version: Some(if i % 2 == 0 { 1 } else { 2 }),
            endpoint: "/v1/predict".into(),
            status: if i < 2 { 422 } else { 200 },
            latency_ms: 0.5 + f64::from(i) / 100.0,
            prediction_id: (i >= 2).then(|| format!("p{i}")),
            class: (i >= 2).then(|| "Adelie".to_owned()),
            features: None,
        })
        .collect();
    ws.log_served(&rows).unwrap();
    for i in 2..12 {
        let label = if i < 10 { "Adelie" } else { "Gentoo" };
        ws.record_feedback(&format!("p{i}"), Some(label), None)
            .unwrap();
    }
    for i in 20..25 {
        ws.record_feedback(&format!("p{i}"), None, Some(f64::from(i % 2)))
            .unwrap();
    }
    drop(ws);
    let mut h = harness(&ws_dir);
    settle(&mut h);
    h.get_by_label("Monitor").click();
    settle(&mut h);
    h.get_by_label("80.0% of 10");
    h.get_by_label("2 (5.0%)");
    h.get_by_label("healthy");
    // The two served versions side by side, each with its interval.
    h.get_by_label_contains("accuracy on feedback by the hour");
    h.get_by_label("   version 1");
    h.get_by_label("   version 2");
    assert!(h.query_all_by_label_contains("% [").count() >= 2);
    h.get(By::new().label("Reference").value("penguins@1"));
    h.get_by_label("Current").click();
    h.run_steps(2);
    h.get_by_label("penguins@3").click();
    h.run_steps(2);
    h.get_by_label("Compute drift").click();
    settle(&mut h);
    h.get_by_label("the data drifted");
    h.get_by_label("body_mass_g");
    assert!(h.query_all_by_label("drifted").count() >= 2);
    let room = h
        .state()
        .room::<kiln_app::gui::monitor::MonitorRoom>()
        .unwrap();
    let d = room.drift.as_ref().unwrap();
    assert_eq!(
        (d.reference.as_str(), d.current.as_str()),
        ("penguins@1", "penguins@3")
    );
    assert!(
        d.histograms
            .iter()
            .any(|x| x.name == "body_mass_g" && x.reference.len() == 20)
    );
    screenshot(&mut h, "monitor");
}

#[test]
fn suspect_review_accepts_by_key_keeps_by_key_and_commits_a_version() {
    let d = tempfile::tempdir().unwrap();
    let ws_dir = d.path().join("ws");
    {
        let mut ws = Workspace::open(&ws_dir).unwrap();
        let opts = kiln_core::ImportOptions {
            has_header: false,
            ..Default::default()
        };
        ws.import(
            &crate::support::asset("digits.csv"),
            "digits",
            &opts,
            &kiln_core::Cancel::new(),
            &kiln_core::Progress::new(),
        )
        .unwrap();
        // Give 30 digits the next digit's label.
        let df = ws.load(&ws.resolve("digits@1").unwrap()).unwrap();
        let labels = df.column("column_65").unwrap().i64().unwrap().clone();
        let flips: Vec<(u64, Option<String>)> = (0..30u64)
            .map(|k| {
                let row = k * 59 + 7;
                let was = labels.get(row as usize).unwrap();
                (row, Some(((was + 1) % 10).to_string()))
            })
            .collect();
        ws.set_labels("digits", "column_65", &flips, Some("flips"), None)
            .unwrap();
    }
    let mut h = harness(&ws_dir);
    settle(&mut h);
    h.get_by_label("Label").click();
    h.run_steps(2);
    h.get_by_label("Start labeling").click();
    settle(&mut h);
    h.get_by_label("Find suspect labels").click();
    settle(&mut h);
    wait_for(&mut h, "Reviewing suspects run 1");
    let first = {
        let room = h.state().room::<kiln_app::gui::label::LabelRoom>().unwrap();
        let s = room.controller().session().unwrap();
        let review = s.assist.review.as_ref().unwrap();
        assert!(
            review.suspects.len() >= 20,
            "{} suspects",
            review.suspects.len()
        );
        assert_eq!(
            s.ids[s.cursor], review.suspects[0].row_id,
            "the cursor is on the first suspect"
        );
        review.suspects[0].clone()
    };
    h.get_by_label_contains(&format!("Accept {}", first.suggested));
    screenshot(&mut h, "label-suspects");
    // Enter accepts the suggestion, Space keeps the next one as it is.
    h.key_press(egui::Key::Enter);
    h.run_steps(2);
    let second = {
        let room = h.state().room::<kiln_app::gui::label::LabelRoom>().unwrap();
        let s = room.controller().session().unwrap();
        assert_eq!(s.draft_count(), 1);
        let pos = s.position_of(first.row_id).unwrap();
        assert_eq!(s.label_at(pos), Some(first.suggested.as_str()));
        let review = s.assist.review.as_ref().unwrap();
        assert_eq!((review.index, review.fixed), (1, 1));
        review.suspects[1].clone()
    };
    h.key_press(egui::Key::Space);
    h.run_steps(2);
    {
        let ws = Workspace::open(&ws_dir).unwrap();
        let v2 = ws.resolve("digits@2").unwrap();
        assert_eq!(ws.kept_labels(&v2, "column_65").unwrap(), [second.row_id]);
    }
    h.get_by_label_contains("1 fixed · 1 kept");
    h.get_by_label("Commit labels").click();
    settle(&mut h);
    settle(&mut h);
    let ws = Workspace::open(&ws_dir).unwrap();
    let v3 = ws.resolve("digits").unwrap();
    assert_eq!(v3.version, 3);
    assert_eq!(
        v3.message.as_deref(),
        Some("Fix labels from suspects run 1")
    );
    let diff = ws.diff("digits@2", "digits@3").unwrap();
    assert_eq!(diff.changed_rows, 1);
}

#[test]
fn a_version_larger_than_the_memory_budget_pages_scrolls_sorts_and_filters() {
    let d = tempfile::tempdir().unwrap();
    let rows = 3 * kiln_core::data::ROW_GROUP + 1_000;
    let file = d.path().join("big.csv");
    let mut text = String::from("id,x,city\n");
    for i in 0..rows {
        let _ = writeln!(
            text,
            "{i},{},{}",
            (i * 7919) % 100_003,
            ["Oslo", "Lima", "Pune", "Kyiv"][i % 4]
        );
    }
    std::fs::write(&file, text).unwrap();
    let mut ws = Workspace::open(&d.path().join("ws")).unwrap();
    // A budget far below the table's size: it streams in and is paged from disk.
    ws.set_memory_budget(256 << 10);
    ws.import(
        &file,
        "big",
        &kiln_core::ImportOptions::default(),
        &kiln_core::Cancel::new(),
        &kiln_core::Progress::new(),
    )
    .unwrap();
    let mut h = harness_on(ws);
    settle(&mut h);
    assert!(table_view(&h).is_paged());
    h.get_by_label_contains("Larger than the memory budget");
    h.get_by_label_contains(&format!("{rows} rows × 3 columns"));
    // The first rows were read with the footer: no wait.

    // Scroll far down: the rows there are read from their row group, off the UI thread.
    let cell = h.get_all_by_label("Kyiv").next().unwrap().rect().center();
    h.hover_at(cell);
    h.event(egui::Event::MouseWheel {
        unit: egui::MouseWheelUnit::Point,
        delta: egui::vec2(0.0, -20.0 * 150_000.0),
        phase: egui::TouchPhase::Move,
        modifiers: egui::Modifiers::NONE,
        source: egui::MouseWheelSource::Wheel,
    });
    let shown_ids = |h: &Harness<'_, KilnApp>| -> Vec<usize> {
        h.query_all(By::new().predicate(|n| {
            n.label()
                .or_else(|| n.value())
                .and_then(|l| l.parse::<usize>().ok())
                .is_some()
        }))
        .filter_map(|n| {
            use egui_kittest::kittest::NodeT as _;
            let a = n.accesskit_node();
            a.label().or_else(|| a.value())
        })
        .filter_map(|l| l.parse::<usize>().ok())
        .collect()
    };
    // Each row shows its position and its id (equal here): a row is there when both are, and no cell
    // is still waiting for its row group.
    let loaded_far_rows = |h: &Harness<'_, KilnApp>| {
        let ids = shown_ids(h);
        let far = ids
            .iter()
            .filter(|&&i| {
                i > kiln_core::data::ROW_GROUP && ids.iter().filter(|&&j| j == i).count() >= 2
            })
            .count();
        far >= 20 && h.query_all_by_label("…").next().is_none()
    };
    let start = Instant::now();
    while !loaded_far_rows(&h) {
        assert!(
            start.elapsed() < Duration::from_mins(1),
            "rows never arrived: {:?}",
            shown_ids(&h)
        );
        h.step();
        std::thread::sleep(Duration::from_millis(5));
    }
    h.run_steps(30);
    assert!(loaded_far_rows(&h));
    screenshot(&mut h, "data-paged");
    // End shows the last rows (the body keeps its place in rows, not in pixels, so the end of a
    // table of hundreds of millions of rows is as reachable as its start); Home goes back.
    h.key_press(egui::Key::End);
    let last = (rows - 1).to_string();
    let start = Instant::now();
    while h.query_all_by_label(&last).count() < 2 {
        assert!(
            start.elapsed() < Duration::from_mins(1),
            "the last row never showed"
        );
        h.step();
        std::thread::sleep(Duration::from_millis(5));
    }
    h.key_press(egui::Key::Home);
    h.run_steps(3);
    assert!(h.query_all_by_label(&last).next().is_none());
    assert!(
        h.query_all_by_label("0").count() >= 2,
        "row 0: its # and its id"
    );

    // Sort by a header click: streamed into a paged result, smallest x first.
    h.get_by_label("x").click();
    settle(&mut h);
    let sorted = table_view(&h);
    assert!(sorted.is_paged());
    assert_eq!(sorted.height(), rows);
    let first = sorted.rows(0, 3).unwrap();
    let xs = first.column("x").unwrap().i64().unwrap();
    assert_eq!(xs.get(0), Some(0));
    assert!(xs.get(1) <= xs.get(2));

    // A filter streams too, and counts its rows.
    h.get_by_label("Filter").focus();
    h.get_by_label("Filter")
        .type_text("city = 'Lima' AND x < 50000");
    h.get_by_label("Apply").click();
    settle(&mut h);
    let want = (0..rows)
        .filter(|i| i % 4 == 1 && (i * 7919) % 100_003 < 50_000)
        .count();
    h.get_by_label_contains(&format!("{want} of {rows} rows"));
    let view = table_frame(&h);
    assert!(
        view.column("city")
            .unwrap()
            .str()
            .unwrap()
            .iter()
            .all(|c| c == Some("Lima"))
    );
    let xs = view.column("x").unwrap().i64().unwrap();
    assert!(xs.iter().flatten().is_sorted(), "still sorted by x");

    // Statistics cover every row in one streaming pass.
    h.get_by_label("Stats").click();
    h.step();
    settle(&mut h);
    // The count of each of the three columns (and the distinct ids and x values) is the filter's.
    assert_eq!(h.get_all_by_label(&want.to_string()).count(), 5);

    // The Label room holds a window of the version at a time, read from the row groups that hold it.
    h.get_by_label("Label").click();
    h.run_steps(2);
    h.get_by_label("Start labeling").click();
    settle(&mut h);
    let window_start = |h: &Harness<'_, KilnApp>| -> usize {
        use egui_kittest::kittest::NodeT as _;
        let node = h.get_by_label_contains("this version is larger than the memory budget");
        let a = node.accesskit_node();
        let text = a.label().or_else(|| a.value()).unwrap_or_default();
        let rest = text.strip_prefix("Rows #").unwrap();
        rest[..rest.find('–').unwrap()].parse::<usize>().unwrap()
    };
    assert_eq!(window_start(&h), 0);
    h.get_by_label_contains(&format!(
        "of {rows} (numbered as in the Data room): this version"
    ));
    // The window's bars count the window; the whole version's committed labels are counted apart.
    let all = rows.to_string();
    let all = all
        .as_bytes()
        .rchunks(3)
        .rev()
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect::<Vec<_>>()
        .join(",");
    h.get_by_label(&format!(
        "In the whole version, {all} of {all} rows have a committed label."
    ));
    h.get_by_label("Next rows >").click();
    settle(&mut h);
    let start = window_start(&h);
    assert!(start > 0 && start < rows, "{start}");
    // A class key labels the window's first row, saved in the draft by its row id.
    h.key_press(egui::Key::Num1);
    h.run_steps(3);
    h.get_by_label_contains("1 label(s) saved in the draft");
    screenshot(&mut h, "label-paged");
    {
        use egui_kittest::kittest::NodeT as _;
        let find = h.get_by_label("Find suspect labels");
        assert!(
            find.accesskit_node().is_disabled(),
            "cross-validation would hold the whole version"
        );
    }
    // Go to a row of another window by its id: the room finds the window that holds it.
    let far = rows as u64 - 5;
    h.get_by_label("Go to row").focus();
    h.get_by_label("Go to row").type_text(&far.to_string());
    h.key_press(egui::Key::Enter);
    settle(&mut h);
    let held = window_start(&h);
    assert!(held > start, "{held}");
    h.get_by_label_contains(&format!("Rows #{held}–#{} of {rows}", rows - 1));
    let ws = Workspace::open(&d.path().join("ws")).unwrap();
    let drafts = ws.drafts(&ws.resolve("big@1").unwrap(), "city").unwrap();
    assert_eq!(drafts.len(), 1, "the drafts of other windows stay");
    assert_eq!(drafts[0].0, start as u64, "{drafts:?}");
}
