//! Samples and running statistics folded over a streaming pass.

// A part of its parent module: it shares the parent's imports and private items.
#[allow(clippy::wildcard_imports)]
use super::*;

/// `df` with its text and binary columns copied into buffers of their own: rows taken from a batch
/// otherwise keep the whole batch's string buffers alive (views into them), which a sample gathered over
/// the whole table turns into most of the table.
pub(super) fn owned_strings(df: DataFrame) -> Result<DataFrame, DataError> {
    let mut df = df;
    let names: Vec<PlSmallStr> = df
        .columns()
        .iter()
        .filter(|c| matches!(c.dtype(), DataType::String | DataType::Binary))
        .map(|c| c.name().clone())
        .collect();
    for name in names {
        let c = df.column(&name)?.as_materialized_series().clone();
        let copied = match c.dtype() {
            DataType::String => Series::new(name.clone(), c.str()?.iter().collect::<Vec<_>>()),
            _ => Series::new(name.clone(), c.binary()?.iter().collect::<Vec<_>>()),
        };
        df.with_column(copied.into_column())?;
    }
    Ok(df)
}

/// Every `step`-th row of a table, picked from its batches as they stream past in order (a row index
/// and a filter in the query made the engine gather the whole table first), text copied out.
pub(super) struct Sampler {
    pub(super) step: usize,
    pub(super) seen: usize,
    pub(super) rows: Option<DataFrame>,
}

impl Sampler {
    /// About `n` rows of a table of `height`.
    pub(super) fn new(height: usize, n: usize) -> Self {
        Self {
            step: height.div_ceil(n.max(1)).max(1),
            seen: 0,
            rows: None,
        }
    }

    pub(super) fn add(&mut self, df: &DataFrame) -> Result<(), DataError> {
        let first = (self.step - self.seen % self.step) % self.step;
        self.seen += df.height();
        let idx: Vec<IdxSize> = (first..df.height())
            .step_by(self.step)
            .map(|i| i as IdxSize)
            .collect();
        let rows = owned_strings(df.take(&IdxCa::from_vec("idx".into(), idx))?)?;
        match &mut self.rows {
            None => self.rows = Some(rows),
            Some(acc) => {
                acc.vstack_mut(&rows)?;
            }
        }
        Ok(())
    }

    /// The rows picked (an empty frame of `schema` when none).
    pub(super) fn take(&mut self, schema: &Schema) -> DataFrame {
        let mut df = self
            .rows
            .take()
            .unwrap_or_else(|| DataFrame::empty_with_schema(schema));
        df.rechunk_mut();
        df
    }
}

/// One column's statistics folded over batches.
#[derive(Clone, Debug, Default)]
pub(super) struct Running {
    pub(super) nulls: u64,
    pub(super) min: Option<AnyValue<'static>>,
    pub(super) max: Option<AnyValue<'static>>,
    pub(super) n: f64,
    pub(super) mean: f64,
    pub(super) m2: f64,
}

impl Running {
    pub(super) fn add(&mut self, c: &Column, dtype: &DataType) -> Result<(), DataError> {
        self.nulls += c.null_count() as u64;
        if crate::stats::orderable(dtype) {
            let lo = c.min_reduce()?.value().clone().into_static();
            let hi = c.max_reduce()?.value().clone().into_static();
            if !lo.is_null() && self.min.as_ref().is_none_or(|m| lo < *m) {
                self.min = Some(lo);
            }
            if !hi.is_null() && self.max.as_ref().is_none_or(|m| hi > *m) {
                self.max = Some(hi);
            }
        }
        if dtype.is_primitive_numeric() {
            let s = c.as_materialized_series().cast(&DataType::Float64)?;
            for v in s.f64()?.iter().flatten() {
                self.n += 1.0;
                let d = v - self.mean;
                self.mean += d / self.n;
                self.m2 += d * (v - self.mean);
            }
        }
        Ok(())
    }
}

/// A streaming pass's error: the callback's first, else the engine's.
pub(super) fn finish_pass(run: crate::formats::BatchRun) -> Result<(), DataError> {
    if let Some(e) = run.failure {
        return Err(e);
    }
    run.run?;
    Ok(())
}
