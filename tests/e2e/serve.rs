//! The model server on a free loopback port: predictions, every class of bad request, feedback, tokens,
//! the Open Inference Protocol, a champion swap under traffic without a failed request, 10,000 seeded bad
//! bodies, and the constant-rate load generator.

use std::fmt::Write as _;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;

use kiln_core::Workspace;
use kiln_core::data::polars::prelude::*;
use kiln_serve::{Running, ServeConfig};
use serde_json::{Value, json};

/// One HTTP/1.1 request on its own connection: status, headers (lower-case) and body.
fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: &[u8],
    headers: &[(&str, &str)],
) -> (u16, String, Value) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_mins(1)))
        .unwrap();
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: kiln\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    if !headers
        .iter()
        .any(|(k, _)| k.eq_ignore_ascii_case("content-type"))
    {
        req.push_str("Content-Type: application/json\r\n");
    }
    for (k, v) in headers {
        let _ = write!(req, "{k}: {v}\r\n");
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).unwrap();
    // A server may answer (413) before reading a large body; a reset while writing is fine then.
    let _ = s.write_all(body);
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, rest) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status: u16 = head
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body: Value = serde_json::from_str(rest).unwrap_or(Value::Null);
    (status, head.to_ascii_lowercase(), body)
}

pub fn post(addr: SocketAddr, path: &str, body: &Value) -> (u16, Value) {
    let (s, _, b) = http(addr, "POST", path, body.to_string().as_bytes(), &[]);
    (s, b)
}

pub fn get(addr: SocketAddr, path: &str) -> (u16, Value) {
    let (s, _, b) = http(addr, "GET", path, b"", &[]);
    (s, b)
}

/// The release workspace with v1 approved as champion.
pub fn served_workspace() -> (tempfile::TempDir, std::path::PathBuf) {
    let (d, ws) = crate::release::release_workspace();
    let mut w = Workspace::open(&ws).unwrap();
    let (id, _) = w.request_release("penguin-id", 1, "sam", "first").unwrap();
    w.approve(id, "pat", "ok", None).unwrap();
    (d, ws)
}

pub fn start(ws: &Path, tweak: impl FnOnce(&mut ServeConfig)) -> Running {
    let mut c = ServeConfig::new(ws.to_path_buf(), "penguin-id", "champion");
    c.addr = "127.0.0.1:0".parse().unwrap();
    c.watch_ms = 50;
    tweak(&mut c);
    kiln_serve::start(c).unwrap()
}

pub fn penguin() -> Value {
    json!({
        "island": "Torgersen", "bill_length_mm": 39.1, "bill_depth_mm": 18.7, "flipper_length_mm": 181,
        "body_mass_g": 3750, "sex": "male", "year": 2007
    })
}

