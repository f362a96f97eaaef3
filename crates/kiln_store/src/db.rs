//! The two engines behind one small interface: an embedded `SQLite` file (a local workspace) and a
//! PostgreSQL server (a team workspace). Queries are written once, in `SQLite`'s spelling with numbered
//! parameters (`?1`); [`pg_sql`] turns them into PostgreSQL's (`$1`, its clock, its JSON operators).
//! Parameters carry their type, so PostgreSQL runs them without a separate prepare round trip and knows a
//! `NULL`'s type. Rows come back as [`Value`]s read by position with [`Row::get`].

use std::borrow::Cow;
use std::cell::{Cell, RefCell};

use crate::{DbError, Result, StoreError};

/// One parameter of a statement, with its type.
#[derive(Clone, Debug)]
pub enum Param<'a> {
    Int(Option<i64>),
    Real(Option<f64>),
    Text(Option<Cow<'a, str>>),
    Blob(Option<Cow<'a, [u8]>>),
}

macro_rules! param_from {
    ($t:ty, $v:ident, $e:expr) => {
        impl<'a> From<$t> for Param<'a> {
            fn from($v: $t) -> Self {
                $e
            }
        }
    };
}
param_from!(i64, v, Param::Int(Some(v)));
param_from!(Option<i64>, v, Param::Int(v));
param_from!(bool, v, Param::Int(Some(i64::from(v))));
param_from!(u16, v, Param::Int(Some(i64::from(v))));
param_from!(f64, v, Param::Real(Some(v)));
param_from!(Option<f64>, v, Param::Real(v));
param_from!(&'a str, v, Param::Text(Some(Cow::Borrowed(v))));
param_from!(&'a String, v, Param::Text(Some(Cow::Borrowed(v.as_str()))));
param_from!(&'a &'a str, v, Param::Text(Some(Cow::Borrowed(*v))));
param_from!(String, v, Param::Text(Some(Cow::Owned(v))));
param_from!(Option<&'a str>, v, Param::Text(v.map(Cow::Borrowed)));
param_from!(
    &'a Option<String>,
    v,
    Param::Text(v.as_deref().map(Cow::Borrowed))
);
param_from!(Vec<u8>, v, Param::Blob(Some(Cow::Owned(v))));

/// `&[Param]` from a list of values: `p![id, name, None::<i64>]`.
macro_rules! p {
    ($($x:expr),* $(,)?) => {
        &[$($crate::db::Param::from($x)),*][..]
    };
}
pub(crate) use p;

impl rusqlite::ToSql for Param<'_> {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        use rusqlite::types::{ToSqlOutput, ValueRef};
        Ok(match self {
            Param::Int(Some(v)) => ToSqlOutput::Borrowed(ValueRef::Integer(*v)),
            Param::Real(Some(v)) => ToSqlOutput::Borrowed(ValueRef::Real(*v)),
            Param::Text(Some(v)) => ToSqlOutput::Borrowed(ValueRef::Text(v.as_bytes())),
            Param::Blob(Some(v)) => ToSqlOutput::Borrowed(ValueRef::Blob(v)),
            _ => ToSqlOutput::Borrowed(ValueRef::Null),
        })
    }
}

impl postgres::types::ToSql for Param<'_> {
    fn to_sql(
        &self,
        ty: &postgres::types::Type,
        out: &mut bytes::BytesMut,
    ) -> std::result::Result<postgres::types::IsNull, Box<dyn std::error::Error + Sync + Send>>
    {
        match self {
            Param::Int(v) => v.to_sql(ty, out),
            Param::Real(v) => v.to_sql(ty, out),
            Param::Text(v) => v.as_deref().to_sql(ty, out),
            Param::Blob(v) => v.as_deref().to_sql(ty, out),
        }
    }

    fn accepts(_: &postgres::types::Type) -> bool {
        true
    }

    postgres::types::to_sql_checked!();
}

impl Param<'_> {
    fn pg_type(&self) -> postgres::types::Type {
        use postgres::types::Type;
        match self {
            Param::Int(_) => Type::INT8,
            Param::Real(_) => Type::FLOAT8,
            Param::Text(_) => Type::TEXT,
            Param::Blob(_) => Type::BYTEA,
        }
    }
}

/// One value of a result row.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Null,
    Int(i64),
    Real(f64),
    Text(String),
    Blob(Vec<u8>),
}

