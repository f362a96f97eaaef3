//! Datasets read from a PostgreSQL query (a throwaway server the harness starts): the import's columns
//! and values, incremental pulls after inserts, updates and deletes upstream (with a diff), full
//! refreshes, schema drift refused then accepted, and every failure leaving the workspace unchanged; the
//! same for MariaDB, files over HTTP, patterns of files, and objects in S3-compatible and Azure stores.

use kiln_core::Workspace;
use kiln_core::data::polars::prelude::*;
use kiln_store::testing;

use crate::release::{ok, refused};
use crate::support::kiln;

/// A database with an `orders` table of 1,000 rows of every column type Kiln reads; its URL (with the
/// password) and a client on it.
fn orders_database() -> (String, postgres::Client) {
    let url = testing::fresh_database("source");
    let mut db = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    db.batch_execute(
        "CREATE TABLE orders (id bigint PRIMARY KEY, customer text, amount numeric(10,2), items int,
             paid boolean, placed date, updated_at timestamptz, note varchar(20), code uuid, weight real);
         INSERT INTO orders SELECT g, 'c' || (g % 7), (g * 1.25)::numeric(10,2), g % 5 + 1, g % 2 = 0,
             date '2026-01-01' + g, timestamptz '2026-01-01 00:00:00+00' + g * interval '1 minute',
             CASE WHEN g % 10 = 0 THEN NULL ELSE 'n' || g END,
             ('00000000-0000-0000-0000-' || lpad(g::text, 12, '0'))::uuid, g / 4.0
         FROM generate_series(1, 1000) g;",
    )
    .unwrap();
    (url, db)
}

/// `query` on `url` imported as `orders`, pulled later past `updated_at`, rows replaced by `id`.
fn import_orders(ws: &std::path::Path, url: &str, query: &str) {
    ok(&kiln(
        ws,
        &[
            "import",
            url,
            "--query",
            query,
            "--name",
            "orders",
            "--incremental-by",
            "updated_at",
            "--primary-key",
            "id",
        ],
    ));
}

/// A pull of `name` that succeeds and says nothing changed.
fn pull_finds_nothing_new(ws: &std::path::Path, name: &str) {
    let r = kiln(ws, &["datasets", "pull", name]);
    ok(&r);
    assert!(r.stdout.contains("unchanged"), "{}", r.stdout);
}

/// `pattern` (matching objects of 3 rows in all) imported as `exports`; a pull finds nothing new, then,
/// after `add` puts a fourth row's object, makes `exports@2` of 4 rows.
fn pattern_pulls_new_objects(ws: &std::path::Path, pattern: &str, add: impl FnOnce()) {
    ok(&kiln(ws, &["import", pattern, "--name", "exports"]));
    assert_eq!(frame(ws, "exports@1").height(), 3);
    pull_finds_nothing_new(ws, "exports");
    add();
    ok(&kiln(ws, &["datasets", "pull", "exports"]));
    assert_eq!(frame(ws, "exports@2").height(), 4);
}

/// The `amount` of the row whose `id` is `id`.
fn amount(df: &DataFrame, id: i64) -> Option<f64> {
    row_of(df, id)
        .column("amount")
        .unwrap()
        .f64()
        .unwrap()
        .get(0)
}

fn versions(ws: &std::path::Path, name: &str) -> usize {
    let r = kiln(ws, &["datasets", "versions", name, "--json"]);
    if r.code != 0 {
        return 0;
    }
    r.json().as_array().map_or(0, Vec::len)
}

fn frame(ws: &std::path::Path, reference: &str) -> DataFrame {
    let w = Workspace::open(ws).unwrap();
    w.load(&w.resolve(reference).unwrap()).unwrap()
}

fn row_of(df: &DataFrame, id: i64) -> DataFrame {
    df.clone()
        .lazy()
        .filter(col("id").eq(lit(id)))
        .collect()
        .unwrap()
}

