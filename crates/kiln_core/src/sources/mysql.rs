//! A query's result read from MySQL or MariaDB: the statement prepared (its columns and types checked),
//! then its rows streamed over the binary protocol into polars columns a row group at a time. The
//! password comes from the URL, `MYSQL_PWD` (as the `mysql` client reads it) or the app's prompt, and is
//! never recorded.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use kiln_data::polars::prelude::DataFrame;
use mysql::consts::{ColumnFlags, ColumnType};
use mysql::prelude::Queryable;

use super::Database;
use super::columns::Values;
use crate::{CoreError, Result};

/// Passwords typed in the app, by URL without its password (this process's memory only).
static PASSWORDS: OnceLock<Mutex<HashMap<String, String>>> = OnceLock::new();

/// Whether `source` names a MySQL or MariaDB database.
pub(super) fn is_url(source: &str) -> bool {
    source.starts_with("mysql://") || source.starts_with("mariadb://")
}

pub(super) fn remember_password(url: &str, password: &str) {
    if let Ok(mut m) = PASSWORDS.get_or_init(Mutex::default).lock() {
        m.insert(super::shown_url(url), password.to_owned());
    }
}

/// A connection, and the columns of the query it last described.
pub(super) struct MySql {
    conn: mysql::Conn,
    columns: Vec<(String, ColumnType, bool)>,
}

impl MySql {
    pub fn connect(url: &str) -> Result<Self> {
        let shown = super::shown_url(url);
        let parsed = url::Url::parse(url)
            .map_err(|e| CoreError::Invalid(format!("`{shown}` is not a database URL: {e}")))?;
        let as_mysql = format!("mysql{}", &url[url.find("://").unwrap_or(0)..]);
        let opts = mysql::Opts::from_url(&as_mysql)
            .map_err(|e| CoreError::Invalid(format!("`{shown}` is not a database URL: {e}")))?;
        let mut builder = mysql::OptsBuilder::from_opts(opts);
        if parsed.password().is_none() {
            let typed = PASSWORDS
                .get_or_init(Mutex::default)
                .lock()
                .ok()
                .and_then(|m| m.get(&shown).cloned());
            if let Some(pw) = typed.or_else(|| std::env::var("MYSQL_PWD").ok()) {
                builder = builder.pass(Some(pw));
            }
        } else {
            remember_password(
                url,
                &parsed.password().map(str::to_owned).unwrap_or_default(),
            );
        }
        let conn = mysql::Conn::new(builder).map_err(|e| {
            CoreError::Invalid(format!("cannot read from {shown}: {}", message(&e)))
        })?;
        Ok(Self {
            conn,
            columns: Vec::new(),
        })
    }
}

/// The server's own words for a failed statement or connection.
fn message(e: &mysql::Error) -> String {
    match e {
        mysql::Error::MySqlError(m) => m.message.clone(),
        e => e.to_string(),
    }
}

/// The values a column is read into.
fn values_for(name: &str, t: ColumnType, binary: bool) -> Result<Values> {
    use ColumnType as T;
    Ok(match t {
        T::MYSQL_TYPE_TINY
        | T::MYSQL_TYPE_SHORT
        | T::MYSQL_TYPE_INT24
        | T::MYSQL_TYPE_LONG
        | T::MYSQL_TYPE_LONGLONG
        | T::MYSQL_TYPE_YEAR => Values::I64(Vec::new()),
        T::MYSQL_TYPE_FLOAT => Values::F32(Vec::new()),
        T::MYSQL_TYPE_DOUBLE | T::MYSQL_TYPE_DECIMAL | T::MYSQL_TYPE_NEWDECIMAL => {
            Values::F64(Vec::new())
        }
        T::MYSQL_TYPE_VARCHAR
        | T::MYSQL_TYPE_VAR_STRING
        | T::MYSQL_TYPE_STRING
        | T::MYSQL_TYPE_JSON
        | T::MYSQL_TYPE_ENUM
        | T::MYSQL_TYPE_SET => Values::Text(Vec::new()),
        T::MYSQL_TYPE_TINY_BLOB
        | T::MYSQL_TYPE_BLOB
        | T::MYSQL_TYPE_MEDIUM_BLOB
        | T::MYSQL_TYPE_LONG_BLOB
            if !binary =>
        {
            Values::Text(Vec::new())
        }
        T::MYSQL_TYPE_DATE | T::MYSQL_TYPE_NEWDATE => Values::Date(Vec::new()),
        T::MYSQL_TYPE_DATETIME
        | T::MYSQL_TYPE_DATETIME2
        | T::MYSQL_TYPE_TIMESTAMP
        | T::MYSQL_TYPE_TIMESTAMP2 => Values::Timestamp(Vec::new(), false),
        other => {
            return Err(CoreError::Invalid(format!(
                "column `{name}` is of type {other:?}, which Kiln does not read: cast it in the query \
                 (`CAST({name} AS CHAR)`, `CAST({name} AS DOUBLE)`)"
            )));
        }
    })
}

