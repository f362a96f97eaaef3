//! Serving capacity as evidence for the release gates: a version's server driven at constant arrival
//! rates (the load run itself is `kiln_serve::capacity`), the steps it held, and the brief's serving
//! targets (`throughput_rps`, `p50_ms`, `p99_ms`, `p999_ms`, `memory_mb`) judged on them.

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use super::{Brief, GateResult, Op, Target, invalid};
use crate::{Result, Workspace};

/// The serving metrics a brief's target may name.
pub const SERVING_METRICS: [&str; 5] =
    ["throughput_rps", "p50_ms", "p99_ms", "p999_ms", "memory_mb"];

/// Latency metrics judged at each step (the rest are judged on the whole run).
const LATENCY_METRICS: [&str; 3] = ["p50_ms", "p99_ms", "p999_ms"];

/// Requests per second a capacity run starts at when the brief asks for no throughput.
pub const DEFAULT_RATE: f64 = 100.0;

/// Least share of the asked rate a step must send for the server to have held it.
pub const HELD_SHARE: f64 = 0.99;

/// One step of a capacity run: requests at one constant rate for a few seconds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CapacityStep {
    /// Requests per second asked.
    pub rate: f64,
    /// Requests per second sent (below `rate` when no connection was free: the server fell behind).
    pub achieved_rate: f64,
    pub sent: u64,
    pub ok: u64,
    /// Answers other than 2xx, and failed connections.
    pub errors: u64,
    /// Latency from each request's scheduled time, in milliseconds.
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
}

impl CapacityStep {
    pub fn metric(&self, name: &str) -> Option<f64> {
        match name {
            "p50_ms" => Some(self.p50_ms),
            "p99_ms" => Some(self.p99_ms),
            "p999_ms" => Some(self.p999_ms),
            _ => None,
        }
    }

    /// Whether the server held this rate: every request sent on time (within 1 %), none failed, and
    /// every latency target met.
    pub fn held(&self, latency_targets: &[Target]) -> bool {
        self.achieved_rate >= HELD_SHARE * self.rate
            && self.errors == 0
            && self.sent > 0
            && latency_targets
                .iter()
                .all(|t| self.metric(&t.metric).is_some_and(|v| t.holds(v)))
    }
}

/// A capacity run of one version, as stored on it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Capacity {
    pub model: String,
    pub version: i64,
    /// The rate the product needs (the brief's `throughput_rps`, or the rate asked): the first step.
    pub required_rate: f64,
    /// The latency targets each step was judged by when measured.
    pub latency_targets: Vec<Target>,
    /// In the order run: the required rate, then rising rates, then between the last held and the first
    /// missed.
    pub steps: Vec<CapacityStep>,
    /// The highest rate held (`None`: not even the first step).
    pub max_rate_held: Option<f64>,
    /// The server process's peak resident memory over the run, in MiB (`None` where the system does
    /// not say).
    pub peak_memory_mb: Option<f64>,
    pub connections: usize,
    pub step_seconds: f64,
    /// Where it ran: host name and cores (the load generator shares them with the server).
    pub machine: String,
    /// The server was slowed on purpose by this many milliseconds per row (a test of the gate itself).
    #[serde(default)]
    pub debug_delay_ms: Option<u64>,
}

impl Capacity {
    /// The step at the required rate.
    pub fn at_required(&self) -> Option<&CapacityStep> {
        self.steps.first()
    }

    /// The highest rate held judged by `latency_targets` (the brief's now, which may differ from the
    /// ones the run was measured by).
    pub fn rate_held(&self, latency_targets: &[Target]) -> Option<f64> {
        self.steps
            .iter()
            .filter(|s| s.held(latency_targets))
            .map(|s| s.rate)
            .max_by(f64::total_cmp)
    }

    /// The rate the brief needs (its `throughput_rps`), else the rate this run started at.
    pub fn needed_rate(&self, brief: &Brief) -> f64 {
        brief.required_rate().unwrap_or(self.required_rate)
    }

    /// The step at `rate`, if the run had one.
    pub fn step_at(&self, rate: f64) -> Option<&CapacityStep> {
        self.steps.iter().find(|s| (s.rate - rate).abs() < 1e-6)
    }

    /// The value of a serving metric as `brief` judges it: the highest rate held by its latency targets,
    /// latencies at the rate it needs, the peak memory.
    pub fn metric(&self, name: &str, brief: &Brief) -> Option<f64> {
        match name {
            "throughput_rps" => Some(self.rate_held(&brief.latency_targets()).unwrap_or(0.0)),
            "memory_mb" => self.peak_memory_mb,
            m => self.step_at(self.needed_rate(brief))?.metric(m),
        }
    }

    /// One sentence for the release request.
    pub fn sentence(&self, brief: &Brief) -> String {
        let held = self.rate_held(&brief.latency_targets());
        let needed_rate = self.needed_rate(brief);
        let needed = format_rate(needed_rate);
        let mut s = match held {
            Some(h) => format!(
                "v{} held up to {} requests/s (needed: {needed})",
                self.version,
                format_rate(h)
            ),
            None => format!(
                "v{} held none of the rates tried (needed: {needed} requests/s)",
                self.version
            ),
        };
        match self.step_at(needed_rate) {
            Some(a) => {
                let _ = write!(
                    s,
                    "; at {needed}/s half the requests were answered within {:.1} ms and 99 in 100 within {:.1} ms",
                    a.p50_ms, a.p99_ms
                );
            }
            None => {
                let _ = write!(s, "; it was not measured at {needed}/s");
            }
        }
        if let Some(m) = self.peak_memory_mb {
            let _ = write!(s, "; the server used at most {m:.0} MiB of memory");
        }
        s.push('.');
        s
    }
}

