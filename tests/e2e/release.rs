//! The model registry and release approval through the command line: one test per rule (roles, four
//! eyes, failed gates and admin overrides, rollback), the audit chain catching a row edited in the database,
//! champion-at-time, gates as exit codes, paired statistics, retraining.

use std::path::{Path, PathBuf};

use crate::support::{Run, kiln};

pub fn ok(r: &Run) -> &Run {
    assert_eq!(r.code, 0, "{}", r.stderr);
    r
}

pub fn refused(r: &Run, says: &str) {
    assert_ne!(r.code, 0, "accepted: {}", r.stdout);
    assert!(
        r.stderr.contains(says),
        "expected `{says}` in: {}",
        r.stderr
    );
}

/// Train on `penguins@2` for `epochs` (`epochs=N`) on the CPU, in workspace `ws`.
pub fn train_penguins(ws: &Path, epochs: &str) {
    ok(&kiln(
        ws,
        &[
            "train",
            "--dataset",
            "penguins@2",
            "--target",
            "species",
            "--device",
            "cpu",
            "--param",
            epochs,
        ],
    ));
}

/// Penguins with a stored 70/10/20 split (`penguins@2`, the evaluation data), three users, and two
/// registered runs: v1 a short run, v2 a longer one.
pub fn release_workspace() -> (tempfile::TempDir, PathBuf) {
    release_workspace_from(&crate::support::fixture("penguins.csv"))
}

/// [`release_workspace`] with penguins imported from `csv`.
pub fn release_workspace_from(csv: &Path) -> (tempfile::TempDir, PathBuf) {
    let d = tempfile::tempdir().unwrap();
    let ws = d.path().join("ws");
    ok(&kiln(
        &ws,
        &["import", csv.to_str().unwrap(), "--name", "penguins"],
    ));
    ok(&kiln(
        &ws,
        &[
            "datasets",
            "split",
            "penguins",
            "--ratios",
            "0.7,0.1,0.2",
            "--seed",
            "3",
            "--stratify",
            "species",
        ],
    ));
    ok(&kiln(
        &ws,
        &["users", "add", "ada", "--role", "admin", "--by", "ada"],
    ));
    ok(&kiln(
        &ws,
        &[
            "users",
            "add",
            "sam",
            "--role",
            "data-scientist",
            "--by",
            "ada",
        ],
    ));
    ok(&kiln(
        &ws,
        &["users", "add", "pat", "--role", "approver", "--by", "ada"],
    ));
    for epochs in ["epochs=3", "epochs=40"] {
        train_penguins(&ws, epochs);
    }
    ok(&kiln(
        &ws,
        &[
            "models",
            "register",
            "--run",
            "1",
            "--name",
            "penguin-id",
            "--by",
            "sam",
        ],
    ));
    ok(&kiln(
        &ws,
        &[
            "models",
            "register",
            "--run",
            "2",
            "--name",
            "penguin-id",
            "--by",
            "sam",
        ],
    ));
    ok(&kiln(
        &ws,
        &[
            "models",
            "brief",
            "penguin-id",
            "--problem",
            "Tell the species from body measurements",
            "--owner",
            "pat",
            "--product-metric",
            "field notes filed without an expert",
            "--target",
            "accuracy>=0.3",
            "--eval",
            "penguins@2",
            "--by",
            "pat",
        ],
    ));
    (d, ws)
}

fn champion(ws: &Path) -> Option<i64> {
    kiln(ws, &["models", "show", "penguin-id", "--json"]).json()["champion"].as_i64()
}

/// `by` asks for `penguin-id` v`version` to be released; the request's id and report.
pub fn request(ws: &Path, version: &str, by: &str) -> (i64, serde_json::Value) {
    let r = kiln(
        ws,
        &[
            "release",
            "request",
            "penguin-id",
            "--version",
            version,
            "--by",
            by,
            "--notes",
            "ready",
            "--json",
        ],
    )
    .json();
    (r["request_id"].as_i64().unwrap(), r)
}

