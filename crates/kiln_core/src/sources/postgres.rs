//! A query's result read from PostgreSQL with a binary `COPY`, decoded into polars columns a row group at
//! a time and handed to a sink: memory holds one batch, whatever the result's size.

use std::fmt::Write as _;
use std::io::{BufReader, Read};

use kiln_data::polars::prelude::*;
use postgres::types::Type;

use crate::{CoreError, Result};

/// Rows decoded per batch (one Parquet row group).
const BATCH: usize = kiln_data::ROW_GROUP;

/// Days and microseconds from the Unix epoch to PostgreSQL's (2000-01-01).
const PG_EPOCH_DAYS: i32 = 10_957;
const PG_EPOCH_MICROS: i64 = 946_684_800_000_000;

/// One result column: its name, its PostgreSQL type and the values of the batch being read.
struct Field {
    name: String,
    pg: Type,
    values: Values,
}

enum Values {
    Bool(Vec<Option<bool>>),
    I16(Vec<Option<i16>>),
    I32(Vec<Option<i32>>),
    I64(Vec<Option<i64>>),
    F32(Vec<Option<f32>>),
    F64(Vec<Option<f64>>),
    Text(Vec<Option<String>>),
    Date(Vec<Option<i32>>),
    Timestamp(Vec<Option<i64>>, bool),
}

impl Values {
    fn for_type(name: &str, t: &Type) -> Result<Self> {
        Ok(match *t {
            Type::BOOL => Self::Bool(Vec::new()),
            Type::INT2 => Self::I16(Vec::new()),
            Type::INT4 => Self::I32(Vec::new()),
            Type::INT8 => Self::I64(Vec::new()),
            Type::FLOAT4 => Self::F32(Vec::new()),
            Type::FLOAT8 | Type::NUMERIC => Self::F64(Vec::new()),
            Type::TEXT
            | Type::VARCHAR
            | Type::BPCHAR
            | Type::NAME
            | Type::UNKNOWN
            | Type::JSON
            | Type::JSONB
            | Type::UUID => Self::Text(Vec::new()),
            Type::DATE => Self::Date(Vec::new()),
            Type::TIMESTAMP => Self::Timestamp(Vec::new(), false),
            Type::TIMESTAMPTZ => Self::Timestamp(Vec::new(), true),
            ref other => {
                return Err(CoreError::Invalid(format!(
                    "column `{name}` is of type `{other}`, which Kiln does not read: cast it in the \
                     query (`{name}::text`, `{name}::float8`)"
                )));
            }
        })
    }

    fn len(&self) -> usize {
        match self {
            Self::Bool(v) => v.len(),
            Self::I16(v) => v.len(),
            Self::I32(v) | Self::Date(v) => v.len(),
            Self::I64(v) | Self::Timestamp(v, _) => v.len(),
            Self::F32(v) => v.len(),
            Self::F64(v) => v.len(),
            Self::Text(v) => v.len(),
        }
    }

    fn push_null(&mut self) {
        match self {
            Self::Bool(v) => v.push(None),
            Self::I16(v) => v.push(None),
            Self::I32(v) | Self::Date(v) => v.push(None),
            Self::I64(v) | Self::Timestamp(v, _) => v.push(None),
            Self::F32(v) => v.push(None),
            Self::F64(v) => v.push(None),
            Self::Text(v) => v.push(None),
        }
    }

