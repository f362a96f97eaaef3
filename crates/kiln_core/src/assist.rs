//! Model-assisted labeling: suspect labels by confident learning on out-of-sample class probabilities
//! (k-fold cross-validation drives training), pre-labels from a trained run, and the order in which
//! unlabeled items teach a model the most (uncertainty sampling).

use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::AtomicBool;

use kiln_data::polars::prelude::*;
use kiln_train::{DeviceChoice, FeatureSpec, ModelKind, Splits, TrainParams};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};

use crate::{CoreError, Result, Workspace, invalid};

/// Which rows a suspects run reports.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SuspectFilter {
    /// A row whose given label another class beats while clearing that class's threshold (the
    /// off-diagonal of the confident joint): few rows, most of them wrong.
    ConfidentLearning,
    /// For every pair of classes, as many of the given class's rows as the calibrated confident joint
    /// estimates to be the other class, those the model prefers the other class for by the widest
    /// margin (cleanlab's default): more of the wrong labels, a few more right ones.
    PruneByNoiseRate,
    /// Every row whose most probable class is not the given one (cleanlab's `predicted_neq_given`): the
    /// most rows, ranked so the ones the model doubts most come first. The default: the queue that finds
    /// the most wrong labels, with a marker where the estimated number of errors ends.
    #[default]
    PredictedNeqGiven,
}

impl SuspectFilter {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "confident-learning" => Some(Self::ConfidentLearning),
            "prune-by-noise-rate" => Some(Self::PruneByNoiseRate),
            "predicted-neq-given" => Some(Self::PredictedNeqGiven),
            _ => None,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::ConfidentLearning => "only the surest errors (confident learning)",
            Self::PruneByNoiseRate => "as many as the estimate (prune by noise rate)",
            Self::PredictedNeqGiven => "every doubted label, most doubtful first",
        }
    }

    /// Every rule, the default first.
    pub const EVERY: [Self; 3] = [
        Self::PredictedNeqGiven,
        Self::ConfidentLearning,
        Self::PruneByNoiseRate,
    ];
}

/// How to get the out-of-sample probabilities.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SuspectSettings {
    pub model: ModelKind,
    pub folds: usize,
    /// Seed of the fold assignment and of every fold's training.
    pub seed: u64,
    /// Training parameters (the template's defaults with the user's changes).
    pub params: TrainParams,
    pub device: DeviceChoice,
    #[serde(default)]
    pub filter: SuspectFilter,
}

impl SuspectSettings {
    pub fn new(model: ModelKind) -> Self {
        Self {
            model,
            folds: 5,
            seed: 0,
            params: TrainParams::for_model(model),
            device: DeviceChoice::Cpu,
            filter: SuspectFilter::default(),
        }
    }
}

/// A row whose given label the model doubts.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Suspect {
    pub row_id: u64,
    pub given: String,
    pub suggested: String,
    pub given_probability: f64,
    pub suggested_probability: f64,
}

/// Estimated label errors from one class to another.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PairEstimate {
    pub given: String,
    pub suggested: String,
    /// Rows counted in the confident joint (labelled `given`, confidently `suggested`).
    pub rows: usize,
    /// The same, calibrated so each given class's row adds up to its number of labelled rows.
    pub estimated: f64,
}

/// The outcome of a suspect-label run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SuspectReport {
    /// The recorded run (`labels suspects` run id), named in the commit of the fixes.
    pub run: i64,
    pub dataset: String,
    pub version: i64,
    pub column: String,
    pub classes: Vec<String>,
    /// Per class: the mean out-of-sample probability of that class over rows labelled with it.
    pub thresholds: Vec<f64>,
    pub labelled_rows: usize,
    pub folds: usize,
    /// Out-of-sample accuracy of the given labels (how often the model agreed).
    pub agreement: f64,
    pub seconds: f64,
    /// Suspects a reviewer already kept for this version (left out of `suspects`).
    pub kept: usize,
    /// Ranked by the given label's probability, lowest first.
    pub suspects: Vec<Suspect>,
    /// Off-diagonal cells of the calibrated confident joint, largest first.
    pub pairs: Vec<PairEstimate>,
    /// Sum of the calibrated off-diagonal cells: the estimated number of label errors.
    pub estimated_errors: f64,
}

/// Confident learning on out-of-sample probabilities (`probs[i][k]`, row `i`, class `k`) of rows whose
/// given class is `given[i]`.
#[derive(Clone, Debug, PartialEq)]
pub struct ConfidentLearning {
    /// Per class: mean probability of the class over rows labelled with it (NaN for a class no row has).
    pub thresholds: Vec<f64>,
    /// `(row index, suggested class)`, ranked by the given class's probability, lowest first.
    pub suspects: Vec<(usize, usize)>,
    /// `joint[given][confident]`: rows labelled `given` whose most probable class among those that
    /// clear their threshold is `confident` (rows no class clears are not counted).
    pub joint: Vec<Vec<usize>>,
}

