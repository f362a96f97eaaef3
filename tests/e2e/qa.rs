//! The QA stage before production: serving capacity as a release gate (a real `kiln serve` process
//! driven at constant rates), made slow on purpose to see the gate find the rate where latency gives way.

use std::path::Path;

use crate::release::{ok, refused, release_workspace, request};
use crate::support::{child_arg, kiln};

const CHILD: &str = "KILN_E2E_KILN_CHILD";

/// The `kiln` program a capacity run starts, played by this test binary: it runs the arguments after
/// `--` as `kiln` does, until it is stopped.
#[test]
fn kiln_child() {
    if child_arg(CHILD).is_none() {
        return;
    }
    let args: Vec<String> = std::env::args().skip_while(|a| a != "--").skip(1).collect();
    let code = kiln_app::cli::run_args(args, &mut std::io::stdout(), &mut std::io::stderr());
    std::process::exit(code);
}

/// `--server-command` that starts this test binary as `kiln` (see [`kiln_child`]).
fn server_command() -> String {
    serde_json::to_string(&[
        "env".to_owned(),
        format!("{CHILD}=1"),
        std::env::current_exe().unwrap().display().to_string(),
        "--exact".into(),
        "qa::kiln_child".into(),
        "--nocapture".into(),
        "--".into(),
    ])
    .unwrap()
}

pub fn capacity(ws: &Path, extra: &[&str]) -> crate::support::Run {
    let command = server_command();
    let mut args = vec![
        "release",
        "capacity",
        "penguin-id",
        "--version",
        "2",
        "--seconds",
        "1",
        "--server-command",
        &command,
        "--by",
        "sam",
    ];
    args.extend_from_slice(extra);
    kiln(ws, &args)
}

pub fn serving_brief(ws: &Path, targets: &[&str]) {
    let mut args = vec!["models", "brief", "penguin-id", "--by", "pat"];
    for t in targets {
        args.extend(["--target", t]);
    }
    ok(&kiln(ws, &args));
}