/// One result row.
#[derive(Debug)]
pub struct Row(Vec<Value>);

impl Row {
    /// The value at `i` as `T`.
    pub fn get<T: FromValue>(&self, i: usize) -> Result<T> {
        let v = self.0.get(i).unwrap_or(&Value::Null);
        T::from_value(v)
            .map_err(|e| StoreError::Db(DbError::Type(format!("column {i} ({v:?}): {e}"))))
    }
}

/// A Rust value read from a [`Value`].
pub trait FromValue: Sized {
    fn from_value(v: &Value) -> std::result::Result<Self, String>;
}

impl FromValue for i64 {
    fn from_value(v: &Value) -> std::result::Result<Self, String> {
        match v {
            Value::Int(i) => Ok(*i),
            _ => Err("expected an integer".into()),
        }
    }
}

impl FromValue for u16 {
    fn from_value(v: &Value) -> std::result::Result<Self, String> {
        u16::try_from(i64::from_value(v)?).map_err(|e| e.to_string())
    }
}

impl FromValue for f64 {
    #[allow(clippy::cast_precision_loss)]
    fn from_value(v: &Value) -> std::result::Result<Self, String> {
        match v {
            Value::Real(f) => Ok(*f),
            Value::Int(i) => Ok(*i as f64),
            _ => Err("expected a number".into()),
        }
    }
}

impl FromValue for String {
    fn from_value(v: &Value) -> std::result::Result<Self, String> {
        match v {
            Value::Text(s) => Ok(s.clone()),
            _ => Err("expected text".into()),
        }
    }
}

impl FromValue for Vec<u8> {
    fn from_value(v: &Value) -> std::result::Result<Self, String> {
        match v {
            Value::Blob(b) => Ok(b.clone()),
            _ => Err("expected bytes".into()),
        }
    }
}

impl FromValue for serde_json::Value {
    fn from_value(v: &Value) -> std::result::Result<Self, String> {
        match v {
            Value::Text(s) => serde_json::from_str(s).map_err(|e| e.to_string()),
            _ => Err("expected JSON text".into()),
        }
    }
}

impl<T: FromValue> FromValue for Option<T> {
    fn from_value(v: &Value) -> std::result::Result<Self, String> {
        match v {
            Value::Null => Ok(None),
            v => T::from_value(v).map(Some),
        }
    }
}

/// Which engine a workspace database runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A connection to either engine. Not shared between threads (open one per thread, as before).
pub enum Db {
    Sqlite(rusqlite::Connection),
    Postgres(Box<Pg>),
}

/// A PostgreSQL connection that connects again when the server ends its session (a restart, a
/// terminated backend) and a statement outside a transaction finds it gone: the statement runs once
/// more on the new session. Inside a transaction the error reaches the caller (the transaction is lost).
/// Connects again the way the first connection was made (its TLS included).
pub type Connector = Box<dyn Fn() -> Result<postgres::Client> + Send>;

pub struct Pg {
    client: RefCell<postgres::Client>,
    config: Option<Connector>,
    in_tx: Cell<bool>,
    /// Change notifications heard since this connection started listening (`None`: not listening).
    heard: Cell<Option<i64>>,
}

/// How long a lost connection is retried (a server restart takes a few seconds).
const RECONNECT_FOR: std::time::Duration = std::time::Duration::from_secs(30);

impl Pg {
    pub fn new(client: postgres::Client, config: Option<Connector>) -> Self {
        Self {
            client: RefCell::new(client),
            config,
            in_tx: Cell::new(false),
            heard: Cell::new(None),
        }
    }

    /// Run `f` on the client, connecting again once when the session is gone.
    pub fn with<T>(
        &self,
        mut f: impl FnMut(&mut postgres::Client) -> std::result::Result<T, postgres::Error>,
    ) -> Result<T> {
        let first = f(&mut self.client.borrow_mut());
        match first {
            Err(e) if session_lost(&e) && !self.in_tx.get() && self.config.is_some() => {
                tracing::warn!("the database session ended ({e}); connecting again");
                self.reconnect()?;
                Ok(f(&mut self.client.borrow_mut())?)
            }
            r => Ok(r?),
        }
    }

