//! A query's result read from PostgreSQL with a binary `COPY`, decoded into polars columns a row group at
//! a time and handed to a sink: memory holds one batch, whatever the result's size.

use std::fmt::Write as _;
use std::io::{BufReader, Read};

use kiln_data::polars::prelude::*;
use postgres::types::Type;

use super::Database;
use super::columns::Values;
use crate::{CoreError, Result};

/// Days and microseconds from the Unix epoch to PostgreSQL's (2000-01-01).
const PG_EPOCH_DAYS: i32 = 10_957;
const PG_EPOCH_MICROS: i64 = 946_684_800_000_000;

/// A connection, and the columns of the query it last described.
pub(super) struct Postgres {
    pub client: postgres::Client,
    columns: Vec<(String, Type)>,
}

impl Postgres {
    pub fn new(client: postgres::Client) -> Self {
        Self {
            client,
            columns: Vec::new(),
        }
    }
}

/// The values a column of PostgreSQL type `t` is read into.
fn values_for(name: &str, t: &Type) -> Result<Values> {
    Ok(match *t {
        Type::BOOL => Values::Bool(Vec::new()),
        Type::INT2 => Values::I16(Vec::new()),
        Type::INT4 => Values::I32(Vec::new()),
        Type::INT8 => Values::I64(Vec::new()),
        Type::FLOAT4 => Values::F32(Vec::new()),
        Type::FLOAT8 | Type::NUMERIC => Values::F64(Vec::new()),
        Type::TEXT
        | Type::VARCHAR
        | Type::BPCHAR
        | Type::NAME
        | Type::UNKNOWN
        | Type::JSON
        | Type::JSONB
        | Type::UUID => Values::Text(Vec::new()),
        Type::DATE => Values::Date(Vec::new()),
        Type::TIMESTAMP => Values::Timestamp(Vec::new(), false),
        Type::TIMESTAMPTZ => Values::Timestamp(Vec::new(), true),
        ref other => {
            return Err(CoreError::Invalid(format!(
                "column `{name}` is of type `{other}`, which Kiln does not read: cast it in the \
                 query (`{name}::text`, `{name}::float8`)"
            )));
        }
    })
}

/// Decode one field's bytes (PostgreSQL's binary format) onto `values`.
fn push(values: &mut Values, pg: &Type, raw: &[u8]) -> std::result::Result<(), String> {
    fn fixed<const N: usize>(raw: &[u8]) -> std::result::Result<[u8; N], String> {
        raw.try_into()
            .map_err(|_| format!("{} bytes where {N} were expected", raw.len()))
    }
    match values {
        Values::Bool(v) => v.push(Some(fixed::<1>(raw)?[0] != 0)),
        Values::I16(v) => v.push(Some(i16::from_be_bytes(fixed(raw)?))),
        Values::I32(v) => v.push(Some(i32::from_be_bytes(fixed(raw)?))),
        Values::I64(v) => v.push(Some(i64::from_be_bytes(fixed(raw)?))),
        Values::F32(v) => v.push(Some(f32::from_be_bytes(fixed(raw)?))),
        Values::F64(v) if *pg == Type::NUMERIC => v.push(numeric(raw)?),
        Values::F64(v) => v.push(Some(f64::from_be_bytes(fixed(raw)?))),
        Values::Date(v) => {
            let days = i32::from_be_bytes(fixed(raw)?);
            // `infinity` dates have no calendar day: null.
            v.push((days != i32::MAX && days != i32::MIN).then(|| days + PG_EPOCH_DAYS));
        }
        Values::Timestamp(v, _) => {
            let micros = i64::from_be_bytes(fixed(raw)?);
            v.push((micros != i64::MAX && micros != i64::MIN).then(|| micros + PG_EPOCH_MICROS));
        }
        Values::Text(v) => {
            let text = match *pg {
                Type::UUID => {
                    let b = fixed::<16>(raw)?;
                    let hex = b.iter().fold(String::with_capacity(32), |mut s, x| {
                        let _ = write!(s, "{x:02x}");
                        s
                    });
                    format!(
                        "{}-{}-{}-{}-{}",
                        &hex[..8],
                        &hex[8..12],
                        &hex[12..16],
                        &hex[16..20],
                        &hex[20..]
                    )
                }
                // jsonb: a version byte, then the text.
                Type::JSONB => std::str::from_utf8(raw.get(1..).unwrap_or_default())
                    .map_err(|e| e.to_string())?
                    .to_owned(),
                _ => std::str::from_utf8(raw)
                    .map_err(|e| e.to_string())?
                    .to_owned(),
            };
            v.push(Some(text));
        }
    }
    Ok(())
}