/// Thresholds, suspects and the confident joint. A row is a suspect when another class clears its
/// threshold with more probability than the given class (the most probable such class is suggested);
/// ties and rows that no other class clears are not suspects.
pub fn confident_learning(k: usize, given: &[usize], probs: &[Vec<f64>]) -> ConfidentLearning {
    let mut sums = vec![0.0; k];
    let mut counts = vec![0usize; k];
    for (g, p) in given.iter().zip(probs) {
        sums[*g] += p[*g];
        counts[*g] += 1;
    }
    let thresholds: Vec<f64> = sums
        .iter()
        .zip(&counts)
        .map(|(s, n)| if *n > 0 { s / *n as f64 } else { f64::NAN })
        .collect();
    // A class no row is labelled with has no threshold: it is never suggested.
    let clears = |p: &[f64], c: usize| thresholds[c].is_finite() && p[c] >= thresholds[c];
    let mut joint = vec![vec![0usize; k]; k];
    let mut suspects: Vec<(usize, usize)> = Vec::new();
    for (i, (g, p)) in given.iter().zip(probs).enumerate() {
        let confident = (0..k)
            .filter(|&c| clears(p, c))
            .max_by(|a, b| p[*a].total_cmp(&p[*b]).then(b.cmp(a)));
        if let Some(c) = confident {
            joint[*g][c] += 1;
        }
        let other = (0..k)
            .filter(|&c| c != *g && clears(p, c) && p[c] > p[*g])
            .max_by(|a, b| p[*a].total_cmp(&p[*b]).then(b.cmp(a)));
        if let Some(c) = other {
            suspects.push((i, c));
        }
    }
    rank_by_given(&mut suspects, given, probs);
    ConfidentLearning {
        thresholds,
        suspects,
        joint,
    }
}

/// The confident joint calibrated to whole rows: each given class's row scaled to its labelled count and
/// rounded so the row still adds up to it (largest remainders first).
fn calibrated_counts(joint: &[Vec<usize>], labelled: &[usize]) -> Vec<Vec<usize>> {
    joint
        .iter()
        .zip(labelled)
        .map(|(row, &n)| {
            let total: usize = row.iter().sum();
            if total == 0 {
                return vec![0; row.len()];
            }
            let exact: Vec<f64> = row
                .iter()
                .map(|&c| c as f64 / total as f64 * n as f64)
                .collect();
            let mut out: Vec<usize> = exact.iter().map(|x| x.floor() as usize).collect();
            let mut rest: Vec<usize> = (0..row.len()).collect();
            rest.sort_by(|a, b| {
                (exact[*b] - exact[*b].floor()).total_cmp(&(exact[*a] - exact[*a].floor()))
            });
            let short = n.saturating_sub(out.iter().sum());
            for &i in rest.iter().take(short) {
                out[i] += 1;
            }
            out
        })
        .collect()
}

/// cleanlab's default filter on the same probabilities: for every given class `g` and other class `c`,
/// the `calibrated[g][c]` rows labelled `g` with the largest `p[c] − p[g]` are suspects (suggesting the
/// most probable other class), except rows whose most probable class is the given one. Ranked like
/// [`confident_learning`]'s: by the given class's probability, lowest first.
pub fn prune_by_noise_rate(
    k: usize,
    given: &[usize],
    probs: &[Vec<f64>],
    joint: &[Vec<usize>],
) -> Vec<(usize, usize)> {
    let mut labelled = vec![0usize; k];
    for g in given {
        labelled[*g] += 1;
    }
    let counts = calibrated_counts(joint, &labelled);
    let mut marked = vec![false; given.len()];
    for (g, row) in counts.iter().enumerate() {
        let rows: Vec<usize> = (0..given.len()).filter(|&i| given[i] == g).collect();
        for (c, &n) in row.iter().enumerate() {
            if c == g || n == 0 {
                continue;
            }
            let mut by_margin = rows.clone();
            by_margin.sort_by(|&a, &b| {
                (probs[b][c] - probs[b][g])
                    .total_cmp(&(probs[a][c] - probs[a][g]))
                    .then(a.cmp(&b))
            });
            for &i in by_margin.iter().take(n) {
                marked[i] = true;
            }
        }
    }
    let mut out: Vec<(usize, usize)> = (0..given.len())
        .filter(|&i| marked[i])
        .filter_map(|i| other_best(k, given[i], &probs[i]).map(|best| (i, best)))
        .collect();
    rank_by_given(&mut out, given, probs);
    out
}

/// Rows whose most probable class is not the given one (the given class wins ties), suggesting that
/// class; ranked like [`confident_learning`]'s.
pub fn predicted_neq_given(k: usize, given: &[usize], probs: &[Vec<f64>]) -> Vec<(usize, usize)> {
    let mut out: Vec<(usize, usize)> = given
        .iter()
        .zip(probs)
        .enumerate()
        .filter_map(|(i, (&g, p))| other_best(k, g, p).map(|best| (i, best)))
        .collect();
    rank_by_given(&mut out, given, probs);
    out
}