#[test]
fn a_query_is_imported_with_its_types_and_pulled_incrementally_with_its_key() {
    let (url, mut db) = orders_database();
    let d = tempfile::tempdir().unwrap();
    let ws = d.path().join("ws");
    let query = "SELECT * FROM orders";
    import_orders(&ws, &url, query);
    let v1 = frame(&ws, "orders@1");
    assert_eq!(v1.height(), 1000);
    let dtype = |c: &str| v1.column(c).unwrap().dtype().clone();
    assert_eq!(dtype("id"), DataType::Int64);
    assert_eq!(dtype("items"), DataType::Int32);
    assert_eq!(dtype("amount"), DataType::Float64);
    assert_eq!(dtype("weight"), DataType::Float32);
    assert_eq!(dtype("paid"), DataType::Boolean);
    assert_eq!(dtype("placed"), DataType::Date);
    assert_eq!(
        dtype("updated_at"),
        DataType::Datetime(TimeUnit::Microseconds, Some(TimeZone::UTC))
    );
    assert_eq!(dtype("code"), DataType::String);
    let third = row_of(&v1, 3);
    assert_eq!(amount(&v1, 3), Some(3.75));
    assert_eq!(
        third.column("placed").unwrap().get(0).unwrap().to_string(),
        "2026-01-04"
    );
    assert_eq!(
        third.column("code").unwrap().str().unwrap().get(0),
        Some("00000000-0000-0000-0000-000000000003")
    );
    assert_eq!(
        third.column("customer").unwrap().str().unwrap().get(0),
        Some("c3")
    );
    assert_eq!(
        row_of(&v1, 10).column("note").unwrap().null_count(),
        1,
        "a NULL stays null"
    );
    // The source is recorded without its password.
    let shown = kiln(&ws, &["datasets", "versions", "orders", "--json"]).json();
    let recorded = shown.to_string();
    let password = url.split(':').nth(2).unwrap().split('@').next().unwrap();
    assert!(!recorded.contains(password), "{recorded}");
    assert!(recorded.contains("SELECT * FROM orders"), "{recorded}");

    // Nothing changed upstream: one query, no version.
    pull_finds_nothing_new(&ws, "orders");
    assert_eq!(versions(&ws, "orders"), 1);

    // Upstream: five new orders, one changed, one deleted (an incremental pull cannot see deletes).
    db.batch_execute(
        "INSERT INTO orders SELECT g, 'c9', 1.0, 1, true, date '2026-06-01', timestamptz '2026-06-01 00:00:00+00' + g * interval '1 second', 'late', NULL, 1.0 FROM generate_series(1001, 1005) g;
         UPDATE orders SET amount = 99.5, updated_at = timestamptz '2026-07-01 00:00:00+00' WHERE id = 3;
         DELETE FROM orders WHERE id = 4;",
    )
    .unwrap();
    ok(&kiln(&ws, &["datasets", "pull", "orders"]));
    let v2 = frame(&ws, "orders@2");
    assert_eq!(v2.height(), 1005);
    assert_eq!(amount(&v2, 3), Some(99.5));
    assert_eq!(
        row_of(&v2, 4).height(),
        1,
        "a delete is not seen by an incremental pull"
    );
    let diff = kiln(&ws, &["datasets", "diff", "orders@1", "orders@2", "--json"]).json();
    assert_eq!(
        (&diff["added"], &diff["removed"], &diff["changed_rows"]),
        (
            &serde_json::json!(5),
            &serde_json::json!(0),
            &serde_json::json!(1)
        ),
        "{diff}"
    );
    // The lineage of the pull: its query, rows read and cursor.
    let w = Workspace::open(&ws).unwrap();
    let pulled = w.resolve("orders@2").unwrap();
    assert_eq!(pulled.operation, "pull");
    assert_eq!(pulled.details["pull"]["rows_read"], 6);
    assert_eq!(pulled.details["pull"]["incremental"], true);
    assert!(
        pulled.details["pull"]["cursor"]
            .as_str()
            .unwrap()
            .starts_with("2026-07-01 00:00:00"),
        "{}",
        pulled.details
    );
    // Pulled again: nothing past the cursor.
    ok(&kiln(&ws, &["datasets", "pull", "orders"]));
    assert_eq!(versions(&ws, "orders"), 2);

    // A full refresh of the same table sees the delete.
    ok(&kiln(
        &ws,
        &[
            "import",
            &url,
            "--query",
            "SELECT * FROM orders ORDER BY id",
            "--name",
            "all_orders",
        ],
    ));
    assert_eq!(frame(&ws, "all_orders@1").height(), 1004);
    db.batch_execute("DELETE FROM orders WHERE id = 5").unwrap();
    ok(&kiln(&ws, &["datasets", "pull", "all_orders"]));
    assert_eq!(frame(&ws, "all_orders@2").height(), 1003);
    pull_finds_nothing_new(&ws, "all_orders");
    assert_eq!(versions(&ws, "all_orders"), 2);

    // Columns that changed upstream: refused, naming them; accepted when asked, and said so.
    db.batch_execute(
        "ALTER TABLE orders ADD COLUMN channel text; ALTER TABLE orders ALTER COLUMN items TYPE text",
    )
    .unwrap();
    let r = kiln(&ws, &["datasets", "pull", "orders"]);
    refused(&r, "`channel` is new");
    assert!(
        r.stderr.contains("`items` was i32 and is now str"),
        "{}",
        r.stderr
    );
    assert_eq!(versions(&ws, "orders"), 2);
    ok(&kiln(
        &ws,
        &["datasets", "pull", "orders", "--allow-schema-change"],
    ));
    let w = Workspace::open(&ws).unwrap();
    let v3 = w.resolve("orders@3").unwrap();
    assert!(
        v3.message
            .as_deref()
            .unwrap_or_default()
            .contains("schema changed"),
        "{:?}",
        v3.message
    );
    assert_eq!(v3.row_count, 1003, "read whole again after a schema change");
}

