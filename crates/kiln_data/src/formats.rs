//! Reading every supported format into a `DataFrame`, with the user's options, and writing the canonical
//! Parquet form of a dataset version.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::sync::{Arc, Mutex};

use polars::prelude::*;
use serde::{Deserialize, Serialize};

use crate::{Cancel, DataError, Progress};

/// The file formats Kiln imports.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// Decide from the extension, then from the first bytes.
    #[default]
    Auto,
    Csv,
    Tsv,
    Parquet,
    /// Arrow IPC file (also called Feather v2).
    Ipc,
    /// A JSON array of records.
    Json,
    /// One JSON record per line.
    Ndjson,
}

impl Format {
    pub const ALL: [Format; 7] = [
        Format::Auto,
        Format::Csv,
        Format::Tsv,
        Format::Parquet,
        Format::Ipc,
        Format::Json,
        Format::Ndjson,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Format::Auto => "auto",
            Format::Csv => "csv",
            Format::Tsv => "tsv",
            Format::Parquet => "parquet",
            Format::Ipc => "ipc",
            Format::Json => "json",
            Format::Ndjson => "ndjson",
        }
    }

    /// Parse a user-given format name (`feather` and `arrow` mean IPC, `jsonl` means NDJSON).
    pub fn parse(name: &str) -> Option<Format> {
        Some(match name.to_ascii_lowercase().as_str() {
            "auto" => Format::Auto,
            "csv" | "txt" => Format::Csv,
            "tsv" | "tab" => Format::Tsv,
            "parquet" | "pq" => Format::Parquet,
            "ipc" | "arrow" | "feather" => Format::Ipc,
            "json" => Format::Json,
            "ndjson" | "jsonl" => Format::Ndjson,
            _ => return None,
        })
    }

    fn is_text(self) -> bool {
        matches!(
            self,
            Format::Csv | Format::Tsv | Format::Json | Format::Ndjson
        )
    }
}

impl std::fmt::Display for Format {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.label())
    }
}

/// How to read a source file. Stored with every dataset version so the import can be repeated.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ImportOptions {
    pub format: Format,
    /// Field separator for CSV; `None` means `,` (or a tab for TSV).
    pub delimiter: Option<char>,
    pub has_header: bool,
    /// Records to skip before the header (or the first data row), e.g. a metadata line.
    pub skip_rows: usize,
    /// Quote character for CSV; `None` disables quoting.
    pub quote_char: Option<char>,
    /// Field values read as null in CSV/TSV.
    pub null_values: Vec<String>,
}

impl Default for ImportOptions {
    fn default() -> Self {
        Self {
            format: Format::Auto,
            delimiter: None,
            has_header: true,
            skip_rows: 0,
            quote_char: Some('"'),
            null_values: Self::default_null_values(),
        }
    }
}

impl ImportOptions {
    pub fn default_null_values() -> Vec<String> {
        ["NA", "", "null", "NaN"].map(String::from).to_vec()
    }

    /// The format these options read `path` as: the explicit one, or one detected from the file.
    pub fn resolve_format(&self, path: &Path) -> Result<Format, DataError> {
        if self.format != Format::Auto {
            return Ok(self.format);
        }
        detect_format(path)
    }

    fn separator(&self, format: Format) -> Result<u8, String> {
        let c = self
            .delimiter
            .unwrap_or(if format == Format::Tsv { '\t' } else { ',' });
        u8::try_from(c)
            .ok()
            .filter(u8::is_ascii)
            .ok_or_else(|| format!("delimiter {c:?} must be a single ASCII character"))
    }

    fn quote(&self) -> Result<Option<u8>, String> {
        self.quote_char
            .map(|c| {
                u8::try_from(c).ok().filter(u8::is_ascii).ok_or_else(|| {
                    format!("quote character {c:?} must be a single ASCII character")
                })
            })
            .transpose()
    }
}

/// Format from the extension, else from the first bytes (magic numbers, JSON brackets), else CSV.
fn detect_format(path: &Path) -> Result<Format, DataError> {
    if let Some(f) = path
        .extension()
        .and_then(|e| e.to_str())
        .and_then(Format::parse)
        .filter(|f| *f != Format::Auto)
    {
        return Ok(f);
    }
    let head = read_head(path, 4096)?;
    if head.starts_with(b"PAR1") {
        return Ok(Format::Parquet);
    }
    if head.starts_with(b"ARROW1") {
        return Ok(Format::Ipc);
    }
    match head.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'[') => Ok(Format::Json),
        Some(b'{') => Ok(Format::Ndjson),
        _ if head.contains(&0) => Err(DataError::UnknownFormat {
            path: path.to_path_buf(),
        }),
        _ => Ok(Format::Csv),
    }
}

