//! Datasets read from outside the workspace and pulled again as they change: a query on a PostgreSQL
//! database, read with a binary `COPY` straight into the version's Parquet object a row group at a time.
//!
//! A pull runs the recorded query again. Without a cursor it reads everything (a full refresh: an
//! unchanged result is the same content, so no version). With `incremental_by` it reads only rows whose
//! cursor column is past the largest value read so far and adds them to the last version; with a
//! `primary_key` too, a row that comes back replaces the row with its key (and keeps its row id). The
//! source is recorded without its password, and every pull's query, cursor and row count go into the
//! version's details — the lineage the Versions tab shows. A pull that fails (unreachable, refused, a
//! query error, a result cut short, columns that changed) leaves the workspace as it was.

mod columns;
mod files;
mod http;
mod mysql;
mod postgres;
mod recipe;

pub use files::is_pattern;
pub use http::{is_fetched_url, is_http_url, is_store_url};
pub use recipe::{Recipe, recipe_of};

use kiln_data::polars::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::{CoreError, DatasetVersion, ImportOutcome, Result, VersionMeta, Workspace};

/// A database a query source reads: what the result's columns are, and the rows, a batch at a time.
trait Database {
    /// Check the query's columns (types Kiln reads) and remember them for `read`; their names.
    fn describe(&mut self, query: &str) -> Result<Vec<String>>;
    /// The described columns' names, in order.
    fn column_names(&self) -> Vec<String>;
    /// Empty values of the described columns, in order.
    fn empty_values(&self) -> Result<Vec<columns::Values>>;
    /// Text as a literal of `column`'s type in this database's SQL.
    fn text_literal(&self, column: &str, text: &str) -> String;
    /// A column's name quoted for this database's SQL.
    fn quote(&self, column: &str) -> String;
    /// Run `query` (with the described columns) and hand its rows to `batch` a row group at a time, at
    /// least once (an empty frame for an empty result); how many rows.
    fn read(
        &mut self,
        query: &str,
        cancel: &kiln_data::Cancel,
        batch: &mut dyn FnMut(DataFrame) -> Result<()>,
    ) -> Result<usize>;

    /// A recorded cursor value as a literal of `column`'s type.
    fn literal(&self, column: &str, value: &serde_json::Value) -> Result<String> {
        match value {
            serde_json::Value::Number(n) => Ok(n.to_string()),
            serde_json::Value::String(s) => Ok(self.text_literal(column, s)),
            other => Err(CoreError::Invalid(format!(
                "the recorded cursor {other} cannot be compared"
            ))),
        }
    }

    /// An empty batch of the described columns.
    fn new_batch(&self) -> Result<columns::Batch> {
        Ok(columns::Batch {
            names: self.column_names(),
            values: self.empty_values()?,
            flushed: 0,
        })
    }

    /// An empty frame of the described columns (row ids first).
    fn empty_frame(&self) -> Result<DataFrame> {
        self.new_batch()?.take()
    }
}

/// A dataset read from a database query, as recorded with its versions.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuerySource {
    /// `postgres://user@host:port/db` (a password in it is used, never recorded).
    pub url: String,
    pub query: String,
    /// A column that grows with new and changed rows (an id, an `updated_at`): pulls read past its largest
    /// value so far instead of everything.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub incremental_by: Option<String>,
    /// With `incremental_by`: rows read again replace the rows with their key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub primary_key: Option<String>,
}

impl QuerySource {
    /// Whether `source` names a database Kiln reads queries from.
    pub fn is_database_url(source: &str) -> bool {
        source.starts_with("postgres://")
            || source.starts_with("postgresql://")
            || mysql::is_url(source)
    }

    fn check(&self) -> Result<()> {
        if self.query.trim().is_empty() {
            return Err(CoreError::Invalid(
                "a database source needs a query (--query \"SELECT …\")".into(),
            ));
        }
        if self.primary_key.is_some() && self.incremental_by.is_none() {
            return Err(CoreError::Invalid(
                "--primary-key needs --incremental-by: a full pull reads every row anyway".into(),
            ));
        }
        Ok(())
    }

