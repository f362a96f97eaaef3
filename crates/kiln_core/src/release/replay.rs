//! Replay: the inputs a model's champion answered in production, run through a candidate version and
//! the champion side by side — how often they agree, which classes flip, and, on requests whose label
//! came back as feedback, which of the two was right.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use crate::{CoreError, Result, Workspace};

/// A request the two versions answer differently.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Disagreement {
    pub prediction_id: Option<String>,
    pub at: String,
    pub champion: String,
    pub candidate: String,
    /// The label that came back for it, when one did.
    pub label: Option<String>,
    /// The request's features as text, `(name, value)`: what *Try it* opens.
    #[serde(default)]
    pub features: Vec<(String, String)>,
}

/// Disagreements a release request keeps (the counts cover all of them).
pub const KEPT_DISAGREEMENTS: usize = 200;

/// Logged requests a release request replays at most (the most recent).
pub const REQUEST_REPLAY_LIMIT: usize = 100_000;

/// What a replay found.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Replay {
    pub model: String,
    pub candidate_version: i64,
    pub champion_version: i64,
    /// Requests replayed (answered by the champion with their features logged).
    pub requests: usize,
    /// When the first and last of them were served.
    pub first_at: String,
    pub last_at: String,
    pub agreed: usize,
    /// `agreed / requests`.
    pub agreement: f64,
    /// How often each (champion class, candidate class) pair occurred, the agreeing pairs included.
    pub flips: Vec<(String, String, usize)>,
    /// The requests they disagree on, oldest first.
    pub disagreements: Vec<Disagreement>,
    /// Requests with a label from feedback, and how many of them each version got right.
    pub labelled: usize,
    pub champion_right: usize,
    pub candidate_right: usize,
    /// Disagreements with a label, and how many of them the candidate got right.
    pub labelled_disagreements: usize,
    pub candidate_right_on_disagreements: usize,
    /// Prediction time per row of each version, in milliseconds.
    pub candidate_ms_per_row: f64,
    pub champion_ms_per_row: f64,
}

impl Replay {
    /// The replay as a release request keeps it: the first disagreements only.
    #[must_use]
    pub fn for_request(mut self) -> Self {
        self.disagreements.truncate(KEPT_DISAGREEMENTS);
        self
    }

    /// The replay in one sentence, for the release request.
    pub fn sentence(&self) -> String {
        let day = self.first_at.get(..10).unwrap_or(&self.first_at);
        let mut s = format!(
            "On {} requests served since {day}, the candidate (v{}) agrees with the champion (v{}) on {:.1} %",
            crate::release::heldout::count(self.requests),
            self.candidate_version,
            self.champion_version,
            100.0 * self.agreement
        );
        if self.labelled_disagreements > 0 {
            let _ = write!(
                s,
                "; where they disagree and a label came back ({}), the candidate was right {:.0} % of the time",
                self.labelled_disagreements,
                100.0 * self.candidate_right_on_disagreements as f64
                    / self.labelled_disagreements as f64
            );
        } else if self.requests > self.agreed {
            s.push_str("; no label came back for a request they disagree on");
        }
        s.push('.');
        s
    }
}

