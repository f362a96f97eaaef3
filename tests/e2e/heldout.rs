//! The numbers a PM approves on: evaluation never counts a row a compared version trained or validated
//! on (counts checked against the runs' own test rows), it refuses when no row is left, a brief's
//! evaluation data must fit the model, and the first user of a workspace is its admin.

use std::path::Path;

use crate::release::{ok, refused};
use crate::support::{Run, kiln};

/// Rows of the run's own test evaluation (the support of every class).
fn test_rows(ws: &Path, run: &str) -> (u64, f64) {
    let r = ok(&kiln(ws, &["runs", "show", run, "--json"])).json();
    let rows = r["evaluation"]["per_class"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["support"].as_u64().unwrap())
        .sum();
    (rows, r["metrics"]["test_accuracy"].as_f64().unwrap())
}

fn add_user(ws: &Path, name: &str, role: &str, by: &str) -> Run {
    kiln(ws, &["users", "add", name, "--role", role, "--by", by])
}

fn users(ws: &Path) {
    ok(&add_user(ws, "ada", "admin", "ada"));
    ok(&add_user(ws, "sam", "data-scientist", "ada"));
    ok(&add_user(ws, "pat", "approver", "ada"));
}

fn train(ws: &Path, dataset: &str, seed: &str) {
    ok(&kiln(
        ws,
        &[
            "train",
            "--dataset",
            dataset,
            "--target",
            "species",
            "--device",
            "cpu",
            "--param",
            "epochs=4",
            "--param",
            &format!("seed={seed}"),
        ],
    ));
}

fn register(ws: &Path, run: &str, model: &str) {
    ok(&kiln(
        ws,
        &[
            "models", "register", "--run", run, "--name", model, "--by", "sam",
        ],
    ));
}

fn brief(ws: &Path, model: &str, eval: &str) -> Run {
    kiln(
        ws,
        &[
            "models",
            "brief",
            model,
            "--problem",
            "Tell the species",
            "--target",
            "accuracy>=0.2",
            "--eval",
            eval,
            "--by",
            "pat",
        ],
    )
}

fn gate(ws: &Path, model: &str, version: &str) -> serde_json::Value {
    let r = kiln(ws, &["gate", model, "--version", version, "--json"]);
    serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("{e}: {} {}", r.stdout, r.stderr))
}

#[test]
fn evaluation_on_the_training_version_uses_only_rows_no_compared_version_saw() {
    let d = tempfile::tempdir().unwrap();
    let ws = crate::support::penguins_workspace(d.path());
    users(&ws);
    // Two runs on penguins@1 itself (no split column: each draws its own 72/8/20 split by seed).
    train(&ws, "penguins@1", "1");
    train(&ws, "penguins@1", "2");
    register(&ws, "1", "penguin-id");
    register(&ws, "2", "penguin-id");
    ok(&brief(&ws, "penguin-id", "penguins@1"));
    let total = 344;

    // One version: exactly its run's test rows are judged, with the run's own test accuracy.
    let (rows, accuracy) = test_rows(&ws, "1");
    let g = gate(&ws, "penguin-id", "1");
    let held = &g["held_out"];
    assert_eq!(held["total"], total);
    assert_eq!(held["left_out"].as_u64().unwrap(), total - rows);
    assert_eq!(held["trained_on"], serde_json::json!([1]));
    assert_eq!(g["candidate"]["rows"].as_u64().unwrap(), rows);
    assert!(
        (g["candidate"]["accuracy"].as_f64().unwrap() - accuracy).abs() < 1e-9,
        "the gate's accuracy is the run's test accuracy: {} vs {accuracy}",
        g["candidate"]["accuracy"]
    );
    let text = ok(&kiln(&ws, &["gate", "penguin-id", "--version", "1"]))
        .stdout
        .clone();
    assert!(
        text.contains(&format!(
            "judged on {rows} rows none of the version trained on ({} of 344 left out: v1 trained or validated on them)",
            total - rows
        )),
        "{text}"
    );

    // v1 becomes champion; v2 against it is judged on the rows neither saw.
    let r = ok(&kiln(
        &ws,
        &[
            "release",
            "request",
            "penguin-id",
            "--version",
            "1",
            "--by",
            "sam",
            "--json",
        ],
    ))
    .json();
    let id = r["request_id"].as_i64().unwrap().to_string();
    ok(&kiln(
        &ws,
        &["release", "approve", &id, "--by", "pat", "--comment", "ok"],
    ));
    let g = gate(&ws, "penguin-id", "2");
    let held = &g["held_out"];
    let judged = g["candidate"]["rows"].as_u64().unwrap();
    let (rows2, _) = test_rows(&ws, "2");
    assert!(
        judged > 0 && judged < rows.min(rows2),
        "{judged} of {rows} / {rows2}"
    );
    assert_eq!(g["champion"]["rows"].as_u64().unwrap(), judged);
    assert_eq!(held["left_out"].as_u64().unwrap(), total - judged);
    assert_eq!(held["trained_on"], serde_json::json!([1, 2]));
    // The rows both runs held out, counted from the stored objects without Kiln's evaluation code.
    let both = {
        let w = kiln_core::Workspace::open(&ws).unwrap();
        let a = w.rows_seen_by(1).unwrap().ids;
        let b = w.rows_seen_by(2).unwrap().ids;
        assert_eq!(a.len() as u64, total - rows);
        assert_eq!(b.len() as u64, total - rows2);
        (0..total)
            .filter(|i| !a.contains(i) && !b.contains(i))
            .count() as u64
    };
    assert_eq!(judged, both);
    // The paired comparison and the release request use the same rows, and say so.
    let cmp = ok(&kiln(&ws, &["release", "compare", "penguin-id", "1", "2"]))
        .stdout
        .clone();
    assert!(
        cmp.contains(&format!(
            "judged on {judged} rows none of the versions trained on"
        )),
        "{cmp}"
    );
    let r = ok(&kiln(
        &ws,
        &[
            "release",
            "request",
            "penguin-id",
            "--version",
            "2",
            "--by",
            "sam",
            "--json",
        ],
    ))
    .json();
    assert_eq!(r["held_out"]["left_out"].as_u64().unwrap(), total - judged);
}

