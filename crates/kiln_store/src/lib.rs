//! `kiln_store` owns the workspace database (`kiln.db`): the schema, its migrations and typed repository
//! functions. It is the only crate that contains SQL; other crates call the functions here and never see a
//! `rusqlite` type. It knows nothing about data files, polars or user interfaces.
//!
//! The database runs in WAL mode with foreign keys on and a busy timeout, so the GUI and CLI can use one
//! workspace at the same time. Migrations are numbered by `PRAGMA user_version`.

mod assist;
pub mod db;
mod migrations;
mod registry;
mod runs;
mod schedules;
mod serving;
pub mod team;
#[cfg(any(test, feature = "test-servers"))]
pub mod testing;

use std::path::Path;

use rusqlite::Connection;
use serde::{Deserialize, Serialize};

use db::{Db, p};

pub use assist::SuspectRunRecord;
pub use db::Backend;
pub use migrations::{LATEST_VERSION, MIGRATIONS};
pub use registry::{
    AliasMove, AuditRow, CHAMPION, CapacityRecord, Comment, EnvironmentRecord, ModelRecord,
    ModelVersion, ReleaseRequest, User,
};
pub use runs::{
    EndedRun, MetricPoint, MetricSeries, NewRun, Run, RunStatus, SUMMARY_BUCKETS, SeriesPreview,
    Sweep, SweepStatus,
};
pub use schedules::{NewSchedule, Schedule, ScheduleRun};
pub use serving::{Feedback, ServedRequest, ShadowAnswer};

/// An error of the database engine itself. Opaque on purpose: callers see its message, never the engine's
/// types, so another backend can replace `SQLite` without changing them.
#[derive(Debug)]
pub enum DbError {
    Sqlite(rusqlite::Error),
    Postgres(postgres::Error),
    /// A value of another type than the code reads, or a missing row.
    Type(String),
}

impl DbError {
    /// PostgreSQL's SQLSTATE of a refused statement (`42501` is "insufficient privilege").
    pub fn sqlstate(&self) -> Option<&str> {
        match self {
            DbError::Postgres(e) => e.code().map(postgres::error::SqlState::code),
            _ => None,
        }
    }
}

impl std::fmt::Display for DbError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DbError::Sqlite(e) => e.fmt(f),
            // The server's own words (and its detail, hint) rather than the client's "db error".
            DbError::Postgres(e) => {
                if let Some(db) = e.as_db_error() {
                    f.write_str(db.message())?;
                    if let Some(d) = db.detail() {
                        write!(f, " ({d})")?;
                    }
                    if let Some(h) = db.hint() {
                        write!(f, "; {h}")?;
                    }
                } else {
                    // The client's own error ("error performing TLS handshake") and why.
                    e.fmt(f)?;
                    let mut source = std::error::Error::source(e);
                    while let Some(s) = source {
                        write!(f, ": {s}")?;
                        source = s.source();
                    }
                }
                Ok(())
            }
            DbError::Type(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for DbError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            DbError::Sqlite(e) => e.source(),
            DbError::Postgres(e) => e.source(),
            DbError::Type(_) => None,
        }
    }
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError::Db(DbError::Sqlite(e))
    }
}