/// The most probable class of `p` when it is not the given class `g`; the given class wins ties, so a
/// row the model agrees with gives `None`.
fn other_best(k: usize, g: usize, p: &[f64]) -> Option<usize> {
    let best = (0..k).max_by(|a, b| p[*a].total_cmp(&p[*b]).then((*a == g).cmp(&(*b == g))))?;
    (best != g).then_some(best)
}

/// Suspects `(row, suggested)` by the given class's probability, lowest first (ties by row).
fn rank_by_given(suspects: &mut [(usize, usize)], given: &[usize], probs: &[Vec<f64>]) {
    suspects.sort_by(|a, b| {
        probs[a.0][given[a.0]]
            .total_cmp(&probs[b.0][given[b.0]])
            .then(a.0.cmp(&b.0))
    });
}

/// Calibrate the confident joint (each given class's row scaled to its labelled count) and list the
/// off-diagonal cells, largest first.
fn pair_estimates(
    classes: &[String],
    joint: &[Vec<usize>],
    labelled: &[usize],
) -> Vec<PairEstimate> {
    let mut out = Vec::new();
    for (g, row) in joint.iter().enumerate() {
        let total: usize = row.iter().sum();
        for (c, &n) in row.iter().enumerate() {
            if c == g || n == 0 {
                continue;
            }
            out.push(PairEstimate {
                given: classes[g].clone(),
                suggested: classes[c].clone(),
                rows: n,
                estimated: n as f64 / total.max(1) as f64 * labelled[g] as f64,
            });
        }
    }
    out.sort_by(|a, b| b.estimated.total_cmp(&a.estimated));
    out
}

/// Fold of every row (0..folds), stratified by class and drawn with `seed`.
pub fn stratified_folds(given: &[usize], k: usize, folds: usize, seed: u64) -> Vec<usize> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut out = vec![0; given.len()];
    let mut next = 0usize;
    for class in 0..k {
        let mut rows: Vec<usize> = (0..given.len()).filter(|&i| given[i] == class).collect();
        rows.shuffle(&mut rng);
        for i in rows {
            out[i] = next % folds;
            next += 1;
        }
    }
    out
}

/// Rows of `df` at `positions`, in that order.
fn take(df: &DataFrame, positions: &[usize]) -> Result<DataFrame> {
    let idx = IdxCa::from_vec(
        "idx".into(),
        positions.iter().map(|&p| p as IdxSize).collect(),
    );
    Ok(df.take(&idx)?)
}

/// Progress of a suspect-label run: `(folds done, folds)`.
pub type FoldProgress<'a> = &'a mut dyn FnMut(usize, usize);