/// v1 requested by sam and approved by pat: the champion.
pub fn approve_first_version(ws: &Path) {
    let (id, _) = request(ws, "1", "sam");
    ok(&kiln(
        ws,
        &[
            "release",
            "approve",
            &id.to_string(),
            "--by",
            "pat",
            "--comment",
            "ok",
        ],
    ));
}

#[test]
fn only_an_approver_who_did_not_ask_approves_and_approval_moves_the_champion() {
    let (_d, ws) = release_workspace();
    refused(
        &kiln(
            &ws,
            &["users", "add", "eve", "--role", "admin", "--by", "sam"],
        ),
        "only an admin",
    );
    let (id, report) = request(&ws, "1", "sam");
    assert_eq!(report["gates_passed"], true);
    assert!(
        report["candidate"]["rows"].as_u64().unwrap() >= 60,
        "the test rows of penguins@2"
    );
    let id = id.to_string();
    // A data scientist cannot approve; nobody approves without a comment; unknown users are nobody.
    refused(
        &kiln(
            &ws,
            &["release", "approve", &id, "--by", "sam", "--comment", "ok"],
        ),
        "only an approver or admin",
    );
    refused(
        &kiln(
            &ws,
            &[
                "release",
                "approve",
                &id,
                "--by",
                "mallory",
                "--comment",
                "ok",
            ],
        ),
        "not a workspace user",
    );
    refused(
        &kiln(
            &ws,
            &["release", "approve", &id, "--by", "pat", "--comment", " "],
        ),
        "needs a comment",
    );
    assert_eq!(champion(&ws), None);
    let a = kiln(
        &ws,
        &[
            "release",
            "approve",
            &id,
            "--by",
            "pat",
            "--comment",
            "looks right",
            "--json",
        ],
    )
    .json();
    assert_eq!(a["status"], "approved");
    assert_eq!(champion(&ws), Some(1));
    refused(
        &kiln(
            &ws,
            &[
                "release",
                "approve",
                &id,
                "--by",
                "ada",
                "--comment",
                "again",
            ],
        ),
        "already approved",
    );
    // The requester never approves their own request, whatever their role.
    let (own, _) = request(&ws, "2", "pat");
    refused(
        &kiln(
            &ws,
            &[
                "release",
                "approve",
                &own.to_string(),
                "--by",
                "pat",
                "--comment",
                "mine",
            ],
        ),
        "second person",
    );
    // `champion` is protected: no direct move.
    refused(
        &kiln(
            &ws,
            &[
                "models",
                "alias",
                "penguin-id",
                "champion",
                "--version",
                "2",
            ],
        ),
        "moves only through",
    );
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
    assert_eq!(
        kiln(&ws, &["models", "show", "penguin-id", "--json"]).json()["staging"],
        2
    );
}

