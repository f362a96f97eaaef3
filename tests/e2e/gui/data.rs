//! The Data room: import by drag-and-drop, browse, sort, filter, statistics, plots, a failed import, and a
//! version larger than the memory budget.

use egui_kittest::Harness;
use egui_kittest::kittest::{By, Queryable};
use kiln_app::gui::KilnApp;
use kiln_app::gui::data::DataRoom;
use kiln_core::Workspace;
use std::fmt::Write as _;
use std::time::{Duration, Instant};

use super::support::{
    drop_file, harness, harness_on, screenshot, settle, table_frame, table_view, wait_for,
};

#[test]
fn import_by_drop_then_browse_sort_filter_stats_histogram_and_scatter() {
    let d = tempfile::tempdir().unwrap();
    let mut h = harness(d.path());
    h.run_steps(2);
    // A new workspace tells the user what to do first.
    h.get_by_label_contains("Import a dataset — Ctrl+O or drop a file here");
    screenshot(&mut h, "data-empty");

    drop_file(&mut h, crate::support::fixture("penguins.csv"));
    assert!(
        h.state()
            .room::<DataRoom>()
            .unwrap()
            .controller()
            .import_dialog_open()
    );
    wait_for(&mut h, "Preview: first 50 rows · 8 columns");
    h.get_by_label_contains("bill_length_mm: f64");
    screenshot(&mut h, "import-dialog");
    h.get_by_label("Import").click();
    settle(&mut h);

    // The version is open and its rows are in the table.
    h.get_by_label_contains("344 rows × 8 columns");
    assert!(!h.get_all_by_label("Adelie").collect::<Vec<_>>().is_empty());
    h.get_by_label("bill_length_mm");
    assert_eq!(table_frame(&h).height(), 344);
    screenshot(&mut h, "data-table");

    // Sorting by a header click: smallest bill first, nulls last.
    h.get_by_label("bill_length_mm").click();
    settle(&mut h);
    let df = table_frame(&h);
    assert_eq!(
        kiln_core::data::cell_text(df.column("bill_length_mm").unwrap(), 0),
        "32.1"
    );
    assert_eq!(
        kiln_core::data::cell_text(df.column("bill_length_mm").unwrap(), 343),
        ""
    );

    // A filter with bad syntax says so; a good one narrows the rows.
    h.get_by_label("Filter").focus();
    h.get_by_label("Filter").type_text("bill_length_mm >>> 3");
    h.get_by_label("Apply").click();
    settle(&mut h);
    h.get_by_label_contains("invalid filter");
    h.get_by_label("Filter").focus();
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::A);
    h.get_by_label("Filter").type_text("species = 'Gentoo'");
    h.get_by_label("Apply").click();
    settle(&mut h);
    h.get_by_label_contains("124 of 344 rows");
    assert!(h.query_by_label_contains("invalid filter").is_none());
    h.get_by_label("Clear").click();
    settle(&mut h);
    h.get_by_label_contains("344 rows × 8 columns");

    // Stats run in the background and show the pandas reference values.
    h.get_by_label("Stats").click();
    h.step();
    settle(&mut h);
    h.get_by_label("43.92193");
    h.get_by_label("5.45958");
    screenshot(&mut h, "data-stats");

    // Histogram of a numeric column.
    h.get_by_label("Histogram").click();
    settle(&mut h);
    h.get_by_label_contains("species: 3 most frequent values");
    h.get_by_label("Column").click();
    h.run_steps(2);
    h.get_by_label("bill_length_mm").click();
    h.step();
    settle(&mut h);
    h.get_by_label_contains("bill_length_mm: 342 values in 40 bins");
    screenshot(&mut h, "data-histogram");

    // Scatter of two numeric columns coloured by species.
    h.get_by_label("Scatter").click();
    h.step();
    settle(&mut h);
    h.get_by_label("Color by").click();
    h.run_steps(2);
    h.get_by_label("species").click();
    h.step();
    settle(&mut h);
    h.get_by_label_contains("bill_length_mm vs bill_depth_mm: 342 points");
    screenshot(&mut h, "data-scatter");
}

