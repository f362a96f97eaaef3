//! The product side's half: per model name a product brief (problem, owner, product metric, success
//! targets, the fixed evaluation data), registered versions with stages, POC verdicts and comments,
//! aliases (`staging`, and `champion` that moves only through an approved release request or a
//! rollback), release requests with their gates, statistics and change record, the approval rules
//! (four eyes, roles, admin override with a reason), continuous retraining, and the hash-chained audit
//! log with its verification.

pub mod capacity;
pub mod environments;
pub mod heldout;
pub mod replay;
pub mod stats;
pub mod try_it;

use std::collections::BTreeMap;
use std::time::Instant;

use kiln_data::polars::prelude::*;
use kiln_store::{CHAMPION, ModelVersion, ReleaseRequest};
use serde::{Deserialize, Serialize};

pub use capacity::{Capacity, CapacityStep};
pub use environments::{EnvSettings, Environment, PathStep};
pub use heldout::{EvaluationCandidates, EvaluationRows, HeldOut, SeenRows};
pub use kiln_store::{AuditRow, User as UserRecord};
pub use replay::{Disagreement, Replay};
pub use stats::{PairedComparison, mcnemar_exact};
pub use try_it::{Drawing, TryInput, TryResult};

use crate::{CoreError, Result, Workspace};

/// Bootstrap resamples and seed of every release comparison (fixed, so a report can be reproduced).
pub const RESAMPLES: usize = 10_000;
pub const BOOTSTRAP_SEED: u64 = 20_261_126;

fn invalid(message: impl Into<String>) -> CoreError {
    CoreError::Invalid(message.into())
}

/// The feature columns a run reads, by name, as it recorded them.
fn feature_names(run: &kiln_store::Run) -> Vec<String> {
    run.features
        .as_array()
        .map(|c| {
            c.iter()
                .filter_map(|f| f["name"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// What a workspace user may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    /// Trains, registers and requests releases.
    DataScientist,
    /// Also approves or rejects others' requests and rolls back.
    Approver,
    /// Also overrides a failed gate (with a written reason) and manages users.
    Admin,
}

impl Role {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "data-scientist" => Some(Self::DataScientist),
            "approver" => Some(Self::Approver),
            "admin" => Some(Self::Admin),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::DataScientist => "data-scientist",
            Self::Approver => "approver",
            Self::Admin => "admin",
        }
    }

    fn approves(self) -> bool {
        matches!(self, Self::Approver | Self::Admin)
    }
}

/// The gate metric judged on the champion's replayed production traffic: the share answered alike.
pub const REPLAY_AGREEMENT: &str = "replay_agreement";

/// Stages of a registered version (aliases say where it is deployed).
pub const STAGES: [&str; 3] = ["poc", "candidate", "archived"];

/// `>=` or `<=`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Op {
    AtLeast,
    AtMost,
}

/// A success metric with its target: `accuracy>=0.95`, `recall:Gentoo>=0.9`, `latency_p99_ms<=20`, or a
/// serving requirement judged on a capacity run: `throughput_rps>=500`, `p99_ms<=50`, `memory_mb<=300`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Target {
    pub metric: String,
    pub op: Op,
    pub value: f64,
}

impl Target {
    pub fn parse(text: &str) -> Result<Self> {
        let (metric, op, value) = if let Some((m, v)) = text.split_once(">=") {
            (m, Op::AtLeast, v)
        } else if let Some((m, v)) = text.split_once("<=") {
            (m, Op::AtMost, v)
        } else {
            return Err(invalid(format!(
                "invalid target `{text}`: write METRIC>=VALUE or METRIC<=VALUE, e.g. accuracy>=0.95, recall:Gentoo>=0.9, latency_p99_ms<=20, throughput_rps>=500"
            )));
        };
        let metric = metric.trim().to_owned();
        let value: f64 = value
            .trim()
            .parse()
            .ok()
            .filter(|v: &f64| v.is_finite())
            .ok_or_else(|| {
                invalid(format!(
                    "invalid target `{text}`: `{}` is not a number",
                    value.trim()
                ))
            })?;
        let base = metric.split(':').next().unwrap_or_default();
        let known = ["accuracy", "latency_p50_ms", "latency_p99_ms"].contains(&metric.as_str())
            || capacity::SERVING_METRICS.contains(&metric.as_str())
            || metric == REPLAY_AGREEMENT
            || (["recall", "precision", "f1"].contains(&base) && metric.contains(':'));
        if !known {
            return Err(invalid(format!(
                "invalid target `{text}`: the metric is accuracy, recall:CLASS, precision:CLASS, f1:CLASS, \
                 latency_p50_ms or latency_p99_ms (one row in-process), a serving requirement: \
                 throughput_rps, p50_ms, p99_ms, p999_ms or memory_mb, or replay_agreement (the share of \
                 the champion's logged requests the candidate answers alike)"
            )));
        }
        if capacity::SERVING_METRICS.contains(&metric.as_str()) && value <= 0.0 {
            return Err(invalid(format!(
                "invalid target `{text}`: a serving requirement is a positive number"
            )));
        }
        Ok(Self { metric, op, value })
    }