#[test]
fn a_failed_gate_blocks_until_an_admin_overrides_with_a_reason_and_rollback_restores() {
    let (_d, ws) = release_workspace();
    let (first, _) = request(&ws, "1", "sam");
    ok(&kiln(
        &ws,
        &[
            "release",
            "approve",
            &first.to_string(),
            "--by",
            "pat",
            "--comment",
            "first release",
        ],
    ));
    // An unreachable target: the request is filed with its failed gate.
    ok(&kiln(
        &ws,
        &[
            "models",
            "brief",
            "penguin-id",
            "--target",
            "accuracy>=1.01",
            "--target",
            "latency_p99_ms<=1000",
            "--by",
            "pat",
        ],
    ));
    let (id, report) = request(&ws, "2", "sam");
    assert_eq!(report["gates_passed"], false);
    assert_eq!(report["gates"][0]["passed"], false);
    assert_eq!(report["gates"][1]["passed"], true);
    assert_eq!(report["champion_version"], 1);
    assert!(report["verdict"].as_str().unwrap().contains("95% CI"));
    assert!(
        report["changes"]["params"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p[0] == "epochs")
    );
    let gate = kiln(&ws, &["gate", "penguin-id", "--version", "2"]);
    refused(&gate, "fails its quality gates");
    let id = id.to_string();
    refused(
        &kiln(
            &ws,
            &[
                "release",
                "approve",
                &id,
                "--by",
                "pat",
                "--comment",
                "ship it",
            ],
        ),
        "only an admin can override",
    );
    refused(
        &kiln(
            &ws,
            &[
                "release",
                "approve",
                &id,
                "--by",
                "ada",
                "--comment",
                "ship it",
            ],
        ),
        "override reason",
    );
    ok(&kiln(
        &ws,
        &[
            "release",
            "approve",
            &id,
            "--by",
            "ada",
            "--comment",
            "ship it",
            "--override",
            "target is a typo, fixed next",
        ],
    ));
    assert_eq!(champion(&ws), Some(2));
    let r = kiln(&ws, &["release", "list", "--json"]).json();
    assert_eq!(r[0]["override_reason"], "target is a typo, fixed next");

    // Rollback: an approver, with a comment; back to v1, audited.
    refused(
        &kiln(
            &ws,
            &[
                "release",
                "rollback",
                "penguin-id",
                "--by",
                "sam",
                "--comment",
                "oops",
            ],
        ),
        "only an approver",
    );
    let back = kiln(
        &ws,
        &[
            "release",
            "rollback",
            "penguin-id",
            "--by",
            "pat",
            "--comment",
            "v2 misroutes Chinstraps",
            "--json",
        ],
    )
    .json();
    assert_eq!(
        (back["from"].as_i64(), back["to"].as_i64()),
        (Some(2), Some(1))
    );
    assert_eq!(champion(&ws), Some(1));
    let log = kiln(&ws, &["audit", "log", "--json"]).json();
    let actions: Vec<&str> = log["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["action"].as_str().unwrap())
        .collect();
    for a in [
        "user.set",
        "model.registered",
        "model.brief",
        "release.requested",
        "release.approved",
        "alias.moved",
        "release.rollback",
    ] {
        assert!(actions.contains(&a), "{a} missing from {actions:?}");
    }
}

#[test]
fn audit_verify_names_a_row_edited_or_deleted_in_sqlite_and_answers_champion_at_a_time() {
    let (_d, ws) = release_workspace();
    approve_first_version(&ws);
    let log = kiln(&ws, &["audit", "log", "--json"]).json();
    let rows = log["rows"].as_array().unwrap();
    // The champion's move (the request moved QA's alias before it).
    let approved_at = rows
        .iter()
        .find(|r| r["action"] == "alias.moved" && r["subject"] == "penguin-id@champion")
        .unwrap()["at"]
        .as_str()
        .unwrap()
        .to_owned();
    let before = rows
        .iter()
        .find(|r| r["action"] == "release.requested")
        .unwrap()["at"]
        .as_str()
        .unwrap()
        .to_owned();
    let at = kiln(&ws, &["audit", "log", "--at", &approved_at, "--json"]).json();
    assert_eq!(at["champions"]["penguin-id"], 1);
    let at = kiln(&ws, &["audit", "log", "--at", &before, "--json"]).json();
    assert!(
        at["champions"].as_object().unwrap().is_empty(),
        "no champion before the approval"
    );
    let v = kiln(&ws, &["audit", "verify", "--json"]).json();
    assert_eq!(
        (v["ok"].as_bool(), v["rows"].as_u64()),
        (Some(true), Some(rows.len() as u64))
    );

    let db = rusqlite::Connection::open(ws.join("kiln.db")).unwrap();
    db.execute("UPDATE audit_log SET actor = 'mallory' WHERE id = 4", [])
        .unwrap();
    let r = kiln(&ws, &["audit", "verify"]);
    refused(&r, "broken at row 4");
    assert!(r.stderr.contains("edited"), "{}", r.stderr);
    db.execute(
        "UPDATE audit_log SET actor = (SELECT actor FROM audit_log WHERE id = 3) WHERE id = 4",
        [],
    )
    .ok();
    // Put it back as it was is not possible without the original; start over and delete a row instead.
    let (_d2, ws2) = release_workspace();
    let db2 = rusqlite::Connection::open(ws2.join("kiln.db")).unwrap();
    db2.execute("DELETE FROM audit_log WHERE id = 2", [])
        .unwrap();
    refused(&kiln(&ws2, &["audit", "verify"]), "row 2 is missing");
}

#[test]
fn gates_compare_and_retrain_from_the_command_line() {
    let (_d, ws) = release_workspace();
    ok(&kiln(&ws, &["gate", "penguin-id", "--version", "2"]));
    let c = kiln(
        &ws,
        &["release", "compare", "penguin-id", "1", "2", "--json"],
    )
    .json();
    let p = c["p_value"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&p));
    assert!(c["ci_low"].as_f64().unwrap() <= c["difference"].as_f64().unwrap());
    assert_eq!(c["resamples"], 10_000);
    // The same command twice gives the same interval (seeded).
    assert_eq!(
        c,
        kiln(
            &ws,
            &["release", "compare", "penguin-id", "1", "2", "--json"]
        )
        .json()
    );

    let (id, _) = request(&ws, "2", "sam");
    ok(&kiln(
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
    ));
    // New data arrives (a relabelled copy is still penguins@3); retrain the champion's configuration.
    ok(&kiln(
        &ws,
        &[
            "datasets",
            "split",
            "penguins",
            "--ratios",
            "0.7,0.1,0.2",
            "--seed",
            "4",
            "--stratify",
            "species",
        ],
    ));
    let r = kiln(&ws, &["retrain", "penguin-id", "--by", "sam", "--json"]).json();
    assert_eq!(r["dataset"], "penguins@3");
    assert_eq!(r["version"], 3);
    assert_eq!(r["gates_passed"], true);
    let req = r["request_id"]
        .as_i64()
        .expect("a passing retrain files a request");
    let pending = kiln(&ws, &["release", "list", "--pending", "--json"]).json();
    assert_eq!(pending[0]["id"].as_i64(), Some(req));
    let card = kiln(
        &ws,
        &["models", "show", "penguin-id", "--version", "3", "--json"],
    )
    .json();
    assert_eq!(card["training_data"]["version"], 3);
    let lineage = card["lineage"].as_array().unwrap();
    assert_eq!(
        lineage.last().unwrap()["operation"],
        "import",
        "lineage reaches the raw import"
    );
    assert_eq!(card["run"]["params"]["epochs"], 40);
}

