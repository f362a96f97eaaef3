//! Sweeps: a grid or random search over training parameters. Every trial is a normal run tagged with the
//! sweep's id; trials run one after another, or `parallel` at a time on worker threads that each open the
//! workspace (`SQLite` in WAL mode takes their writes in turn).

use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use kiln_train::TrainParams;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

use crate::training::{RunSummary, TrainRequest};
use crate::{CoreError, Result, Workspace};
use kiln_store::{RunStatus, SweepStatus};

/// One trial's parameter values, as `(name, text)`.
pub type Assignment = Vec<(String, String)>;

/// The values of one parameter as typed: comma-separated, blanks ignored (several widths per layer are
/// written `128x64`, so a comma always separates values).
pub fn split_values(text: &str) -> Vec<String> {
    text.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// A numeric range searched at random.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ParamRange {
    pub low: f64,
    pub high: f64,
    /// Sample uniformly in log space (learning rates, weight decay).
    #[serde(default)]
    pub log: bool,
    /// Round to a whole number (batch size, epochs, widths).
    #[serde(default)]
    pub integer: bool,
}

impl ParamRange {
    /// `LOW:HIGH`, optionally followed by `:log` and/or `:int`.
    pub fn parse(text: &str) -> Option<Self> {
        let mut parts = text.split(':');
        let low: f64 = parts.next()?.trim().parse().ok()?;
        let high: f64 = parts.next()?.trim().parse().ok()?;
        let mut r = Self {
            low,
            high,
            log: false,
            integer: false,
        };
        for flag in parts {
            match flag.trim() {
                "log" => r.log = true,
                "int" => r.integer = true,
                _ => return None,
            }
        }
        (low.is_finite() && high.is_finite() && low <= high && (!r.log || low > 0.0)).then_some(r)
    }

    fn sample(&self, rng: &mut impl Rng) -> String {
        let u: f64 = rng.random();
        let v = if self.log {
            (self.low.ln() + u * (self.high.ln() - self.low.ln())).exp()
        } else {
            self.low + u * (self.high - self.low)
        };
        if self.integer {
            format!("{}", v.round() as i64)
        } else {
            format!("{v:.6e}")
        }
    }
}

/// How the trials are chosen.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Search {
    /// Every combination of the listed values.
    Grid,
    /// `trials` draws: a listed parameter takes one of its values, a ranged one a value in its range.
    Random { trials: usize, seed: u64 },
}

/// A sweep: the base request, the values and ranges to search, and how many runs at a time.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SweepSpec {
    pub base: TrainRequest,
    /// Parameter name → the values to try (text, as `--param` takes them).
    pub values: BTreeMap<String, Vec<String>>,
    /// Parameter name → a range (random search only).
    #[serde(default)]
    pub ranges: BTreeMap<String, ParamRange>,
    pub search: Search,
    /// Runs at a time (1 = one after another).
    pub parallel: usize,
}

fn invalid(message: String) -> CoreError {
    CoreError::Train(kiln_train::TrainError::Invalid(message))
}

impl SweepSpec {
    /// A learning curve: the base configuration trained on each share of the training rows in
    /// `fractions` (nested stratified subsets), each with `repeats` seeds counted up from the base seed,
    /// so the curve shows the spread over seeds.
    pub fn learning_curve(base: TrainRequest, fractions: &[f64], repeats: usize) -> Result<Self> {
        if fractions.is_empty() {
            return Err(invalid(
                "a learning curve needs at least one fraction".into(),
            ));
        }
        if repeats == 0 {
            return Err(invalid(
                "a learning curve needs at least one seed per fraction".into(),
            ));
        }
        let seeds = (0..repeats as u64)
            .map(|i| (base.params.seed + i).to_string())
            .collect();
        let mut values = BTreeMap::new();
        values.insert(
            "fraction".to_owned(),
            fractions.iter().map(ToString::to_string).collect(),
        );
        values.insert("seed".to_owned(), seeds);
        Ok(Self {
            base,
            values,
            ranges: BTreeMap::new(),
            search: Search::Grid,
            parallel: 1,
        })
    }