#[test]
fn no_held_out_row_refuses_and_files_nothing_and_other_columns_are_refused() {
    let d = tempfile::tempdir().unwrap();
    let ws = crate::support::penguins_workspace(d.path());
    users(&ws);
    // penguins@2: a split with no test part, so every row is trained or validated on.
    ok(&kiln(
        &ws,
        &[
            "datasets",
            "split",
            "penguins",
            "--ratios",
            "0.9,0.1,0",
            "--seed",
            "3",
        ],
    ));
    train(&ws, "penguins@2", "1");
    register(&ws, "1", "all-seen");
    let audit_before = ok(&kiln(&ws, &["audit", "log", "--json"])).json()["rows"]
        .as_array()
        .unwrap()
        .len();
    let r = brief(&ws, "all-seen", "penguins@2");
    refused(&r, "no evaluation row is held out");
    refused(&r, "kiln datasets split penguins");
    let show = ok(&kiln(&ws, &["models", "show", "all-seen", "--json"])).json();
    assert_eq!(show["brief"]["eval_dataset"], serde_json::Value::Null);
    // A brief set before the version existed: the release request is refused and nothing is filed.
    ok(&brief(&ws, "late", "penguins@2"));
    register(&ws, "1", "late");
    refused(
        &kiln(
            &ws,
            &[
                "release",
                "request",
                "late",
                "--version",
                "1",
                "--by",
                "sam",
            ],
        ),
        "no evaluation row is held out",
    );
    refused(
        &kiln(&ws, &["gate", "late", "--version", "1"]),
        "no evaluation row is held out",
    );
    let list = ok(&kiln(&ws, &["release", "list", "--json"])).json();
    assert_eq!(list.as_array().unwrap().len(), 0, "{list}");
    // Evaluation data of another dataset, with other columns.
    crate::support::iris(&ws);
    let r = brief(&ws, "all-seen", "iris@1");
    refused(&r, "iris@1 cannot judge all-seen v1");
    refused(&r, "`species`");
    let audit_after = ok(&kiln(&ws, &["audit", "log", "--json"])).json()["rows"]
        .as_array()
        .unwrap()
        .len();
    // Only the `late` brief, its registration were written; the refusals wrote nothing.
    assert_eq!(audit_after, audit_before + 2);
}

#[test]
fn the_first_user_is_the_admin_and_a_workspace_without_one_can_get_one() {
    let d = tempfile::tempdir().unwrap();
    let ws = d.path().join("ws");
    let r = add_user(&ws, "sam", "data-scientist", "sam");
    refused(&r, "the first user of a workspace is its admin");
    refused(&r, "kiln users add sam --role admin --by sam");
    assert_eq!(
        ok(&kiln(&ws, &["users", "list", "--json"])).json(),
        serde_json::json!([])
    );
    ok(&add_user(&ws, "ada", "admin", "ada"));
    ok(&add_user(&ws, "sam", "data-scientist", "ada"));
    refused(
        &add_user(&ws, "eve", "admin", "sam"),
        "only an admin manages users",
    );
    // A workspace whose only user is an approver (made before the rule) is not locked: anyone may add
    // an admin, who then manages the others.
    let old = d.path().join("old");
    drop(kiln_core::Workspace::open(&old).unwrap());
    kiln_store::Store::open(&old.join("kiln.db"))
        .unwrap()
        .add_user("pat", "approver", "pat")
        .unwrap();
    refused(
        &add_user(&old, "sam", "approver", "pat"),
        "has no admin yet",
    );
    ok(&add_user(&old, "root", "admin", "pat"));
    ok(&add_user(&old, "sam", "data-scientist", "root"));
    refused(
        &add_user(&old, "eve", "admin", "pat"),
        "only an admin manages users",
    );
}