fn read_head(path: &Path, n: usize) -> Result<Vec<u8>, DataError> {
    let mut buf = Vec::with_capacity(n);
    File::open(path)
        .and_then(|f| f.take(n as u64).read_to_end(&mut buf))
        .map_err(|e| DataError::io(path, e))?;
    Ok(buf)
}

/// Check that `path` is an existing, non-empty regular file and, for text formats, not binary.
pub fn validate_source(path: &Path, format: Format) -> Result<(), DataError> {
    check_path(path)?;
    check_text(path, format)
}

fn check_path(path: &Path) -> Result<(), DataError> {
    let meta = std::fs::metadata(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => DataError::NotFound {
            path: path.to_path_buf(),
        },
        _ => DataError::io(path, e),
    })?;
    if meta.is_dir() {
        return Err(DataError::IsDirectory {
            path: path.to_path_buf(),
        });
    }
    if meta.len() == 0 {
        return Err(DataError::Empty {
            path: path.to_path_buf(),
        });
    }
    Ok(())
}

fn check_text(path: &Path, format: Format) -> Result<(), DataError> {
    if format.is_text() {
        let head = read_head(path, 8192)?;
        if head.contains(&0) {
            return Err(DataError::malformed(
                path,
                format!(
                    "binary data (NUL bytes) in a file read as {format}; is this really a {format} file?"
                ),
            ));
        }
    }
    Ok(())
}

/// Read the whole file. `progress` moves from 0 to 1; `cancel` is checked between steps.
pub fn read_file(
    path: &Path,
    opts: &ImportOptions,
    cancel: &Cancel,
    progress: &Progress,
) -> Result<DataFrame, DataError> {
    check_path(path)?;
    let format = opts.resolve_format(path)?;
    check_text(path, format)?;
    cancel.check()?;
    progress.set(0.0, "reading");
    let df = read_impl(path, opts, format, None)?;
    cancel.check()?;
    progress.set(1.0, "read");
    Ok(df)
}

/// Read at most `n` rows, as fast as the format allows: CSV, Parquet, IPC and NDJSON stop after `n` rows,
/// so a preview of a huge file costs about the same as one of a small file.
pub fn preview_file(path: &Path, opts: &ImportOptions, n: usize) -> Result<DataFrame, DataError> {
    check_path(path)?;
    let format = opts.resolve_format(path)?;
    check_text(path, format)?;
    read_impl(path, opts, format, Some(n))
}

fn read_impl(
    path: &Path,
    opts: &ImportOptions,
    format: Format,
    limit: Option<usize>,
) -> Result<DataFrame, DataError> {
    let df = match format {
        Format::Csv | Format::Tsv | Format::Auto => read_csv(path, opts, format, limit)?,
        Format::Parquet => {
            let file = File::open(path).map_err(|e| DataError::io(path, e))?;
            ParquetReader::new(file)
                .with_slice(limit.map(|n| (0, n)))
                .finish()
                .map_err(|e| polars_error(path, "Parquet", &e))?
        }
        Format::Ipc => {
            let file = File::open(path).map_err(|e| DataError::io(path, e))?;
            IpcReader::new(file)
                .with_n_rows(limit)
                .finish()
                .map_err(|e| polars_error(path, "Arrow IPC", &e))?
        }
        Format::Json => read_json(path, limit)?,
        Format::Ndjson => read_ndjson(path, limit)?,
    };
    if df.width() == 0 {
        return Err(DataError::malformed(path, "no columns found"));
    }
    Ok(df)
}

fn polars_error(path: &Path, what: &str, e: &PolarsError) -> DataError {
    DataError::malformed(path, format!("not a valid {what} file: {e}"))
}

fn csv_options(
    path: &Path,
    opts: &ImportOptions,
    format: Format,
    limit: Option<usize>,
) -> Result<CsvReadOptions, DataError> {
    let separator = opts
        .separator(format)
        .map_err(|m| DataError::malformed(path, m))?;
    let quote = opts.quote().map_err(|m| DataError::malformed(path, m))?;
    let nulls = (!opts.null_values.is_empty()).then(|| {
        NullValues::AllColumns(
            opts.null_values
                .iter()
                .map(|s| PlSmallStr::from(s.as_str()))
                .collect(),
        )
    });
    Ok(CsvReadOptions::default()
        .with_has_header(opts.has_header)
        .with_skip_rows(opts.skip_rows)
        .with_n_rows(limit)
        .with_infer_schema_length(Some(10_000))
        .with_rechunk(true)
        .with_parse_options(
            CsvParseOptions::default()
                .with_separator(separator)
                .with_quote_char(quote)
                .with_null_values(nulls)
                .with_encoding(CsvEncoding::Utf8),
        ))
}