    fn reconnect(&self) -> Result<()> {
        let Some(connect) = &self.config else {
            return Ok(());
        };
        let deadline = std::time::Instant::now() + RECONNECT_FOR;
        let mut client = loop {
            match connect() {
                Ok(c) => break c,
                Err(e) if std::time::Instant::now() < deadline => {
                    tracing::debug!("reconnect: {e}");
                    std::thread::sleep(std::time::Duration::from_millis(250));
                }
                Err(e) => return Err(e),
            }
        };
        if self.heard.get().is_some() {
            client.batch_execute(&format!("LISTEN {}", crate::team::CHANGES_CHANNEL))?;
        }
        *self.client.borrow_mut() = client;
        Ok(())
    }

    /// How many change notifications this connection has heard (it starts listening on the first call).
    pub fn notifications(&self) -> Result<i64> {
        use postgres::fallible_iterator::FallibleIterator;
        let Some(before) = self.heard.get() else {
            let channel = crate::team::CHANGES_CHANNEL;
            self.with(|c| c.batch_execute(&format!("LISTEN {channel}")))?;
            self.heard.set(Some(0));
            return Ok(0);
        };
        // A short wait lets the client's reactor read what the server sent (a non-blocking poll does
        // not see the socket's data).
        let n = self.with(|c| {
            c.notifications()
                .timeout_iter(std::time::Duration::from_millis(2))
                .count()
        })?;
        let total = before + n as i64;
        self.heard.set(Some(total));
        Ok(total)
    }
}

/// Whether an error means the server ended the session (so a new connection may succeed).
fn session_lost(e: &postgres::Error) -> bool {
    use postgres::error::SqlState;
    e.is_closed()
        || e.code().is_some_and(|c| {
            [
                SqlState::ADMIN_SHUTDOWN,
                SqlState::CRASH_SHUTDOWN,
                SqlState::CANNOT_CONNECT_NOW,
            ]
            .contains(c)
        })
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Db::Sqlite(c) => write!(f, "Sqlite({:?})", c.path()),
            Db::Postgres(_) => f.write_str("Postgres"),
        }
    }
}

/// The advisory lock every PostgreSQL write transaction of Kiln's takes first, so writers are serialized
/// as they are on `SQLite` (numbers allocated as `max + 1` never collide; the audit chain stays a chain).
pub const WRITE_LOCK: i64 = 0x4b69_6c6e; // "Kiln"

impl Db {
    pub fn backend(&self) -> Backend {
        match self {
            Db::Sqlite(_) => Backend::Sqlite,
            Db::Postgres(_) => Backend::Postgres,
        }
    }

    fn end_tx(&self) {
        if let Db::Postgres(pg) = self {
            pg.in_tx.set(false);
        }
    }

    pub fn is_postgres(&self) -> bool {
        self.backend() == Backend::Postgres
    }

    /// Run statements without parameters (migrations, transaction control).
    pub fn batch(&self, sql: &str) -> Result<()> {
        match self {
            Db::Sqlite(c) => c.execute_batch(sql)?,
            Db::Postgres(pg) => pg.with(|c| c.batch_execute(sql))?,
        }
        Ok(())
    }

