//! Batch predictions with a trained model.

use burn::module::Module;
use burn::tensor::Device;
use polars::prelude::*;

use crate::TrainError;
use crate::data::FeatureSpec;
use crate::model::{Net, NetConfig};

/// Load weights saved by [`crate::training::save`] into a model of `config`.
pub fn load(
    config: &NetConfig,
    path: &std::path::Path,
    device: &Device,
) -> Result<Net, TrainError> {
    config
        .init(device)
        .try_load_file(path)
        .map_err(|e| TrainError::Record(e.to_string()))
}

/// The predicted class of every row of `df` (features encoded with `spec`).
pub fn predict(
    model: &Net,
    spec: &FeatureSpec,
    df: &DataFrame,
    device: &Device,
) -> Result<Vec<String>, TrainError> {
    let data = spec.transform(df, false)?;
    let mut out = Vec::with_capacity(data.rows);
    let idx: Vec<usize> = (0..data.rows).collect();
    for chunk in idx.chunks(1024) {
        let (x, _) = data.gather(chunk);
        let xs = burn::tensor::Tensor::<2>::from_data(
            burn::tensor::TensorData::new(x, [chunk.len(), data.width]),
            device,
        );
        for p in model.forward(xs).argmax(1).into_data().iter::<i64>() {
            out.push(
                spec.classes
                    .get(usize::try_from(p).unwrap_or(0))
                    .cloned()
                    .unwrap_or_default(),
            );
        }
    }
    Ok(out)
}

/// Class probabilities (softmax of the outputs) for every row of `df`: one vector per row, in the order
/// of `spec.classes`.
pub fn predict_proba(
    model: &Net,
    spec: &FeatureSpec,
    df: &DataFrame,
    device: &Device,
) -> Result<Vec<Vec<f64>>, TrainError> {
    let data = spec.transform(df, false)?;
    let mut out = Vec::with_capacity(data.rows);
    let idx: Vec<usize> = (0..data.rows).collect();
    let k = spec.classes.len();
    for chunk in idx.chunks(1024) {
        let (x, _) = data.gather(chunk);
        let xs = burn::tensor::Tensor::<2>::from_data(
            burn::tensor::TensorData::new(x, [chunk.len(), data.width]),
            device,
        );
        let p: Vec<f32> = burn::tensor::activation::softmax(model.forward(xs), 1)
            .into_data()
            .iter::<f32>()
            .collect();
        for row in p.chunks(k.max(1)) {
            out.push(row.iter().map(|v| f64::from(*v)).collect());
        }
    }
    Ok(out)
}
