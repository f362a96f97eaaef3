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

mod rewrite;
mod sample;
mod sort;
mod table;

use rewrite::stream_filter;
pub use rewrite::*;
use sample::{Running, Sampler, finish_pass};
use sort::external_sort;
pub use table::*;

/// The memory budget of a table opened without one (bytes).
const DEFAULT_BUDGET: u64 = 1 << 30;

/// Decoded row groups kept per paged table (64Ki rows each).
const CACHE_GROUPS: usize = 8;

/// Rows of the sample the quantiles and distinct counts of a paged table come from.
pub const STATS_SAMPLE: usize = 1_000_000;

/// Rows of the sample a scatter plot of a paged table is drawn from.
pub const SCATTER_SAMPLE: usize = 200_000;

type Notify = Arc<dyn Fn() + Send + Sync>;

/// Where the bytes of a paged table's file come from when they are not all on disk: an object in a shared
/// store, read by byte ranges into a sparse local copy of the same size. The footer is there when the
/// table is opened; a row group's bytes are fetched before it is decoded, and the whole file before a
/// pass over every row (sort, filter, statistics) reads it.
pub trait ByteSource: Send + Sync + std::fmt::Debug {
    /// Make bytes `range` of the local file hold the object's bytes.
    fn fetch(&self, range: std::ops::Range<u64>) -> Result<(), DataError>;
    /// Make the whole local file hold the object, checked against its hash.
    fn complete(&self) -> Result<(), DataError>;
}

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
    /// Fetches the bytes of a file that is not all on disk yet.
    source: Option<Arc<dyn ByteSource>>,
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

    /// Open a sparse local copy of a file whose footer `source` has fetched; the rest comes from `source`
    /// as it is read.
    pub fn open_ranged(path: &Path, source: Arc<dyn ByteSource>) -> Result<Self, DataError> {
        let mut table = Self::open_with(path, false)?;
        table.source = Some(source);
        Ok(table)
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
            source: None,
        })
    }

    /// The file, whole: a sparse copy of an object in a shared store is completed first.
    pub fn path(&self) -> Result<&Path, DataError> {
        if let Some(source) = &self.source {
            source.complete()?;
        }
        Ok(&self.path)
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
        if let Some(source) = &self.source {
            source.fetch(self.metadata.row_groups[g].full_byte_range())?;
        }
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
        let path = self.path()?;
        let text = path
            .to_str()
            .ok_or_else(|| DataError::malformed(path, "the path is not valid UTF-8"))?;
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

    /// `n` rows of a table with a unique key `id` from `from`, text and nulls, as a version stores them
    /// (row ids from `first_id`), or without ids as a pull reads them.
    fn keyed(from: i64, n: usize, first_id: Option<u64>) -> DataFrame {
        let id: Vec<i64> = (from..from + n as i64).collect();
        let v: Vec<Option<f64>> = id
            .iter()
            .map(|i| (i % 31 != 0).then(|| (i * 37 % 1_000) as f64 / 8.0))
            .collect();
        let s: Vec<&str> = id
            .iter()
            .map(|i| ["a", "bb", "ccc"][(i % 3) as usize])
            .collect();
        let df = df!("id" => id, "v" => v, "s" => s).unwrap();
        match first_id {
            None => df,
            Some(f) => {
                let mut stored = crate::with_row_ids(&df).unwrap();
                let ids = stored.column(crate::ROW_ID).unwrap().u64().unwrap() + f;
                stored
                    .with_column(
                        ids.into_series()
                            .with_name(crate::ROW_ID.into())
                            .into_column(),
                    )
                    .unwrap();
                stored
            }
        }
    }

    fn written(path: &Path, df: &DataFrame) -> crate::Written {
        crate::write_parquet(&mut df.clone(), path).unwrap()
    }

    fn codecs(path: &Path) -> Vec<polars_parquet::parquet::compression::Compression> {
        let meta =
            polars_parquet::parquet::read::read_metadata(&mut File::open(path).unwrap()).unwrap();
        meta.row_groups
            .iter()
            .map(|g| g.parquet_columns()[0].compression())
            .collect()
    }

    #[test]
    fn appending_copies_full_row_groups_and_writes_the_bytes_of_a_fresh_write() {
        use polars_parquet::parquet::compression::Compression;
        let dir = tempfile::tempdir().unwrap();
        let n = 2 * crate::ROW_GROUP + 500;
        let old = keyed(0, n, Some(0));
        let prev = dir.path().join("prev.parquet");
        let written_prev = written(&prev, &old);
        let new = dir.path().join("new.parquet");
        written(&new, &keyed(n as i64, 1_000, None));
        let out = dir.path().join("out.parquet");
        let s = append_rows(&prev, &new, None, &out, &Cancel::new()).unwrap();
        let mut want = old.clone();
        want.vstack_mut(&keyed(n as i64, 1_000, Some(n as u64)))
            .unwrap();
        let expected = written(&dir.path().join("want.parquet"), &want);
        assert_eq!(s.rows, n + 1_000);
        assert_eq!(s.written, expected, "the same bytes as writing every row");
        assert_ne!(s.written, written_prev);

        // Copied, not re-encoded: an object whose pages another codec wrote keeps them in its full groups.
        let other = dir.path().join("other.parquet");
        let mut writer = ParquetWriter::new(File::create(&other).unwrap())
            .with_compression(ParquetCompression::Uncompressed)
            .with_statistics(StatisticsOptions::default())
            .batched(old.schema())
            .unwrap();
        for at in (0..n).step_by(crate::ROW_GROUP) {
            let mut group = old.slice(at as i64, crate::ROW_GROUP);
            group.rechunk_mut();
            writer.write_batch(&group).unwrap();
        }
        writer.finish().unwrap();
        let out2 = dir.path().join("out2.parquet");
        append_rows(&other, &new, None, &out2, &Cancel::new()).unwrap();
        assert_eq!(
            codecs(&out2),
            [
                Compression::Uncompressed,
                Compression::Uncompressed,
                Compression::Lz4Raw
            ]
        );
        let read = |p: &Path| ParquetReader::new(File::open(p).unwrap()).finish().unwrap();
        assert!(read(&out2).equals_missing(&read(&out)));
    }

    #[test]
    fn appending_with_a_key_copies_the_groups_before_the_first_replaced_row() {
        let dir = tempfile::tempdir().unwrap();
        let n = 3 * crate::ROW_GROUP + 10;
        let old = keyed(0, n, Some(0));
        let prev = dir.path().join("prev.parquet");
        written(&prev, &old);
        let cases: [(&str, Vec<i64>); 3] = [
            ("new keys only", vec![]),
            ("a row of the second group", vec![70_000]),
            ("the first row and a late one", vec![0, 150_000]),
        ];
        for (what, replaced) in cases {
            // The replaced rows, changed, then 5 new ones; one new key twice (the last wins).
            let mut pulled = keyed(n as i64, 5, None);
            pulled.vstack_mut(&keyed(n as i64 + 2, 1, None)).unwrap();
            for r in &replaced {
                let mut row = keyed(*r, 1, None);
                row.with_column(Column::new("s".into(), ["changed"]))
                    .unwrap();
                pulled.vstack_mut(&row).unwrap();
            }
            let new = dir.path().join("new.parquet");
            written(&new, &pulled);
            let out = dir.path().join("out.parquet");
            let s = append_rows(&prev, &new, Some("id"), &out, &Cancel::new()).unwrap();
            // Expected, row by row: the old rows but the replaced, then the new ones (a replaced row
            // keeps its id; new keys take ids after the largest).
            let keep = old
                .column("id")
                .unwrap()
                .i64()
                .unwrap()
                .iter()
                .map(|k| !replaced.contains(&k.unwrap()))
                .collect::<BooleanChunked>();
            let mut want = old.filter(&keep).unwrap();
            let (k, id) = (n as i64, n as u64);
            for (key, rows, first_id) in [(k, 2, id), (k + 3, 2, id + 2), (k + 2, 1, id + 4)] {
                want.vstack_mut(&keyed(key, rows, Some(first_id))).unwrap();
            }
            for r in &replaced {
                let mut row = keyed(*r, 1, Some(*r as u64));
                row.with_column(Column::new("s".into(), ["changed"]))
                    .unwrap();
                want.vstack_mut(&row).unwrap();
            }
            let expected = written(&dir.path().join("want.parquet"), &want);
            assert_eq!(s.rows, n + 5, "{what}");
            assert_eq!(
                s.written, expected,
                "{what}: the bytes of writing every row"
            );
        }
    }
}