#[test]
fn predicts_rejects_each_bad_request_by_class_and_records_feedback() {
    let (_d, ws) = served_workspace();
    let server = start(&ws, |c| c.body_limit = 16 * 1024);
    let a = server.addr;
    let (s, health) = get(a, "/v1/health");
    assert_eq!((s, health["version"].as_i64()), (200, Some(1)));
    assert_eq!(health["unlogged_requests"].as_u64(), Some(0));
    let (s, model) = get(a, "/v1/model");
    assert_eq!(s, 200);
    let names: Vec<&str> = model["features"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), 7, "{names:?}");
    assert!(!names.contains(&"species"));

    let (s, p) = post(a, "/v1/predict", &json!({ "rows": [penguin(), penguin()] }));
    assert_eq!(s, 200, "{p}");
    assert_eq!(p["version"], 1);
    let first = &p["predictions"][0];
    assert!(["Adelie", "Chinstrap", "Gentoo"].contains(&first["class"].as_str().unwrap()));
    let total: f64 = first["probabilities"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_f64().unwrap())
        .sum();
    assert!((total - 1.0).abs() < 1e-4);
    let pid = first["prediction_id"].as_str().unwrap().to_owned();
    assert_ne!(pid, p["predictions"][1]["prediction_id"].as_str().unwrap());

    // Each class of bad request, then a good one still answers.
    let mut missing = penguin();
    missing.as_object_mut().unwrap().remove("sex");
    let mut extra = penguin();
    extra["wingspan"] = json!(3);
    let mut wrong = penguin();
    wrong["body_mass_g"] = json!("heavy");
    for (body, status, says) in [
        (b"{not json".to_vec(), 400, "invalid JSON"),
        (br#"{"rows": 3}"#.to_vec(), 422, "the body must be"),
        (br#"{"rows": []}"#.to_vec(), 422, "empty"),
        (
            json!({ "rows": [missing] }).to_string().into_bytes(),
            422,
            "missing features: sex",
        ),
        (
            json!({ "rows": [extra] }).to_string().into_bytes(),
            422,
            "unknown features: wingspan",
        ),
        (
            json!({ "rows": [wrong] }).to_string().into_bytes(),
            422,
            "`body_mass_g` must be a number",
        ),
        (
            json!({ "rows": [7] }).to_string().into_bytes(),
            422,
            "row 0 must be an object",
        ),
        (vec![b' '; 20 * 1024], 413, ""),
    ] {
        let (s, _, b) = http(a, "POST", "/v1/predict", &body, &[]);
        assert_eq!(s, status, "{b}");
        assert!(b.to_string().contains(says), "{says}: {b}");
        let (s, _) = post(a, "/v1/predict", &json!({ "rows": [penguin()] }));
        assert_eq!(s, 200, "served after a bad request");
    }
    assert_eq!(get(a, "/v1/nope").0, 404);

    // Feedback on a served prediction; unknown ids and empty feedback are refused.
    let (s, b) = post(
        a,
        "/v1/feedback",
        &json!({ "prediction_id": pid, "label": "Adelie" }),
    );
    assert_eq!(s, 200, "{b}");
    assert_eq!(
        post(
            a,
            "/v1/feedback",
            &json!({ "prediction_id": "nope", "label": "Adelie" })
        )
        .0,
        422
    );
    assert_eq!(
        post(a, "/v1/feedback", &json!({ "prediction_id": pid })).0,
        422
    );
    assert_eq!(post(a, "/v1/feedback", &json!({ "label": "x" })).0, 422);
    server.stop().unwrap();

    let w = Workspace::open(&ws).unwrap();
    let log = w.served("penguin-id").unwrap();
    assert!(log.iter().filter(|r| r.status == 200).count() >= 10);
    assert!(log.iter().any(|r| r.status == 422) && log.iter().any(|r| r.status == 400));
    let health = &w.serving_health().unwrap()[0];
    assert_eq!(health.hourly_accuracy.len(), 1);
    assert_eq!(health.hourly_accuracy[0].1, 1, "one labelled prediction");
    assert!(health.hourly_requests.iter().map(|(_, n)| n).sum::<usize>() >= 10);
    let logged = log
        .iter()
        .find(|r| r.prediction_id.as_deref() == Some(pid.as_str()))
        .unwrap();
    assert!(logged.features.as_deref().unwrap().contains("Torgersen"));
    assert_eq!(w.feedback().unwrap()[0].label.as_deref(), Some("Adelie"));
}

#[test]
fn a_token_guards_every_endpoint_but_health() {
    let (_d, ws) = served_workspace();
    let server = start(&ws, |c| c.token = Some("s3cret".into()));
    let a = server.addr;
    let body = json!({ "rows": [penguin()] }).to_string();
    assert_eq!(http(a, "POST", "/v1/predict", body.as_bytes(), &[]).0, 401);
    assert_eq!(
        http(
            a,
            "POST",
            "/v1/predict",
            body.as_bytes(),
            &[("Authorization", "Bearer nope")]
        )
        .0,
        401
    );
    assert_eq!(
        http(
            a,
            "POST",
            "/v1/predict",
            body.as_bytes(),
            &[("Authorization", "Bearer s3cret")]
        )
        .0,
        200
    );
    assert_eq!(get(a, "/v2/models/penguin-id").0, 401);
    assert_eq!(get(a, "/v1/health").0, 200);
    assert_eq!(get(a, "/v2/health/ready").0, 200);
}

#[test]
fn kserve_v2_metadata_readiness_and_inference() {
    let (_d, ws) = served_workspace();
    let server = start(&ws, |_| {});
    let a = server.addr;
    assert_eq!(get(a, "/v2/health/live"), (200, json!({ "live": true })));
    let (s, meta) = get(a, "/v2/models/penguin-id");
    assert_eq!(s, 200);
    assert_eq!(meta["versions"], json!(["1"]));
    assert_eq!(meta["inputs"].as_array().unwrap().len(), 7);
    assert_eq!(
        get(a, "/v2/models/penguin-id/versions/1/ready").1["ready"],
        true
    );
    assert_eq!(get(a, "/v2/models/penguin-id/versions/9").0, 404);
    assert_eq!(get(a, "/v2/models/other").0, 404);
    let p = penguin();
    let inputs: Vec<Value> = meta["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            let name = i["name"].as_str().unwrap();
            json!({ "name": name, "shape": [2], "datatype": i["datatype"], "data": [p[name], p[name]] })
        })
        .collect();
    let (s, out) = post(
        a,
        "/v2/models/penguin-id/infer",
        &json!({ "id": "r1", "inputs": inputs }),
    );
    assert_eq!(s, 200, "{out}");
    assert_eq!(
        (out["id"].as_str(), out["model_version"].as_str()),
        (Some("r1"), Some("1"))
    );
    assert_eq!(out["outputs"][0]["shape"], json!([2]));
    assert_eq!(out["outputs"][1]["shape"], json!([2, 3]));
    // Bad V2 input is a 400 with {"error": ...}.
    let mut bad = inputs.clone();
    bad[0]["datatype"] = json!(if meta["inputs"][0]["datatype"] == "BYTES" {
        "FP32"
    } else {
        "BYTES"
    });
    let (s, e) = post(a, "/v2/models/penguin-id/infer", &json!({ "inputs": bad }));
    assert_eq!(s, 400, "{e}");
    assert!(e["error"].as_str().unwrap().contains("datatype"));
    let (s, e) = post(
        a,
        "/v2/models/penguin-id/versions/1/infer",
        &json!({ "inputs": inputs[1..] }),
    );
    assert_eq!(s, 400);
    assert!(e["error"].as_str().unwrap().contains("missing inputs"));
}