/// Days and microseconds since 1970-01-01 of a calendar date and time (`None` for MySQL's zero dates).
fn days(y: u16, m: u8, d: u8) -> Option<i32> {
    let date = chrono::NaiveDate::from_ymd_opt(i32::from(y), u32::from(m), u32::from(d))?;
    i32::try_from((date - chrono::NaiveDate::from_ymd_opt(1970, 1, 1)?).num_days()).ok()
}

fn push(values: &mut Values, v: mysql::Value) -> std::result::Result<(), String> {
    use mysql::Value as V;
    let text = |b: &[u8]| String::from_utf8(b.to_vec()).map_err(|e| e.to_string());
    match (values, v) {
        (values, V::NULL) => values.push_null(),
        (Values::I64(out), V::Int(i)) => out.push(Some(i)),
        (Values::I64(out), V::UInt(u)) => {
            let i = i64::try_from(u)
                .map_err(|_| format!("{u} does not fit a signed 64-bit integer"))?;
            out.push(Some(i));
        }
        (Values::I64(out), V::Bytes(b)) => {
            out.push(Some(text(&b)?.parse().map_err(|e| format!("{e}"))?));
        }
        (Values::F32(out), V::Float(f)) => out.push(Some(f)),
        (Values::F64(out), V::Double(f)) => out.push(Some(f)),
        (Values::F64(out), V::Float(f)) => out.push(Some(f64::from(f))),
        // DECIMAL comes as its digits.
        (Values::F64(out), V::Bytes(b)) => {
            out.push(Some(text(&b)?.parse().map_err(|e| format!("{e}"))?));
        }
        (Values::Text(out), V::Bytes(b)) => out.push(Some(text(&b)?)),
        (Values::Date(out), V::Date(y, m, d, ..)) => out.push(days(y, m, d)),
        (Values::Timestamp(out, _), V::Date(y, m, d, h, i, s, us)) => {
            let micros = days(y, m, d).map(|day| {
                i64::from(day) * 86_400_000_000
                    + (i64::from(h) * 3600 + i64::from(i) * 60 + i64::from(s)) * 1_000_000
                    + i64::from(us)
            });
            out.push(micros);
        }
        (_, other) => return Err(format!("an unexpected value {other:?}")),
    }
    Ok(())
}

impl Database for MySql {
    fn describe(&mut self, query: &str) -> Result<Vec<String>> {
        let stmt = self
            .conn
            .prep(query)
            .map_err(|e| CoreError::Invalid(format!("the query failed: {}", message(&e))))?;
        let columns: Vec<(String, ColumnType, bool)> = stmt
            .columns()
            .iter()
            .map(|c| {
                let binary =
                    c.character_set() == 63 && c.flags().contains(ColumnFlags::BINARY_FLAG);
                (c.name_str().to_string(), c.column_type(), binary)
            })
            .collect();
        for (name, t, binary) in &columns {
            values_for(name, *t, *binary)?;
        }
        let names = columns.iter().map(|(n, ..)| n.clone()).collect();
        self.columns = columns;
        Ok(names)
    }

    fn empty_values(&self) -> Result<Vec<Values>> {
        self.columns
            .iter()
            .map(|(n, t, b)| values_for(n, *t, *b))
            .collect()
    }

    fn text_literal(&self, _column: &str, text: &str) -> String {
        format!("'{}'", text.replace('\\', "\\\\").replace('\'', "''"))
    }

    fn column_names(&self) -> Vec<String> {
        self.columns.iter().map(|(n, ..)| n.clone()).collect()
    }

    fn quote(&self, column: &str) -> String {
        format!("`{}`", column.replace('`', "``"))
    }

    fn read(
        &mut self,
        query: &str,
        cancel: &kiln_data::Cancel,
        batch: &mut dyn FnMut(DataFrame) -> Result<()>,
    ) -> Result<usize> {
        let mut b = self.new_batch()?;
        let failed =
            |e: &mysql::Error| CoreError::Invalid(format!("the query failed: {}", message(e)));
        let stmt = self.conn.prep(query).map_err(|e| failed(&e))?;
        let result = self.conn.exec_iter(&stmt, ()).map_err(|e| failed(&e))?;
        let mut rows = 0usize;
        for row in result {
            let row = row.map_err(|e| {
                CoreError::Invalid(format!("the result stream was cut short: {}", message(&e)))
            })?;
            for (i, v) in row.unwrap().into_iter().enumerate() {
                let Some(values) = b.values.get_mut(i) else {
                    return Err(CoreError::Invalid(
                        "a row with more fields than the query".into(),
                    ));
                };
                push(values, v).map_err(|e| {
                    CoreError::Invalid(format!("column `{}`, row {}: {e}", b.names[i], rows + 1))
                })?;
            }
            rows += 1;
            b.row_done(cancel, batch)?;
        }
        b.finish(batch)?;
        Ok(rows)
    }
}