impl From<postgres::Error> for StoreError {
    fn from(e: postgres::Error) -> Self {
        StoreError::Db(DbError::Postgres(e))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("workspace database: {0}")]
    Db(DbError),
    #[error(
        "workspace database was written by a newer Kiln (schema version {found}, this Kiln knows up to {known})"
    )]
    TooNew { found: i64, known: i64 },
    #[error("no dataset named `{0}`")]
    NoDataset(String),
    #[error("dataset `{name}` has no version {version}")]
    NoVersion { name: String, version: i64 },
    #[error(
        "invalid dataset name `{0}`: use letters, digits, `_`, `-` and `.`, starting with a letter or digit"
    )]
    BadName(String),
    #[error("no run {0}")]
    NoRun(i64),
    #[error("run {id} is {status}; only a stopped, failed or interrupted run can be resumed")]
    NotResumable { id: i64, status: RunStatus },
    #[error("no sweep `{0}`")]
    NoSweep(String),
    #[error("no model named `{0}` (register one: kiln models register --run RUN --name NAME)")]
    NoModel(String),
    #[error("model `{model}` has no version {version}")]
    NoModelVersion { model: String, version: i64 },
    #[error("no release request {0}")]
    NoRequest(i64),
    #[error("release request {id} is already {status}")]
    RequestDecided { id: i64, status: String },
    #[error("`{0}`'s champion has no earlier version to roll back to")]
    NoPreviousChampion(String),
    #[error(
        "the champion alias of `{0}` moves only through an approved release request or a rollback"
    )]
    ProtectedAlias(String),
    #[error(
        "on a team workspace a user is a PostgreSQL login role: add `{0}` with kiln users add {0} --role ROLE \\
         (by an admin, who sets its password)"
    )]
    TeamUser(String),
    #[error("{0}")]
    Team(String),
    #[error("no schedule {0}")]
    NoSchedule(i64),
    #[error(
        "{model} v{version} is not in QA (`{alias}` is {current}): a version reaches production only from QA — \
         file a new release request for it (that puts it in QA)"
    )]
    NotInQa {
        model: String,
        version: i64,
        alias: String,
        current: String,
    },
    #[error("no environment `{0}` (kiln env list)")]
    NoEnvironment(String),
    #[error("stored JSON is invalid: {0}")]
    Json(#[from] serde_json::Error),
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// One dataset: a name and the ordered list of its immutable versions.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Dataset {
    pub id: i64,
    pub name: String,
    pub created_at: String,
    pub versions: i64,
    pub latest_version: Option<i64>,
}

/// One immutable dataset version: its data is the Parquet object named by `content_hash`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DatasetVersion {
    pub id: i64,
    pub dataset_id: i64,
    pub dataset: String,
    pub version: i64,
    pub content_hash: String,
    /// Path of the object relative to the workspace root.
    pub object_path: String,
    /// JSON array of `{name, dtype}`.
    pub schema: serde_json::Value,
    pub row_count: i64,
    pub byte_size: i64,
    pub source_path: Option<String>,
    /// JSON of the import options used.
    pub import_options: serde_json::Value,
    pub operation: String,
    pub parent_id: Option<i64>,
    pub message: Option<String>,
    pub author: Option<String>,
    pub created_at: String,
    pub details: serde_json::Value,
}

impl DatasetVersion {
    /// The names of its columns, in order (from the recorded schema).
    pub fn column_names(&self) -> Vec<String> {
        self.schema
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|c| c["name"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// Marks of what changed in a workspace database ([`Store::change_marks`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ChangeMarks {
    /// Datasets, versions, labels, runs, the registry and users.
    pub lists: String,
    /// Served requests and feedback.
    pub served: i64,
}

/// What a new version needs; ids, numbers and times are assigned by the store.
#[derive(Clone, Debug)]
pub struct NewVersion<'a> {
    pub dataset: &'a str,
    pub content_hash: &'a str,
    pub object_path: &'a str,
    pub schema: serde_json::Value,
    pub row_count: i64,
    pub byte_size: i64,
    pub source_path: Option<&'a str>,
    pub import_options: serde_json::Value,
    pub operation: &'a str,
    pub parent_id: Option<i64>,
    pub message: Option<&'a str>,
    pub author: Option<&'a str>,
    /// Operation parameters (split spec, filter condition, labelled column…) as JSON.
    pub details: serde_json::Value,
    /// Drafts `(base version id, column)` this version commits: deleted in the same transaction.
    pub clear_drafts: Option<(i64, &'a str)>,
}

/// One class of a label schema.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LabelClass {
    pub name: String,
    /// `#rrggbb`.
    pub color: String,
    /// A key name such as `1`, `A`.
    pub hotkey: Option<String>,
}

/// The workspace database. One `Store` is one connection; open one per thread.
#[derive(Debug)]
pub struct Store {
    pub(crate) db: Db,
}

/// Dataset names are used on the command line as `NAME@VERSION` and in file names.
pub fn validate_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 128
        && name.chars().next().is_some_and(char::is_alphanumeric)
        && name
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if ok {
        Ok(())
    } else {
        Err(StoreError::BadName(name.to_owned()))
    }
}