#[test]
fn a_champion_swap_under_traffic_fails_no_request() {
    let (_d, ws) = served_workspace();
    let server = start(&ws, |_| {});
    let a = server.addr;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let clients: Vec<_> = (0..4)
        .map(|_| {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut seen = Vec::new();
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let (s, b) = post(a, "/v1/predict", &json!({ "rows": [penguin()] }));
                    seen.push((s, b["version"].as_i64()));
                }
                seen
            })
        })
        .collect();
    std::thread::sleep(std::time::Duration::from_millis(300));
    let mut w = Workspace::open(&ws).unwrap();
    let (id, _) = w.request_release("penguin-id", 2, "sam", "next").unwrap();
    w.approve(id, "pat", "ok", None).unwrap();
    let start = std::time::Instant::now();
    while get(a, "/v1/health").1["version"] != 2 {
        assert!(
            start.elapsed() < std::time::Duration::from_secs(30),
            "never swapped"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    std::thread::sleep(std::time::Duration::from_millis(300));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let seen: Vec<(u16, Option<i64>)> = clients
        .into_iter()
        .flat_map(|c| c.join().unwrap())
        .collect();
    assert!(seen.len() > 20, "{} requests", seen.len());
    assert!(
        seen.iter().all(|(s, _)| *s == 200),
        "a request failed: {:?}",
        seen.iter().find(|(s, _)| *s != 200)
    );
    assert!(seen.iter().any(|(_, v)| *v == Some(1)) && seen.iter().any(|(_, v)| *v == Some(2)));
}

#[test]
fn ten_thousand_seeded_bad_bodies_never_get_a_5xx() {
    let (_d, ws) = served_workspace();
    let server = start(&ws, |c| c.body_limit = 8 * 1024);
    let a = server.addr;
    let good = json!({ "rows": [penguin()] }).to_string().into_bytes();
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let pieces: [&[u8]; 12] = [
        b"{",
        b"}",
        b"[",
        b"]",
        b"\"rows\"",
        b":",
        b",",
        b"null",
        b"1e999",
        b"\"sex\"",
        b"-",
        b"\xff",
    ];
    let mut statuses = std::collections::BTreeMap::new();
    for i in 0..10_000 {
        let mut body = good.clone();
        match next() % 4 {
            // Flip bytes.
            0 => {
                for _ in 0..=(next() % 8) {
                    let at = (next() as usize) % body.len();
                    body[at] = next() as u8;
                }
            }
            // Cut it short.
            1 => body.truncate((next() as usize) % body.len()),
            // Splice in JSON punctuation.
            2 => {
                let at = (next() as usize) % body.len();
                let p = pieces[(next() as usize) % pieces.len()];
                body.splice(at..at, p.iter().copied());
            }
            // Random bytes.
            _ => body = (0..next() % 300).map(|_| next() as u8).collect(),
        }
        let path = if i % 5 == 0 {
            "/v2/models/penguin-id/infer"
        } else {
            "/v1/predict"
        };
        let (s, _, _) = http(a, "POST", path, &body, &[]);
        assert!(
            s != 0 && s < 500,
            "body {i} got {s}: {:?}",
            String::from_utf8_lossy(&body)
        );
        *statuses.entry(s).or_insert(0) += 1;
    }
    assert_eq!(get(a, "/v1/health").0, 200);
    assert_eq!(
        post(a, "/v1/predict", &json!({ "rows": [penguin()] })).0,
        200
    );
    assert!(statuses.len() >= 2, "{statuses:?}");
}

#[test]
fn drift_between_two_versions_from_the_command_line() {
    let d = tempfile::tempdir().unwrap();
    let ws = crate::support::penguins_workspace(d.path());
    // Gentoo only: heavier birds with longer flippers.
    let r = crate::support::kiln(
        &ws,
        &[
            "datasets",
            "filter",
            "penguins",
            "--where",
            "species = 'Gentoo'",
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let doc = crate::support::kiln(&ws, &["drift", "penguins@1", "penguins@2", "--json"]).json();
    let col = |n: &str| {
        doc["columns"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == n)
            .unwrap()
            .clone()
    };
    assert_eq!(col("body_mass_g")["method"], "ks");
    assert_eq!(col("body_mass_g")["drifted"], true);
    assert_eq!(col("species")["method"], "chisquare");
    assert_eq!(
        col("year")["method"],
        "chisquare",
        "3 distinct years: low cardinality"
    );
    assert_eq!(doc["dataset_drift"], true);
    let same = crate::support::kiln(&ws, &["drift", "penguins@1", "penguins@1", "--json"]).json();
    assert_eq!(same["drifted_columns"], 0);
    let bad = crate::support::kiln(&ws, &["drift", "penguins@1", "nope"]);
    assert_ne!(bad.code, 0);
    assert!(bad.stderr.contains("nope"), "{}", bad.stderr);
}

#[test]
fn served_inputs_drift_and_monitor_check_exit_codes() {
    let (_d, ws) = served_workspace();
    let server = start(&ws, |_| {});
    let a = server.addr;
    // Heavy birds only: the served inputs drift from the data the model was judged on.
    for i in 0..60 {
        let mut p = penguin();
        p["body_mass_g"] = json!(6000 + i * 10);
        p["flipper_length_mm"] = json!(230 + i % 7);
        assert_eq!(post(a, "/v1/predict", &json!({ "rows": [p] })).0, 200);
    }
    assert_eq!(
        post(a, "/v1/predict", &json!({ "rows": [{ "x": 1 }] })).0,
        422
    );
    server.stop().unwrap();
    let kiln = |args: &[&str]| crate::support::kiln(&ws, args);
    let d = kiln(&["drift", "penguins@2", "--served", "penguin-id", "--json"]).json();
    assert_eq!(d["current_rows"], 60);
    let mass = d["columns"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "body_mass_g")
        .unwrap();
    assert_eq!(mass["drifted"], true);
    assert!(
        d["columns"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["name"] != "species"),
        "the target is not served"
    );
    // 1 failure in 61 requests: within 5 %, beyond 1 %.
    let ok = kiln(&["monitor", "check", "penguin-id", "--json"]).json();
    assert_eq!(ok["ok"], true);
    let r = kiln(&["monitor", "check", "penguin-id", "--max-error-rate", "0.01"]);
    assert_ne!(r.code, 0);
    assert!(r.stdout.contains("[ALERT] failed requests"), "{}", r.stdout);
    let r = kiln(&[
        "monitor",
        "check",
        "penguin-id",
        "--drift-reference",
        "penguins@2",
    ]);
    assert_ne!(r.code, 0);
    assert!(
        r.stdout
            .contains("[ALERT] served inputs against penguins@2"),
        "{}",
        r.stdout
    );
    assert_ne!(kiln(&["monitor", "check", "nobody"]).code, 0);
}

#[test]
fn ab_split_and_thompson_bandit_route_by_feedback() {
    let (_d, ws) = served_workspace();
    let mut w = Workspace::open(&ws).unwrap();
    w.set_alias("penguin-id", "challenger", 2, "sam").unwrap();
    drop(w);
    // A fixed 50/50 split: both arms get traffic.
    let server = start(&ws, |c| {
        c.challenger = Some("challenger".into());
        c.split = 0.5;
        c.seed = Some(11);
    });
    let a = server.addr;
    let mut versions = std::collections::BTreeMap::new();
    for _ in 0..200 {
        let (s, b) = post(a, "/v1/predict", &json!({ "rows": [penguin()] }));
        assert_eq!(s, 200);
        *versions.entry(b["version"].as_i64().unwrap()).or_insert(0) += 1;
    }
    assert!(versions[&1] > 50 && versions[&2] > 50, "{versions:?}");
    let arms = get(a, "/v1/health").1["arms"].clone();
    assert_eq!(arms[1]["arm"], "challenger");
    assert_eq!(
        arms[0]["traffic"].as_u64().unwrap() + arms[1]["traffic"].as_u64().unwrap(),
        200
    );
    server.stop().unwrap();

    // Thompson sampling: the challenger's predictions pay off, the champion's do not.
    let server = start(&ws, |c| {
        c.challenger = Some("challenger".into());
        c.bandit = true;
        c.seed = Some(12);
    });
    let a = server.addr;
    for _ in 0..150 {
        let (_, b) = post(a, "/v1/predict", &json!({ "rows": [penguin()] }));
        let pid = b["predictions"][0]["prediction_id"]
            .as_str()
            .unwrap()
            .to_owned();
        let outcome = i32::from(b["version"] == 2);
        assert_eq!(
            post(
                a,
                "/v1/feedback",
                &json!({ "prediction_id": pid, "outcome": outcome })
            )
            .0,
            200
        );
    }
    let mut late = 0;
    for _ in 0..100 {
        let (_, b) = post(a, "/v1/predict", &json!({ "rows": [penguin()] }));
        late += usize::from(b["version"] == 2);
    }
    assert!(
        late >= 85,
        "the bandit sent only {late} of 100 late requests to the better arm"
    );
    let arms = get(a, "/v1/health").1["arms"].clone();
    let (lo, hi) = (
        arms[1]["ci95"][0].as_f64().unwrap(),
        arms[1]["ci95"][1].as_f64().unwrap(),
    );
    assert!(lo > 0.8 && hi <= 1.0, "{arms}");
    assert_eq!(arms[0]["success_rate"], 0.0);
}

#[test]
fn a_missed_deadline_is_a_503_or_the_declared_fallback_and_is_monitored() {
    let (_d, ws) = served_workspace();
    // 10,000 rows take the model far longer than a 1 ms deadline.
    let big = json!({ "rows": vec![penguin(); 10_000] });
    let server = start(&ws, |c| {
        c.deadline_ms = Some(1);
        c.body_limit = 8 << 20;
    });
    let (s, b) = post(server.addr, "/v1/predict", &big);
    assert_eq!(s, 503, "{b}");
    assert!(b["error"].as_str().unwrap().contains("within 1 ms"));
    server.stop().unwrap();
    let server = start(&ws, |c| {
        c.deadline_ms = Some(1);
        c.body_limit = 8 << 20;
        c.fallback_class = Some("Adelie".into());
    });
    let (s, b) = post(server.addr, "/v1/predict", &big);
    assert_eq!(s, 200);
    let preds = b["predictions"].as_array().unwrap();
    assert_eq!(preds.len(), 10_000);
    assert!(
        preds
            .iter()
            .all(|p| p["class"] == "Adelie" && p["fallback"] == true)
    );
    // Bad input is still the client's 422, not a fallback.
    assert_eq!(
        post(server.addr, "/v1/predict", &json!({ "rows": [{ "x": 1 }] })).0,
        422
    );
    server.stop().unwrap();
    let h = Workspace::open(&ws).unwrap().serving_health().unwrap();
    assert_eq!(h[0].fallbacks, 10_000);
    let r = crate::support::kiln(&ws, &["monitor", "check", "penguin-id"]);
    assert_ne!(r.code, 0);
    assert!(
        r.stdout.contains("[ALERT] fallback answers"),
        "{}",
        r.stdout
    );
}

/// A frame as an Arrow IPC stream, one record batch per chunk (`oldest` writes large strings, as pyarrow
/// does; `newest` writes string views, as polars does).
fn arrow_stream(df: &DataFrame, compat: CompatLevel) -> Vec<u8> {
    use polars_arrow::io::ipc::write::{StreamWriter, WriteOptions};
    let mut out = Vec::new();
    let mut w = StreamWriter::new(&mut out, WriteOptions { compression: None });
    let mut df = df.clone();
    df.align_chunks();
    w.start(&df.schema().to_arrow(compat), None).unwrap();
    for batch in df.iter_chunks(compat, false) {
        w.write(&batch, None).unwrap();
    }
    w.finish().unwrap();
    out
}

fn penguin_frame() -> DataFrame {
    let part = |island: &str, bill: f64, mass: i64, sex: &str| {
        df!(
            "island" => [island],
            "bill_length_mm" => [bill],
            "bill_depth_mm" => [18.7],
            "flipper_length_mm" => [181i64],
            "body_mass_g" => [mass],
            "sex" => [sex],
            "year" => [2007i64],
        )
        .unwrap()
    };
    // Two record batches: the stream's batches are stacked.
    let mut df = part("Torgersen", 39.1, 3750, "male");
    df.vstack_mut(&part("Biscoe", 48.7, 5350, "female"))
        .unwrap();
    df
}

const ARROW: (&str, &str) = ("Content-Type", "application/vnd.apache.arrow.stream");

#[test]
fn arrow_ipc_stream_bodies_predict_like_json_and_bad_ones_are_named() {
    let (_d, ws) = served_workspace();
    let server = start(&ws, |_| {});
    let a = server.addr;
    let df = penguin_frame();
    assert_eq!(df.first_col_n_chunks(), 2);
    let rows_json = json!({ "rows": [penguin(), {
        "island": "Biscoe", "bill_length_mm": 48.7, "bill_depth_mm": 18.7, "flipper_length_mm": 181,
        "body_mass_g": 5350, "sex": "female", "year": 2007
    }] });
    let (s, by_json) = post(a, "/v1/predict", &rows_json);
    assert_eq!(s, 200, "{by_json}");
    for compat in [CompatLevel::oldest(), CompatLevel::newest()] {
        let body = arrow_stream(&df, compat);
        let (s, _, b) = http(a, "POST", "/v1/predict", &body, &[ARROW]);
        assert_eq!(s, 200, "{b}");
        let p = b["predictions"].as_array().unwrap();
        assert_eq!(p.len(), 2);
        for (x, y) in p.iter().zip(by_json["predictions"].as_array().unwrap()) {
            assert_eq!(x["class"], y["class"]);
            assert_eq!(x["probabilities"], y["probabilities"]);
        }
    }
    // Not a stream at all; a stream cut short.
    let (s, _, b) = http(a, "POST", "/v1/predict", b"not arrow", &[ARROW]);
    assert_eq!(s, 400, "{b}");
    assert!(b["error"].as_str().unwrap().contains("Arrow IPC"), "{b}");
    let good = arrow_stream(&df, CompatLevel::oldest());
    let (s, _, b) = http(a, "POST", "/v1/predict", &good[..good.len() / 2], &[ARROW]);
    assert_eq!(s, 400, "{b}");
    let post_arrow = |df: &DataFrame| {
        http(
            a,
            "POST",
            "/v1/predict",
            &arrow_stream(df, CompatLevel::oldest()),
            &[ARROW],
        )
    };
    // A missing feature and an unknown one, named.
    let mut wrong = df.drop("sex").unwrap();
    wrong
        .with_column(Column::new("colour".into(), ["red", "blue"]))
        .unwrap();
    let (s, _, b) = post_arrow(&wrong);
    assert_eq!(s, 422, "{b}");
    let msg = b["error"].as_str().unwrap();
    assert!(
        msg.contains("missing features: sex") && msg.contains("unknown features: colour"),
        "{msg}"
    );
    // Text where a number belongs.
    let mut wrong = df.clone();
    wrong
        .with_column(Column::new("bill_length_mm".into(), ["long", "short"]))
        .unwrap();
    let (s, _, b) = post_arrow(&wrong);
    assert_eq!(s, 422, "{b}");
    assert!(
        b["error"]
            .as_str()
            .unwrap()
            .contains("`bill_length_mm` must hold numbers"),
        "{b}"
    );
    // Seeded mutations of a good stream: never a 5xx, and the server still answers.
    let mut state: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for i in 0..2_000 {
        let mut body = good.clone();
        if next() % 3 == 0 {
            body.truncate((next() as usize) % body.len());
        } else {
            for _ in 0..=(next() % 4) {
                let at = (next() as usize) % body.len();
                body[at] = next() as u8;
            }
        }
        let (s, _, b) = http(a, "POST", "/v1/predict", &body, &[ARROW]);
        assert!(s != 0 && s < 500, "mutation {i} got {s}: {b}");
    }
    let (s, _, _) = http(a, "POST", "/v1/predict", &good, &[ARROW]);
    assert_eq!(s, 200);
}

/// Release version 2 over version 1 (an admin's override when a gate fails).
fn champion_v2(ws: &Path) -> Workspace {
    let mut w = Workspace::open(ws).unwrap();
    let (id, report) = w.request_release("penguin-id", 2, "sam", "second").unwrap();
    let by = if report.gates_passed {
        ("pat", None)
    } else {
        ("ada", Some("a test"))
    };
    w.approve(id, by.0, "ok", by.1).unwrap();
    w
}

#[test]
fn the_previous_champion_answers_when_the_champion_cannot_load() {
    let (_d, ws) = served_workspace();
    let w = champion_v2(&ws);
    assert_eq!(
        w.previous_model("penguin-id", "champion")
            .unwrap()
            .unwrap()
            .0,
        1
    );
    // Damage version 2's weights: they no longer match the run's record.
    let run = w.resolve_model("penguin-id", "champion").unwrap().1;
    let weights = ws.join(w.run(run).unwrap().artifacts["weights"].as_str().unwrap());
    crate::support::damage(&weights);
    drop(w);
    // Without a standby the server refuses to start, naming the problem.
    let mut c = ServeConfig::new(ws.clone(), "penguin-id", "champion");
    c.addr = "127.0.0.1:0".parse().unwrap();
    let e = kiln_serve::start(c)
        .err()
        .expect("a champion that cannot load");
    assert!(e.to_string().contains("does not match"), "{e}");
    // With one, version 1 answers, every answer marked, and health says why.
    let server = start(&ws, |c| c.fallback_previous = true);
    let (s, b) = post(server.addr, "/v1/predict", &json!({ "rows": [penguin()] }));
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["version"], 1);
    assert_eq!(b["predictions"][0]["fallback"], true);
    let (_, h) = get(server.addr, "/v1/health");
    assert_eq!(h["status"], "degraded", "{h}");
    assert!(
        h["degraded"]
            .as_str()
            .unwrap()
            .contains("version 2 failed to load"),
        "{h}"
    );
    server.stop().unwrap();
    let health = Workspace::open(&ws).unwrap().serving_health().unwrap();
    assert_eq!(health[0].fallbacks, 1);
    // A healthy champion with a standby answers itself; the standby is the version before it.
    let (_d2, ws2) = served_workspace();
    champion_v2(&ws2);
    let server = start(&ws2, |c| c.fallback_previous = true);
    let (s, b) = post(server.addr, "/v1/predict", &json!({ "rows": [penguin()] }));
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["version"], 2);
    assert_eq!(b["predictions"][0]["fallback"], false);
    let (_, h) = get(server.addr, "/v1/health");
    assert_eq!(
        (h["status"].as_str(), h["standby_version"].as_i64()),
        (Some("ok"), Some(1))
    );
}

/// The Python interpreter with Triton's published client (`tritonclient[http]`): `KILN_TEST_PYTHON`, or
/// `python3`. `.ci/run` sets one up; README says how.
fn python_with_tritonclient() -> String {
    let python = std::env::var("KILN_TEST_PYTHON").unwrap_or_else(|_| "python3".into());
    let probe = std::process::Command::new(&python)
        .args(["-c", "import tritonclient.http, numpy"])
        .output();
    match probe {
        Ok(o) if o.status.success() => python,
        _ => panic!(
            "this test drives the server with Triton's published KServe V2 client: set KILN_TEST_PYTHON \
             to a Python with `pip install 'tritonclient[http]' numpy` (python3 -m venv ~/.cache/kiln-py && \
             ~/.cache/kiln-py/bin/pip install 'tritonclient[http]' numpy)"
        ),
    }
}

#[test]
fn a_published_kserve_v2_client_talks_to_the_server_unchanged() {
    let python = python_with_tritonclient();
    let (d, ws) = served_workspace();
    let server = start(&ws, |_| {});
    let rows = json!([penguin(), {
        "island": "Biscoe", "bill_length_mm": 48.7, "bill_depth_mm": 14.1, "flipper_length_mm": 210,
        "body_mass_g": 4450, "sex": "female", "year": 2008
    }]);
    let rows_path = d.path().join("rows.json");
    std::fs::write(&rows_path, rows.to_string()).unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("kserve/tritonclient_check.py");
    let out = std::process::Command::new(&python)
        .arg(&script)
        .arg(server.addr.to_string())
        .arg("penguin-id")
        .arg(&rows_path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "tritonclient failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(got["server"], "kiln");
    assert_eq!(got["model"], "penguin-id");
    assert_eq!(got["request_id"], "tritonclient-1");
    assert_eq!(got["model_version"], "1");
    // The client decoded the same answers Kiln's own endpoint gives for these rows.
    let (s, own) = post(server.addr, "/v1/predict", &json!({ "rows": rows }));
    assert_eq!(s, 200, "{own}");
    for (i, p) in own["predictions"].as_array().unwrap().iter().enumerate() {
        assert_eq!(got["classes"][i], p["class"], "{got}");
        let probs = got["probabilities"][i].as_array().unwrap();
        assert_eq!(probs.len(), 3);
        let sum: f64 = probs.iter().map(|v| v.as_f64().unwrap()).sum();
        assert!((sum - 1.0).abs() < 1e-4, "{probs:?}");
    }
    assert_eq!(got["prediction_ids"].as_array().unwrap().len(), 2);
}

/// A log writer that cannot keep up (no room in its queue at all here) loses no answered request: the
/// rows wait in the spool and reach the log; rows a killed server left in its spool are written by the
/// next server started on the workspace.
#[test]
fn a_log_writer_that_falls_behind_spools_and_loses_no_request() {
    let (_d, ws) = served_workspace();
    // What a server that is gone (a process id no process has) left behind: two rows, the last line cut
    // short by the kill.
    let spool = ws.join("serve-log");
    std::fs::create_dir_all(&spool).unwrap();
    let gone = (4_000_000..5_000_000)
        .find(|p| !Path::new("/proc").join(p.to_string()).exists())
        .unwrap();
    let row = |id: &str| {
        json!({
            "at": "2026-12-01T10:00:00Z", "model": "penguin-id", "version": 1, "endpoint": "/v1/predict",
            "status": 200, "latency_ms": 1.0, "prediction_id": id, "class": "Adelie", "features": null
        })
    };
    std::fs::write(
        spool.join(format!("{gone}-0.ndjson.partial")),
        format!("{}\n{}\n{{\"at\":\"2026", row("left-1"), row("left-2")),
    )
    .unwrap();

    let server = start(&ws, |c| c.log_queue = 0);
    let a = server.addr;
    let threads: Vec<_> = (0..8)
        .map(|_| {
            std::thread::spawn(move || {
                (0..40)
                    .filter(|_| post(a, "/v1/predict", &json!({ "rows": [penguin()] })).0 == 200)
                    .count()
            })
        })
        .collect();
    let answered: usize = threads.into_iter().map(|t| t.join().unwrap()).sum();
    assert_eq!(answered, 320);
    // Health counts what is not in the log yet; once it says none, every row is there.
    let mut health = Value::Null;
    for _ in 0..200 {
        health = get(a, "/v1/health").1;
        if health["unlogged_requests"] == 0 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert_eq!(
        (&health["unlogged_requests"], &health["lost_log_rows"]),
        (&json!(0), &json!(0)),
        "{health}"
    );
    // The health checks themselves are not logged; the 320 predictions and the 2 left behind are.
    assert_eq!(health["logged_requests"], 322, "{health}");
    let logged_before_stop = Workspace::open(&ws)
        .unwrap()
        .served("penguin-id")
        .unwrap()
        .len();
    assert_eq!(logged_before_stop, 322);
    server.stop().unwrap();

    let log = Workspace::open(&ws).unwrap().served("penguin-id").unwrap();
    let predicted = log
        .iter()
        .filter(|r| r.endpoint == "/v1/predict" && r.status == 200)
        .count();
    assert_eq!(
        predicted,
        320 + 2,
        "every answered request and the two left behind"
    );
    let ids: std::collections::HashSet<_> =
        log.iter().filter_map(|r| r.prediction_id.clone()).collect();
    assert_eq!(ids.len(), log.len(), "no row logged twice");
    assert!(ids.contains("left-1") && ids.contains("left-2"));
    let left: Vec<_> = std::fs::read_dir(&spool).unwrap().collect();
    assert!(left.is_empty(), "the spool is emptied: {left:?}");
}

const SERVE_CHILD_ENV: &str = "KILN_E2E_SERVE_CHILD";

/// `kiln serve` stopped the way a service manager stops it (SIGTERM) writes every answered request to
/// the log before it exits.
#[test]
fn sigterm_stops_the_server_after_its_log_is_written() {
    if let Some(spec) = crate::support::child_arg(SERVE_CHILD_ENV) {
        let (ws, port) = spec.split_once('|').unwrap();
        let args = [
            "--workspace",
            ws,
            "serve",
            "--model",
            "penguin-id",
            "--port",
            port,
        ];
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let code = kiln_app::cli::run_args(args.map(String::from), &mut out, &mut err);
        std::process::exit(code);
    }
    let (_d, ws) = served_workspace();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = crate::support::spawn_self(
        "serve::sigterm_stops_the_server_after_its_log_is_written",
        SERVE_CHILD_ENV,
        &format!("{}|{port}", ws.display()),
    )
    .spawn()
    .unwrap();
    let a: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let start = std::time::Instant::now();
    while TcpStream::connect(a).is_err() {
        assert!(
            start.elapsed() < std::time::Duration::from_mins(1),
            "the server started"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let answered = (0..200)
        .filter(|_| post(a, "/v1/predict", &json!({ "rows": [penguin()] })).0 == 200)
        .count();
    assert_eq!(answered, 200);
    let pid = i32::try_from(child.id()).unwrap();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0), "a clean exit on SIGTERM");
    let log = Workspace::open(&ws).unwrap().served("penguin-id").unwrap();
    assert_eq!(log.iter().filter(|r| r.status == 200).count(), 200);
}

/// A loopback HTTP server answering `200 ok` to each request, one thread per connection; the request
/// numbered `stall_at` (counting from 0, over all connections) waits `stall` first.
fn stalling_server(stall_at: u64, stall: std::time::Duration) -> String {
    use std::io::{BufRead, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/v1/health", listener.local_addr().unwrap());
    let seen = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let seen = seen.clone();
            std::thread::spawn(move || {
                let mut reader = std::io::BufReader::new(stream.try_clone().unwrap());
                let mut out = stream;
                let mut line = String::new();
                loop {
                    // A GET: the request line and headers, up to the blank line.
                    loop {
                        line.clear();
                        if reader.read_line(&mut line).unwrap_or(0) == 0 {
                            return;
                        }
                        if line == "\r\n" {
                            break;
                        }
                    }
                    if seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == stall_at {
                        std::thread::sleep(stall);
                    }
                    let answer = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
                    if out.write_all(answer.as_bytes()).is_err() {
                        return;
                    }
                }
            });
        }
    });
    url
}

/// The load generator sends every request at its due time and measures from it: against a server that
/// stalls once, the requests due during the stall carry the wait (a closed-loop client would have sent
/// none of them and reported one slow answer); a bad plan is refused with its reason.
#[test]
fn the_load_generator_keeps_its_rate_and_counts_the_queue_a_stall_makes() {
    use kiln_serve::loadgen::{LoadPlan, run};
    use std::time::Duration;
    let plan = |url: String, rate: f64, secs: f64, connections: usize| LoadPlan {
        url,
        bodies: vec![],
        content_type: String::new(),
        token: None,
        rate,
        duration: Duration::from_secs_f64(secs),
        connections,
        give_up_after: None,
    };
    let fast = run(&plan(
        stalling_server(u64::MAX, Duration::ZERO),
        400.0,
        1.0,
        4,
    ))
    .unwrap();
    assert_eq!((fast.sent, fast.ok, fast.errors), (400, 400, 0));
    assert!((fast.achieved_rate / 400.0 - 1.0).abs() < 0.1, "{fast:?}");
    // One connection, a request every 5 ms, the 100th answered after 300 ms: about 60 requests fall
    // due while it waits, the first of them 300 ms before they can be sent.
    let stalled = run(&plan(
        stalling_server(100, Duration::from_millis(300)),
        200.0,
        2.0,
        1,
    ))
    .unwrap();
    assert_eq!((stalled.sent, stalled.ok), (400, 400));
    assert!(stalled.p99_ms >= 200.0, "{stalled:?}");
    assert!(stalled.max_ms >= 290.0, "{stalled:?}");
    assert!(stalled.p50_ms < 100.0, "{stalled:?}");
    assert!(stalled.send_delay_p99_ms >= 200.0, "{stalled:?}");

    let refused = |p: LoadPlan, why: &str| {
        let e = run(&p).unwrap_err().to_string();
        assert!(e.contains(why), "{e}");
    };
    refused(
        plan("http://127.0.0.1:9/".into(), 0.0, 1.0, 1),
        "positive rate",
    );
    refused(
        plan("https://127.0.0.1:9/".into(), 10.0, 1.0, 1),
        "http:// only",
    );
}
