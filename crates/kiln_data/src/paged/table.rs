//! The table view's data, in memory or paged, and every operation the Data room runs on it: rows, sort,
//! filter, statistics, histograms, value counts, scatter plots and samples, equal on both.

// A part of its parent module: it shares the parent's imports and private items.
#[allow(clippy::wildcard_imports)]
use super::*;

/// The data behind the table view: in memory, or paged from its Parquet object.
#[derive(Clone, Debug)]
pub enum TableData {
    Memory(Arc<DataFrame>),
    Paged(Arc<PagedFrame>),
}

impl TableData {
    /// Open a dataset version's object: paged when reading it whole would take more than `budget` bytes,
    /// in memory (without row ids) otherwise.
    pub fn open(path: &Path, budget: u64) -> Result<Self, DataError> {
        Self::from_paged(PagedFrame::open(path)?, budget)
    }

    /// An opened file, paged when reading it whole would take more than `budget` bytes and read whole
    /// (fetched whole first, when it is a sparse copy) otherwise.
    pub fn from_paged(mut paged: PagedFrame, budget: u64) -> Result<Self, DataError> {
        paged.budget = budget;
        if paged.memory_estimate() > budget {
            // The first rows decoded now, so the table shows them at once.
            if paged.row_groups() > 0 {
                paged.group(0)?;
            }
            return Ok(Self::Paged(Arc::new(paged)));
        }
        let df = crate::read_parquet(paged.path()?)?;
        let mut df = crate::without_row_ids(&df);
        df.rechunk_mut();
        Ok(Self::Memory(Arc::new(df)))
    }

    pub fn height(&self) -> usize {
        match self {
            Self::Memory(df) => df.height(),
            Self::Paged(p) => p.height(),
        }
    }

    pub fn schema(&self) -> SchemaRef {
        match self {
            Self::Memory(df) => df.schema().clone(),
            Self::Paged(p) => p.schema().clone(),
        }
    }

    pub fn column_names(&self) -> Vec<String> {
        self.schema()
            .iter_names()
            .map(ToString::to_string)
            .collect()
    }

    pub fn numeric_columns(&self) -> Vec<String> {
        self.schema()
            .iter()
            .filter(|(_, d)| d.is_primitive_numeric())
            .map(|(n, _)| n.to_string())
            .collect()
    }

    pub fn is_paged(&self) -> bool {
        matches!(self, Self::Paged(_))
    }

    /// An identity for "the same data" checks (the allocation's address).
    pub fn identity(&self) -> usize {
        match self {
            Self::Memory(df) => Arc::as_ptr(df) as usize,
            Self::Paged(p) => Arc::as_ptr(p) as usize,
        }
    }

    fn lazy(&self) -> Result<LazyFrame, DataError> {
        match self {
            Self::Memory(df) => Ok(df.as_ref().clone().lazy()),
            Self::Paged(p) => p.lazy(),
        }
    }

    /// Rows `start..start + len` as a frame (reads only the row groups holding them when paged).
    pub fn rows(&self, start: usize, len: usize) -> Result<DataFrame, DataError> {
        match self {
            Self::Memory(df) => Ok(df.slice(start as i64, len)),
            Self::Paged(p) => p.rows(start, len),
        }
    }

    /// The rows matching a polars SQL `filter` (empty: all), sorted by a column (nulls last). In memory
    /// for frames in memory; a paged table's result is written by the streaming engine to `scratch` (a
    /// file removed when the result is dropped) and paged in turn.
    pub fn filter_sort(
        &self,
        filter: &str,
        sort: Option<(&str, bool)>,
        scratch: &Path,
        cancel: &Cancel,
        progress: &Progress,
    ) -> Result<TableData, DataError> {
        if let Some((c, _)) = sort
            && !self.schema().contains(c)
        {
            return Err(DataError::UnknownColumn(c.to_owned()));
        }
        if let Self::Memory(df) = self {
            progress.set(0.1, "filtering");
            let mut df = crate::apply_filter(df, filter)?;
            cancel.check()?;
            if let Some((c, desc)) = sort {
                progress.set(0.5, "sorting");
                df = crate::sort_by(&df, c, desc)?;
            }
            return Ok(Self::Memory(Arc::new(df)));
        }
        let Self::Paged(paged) = self else {
            unreachable!("handled above")
        };
        let expr = filter_expr(filter)?;
        let sorted = |source: &PagedFrame| {
            let (c, desc) = sort.expect("sorting");
            progress.set(0.3, "sorting in runs");
            let result = external_sort(source, (c, desc), scratch, cancel, progress);
            if result.is_err() {
                let _ = std::fs::remove_file(scratch);
            }
            result
        };
        let mut out = match (expr, sort) {
            (None, None) => return Ok(self.clone()),
            (None, Some(_)) => {
                sorted(paged)?;
                PagedFrame::open_with(scratch, true)?
            }
            (Some(expr), sort) => {
                // The filter streams to its own file; a sort then works from it.
                let filtered = if sort.is_some() {
                    scratch.with_extension("filtered.partial")
                } else {
                    scratch.to_path_buf()
                };
                stream_filter(paged, expr, &filtered, cancel, progress)?;
                let f = PagedFrame::open_with(&filtered, true)?;
                if sort.is_some() {
                    sorted(&f)?;
                    drop(f);
                    PagedFrame::open_with(scratch, true)?
                } else {
                    f
                }
            }
        };
        out.budget = paged.budget;
        if out.row_groups() > 0 {
            out.group(0)?;
        }
        Ok(Self::Paged(Arc::new(out)))
    }