impl Store {
    /// Open (creating if needed) and migrate to the latest schema.
    pub fn open(path: &Path) -> Result<Self> {
        Self::open_at_version(path, LATEST_VERSION)
    }

    /// Open without migrating further than `version` (for migration tests).
    pub fn open_at_version(path: &Path, version: i64) -> Result<Self> {
        let conn = Connection::open(path)?;
        Self::configure(&conn)?;
        let mut store = Store {
            db: Db::Sqlite(conn),
        };
        store.migrate_to(version)?;
        Ok(store)
    }

    /// A store on a PostgreSQL connection (a team workspace; see [`crate::team`]), migrated to the latest
    /// schema. Migrating needs the workspace owner's rights; a user's connection finds it done.
    pub fn from_postgres(client: postgres::Client) -> Result<Self> {
        Self::from_postgres_reconnecting(client, None)
    }

    /// [`Store::from_postgres`] that connects again with `config` when the server ends the session.
    pub fn from_postgres_reconnecting(
        client: postgres::Client,
        config: Option<db::Connector>,
    ) -> Result<Self> {
        let mut store = Store {
            db: Db::Postgres(Box::new(db::Pg::new(client, config))),
        };
        store.migrate_to(LATEST_VERSION)?;
        Ok(store)
    }

    /// Which engine this workspace database runs on.
    pub fn backend(&self) -> Backend {
        self.db.backend()
    }

    fn configure(conn: &Connection) -> Result<()> {
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.pragma_update(None, "foreign_keys", true)?;
        Ok(())
    }

    /// `SQLite`'s `synchronous` level for the next commits (PostgreSQL commits are always durable).
    pub(crate) fn set_synchronous(&self, full: bool) -> Result<()> {
        if let Db::Sqlite(c) = &self.db {
            c.pragma_update(None, "synchronous", if full { "FULL" } else { "NORMAL" })?;
        }
        Ok(())
    }

    pub fn schema_version(&self) -> Result<i64> {
        schema_version(&self.db)
    }

    fn migrate_to(&mut self, target: i64) -> Result<()> {
        let fresh_pg = self.db.is_postgres()
            && self
                .db
                .query_row("SELECT to_regclass('kiln_schema')::text", p![], |r| {
                    r.get::<Option<String>>(0)
                })?
                .is_none();
        if fresh_pg {
            self.db.batch(
                "CREATE TABLE IF NOT EXISTS kiln_schema (version BIGINT NOT NULL);
                 INSERT INTO kiln_schema SELECT 0 WHERE NOT EXISTS (SELECT 1 FROM kiln_schema)",
            )?;
        }
        let current = self.schema_version()?;
        if current > LATEST_VERSION {
            return Err(StoreError::TooNew {
                found: current,
                known: LATEST_VERSION,
            });
        }
        for (i, sql) in MIGRATIONS.iter().enumerate() {
            let version = i as i64 + 1;
            if version <= current || version > target {
                continue;
            }
            let tx = self.db.begin(true)?;
            // Another process may have migrated while we waited for the lock.
            if schema_version(&tx)? >= version {
                continue;
            }
            match &*tx {
                Db::Sqlite(c) => {
                    c.execute_batch(sql)?;
                    c.pragma_update(None, "user_version", version)?;
                }
                Db::Postgres(_) => {
                    let pg = migrations::PG_ONLY
                        .iter()
                        .find(|(v, _)| *v == version)
                        .map_or_else(|| db::pg_ddl(sql), |(_, pg)| (*pg).to_owned());
                    tx.batch(&pg).map_err(|e| match e {
                        StoreError::Db(d) if d.sqlstate() == Some("42501") => StoreError::Team(format!(
                            "this team workspace's schema is at version {current} and this Kiln needs \
                             {target}: its admin upgrades it by running kiln workspace create with the \
                             workspace's URL again (as the role that created it)"
                        )),
                        e => e,
                    })?;
                    tx.exec("UPDATE kiln_schema SET version = ?1", p![version])?;
                }
            }
            tx.commit()?;
            tracing::info!(version, "migrated workspace database");
        }
        Ok(())
    }

