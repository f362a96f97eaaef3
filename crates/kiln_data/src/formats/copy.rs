//! Copying the full row groups of a Kiln object into a new one as they are (their encoded pages), so a
//! version that only adds rows at its end costs the new rows, not a re-encoding of the old ones.

use std::io::{Cursor, Read, Seek, SeekFrom};

use polars_buffer::Buffer;
use polars_parquet::parquet::metadata::FileMetadata;
use polars_parquet::parquet::page::CompressedPage;
use polars_parquet::parquet::read::{PageMetaData, PageReader, read_metadata};

// A part of its parent module: it shares the parent's imports and private items.
#[allow(clippy::wildcard_imports)]
use super::*;

/// The row groups of a Parquet object, to copy into a [`ParquetSink`].
pub(crate) struct RowGroups {
    file: File,
    meta: FileMetadata,
    path: std::path::PathBuf,
}

impl RowGroups {
    pub fn open(path: &Path) -> Result<Self, DataError> {
        let mut file = File::open(path).map_err(|e| DataError::io(path, e))?;
        let meta =
            read_metadata(&mut file).map_err(|e| DataError::malformed(path, e.to_string()))?;
        Ok(Self {
            file,
            meta,
            path: path.to_path_buf(),
        })
    }

    /// How many of the first row groups hold exactly [`ROW_GROUP`] flat rows each: the groups Kiln's
    /// writer gives the same rows, so copying them is writing them.
    pub fn full(&self) -> usize {
        let flat = self
            .meta
            .schema()
            .columns()
            .iter()
            .all(|c| c.descriptor.max_rep_level == 0);
        if !flat {
            return 0;
        }
        self.meta
            .row_groups
            .iter()
            .take_while(|g| g.num_rows() == ROW_GROUP)
            .count()
    }

    /// How many of the first row groups can be copied into `sink`: the [`Self::full`] ones when the sink
    /// writes the object's columns, else none.
    pub fn copyable(&self, sink: &mut ParquetSink) -> usize {
        if sink.parquet_columns() == self.meta.schema().columns() {
            self.full()
        } else {
            0
        }
    }

    /// Copy the first `groups` row groups into `sink` (at most [`Self::copyable`], before any row).
    pub fn copy_into(
        &mut self,
        groups: usize,
        sink: &mut ParquetSink,
        cancel: &Cancel,
    ) -> Result<(), DataError> {
        if groups == 0 {
            return Ok(());
        }
        if sink.rows() > 0 || groups > self.copyable(sink) {
            return Err(DataError::Invalid(format!(
                "the row groups of {} cannot be copied into this version",
                self.path.display()
            )));
        }
        let malformed = |e: polars_parquet::parquet::error::ParquetError| {
            DataError::malformed(&self.path, e.to_string())
        };
        for group in &self.meta.row_groups[..groups] {
            cancel.check()?;
            let mut columns = Vec::with_capacity(group.n_columns());
            for column in group.parquet_columns() {
                let range = column.byte_range();
                let mut bytes = vec![0; (range.end - range.start) as usize];
                self.file
                    .seek(SeekFrom::Start(range.start))
                    .and_then(|_| self.file.read_exact(&mut bytes))
                    .map_err(|e| DataError::io(&self.path, e))?;
                let reader = PageReader::new_with_page_meta(
                    Cursor::new(Buffer::from(bytes)),
                    PageMetaData::new(
                        0,
                        column.num_values(),
                        column.compression(),
                        column.descriptor().descriptor.clone(),
                    ),
                    Vec::new(),
                    usize::MAX,
                );
                let mut pages = Vec::new();
                for page in reader {
                    let mut page = page.map_err(malformed)?;
                    // A flat column has a row per value; the writer needs the count, which a read
                    // page does not carry.
                    if let CompressedPage::Data(data) = &mut page {
                        data.num_rows = Some(data.num_values());
                    }
                    pages.push(page);
                }
                columns.push(pages);
            }
            sink.push_encoded(group.num_rows(), &columns)?;
        }
        Ok(())
    }
}