    fn connect(&self) -> Result<Box<dyn Database>> {
        if mysql::is_url(&self.url) {
            return Ok(Box::new(mysql::MySql::connect(&self.url)?));
        }
        let url = kiln_store::team::TeamUrl::parse(&self.url, None)?;
        // Later pulls in this process find it (the recorded URL has none).
        kiln_store::team::remember_password(&url);
        let client = url.connect().map_err(|e| {
            CoreError::Invalid(format!(
                "cannot read from {}: {e}",
                kiln_store::team::redact(&self.url)
            ))
        })?;
        Ok(Box::new(postgres::Postgres::new(client)))
    }

    /// Check the query's columns on `db`: those Kiln reads, no reserved name, the cursor and key there.
    fn describe(&self, db: &mut dyn Database) -> Result<Vec<String>> {
        let names = db.describe(&self.query)?;
        if names.is_empty() {
            return Err(CoreError::Invalid("the query returns no columns".into()));
        }
        if names.iter().any(|n| n == kiln_data::ROW_ID) {
            return Err(CoreError::Invalid(format!(
                "the column name `{}` is reserved by Kiln: rename it in the query",
                kiln_data::ROW_ID
            )));
        }
        for c in [&self.incremental_by, &self.primary_key]
            .into_iter()
            .flatten()
        {
            if !names.contains(c) {
                return Err(CoreError::Invalid(format!(
                    "the query has no column `{c}` (its columns: {})",
                    names.join(", ")
                )));
            }
        }
        Ok(names)
    }

    /// The source as recorded: the URL without its password.
    fn recorded(&self) -> Result<Self> {
        let url = if mysql::is_url(&self.url) {
            shown_url(&self.url)
        } else {
            kiln_store::team::TeamUrl::parse(&self.url, None)?.url_without_password()
        };
        Ok(Self {
            url,
            ..self.clone()
        })
    }
}

/// The import options a version was read with (to read its source again).
pub(crate) fn recorded_options(v: &DatasetVersion) -> Result<crate::ImportOptions> {
    serde_json::from_value(v.import_options.clone())
        .map_err(|e| CoreError::Invalid(format!("stored import options are unreadable: {e}")))
}

/// The recorded query source of a version, if it came from one.
pub fn query_source_of(v: &DatasetVersion) -> Option<QuerySource> {
    serde_json::from_value(v.import_options.get("query_source")?.clone()).ok()
}

/// Schema differences between two versions' column lists (`[{name, dtype}]`), in words.
fn schema_changes(before: &serde_json::Value, after: &[kiln_data::ColumnInfo]) -> Vec<String> {
    let old: Vec<(String, String)> = before
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| {
            Some((
                c["name"].as_str()?.to_owned(),
                c["dtype"].as_str()?.to_owned(),
            ))
        })
        .collect();
    let mut out = Vec::new();
    for (name, dtype) in &old {
        match after.iter().find(|c| &c.name == name) {
            None => out.push(format!("`{name}` is gone")),
            Some(c) if &c.dtype != dtype => {
                out.push(format!("`{name}` was {dtype} and is now {}", c.dtype));
            }
            Some(_) => {}
        }
    }
    for c in after {
        if !old.iter().any(|(n, _)| n == &c.name) {
            out.push(format!("`{}` is new ({})", c.name, c.dtype));
        }
    }
    out
}

/// `None` when a pull's columns (`after`) are those of the last version (`before`); else an error naming
/// the change, or with `allow` the message that records it.
pub(crate) fn check_schema(
    name: &str,
    before: &serde_json::Value,
    after: &[kiln_data::ColumnInfo],
    allow: bool,
) -> Result<Option<String>> {
    let changes = schema_changes(before, after);
    if changes.is_empty() {
        return Ok(None);
    }
    if !allow {
        return Err(CoreError::Invalid(format!(
            "the source's columns changed since the last version of {name}: {}; nothing was pulled \
             (pull with --allow-schema-change to accept it)",
            changes.join(", ")
        )));
    }
    Ok(Some(format!("schema changed: {}", changes.join(", "))))
}