#[test]
fn a_source_that_fails_leaves_the_workspace_unchanged() {
    let (url, _db) = orders_database();
    let d = tempfile::tempdir().unwrap();
    let ws = d.path().join("ws");
    let import = |source: &str, query: &str| {
        kiln(
            &ws,
            &["import", source, "--query", query, "--name", "orders"],
        )
    };
    refused(
        &import(&url, "SELECT nope FROM orders"),
        "column \"nope\" does not exist",
    );
    refused(
        &import(&url, "SELECT id, inet '10.0.0.1' AS ip FROM orders"),
        "column `ip` is of type `inet`",
    );
    refused(
        &import(&url, "SELECT id AS __kiln_row FROM orders"),
        "reserved by Kiln",
    );
    // A closed port, and a wrong password.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    refused(
        &import(
            &format!("postgres://nobody@127.0.0.1:{port}/none"),
            "SELECT 1 AS x",
        ),
        "cannot read from postgres://nobody@127.0.0.1",
    );
    let (user_password, rest) = url
        .trim_start_matches("postgres://")
        .split_once('@')
        .unwrap();
    let user = user_password.split(':').next().unwrap();
    let r = import(
        &format!("postgres://{user}:wrong@{rest}"),
        "SELECT * FROM orders",
    );
    refused(&r, "password authentication failed");
    assert!(
        !r.stderr.contains("wrong"),
        "the password is not echoed: {}",
        r.stderr
    );
    // The options need each other.
    refused(
        &kiln(
            &ws,
            &[
                "import",
                &url,
                "--query",
                "SELECT * FROM orders",
                "--name",
                "o",
                "--primary-key",
                "id",
            ],
        ),
        "--incremental-by",
    );
    refused(&kiln(&ws, &["import", &url, "--name", "orders"]), "--query");
    let list = kiln(&ws, &["datasets", "list", "--json"]).json();
    assert_eq!(list.as_array().map_or(0, Vec::len), 0, "{list}");
}

/// A file as the test's HTTP server serves it.
#[derive(Clone, Default)]
struct Served {
    body: Vec<u8>,
    etag: Option<String>,
    last_modified: Option<String>,
    /// Announce this many bytes and send `body` (shorter), then close.
    announce: Option<usize>,
}

type Paths = std::sync::Arc<std::sync::Mutex<std::collections::HashMap<String, Served>>>;
type Log = std::sync::Arc<std::sync::Mutex<Vec<(String, u16)>>>;

/// A small HTTP/1.1 server on loopback: the files at their paths, `304` for a matching `If-None-Match`
/// or an `If-Modified-Since` equal to the file's time, `404` for the rest; every request is counted.
struct Files {
    addr: std::net::SocketAddr,
    paths: Paths,
    /// (path, status) of every request answered.
    seen: Log,
}

/// A request's status line and headers, then the answer's status, headers and body.
fn answer(
    paths: &Paths,
    path: &str,
    headers: &std::collections::HashMap<String, String>,
) -> (u16, String, Vec<u8>) {
    use std::fmt::Write as _;
    let Some(file) = paths.lock().unwrap().get(path).cloned() else {
        return (404, "Content-Length: 0\r\n".into(), Vec::new());
    };
    let fresh = match (&file.etag, headers.get("if-none-match")) {
        (Some(e), Some(asked)) => e == asked,
        _ => {
            file.last_modified.is_some()
                && file.last_modified.as_ref() == headers.get("if-modified-since")
        }
    };
    let mut head = String::new();
    if let Some(e) = &file.etag {
        let _ = write!(head, "ETag: {e}\r\n");
    }
    if let Some(t) = &file.last_modified {
        let _ = write!(head, "Last-Modified: {t}\r\n");
    }
    if fresh {
        head.push_str("Content-Length: 0\r\n");
        return (304, head, Vec::new());
    }
    let _ = write!(
        head,
        "Content-Length: {}\r\n",
        file.announce.unwrap_or(file.body.len())
    );
    (200, head, file.body)
}