    /// About `n` rows taken evenly through the table (every k-th row), only `columns` (all when empty);
    /// the whole table when it has no more than `n` rows.
    pub fn sample(&self, n: usize, columns: &[&str]) -> Result<DataFrame, DataError> {
        let projected = |lf: LazyFrame| {
            if columns.is_empty() {
                lf
            } else {
                lf.select(columns.iter().map(|c| col(*c)).collect::<Vec<_>>())
            }
        };
        for c in columns {
            if !self.schema().contains(c) {
                return Err(DataError::UnknownColumn((*c).to_owned()));
            }
        }
        let lf = projected(self.lazy()?);
        let sampler = Arc::new(Mutex::new(Sampler::new(self.height(), n)));
        let shared = sampler.clone();
        finish_pass(for_each_batch(lf, &Cancel::new(), move |df| {
            shared
                .lock()
                .map_err(|_| DataError::Invalid("sampling failed".into()))?
                .add(&df)
        }))?;
        let rows = sampler
            .lock()
            .map_err(|_| DataError::Invalid("sampling failed".into()))?
            .take(&self.schema());
        Ok(rows)
    }

    /// Statistics of every column. In memory: [`crate::column_stats`]. Paged: count, nulls, min, max,
    /// mean and std in one streaming pass over every row; distinct values and quantiles from an evenly
    /// spaced sample of [`STATS_SAMPLE`] rows (`sample_rows` says so).
    pub fn column_stats(
        &self,
        cancel: &Cancel,
        progress: &Progress,
    ) -> Result<Vec<ColumnStats>, DataError> {
        self.column_stats_sampled(STATS_SAMPLE, cancel, progress)
    }

    pub(super) fn column_stats_sampled(
        &self,
        sample_rows: usize,
        cancel: &Cancel,
        progress: &Progress,
    ) -> Result<Vec<ColumnStats>, DataError> {
        if let Self::Memory(df) = self {
            return crate::column_stats(df, cancel, progress);
        }
        // One pass over every row: the sample for distinct counts and quantiles is picked as the
        // batches go by, and the other figures are folded batch by batch (an aggregate query over every
        // column made the engine hold far more than a batch): nulls, min and max, and Welford's running
        // mean and squared deviations.
        progress.set(0.05, "one pass over every row");
        let schema = self.schema();
        let pass = Arc::new(Mutex::new((
            Sampler::new(self.height(), sample_rows),
            vec![Running::default(); schema.len()],
        )));
        let (shared, schema2) = (pass.clone(), schema.clone());
        finish_pass(for_each_batch(self.lazy()?, cancel, move |df| {
            let mut folded = shared
                .lock()
                .map_err(|_| DataError::Invalid("statistics failed".into()))?;
            let (sampler, accs) = &mut *folded;
            sampler.add(&df)?;
            for ((c, (_, dtype)), acc) in
                df.columns().iter().zip(schema2.iter()).zip(accs.iter_mut())
            {
                acc.add(c, dtype)?;
            }
            Ok(())
        }))?;
        cancel.check()?;
        let mut folded = pass
            .lock()
            .map_err(|_| DataError::Invalid("statistics failed".into()))?;
        let sample = folded.0.take(&schema);
        progress.set(0.8, "distinct values and quantiles of the sample");
        let mut stats = crate::column_stats(&sample, cancel, &Progress::new())?;
        let accs = &folded.1;
        let height = self.height() as u64;
        let sampled = (sample.height() as u64) < height;
        for (s, acc) in stats.iter_mut().zip(accs.iter()) {
            s.nulls = acc.nulls;
            s.count = height - acc.nulls;
            if let Some(v) = &acc.min {
                s.min = crate::stats::any_to_json(v);
            }
            if let Some(v) = &acc.max {
                s.max = crate::stats::any_to_json(v);
            }
            if s.mean.is_some() || s.std.is_some() {
                let finite = |x: f64| Some(x).filter(|x| x.is_finite());
                s.mean = (acc.n > 0.0).then_some(acc.mean).and_then(finite);
                s.std = (acc.n > 1.0)
                    .then(|| (acc.m2 / (acc.n - 1.0)).sqrt())
                    .and_then(finite);
            }
            if sampled {
                s.sample_rows = Some(sample.height() as u64);
            }
        }
        progress.set(1.0, "done");
        Ok(stats)
    }