impl Workspace {
    /// Out-of-sample class probabilities for every labelled row of `reference`'s `column` by k-fold
    /// cross-validation, confident learning on them, and the run recorded. Rows kept by a reviewer for
    /// this version are left out of the suspects (they still train and set the thresholds).
    pub fn find_suspects(
        &self,
        reference: &str,
        column: &str,
        settings: &SuspectSettings,
        cancel: &AtomicBool,
        progress: FoldProgress<'_>,
    ) -> Result<SuspectReport> {
        let started = std::time::Instant::now();
        if settings.folds < 2 {
            return Err(invalid("cross-validation needs at least 2 folds"));
        }
        let version = self.resolve(reference)?;
        // Cross-validation holds every labelled row in memory.
        if self.larger_than_budget(&version).is_some() {
            return Err(invalid(format!(
                "{}@{} is larger than the memory budget ({} MB), and finding suspects trains on all \
                 its labelled rows in memory: find them on a filtered or sampled version",
                version.dataset,
                version.version,
                self.memory_budget() >> 20
            )));
        }
        let df = self.load_with_ids(&version)?;
        let ids = kiln_data::row_ids(&df)?;
        let labels: Vec<Option<String>> = match df.column(column) {
            Ok(c) => {
                let s = c.as_materialized_series().cast(&DataType::String)?;
                s.str()?.iter().map(|v| v.map(str::to_owned)).collect()
            }
            Err(_) => {
                return Err(invalid(format!(
                    "{}@{} has no column `{column}`",
                    version.dataset, version.version
                )));
            }
        };
        let labelled: Vec<usize> = (0..labels.len()).filter(|&i| labels[i].is_some()).collect();
        let classes: Vec<String> = labelled
            .iter()
            .filter_map(|&i| labels[i].clone())
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        if classes.len() < 2 {
            return Err(invalid(format!(
                "`{column}` needs labelled rows of at least two classes (has {})",
                classes.len()
            )));
        }
        let class_of: BTreeMap<&str, usize> = classes
            .iter()
            .enumerate()
            .map(|(i, c)| (c.as_str(), i))
            .collect();
        let given: Vec<usize> = labelled
            .iter()
            .map(|&i| class_of[labels[i].as_deref().unwrap_or_default()])
            .collect();
        let k = classes.len();
        let mut per_class = vec![0usize; k];
        for g in &given {
            per_class[*g] += 1;
        }
        let smallest = per_class.iter().copied().min().unwrap_or(0);
        if smallest < settings.folds {
            return Err(invalid(format!(
                "every class needs at least {} labelled rows for {}-fold cross-validation (`{}` has {smallest})",
                settings.folds,
                settings.folds,
                classes[per_class.iter().position(|n| *n == smallest).unwrap_or(0)]
            )));
        }
        let data = take(&df, &labelled)?;
        let folds = stratified_folds(&given, k, settings.folds, settings.seed);
        let device = kiln_train::pick_device(settings.device)?;
        let mut params = settings.params.clone();
        params.seed = settings.seed;
        let mut probs: Vec<Vec<f64>> = vec![Vec::new(); labelled.len()];
        progress(0, settings.folds);
        for fold in 0..settings.folds {
            let held: Vec<usize> = (0..labelled.len()).filter(|&i| folds[i] == fold).collect();
            // Every other fold trains, as many rows as cross-validation allows; with no validation
            // rows the loop keeps the epoch with the lowest training loss (the model fits them fully,
            // which gives the sharp probabilities the thresholds need).
            let train_rows: Vec<usize> =
                (0..labelled.len()).filter(|&i| folds[i] != fold).collect();
            let train_df = take(&data, &train_rows)?;
            let spec = FeatureSpec::fit(&train_df, column, None)?;
            let train = spec.transform(&train_df, true)?;
            let empty = spec.transform(&train_df.slice(0, 0), true)?;
            let outcome = kiln_train::train(
                &spec,
                &Splits {
                    train: &train,
                    val: &empty,
                    test: &empty,
                },
                &params,
                &device,
                cancel,
                None,
                &mut |_| {},
            )?;
            if outcome.stopped {
                return Err(CoreError::Train(kiln_train::TrainError::Cancelled));
            }
            let out = kiln_train::inference::predict_proba(
                &outcome.model,
                &spec,
                &take(&data, &held)?,
                &device.device,
            )?;
            // The fold's classes are the global ones when every class trains; map by name regardless.
            let to_global: Vec<usize> = spec.classes.iter().map(|c| class_of[c.as_str()]).collect();
            for (&i, p) in held.iter().zip(out) {
                let mut full = vec![0.0; k];
                for (j, v) in p.into_iter().enumerate() {
                    full[to_global[j]] = v;
                }
                probs[i] = full;
            }
            progress(fold + 1, settings.folds);
        }
        let cl = confident_learning(k, &given, &probs);
        let chosen = match settings.filter {
            SuspectFilter::ConfidentLearning => cl.suspects.clone(),
            SuspectFilter::PruneByNoiseRate => prune_by_noise_rate(k, &given, &probs, &cl.joint),
            SuspectFilter::PredictedNeqGiven => predicted_neq_given(k, &given, &probs),
        };
        let agreement = given
            .iter()
            .zip(&probs)
            .filter(|(g, p)| crate::best_class(p) == **g)
            .count() as f64
            / given.len() as f64;
        let kept: HashSet<u64> = self
            .store
            .kept_labels(version.id, column)?
            .into_iter()
            .collect();
        let all: Vec<Suspect> = chosen
            .iter()
            .map(|&(i, c)| Suspect {
                row_id: ids[labelled[i]],
                given: classes[given[i]].clone(),
                suggested: classes[c].clone(),
                given_probability: probs[i][given[i]],
                suggested_probability: probs[i][c],
            })
            .collect();
        let suspects: Vec<Suspect> = all
            .iter()
            .filter(|s| !kept.contains(&s.row_id))
            .cloned()
            .collect();
        let pairs = pair_estimates(&classes, &cl.joint, &per_class);
        let mut report = SuspectReport {
            run: 0,
            dataset: version.dataset.clone(),
            version: version.version,
            column: column.to_owned(),
            classes,
            thresholds: cl.thresholds,
            labelled_rows: labelled.len(),
            folds: settings.folds,
            agreement,
            seconds: started.elapsed().as_secs_f64(),
            kept: all.len() - suspects.len(),
            estimated_errors: pairs.iter().map(|p| p.estimated).sum(),
            suspects,
            pairs,
        };
        let summary = serde_json::json!({
            "classes": report.classes,
            "thresholds": report.thresholds,
            "labelled_rows": report.labelled_rows,
            "agreement": report.agreement,
            "seconds": report.seconds,
            "kept": report.kept,
            "pairs": report.pairs,
            "estimated_errors": report.estimated_errors,
        });
        report.run = self.store.record_suspect_run(
            version.id,
            column,
            &serde_json::to_value(settings).unwrap_or_default(),
            &summary,
            &serde_json::to_value(&report.suspects).unwrap_or_default(),
        )?;
        Ok(report)
    }

    /// Keep `rows`' labels in `reference`'s `column` as they are: they are not suspected again for
    /// this version.
    pub fn keep_labels(&self, reference: &str, column: &str, rows: &[u64]) -> Result<()> {
        let version = self.resolve(reference)?;
        for &r in rows {
            self.store.keep_label(version.id, column, r)?;
        }
        Ok(())
    }