    /// A number that changes when another connection (another process, a worker thread) has committed
    /// to the database since this connection last looked: `PRAGMA data_version` on `SQLite`; on
    /// PostgreSQL the count of change notifications (`LISTEN kiln_changes`, sent by a statement trigger
    /// on every table at commit) this connection has received — reading them sends no query.
    pub fn data_version(&self) -> Result<i64> {
        match &self.db {
            Db::Sqlite(c) => Ok(c.pragma_query_value(None, "data_version", |r| r.get(0))?),
            Db::Postgres(pg) => pg.notifications(),
        }
    }

    /// What the app's lists are built from, as marks that change whenever one of them does: the event
    /// and audit logs (every dataset, label, registry and user write appends to one), the runs (started,
    /// ended), suspect-label runs; and, apart, the serving log.
    pub fn change_marks(&self) -> Result<ChangeMarks> {
        self.db.query_row(
            "SELECT (SELECT coalesce(max(id), 0) FROM events),
                    (SELECT coalesce(max(id), 0) FROM audit_log),
                    (SELECT count(*) FROM runs),
                    (SELECT count(*) FROM runs WHERE ended_at IS NOT NULL),
                    (SELECT coalesce(max(ended_at), '') FROM runs),
                    (SELECT coalesce(max(id), 0) FROM label_suspect_runs),
                    (SELECT coalesce(max(id), 0) FROM served_requests),
                    (SELECT coalesce(max(id), 0) FROM feedback)",
            p![],
            |r| {
                Ok(ChangeMarks {
                    lists: format!(
                        "{}:{}:{}:{}:{}:{}",
                        r.get::<i64>(0)?,
                        r.get::<i64>(1)?,
                        r.get::<i64>(2)?,
                        r.get::<i64>(3)?,
                        r.get::<String>(4)?,
                        r.get::<i64>(5)?
                    ),
                    served: r.get::<i64>(6)? + r.get::<i64>(7)?,
                })
            },
        )
    }

    /// `PRAGMA integrity_check` result (`"ok"` when healthy). PostgreSQL checks its own pages; there the
    /// answer is whether the server answers.
    pub fn integrity_check(&self) -> Result<String> {
        match &self.db {
            Db::Sqlite(c) => Ok(c.query_row("PRAGMA integrity_check", [], |r| r.get(0))?),
            Db::Postgres(_) => self.db.query_row("SELECT 'ok'", p![], |r| r.get(0)),
        }
    }

    pub fn list_datasets(&self) -> Result<Vec<Dataset>> {
        self.db.query_map(
            "SELECT d.id, d.name, d.created_at, COUNT(v.id), MAX(v.version)
             FROM datasets d LEFT JOIN dataset_versions v ON v.dataset_id = d.id
             GROUP BY d.id ORDER BY d.name",
            p![],
            |r| {
                Ok(Dataset {
                    id: r.get(0)?,
                    name: r.get(1)?,
                    created_at: r.get(2)?,
                    versions: r.get(3)?,
                    latest_version: r.get(4)?,
                })
            },
        )
    }