    /// Whether this sweep varies the share of training rows (its runs make a learning curve).
    pub fn is_learning_curve(&self) -> bool {
        self.values.get("fraction").is_some_and(|v| v.len() > 1)
    }
    /// The parameter assignments of every trial, in order. Every value is checked before anything runs.
    pub fn trials(&self) -> Result<Vec<Vec<(String, String)>>> {
        for (k, vs) in &self.values {
            if vs.is_empty() {
                return Err(invalid(format!("sweep parameter `{k}` has no values")));
            }
            for v in vs {
                self.base
                    .params
                    .clone()
                    .set(k, v)
                    .map_err(CoreError::Train)?;
            }
        }
        let trials: Vec<Vec<(String, String)>> = match self.search {
            Search::Grid => {
                if !self.ranges.is_empty() {
                    return Err(invalid(
                        "ranges need a random search (a grid takes listed values)".into(),
                    ));
                }
                let mut out = vec![Vec::new()];
                for (k, vs) in &self.values {
                    out = out
                        .into_iter()
                        .flat_map(|t: Vec<(String, String)>| {
                            vs.iter().map(move |v| {
                                let mut t = t.clone();
                                t.push((k.clone(), v.clone()));
                                t
                            })
                        })
                        .collect();
                }
                out
            }
            Search::Random { trials, seed } => {
                if trials == 0 {
                    return Err(invalid("a random sweep needs at least one trial".into()));
                }
                let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
                (0..trials)
                    .map(|_| {
                        let mut t = Vec::new();
                        for (k, vs) in &self.values {
                            t.push((k.clone(), vs[rng.random_range(0..vs.len())].clone()));
                        }
                        for (k, r) in &self.ranges {
                            t.push((k.clone(), r.sample(&mut rng)));
                        }
                        t
                    })
                    .collect()
            }
        };
        if trials.len() > 10_000 {
            return Err(invalid(format!(
                "the sweep has {} trials; at most 10000",
                trials.len()
            )));
        }
        for t in &trials {
            self.params_of(t)?;
        }
        Ok(trials)
    }

    /// The base parameters with a trial's assignment applied.
    pub fn params_of(&self, trial: &[(String, String)]) -> Result<TrainParams> {
        let mut p = self.base.params.clone();
        for (k, v) in trial {
            p.set(k, v).map_err(CoreError::Train)?;
        }
        Ok(p)
    }
}

/// One trial's outcome.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrialOutcome {
    pub trial: usize,
    pub assignment: Vec<(String, String)>,
    pub run_id: Option<i64>,
    pub status: RunStatus,
    pub error: Option<String>,
    pub test_accuracy: Option<f64>,
}

/// What a sweep did.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SweepOutcome {
    pub sweep_id: String,
    pub status: SweepStatus,
    pub trials: Vec<TrialOutcome>,
    /// The run with the best test accuracy.
    pub best_run: Option<i64>,
}

fn outcome_of(
    trial: usize,
    assignment: Vec<(String, String)>,
    run_id: Option<i64>,
    r: Result<RunSummary>,
) -> TrialOutcome {
    match r {
        Ok(s) => TrialOutcome {
            trial,
            assignment,
            run_id: Some(s.run_id),
            status: s.status,
            error: None,
            test_accuracy: s.metrics.get("test_accuracy").copied(),
        },
        // A run that failed after it started is recorded too, under `run_id`.
        Err(e) => TrialOutcome {
            trial,
            assignment,
            run_id,
            status: if matches!(e, CoreError::Cancelled) {
                RunStatus::Stopped
            } else {
                RunStatus::Failed
            },
            error: Some(e.to_string()),
            test_accuracy: None,
        },
    }
}

impl Workspace {
    /// Run a sweep. `on_trial` hears of each trial as it ends (with the number of trials). A failed
    /// trial is recorded and the sweep goes on; `cancel` stops the running trials and starts no more.
    /// The learning curve of a sweep's finished runs: `metric` by training fraction.
    pub fn learning_curve(
        &self,
        sweep: &str,
        metric: &str,
    ) -> Result<Vec<crate::compare::CurvePoint>> {
        Ok(crate::compare::learning_curve(
            &self.sweep_runs(sweep)?,
            metric,
        ))
    }

