//! Datasets larger than the memory budget: an import through a deliberately tiny budget streams the
//! file into its object in batches, and the version equals the in-memory import byte for byte (same
//! content hash); a malformed line fails the same way, naming the line, and leaves the workspace as it
//! was; cancel leaves nothing behind.

use std::fmt::Write as _;
use std::path::Path;

use kiln_core::{Cancel, ImportOptions, Progress, Workspace};

/// `rows` rows of mixed columns: integers, floats with `NA`s, a category, a flag, quoted text with commas.
fn csv(rows: usize) -> String {
    let mut s = String::from("id,x,city,ok,note\n");
    for i in 0..rows {
        let x = if i % 17 == 0 {
            "NA".to_owned()
        } else {
            format!("{:.3}", (i as f64 * 0.37).sin() * 100.0)
        };
        let city = ["Oslo", "Lima", "Pune", "Kyiv"][i % 4];
        let _ = writeln!(
            s,
            "{i},{x},{city},{},\"row {i}, item {}\"",
            i % 3 == 0,
            i % 11
        );
    }
    s
}

fn import_as(
    ws: &mut Workspace,
    file: &Path,
    name: &str,
) -> kiln_core::Result<kiln_core::ImportOutcome> {
    ws.import(
        file,
        name,
        &ImportOptions::default(),
        &Cancel::new(),
        &Progress::new(),
    )
}

fn import(ws: &mut Workspace, file: &Path) -> kiln_core::Result<kiln_core::ImportOutcome> {
    ws.import(
        file,
        "big",
        &ImportOptions::default(),
        &Cancel::new(),
        &Progress::new(),
    )
}

#[test]
fn a_tiny_memory_budget_streams_to_the_same_version_as_memory() {
    let d = tempfile::tempdir().unwrap();
    let file = d.path().join("big.csv");
    // Three row groups and then some.
    std::fs::write(&file, csv(3 * kiln_core::data::ROW_GROUP + 4321)).unwrap();
    let mut in_memory = Workspace::open(&d.path().join("a")).unwrap();
    in_memory.set_memory_budget(u64::MAX);
    let mut streamed = Workspace::open(&d.path().join("b")).unwrap();
    streamed.set_memory_budget(1);
    assert!(kiln_core::data::streams(
        &file,
        &ImportOptions::default(),
        streamed.memory_budget()
    ));
    let a = import(&mut in_memory, &file).unwrap().version;
    let b = import(&mut streamed, &file).unwrap().version;
    assert_eq!(a.row_count, (3 * kiln_core::data::ROW_GROUP + 4321) as i64);
    assert_eq!(b.row_count, a.row_count);
    assert_eq!(b.schema, a.schema);
    assert_eq!(b.byte_size, a.byte_size);
    assert_eq!(b.content_hash, a.content_hash, "the same bytes either way");
    let (fa, fb) = (
        in_memory.load_with_ids(&a).unwrap(),
        streamed.load_with_ids(&b).unwrap(),
    );
    assert!(fa.equals_missing(&fb));
    assert_eq!(
        fb.column("x").unwrap().null_count(),
        fa.column("x").unwrap().null_count()
    );
    assert!(fb.column("x").unwrap().null_count() > 0, "NA is null");
    // Importing it again through the budget finds the same content: no new version.
    let again = import(&mut streamed, &file).unwrap();
    assert!(!again.created);
    // The command line's budget does the same.
    let cli = crate::support::kiln(
        &d.path().join("c"),
        &[
            "import",
            file.to_str().unwrap(),
            "--memory-budget-mb",
            "0",
            "--json",
        ],
    )
    .json();
    assert_eq!(
        cli["content_hash"].as_str(),
        Some(a.content_hash.as_str()),
        "{cli}"
    );
}