fn read_csv(
    path: &Path,
    opts: &ImportOptions,
    format: Format,
    limit: Option<usize>,
) -> Result<DataFrame, DataError> {
    let read_opts = csv_options(path, opts, format, limit)?;
    let sep = read_opts.parse_options.separator;
    let quote = read_opts.parse_options.quote_char;
    // A full read checks the shape of every record on a second thread while polars parses: polars pads
    // short rows with nulls silently, and its own errors do not name the line.
    let check = if limit.is_none() {
        let owned = path.to_path_buf();
        let skip = opts.skip_rows;
        Some(
            std::thread::Builder::new()
                .name("kiln-csv-check".into())
                .spawn(move || check_csv_records(&owned, sep, quote, skip))
                .map_err(|e| DataError::io(path, e))?,
        )
    } else {
        None
    };
    let result = read_opts
        .try_into_reader_with_file_path(Some(path.to_path_buf()))
        .and_then(polars::prelude::SerReader::finish);
    if let Some(handle) = check {
        match handle.join() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(e),
            Err(_) => return Err(DataError::malformed(path, "record check panicked")),
        }
    }
    result.map_err(
        |e| match check_csv_records(path, sep, quote, opts.skip_rows) {
            Err(located) => located,
            Ok(()) => DataError::malformed(path, e.to_string()),
        },
    )
}

/// Where the record walk is between blocks of the file.
struct RecordWalk {
    sep: u8,
    quote: Option<u8>,
    skip: usize,
    line_no: usize,
    record: usize,
    /// Field count of the first record and its line.
    expected: Option<(usize, usize)>,
    fields: usize,
    in_quotes: bool,
    record_start: usize,
}

impl RecordWalk {
    fn line(&mut self, path: &Path, raw: &[u8]) -> Result<(), DataError> {
        self.line_no += 1;
        let body = raw.strip_suffix(b"\n").unwrap_or(raw);
        let body = body.strip_suffix(b"\r").unwrap_or(body);
        if !self.in_quotes {
            self.record_start = self.line_no;
        }
        match self.quote {
            // Fast path: no quote on this line and none open — count separators (vectorised).
            Some(q) if !self.in_quotes && memchr::memchr(q, body).is_none() => {
                self.fields += bytecount::count(body, self.sep);
            }
            None => self.fields += bytecount::count(body, self.sep),
            Some(q) => {
                for &b in body {
                    if b == q {
                        self.in_quotes = !self.in_quotes;
                    } else if b == self.sep && !self.in_quotes {
                        self.fields += 1;
                    }
                }
            }
        }
        if self.in_quotes {
            return Ok(()); // the quoted field goes on in the next line
        }
        let blank = body.is_empty() && self.fields == 1;
        if self.record >= self.skip && !blank {
            match self.expected {
                None => self.expected = Some((self.fields, self.record_start)),
                Some((want, first)) if want != self.fields => {
                    return Err(DataError::AtLine {
                        path: path.to_path_buf(),
                        line: self.record_start,
                        message: format!(
                            "expected {want} fields (as on line {first}), found {}",
                            self.fields
                        ),
                    });
                }
                Some(_) => {}
            }
        }
        if !blank {
            self.record += 1;
        }
        self.fields = 1;
        Ok(())
    }
}

/// Walk the CSV records (quotes may span lines) and fail at the first one that is not valid UTF-8 or whose
/// field count differs from the first record's. Reads the file in large blocks cut at line ends.
fn check_csv_records(
    path: &Path,
    sep: u8,
    quote: Option<u8>,
    skip: usize,
) -> Result<(), DataError> {
    let mut file = File::open(path).map_err(|e| DataError::io(path, e))?;
    let mut walk = RecordWalk {
        sep,
        quote,
        skip,
        line_no: 0,
        record: 0,
        expected: None,
        fields: 1,
        in_quotes: false,
        record_start: 1,
    };
    let mut buf = vec![0u8; 8 << 20];
    let mut filled = 0usize;
    loop {
        if filled == buf.len() {
            buf.resize(buf.len() * 2, 0); // a line longer than the buffer
        }
        let n = file
            .read(&mut buf[filled..])
            .map_err(|e| DataError::io(path, e))?;
        let eof = n == 0;
        filled += n;
        let end = if eof {
            filled
        } else {
            match memchr::memrchr(b'\n', &buf[..filled]) {
                Some(i) => i + 1,
                None => continue,
            }
        };
        let block = &buf[..end];
        // Blocks end at a newline, which never splits a UTF-8 sequence.
        if let Err(e) = std::str::from_utf8(block) {
            let before = memchr::memchr_iter(b'\n', &block[..e.valid_up_to()]).count();
            return Err(DataError::AtLine {
                path: path.to_path_buf(),
                line: walk.line_no + before + 1,
                message: "invalid UTF-8 (is the file in another encoding?)".into(),
            });
        }
        let mut start = 0;
        for nl in memchr::memchr_iter(b'\n', block) {
            walk.line(path, &block[start..=nl])?;
            start = nl + 1;
        }
        if start < block.len() {
            walk.line(path, &block[start..])?;
        }
        buf.copy_within(end..filled, 0);
        filled -= end;
        if eof {
            break;
        }
    }
    if walk.in_quotes {
        return Err(DataError::AtLine {
            path: path.to_path_buf(),
            line: walk.record_start,
            message: "a quoted field is never closed".into(),
        });
    }
    Ok(())
}

