//! The QA stage before production: serving capacity as a release gate (a real `kiln serve` process
//! driven at constant rates), made slow on purpose to see the gate find the rate where latency gives way;
//! shadow serving beside the champion.

use std::path::Path;

use kiln_core::data::polars::prelude::{AnyValue, DataFrame};

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
    // The search: half the missed rate next; then halfway between held and missed (to a tenth).
    assert_eq!(steps[1]["rate"], 75.0, "{r}");
    for w in steps.windows(2).skip(1) {
        let (a, b) = (
            w[0]["rate"].as_f64().unwrap(),
            w[1]["rate"].as_f64().unwrap(),
        );
        assert!(
            (b - a).abs() < a,
            "each step moves by less than the last rate: {r}"
        );
    }
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
    crate::support::damage(&weights);
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

/// `/v1/predict` bodies of one row each: the first `n` rows of the evaluation data (`penguins@2`) with
/// every column but the label and the split, and the rows themselves.
fn penguin_requests(ws: &Path, n: usize) -> (Vec<serde_json::Value>, DataFrame) {
    let w = kiln_core::Workspace::open(ws).unwrap();
    let rows = w.load(&w.resolve("penguins@2").unwrap()).unwrap();
    let inputs: Vec<String> = rows
        .get_column_names()
        .iter()
        .map(ToString::to_string)
        .filter(|c| !["species", "split", kiln_core::data::ROW_ID].contains(&c.as_str()))
        .collect();
    let frame = rows
        .select(inputs.iter().map(String::as_str))
        .unwrap()
        .head(Some(n));
    let mut bodies = Vec::new();
    for i in 0..frame.height() {
        let mut row = serde_json::Map::new();
        for c in frame.columns() {
            let v = match c.get(i).unwrap() {
                AnyValue::Null => serde_json::Value::Null,
                AnyValue::String(s) => serde_json::json!(s),
                other => serde_json::json!(other.extract::<f64>().unwrap()),
            };
            row.insert(c.name().to_string(), v);
        }
        bodies.push(serde_json::json!({ "rows": [row] }));
    }
    (bodies, frame)
}

/// [`penguin_requests`] with the champion's own answer to each.
fn champion_requests(ws: &Path, n: usize) -> (Vec<serde_json::Value>, Vec<String>) {
    let (bodies, frame) = penguin_requests(ws, n);
    let w = kiln_core::Workspace::open(ws).unwrap();
    let run = w.resolve_model("penguin-id", "champion").unwrap().1;
    (bodies, w.predict(run, &frame).unwrap())
}

/// Wait until the shadow's log holds `n` copies (answered, failed or dropped); its summary.
fn shadow_log(ws: &Path, n: u64) -> kiln_core::shadow::ShadowSummary {
    shadow_log_until(ws, |s| (s.compared + s.failures) as u64 + s.dropped >= n)
}