#[test]
fn failed_import_shows_an_error_toast_and_keeps_the_workspace() {
    let d = tempfile::tempdir().unwrap();
    let bad = d.path().join("ragged.csv");
    let mut body = String::from("a,b\n");
    for i in 0..100 {
        writeln!(body, "{i},{}", i * 2).unwrap();
    }
    body.push_str("7\n"); // a short row: fine for the preview, an error for the import
    std::fs::write(&bad, body).unwrap();
    let ws = d.path().join("ws");
    let mut h = harness(&ws);
    h.step();
    let before = crate::support::db_rows(&ws);
    drop_file(&mut h, bad);
    settle(&mut h);
    // The preview (first 50 rows) is fine; the full import reads every row and fails on line 102.
    h.get_by_label("Import").click();
    settle(&mut h);
    h.get_by_label_contains("failed; the workspace is unchanged");
    h.get_by_label("details").click();
    h.run_steps(2);
    screenshot(&mut h, "import-error");
    h.get_by_label_contains("ragged.csv: line 102: expected 2 fields");
    assert!(h.state().state.datasets.is_empty());
    assert_eq!(crate::support::version_rows(&ws), 0);
    assert_eq!(crate::support::db_rows(&ws), before);
}

#[test]
fn a_version_larger_than_the_memory_budget_pages_scrolls_sorts_and_filters() {
    let d = tempfile::tempdir().unwrap();
    let rows = 3 * kiln_core::data::ROW_GROUP + 1_000;
    let file = d.path().join("big.csv");
    let mut text = String::from("id,x,city\n");
    for i in 0..rows {
        let _ = writeln!(
            text,
            "{i},{},{}",
            (i * 7919) % 100_003,
            ["Oslo", "Lima", "Pune", "Kyiv"][i % 4]
        );
    }
    std::fs::write(&file, text).unwrap();
    let mut ws = Workspace::open(&d.path().join("ws")).unwrap();
    // A budget far below the table's size: it streams in and is paged from disk.
    ws.set_memory_budget(256 << 10);
    ws.import(
        &file,
        "big",
        &kiln_core::ImportOptions::default(),
        &kiln_core::Cancel::new(),
        &kiln_core::Progress::new(),
    )
    .unwrap();
    let mut h = harness_on(ws);
    settle(&mut h);
    assert!(table_view(&h).is_paged());
    h.get_by_label_contains("Larger than the memory budget");
    h.get_by_label_contains(&format!("{rows} rows × 3 columns"));
    // The first rows were read with the footer: no wait.

    // Scroll far down: the rows there are read from their row group, off the UI thread.
    let cell = h.get_all_by_label("Kyiv").next().unwrap().rect().center();
    h.hover_at(cell);
    h.event(egui::Event::MouseWheel {
        unit: egui::MouseWheelUnit::Point,
        delta: egui::vec2(0.0, -20.0 * 150_000.0),
        phase: egui::TouchPhase::Move,
        modifiers: egui::Modifiers::NONE,
        source: egui::MouseWheelSource::Wheel,
    });
    let shown_ids = |h: &Harness<'_, KilnApp>| -> Vec<usize> {
        h.query_all(By::new().predicate(|n| {
            n.label()
                .or_else(|| n.value())
                .and_then(|l| l.parse::<usize>().ok())
                .is_some()
        }))
        .filter_map(|n| {
            use egui_kittest::kittest::NodeT as _;
            let a = n.accesskit_node();
            a.label().or_else(|| a.value())
        })
        .filter_map(|l| l.parse::<usize>().ok())
        .collect()
    };
    // Each row shows its position and its id (equal here): a row is there when both are, and no cell
    // is still waiting for its row group.
    let loaded_far_rows = |h: &Harness<'_, KilnApp>| {
        let ids = shown_ids(h);
        let far = ids
            .iter()
            .filter(|&&i| {
                i > kiln_core::data::ROW_GROUP && ids.iter().filter(|&&j| j == i).count() >= 2
            })
            .count();
        far >= 20 && h.query_all_by_label("…").next().is_none()
    };
    let start = Instant::now();
    while !loaded_far_rows(&h) {
        assert!(
            start.elapsed() < Duration::from_mins(1),
            "rows never arrived: {:?}",
            shown_ids(&h)
        );
        h.step();
        std::thread::sleep(Duration::from_millis(5));
    }
    h.run_steps(30);
    assert!(loaded_far_rows(&h));
    screenshot(&mut h, "data-paged");
    // End shows the last rows (the body keeps its place in rows, not in pixels, so the end of a
    // table of hundreds of millions of rows is as reachable as its start); Home goes back.
    h.key_press(egui::Key::End);
    let last = (rows - 1).to_string();
    let start = Instant::now();
    while h.query_all_by_label(&last).count() < 2 {
        assert!(
            start.elapsed() < Duration::from_mins(1),
            "the last row never showed"
        );
        h.step();
        std::thread::sleep(Duration::from_millis(5));
    }
    h.key_press(egui::Key::Home);
    h.run_steps(3);
    assert!(h.query_all_by_label(&last).next().is_none());
    assert!(
        h.query_all_by_label("0").count() >= 2,
        "row 0: its # and its id"
    );

    // Sort by a header click: streamed into a paged result, smallest x first.
    h.get_by_label("x").click();
    settle(&mut h);
    let sorted = table_view(&h);
    assert!(sorted.is_paged());
    assert_eq!(sorted.height(), rows);
    let first = sorted.rows(0, 3).unwrap();
    let xs = first.column("x").unwrap().i64().unwrap();
    assert_eq!(xs.get(0), Some(0));
    assert!(xs.get(1) <= xs.get(2));

    // A filter streams too, and counts its rows.
    h.get_by_label("Filter").focus();
    h.get_by_label("Filter")
        .type_text("city = 'Lima' AND x < 50000");
    h.get_by_label("Apply").click();
    settle(&mut h);
    let want = (0..rows)
        .filter(|i| i % 4 == 1 && (i * 7919) % 100_003 < 50_000)
        .count();
    h.get_by_label_contains(&format!("{want} of {rows} rows"));
    let view = table_frame(&h);
    assert!(
        view.column("city")
            .unwrap()
            .str()
            .unwrap()
            .iter()
            .all(|c| c == Some("Lima"))
    );
    let xs = view.column("x").unwrap().i64().unwrap();
    assert!(xs.iter().flatten().is_sorted(), "still sorted by x");

    // Statistics cover every row in one streaming pass.
    h.get_by_label("Stats").click();
    h.step();
    settle(&mut h);
    // The count of each of the three columns (and the distinct ids and x values) is the filter's.
    assert_eq!(h.get_all_by_label(&want.to_string()).count(), 5);

    // The Label room holds a window of the version at a time, read from the row groups that hold it.
    h.get_by_label("Label").click();
    h.run_steps(2);
    h.get_by_label("Start labeling").click();
    settle(&mut h);
    let window_start = |h: &Harness<'_, KilnApp>| -> usize {
        use egui_kittest::kittest::NodeT as _;
        let node = h.get_by_label_contains("this version is larger than the memory budget");
        let a = node.accesskit_node();
        let text = a.label().or_else(|| a.value()).unwrap_or_default();
        let rest = text.strip_prefix("Rows #").unwrap();
        rest[..rest.find('–').unwrap()].parse::<usize>().unwrap()
    };
    assert_eq!(window_start(&h), 0);
    h.get_by_label_contains(&format!(
        "of {rows} (numbered as in the Data room): this version"
    ));
    // The window's bars count the window; the whole version's committed labels are counted apart.
    let all = rows.to_string();
    let all = all
        .as_bytes()
        .rchunks(3)
        .rev()
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect::<Vec<_>>()
        .join(",");
    h.get_by_label(&format!(
        "In the whole version, {all} of {all} rows have a committed label."
    ));
    h.get_by_label("Next rows >").click();
    settle(&mut h);
    let start = window_start(&h);
    assert!(start > 0 && start < rows, "{start}");
    // A class key labels the window's first row, saved in the draft by its row id.
    h.key_press(egui::Key::Num1);
    h.run_steps(3);
    h.get_by_label_contains("1 label(s) saved in the draft");
    screenshot(&mut h, "label-paged");
    {
        use egui_kittest::kittest::NodeT as _;
        let find = h.get_by_label("Find suspect labels");
        assert!(
            find.accesskit_node().is_disabled(),
            "cross-validation would hold the whole version"
        );
    }
    // Go to a row of another window by its id: the room finds the window that holds it.
    let far = rows as u64 - 5;
    h.get_by_label("Go to row").focus();
    h.get_by_label("Go to row").type_text(&far.to_string());
    h.key_press(egui::Key::Enter);
    settle(&mut h);
    let held = window_start(&h);
    assert!(held > start, "{held}");
    h.get_by_label_contains(&format!("Rows #{held}–#{} of {rows}", rows - 1));
    let ws = Workspace::open(&d.path().join("ws")).unwrap();
    let drafts = ws.drafts(&ws.resolve("big@1").unwrap(), "city").unwrap();
    assert_eq!(drafts.len(), 1, "the drafts of other windows stay");
    assert_eq!(drafts[0].0, start as u64, "{drafts:?}");
}