#[test]
fn a_malformed_line_fails_a_streamed_import_by_line_and_changes_nothing() {
    let d = tempfile::tempdir().unwrap();
    let file = d.path().join("bad.csv");
    let mut text = csv(90_000);
    // A record with a missing field far into the file (line 80,002: the header is line 1).
    let at = text.match_indices('\n').nth(80_000).unwrap().0 + 1;
    text.insert_str(at, "1,2,Oslo\n");
    std::fs::write(&file, text).unwrap();
    let ws_dir = d.path().join("ws");
    let mut ws = Workspace::open(&ws_dir).unwrap();
    ws.set_memory_budget(1);
    let before = crate::support::tree(&ws_dir.join("objects"));
    let e = import(&mut ws, &file).unwrap_err().to_string();
    assert!(e.contains("line 80002"), "{e}");
    assert!(e.contains("expected 5 fields"), "{e}");
    assert!(ws.datasets().unwrap().is_empty());
    assert_eq!(crate::support::tree(&ws_dir.join("objects")), before);
    // The in-memory import says the same.
    ws.set_memory_budget(u64::MAX);
    let e2 = import(&mut ws, &file).unwrap_err().to_string();
    assert_eq!(e, e2);
    // Cancelled before it starts: nothing either.
    ws.set_memory_budget(1);
    let good = d.path().join("good.csv");
    std::fs::write(&good, csv(1000)).unwrap();
    let cancel = Cancel::new();
    cancel.cancel();
    let r = ws.import(
        &good,
        "big",
        &ImportOptions::default(),
        &cancel,
        &Progress::new(),
    );
    assert!(r.is_err());
    assert!(ws.datasets().unwrap().is_empty());
    assert_eq!(crate::support::tree(&ws_dir.join("objects")), before);
}

#[test]
fn parquet_arrow_ipc_and_ndjson_sources_stream_to_the_same_version_as_memory() {
    use kiln_core::data::polars::prelude::*;
    let d = tempfile::tempdir().unwrap();
    let text = d.path().join("t.csv");
    std::fs::write(&text, csv(2 * kiln_core::data::ROW_GROUP + 99)).unwrap();
    let mut df = CsvReadOptions::default()
        .try_into_reader_with_file_path(Some(text))
        .unwrap()
        .finish()
        .unwrap();
    // Sources laid out their own way (other row groups, other batches).
    let pq = d.path().join("t.parquet");
    ParquetWriter::new(std::fs::File::create(&pq).unwrap())
        .with_row_group_size(Some(10_000))
        .finish(&mut df)
        .unwrap();
    let ipc = d.path().join("t.arrow");
    IpcWriter::new(std::fs::File::create(&ipc).unwrap())
        .finish(&mut df)
        .unwrap();
    let ndjson = d.path().join("t.ndjson");
    JsonWriter::new(std::fs::File::create(&ndjson).unwrap())
        .with_json_format(JsonFormat::JsonLines)
        .finish(&mut df)
        .unwrap();
    for file in [&pq, &ipc, &ndjson] {
        let mut in_memory = Workspace::open(&d.path().join("m")).unwrap();
        in_memory.set_memory_budget(u64::MAX);
        let mut streamed = Workspace::open(&d.path().join("s")).unwrap();
        streamed.set_memory_budget(1);
        assert!(kiln_core::data::streams(file, &ImportOptions::default(), 1));
        let name = file.extension().unwrap().to_str().unwrap();
        let a = import_as(&mut in_memory, file, name).unwrap().version;
        let b = import_as(&mut streamed, file, name).unwrap().version;
        assert_eq!(b.row_count, df.height() as i64);
        assert_eq!(b.content_hash, a.content_hash, "{name}");
    }
}

#[test]
fn a_malformed_ndjson_line_fails_both_ways_by_line_and_changes_nothing() {
    let d = tempfile::tempdir().unwrap();
    let file = d.path().join("bad.ndjson");
    let mut text = String::new();
    for i in 0..30_000 {
        let _ = writeln!(
            text,
            "{{\"id\": {i}, \"city\": \"Oslo\", \"x\": {}}}",
            i % 7
        );
        if i == 24_999 {
            text.push_str("{\"id\": 1, \"city\": \n");
        }
    }
    std::fs::write(&file, text).unwrap();
    let ws_dir = d.path().join("ws");
    let mut ws = Workspace::open(&ws_dir).unwrap();
    let before = crate::support::tree(&ws_dir.join("objects"));
    ws.set_memory_budget(1);
    let streamed = import(&mut ws, &file).unwrap_err().to_string();
    assert!(
        streamed.contains("line 25001") && streamed.contains("invalid JSON"),
        "{streamed}"
    );
    ws.set_memory_budget(u64::MAX);
    let in_memory = import(&mut ws, &file).unwrap_err().to_string();
    assert_eq!(streamed, in_memory);
    assert!(ws.datasets().unwrap().is_empty());
    assert_eq!(crate::support::tree(&ws_dir.join("objects")), before);
}

