//! Content-addressed files under `objects/`. Every write goes to `objects/tmp/` first, is fsynced, hashed
//! and only then renamed to `objects/<aa>/<hash>.<ext>`, so a crash never leaves a half-written object
//! under its final name. Reads and writes of objects go through this one type so another backend (an
//! S3-compatible store) can be added beside it.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use crate::CoreError;

#[derive(Clone, Debug)]
pub struct ObjectStore {
    root: PathBuf,
}

/// A file being written under `objects/tmp/`; removed on drop unless it was moved into place.
#[derive(Debug)]
pub struct TempObject {
    path: PathBuf,
    kept: bool,
}

impl TempObject {
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The path, for a file whose owner removes it (a query result a view pages through). A crash
    /// leaves it to the next start's clean-up of `objects/tmp/`, as any temp file.
    pub fn into_path(mut self) -> PathBuf {
        self.kept = true;
        self.path.clone()
    }
}

impl Drop for TempObject {
    fn drop(&mut self) {
        if !self.kept {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

impl ObjectStore {
    /// `workspace_root` is the workspace folder; objects live in its `objects/` sub-folder.
    pub fn new(workspace_root: &Path) -> Result<Self, CoreError> {
        let root = workspace_root.join("objects");
        std::fs::create_dir_all(root.join("tmp")).map_err(|e| CoreError::io(&root, e))?;
        Ok(Self { root })
    }

    /// A new temp file name, unique per process and call. The process id in the name lets a later start
    /// remove what a crashed process left behind.
    pub fn temp(&self, ext: &str) -> TempObject {
        use std::sync::atomic::{AtomicU64, Ordering};
        static N: AtomicU64 = AtomicU64::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or_default();
        let name = format!("{}-{n}-{nanos}.{ext}.partial", std::process::id());
        TempObject {
            path: self.root.join("tmp").join(name),
            kept: false,
        }
    }

    /// The data of a dataset version as stored (with its row ids when it has them).
    pub fn read_version(
        &self,
        version: &crate::DatasetVersion,
    ) -> Result<kiln_data::polars::prelude::DataFrame, CoreError> {
        let path = self.absolute(&version.object_path);
        kiln_data::read_parquet(&path).map_err(|_| CoreError::MissingObject {
            dataset: version.dataset.clone(),
            version: version.version,
            path,
        })
    }

    /// A version's data for viewing: in memory (without row ids), or paged from its object when reading
    /// it whole would take more than `budget` bytes.
    pub fn open_table(
        &self,
        version: &crate::DatasetVersion,
        budget: u64,
    ) -> Result<kiln_data::TableData, CoreError> {
        let path = self.absolute(&version.object_path);
        if !path.is_file() {
            return Err(CoreError::MissingObject {
                dataset: version.dataset.clone(),
                version: version.version,
                path,
            });
        }
        Ok(kiln_data::TableData::open(&path, budget)?)
    }

    /// A version's data as users see it (without the hidden row ids). It needs no database connection,
    /// so a worker thread can load with a clone of the object store.
    pub fn load(
        &self,
        version: &crate::DatasetVersion,
    ) -> Result<kiln_data::polars::prelude::DataFrame, CoreError> {
        Ok(kiln_data::without_row_ids(&self.read_version(version)?))
    }

    /// A version's data with its `__kiln_row` ids (numbered by position for versions stored without).
    pub fn load_with_ids(
        &self,
        version: &crate::DatasetVersion,
    ) -> Result<kiln_data::polars::prelude::DataFrame, CoreError> {
        Ok(kiln_data::with_row_ids(&self.read_version(version)?)?)
    }

    /// blake3 of a file's bytes, as hex.
    pub fn hash_file(path: &Path) -> Result<String, CoreError> {
        let mut hasher = blake3::Hasher::new();
        let mut f = File::open(path).map_err(|e| CoreError::io(path, e))?;
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = f.read(&mut buf).map_err(|e| CoreError::io(path, e))?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
        }
        Ok(hasher.finalize().to_hex().to_string())
    }

    /// Path, relative to the workspace root, where content with `hash` lives.
    pub fn relative_path(hash: &str, ext: &str) -> String {
        format!("objects/{}/{hash}.{ext}", &hash[..2])
    }

    /// Absolute path of an object given its workspace-relative path.
    pub fn absolute(&self, relative: &str) -> PathBuf {
        self.root
            .parent()
            .map_or_else(|| PathBuf::from(relative), |p| p.join(relative))
    }

    /// Move a finished temp file to its content address (fsyncing the folder). If the object already
    /// exists (same content imported under another name) the temp file is simply dropped.
    pub fn commit(&self, mut tmp: TempObject, relative: &str) -> std::io::Result<()> {
        let dest = self.absolute(relative);
        if dest.exists() {
            return Ok(());
        }
        let dir = dest.parent().unwrap_or(&self.root);
        std::fs::create_dir_all(dir)?;
        std::fs::rename(&tmp.path, &dest)?;
        tmp.kept = true;
        if let Ok(d) = File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(())
    }

    /// Remove temp files of processes that are gone, and objects no row refers to that are older than
    /// `grace` (a concurrent import may be between its rename and its commit). Returns what was removed.
    pub fn collect_garbage(
        &self,
        referenced: &[String],
        grace: std::time::Duration,
    ) -> Vec<PathBuf> {
        let mut removed = Vec::new();
        if let Ok(entries) = std::fs::read_dir(self.root.join("tmp")) {
            for e in entries.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                let pid = name.split('-').next().and_then(|p| p.parse::<u32>().ok());
                if pid.is_none_or(|p| !process_alive(p)) && std::fs::remove_file(e.path()).is_ok() {
                    removed.push(e.path());
                }
            }
        }
        let referenced: std::collections::HashSet<PathBuf> =
            referenced.iter().map(|r| self.absolute(r)).collect();
        let Ok(dirs) = std::fs::read_dir(&self.root) else {
            return removed;
        };
        for dir in dirs.flatten() {
            if dir.file_name() == "tmp" || !dir.path().is_dir() {
                continue;
            }
            let Ok(files) = std::fs::read_dir(dir.path()) else {
                continue;
            };
            for f in files.flatten() {
                let path = f.path();
                let old_enough = f
                    .metadata()
                    .and_then(|m| m.modified())
                    .ok()
                    .and_then(|t| t.elapsed().ok())
                    .is_some_and(|age| age >= grace);
                if old_enough && !referenced.contains(&path) && std::fs::remove_file(&path).is_ok()
                {
                    removed.push(path);
                }
            }
        }
        removed
    }
}

/// Whether a process with this id is running (always true where that cannot be checked cheaply).
pub(crate) fn process_alive(pid: u32) -> bool {
    if pid == std::process::id() {
        return true;
    }
    if cfg!(target_os = "linux") {
        Path::new(&format!("/proc/{pid}")).exists()
    } else {
        // Without a cheap liveness check, keep the file: it is only disk space.
        true
    }
}
