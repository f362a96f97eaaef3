//! The demo datasets bundled with Kiln, imported into a new default workspace on first run so a new user
//! has data to explore at once.

use crate::{Cancel, ImportOptions, Progress, Result, Workspace};

/// The default workspace (`Workspace::default_dir`), seeded with the demo datasets when it is new. The
/// GUI opens it when no workspace is given and none was used before; the CLI when no `--workspace` is.
pub fn open_default() -> Result<Workspace> {
    let dir = Workspace::default_dir();
    let fresh = !dir.join("kiln.db").exists();
    let mut ws = Workspace::open(&dir)?;
    if fresh {
        seed(&mut ws)?;
    }
    Ok(ws)
}

/// `(dataset name, file name, file bytes, has header)`.
pub const DEMO_DATASETS: &[(&str, &str, &[u8], bool)] = &[
    (
        "digits",
        "digits.csv",
        include_bytes!("../../../assets/demo/digits.csv"),
        false,
    ),
    (
        "penguins",
        "penguins.csv",
        include_bytes!("../../../assets/demo/penguins.csv"),
        true,
    ),
];

/// Import the demo datasets into `ws` if it has no datasets yet. Their source files are written to the
/// workspace's `sources/` folder, so each version keeps a real source path. Returns how many were imported.
pub fn seed(ws: &mut Workspace) -> Result<usize> {
    if !ws.datasets()?.is_empty() {
        return Ok(0);
    }
    let dir = ws.root().join("sources");
    std::fs::create_dir_all(&dir).map_err(|e| crate::CoreError::io(&dir, e))?;
    let mut n = 0;
    for (name, file, bytes, header) in DEMO_DATASETS {
        let path = dir.join(file);
        std::fs::write(&path, bytes).map_err(|e| crate::CoreError::io(&path, e))?;
        let opts = ImportOptions {
            has_header: *header,
            ..ImportOptions::default()
        };
        ws.import(&path, name, &opts, &Cancel::new(), &Progress::new())?;
        n += 1;
    }
    Ok(n)
}
