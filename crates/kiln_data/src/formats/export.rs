//! Export of a frame to any format (via a temp file renamed into place) and reading Kiln's Parquet objects.

// A part of its parent module: it shares the parent's imports and private items.
#[allow(clippy::wildcard_imports)]
use super::*;

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
