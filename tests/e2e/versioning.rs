//! Labeling and versioning from the command line: scripted labels, schemas, lineage, diff, pull,
//! filter and split versions, export, label interchange, image folders.

use polars::prelude::*;

use crate::support::{db_rows, fixture, kiln, tree, version_rows};

fn import_penguins(ws: &std::path::Path) {
    let p = fixture("penguins.csv");
    kiln(ws, &["import", p.to_str().unwrap(), "--name", "penguins"]).json_or_ok();
}

trait OkRun {
    fn json_or_ok(self);
}

impl OkRun for crate::support::Run {
    fn json_or_ok(self) {
        assert_eq!(self.code, 0, "{}", self.stderr);
    }
}

fn read_csv(path: &std::path::Path) -> DataFrame {
    CsvReadOptions::default()
        .try_into_reader_with_file_path(Some(path.to_path_buf()))
        .unwrap()
        .finish()
        .unwrap()
}

#[test]
fn scripted_labels_make_a_child_version_whose_diff_shows_them() {
    let d = tempfile::tempdir().unwrap();
    let ws = d.path().join("ws");
    let digits = crate::support::asset("digits.csv");
    kiln(
        &ws,
        &[
            "import",
            digits.to_str().unwrap(),
            "--name",
            "digits",
            "--no-header",
        ],
    )
    .json_or_ok();
    let v2 = kiln(
        &ws,
        &[
            "label",
            "digits",
            "--column",
            "column_65",
            "--set",
            "0=5",
            "--set",
            "1=5",
            "--set",
            "2=2",
            "-m",
            "fix three",
            "--json",
        ],
    )
    .json();
    assert_eq!(v2["version"], 2);
    assert_eq!(v2["operation"], "labels");
    let versions = kiln(&ws, &["datasets", "versions", "digits", "--json"]).json();
    let versions = versions.as_array().unwrap();
    assert_eq!(versions.len(), 2);
    assert_eq!(versions[1]["parent_id"], versions[0]["id"]);
    assert_eq!(versions[1]["message"], "fix three");
    assert!(
        versions[1]["author"]
            .as_str()
            .is_some_and(|a| !a.is_empty())
    );
    let diff = kiln(&ws, &["datasets", "diff", "digits@1", "digits@2", "--json"]).json();
    // Row 2 already had class 2: only two rows change.
    assert_eq!(diff["added"], 0);
    assert_eq!(diff["removed"], 0);
    assert_eq!(diff["changed_rows"], 2);
    assert_eq!(diff["changed_cells"], 2);
    let changes = diff["label_changes"].as_array().unwrap();
    let pairs: Vec<(String, String, u64)> = changes
        .iter()
        .map(|c| {
            (
                c["from"].as_str().unwrap().to_owned(),
                c["to"].as_str().unwrap().to_owned(),
                c["count"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        pairs,
        [
            ("0".to_owned(), "5".to_owned(), 1),
            ("1".to_owned(), "5".to_owned(), 1)
        ]
    );
    // The label column keeps its integer type.
    let show = kiln(
        &ws,
        &["datasets", "show", "digits@2", "--head", "2", "--json"],
    )
    .json();
    assert_eq!(show["head"][0]["column_65"], 5);
}

#[test]
fn label_errors_apply_nothing() {
    let d = tempfile::tempdir().unwrap();
    let ws = d.path().join("ws");
    import_penguins(&ws);
    let schema = kiln(
        &ws,
        &[
            "labels", "schema", "penguins", "--column", "quality", "--class", "good", "--class",
            "bad:B", "--json",
        ],
    )
    .json();
    assert_eq!(schema["classes"][0]["hotkey"], "1");
    assert_eq!(schema["classes"][1]["hotkey"], "B");
    let before = (db_rows(&ws), tree(&ws.join("objects")));
    let r = kiln(
        &ws,
        &[
            "label", "penguins", "--column", "quality", "--set", "3=good", "--set", "4=meh",
        ],
    );
    assert_ne!(r.code, 0);
    assert!(
        r.stderr
            .contains("row 4: unknown class `meh` for column `quality` (classes: good, bad)"),
        "{}",
        r.stderr
    );
    let r = kiln(
        &ws,
        &[
            "label", "penguins", "--column", "quality", "--set", "344=good",
        ],
    );
    assert!(r.stderr.contains("no row with id 344"), "{}", r.stderr);
    let r = kiln(
        &ws,
        &[
            "label", "penguins", "--column", "quality", "--set", "x=good",
        ],
    );
    assert!(r.stderr.contains("is not a row id"), "{}", r.stderr);
    assert_eq!(version_rows(&ws), 1);
    assert_eq!(
        (db_rows(&ws), tree(&ws.join("objects"))),
        before,
        "a refused label changed the workspace"
    );
    let ok = kiln(
        &ws,
        &[
            "label", "penguins", "--column", "quality", "--set", "3=good", "--set", "4=bad",
            "--json",
        ],
    )
    .json();
    assert_eq!(ok["version"], 2);
    assert!(
        ok["columns"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["name"] == "quality" && c["dtype"] == "str")
    );
}

#[test]
fn pull_makes_a_version_only_when_the_source_changed() {
    let d = tempfile::tempdir().unwrap();
    let ws = d.path().join("ws");
    let src = d.path().join("daily.csv");
    std::fs::write(&src, "day,sales\n1,10\n2,12\n").unwrap();
    kiln(&ws, &["import", src.to_str().unwrap(), "--name", "daily"]).json_or_ok();
    let same = kiln(&ws, &["datasets", "pull", "daily", "--json"]).json();
    assert_eq!(same["created"], false);
    assert_eq!(version_rows(&ws), 1);
    std::fs::write(&src, "day,sales\n1,10\n2,12\n3,9\n").unwrap();
    let new = kiln(&ws, &["datasets", "pull", "daily", "--json"]).json();
    assert_eq!(new["created"], true);
    assert_eq!(new["version"], 2);
    assert_eq!(new["operation"], "pull");
    assert_eq!(new["rows"], 3);
    let diff = kiln(&ws, &["datasets", "diff", "daily@1", "daily@2", "--json"]).json();
    assert_eq!(
        (
            diff["added"].as_u64(),
            diff["removed"].as_u64(),
            diff["changed_rows"].as_u64()
        ),
        (Some(1), Some(0), Some(0))
    );
    std::fs::remove_file(&src).unwrap();
    let gone = kiln(&ws, &["datasets", "pull", "daily"]);
    assert_ne!(gone.code, 0);
    assert!(
        gone.stderr.contains("daily.csv: file not found"),
        "{}",
        gone.stderr
    );
}

#[test]
fn split_is_reproducible_stratified_and_filter_keeps_lineage() {
    let d = tempfile::tempdir().unwrap();
    let ws = d.path().join("ws");
    import_penguins(&ws);
    let split = [
        "datasets",
        "split",
        "penguins@1",
        "--ratios",
        "0.7,0.15,0.15",
        "--seed",
        "7",
        "--stratify",
        "species",
        "--json",
    ];
    let s1 = kiln(&ws, &split).json();
    assert_eq!(s1["operation"], "split");
    // The same seed gives the same content: no new version.
    let again = kiln(&ws, &split).json();
    assert_eq!(again["created"], false);
    assert_eq!(again["version"], s1["version"]);
    let other = kiln(
        &ws,
        &[
            "datasets",
            "split",
            "penguins@1",
            "--ratios",
            "0.7,0.15,0.15",
            "--seed",
            "8",
            "--stratify",
            "species",
            "--json",
        ],
    )
    .json();
    assert_eq!(other["created"], true);
    let out = d.path().join("split.csv");
    kiln(
        &ws,
        &[
            "datasets",
            "export",
            &format!("penguins@{}", s1["version"]),
            "--out",
            out.to_str().unwrap(),
        ],
    )
    .json_or_ok();
    let df = read_csv(&out);
    assert_eq!(df.height(), 344);
    for (species, n) in [("Adelie", 152.0), ("Gentoo", 124.0), ("Chinstrap", 68.0)] {
        for (part, ratio) in [("train", 0.7), ("validation", 0.15), ("test", 0.15)] {
            let got = df
                .clone()
                .lazy()
                .filter(
                    col("species")
                        .eq(lit(species))
                        .and(col("split").eq(lit(part))),
                )
                .collect()
                .unwrap()
                .height() as f64;
            assert!(
                (got - n * ratio).abs() <= 1.0,
                "{species}/{part}: {got} vs {}",
                n * ratio
            );
        }
    }
    let f = kiln(
        &ws,
        &[
            "datasets",
            "filter",
            "penguins@1",
            "--where",
            "species = 'Gentoo'",
            "--json",
        ],
    )
    .json();
    assert_eq!(f["rows"], 124);
    assert_eq!(f["operation"], "filter");
    let diff = kiln(
        &ws,
        &[
            "datasets",
            "diff",
            "penguins@1",
            &format!("penguins@{}", f["version"]),
            "--json",
        ],
    )
    .json();
    assert_eq!(diff["removed"], 220);
    assert_eq!(diff["changed_rows"], 0);
    let bad = kiln(
        &ws,
        &["datasets", "filter", "penguins@1", "--where", "nope > 1"],
    );
    assert!(bad.stderr.contains("invalid filter"), "{}", bad.stderr);
}

#[test]
fn export_round_trips_in_every_format() {
    let d = tempfile::tempdir().unwrap();
    let ws = d.path().join("ws");
    import_penguins(&ws);
    for ext in ["csv", "tsv", "parquet", "arrow", "json", "ndjson"] {
        let out = d.path().join(format!("p.{ext}"));
        kiln(
            &ws,
            &[
                "datasets",
                "export",
                "penguins",
                "--out",
                out.to_str().unwrap(),
            ],
        )
        .json_or_ok();
        // Importing the export again is the same content: no new version.
        let back = kiln(
            &ws,
            &[
                "import",
                out.to_str().unwrap(),
                "--name",
                "penguins",
                "--json",
            ],
        )
        .json();
        assert_eq!(back["created"], false, "{ext}");
    }
    let bad = kiln(
        &ws,
        &[
            "datasets",
            "export",
            "penguins",
            "--out",
            d.path().join("p.xlsx").to_str().unwrap(),
        ],
    );
    assert_ne!(bad.code, 0);
    assert!(!d.path().join("p.xlsx").exists());
}

#[test]
fn labels_round_trip_through_label_studio_and_csv() {
    let d = tempfile::tempdir().unwrap();
    let ws = d.path().join("ws");
    import_penguins(&ws);
    kiln(
        &ws,
        &[
            "label", "penguins", "--column", "quality", "--set", "0=good", "--set", "5=bad",
            "--set", "9=good",
        ],
    )
    .json_or_ok();
    let ls = d.path().join("tasks.json");
    let csv = d.path().join("labels.csv");
    let n = kiln(
        &ws,
        &[
            "labels",
            "export",
            "penguins",
            "--column",
            "quality",
            "--out",
            ls.to_str().unwrap(),
            "--json",
        ],
    )
    .json();
    assert_eq!(n["labels"], 3);
    kiln(
        &ws,
        &[
            "labels",
            "export",
            "penguins",
            "--column",
            "quality",
            "--out",
            csv.to_str().unwrap(),
        ],
    )
    .json_or_ok();
    let tasks: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&ls).unwrap()).unwrap();
    assert_eq!(tasks.as_array().unwrap().len(), 344);
    assert_eq!(
        tasks[5]["annotations"][0]["result"][0]["value"]["choices"][0],
        "bad"
    );
    assert_eq!(tasks[5]["data"]["species"], "Adelie");
    assert_eq!(
        std::fs::read_to_string(&csv).unwrap(),
        "row_id,quality\n0,good\n5,bad\n9,good\n"
    );
    // Apply both files to the first version: each gives the same labelled content.
    let a = kiln(
        &ws,
        &[
            "labels",
            "import",
            "penguins@1",
            "--from",
            ls.to_str().unwrap(),
            "--json",
        ],
    )
    .json();
    assert_eq!(a["created"], false, "same labels as v2 → no new version");
    let b = kiln(
        &ws,
        &[
            "labels",
            "import",
            "penguins@1",
            "--from",
            csv.to_str().unwrap(),
            "--json",
        ],
    )
    .json();
    assert_eq!(b["version"], a["version"]);
    // A file naming rows that do not exist applies nothing.
    let bad = d.path().join("bad.csv");
    std::fs::write(&bad, "row_id,quality\n1,good\n999,bad\n").unwrap();
    let before = (db_rows(&ws), tree(&ws.join("objects")));
    let r = kiln(
        &ws,
        &[
            "labels",
            "import",
            "penguins",
            "--from",
            bad.to_str().unwrap(),
        ],
    );
    assert_ne!(r.code, 0);
    assert!(
        r.stderr.contains("1 row id(s) not in penguins@2: 999"),
        "{}",
        r.stderr
    );
    assert_eq!(version_rows(&ws), 2);
    assert_eq!((db_rows(&ws), tree(&ws.join("objects"))), before);
}

#[test]
fn image_folders_import_with_class_folders_as_labels() {
    let d = tempfile::tempdir().unwrap();
    let src = d.path().join("shapes");
    for (class, shade) in [("dark", 30u8), ("light", 220u8)] {
        std::fs::create_dir_all(src.join(class)).unwrap();
        for i in 0..3u8 {
            let img = image::GrayImage::from_pixel(4, 4, image::Luma([shade + i]));
            img.save(src.join(class).join(format!("{i}.png"))).unwrap();
        }
    }
    std::fs::write(src.join("unsorted.jpg"), b"not really a jpeg").unwrap();
    std::fs::write(src.join("notes.txt"), b"ignored").unwrap();
    let ws = d.path().join("ws");
    let v = kiln(
        &ws,
        &[
            "import",
            src.to_str().unwrap(),
            "--images",
            "--name",
            "shapes",
            "--json",
        ],
    )
    .json();
    assert_eq!(v["rows"], 7);
    let names: Vec<_> = v["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(names, ["file", "label", "image"]);
    let stats = kiln(&ws, &["datasets", "show", "shapes", "--stats", "--json"]).json();
    let label = &stats["columns"][1];
    assert_eq!(
        (label["unique"].as_u64(), label["nulls"].as_u64()),
        (Some(2), Some(1))
    );
    let same = kiln(&ws, &["datasets", "pull", "shapes", "--json"]).json();
    assert_eq!(same["created"], false);
    let notdir = kiln(
        &ws,
        &[
            "import",
            src.join("notes.txt").to_str().unwrap(),
            "--images",
            "--name",
            "x",
        ],
    );
    assert!(
        notdir.stderr.contains("not a folder of images"),
        "{}",
        notdir.stderr
    );
}
