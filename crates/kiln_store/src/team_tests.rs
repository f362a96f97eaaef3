//! A team workspace's security, tested with real login roles: what each user may do through Kiln, and
//! that raw SQL over a data scientist's own connection cannot do what the functions refuse.

use crate::team::{self, TeamUrl};
use crate::{Store, StoreError, testing};

struct Team {
    /// The creator's (an admin's) URL.
    admin_url: String,
    database: String,
    /// `(name, password)` of a data scientist and of an approver.
    scientist: (String, String),
    approver: (String, String),
}

impl Team {
    fn url_of(&self, (user, password): &(String, String)) -> String {
        let base = &testing::cluster().base_url;
        let host = base.rsplit_once('@').map_or(base.as_str(), |(_, h)| h);
        format!("postgres://{user}:{password}@{host}/{}", self.database)
    }

    fn store_of(&self, who: &(String, String)) -> Store {
        team::open(&TeamUrl::parse(&self.url_of(who), None).unwrap()).unwrap()
    }

    fn raw(&self, who: &(String, String)) -> postgres::Client {
        postgres::Client::connect(&self.url_of(who), postgres::NoTls).unwrap()
    }
}

/// A team workspace with a data scientist who trained, registered and filed a request, and an approver.
fn team_with_a_request() -> (Team, i64) {
    let admin_url = testing::fresh_database("team");
    // The workspace is created by the URL's (super)user on a database name of its own.
    let database = admin_url.rsplit('/').next().unwrap().to_owned();
    let url = TeamUrl::parse(&admin_url, None).unwrap();
    let mut admin = team::create(&url, "s3://bucket/prefix").unwrap();
    let scientist = (testing::unique("alice"), "alice-secret".to_owned());
    let approver = (testing::unique("pat"), "pat-secret".to_owned());
    admin
        .set_team_user(&scientist.0, "data-scientist", Some(&scientist.1))
        .unwrap();
    admin
        .set_team_user(&approver.0, "approver", Some(&approver.1))
        .unwrap();
    let t = Team {
        admin_url,
        database,
        scientist,
        approver,
    };
    let mut alice = t.store_of(&t.scientist);
    let v = alice
        .insert_version(&crate::tests::new_version("digits", "h1"), || Ok(()))
        .unwrap()
        .unwrap();
    let run = alice
        .start_run(&crate::NewRun {
            dataset_version_id: v.id,
            model: "mlp",
            target: "y",
            features: serde_json::json!([]),
            params: serde_json::json!({}),
            split: serde_json::json!({}),
            device: "cpu",
            seed: 1,
            kiln_version: "0",
            git_commit: None,
            sweep_id: None,
        })
        .unwrap();
    for _ in 0..2 {
        assert!(
            alice
                .register_version("digits-clf", run, "staging", "ignored")
                .unwrap()
                > 0
        );
    }
    let report = serde_json::json!({"gates_passed": true});
    let id = alice
        .create_request("digits-clf", 2, "ignored", "better", &report)
        .unwrap();
    (t, id)
}

fn refused(result: Result<impl std::fmt::Debug, postgres::Error>, what: &str) -> String {
    let e = result.expect_err(&format!("PostgreSQL let the data scientist {what}"));
    e.as_db_error()
        .map_or_else(|| e.to_string(), |d| d.message().to_owned())
}

