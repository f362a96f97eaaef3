//! Schedules driven by a fake clock: a due pull runs once however many windows were missed, a claimed
//! schedule is not run twice, a failure is recorded and retried at the next window, and a chain from a
//! pull through a derived dataset to a retraining and a release request completes in one pass.

use chrono::{Duration, TimeZone, Utc};
use kiln_core::schedule::Job;
use kiln_core::{Cancel, Workspace};

use crate::release::{ok, release_workspace_from};
use crate::support::kiln;

fn t0() -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 7, 9, 0, 0).unwrap()
}

/// The ids and statuses of what `run_due` ran.
fn ran(ws: &mut Workspace, now: chrono::DateTime<Utc>) -> Vec<(i64, String)> {
    ws.run_due(now, "test-scheduler", &Cancel::new())
        .unwrap()
        .into_iter()
        .map(|(id, r)| (id, r.map_or_else(|e| format!("error: {e}"), |r| r.status)))
        .collect()
}

#[test]
fn a_pull_schedule_runs_once_per_window_is_claimed_and_retries_after_a_failure() {
    let d = tempfile::tempdir().unwrap();
    let ws_dir = d.path().join("ws");
    let csv = d.path().join("orders.csv");
    crate::support::orders_with_derived(&ws_dir, &csv, "id,amount\n1,10\n2,20\n", "big");
    let mut ws = Workspace::open(&ws_dir).unwrap();
    let id = ws
        .add_schedule(
            &Job::Pull {
                dataset: "orders".into(),
                every_s: 3600,
            },
            t0(),
        )
        .unwrap();
    // Due at once; nothing changed upstream.
    assert_eq!(ran(&mut ws, t0()), [(id, "unchanged".to_owned())]);
    assert!(
        ran(&mut ws, t0()).is_empty(),
        "not due again in the same window"
    );
    assert!(ran(&mut ws, t0() + Duration::minutes(30)).is_empty());

    // Five windows missed, the source changed: one run, which pulls and derives.
    std::fs::write(&csv, "id,amount\n1,10\n2,20\n3,30\n").unwrap();
    let late = t0() + Duration::hours(5);
    assert_eq!(ran(&mut ws, late), [(id, "done".to_owned())]);
    assert!(ran(&mut ws, late).is_empty());
    let run = &ws.schedule_runs(id, 1).unwrap()[0];
    assert_eq!(run.chain["pulled"], "orders@2");
    assert_eq!(run.chain["derived"][0], "big@2");
    assert_eq!(
        ws.schedules().unwrap()[0].next_at.as_deref(),
        Some("2026-12-07T15:00:00.000Z"),
        "the next window counts from the run"
    );

    // Another scheduler holds it: refused here, run once its claim has lapsed.
    let other = kiln_store::Store::open(&ws_dir.join("kiln.db")).unwrap();
    let at = t0() + Duration::hours(6);
    assert!(
        other
            .claim_schedule(
                id,
                "elsewhere",
                &kiln_core::schedule::iso(at),
                &kiln_core::schedule::iso(at + Duration::minutes(90))
            )
            .unwrap()
    );
    let refused = ran(&mut ws, at);
    assert_eq!(refused.len(), 1);
    assert!(
        refused[0].1.contains("running already (elsewhere"),
        "{refused:?}"
    );
    assert!(
        ws.schedule_runs(id, 10).unwrap().len() == 2,
        "no run recorded for it"
    );
    assert_eq!(
        ran(&mut ws, at + Duration::hours(2)),
        [(id, "unchanged".to_owned())]
    );

    // The source breaks: failed, with the error; retried at the next window, and fine once fixed.
    std::fs::remove_file(&csv).unwrap();
    let broken = t0() + Duration::hours(10);
    assert_eq!(ran(&mut ws, broken), [(id, "failed".to_owned())]);
    let failed = &ws.schedule_runs(id, 1).unwrap()[0];
    assert!(
        failed
            .error
            .as_deref()
            .unwrap_or_default()
            .contains("orders.csv"),
        "{failed:?}"
    );
    assert!(ran(&mut ws, broken + Duration::minutes(10)).is_empty());
    std::fs::write(&csv, "id,amount\n1,10\n2,20\n3,30\n4,40\n").unwrap();
    assert_eq!(
        ran(&mut ws, broken + Duration::hours(1)),
        [(id, "done".to_owned())]
    );
    // A dataset made in the workspace has nothing to pull.
    let r = kiln(
        &ws_dir,
        &["schedule", "add", "pull", "big", "--every", "1h"],
    );
    assert_ne!(r.code, 0);
    assert!(r.stderr.contains("no source to pull from"), "{}", r.stderr);
    let list = kiln(&ws_dir, &["schedule", "list", "--json"]).json();
    assert_eq!(list[0]["job"], "pull orders every 1h");
    assert_eq!(list[0]["last_status"], "done");
}

