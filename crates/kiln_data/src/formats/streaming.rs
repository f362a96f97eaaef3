//! Streaming import and passes: polars' streaming engine feeding batches to the Parquet sink on a writer
//! thread, and callbacks over the batches of a query.

// A part of its parent module: it shares the parent's imports and private items.
#[allow(clippy::wildcard_imports)]
use super::*;

/// What a streamed import wrote.
#[derive(Clone, Debug)]
pub struct Streamed {
    pub rows: usize,
    /// The object's size and hash.
    pub written: Written,
    pub schema: Schema,
}

/// The default memory budget of an import: a quarter of the machine's memory (4 GiB when unknown).
pub fn default_memory_budget() -> u64 {
    let total = std::fs::read_to_string("/proc/meminfo").ok().and_then(|m| {
        m.lines()
            .find(|l| l.starts_with("MemTotal:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<u64>().ok())
            .map(|kb| kb * 1024)
    });
    total.map_or(4 << 30, |t| t / 4)
}

/// A text file at least this large streams whatever the budget: reading, encoding and writing then
/// overlap (a whole read has to finish before its write starts), and memory stays at a few batches.
pub const STREAM_TEXT_FROM: u64 = 64 << 20;

/// Whether `path` streams into its object instead of being read whole: a CSV, TSV, Parquet or Arrow IPC
/// file whose frame would likely exceed `budget` bytes (about twice a text file's size, five times a
/// compressed Parquet file's, an IPC file's own), and any CSV, TSV or NDJSON file of
/// [`STREAM_TEXT_FROM`] bytes or more. JSON arrays are read whole.
pub fn streams(path: &Path, opts: &ImportOptions, budget: u64) -> bool {
    let (factor, text) = match opts.resolve_format(path) {
        Ok(Format::Csv | Format::Tsv | Format::Auto | Format::Ndjson) => (2, true),
        Ok(Format::Parquet) => (5, false),
        Ok(Format::Ipc) => (1, false),
        _ => return false,
    };
    let size = std::fs::metadata(path).map_or(0, |m| m.len());
    size.saturating_mul(factor) > budget || (text && size >= STREAM_TEXT_FROM)
}

/// Stream a CSV, TSV, Parquet or Arrow IPC file into Parquet at `out` in batches through polars'
/// streaming engine: memory is bounded by the batches, not the file. For text, the record check (field
/// counts, UTF-8) runs beside it and a malformed record fails with its line; cancel stops between
/// batches; on any failure `out` is left for the caller to discard.
pub fn stream_to_parquet(
    path: &Path,
    opts: &ImportOptions,
    out: &Path,
    cancel: &Cancel,
    progress: &Progress,
) -> Result<Streamed, DataError> {
    check_path(path)?;
    let format = opts.resolve_format(path)?;
    let text = path
        .to_str()
        .ok_or_else(|| DataError::malformed(path, "the path is not valid UTF-8"))?;
    let lf = match format {
        Format::Csv | Format::Tsv | Format::Auto => {
            return stream_csv((path, text), opts, format, out, (cancel, progress));
        }
        Format::Parquet => {
            LazyFrame::scan_parquet(PlRefPath::from(text), ScanArgsParquet::default())
                .map_err(|e| polars_error(path, "Parquet", &e))?
        }
        Format::Ipc => LazyFrame::scan_ipc(
            PlRefPath::from(text),
            IpcScanOptions::default(),
            UnifiedScanArgs::default(),
        )
        .map_err(|e| polars_error(path, "Arrow IPC", &e))?,
        Format::Ndjson => {
            let owned = path.to_path_buf();
            let check = std::thread::Builder::new()
                .name("kiln-ndjson-check".into())
                .spawn(move || check_ndjson_records(&owned))
                .map_err(|e| DataError::io(path, e))?;
            let lf = LazyJsonLineReader::new(PlRefPath::from(text))
                .with_infer_schema_length(std::num::NonZeroUsize::new(10_000))
                .finish()
                .map_err(|e| DataError::malformed(path, format!("invalid NDJSON: {e}")));
            return match lf {
                Ok(lf) => sink_lazy(path, lf, Some(check), out, (cancel, progress)),
                Err(e) => {
                    if let Ok(Err(located)) = check.join() {
                        return Err(located);
                    }
                    Err(e)
                }
            };
        }
        Format::Json => {
            return Err(DataError::malformed(
                path,
                "a JSON array is read whole, not streamed",
            ));
        }
    };
    sink_lazy(path, lf, None, out, (cancel, progress))
}

pub(super) fn stream_csv(
    (path, text): (&Path, &str),
    opts: &ImportOptions,
    format: Format,
    out: &Path,
    (cancel, progress): (&Cancel, &Progress),
) -> Result<Streamed, DataError> {
    check_text(path, format)?;
    let read_opts = csv_options(path, opts, format, None)?;
    let (sep, quote) = (
        read_opts.parse_options.separator,
        read_opts.parse_options.quote_char,
    );
    let owned = path.to_path_buf();
    let skip = opts.skip_rows;
    let check = std::thread::Builder::new()
        .name("kiln-csv-check".into())
        .spawn(move || check_csv_records(&owned, sep, quote, skip))
        .map_err(|e| DataError::io(path, e))?;
    let parse = read_opts.parse_options.as_ref().clone();
    let lf = LazyCsvReader::new(PlRefPath::from(text))
        .with_has_header(opts.has_header)
        .with_skip_rows(opts.skip_rows)
        .with_infer_schema_length(Some(10_000))
        .map_parse_options(move |_| parse.clone())
        .finish()
        .map_err(|e| DataError::malformed(path, e.to_string()))?;
    sink_lazy(path, lf, Some(check), out, (cancel, progress))
}

/// Run `lf` through the streaming engine into a [`ParquetSink`] at `out`, with row ids by position
/// first. `check` is the text record check running beside it: its error (naming the line) wins.
pub(super) fn sink_lazy(
    path: &Path,
    lf: LazyFrame,
    check: Option<std::thread::JoinHandle<Result<(), DataError>>>,
    out: &Path,
    (cancel, progress): (&Cancel, &Progress),
) -> Result<Streamed, DataError> {
    let located = |check: Option<std::thread::JoinHandle<Result<(), DataError>>>| match check
        .map(std::thread::JoinHandle::join)
    {
        None | Some(Ok(Ok(()))) => Ok(()),
        Some(Ok(Err(e))) => Err(e),
        Some(Err(_)) => Err(DataError::malformed(path, "record check panicked")),
    };
    let source_schema = match lf.clone().collect_schema() {
        Ok(s) => s,
        Err(e) => {
            located(check)?;
            return Err(DataError::malformed(path, e.to_string()));
        }
    };
    if source_schema.is_empty() {
        return Err(DataError::malformed(path, "no columns found"));
    }
    if source_schema.contains(crate::ROW_ID) {
        return Err(DataError::malformed(
            path,
            format!("the column name `{}` is reserved by Kiln", crate::ROW_ID),
        ));
    }
    // Row ids by position, first, as an in-memory import numbers them.
    let lf = lf
        .with_row_index(crate::ROW_ID, None)
        .with_column(col(crate::ROW_ID).cast(DataType::UInt64));
    let schema = lf
        .clone()
        .collect_schema()
        .map_err(|e| DataError::malformed(path, e.to_string()))?
        .as_ref()
        .clone();
    let total = std::fs::metadata(path).map_or(1, |m| m.len().max(1));
    let rows_hint = std::sync::atomic::AtomicUsize::new(0);
    let progress2 = progress.clone();
    let sink = ParquetSink::create(out, &schema)?;
    let (run, sink) = sink_streaming(lf, sink, cancel, move |df| {
        // Rows are not bytes; the share of rows seen so far in a frame of this width is a fair guess.
        let n =
            rows_hint.fetch_add(df.height(), std::sync::atomic::Ordering::Relaxed) + df.height();
        let done = (n as f64 * df.estimated_size() as f64 / df.height().max(1) as f64 / 2.0)
            / total as f64;
        progress2.set(done.min(0.95) as f32, "streaming");
    })?;
    // A malformed record is the most useful error: it names the line.
    located(check)?;
    run.map_err(|e| DataError::malformed(path, e.to_string()))?;
    let (rows, written) = sink?;
    Ok(Streamed {
        rows,
        written,
        schema,
    })
}

/// The streaming engine's own outcome, and the rows and what was written, or why writing failed.
pub(crate) type SinkOutcome = (PolarsResult<()>, Result<(usize, Written), DataError>);

/// Run `lf` through polars' streaming engine into `sink` (made for its schema), calling
/// `on_batch` after each batch is written. Returns the engine's own outcome (a polars error: the caller
/// knows what it means) and, when the engine ran through, the sink's (rows, bytes) or why it failed;
/// cancelling stops between batches.
pub(crate) fn sink_streaming(
    lf: LazyFrame,
    mut sink: ParquetSink,
    cancel: &Cancel,
    on_batch: impl Fn(&DataFrame) + Send + Sync + 'static,
) -> Result<SinkOutcome, DataError> {
    // Encoding and writing run on their own thread, so the engine reads the next batches meanwhile.
    let out = sink.path().to_path_buf();
    let (tx, rx) = std::sync::mpsc::sync_channel::<DataFrame>(2);
    let writer = std::thread::Builder::new()
        .name("kiln-parquet-writer".into())
        .spawn(move || -> Result<ParquetSink, DataError> {
            for df in rx {
                sink.push(&df)?;
            }
            Ok(sink)
        })
        .map_err(|e| DataError::io(&out, e))?;
    let sender = std::sync::Arc::new(std::sync::Mutex::new(Some(tx)));
    let sender2 = sender.clone();
    let run = for_each_batch(lf, cancel, move |df| {
        on_batch(&df);
        let tx = sender2
            .lock()
            .ok()
            .and_then(|s| s.clone())
            .ok_or_else(|| DataError::Invalid("the Parquet writer stopped".into()))?;
        tx.send(df)
            .map_err(|_| DataError::Invalid("the Parquet writer stopped".into()))
    });
    // The writer ends when the last sender goes, whatever still holds the callback.
    if let Ok(mut s) = sender.lock() {
        s.take();
    }
    let written = writer
        .join()
        .map_err(|_| DataError::Invalid("the Parquet writer panicked".into()))?;
    if run.run.is_err() {
        let unused = Err(DataError::Invalid("the streaming query failed".into()));
        return Ok((run.run, unused));
    }
    let finished = match (written, run.failure) {
        _ if cancel.is_cancelled() => Err(DataError::Cancelled),
        // The writer's own error explains a "writer stopped".
        (Err(e), _) | (Ok(_), Some(e)) => Err(e),
        (Ok(sink), None) => {
            let rows = sink.rows();
            sink.finish().map(|written| (rows, written))
        }
    };
    Ok((Ok(()), finished))
}

/// What a pass of the streaming engine over a query's batches came to.
pub(crate) struct BatchRun {
    /// The engine's outcome.
    pub run: PolarsResult<()>,
    /// The first error `f` returned (the pass stopped there).
    pub failure: Option<DataError>,
}

/// Hand each batch of `lf` to `f` as polars' streaming engine produces it: memory is bounded by the
/// batches, not the data. Stops at the first error of `f` or when `cancel` is set.
pub(crate) fn for_each_batch(
    lf: LazyFrame,
    cancel: &Cancel,
    f: impl Fn(DataFrame) -> Result<(), DataError> + Send + Sync + 'static,
) -> BatchRun {
    let failure: std::sync::Arc<std::sync::Mutex<Option<DataError>>> = std::sync::Arc::default();
    let (failure2, cancel2) = (failure.clone(), cancel.clone());
    let callback = PlanCallback::new(move |df: DataFrame| {
        if cancel2.is_cancelled() {
            return Ok(true);
        }
        if let Err(e) = f(df) {
            if let Ok(mut slot) = failure2.lock() {
                slot.get_or_insert(e);
            }
            return Ok(true);
        }
        Ok(false)
    });
    let run = lf
        .sink_batches(callback, true, None)
        .and_then(|q| q.collect_with_engine(Engine::Streaming))
        .map(|_| ());
    let failure = failure.lock().ok().and_then(|mut f| f.take());
    BatchRun { run, failure }
}
