//! Tables larger than memory: a Parquet object read a row group at a time (with a small cache of decoded
//! groups), and the Data room's operations — sort, filter, statistics, histograms, value counts, scatter
//! plots — run through polars' streaming engine over it instead of over a frame in memory.
//!
//! [`TableData`] is what the table view holds: a frame in memory for versions that fit the memory budget,
//! a [`PagedFrame`] for the rest. Every operation takes either and gives the same answer (samples aside:
//! scatter plots and the quantiles of the statistics come from an evenly spaced sample, and say so).

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{SyncSender, TrySendError};
use std::sync::{Arc, Mutex, OnceLock, Weak};

use polars::io::parquet::metadata::FileMetadataRef;
use polars::prelude::*;

use crate::formats::{for_each_batch, sink_streaming};
use crate::plots::{Binner, finite_range, numeric_f64, top_values};
use crate::table::filter_expr;
use crate::{
    Cancel, ColumnStats, DataError, Histogram, Progress, ROW_ID, ScatterSeries, ValueCount,
};

/// The memory budget of a table opened without one (bytes).
const DEFAULT_BUDGET: u64 = 1 << 30;

/// Decoded row groups kept per paged table (64Ki rows each).
const CACHE_GROUPS: usize = 8;

/// Rows of the sample the quantiles and distinct counts of a paged table come from.
pub const STATS_SAMPLE: usize = 1_000_000;

/// Rows of the sample a scatter plot of a paged table is drawn from.
pub const SCATTER_SAMPLE: usize = 200_000;

type Notify = Arc<dyn Fn() + Send + Sync>;

/// A Parquet file read a window at a time. Only the footer is read when it is opened; row groups are
/// decoded when rows in them are asked for, and the last few stay cached. The hidden row-id column is
/// never shown.
pub struct PagedFrame {
    path: PathBuf,
    metadata: FileMetadataRef,
    schema: SchemaRef,
    /// First row of each row group, and the row count at the end.
    starts: Vec<usize>,
    cache: Mutex<Vec<(usize, Arc<DataFrame>)>>,
    /// Row groups asked for and not yet decoded.
    pending: Mutex<HashSet<usize>>,
    fetcher: OnceLock<SyncSender<usize>>,
    notify: Mutex<Option<Notify>>,
    error: Mutex<Option<String>>,
    /// A query's result written for this view: removed when the view is dropped.
    owned: bool,
    /// Memory the operations on this table may use (bytes): a sort works in runs of a quarter of it.
    budget: u64,
}

impl std::fmt::Debug for PagedFrame {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PagedFrame")
            .field("path", &self.path)
            .field("rows", &self.height())
            .finish_non_exhaustive()
    }
}

