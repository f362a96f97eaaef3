//! What the model server needs from the workspace: which version an alias names, the expected features of
//! a model, request logs and feedback.

use kiln_store::{Feedback, ServedRequest};
use serde::{Deserialize, Serialize};

use crate::{CoreError, LoadedModel, Result, Workspace};

/// How a served feature is typed in requests.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FeatureKind {
    /// A number (JSON number, or null).
    Numeric,
    /// A category (JSON string or number, or null).
    Categorical,
    /// Encoded image bytes (not accepted over HTTP yet).
    Image,
}

/// One expected input of a served model.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServedFeature {
    pub name: String,
    pub kind: FeatureKind,
}

impl LoadedModel {
    /// The features a request must carry, in the model's order.
    pub fn features(&self) -> Vec<ServedFeature> {
        served_features(&self.spec)
    }
}

/// The features a model of this specification reads, in its order.
pub fn served_features(spec: &kiln_train::FeatureSpec) -> Vec<ServedFeature> {
    spec.columns
        .iter()
        .map(|c| match c {
            kiln_train::data::FeatureColumn::Numeric { name, .. } => ServedFeature {
                name: name.clone(),
                kind: FeatureKind::Numeric,
            },
            kiln_train::data::FeatureColumn::Categorical { name, .. } => ServedFeature {
                name: name.clone(),
                kind: FeatureKind::Categorical,
            },
            kiln_train::data::FeatureColumn::Image { name, .. } => ServedFeature {
                name: name.clone(),
                kind: FeatureKind::Image,
            },
        })
        .collect()
}

impl Workspace {
    /// The version and run an alias of a model points to (`champion`, `staging`), or a version number.
    pub fn resolve_model(&self, model: &str, alias_or_version: &str) -> Result<(i64, i64)> {
        let version = match alias_or_version.parse::<i64>() {
            Ok(v) => v,
            Err(_) => self.store.alias(model, alias_or_version)?.ok_or_else(|| {
                CoreError::Invalid(format!(
                    "`{model}` has no `{alias_or_version}` version (kiln release request …, then approve)"
                ))
            })?,
        };
        let mv = self.store.model_version(model, version)?;
        Ok((version, mv.run_id))
    }

    /// The version an alias pointed to before its current one (and its run): a server's standby.
    pub fn previous_model(&self, model: &str, alias: &str) -> Result<Option<(i64, i64)>> {
        match self.store.alias_and_previous(model, alias)? {
            Some((_, v)) => Ok(Some((v, self.store.model_version(model, v)?.run_id))),
            None => Ok(None),
        }
    }

    pub fn log_served(&mut self, rows: &[ServedRequest]) -> Result<()> {
        Ok(self.store.log_served(rows)?)
    }

    pub fn served(&self, model: &str) -> Result<Vec<ServedRequest>> {
        Ok(self.store.served(model)?)
    }

    /// Record ground truth (`label`) or a product outcome for a served prediction.
    pub fn record_feedback(
        &self,
        prediction_id: &str,
        label: Option<&str>,
        outcome: Option<f64>,
    ) -> Result<()> {
        if label.is_none() && outcome.is_none() {
            return Err(CoreError::Invalid(
                "feedback needs a `label` or an `outcome`".into(),
            ));
        }
        if outcome.is_some_and(|o| !o.is_finite()) {
            return Err(CoreError::Invalid(
                "`outcome` must be a finite number".into(),
            ));
        }
        if self.store.served_prediction(prediction_id)?.is_none() {
            return Err(CoreError::Invalid(format!(
                "no served prediction `{prediction_id}`"
            )));
        }
        Ok(self.store.record_feedback(&Feedback {
            prediction_id: prediction_id.to_owned(),
            at: now(),
            label: label.map(str::to_owned),
            outcome,
        })?)
    }

    /// The logged request that made a prediction.
    pub fn served_prediction(&self, prediction_id: &str) -> Result<Option<ServedRequest>> {
        Ok(self.store.served_prediction(prediction_id)?)
    }

    pub fn feedback(&self) -> Result<Vec<Feedback>> {
        Ok(self.store.feedback()?)
    }
}

/// Now as ISO-8601 UTC with milliseconds (as the database writes times).
pub fn now() -> String {
    iso(chrono::Utc::now())
}

/// `seconds` ago, in the same form as [`now`] (times in that form sort as text).
pub fn ago(seconds: i64) -> String {
    iso(chrono::Utc::now() - chrono::TimeDelta::seconds(seconds))
}

fn iso(t: chrono::DateTime<chrono::Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

#[cfg(test)]
mod tests {
    #[test]
    fn now_is_iso_utc() {
        let t = super::now();
        assert_eq!(t.len(), 24, "{t}");
        assert!(
            t.starts_with("20") && t.ends_with('Z') && &t[10..11] == "T",
            "{t}"
        );
    }
}
