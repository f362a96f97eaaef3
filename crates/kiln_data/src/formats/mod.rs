//! Reading every supported format into a `DataFrame`, with the user's options, and writing the canonical
//! Parquet form of a dataset version.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::sync::{Arc, Mutex};

use polars::prelude::*;
use serde::{Deserialize, Serialize};

use crate::{Cancel, DataError, Progress};

mod copy;
mod export;
mod readers;
mod sink;
mod streaming;

pub(crate) use copy::RowGroups;
pub use export::*;
use readers::{check_csv_records, check_ndjson_records, csv_options, polars_error, read_impl};
pub use sink::*;
pub use streaming::*;

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