    /// All versions of a dataset, oldest first.
    pub fn list_versions(&self, dataset: &str) -> Result<Vec<DatasetVersion>> {
        let id = self.dataset_id(dataset)?;
        self.db.query_map(
            &format!("{VERSION_SELECT} WHERE v.dataset_id = ?1 ORDER BY v.version"),
            p![id],
            version_from_row,
        )
    }

    /// A version by number, or the latest when `version` is `None`.
    pub fn get_version(&self, dataset: &str, version: Option<i64>) -> Result<DatasetVersion> {
        let id = self.dataset_id(dataset)?;
        let found = self.db.query_opt(
            &format!(
                "{VERSION_SELECT} WHERE v.dataset_id = ?1 AND (?2 IS NULL OR v.version = ?2)
                 ORDER BY v.version DESC LIMIT 1"
            ),
            p![id, version],
            version_from_row,
        )?;
        match found {
            Some(v) => Ok(v),
            None => Err(match version {
                Some(v) => StoreError::NoVersion {
                    name: dataset.to_owned(),
                    version: v,
                },
                None => StoreError::NoDataset(dataset.to_owned()),
            }),
        }
    }

    /// The version of `dataset` whose content hash is `hash`, if any.
    pub fn find_version_by_hash(
        &self,
        dataset: &str,
        hash: &str,
    ) -> Result<Option<DatasetVersion>> {
        self.db.query_opt(
            &format!(
                "{VERSION_SELECT} WHERE d.name = ?1 AND v.content_hash = ?2 ORDER BY v.version DESC LIMIT 1"
            ),
            p![dataset, hash],
            version_from_row,
        )
    }

    /// Every object path referenced by a row (for garbage collection of orphans).
    pub fn referenced_objects(&self) -> Result<Vec<String>> {
        self.db.query_map(
            "SELECT object_path FROM dataset_versions
                 UNION SELECT json_extract(artifacts_json, '$.weights') FROM runs
                 WHERE json_extract(artifacts_json, '$.weights') IS NOT NULL",
            p![],
            |r| r.get(0),
        )
    }

    /// Insert a version (creating the dataset on its first version) in one durable transaction, after
    /// calling `before_commit` inside it: the caller moves the object file into place there, so a failure
    /// of either leaves neither. Returns the new row.
    pub fn insert_version(
        &mut self,
        new: &NewVersion<'_>,
        before_commit: impl FnOnce() -> std::io::Result<()>,
    ) -> Result<std::result::Result<DatasetVersion, std::io::Error>> {
        validate_name(new.dataset)?;
        // Version rows get full durability (fsync at commit); metrics and the rest stay at NORMAL.
        self.set_synchronous(true)?;
        let result = self.insert_version_tx(new, before_commit);
        self.set_synchronous(false)?;
        let next = match result? {
            Ok(next) => next,
            Err(e) => return Ok(Err(e)),
        };
        self.get_version(new.dataset, Some(next)).map(Ok)
    }

