//! Schedules and the continuous loop: a dataset pulled every period (its derived datasets following),
//! and a model retrained when a dataset has a new version — the champion's configuration trained on it,
//! evaluated, its gates checked, and a release request filed when they pass (never an approval).
//!
//! A scheduler (`kiln scheduler`, or the app while it is open) calls [`Workspace::run_due`] with the
//! time; every function takes the time it is given, so tests drive it with a fake clock. A run claims
//! its schedule with one conditional update, so several schedulers on one team workspace never run a job
//! twice at once; a missed window runs once (the next one is counted from when it ran), and a failure is
//! recorded and tried again at the next window.

pub use chrono::{DateTime, Duration, Utc};
use serde_json::json;

use crate::{CoreError, Result, Workspace};
pub use kiln_store::{Schedule, ScheduleRun};

/// How long a run holds its schedule: a scheduler that died mid-run frees it after this.
const LEASE: Duration = Duration::hours(1);

/// After a failed retraining, the next try waits this long (or for a newer version).
const RETRY_AFTER: Duration = Duration::hours(1);

/// What a schedule does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Job {
    /// Pull `dataset` every `every_s` seconds.
    Pull { dataset: String, every_s: i64 },
    /// Retrain `model` when `dataset` has a new version.
    Retrain { model: String, dataset: String },
}

/// `30s`, `15m`, `1h`, `2d` as seconds.
pub fn parse_every(text: &str) -> Result<i64> {
    let t = text.trim();
    let (n, unit) = t.split_at(t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len()));
    let n: i64 = n.parse().ok().filter(|n| *n > 0).ok_or_else(|| {
        CoreError::Invalid(format!("`{text}` is not a period (e.g. 30m, 1h, 2d)"))
    })?;
    let unit = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => {
            return Err(CoreError::Invalid(format!(
                "`{text}` is not a period: use s, m, h or d (e.g. 30m, 1h)"
            )));
        }
    };
    Ok(n * unit)
}

