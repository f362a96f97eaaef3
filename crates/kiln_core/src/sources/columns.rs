//! The values of one batch of a query's result, column by column, as polars columns: what every
//! database source decodes its rows into.

use kiln_data::polars::prelude::*;

use crate::Result;

/// Rows decoded per batch (one Parquet row group).
pub(super) const BATCH: usize = kiln_data::ROW_GROUP;

/// One column's values in the batch being read.
pub(super) enum Values {
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
    pub(super) fn len(&self) -> usize {
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

    pub(super) fn push_null(&mut self) {
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

    /// The batch as a polars column, emptied for the next.
    pub(super) fn take(&mut self, name: &str) -> Result<Column> {
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

/// A batch being read: each column's name and values, and the rows already handed on.
pub(super) struct Batch {
    pub names: Vec<String>,
    pub values: Vec<Values>,
    /// Rows handed on before this batch (the first row id of the next frame).
    pub flushed: usize,
}

impl Batch {
    pub fn rows(&self) -> usize {
        self.values.first().map_or(0, Values::len)
    }

    /// After a row: a full batch goes to `batch` (cancel checked between batches).
    pub fn row_done(
        &mut self,
        cancel: &kiln_data::Cancel,
        batch: &mut dyn FnMut(DataFrame) -> Result<()>,
    ) -> Result<()> {
        if self.rows() == BATCH {
            cancel.check()?;
            batch(self.take()?)?;
        }
        Ok(())
    }

    /// At the end: the last rows go to `batch` — an empty frame when there were none at all, so the
    /// columns are always seen.
    pub fn finish(&mut self, batch: &mut dyn FnMut(DataFrame) -> Result<()>) -> Result<()> {
        if self.rows() > 0 || self.flushed == 0 {
            batch(self.take()?)?;
        }
        Ok(())
    }

    /// The batch as a frame with row ids (emptied for the next).
    pub fn take(&mut self) -> Result<DataFrame> {
        let n = self.rows();
        let mut cols = Vec::with_capacity(self.values.len() + 1);
        cols.push(Column::new(
            kiln_data::ROW_ID.into(),
            (self.flushed as u64..(self.flushed + n) as u64).collect::<Vec<u64>>(),
        ));
        for (name, v) in self.names.iter().zip(&mut self.values) {
            cols.push(v.take(name)?);
        }
        self.flushed += n;
        Ok(DataFrame::new(n, cols)?)
    }
}
