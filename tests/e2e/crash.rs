//! kill -9 in the middle of an import: the next start shows no partial version and no half file.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use kiln_core::{Cancel, ImportOptions, Progress, Workspace};

const CHILD_ENV: &str = "KILN_E2E_CRASH_CHILD";

/// Runs only inside the child process the crash test starts (this same test binary, re-executed).
#[test]
fn crash_child_import() {
    let Ok(spec) = std::env::var(CHILD_ENV) else {
        return; // in a normal run this is the parent's helper, not a test of its own
    };
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
    let d = tempfile::tempdir().unwrap();
    let ws = d.path().join("ws");
    let csv = d.path().join("big.csv");
    write_csv(&csv, 1_500_000);
    drop(Workspace::open(&ws).unwrap());

    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "crash::crash_child_import", "--nocapture"])
        .env(CHILD_ENV, format!("{}|{}", ws.display(), csv.display()))
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
    assert_eq!(ws.store().integrity_check().unwrap(), "ok");
    let objects: Vec<_> = crate::support::tree(&ws.root().join("objects"));
    assert!(objects.is_empty(), "{objects:?}");
}