fn read_json(path: &Path, limit: Option<usize>) -> Result<DataFrame, DataError> {
    let head = read_head(path, 64 * 1024)?;
    let mut it = head.iter().copied().filter(|b| !b.is_ascii_whitespace());
    match (it.next(), it.next()) {
        (Some(b'['), Some(b'{')) => {}
        (Some(b'['), Some(b']')) => {
            return Err(DataError::malformed(
                path,
                "JSON array is empty: no records to import",
            ));
        }
        (Some(b'['), _) => {
            return Err(DataError::malformed(
                path,
                "JSON is not an array of records: its first element is not an object",
            ));
        }
        _ => {
            return Err(DataError::malformed(
                path,
                "JSON is not an array of records (expected `[{...}, ...]`; for one record per line use --format ndjson)",
            ));
        }
    }
    let file = File::open(path).map_err(|e| DataError::io(path, e))?;
    let df = JsonReader::new(file)
        .with_json_format(JsonFormat::Json)
        .infer_schema_len(std::num::NonZeroUsize::new(10_000))
        .finish()
        .map_err(|e| DataError::malformed(path, format!("invalid JSON records: {e}")))?;
    Ok(match limit {
        Some(n) => df.head(Some(n)),
        None => df,
    })
}

fn read_ndjson(path: &Path, limit: Option<usize>) -> Result<DataFrame, DataError> {
    // Read whole lines up to the limit, so a preview of a huge file stays cheap.
    let file = File::open(path).map_err(|e| DataError::io(path, e))?;
    let mut reader = BufReader::new(file);
    let mut bytes = Vec::new();
    let mut rows = 0usize;
    loop {
        if limit.is_some_and(|n| rows >= n) {
            break;
        }
        let n = reader
            .read_until(b'\n', &mut bytes)
            .map_err(|e| DataError::io(path, e))?;
        if n == 0 {
            break;
        }
        rows += 1;
    }
    let df = JsonReader::new(std::io::Cursor::new(&bytes))
        .with_json_format(JsonFormat::JsonLines)
        .infer_schema_len(std::num::NonZeroUsize::new(10_000))
        .finish();
    match df {
        Ok(df) => Ok(df),
        Err(e) => Err(locate_ndjson_error(path, &bytes)
            .unwrap_or_else(|| DataError::malformed(path, format!("invalid NDJSON: {e}")))),
    }
}

fn locate_ndjson_error(path: &Path, bytes: &[u8]) -> Option<DataError> {
    bytes
        .split(|b| *b == b'\n')
        .enumerate()
        .find_map(|(i, line)| ndjson_record_error(path, i + 1, line))
}