/// A server that needs 10 ms of model time per row holds at most 100 requests/s: asked for 150 with a
/// p99 of 50 ms, the run misses 150, finds a lower rate it holds, and narrows the gap; the throughput gate
/// fails with the rate held, the result is kept on the version (the release request carries it, the
/// audit log records it), and a version never measured fails its serving gates saying so.
#[test]
fn a_capacity_run_finds_where_a_slow_server_gives_way_and_its_gate_fails() {
    let (_d, ws) = release_workspace();
    serving_brief(
        &ws,
        &[
            "accuracy>=0.3",
            "throughput_rps>=150",
            "p99_ms<=50",
            "memory_mb<=4096",
        ],
    );
    // Not measured yet: the serving gates fail and say what to do.
    let (_, report) = request(&ws, "2", "sam");
    let gates = report["gates"].as_array().unwrap();
    let throughput = gates
        .iter()
        .find(|g| g["gate"].as_str().unwrap().starts_with("throughput_rps"))
        .unwrap();
    assert_eq!(throughput["passed"], false);
    assert!(
        throughput["gate"]
            .as_str()
            .unwrap()
            .contains("not measured"),
        "{throughput}"
    );

    let r = capacity(
        &ws,
        &["--debug-delay-ms", "10", "--max-steps", "6", "--json"],
    )
    .json();
    let steps = r["steps"].as_array().unwrap();
    assert!(steps.len() >= 3, "{r}");
    assert_eq!(
        steps[0]["rate"], 150.0,
        "the first step is the brief's rate"
    );
    let held = |s: &serde_json::Value| {
        s["errors"] == 0
            && s["achieved_rate"].as_f64().unwrap() >= 0.99 * s["rate"].as_f64().unwrap()
            && s["p99_ms"].as_f64().unwrap() <= 50.0
    };
    assert!(!held(&steps[0]), "150/s held at 10 ms a row: {r}");
    let max_held = r["max_rate_held"].as_f64().expect("some rate held");
    // 10 ms a row: never more than 100 requests/s.
    assert!(max_held > 0.0 && max_held <= 100.0, "{max_held}");
    for s in steps {
        let rate = s["rate"].as_f64().unwrap();
        if rate > max_held {
            assert!(!held(s), "{rate}/s held above the rate reported: {r}");
        }
        if (rate - max_held).abs() < 1e-9 {
            assert!(held(s), "{r}");
        }
    }
    // Where it gives way, latency crossed the target (the queue grew), not only the rate.
    let first_missed_above = steps
        .iter()
        .filter(|s| s["rate"].as_f64().unwrap() > max_held)
        .min_by(|a, b| {
            a["rate"]
                .as_f64()
                .unwrap()
                .total_cmp(&b["rate"].as_f64().unwrap())
        })
        .unwrap();
    assert!(
        first_missed_above["p99_ms"].as_f64().unwrap() > 50.0
            || first_missed_above["achieved_rate"].as_f64().unwrap()
                < 0.99 * first_missed_above["rate"].as_f64().unwrap(),
        "{first_missed_above}"
    );
    assert!(r["peak_memory_mb"].as_f64().unwrap() > 1.0, "{r}");
    assert_eq!(r["debug_delay_ms"], 10);
    let gate = |name: &str| {
        r["gates"]
            .as_array()
            .unwrap()
            .iter()
            .find(|g| g["gate"].as_str().unwrap().starts_with(name))
            .cloned()
            .unwrap()
    };
    assert_eq!(gate("throughput_rps")["passed"], false);
    assert_eq!(gate("throughput_rps")["value"], r["max_rate_held"]);
    assert_eq!(gate("memory_mb")["passed"], true);
    // p99 at the needed 150/s, which the slow server missed.
    assert_eq!(gate("p99_ms")["passed"], false);

    // Kept: the release request judges on it, the audit log has it.
    let (_, report) = request(&ws, "2", "sam");
    assert_eq!(report["gates_passed"], false);
    assert_eq!(report["capacity"]["max_rate_held"], r["max_rate_held"]);
    let audit = kiln(&ws, &["audit", "log", "--json"]).json();
    assert!(
        audit.to_string().contains("release.capacity"),
        "no capacity row in the audit log"
    );
    // Version 1 was never measured.
    let (_, v1) = request(&ws, "1", "sam");
    assert!(
        v1["gates"]
            .as_array()
            .unwrap()
            .iter()
            .any(|g| g["passed"] == false && g["gate"].as_str().unwrap().contains("not measured")),
        "{v1}"
    );
}

/// A server that cannot start (its weights no longer match the run's record) is a clear message naming
/// the server's own reason, and nothing is recorded; a rate or a command that makes no sense is refused.
#[test]
fn a_capacity_run_whose_server_cannot_start_says_why_and_records_nothing() {
    let (_d, ws) = release_workspace();
    serving_brief(&ws, &["throughput_rps>=50"]);
    let w = kiln_core::Workspace::open(&ws).unwrap();
    let run = w.resolve_model("penguin-id", "2").unwrap().1;
    let weights = ws.join(w.run(run).unwrap().artifacts["weights"].as_str().unwrap());
    drop(w);
    let mut bytes = std::fs::read(&weights).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&weights, bytes).unwrap();
    let before = kiln(&ws, &["audit", "log", "--json"]).stdout;
    refused(&capacity(&ws, &[]), "did not start");
    let r = capacity(&ws, &[]);
    assert!(r.stderr.contains("does not match"), "{}", r.stderr);
    refused(
        &kiln(
            &ws,
            &[
                "release",
                "capacity",
                "penguin-id",
                "--version",
                "2",
                "--server-command",
                "[\"/nonexistent/kiln\"]",
            ],
        ),
        "cannot start the server",
    );
    refused(
        &kiln(
            &ws,
            &[
                "release",
                "capacity",
                "penguin-id",
                "--version",
                "2",
                "--server-command",
                "kiln serve",
            ],
        ),
        "JSON array",
    );
    refused(&capacity(&ws, &["--rate", "0"]), "positive rate");
    assert_eq!(kiln(&ws, &["audit", "log", "--json"]).stdout, before);
    refused(
        &kiln(
            &ws,
            &[
                "models",
                "brief",
                "penguin-id",
                "--target",
                "p99_ms<=0",
                "--by",
                "pat",
            ],
        ),
        "positive number",
    );
}
