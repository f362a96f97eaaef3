//! Checked readers: polars reads CSV, JSON and NDJSON while a second pass checks every record (field
//! count, UTF-8) and names the first bad line.

// A part of its parent module: it shares the parent's imports and private items.
#[allow(clippy::wildcard_imports)]
use super::*;

pub(super) fn read_impl(
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

pub(super) fn polars_error(path: &Path, what: &str, e: &PolarsError) -> DataError {
    DataError::malformed(path, format!("not a valid {what} file: {e}"))
}

pub(super) fn csv_options(
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

pub(super) fn read_csv(
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
pub(super) struct RecordWalk {
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
pub(super) fn check_csv_records(
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

pub(super) fn read_json(path: &Path, limit: Option<usize>) -> Result<DataFrame, DataError> {
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

pub(super) fn read_ndjson(path: &Path, limit: Option<usize>) -> Result<DataFrame, DataError> {
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

pub(super) fn locate_ndjson_error(path: &Path, bytes: &[u8]) -> Option<DataError> {
    bytes
        .split(|b| *b == b'\n')
        .enumerate()
        .find_map(|(i, line)| ndjson_record_error(path, i + 1, line))
}

/// Why one NDJSON line is not a record (`None` for a record or a blank line).
pub(super) fn ndjson_record_error(path: &Path, line_no: usize, line: &[u8]) -> Option<DataError> {
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
pub(super) fn check_ndjson_records(path: &Path) -> Result<(), DataError> {
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