#[test]
fn poc_verdicts_and_comments_are_part_of_the_history() {
    let (_d, ws) = release_workspace();
    train_penguins(&ws, "epochs=5");
    ok(&kiln(
        &ws,
        &[
            "models",
            "register",
            "--run",
            "3",
            "--name",
            "penguin-id",
            "--stage",
            "poc",
            "--by",
            "sam",
        ],
    ));
    refused(
        &kiln(
            &ws,
            &[
                "models",
                "comment",
                "penguin-id",
                "--text",
                "  ",
                "--by",
                "pat",
            ],
        ),
        "needs text",
    );
    ok(&kiln(
        &ws,
        &[
            "models",
            "comment",
            "penguin-id",
            "--version",
            "3",
            "--text",
            "bill length alone would do",
            "--accept",
            "--by",
            "pat",
        ],
    ));
    let o = kiln(&ws, &["models", "show", "penguin-id", "--json"]).json();
    assert_eq!(o["versions"][2]["stage"], "poc");
    assert_eq!(o["versions"][2]["accepted"], true);
    assert_eq!(o["comments"][0]["text"], "bill length alone would do");
    refused(
        &kiln(
            &ws,
            &["models", "brief", "penguin-id", "--target", "accuracy=0.9"],
        ),
        "invalid target",
    );
    refused(
        &kiln(&ws, &["models", "brief", "penguin-id", "--eval", "nope@1"]),
        "nope",
    );
    refused(
        &kiln(&ws, &["models", "register", "--run", "99", "--name", "x"]),
        "no run 99",
    );
}

