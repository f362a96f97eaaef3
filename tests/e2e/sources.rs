//! Datasets read from a PostgreSQL query (a throwaway server the harness starts): the import's columns
//! and values, incremental pulls after inserts, updates and deletes upstream (with a diff), full
//! refreshes, schema drift refused then accepted, and every failure leaving the workspace unchanged.

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
    ok(&kiln(
        &ws,
        &[
            "import",
            &url,
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
    assert_eq!(
        third.column("amount").unwrap().f64().unwrap().get(0),
        Some(3.75)
    );
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
    let r = kiln(&ws, &["datasets", "pull", "orders"]);
    ok(&r);
    assert!(r.stdout.contains("unchanged"), "{}", r.stdout);
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
    assert_eq!(
        row_of(&v2, 3)
            .column("amount")
            .unwrap()
            .f64()
            .unwrap()
            .get(0),
        Some(99.5)
    );
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
    let r = kiln(&ws, &["datasets", "pull", "all_orders"]);
    assert!(r.stdout.contains("unchanged"), "{}", r.stdout);
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