    pub fn unkeep_label(
        &self,
        base: &kiln_store::DatasetVersion,
        column: &str,
        row: u64,
    ) -> Result<()> {
        Ok(self.store.unkeep_label(base.id, column, row)?)
    }

    pub fn kept_labels(&self, base: &kiln_store::DatasetVersion, column: &str) -> Result<Vec<u64>> {
        Ok(self.store.kept_labels(base.id, column)?)
    }
}

/// How unsure a model is about an item.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Uncertainty {
    /// 1 − the top probability.
    #[default]
    LeastConfidence,
    /// 1 − (top − second): a close call between two classes.
    Margin,
    /// Shannon entropy of the probabilities, normalised to [0, 1] by ln k.
    Entropy,
}

impl Uncertainty {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "least" | "least-confidence" | "least_confidence" => Some(Self::LeastConfidence),
            "margin" => Some(Self::Margin),
            "entropy" => Some(Self::Entropy),
            _ => None,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::LeastConfidence => "least confidence",
            Self::Margin => "margin",
            Self::Entropy => "entropy",
        }
    }

    /// The score of one probability vector: higher is more uncertain.
    pub fn score(self, p: &[f64]) -> f64 {
        let mut s: Vec<f64> = p.to_vec();
        s.sort_by(|a, b| b.total_cmp(a));
        let top = s.first().copied().unwrap_or(0.0);
        match self {
            Self::LeastConfidence => 1.0 - top,
            Self::Margin => 1.0 - (top - s.get(1).copied().unwrap_or(0.0)),
            Self::Entropy => {
                let h: f64 = p.iter().filter(|v| **v > 0.0).map(|v| -v * v.ln()).sum();
                if p.len() > 1 {
                    h / (p.len() as f64).ln()
                } else {
                    0.0
                }
            }
        }
    }
}

/// A run's prediction for one row.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RowPrediction {
    pub row_id: u64,
    pub class: String,
    /// The predicted class's probability.
    pub score: f64,
    pub probabilities: Vec<f64>,
}

/// A run's predictions for rows of a version.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Predictions {
    pub run: i64,
    pub classes: Vec<String>,
    pub rows: Vec<RowPrediction>,
}

/// An unlabeled row and how unsure the run is about it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NextItem {
    pub row_id: u64,
    pub uncertainty: f64,
    pub predicted: String,
    pub score: f64,
}

impl Workspace {
    /// Run `run`'s model on `df` (rows with ids): one prediction per row.
    pub fn predictions_for(&self, run: i64, df: &DataFrame) -> Result<Predictions> {
        let model = self.load_model(run)?;
        let ids = kiln_data::row_ids(df)?;
        let probs = model.predict_proba(df)?;
        let classes = model.classes().to_vec();
        let rows = ids
            .into_iter()
            .zip(probs)
            .map(|(row_id, p)| {
                let best = crate::best_class(&p);
                RowPrediction {
                    row_id,
                    class: classes.get(best).cloned().unwrap_or_default(),
                    score: p.get(best).copied().unwrap_or(0.0),
                    probabilities: p,
                }
            })
            .collect();
        Ok(Predictions { run, classes, rows })
    }

    /// The `count` unlabeled rows of `reference`'s `column` the run is least sure about, most uncertain
    /// first (ties by row id).
    pub fn next_to_label(
        &self,
        reference: &str,
        column: &str,
        run: i64,
        strategy: Uncertainty,
        count: usize,
    ) -> Result<Vec<NextItem>> {
        let version = self.resolve(reference)?;
        let df = self.load_with_ids(&version)?;
        let unlabeled: Vec<usize> = match df.column(column) {
            Ok(c) => (0..df.height())
                .filter(|&i| c.get(i).is_ok_and(|v| v.is_null()))
                .collect(),
            Err(_) => (0..df.height()).collect(),
        };
        let p = self.predictions_for(run, &take(&df, &unlabeled)?)?;
        let mut items: Vec<NextItem> = p
            .rows
            .into_iter()
            .map(|r| NextItem {
                row_id: r.row_id,
                uncertainty: strategy.score(&r.probabilities),
                predicted: r.class,
                score: r.score,
            })
            .collect();
        items.sort_by(|a, b| {
            b.uncertainty
                .total_cmp(&a.uncertainty)
                .then(a.row_id.cmp(&b.row_id))
        });
        items.truncate(count);
        Ok(items)
    }
}

/// Pre-labels by row id: the predicted class and its probability.
pub type Suggestions = std::collections::HashMap<u64, (String, f64)>;

/// A model's help attached to a labeling session.
#[derive(Clone, Debug, Default)]
pub struct Assist {
    /// Pre-labels: a run's predicted class and its probability per row without a label. They are
    /// suggestions only: nothing counts as a label until accepted.
    pub suggestions: Suggestions,
    /// The run that made the suggestions or the order.
    pub run: Option<i64>,
    /// Unlabeled positions, most uncertain first, and by which measure.
    pub order: Option<Vec<usize>>,
    pub order_by: Option<Uncertainty>,
    /// The suspect-label review in progress.
    pub review: Option<Review>,
}

