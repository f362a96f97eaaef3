//! The window shell: navigation, the command palette, and following what other processes do.

use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use kiln_app::gui::KilnApp;
use kiln_app::gui::data::DataRoom;
use kiln_core::Workspace;
use std::time::{Duration, Instant};

use super::support::{harness, screenshot, settle, wait_for};

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
    h.get_by_label_contains("No model has been served yet");
    h.get_by_label("Two dataset versions").click();
    h.run_steps(2);
    h.get_by_label_contains("Drift compares two dataset versions");
    h.get_by_label("Runs").click();
    h.run_steps(2);
    h.get_by_label_contains("No training runs yet");
    h.get_by_label("Models & Releases").click();
    settle(&mut h);
    h.get_by_label("No models yet");
    h.get_by_label("New model brief");
    h.get_by_label_contains("Data").click();
    h.run_steps(2);
    h.get_by_label_contains("Import a dataset");
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

#[test]
fn a_pm_starts_with_a_brief_and_the_app_follows_the_command_line() {
    let d = tempfile::tempdir().unwrap();
    let ws_dir = crate::support::penguins_workspace(d.path());
    let kiln = |args: &[&str]| {
        let r = crate::support::kiln(&ws_dir, args);
        assert_eq!(r.code, 0, "{args:?}: {}", r.stderr);
    };
    kiln(&["users", "add", "pat", "--role", "admin", "--by", "pat"]);
    let mut h = harness(&ws_dir);
    settle(&mut h);
    h.get_by_label("Models & Releases").click();
    settle(&mut h);
    h.get_by_label("No models yet");
    // Product initiation before any model: the brief, its targets and its evaluation data.
    h.get_by_label("New model brief").click();
    h.run_steps(2);
    for (field, text) in [
        ("Model name", "penguin id"),
        ("Problem", "Tell the species from body measurements"),
        ("Owner", "pat"),
        ("Product metric", "field notes filed without an expert"),
        ("Success targets (one per line)", "accuracy>=0.9"),
    ] {
        h.get_by_label(field).focus();
        h.get_by_label(field).type_text(text);
        h.run_steps(1);
    }
    h.get_by_label("Evaluation data").click();
    h.run_steps(2);
    h.get_by_label("penguins@1").click();
    h.run_steps(2);
    // A name the registry refuses: the reason shows, the form stays with what was typed.
    h.get_by_label("Create the brief").click();
    settle(&mut h);
    wait_for(&mut h, "invalid model name `penguin id`");
    h.get_by_label("New model brief");
    let form = |h: &mut Harness<'_, KilnApp>| {
        h.state_mut()
            .room_mut::<kiln_app::gui::release::ReleaseRoom>()
            .unwrap()
            .view_mut()
            .new_brief
            .clone()
    };
    let typed = form(&mut h).expect("the form is still open");
    assert_eq!(typed.problem, "Tell the species from body measurements");
    h.state_mut()
        .room_mut::<kiln_app::gui::release::ReleaseRoom>()
        .unwrap()
        .view_mut()
        .new_brief
        .as_mut()
        .unwrap()
        .model = "penguin-id".into();
    h.run_steps(2);
    screenshot(&mut h, "release-new-brief");
    h.get_by_label("Create the brief").click();
    settle(&mut h);
    wait_for(&mut h, "waiting for a first version");
    assert!(
        form(&mut h).is_none(),
        "the form closed once the model showed"
    );
    h.get_by_label("Tell the species from body measurements");
    {
        let ws = Workspace::open(&ws_dir).unwrap();
        let b = ws.brief("penguin-id").unwrap();
        assert_eq!(b.eval_dataset.as_deref(), Some("penguins@1"));
        assert_eq!(b.targets.len(), 1);
        assert_eq!(b.owner, "pat");
    }
    // Another process writes a brief: it shows within 2 s, the model picked stays picked.
    let start = Instant::now();
    kiln(&[
        "models",
        "brief",
        "ticket-router",
        "--problem",
        "Route support tickets",
        "--by",
        "pat",
    ]);
    while h.query_by_label_contains("ticket-router").is_none() {
        assert!(
            start.elapsed() < Duration::from_secs(2),
            "the brief written from the command line did not show within 2 s"
        );
        h.step();
        std::thread::sleep(Duration::from_millis(10));
    }
    h.get_by_label("Tell the species from body measurements");
    // A version imported from the command line shows in the Data room's list, the open one stays open.
    h.get_by_label("Data  (1)").click();
    settle(&mut h);
    let open = |h: &Harness<'_, KilnApp>| {
        let data = h.state().room::<DataRoom>().unwrap();
        let v = data.controller().current.version.clone().unwrap();
        (v.dataset, v.version)
    };
    assert_eq!(open(&h), ("penguins".to_owned(), 1));
    h.get_by_label("evaluation data of penguin-id");
    let start = Instant::now();
    crate::support::iris(&ws_dir);
    while h.query_by_label_contains("iris").is_none() {
        assert!(
            start.elapsed() < Duration::from_secs(2),
            "the import from the command line did not show within 2 s"
        );
        h.step();
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(open(&h), ("penguins".to_owned(), 1));
}