/// Answer the requests of one connection until it closes (or a body is sent short of its length).
fn serve_connection(mut stream: std::net::TcpStream, paths: &Paths, seen: &Log) {
    use std::io::{BufRead, Write};
    let mut reader = std::io::BufReader::new(stream.try_clone().unwrap());
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let path = line
            .split_whitespace()
            .nth(1)
            .unwrap_or_default()
            .to_owned();
        let mut headers = std::collections::HashMap::new();
        loop {
            let mut h = String::new();
            reader.read_line(&mut h).unwrap();
            match h.trim_end().split_once(':') {
                Some((k, v)) => headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_owned()),
                None => break,
            };
        }
        let (status, head, body) = answer(paths, &path, &headers);
        seen.lock().unwrap().push((path, status));
        let _ = write!(stream, "HTTP/1.1 {status} X\r\n{head}\r\n");
        let _ = stream.write_all(&body);
        if !head.contains(&format!("Content-Length: {}\r\n", body.len())) {
            return; // closed before the announced length
        }
    }
}

impl Files {
    fn start() -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let (paths, seen): (Paths, Log) = Default::default();
        let (p, s) = (paths.clone(), seen.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (p, s) = (p.clone(), s.clone());
                std::thread::spawn(move || serve_connection(stream, &p, &s));
            }
        });
        Self { addr, paths, seen }
    }

    fn put(&self, path: &str, file: Served) {
        self.paths.lock().unwrap().insert(path.to_owned(), file);
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// The statuses of the requests for `path` so far.
    fn statuses(&self, path: &str) -> Vec<u16> {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .filter(|(p, _)| p == path)
            .map(|(_, s)| *s)
            .collect()
    }
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

#[test]
fn a_file_over_http_is_fetched_again_only_when_it_changed() {
    let server = Files::start();
    let penguins = std::fs::read(crate::support::fixture("penguins.csv")).unwrap();
    let time = "Mon, 07 Dec 2026 10:00:00 GMT";
    server.put(
        "/data/penguins.csv",
        Served {
            body: penguins.clone(),
            etag: Some("\"v1\"".into()),
            last_modified: Some(time.into()),
            announce: None,
        },
    );
    let d = tempfile::tempdir().unwrap();
    let ws = d.path().join("ws");
    ok(&kiln(&ws, &["import", &server.url("/data/penguins.csv")]));
    assert_eq!(frame(&ws, "penguins@1").height(), 344);
    let w = Workspace::open(&ws).unwrap();
    let v1 = w.resolve("penguins@1").unwrap();
    assert_eq!(
        v1.source_path.as_deref(),
        Some(server.url("/data/penguins.csv").as_str())
    );
    assert_eq!(v1.details["pull"]["etag"], "\"v1\"");

    // Unchanged: one request, answered 304, no version.
    pull_finds_nothing_new(&ws, "penguins");
    assert_eq!(server.statuses("/data/penguins.csv"), [200, 304]);
    assert_eq!(versions(&ws, "penguins"), 1);

    // Changed upstream (the last 44 rows gone, a new ETag): fetched and a new version.
    let text = String::from_utf8(penguins.clone()).unwrap();
    let fewer: String = text.lines().take(301).flat_map(|l| [l, "\n"]).collect();
    server.put(
        "/data/penguins.csv",
        Served {
            body: fewer.into_bytes(),
            etag: Some("\"v2\"".into()),
            last_modified: Some("Tue, 08 Dec 2026 10:00:00 GMT".into()),
            announce: None,
        },
    );
    ok(&kiln(&ws, &["datasets", "pull", "penguins"]));
    assert_eq!(frame(&ws, "penguins@2").height(), 300);
    let v2 = Workspace::open(&ws).unwrap().resolve("penguins@2").unwrap();
    assert_eq!(
        (v2.operation.as_str(), &v2.details["pull"]["etag"]),
        ("pull", &serde_json::json!("\"v2\""))
    );

    // A column gone upstream: the pull is refused, naming it, then accepted when asked.
    let without_year: String = text
        .lines()
        .take(301)
        .flat_map(|l| [l.rsplit_once(',').map_or(l, |(a, _)| a), "\n"])
        .collect();
    server.put(
        "/data/penguins.csv",
        Served {
            body: without_year.into_bytes(),
            etag: Some("\"v3\"".into()),
            last_modified: None,
            announce: None,
        },
    );
    refused(
        &kiln(&ws, &["datasets", "pull", "penguins"]),
        "`year` is gone",
    );
    assert_eq!(versions(&ws, "penguins"), 2);
    ok(&kiln(
        &ws,
        &["datasets", "pull", "penguins", "--allow-schema-change"],
    ));
    let v3 = Workspace::open(&ws).unwrap().resolve("penguins@3").unwrap();
    assert_eq!(
        v3.message.as_deref(),
        Some("schema changed: `year` is gone")
    );

    // Gzip, and a server without ETag: its Last-Modified decides.
    server.put(
        "/data/more.tsv.gz",
        Served {
            body: gzip(text.replace(',', "\t").as_bytes()),
            etag: None,
            last_modified: Some(time.into()),
            announce: None,
        },
    );
    ok(&kiln(&ws, &["import", &server.url("/data/more.tsv.gz")]));
    let more = frame(&ws, "more@1");
    assert_eq!(
        (more.height(), more.width()),
        (344, 8),
        "a TSV by its name, unpacked"
    );
    ok(&kiln(&ws, &["datasets", "pull", "more"]));
    assert_eq!(server.statuses("/data/more.tsv.gz"), [200, 304]);
    assert_eq!(versions(&ws, "more"), 1);

    // A download cut short, and a missing file: clear errors, nothing written.
    server.put(
        "/data/cut.csv",
        Served {
            body: penguins[..2000].to_vec(),
            etag: Some("\"c\"".into()),
            last_modified: None,
            announce: Some(penguins.len()),
        },
    );
    refused(
        &kiln(&ws, &["import", &server.url("/data/cut.csv")]),
        "cut short",
    );
    refused(
        &kiln(&ws, &["import", &server.url("/data/none.csv")]),
        "not found",
    );
    let list = kiln(&ws, &["datasets", "list", "--json"]).json();
    let names: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|d| d["name"].as_str())
        .collect();
    assert_eq!(names, ["more", "penguins"]);
}