    pub fn text(&self) -> String {
        format!(
            "{} {} {}",
            self.metric,
            match self.op {
                Op::AtLeast => "≥",
                Op::AtMost => "≤",
            },
            self.value
        )
    }

    fn holds(&self, v: f64) -> bool {
        match self.op {
            Op::AtLeast => v >= self.value,
            Op::AtMost => v <= self.value,
        }
    }
}

/// The product brief of a model name; its targets are the default quality gates.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Brief {
    pub problem: String,
    pub owner: String,
    /// The product metric the model should move (e.g. "share of tickets routed without a human").
    pub product_metric: String,
    pub targets: Vec<Target>,
    /// `NAME@VERSION` every candidate and the champion are evaluated on (the same rows).
    pub eval_dataset: Option<String>,
    /// Least accuracy gain over the champion, in accuracy (0.01 = one point); `None`: no such gate.
    pub min_gain: Option<f64>,
    /// Least relative accuracy gain over the champion (0.02 = 2 %).
    pub min_rel_gain: Option<f64>,
}

/// One class's scores on the evaluation rows.
pub use kiln_train::ClassMetrics;

/// A model version run on the evaluation rows.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Evaluation {
    pub run_id: i64,
    pub rows: usize,
    pub accuracy: f64,
    pub per_class: Vec<ClassMetrics>,
    /// Milliseconds to predict one row in-process (rows predicted one at a time).
    pub latency_p50_ms: f64,
    pub latency_p99_ms: f64,
    /// Row by row, whether it was right (for the paired statistics).
    #[serde(skip)]
    pub correct: Vec<bool>,
}

impl Evaluation {
    pub fn metric(&self, name: &str) -> Option<f64> {
        match name {
            "accuracy" => Some(self.accuracy),
            "latency_p50_ms" => Some(self.latency_p50_ms),
            "latency_p99_ms" => Some(self.latency_p99_ms),
            _ => {
                let (kind, class) = name.split_once(':')?;
                let c = self.per_class.iter().find(|c| c.class == class)?;
                match kind {
                    "recall" => Some(c.recall),
                    "precision" => Some(c.precision),
                    "f1" => Some(c.f1),
                    _ => None,
                }
            }
        }
    }
}

/// One gate's outcome.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GateResult {
    pub gate: String,
    pub value: Option<f64>,
    pub passed: bool,
}

/// What differs from the champion.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChangeRecord {
    /// `(parameter, champion, candidate)` for the parameters that differ.
    pub params: Vec<(String, Option<String>, Option<String>)>,
    /// `(metric, champion, candidate)` on the evaluation rows.
    pub metrics: Vec<(String, f64, f64)>,
    /// `(class, champion recall, candidate recall)`.
    pub per_class_recall: Vec<(String, f64, f64)>,
    /// Training data of each (`name@version`), and what changed when they differ.
    pub champion_data: String,
    pub candidate_data: String,
    pub data_diff: Option<kiln_data::DiffSummary>,
}

/// Gates, statistics and change record of a version against the champion.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReleaseReport {
    pub model: String,
    pub version: i64,
    pub eval_dataset: String,
    /// The evaluation rows judged on: none of the compared versions trained or validated on them.
    #[serde(default)]
    pub held_out: HeldOut,
    pub candidate: Evaluation,
    pub champion_version: Option<i64>,
    pub champion: Option<Evaluation>,
    /// The latest accepted POC before this version, with its accuracy on the same rows.
    pub poc_version: Option<i64>,
    pub poc_accuracy: Option<f64>,
    pub gates: Vec<GateResult>,
    pub gates_passed: bool,
    pub comparison: Option<PairedComparison>,
    pub verdict: Option<String>,
    pub changes: Option<ChangeRecord>,
    /// The version's latest capacity run, the evidence of the serving gates.
    #[serde(default)]
    pub capacity: Option<Capacity>,
    /// The champion's logged production requests replayed through this version (the first
    /// disagreements kept), when there is a champion with logged traffic.
    #[serde(default)]
    pub replay: Option<Replay>,
    /// Why there is no replay, when there is a champion to replay against.
    #[serde(default)]
    pub replay_note: Option<String>,
}