/// Walking a suspects run's rows in rank order.
#[derive(Clone, Debug, PartialEq)]
pub struct Review {
    pub run: i64,
    pub suspects: Vec<Suspect>,
    /// Index of the suspect shown.
    pub index: usize,
    pub fixed: usize,
    pub kept: usize,
    /// The run's estimated number of label errors (the calibrated confident joint's off-diagonal).
    pub estimated_errors: f64,
}

/// The message of a label commit: fixes from a suspect review name the run they came from ("Fix labels
/// from suspects run 3", or the user's message with "(fixes from suspects run 3)"); `None` for no message.
pub fn commit_message(message: &str, suspects_run: Option<i64>) -> Option<String> {
    let message = message.trim();
    let text = match suspects_run {
        Some(run) if message.is_empty() => format!("Fix labels from suspects run {run}"),
        Some(run) => format!("{message} (fixes from suspects run {run})"),
        None => message.to_owned(),
    };
    Some(text).filter(|m| !m.is_empty())
}

impl Workspace {
    /// The message of label fixes made from suspects run `run` of `reference`'s `column` (see
    /// [`commit_message`]); refuses a run of another version or column, or none.
    pub fn fixes_message(
        &self,
        reference: &str,
        column: &str,
        message: Option<&str>,
        run: i64,
    ) -> Result<Option<String>> {
        let base = self.resolve(reference)?;
        let Some(r) = self.store.suspect_run(run)? else {
            return Err(invalid(format!("there is no suspects run {run}")));
        };
        if r.base_version_id != base.id || r.column != column {
            return Err(invalid(format!(
                "suspects run {run} is of another version or column, not `{column}` of {}@{}",
                base.dataset, base.version
            )));
        }
        Ok(commit_message(message.unwrap_or_default(), Some(run)))
    }
}

impl Review {
    /// Where the estimated number of label errors ends in the queue (a position, rounded).
    pub fn estimate_ends_at(&self) -> usize {
        self.estimated_errors.round().max(0.0) as usize
    }

    /// Where the shown suspect stands against the estimate: "about 89 label errors expected; 12 more
    /// to go before you are past them" or, from the estimate on, "the model expects about 89 errors;
    /// you are past them here".
    pub fn estimate_marker(&self) -> String {
        let end = self.estimate_ends_at();
        if self.index < end {
            format!(
                "The model expects about {end} label errors: {} more before you are past them.",
                end - self.index
            )
        } else {
            format!(
                "The model expects about {end} errors; you are past them here: from now on most \
                 suggestions are likely wrong, keep going only while they are right."
            )
        }
    }

    pub fn current(&self) -> Option<&Suspect> {
        self.suspects.get(self.index)
    }

    pub fn done(&self) -> bool {
        self.index >= self.suspects.len()
    }
}

impl crate::labels::LabelSession {
    /// The suggestion for the row at `pos`, while it has no label.
    pub fn suggestion_at(&self, pos: usize) -> Option<(&str, f64)> {
        if self.label_at(pos).is_some() {
            return None;
        }
        self.assist
            .suggestions
            .get(&self.ids[pos])
            .map(|(c, p)| (c.as_str(), *p))
    }

    /// Rows without a label whose suggestion's probability is at least `min`: `(row, class)`.
    pub fn suggestions_above(&self, min: f64) -> Vec<(u64, Option<String>)> {
        (0..self.ids.len())
            .filter_map(|i| {
                let (c, p) = self.suggestion_at(i)?;
                (p >= min).then(|| (self.ids[i], Some(c.to_owned())))
            })
            .collect()
    }

    /// Accept every suggestion at or above `min` as a label (one undo step); returns how many.
    pub fn accept_suggestions(&mut self, ws: &Workspace, min: f64) -> Result<usize> {
        let labels = self.suggestions_above(min);
        if !labels.is_empty() {
            self.set_each(ws, &labels)?;
        }
        Ok(labels.len())
    }

    /// Start reviewing a suspects run: the cursor goes to the first suspect still in this version.
    pub fn start_review(&mut self, report: &SuspectReport) {
        self.assist.review = Some(Review {
            run: report.run,
            suspects: report.suspects.clone(),
            index: 0,
            fixed: 0,
            kept: 0,
            estimated_errors: report.estimated_errors,
        });
        self.follow_review();
    }

    fn follow_review(&mut self) {
        // Skip suspects whose rows are gone from this version.
        loop {
            let Some(row) = self
                .assist
                .review
                .as_ref()
                .and_then(Review::current)
                .map(|s| s.row_id)
            else {
                return;
            };
            if let Some(pos) = self.position_of(row) {
                self.cursor = pos;
                return;
            }
            if let Some(r) = &mut self.assist.review {
                r.index += 1;
            }
        }
    }