/// A period in words (`1h`, `90m`).
pub fn every_text(s: i64) -> String {
    match s {
        s if s % 86_400 == 0 => format!("{}d", s / 86_400),
        s if s % 3600 == 0 => format!("{}h", s / 3600),
        s if s % 60 == 0 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

/// A time as stored: ISO-8601 UTC with milliseconds.
pub fn iso(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

fn parse_iso(t: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(t)
        .ok()
        .map(|d| d.with_timezone(&Utc))
}

impl Workspace {
    /// Add a schedule; a periodic one is due at once, a retraining waits for a version newer than the
    /// dataset's latest now.
    pub fn add_schedule(&mut self, job: &Job, now: DateTime<Utc>) -> Result<i64> {
        let by = self.who(&crate::current_user())?;
        let at = iso(now);
        let new = match job {
            Job::Pull { dataset, every_s } => {
                // Said now, so the mistake shows when it is made (each run finds it again).
                self.source_version(dataset)?;
                kiln_store::NewSchedule {
                    kind: "pull",
                    target: dataset,
                    every_s: Some(*every_s),
                    on_new_version: None,
                    created_by: &by,
                    now: &at,
                    next_at: Some(&at),
                    seen_version_id: None,
                }
            }
            Job::Retrain { model, dataset } => {
                self.store.model(model)?;
                let latest = self.store.get_version(dataset, None)?;
                return Ok(self.store.add_schedule(&kiln_store::NewSchedule {
                    kind: "retrain",
                    target: model,
                    every_s: None,
                    on_new_version: Some(dataset),
                    created_by: &by,
                    now: &at,
                    next_at: None,
                    seen_version_id: Some(latest.id),
                })?);
            }
        };
        Ok(self.store.add_schedule(&new)?)
    }

    pub fn schedules(&self) -> Result<Vec<Schedule>> {
        Ok(self.store.schedules()?)
    }

    pub fn remove_schedule(&mut self, id: i64) -> Result<()> {
        Ok(self.store.remove_schedule(id)?)
    }

    /// A schedule's runs, newest first.
    pub fn schedule_runs(&self, id: i64, limit: i64) -> Result<Vec<ScheduleRun>> {
        Ok(self.store.schedule_runs(id, limit)?)
    }

    /// Whether `s` is due at `now`: a period that has come, or a dataset with a version newer than the
    /// last seen (and not waiting after a failure).
    pub fn is_due(&self, s: &Schedule, now: DateTime<Utc>) -> Result<bool> {
        let waited = s
            .next_at
            .as_deref()
            .and_then(parse_iso)
            .is_none_or(|t| t <= now);
        Ok(match s.kind.as_str() {
            "pull" => waited,
            "retrain" => {
                let dataset = s.on_new_version.as_deref().unwrap_or_default();
                let latest = self.store.get_version(dataset, None).ok().map(|v| v.id);
                waited && latest > s.seen_version_id
            }
            _ => false,
        })
    }

    /// Run schedule `id` now (due or not), as the scheduler `who`. Refused while another run holds it.
    pub fn run_schedule(
        &mut self,
        id: i64,
        now: DateTime<Utc>,
        who: &str,
        cancel: &kiln_data::Cancel,
    ) -> Result<ScheduleRun> {
        let s = self.store.schedule(id)?;
        if !self
            .store
            .claim_schedule(id, who, &iso(now), &iso(now + LEASE))?
        {
            let s = self.store.schedule(id)?;
            return Err(CoreError::Invalid(format!(
                "schedule {id} is running already ({} until {})",
                s.claimed_by.unwrap_or_default(),
                s.claimed_until.unwrap_or_default()
            )));
        }
        let run = self.store.start_schedule_run(id, &iso(now))?;
        let result = self.run_job(&s, cancel);
        let ended = iso(Utc::now().max(now));
        let (status, error, chain, seen) = match &result {
            Ok((chain, seen)) => {
                let made = chain["made"].as_bool().unwrap_or(false);
                (
                    if made { "done" } else { "unchanged" },
                    None,
                    chain.clone(),
                    *seen,
                )
            }
            Err(e) => ("failed", Some(e.to_string()), json!({}), s.seen_version_id),
        };
        let next = match (s.every_s, &result) {
            // The next window counts from this run: a missed one runs once, not once per period.
            (Some(every), _) => Some(iso(now + Duration::seconds(every))),
            (None, Err(_)) => Some(iso(now + RETRY_AFTER)),
            (None, Ok(_)) => None,
        };
        self.store
            .end_schedule_run(run, &ended, status, error.as_deref(), &chain)?;
        self.store.release_schedule(id, next.as_deref(), seen)?;
        Ok(self
            .store
            .schedule_runs(id, 1)?
            .into_iter()
            .next()
            .ok_or(kiln_store::StoreError::NoSchedule(id))?)
    }

    /// The job itself: what it started (`made`: whether anything new came of it) and the newest version
    /// seen of the dataset a retraining waits on.
    fn run_job(
        &mut self,
        s: &Schedule,
        cancel: &kiln_data::Cancel,
    ) -> Result<(serde_json::Value, Option<i64>)> {
        let progress = kiln_data::Progress::new();
        match s.kind.as_str() {
            "pull" => {
                let out = self.pull_allowing(&s.target, false, cancel, &progress)?;
                let derived = if out.created {
                    self.refresh_derived(&s.target, cancel, &progress)?
                } else {
                    Vec::new()
                };
                let name = |o: &crate::ImportOutcome| {
                    format!("{}@{}", o.version.dataset, o.version.version)
                };
                Ok((
                    json!({
                        "made": out.created,
                        "pulled": out.created.then(|| name(&out)),
                        "derived": derived.iter().map(name).collect::<Vec<_>>(),
                    }),
                    None,
                ))
            }
            "retrain" => {
                let dataset = s.on_new_version.clone().unwrap_or_default();
                let latest = self.store.get_version(&dataset, None)?;
                if Some(latest.id) <= s.seen_version_id {
                    return Ok((json!({ "made": false }), s.seen_version_id));
                }
                let stop = std::sync::atomic::AtomicBool::new(false);
                // On a team workspace the database knows who runs it: the scheduler's login.
                let by = self
                    .team()
                    .map_or_else(|| s.created_by.clone(), |t| t.user.clone());
                let o = self.retrain(&s.target, Some(&dataset), &by, &stop)?;
                // Said on the version, so the model's Timeline tells where it came from.
                let text = format!(
                    "Made by schedule {} (retrain on each new version of {dataset}): run {} trained on \
                     {}; gates {}{}",
                    s.id,
                    o.run_id,
                    o.dataset,
                    if o.gates_passed { "passed" } else { "failed" },
                    o.request_id
                        .map(|q| format!("; release request {q} awaits approval"))
                        .unwrap_or_default()
                );
                self.comment(&s.target, Some(o.version), &by, &text, None)?;
                cancel.check()?;
                Ok((
                    json!({
                        "made": true,
                        "dataset": o.dataset,
                        "run": o.run_id,
                        "model_version": o.version,
                        "gates_passed": o.gates_passed,
                        "request": o.request_id,
                    }),
                    Some(latest.id),
                ))
            }
            other => Err(CoreError::Invalid(format!(
                "unknown schedule kind `{other}`"
            ))),
        }
    }

    /// Run every schedule due at `now`, as the scheduler `who` — again while running them makes others
    /// due (a pull's new version starting a retraining), each schedule at most once. The runs, with
    /// the schedules that could not be claimed or failed to start.
    pub fn run_due(
        &mut self,
        now: DateTime<Utc>,
        who: &str,
        cancel: &kiln_data::Cancel,
    ) -> Result<Vec<(i64, Result<ScheduleRun>)>> {
        let mut out: Vec<(i64, Result<ScheduleRun>)> = Vec::new();
        loop {
            let mut ran = false;
            for s in self.schedules()? {
                if out.iter().any(|(id, _)| *id == s.id) || !self.is_due(&s, now)? {
                    continue;
                }
                cancel.check()?;
                let r = self.run_schedule(s.id, now, who, cancel);
                out.push((s.id, r));
                ran = true;
            }
            if !ran {
                return Ok(out);
            }
        }
    }
}