#[test]
fn filters_and_splits_of_a_version_larger_than_the_budget_stream_to_the_same_versions_as_memory() {
    let d = tempfile::tempdir().unwrap();
    let file = d.path().join("big.csv");
    std::fs::write(&file, csv(2 * kiln_core::data::ROW_GROUP + 777)).unwrap();
    let mut versions = Vec::new();
    for (dir, budget) in [("m", u64::MAX), ("s", 1)] {
        let mut ws = Workspace::open(&d.path().join(dir)).unwrap();
        ws.set_memory_budget(budget);
        import(&mut ws, &file).unwrap();
        let out = ws
            .derive_filter("big@1", "city = 'Lima' AND x > 10", None)
            .unwrap();
        assert!(out.created);
        let v = out.version;
        assert_eq!((v.operation.as_str(), v.version), ("filter", 2));
        // Row ids survive the filter: the ids of the kept rows, not positions.
        let ids = kiln_core::data::row_ids(&ws.load_with_ids(&v).unwrap()).unwrap();
        assert!(ids.iter().all(|i| i % 4 == 1), "{:?}", &ids[..5]);
        let e = ws.derive_filter("big@1", "nope > 1", None).unwrap_err();
        assert!(e.to_string().contains("nope"), "{e}");
        // Splits too, stratified or not (a second split replaces the first's column).
        let mut spec = kiln_core::versions::SplitSpec {
            ratios: [0.6, 0.2, 0.2],
            seed: 9,
            stratify: Some("city".into()),
        };
        let s1 = ws.derive_split("big@1", &spec, None).unwrap().version;
        spec.stratify = None;
        let s2 = ws
            .derive_split(&format!("big@{}", s1.version), &spec, None)
            .unwrap()
            .version;
        let parts = ws.load(&s2).unwrap();
        assert_eq!(parts.width(), 6, "one split column");
        let e = ws
            .derive_split(
                "big@1",
                &kiln_core::versions::SplitSpec {
                    stratify: Some("nope".into()),
                    ..spec
                },
                None,
            )
            .unwrap_err();
        assert!(e.to_string().contains("nope"), "{e}");
        versions.push([v.content_hash, s1.content_hash, s2.content_hash]);
    }
    assert_eq!(versions[0], versions[1], "the same bytes either way");
}

/// Rows of a learnable two-class problem with a category, a null now and then, for training tests.
fn classes_csv(rows: usize) -> String {
    let mut s = String::from("a,b,kind,label\n");
    for i in 0..rows {
        let a = ((i * 37) % 1000) as f64 / 100.0;
        let b = ((i * 91) % 500) as f64 / 50.0;
        let kind = ["x", "y", "z"][i % 3];
        let label = if a + b + if kind == "z" { 3.0 } else { 0.0 } > 12.0 {
            "high"
        } else {
            "low"
        };
        let a = if i % 101 == 0 {
            "NA".into()
        } else {
            format!("{a}")
        };
        let _ = writeln!(s, "{a},{b},{kind},{label}");
    }
    s
}

