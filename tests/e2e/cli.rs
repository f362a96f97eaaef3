//! The command line as a user (or CI) runs it.

use polars::prelude::*;

use crate::support::{child_arg, db_rows, fixture, kiln, spawn_self, tree, version_rows};

#[test]
fn import_then_reimport_identical_content_creates_no_new_version() {
    let d = tempfile::tempdir().unwrap();
    let ws = d.path().join("ws");
    let penguins = fixture("penguins.csv");
    let p = penguins.to_str().unwrap();
    let first = kiln(&ws, &["import", p, "--name", "penguins", "--json"]).json();
    assert_eq!(first["created"], true);
    assert_eq!(first["version"], 1);
    assert_eq!(first["rows"], 344);
    assert_eq!(first["columns"].as_array().unwrap().len(), 8);
    let objects_before = tree(&ws.join("objects"));

    let again = kiln(&ws, &["import", p, "--name", "penguins"]);
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert!(
        again.stdout.contains("no new version created"),
        "{}",
        again.stdout
    );
    assert_eq!(tree(&ws.join("objects")), objects_before);
    assert_eq!(version_rows(&ws), 1);

    let list = kiln(&ws, &["datasets", "list", "--json"]).json();
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["name"], "penguins");
    assert_eq!(list[0]["versions"], 1);
}

#[test]
fn show_with_stats_matches_pandas_reference_values() {
    let d = tempfile::tempdir().unwrap();
    let ws = d.path().join("ws");
    let p = fixture("penguins.csv");
    kiln(&ws, &["import", p.to_str().unwrap(), "--name", "penguins"]);
    let show = kiln(&ws, &["datasets", "show", "penguins", "--stats", "--json"]).json();
    assert_eq!(show["rows"], 344);
    let cols = show["columns"].as_array().unwrap();
    let col = |name: &str| cols.iter().find(|c| c["name"] == name).unwrap().clone();
    let bill = col("bill_length_mm");
    assert_eq!(bill["dtype"], "f64");
    assert_eq!(bill["nulls"], 2);
    assert_eq!(bill["count"], 342);
    assert!(
        (bill["mean"].as_f64().unwrap() - 43.92193).abs() < 1e-5,
        "{bill}"
    );
    assert!(
        (bill["std"].as_f64().unwrap() - 5.45958).abs() < 1e-5,
        "{bill}"
    );
    assert_eq!(bill["min"], 32.1);
    assert_eq!(bill["max"], 59.6);
    let mass = col("body_mass_g");
    assert!(
        (mass["mean"].as_f64().unwrap() - 4201.75439).abs() < 1e-5,
        "{mass}"
    );
    let species = col("species");
    assert_eq!(species["unique"], 3);
    assert_eq!(species["nulls"], 0);
    assert_eq!(species["min"], "Adelie");
    let sex = col("sex");
    assert_eq!(sex["nulls"], 11);
    for key in ["count", "nulls", "unique", "min", "max", "mean", "std"] {
        assert!(bill.get(key).is_some(), "missing {key}");
    }
}

#[test]
fn show_head_and_version_references() {
    let d = tempfile::tempdir().unwrap();
    let ws = d.path().join("ws");
    let src = d.path().join("t.csv");
    std::fs::write(&src, "a,b\n1,x\n2,y\n").unwrap();
    kiln(&ws, &["import", src.to_str().unwrap(), "--name", "t"]);
    std::fs::write(&src, "a,b\n1,x\n2,y\n3,z\n").unwrap();
    let v2 = kiln(
        &ws,
        &["import", src.to_str().unwrap(), "--name", "t", "--json"],
    )
    .json();
    assert_eq!(v2["version"], 2);
    let show = kiln(&ws, &["datasets", "show", "t@1", "--head", "1", "--json"]).json();
    assert_eq!(show["version"], 1);
    assert_eq!(show["rows"], 2);
    assert_eq!(show["head"], serde_json::json!([{"a": 1, "b": "x"}]));
    let latest = kiln(&ws, &["datasets", "show", "t", "--json"]).json();
    assert_eq!(latest["rows"], 3);
    let missing = kiln(&ws, &["datasets", "show", "t@7"]);
    assert_ne!(missing.code, 0);
    assert!(
        missing.stderr.contains("has no version 7"),
        "{}",
        missing.stderr
    );
    assert!(missing.stdout.is_empty());
    let text = kiln(&ws, &["datasets", "show", "t", "--stats"]);
    assert_eq!(text.code, 0);
    assert!(text.stdout.contains("t@2: 3 rows"), "{}", text.stdout);
}