#[test]
fn a_pull_starts_a_retraining_that_files_a_release_request_and_approves_nothing() {
    let d = tempfile::tempdir().unwrap();
    let csv = d.path().join("penguins.csv");
    std::fs::copy(crate::support::fixture("penguins.csv"), &csv).unwrap();
    let (_w, ws_dir) = release_workspace_from(&csv);
    // v2 becomes champion.
    let id = crate::release::request(&ws_dir, "2", "sam").0.to_string();
    ok(&kiln(
        &ws_dir,
        &["release", "approve", &id, "--by", "pat", "--comment", "ok"],
    ));
    let mut ws = Workspace::open(&ws_dir).unwrap();
    let pull = ws
        .add_schedule(
            &Job::Pull {
                dataset: "penguins".into(),
                every_s: 86_400,
            },
            t0(),
        )
        .unwrap();
    let retrain = ws
        .add_schedule(
            &Job::Retrain {
                model: "penguin-id".into(),
                dataset: "penguins".into(),
            },
            t0(),
        )
        .unwrap();
    // Nothing new yet: the pull finds the file unchanged, the retraining is not due.
    assert_eq!(ran(&mut ws, t0()), [(pull, "unchanged".to_owned())]);

    // New field notes arrive: one pass pulls them, which makes the retraining due, which runs.
    let mut text = std::fs::read_to_string(&csv).unwrap();
    let more: Vec<&str> = text.lines().skip(1).take(30).collect();
    let more = more.join("\n");
    text.push_str(&more);
    text.push('\n');
    std::fs::write(&csv, text).unwrap();
    let next = t0() + Duration::days(1);
    assert_eq!(
        ran(&mut ws, next),
        [(pull, "done".to_owned()), (retrain, "done".to_owned())]
    );
    let chain = &ws.schedule_runs(retrain, 1).unwrap()[0].chain;
    assert_eq!(chain["dataset"], "penguins@3", "{chain}");
    assert_eq!(chain["model_version"], 3);
    let passed = chain["gates_passed"].as_bool().unwrap();
    let pending = kiln(&ws_dir, &["release", "list", "--pending", "--json"]).json();
    if passed {
        assert_eq!(pending[0]["id"], chain["request"], "{pending}");
        assert_eq!(pending[0]["version"], 3);
    } else {
        assert!(chain["request"].is_null());
    }
    // The model's Timeline tells where v3 came from.
    let comments = kiln_store::Store::open(&ws_dir.join("kiln.db"))
        .unwrap()
        .comments("penguin-id")
        .unwrap();
    let said = comments.iter().find(|c| c.version == Some(3)).unwrap();
    assert!(
        said.text.starts_with(&format!("Made by schedule {retrain} (retrain on each new version of penguins): run 3 trained on penguins@3")),
        "{}",
        said.text
    );
    let shown = kiln(&ws_dir, &["models", "show", "penguin-id", "--json"]).json();
    assert_eq!(shown["champion"], 2, "a schedule never approves");
    // Seen: not due again until another new version.
    assert!(ran(&mut ws, next + Duration::hours(1)).is_empty());
}