/// Why one NDJSON line is not a record (`None` for a record or a blank line).
fn ndjson_record_error(path: &Path, line_no: usize, line: &[u8]) -> Option<DataError> {
    if line.iter().all(u8::is_ascii_whitespace) {
        return None;
    }
    let message = match serde_json::from_slice::<serde::de::IgnoredAny>(line) {
        Err(e) => format!("invalid JSON: {e}"),
        Ok(_) if line.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{') => return None,
        Ok(_) => "not a JSON object (each line must be one record)".into(),
    };
    Some(DataError::AtLine {
        path: path.to_path_buf(),
        line: line_no,
        message,
    })
}

/// The record check of a streamed NDJSON import: every line a JSON object (or blank), read a line at a
/// time, failing at the first that is not with its line number.
fn check_ndjson_records(path: &Path) -> Result<(), DataError> {
    let file = File::open(path).map_err(|e| DataError::io(path, e))?;
    let mut reader = BufReader::with_capacity(1 << 20, file);
    let mut line = Vec::new();
    let mut line_no = 0usize;
    loop {
        line.clear();
        let n = reader
            .read_until(b'\n', &mut line)
            .map_err(|e| DataError::io(path, e))?;
        if n == 0 {
            return Ok(());
        }
        line_no += 1;
        let record = line.strip_suffix(b"\n").unwrap_or(&line);
        if let Some(e) = ndjson_record_error(path, line_no, record) {
            return Err(e);
        }
    }
}

/// Rows per row group of every Parquet object Kiln writes. The layout depends on nothing else — not on
/// how the rows arrive — so a table gets the same bytes, and the same content hash, whether it was
/// written from memory or streamed in batches.
pub const ROW_GROUP: usize = 64 * 1024;

/// Kiln's one Parquet writer (LZ4 pages: fast to write and to read back): frames of any size go in,
/// row groups of exactly [`ROW_GROUP`] rows (the last one shorter) come out as they fill. The bytes are
/// hashed (blake3) on their way to the file, so the content hash needs no second read.
pub struct ParquetSink {
    writer: polars::io::parquet::write::BatchedWriter<HashingFile>,
    /// The same file, to sync once the footer is written.
    file: File,
    hasher: Arc<Mutex<blake3::Hasher>>,
    pending: Option<DataFrame>,
    rows: usize,
    path: std::path::PathBuf,
}

/// What a [`ParquetSink`] wrote: the file's size and the blake3 of its bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Written {
    pub bytes: u64,
    /// Hex.
    pub blake3: String,
}

/// A file that hashes every byte written to it.
struct HashingFile {
    file: File,
    hasher: Arc<Mutex<blake3::Hasher>>,
}

impl std::io::Write for HashingFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.file.write(buf)?;
        self.hasher
            .lock()
            .map_err(|_| std::io::Error::other("the hasher's lock is poisoned"))?
            .update(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.file.flush()
    }
}

impl ParquetSink {
    pub fn create(out: &Path, schema: &Schema) -> Result<Self, DataError> {
        let file = File::create(out).map_err(|e| DataError::io(out, e))?;
        let handle = file.try_clone().map_err(|e| DataError::io(out, e))?;
        let hasher = Arc::new(Mutex::new(blake3::Hasher::new()));
        let hashing = HashingFile {
            file,
            hasher: hasher.clone(),
        };
        let writer = ParquetWriter::new(hashing)
            .with_compression(ParquetCompression::Lz4Raw)
            .with_statistics(StatisticsOptions::default())
            .batched(schema)?;
        Ok(Self {
            writer,
            file: handle,
            hasher,
            pending: None,
            rows: 0,
            path: out.to_path_buf(),
        })
    }

    /// Add rows; every full row group is encoded and written at once.
    pub fn push(&mut self, df: &DataFrame) -> Result<(), DataError> {
        if df.height() == 0 {
            return Ok(());
        }
        self.rows += df.height();
        let mut pending = match self.pending.take() {
            None => df.clone(),
            Some(mut p) => {
                p.vstack_mut(df)?;
                p
            }
        };
        while pending.height() >= ROW_GROUP {
            let mut group = pending.slice(0, ROW_GROUP);
            group.rechunk_mut();
            self.writer.write_batch(&group)?;
            pending = pending.slice(ROW_GROUP as i64, pending.height() - ROW_GROUP);
        }
        // An empty rest would still hold the buffers of the rows just written.
        self.pending = (pending.height() > 0).then_some(pending);
        Ok(())
    }

    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Write the last rows and the footer, flush to disk; the file's size and hash.
    pub fn finish(mut self) -> Result<Written, DataError> {
        if let Some(mut rest) = self.pending.take().filter(|p| p.height() > 0) {
            rest.rechunk_mut();
            self.writer.write_batch(&rest)?;
        }
        let bytes = self.writer.finish()?;
        self.file
            .sync_all()
            .map_err(|e| DataError::io(&self.path, e))?;
        let blake3 = self
            .hasher
            .lock()
            .map_err(|_| DataError::Invalid("the hasher's lock is poisoned".into()))?
            .finalize()
            .to_hex()
            .to_string();
        Ok(Written { bytes, blake3 })
    }
}

/// Write `df` as Parquet to `out` with [`ParquetSink`] and flush it to disk; its size and hash.
pub fn write_parquet(df: &mut DataFrame, out: &Path) -> Result<Written, DataError> {
    let mut sink = ParquetSink::create(out, df.schema())?;
    sink.push(df)?;
    sink.finish()
}

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