#[test]
fn a_derived_dataset_follows_its_parent_and_its_recipe_changes_are_versions() {
    let d = tempfile::tempdir().unwrap();
    let ws = d.path().join("ws");
    let orders = d.path().join("orders.csv");
    let customers = d.path().join("customers.csv");
    std::fs::write(
        &orders,
        "id,customer,amount,items\n1,10,30.0,3\n2,11,10.0,1\n3,10,50.0,5\n4,12,8.0,2\n",
    )
    .unwrap();
    std::fs::write(
        &customers,
        "customer,region\n10,north\n11,south\n12,north\n",
    )
    .unwrap();
    ok(&kiln(
        &ws,
        &["import", orders.to_str().unwrap(), "--name", "orders"],
    ));
    ok(&kiln(
        &ws,
        &["import", customers.to_str().unwrap(), "--name", "customers"],
    ));
    let derive = |sql: &str| {
        kiln(
            &ws,
            &[
                "datasets",
                "derive",
                "priced",
                "--from",
                "orders",
                "--sql",
                sql,
                "--join",
                "customers",
                "--on",
                "customer",
            ],
        )
    };
    let sql =
        "SELECT id, region, amount / items AS avg_price FROM self WHERE amount > 9 ORDER BY id";
    ok(&derive(sql));
    let v1 = frame(&ws, "priced@1");
    let names: Vec<String> = v1
        .get_column_names()
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(names, ["id", "region", "avg_price"]);
    assert_eq!(v1.height(), 3);
    assert_eq!(
        v1.column("avg_price").unwrap().f64().unwrap().get(1),
        Some(10.0)
    );
    assert_eq!(
        v1.column("region").unwrap().str().unwrap().get(1),
        Some("south")
    );
    let w = Workspace::open(&ws).unwrap();
    let made = w.resolve("priced@1").unwrap();
    assert_eq!(made.operation, "derive");
    assert_eq!(made.details["recipe"]["from"], "orders@1");
    assert_eq!(made.details["recipe"]["join"], "customers@1");
    assert_eq!(made.details["recipe"]["recipe_version"], 1);

    // The parent is pulled with a new order: the recipe runs again.
    std::fs::write(
        &orders,
        "id,customer,amount,items\n1,10,30.0,3\n2,11,10.0,1\n3,10,50.0,5\n4,12,8.0,2\n5,12,99.0,9\n",
    )
    .unwrap();
    let r = kiln(&ws, &["datasets", "pull", "orders", "--json"]).json();
    assert_eq!(r["derived"][0]["dataset"], "priced", "{r}");
    let v2 = frame(&ws, "priced@2");
    assert_eq!(v2.height(), 4);
    let w = Workspace::open(&ws).unwrap();
    let followed = w.resolve("priced@2").unwrap();
    assert_eq!(followed.details["recipe"]["from"], "orders@2");
    assert_eq!(
        followed.message.as_deref(),
        Some("orders has a new version")
    );
    assert_eq!(followed.details["recipe"]["recipe_version"], 1);

    // Editing the recipe is a new recipe version, never a silent change; the same recipe makes nothing.
    ok(&derive(&sql.replace("amount > 9", "amount > 20")));
    let edited = Workspace::open(&ws).unwrap().resolve("priced@3").unwrap();
    assert_eq!(edited.details["recipe"]["recipe_version"], 2);
    assert_eq!(edited.row_count, 3);
    let again = derive(&sql.replace("amount > 9", "amount > 20"));
    assert!(again.stdout.contains("unchanged"), "{}", again.stdout);

    // Mistakes are named and make nothing.
    refused(&derive("SELECT nope FROM self"), "the recipe's SQL");
    refused(
        &kiln(
            &ws,
            &[
                "datasets",
                "derive",
                "orders",
                "--from",
                "customers",
                "--sql",
                "SELECT * FROM self",
            ],
        ),
        "was not derived by a recipe",
    );
    refused(
        &kiln(
            &ws,
            &[
                "datasets",
                "derive",
                "priced",
                "--from",
                "priced",
                "--sql",
                "SELECT * FROM self",
            ],
        ),
        "cannot be derived from itself",
    );
    assert_eq!(versions(&ws, "priced"), 3);
}

