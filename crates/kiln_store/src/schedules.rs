//! Schedules and their runs. Times are ISO-8601 UTC text (`2026-12-07T10:00:00.000Z`), given by the
//! caller, so a scheduler can be driven by a fake clock.

use serde::{Deserialize, Serialize};

use crate::db::{Row, p};
use crate::{Result, Store, StoreError};

/// A job Kiln runs by itself.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Schedule {
    pub id: i64,
    /// `pull` (a dataset) or `retrain` (a model).
    pub kind: String,
    /// The dataset pulled, or the model retrained.
    pub target: String,
    /// Run every this many seconds.
    pub every_s: Option<i64>,
    /// Run when this dataset has a version newer than `seen_version_id`.
    pub on_new_version: Option<String>,
    pub created_by: String,
    pub created_at: String,
    /// When it is due next (periodic schedules).
    pub next_at: Option<String>,
    /// The newest version of `on_new_version` a run has seen.
    pub seen_version_id: Option<i64>,
    pub claimed_by: Option<String>,
    pub claimed_until: Option<String>,
}

/// One run of a schedule.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ScheduleRun {
    pub id: i64,
    pub schedule_id: i64,
    pub started_at: String,
    pub ended_at: Option<String>,
    /// `running`, `done` (it made something), `unchanged` (nothing new) or `failed`.
    pub status: String,
    pub error: Option<String>,
    /// What it started: versions pulled and derived, the run trained, the model version, the gates,
    /// the release request.
    pub chain: serde_json::Value,
}

/// A new schedule.
#[derive(Clone, Debug)]
pub struct NewSchedule<'a> {
    pub kind: &'a str,
    pub target: &'a str,
    pub every_s: Option<i64>,
    pub on_new_version: Option<&'a str>,
    pub created_by: &'a str,
    pub now: &'a str,
    /// The first time it is due (periodic schedules).
    pub next_at: Option<&'a str>,
    pub seen_version_id: Option<i64>,
}

const SCHEDULE_COLUMNS: &str = "id, kind, target, every_s, on_new_version, created_by, created_at, \
     next_at, seen_version_id, claimed_by, claimed_until";

fn schedule_from_row(r: &Row) -> Result<Schedule> {
    Ok(Schedule {
        id: r.get(0)?,
        kind: r.get(1)?,
        target: r.get(2)?,
        every_s: r.get(3)?,
        on_new_version: r.get(4)?,
        created_by: r.get(5)?,
        created_at: r.get(6)?,
        next_at: r.get(7)?,
        seen_version_id: r.get(8)?,
        claimed_by: r.get(9)?,
        claimed_until: r.get(10)?,
    })
}

fn run_from_row(r: &Row) -> Result<ScheduleRun> {
    Ok(ScheduleRun {
        id: r.get(0)?,
        schedule_id: r.get(1)?,
        started_at: r.get(2)?,
        ended_at: r.get(3)?,
        status: r.get(4)?,
        error: r.get(5)?,
        chain: r.get(6)?,
    })
}

impl Store {
    pub fn add_schedule(&self, s: &NewSchedule<'_>) -> Result<i64> {
        self.db.query_row(
            "INSERT INTO schedules (kind, target, every_s, on_new_version, created_by, created_at,
                 next_at, seen_version_id)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) RETURNING id",
            p![
                s.kind,
                s.target,
                s.every_s,
                s.on_new_version,
                s.created_by,
                s.now,
                s.next_at,
                s.seen_version_id
            ],
            |r| r.get(0),
        )
    }

    pub fn schedules(&self) -> Result<Vec<Schedule>> {
        self.db.query_map(
            &format!("SELECT {SCHEDULE_COLUMNS} FROM schedules ORDER BY id"),
            p![],
            schedule_from_row,
        )
    }

    pub fn schedule(&self, id: i64) -> Result<Schedule> {
        self.db
            .query_opt(
                &format!("SELECT {SCHEDULE_COLUMNS} FROM schedules WHERE id = ?1"),
                p![id],
                schedule_from_row,
            )?
            .ok_or(StoreError::NoSchedule(id))
    }

    /// Remove a schedule and its runs.
    pub fn remove_schedule(&self, id: i64) -> Result<()> {
        let tx = self.db.begin(true)?;
        tx.exec("DELETE FROM schedule_runs WHERE schedule_id = ?1", p![id])?;
        let n = tx.exec("DELETE FROM schedules WHERE id = ?1", p![id])?;
        if n == 0 {
            return Err(StoreError::NoSchedule(id));
        }
        tx.commit()
    }

    /// Claim schedule `id` for `who` until `until`, unless another claim is still valid at `now`: one
    /// conditional update, so of several schedulers at most one gets it. Whether this one did.
    pub fn claim_schedule(&self, id: i64, who: &str, now: &str, until: &str) -> Result<bool> {
        let n = self.db.exec(
            "UPDATE schedules SET claimed_by = ?2, claimed_until = ?4
             WHERE id = ?1 AND (claimed_until IS NULL OR claimed_until < ?3)",
            p![id, who, now, until],
        )?;
        Ok(n == 1)
    }

    /// Let go of a claim, setting when the schedule is due next and what it has seen.
    pub fn release_schedule(
        &self,
        id: i64,
        next_at: Option<&str>,
        seen_version_id: Option<i64>,
    ) -> Result<()> {
        self.db.exec(
            "UPDATE schedules SET claimed_by = NULL, claimed_until = NULL, next_at = ?2,
                 seen_version_id = ?3
             WHERE id = ?1",
            p![id, next_at, seen_version_id],
        )?;
        Ok(())
    }

    pub fn start_schedule_run(&self, schedule_id: i64, now: &str) -> Result<i64> {
        self.db.query_row(
            "INSERT INTO schedule_runs (schedule_id, started_at, status) VALUES (?1, ?2, 'running')
             RETURNING id",
            p![schedule_id, now],
            |r| r.get(0),
        )
    }

    pub fn end_schedule_run(
        &self,
        id: i64,
        now: &str,
        status: &str,
        error: Option<&str>,
        chain: &serde_json::Value,
    ) -> Result<()> {
        self.db.exec(
            "UPDATE schedule_runs SET ended_at = ?2, status = ?3, error = ?4, chain_json = ?5
             WHERE id = ?1",
            p![id, now, status, error, chain.to_string()],
        )?;
        Ok(())
    }

    /// The runs of a schedule, newest first (at most `limit`).
    pub fn schedule_runs(&self, schedule_id: i64, limit: i64) -> Result<Vec<ScheduleRun>> {
        self.db.query_map(
            "SELECT id, schedule_id, started_at, ended_at, status, error, chain_json
             FROM schedule_runs WHERE schedule_id = ?1 ORDER BY id DESC LIMIT ?2",
            p![schedule_id, limit],
            run_from_row,
        )
    }
}