/// Replay on a workspace whose champion served logged requests, a label back for every third: the
/// agreement, the class flips and who was right equal a count over the two versions' own predictions of
/// those rows; `--limit` and `--since` choose the requests; no champion, no traffic — each said plainly.
#[test]
fn replay_runs_the_champions_logged_requests_through_a_candidate() {
    let (_d, ws) = release_workspace();
    let replay = |extra: &[&str]| {
        let mut args = vec!["release", "replay", "penguin-id", "--version", "2"];
        args.extend_from_slice(extra);
        kiln(&ws, &args)
    };
    refused(&replay(&[]), "no champion");
    approve_first_version(&ws);
    refused(&replay(&[]), "no logged requests");

    let t = log_champion_traffic(&ws);
    let (by_champion, by_candidate, species, n) = (
        &t.by_champion,
        &t.by_candidate,
        &t.species,
        t.by_champion.len(),
    );
    // Expected, by counting.
    let disagree: Vec<usize> = (0..n)
        .filter(|&i| by_champion[i] != by_candidate[i])
        .collect();
    let labelled: Vec<usize> = (0..n)
        .step_by(3)
        .filter(|&i| species.get(i).is_some())
        .collect();
    let right = |p: &[String], rows: &[usize]| {
        rows.iter()
            .filter(|&&i| species.get(i) == Some(p[i].as_str()))
            .count()
    };
    let labelled_disagree: Vec<usize> = disagree.iter().copied().filter(|i| i % 3 == 0).collect();
    // The short run (v1) and the longer one (v2) answer some rows differently: the case is not trivial.
    assert!(!disagree.is_empty() && !labelled_disagree.is_empty());
    let r = replay(&["--json"]);
    ok(&r);
    let j = r.json();
    assert_eq!(j["requests"], n);
    assert_eq!(j["agreed"], n - disagree.len());
    assert_eq!(j["disagreements"].as_array().unwrap().len(), disagree.len());
    assert_eq!(j["labelled"], labelled.len());
    assert_eq!(j["champion_right"], right(by_champion, &labelled));
    assert_eq!(j["candidate_right"], right(by_candidate, &labelled));
    assert_eq!(j["labelled_disagreements"], labelled_disagree.len());
    assert_eq!(
        j["candidate_right_on_disagreements"],
        right(by_candidate, &labelled_disagree)
    );
    let flipped: usize = j["flips"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f[0] != f[1])
        .map(|f| f[2].as_u64().unwrap() as usize)
        .sum();
    assert_eq!(flipped, disagree.len());
    assert!(
        j["sentence"]
            .as_str()
            .unwrap()
            .contains("agrees with the champion (v1) on"),
        "{j}"
    );
    // The most recent requests only, and a window with none.
    let served_last = replay(&["--limit", "10", "--json"]).json();
    assert_eq!(served_last["requests"], 10);
    let day3 = replay(&["--since", "2026-12-03", "--json"]).json();
    assert_eq!(day3["requests"], (0..n).filter(|i| i % 3 == 2).count());
    refused(&replay(&["--since", "2027-01-01"]), "no logged requests");
    // The release request carries the same replay, each disagreement with the request's features.
    let (_, report) = request(&ws, "2", "sam");
    let kept = &report["replay"];
    for field in [
        "requests",
        "agreed",
        "labelled",
        "candidate_right_on_disagreements",
        "flips",
    ] {
        assert_eq!(kept[field], j[field], "{field}");
    }
    let first = &kept["disagreements"][0];
    let i: usize = first["prediction_id"].as_str().unwrap()[1..]
        .parse()
        .unwrap();
    assert_eq!(first["champion"], by_champion[i].as_str());
    let cells = first["features"].as_array().unwrap();
    assert_eq!(cells.len(), t.inputs.len());
    let bill = cells.iter().find(|c| c[0] == "bill_length_mm").unwrap();
    assert_eq!(
        bill[1].as_str().unwrap().parse::<f64>().ok(),
        t.bill_length[i]
    ); // As a gate: the share answered alike must reach the brief's target.
    ok(&kiln(
        &ws,
        &[
            "models",
            "brief",
            "penguin-id",
            "--target",
            "replay_agreement>=0.99",
            "--by",
            "pat",
        ],
    ));
    let (_, report) = request(&ws, "2", "sam");
    let gate = report["gates"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["gate"].as_str().unwrap().starts_with("replay_agreement"))
        .unwrap()
        .clone();
    assert_eq!(gate["value"], j["agreement"]);
    assert_eq!(gate["passed"], false);
    assert_eq!(report["gates_passed"], false);
}