fn stream_csv(
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
fn sink_lazy(
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
    let (run, sink) = sink_streaming(lf, &schema, out, cancel, move |df| {
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

/// Run `lf` (of `schema`) through polars' streaming engine into a [`ParquetSink`] at `out`, calling
/// `on_batch` after each batch is written. Returns the engine's own outcome (a polars error: the caller
/// knows what it means) and, when the engine ran through, the sink's (rows, bytes) or why it failed;
/// cancelling stops between batches.
pub(crate) fn sink_streaming(
    lf: LazyFrame,
    schema: &Schema,
    out: &Path,
    cancel: &Cancel,
    on_batch: impl Fn(&DataFrame) + Send + Sync + 'static,
) -> Result<SinkOutcome, DataError> {
    // Encoding and writing run on their own thread, so the engine reads the next batches meanwhile.
    let mut sink = ParquetSink::create(out, schema)?;
    let (tx, rx) = std::sync::mpsc::sync_channel::<DataFrame>(2);
    let writer = std::thread::Builder::new()
        .name("kiln-parquet-writer".into())
        .spawn(move || -> Result<ParquetSink, DataError> {
            for df in rx {
                sink.push(&df)?;
            }
            Ok(sink)
        })
        .map_err(|e| DataError::io(out, e))?;
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

/// Write `df` to `out` in `format` (from the extension when `Auto`), via a temp file renamed into place,
/// so a failed export never leaves a half-written file under the requested name.
pub fn export_file(df: &DataFrame, out: &Path, format: Format) -> Result<(), DataError> {
    let format = match format {
        Format::Auto => out
            .extension()
            .and_then(|e| e.to_str())
            .and_then(Format::parse)
            .filter(|f| *f != Format::Auto)
            .ok_or_else(|| DataError::UnknownFormat {
                path: out.to_path_buf(),
            })?,
        f => f,
    };
    let dir = out
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = out
        .file_name()
        .map_or_else(|| "export".into(), |n| n.to_string_lossy().into_owned());
    let tmp = dir.join(format!(".{name}.{}.partial", std::process::id()));
    let result = (|| -> Result<(), DataError> {
        let mut df = df.clone();
        let mut file = File::create(&tmp).map_err(|e| DataError::io(&tmp, e))?;
        match format {
            Format::Csv | Format::Tsv => CsvWriter::new(&mut file)
                .with_separator(if format == Format::Tsv { b'\t' } else { b',' })
                .finish(&mut df)?,
            Format::Parquet => {
                ParquetWriter::new(&mut file).finish(&mut df)?;
            }
            Format::Ipc => IpcWriter::new(&mut file).finish(&mut df)?,
            Format::Json => JsonWriter::new(&mut file)
                .with_json_format(JsonFormat::Json)
                .finish(&mut df)?,
            Format::Ndjson => JsonWriter::new(&mut file)
                .with_json_format(JsonFormat::JsonLines)
                .finish(&mut df)?,
            Format::Auto => unreachable!("resolved above"),
        }
        file.sync_all().map_err(|e| DataError::io(&tmp, e))?;
        std::fs::rename(&tmp, out).map_err(|e| DataError::io(out, e))
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Read a Parquet file Kiln wrote (a dataset version's object).
pub fn read_parquet(path: &Path) -> Result<DataFrame, DataError> {
    let file = File::open(path).map_err(|e| DataError::io(path, e))?;
    ParquetReader::new(file)
        .finish()
        .map_err(|e| polars_error(path, "Parquet", &e))
}

/// Only the named columns of a Parquet file, those of them it has (a narrow read of a large object).
pub fn read_parquet_columns(path: &Path, columns: &[&str]) -> Result<DataFrame, DataError> {
    let file = File::open(path).map_err(|e| DataError::io(path, e))?;
    let mut reader = ParquetReader::new(file);
    let schema = reader
        .schema()
        .map_err(|e| polars_error(path, "Parquet", &e))?;
    let present: Vec<String> = columns
        .iter()
        .filter(|c| schema.contains(c))
        .map(|c| (*c).to_owned())
        .collect();
    if present.is_empty() {
        // No wanted column: the row count alone (positions stand for row ids).
        let rows = reader
            .num_rows()
            .map_err(|e| polars_error(path, "Parquet", &e))?;
        return Ok(DataFrame::empty_with_height(rows));
    }
    reader
        .with_columns(Some(present))
        .finish()
        .map_err(|e| polars_error(path, "Parquet", &e))
}

#[cfg(test)]
mod tests {
    use std::fmt::Write as _;

    use super::*;

    fn write(dir: &Path, name: &str, bytes: &[u8]) -> std::path::PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, bytes).unwrap();
        p
    }

    fn read(p: &Path, opts: &ImportOptions) -> Result<DataFrame, DataError> {
        read_file(p, opts, &Cancel::new(), &Progress::new())
    }

    #[test]
    fn ragged_row_with_extra_field_names_its_line() {
        let d = tempfile::tempdir().unwrap();
        let p = write(d.path(), "r.csv", b"a,b\n1,2\n3,4,5\n6,7\n");
        let e = read(&p, &ImportOptions::default()).unwrap_err().to_string();
        assert!(e.contains("r.csv: line 3: expected 2 fields"), "{e}");
    }

    #[test]
    fn ragged_row_with_missing_field_names_its_line() {
        let d = tempfile::tempdir().unwrap();
        let p = write(d.path(), "r.csv", b"a,b,c\n1,2,3\n4,5\n");
        let e = read(&p, &ImportOptions::default()).unwrap_err().to_string();
        assert!(e.contains("line 3: expected 3 fields"), "{e}");
    }

    #[test]
    fn quoted_newlines_and_separators_are_one_field() {
        let d = tempfile::tempdir().unwrap();
        let p = write(d.path(), "q.csv", b"a,b\n\"x,\ny\",2\n3,4\n");
        let df = read(&p, &ImportOptions::default()).unwrap();
        assert_eq!(df.shape(), (2, 2));
    }

    #[test]
    fn invalid_utf8_names_its_line() {
        let d = tempfile::tempdir().unwrap();
        let p = write(d.path(), "u.csv", b"a,b\n1,x\n2,\xff\xfe\n");
        let e = read(&p, &ImportOptions::default()).unwrap_err().to_string();
        assert!(e.contains("line 3: invalid UTF-8"), "{e}");
    }

    #[test]
    fn a_large_text_file_streams_whatever_the_budget() {
        // Sparse files: only the size matters to the choice.
        let d = tempfile::tempdir().unwrap();
        let sized = |name: &str, len: u64| {
            let p = d.path().join(name);
            File::create(&p).unwrap().set_len(len).unwrap();
            p
        };
        let opts = ImportOptions::default();
        assert!(streams(
            &sized("big.csv", STREAM_TEXT_FROM),
            &opts,
            u64::MAX
        ));
        assert!(streams(
            &sized("big.ndjson", STREAM_TEXT_FROM),
            &opts,
            u64::MAX
        ));
        assert!(!streams(
            &sized("small.csv", STREAM_TEXT_FROM - 1),
            &opts,
            u64::MAX
        ));
        // Below the threshold the budget decides: a text frame takes about twice the file.
        assert!(streams(&sized("small.tsv", 1000), &opts, 1999));
        assert!(!streams(&sized("small2.tsv", 1000), &opts, 2000));
        // Columnar files are read whole while they fit.
        assert!(!streams(
            &sized("big.parquet", STREAM_TEXT_FROM),
            &opts,
            u64::MAX
        ));
    }

    #[test]
    fn null_tokens_are_configurable() {
        let d = tempfile::tempdir().unwrap();
        let p = write(d.path(), "n.csv", b"a,b\n1,NA\n-,x\nnull,NaN\n");
        let df = read(&p, &ImportOptions::default()).unwrap();
        assert_eq!(df.column("a").unwrap().null_count(), 1);
        assert_eq!(df.column("b").unwrap().null_count(), 2);
        let opts = ImportOptions {
            null_values: vec!["-".into()],
            ..ImportOptions::default()
        };
        let df = read(&p, &opts).unwrap();
        assert_eq!(df.column("a").unwrap().null_count(), 1);
        assert_eq!(df.column("b").unwrap().null_count(), 0);
    }

    #[test]
    fn tsv_and_custom_quote_char() {
        let d = tempfile::tempdir().unwrap();
        let p = write(d.path(), "t.tsv", b"a\tb\n'x\ty'\t2\n");
        let opts = ImportOptions {
            quote_char: Some('\''),
            ..ImportOptions::default()
        };
        let df = read(&p, &opts).unwrap();
        assert_eq!(df.shape(), (1, 2));
        assert_eq!(cell(&df, "a"), "x\ty");
    }

    fn cell(df: &DataFrame, c: &str) -> String {
        df.column(c)
            .unwrap()
            .str()
            .unwrap()
            .get(0)
            .unwrap()
            .to_owned()
    }

    #[test]
    fn json_must_be_records() {
        let d = tempfile::tempdir().unwrap();
        for (body, want) in [
            (&b"{\"a\": 1}"[..], "not an array of records"),
            (b"[1, 2, 3]", "first element is not an object"),
            (b"[]", "no records"),
        ] {
            let p = write(d.path(), "x.json", body);
            let e = read(&p, &ImportOptions::default()).unwrap_err().to_string();
            assert!(e.contains(want), "{e}");
        }
        let p = write(
            d.path(),
            "ok.json",
            b"[{\"a\":1,\"b\":\"x\"},{\"a\":2,\"b\":null}]",
        );
        assert_eq!(read(&p, &ImportOptions::default()).unwrap().shape(), (2, 2));
    }

    #[test]
    fn ndjson_bad_line_is_named() {
        let d = tempfile::tempdir().unwrap();
        let p = write(d.path(), "x.ndjson", b"{\"a\":1}\n{\"a\":2}\n[3]\n");
        let e = read(&p, &ImportOptions::default()).unwrap_err().to_string();
        assert!(e.contains("line 3"), "{e}");
        let p = write(d.path(), "ok.jsonl", b"{\"a\":1}\n{\"a\":2}\n");
        assert_eq!(read(&p, &ImportOptions::default()).unwrap().height(), 2);
    }

    #[test]
    fn binary_empty_missing_and_directory_are_rejected() {
        let d = tempfile::tempdir().unwrap();
        let bin = write(d.path(), "b.csv", &[0x50, 0x4b, 0x03, 0x04, 0, 0, 0, 1, 2]);
        let e = read(&bin, &ImportOptions::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains("binary data"), "{e}");
        let empty = write(d.path(), "e.csv", b"");
        let e = read(&empty, &ImportOptions::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains("e.csv: file is empty"), "{e}");
        let e = read(&d.path().join("nope.csv"), &ImportOptions::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains("nope.csv: file not found"), "{e}");
        let e = read(d.path(), &ImportOptions::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains("is a directory"), "{e}");
    }

    #[test]
    fn the_sink_hashes_the_bytes_it_writes() {
        let d = tempfile::tempdir().unwrap();
        let n = 2 * ROW_GROUP + 17;
        let mut df = df!(
            "x" => (0..n as i64).collect::<Vec<_>>(),
            "s" => (0..n).map(|i| format!("row {i}")).collect::<Vec<_>>(),
        )
        .unwrap();
        let p = d.path().join("f.parquet");
        // Pushed in uneven batches, as the streaming engine hands them over.
        let mut sink = ParquetSink::create(&p, df.schema()).unwrap();
        for (at, len) in [(0, 1_000), (1_000, ROW_GROUP), (1_000 + ROW_GROUP, n)] {
            sink.push(&df.slice(at as i64, len)).unwrap();
        }
        let written = sink.finish().unwrap();
        let bytes = std::fs::read(&p).unwrap();
        assert_eq!(written.bytes, bytes.len() as u64);
        assert_eq!(written.blake3, blake3::hash(&bytes).to_hex().to_string());
        // The same rows written whole: the same bytes, the same hash.
        let q = d.path().join("g.parquet");
        assert_eq!(write_parquet(&mut df, &q).unwrap(), written);
    }

    #[test]
    fn parquet_and_ipc_round_trip_and_truncation_is_an_error() {
        let d = tempfile::tempdir().unwrap();
        let mut df = df!("x" => [1i64, 2, 3], "s" => ["a", "b", "c"]).unwrap();
        let p = d.path().join("f.parquet");
        write_parquet(&mut df, &p).unwrap();
        assert_eq!(read(&p, &ImportOptions::default()).unwrap(), df);
        assert_eq!(
            preview_file(&p, &ImportOptions::default(), 2)
                .unwrap()
                .height(),
            2
        );
        let bytes = std::fs::read(&p).unwrap();
        let t = write(d.path(), "t.parquet", &bytes[..bytes.len() / 2]);
        let e = read(&t, &ImportOptions::default()).unwrap_err().to_string();
        assert!(e.contains("t.parquet: not a valid Parquet file"), "{e}");

        let ipc = d.path().join("f.feather");
        let mut f = File::create(&ipc).unwrap();
        IpcWriter::new(&mut f).finish(&mut df).unwrap();
        assert_eq!(read(&ipc, &ImportOptions::default()).unwrap(), df);
    }

    #[test]
    fn preview_reads_only_the_first_rows() {
        let d = tempfile::tempdir().unwrap();
        let mut body = String::from("a,b\n");
        for i in 0..5000 {
            writeln!(body, "{i},{}", i * 2).unwrap();
        }
        let p = write(d.path(), "big.csv", body.as_bytes());
        let df = preview_file(&p, &ImportOptions::default(), 10).unwrap();
        assert_eq!(df.height(), 10);
    }

    #[test]
    fn format_detection_sniffs_content_without_extension() {
        let d = tempfile::tempdir().unwrap();
        let p = write(d.path(), "data", b"[{\"a\":1}]");
        assert_eq!(detect_format(&p).unwrap(), Format::Json);
        let p = write(d.path(), "data2", b"{\"a\":1}\n");
        assert_eq!(detect_format(&p).unwrap(), Format::Ndjson);
        let p = write(d.path(), "data3", b"a,b\n1,2\n");
        assert_eq!(detect_format(&p).unwrap(), Format::Csv);
    }
}
