//! `kiln_core` is the one place where user actions are implemented: the [`Workspace`] facade (open or
//! create a workspace folder, import a file as a dataset version, list and load datasets, compute stats)
//! and the background [`jobs`] runner. The GUI and the CLI both call these functions and add only
//! presentation; a test of any action needs no window.
//!
//! It must not depend on egui/eframe or print to the terminal. SQL stays in `kiln_store`, data work in
//! `kiln_data`.

pub mod assist;
pub mod bundle;
pub mod compare;
pub mod demo;
pub mod drift;
pub mod jobs;
pub mod labels;
mod logged_inputs;
mod objects;
mod predict;
pub mod release;
pub mod runs;
pub mod schedule;
pub mod serving;
pub mod shadow;
pub mod sources;
mod streamed;
pub mod sweeps;
pub mod sync;
pub mod training;
pub mod versions;
pub mod watch;

use std::path::{Path, PathBuf};

pub use demo::open_default;
pub use kiln_data::{self as data, Cancel, ColumnStats, Format, ImportOptions, Progress};
pub use kiln_store::ServedRequest as ServedRequestRecord;
pub use kiln_store::validate_name;
pub use kiln_store::{
    Dataset, DatasetVersion, LabelClass, MetricPoint, MetricSeries, Run, RunStatus, Sweep,
    SweepStatus,
};
pub use objects::{ObjectStore, Remote, set_client_options};
pub use predict::{LoadedModel, best_class};

use kiln_data::polars::prelude::DataFrame;
use kiln_store::{NewVersion, Store};

/// Kiln's version, recorded with what it writes.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Every error of a Kiln action. Cancellation is its own variant, whichever layer noticed it.
#[derive(Debug, thiserror::Error)]
pub enum CoreError {
    #[error("cancelled")]
    Cancelled,
    /// A request that cannot be carried out as given (the message names what is wrong).
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Data(kiln_data::DataError),
    #[error(transparent)]
    Store(#[from] kiln_store::StoreError),
    #[error(transparent)]
    Train(kiln_train::TrainError),
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
    #[error("run {run} has no trained model (status {status})")]
    NoModel {
        run: i64,
        status: kiln_store::RunStatus,
    },
    #[error("run {run}: its record is unreadable ({message})")]
    BadRecord { run: i64, message: String },
    #[error(
        "run {run}: the weights file {path} does not match the run's record (blake3 {found}, recorded {expected}); it was changed or damaged"
    )]
    WeightsMismatch {
        run: i64,
        path: PathBuf,
        expected: String,
        found: String,
    },
    #[error("dataset version {dataset}@{version}: its data file {path} is missing or unreadable")]
    MissingObject {
        dataset: String,
        version: i64,
        path: PathBuf,
    },
}

impl From<kiln_data::DataError> for CoreError {
    fn from(e: kiln_data::DataError) -> Self {
        match e {
            kiln_data::DataError::Cancelled => CoreError::Cancelled,
            e => CoreError::Data(e),
        }
    }
}

impl From<kiln_train::TrainError> for CoreError {
    fn from(e: kiln_train::TrainError) -> Self {
        match e {
            kiln_train::TrainError::Cancelled => CoreError::Cancelled,
            e => CoreError::Train(e),
        }
    }
}

impl From<kiln_data::polars::error::PolarsError> for CoreError {
    fn from(e: kiln_data::polars::error::PolarsError) -> Self {
        CoreError::Data(kiln_data::DataError::Polars(e))
    }
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
        matches!(self, CoreError::Cancelled)
    }
}

pub type Result<T, E = CoreError> = std::result::Result<T, E>;

/// A request that cannot be carried out as asked (the message says why).
pub(crate) fn invalid(message: impl Into<String>) -> CoreError {
    CoreError::Data(kiln_data::DataError::Invalid(message.into()))
}

/// What an import did.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct ImportOutcome {
    /// False when identical content was already a version of this dataset: nothing was written.
    pub created: bool,
    pub version: DatasetVersion,
}

/// The file in a team workspace's cache folder that names it (its URL, never a password): opening the
/// folder opens the team workspace, so worker threads re-open it by path as they do a local one.
pub const TEAM_FILE: &str = "team-workspace.json";

