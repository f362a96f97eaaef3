//! Predictions of a recorded run's model: the weights are checked against the blake3 recorded with the run
//! before they are loaded, so a damaged or swapped object is an error, never a silently different model.

use kiln_data::polars::prelude::DataFrame;
use kiln_train::DeviceChoice;

use crate::{CoreError, ObjectStore, Result, Workspace};

/// A run's model, loaded and ready to predict.
pub struct LoadedModel {
    pub run_id: i64,
    pub(crate) spec: kiln_train::FeatureSpec,
    net: kiln_train::model::Net,
    device: kiln_train::TrainDevice,
}

/// The most probable class of one row's probabilities (the last of equals, as `Iterator::max_by`
/// gives); 0 for an empty row.
pub fn best_class(p: &[f64]) -> usize {
    (0..p.len())
        .max_by(|a, b| p[*a].total_cmp(&p[*b]))
        .unwrap_or(0)
}

impl std::fmt::Debug for LoadedModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedModel")
            .field("run_id", &self.run_id)
            .field("device", &self.device.name)
            .finish_non_exhaustive()
    }
}

impl LoadedModel {
    /// A model from its parts: feature specification, network configuration and weights file (checked
    /// by the caller), on the CPU.
    pub(crate) fn from_parts(
        run_id: i64,
        spec: kiln_train::FeatureSpec,
        config: &kiln_train::NetConfig,
        weights: &std::path::Path,
    ) -> Result<Self> {
        let device = kiln_train::pick_device(DeviceChoice::Cpu)?;
        let net = kiln_train::inference::load(config, weights, &device.device)?;
        Ok(LoadedModel {
            run_id,
            spec,
            net,
            device,
        })
    }

    /// The classes the model predicts, in the order of its probabilities.
    pub fn classes(&self) -> &[String] {
        &self.spec.classes
    }

    /// The column the model predicts.
    pub fn target(&self) -> &str {
        &self.spec.target
    }

    /// Class probabilities of every row of `df`, in the order of [`LoadedModel::classes`].
    pub fn predict_proba(&self, df: &DataFrame) -> Result<Vec<Vec<f64>>> {
        Ok(kiln_train::inference::predict_proba(
            &self.net,
            &self.spec,
            df,
            &self.device.device,
        )?)
    }

    /// The predicted class of every row of `df` (which must hold the run's feature columns).
    pub fn predict(&self, df: &DataFrame) -> Result<Vec<String>> {
        Ok(kiln_train::inference::predict(
            &self.net,
            &self.spec,
            df,
            &self.device.device,
        )?)
    }
}

/// A run's network configuration as recorded, its template named (runs recorded before the CNN
/// template existed were all MLPs).
pub(crate) fn model_config(run: &kiln_store::Run) -> serde_json::Value {
    let mut c = run.artifacts["model_config"].clone();
    if c.get("kind").is_none() {
        c["kind"] = serde_json::json!("mlp");
    }
    c
}

impl Workspace {
    /// Load run `run_id`'s model on the CPU after checking its weights' blake3 against the run's record.
    pub fn load_model(&self, run_id: i64) -> Result<LoadedModel> {
        let r = self.store.run(run_id)?;
        let Some(weights) = r.artifacts["weights"].as_str() else {
            return Err(CoreError::NoModel {
                run: r.id,
                status: r.status,
            });
        };
        let spec: kiln_train::FeatureSpec =
            serde_json::from_value(r.artifacts["feature_spec"].clone()).map_err(|e| {
                CoreError::BadRecord {
                    run: run_id,
                    message: format!("feature spec: {e}"),
                }
            })?;
        let config: kiln_train::NetConfig =
            serde_json::from_value(model_config(&r)).map_err(|e| CoreError::BadRecord {
                run: run_id,
                message: format!("model configuration: {e}"),
            })?;
        let path = self.objects.absolute(weights);
        let expected = r.artifacts["weights_hash"].as_str().unwrap_or_default();
        let found = ObjectStore::hash_file(&path)?;
        if found != expected {
            return Err(CoreError::WeightsMismatch {
                run: run_id,
                path,
                expected: expected.to_owned(),
                found,
            });
        }
        LoadedModel::from_parts(run_id, spec, &config, &path)
    }

    /// Predict the class of every row of `df` with run `run_id`'s model (see [`Workspace::load_model`]).
    pub fn predict(&self, run_id: i64, df: &DataFrame) -> Result<Vec<String>> {
        self.load_model(run_id)?.predict(df)
    }
}