    /// Run one statement; returns the number of rows it changed.
    pub fn exec(&self, sql: &str, params: &[Param<'_>]) -> Result<usize> {
        match self {
            Db::Sqlite(c) => Ok(c
                .prepare_cached(sql)?
                .execute(rusqlite::params_from_iter(params))?),
            Db::Postgres(c) => {
                let sql = pg_sql(sql);
                let typed = pg_params(params);
                let n = c.with(|c| c.execute_typed(&sql, &typed))?;
                Ok(usize::try_from(n).unwrap_or(usize::MAX))
            }
        }
    }

    /// Every row of a query, each turned into a `T` by `f`.
    pub fn query_map<T>(
        &self,
        sql: &str,
        params: &[Param<'_>],
        mut f: impl FnMut(&Row) -> Result<T>,
    ) -> Result<Vec<T>> {
        match self {
            Db::Sqlite(c) => sqlite_rows(c, sql, params, |r| f(&r)),
            Db::Postgres(c) => {
                let sql = pg_sql(sql);
                let typed = pg_params(params);
                let rows = c.with(|c| c.query_typed(&sql, &typed))?;
                rows.iter().map(|r| f(&Row(pg_values(r)?))).collect()
            }
        }
    }

    /// [`Db::query_map`] for long results whose rows are costly to turn into values (JSON parsed, say):
    /// the rows are read, then converted on every core in parallel, in order.
    pub fn query_map_parallel<T: Send>(
        &self,
        sql: &str,
        params: &[Param<'_>],
        f: impl Fn(&Row) -> Result<T> + Sync,
    ) -> Result<Vec<T>> {
        let rows: Vec<Row> = match self {
            Db::Sqlite(c) => sqlite_rows(c, sql, params, Ok)?,
            Db::Postgres(c) => {
                let sql = pg_sql(sql);
                let typed = pg_params(params);
                // Converted as they arrive: the client works while the server is still sending.
                return c.with(|client| {
                    let rows = client.query_typed_raw(&sql, typed.iter().cloned())?;
                    streamed_in_parallel(rows, |r| f(&Row(pg_values(r)?)))
                })?;
            }
        };
        in_parallel(&rows, f)
    }

    /// The first row of a query, if there is one.
    pub fn query_opt<T>(
        &self,
        sql: &str,
        params: &[Param<'_>],
        f: impl FnOnce(&Row) -> Result<T>,
    ) -> Result<Option<T>> {
        let mut f = Some(f);
        let mut first = None;
        self.query_map(sql, params, |r| {
            if let Some(f) = f.take() {
                first = Some(f(r)?);
            }
            Ok(())
        })?;
        Ok(first)
    }

    /// The first row of a query, which must exist.
    pub fn query_row<T>(
        &self,
        sql: &str,
        params: &[Param<'_>],
        f: impl FnOnce(&Row) -> Result<T>,
    ) -> Result<T> {
        self.query_opt(sql, params, f)?
            .ok_or_else(|| StoreError::Db(DbError::Type("the query returned no row".into())))
    }

    /// Start a transaction; `write` serializes it with every other writer (`BEGIN IMMEDIATE` on `SQLite`,
    /// Kiln's advisory lock on PostgreSQL). Rolled back when dropped without [`Tx::commit`].
    pub fn begin(&self, write: bool) -> Result<Tx<'_>> {
        match (self, write) {
            (Db::Sqlite(_), true) => self.batch("BEGIN IMMEDIATE")?,
            (Db::Postgres(_), true) => {
                self.batch(&format!(
                    "BEGIN; SELECT pg_advisory_xact_lock({WRITE_LOCK})"
                ))?;
            }
            (_, false) => self.batch("BEGIN")?,
        }
        if let Db::Postgres(pg) = self {
            pg.in_tx.set(true);
        }
        Ok(Tx {
            db: self,
            done: false,
        })
    }
}

/// An open transaction; derefs to the connection.
pub struct Tx<'a> {
    db: &'a Db,
    done: bool,
}

impl Tx<'_> {
    pub fn commit(mut self) -> Result<()> {
        self.done = true;
        let r = self.db.batch("COMMIT");
        self.db.end_tx();
        r
    }
}

impl Drop for Tx<'_> {
    fn drop(&mut self) {
        if !self.done {
            let _ = self.db.batch("ROLLBACK");
            self.db.end_tx();
        }
    }
}

impl std::ops::Deref for Tx<'_> {
    type Target = Db;
    fn deref(&self) -> &Db {
        self.db
    }
}

fn sqlite_value(v: rusqlite::types::ValueRef<'_>) -> Value {
    use rusqlite::types::ValueRef;
    match v {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(i) => Value::Int(i),
        ValueRef::Real(f) => Value::Real(f),
        ValueRef::Text(t) => Value::Text(String::from_utf8_lossy(t).into_owned()),
        ValueRef::Blob(b) => Value::Blob(b.to_vec()),
    }
}

fn pg_params<'p>(
    params: &'p [Param<'_>],
) -> Vec<(
    &'p (dyn postgres::types::ToSql + Sync),
    postgres::types::Type,
)> {
    params
        .iter()
        .map(|p| (p as &(dyn postgres::types::ToSql + Sync), p.pg_type()))
        .collect()
}

/// `f` of every row of a `SQLite` query, in order.
fn sqlite_rows<T>(
    c: &rusqlite::Connection,
    sql: &str,
    params: &[Param<'_>],
    mut f: impl FnMut(Row) -> Result<T>,
) -> Result<Vec<T>> {
    let mut st = c.prepare_cached(sql)?;
    let n = st.column_count();
    let mut rows = st.query(rusqlite::params_from_iter(params))?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        let mut vals = Vec::with_capacity(n);
        for i in 0..n {
            vals.push(sqlite_value(r.get_ref(i)?));
        }
        out.push(f(Row(vals))?);
    }
    Ok(out)
}