    /// Decide the current suspect: `Some(class)` labels it (the suggestion, or any class), `None`
    /// keeps the given label (remembered for this version). Then the next suspect.
    pub fn review_decide(&mut self, ws: &Workspace, label: Option<&str>) -> Result<()> {
        let Some(suspect) = self
            .assist
            .review
            .as_ref()
            .and_then(Review::current)
            .cloned()
        else {
            return Ok(());
        };
        match label {
            Some(class) => {
                self.set(ws, &[suspect.row_id], Some(class), false)?;
            }
            None => {
                ws.store
                    .keep_label(self.base.id, &self.column, suspect.row_id)?;
            }
        }
        if let Some(r) = &mut self.assist.review {
            if label.is_some_and(|c| c != suspect.given) {
                r.fixed += 1;
            } else {
                r.kept += 1;
            }
            r.index += 1;
        }
        self.follow_review();
        Ok(())
    }
}

impl Workspace {
    /// `run`'s predictions for the rows of `session` without a label (draft included), and their
    /// positions.
    fn unlabeled_predictions(
        &self,
        session: &crate::labels::LabelSession,
        run: i64,
    ) -> Result<(Vec<usize>, Predictions)> {
        let unlabeled: Vec<usize> = (0..session.ids.len())
            .filter(|&i| session.label_at(i).is_none())
            .collect();
        let p = self.predictions_for(run, &take(&session.df, &unlabeled)?)?;
        Ok((unlabeled, p))
    }

    /// Pre-labels for the rows of `session` without a label: the run's class and its probability.
    pub fn suggestions(
        &self,
        session: &crate::labels::LabelSession,
        run: i64,
    ) -> Result<Suggestions> {
        let (_, p) = self.unlabeled_predictions(session, run)?;
        Ok(p.rows
            .into_iter()
            .map(|r| (r.row_id, (r.class, r.score)))
            .collect())
    }

