//! kill -9 in the middle of an import: the next start shows no partial version and no half file.

//! Each test plays two parts: started normally it is the test, and it starts this same binary again
//! running only itself with an environment variable set; that child does the work that gets killed.

use std::path::Path;
use std::time::{Duration, Instant};

use kiln_core::{Cancel, ImportOptions, Progress, Workspace};

use crate::support::{child_arg, spawn_self};

const CHILD_ENV: &str = "KILN_E2E_CRASH_CHILD";

/// The child's part of the import test: import until killed.
fn import_until_killed(spec: &str) {
    let (ws, csv) = spec.split_once('|').unwrap();
    let mut ws = Workspace::open(Path::new(ws)).unwrap();
    ws.import(
        Path::new(csv),
        "big",
        &ImportOptions::default(),
        &Cancel::new(),
        &Progress::new(),
    )
    .unwrap();
}

fn write_csv(path: &Path, rows: usize) {
    use std::io::Write;
    let mut w = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    writeln!(w, "id,a,b,c,label").unwrap();
    for i in 0..rows {
        writeln!(
            w,
            "{i},{},{}.25,{},class_{}",
            i * 7 % 1000,
            i % 313,
            (i * 31) % 9973,
            i % 10
        )
        .unwrap();
    }
}

fn partial_files(ws: &Path) -> Vec<std::path::PathBuf> {
    std::fs::read_dir(ws.join("objects/tmp"))
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default()
}

