use std::path::{Path, PathBuf};

/// Output of one `kiln` invocation.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// Parse stdout as the one JSON document `--json` promises.
    pub fn json(&self) -> serde_json::Value {
        assert_eq!(self.code, 0, "kiln failed: {}", self.stderr);
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not one JSON document ({e}):\n{}", self.stdout))
    }
}

/// Run `kiln --workspace WS ARGS...` in-process, exactly as `main` does.
pub fn kiln(ws: &Path, args: &[&str]) -> Run {
    let mut all: Vec<String> = vec!["--workspace".into(), ws.display().to_string()];
    all.extend(args.iter().map(|s| (*s).to_owned()));
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let code = kiln_app::cli::run_args(all, &mut out, &mut err);
    Run {
        code,
        stdout: String::from_utf8_lossy(&out).into_owned(),
        stderr: String::from_utf8_lossy(&err).into_owned(),
    }
}

/// Flip the last byte of `path`: a damaged file whose hash no longer matches its record.
pub fn damage(path: &Path) {
    let mut bytes = std::fs::read(path).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(path, bytes).unwrap();
}

/// A file in `tests/fixtures` (copies of the real datasets, as shipped upstream).
pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(name)
}

/// A demo file in `assets/demo`.
pub fn asset(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../assets/demo")
        .join(name)
}

/// Every file under `dir`, sorted, with its size.
pub fn tree(dir: &Path) -> Vec<(PathBuf, u64)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let len = e.metadata().map_or(0, |m| m.len());
                out.push((p, len));
            }
        }
    }
    out.sort();
    out
}

/// Every row of every table of the workspace database, as text, table by table: two snapshots are
/// equal when nothing a user could see was written (the file itself may still change: WAL, checkpoints).
pub fn db_rows(ws: &Path) -> Vec<String> {
    let c = rusqlite::Connection::open(ws.join("kiln.db")).unwrap();
    let tables: Vec<String> = c
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let mut out = Vec::new();
    for t in tables {
        let mut st = c.prepare(&format!("SELECT * FROM \"{t}\"")).unwrap();
        let n = st.column_count();
        let rows = st
            .query_map([], |r| {
                let cells: Vec<String> = (0..n)
                    .map(|i| format!("{:?}", r.get::<_, rusqlite::types::Value>(i)))
                    .collect();
                Ok(format!("{t}: {}", cells.join(" | ")))
            })
            .unwrap();
        out.extend(rows.map(Result::unwrap));
    }
    out
}

/// When this test binary was started as the child of a test (`spawn_self`), the value its parent passed.
pub fn child_arg(var: &str) -> Option<String> {
    std::env::var(var).ok()
}

/// Start this test binary again running only `test` (which sees `var` set to `value` and plays the
/// child's part); its output is not mixed into the parent's.
pub fn spawn_self(test: &str, var: &str, value: &str) -> std::process::Command {
    let mut c = std::process::Command::new(std::env::current_exe().unwrap());
    c.args(["--exact", test, "--nocapture", "--test-threads", "1"])
        .env(var, value)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    c
}

/// Rows of the workspace database that describe versions: what a user can see.
pub fn version_rows(ws: &Path) -> i64 {
    let c = rusqlite::Connection::open(ws.join("kiln.db")).unwrap();
    c.query_row("SELECT COUNT(*) FROM dataset_versions", [], |r| r.get(0))
        .unwrap()
}

/// A new workspace `DIR/ws` holding the penguins fixture as dataset `penguins`.
pub fn penguins_workspace(dir: &Path) -> PathBuf {
    let ws = dir.join("ws");
    let p = fixture("penguins.csv");
    let r = kiln(&ws, &["import", p.to_str().unwrap(), "--name", "penguins"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    ws
}

/// A workspace `ws` in `dir` with the demo digits imported as `digits@1` (label in `column_65`).
pub fn digits_workspace(dir: &Path) -> PathBuf {
    let ws = dir.join("ws");
    let p = asset("digits.csv");
    let r = kiln(
        &ws,
        &[
            "import",
            p.to_str().unwrap(),
            "--name",
            "digits",
            "--no-header",
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    ws
}

/// Import the iris fixture (its first line is not a header) into `ws` as `iris`.
pub fn iris(ws: &Path) {
    let p = fixture("iris.csv");
    kiln(
        ws,
        &[
            "import",
            p.to_str().unwrap(),
            "--name",
            "iris",
            "--skip-rows",
            "1",
            "--no-header",
            "--json",
        ],
    )
    .json();
}

/// A CPU training request for penguins' species with these `--param` values.
pub fn penguins_request(params: &[(&str, &str)]) -> kiln_core::training::TrainRequest {
    let mut p = kiln_train::TrainParams::default();
    for (k, v) in params {
        p.set(k, v).unwrap();
    }
    kiln_core::training::TrainRequest {
        dataset: "penguins".into(),
        target: "species".into(),
        features: None,
        params: p,
        device: kiln_train::DeviceChoice::Cpu,
        sweep_id: None,
    }
}

/// Parameters of a run that would go on for a very long time (tests stop or kill it).
pub const ENDLESS: [(&str, &str); 3] = [("epochs", "100000"), ("patience", "0"), ("hidden", "16")];

/// `orders` imported from `csv` (written first with `text`, an `id,amount` table) and `derived` made from
/// it by a recipe keeping the orders above 15.
pub fn orders_with_derived(ws: &Path, csv: &Path, text: &str, derived: &str) {
    std::fs::write(csv, text).unwrap();
    let csv = csv.to_str().unwrap();
    for args in [
        &["import", csv, "--name", "orders"][..],
        &[
            "datasets",
            "derive",
            derived,
            "--from",
            "orders",
            "--sql",
            "SELECT * FROM self WHERE amount > 15",
        ],
    ] {
        let r = kiln(ws, args);
        assert_eq!(r.code, 0, "{}", r.stderr);
    }
}
