//! The Monitor room: serving health, drift of two versions and of served inputs.

use egui_kittest::kittest::{By, Queryable};
use kiln_core::Workspace;

use super::support::{harness, screenshot, settle};

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
            replica: Some(format!("web-{}:8080", i % 2 + 1)),
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
    // No inputs were logged: the served drift (the default) says so in place.
    h.get_by_label_contains("has no logged inputs");
    h.get_by_label("Two dataset versions").click();
    h.run_steps(2);
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
    // Two servers logged to this workspace: each one with its share.
    h.get_by_label("penguin-id is answered by 2 servers:");
    h.get_by_label("web-1:8080");
}

#[test]
fn monitor_compares_what_a_model_is_served_with_what_it_trained_on() {
    let (_d, ws_dir) = crate::release::release_workspace();
    // Served inputs unlike the training rows: heavy birds with long flippers, all from one island.
    let mut ws = Workspace::open(&ws_dir).unwrap();
    let rows: Vec<kiln_core::ServedRequestRecord> = (0..60)
        .map(|i| kiln_core::ServedRequestRecord {
            at: kiln_core::serving::now(),
            model: "penguin-id".into(),
            version: Some(2),
            endpoint: "/v1/predict".into(),
            status: 200,
            latency_ms: 0.4,
            prediction_id: Some(format!("p{i}")),
            class: Some("Gentoo".into()),
            replica: None,
            features: Some(
                serde_json::json!({
                    "island": "Biscoe",
                    "bill_length_mm": 48.0 + f64::from(i % 7),
                    "bill_depth_mm": 14.0 + f64::from(i % 3) / 2.0,
                    "flipper_length_mm": 215 + i % 9,
                    "body_mass_g": 5200 + 25 * (i % 11),
                    "sex": if i % 2 == 0 { "male" } else { "female" },
                    "year": 2009,
                })
                .to_string(),
            ),
        })
        .collect();
    ws.log_served(&rows).unwrap();
    drop(ws);
    let mut h = harness(&ws_dir);
    settle(&mut h);
    h.get_by_label("Monitor").click();
    settle(&mut h);
    settle(&mut h);
    // The default: the served model's inputs of the last day against the rows it trained on.
    h.get(By::new().label("Model").value("penguin-id"));
    h.get(By::new().label("Inputs served").value("in the last day"));
    h.get_by_label("the data drifted");
    let room = h
        .state()
        .room::<kiln_app::gui::monitor::MonitorRoom>()
        .unwrap();
    let d = room.drift.as_ref().expect("drift computed on its own");
    assert_eq!(
        d.current,
        "inputs penguin-id was served in the last day (60 requests)"
    );
    assert!(
        d.reference
            .starts_with("what penguin-id v2 trained on (penguins@2, "),
        "{}",
        d.reference
    );
    assert_eq!(d.report.current_rows, 60);
    assert!(
        d.report
            .columns
            .iter()
            .any(|c| c.name == "body_mass_g" && c.drifted)
    );
    assert!(
        d.report.columns.iter().all(|c| c.name != "species"),
        "the target is not an input"
    );
    screenshot(&mut h, "monitor-served");
    // Another window: since the last release (no release yet: every request).
    h.get_by_label("Inputs served").click();
    h.run_steps(2);
    h.get_by_label("since the last release").click();
    settle(&mut h);
    let room = h
        .state()
        .room::<kiln_app::gui::monitor::MonitorRoom>()
        .unwrap();
    assert_eq!(
        room.drift.as_ref().unwrap().current,
        "inputs penguin-id was served since the last release (60 requests)"
    );
    // A server in another process answers ten more: the health shows them within 2 s.
    let more: Vec<kiln_core::ServedRequestRecord> = rows[..10].to_vec();
    let start = std::time::Instant::now();
    Workspace::open(&ws_dir).unwrap().log_served(&more).unwrap();
    let requests = |h: &egui_kittest::Harness<'_, kiln_app::gui::KilnApp>| {
        let room = h
            .state()
            .room::<kiln_app::gui::monitor::MonitorRoom>()
            .unwrap();
        room.health.as_ref().map(|x| x[0].requests)
    };
    while requests(&h) != Some(70) {
        assert!(
            start.elapsed() < std::time::Duration::from_secs(2),
            "the served requests of another process did not show within 2 s"
        );
        h.step();
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

/// A shadow served beside the champion shows in the Monitor room: the sentence with the agreement, the
/// shadow's latency, its failures and the copies dropped, and the answers that differ.
#[test]
fn monitor_shows_the_shadow_beside_the_champion() {
    let (_d, ws_dir) = crate::release::release_workspace();
    let mut ws = Workspace::open(&ws_dir).unwrap();
    let served: Vec<kiln_core::ServedRequestRecord> = (0..10)
        .map(|i| kiln_core::ServedRequestRecord {
            at: kiln_core::serving::now(),
            model: "penguin-id".into(),
            version: Some(1),
            endpoint: "/v1/predict".into(),
            status: 200,
            latency_ms: 1.0,
            prediction_id: Some(format!("p{i}")),
            class: Some("Adelie".into()),
            features: None,
            replica: None,
        })
        .collect();
    ws.log_served(&served).unwrap();
    // Nine answered (one differently), one failed, and three copies dropped.
    let mut shadow: Vec<kiln_core::shadow::ShadowAnswer> = (0..10)
        .map(|i| kiln_core::shadow::ShadowAnswer {
            at: kiln_core::serving::now(),
            model: "penguin-id".into(),
            champion_version: 1,
            shadow_version: 2,
            prediction_id: Some(format!("p{i}")),
            champion_class: Some("Adelie".into()),
            shadow_class: match i {
                0 => Some("Chinstrap".into()),
                9 => None,
                _ => Some("Adelie".into()),
            },
            latency_ms: f64::from(i),
            error: (i == 9).then(|| "the model cannot read these rows".to_owned()),
            dropped: 0,
        })
        .collect();
    shadow.push(kiln_core::shadow::ShadowAnswer {
        prediction_id: None,
        champion_class: None,
        shadow_class: None,
        error: None,
        dropped: 3,
        ..shadow[0].clone()
    });
    ws.log_shadow(&shadow).unwrap();
    drop(ws);
    let mut h = harness(&ws_dir);
    settle(&mut h);
    h.get_by_label("Monitor").click();
    settle(&mut h);
    h.get_by_label("penguin-id: shadow");
    h.get_by_label_contains(
        "The shadow (v2) agreed with the champion (v1) on 88.9 % of 9 requests",
    );
    h.get_by_label_contains("agrees 88.9% (95% CI");
    h.get_by_label("1 failed");
    h.get_by_label("3 dropped");
    h.get_by_label("champion Adelie · shadow Chinstrap: 1");
    h.get_by_label_contains("last failure: the model cannot read these rows");
    screenshot(&mut h, "monitor-shadow");
}
