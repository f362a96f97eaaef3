//! A team workspace end to end: created on the test PostgreSQL with its objects in the test S3 server
//! (SeaweedFS), used through the command line by a data scientist and an approver who each connect as
//! themselves; a second client reads the shared objects; an object store that refuses an upload leaves
//! no version behind.

use std::path::{Path, PathBuf};
use std::time::Duration;

use kiln_store::team::TeamUrl;
use kiln_store::testing;

use crate::release::{ok, refused, train_penguins};
use crate::support::{fixture, kiln};

pub struct TeamSetup {
    pub _dir: tempfile::TempDir,
    pub admin_url: String,
    pub bucket: String,
    /// This client's cache folder of the workspace, as each user: `--workspace` opens the team
    /// workspace through it (the folder names the URL, the password stays in this process).
    pub admin: PathBuf,
    pub sam: PathBuf,
    pub pat: PathBuf,
    pub sam_name: String,
    pub pat_name: String,
}

fn user_url(admin_url: &str, user: &str, password: &str) -> String {
    let (_, host_db) = admin_url.rsplit_once('@').unwrap();
    format!("postgres://{user}:{password}@{host_db}")
}

fn open_as(url: &str, cache: &Path) -> kiln_core::Workspace {
    kiln_core::Workspace::open_team_in(&TeamUrl::parse(url, None).unwrap(), cache).unwrap()
}

pub fn team() -> TeamSetup {
    let s3 = testing::s3();
    kiln_core::set_client_options(s3.client_options());
    let bucket = s3.fresh_bucket("team");
    let admin_url = testing::fresh_database("e2e");
    let dir = tempfile::tempdir().unwrap();
    let r = kiln(
        dir.path(),
        &[
            "workspace",
            "create",
            &admin_url,
            "--objects",
            &bucket,
            "--json",
        ],
    )
    .json();
    assert_eq!(r["objects"], bucket.as_str());
    let admin = dir.path().join("admin");
    let mut ws = open_as(&admin_url, &admin);
    let sam_name = testing::unique("sam");
    let pat_name = testing::unique("pat");
    ws.set_team_user(
        &sam_name,
        kiln_core::release::Role::DataScientist,
        Some("sam-pw"),
    )
    .unwrap();
    ws.set_team_user(
        &pat_name,
        kiln_core::release::Role::Approver,
        Some("pat-pw"),
    )
    .unwrap();
    let sam = dir.path().join("sam");
    let pat = dir.path().join("pat");
    drop(open_as(&user_url(&admin_url, &sam_name, "sam-pw"), &sam));
    drop(open_as(&user_url(&admin_url, &pat_name, "pat-pw"), &pat));
    TeamSetup {
        _dir: dir,
        admin_url,
        bucket,
        admin,
        sam,
        pat,
        sam_name,
        pat_name,
    }
}

/// Split penguins 70/10/20 (seed 3) into `penguins@2`, in workspace `ws`.
fn split_penguins(ws: &Path) {
    ok(&kiln(
        ws,
        &[
            "datasets",
            "split",
            "penguins",
            "--ratios",
            "0.7,0.1,0.2",
            "--seed",
            "3",
        ],
    ));
}

/// The data scientist files a release request for `version`; its id.
pub fn request(t: &TeamSetup, version: &str) -> String {
    let r = kiln(
        &t.sam,
        &[
            "release",
            "request",
            "penguin-id",
            "--version",
            version,
            "--json",
        ],
    )
    .json();
    r["request_id"].as_i64().unwrap().to_string()
}

/// The approver approves request `id`.
pub fn approve(t: &TeamSetup, id: &str, comment: &str) {
    ok(&kiln(
        &t.pat,
        &["release", "approve", id, "--comment", comment],
    ));
}