/// The team workspace a cache folder names, if it names one.
fn team_url_of(dir: &Path) -> Result<Option<kiln_store::team::TeamUrl>> {
    let Ok(text) = std::fs::read_to_string(dir.join(TEAM_FILE)) else {
        return Ok(None);
    };
    let marker: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
    let Some(url) = marker["url"].as_str() else {
        return Err(CoreError::Invalid(format!(
            "{} does not name a team workspace",
            dir.join(TEAM_FILE).display()
        )));
    };
    Ok(Some(kiln_store::team::TeamUrl::parse(url, None)?))
}

/// A team workspace as this client sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TeamInfo {
    /// `host/db` (with a port other than 5432).
    pub display: String,
    /// The connected user (PostgreSQL's `session_user`).
    pub user: String,
    /// The user's Kiln role as the database grants it.
    pub role: Option<String>,
    /// Where the shared objects are.
    pub objects: String,
}

/// A workspace folder: `kiln.db` plus `objects/` — or a team workspace (see [`Workspace::open_team`]).
#[derive(Debug)]
pub struct Workspace {
    root: PathBuf,
    store: Store,
    objects: ObjectStore,
    /// Set on a team workspace (PostgreSQL + a shared object store); `root` is then this client's cache.
    team: Option<TeamInfo>,
    /// Imports whose data would take more memory than this stream into their object in batches; the
    /// default (read when an import asks) when `None`.
    memory_budget: Option<u64>,
}

impl Workspace {
    /// Open the workspace in `dir`, creating the folder, the database and `objects/` if needed, and
    /// cleaning up what a crashed import left behind.
    pub fn open(dir: &Path) -> Result<Self> {
        if let Some(url) = dir.to_str().filter(|d| kiln_store::team::is_team_url(d)) {
            return Self::open_team(url, None);
        }
        if let Some(url) = team_url_of(dir)? {
            return Self::open_team_at(dir, &url);
        }
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
            team: None,
            memory_budget: None,
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
        let interrupted = ws.store.mark_interrupted(objects::process_alive)?;
        if interrupted > 0 {
            tracing::info!(
                count = interrupted,
                "marked runs of ended processes as interrupted"
            );
        }
        Ok(ws)
    }

    /// Open a team workspace: `postgres://user[:password]@host[:port]/db`. A password not in the URL comes
    /// from `password` (the app's dialog), `PGPASSWORD` or `~/.pgpass`; it is kept in this process's
    /// memory only. This client's cache of the shared objects is a folder under the user's cache dir.
    pub fn open_team(url: &str, password: Option<&str>) -> Result<Self> {
        let parsed = kiln_store::team::TeamUrl::parse(url, password)?;
        let dir = directories::ProjectDirs::from("dev", "kiln", "kiln")
            .map_or_else(
                || PathBuf::from("kiln-cache"),
                |d| d.cache_dir().to_path_buf(),
            )
            .join("team")
            .join(parsed.cache_name());
        Self::open_team_in(&parsed, &dir)
    }

    /// [`Workspace::open_team`] with the cache in `dir`.
    pub fn open_team_in(url: &kiln_store::team::TeamUrl, dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(dir).map_err(|e| CoreError::io(dir, e))?;
        kiln_store::team::remember_password(url);
        let marker = serde_json::json!({ "url": url.url_without_password() });
        std::fs::write(dir.join(TEAM_FILE), marker.to_string())
            .map_err(|e| CoreError::io(dir, e))?;
        Self::open_team_at(dir, url)
    }

    /// Create a team workspace (see `kiln_store::team::create`) with its objects at `objects_url`, after
    /// checking that the object store answers; then open it.
    pub fn create_team(admin_url: &str, password: Option<&str>, objects_url: &str) -> Result<Self> {
        let parsed = kiln_store::team::TeamUrl::parse(admin_url, password)?;
        let remote = objects::Remote::connect(objects_url)?;
        remote.has("objects/probe", 0)?;
        drop(kiln_store::team::create(&parsed, objects_url)?);
        Self::open_team(admin_url, password)
    }