#[test]
fn the_database_refuses_what_a_data_scientist_may_not_do_even_in_raw_sql() {
    let (t, id) = team_with_a_request();
    let scientist = t.scientist.0.clone();
    let mut alice = t.store_of(&t.scientist);
    assert_eq!(
        alice.session_user().unwrap().as_deref(),
        Some(scientist.as_str())
    );
    assert_eq!(
        alice.database_role_of(&scientist).unwrap().as_deref(),
        Some("data-scientist")
    );
    // The request and the audit rows name her, whatever name the client passed.
    let req = alice.request(id).unwrap();
    assert_eq!(req.requested_by, scientist);
    assert!(
        alice
            .audit_rows()
            .unwrap()
            .iter()
            .all(|r| r.actor != "ignored")
    );

    // Through Kiln: her own approval is refused by the database, and so is moving champion.
    let e = alice
        .decide_request(id, true, "me", "fine", None)
        .unwrap_err();
    assert!(e.to_string().contains("only an approver or admin"), "{e}");
    let e = alice
        .set_alias("digits-clf", "champion", 2, "me")
        .unwrap_err();
    assert!(e.to_string().contains("moves only through"), "{e}");

    // Raw SQL over her own connection.
    let mut raw = t.raw(&t.scientist);
    let attacks: Vec<(&str, String)> = vec![
        (
            "approve her own request",
            format!("SELECT kiln_decide_request({id}, true, 'lgtm', NULL)"),
        ),
        (
            "mark her request approved",
            format!(
                "UPDATE release_requests SET status = 'approved', decided_by = 'pat' WHERE id = {id}"
            ),
        ),
        (
            "move champion",
            "INSERT INTO alias_history (model, alias, version, at, actor) \
            VALUES ('digits-clf', 'champion', 2, 'now', 'pat')"
                .into(),
        ),
        (
            "move champion through the helper",
            "SELECT kiln_move_alias('digits-clf', 'champion', 2)".into(),
        ),
        (
            "update an audit row",
            "UPDATE audit_log SET actor = 'pat'".into(),
        ),
        ("delete audit rows", "DELETE FROM audit_log".into()),
        ("truncate the audit log", "TRUNCATE audit_log".into()),
        (
            "insert an audit row in another user's name",
            "INSERT INTO audit_log (at, actor, action, subject, detail, prev_hash, hash) \
             VALUES ('x', 'pat', 'release.approved', 'request 1', '{}', '', '')"
                .into(),
        ),
        (
            "write an audit row through the helper",
            "SELECT kiln_audit('release.approved', 'x', '{}')".into(),
        ),
        (
            "grant herself the approver role",
            format!("GRANT {}_approver TO {scientist}", t.database),
        ),
        (
            "make herself an admin through Kiln",
            format!("SELECT kiln_set_user('{scientist}', 'admin', NULL)"),
        ),
        ("act as the owner", format!("SET ROLE {}_owner", t.database)),
        (
            "add herself to the users table",
            format!(
                "INSERT INTO users (name, role, created_at) VALUES ('{scientist}', 'admin', 'now') \
             ON CONFLICT (name) DO UPDATE SET role = 'admin'"
            ),
        ),
        (
            "replace Kiln's approval function",
            "CREATE OR REPLACE FUNCTION kiln_decide_request(\
            p_id bigint, p_approve boolean, p_comment text, p_override text) RETURNS void \
            LANGUAGE sql AS $$ SELECT $$"
                .into(),
        ),
        (
            "alter Kiln's approval function",
            "ALTER FUNCTION kiln_decide_request(bigint, boolean, text, text) SECURITY INVOKER"
                .into(),
        ),
        (
            "drop the audit trigger",
            "DROP TRIGGER audit_no_change ON audit_log".into(),
        ),
        (
            "disable row security",
            "ALTER TABLE release_requests DISABLE ROW LEVEL SECURITY".into(),
        ),
        (
            "disable the audit triggers",
            "ALTER TABLE audit_log DISABLE TRIGGER ALL".into(),
        ),
        (
            "create a table of her own in the workspace",
            "CREATE TABLE public.mine (x int)".into(),
        ),
    ];
    for (what, sql) in &attacks {
        let message = refused(raw.batch_execute(sql), what);
        // Refused for want of authority, not for a mistake in the attack.
        assert!(
            [
                "permission denied",
                "must be owner",
                "must have admin option",
                "only "
            ]
            .iter()
            .any(|m| message.contains(m)),
            "{what}: {message}"
        );
    }
    // Turning row security off for her session does not open the guarded tables to writes either.
    raw.batch_execute("SET row_security = off").unwrap();
    refused(
        raw.batch_execute(&format!(
            "UPDATE release_requests SET status = 'approved' WHERE id = {id}"
        )),
        "update a request with row security off",
    );
    // Metric points of a run that does not exist are refused (checked per statement, as a foreign key
    // would per row).
    raw.batch_execute("SET row_security = on").unwrap();
    let orphan = raw
        .batch_execute(
            "INSERT INTO run_metrics (run_id, name, step, value) VALUES (987654, 'loss', 0, 1.0)",
        )
        .expect_err("a point of a run that does not exist");
    assert!(
        orphan
            .to_string()
            .contains("run 987654, which does not exist")
            || orphan
                .as_db_error()
                .is_some_and(|d| d.message().contains("run 987654, which does not exist")),
        "{orphan}"
    );
    // Nothing changed.
    let req = alice.request(id).unwrap();
    assert_eq!((req.status.as_str(), req.decided_by), ("pending", None));
    assert_eq!(alice.alias("digits-clf", crate::CHAMPION).unwrap(), None);
    assert_eq!(
        alice.database_role_of(&scientist).unwrap().as_deref(),
        Some("data-scientist")
    );

    // The approver approves someone else's request: champion moves in the same transaction.
    let mut pat = t.store_of(&t.approver);
    let e = pat.decide_request(id, true, "me", "", None).unwrap_err();
    assert!(e.to_string().contains("needs a comment"), "{e}");
    pat.decide_request(id, true, "ignored", "looks right", None)
        .unwrap();
    let req = alice.request(id).unwrap();
    assert_eq!(
        (req.status.as_str(), req.decided_by.as_deref()),
        ("approved", Some(t.approver.0.as_str()))
    );
    assert_eq!(alice.alias("digits-clf", crate::CHAMPION).unwrap(), Some(2));
    let moved = alice.alias_history("digits-clf").unwrap();
    assert_eq!(moved.last().unwrap().actor, t.approver.0);
    // An approver's own request needs another approver: four eyes hold for approvers too.
    let own = pat
        .create_request(
            "digits-clf",
            1,
            "ignored",
            "mine",
            &serde_json::json!({"gates_passed": true}),
        )
        .unwrap();
    let e = pat
        .decide_request(own, true, "ignored", "fine", None)
        .unwrap_err();
    assert!(
        e.to_string().contains("needs a second person's approval"),
        "{e}"
    );
    // A failed gate is overridden only by an admin with a reason.
    let failed = alice
        .create_request(
            "digits-clf",
            1,
            "ignored",
            "worse",
            &serde_json::json!({"gates_passed": false}),
        )
        .unwrap();
    let e = pat
        .decide_request(failed, true, "ignored", "ship it", Some("urgent"))
        .unwrap_err();
    assert!(e.to_string().contains("only an admin can override"), "{e}");
    // A second decision is refused; a rollback by the data scientist too.
    let e = pat.decide_request(id, false, "x", "no", None).unwrap_err();
    assert!(e.to_string().contains("already approved"), "{e}");
    let e = alice.rollback("digits-clf", "x", "back").unwrap_err();
    assert!(
        e.to_string()
            .contains("only an approver or admin rolls back"),
        "{e}"
    );

    // The chain holds after the attacks, every row's actor is a real login role, and hashes are
    // computed by the server (sha256 chain).
    let rows = alice.audit_rows().unwrap();
    let mut prev = String::new();
    for r in &rows {
        assert_eq!(r.prev_hash, prev, "row {}", r.id);
        assert_eq!(r.expected_hash(&prev), r.hash, "row {}", r.id);
        assert!(r.hash.starts_with("sha256:"));
        prev = r.hash.clone();
    }
    let actors: std::collections::BTreeSet<&str> = rows.iter().map(|r| r.actor.as_str()).collect();
    let admin_user = TeamUrl::parse(&t.admin_url, None).unwrap().user;
    let expected: std::collections::BTreeSet<&str> = [
        admin_user.as_str(),
        t.scientist.0.as_str(),
        t.approver.0.as_str(),
    ]
    .into();
    assert_eq!(actors, expected);
}