    fn insert_version_tx(
        &mut self,
        new: &NewVersion<'_>,
        before_commit: impl FnOnce() -> std::io::Result<()>,
    ) -> Result<std::result::Result<i64, std::io::Error>> {
        let tx = self.db.begin(true)?;
        tx.exec(
            "INSERT INTO datasets (name, created_at) VALUES (?1, strftime('%Y-%m-%dT%H:%M:%fZ','now'))
             ON CONFLICT(name) DO NOTHING",
            p![new.dataset],
        )?;
        let dataset_id: i64 = tx.query_row(
            "SELECT id FROM datasets WHERE name = ?1",
            p![new.dataset],
            |r| r.get(0),
        )?;
        let next: i64 = tx.query_row(
            "SELECT COALESCE(MAX(version), 0) + 1 FROM dataset_versions WHERE dataset_id = ?1",
            p![dataset_id],
            |r| r.get(0),
        )?;
        tx.exec(
            "INSERT INTO dataset_versions (dataset_id, version, content_hash, object_path, schema_json,
                row_count, byte_size, source_path, import_options, operation, parent_id, message, author,
                details, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14,
                strftime('%Y-%m-%dT%H:%M:%fZ','now'))",
            p![
                dataset_id,
                next,
                new.content_hash,
                new.object_path,
                new.schema.to_string(),
                new.row_count,
                new.byte_size,
                new.source_path,
                new.import_options.to_string(),
                new.operation,
                new.parent_id,
                new.message,
                new.author,
                new.details.to_string(),
            ],
        )?;
        if let Some((base, column)) = new.clear_drafts {
            tx.exec(
                "DELETE FROM label_drafts WHERE base_version_id = ?1 AND column_name = ?2",
                p![base, column],
            )?;
        }
        record_event(
            &tx,
            "dataset_version.created",
            &format!("{}@{next}", new.dataset),
            &serde_json::json!({"operation": new.operation, "hash": new.content_hash}),
        )?;
        if let Err(e) = before_commit() {
            return Ok(Err(e)); // dropping the transaction rolls it back
        }
        tx.commit()?;
        Ok(Ok(next))
    }

    /// The version with this id.
    pub fn version_by_id(&self, id: i64) -> Result<DatasetVersion> {
        self.db.query_row(
            &format!("{VERSION_SELECT} WHERE v.id = ?1"),
            p![id],
            version_from_row,
        )
    }

    /// Define (or replace) the classes of a label column.
    pub fn set_label_schema(
        &self,
        dataset: &str,
        column: &str,
        classes: &[LabelClass],
    ) -> Result<()> {
        let id = self.dataset_id(dataset)?;
        self.db.exec(
            "INSERT INTO label_schemas (dataset_id, column_name, classes_json) VALUES (?1, ?2, ?3)
             ON CONFLICT(dataset_id, column_name) DO UPDATE SET classes_json = excluded.classes_json",
            p![id, column, serde_json::to_string(classes)?],
        )?;
        Ok(())
    }

    pub fn label_schema(&self, dataset: &str, column: &str) -> Result<Option<Vec<LabelClass>>> {
        let id = self.dataset_id(dataset)?;
        let json: Option<String> = self.db.query_opt(
            "SELECT classes_json FROM label_schemas WHERE dataset_id = ?1 AND column_name = ?2",
            p![id, column],
            |r| r.get(0),
        )?;
        json.map(|j| serde_json::from_str(&j).map_err(StoreError::from))
            .transpose()
    }

    /// Columns of a dataset that hold labels: those with a schema and those committed as labels.
    pub fn label_columns(&self, dataset: &str) -> Result<Vec<String>> {
        let id = self.dataset_id(dataset)?;
        self.db.query_map(
            "SELECT column_name FROM label_schemas WHERE dataset_id = ?1
             UNION
             SELECT json_extract(details, '$.column') FROM dataset_versions
             WHERE dataset_id = ?1 AND operation = 'labels' AND json_extract(details, '$.column') IS NOT NULL
             ORDER BY 1",
            p![id],
            |r| r.get(0),
        )
    }

    /// Save one label in the draft of `(base version, column)`; `None` clears the row's label.
    pub fn put_draft(&self, base: i64, column: &str, row: u64, value: Option<&str>) -> Result<()> {
        self.db.exec(
            "INSERT INTO label_drafts (base_version_id, column_name, row_id, value, updated_at)
             VALUES (?1, ?2, ?3, ?4, strftime('%Y-%m-%dT%H:%M:%fZ','now'))
             ON CONFLICT(base_version_id, column_name, row_id)
             DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
            p![base, column, row as i64, value],
        )?;
        Ok(())
    }

    /// Forget the draft of one row (undo back to the committed value).
    pub fn remove_draft(&self, base: i64, column: &str, row: u64) -> Result<()> {
        self.db.exec(
            "DELETE FROM label_drafts WHERE base_version_id = ?1 AND column_name = ?2 AND row_id = ?3",
            p![base, column, row as i64],
        )?;
        Ok(())
    }

    /// The draft of `(base version, column)`: `(row id, value)` ordered by row id.
    pub fn drafts(&self, base: i64, column: &str) -> Result<Vec<(u64, Option<String>)>> {
        self.db.query_map(
            "SELECT row_id, value FROM label_drafts WHERE base_version_id = ?1 AND column_name = ?2
             ORDER BY row_id",
            p![base, column],
            |r| Ok((r.get::<i64>(0)? as u64, r.get(1)?)),
        )
    }

    /// Drop the whole draft of `(base version, column)`.
    pub fn discard_drafts(&self, base: i64, column: &str) -> Result<usize> {
        self.db.exec(
            "DELETE FROM label_drafts WHERE base_version_id = ?1 AND column_name = ?2",
            p![base, column],
        )
    }

    fn dataset_id(&self, name: &str) -> Result<i64> {
        self.db
            .query_opt("SELECT id FROM datasets WHERE name = ?1", p![name], |r| {
                r.get(0)
            })?
            .ok_or_else(|| StoreError::NoDataset(name.to_owned()))
    }

    /// Audit events, newest first.
    pub fn recent_events(&self, limit: i64) -> Result<Vec<(String, String, String)>> {
        self.db.query_map(
            "SELECT at, kind, subject FROM events ORDER BY id DESC LIMIT ?1",
            p![limit],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
    }

    /// Direct access for this crate's tests of its migrations.
    #[cfg(test)]
    pub(crate) fn connection(&self) -> &Connection {
        match &self.db {
            Db::Sqlite(c) => c,
            Db::Postgres(_) => panic!("not a SQLite store"),
        }
    }
}