/// Where the audit chain stands.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditCheck {
    pub rows: usize,
    pub ok: bool,
    /// The first row that was edited, deleted before or moved, and why.
    pub first_bad_row: Option<i64>,
    pub problem: Option<String>,
}

/// A model with everything the PM view shows.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelOverview {
    pub name: String,
    pub brief: Brief,
    pub versions: Vec<ModelVersion>,
    pub champion: Option<i64>,
    pub staging: Option<i64>,
    pub comments: Vec<kiln_store::Comment>,
    pub requests: Vec<ReleaseRequest>,
    pub aliases: Vec<kiln_store::AliasMove>,
    /// The environments in promotion order with the version each serves.
    #[serde(default)]
    pub path: Vec<PathStep>,
}

/// The model card of a version.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelCard {
    pub model: String,
    pub version: ModelVersion,
    pub run: kiln_store::Run,
    pub training_data: kiln_store::DatasetVersion,
    /// The training data's ancestors back to the raw import, newest first.
    pub lineage: Vec<kiln_store::DatasetVersion>,
    /// The evaluation data of the model's brief (name, version, content hash), when set.
    pub evaluation_data: Option<kiln_store::DatasetVersion>,
}

/// What `retrain` did.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RetrainOutcome {
    pub run_id: i64,
    pub version: i64,
    pub dataset: String,
    pub gates_passed: bool,
    pub request_id: Option<i64>,
}

impl Workspace {
    /// The role of a workspace user, if registered.
    pub fn role_of(&self, user: &str) -> Result<Option<Role>> {
        Ok(self.store.user(user)?.and_then(|u| Role::parse(&u.role)))
    }

    pub fn users(&self) -> Result<Vec<kiln_store::User>> {
        Ok(self.store.users()?)
    }

    /// Add a user or change a role. The first user of a workspace is its admin; while a workspace has
    /// no admin (one made before this rule), anyone may add one; after that only an admin manages users.
    pub fn set_user(&mut self, name: &str, role: Role, actor: &str) -> Result<()> {
        if self.team().is_some() {
            // The database checks that the connected user is an admin.
            return Ok(self.store.set_team_user(name, role.as_str(), None)?);
        }
        crate::validate_name(name).map_err(|_| invalid(format!("invalid user name `{name}`")))?;
        let users = self.store.users()?;
        let has_admin = users
            .iter()
            .any(|u| Role::parse(&u.role) == Some(Role::Admin));
        if !has_admin && role != Role::Admin {
            return Err(invalid(if users.is_empty() {
                format!(
                    "the first user of a workspace is its admin, who then adds the others: kiln \
                     users add {name} --role admin --by {name}"
                )
            } else {
                format!(
                    "this workspace has no admin yet: add one first (kiln users add NAME --role \
                     admin --by NAME), who then adds `{name}`"
                )
            }));
        }
        if has_admin && self.role_of(actor)? != Some(Role::Admin) {
            return Err(invalid(format!(
                "only an admin manages users (`{actor}` is {})",
                self.role_text(actor)?
            )));
        }
        Ok(self.store.add_user(name, role.as_str(), actor)?)
    }

    fn role_text(&self, user: &str) -> Result<String> {
        Ok(self.role_of(user)?.map_or_else(
            || "not a workspace user".to_owned(),
            |r| format!("a {}", r.as_str()),
        ))
    }

    /// Register a finished run's model as the next version of `name`.
    pub fn register_model(
        &mut self,
        run_id: i64,
        name: &str,
        stage: &str,
        by: &str,
    ) -> Result<i64> {
        let by = self.who(by)?;
        let by = by.as_str();
        crate::validate_name(name).map_err(|_| invalid(format!("invalid model name `{name}`")))?;
        if !STAGES.contains(&stage) || stage == "archived" {
            return Err(invalid(format!(
                "a version registers as `poc` or `candidate`, not `{stage}`"
            )));
        }
        // The weights must be there and match the run's record.
        self.load_model(run_id)?;
        Ok(self.store.register_version(name, run_id, stage, by)?)
    }

    pub fn models(&self) -> Result<Vec<kiln_store::ModelRecord>> {
        Ok(self.store.models()?)
    }

    pub fn brief(&self, name: &str) -> Result<Brief> {
        let m = self.store.model(name)?;
        serde_json::from_value(m.brief)
            .map_err(|e| invalid(format!("model `{name}` has an unreadable brief: {e}")))
    }