#[test]
fn real_files_with_metadata_lines_and_no_header_import() {
    let d = tempfile::tempdir().unwrap();
    let ws = d.path().join("ws");
    for (file, rows, cols) in [("iris.csv", 150, 5), ("breast_cancer.csv", 569, 31)] {
        let p = fixture(file);
        let v = kiln(
            &ws,
            &[
                "import",
                p.to_str().unwrap(),
                "--skip-rows",
                "1",
                "--no-header",
                "--json",
            ],
        )
        .json();
        assert_eq!(v["rows"], rows, "{file}");
        assert_eq!(v["columns"].as_array().unwrap().len(), cols, "{file}");
    }
    let digits = crate::support::asset("digits.csv");
    let v = kiln(
        &ws,
        &[
            "import",
            digits.to_str().unwrap(),
            "--name",
            "digits",
            "--no-header",
            "--json",
        ],
    )
    .json();
    assert_eq!(v["columns"].as_array().unwrap().len(), 65);
    assert_eq!(v["rows"], 1797);
    let list = kiln(&ws, &["datasets", "list", "--json"]).json();
    let names: Vec<_> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(names, ["breast_cancer", "digits", "iris"]);
}

#[test]
fn every_format_imports() {
    let d = tempfile::tempdir().unwrap();
    let ws = d.path().join("ws");
    let mut df =
        df!("id" => [1i64, 2, 3], "name" => ["a", "b", "c"], "x" => [Some(0.5), None, Some(2.5)])
            .unwrap();
    let parquet = d.path().join("f.parquet");
    ParquetWriter::new(std::fs::File::create(&parquet).unwrap())
        .finish(&mut df)
        .unwrap();
    let ipc = d.path().join("f.feather");
    IpcWriter::new(std::fs::File::create(&ipc).unwrap())
        .finish(&mut df)
        .unwrap();
    let json = d.path().join("f.json");
    std::fs::write(
        &json,
        r#"[{"id":1,"name":"a","x":0.5},{"id":2,"name":"b","x":null},{"id":3,"name":"c","x":2.5}]"#,
    )
    .unwrap();
    let ndjson = d.path().join("f.ndjson");
    std::fs::write(&ndjson, "{\"id\":1,\"name\":\"a\",\"x\":0.5}\n{\"id\":2,\"name\":\"b\",\"x\":null}\n{\"id\":3,\"name\":\"c\",\"x\":2.5}\n").unwrap();
    let tsv = d.path().join("f.tsv");
    std::fs::write(&tsv, "id\tname\tx\n1\ta\t0.5\n2\tb\tNA\n3\tc\t2.5\n").unwrap();
    let semi = d.path().join("f.txt");
    std::fs::write(&semi, "# exported\nid;name;x\n1;a;0.5\n2;b;-\n3;c;2.5\n").unwrap();
    let mut hashes = Vec::new();
    for (path, extra) in [
        (&parquet, vec![]),
        (&ipc, vec![]),
        (&json, vec![]),
        (&ndjson, vec![]),
        (&tsv, vec![]),
        (
            &semi,
            vec![
                "--delimiter",
                ";",
                "--skip-rows",
                "1",
                "--null",
                "-",
                "--format",
                "csv",
            ],
        ),
    ] {
        let mut args = vec!["import", path.to_str().unwrap(), "--name", "same", "--json"];
        args.extend(extra);
        let v = kiln(&ws, &args).json();
        assert_eq!(v["rows"], 3, "{}", path.display());
        let show = kiln(
            &ws,
            &[
                "datasets",
                "show",
                &format!("same@{}", v["version"]),
                "--stats",
                "--json",
            ],
        )
        .json();
        let x = show["columns"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == "x")
            .unwrap()
            .clone();
        assert_eq!(x["nulls"], 1, "{}", path.display());
        assert_eq!(x["mean"], 1.5, "{}", path.display());
        hashes.push(v["content_hash"].as_str().unwrap().to_owned());
    }
    // The same table from any format is the same content: one version.
    assert!(hashes.windows(2).all(|w| w[0] == w[1]), "{hashes:?}");
    assert_eq!(version_rows(&ws), 1);
}