    /// Another connection to the database of the workspace at `root` (a local folder, or a team
    /// workspace's cache folder), for a worker thread that only needs the database.
    pub fn open_store(root: &Path) -> Result<Store> {
        match team_url_of(root)? {
            Some(url) => Ok(kiln_store::team::open(&url)?),
            None => Ok(Store::open(&root.join("kiln.db"))?),
        }
    }

    /// Open the team workspace at `parsed` with its cache in `dir`.
    fn open_team_at(dir: &Path, parsed: &kiln_store::team::TeamUrl) -> Result<Self> {
        let store = kiln_store::team::open(parsed)?;
        let objects_url = store.team_setting("objects")?.ok_or_else(|| {
            CoreError::Invalid(format!("{} records no object store", parsed.display()))
        })?;
        let root = dir.canonicalize().map_err(|e| CoreError::io(dir, e))?;
        let objects = ObjectStore::with_remote(&root, objects::Remote::connect(&objects_url)?)?;
        let user = store.session_user()?.unwrap_or_default();
        let role = store.database_role_of(&user)?;
        let ws = Self {
            root,
            store,
            objects,
            team: Some(TeamInfo {
                display: parsed.display(),
                user,
                role,
                objects: objects_url,
            }),
            memory_budget: None,
        };
        ws.objects
            .collect_garbage(&[], std::time::Duration::from_mins(10));
        // A run is alive while its process's session holds its lock, on whatever machine it runs.
        let interrupted = ws.store.mark_interrupted(|_| true)?;
        if interrupted > 0 {
            tracing::info!(
                count = interrupted,
                "marked runs whose session ended as interrupted"
            );
        }
        Ok(ws)
    }

    /// Who and where, on a team workspace.
    pub fn team(&self) -> Option<&TeamInfo> {
        self.team.as_ref()
    }

    /// The name to act under: on a local workspace `by` as given (approvals there are by declaration);
    /// on a team workspace the connected user, whom the database knows — naming anyone else (other than
    /// the default, this computer's user) is refused.
    pub fn who(&self, by: &str) -> Result<String> {
        match &self.team {
            Some(t) if by != t.user && by != current_user() => Err(CoreError::Invalid(format!(
                "--by has no meaning on a team workspace: you are {} (connect as `{by}` to act as them)",
                t.user
            ))),
            Some(t) => Ok(t.user.clone()),
            None => Ok(by.to_owned()),
        }
    }