    /// Replace a model's brief (and so its gates); the evaluation data must resolve.
    pub fn set_brief(&mut self, name: &str, brief: &Brief, by: &str) -> Result<()> {
        let by = self.who(by)?;
        let by = by.as_str();
        crate::validate_name(name).map_err(|_| invalid(format!("invalid model name `{name}`")))?;
        if brief.eval_dataset.is_some() {
            self.check_evaluation_data(name, brief)?;
        }
        Ok(self
            .store
            .set_brief(name, &serde_json::to_value(brief).unwrap_or_default(), by)?)
    }

    /// A brief's evaluation data must resolve, have the columns every registered (not archived) version
    /// reads — its features and its target — and keep rows none of them trained or validated on.
    fn check_evaluation_data(&self, name: &str, brief: &Brief) -> Result<()> {
        let Some(reference) = &brief.eval_dataset else {
            return Ok(());
        };
        let eval = self.resolve(reference)?;
        let columns: std::collections::HashSet<String> = eval.column_names().into_iter().collect();
        // The candidate rows are read at most once, for every version below.
        let mut candidates = None;
        for mv in self.store.model_versions(name)? {
            if mv.stage == "archived" {
                continue;
            }
            let run = self.store.run(mv.run_id)?;
            let mut needed = feature_names(&run);
            needed.insert(0, run.target.clone());
            let missing: Vec<String> = needed
                .iter()
                .filter(|c| !columns.contains(*c))
                .map(|c| {
                    if *c == run.target {
                        format!("`{c}` (the target)")
                    } else {
                        format!("`{c}`")
                    }
                })
                .collect();
            if !missing.is_empty() {
                let trained = self.store.version_by_id(run.dataset_version_id)?;
                return Err(invalid(format!(
                    "{}@{} cannot judge {name} v{}: it lacks {} of the {} columns v{} reads: {}{}. v{} was \
                     trained on {}@{}: pick evaluation data with the same columns",
                    eval.dataset,
                    eval.version,
                    mv.version,
                    missing.len(),
                    needed.len(),
                    mv.version,
                    missing[..missing.len().min(5)].join(", "),
                    if missing.len() > 5 { ", …" } else { "" },
                    mv.version,
                    trained.dataset,
                    trained.version,
                )));
            }
            if candidates.is_none() {
                candidates = Some(self.evaluation_candidates(brief, name)?);
            }
            if let Some(c) = &candidates {
                self.leave_out_seen(name, c, &[mv.version])?;
            }
        }
        Ok(())
    }

    /// Every model whose brief has evaluation data, with the dataset version it judges on (by id).
    pub fn evaluation_versions(&self) -> Result<Vec<(String, i64)>> {
        let mut out = Vec::new();
        for m in self.models()? {
            if let Some(e) = self.brief(&m.name)?.eval_dataset
                && let Ok(v) = self.resolve(&e)
            {
                out.push((m.name, v.id));
            }
        }
        Ok(out)
    }

    pub fn overview(&self, name: &str) -> Result<ModelOverview> {
        let brief = self.brief(name)?;
        Ok(ModelOverview {
            name: name.to_owned(),
            brief,
            versions: self.store.model_versions(name)?,
            champion: self.store.alias(name, CHAMPION)?,
            staging: self.store.alias(name, "staging")?,
            comments: self.store.comments(name)?,
            requests: self.store.requests(Some(name), false)?,
            aliases: self.store.alias_history(name)?,
            path: self.environment_path(name)?,
        })
    }

    pub fn model_card(&self, name: &str, version: i64) -> Result<ModelCard> {
        let v = self.store.model_version(name, version)?;
        let run = self.store.run(v.run_id)?;
        let training_data = self.store.version_by_id(run.dataset_version_id)?;
        let mut lineage = Vec::new();
        let mut parent = training_data.parent_id;
        while let Some(p) = parent {
            let pv = self.store.version_by_id(p)?;
            parent = pv.parent_id;
            lineage.push(pv);
        }
        Ok(ModelCard {
            model: name.to_owned(),
            version: v,
            run,
            training_data,
            lineage,
            evaluation_data: match self.brief(name)?.eval_dataset {
                Some(e) => Some(self.resolve(&e)?),
                None => None,
            },
        })
    }

    /// A comment on a model or a version; with `accepted`, the PM's verdict on a POC.
    pub fn comment(
        &mut self,
        name: &str,
        version: Option<i64>,
        by: &str,
        text: &str,
        accepted: Option<bool>,
    ) -> Result<()> {
        let by = self.who(by)?;
        let by = by.as_str();
        if text.trim().is_empty() {
            return Err(invalid("a comment needs text"));
        }
        if accepted.is_some() && version.is_none() {
            return Err(invalid("a verdict is on a version: give --version"));
        }
        Ok(self
            .store
            .add_comment(name, version, by, text.trim(), accepted)?)
    }