/// A `numeric` in PostgreSQL's binary form (base-10000 digits) as the nearest `f64`; `NaN` is null.
fn numeric(raw: &[u8]) -> std::result::Result<Option<f64>, String> {
    let word = |i: usize| -> std::result::Result<i16, String> {
        raw.get(i * 2..i * 2 + 2)
            .map(|b| i16::from_be_bytes([b[0], b[1]]))
            .ok_or_else(|| "a numeric cut short".to_owned())
    };
    let (ndigits, weight, sign) = (word(0)?, word(1)?, word(2)? as u16);
    match sign {
        0xC000 => return Ok(None),
        0xD000 => return Ok(Some(f64::INFINITY)),
        0xF000 => return Ok(Some(f64::NEG_INFINITY)),
        _ => {}
    }
    let mut value = 0.0f64;
    for i in 0..usize::try_from(ndigits).unwrap_or(0) {
        let digit = f64::from(word(4 + i)?);
        value += digit * 10_000f64.powi(i32::from(weight) - i32::try_from(i).unwrap_or(0));
    }
    Ok(Some(if sign == 0x4000 { -value } else { value }))
}

/// PostgreSQL's own message for a failed statement (its text, not the driver's wrapper).
fn db_message(e: &postgres::Error) -> String {
    e.as_db_error()
        .map_or_else(|| e.to_string(), |d| d.message().to_owned())
}

impl Database for Postgres {
    fn describe(&mut self, query: &str) -> Result<Vec<String>> {
        let statement = self
            .client
            .prepare(query)
            .map_err(|e| CoreError::Invalid(format!("the query failed: {}", db_message(&e))))?;
        let columns: Vec<(String, Type)> = statement
            .columns()
            .iter()
            .map(|c| (c.name().to_owned(), c.type_().clone()))
            .collect();
        for (name, t) in &columns {
            values_for(name, t)?;
        }
        let names = columns.iter().map(|(n, _)| n.clone()).collect();
        self.columns = columns;
        Ok(names)
    }

    fn empty_values(&self) -> Result<Vec<Values>> {
        self.columns.iter().map(|(n, t)| values_for(n, t)).collect()
    }

    fn text_literal(&self, column: &str, text: &str) -> String {
        let pg = self
            .columns
            .iter()
            .find(|(n, _)| n == column)
            .map_or(Type::TEXT, |(_, t)| t.clone());
        format!("'{}'::{}", text.replace('\'', "''"), pg.name())
    }

    fn column_names(&self) -> Vec<String> {
        self.columns.iter().map(|(n, _)| n.clone()).collect()
    }

    fn quote(&self, column: &str) -> String {
        format!("\"{}\"", column.replace('"', "\"\""))
    }

    /// Run `query` as a binary `COPY` and hand its rows to `batch` a row group at a time.
    fn read(
        &mut self,
        query: &str,
        cancel: &kiln_data::Cancel,
        batch: &mut dyn FnMut(DataFrame) -> Result<()>,
    ) -> Result<usize> {
        let types: Vec<Type> = self.columns.iter().map(|(_, t)| t.clone()).collect();
        let mut b = self.new_batch()?;
        let sql = format!("COPY ({query}) TO STDOUT (FORMAT binary)");
        let reader = self
            .client
            .copy_out(sql.as_str())
            .map_err(|e| CoreError::Invalid(format!("the query failed: {}", db_message(&e))))?;
        let mut r = BufReader::with_capacity(1 << 20, reader);
        let cut = |what: &str, e: &std::io::Error| {
            CoreError::Invalid(format!("the result stream was cut short ({what}): {e}"))
        };
        let mut header = [0u8; 19];
        r.read_exact(&mut header).map_err(|e| cut("header", &e))?;
        if &header[..11] != b"PGCOPY\n\xff\r\n\0" {
            return Err(CoreError::Invalid(
                "the server did not answer with a binary COPY".into(),
            ));
        }
        let extension = u32::from_be_bytes([header[15], header[16], header[17], header[18]]);
        std::io::copy(
            &mut (&mut r).take(u64::from(extension)),
            &mut std::io::sink(),
        )
        .map_err(|e| cut("header", &e))?;
        let mut rows = 0usize;
        let mut buf = Vec::new();
        loop {
            let mut count = [0u8; 2];
            r.read_exact(&mut count).map_err(|e| cut("row", &e))?;
            let count = i16::from_be_bytes(count);
            if count == -1 {
                break;
            }
            if usize::try_from(count).ok() != Some(types.len()) {
                return Err(CoreError::Invalid(format!(
                    "a row of {count} fields where the query has {}",
                    types.len()
                )));
            }
            for (i, pg) in types.iter().enumerate() {
                let mut len = [0u8; 4];
                r.read_exact(&mut len).map_err(|e| cut("field", &e))?;
                let len = i32::from_be_bytes(len);
                if len < 0 {
                    b.values[i].push_null();
                    continue;
                }
                buf.resize(usize::try_from(len).unwrap_or(0), 0);
                r.read_exact(&mut buf).map_err(|e| cut("field", &e))?;
                push(&mut b.values[i], pg, &buf).map_err(|e| {
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
