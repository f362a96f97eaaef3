//! Shadow serving as the workspace sees it: the answers a shadow version gave beside the champion's
//! (logged by the server, never sent to a client), summed up for the Monitor — live agreement, the
//! shadow's latency and failures, and the copies dropped while it was behind.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

pub use kiln_store::ShadowAnswer;

use crate::{Result, Workspace};

/// A shadow over a window of traffic.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ShadowSummary {
    pub model: String,
    pub champion_version: Option<i64>,
    pub shadow_version: Option<i64>,
    /// Requests the shadow answered (copies it got and answered, failures aside).
    pub compared: usize,
    pub agreed: usize,
    /// `agreed / compared`, with a 95 % Wilson interval.
    pub agreement: Option<f64>,
    pub agreement_ci95: Option<(f64, f64)>,
    /// Copies the shadow could not answer (its errors never reach a client).
    pub failures: usize,
    /// Copies dropped because the shadow was behind (the bounded queue was full).
    pub dropped: u64,
    /// From the champion's answer to the shadow's, in milliseconds.
    pub latency_p50_ms: Option<f64>,
    pub latency_p99_ms: Option<f64>,
    /// `(champion class, shadow class, count)` where they differ, most frequent first.
    pub flips: Vec<(String, String, usize)>,
    /// The last failure's message.
    pub last_error: Option<String>,
    pub first_at: Option<String>,
    pub last_at: Option<String>,
}

impl ShadowSummary {
    /// The shadow in one sentence.
    pub fn sentence(&self) -> String {
        let (Some(s), Some(c)) = (self.shadow_version, self.champion_version) else {
            return format!("No shadow has run beside {}'s champion yet.", self.model);
        };
        let mut out = match self.agreement {
            Some(a) => format!(
                "The shadow (v{s}) agreed with the champion (v{c}) on {:.1} % of {} requests",
                100.0 * a,
                crate::release::heldout::count(self.compared)
            ),
            None => format!("The shadow (v{s}) answered none of the champion's (v{c}) requests"),
        };
        if let Some(p) = self.latency_p99_ms {
            let _ = write!(
                out,
                "; 99 in 100 of its answers came within {p:.1} ms of the champion's"
            );
        }
        let _ = write!(
            out,
            "; {} failed and {} copies were dropped while it was behind (no client saw either).",
            self.failures, self.dropped
        );
        out
    }

    /// Sum up `rows` (one shadow's, oldest first); the last shadow and champion versions are reported,
    /// and only rows of that pair count.
    pub fn of(model: &str, rows: &[ShadowAnswer]) -> Self {
        let mut s = Self {
            model: model.to_owned(),
            ..Self::default()
        };
        let Some(last) = rows.last() else {
            return s;
        };
        let (cv, sv) = (last.champion_version, last.shadow_version);
        s.champion_version = Some(cv);
        s.shadow_version = Some(sv);
        let mut latencies = Vec::new();
        let mut flips: BTreeMap<(String, String), usize> = BTreeMap::new();
        for r in rows
            .iter()
            .filter(|r| r.champion_version == cv && r.shadow_version == sv)
        {
            s.first_at.get_or_insert_with(|| r.at.clone());
            s.last_at = Some(r.at.clone());
            s.dropped += r.dropped.max(0) as u64;
            if r.prediction_id.is_none() {
                continue;
            }
            if let Some(e) = &r.error {
                s.failures += 1;
                s.last_error = Some(e.clone());
                continue;
            }
            s.compared += 1;
            latencies.push(r.latency_ms);
            if r.shadow_class == r.champion_class {
                s.agreed += 1;
            } else {
                *flips
                    .entry((
                        r.champion_class.clone().unwrap_or_default(),
                        r.shadow_class.clone().unwrap_or_default(),
                    ))
                    .or_default() += 1;
            }
        }
        if s.compared > 0 {
            s.agreement = Some(s.agreed as f64 / s.compared as f64);
            s.agreement_ci95 = Some(crate::drift::wilson(s.agreed as u64, s.compared as u64));
            latencies.sort_by(f64::total_cmp);
            s.latency_p50_ms = Some(crate::release::stats::nearest_rank(&latencies, 0.5));
            s.latency_p99_ms = Some(crate::release::stats::nearest_rank(&latencies, 0.99));
        }
        let mut flips: Vec<_> = flips.into_iter().map(|((a, b), n)| (a, b, n)).collect();
        flips.sort_by_key(|x| std::cmp::Reverse(x.2));
        s.flips = flips;
        s
    }
}

impl Workspace {
    pub fn log_shadow(&mut self, rows: &[ShadowAnswer]) -> Result<()> {
        Ok(self.store.log_shadow(rows)?)
    }

    /// The shadow of `model` over the requests at or after `since` (all when `None`).
    pub fn shadow_summary(&self, model: &str, since: Option<&str>) -> Result<ShadowSummary> {
        Ok(ShadowSummary::of(
            model,
            &self.store.shadow_answers(model, since)?,
        ))
    }
}