/// What the champion (v1) answered to every row of the evaluation data, logged as served with features
/// (`p0`, `p1`, … over three days), a label back for every third row; and what v2 answers to the same.
pub struct Traffic {
    pub by_champion: Vec<String>,
    pub by_candidate: Vec<String>,
    pub species: kiln_core::data::polars::prelude::StringChunked,
    pub inputs: Vec<String>,
    pub bill_length: Vec<Option<f64>>,
}

pub fn log_champion_traffic(ws: &Path) -> Traffic {
    use kiln_core::data::polars::prelude::AnyValue;
    // The champion's traffic: every row of the evaluation data, as the server logs it.
    let mut w = kiln_core::Workspace::open(ws).unwrap();
    let rows = w.load(&w.resolve("penguins@2").unwrap()).unwrap();
    // What a client sends: every column but the label and the split.
    let inputs: Vec<String> = rows
        .get_column_names()
        .iter()
        .map(ToString::to_string)
        .filter(|c| !["species", "split", kiln_core::data::ROW_ID].contains(&c.as_str()))
        .collect();
    let frame = rows.select(inputs.iter().map(String::as_str)).unwrap();
    let run = |v: i64| w.model_card("penguin-id", v).unwrap().run.id;
    let by_champion = w.predict(run(1), &frame).unwrap();
    let by_candidate = w.predict(run(2), &frame).unwrap();
    let species = rows.column("species").unwrap().str().unwrap().clone();
    let mut served = Vec::new();
    for (i, class) in by_champion.iter().enumerate() {
        let mut features = serde_json::Map::new();
        for c in &inputs {
            let v = match frame.column(c).unwrap().get(i).unwrap() {
                AnyValue::Null => serde_json::Value::Null,
                AnyValue::String(s) => serde_json::json!(s),
                other => serde_json::json!(other.extract::<f64>().unwrap()),
            };
            features.insert(c.clone(), v);
        }
        served.push(kiln_store::ServedRequest {
            at: format!("2026-12-0{}T10:00:{:02}Z", 1 + i % 3, i % 60),
            model: "penguin-id".into(),
            version: Some(1),
            endpoint: "/v1/predict".into(),
            status: 200,
            latency_ms: 1.0,
            prediction_id: Some(format!("p{i}")),
            class: Some(class.clone()),
            features: Some(serde_json::Value::Object(features).to_string()),
            replica: None,
        });
    }
    w.log_served(&served).unwrap();
    for i in (0..frame.height()).step_by(3) {
        if let Some(label) = species.get(i) {
            w.record_feedback(&format!("p{i}"), Some(label), None)
                .unwrap();
        }
    }
    drop(w);
    Traffic {
        bill_length: frame
            .column("bill_length_mm")
            .unwrap()
            .cast(&kiln_core::data::polars::prelude::DataType::Float64)
            .unwrap()
            .f64()
            .unwrap()
            .iter()
            .collect(),
        by_champion,
        by_candidate,
        species,
        inputs,
    }
}