    /// Decode one field's bytes (PostgreSQL's binary format).
    fn push(&mut self, pg: &Type, raw: &[u8]) -> std::result::Result<(), String> {
        fn fixed<const N: usize>(raw: &[u8]) -> std::result::Result<[u8; N], String> {
            raw.try_into()
                .map_err(|_| format!("{} bytes where {N} were expected", raw.len()))
        }
        match self {
            Self::Bool(v) => v.push(Some(fixed::<1>(raw)?[0] != 0)),
            Self::I16(v) => v.push(Some(i16::from_be_bytes(fixed(raw)?))),
            Self::I32(v) => v.push(Some(i32::from_be_bytes(fixed(raw)?))),
            Self::I64(v) => v.push(Some(i64::from_be_bytes(fixed(raw)?))),
            Self::F32(v) => v.push(Some(f32::from_be_bytes(fixed(raw)?))),
            Self::F64(v) if *pg == Type::NUMERIC => v.push(numeric(raw)?),
            Self::F64(v) => v.push(Some(f64::from_be_bytes(fixed(raw)?))),
            Self::Date(v) => {
                let days = i32::from_be_bytes(fixed(raw)?);
                // `infinity` dates have no calendar day: null.
                v.push((days != i32::MAX && days != i32::MIN).then(|| days + PG_EPOCH_DAYS));
            }
            Self::Timestamp(v, _) => {
                let micros = i64::from_be_bytes(fixed(raw)?);
                v.push(
                    (micros != i64::MAX && micros != i64::MIN).then(|| micros + PG_EPOCH_MICROS),
                );
            }
            Self::Text(v) => {
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

    /// The batch as a polars column, emptied for the next.
    fn take(&mut self, name: &str) -> Result<Column> {
        let name = PlSmallStr::from(name);
        Ok(match self {
            Self::Bool(v) => Column::new(name, std::mem::take(v)),
            Self::I16(v) => Column::new(name, std::mem::take(v)),
            Self::I32(v) => Column::new(name, std::mem::take(v)),
            Self::I64(v) => Column::new(name, std::mem::take(v)),
            Self::F32(v) => Column::new(name, std::mem::take(v)),
            Self::F64(v) => Column::new(name, std::mem::take(v)),
            Self::Text(v) => Column::new(name, std::mem::take(v)),
            Self::Date(v) => Column::new(name, std::mem::take(v)).cast(&DataType::Date)?,
            Self::Timestamp(v, tz) => Column::new(name, std::mem::take(v)).cast(
                &DataType::Datetime(TimeUnit::Microseconds, tz.then(|| TimeZone::UTC)),
            )?,
        })
    }
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

/// A query's result columns, checked for types Kiln reads, without running it.
pub(super) fn describe(client: &mut postgres::Client, query: &str) -> Result<Vec<(String, Type)>> {
    let statement = client
        .prepare(query)
        .map_err(|e| CoreError::Invalid(format!("the query failed: {}", db_message(&e))))?;
    let columns: Vec<(String, Type)> = statement
        .columns()
        .iter()
        .map(|c| (c.name().to_owned(), c.type_().clone()))
        .collect();
    if columns.is_empty() {
        return Err(CoreError::Invalid("the query returns no columns".into()));
    }
    for (name, t) in &columns {
        Values::for_type(name, t)?;
        if name == kiln_data::ROW_ID {
            return Err(CoreError::Invalid(format!(
                "the column name `{name}` is reserved by Kiln: rename it in the query"
            )));
        }
    }
    Ok(columns)
}

/// An empty frame with the columns a query's result is read into (row ids first).
pub(super) fn empty_frame(columns: &[(String, Type)]) -> Result<DataFrame> {
    let mut cols = vec![Column::new(kiln_data::ROW_ID.into(), Vec::<u64>::new())];
    for (name, t) in columns {
        cols.push(Values::for_type(name, t)?.take(name)?);
    }
    Ok(DataFrame::new(0, cols)?)
}

/// PostgreSQL's own message for a failed statement (its text, not the driver's wrapper).
pub(super) fn db_message(e: &postgres::Error) -> String {
    e.as_db_error()
        .map_or_else(|| e.to_string(), |d| d.message().to_owned())
}

/// Run `query` as a binary `COPY` and hand its rows to `batch` a row group at a time (at least one call,
/// with an empty frame for an empty result, so the schema is always seen). Rows are counted in `rows`.
pub(super) fn copy_out(
    client: &mut postgres::Client,
    query: &str,
    columns: &[(String, Type)],
    cancel: &kiln_data::Cancel,
    mut batch: impl FnMut(DataFrame) -> Result<()>,
) -> Result<usize> {
    let mut fields: Vec<Field> = columns
        .iter()
        .map(|(name, t)| {
            Ok(Field {
                name: name.clone(),
                pg: t.clone(),
                values: Values::for_type(name, t)?,
            })
        })
        .collect::<Result<_>>()?;
    let sql = format!("COPY ({query}) TO STDOUT (FORMAT binary)");
    let reader = client
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
    let mut flush = |fields: &mut Vec<Field>, start: usize| -> Result<()> {
        let n = fields.first().map_or(0, |f| f.values.len());
        let mut cols = Vec::with_capacity(fields.len() + 1);
        cols.push(Column::new(
            kiln_data::ROW_ID.into(),
            (start as u64..(start + n) as u64).collect::<Vec<u64>>(),
        ));
        for f in fields.iter_mut() {
            cols.push(f.values.take(&f.name)?);
        }
        batch(DataFrame::new(n, cols)?)
    };
    let mut flushed = 0usize;
    loop {
        let mut count = [0u8; 2];
        r.read_exact(&mut count).map_err(|e| cut("row", &e))?;
        let count = i16::from_be_bytes(count);
        if count == -1 {
            break;
        }
        if usize::try_from(count).ok() != Some(fields.len()) {
            return Err(CoreError::Invalid(format!(
                "a row of {count} fields where the query has {}",
                fields.len()
            )));
        }
        for f in &mut fields {
            let mut len = [0u8; 4];
            r.read_exact(&mut len).map_err(|e| cut("field", &e))?;
            let len = i32::from_be_bytes(len);
            if len < 0 {
                f.values.push_null();
                continue;
            }
            buf.resize(usize::try_from(len).unwrap_or(0), 0);
            r.read_exact(&mut buf).map_err(|e| cut("field", &e))?;
            f.values.push(&f.pg, &buf).map_err(|e| {
                CoreError::Invalid(format!("column `{}`, row {}: {e}", f.name, rows + 1))
            })?;
        }
        rows += 1;
        if rows - flushed == BATCH {
            cancel.check()?;
            flush(&mut fields, flushed)?;
            flushed = rows;
        }
    }
    if rows > flushed || rows == 0 {
        flush(&mut fields, flushed)?;
    }
    Ok(rows)
}