/// The largest value of `column` in the Parquet file at `path`, as JSON (numbers as numbers, dates and
/// times as PostgreSQL reads them); `None` when every value is null.
fn cursor_of(path: &std::path::Path, column: &str) -> Result<Option<serde_json::Value>> {
    let text = path.to_string_lossy().to_string();
    let max = LazyFrame::scan_parquet(PlRefPath::from(text.as_str()), ScanArgsParquet::default())?
        .select([col(column).max()])
        .collect()?;
    let value = max.column(column)?.get(0)?;
    Ok(match &value {
        AnyValue::Null => None,
        v if v.dtype().is_integer() => v.extract::<i64>().map(|i| json!(i)),
        v if v.dtype().is_float() => v
            .extract::<f64>()
            .and_then(serde_json::Number::from_f64)
            .map(serde_json::Value::Number),
        AnyValue::Datetime(_, _, Some(_)) | AnyValue::DatetimeOwned(_, _, Some(_)) => {
            let text = value.str_value().to_string();
            Some(json!(if text.contains("UTC") {
                text
            } else {
                format!("{text} UTC")
            }))
        }
        v => Some(json!(v.str_value().to_string())),
    })
}

/// A source URL to show: without its password.
pub fn shown_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) => {
            if u.password().is_some() {
                let _ = u.set_password(None);
            }
            u.to_string()
        }
        Err(_) => url.to_owned(),
    }
}

/// Keep a database password typed in the app for this process (never written anywhere): connections to
/// `url` made later find it.
pub fn remember_password(url: &str, password: &str) {
    if mysql::is_url(url) {
        mysql::remember_password(url, password);
        return;
    }
    if let Ok(u) = kiln_store::team::TeamUrl::parse(url, Some(password)) {
        kiln_store::team::remember_password(&u);
    }
}

/// The first `rows` rows of a query's result, as an import would read them (for a live preview).
pub fn preview_query(source: &QuerySource, rows: usize) -> Result<DataFrame> {
    source.check()?;
    let mut db = source.connect()?;
    source.describe(db.as_mut())?;
    let limited = format!(
        "SELECT * FROM ({}) AS kiln_preview LIMIT {rows}",
        source.query
    );
    let mut first = None;
    db.read(&limited, &kiln_data::Cancel::new(), &mut |df| {
        if first.is_none() {
            first = Some(kiln_data::without_row_ids(&df));
        }
        Ok(())
    })?;
    first.ok_or_else(|| CoreError::Invalid("the query gave no result".into()))
}

/// The first `rows` rows of the file behind `url`, read from its first bytes (text formats; `.gz`
/// unpacked as far as they go), for a live preview.
pub fn preview_url(url: &str, opts: &crate::ImportOptions, rows: usize) -> Result<DataFrame> {
    static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    // Objects of a store by a pattern: the first of them.
    let first;
    let url = if http::is_store_url(url) && files::is_pattern(url) {
        first = files::first_match(url)?;
        first.as_str()
    } else {
        url
    };
    let parsed = url::Url::parse(url)
        .map_err(|e| CoreError::Invalid(format!("`{url}` is not a URL: {e}")))?;
    let opts = http::options_for(&parsed, opts);
    if matches!(
        opts.format,
        kiln_data::Format::Parquet | kiln_data::Format::Ipc
    ) {
        return Err(CoreError::Invalid(
            "a Parquet or Arrow file is read whole: its rows show once it is imported".into(),
        ));
    }
    let head = std::env::temp_dir().join(format!(
        "kiln-preview-{}-{}",
        std::process::id(),
        N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    ));
    let read = http::fetch_head(&parsed, 256 << 10, &head)
        .and_then(|()| Ok(kiln_data::preview_file(&head, &opts, rows)?));
    let _ = std::fs::remove_file(&head);
    read
}