#[test]
fn many_files_by_a_pattern_locally_or_in_an_object_store_are_one_version() {
    let d = tempfile::tempdir().unwrap();
    let ws = d.path().join("ws");
    let data = d.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(data.join("2026-01.csv"), "day,sales\n1,10\n2,12\n").unwrap();
    std::fs::write(data.join("2026-02.csv"), "day,sales\n1,20\n").unwrap();
    std::fs::write(data.join("notes.txt"), "not data\n").unwrap();
    let pattern = format!("{}/2026-*.csv", data.display());
    ok(&kiln(&ws, &["import", &pattern, "--name", "monthly"]));
    let v1 = frame(&ws, "monthly@1");
    assert_eq!(v1.height(), 3);
    assert_eq!(
        v1.column("sales")
            .unwrap()
            .i64()
            .unwrap()
            .into_no_null_iter()
            .collect::<Vec<_>>(),
        [10, 12, 20],
        "files in name order"
    );
    pull_finds_nothing_new(&ws, "monthly");
    std::fs::write(data.join("2026-03.csv"), "day,sales\n1,30\n2,31\n").unwrap();
    ok(&kiln(&ws, &["datasets", "pull", "monthly"]));
    assert_eq!(frame(&ws, "monthly@2").height(), 5);
    // A file whose columns differ is named; nothing is written.
    std::fs::write(data.join("2026-04.csv"), "day,revenue\n1,40\n").unwrap();
    refused(
        &kiln(&ws, &["datasets", "pull", "monthly"]),
        "2026-04.csv has other columns",
    );
    assert_eq!(versions(&ws, "monthly"), 2);

    // Objects in an S3-compatible store, listed under the pattern's prefix.
    let s3 = testing::s3();
    kiln_core::set_client_options(s3.client_options());
    let bucket = s3.fresh_bucket("pattern");
    let remote = kiln_core::Remote::connect(&bucket).unwrap();
    for (key, body) in [
        ("exports/a.csv", "id,v\n1,1.5\n"),
        ("exports/b.csv", "id,v\n2,2.5\n3,3.5\n"),
        ("elsewhere/c.csv", "id,v\n9,9.5\n"),
    ] {
        let f = d.path().join("upload.csv");
        std::fs::write(&f, body).unwrap();
        remote.upload(key, &f).unwrap();
    }
    pattern_pulls_new_objects(&ws, &format!("{bucket}/exports/*.csv"), || {
        let f = d.path().join("upload.csv");
        std::fs::write(&f, "id,v\n4,4.5\n").unwrap();
        remote.upload("exports/d.csv", &f).unwrap();
    });
    refused(
        &kiln(
            &ws,
            &[
                "import",
                &format!("{bucket}/nothing/*.csv"),
                "--name",
                "none",
            ],
        ),
        "no file matches",
    );
}

