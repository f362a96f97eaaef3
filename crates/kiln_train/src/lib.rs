//! `kiln_train` owns model training with burn: the model templates (`model.rs`), turning polars columns
//! into tensors (`data.rs`), the training loop (`training.rs`), evaluation metrics (`metrics.rs`),
//! inference (`inference.rs`) and the choice of device (`device.rs`).
//!
//! It must not depend on the workspace database, `kiln_core` or any UI: it takes frames and parameters,
//! reports progress through a callback, honours a cancel flag and returns the trained model and metrics.

pub mod data;
pub mod device;
pub mod inference;
pub mod metrics;
pub mod model;
pub mod training;

pub use data::{
    FeatureColumn, FeatureSpec, Prepared, RESERVED_COLUMNS, Rows, epoch_rng, sorted_unique,
};
pub use device::{DeviceChoice, TrainDevice, pick_device};
pub use metrics::{ClassMetrics, Evaluation};
pub use model::{Cnn, CnnConfig, Mlp, MlpConfig, ModelKind, Net, NetConfig};
pub use training::{
    Checkpoints, Event, LoopState, Optimizer, Schedule, Splits, TrainOutcome, TrainParams, train,
};

/// Errors of training and inference.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    #[error("target column `{0}` not found")]
    NoTarget(String),
    #[error("feature column `{0}` not found")]
    NoFeature(String),
    #[error("column `{column}` has type {dtype}, which cannot be a feature")]
    BadFeature { column: String, dtype: String },
    #[error("{0}")]
    Invalid(String),
    #[error("the wgpu device is not available: {0}")]
    NoGpu(String),
    #[error("cancelled")]
    Cancelled,
    #[error("could not save or load the model: {0}")]
    Record(String),
    #[error(transparent)]
    Polars(#[from] polars::error::PolarsError),
}