#[test]
fn kill_during_import_leaves_no_partial_version() {
    if let Some(spec) = child_arg(CHILD_ENV) {
        return import_until_killed(&spec);
    }
    let d = tempfile::tempdir().unwrap();
    let ws = d.path().join("ws");
    let csv = d.path().join("big.csv");
    write_csv(&csv, 1_500_000);
    drop(Workspace::open(&ws).unwrap());

    let mut child = spawn_self(
        "crash::kill_during_import_leaves_no_partial_version",
        CHILD_ENV,
        &format!("{}|{}", ws.display(), csv.display()),
    )
    .spawn()
    .unwrap();
    // Wait until the child is writing its object file, then kill it (SIGKILL on Unix).
    let start = Instant::now();
    let mut saw_partial = false;
    while start.elapsed() < Duration::from_mins(2) {
        if !partial_files(&ws).is_empty() {
            saw_partial = true;
            break;
        }
        if child.try_wait().unwrap().is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    child.kill().unwrap();
    let status = child.wait().unwrap();
    assert!(
        saw_partial,
        "the child finished before it could be killed mid-write ({status})"
    );
    assert!(!status.success());
    assert!(
        !partial_files(&ws).is_empty(),
        "the kill left a half-written file to clean up"
    );

    let ws = Workspace::open(&ws).unwrap();
    assert!(
        ws.datasets().unwrap().is_empty(),
        "a partial version is visible"
    );
    assert!(
        partial_files(ws.root()).is_empty(),
        "the half-written file was not removed"
    );
    assert_eq!(ws.integrity_check().unwrap(), "ok");
    let objects: Vec<_> = crate::support::tree(&ws.root().join("objects"));
    assert!(objects.is_empty(), "{objects:?}");
}

const DRAFT_CHILD_ENV: &str = "KILN_E2E_DRAFT_CHILD";

/// The child's part of the labeling test: save label keystrokes one by one, reporting each on stdout.
fn label_until_killed(ws: &str) {
    let ws = Workspace::open(Path::new(ws)).unwrap();
    let base = ws.resolve("t").unwrap();
    for row in 0..100_000u64 {
        ws.save_draft(
            &base,
            "label",
            row % 500,
            Some(if row % 2 == 0 { "a" } else { "b" }),
        )
        .unwrap();
        println!("saved {row}");
    }
}

#[test]
fn kill_while_labeling_keeps_every_saved_label() {
    use std::io::BufRead;
    if let Some(ws) = child_arg(DRAFT_CHILD_ENV) {
        return label_until_killed(&ws);
    }
    let d = tempfile::tempdir().unwrap();
    let ws_dir = d.path().join("ws");
    let csv = d.path().join("t.csv");
    write_csv(&csv, 500);
    let mut ws = Workspace::open(&ws_dir).unwrap();
    ws.import(
        &csv,
        "t",
        &ImportOptions::default(),
        &Cancel::new(),
        &Progress::new(),
    )
    .unwrap();
    drop(ws);
    let mut child = spawn_self(
        "crash::kill_while_labeling_keeps_every_saved_label",
        DRAFT_CHILD_ENV,
        ws_dir.to_str().unwrap(),
    )
    .stdout(std::process::Stdio::piped())
    .spawn()
    .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut last_saved = None;
    for line in std::io::BufReader::new(stdout).lines() {
        let line = line.unwrap();
        if let Some(n) = line.strip_prefix("saved ") {
            let n: u64 = n.parse().unwrap();
            last_saved = Some(n);
            if n >= 300 {
                break;
            }
        }
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let last = last_saved.expect("the child saved nothing");
    let ws = Workspace::open(&ws_dir).unwrap();
    let drafts = ws.drafts(&ws.resolve("t").unwrap(), "label").unwrap();
    // Every keystroke reported as saved (rows 0..=last) is in the draft.
    assert!(
        drafts.len() as u64 > last.min(499),
        "{} drafts after {last} saves",
        drafts.len()
    );
    for (row, value) in drafts.iter().take(last as usize + 1) {
        assert_eq!(value.as_deref(), Some(if row % 2 == 0 { "a" } else { "b" }));
    }
    assert_eq!(ws.integrity_check().unwrap(), "ok");
}

const TRAIN_CHILD_ENV: &str = "KILN_E2E_TRAIN_CHILD";

/// The child's part of the training test: a long training run on penguins.
fn train_until_killed(ws: &str) {
    let mut ws = Workspace::open(Path::new(ws)).unwrap();
    let req = crate::support::penguins_request(&crate::support::ENDLESS);
    let _ = ws.train(
        &req,
        &std::sync::atomic::AtomicBool::new(false),
        &mut |_| {},
    );
}

#[test]
fn kill_during_training_leaves_an_interrupted_run_that_resumes() {
    if let Some(ws) = child_arg(TRAIN_CHILD_ENV) {
        return train_until_killed(&ws);
    }
    let d = tempfile::tempdir().unwrap();
    let ws_dir = crate::support::penguins_workspace(d.path());
    let mut child = spawn_self(
        "crash::kill_during_training_leaves_an_interrupted_run_that_resumes",
        TRAIN_CHILD_ENV,
        ws_dir.to_str().unwrap(),
    )
    .spawn()
    .unwrap();
    // Kill once the run has written a checkpoint (every 2 s) and a little more history after it.
    let state = ws_dir.join("checkpoints/run-1/state.json");
    let start = Instant::now();
    while !state.exists() && start.elapsed() < Duration::from_mins(2) {
        assert!(child.try_wait().unwrap().is_none(), "the child ended early");
        std::thread::sleep(Duration::from_millis(10));
    }
    std::thread::sleep(Duration::from_millis(300));
    child.kill().unwrap();
    assert!(!child.wait().unwrap().success());

    let mut ws = Workspace::open(&ws_dir).unwrap();
    assert_eq!(ws.integrity_check().unwrap(), "ok");
    let run = ws.run(1).unwrap();
    assert_eq!(run.status, kiln_core::RunStatus::Interrupted);
    let history = ws.metric_history(1).unwrap();
    let epochs = history.iter().filter(|p| p.name == "train_loss").count();
    let checkpoint = ws.resumable_epoch(1).unwrap();
    assert!(
        checkpoint >= 1 && epochs >= checkpoint,
        "{epochs} epochs logged, checkpoint {checkpoint}"
    );

    // Resume for a few more epochs is not possible (the run's parameters are fixed), so stop it
    // right after it picks up: it must start at the epoch after the checkpoint, with the history
    // after the checkpoint dropped and recorded again.
    let cancel = std::sync::atomic::AtomicBool::new(false);
    let mut first = None;
    let r = ws
        .resume(
            1,
            kiln_train::DeviceChoice::Cpu,
            &cancel,
            &mut |e| match e {
                kiln_train::Event::Start { first_epoch, .. } => first = Some(*first_epoch),
                kiln_train::Event::Epoch { .. } => {
                    cancel.store(true, std::sync::atomic::Ordering::Relaxed);
                }
                kiln_train::Event::Step { .. } => {}
            },
        )
        .unwrap();
    assert_eq!(first, Some(checkpoint + 1));
    assert_eq!(r.status, kiln_core::RunStatus::Stopped);
    let history = ws.metric_history(1).unwrap();
    let epochs: Vec<i64> = history
        .iter()
        .filter(|p| p.name == "train_loss")
        .map(|p| p.step)
        .collect();
    let want: Vec<i64> = (1..=checkpoint as i64 + 1).collect();
    assert_eq!(epochs, want);
    assert_eq!(ws.integrity_check().unwrap(), "ok");
}

const RELEASE_CHILD_ENV: &str = "KILN_E2E_RELEASE_CHILD";

/// The child's part of the release test: request and approve releases, alternating versions, until
/// killed.
fn release_until_killed(ws: &str) {
    let mut ws = Workspace::open(Path::new(ws)).unwrap();
    for i in 0.. {
        let version = 1 + (i % 2);
        let (id, _) = ws
            .request_release("penguin-id", version, "sam", "again")
            .unwrap();
        ws.approve(id, "pat", "ok", None).unwrap();
    }
}

#[test]
fn kill_between_request_and_approval_leaves_a_consistent_release_state() {
    if let Some(ws) = child_arg(RELEASE_CHILD_ENV) {
        return release_until_killed(&ws);
    }
    let (_d, ws) = crate::release::release_workspace();
    let mut child = spawn_self(
        "crash::kill_between_request_and_approval_leaves_a_consistent_release_state",
        RELEASE_CHILD_ENV,
        &ws.display().to_string(),
    )
    .spawn()
    .unwrap();
    let count = |sql: &str| -> i64 {
        let c = rusqlite::Connection::open(ws.join("kiln.db")).unwrap();
        c.query_row(sql, [], |r| r.get(0)).unwrap_or(0)
    };
    let start = Instant::now();
    while count("SELECT COUNT(*) FROM release_requests WHERE status = 'approved'") < 3 {
        assert!(
            start.elapsed() < Duration::from_mins(2),
            "the child made no approvals"
        );
        assert!(
            child.try_wait().unwrap().is_none(),
            "the child ended on its own"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    // Somewhere in the next request/approval cycle.
    std::thread::sleep(Duration::from_millis(u64::from(
        start.elapsed().subsec_nanos() % 97,
    )));
    child.kill().unwrap();
    child.wait().unwrap();

    let ws_ = Workspace::open(&ws).unwrap();
    assert_eq!(ws_.integrity_check().unwrap(), "ok");
    let verify = ws_.audit_verify().unwrap();
    assert!(verify.ok, "{verify:?}");
    let approved = count("SELECT COUNT(*) FROM release_requests WHERE status = 'approved'");
    let requested = count("SELECT COUNT(*) FROM release_requests");
    assert!(
        requested - approved <= 1,
        "at most the request in flight is pending"
    );
    assert_eq!(
        count("SELECT COUNT(*) FROM alias_history WHERE alias = 'champion'"),
        approved,
        "every approval moved the champion, and nothing else did"
    );
    assert_eq!(
        count("SELECT COUNT(*) FROM audit_log WHERE action = 'release.approved'"),
        approved
    );
    assert_eq!(
        count("SELECT COUNT(*) FROM audit_log WHERE action = 'release.requested'"),
        requested
    );
    let last: i64 = count(
        "SELECT version FROM release_requests WHERE status = 'approved' ORDER BY id DESC LIMIT 1",
    );
    let overview = ws_.overview("penguin-id").unwrap();
    assert_eq!(overview.champion, Some(last));
}
