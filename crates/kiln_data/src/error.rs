use std::path::PathBuf;

/// Everything that can go wrong while reading or analysing data. Messages name the file and, where it is
/// known, the line, so a user can fix the input without guessing.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error("{path}: file not found")]
    NotFound { path: PathBuf },
    #[error("{path}: is a directory, not a file")]
    IsDirectory { path: PathBuf },
    #[error("{path}: file is empty")]
    Empty { path: PathBuf },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: line {line}: {message}")]
    AtLine {
        path: PathBuf,
        line: usize,
        message: String,
    },
    #[error("{path}: {message}")]
    Malformed { path: PathBuf, message: String },
    #[error("{path}: unknown file format (use --format csv|tsv|parquet|ipc|json|ndjson)")]
    UnknownFormat { path: PathBuf },
    #[error("invalid filter: {0}")]
    Filter(String),
    #[error("unknown column `{0}`")]
    UnknownColumn(String),
    #[error("no row with id {0}")]
    UnknownRow(u64),
    #[error("{0}")]
    Invalid(String),
    #[error("cancelled")]
    Cancelled,
    #[error(transparent)]
    Polars(#[from] polars::error::PolarsError),
}

impl DataError {
    pub(crate) fn malformed(path: &std::path::Path, message: impl Into<String>) -> Self {
        Self::Malformed {
            path: path.to_path_buf(),
            message: message.into(),
        }
    }

    pub(crate) fn io(path: &std::path::Path, source: std::io::Error) -> Self {
        Self::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}