#[test]
fn only_an_admin_manages_users_and_the_store_refuses_local_user_names_there() {
    let (t, _) = team_with_a_request();
    let mut pat = t.store_of(&t.approver);
    let e = pat
        .set_team_user("mallory", "admin", Some("x"))
        .unwrap_err();
    assert!(e.to_string().contains("only an admin manages users"), "{e}");
    let mut admin = team::open(&TeamUrl::parse(&t.admin_url, None).unwrap()).unwrap();
    let e = admin.set_team_user("newcomer", "admin", None).unwrap_err();
    assert!(e.to_string().contains("needs a password"), "{e}");
    let bob = (testing::unique("bob"), "bob-pw".to_owned());
    admin
        .set_team_user(&bob.0, "approver", Some(&bob.1))
        .unwrap();
    let bob_store = t.store_of(&bob);
    assert_eq!(
        bob_store.database_role_of(&bob.0).unwrap().as_deref(),
        Some("approver")
    );
    assert!(
        admin
            .users()
            .unwrap()
            .iter()
            .any(|u| u.name == bob.0 && u.role == "approver")
    );
    // The audit log refuses changes even from the server's superuser (the trigger fires for everyone).
    let mut superuser = postgres::Client::connect(&t.admin_url, postgres::NoTls).unwrap();
    for sql in [
        "UPDATE audit_log SET actor = 'x'",
        "DELETE FROM audit_log",
        "TRUNCATE audit_log",
    ] {
        let e = superuser.batch_execute(sql).unwrap_err();
        assert!(
            e.as_db_error().unwrap().message().contains("append-only"),
            "{sql}: {e}"
        );
    }
    // A wrong password is refused by the server, with the user and the workspace named.
    let wrong = (bob.0.clone(), "nope".to_owned());
    let e = team::open(&TeamUrl::parse(&t.url_of(&wrong), None).unwrap()).unwrap_err();
    assert!(matches!(e, StoreError::Team(_)), "{e}");
    assert!(e.to_string().contains(&bob.0), "{e}");
}