/// `f` of every item, in order, the items split between the machine's cores (on the caller's thread
/// alone when they are few).
fn in_parallel<R: Sync, T: Send>(
    items: &[R],
    f: impl Fn(&R) -> Result<T> + Sync,
) -> Result<Vec<T>> {
    let threads = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    if threads < 2 || items.len() < 4096 {
        return items.iter().map(f).collect();
    }
    let chunk = items.len().div_ceil(threads);
    let parts: Vec<Result<Vec<T>>> = std::thread::scope(|s| {
        let f = &f;
        let handles: Vec<_> = items
            .chunks(chunk)
            .map(|part| s.spawn(move || part.iter().map(f).collect::<Result<Vec<T>>>()))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect()
    });
    let mut out = Vec::with_capacity(items.len());
    for part in parts {
        out.extend(part?);
    }
    Ok(out)
}

/// Rows taken in batches as a result arrives and converted by `f` on every core, in order. A read error
/// is the outer result (so a lost session may be retried), a conversion error the inner one.
fn streamed_in_parallel<T: Send>(
    mut rows: postgres::RowIter<'_>,
    f: impl Fn(&postgres::Row) -> Result<T> + Sync,
) -> std::result::Result<Result<Vec<T>>, postgres::Error> {
    use postgres::fallible_iterator::FallibleIterator;
    const BATCH: usize = 2048;
    let threads = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    let done: std::sync::Mutex<Vec<(usize, Result<Vec<T>>)>> = std::sync::Mutex::default();
    let (tx, rx) = std::sync::mpsc::sync_channel::<(usize, Vec<postgres::Row>)>(threads * 2);
    let rx = std::sync::Mutex::new(rx);
    std::thread::scope(|s| {
        // Dropped when reading ends, which ends the workers.
        let tx = tx;
        for _ in 0..threads {
            let (rx, done, f) = (&rx, &done, &f);
            s.spawn(move || {
                loop {
                    let next = rx
                        .lock()
                        .map_err(|_| ())
                        .and_then(|r| r.recv().map_err(|_| ()));
                    let Ok((i, batch)) = next else {
                        return;
                    };
                    let converted = batch.iter().map(f).collect::<Result<Vec<T>>>();
                    if let Ok(mut d) = done.lock() {
                        d.push((i, converted));
                    }
                }
            });
        }
        let mut batch = Vec::with_capacity(BATCH);
        let mut n = 0;
        while let Some(row) = rows.next()? {
            batch.push(row);
            if batch.len() == BATCH {
                let full = std::mem::replace(&mut batch, Vec::with_capacity(BATCH));
                if tx.send((n, full)).is_err() {
                    break;
                }
                n += 1;
            }
        }
        if !batch.is_empty() {
            let _ = tx.send((n, batch));
        }
        Ok(())
    })?;
    let mut parts = done.into_inner().unwrap_or_default();
    parts.sort_by_key(|(i, _)| *i);
    let mut out = Vec::new();
    for (_, part) in parts {
        match part {
            Ok(p) => out.extend(p),
            Err(e) => return Ok(Err(e)),
        }
    }
    Ok(Ok(out))
}

fn pg_values(r: &postgres::Row) -> Result<Vec<Value>> {
    use postgres::types::Type;
    let mut out = Vec::with_capacity(r.len());
    for (i, col) in r.columns().iter().enumerate() {
        let t = col.type_();
        let v = if *t == Type::INT8 {
            r.try_get::<_, Option<i64>>(i)?.map(Value::Int)
        } else if *t == Type::INT4 {
            r.try_get::<_, Option<i32>>(i)?
                .map(|v| Value::Int(i64::from(v)))
        } else if *t == Type::INT2 {
            r.try_get::<_, Option<i16>>(i)?
                .map(|v| Value::Int(i64::from(v)))
        } else if *t == Type::BOOL {
            r.try_get::<_, Option<bool>>(i)?
                .map(|v| Value::Int(i64::from(v)))
        } else if *t == Type::FLOAT8 {
            r.try_get::<_, Option<f64>>(i)?.map(Value::Real)
        } else if *t == Type::FLOAT4 {
            r.try_get::<_, Option<f32>>(i)?
                .map(|v| Value::Real(f64::from(v)))
        } else if *t == Type::BYTEA {
            r.try_get::<_, Option<Vec<u8>>>(i)?.map(Value::Blob)
        } else if [Type::TEXT, Type::VARCHAR, Type::BPCHAR, Type::NAME].contains(t) {
            r.try_get::<_, Option<String>>(i)?.map(Value::Text)
        } else {
            return Err(StoreError::Db(DbError::Type(format!(
                "column `{}` has type {t}, which Kiln does not read (cast it in the query)",
                col.name()
            ))));
        };
        out.push(v.unwrap_or(Value::Null));
    }
    Ok(out)
}