impl Workspace {
    /// Import the file behind an `http(s)://` URL (CSV, TSV, Parquet, NDJSON, …; `.gz` unpacked) as a new
    /// version of `name`, recording the URL and what the server said of the file (`ETag`,
    /// `Last-Modified`, length) so `pull` fetches it again only when it changed.
    pub fn import_url(
        &mut self,
        url: &str,
        name: &str,
        opts: &crate::ImportOptions,
        cancel: &kiln_data::Cancel,
        progress: &kiln_data::Progress,
    ) -> Result<ImportOutcome> {
        kiln_store::validate_name(name)?;
        // A store URL with wildcards names several objects: one version of them all.
        if http::is_store_url(url) && files::is_pattern(url) {
            return self.import_pattern(url, name, opts, cancel, progress);
        }
        self.fetch_url(url, name, opts, None, "import", (cancel, progress))
    }

    /// Fetch `url` and import it as `name` — for a pull (`since`: the last version read from it, and
    /// whether a change of columns is accepted), only when it changed since.
    pub(crate) fn fetch_url(
        &mut self,
        url: &str,
        name: &str,
        opts: &crate::ImportOptions,
        since: Option<(&DatasetVersion, bool)>,
        operation: &str,
        (cancel, progress): (&kiln_data::Cancel, &kiln_data::Progress),
    ) -> Result<ImportOutcome> {
        let (since, allow_schema_change) = (since.map(|s| s.0), since.is_some_and(|s| s.1));
        let parsed = url::Url::parse(url)
            .map_err(|e| CoreError::Invalid(format!("`{url}` is not a URL: {e}")))?;
        let seen_before = since.map(|v| http::Seen::from_json(&v.details["pull"]));
        progress.set(0.0, "fetching");
        let download = self.objects.temp("download");
        let Some(seen) = http::fetch(&parsed, seen_before.as_ref(), download.path())? else {
            progress.set(1.0, "unchanged");
            let version = since
                .cloned()
                .ok_or_else(|| CoreError::Invalid("nothing to compare with".into()))?;
            return Ok(ImportOutcome {
                created: false,
                version,
            });
        };
        cancel.check()?;
        let gz = http::is_gzip(&parsed);
        let unpacked = self.objects.temp("unpacked");
        if gz {
            http::gunzip(download.path(), unpacked.path())?;
        }
        let file = if gz { unpacked.path() } else { download.path() };
        let opts = http::options_for(&parsed, opts);
        let recorded = http::recorded_url(&parsed);
        let mut details = json!({ "pull": seen.to_json() });
        details["pull"]["url"] = json!(recorded);
        let how = crate::Recorded {
            operation,
            origin: Some((&recorded, details)),
            same_schema_as: since.map(|v| (&v.schema, allow_schema_change)),
        };
        self.import_recorded(file, name, &opts, how, (cancel, progress))
    }

    /// Import the result of `source.query` as a new version of dataset `name`, recording the source so
    /// `pull` can read it again.
    pub fn import_query(
        &mut self,
        source: &QuerySource,
        name: &str,
        cancel: &kiln_data::Cancel,
        progress: &kiln_data::Progress,
    ) -> Result<ImportOutcome> {
        kiln_store::validate_name(name)?;
        source.check()?;
        let previous = self.store.get_version(name, None).ok();
        self.read_query(source, name, previous.as_ref(), None, (cancel, progress))
    }

    /// Pull a dataset whose last import or pull came from a query: see the module's documentation.
    pub(crate) fn pull_query(
        &mut self,
        base: &DatasetVersion,
        source: &QuerySource,
        allow_schema_change: bool,
        cancel: &kiln_data::Cancel,
        progress: &kiln_data::Progress,
    ) -> Result<ImportOutcome> {
        self.read_query(
            source,
            &base.dataset,
            Some(base),
            Some(allow_schema_change),
            (cancel, progress),
        )
    }