/// Objects in Azure's blob storage (Azurite, the emulator the harness starts), reached as a user's own
/// account would be: by a pattern and one object by its URL, each unchanged on a pull and a new version
/// when its objects change; the account key is never written into the workspace.
#[test]
fn objects_in_azure_blob_storage_are_imported_by_pattern_and_one_by_one() {
    let az = testing::azurite();
    kiln_core::set_client_options(az.client_options());
    let c = az.fresh_container("sources");
    az.put_blob(&c, "exports/a.csv", b"id,v\n1,1.5\n");
    az.put_blob(&c, "exports/b.csv", b"id,v\n2,2.5\n3,3.5\n");
    az.put_blob(&c, "other/c.csv", b"id,v\n9,9.5\n");
    let d = tempfile::tempdir().unwrap();
    let ws = d.path().join("ws");
    let pattern = format!("az://{c}/exports/*.csv");
    // The import dialog's preview of a pattern: the first object's rows.
    let preview =
        kiln_core::sources::preview_url(&pattern, &kiln_core::ImportOptions::default(), 10)
            .unwrap();
    assert_eq!(preview.height(), 1);
    pattern_pulls_new_objects(&ws, &pattern, || {
        az.put_blob(&c, "exports/d.csv", b"id,v\n4,4.5\n");
    });

    // One object by its URL: fetched again only when its ETag changed.
    let one = format!("az://{c}/other/c.csv");
    ok(&kiln(&ws, &["import", &one, "--name", "one"]));
    assert_eq!(frame(&ws, "one@1").height(), 1);
    pull_finds_nothing_new(&ws, "one");
    az.put_blob(&c, "other/c.csv", b"id,v\n9,9.5\n10,10.5\n");
    ok(&kiln(&ws, &["datasets", "pull", "one"]));
    assert_eq!(frame(&ws, "one@2").height(), 2);
    assert_eq!(versions(&ws, "one"), 2);
    refused(
        &kiln(
            &ws,
            &[
                "import",
                &format!("az://{c}/other/missing.csv"),
                "--name",
                "none",
            ],
        ),
        "not found",
    );
    assert_eq!(versions(&ws, "none"), 0);
    // The key reached the store through the options; the workspace holds the URL alone.
    let key = az
        .client_options()
        .into_iter()
        .find(|(k, _)| k == "azure_storage_account_key")
        .unwrap()
        .1;
    for entry in std::fs::read_dir(&ws).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            let bytes = std::fs::read(&path).unwrap();
            assert!(
                !bytes.windows(key.len()).any(|w| w == key.as_bytes()),
                "{} holds the account key",
                path.display()
            );
        }
    }
}

/// Objects in Google Cloud Storage by `gs://`: GCS's XML API is S3's, so the harness's S3-compatible server
/// stands in for it (the `gs://` client, its service account naming the endpoint): a pattern and one object,
/// unchanged on a pull, a new version when an object is added.
#[test]
fn objects_in_google_cloud_storage_are_imported_by_pattern_and_one_by_one() {
    let s3 = testing::s3();
    kiln_core::set_client_options(s3.client_options());
    kiln_core::set_client_options(s3.gcs_client_options());
    let bucket = s3.fresh_bucket("gcs");
    let remote = kiln_core::Remote::connect(&bucket).unwrap();
    let d = tempfile::tempdir().unwrap();
    let upload = |key: &str, body: &str| {
        let f = d.path().join("upload.csv");
        std::fs::write(&f, body).unwrap();
        remote.upload(key, &f).unwrap();
    };
    upload("exports/a.csv", "id,v\n1,1.5\n");
    upload("exports/b.csv", "id,v\n2,2.5\n3,3.5\n");
    // The same objects by their `gs://` names (the bucket's `workspace/` prefix included).
    let name = bucket
        .trim_start_matches("s3://")
        .trim_end_matches("/workspace");
    let ws = d.path().join("ws");
    pattern_pulls_new_objects(&ws, &format!("gs://{name}/workspace/exports/*.csv"), || {
        upload("exports/c.csv", "id,v\n4,4.5\n");
    });
    let one = format!("gs://{name}/workspace/exports/a.csv");
    ok(&kiln(&ws, &["import", &one, "--name", "one"]));
    assert_eq!(frame(&ws, "one@1").height(), 1);
    pull_finds_nothing_new(&ws, "one");
}