/// The import dialog's *From a database or URL* tab: a PostgreSQL query typed in, its first rows
/// previewed live, imported; the Versions tab then shows where the rows came from.
#[test]
fn a_database_query_is_previewed_and_imported_from_the_dialog() {
    let url = kiln_store::testing::fresh_database("gui_source");
    let mut db = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    db.batch_execute(
        "CREATE TABLE orders (id bigint PRIMARY KEY, customer text, amount numeric(10,2), placed date);
         INSERT INTO orders SELECT g, 'customer ' || (g % 5), g * 2.5, date '2026-11-01' + g
         FROM generate_series(1, 120) g;",
    )
    .unwrap();
    let d = tempfile::tempdir().unwrap();
    let mut h = harness(d.path());
    h.run_steps(2);
    h.get_by_label("Import from a database or URL…").click();
    h.run_steps(4);
    // The URL without its password, which goes in its own (masked) field.
    let (user_password, rest) = url
        .trim_start_matches("postgres://")
        .split_once('@')
        .unwrap();
    let (user, password) = user_password.split_once(':').unwrap();
    h.get_by_label("Source").focus();
    h.get_by_label("Source")
        .type_text(&format!("postgres://{user}@{rest}"));
    h.run_steps(2);
    h.get_by_label("Password").focus();
    h.get_by_label("Password").type_text(password);
    h.get_by_label("Query").focus();
    h.get_by_label("Query")
        .type_text("SELECT id, customer, amount, placed FROM orders ORDER BY id");
    h.get_by_label("Dataset name").focus();
    h.get_by_label("Dataset name").type_text("orders");
    h.get_by_label("New rows by").focus();
    h.get_by_label("New rows by").type_text("id");
    wait_for(&mut h, "Preview: first 50 rows · 4 columns");
    h.get_by_label_contains("amount: f64");
    assert!(h.get_all_by_label("customer 1").next().is_some());
    screenshot(&mut h, "import-database");
    h.get_by_label("Import").click();
    settle(&mut h);
    h.get_by_label_contains("120 rows × 4 columns");

    // The Versions tab says where the rows came from, without the password.
    h.get_by_label("Versions").click();
    h.run_steps(3);
    h.get_by_label_contains("ORDER BY id · pulls read past the largest `id`");
    assert!(h.query_by_label_contains(password).is_none());
    h.get_by_label_contains("120 row(s) read; cursor 120");
    screenshot(&mut h, "versions-source");
}