/// Wait (a minute at most) until the shadow's log summed up is `done`; that summary.
fn shadow_log_until(
    ws: &Path,
    done: impl Fn(&kiln_core::shadow::ShadowSummary) -> bool,
) -> kiln_core::shadow::ShadowSummary {
    let start = std::time::Instant::now();
    loop {
        let s = kiln_core::Workspace::open(ws)
            .unwrap()
            .shadow_summary("penguin-id", None)
            .unwrap();
        if done(&s) {
            return s;
        }
        assert!(
            start.elapsed() < std::time::Duration::from_mins(1),
            "the shadow's log never got there: {s:?}"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// A shadow (v2) beside the champion (v1): every client answer is the champion's, byte for byte the
/// same as a server without a shadow; the shadow's answers are logged beside them and agree with the
/// champion exactly where the two versions' own predictions agree. A shadow made slow (20 ms a row) with
/// a queue of two falls behind under load: copies are dropped and counted, and the champion's latency
/// stays that of a server without a shadow.
#[test]
fn a_shadow_never_changes_an_answer_and_its_drops_are_counted() {
    use kiln_serve::loadgen::{LoadPlan, run};
    let (_d, ws) = crate::serve::served_workspace();
    let (bodies, frame) = penguin_requests(&ws, usize::MAX);
    let n = frame.height();
    let w = kiln_core::Workspace::open(&ws).unwrap();
    let run_of = |v: i64| w.resolve_model("penguin-id", &v.to_string()).unwrap().1;
    let (by_v1, by_v2) = (
        w.predict(run_of(1), &frame).unwrap(),
        w.predict(run_of(2), &frame).unwrap(),
    );
    drop(w);
    let expected_agree = by_v1.iter().zip(&by_v2).filter(|(a, b)| a == b).count();
    assert!(expected_agree < by_v1.len(), "v1 and v2 differ somewhere");

    let plain = crate::serve::start(&ws, |_| {});
    let shadowed = crate::serve::start(&ws, |c| c.shadow = Some("2".into()));
    for (i, body) in bodies.iter().enumerate() {
        let (s1, a) = crate::serve::post(plain.addr, "/v1/predict", body);
        let (s2, b) = crate::serve::post(shadowed.addr, "/v1/predict", body);
        assert_eq!((s1, s2), (200, 200));
        assert_eq!(a["version"], 1);
        assert_eq!(a["predictions"][0]["class"], by_v1[i].as_str());
        // The same answer, with or without a shadow (prediction ids aside).
        assert_eq!(a["predictions"][0]["class"], b["predictions"][0]["class"]);
        assert_eq!(
            a["predictions"][0]["probabilities"],
            b["predictions"][0]["probabilities"]
        );
        assert_eq!(b["version"], 1);
    }
    let s = shadow_log(&ws, n as u64);
    assert_eq!(
        (s.compared, s.agreed, s.failures, s.dropped),
        (n, expected_agree, 0, 0),
        "{s:?}"
    );
    assert_eq!((s.champion_version, s.shadow_version), (Some(1), Some(2)));
    let (_, health) = crate::serve::get(shadowed.addr, "/v1/health");
    assert_eq!(health["shadow"]["compared"], n);
    assert_eq!(health["shadow"]["version"], 2);
    shadowed.stop().unwrap();

    // Under load, with a shadow that cannot keep up.
    let slow = crate::serve::start(&ws, |c| {
        c.shadow = Some("2".into());
        c.shadow_queue = 2;
        c.shadow_debug_delay_ms = Some(20);
    });
    let load = |addr: std::net::SocketAddr| {
        run(&LoadPlan {
            url: format!("http://{addr}/v1/predict"),
            bodies: bodies.iter().map(|b| b.to_string().into_bytes()).collect(),
            content_type: "application/json".into(),
            token: None,
            rate: 200.0,
            duration: std::time::Duration::from_secs(2),
            connections: 8,
            give_up_after: None,
        })
        .unwrap()
    };
    let without = load(plain.addr);
    let with = load(slow.addr);
    assert_eq!((without.errors, with.errors), (0, 0));
    assert!(
        with.p50_ms <= without.p50_ms + 5.0
            && with.p99_ms <= (2.0 * without.p99_ms).max(without.p99_ms + 20.0),
        "champion latency with a slow shadow p50 {} / p99 {} ms, without p50 {} / p99 {} ms",
        with.p50_ms,
        with.p99_ms,
        without.p50_ms,
        without.p99_ms
    );
    let (_, health) = crate::serve::get(slow.addr, "/v1/health");
    let dropped = health["shadow"]["dropped"].as_u64().unwrap();
    assert!(dropped > 0, "{health}");
    slow.stop().unwrap();
    // Every copy is accounted for in the log: answered by the shadow or dropped.
    let s = shadow_log(&ws, n as u64 + with.sent);
    assert_eq!(
        (s.compared + s.failures) as u64 + s.dropped,
        n as u64 + with.sent,
        "{s:?}"
    );
    assert!(s.dropped >= dropped, "{s:?}");
    assert!(
        s.sentence()
            .contains("copies were dropped while it was behind")
    );
    let shown = kiln(&ws, &["monitor", "shadow", "penguin-id", "--json"]).json();
    assert_eq!(shown["dropped"], s.dropped);
}

/// A shadow that reads a feature the champion's requests do not carry is refused at start, naming it.
#[test]
fn a_shadow_reading_other_features_is_refused() {
    let (_d, ws) = crate::serve::served_workspace();
    ok(&kiln(
        &ws,
        &[
            "train",
            "--dataset",
            "penguins@2",
            "--target",
            "species",
            "--features",
            "bill_length_mm,bill_depth_mm",
            "--device",
            "cpu",
            "--param",
            "epochs=3",
        ],
    ));
    ok(&kiln(
        &ws,
        &[
            "models",
            "register",
            "--run",
            "3",
            "--name",
            "penguin-id",
            "--by",
            "sam",
        ],
    ));
    let mut c = kiln_serve::ServeConfig::new(ws.clone(), "penguin-id", "3");
    c.addr = "127.0.0.1:0".parse().unwrap();
    c.shadow = Some("2".into());
    let e = kiln_serve::start(c).err().expect("refused");
    let e = e.to_string();
    assert!(
        e.contains("reads features the champion's requests do not carry") && e.contains("`island`"),
        "{e}"
    );
    // The other way round is fine: v2's requests carry everything v3 reads.
    let server = crate::serve::start(&ws, |c| {
        c.alias = "2".into();
        c.shadow = Some("3".into());
    });
    server.stop().unwrap();
    // And from the command line, the same message.
    refused(
        &kiln(
            &ws,
            &[
                "serve",
                "--model",
                "penguin-id@3",
                "--shadow",
                "penguin-id@2",
                "--port",
                "0",
            ],
        ),
        "do not carry",
    );
}

/// `kiln models export` writes the champion as a bundle that serves on its own — the workspace deleted —
/// answering exactly as the workspace's version does; its card names what it was built with. A bundle
/// with a file changed, missing or added is refused by name, and an export into a folder that holds
/// something is refused without writing.
#[test]
fn an_exported_bundle_serves_without_the_workspace_and_a_tampered_one_is_refused() {
    let (d, ws) = crate::serve::served_workspace();
    let (bodies, expected) = champion_requests(&ws, 20);
    let bundle = d.path().join("bundle");
    let info = kiln(
        &ws,
        &[
            "models",
            "export",
            "penguin-id@champion",
            "--out",
            bundle.to_str().unwrap(),
            "--json",
        ],
    )
    .json();
    assert_eq!(
        (info["model"].as_str(), info["version"].as_i64()),
        (Some("penguin-id"), Some(1))
    );
    let card = std::fs::read_to_string(bundle.join("MODEL_CARD.md")).unwrap();
    for needle in [
        "# penguin-id v1",
        "Tell the species",
        "burn 0.22",
        "polars 0.55",
        "trained on: CPU",
    ] {
        assert!(card.contains(needle), "`{needle}` not in the card:\n{card}");
    }
    // Into a folder that holds something: refused, nothing written there.
    let busy = d.path().join("busy");
    std::fs::create_dir_all(&busy).unwrap();
    std::fs::write(busy.join("keep.txt"), "mine").unwrap();
    refused(
        &kiln(
            &ws,
            &[
                "models",
                "export",
                "penguin-id",
                "--out",
                busy.to_str().unwrap(),
            ],
        ),
        "is not empty",
    );
    assert_eq!(std::fs::read_dir(&busy).unwrap().count(), 1);

    // A copy of the bundle in a folder of its own.
    let fresh = |name: &str| {
        let dir = d.path().join(name);
        std::fs::create_dir_all(&dir).unwrap();
        for f in std::fs::read_dir(&bundle).unwrap() {
            let f = f.unwrap();
            std::fs::copy(f.path(), dir.join(f.file_name())).unwrap();
        }
        dir
    };
    // Served on its own: the workspace is gone.
    let copy = fresh("elsewhere");
    std::fs::remove_dir_all(&ws).unwrap();
    let mut c = kiln_serve::ServeConfig::for_bundle(copy.clone());
    c.addr = "127.0.0.1:0".parse().unwrap();
    let server = kiln_serve::start(c).unwrap();
    for (i, body) in bodies.iter().enumerate() {
        let (s, b) = crate::serve::post(server.addr, "/v1/predict", body);
        assert_eq!(s, 200, "{b}");
        assert_eq!(b["version"], 1);
        assert_eq!(b["predictions"][0]["class"], expected[i].as_str());
    }
    let (s, b) = crate::serve::post(
        server.addr,
        "/v1/feedback",
        &serde_json::json!({ "prediction_id": "x", "label": "Adelie" }),
    );
    assert_eq!(s, 404);
    assert!(
        b["error"].as_str().unwrap().contains("without a workspace"),
        "{b}"
    );
    server.stop().unwrap();
    assert!(!ws.exists(), "serving a bundle made no workspace");

    // Tampered: each change refused, naming the file.
    let refuse = |dir: &Path, says: &str| {
        let mut c = kiln_serve::ServeConfig::for_bundle(dir.to_path_buf());
        c.addr = "127.0.0.1:0".parse().unwrap();
        let e = kiln_serve::start(c)
            .err()
            .expect("a tampered bundle is refused")
            .to_string();
        assert!(e.contains(says), "expected `{says}` in: {e}");
    };
    let weights = fresh("weights-changed");
    crate::support::damage(&weights.join("weights.bin"));
    refuse(&weights, "`weights.bin` does not match its hash");
    let model = fresh("model-changed");
    let text = std::fs::read_to_string(model.join("model.json")).unwrap();
    std::fs::write(model.join("model.json"), text.replace("Gentoo", "Gentoa")).unwrap();
    refuse(&model, "`model.json` does not match its hash");
    let missing = fresh("card-missing");
    std::fs::remove_file(missing.join("MODEL_CARD.md")).unwrap();
    refuse(&missing, "`MODEL_CARD.md` is missing");
    let extra = fresh("file-added");
    std::fs::write(extra.join("weights2.bin"), b"x").unwrap();
    refuse(&extra, "`weights2.bin` is not in the manifest");
    let no_manifest = fresh("no-manifest");
    std::fs::remove_file(no_manifest.join("manifest.json")).unwrap();
    refuse(&no_manifest, "its manifest cannot be read");
    // From the command line too, before anything listens.
    refused(
        &kiln(
            &ws,
            &[
                "serve",
                "--bundle",
                weights.to_str().unwrap(),
                "--port",
                "0",
            ],
        ),
        "does not match its hash",
    );
}

/// Dev, QA and production in order, each with its alias: filing a request puts the version in QA, a
/// version reaches production only from QA (moved away, the approval is refused saying why), promotion
/// before production is by hand and into production never; an environment's serving settings are an
/// admin's, and `kiln serve --env` serves its version with them (port, token from the named variable).
#[test]
fn environments_keep_the_promotion_path_and_serve_with_their_settings() {
    let (_d, ws) = release_workspace();
    let envs = kiln(&ws, &["env", "list", "--json"]).json();
    let names: Vec<(&str, &str)> = envs
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["name"].as_str().unwrap(), e["alias"].as_str().unwrap()))
        .collect();
    assert_eq!(
        names,
        [
            ("dev", "dev"),
            ("qa", "staging"),
            ("production", "champion")
        ]
    );
    let path = |ws: &Path| -> Vec<Option<i64>> {
        kiln(ws, &["env", "list", "penguin-id", "--json"])
            .json()
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["version"].as_i64())
            .collect()
    };
    assert_eq!(path(&ws), [None, None, None]);
    ok(&kiln(
        &ws,
        &[
            "env",
            "promote",
            "penguin-id",
            "--version",
            "2",
            "--to",
            "dev",
            "--by",
            "sam",
        ],
    ));
    refused(
        &kiln(
            &ws,
            &[
                "env",
                "promote",
                "penguin-id",
                "--version",
                "2",
                "--to",
                "production",
                "--by",
                "ada",
            ],
        ),
        "only through an approved release request",
    );
    // Filing puts v1 in QA.
    let (first, _) = request(&ws, "1", "sam");
    assert_eq!(path(&ws), [Some(2), Some(1), None]);
    // QA moves on to v2 before v1 is approved: v1 is no longer in QA, so it cannot reach production.
    ok(&kiln(
        &ws,
        &[
            "env",
            "promote",
            "penguin-id",
            "--version",
            "2",
            "--to",
            "qa",
            "--by",
            "sam",
        ],
    ));
    let approve = |id: i64| {
        kiln(
            &ws,
            &[
                "release",
                "approve",
                &id.to_string(),
                "--by",
                "pat",
                "--comment",
                "ok",
            ],
        )
    };
    refused(&approve(first), "is not in QA (`staging` is v2)");
    assert_eq!(path(&ws), [Some(2), Some(2), None]);
    let (second, _) = request(&ws, "2", "sam");
    ok(&approve(second));
    assert_eq!(path(&ws), [Some(2), Some(2), Some(2)]);

    // Settings: an admin's.
    refused(
        &kiln(
            &ws,
            &["env", "set", "production", "--port", "1", "--by", "sam"],
        ),
        "only an admin",
    );
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let set = kiln(
        &ws,
        &[
            "env",
            "set",
            "production",
            "--port",
            &port.to_string(),
            "--token-env",
            "KILN_E2E_PROD_TOKEN",
            "--deadline-ms",
            "2000",
            "--by",
            "ada",
            "--json",
        ],
    )
    .json();
    assert_eq!(set["settings"]["port"], port);
    assert!(
        kiln(&ws, &["audit", "log", "--json"])
            .stdout
            .contains("environment.set")
    );
    // `kiln serve --env production` (this test binary as `kiln`): v2, on the environment's port, with
    // its token.
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "qa::kiln_child", "--nocapture", "--"])
        .args(["--workspace", ws.to_str().unwrap()])
        .args(["serve", "--env", "production", "--model", "penguin-id"])
        .env(CHILD, "1")
        .env("KILN_E2E_PROD_TOKEN", "s3cret")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let start = std::time::Instant::now();
    let health = loop {
        if let Ok(s) = std::net::TcpStream::connect(addr) {
            drop(s);
            let (status, h) = crate::serve::get(addr, "/v1/health");
            if status == 200 {
                break h;
            }
        }
        assert!(
            start.elapsed() < std::time::Duration::from_mins(1),
            "no server on {addr}"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    assert_eq!(
        (health["alias"].as_str(), health["version"].as_i64()),
        (Some("champion"), Some(2))
    );
    let (status, _) = crate::serve::get(addr, "/v1/model");
    assert_eq!(status, 401, "the environment's token guards the model");
    let _ = child.kill();
    let _ = child.wait();
    // Without the token's variable: a clear refusal.
    refused(
        &kiln(
            &ws,
            &["serve", "--env", "production", "--model", "penguin-id"],
        ),
        "takes its token from $KILN_E2E_PROD_TOKEN, which is not set",
    );
    refused(
        &kiln(&ws, &["serve", "--env", "staging", "--model", "penguin-id"]),
        "no environment `staging`",
    );
}

/// Dynamic batching: with a batch wait, requests arriving together are answered in one forward pass
/// (`--max-batch` caps it; 1 answers each alone), every answer still the model's own.
#[test]
fn requests_arriving_together_share_a_forward_pass_up_to_the_cap() {
    let (_d, ws) = crate::serve::served_workspace();
    let (bodies, expected) = champion_requests(&ws, 8);
    let burst = |addr: std::net::SocketAddr| {
        let barrier = std::sync::Arc::new(std::sync::Barrier::new(bodies.len()));
        let threads: Vec<_> = bodies
            .iter()
            .cloned()
            .map(|body| {
                let barrier = barrier.clone();
                std::thread::spawn(move || {
                    barrier.wait();
                    crate::serve::post(addr, "/v1/predict", &body)
                })
            })
            .collect();
        for (i, t) in threads.into_iter().enumerate() {
            let (status, b) = t.join().unwrap();
            assert_eq!(status, 200, "{b}");
            assert_eq!(b["predictions"][0]["class"], expected[i].as_str());
        }
        crate::serve::get(addr, "/v1/health").1["batches"].clone()
    };
    let waiting = crate::serve::start(&ws, |c| {
        c.max_batch = 64;
        c.batch_wait_us = 200_000;
    });
    let b = burst(waiting.addr);
    assert_eq!(b["requests"], 8, "{b}");
    assert!(
        b["forward_passes"].as_u64().unwrap() <= 4,
        "8 requests within the batch wait took {b}"
    );
    let alone = crate::serve::start(&ws, |c| {
        c.max_batch = 1;
        c.batch_wait_us = 200_000;
    });
    let b = burst(alone.addr);
    assert_eq!(
        (b["forward_passes"].as_u64(), b["requests"].as_u64()),
        (Some(8), Some(8)),
        "{b}"
    );
}

/// A shadow named by an alias follows it: when `staging` moves, the next copies are answered by the
/// version it moved to.
#[test]
fn a_shadow_follows_its_alias() {
    let (_d, ws) = crate::serve::served_workspace();
    ok(&kiln(
        &ws,
        &[
            "models",
            "alias",
            "penguin-id",
            "staging",
            "--version",
            "2",
            "--by",
            "sam",
        ],
    ));
    let server = crate::serve::start(&ws, |c| c.shadow = Some("staging".into()));
    let shadow_version =
        || crate::serve::get(server.addr, "/v1/health").1["shadow"]["version"].clone();
    assert_eq!(shadow_version(), 2);
    ok(&kiln(
        &ws,
        &[
            "models",
            "alias",
            "penguin-id",
            "staging",
            "--version",
            "1",
            "--by",
            "sam",
        ],
    ));
    let (bodies, _) = penguin_requests(&ws, 8);
    let start = std::time::Instant::now();
    // The swap happens before the next batch the shadow answers.
    while shadow_version() != 1 {
        crate::serve::post(server.addr, "/v1/predict", &bodies[0]);
        assert!(
            start.elapsed() < std::time::Duration::from_mins(1),
            "the shadow stayed on v2"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let (status, _) = crate::serve::post(server.addr, "/v1/predict", &bodies[0]);
    assert_eq!(status, 200);
    server.stop().unwrap();
    shadow_log_until(&ws, |s| s.shadow_version == Some(1));
}
