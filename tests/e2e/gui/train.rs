//! The Train room: live curves, sweeps, stop and resume, a CNN on an image folder.

use egui_kittest::Harness;
use egui_kittest::kittest::{By, Queryable};
use kiln_app::gui::KilnApp;
use kiln_app::gui::train::TrainCommand;
use kiln_core::RunStatus;
use std::path::Path;
use std::time::{Duration, Instant};

use super::support::{harness, live, screenshot, settle, wait_for};

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
