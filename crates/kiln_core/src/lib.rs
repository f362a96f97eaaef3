//! `kiln_core` is the one place where user actions are implemented: the [`Workspace`] facade (open or
//! create a workspace folder, import a file as a dataset version, list and load datasets, compute stats)
//! and the background [`jobs`] runner. The GUI and the CLI both call these functions and add only
//! presentation; a test of any action needs no window.
//!
//! It must not depend on egui/eframe or print to the terminal. SQL stays in `kiln_store`, data work in
//! `kiln_data`.

pub mod demo;
pub mod jobs;
mod objects;

use std::path::{Path, PathBuf};

pub use kiln_data::{self as data, Cancel, ColumnStats, Format, ImportOptions, Progress};
pub use kiln_store::{self as store, Dataset, DatasetVersion};
pub use objects::ObjectStore;

use kiln_data::polars::prelude::DataFrame;
use kiln_store::{NewVersion, Store};

/// Kiln's version, recorded with what it writes.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

#[derive(Debug, thiserror::Error)]
pub enum CoreError {
    #[error(transparent)]
    Data(#[from] kiln_data::DataError),
    #[error(transparent)]
    Store(#[from] kiln_store::StoreError),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("`{0}` is not a workspace folder (it is a file)")]
    NotAFolder(PathBuf),
    #[error("invalid dataset reference `{0}`: use NAME or NAME@VERSION")]
    BadReference(String),
    #[error("dataset version {dataset}@{version}: its data file {path} is missing or unreadable")]
    MissingObject {
        dataset: String,
        version: i64,
        path: PathBuf,
    },
}

impl CoreError {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> Self {
        Self::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    /// True when the work was stopped by its Cancel token.
    pub fn is_cancelled(&self) -> bool {
        matches!(self, CoreError::Data(kiln_data::DataError::Cancelled))
    }
}

pub type Result<T, E = CoreError> = std::result::Result<T, E>;

/// What an import did.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct ImportOutcome {
    /// False when identical content was already a version of this dataset: nothing was written.
    pub created: bool,
    pub version: DatasetVersion,
}

/// A workspace folder: `kiln.db` plus `objects/`.
#[derive(Debug)]
pub struct Workspace {
    root: PathBuf,
    store: Store,
    objects: ObjectStore,
}

impl Workspace {
    /// Open the workspace in `dir`, creating the folder, the database and `objects/` if needed, and
    /// cleaning up what a crashed import left behind.
    pub fn open(dir: &Path) -> Result<Self> {
        if dir.is_file() {
            return Err(CoreError::NotAFolder(dir.to_path_buf()));
        }
        std::fs::create_dir_all(dir).map_err(|e| CoreError::io(dir, e))?;
        let root = dir.canonicalize().map_err(|e| CoreError::io(dir, e))?;
        let store = Store::open(&root.join("kiln.db"))?;
        let objects = ObjectStore::new(&root)?;
        let ws = Self {
            root,
            store,
            objects,
        };
        let removed = ws.objects.collect_garbage(
            &ws.store.referenced_objects()?,
            std::time::Duration::from_mins(10),
        );
        if !removed.is_empty() {
            tracing::info!(
                count = removed.len(),
                "removed leftovers of interrupted imports"
            );
        }
        Ok(ws)
    }

    /// The default workspace: `<user data dir>/kiln/workspace`.
    pub fn default_dir() -> PathBuf {
        directories::ProjectDirs::from("dev", "kiln", "kiln").map_or_else(
            || PathBuf::from("kiln-workspace"),
            |d| d.data_dir().join("workspace"),
        )
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The folder's name, shown as the workspace's name.
    pub fn name(&self) -> String {
        self.root.file_name().map_or_else(
            || self.root.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        )
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn objects(&self) -> &ObjectStore {
        &self.objects
    }

    pub fn datasets(&self) -> Result<Vec<Dataset>> {
        Ok(self.store.list_datasets()?)
    }

    pub fn versions(&self, dataset: &str) -> Result<Vec<DatasetVersion>> {
        Ok(self.store.list_versions(dataset)?)
    }

    /// Resolve `NAME` (latest) or `NAME@VERSION`.
    pub fn resolve(&self, reference: &str) -> Result<DatasetVersion> {
        let (name, version) = parse_reference(reference)?;
        Ok(self.store.get_version(name, version)?)
    }

    /// Load a version's data.
    pub fn load(&self, version: &DatasetVersion) -> Result<DataFrame> {
        let path = self.objects.absolute(&version.object_path);
        kiln_data::read_parquet(&path).map_err(|_| CoreError::MissingObject {
            dataset: version.dataset.clone(),
            version: version.version,
            path,
        })
    }

    /// Import `path` as a new version of dataset `name`. The data is read with `opts`, written once as
    /// Parquet under `objects/` by its blake3 hash, and recorded in one transaction. Identical content
    /// already stored for this dataset creates nothing (`created == false`). On any error or cancel the
    /// workspace is left exactly as it was.
    pub fn import(
        &mut self,
        path: &Path,
        name: &str,
        opts: &ImportOptions,
        cancel: &Cancel,
        progress: &Progress,
    ) -> Result<ImportOutcome> {
        kiln_store::validate_name(name)?;
        let stage = |f: f32, s: &str| progress.set(f, s);
        stage(0.0, "reading");
        let mut df = kiln_data::read_file(path, opts, cancel, &Progress::new())?;
        cancel.check()?;
        df.rechunk_mut();
        stage(0.6, "writing parquet");
        let tmp = self.objects.temp("parquet");
        let size = kiln_data::write_parquet(&mut df, tmp.path())?;
        cancel.check()?;
        stage(0.9, "hashing");
        let hash = ObjectStore::hash_file(tmp.path())?;
        if let Some(existing) = self.store.find_version_by_hash(name, &hash)? {
            stage(1.0, "unchanged");
            return Ok(ImportOutcome {
                created: false,
                version: existing,
            });
        }
        cancel.check()?;
        let relative = ObjectStore::relative_path(&hash, "parquet");
        let source = path
            .canonicalize()
            .unwrap_or_else(|_| path.to_path_buf())
            .display()
            .to_string();
        let mut recorded = opts.clone();
        recorded.format = opts.resolve_format(path)?;
        let new = NewVersion {
            dataset: name,
            content_hash: &hash,
            object_path: &relative,
            schema: serde_json::to_value(kiln_data::schema_of(&df))
                .unwrap_or(serde_json::Value::Null),
            row_count: df.height() as i64,
            byte_size: size as i64,
            source_path: Some(&source),
            import_options: serde_json::to_value(&recorded).unwrap_or(serde_json::Value::Null),
            operation: "import",
            parent_id: self.store.get_version(name, None).ok().map(|v| v.id),
            message: None,
            author: Some(&current_user()),
        };
        stage(0.95, "recording");
        let objects = self.objects.clone();
        let target = relative.clone();
        let version = self
            .store
            .insert_version(&new, move || objects.commit(tmp, &target))?
            .map_err(|e| CoreError::io(path, e))?;
        stage(1.0, "imported");
        Ok(ImportOutcome {
            created: true,
            version,
        })
    }
}

/// Split `NAME@VERSION` into its parts.
pub fn parse_reference(reference: &str) -> Result<(&str, Option<i64>)> {
    match reference.split_once('@') {
        None => Ok((reference, None)),
        Some((name, v)) => {
            let v = v
                .trim_start_matches(['v', 'V'])
                .parse::<i64>()
                .map_err(|_| CoreError::BadReference(reference.to_owned()))?;
            Ok((name, Some(v)))
        }
    }
}

/// The OS user, recorded as the author of versions.
pub fn current_user() -> String {
    std::env::var("USER")
        .or_else(|_| std::env::var("USERNAME"))
        .unwrap_or_else(|_| "unknown".into())
}

#[cfg(test)]
mod tests;