fn format_rate(r: f64) -> String {
    if (r - r.round()).abs() < 1e-9 {
        format!("{r:.0}")
    } else {
        format!("{r:.1}")
    }
}

impl Target {
    /// A serving target, judged on a capacity run rather than the evaluation rows.
    pub fn is_serving(&self) -> bool {
        SERVING_METRICS.contains(&self.metric.as_str())
    }
}

impl Brief {
    /// The latency targets a capacity step must meet (`p50_ms`, `p99_ms`, `p999_ms`, at most).
    pub fn latency_targets(&self) -> Vec<Target> {
        self.targets
            .iter()
            .filter(|t| LATENCY_METRICS.contains(&t.metric.as_str()) && t.op == Op::AtMost)
            .cloned()
            .collect()
    }

    /// The rate the product needs: the brief's `throughput_rps` target.
    pub fn required_rate(&self) -> Option<f64> {
        self.targets
            .iter()
            .find(|t| t.metric == "throughput_rps")
            .map(|t| t.value)
    }

    pub fn has_serving_targets(&self) -> bool {
        self.targets.iter().any(Target::is_serving)
    }
}

/// The serving gates of a brief judged on a version's latest capacity run (each fails, saying why, when
/// the version has none or it was not measured at the rate the brief needs).
pub fn serving_gates(brief: &Brief, capacity: Option<&Capacity>) -> Vec<GateResult> {
    brief
        .targets
        .iter()
        .filter(|t| t.is_serving())
        .map(|t| {
            let value = capacity.and_then(|c| c.metric(&t.metric, brief));
            GateResult {
                gate: match capacity {
                    None => format!("{} (not measured yet: run a capacity test)", t.text()),
                    Some(c) if value.is_none() && t.metric != "memory_mb" => format!(
                        "{} (not measured at the {} requests/s needed: run a capacity test at that rate)",
                        t.text(),
                        format_rate(c.needed_rate(brief))
                    ),
                    Some(_) => t.text(),
                },
                value,
                passed: value.is_some_and(|v| t.holds(v)),
            }
        })
        .collect()
}

impl Workspace {
    /// Keep a capacity run on its version (and in the audit log).
    pub fn record_capacity(&mut self, capacity: &Capacity, by: &str) -> Result<i64> {
        let by = self.who(by)?;
        if capacity.steps.is_empty() {
            return Err(invalid("a capacity run without a step measured nothing"));
        }
        Ok(self.store.record_capacity(
            &capacity.model,
            capacity.version,
            &by,
            &serde_json::to_value(capacity).unwrap_or_default(),
        )?)
    }

    /// The latest capacity run of a version, if it has one.
    pub fn capacity(&self, name: &str, version: i64) -> Result<Option<Capacity>> {
        let Some(last) = self.store.capacity_runs(name, version)?.pop() else {
            return Ok(None);
        };
        serde_json::from_value(last.result).map(Some).map_err(|e| {
            invalid(format!(
                "{name} v{version} has an unreadable capacity run: {e}"
            ))
        })
    }
}

impl Workspace {
    /// Up to `limit` prediction requests (`/v1/predict` bodies of one row each) that a capacity run sends
    /// in turn: rows of the brief's evaluation data, or of the version's training data when the brief has
    /// none, with every feature the version reads present (rows missing one are passed over).
    pub fn capacity_requests(
        &self,
        name: &str,
        version: i64,
        limit: usize,
    ) -> Result<Vec<Vec<u8>>> {
        use kiln_data::polars::prelude::*;
        let mv = self.store.model_version(name, version)?;
        let run = self.store.run(mv.run_id)?;
        // From the run's record: the weights are the server's to load (and to refuse).
        let spec: kiln_train::FeatureSpec =
            serde_json::from_value(run.artifacts["feature_spec"].clone()).map_err(|e| {
                invalid(format!(
                    "{name} v{version}'s run {} has no readable feature specification: {e}",
                    run.id
                ))
            })?;
        let features = crate::serving::served_features(&spec);
        let data = match self.brief(name)?.eval_dataset {
            Some(e) => self.resolve(&e)?,
            None => self.store.version_by_id(run.dataset_version_id)?,
        };
        let df = self.load(&data)?;
        let mut columns = Vec::with_capacity(features.len());
        for f in &features {
            let c = df.column(&f.name).map_err(|_| {
                invalid(format!(
                    "{}@{} has no `{}` column, which {name} v{version} reads",
                    data.dataset, data.version, f.name
                ))
            })?;
            let numeric = f.kind == crate::serving::FeatureKind::Numeric;
            columns.push((
                f.name.as_str(),
                c.cast(if numeric {
                    &DataType::Float64
                } else {
                    &DataType::String
                })?,
                numeric,
            ));
        }
        let mut out = Vec::new();
        'rows: for i in 0..df.height() {
            if out.len() >= limit {
                break;
            }
            let mut row = serde_json::Map::new();
            for (name, c, numeric) in &columns {
                let value = if *numeric {
                    c.f64()?.get(i).map(serde_json::Value::from)
                } else {
                    c.str()?.get(i).map(serde_json::Value::from)
                };
                let Some(v) = value else { continue 'rows };
                row.insert((*name).to_owned(), v);
            }
            out.push(serde_json::to_vec(&serde_json::json!({ "rows": [row] })).unwrap_or_default());
        }
        if out.is_empty() {
            return Err(invalid(format!(
                "{}@{} has no row with every feature {name} v{version} reads: nothing to send",
                data.dataset, data.version
            )));
        }
        Ok(out)
    }
}