/// Penguins imported (into the shared store) and split by the data scientist, trained once and
/// registered as `penguin-id` v1; the approver writes its brief.
pub fn trained(t: &TeamSetup) {
    let p = fixture("penguins.csv");
    ok(&kiln(
        &t.sam,
        &["import", p.to_str().unwrap(), "--name", "penguins"],
    ));
    ok(&kiln(
        &t.sam,
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
    let object = kiln_core::Workspace::open(&t.sam)
        .unwrap()
        .resolve("penguins@2")
        .unwrap()
        .object_path;
    let remote = kiln_core::Remote::connect(&t.bucket).unwrap();
    let size = std::fs::metadata(t.sam.join(&object)).unwrap().len();
    assert!(
        remote.has(&object, size).unwrap(),
        "{object} is in the shared store"
    );
    train_penguins(&t.sam, "epochs=3");
    ok(&kiln(
        &t.sam,
        &["models", "register", "--run", "1", "--name", "penguin-id"],
    ));
    // Naming someone else is refused: the database knows who is connected.
    refused(
        &kiln(
            &t.sam,
            &[
                "models",
                "register",
                "--run",
                "1",
                "--name",
                "penguin-id",
                "--by",
                &t.pat_name,
            ],
        ),
        "--by has no meaning on a team workspace",
    );
    ok(&kiln(
        &t.pat,
        &[
            "models",
            "brief",
            "penguin-id",
            "--problem",
            "Tell the species",
            "--owner",
            &t.pat_name,
            "--product-metric",
            "field notes",
            "--target",
            "accuracy>=0.3",
            "--eval",
            "penguins@2",
        ],
    ));
}

#[test]
fn a_data_scientist_and_an_approver_release_on_one_team_workspace() {
    let t = team();
    trained(&t);
    let r = kiln(
        &t.sam,
        &[
            "release",
            "request",
            "penguin-id",
            "--version",
            "1",
            "--notes",
            "ready",
            "--json",
        ],
    )
    .json();
    let id = r["request_id"].as_i64().unwrap().to_string();
    // The requester cannot approve; the approver, from their own app, can.
    refused(
        &kiln(&t.sam, &["release", "approve", &id, "--comment", "mine"]),
        "only an approver or admin",
    );
    ok(&kiln(
        &t.pat,
        &[
            "release",
            "approve",
            &id,
            "--comment",
            "checked the held-out rows",
        ],
    ));
    let shown = kiln(&t.sam, &["models", "show", "penguin-id", "--json"]).json();
    assert_eq!(shown["champion"], 1);
    let requests = kiln(&t.sam, &["release", "list", "--json"]).json();
    let decided = requests
        .as_array()
        .unwrap()
        .iter()
        .find(|q| q["id"].as_i64().map(|i| i.to_string()).as_deref() == Some(id.as_str()))
        .unwrap();
    assert_eq!(decided["requested_by"], t.sam_name.as_str());
    assert_eq!(decided["decided_by"], t.pat_name.as_str());
    // The audit chain holds on the server-chained log.
    let verified = kiln(&t.pat, &["audit", "verify", "--json"]).json();
    assert_eq!(verified["ok"], true, "{verified}");
    // Users as the workspace sees them, with their real roles.
    let users = kiln(&t.admin, &["users", "list", "--json"]).json();
    let role_of = |n: &str| {
        users
            .as_array()
            .unwrap()
            .iter()
            .find(|u| u["name"] == n)
            .map(|u| u["role"].as_str().unwrap().to_owned())
    };
    assert_eq!(role_of(&t.pat_name).as_deref(), Some("approver"));
    assert_eq!(role_of(&t.sam_name).as_deref(), Some("data-scientist"));

    // Another client (an empty cache) reads the version from the shared store, checked by hash.
    let other = tempfile::tempdir().unwrap();
    let ws = open_as(&user_url(&t.admin_url, &t.pat_name, "pat-pw"), other.path());
    assert_eq!(ws.team().unwrap().role.as_deref(), Some("approver"));
    let version = ws.resolve("penguins@2").unwrap();
    assert!(!other.path().join(&version.object_path).exists());
    let frame = ws.load(&version).unwrap();
    assert_eq!(i64::try_from(frame.height()).unwrap(), version.row_count);
    assert!(other.path().join(&version.object_path).is_file());

    // A third reads it by byte ranges (as a version larger than the range threshold is): the first
    // rows from the footer and a row group, the whole checked and cached once a pass needs it all.
    let third = tempfile::tempdir().unwrap();
    let remote = kiln_core::Remote::connect(&t.bucket)
        .unwrap()
        .with_ranged_bytes(0);
    let objects = kiln_core::ObjectStore::with_remote(third.path(), remote).unwrap();
    let paged = objects.open_paged(&version).unwrap();
    assert_eq!(paged.rows(0, 3).unwrap(), frame.slice(0, 3));
    assert!(!third.path().join(&version.object_path).exists());
    let whole = paged.lazy().unwrap().collect().unwrap();
    assert_eq!(whole, frame);
    assert!(third.path().join(&version.object_path).is_file());
}

#[test]
fn an_object_store_that_refuses_the_upload_leaves_no_version() {
    let t = team();
    let p = fixture("penguins.csv");
    ok(&kiln(
        &t.sam,
        &["import", p.to_str().unwrap(), "--name", "penguins"],
    ));
    // The bucket goes away (as a store that is down or forbids writing): the next import fails with
    // the store named and no version row is written.
    let bucket = t
        .bucket
        .trim_start_matches("s3://")
        .split('/')
        .next()
        .unwrap();
    let status = delete_bucket(&testing::s3().endpoint, bucket);
    assert!((200..300).contains(&status), "delete bucket: HTTP {status}");
    let iris = fixture("iris.csv");
    let r = kiln(
        &t.sam,
        &["import", iris.to_str().unwrap(), "--name", "iris"],
    );
    refused(&r, "object store");
    let datasets = kiln(&t.sam, &["datasets", "list", "--json"]).json();
    let names: Vec<&str> = datasets
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|d| d["name"].as_str())
        .collect();
    assert_eq!(names, ["penguins"]);
}

/// `DELETE /bucket` (with every object in it) on the test S3 server; the status code.
fn delete_bucket(endpoint: &str, bucket: &str) -> u16 {
    use std::io::Write;
    let host = endpoint.trim_start_matches("http://");
    let mut s = std::net::TcpStream::connect(host).unwrap();
    write!(
        s,
        "DELETE /{bucket} HTTP/1.1\r\nHost: {host}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    kiln_store::testing::answer_status(&mut s).unwrap_or(0)
}

/// Versions (dataset, hash) and runs (start, metric points) of a workspace: what a copy must carry.
/// `(dataset, content hash)` of every version and `(start, metric points)` of every run, sorted.
type Contents = (Vec<(String, String)>, Vec<(String, usize)>);

fn contents(ws: &kiln_core::Workspace) -> Contents {
    let mut versions = Vec::new();
    for d in ws.datasets().unwrap() {
        for v in ws.versions(&d.name).unwrap() {
            versions.push((v.dataset.clone(), v.content_hash.clone()));
        }
    }
    versions.sort();
    let mut runs: Vec<(String, usize)> = ws
        .runs()
        .unwrap()
        .iter()
        .map(|r| (r.started_at.clone(), ws.metric_history(r.id).unwrap().len()))
        .collect();
    runs.sort();
    (versions, runs)
}

const PUSH_CHILD: &str = "KILN_TEST_PUSH_CHILD";

#[test]
fn push_copies_a_local_workspace_once_even_when_killed_midway() {
    if let Some(arg) = crate::support::child_arg(PUSH_CHILD) {
        // The child's part: push as told, with the parent's servers.
        kiln_core::set_client_options(testing::s3().client_options());
        let (dir, url) = arg.split_once('\n').unwrap();
        let r = kiln(Path::new(dir), &["workspace", "push", dir, "--to", url]);
        assert_eq!(r.code, 0, "{}", r.stderr);
        return;
    }
    let t = team();
    let d = tempfile::tempdir().unwrap();
    let local = crate::support::penguins_workspace(d.path());
    split_penguins(&local);
    for epochs in ["epochs=2", "epochs=3"] {
        train_penguins(&local, epochs);
    }
    let sam_url = user_url(&t.admin_url, &t.sam_name, "sam-pw");
    // Killed at ever later moments until a push finishes by itself.
    let s3 = &testing::s3().endpoint;
    let cluster = format!("{}/postgres", testing::cluster().base_url);
    let mut kills = 0;
    for delay_ms in [
        30, 80, 150, 250, 400, 600, 900, 1400, 2000, 3000, 5000, 8000,
    ] {
        let mut child = crate::support::spawn_self(
            "team::push_copies_a_local_workspace_once_even_when_killed_midway",
            PUSH_CHILD,
            &format!("{}\n{sam_url}", local.display()),
        )
        .env(testing::POSTGRES_URL_VAR, &cluster)
        .env(testing::S3_ENDPOINT_VAR, s3)
        .spawn()
        .unwrap();
        std::thread::sleep(Duration::from_millis(delay_ms));
        if child.try_wait().unwrap().is_some() {
            break;
        }
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        kills += 1;
    }
    assert!(kills > 0, "no push was interrupted");
    eprintln!("push killed {kills} time(s) before one finished");
    // The next push completes; another copies nothing.
    let push = || {
        let dir = local.to_str().unwrap();
        kiln(
            &local,
            &["workspace", "push", dir, "--to", &sam_url, "--json"],
        )
        .json()
    };
    let first = push();
    let again = push();
    assert_eq!(
        (
            again["versions_copied"].as_u64(),
            again["runs_copied"].as_u64()
        ),
        (Some(0), Some(0)),
        "{again}"
    );
    let team_ws = open_as(&sam_url, &t.sam);
    let local_ws = kiln_core::Workspace::open(&local).unwrap();
    assert_eq!(
        contents(&team_ws),
        contents(&local_ws),
        "after {kills} kill(s); last push: {first}"
    );
    // Pulled back into an empty folder: the same again.
    let back = d.path().join("back");
    ok(&kiln(
        &back,
        &[
            "workspace",
            "pull",
            &sam_url,
            "--to",
            back.to_str().unwrap(),
        ],
    ));
    assert_eq!(
        contents(&kiln_core::Workspace::open(&back).unwrap()),
        contents(&local_ws)
    );
    let frame = kiln_core::Workspace::open(&back).unwrap();
    let v = frame.resolve("penguins@2").unwrap();
    assert_eq!(
        i64::try_from(frame.load(&v).unwrap().height()).unwrap(),
        v.row_count
    );
}

#[test]
fn two_serving_replicas_share_one_log_and_both_follow_an_approval() {
    use crate::serve::{get, penguin, post};
    let t = team();
    trained(&t);
    approve(&t, &request(&t, "1"), "first");
    // Two servers on one team workspace (as on two machines behind a load balancer).
    let replicas: Vec<kiln_serve::Running> = (0..2)
        .map(|_| {
            let mut c = kiln_serve::ServeConfig::new(t.sam.clone(), "penguin-id", "champion");
            c.addr = "127.0.0.1:0".parse().unwrap();
            c.watch_ms = 200;
            kiln_serve::start(c).unwrap()
        })
        .collect();
    let per_replica = 60;
    std::thread::scope(|s| {
        for running in &replicas {
            for _ in 0..3 {
                s.spawn(|| {
                    for _ in 0..per_replica / 3 {
                        let (status, _) = post(
                            running.addr,
                            "/v1/predict",
                            &serde_json::json!({"rows": [penguin()]}),
                        );
                        assert_eq!(status, 200);
                    }
                });
            }
        }
    });
    // Every answered request is in the shared log, each replica's under its name.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    // The servers write their log in batches: wait until every request is in.
    let health = loop {
        let r = kiln(&t.pat, &["monitor", "check", "penguin-id", "--json"]);
        if r.code == 0 {
            let h = r.json();
            if h["health"]["requests"].as_u64() == Some(2 * per_replica) {
                break h;
            }
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the shared log lacks requests after 5 s: {}{}",
            r.stdout,
            r.stderr
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(
        health["health"]["requests"].as_u64(),
        Some(2 * per_replica),
        "{health}"
    );
    let names: Vec<String> = health["health"]["replicas"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            assert_eq!(r["requests"].as_u64(), Some(per_replica));
            r["replica"].as_str().unwrap().to_owned()
        })
        .collect();
    assert_eq!(names.len(), 2);
    for running in &replicas {
        assert!(
            names
                .iter()
                .any(|n| n.ends_with(&format!(":{}", running.addr.port()))),
            "{names:?}"
        );
    }
    // A new version approved: both replicas answer with it within 2 s, without a failed request.
    train_penguins(&t.sam, "epochs=4");
    ok(&kiln(
        &t.sam,
        &["models", "register", "--run", "2", "--name", "penguin-id"],
    ));
    approve(&t, &request(&t, "2"), "second");
    let approved = std::time::Instant::now();
    for running in &replicas {
        loop {
            let (status, body) = post(
                running.addr,
                "/v1/predict",
                &serde_json::json!({"rows": [penguin()]}),
            );
            assert_eq!(status, 200, "a request failed during the swap: {body}");
            if body["version"] == 2 {
                break;
            }
            assert!(
                approved.elapsed() < Duration::from_secs(2),
                "a replica still answers with v1"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    let (_, h) = get(replicas[0].addr, "/v1/health");
    assert_eq!(h["version"], 2);
}

#[test]
fn trainings_and_a_sweep_at_once_on_one_team_workspace_lose_nothing() {
    let t = team();
    trained(&t);
    let train = |epochs: &str| {
        train_penguins(&t.sam, epochs);
    };
    std::thread::scope(|s| {
        s.spawn(|| train("epochs=5"));
        s.spawn(|| train("epochs=6"));
        s.spawn(|| {
            // The approver trains too (an approver is also a data scientist): a sweep of two trials
            // running side by side.
            let out = kiln(
                &t.pat,
                &[
                    "sweep",
                    "--dataset",
                    "penguins@2",
                    "--target",
                    "species",
                    "--device",
                    "cpu",
                    "--param",
                    "epochs=4",
                    "--grid",
                    "lr=0.01,0.002",
                    "--parallel",
                    "2",
                    "--json",
                ],
            )
            .json();
            assert_eq!(out["status"], "finished", "{out}");
        });
    });
    // Every run is there once, finished, with one validation-loss point per epoch it trained.
    let ws = kiln_core::Workspace::open(&t.sam).unwrap();
    let runs = ws.runs().unwrap();
    assert_eq!(
        runs.len(),
        1 + 2 + 2,
        "{:?}",
        runs.iter().map(|r| r.id).collect::<Vec<_>>()
    );
    let mut ids: Vec<i64> = runs.iter().map(|r| r.id).collect();
    ids.dedup();
    assert_eq!(ids.len(), 5);
    for r in &runs {
        assert_eq!(r.status, kiln_store::RunStatus::Finished, "run {}", r.id);
        let epochs = r.metrics["epochs"].as_f64().unwrap() as usize;
        let val: usize = ws
            .metric_history(r.id)
            .unwrap()
            .iter()
            .filter(|p| p.name == "val_loss")
            .count();
        assert_eq!(
            val, epochs,
            "run {}: {val} val_loss points for {epochs} epochs",
            r.id
        );
    }
}