    /// Add a user to a team workspace (a login role with `password`) or change a user's role; only an
    /// admin may, which the database checks.
    pub fn set_team_user(
        &mut self,
        name: &str,
        role: release::Role,
        password: Option<&str>,
    ) -> Result<()> {
        Ok(self.store.set_team_user(name, role.as_str(), password)?)
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

    /// The folder's name (a team workspace's `host/db`), shown as the workspace's name.
    pub fn name(&self) -> String {
        if let Some(t) = &self.team {
            return t.display.clone();
        }
        self.root.file_name().map_or_else(
            || self.root.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        )
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

    /// A version by dataset name and number (`None` = the latest).
    pub fn version(&self, dataset: &str, version: Option<i64>) -> Result<DatasetVersion> {
        Ok(self.store.get_version(dataset, version)?)
    }

    /// Load a version's data as users see it (without the hidden row ids).
    pub fn load(&self, version: &DatasetVersion) -> Result<DataFrame> {
        self.objects.load(version)
    }

    /// Load a version's data with its `__kiln_row` ids (numbered by position for versions stored
    /// without them).
    pub fn load_with_ids(&self, version: &DatasetVersion) -> Result<DataFrame> {
        self.objects.load_with_ids(version)
    }

    /// `PRAGMA integrity_check` of the workspace database (`ok` when sound).
    pub fn integrity_check(&self) -> Result<String> {
        Ok(self.store.integrity_check()?)
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
        self.import_as(path, name, opts, "import", cancel, progress)
    }

    /// Memory an import may use before it streams (bytes); `KILN_MEMORY_BUDGET_MB` or a quarter of RAM.
    pub fn memory_budget(&self) -> u64 {
        self.memory_budget.unwrap_or_else(|| {
            std::env::var("KILN_MEMORY_BUDGET_MB")
                .ok()
                .and_then(|v| v.parse::<u64>().ok())
                .map_or_else(kiln_data::default_memory_budget, |mb| mb << 20)
        })
    }

    pub fn set_memory_budget(&mut self, bytes: u64) {
        self.memory_budget = Some(bytes);
    }

    pub(crate) fn import_as(
        &mut self,
        path: &Path,
        name: &str,
        opts: &ImportOptions,
        operation: &str,
        cancel: &Cancel,
        progress: &Progress,
    ) -> Result<ImportOutcome> {
        let how = Recorded {
            operation,
            origin: None,
            same_schema_as: None,
        };
        self.import_recorded(path, name, opts, how, (cancel, progress))
    }

    /// [`Workspace::import_as`] recording `origin` — where the file came from (a URL) and what its
    /// fetch saw — instead of the file's own path.
    pub(crate) fn import_recorded(
        &mut self,
        path: &Path,
        name: &str,
        opts: &ImportOptions,
        how: Recorded<'_>,
        (cancel, progress): (&Cancel, &Progress),
    ) -> Result<ImportOutcome> {
        let Recorded {
            operation,
            origin,
            same_schema_as,
        } = how;
        kiln_store::validate_name(name)?;
        // A file larger than the memory budget streams in batches into the version's Parquet object
        // (the same bytes an in-memory import writes); any other is read whole. Either way the object
        // is then hashed and recorded like any version, and nothing is kept on a failure.
        let read = if kiln_data::streams(path, opts, self.memory_budget()) {
            progress.set(0.0, "streaming");
            let tmp = self.objects.temp("parquet");
            let s = kiln_data::stream_to_parquet(path, opts, tmp.path(), cancel, progress)?;
            Read::Streamed(tmp, s)
        } else {
            progress.set(0.0, "reading");
            let df = kiln_data::read_file(path, opts, cancel, &Progress::new())?;
            if df.column(kiln_data::ROW_ID).is_ok() {
                return Err(CoreError::Data(kiln_data::DataError::Malformed {
                    path: path.to_path_buf(),
                    message: format!(
                        "the column name `{}` is reserved by Kiln",
                        kiln_data::ROW_ID
                    ),
                }));
            }
            cancel.check()?;
            Read::Frame(kiln_data::with_row_ids(&df)?)
        };
        let (source, details) = match origin {
            Some((source, details)) => (source.to_owned(), details),
            None => (
                path.canonicalize()
                    .unwrap_or_else(|_| path.to_path_buf())
                    .display()
                    .to_string(),
                serde_json::json!({}),
            ),
        };
        let mut recorded = opts.clone();
        recorded.format = opts.resolve_format(path)?;
        // A pull whose columns changed since the last one: refused, or accepted and said so.
        let message = match same_schema_as {
            Some((before, allow)) => {
                let shape = match &read {
                    Read::Streamed(_, s) => kiln_data::schema_of(&kiln_data::without_row_ids(
                        &DataFrame::empty_with_schema(&s.schema),
                    )),
                    Read::Frame(df) => kiln_data::schema_of(&kiln_data::without_row_ids(df)),
                };
                sources::check_schema(name, before, &shape, allow)?
            }
            None => None,
        };
        let meta = VersionMeta {
            dataset: name,
            source_path: Some(&source),
            import_options: serde_json::to_value(&recorded).unwrap_or_default(),
            operation,
            parent_id: self.store.get_version(name, None).ok().map(|v| v.id),
            message: message.as_deref(),
            details,
            clear_drafts: None,
            author: None,
        };
        let outcome = match read {
            Read::Streamed(tmp, s) => self.record_streamed(tmp, s, &meta, (cancel, progress)),
            Read::Frame(mut df) => self.store_version(&mut df, &meta, cancel, progress),
        };
        outcome.map_err(|e| match e {
            CoreError::Io { source, .. } => CoreError::io(path, source),
            e => e,
        })
    }

    /// Write `df` (with row ids) as a new version described by `meta`: Parquet to a temp object (hashed
    /// with blake3 as it is written), fsync, then the row and the rename in one transaction. Content
    /// identical to an existing version of the dataset creates nothing and returns that version.
    pub(crate) fn store_version(
        &mut self,
        df: &mut DataFrame,
        meta: &VersionMeta<'_>,
        cancel: &Cancel,
        progress: &Progress,
    ) -> Result<ImportOutcome> {
        df.rechunk_mut();
        progress.set(0.6, "writing parquet");
        let tmp = self.objects.temp("parquet");
        let written = kiln_data::write_parquet(df, tmp.path())?;
        let visible = kiln_data::without_row_ids(df);
        self.record_object(
            tmp,
            (written, df.height(), kiln_data::schema_of(&visible)),
            meta,
            cancel,
            progress,
        )
    }

    /// Record a written object (hashed as it was written) as a new version, or return the version with
    /// that content.
    pub(crate) fn record_object(
        &mut self,
        tmp: objects::TempObject,
        (written, rows, schema): (kiln_data::Written, usize, Vec<kiln_data::ColumnInfo>),
        meta: &VersionMeta<'_>,
        cancel: &Cancel,
        progress: &Progress,
    ) -> Result<ImportOutcome> {
        cancel.check()?;
        let (size, hash) = (written.bytes, written.blake3);
        if let Some(existing) = self.store.find_version_by_hash(meta.dataset, &hash)? {
            progress.set(1.0, "unchanged");
            return Ok(ImportOutcome {
                created: false,
                version: existing,
            });
        }
        cancel.check()?;
        let relative = ObjectStore::relative_path(&hash, "parquet");
        let author = meta.author.map_or_else(current_user, str::to_owned);
        let new = NewVersion {
            dataset: meta.dataset,
            content_hash: &hash,
            object_path: &relative,
            schema: serde_json::to_value(schema).unwrap_or_default(),
            row_count: rows as i64,
            byte_size: size as i64,
            source_path: meta.source_path,
            import_options: meta.import_options.clone(),
            operation: meta.operation,
            parent_id: meta.parent_id,
            message: meta.message,
            author: Some(&author),
            details: meta.details.clone(),
            clear_drafts: meta.clear_drafts,
        };
        progress.set(0.95, "recording");
        let objects = self.objects.clone();
        let target = relative.clone();
        let version = self
            .store
            .insert_version(&new, move || objects.commit(tmp, &target))?
            .map_err(|e| CoreError::io(Path::new(&relative), e))?;
        progress.set(1.0, "done");
        Ok(ImportOutcome {
            created: true,
            version,
        })
    }
}

/// How an imported file is recorded.
pub(crate) struct Recorded<'a> {
    pub operation: &'a str,
    /// Where the file came from (a URL) and what its fetch saw, instead of the file's own path.
    pub origin: Option<(&'a str, serde_json::Value)>,
    /// For a pull: the columns of the last version, and whether a change to them is accepted.
    pub same_schema_as: Option<(&'a serde_json::Value, bool)>,
}

/// An imported file: streamed into its object already, or read into memory (with row ids).
enum Read {
    Streamed(objects::TempObject, kiln_data::Streamed),
    Frame(DataFrame),
}

/// How a new version came to be.
#[derive(Clone, Debug)]
pub(crate) struct VersionMeta<'a> {
    pub dataset: &'a str,
    pub source_path: Option<&'a str>,
    pub import_options: serde_json::Value,
    pub operation: &'a str,
    pub parent_id: Option<i64>,
    pub message: Option<&'a str>,
    pub details: serde_json::Value,
    pub clear_drafts: Option<(i64, &'a str)>,
    /// Who made it; the OS user when `None`.
    pub author: Option<&'a str>,
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
/// This machine's name (`HOSTNAME`, else `/etc/hostname`), to tell processes on several machines apart.
pub fn host_name() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

pub fn current_user() -> String {
    // (Kiln records this as the author of new versions unless one is given.)
    ["USER", "LOGNAME", "USERNAME"]
        .iter()
        .find_map(|k| std::env::var(k).ok().filter(|v| !v.is_empty()))
        .or_else(|| {
            // The home folder's name is the user name on every desktop OS.
            std::env::var_os("HOME")
                .or_else(|| std::env::var_os("USERPROFILE"))
                .and_then(|h| {
                    std::path::PathBuf::from(h)
                        .file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                })
        })
        .unwrap_or_else(|| "unknown".into())
}

#[cfg(test)]
mod tests;
