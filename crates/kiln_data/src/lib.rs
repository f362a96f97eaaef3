//! `kiln_data` owns every computation on tabular data: reading the supported file formats into polars
//! `DataFrame`s (with the user's import options), fast previews, writing the canonical Parquet form of a
//! dataset version, column statistics, histograms, value counts, sorting, filtering and decimation for plots.
//!
//! It knows nothing about workspaces, databases or user interfaces: it must not depend on `kiln_store`,
//! `kiln_core`, egui or eframe. Functions take a [`Cancel`] token and a [`Progress`] sink where the work is
//! long, so callers can run them on worker threads and stop them.

mod error;
mod formats;
mod paged;
mod plots;
mod progress;
mod stats;
mod table;
mod versioning;

pub use error::DataError;
pub use formats::{
    Format, ImportOptions, ParquetSink, ROW_GROUP, Streamed, Written, default_memory_budget,
    export_file, preview_file, read_file, read_parquet, read_parquet_columns, stream_to_parquet,
    streams, validate_source, write_parquet,
};
pub use paged::{
    ByteSource, PagedFrame, SCATTER_SAMPLE, STATS_SAMPLE, TableData, append_rows, concat_parquet,
    counts_by_value, derive_sql, filter_to_parquet, position_of_row_id, scan_with_ids,
    set_labels_to_parquet, split_to_parquet,
};
pub use plots::{Histogram, ScatterSeries, ValueCount, histogram, scatter, value_counts};
pub use polars;
pub use progress::{Cancel, Progress};
pub use stats::{ColumnStats, column_stats};
pub use table::{
    ColumnInfo, apply_filter, cell, cell_text, filter_example, is_numeric, schema_of, sort_by,
};
pub use versioning::{
    DiffSummary, LabelChange, ROW_ID, SPLIT_NAMES, diff, diff_lazy, nested_subset, row_ids,
    set_labels, split, with_row_ids, without_row_ids,
};