impl Drop for PagedFrame {
    fn drop(&mut self) {
        if self.owned {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

impl PagedFrame {
    /// Open a Parquet file: reads its footer only.
    pub fn open(path: &Path) -> Result<Self, DataError> {
        Self::open_with(path, false)
    }

    fn open_with(path: &Path, owned: bool) -> Result<Self, DataError> {
        let file = File::open(path).map_err(|e| DataError::io(path, e))?;
        let mut reader = ParquetReader::new(file);
        let metadata = reader
            .get_metadata()
            .map_err(|e| DataError::malformed(path, format!("not a readable Parquet file: {e}")))?
            .clone();
        let arrow = reader
            .schema()
            .map_err(|e| DataError::malformed(path, e.to_string()))?;
        let schema: Schema = Schema::from_arrow_schema(arrow.as_ref());
        let schema = Arc::new(
            schema
                .iter()
                .filter(|(name, _)| name.as_str() != ROW_ID)
                .map(|(n, d)| Field::new(n.clone(), d.clone()))
                .collect(),
        );
        let mut starts = Vec::with_capacity(metadata.row_groups.len() + 1);
        let mut at = 0;
        for g in &metadata.row_groups {
            starts.push(at);
            at += g.num_rows();
        }
        starts.push(at);
        Ok(Self {
            path: path.to_path_buf(),
            metadata,
            schema,
            starts,
            cache: Mutex::default(),
            pending: Mutex::default(),
            fetcher: OnceLock::new(),
            notify: Mutex::default(),
            error: Mutex::default(),
            owned,
            budget: DEFAULT_BUDGET,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn height(&self) -> usize {
        self.starts.last().copied().unwrap_or_default()
    }

    /// The visible columns (without the row ids).
    pub fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    pub fn row_groups(&self) -> usize {
        self.starts.len().saturating_sub(1)
    }

    /// The decoded size of the data (from the footer): what reading it whole would take, roughly.
    pub fn memory_estimate(&self) -> u64 {
        self.metadata
            .row_groups
            .iter()
            .map(|g| g.total_byte_size() as u64)
            .sum()
    }

    /// What a row takes once decoded (string views and all: several times its share of the footer's
    /// sizes when there is text), measured on the first row group.
    pub fn decoded_bytes_per_row(&self) -> Result<u64, DataError> {
        if self.row_groups() == 0 {
            return Ok(1);
        }
        let group = self.read_group(0)?;
        Ok((group.estimated_size() / group.height().max(1)).max(1) as u64)
    }

    /// The first row of row group `g` and its number of rows.
    pub fn locate_group(&self, g: usize) -> (usize, usize) {
        (self.starts[g], self.starts[g + 1] - self.starts[g])
    }

    /// The row group holding `row`, and the row's offset in it.
    pub fn locate(&self, row: usize) -> Option<(usize, usize)> {
        if row >= self.height() {
            return None;
        }
        let g = self.starts.partition_point(|&s| s <= row) - 1;
        Some((g, row - self.starts[g]))
    }

    fn names(&self) -> Vec<String> {
        self.schema.iter_names().map(ToString::to_string).collect()
    }

    /// Decode row group `g` (visible columns), or take it from the cache.
    pub fn group(&self, g: usize) -> Result<Arc<DataFrame>, DataError> {
        if let Some(df) = self.cached(g) {
            return Ok(df);
        }
        let df = Arc::new(self.read_group(g)?);
        if let Ok(mut cache) = self.cache.lock() {
            cache.retain(|(k, _)| *k != g);
            if cache.len() >= CACHE_GROUPS {
                cache.remove(0);
            }
            cache.push((g, df.clone()));
        }
        Ok(df)
    }

    /// Decode row group `g` without keeping it (a pass over every group).
    fn read_group(&self, g: usize) -> Result<DataFrame, DataError> {
        let (start, end) = (self.starts[g], self.starts[g + 1]);
        let file = File::open(&self.path).map_err(|e| DataError::io(&self.path, e))?;
        let mut reader = ParquetReader::new(file)
            .with_columns(Some(self.names()))
            .with_slice(Some((start, end - start)));
        reader.set_metadata(self.metadata.clone());
        let mut df = reader.finish()?;
        df.rechunk_mut();
        Ok(df)
    }

    fn cached(&self, g: usize) -> Option<Arc<DataFrame>> {
        let mut cache = self.cache.lock().ok()?;
        let at = cache.iter().position(|(k, _)| *k == g)?;
        // Most recently used last.
        let entry = cache.remove(at);
        let df = entry.1.clone();
        cache.push(entry);
        Some(df)
    }

    /// Rows `start..start + len` (fewer at the end), read from the row groups that hold them.
    pub fn rows(&self, start: usize, len: usize) -> Result<DataFrame, DataError> {
        let end = (start + len).min(self.height());
        let mut out: Option<DataFrame> = None;
        let mut row = start;
        while row < end {
            let Some((g, offset)) = self.locate(row) else {
                break;
            };
            let group = self.group(g)?;
            let take = (group.height() - offset).min(end - row);
            let part = group.slice(offset as i64, take);
            match &mut out {
                None => out = Some(part),
                Some(o) => {
                    o.vstack_mut(&part)?;
                }
            }
            row += take;
        }
        Ok(out.unwrap_or_else(|| DataFrame::empty_with_schema(&self.schema)))
    }

    /// For drawing: the cached row group holding `row` and the row's offset in it, without waiting. When
    /// the group is not decoded yet it is asked for on the table's reader thread, which calls the
    /// function given to [`Self::on_loaded`] when it is there.
    pub fn try_row(self: &Arc<Self>, row: usize) -> Option<(Arc<DataFrame>, usize)> {
        let (g, offset) = self.locate(row)?;
        if let Some(df) = self.cached(g) {
            return Some((df, offset));
        }
        self.request(g);
        None
    }

    /// Called (from the reader thread) each time a row group asked for by [`Self::try_row`] is decoded.
    pub fn on_loaded(&self, f: impl Fn() + Send + Sync + 'static) {
        if let Ok(mut n) = self.notify.lock() {
            *n = Some(Arc::new(f));
        }
    }

    /// The last read error of the reader thread, if any.
    pub fn read_error(&self) -> Option<String> {
        self.error.lock().ok().and_then(|e| e.clone())
    }

    fn request(self: &Arc<Self>, g: usize) {
        let Ok(mut pending) = self.pending.lock() else {
            return;
        };
        if pending.contains(&g) {
            return;
        }
        let tx = self
            .fetcher
            .get_or_init(|| spawn_reader(Arc::downgrade(self)));
        match tx.try_send(g) {
            Ok(()) => {
                pending.insert(g);
            }
            // Full: asked again on the next frame.
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {}
        }
    }

    /// The visible columns as a lazy scan (polars reads only what a query needs).
    pub fn lazy(&self) -> Result<LazyFrame, DataError> {
        let text = self
            .path
            .to_str()
            .ok_or_else(|| DataError::malformed(&self.path, "the path is not valid UTF-8"))?;
        let columns: Vec<Expr> = self.schema.iter_names().map(|n| col(n.clone())).collect();
        Ok(
            LazyFrame::scan_parquet(PlRefPath::from(text), ScanArgsParquet::default())?
                .select(columns),
        )
    }
}

/// The reader thread of a paged table: decodes the row groups asked for, one at a time, then tells the
/// user interface. It ends when the table is dropped (its sender with it).
fn spawn_reader(table: Weak<PagedFrame>) -> SyncSender<usize> {
    let (tx, rx) = std::sync::mpsc::sync_channel::<usize>(4);
    let spawned = std::thread::Builder::new()
        .name("kiln-table-reader".into())
        .spawn(move || {
            while let Ok(g) = rx.recv() {
                let Some(t) = table.upgrade() else {
                    return;
                };
                let result = t.group(g);
                if let Ok(mut pending) = t.pending.lock() {
                    pending.remove(&g);
                }
                if let (Err(e), Ok(mut slot)) = (result, t.error.lock()) {
                    *slot = Some(e.to_string());
                }
                let notify = t.notify.lock().ok().and_then(|n| n.clone());
                drop(t);
                if let Some(n) = notify {
                    n();
                }
            }
        });
    if let Err(e) = spawned {
        tracing::warn!("could not start the table reader: {e}");
    }
    tx
}

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
        let mut paged = PagedFrame::open(path)?;
        paged.budget = budget;
        if paged.memory_estimate() > budget {
            // The first rows decoded now, so the table shows them at once.
            if paged.row_groups() > 0 {
                paged.group(0)?;
            }
            return Ok(Self::Paged(Arc::new(paged)));
        }
        let df = crate::read_parquet(path)?;
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

    fn column_stats_sampled(
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

/// The rows of the Parquet object at `src` (row ids included) matching a polars SQL `condition`, written
/// by the streaming engine to `out` with Kiln's one writer: the same bytes an in-memory filter of the
/// loaded version writes, with memory bounded by a batch.
pub fn filter_to_parquet(
    src: &Path,
    condition: &str,
    out: &Path,
    cancel: &Cancel,
) -> Result<crate::Streamed, DataError> {
    let mut lf = scan_with_ids(src)?;
    if let Some(expr) = filter_expr(condition)? {
        lf = lf.filter(expr);
    }
    sink_query(lf, out, cancel, |_| {})
}

/// Run a filtering query through the streaming engine into Kiln's writer at `out`; its errors (an
/// unknown column, a bad condition) are filter errors, and `out` is removed on any failure.
fn sink_query(
    lf: LazyFrame,
    out: &Path,
    cancel: &Cancel,
    on_batch: impl Fn(&DataFrame) + Send + Sync + 'static,
) -> Result<crate::Streamed, DataError> {
    let schema = lf
        .clone()
        .collect_schema()
        .map_err(|e| DataError::Filter(crate::table::clean(&e)))?
        .as_ref()
        .clone();
    let cleanup = |e: DataError| {
        let _ = std::fs::remove_file(out);
        e
    };
    let (run, written) = sink_streaming(lf, &schema, out, cancel, on_batch).map_err(cleanup)?;
    run.map_err(|e| cleanup(DataError::Filter(crate::table::clean(&e))))?;
    let (rows, written) = written.map_err(cleanup)?;
    Ok(crate::Streamed {
        rows,
        written,
        schema,
    })
}

/// [`crate::set_labels`] on the Parquet object at `src`, batch by batch through the streaming engine into
/// `out`: the same bytes the in-memory edit writes (the column's type is decided up front from the new
/// values), with memory bounded by a batch and the labels. Unknown row ids are an error.
pub fn set_labels_to_parquet(
    src: &Path,
    column: &str,
    labels: &[(u64, Option<String>)],
    out: &Path,
    cancel: &Cancel,
) -> Result<crate::Streamed, DataError> {
    let mut lf = scan_with_ids(src)?;
    let source = lf.collect_schema()?;
    let wanted: HashMap<u64, Option<String>> = labels.iter().cloned().collect();
    // A numeric column stays numeric when every new value parses (as in memory).
    let existing = source.get(column).cloned();
    let target = match &existing {
        Some(dt) if dt.is_primitive_numeric() => {
            let new = Series::new(
                column.into(),
                wanted.values().cloned().collect::<Vec<Option<String>>>(),
            );
            if new.strict_cast(dt).is_ok() {
                dt.clone()
            } else {
                DataType::String
            }
        }
        _ => DataType::String,
    };
    let mut schema = lf.collect_schema()?.as_ref().clone();
    schema.with_column(column.into(), target.clone());
    let found = Arc::new(Mutex::new(HashSet::<u64>::new()));
    let (f2, name) = (found.clone(), column.to_owned());
    let (rows, written) = rewrite(lf, &schema, out, cancel, move |_, df| {
        let ids = crate::row_ids(&df)?;
        let mut values: Vec<Option<String>> = match df.column(&name) {
            Ok(c) => {
                let s = c.as_materialized_series().cast(&DataType::String)?;
                s.str()?.iter().map(|v| v.map(str::to_owned)).collect()
            }
            Err(_) => vec![None; df.height()],
        };
        let mut hit = Vec::new();
        for (i, id) in ids.iter().enumerate() {
            if let Some(v) = wanted.get(id) {
                values[i].clone_from(v);
                hit.push(*id);
            }
        }
        let new = Series::new(name.as_str().into(), values).strict_cast(&target)?;
        let mut df = df;
        df.with_column(new.into_column())?;
        f2.lock()
            .map_err(|_| DataError::Invalid("labels failed".into()))?
            .extend(hit);
        Ok(df)
    })?;
    let found = found
        .lock()
        .map_err(|_| DataError::Invalid("labels failed".into()))?;
    if let Some((id, _)) = labels.iter().find(|(id, _)| !found.contains(id)) {
        return Err(DataError::UnknownRow(*id));
    }
    Ok(crate::Streamed {
        rows,
        written,
        schema,
    })
}

/// [`crate::split`] of the Parquet object at `src`, streamed into `out`: the parts are drawn from the row
/// ids and the `stratify` column alone (read on their own), then the object streams through with its
/// `split` column set — the same bytes as the in-memory split.
pub fn split_to_parquet(
    src: &Path,
    (ratios, seed, stratify): ([f64; 3], u64, Option<&str>),
    out: &Path,
    cancel: &Cancel,
) -> Result<crate::Streamed, DataError> {
    let lf = scan_with_ids(src)?;
    let mut keys = vec![col(ROW_ID)];
    if let Some(c) = stratify {
        if !lf.clone().collect_schema()?.contains(c) {
            return Err(DataError::UnknownColumn(c.to_owned()));
        }
        keys.push(col(c));
    }
    let key_frame = lf
        .clone()
        .select(keys)
        .collect_with_engine(Engine::Streaming)?
        .unwrap_single();
    cancel.check()?;
    let parts = crate::split(&key_frame, ratios, seed, stratify)?;
    let parts = parts.column("split")?.as_materialized_series().rechunk();
    drop(key_frame);
    let mut schema = lf.clone().collect_schema()?.as_ref().clone();
    schema.with_column("split".into(), DataType::String);
    let (rows, written) = rewrite(lf, &schema, out, cancel, move |offset, mut df| {
        let part = parts.slice(offset as i64, df.height());
        df.with_column(part.into_column())?;
        Ok(df)
    })?;
    Ok(crate::Streamed {
        rows,
        written,
        schema,
    })
}

/// A scan of a Kiln object with its row ids (numbered by position for objects stored without).
pub fn scan_with_ids(src: &Path) -> Result<LazyFrame, DataError> {
    let text = src
        .to_str()
        .ok_or_else(|| DataError::malformed(src, "the path is not valid UTF-8"))?;
    let mut lf = LazyFrame::scan_parquet(PlRefPath::from(text), ScanArgsParquet::default())?;
    if !lf.collect_schema()?.contains(ROW_ID) {
        lf = lf
            .with_row_index(ROW_ID, None)
            .with_column(col(ROW_ID).cast(DataType::UInt64));
    }
    Ok(lf)
}

/// How many rows of the Parquet object `src` have each value of `column` (as text), most first; nulls
/// are not counted, and a column the object lacks has none. One streaming group-by over the column.
pub fn counts_by_value(src: &Path, column: &str) -> Result<Vec<(String, u64)>, DataError> {
    const COUNT: &str = "__kiln_count";
    let lf = scan_with_ids(src)?;
    if !lf.clone().collect_schema()?.contains(column) {
        return Ok(Vec::new());
    }
    let counted = lf
        .select([col(column).cast(DataType::String)])
        .filter(col(column).is_not_null())
        .group_by([col(column)])
        .agg([len().cast(DataType::UInt64).alias(COUNT)])
        .collect_with_engine(Engine::Streaming)?
        .unwrap_single();
    let values = counted.column(column)?.str()?;
    let counts = counted.column(COUNT)?.u64()?;
    let mut out: Vec<(String, u64)> = values
        .iter()
        .zip(counts.iter())
        .filter_map(|(v, n)| Some((v?.to_owned(), n?)))
        .collect();
    out.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    Ok(out)
}

/// The position of the row with id `row_id` in the Parquet object `src` (with or without stored row
/// ids), found in one streaming pass over the id column; `None` when no row has it.
pub fn position_of_row_id(src: &Path, row_id: u64) -> Result<Option<usize>, DataError> {
    const POSITION: &str = "__kiln_position";
    let found = scan_with_ids(src)?
        .select([col(ROW_ID)])
        .with_row_index(POSITION, None)
        .filter(col(ROW_ID).eq(lit(row_id)))
        .select([col(POSITION).cast(DataType::UInt64)])
        .limit(1)
        .collect_with_engine(Engine::Streaming)?
        .unwrap_single();
    let positions = found.column(POSITION)?.u64()?;
    Ok(positions
        .iter()
        .flatten()
        .next()
        .map(|p| usize::try_from(p).unwrap_or(usize::MAX)))
}

/// Stream `lf` through `f` (given each batch's first row and the batch, in order) into Kiln's Parquet
/// writer at `out`; the rows and bytes written.
fn rewrite(
    lf: LazyFrame,
    schema: &Schema,
    out: &Path,
    cancel: &Cancel,
    f: impl Fn(usize, DataFrame) -> Result<DataFrame, DataError> + Send + Sync + 'static,
) -> Result<(usize, crate::Written), DataError> {
    let sink = Arc::new(Mutex::new(crate::ParquetSink::create(out, schema)?));
    let s2 = sink.clone();
    finish_pass(for_each_batch(lf, cancel, move |df| {
        let mut sink = s2
            .lock()
            .map_err(|_| DataError::Invalid("the Parquet writer failed".into()))?;
        let offset = sink.rows();
        sink.push(&f(offset, df)?)
    }))?;
    cancel.check()?;
    let sink = Arc::try_unwrap(sink)
        .ok()
        .and_then(|m| m.into_inner().ok())
        .ok_or_else(|| DataError::Invalid("the streaming query did not finish".into()))?;
    let rows = sink.rows();
    Ok((rows, sink.finish()?))
}

/// The rows of `table` matching `expr`, written by the streaming engine to `out` (removed on failure).
fn stream_filter(
    table: &PagedFrame,
    expr: Expr,
    out: &Path,
    cancel: &Cancel,
    progress: &Progress,
) -> Result<(), DataError> {
    progress.set(0.05, "filtering");
    let total = table.height().max(1);
    let progress2 = progress.clone();
    let seen = std::sync::atomic::AtomicUsize::new(0);
    sink_query(table.lazy()?.filter(expr), out, cancel, move |df| {
        let n = seen.fetch_add(df.height(), std::sync::atomic::Ordering::Relaxed) + df.height();
        progress2.set((n as f32 / total as f32).min(0.3), "filtering");
    })?;
    Ok(())
}

/// Sort `table` by one column (nulls last, ties in table order) into `out` with memory bounded by the
/// table's budget: runs of row groups that fit a quarter of it are sorted in memory and written to
/// files beside `out`, then merged a row group at a time, comparing polars' binary row encoding of the
/// key (which orders as the sort does, descending and nulls included).
fn external_sort(
    table: &PagedFrame,
    (column, descending): (&str, bool),
    out: &Path,
    cancel: &Cancel,
    progress: &Progress,
) -> Result<(), DataError> {
    let groups = table.row_groups();
    // What a row group takes once decoded (string views and all: several times its size in the
    // footer), measured on the first one; runs and merges are sized by it.
    let group_bytes = if groups == 0 {
        1
    } else {
        table.read_group(0)?.estimated_size().max(1)
    };
    // Sorting a run holds it about three times over (the rows, the sorted copy, the encoder's pages).
    let per_run = ((table.budget / 8) as usize / group_bytes).max(1);
    let runs: Vec<std::ops::Range<usize>> = (0..groups)
        .step_by(per_run)
        .map(|g| g..(g + per_run).min(groups))
        .collect();
    let mut files: Vec<PagedFrame> = Vec::with_capacity(runs.len());
    for (i, range) in runs.iter().enumerate() {
        cancel.check()?;
        progress.set(0.3 + 0.3 * i as f32 / runs.len() as f32, "sorting in runs");
        let (first, _) = table.locate_group(range.start);
        let end = table.starts[range.end];
        let chunk = table.rows(first, end - first)?;
        let mut sorted = crate::sort_by(&chunk, column, descending)?;
        drop(chunk);
        let path = out.with_extension(format!("run{i}.partial"));
        // Opened at once, so the file goes away with it whatever happens next.
        let opened = crate::write_parquet(&mut sorted, &path)
            .and_then(|_| PagedFrame::open_with(&path, true));
        match opened {
            Ok(f) => files.push(f),
            Err(e) => {
                let _ = std::fs::remove_file(&path);
                return Err(e);
            }
        }
    }
    // A merge holds one decoded row group per run, with its keys, and the batch it builds: merge at most
    // as many runs at once as fit a quarter of the budget, in passes.
    let fan_in = ((table.budget / 4) as usize / group_bytes).max(2);
    let mut pass = 0;
    while files.len() > fan_in {
        pass += 1;
        let mut merged = Vec::with_capacity(files.len().div_ceil(fan_in));
        let mut rest = std::mem::take(&mut files).into_iter().peekable();
        let mut i = 0;
        while rest.peek().is_some() {
            // Each batch of runs goes (and its files with it) once merged: the disk holds one copy.
            let batch: Vec<PagedFrame> = rest.by_ref().take(fan_in).collect();
            let path = out.with_extension(format!("pass{pass}-{i}.partial"));
            i += 1;
            let done = merge_runs(
                &batch,
                (column, descending),
                &path,
                cancel,
                &Progress::new(),
                0,
            )
            .and_then(|()| PagedFrame::open_with(&path, true));
            drop(batch);
            match done {
                Ok(f) => merged.push(f),
                Err(e) => {
                    let _ = std::fs::remove_file(&path);
                    return Err(e);
                }
            }
        }
        files = merged;
    }
    progress.set(0.6, "merging");
    merge_runs(
        &files,
        (column, descending),
        out,
        cancel,
        progress,
        table.height(),
    )
}

/// One sorted run being merged: its current row group, that group's encoded keys, the next row.
struct Cursor<'a> {
    run: &'a PagedFrame,
    group: usize,
    frame: Arc<DataFrame>,
    keys: BinaryOffsetChunked,
    row: usize,
    /// The index of `frame` among the frames of the batch being built.
    slot: Option<usize>,
}

impl<'a> Cursor<'a> {
    fn open(
        run: &'a PagedFrame,
        group: usize,
        key: (&str, bool),
    ) -> Result<Option<Self>, DataError> {
        if group >= run.row_groups() {
            return Ok(None);
        }
        let frame = Arc::new(run.read_group(group)?);
        let keys = encode_keys(&frame, key)?;
        Ok(Some(Self {
            run,
            group,
            frame,
            keys,
            row: 0,
            slot: None,
        }))
    }

    fn key(&self) -> &[u8] {
        self.keys.get(self.row).unwrap_or_default()
    }
}

fn encode_keys(
    df: &DataFrame,
    (column, descending): (&str, bool),
) -> Result<BinaryOffsetChunked, DataError> {
    let c = df.column(column)?.clone();
    let keys = polars::chunked_array::ops::row_encode::_get_rows_encoded_ca(
        "key".into(),
        &[c],
        &[descending],
        &[true],
        false,
    )?;
    Ok(keys.rechunk().into_owned())
}

fn merge_runs(
    runs: &[PagedFrame],
    key: (&str, bool),
    out: &Path,
    cancel: &Cancel,
    progress: &Progress,
    total: usize,
) -> Result<(), DataError> {
    let schema = runs
        .first()
        .map_or_else(|| Arc::new(Schema::default()), |r| r.schema.clone());
    let mut sink = crate::ParquetSink::create(out, &schema)?;
    let mut cursors: Vec<Option<Cursor<'_>>> = runs
        .iter()
        .map(|r| Cursor::open(r, 0, key))
        .collect::<Result<_, _>>()?;
    let mut frames: Vec<Arc<DataFrame>> = Vec::new();
    let mut picks: Vec<(usize, usize)> = Vec::with_capacity(crate::ROW_GROUP);
    let flush = |frames: &mut Vec<Arc<DataFrame>>,
                 picks: &mut Vec<(usize, usize)>,
                 sink: &mut crate::ParquetSink|
     -> Result<(), DataError> {
        if picks.is_empty() {
            return Ok(());
        }
        // The picked rows of each frame, taken in pick order, then put in the merged order: only the
        // batch's own rows are copied.
        let mut per_frame: Vec<Vec<IdxSize>> = vec![Vec::new(); frames.len()];
        let mut rank = Vec::with_capacity(picks.len());
        for &(f, r) in picks.iter() {
            rank.push((f, per_frame[f].len()));
            per_frame[f].push(r as IdxSize);
        }
        let mut parts: Option<DataFrame> = None;
        let mut offsets = Vec::with_capacity(frames.len());
        for (f, idx) in frames.iter().zip(per_frame) {
            offsets.push(parts.as_ref().map_or(0, DataFrame::height));
            let part = f.take(&IdxCa::from_vec("idx".into(), idx))?;
            match &mut parts {
                None => parts = Some(part),
                Some(p) => {
                    p.vstack_mut(&part)?;
                }
            }
        }
        let parts = parts.expect("frames of the picked rows");
        let order: Vec<IdxSize> = rank
            .iter()
            .map(|&(f, k)| (offsets[f] + k) as IdxSize)
            .collect();
        let batch = parts.take(&IdxCa::from_vec("idx".into(), order))?;
        sink.push(&batch)?;
        frames.clear();
        picks.clear();
        Ok(())
    };
    let mut written = 0usize;
    // The smallest key first; ties go to the earlier run, so equal keys keep the table's order.
    let mut heap: std::collections::BinaryHeap<std::cmp::Reverse<(Vec<u8>, usize)>> = cursors
        .iter()
        .enumerate()
        .filter_map(|(i, c)| c.as_ref().map(|c| std::cmp::Reverse((c.key().to_vec(), i))))
        .collect();
    while let Some(std::cmp::Reverse((_, i))) = heap.pop() {
        let c = cursors[i].as_mut().expect("a live cursor");
        let slot = *c.slot.get_or_insert_with(|| {
            frames.push(c.frame.clone());
            frames.len() - 1
        });
        picks.push((slot, c.row));
        c.row += 1;
        if c.row >= c.frame.height() {
            let (run, next) = (c.run, c.group + 1);
            cursors[i] = Cursor::open(run, next, key)?;
        }
        if let Some(c) = &cursors[i] {
            heap.push(std::cmp::Reverse((c.key().to_vec(), i)));
        }
        if picks.len() == crate::ROW_GROUP {
            cancel.check()?;
            written += picks.len();
            progress.set(0.6 + 0.4 * written as f32 / total.max(1) as f32, "merging");
            flush(&mut frames, &mut picks, &mut sink)?;
            for c in cursors.iter_mut().flatten() {
                c.slot = None;
            }
        }
    }
    flush(&mut frames, &mut picks, &mut sink)?;
    sink.finish()?;
    Ok(())
}

/// `df` with its text and binary columns copied into buffers of their own: rows taken from a batch
/// otherwise keep the whole batch's string buffers alive (views into them), which a sample gathered over
/// the whole table turns into most of the table.
fn owned_strings(df: DataFrame) -> Result<DataFrame, DataError> {
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
struct Sampler {
    step: usize,
    seen: usize,
    rows: Option<DataFrame>,
}

impl Sampler {
    /// About `n` rows of a table of `height`.
    fn new(height: usize, n: usize) -> Self {
        Self {
            step: height.div_ceil(n.max(1)).max(1),
            seen: 0,
            rows: None,
        }
    }

    fn add(&mut self, df: &DataFrame) -> Result<(), DataError> {
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
    fn take(&mut self, schema: &Schema) -> DataFrame {
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
struct Running {
    nulls: u64,
    min: Option<AnyValue<'static>>,
    max: Option<AnyValue<'static>>,
    n: f64,
    mean: f64,
    m2: f64,
}

impl Running {
    fn add(&mut self, c: &Column, dtype: &DataType) -> Result<(), DataError> {
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
fn finish_pass(run: crate::formats::BatchRun) -> Result<(), DataError> {
    if let Some(e) = run.failure {
        return Err(e);
    }
    run.run?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 150,000 rows (three row groups) with nulls, text and numbers, written as Kiln writes objects.
    fn object(dir: &Path) -> (PathBuf, DataFrame) {
        let n = 150_000u32;
        let x: Vec<Option<f64>> = (0..n)
            .map(|i| (i % 97 != 0).then(|| f64::from((i * 7919) % 10_007) / 10.0))
            .collect();
        let k: Vec<i64> = (0..n).map(|i| i64::from(i % 13)).collect();
        let s: Vec<&str> = (0..n)
            .map(|i| ["ant", "bee", "cat", "dog"][(i % 4) as usize])
            .collect();
        let df = df!("x" => x, "k" => k, "s" => s).unwrap();
        let mut stored = crate::with_row_ids(&df).unwrap();
        let path = dir.join("object.parquet");
        crate::write_parquet(&mut stored, &path).unwrap();
        (path, df)
    }

    fn paged(path: &Path) -> TableData {
        let t = TableData::open(path, 1).unwrap();
        assert!(t.is_paged());
        t
    }

    #[test]
    fn paged_rows_across_row_groups_equal_the_frame() {
        let dir = tempfile::tempdir().unwrap();
        let (path, df) = object(dir.path());
        let t = paged(&path);
        let TableData::Paged(p) = &t else {
            unreachable!()
        };
        assert_eq!(p.row_groups(), 3);
        assert_eq!(t.height(), df.height());
        assert_eq!(t.column_names(), ["x", "k", "s"], "row ids are hidden");
        let window = t.rows(65_530, 20).unwrap();
        assert!(window.equals_missing(&df.slice(65_530, 20)));
        assert_eq!(t.rows(149_990, 100).unwrap().height(), 10);
        assert!(
            TableData::open(&path, u64::MAX)
                .unwrap()
                .rows(0, 5)
                .unwrap()
                .equals_missing(&df.head(Some(5)))
        );
    }

    #[test]
    fn try_row_asks_the_reader_thread_and_is_told() {
        let dir = tempfile::tempdir().unwrap();
        let (path, df) = object(dir.path());
        let p = Arc::new(PagedFrame::open(&path).unwrap());
        let (tx, rx) = std::sync::mpsc::channel();
        let tx = Mutex::new(tx);
        p.on_loaded(move || {
            let _ = tx.lock().unwrap().send(());
        });
        assert!(p.try_row(140_000).is_none(), "not decoded yet");
        rx.recv_timeout(std::time::Duration::from_secs(20)).unwrap();
        let (group, offset) = p.try_row(140_000).unwrap();
        assert_eq!(offset, 140_000 - 2 * crate::ROW_GROUP);
        let want = df.slice(140_000, 1);
        assert!(group.slice(offset as i64, 1).equals_missing(&want));
        assert_eq!(p.read_error(), None);
    }

    #[test]
    fn paged_filter_and_sort_equal_in_memory_and_clean_up() {
        let dir = tempfile::tempdir().unwrap();
        let (path, df) = object(dir.path());
        let t = paged(&path);
        let memory = TableData::Memory(Arc::new(df));
        let scratch = dir.path().join("view.parquet");
        let (c, p) = (Cancel::new(), Progress::new());
        let a = t
            .filter_sort("s = 'bee' AND x > 500", Some(("x", true)), &scratch, &c, &p)
            .unwrap();
        let b = memory
            .filter_sort("s = 'bee' AND x > 500", Some(("x", true)), &scratch, &c, &p)
            .unwrap();
        assert!(a.is_paged() && !b.is_paged());
        assert!(a.height() > 1000);
        assert!(
            a.rows(0, a.height())
                .unwrap()
                .equals_missing(&b.rows(0, b.height()).unwrap())
        );
        assert!(scratch.exists());
        drop(a);
        assert!(!scratch.exists(), "a paged result's file goes with it");
        let e = t
            .filter_sort("nope > 1", None, &scratch, &c, &p)
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("invalid filter") && e.contains("nope"), "{e}");
        assert!(!scratch.exists());
        let e = t
            .filter_sort("", Some(("nope", false)), &scratch, &c, &p)
            .unwrap_err();
        assert!(matches!(e, DataError::UnknownColumn(_)), "{e}");
    }

    #[test]
    fn a_sort_in_runs_merges_to_the_in_memory_sort() {
        let dir = tempfile::tempdir().unwrap();
        let (path, df) = object(dir.path());
        // A one-byte budget: every row group is its own run.
        let t = paged(&path);
        let memory = TableData::Memory(Arc::new(df));
        let (c, p) = (Cancel::new(), Progress::new());
        for (column, desc) in [("x", false), ("x", true), ("s", false), ("k", true)] {
            let scratch = dir.path().join(format!("sorted-{column}-{desc}.parquet"));
            let a = t
                .filter_sort("", Some((column, desc)), &scratch, &c, &p)
                .unwrap();
            let b = memory
                .filter_sort("", Some((column, desc)), &scratch, &c, &p)
                .unwrap();
            let (a, b) = (
                a.rows(0, a.height()).unwrap(),
                b.rows(0, b.height()).unwrap(),
            );
            assert!(a.equals_missing(&b), "{column} {desc}");
        }
        let left: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.contains("run") || n.contains("filtered"))
            .collect();
        assert!(left.is_empty(), "no run files left: {left:?}");
    }

    #[test]
    fn paged_stats_plots_and_counts_equal_in_memory() {
        let dir = tempfile::tempdir().unwrap();
        let (path, df) = object(dir.path());
        let t = paged(&path);
        let memory = TableData::Memory(Arc::new(df));
        let (c, p) = (Cancel::new(), Progress::new());
        let a = t.column_stats(&c, &p).unwrap();
        let b = memory.column_stats(&c, &p).unwrap();
        for (a, b) in a.iter().zip(&b) {
            assert_eq!(
                (&a.name, a.count, a.nulls, a.unique),
                (&b.name, b.count, b.nulls, b.unique)
            );
            assert_eq!((&a.min, &a.max), (&b.min, &b.max));
            let close = |x: Option<f64>, y: Option<f64>| match (x, y) {
                (Some(x), Some(y)) => (x - y).abs() <= 1e-9 * y.abs().max(1.0),
                (x, y) => x == y,
            };
            assert!(close(a.mean, b.mean) && close(a.std, b.std), "{a:?} {b:?}");
            assert_eq!((a.median, a.q25, a.q75), (b.median, b.q25, b.q75));
            assert_eq!(a.sample_rows, None, "fewer rows than the sample: exact");
        }
        assert_eq!(
            t.histogram("x", 40, &c).unwrap(),
            memory.histogram("x", 40, &c).unwrap()
        );
        assert_eq!(
            t.value_counts("s", 3).unwrap(),
            memory.value_counts("s", 3).unwrap()
        );
        assert_eq!(
            t.value_counts("k", 5).unwrap(),
            memory.value_counts("k", 5).unwrap()
        );
        let (sa, na) = t.scatter("x", "k", Some("s"), 100, &c).unwrap();
        let (sb, nb) = memory.scatter("x", "k", Some("s"), 100, &c).unwrap();
        assert_eq!((sa, na), (sb, nb));
        assert!(t.histogram("s", 10, &c).is_err());
    }

    #[test]
    fn samples_are_evenly_spaced_and_marked() {
        let dir = tempfile::tempdir().unwrap();
        let (path, df) = object(dir.path());
        let t = paged(&path);
        let s = t.sample(1_000, &["k"]).unwrap();
        assert_eq!(s.height(), 1_000);
        assert_eq!(s.width(), 1);
        let want = df.column("k").unwrap().get(149_850).unwrap();
        assert_eq!(
            s.column("k").unwrap().get(999).unwrap(),
            want,
            "every 150th row"
        );
        assert!(t.sample(10, &["nope"]).is_err());
        // Statistics from a sample say so, and still count every row exactly.
        let (c, p) = (Cancel::new(), Progress::new());
        let sampled = t.column_stats_sampled(1_000, &c, &p).unwrap();
        let exact = TableData::Memory(Arc::new(df))
            .column_stats(&c, &p)
            .unwrap();
        assert_eq!(sampled[0].sample_rows, Some(1_000));
        assert_eq!(
            (sampled[0].count, sampled[0].nulls),
            (exact[0].count, exact[0].nulls)
        );
        assert_eq!(
            (&sampled[0].min, &sampled[0].max),
            (&exact[0].min, &exact[0].max)
        );
        assert!((sampled[0].median.unwrap() - exact[0].median.unwrap()).abs() < 50.0);
    }
}