/// A derived dataset's recipe in the Versions tab: edited and saved, it makes the next version under
/// recipe version 2.
#[test]
fn a_recipe_is_edited_in_the_versions_tab_as_a_new_recipe_version() {
    let d = tempfile::tempdir().unwrap();
    let ws = d.path().join("ws");
    let csv = d.path().join("orders.csv");
    crate::support::orders_with_derived(&ws, &csv, "id,amount\n1,10\n2,20\n3,30\n", "big");
    let mut h = harness(&ws);
    h.run_steps(2);
    h.state_mut()
        .push(kiln_app::gui::data::DataCommand::OpenVersion {
            dataset: "big".into(),
            version: None,
        });
    settle(&mut h);
    h.get_by_label("Versions").click();
    h.run_steps(3);
    h.get_by_label_contains("derived from orders by recipe v1");
    h.get_by_label("Recipe").focus();
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::A);
    h.get_by_label("Recipe")
        .type_text("SELECT *, amount * 2 AS doubled FROM self WHERE amount > 5");
    h.run_steps(2);
    screenshot(&mut h, "recipe-edit");
    h.get_by_label("Save as recipe v2").click();
    settle(&mut h);
    wait_for(&mut h, "derived from orders by recipe v2");
    let w = Workspace::open(&ws).unwrap();
    let v2 = w.resolve("big@2").unwrap();
    assert_eq!(v2.row_count, 3);
    assert_eq!(v2.details["recipe"]["recipe_version"], 2);
    assert_eq!(v2.message.as_deref(), Some("recipe edited"));
}