    /// Positions of `session`'s unlabeled rows, most uncertain (by `strategy`) under `run` first.
    pub fn uncertainty_order(
        &self,
        session: &crate::labels::LabelSession,
        run: i64,
        strategy: Uncertainty,
    ) -> Result<Vec<usize>> {
        let (unlabeled, p) = self.unlabeled_predictions(session, run)?;
        let mut scored: Vec<(usize, f64)> = unlabeled
            .into_iter()
            .zip(p.rows)
            .map(|(pos, r)| (pos, strategy.score(&r.probabilities)))
            .collect();
        scored.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        Ok(scored.into_iter().map(|(p, _)| p).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_and_ranking_by_hand() {
        // Three classes, six rows. Thresholds: class 0 = (0.8 + 0.3) / 2 = 0.55, class 1 = (0.7 + 0.2)
        // / 2 = 0.45, class 2 = (0.9 + 0.5) / 2 = 0.7.
        let given = [0, 0, 1, 1, 2, 2];
        let probs = vec![
            vec![0.8, 0.1, 0.1],   // fine
            vec![0.3, 0.6, 0.1],   // 1 clears 0.45 with 0.6 > 0.3: suspect, suggest 1
            vec![0.2, 0.7, 0.1],   // fine
            vec![0.75, 0.2, 0.05], // 0 clears 0.55 with 0.75 > 0.2: suspect, suggest 0 (lowest given p)
            vec![0.05, 0.05, 0.9], // fine
            vec![0.25, 0.25, 0.5], // nobody else clears: not a suspect
        ];
        let cl = confident_learning(3, &given, &probs);
        for (t, want) in cl.thresholds.iter().zip([0.55, 0.45, 0.7]) {
            assert!((t - want).abs() < 1e-12, "{t} vs {want}");
        }
        assert_eq!(cl.suspects, [(3, 0), (1, 1)]);
        // Row 5: class 2's 0.5 is under 0.7, nothing clears: not in the joint.
        assert_eq!(cl.joint, [[1, 1, 0], [1, 1, 0], [0, 0, 1]]);
        let classes: Vec<String> = ["a", "b", "c"].iter().map(|s| (*s).to_owned()).collect();
        let pairs = pair_estimates(&classes, &cl.joint, &[2, 2, 2]);
        assert_eq!(pairs.len(), 2);
        assert!((pairs[0].estimated - 1.0).abs() < 1e-12);
    }

    #[test]
    fn ties_and_clean_labels_are_not_suspects() {
        // A tie between the given class and another that clears its threshold is not a suspect.
        let given = [0, 1];
        let probs = vec![vec![0.5, 0.5], vec![0.5, 0.5]];
        assert!(confident_learning(2, &given, &probs).suspects.is_empty());
        // A model that agrees with every label finds nothing.
        let given = [0, 1, 2, 0, 1, 2];
        let probs: Vec<Vec<f64>> = given
            .iter()
            .map(|&g| (0..3).map(|c| if c == g { 0.9 } else { 0.05 }).collect())
            .collect();
        let cl = confident_learning(3, &given, &probs);
        assert!(cl.suspects.is_empty());
        assert!(
            pair_estimates(&["a".into(), "b".into(), "c".into()], &cl.joint, &[2, 2, 2]).is_empty()
        );
    }

    #[test]
    fn a_commit_after_a_review_names_the_suspects_run() {
        assert_eq!(
            commit_message("", Some(3)).as_deref(),
            Some("Fix labels from suspects run 3")
        );
        assert_eq!(
            commit_message(" relabel the 7s ", Some(3)).as_deref(),
            Some("relabel the 7s (fixes from suspects run 3)")
        );
        assert_eq!(commit_message("  ", None), None);
        assert_eq!(commit_message("ok", None).as_deref(), Some("ok"));
    }

    #[test]
    fn prune_by_noise_rate_takes_the_estimated_count_by_margin() {
        // Class 0: four rows, the joint says one of them is class 1. Row 1 has the widest margin for
        // class 1 (0.7 − 0.2) but row 2 also prefers 1 (0.55 − 0.45): only the estimated one is taken.
        let given = [0, 0, 0, 0, 1, 1];
        let probs = vec![
            vec![0.9, 0.1],
            vec![0.2, 0.7],
            vec![0.45, 0.55],
            vec![0.8, 0.2],
            vec![0.1, 0.9],
            vec![0.2, 0.8],
        ];
        let joint = vec![vec![2, 1], vec![0, 2]];
        assert_eq!(prune_by_noise_rate(2, &given, &probs, &joint), [(1, 1)]);
        // Calibration scales each row to its labelled count, rounding by largest remainders.
        assert_eq!(calibrated_counts(&joint, &[4, 2]), [vec![3, 1], vec![0, 2]]);
        // A row the model agrees with is never a suspect, even when the count reaches it.
        let joint = vec![vec![1, 3], vec![0, 2]];
        let found = prune_by_noise_rate(2, &given, &probs, &joint);
        assert_eq!(
            found,
            [(1, 1), (2, 1)],
            "rows 0 and 3 prefer their own label"
        );
    }

    #[test]
    fn predicted_neq_given_lists_every_disagreement_ranked_by_the_given_probability() {
        // Row 0 agrees; row 1 prefers class 2 (given 0.3); row 2 ties its label with class 0 (the given
        // class wins ties: no suspect); row 3 prefers class 0 without clearing any threshold (given 0.2).
        let given = [0, 0, 1, 2];
        let probs = vec![
            vec![0.8, 0.1, 0.1],
            vec![0.3, 0.1, 0.6],
            vec![0.45, 0.45, 0.1],
            vec![0.4, 0.38, 0.22],
        ];
        assert_eq!(predicted_neq_given(3, &given, &probs), [(3, 0), (1, 2)]);
        // Row 3 is no suspect under the thresholds (0.55 for class 0 is above its 0.4).
        let cl = confident_learning(3, &given, &probs);
        assert!(
            cl.suspects.iter().all(|(i, _)| *i != 3),
            "{:?}",
            cl.suspects
        );
        // A confident-learning suspect always has another class above its given one: on any
        // probabilities its suspects are among these, with the same suggestion.
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let given: Vec<usize> = (0..400).map(|i| i % 4).collect();
        let probs: Vec<Vec<f64>> = given
            .iter()
            .map(|&g| {
                let mut p: Vec<f64> = (0..4)
                    .map(|c| rand::Rng::random::<f64>(&mut rng) + if c == g { 0.6 } else { 0.0 })
                    .collect();
                let sum: f64 = p.iter().sum();
                for v in &mut p {
                    *v /= sum;
                }
                p
            })
            .collect();
        let wide: HashSet<(usize, usize)> =
            predicted_neq_given(4, &given, &probs).into_iter().collect();
        let cl = confident_learning(4, &given, &probs);
        assert!(!cl.suspects.is_empty() && wide.len() > cl.suspects.len());
        assert!(cl.suspects.iter().all(|s| wide.contains(s)));
    }

    #[test]
    fn folds_are_stratified_and_seeded() {
        let given: Vec<usize> = (0..100).map(|i| i % 3).collect();
        let f = stratified_folds(&given, 3, 5, 7);
        assert_eq!(f, stratified_folds(&given, 3, 5, 7));
        assert_ne!(f, stratified_folds(&given, 3, 5, 8));
        for fold in 0..5 {
            let n = f.iter().filter(|x| **x == fold).count();
            assert!((19..=21).contains(&n), "{n}");
            for class in 0..3 {
                let m = (0..100)
                    .filter(|&i| f[i] == fold && given[i] == class)
                    .count();
                assert!((6..=7).contains(&m), "fold {fold} class {class}: {m}");
            }
        }
    }

    #[test]
    fn uncertainty_scores() {
        let sure = [0.98, 0.01, 0.01];
        let torn = [0.45, 0.45, 0.10];
        let flat = [1.0 / 3.0; 3];
        for s in [
            Uncertainty::LeastConfidence,
            Uncertainty::Margin,
            Uncertainty::Entropy,
        ] {
            assert!(s.score(&sure) < s.score(&torn), "{s:?}");
        }
        assert!((Uncertainty::Margin.score(&torn) - 1.0).abs() < 1e-12);
        assert!((Uncertainty::Entropy.score(&flat) - 1.0).abs() < 1e-12);
        assert!((Uncertainty::LeastConfidence.score(&sure) - 0.02).abs() < 1e-12);
    }
}