#[test]
fn a_version_larger_than_the_budget_trains_from_its_row_groups_with_the_same_encoding() {
    use std::sync::atomic::AtomicBool;
    let d = tempfile::tempdir().unwrap();
    let file = d.path().join("c.csv");
    std::fs::write(&file, classes_csv(2 * kiln_core::data::ROW_GROUP + 5_000)).unwrap();
    let mut ws = Workspace::open(&d.path().join("ws")).unwrap();
    import(&mut ws, &file).unwrap();
    // Its own split column, so both ways train on the same rows.
    let spec = kiln_core::versions::SplitSpec {
        ratios: [0.7, 0.1, 0.2],
        seed: 3,
        stratify: Some("label".into()),
    };
    ws.derive_split("big@1", &spec, None).unwrap();
    let mut params = kiln_train::TrainParams::default();
    for (k, v) in [
        ("epochs", "2"),
        ("hidden", "16"),
        ("batch_size", "256"),
        ("patience", "0"),
    ] {
        params.set(k, v).unwrap();
    }
    let req = kiln_core::training::TrainRequest {
        dataset: "big@2".into(),
        target: "label".into(),
        features: None,
        params,
        device: kiln_train::DeviceChoice::Cpu,
        sweep_id: None,
    };
    let never = AtomicBool::new(false);
    let in_memory = ws.train(&req, &never, &mut |_| {}).unwrap();
    ws.set_memory_budget(1);
    let mut epochs = Vec::new();
    let streamed = ws
        .train(&req, &never, &mut |e| {
            if let kiln_train::Event::Epoch { val_accuracy, .. } = e {
                epochs.push(*val_accuracy);
            }
        })
        .unwrap();
    let (a, b) = (
        ws.run(in_memory.run_id).unwrap(),
        ws.run(streamed.run_id).unwrap(),
    );
    assert_eq!(b.split["streamed"], true, "{}", b.split);
    // The encoding fitted in a streaming pass is the one fitted on the training frame.
    let (fa, fb) = (
        a.features.as_array().unwrap(),
        b.features.as_array().unwrap(),
    );
    assert_eq!(fa.len(), fb.len());
    for (x, y) in fa.iter().zip(fb) {
        assert_eq!(x["kind"], y["kind"]);
        assert_eq!(x["name"], y["name"]);
        assert_eq!(x["categories"], y["categories"]);
        for k in ["offset", "scale", "fill"] {
            if let (Some(p), Some(q)) = (x[k].as_f64(), y[k].as_f64()) {
                assert!((p - q).abs() < 1e-9 * p.abs().max(1.0), "{k}: {p} vs {q}");
            }
        }
    }
    assert_eq!(
        in_memory.metrics["train_rows"].to_bits(),
        streamed.metrics["train_rows"].to_bits(),
        "the same training rows"
    );
    assert_eq!(epochs.len(), 2);
    assert!(
        streamed.metrics["test_accuracy"] > 0.85,
        "{:?}",
        streamed.metrics
    );
    // Seeded: the same run again gives the same figures.
    let again = ws.train(&req, &never, &mut |_| {}).unwrap();
    assert_eq!(
        again.metrics["test_accuracy"].to_bits(),
        streamed.metrics["test_accuracy"].to_bits()
    );

    // Without a split column the parts come from a seeded hash of each row's position.
    let req1 = kiln_core::training::TrainRequest {
        dataset: "big@1".into(),
        ..req
    };
    let hashed = ws.train(&req1, &never, &mut |_| {}).unwrap();
    let run = ws.run(hashed.run_id).unwrap();
    assert!(
        run.split["method"].as_str().unwrap().contains("hash"),
        "{}",
        run.split
    );
    let train_rows = hashed.metrics["train_rows"];
    let all = (2 * kiln_core::data::ROW_GROUP + 5_000) as f64;
    assert!((train_rows / all - 0.72).abs() < 0.01, "{train_rows}");
}