    pub fn set_stage(&mut self, name: &str, version: i64, stage: &str, by: &str) -> Result<()> {
        let by = self.who(by)?;
        let by = by.as_str();
        if !STAGES.contains(&stage) {
            return Err(invalid(format!(
                "unknown stage `{stage}` (poc, candidate, archived)"
            )));
        }
        Ok(self.store.set_stage(name, version, stage, by)?)
    }

    /// Point `staging` (QA/UAT) at a version. `champion` moves only by approval or rollback.
    pub fn set_alias(&mut self, name: &str, alias: &str, version: i64, by: &str) -> Result<()> {
        let by = self.who(by)?;
        let by = by.as_str();
        Ok(self.store.set_alias(name, alias, version, by)?)
    }

    /// Run a model version on evaluation rows: accuracy, per-class scores, per-row latency.
    pub fn evaluate_run(&self, run_id: i64, rows: &DataFrame) -> Result<Evaluation> {
        let model = self.load_model(run_id)?;
        let target = model.target().to_owned();
        if rows.column(&target).is_err() {
            return Err(invalid(format!(
                "the evaluation data has no `{target}` column (the model's target)"
            )));
        }
        let df = rows
            .clone()
            .lazy()
            .filter(col(target.as_str()).is_not_null())
            .collect()?;
        let truth: Vec<String> = df
            .column(&target)?
            .cast(&DataType::String)?
            .str()?
            .iter()
            .map(|v| v.unwrap_or_default().to_owned())
            .collect();
        let predicted = model.predict(&df)?;
        let mut classes: Vec<String> = model.classes().to_vec();
        for t in &truth {
            if !classes.contains(t) {
                classes.push(t.clone());
            }
        }
        let index: BTreeMap<&str, i64> = classes
            .iter()
            .enumerate()
            .map(|(i, c)| (c.as_str(), i as i64))
            .collect();
        let t_idx: Vec<i64> = truth.iter().map(|t| index[t.as_str()]).collect();
        let p_idx: Vec<i64> = predicted
            .iter()
            .map(|p| index.get(p.as_str()).copied().unwrap_or(-1))
            .collect();
        let eval = kiln_train::Evaluation::from_predictions(&classes, &t_idx, &p_idx, 0.0);
        let correct: Vec<bool> = truth.iter().zip(&predicted).map(|(t, p)| t == p).collect();
        let mut times = Vec::new();
        for i in 0..df.height().min(200) {
            let one = df.slice(i as i64, 1);
            let t = Instant::now();
            model.predict(&one)?;
            times.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        times.sort_by(f64::total_cmp);
        Ok(Evaluation {
            run_id,
            rows: df.height(),
            accuracy: eval.accuracy,
            per_class: eval.per_class,
            latency_p50_ms: stats::nearest_rank(&times, 0.5),
            latency_p99_ms: stats::nearest_rank(&times, 0.99),
            correct,
        })
    }

    /// Evaluate a version against its brief's gates and the champion (on the same rows).
    pub fn release_report(&self, name: &str, version: i64) -> Result<ReleaseReport> {
        let brief = self.brief(name)?;
        let v = self.store.model_version(name, version)?;
        let champion_version = self.store.alias(name, CHAMPION)?.filter(|c| *c != version);
        let poc = self
            .store
            .model_versions(name)?
            .into_iter()
            .rfind(|m| m.stage == "poc" && m.version < version && m.accepted == Some(true));
        // Judged only on rows none of the compared versions trained or validated on.
        let compared: Vec<i64> = [
            Some(version),
            champion_version,
            poc.as_ref().map(|p| p.version),
        ]
        .into_iter()
        .flatten()
        .collect();
        let EvaluationRows {
            dataset: eval_dataset,
            rows,
            held_out,
        } = self.held_out_rows(&brief, name, &compared)?;
        let candidate = self.evaluate_run(v.run_id, &rows)?;
        let champion = match champion_version {
            Some(c) => Some(self.evaluate_run(self.store.model_version(name, c)?.run_id, &rows)?),
            None => None,
        };
        let poc_accuracy = match &poc {
            Some(p) => Some(self.evaluate_run(p.run_id, &rows)?.accuracy),
            None => None,
        };
        let capacity = self.capacity(name, version)?;
        let mut gates: Vec<GateResult> = brief
            .targets
            .iter()
            .filter(|t| !t.is_serving() && t.metric != REPLAY_AGREEMENT)
            .map(|t| {
                let value = candidate.metric(&t.metric);
                GateResult {
                    gate: t.text(),
                    value,
                    passed: value.is_some_and(|v| t.holds(v)),
                }
            })
            .collect();
        gates.extend(capacity::serving_gates(&brief, capacity.as_ref()));
        // The champion's logged production requests through this version.
        let (mut replay, mut replay_note) = (None, None);
        if champion_version.is_some() {
            match self.replay(name, version, None, Some(replay::REQUEST_REPLAY_LIMIT)) {
                Ok(r) => replay = Some(r.for_request()),
                Err(e) => replay_note = Some(e.to_string()),
            }
        }
        for t in brief
            .targets
            .iter()
            .filter(|t| t.metric == REPLAY_AGREEMENT)
        {
            let value = replay.as_ref().map(|r: &Replay| r.agreement);
            gates.push(GateResult {
                gate: match (&replay, &replay_note) {
                    (Some(_), _) => t.text(),
                    (None, Some(why)) => format!("{} (not replayed: {why})", t.text()),
                    (None, None) => format!("{} (no champion to replay against)", t.text()),
                },
                value,
                passed: value.is_some_and(|v| t.holds(v)),
            });
        }
        let mut comparison = None;
        let mut changes = None;
        if let (Some(champ), Some(cv)) = (&champion, champion_version) {
            let gain = candidate.accuracy - champ.accuracy;
            if let Some(min) = brief.min_gain {
                gates.push(GateResult {
                    gate: format!("accuracy gain over champion v{cv} ≥ {min}"),
                    value: Some(gain),
                    passed: gain >= min,
                });
            }
            if let Some(min) = brief.min_rel_gain {
                let rel = if champ.accuracy > 0.0 {
                    gain / champ.accuracy
                } else {
                    f64::INFINITY
                };
                gates.push(GateResult {
                    gate: format!("relative accuracy gain over champion v{cv} ≥ {min}"),
                    value: Some(rel),
                    passed: rel >= min,
                });
            }
            comparison = Some(PairedComparison::of(
                &champ.correct,
                &candidate.correct,
                RESAMPLES,
                BOOTSTRAP_SEED,
            ));
            changes = Some(self.change_record(name, cv, version, champ, &candidate)?);
        }
        let verdict = comparison
            .as_ref()
            .map(|c| c.verdict("the champion", "the candidate"));
        Ok(ReleaseReport {
            model: name.to_owned(),
            version,
            eval_dataset,
            held_out,
            gates_passed: gates.iter().all(|g| g.passed),
            gates,
            candidate,
            champion_version,
            champion,
            poc_version: poc.map(|p| p.version),
            poc_accuracy,
            comparison,
            verdict,
            changes,
            capacity,
            replay,
            replay_note,
        })
    }

    fn change_record(
        &self,
        name: &str,
        champion: i64,
        candidate: i64,
        champ: &Evaluation,
        cand: &Evaluation,
    ) -> Result<ChangeRecord> {
        let (a, b) = (
            self.store.model_version(name, champion)?.run_id,
            self.store.model_version(name, candidate)?.run_id,
        );
        let cmp = self.compare(&[a, b])?;
        let params = cmp
            .rows
            .iter()
            .filter(|r| r.differs && r.section == crate::compare::Section::Param)
            .map(|r| {
                // (A parameter named like a metric is `param_NAME` in the runs table.)
                let name = r.name.strip_prefix("param_").unwrap_or(&r.name).to_owned();
                (name, r.values[0].clone(), r.values[1].clone())
            })
            .collect();
        let metrics = ["accuracy", "latency_p50_ms", "latency_p99_ms"]
            .iter()
            .filter_map(|m| Some(((*m).to_owned(), champ.metric(m)?, cand.metric(m)?)))
            .collect();
        let per_class_recall = cand
            .per_class
            .iter()
            .map(|c| {
                let before = champ
                    .per_class
                    .iter()
                    .find(|x| x.class == c.class)
                    .map_or(f64::NAN, |x| x.recall);
                (c.class.clone(), before, c.recall)
            })
            .collect();
        let (ra, rb) = (self.store.run(a)?, self.store.run(b)?);
        let (va, vb) = (
            self.store.version_by_id(ra.dataset_version_id)?,
            self.store.version_by_id(rb.dataset_version_id)?,
        );
        let label = |v: &kiln_store::DatasetVersion| format!("{}@{}", v.dataset, v.version);
        let data_diff = if va.id == vb.id {
            None
        } else {
            Some(self.diff(&label(&va), &label(&vb))?)
        };
        Ok(ChangeRecord {
            params,
            metrics,
            per_class_recall,
            champion_data: label(&va),
            candidate_data: label(&vb),
            data_diff,
        })
    }

    /// File a release request: the report is evaluated now and kept with it.
    pub fn request_release(
        &mut self,
        name: &str,
        version: i64,
        by: &str,
        notes: &str,
    ) -> Result<(i64, ReleaseReport)> {
        let by = self.who(by)?;
        let by = by.as_str();
        if self.role_of(by)?.is_none() {
            return Err(invalid(format!(
                "`{by}` is not a workspace user (kiln users add {by} --role data-scientist)"
            )));
        }
        let report = self.release_report(name, version)?;
        let id = self.store.create_request(
            name,
            version,
            by,
            notes,
            &serde_json::to_value(&report).unwrap_or_default(),
        )?;
        Ok((id, report))
    }

    /// Approve a pending request: only an approver or admin, never its requester, with a comment; a
    /// failed gate needs an admin's override with a written reason. Moves `champion` atomically.
    pub fn approve(
        &mut self,
        request: i64,
        by: &str,
        comment: &str,
        override_reason: Option<&str>,
    ) -> Result<()> {
        let by = self.who(by)?;
        let by = by.as_str();
        let req = self.store.request(request)?;
        let role = self.role_of(by)?;
        if !role.is_some_and(Role::approves) {
            return Err(invalid(format!(
                "only an approver or admin approves a release (`{by}` is {})",
                self.role_text(by)?
            )));
        }
        if req.requested_by == by {
            return Err(invalid(format!(
                "`{by}` filed request {request}: a release needs a second person's approval"
            )));
        }
        if comment.trim().is_empty() {
            return Err(invalid("approving needs a comment"));
        }
        let reason = override_reason.map(str::trim).filter(|r| !r.is_empty());
        let gates_passed = req.report["gates_passed"].as_bool().unwrap_or(false);
        if !gates_passed {
            match (role, reason) {
                (Some(Role::Admin), Some(_)) => {}
                (Some(Role::Admin), None) => {
                    return Err(invalid(format!(
                        "request {request} failed a quality gate: approving it needs an override reason"
                    )));
                }
                _ => {
                    return Err(invalid(format!(
                        "request {request} failed a quality gate: only an admin can override it, with a reason"
                    )));
                }
            }
        } else if reason.is_some() {
            return Err(invalid("every gate passed: there is nothing to override"));
        }
        Ok(self
            .store
            .decide_request(request, true, by, comment.trim(), reason)?)
    }

    /// Reject a pending request (an approver or admin, with a comment).
    pub fn reject(&mut self, request: i64, by: &str, comment: &str) -> Result<()> {
        let by = self.who(by)?;
        let by = by.as_str();
        self.store.request(request)?;
        if !self.role_of(by)?.is_some_and(Role::approves) {
            return Err(invalid(format!(
                "only an approver or admin rejects a release (`{by}` is {})",
                self.role_text(by)?
            )));
        }
        if comment.trim().is_empty() {
            return Err(invalid("rejecting needs a comment"));
        }
        Ok(self
            .store
            .decide_request(request, false, by, comment.trim(), None)?)
    }

    /// Move `champion` back to its previous version (an approver or admin, with a comment).
    pub fn rollback(&mut self, name: &str, by: &str, comment: &str) -> Result<(i64, i64)> {
        let by = self.who(by)?;
        let by = by.as_str();
        if !self.role_of(by)?.is_some_and(Role::approves) {
            return Err(invalid(format!(
                "only an approver or admin rolls back (`{by}` is {})",
                self.role_text(by)?
            )));
        }
        if comment.trim().is_empty() {
            return Err(invalid("a rollback needs a comment"));
        }
        Ok(self.store.rollback(name, by, comment.trim())?)
    }

    pub fn requests(&self, model: Option<&str>, pending_only: bool) -> Result<Vec<ReleaseRequest>> {
        Ok(self.store.requests(model, pending_only)?)
    }

    pub fn request(&self, id: i64) -> Result<ReleaseRequest> {
        Ok(self.store.request(id)?)
    }

    /// Two versions of a model on its evaluation rows: the paired statistics and their verdict.
    pub fn compare_versions(
        &self,
        name: &str,
        a: i64,
        b: i64,
    ) -> Result<(PairedComparison, String, HeldOut)> {
        let brief = self.brief(name)?;
        let EvaluationRows { rows, held_out, .. } = self.held_out_rows(&brief, name, &[a, b])?;
        let ea = self.evaluate_run(self.store.model_version(name, a)?.run_id, &rows)?;
        let eb = self.evaluate_run(self.store.model_version(name, b)?.run_id, &rows)?;
        let c = PairedComparison::of(&ea.correct, &eb.correct, RESAMPLES, BOOTSTRAP_SEED);
        let v = c.verdict(&format!("v{a}"), &format!("v{b}"));
        Ok((c, v, held_out))
    }

    /// Walk the audit chain: every row's hash must cover its content and the previous row's hash, and
    /// (on a local workspace) ids run without a gap. A team workspace's ids may skip a number where a
    /// transaction rolled back (PostgreSQL never reuses one); there the chain alone shows a removed row,
    /// and the database refuses removing one anyway.
    pub fn audit_verify(&self) -> Result<AuditCheck> {
        let rows = self.store.audit_rows()?;
        let mut prev = String::new();
        let mut expected_id = rows.first().map_or(1, |r| r.id.min(1));
        let gaps_allowed = self.team().is_some();
        for r in &rows {
            if gaps_allowed {
                expected_id = r.id;
            }
            let problem = if r.id != expected_id {
                Some(format!(
                    "row {expected_id} is missing (deleted) before row {}",
                    r.id
                ))
            } else if r.prev_hash != prev {
                Some(format!(
                    "row {} does not follow the row before it (a row was deleted, inserted or reordered)",
                    r.id
                ))
            } else if r.expected_hash(&prev) != r.hash {
                Some(format!("row {} was edited after it was written", r.id))
            } else {
                None
            };
            if let Some(p) = problem {
                return Ok(AuditCheck {
                    rows: rows.len(),
                    ok: false,
                    first_bad_row: Some(r.id.min(expected_id)),
                    problem: Some(p),
                });
            }
            prev.clone_from(&r.hash);
            expected_id = r.id + 1;
        }
        Ok(AuditCheck {
            rows: rows.len(),
            ok: true,
            first_bad_row: None,
            problem: None,
        })
    }

    /// The audit log up to `at` (an ISO time; all of it when `None`), oldest first.
    pub fn audit_log(&self, at: Option<&str>) -> Result<Vec<AuditRow>> {
        let rows = self.store.audit_rows()?;
        Ok(match at {
            Some(t) => rows.into_iter().filter(|r| r.at.as_str() <= t).collect(),
            None => rows,
        })
    }

    /// Which version of each model was champion at `at` (an ISO time).
    pub fn champions_at(&self, at: &str) -> Result<BTreeMap<String, i64>> {
        let mut out = BTreeMap::new();
        for m in self.store.models()? {
            if let Some(mv) = self
                .store
                .alias_history(&m.name)?
                .into_iter()
                .rfind(|a| a.alias == CHAMPION && a.at.as_str() <= at)
            {
                out.insert(m.name, mv.version);
            }
        }
        Ok(out)
    }

    /// Retrain the champion's exact configuration on the newest version of its dataset (or `dataset`),
    /// register the result as a candidate, evaluate it, and file a release request when its gates pass.
    pub fn retrain(
        &mut self,
        name: &str,
        dataset: Option<&str>,
        by: &str,
        cancel: &std::sync::atomic::AtomicBool,
    ) -> Result<RetrainOutcome> {
        let by = self.who(by)?;
        let by = by.as_str();
        let champion = self
            .store
            .alias(name, CHAMPION)?
            .ok_or_else(|| invalid(format!("`{name}` has no champion to retrain")))?;
        let run = self
            .store
            .run(self.store.model_version(name, champion)?.run_id)?;
        let params: kiln_train::TrainParams = serde_json::from_value(run.params.clone())
            .map_err(|e| invalid(format!("run {} has unreadable parameters: {e}", run.id)))?;
        let features = feature_names(&run);
        let trained_on = self.store.version_by_id(run.dataset_version_id)?;
        let dataset = dataset.map_or_else(
            || trained_on.dataset.clone(),
            |d| d.trim_end_matches("@latest").to_owned(),
        );
        let latest = self.resolve(&dataset)?;
        let req = crate::training::TrainRequest {
            dataset: format!("{}@{}", latest.dataset, latest.version),
            target: run.target.clone(),
            features: Some(features),
            params,
            device: kiln_train::DeviceChoice::Auto,
            sweep_id: None,
        };
        let summary = self.train(&req, cancel, &mut |_| {})?;
        let version = self.register_model(summary.run_id, name, "candidate", by)?;
        let report = self.release_report(name, version)?;
        let request_id = if report.gates_passed {
            Some(self.store.create_request(
                name,
                version,
                by,
                &format!("retrained on {}@{}", latest.dataset, latest.version),
                &serde_json::to_value(&report).unwrap_or_default(),
            )?)
        } else {
            None
        };
        Ok(RetrainOutcome {
            run_id: summary.run_id,
            version,
            dataset: req.dataset,
            gates_passed: report.gates_passed,
            request_id,
        })
    }
}