    /// Histogram of a numeric column: two streaming passes when paged (the range, then the counts), so
    /// every row is counted with memory bounded by a batch.
    pub fn histogram(
        &self,
        column: &str,
        bins: usize,
        cancel: &Cancel,
    ) -> Result<Histogram, DataError> {
        let paged = match self {
            Self::Memory(df) => return crate::histogram(df, column, bins),
            Self::Paged(p) => p,
        };
        let dtype = paged
            .schema()
            .get(column)
            .ok_or_else(|| DataError::UnknownColumn(column.to_owned()))?;
        if !dtype.is_primitive_numeric() {
            return Err(DataError::Filter(format!(
                "column `{column}` is {dtype}, not numeric"
            )));
        }
        let lf = paged.lazy()?.select([col(column)]);
        let range = Arc::new(Mutex::new((f64::INFINITY, f64::NEG_INFINITY)));
        let (r2, name) = (range.clone(), column.to_owned());
        finish_pass(for_each_batch(lf.clone(), cancel, move |df| {
            let s = numeric_f64(&df, &name)?;
            let (lo, hi) = finite_range(s.f64()?);
            let mut r = r2
                .lock()
                .map_err(|_| DataError::Invalid("histogram failed".into()))?;
            *r = (r.0.min(lo), r.1.max(hi));
            Ok(())
        }))?;
        cancel.check()?;
        let (lo, hi) = *range
            .lock()
            .map_err(|_| DataError::Invalid("histogram failed".into()))?;
        let Some(binner) = Binner::new(lo, hi, bins) else {
            return Ok(Histogram {
                edges: vec![],
                counts: vec![],
            });
        };
        let binner = Arc::new(binner);
        let counts = Arc::new(Mutex::new(vec![0u64; binner.bins]));
        let (b2, c2, name) = (binner.clone(), counts.clone(), column.to_owned());
        finish_pass(for_each_batch(lf, cancel, move |df| {
            let s = numeric_f64(&df, &name)?;
            let mut c = c2
                .lock()
                .map_err(|_| DataError::Invalid("histogram failed".into()))?;
            b2.add(&mut c, s.f64()?);
            Ok(())
        }))?;
        cancel.check()?;
        let counts = counts
            .lock()
            .map_err(|_| DataError::Invalid("histogram failed".into()))?
            .clone();
        Ok(Histogram {
            edges: binner.edges.clone(),
            counts,
        })
    }

    /// The `top` most frequent values of a column (see [`crate::value_counts`]); paged, one streaming
    /// group-by over every row.
    pub fn value_counts(&self, column: &str, top: usize) -> Result<Vec<ValueCount>, DataError> {
        let paged = match self {
            Self::Memory(df) => return crate::value_counts(df, column, top),
            Self::Paged(p) => p,
        };
        if !paged.schema().contains(column) {
            return Err(DataError::UnknownColumn(column.to_owned()));
        }
        let counted = paged
            .lazy()?
            .select([col(column).cast(DataType::String)])
            .group_by([col(column)])
            .agg([len().alias("__kiln_count")])
            .collect_with_engine(Engine::Streaming)?
            .unwrap_single();
        let values = counted.column(column)?.str()?.clone();
        let counts = counted
            .column("__kiln_count")?
            .as_materialized_series()
            .cast(&DataType::UInt64)?;
        let all = values
            .iter()
            .zip(counts.u64()?.iter())
            .map(|(v, n)| ValueCount {
                value: v.unwrap_or("null").to_owned(),
                count: n.unwrap_or_default(),
            })
            .collect();
        Ok(top_values(all, top))
    }

    /// Scatter series of two numeric columns (see [`crate::scatter`]); a paged table is drawn from an
    /// evenly spaced sample of [`SCATTER_SAMPLE`] rows. Also returns the number of rows plotted from.
    pub fn scatter(
        &self,
        x: &str,
        y: &str,
        color: Option<&str>,
        grid: usize,
        cancel: &Cancel,
    ) -> Result<(Vec<ScatterSeries>, usize), DataError> {
        let df = match self {
            Self::Memory(df) => {
                return Ok((crate::scatter(df, x, y, color, grid, cancel)?, df.height()));
            }
            Self::Paged(_) => {
                let mut columns = vec![x, y];
                columns.extend(color.filter(|c| *c != x && *c != y));
                columns.dedup();
                self.sample(SCATTER_SAMPLE, &columns)?
            }
        };
        Ok((crate::scatter(&df, x, y, color, grid, cancel)?, df.height()))
    }
}