#[test]
fn every_open_connection_hears_a_change_without_querying() {
    let (t, _) = team_with_a_request();
    let watcher = t.store_of(&t.approver);
    let start = watcher.data_version().unwrap();
    assert_eq!(watcher.data_version().unwrap(), start, "no change, no news");
    let mut alice = t.store_of(&t.scientist);
    alice
        .create_request(
            "digits-clf",
            1,
            "ignored",
            "again",
            &serde_json::json!({"gates_passed": true}),
        )
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
    while watcher.data_version().unwrap() == start {
        assert!(
            std::time::Instant::now() < deadline,
            "no notification within 2 s"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let marks = watcher.change_marks().unwrap();
    assert!(!marks.lists.is_empty());
}

#[test]
fn a_terminated_session_is_reconnected_and_no_metric_point_is_lost() {
    let (t, _) = team_with_a_request();
    let mut alice = t.store_of(&t.scientist);
    let run = alice.list_runs().unwrap()[0].id;
    let points = |from: i64| -> Vec<crate::MetricPoint> {
        (from..from + 500)
            .map(|i| crate::MetricPoint {
                name: "loss".into(),
                step: i,
                epoch: Some(i / 100),
                value: 1.0 / (i + 1) as f64,
                wall_s: None,
            })
            .collect()
    };
    alice.log_metrics(run, &points(0)).unwrap();
    // The administrator ends every session of hers (as a restart would).
    let mut superuser = postgres::Client::connect(&t.admin_url, postgres::NoTls).unwrap();
    let ended = superuser
        .query(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1",
            &[&t.scientist.0],
        )
        .unwrap();
    assert!(!ended.is_empty());
    std::thread::sleep(std::time::Duration::from_millis(200));
    alice.log_metrics(run, &points(500)).unwrap();
    let history = alice.metric_history(run).unwrap();
    assert_eq!(history.len(), 1000);
    assert!(history.iter().map(|p| p.step).eq(0..1000));
}

#[test]
fn a_run_is_interrupted_only_when_its_session_is_gone_whatever_the_machine() {
    let (t, _) = team_with_a_request();
    let alice = t.store_of(&t.scientist);
    let v = alice.get_version("digits", None).unwrap();
    let run = alice
        .start_run(&crate::NewRun {
            dataset_version_id: v.id,
            model: "mlp",
            target: "y",
            features: serde_json::json!([]),
            params: serde_json::json!({"lr": 0.01}),
            split: serde_json::json!({}),
            device: "cpu",
            seed: 2,
            kiln_version: "0",
            git_commit: None,
            sweep_id: None,
        })
        .unwrap();
    // Another client (another machine: its process check knows nothing of this pid) leaves it alone.
    let pat = t.store_of(&t.approver);
    let before: Vec<i64> = pat
        .list_runs()
        .unwrap()
        .iter()
        .filter(|r| r.status == crate::RunStatus::Running)
        .map(|r| r.id)
        .collect();
    assert!(before.contains(&run));
    let marked = pat.mark_interrupted(|_| false).unwrap();
    assert_eq!(pat.run(run).unwrap().status, crate::RunStatus::Running);
    // The earlier run of the setup has no live session: it was the one marked.
    assert_eq!(marked, before.len() - 1);
    // Her process ends (its connection closes): now it is interrupted.
    drop(alice);
    std::thread::sleep(std::time::Duration::from_millis(200));
    assert_eq!(pat.mark_interrupted(|_| true).unwrap(), 1);
    assert_eq!(pat.run(run).unwrap().status, crate::RunStatus::Interrupted);
}

#[test]
fn tls_encrypts_with_require_and_verify_full_checks_the_certificate() {
    let url = testing::fresh_database("tls");
    let ca = testing::cluster().ca_file.clone().expect(
        "the TLS test needs the test server's certificate: use the PostgreSQL the tests start, or name \
         a running server's CA in KILN_TEST_POSTGRES_CA",
    );
    let encrypted = |u: &str| -> bool {
        let mut c = TeamUrl::parse(u, None).unwrap().connect().unwrap();
        c.query_one(
            "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
            &[],
        )
        .unwrap()
        .get(0)
    };
    assert!(!encrypted(&url), "no sslmode: plain (prefer without TLS)");
    assert!(encrypted(&format!("{url}?sslmode=require")));
    let verified = format!("{url}?sslmode=verify-full&sslrootcert={}", ca.display());
    assert!(encrypted(&verified));
    // The TLS settings survive being written down without the password.
    let parsed = TeamUrl::parse(&verified, None).unwrap();
    assert!(
        parsed
            .url_without_password()
            .contains("sslmode=verify-full")
    );
    // A certificate no trusted root signed is refused under verify-full, saying so.
    let Err(e) = TeamUrl::parse(&format!("{url}?sslmode=verify-full"), None)
        .unwrap()
        .connect()
    else {
        panic!("a self-signed certificate passed verify-full");
    };
    assert!(e.to_string().contains("certificate"), "{e}");
    // A team workspace over TLS works like any other.
    let admin = TeamUrl::parse(&format!("{url}?sslmode=require"), None).unwrap();
    let mut store = team::create(&admin, "memory://").unwrap();
    assert_eq!(store.users().unwrap().len(), 1);
    store
        .set_team_user(&testing::unique("tess"), "approver", Some("pw"))
        .unwrap();
}
