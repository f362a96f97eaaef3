use super::*;

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            if e.path().is_dir() {
                stack.push(e.path());
            } else {
                out.push(e.path());
            }
        }
    }
    out.sort();
    out
}

fn import(ws: &mut Workspace, path: &Path, name: &str) -> Result<ImportOutcome> {
    ws.import(
        path,
        name,
        &ImportOptions::default(),
        &Cancel::new(),
        &Progress::new(),
    )
}

#[test]
fn identical_content_creates_no_new_version() {
    let d = tempfile::tempdir().unwrap();
    let mut ws = Workspace::open(&d.path().join("ws")).unwrap();
    let src = d.path().join("a.csv");
    std::fs::write(&src, "x,y\n1,a\n2,b\n").unwrap();
    let first = import(&mut ws, &src, "a").unwrap();
    assert!(first.created);
    assert_eq!(first.version.version, 1);
    assert_eq!(first.version.row_count, 2);
    assert_eq!(first.version.content_hash.len(), 64);
    let again = import(&mut ws, &src, "a").unwrap();
    assert!(!again.created);
    assert_eq!(again.version.id, first.version.id);
    std::fs::write(&src, "x,y\n1,a\n2,b\n3,c\n").unwrap();
    let changed = import(&mut ws, &src, "a").unwrap();
    assert!(changed.created);
    assert_eq!(changed.version.version, 2);
    assert_eq!(changed.version.parent_id, Some(first.version.id));
    assert_eq!(ws.datasets().unwrap()[0].versions, 2);
    let df = ws.load(&ws.resolve("a@1").unwrap()).unwrap();
    assert_eq!(df.height(), 2);
    // The object is where the row says, named by its blake3 hash.
    let obj = ws.objects().absolute(&first.version.object_path);
    assert_eq!(
        ObjectStore::hash_file(&obj).unwrap(),
        first.version.content_hash
    );
}

#[test]
fn failed_import_leaves_the_workspace_exactly_as_it_was() {
    let d = tempfile::tempdir().unwrap();
    let mut ws = Workspace::open(&d.path().join("ws")).unwrap();
    let good = d.path().join("g.csv");
    std::fs::write(&good, "x\n1\n").unwrap();
    import(&mut ws, &good, "g").unwrap();
    let before = files_under(ws.root().join("objects").as_path());
    let bad = d.path().join("bad.csv");
    std::fs::write(&bad, "x,y\n1,2\n3\n").unwrap();
    let e = import(&mut ws, &bad, "bad").unwrap_err().to_string();
    assert!(e.contains("bad.csv: line 3"), "{e}");
    assert_eq!(files_under(ws.root().join("objects").as_path()), before);
    assert_eq!(ws.datasets().unwrap().len(), 1);
}

#[test]
fn cancelled_import_writes_nothing() {
    let d = tempfile::tempdir().unwrap();
    let mut ws = Workspace::open(&d.path().join("ws")).unwrap();
    let src = d.path().join("a.csv");
    std::fs::write(&src, "x\n1\n").unwrap();
    let c = Cancel::new();
    c.cancel();
    let e = ws
        .import(&src, "a", &ImportOptions::default(), &c, &Progress::new())
        .unwrap_err();
    assert!(e.is_cancelled());
    assert!(ws.datasets().unwrap().is_empty());
    assert!(files_under(ws.root().join("objects").as_path()).is_empty());
}

#[test]
fn leftovers_of_a_dead_process_are_removed_on_open() {
    let d = tempfile::tempdir().unwrap();
    let root = d.path().join("ws");
    drop(Workspace::open(&root).unwrap());
    // A temp file of a process id that cannot exist, as after kill -9 mid-write.
    let stale = root.join("objects/tmp/4294967-0-0.parquet.partial");
    std::fs::write(&stale, b"half").unwrap();
    let ours = root.join(format!(
        "objects/tmp/{}-9-9.parquet.partial",
        std::process::id()
    ));
    std::fs::write(&ours, b"in progress").unwrap();
    drop(Workspace::open(&root).unwrap());
    assert!(!stale.exists());
    assert!(ours.exists(), "a live process's temp file is kept");
}

#[test]
fn references_parse() {
    assert_eq!(parse_reference("a").unwrap(), ("a", None));
    assert_eq!(parse_reference("a@3").unwrap(), ("a", Some(3)));
    assert_eq!(parse_reference("a@v2").unwrap(), ("a", Some(2)));
    assert!(parse_reference("a@x").is_err());
}

#[test]
fn demo_seed_imports_digits_and_penguins_once() {
    let d = tempfile::tempdir().unwrap();
    let mut ws = Workspace::open(d.path()).unwrap();
    assert_eq!(demo::seed(&mut ws).unwrap(), 2);
    assert_eq!(demo::seed(&mut ws).unwrap(), 0);
    let names: Vec<_> = ws.datasets().unwrap().into_iter().map(|d| d.name).collect();
    assert_eq!(names, ["digits", "penguins"]);
    let digits = ws.resolve("digits").unwrap();
    assert_eq!(
        (digits.row_count, digits.schema.as_array().unwrap().len()),
        (1797, 65)
    );
}