    pub fn sweep(
        &mut self,
        spec: &SweepSpec,
        cancel: &AtomicBool,
        on_trial: &(dyn Fn(&TrialOutcome, usize) + Sync),
    ) -> Result<SweepOutcome> {
        let trials = spec.trials()?;
        // Fail on a bad dataset, target or feature before anything is recorded.
        self.resolve(&spec.base.dataset)?;
        let total = trials.len();
        let sweep_id = self
            .store
            .create_sweep(&serde_json::to_value(spec).unwrap_or_default())?;
        let queue: Mutex<VecDeque<(usize, Assignment)>> =
            Mutex::new(trials.into_iter().enumerate().collect());
        let results: Mutex<Vec<TrialOutcome>> = Mutex::new(Vec::new());
        let run_trial = |ws: &mut Workspace, i: usize, assignment: Vec<(String, String)>| {
            let mut req = spec.base.clone();
            req.sweep_id = Some(sweep_id.clone());
            let (run_id, r) = match spec.params_of(&assignment) {
                Ok(p) => {
                    req.params = p;
                    ws.train_recorded(&req, cancel, &mut |_| {})
                }
                Err(e) => (None, Err(e)),
            };
            let out = outcome_of(i, assignment, run_id, r);
            on_trial(&out, total);
            results
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .push(out);
        };
        let next = || {
            if cancel.load(Ordering::Relaxed) {
                return None;
            }
            queue
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .pop_front()
        };
        let parallel = spec.parallel.clamp(1, 64);
        if parallel == 1 {
            while let Some((i, a)) = next() {
                run_trial(self, i, a);
            }
        } else {
            let root = self.root.clone();
            let errors: Mutex<Vec<CoreError>> = Mutex::new(Vec::new());
            std::thread::scope(|scope| {
                for w in 0..parallel.min(total) {
                    let (root, next, run_trial, errors) = (&root, &next, &run_trial, &errors);
                    let spawned = std::thread::Builder::new()
                        .name(format!("kiln-sweep-{w}"))
                        .spawn_scoped(scope, move || match Workspace::open(root) {
                            Ok(mut ws) => {
                                while let Some((i, a)) = next() {
                                    run_trial(&mut ws, i, a);
                                }
                            }
                            Err(e) => errors
                                .lock()
                                .unwrap_or_else(std::sync::PoisonError::into_inner)
                                .push(e),
                        });
                    if let Err(e) = spawned {
                        errors
                            .lock()
                            .unwrap_or_else(std::sync::PoisonError::into_inner)
                            .push(CoreError::io(std::path::Path::new("kiln-sweep"), e));
                    }
                }
            });
            if let Some(e) = errors
                .into_inner()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .into_iter()
                .next()
            {
                let _ = self.store.set_sweep_status(&sweep_id, SweepStatus::Failed);
                return Err(e);
            }
        }
        let mut trials = results
            .into_inner()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        trials.sort_by_key(|t| t.trial);
        let status = if cancel.load(Ordering::Relaxed) || trials.len() < total {
            SweepStatus::Stopped
        } else {
            SweepStatus::Finished
        };
        self.store.set_sweep_status(&sweep_id, status)?;
        let best_run = trials
            .iter()
            .filter_map(|t| Some((t.run_id?, t.test_accuracy?)))
            .max_by(|a, b| a.1.total_cmp(&b.1))
            .map(|(id, _)| id);
        Ok(SweepOutcome {
            sweep_id,
            status,
            trials,
            best_run,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(search: Search) -> SweepSpec {
        SweepSpec {
            base: TrainRequest {
                dataset: "d".into(),
                target: "t".into(),
                features: None,
                params: TrainParams::default(),
                device: kiln_train::DeviceChoice::Cpu,
                sweep_id: None,
            },
            values: BTreeMap::from([
                ("lr".into(), vec!["0.001".into(), "0.01".into()]),
                (
                    "hidden".into(),
                    vec!["32".into(), "64x32".into(), "16".into()],
                ),
            ]),
            ranges: BTreeMap::new(),
            search,
            parallel: 1,
        }
    }

    #[test]
    fn grid_is_the_cartesian_product_and_values_are_checked() {
        let s = spec(Search::Grid);
        let t = s.trials().unwrap();
        assert_eq!(t.len(), 6);
        assert_eq!(s.params_of(&t[1]).unwrap().hidden, vec![32]);
        assert_eq!(s.params_of(&t[2]).unwrap().hidden, vec![64, 32]);
        let mut bad = spec(Search::Grid);
        bad.values.insert("lr".into(), vec!["fast".into()]);
        let e = bad.trials().unwrap_err().to_string();
        assert!(e.contains("`fast`") && e.contains("lr"), "{e}");
    }

    #[test]
    fn random_search_is_reproducible_and_stays_in_range() {
        let mut s = spec(Search::Random {
            trials: 20,
            seed: 7,
        });
        s.ranges
            .insert("dropout".into(), ParamRange::parse("0:0.5").unwrap());
        s.ranges.insert(
            "weight_decay".into(),
            ParamRange::parse("1e-6:1e-2:log").unwrap(),
        );
        let a = s.trials().unwrap();
        assert_eq!(a, s.trials().unwrap());
        assert_eq!(a.len(), 20);
        for t in &a {
            let p = s.params_of(t).unwrap();
            assert!((0.0..=0.5).contains(&p.dropout));
            assert!((1e-6..=1e-2).contains(&p.weight_decay));
        }
        assert!(ParamRange::parse("0:1:log").is_none());
        assert!(ParamRange::parse("5:1").is_none());
    }
}