#[test]
fn malformed_input_fails_clearly_and_changes_nothing() {
    let d = tempfile::tempdir().unwrap();
    let ws = d.path().join("ws");
    let good = fixture("iris.csv");
    kiln(
        &ws,
        &[
            "import",
            good.to_str().unwrap(),
            "--skip-rows",
            "1",
            "--no-header",
        ],
    );
    let mut df = df!("a" => [1i64, 2, 3]).unwrap();
    let pq = d.path().join("whole.parquet");
    ParquetWriter::new(std::fs::File::create(&pq).unwrap())
        .finish(&mut df)
        .unwrap();
    let bytes = std::fs::read(&pq).unwrap();
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "ragged.csv",
            b"a,b\n1,2\n3,4,5\n".to_vec(),
            "ragged.csv: line 3: expected 2 fields",
        ),
        (
            "short.csv",
            b"a,b,c\n1,2,3\n4,5\n".to_vec(),
            "short.csv: line 3: expected 3 fields",
        ),
        (
            "latin1.csv",
            b"name\nJos\xe9\n".to_vec(),
            "latin1.csv: line 2: invalid UTF-8",
        ),
        (
            "truncated.parquet",
            bytes[..bytes.len() - 9].to_vec(),
            "truncated.parquet: not a valid Parquet file",
        ),
        (
            "binary.csv",
            vec![0x7f, b'E', b'L', b'F', 2, 1, 1, 0, 0, 0],
            "binary.csv: binary data",
        ),
        ("empty.csv", Vec::new(), "empty.csv: file is empty"),
        (
            "object.json",
            br#"{"a": 1}"#.to_vec(),
            "object.json: JSON is not an array of records",
        ),
        (
            "numbers.json",
            b"[1, 2]".to_vec(),
            "numbers.json: JSON is not an array of records",
        ),
        (
            "bad.ndjson",
            b"{\"a\":1}\n{\"a\":\n".to_vec(),
            "bad.ndjson: line 2",
        ),
        (
            "unclosed.csv",
            b"a,b\n1,\"oops\n".to_vec(),
            "unclosed.csv: line 2: a quoted field is never closed",
        ),
    ];
    let before = tree(&ws);
    let rows_before = db_rows(&ws);
    for (name, body, want) in cases {
        let path = d.path().join(name);
        std::fs::write(&path, body).unwrap();
        let r = kiln(&ws, &["import", path.to_str().unwrap(), "--name", "bad"]);
        assert_ne!(r.code, 0, "{name} was accepted");
        assert!(r.stderr.contains(want), "{name}: stderr was {:?}", r.stderr);
        assert!(r.stdout.is_empty(), "{name}: {}", r.stdout);
        let after: Vec<_> = tree(&ws)
            .into_iter()
            .filter(|(p, _)| !p.to_string_lossy().contains("kiln.db"))
            .collect();
        let expect: Vec<_> = before
            .iter()
            .filter(|(p, _)| !p.to_string_lossy().contains("kiln.db"))
            .cloned()
            .collect();
        assert_eq!(after, expect, "{name} left files behind");
        assert_eq!(db_rows(&ws), rows_before, "{name} wrote to the database");
    }
    for (path, want) in [
        (d.path().join("missing.csv"), "missing.csv: file not found"),
        (d.path().to_path_buf(), "is a directory"),
    ] {
        let r = kiln(&ws, &["import", path.to_str().unwrap(), "--name", "bad"]);
        assert_ne!(r.code, 0);
        assert!(r.stderr.contains(want), "{}", r.stderr);
    }
    let r = kiln(
        &ws,
        &["import", good.to_str().unwrap(), "--name", "bad name"],
    );
    assert!(r.stderr.contains("invalid dataset name"), "{}", r.stderr);
    let r = kiln(&ws, &["import", good.to_str().unwrap(), "--format", "xls"]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("unknown format `xls`"), "{}", r.stderr);
    assert_eq!(version_rows(&ws), 1);
}