/// `SQLite`'s clock as Kiln writes it (ISO 8601 UTC with milliseconds) and PostgreSQL's same text.
pub const SQLITE_NOW: &str = "strftime('%Y-%m-%dT%H:%M:%fZ','now')";
pub const PG_NOW: &str = "to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')";

/// A query in `SQLite`'s spelling turned into PostgreSQL's: `?N` → `$N`, the clock, `json_extract(col,
/// '$.key')` → `(col::jsonb ->> 'key')`. String literals are left alone.
pub fn pg_sql(sql: &str) -> String {
    let sql = sql.replace(SQLITE_NOW, PG_NOW);
    let sql = replace_json_extract(&sql);
    let mut out = String::with_capacity(sql.len());
    let mut in_string = false;
    for c in sql.chars() {
        match c {
            '\'' => {
                in_string = !in_string;
                out.push(c);
            }
            '?' if !in_string => out.push('$'),
            c => out.push(c),
        }
    }
    out
}

fn replace_json_extract(sql: &str) -> String {
    const OPEN: &str = "json_extract(";
    let mut out = String::with_capacity(sql.len());
    let mut rest = sql;
    while let Some(at) = rest.find(OPEN) {
        out.push_str(&rest[..at]);
        let inner = &rest[at + OPEN.len()..];
        let Some(close) = inner.find(')') else {
            out.push_str(&rest[at..]);
            return out;
        };
        let args = &inner[..close];
        match args.split_once(", '$.") {
            Some((col, key)) => {
                let key = key.trim_end_matches('\'');
                out.push('(');
                out.push_str(col);
                out.push_str("::jsonb ->> '");
                out.push_str(key);
                out.push_str("')");
            }
            None => out.push_str(&rest[at..=at + OPEN.len() + close]),
        }
        rest = &inner[close + 1..];
    }
    out.push_str(rest);
    out
}

/// A migration written for `SQLite` in PostgreSQL's types: `INTEGER PRIMARY KEY` → an identity,
/// `INTEGER` → `BIGINT`, `REAL` → `DOUBLE PRECISION`, `BLOB` → `BYTEA`, no `WITHOUT ROWID`.
pub fn pg_ddl(sql: &str) -> String {
    let sql = sql
        .replace(
            "INTEGER PRIMARY KEY",
            "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY",
        )
        .replace(" WITHOUT ROWID", "");
    let mut out = String::with_capacity(sql.len());
    let mut word = String::new();
    let flush = |word: &mut String, out: &mut String| {
        out.push_str(match word.as_str() {
            "INTEGER" => "BIGINT",
            "REAL" => "DOUBLE PRECISION",
            "BLOB" => "BYTEA",
            w => w,
        });
        word.clear();
    };
    for c in sql.chars() {
        if c.is_ascii_alphanumeric() || c == '_' {
            word.push(c);
        } else {
            flush(&mut word, &mut out);
            out.push(c);
        }
    }
    flush(&mut word, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_and_migrations_read_in_postgres_spelling() {
        assert_eq!(
            pg_sql(
                "SELECT a FROM t WHERE b = ?1 AND c = '?' AND json_extract(d, '$.weights') IS NULL"
            ),
            "SELECT a FROM t WHERE b = $1 AND c = '?' AND (d::jsonb ->> 'weights') IS NULL"
        );
        assert!(pg_sql(&format!("VALUES ({SQLITE_NOW})")).contains("to_char(now()"));
        assert_eq!(
            pg_ddl(
                "CREATE TABLE t (id INTEGER PRIMARY KEY, n INTEGER, x REAL, b BLOB) WITHOUT ROWID;"
            ),
            "CREATE TABLE t (id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, n BIGINT, \
             x DOUBLE PRECISION, b BYTEA);"
        );
    }
}