    /// Read `source` for dataset `name`. `pull` is `None` for an import (a new source: no schema check)
    /// and whether a schema change is allowed for a pull from `base`.
    fn read_query(
        &mut self,
        source: &QuerySource,
        name: &str,
        base: Option<&DatasetVersion>,
        pull: Option<bool>,
        (cancel, progress): (&kiln_data::Cancel, &kiln_data::Progress),
    ) -> Result<ImportOutcome> {
        progress.set(0.0, "connecting");
        let mut db = source.connect()?;
        source.describe(db.as_mut())?;
        // The result's columns as a version would list them, checked against the last pull's.
        let empty = db.empty_frame()?;
        let shape = kiln_data::schema_of(&kiln_data::without_row_ids(&empty));
        // Refused when they changed, unless allowed: then said in the message.
        let message = match (base, pull) {
            (Some(b), Some(allow)) => check_schema(name, &b.schema, &shape, allow)?,
            _ => None,
        };
        // Incremental: past the recorded cursor, onto the last version (unless its columns changed:
        // then everything is read again).
        let cursor = base
            .and_then(|b| b.details.get("pull")?.get("cursor").cloned())
            .filter(|v| !v.is_null());
        let incremental = match (&source.incremental_by, base, &cursor, pull) {
            (Some(c), Some(b), Some(v), Some(_)) if message.is_none() => {
                Some((c.clone(), b.clone(), v.clone()))
            }
            _ => None,
        };
        let query = match &incremental {
            Some((c, _, v)) => format!(
                "SELECT * FROM ({}) AS kiln_source WHERE {} > {}",
                source.query,
                db.quote(c),
                db.literal(c, v)?
            ),
            None => source.query.clone(),
        };
        progress.set(0.1, "reading");
        let tmp = self.objects.temp("parquet");
        let mut sink: Option<kiln_data::ParquetSink> = None;
        let keep_ids = incremental.is_none();
        let rows = db.read(&query, cancel, &mut |df| {
            let df = if keep_ids {
                df
            } else {
                kiln_data::without_row_ids(&df)
            };
            let s = match &mut sink {
                Some(s) => s,
                None => sink.insert(kiln_data::ParquetSink::create(tmp.path(), df.schema())?),
            };
            s.push(&df)?;
            Ok(())
        })?;
        let sink = sink.ok_or_else(|| CoreError::Invalid("the query gave no result".into()))?;
        let written = sink.finish()?;
        cancel.check()?;
        let recorded = source.recorded()?;
        let new_cursor = match &source.incremental_by {
            Some(c) if rows > 0 => cursor_of(tmp.path(), c)?,
            _ => cursor.clone(),
        };
        let meta = VersionMeta {
            dataset: name,
            source_path: Some(&recorded.url),
            import_options: json!({ "query_source": recorded }),
            operation: if pull.is_some() { "pull" } else { "import" },
            parent_id: base.map(|b| b.id),
            message: message.as_deref(),
            details: json!({ "pull": {
                "query": query,
                "rows_read": rows,
                "incremental": incremental.is_some(),
                "cursor": new_cursor,
            }}),
            clear_drafts: None,
            author: None,
        };
        progress.set(0.8, "recording");
        match incremental {
            None => self.record_object(tmp, (written, rows, shape), &meta, cancel, progress),
            Some(_) if rows == 0 => {
                progress.set(1.0, "unchanged");
                Ok(ImportOutcome {
                    created: false,
                    version: base
                        .cloned()
                        .ok_or_else(|| CoreError::Invalid("no base".into()))?,
                })
            }
            Some((_, b, _)) => {
                let prev = self.objects.local(&b.object_path)?;
                let out = self.objects.temp("parquet");
                let s = kiln_data::append_rows(
                    &prev,
                    tmp.path(),
                    source.primary_key.as_deref(),
                    out.path(),
                    cancel,
                )?;
                self.record_streamed(out, s, &meta, (cancel, progress))
            }
        }
    }
}