const ENV_CHILD: &str = "KILN_E2E_ENV_CHILD";

#[test]
fn workspace_comes_from_the_environment_too() {
    // The child's part: run `kiln import` with no `--workspace`, in a process whose environment names
    // the workspace (KILN_WORKSPACE), and fail unless it reports success.
    if let Some(file) = child_arg(ENV_CHILD) {
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let code = kiln_app::cli::run_args(
            ["import", file.as_str(), "--name", "from_env", "--json"],
            &mut out,
            &mut err,
        );
        assert_eq!(code, 0, "{}", String::from_utf8_lossy(&err));
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let ws = d.path().join("from-env");
    let penguins = fixture("penguins.csv");
    let status = spawn_self(
        "cli::workspace_comes_from_the_environment_too",
        ENV_CHILD,
        penguins.to_str().unwrap(),
    )
    .env("KILN_WORKSPACE", &ws)
    .status()
    .unwrap();
    assert!(status.success(), "the child failed: {status}");
    // The import landed in the folder the environment named.
    let list = kiln(&ws, &["datasets", "list", "--json"]).json();
    assert_eq!(list[0]["name"], "from_env");
    assert_eq!(version_rows(&ws), 1);
    // `--workspace` is global (after the subcommand too) and the help names the variable.
    let cli = <kiln_app::cli::Cli as clap::Parser>::try_parse_from([
        "kiln",
        "datasets",
        "list",
        "--workspace",
        d.path().to_str().unwrap(),
        "--json",
    ])
    .unwrap();
    assert_eq!(cli.workspace.as_deref(), Some(d.path()));
    assert!(cli.json);
    let help = kiln(d.path(), &["import", "--help"]);
    assert_eq!(help.code, 0);
    assert!(help.stdout.contains("--skip-rows"));
    assert!(help.stdout.contains("KILN_WORKSPACE"));
}

#[test]
fn help_lists_the_user_commands_and_no_benchmarks() {
    let d = tempfile::tempdir().unwrap();
    let help = kiln(d.path(), &["--help"]);
    assert_eq!(help.code, 0);
    for command in [
        "import", "datasets", "label", "train", "runs", "predict", "sweep",
    ] {
        assert!(help.stdout.contains(command), "{command}: {}", help.stdout);
    }
    assert!(!help.stdout.contains("bench"), "{}", help.stdout);
    let r = kiln(d.path(), &["bench", "import"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
}

#[test]
fn every_command_and_subcommand_says_what_it_does() {
    use clap::CommandFactory;
    fn walk(cmd: &clap::Command, path: &str, missing: &mut Vec<String>) {
        for sub in cmd.get_subcommands() {
            let name = format!("{path} {}", sub.get_name());
            if sub.get_about().is_none() && sub.get_long_about().is_none() {
                missing.push(name.clone());
            }
            walk(sub, &name, missing);
        }
    }
    let mut missing = Vec::new();
    walk(&kiln_app::cli::Cli::command(), "kiln", &mut missing);
    assert!(
        missing.is_empty(),
        "commands without help text: {missing:?}"
    );
    // And the help a user asks for says it.
    let d = tempfile::tempdir().unwrap();
    let help = kiln(d.path(), &["release", "--help"]);
    assert!(
        help.stdout.contains("Turn down a pending request"),
        "{}",
        help.stdout
    );
}