/// The same source on MariaDB (the harness's throwaway server): types, an incremental pull with a key,
/// no change, changed columns, and a refused password.
#[test]
fn a_mariadb_query_is_imported_and_pulled_incrementally() {
    let server = testing::mariadb();
    let url = server.fresh_database("orders");
    let db = url.rsplit('/').next().unwrap().to_owned();
    server
        .admin_sql(&format!(
            "CREATE TABLE {db}.orders (id BIGINT PRIMARY KEY, customer VARCHAR(20), amount DECIMAL(10,2),
                 items INT, placed DATE, updated_at DATETIME(6), weight DOUBLE, note TEXT);
             INSERT INTO {db}.orders VALUES
                 (1, 'c1', 1.25, 1, '2026-01-02', '2026-01-01 00:01:00', 0.25, 'n1'),
                 (2, 'c2', 2.50, 2, '2026-01-03', '2026-01-01 00:02:00', 0.5, NULL),
                 (3, 'c3', 3.75, 3, '2026-01-04', '2026-01-01 00:03:00', 0.75, 'n3');"
        ))
        .unwrap();
    let d = tempfile::tempdir().unwrap();
    let ws = d.path().join("ws");
    import_orders(&ws, &url, "SELECT * FROM orders");
    let v1 = frame(&ws, "orders@1");
    assert_eq!(v1.height(), 3);
    let dtype = |c: &str| v1.column(c).unwrap().dtype().clone();
    assert_eq!(dtype("id"), DataType::Int64);
    assert_eq!(dtype("amount"), DataType::Float64);
    assert_eq!(dtype("placed"), DataType::Date);
    assert_eq!(
        dtype("updated_at"),
        DataType::Datetime(TimeUnit::Microseconds, None)
    );
    assert_eq!(dtype("note"), DataType::String);
    let third = row_of(&v1, 3);
    assert_eq!(amount(&v1, 3), Some(3.75));
    assert_eq!(
        third.column("placed").unwrap().get(0).unwrap().to_string(),
        "2026-01-04"
    );
    assert_eq!(row_of(&v1, 2).column("note").unwrap().null_count(), 1);
    let password = url.split(':').nth(2).unwrap().split('@').next().unwrap();
    let versions_json = kiln(&ws, &["datasets", "versions", "orders", "--json"])
        .json()
        .to_string();
    assert!(!versions_json.contains(password), "{versions_json}");

    pull_finds_nothing_new(&ws, "orders");
    server
        .admin_sql(&format!(
            "INSERT INTO {db}.orders VALUES (4, 'c4', 5.00, 4, '2026-02-01', '2026-02-01 00:00:00', 1.0, 'new');
             UPDATE {db}.orders SET amount = 99.5, updated_at = '2026-03-01 00:00:00' WHERE id = 1;"
        ))
        .unwrap();
    ok(&kiln(&ws, &["datasets", "pull", "orders"]));
    let v2 = frame(&ws, "orders@2");
    assert_eq!(v2.height(), 4);
    assert_eq!(amount(&v2, 1), Some(99.5));
    let diff = kiln(&ws, &["datasets", "diff", "orders@1", "orders@2", "--json"]).json();
    assert_eq!(
        (&diff["added"], &diff["changed_rows"]),
        (&serde_json::json!(1), &serde_json::json!(1)),
        "{diff}"
    );

    server
        .admin_sql(&format!(
            "ALTER TABLE {db}.orders ADD COLUMN channel VARCHAR(10)"
        ))
        .unwrap();
    refused(
        &kiln(&ws, &["datasets", "pull", "orders"]),
        "`channel` is new",
    );
    assert_eq!(versions(&ws, "orders"), 2);
    refused(
        &kiln(
            &ws,
            &[
                "import",
                &url,
                "--query",
                "SELECT id, POINT(1, 1) AS p FROM orders",
                "--name",
                "geo",
            ],
        ),
        "column `p`",
    );
    let wrong = url.replacen(&format!(":{password}@"), ":wrong@", 1);
    refused(
        &kiln(
            &ws,
            &[
                "import",
                &wrong,
                "--query",
                "SELECT * FROM orders",
                "--name",
                "other",
            ],
        ),
        "Access denied",
    );
}
