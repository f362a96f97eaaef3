//! The Models & Releases room: approval, Try it, drawing a digit.

use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use kiln_app::gui::KilnApp;
use kiln_core::Workspace;

use super::support::{harness, screenshot, settle, wait_for};

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
    // Below the request's evidence: scrolled to (the scroll animates over some frames).
    h.get_by_label("Approve").scroll_to_me();
    h.run_steps(30);
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
    // With v1 as a shadow beside the new champion.
    h.get_by_label("with shadow");
    h.state_mut()
        .room_mut::<kiln_app::gui::release::ReleaseRoom>()
        .unwrap()
        .view_mut()
        .serve_shadow = Some(1);
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
    let body: serde_json::Value =
        serde_json::from_str(answer.split("\r\n\r\n").nth(1).unwrap()).unwrap();
    assert_eq!(body["shadow"]["version"], 1, "{body}");
    h.get_by_label("(shadow v1)");
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
    kiln(&["users", "add", "pat", "--role", "admin", "--by", "pat"]);
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

/// A release request whose brief asks for serving targets shows the capacity run in words, the latency
/// against the rate (held and missed steps, the targets), the failed throughput gate, and a button to
/// measure again.
#[test]
fn the_request_shows_the_capacity_run_with_its_plot_and_gates() {
    let (_d, ws_dir) = crate::release::release_workspace();
    crate::qa::serving_brief(
        &ws_dir,
        &["accuracy>=0.3", "throughput_rps>=150", "p99_ms<=50"],
    );
    let r = crate::qa::capacity(
        &ws_dir,
        &["--debug-delay-ms", "10", "--max-steps", "4", "--json"],
    )
    .json();
    // The sentence the command printed, as the room words it: its first clause.
    let sentence = r["sentence"]
        .as_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    crate::release::request(&ws_dir, "2", "sam");
    let mut h = harness(&ws_dir);
    settle(&mut h);
    wait_for(&mut h, "Models & Releases  (1)");
    h.get_by_label("Models & Releases  (1)").click();
    settle(&mut h);
    h.get_by_label("Serving capacity");
    assert!(sentence.starts_with("v2 held"), "{sentence}");
    assert!(sentence.ends_with("(needed: 150)") || sentence.ends_with("150 requests/s)"));
    h.get_by_label_contains(&sentence);
    h.get_by_label_contains("slowed on purpose by 10 ms");
    assert!(h.query_all_by_label("throughput_rps ≥ 150").count() >= 1);
    assert!(h.query_all_by_label("FAIL").count() >= 1);
    h.get_by_label("Measure again");
    h.get_by_label("Serving capacity").scroll_to_me();
    h.run_steps(30);
    screenshot(&mut h, "release-capacity");
}

/// A release request filed while the champion has logged production traffic shows the replay: the
/// sentence, the answers that change, who was right where a label came back; a disagreeing request opens
/// in *Try it*, where the two versions answer it as the replay said.
#[test]
fn the_request_shows_the_replay_and_opens_a_disagreement_in_try_it() {
    let (_d, ws_dir) = crate::release::release_workspace();
    crate::release::approve_first_version(&ws_dir);
    let t = crate::release::log_champion_traffic(&ws_dir);
    let (_, report) = crate::release::request(&ws_dir, "2", "sam");
    let replay = &report["replay"];
    let first = &replay["disagreements"][0];
    let mut h = harness(&ws_dir);
    settle(&mut h);
    wait_for(&mut h, "Models & Releases  (1)");
    h.get_by_label("Models & Releases  (1)").click();
    settle(&mut h);
    // The path: nothing in dev, v2 in QA (the request put it there), v1 in production.
    h.get_by_label("dev: none");
    h.get_by_label("QA v2");
    h.get_by_label("production v1");
    h.get_by_label("Production traffic");
    h.get_by_label_contains(&format!(
        "On {} requests served since 2026-12-01, the candidate (v2) agrees with the champion (v1) on",
        t.by_champion.len()
    ));
    h.get_by_label_contains("Answers that change");
    h.get_by_label_contains("whose label came back");
    let n = replay["requests"].as_u64().unwrap() - replay["agreed"].as_u64().unwrap();
    let list = format!("Requests they answer differently ({n})");
    h.get_by_label(&list);
    h.get_by_label("Production traffic").scroll_to_me();
    h.run_steps(30);
    screenshot(&mut h, "release-replay");
    h.query_all_by_label("Open in Try it")
        .next()
        .unwrap()
        .click();
    settle(&mut h);
    h.get_by_label("Edited row");
    let refusal = h
        .state()
        .room::<kiln_app::gui::release::ReleaseRoom>()
        .unwrap()
        .controller()
        .refusal
        .clone();
    assert_eq!(refusal, None);
    let tried = room_tried(&h);
    assert_eq!(tried.rows.len(), 1);
    let answer = |version: i64| {
        let (_, classes, probs) = tried
            .versions
            .iter()
            .find(|(v, _, _)| *v == version)
            .unwrap();
        classes[kiln_core::best_class(&probs[0])].clone()
    };
    assert_eq!(answer(1), first["champion"].as_str().unwrap());
    assert_eq!(answer(2), first["candidate"].as_str().unwrap());
}
