//! The one Parquet writer of every object (row groups of exactly 64Ki rows, LZ4, statistics), hashing
//! the bytes with blake3 on their way to the file.

// A part of its parent module: it shares the parent's imports and private items.
#[allow(clippy::wildcard_imports)]
use super::*;
use std::io::Write as _;

/// Rows per row group of every Parquet object Kiln writes. The layout depends on nothing else — not on
/// how the rows arrive — so a table gets the same bytes, and the same content hash, whether it was
/// written from memory or streamed in batches.
pub const ROW_GROUP: usize = 64 * 1024;

/// Kiln's one Parquet writer (LZ4 pages: fast to write and to read back): frames of any size go in,
/// row groups of exactly [`ROW_GROUP`] rows (the last one shorter) come out as they fill. The bytes are
/// hashed (blake3) on their way to the file, so the content hash needs no second read.
pub struct ParquetSink {
    writer: polars::io::parquet::write::BatchedWriter<HashingFile>,
    /// The bytes on their way to the file, to flush and hash once the footer is written.
    outgoing: Arc<Mutex<Outgoing>>,
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

/// The file a [`ParquetSink`] writes, through a buffer: the writer hands over a page header, a page, a
/// few bytes of metadata at a time, and a system call each would cost seconds a GiB. Every byte is
/// hashed on its way out.
struct Outgoing {
    file: File,
    buffer: Vec<u8>,
    hasher: blake3::Hasher,
}

/// Bytes kept before they are hashed and written.
const OUTGOING: usize = 4 << 20;

impl Outgoing {
    fn drain(&mut self) -> std::io::Result<()> {
        self.hasher.update(&self.buffer);
        self.file.write_all(&self.buffer)?;
        self.buffer.clear();
        Ok(())
    }
}

/// The writer's end of [`Outgoing`].
pub(super) struct HashingFile(Arc<Mutex<Outgoing>>);

impl std::io::Write for HashingFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let mut out = self
            .0
            .lock()
            .map_err(|_| std::io::Error::other("the output's lock is poisoned"))?;
        out.buffer.extend_from_slice(buf);
        if out.buffer.len() >= OUTGOING {
            out.drain()?;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        let mut out = self
            .0
            .lock()
            .map_err(|_| std::io::Error::other("the output's lock is poisoned"))?;
        out.drain()?;
        out.file.flush()
    }
}

impl ParquetSink {
    pub fn create(out: &Path, schema: &Schema) -> Result<Self, DataError> {
        let file = File::create(out).map_err(|e| DataError::io(out, e))?;
        let outgoing = Arc::new(Mutex::new(Outgoing {
            file,
            buffer: Vec::with_capacity(OUTGOING + (1 << 20)),
            hasher: blake3::Hasher::new(),
        }));
        let writer = ParquetWriter::new(HashingFile(outgoing.clone()))
            .with_compression(ParquetCompression::Lz4Raw)
            .with_statistics(StatisticsOptions::default())
            .batched(schema)?;
        Ok(Self {
            writer,
            outgoing,
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

    /// The file being written.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The Parquet columns this writer writes.
    pub(super) fn parquet_columns(
        &mut self,
    ) -> &[polars_parquet::parquet::metadata::ColumnDescriptor] {
        self.writer.parquet_schema().columns()
    }

    /// Write a row group of `rows` rows already encoded (a column's pages each), as another object
    /// written by this writer holds it; only while no rows are pending, so the groups stay whole.
    pub(super) fn push_encoded(
        &mut self,
        rows: usize,
        columns: &[Vec<polars_parquet::parquet::page::CompressedPage>],
    ) -> Result<(), DataError> {
        if self.pending.is_some() {
            return Err(DataError::Invalid(
                "an encoded row group cannot follow a partial one".into(),
            ));
        }
        self.writer.write_row_group(rows as u64, columns)?;
        self.rows += rows;
        Ok(())
    }

    /// Write the last rows and the footer, flush to disk; the file's size and hash.
    pub fn finish(mut self) -> Result<Written, DataError> {
        if let Some(mut rest) = self.pending.take().filter(|p| p.height() > 0) {
            rest.rechunk_mut();
            self.writer.write_batch(&rest)?;
        }
        let bytes = self.writer.finish()?;
        let mut out = self
            .outgoing
            .lock()
            .map_err(|_| DataError::Invalid("the output's lock is poisoned".into()))?;
        out.drain().map_err(|e| DataError::io(&self.path, e))?;
        out.file
            .sync_all()
            .map_err(|e| DataError::io(&self.path, e))?;
        let blake3 = out.hasher.finalize().to_hex().to_string();
        Ok(Written { bytes, blake3 })
    }
}

/// Write `df` as Parquet to `out` with [`ParquetSink`] and flush it to disk; its size and hash.
pub fn write_parquet(df: &mut DataFrame, out: &Path) -> Result<Written, DataError> {
    let mut sink = ParquetSink::create(out, df.schema())?;
    sink.push(df)?;
    sink.finish()
}