fn schema_version(db: &Db) -> Result<i64> {
    match db {
        Db::Sqlite(c) => Ok(c.pragma_query_value(None, "user_version", |r| r.get(0))?),
        Db::Postgres(_) => db.query_row("SELECT version FROM kiln_schema", p![], |r| r.get(0)),
    }
}

/// Append a row to the `events` log (in the caller's transaction).
pub(crate) fn record_event(
    db: &Db,
    kind: &str,
    subject: &str,
    detail: &serde_json::Value,
) -> Result<()> {
    db.exec(
        "INSERT INTO events (at, kind, subject, detail)
         VALUES (strftime('%Y-%m-%dT%H:%M:%fZ','now'), ?1, ?2, ?3)",
        p![kind, subject, detail.to_string()],
    )?;
    Ok(())
}

const VERSION_SELECT: &str = "SELECT v.id, v.dataset_id, d.name, v.version, v.content_hash, v.object_path,
    v.schema_json, v.row_count, v.byte_size, v.source_path, v.import_options, v.operation, v.parent_id,
    v.message, v.author, v.created_at, v.details
    FROM dataset_versions v JOIN datasets d ON d.id = v.dataset_id";

fn version_from_row(r: &db::Row) -> Result<DatasetVersion> {
    Ok(DatasetVersion {
        id: r.get(0)?,
        dataset_id: r.get(1)?,
        dataset: r.get(2)?,
        version: r.get(3)?,
        content_hash: r.get(4)?,
        object_path: r.get(5)?,
        schema: r.get(6)?,
        row_count: r.get(7)?,
        byte_size: r.get(8)?,
        source_path: r.get(9)?,
        import_options: r.get(10)?,
        operation: r.get(11)?,
        parent_id: r.get(12)?,
        message: r.get(13)?,
        author: r.get(14)?,
        created_at: r.get(15)?,
        details: r.get(16)?,
    })
}

#[cfg(test)]
mod team_tests;
#[cfg(test)]
mod tests;