#[test]
fn labels_on_a_version_larger_than_the_budget_stream_to_the_same_version_as_memory() {
    let d = tempfile::tempdir().unwrap();
    let file = d.path().join("big.csv");
    std::fs::write(&file, csv(2 * kiln_core::data::ROW_GROUP + 321)).unwrap();
    let numbers: Vec<(u64, Option<String>)> = vec![
        (5, Some("7".into())),
        (70_000, None),
        (131_000, Some("-2".into())),
    ];
    let text: Vec<(u64, Option<String>)> = vec![(1, Some("seven".into()))];
    let new_column: Vec<(u64, Option<String>)> =
        vec![(0, Some("cat".into())), (100_000, Some("dog".into()))];
    let (mut hashes, mut diffs, mut committed) = (Vec::new(), Vec::new(), Vec::new());
    for (dir, budget) in [("m", u64::MAX), ("s", 1)] {
        let ws_dir = d.path().join(dir);
        let mut ws = Workspace::open(&ws_dir).unwrap();
        ws.set_memory_budget(budget);
        import(&mut ws, &file).unwrap();
        let a = ws
            .set_labels("big", "id", &numbers, None, None)
            .unwrap()
            .version;
        let b = ws
            .set_labels("big", "x", &text, None, None)
            .unwrap()
            .version;
        let c = ws
            .set_labels("big", "animal", &new_column, None, None)
            .unwrap()
            .version;
        let df = ws.load(&c).unwrap();
        assert_eq!(
            df.column("id").unwrap().dtype().to_string(),
            "i64",
            "numbers stay numbers"
        );
        assert_eq!(df.column("x").unwrap().dtype().to_string(), "str");
        assert_eq!(
            df.column("id").unwrap().get(70_000).unwrap().to_string(),
            "null"
        );
        assert_eq!(
            kiln_core::data::cell_text(df.column("animal").unwrap(), 100_000),
            "dog"
        );
        // The Label room's session holds a window of a version larger than the budget: its rows, ids
        // and labels, read from the row groups; the drafts commit by row id as the version streams.
        let session = ws
            .label_session_at(c.clone(), "animal".into(), 131_000)
            .unwrap();
        let at = session.position_of(131_100).unwrap();
        if let Some(w) = session.window {
            assert_eq!(budget, 1);
            assert_eq!(
                (w.start, w.total),
                (131_000, 2 * kiln_core::data::ROW_GROUP + 321)
            );
            assert_eq!(session.ids.len(), w.rows);
            assert_eq!(session.ids[0], 131_000);
            assert!(w.rows < w.total && w.previous().is_some());
            assert_eq!(session.position_of(100_000), None, "outside the window");
        } else {
            assert_eq!(budget, u64::MAX);
            assert_eq!(session.ids.len(), 2 * kiln_core::data::ROW_GROUP + 321);
        }
        let mut session = session;
        session.move_to(at);
        session.set(&ws, &[131_100], Some("dog"), true).unwrap();
        let labeled = ws
            .commit_labels(&c, "animal", Some("one more"), None)
            .unwrap()
            .version;
        // The whole version's committed labels, counted in one streaming pass.
        assert_eq!(
            ws.committed_label_counts(&labeled, "animal").unwrap(),
            [("dog".to_owned(), 2), ("cat".to_owned(), 1)]
        );
        assert!(ws.committed_label_counts(&a, "animal").unwrap().is_empty());
        let df = ws.load(&labeled).unwrap();
        let animal = df.column("animal").unwrap();
        assert_eq!(kiln_core::data::cell_text(animal, 131_100), "dog");
        assert_eq!(kiln_core::data::cell_text(animal, 100_000), "dog");
        assert_eq!(kiln_core::data::cell_text(animal, 0), "cat");
        assert_eq!(animal.null_count(), df.height() - 3);
        committed.push(labeled.content_hash);
        if budget == 1 {
            // Cross-validation would hold every labelled row: refused, naming the way out.
            let e = ws
                .find_suspects(
                    "big@1",
                    "city",
                    &kiln_core::assist::SuspectSettings::new(kiln_train::ModelKind::Mlp),
                    &std::sync::atomic::AtomicBool::new(false),
                    &mut |_, _| {},
                )
                .unwrap_err()
                .to_string();
            assert!(e.contains("larger than the memory budget"), "{e}");
        }
        // An unknown row changes nothing.
        let before = crate::support::tree(&ws_dir.join("objects"));
        let e = ws
            .set_labels("big", "id", &[(10_000_000, Some("1".into()))], None, None)
            .unwrap_err();
        assert!(e.to_string().contains("10000000"), "{e}");
        assert_eq!(crate::support::tree(&ws_dir.join("objects")), before);
        // The diff of two versions, by the streaming engine when they are larger than the budget.
        let d = ws.diff("big@1", &format!("big@{}", c.version)).unwrap();
        assert_eq!((d.added, d.removed), (0, 0));
        assert_eq!(d.columns_added, ["animal"]);
        assert_eq!(d.changed_cells, 4, "{d:?}");
        diffs.push(serde_json::to_value(&d).unwrap());
        let f = ws
            .derive_filter("big@1", "city = 'Oslo'", None)
            .unwrap()
            .version;
        // Go to a row by id, in a version whose ids are not positions: the session opens on the
        // window that holds it (found in a streaming pass) with the row as its current item.
        let whole = ws.load(&f).unwrap().height();
        let last_id = *ws
            .label_session_at(f.clone(), "animal".into(), whole - 1)
            .unwrap()
            .ids
            .last()
            .unwrap();
        assert!(last_id as usize > whole, "ids are not positions here");
        let at_row = ws
            .label_session_at_row(f.clone(), "animal".into(), last_id)
            .unwrap();
        assert_eq!(at_row.ids[at_row.cursor], last_id);
        match at_row.window {
            Some(w) => {
                assert_eq!(budget, 1);
                assert_eq!(w.start + at_row.cursor, whole - 1);
                // A budget of one byte: windows of the least length, 1,000 rows, from the first row.
                assert!(w.start > 0 && w.start % 1_000 == 0, "{w:?}");
            }
            None => assert_eq!(at_row.cursor, whole - 1),
        }
        let e = ws
            .label_session_at_row(f.clone(), "animal".into(), 10_000_000)
            .unwrap_err()
            .to_string();
        assert!(e.contains("no row with id 10000000"), "{e}");
        let d = ws.diff("big@1", &format!("big@{}", f.version)).unwrap();
        assert_eq!(d.removed, d.rows_a - d.rows_b);
        diffs.push(serde_json::to_value(&d).unwrap());
        hashes.push([a.content_hash, b.content_hash, c.content_hash]);
    }
    assert_eq!(hashes[0], hashes[1], "the same bytes either way");
    assert_eq!(
        committed[0], committed[1],
        "a windowed session commits the same version as a whole one"
    );
    assert_eq!(diffs[..2], diffs[2..], "the same diff either way");
}