impl Workspace {
    /// Replay the requests `model`'s champion answered (with features logged; served since `since`, the
    /// `limit` most recent) through version `candidate` and the champion.
    pub fn replay(
        &self,
        model: &str,
        candidate: i64,
        since: Option<&str>,
        limit: Option<usize>,
    ) -> Result<Replay> {
        let champion_version = self
            .store
            .alias(model, "champion")?
            .ok_or_else(|| CoreError::Invalid(format!("`{model}` has no champion to replay")))?;
        let champion =
            self.load_model(self.store.model_version(model, champion_version)?.run_id)?;
        let cand = self.load_model(self.store.model_version(model, candidate)?.run_id)?;
        // The champion's requests carry its features: the candidate may read no other.
        let (logged, wanted) = (feature_names(&champion.spec), feature_names(&cand.spec));
        let missing: Vec<String> = wanted
            .iter()
            .filter(|f| !logged.contains(f))
            .map(|f| format!("`{f}`"))
            .collect();
        if !missing.is_empty() {
            return Err(CoreError::Invalid(format!(
                "v{candidate} reads features the champion (v{champion_version}) is not sent: {}; its answers to the champion's requests cannot be compared",
                missing.join(", ")
            )));
        }
        let mut served: Vec<kiln_store::ServedRequest> = self
            .served(model)?
            .into_iter()
            .filter(|r| {
                r.status == 200
                    && r.version == Some(champion_version)
                    && since.is_none_or(|t| r.at.as_str() >= t)
                    && r.features.is_some()
            })
            .collect();
        if let Some(n) = limit {
            let skip = served.len().saturating_sub(n);
            served.drain(..skip);
        }
        let logged = crate::logged_inputs::frame(served.iter().map(|r| r.features.as_deref()));
        let (frame, kept) = logged.ok_or_else(|| {
            CoreError::Invalid(format!(
                "the champion of {model} (v{champion_version}) has no logged requests{} to replay (serve it with features logged: kiln serve --log-every 1)",
                since.map(|t| format!(" since {t}")).unwrap_or_default()
            ))
        })??;
        // The requests whose features were an object, in step with the frame's rows.
        let served: Vec<kiln_store::ServedRequest> =
            kept.into_iter().map(|i| served[i].clone()).collect();
        let timed = |m: &crate::LoadedModel| -> Result<(Vec<String>, f64)> {
            let t = std::time::Instant::now();
            let p = m.predict(&frame)?;
            Ok((
                p,
                t.elapsed().as_secs_f64() * 1e3 / frame.height().max(1) as f64,
            ))
        };
        let (by_champion, champion_ms) = timed(&champion)?;
        let (by_candidate, candidate_ms) = timed(&cand)?;
        let labels: HashMap<String, String> = self
            .store
            .feedback()?
            .into_iter()
            .filter_map(|f| Some((f.prediction_id, f.label?)))
            .collect();
        let mut pairs: BTreeMap<(String, String), usize> = BTreeMap::new();
        let mut disagreements = Vec::new();
        let (mut labelled, mut champion_right, mut candidate_right) = (0, 0, 0);
        let (mut labelled_disagreements, mut candidate_right_on_disagreements) = (0, 0);
        for (i, ((r, a), b)) in served
            .iter()
            .zip(&by_champion)
            .zip(&by_candidate)
            .enumerate()
        {
            *pairs.entry((a.clone(), b.clone())).or_default() += 1;
            let label = r.prediction_id.as_ref().and_then(|id| labels.get(id));
            if let Some(l) = label {
                labelled += 1;
                champion_right += usize::from(a == l);
                candidate_right += usize::from(b == l);
            }
            if a != b {
                if let Some(l) = label {
                    labelled_disagreements += 1;
                    candidate_right_on_disagreements += usize::from(b == l);
                }
                disagreements.push(Disagreement {
                    prediction_id: r.prediction_id.clone(),
                    at: r.at.clone(),
                    champion: a.clone(),
                    candidate: b.clone(),
                    label: label.cloned(),
                    features: cells(&frame, i),
                });
            }
        }
        let requests = served.len();
        let agreed = requests - disagreements.len();
        Ok(Replay {
            model: model.to_owned(),
            candidate_version: candidate,
            champion_version,
            requests,
            first_at: served.first().map(|r| r.at.clone()).unwrap_or_default(),
            last_at: served.last().map(|r| r.at.clone()).unwrap_or_default(),
            agreed,
            agreement: agreed as f64 / requests.max(1) as f64,
            flips: pairs.into_iter().map(|((a, b), n)| (a, b, n)).collect(),
            disagreements,
            labelled,
            champion_right,
            candidate_right,
            labelled_disagreements,
            candidate_right_on_disagreements,
            candidate_ms_per_row: candidate_ms,
            champion_ms_per_row: champion_ms,
        })
    }
}

/// Row `i` of `frame` as `(column, text)` cells.
fn cells(frame: &kiln_data::polars::prelude::DataFrame, i: usize) -> Vec<(String, String)> {
    frame
        .columns()
        .iter()
        .map(|c| (c.name().to_string(), kiln_data::cell_text(c, i)))
        .collect()
}

/// The input columns a model reads.
fn feature_names(spec: &kiln_train::FeatureSpec) -> Vec<&str> {
    use kiln_train::data::FeatureColumn;
    spec.columns
        .iter()
        .map(|c| match c {
            FeatureColumn::Numeric { name, .. }
            | FeatureColumn::Categorical { name, .. }
            | FeatureColumn::Image { name, .. } => name.as_str(),
        })
        .collect()
}