#[test]
fn the_rows_a_streamed_run_trained_on_are_found_again_for_held_out_evaluation() {
    use std::sync::atomic::AtomicBool;
    let d = tempfile::tempdir().unwrap();
    let file = d.path().join("c.csv");
    std::fs::write(&file, classes_csv(kiln_core::data::ROW_GROUP + 3_000)).unwrap();
    let mut ws = Workspace::open(&d.path().join("ws")).unwrap();
    import(&mut ws, &file).unwrap();
    let mut params = kiln_train::TrainParams::default();
    for (k, v) in [("epochs", "1"), ("hidden", "8"), ("batch_size", "512")] {
        params.set(k, v).unwrap();
    }
    let req = kiln_core::training::TrainRequest {
        dataset: "big@1".into(),
        target: "label".into(),
        features: None,
        params,
        device: kiln_train::DeviceChoice::Cpu,
        sweep_id: None,
    };
    let never = AtomicBool::new(false);
    let total = (kiln_core::data::ROW_GROUP + 3_000) as u64;
    // In memory (a stratified split by seed), then streamed (a seeded hash of the row position).
    let in_memory = ws.train(&req, &never, &mut |_| {}).unwrap().run_id;
    ws.set_memory_budget(1);
    let streamed = ws.train(&req, &never, &mut |_| {}).unwrap().run_id;
    for run in [in_memory, streamed] {
        let r = ws.run(run).unwrap();
        let tested: u64 = r.evaluation["per_class"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["support"].as_u64().unwrap())
            .sum();
        let seen = ws.rows_seen_by(run).unwrap();
        assert_eq!(
            seen.ids.len() as u64,
            total - tested,
            "run {run} ({}): every row but its test rows",
            r.split
        );
        assert!(seen.ids.iter().all(|id| *id < total));
    }
    assert_ne!(
        ws.rows_seen_by(in_memory).unwrap().ids,
        ws.rows_seen_by(streamed).unwrap().ids,
        "two ways of drawing the split"
    );
}
