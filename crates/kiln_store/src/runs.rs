//! Training runs and their metric history.

use serde::{Deserialize, Serialize};

use crate::db::{Db, FromValue, Param, Row, Value, p};
use crate::{Result, Store, StoreError};

/// Defines a closed set of statuses stored as lower-case words: `as_str`, `Display`, `FromStr` and the
/// database conversions all come from the one list.
macro_rules! status_enum {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident = $word:literal,)* }) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(rename_all = "lowercase")]
        pub enum $name {
            $($(#[$vdoc])* $variant,)*
        }

        impl $name {
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $word,)*
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.pad(self.as_str())
            }
        }

        impl std::str::FromStr for $name {
            type Err = String;

            fn from_str(s: &str) -> std::result::Result<Self, String> {
                match s {
                    $($word => Ok($name::$variant),)*
                    _ => Err(format!("unknown {} `{s}`", stringify!($name))),
                }
            }
        }

        impl From<$name> for Param<'_> {
            fn from(v: $name) -> Self {
                Param::from(v.as_str())
            }
        }

        impl FromValue for $name {
            fn from_value(v: &Value) -> std::result::Result<Self, String> {
                String::from_value(v)?.parse()
            }
        }
    };
}

status_enum! {
    /// Where a training run stands.
    RunStatus {
        /// Training in a live process.
        Running = "running",
        /// Trained to its last epoch (or its early stop), evaluated and saved.
        Finished = "finished",
        /// Stopped by the user; its best model is kept and it can resume.
        Stopped = "stopped",
        /// Ended by an error; it can resume from its last checkpoint.
        Failed = "failed",
        /// Its process ended while it was running (killed, crashed); it can resume.
        Interrupted = "interrupted",
    }
}

status_enum! {
    /// Where a sweep stands.
    SweepStatus {
        Running = "running",
        Finished = "finished",
        Stopped = "stopped",
        Failed = "failed",
    }
}

/// A training run as recorded.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Run {
    pub id: i64,
    pub dataset_version_id: i64,
    pub status: RunStatus,
    pub error: Option<String>,
    pub model: String,
    pub target: String,
    pub features: serde_json::Value,
    pub params: serde_json::Value,
    pub split: serde_json::Value,
    pub device: String,
    pub seed: i64,
    pub kiln_version: String,
    pub git_commit: Option<String>,
    pub sweep_id: Option<String>,
    pub started_at: String,
    pub ended_at: Option<String>,
    pub duration_s: Option<f64>,
    pub metrics: serde_json::Value,
    pub evaluation: serde_json::Value,
    pub artifacts: serde_json::Value,
    /// Free text about the run (`kiln runs note`).
    #[serde(default)]
    pub note: String,
    /// Labels for filtering and grouping (`kiln runs tag`), sorted.
    #[serde(default)]
    pub tags: Vec<String>,
}

impl Run {
    /// Whether the run ended without finishing (stopped, failed or interrupted), so it may resume.
    pub fn can_resume(&self) -> bool {
        matches!(
            self.status,
            RunStatus::Stopped | RunStatus::Failed | RunStatus::Interrupted
        )
    }
}

/// A parameter search whose runs carry its id.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Sweep {
    pub id: String,
    pub spec: serde_json::Value,
    pub status: SweepStatus,
    pub created_at: String,
    /// Runs recorded so far.
    pub runs: i64,
}

/// One metric of a run, column by column (NaN where a point has no epoch or time).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MetricSeries {
    pub step: Vec<f64>,
    pub epoch: Vec<f64>,
    pub wall_s: Vec<f64>,
    pub value: Vec<f64>,
}

/// Buckets of a stored series summary: each keeps the points with the smallest and the largest value
/// of its share of the series, so a summary has at most twice as many points and every spike.
pub const SUMMARY_BUCKETS: usize = 4096;

/// A metric series as first shown: its stored summary (when it is long) or the whole series.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SeriesPreview {
    pub series: MetricSeries,
    /// Points of the whole series.
    pub points: usize,
    /// True when `series` is the summary, not every point.
    pub summary: bool,
}

const SUMMARY_FIELDS: usize = 4;

fn encode_summary(s: &MetricSeries, keep: &[usize]) -> Vec<u8> {
    let mut out = Vec::with_capacity(keep.len() * SUMMARY_FIELDS * 8);
    for &i in keep {
        for v in [s.step[i], s.epoch[i], s.wall_s[i], s.value[i]] {
            out.extend_from_slice(&v.to_le_bytes());
        }
    }
    out
}

fn decode_summary(blob: &[u8]) -> MetricSeries {
    let mut s = MetricSeries::default();
    for rec in blob.chunks_exact(SUMMARY_FIELDS * 8) {
        let f = |k: usize| {
            let mut b = [0u8; 8];
            b.copy_from_slice(&rec[k * 8..k * 8 + 8]);
            f64::from_le_bytes(b)
        };
        s.step.push(f(0));
        s.epoch.push(f(1));
        s.wall_s.push(f(2));
        s.value.push(f(3));
    }
    s
}

/// Positions kept by a summary: per bucket of consecutive points, its minimum and maximum, in order.
fn summary_positions(values: &[f64], buckets: usize) -> Vec<usize> {
    let n = values.len();
    let mut keep = Vec::with_capacity(2 * buckets);
    for b in 0..buckets {
        let (lo, hi) = (b * n / buckets, (b + 1) * n / buckets);
        let mut min: Option<usize> = None;
        let mut max: Option<usize> = None;
        for i in lo..hi {
            let v = values[i];
            if !v.is_finite() {
                continue;
            }
            if min.is_none_or(|m| v < values[m]) {
                min = Some(i);
            }
            if max.is_none_or(|m| v > values[m]) {
                max = Some(i);
            }
        }
        match (min, max) {
            (Some(a), Some(b)) if a == b => keep.push(a),
            (Some(a), Some(b)) => keep.extend([a.min(b), a.max(b)]),
            _ => {}
        }
    }
    keep
}

/// One metric of a run as columns, by step (on the store's connection or inside a transaction).
#[allow(clippy::cast_precision_loss)]
fn read_series(db: &Db, run: i64, name: &str) -> Result<MetricSeries> {
    const SQL: &str =
        "SELECT step, epoch, wall_s, value FROM run_metrics WHERE run_id = ?1 AND name = ?2
         ORDER BY step";
    let mut out = MetricSeries::default();
    let mut push = |step: i64, epoch: Option<i64>, wall_s: Option<f64>, value: f64| {
        out.step.push(step as f64);
        out.epoch.push(epoch.map_or(f64::NAN, |e| e as f64));
        out.wall_s.push(wall_s.unwrap_or(f64::NAN));
        out.value.push(value);
    };
    match db {
        // Long series are read often (curves): straight from the statement, no row values in between.
        Db::Sqlite(conn) => {
            let mut st = conn.prepare_cached(SQL)?;
            let mut rows = st.query(rusqlite::params![run, name])?;
            while let Some(r) = rows.next()? {
                push(r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?);
            }
        }
        Db::Postgres(_) => {
            db.query_map(SQL, p![run, name], |r| {
                push(r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?);
                Ok(())
            })?;
        }
    }
    Ok(out)
}

/// Insert an ended run (see [`Store::insert_ended_run`]) on `db` (a connection or a transaction).
fn insert_ended(db: &Db, new: &NewRun<'_>, ended: &EndedRun<'_>) -> Result<i64> {
    let ended_at = if db.is_postgres() {
        "to_char((?13::timestamptz + ?14 * interval '1 second') AT TIME ZONE 'UTC',
            'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"
    } else {
        "strftime('%Y-%m-%dT%H:%M:%fZ', julianday(?13) + ?14 / 86400.0)"
    };
    db.query_row(
        &format!(
            "INSERT INTO runs (dataset_version_id, status, model, target, features_json, params_json,
                split_json, device, seed, kiln_version, git_commit, sweep_id, started_at, ended_at,
                duration_s, metrics_json, evaluation_json, artifacts_json)
             VALUES (?1, ?12, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?13,
                {ended_at}, ?14, ?15, ?16, ?17) RETURNING id"
        ),
        &new.params_then([
            ended.status.into(),
            ended.started_at.into(),
            ended.duration_s.into(),
            ended.metrics.to_string().into(),
            ended.evaluation.to_string().into(),
            ended.artifacts.to_string().into(),
        ]),
        |r| r.get(0),
    )
}

/// Append metric points on `db` (a transaction): one binary `COPY` on PostgreSQL, one prepared
/// statement on `SQLite`.
fn insert_metrics(db: &Db, run: i64, points: &[MetricPoint]) -> Result<()> {
    match db {
        Db::Postgres(pg) => pg.with(|c| crate::team::copy_metrics(c, run, points)),
        Db::Sqlite(conn) => {
            let mut st = conn.prepare_cached(
                "INSERT INTO run_metrics (run_id, name, step, epoch, value, wall_s)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?;
            for pt in points {
                st.execute(rusqlite::params![
                    run, pt.name, pt.step, pt.epoch, pt.value, pt.wall_s
                ])?;
            }
            Ok(())
        }
    }
}

/// Session locks of running runs on PostgreSQL are `RUN_LOCK + run id` (apart from the write lock).
const RUN_LOCK: i64 = 1 << 40;

impl<'a> NewRun<'a> {
    /// Its eleven fields as parameters `?1`–`?11` of an insert into `runs`, then `more` from `?12` on.
    fn params_then<const N: usize>(&self, more: [Param<'a>; N]) -> Vec<Param<'a>> {
        let mut params: Vec<Param<'a>> = vec![
            self.dataset_version_id.into(),
            self.model.into(),
            self.target.into(),
            self.features.to_string().into(),
            self.params.to_string().into(),
            self.split.to_string().into(),
            self.device.into(),
            self.seed.into(),
            self.kiln_version.into(),
            self.git_commit.into(),
            self.sweep_id.into(),
        ];
        params.extend(more);
        params
    }
}

/// What starting a run records.
#[derive(Clone, Debug)]
pub struct NewRun<'a> {
    pub dataset_version_id: i64,
    pub model: &'a str,
    pub target: &'a str,
    pub features: serde_json::Value,
    pub params: serde_json::Value,
    pub split: serde_json::Value,
    pub device: &'a str,
    pub seed: i64,
    pub kiln_version: &'a str,
    pub git_commit: Option<&'a str>,
    pub sweep_id: Option<&'a str>,
}

/// How a run that is recorded after the fact ended.
#[derive(Clone, Debug)]
pub struct EndedRun<'a> {
    pub status: RunStatus,
    pub started_at: &'a str,
    pub duration_s: f64,
    pub metrics: &'a serde_json::Value,
    pub evaluation: &'a serde_json::Value,
    pub artifacts: &'a serde_json::Value,
}

/// One point of a metric series.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MetricPoint {
    pub name: String,
    pub step: i64,
    pub epoch: Option<i64>,
    pub value: f64,
    /// Seconds since the run (or its resumed session's first point) started, when recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wall_s: Option<f64>,
}

/// The columns `run_from_row` reads, in its order; the tags follow them.
macro_rules! run_columns {
    () => {
        "id, dataset_version_id, status, error, model, target, features_json, params_json, split_json,
        device, seed, kiln_version, git_commit, sweep_id, started_at, ended_at, duration_s, metrics_json,
        evaluation_json, artifacts_json, note"
    };
}

/// One run, its tags by a subquery (one index seek).
const RUN_BY_ID: &str = concat!(
    "SELECT ",
    run_columns!(),
    ", (SELECT string_agg(tag, '\u{1f}' ORDER BY tag) FROM run_tags t WHERE t.run_id = runs.id)
    FROM runs WHERE id = ?1"
);

/// Many runs: tags are joined as one aggregate (a subquery per run costs PostgreSQL a sort per row: 1.4 s
/// of a 100,000-run read).
const RUN_SELECT: &str = concat!(
    "SELECT ",
    run_columns!(),
    ", tg.tags FROM runs LEFT JOIN (SELECT run_id, string_agg(tag, '\u{1f}' ORDER BY tag) AS tags
        FROM run_tags GROUP BY run_id) tg ON tg.run_id = runs.id"
);

fn run_from_row(r: &Row) -> Result<Run> {
    Ok(Run {
        id: r.get(0)?,
        dataset_version_id: r.get(1)?,
        status: r.get(2)?,
        error: r.get(3)?,
        model: r.get(4)?,
        target: r.get(5)?,
        features: r.get(6)?,
        params: r.get(7)?,
        split: r.get(8)?,
        device: r.get(9)?,
        seed: r.get(10)?,
        kiln_version: r.get(11)?,
        git_commit: r.get(12)?,
        sweep_id: r.get(13)?,
        started_at: r.get(14)?,
        ended_at: r.get(15)?,
        duration_s: r.get(16)?,
        metrics: r.get(17)?,
        evaluation: r.get(18)?,
        artifacts: r.get(19)?,
        note: r.get(20)?,
        tags: r
            .get::<Option<String>>(21)?
            .map(|t| t.split('\u{1f}').map(str::to_owned).collect())
            .unwrap_or_default(),
    })
}

impl Store {
    /// Record a run as `running` by this process.
    pub fn start_run(&self, new: &NewRun<'_>) -> Result<i64> {
        // On PostgreSQL the row and the run's session lock arrive together: another client that opens
        // the workspace between the two must not take a run just started for one whose process is gone.
        let tx = self.db.begin(false)?;
        let id = tx.query_row(
            "INSERT INTO runs (dataset_version_id, status, model, target, features_json, params_json,
                split_json, device, seed, kiln_version, git_commit, sweep_id, pid, started_at)
             VALUES (?1, ?13, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12,
                strftime('%Y-%m-%dT%H:%M:%fZ','now')) RETURNING id",
            &new.params_then([
                i64::from(std::process::id()).into(),
                RunStatus::Running.into(),
            ]),
            |r| r.get(0),
        )?;
        Self::hold_run_in(&tx, id)?;
        tx.commit()?;
        Ok(id)
    }

    /// PostgreSQL: hold a session lock on a running run for as long as this connection lives, so any
    /// client on any machine can tell a live run from one whose process is gone (its session ended).
    /// Taken inside the transaction that marks the run running, so no client sees it running unlocked.
    fn hold_run_in(tx: &crate::db::Db, id: i64) -> Result<()> {
        if tx.is_postgres() {
            tx.query_row(
                "SELECT pg_advisory_lock(?1)::text",
                p![RUN_LOCK + id],
                |r| r.get::<String>(0),
            )?;
        }
        Ok(())
    }

    /// PostgreSQL: call the advisory-lock `function` on run `id`'s session lock; its answer as text
    /// (`true`/`false`, or empty for a function that returns nothing).
    fn run_lock(&self, function: &str, id: i64) -> Result<String> {
        self.db.query_row(
            &format!("SELECT {function}(?1)::text"),
            p![RUN_LOCK + id],
            |r| r.get(0),
        )
    }

    /// Record a run that already ended, in one statement: a run brought in from elsewhere, or a generated
    /// history for tests and benchmarks. `started_at` is an ISO-8601 UTC time.
    pub fn insert_ended_run(&self, new: &NewRun<'_>, ended: &EndedRun<'_>) -> Result<i64> {
        insert_ended(&self.db, new, ended)
    }

    /// Record a run copied from another workspace — its end, note, tags and whole metric history — in one
    /// transaction, so a copy interrupted anywhere leaves no run behind.
    pub fn insert_copied_run(
        &mut self,
        new: &NewRun<'_>,
        ended: &EndedRun<'_>,
        note: &str,
        tags: &[String],
        points: &[MetricPoint],
    ) -> Result<i64> {
        let tx = self.db.begin(false)?;
        let id = insert_ended(&tx, new, ended)?;
        tx.exec("UPDATE runs SET note = ?2 WHERE id = ?1", p![id, note])?;
        for t in tags {
            tx.exec(
                "INSERT INTO run_tags (run_id, tag) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
                p![id, t],
            )?;
        }
        insert_metrics(&tx, id, points)?;
        tx.commit()?;
        Ok(id)
    }

    /// Close a run: its status (`finished`, `stopped`, `failed`), error, metrics, evaluation and artifacts.
    pub fn finish_run(
        &self,
        id: i64,
        status: RunStatus,
        error: Option<&str>,
        metrics: &serde_json::Value,
        evaluation: &serde_json::Value,
        artifacts: &serde_json::Value,
    ) -> Result<()> {
        let duration = if self.db.is_postgres() {
            "extract(epoch FROM (now() - started_at::timestamptz))::double precision"
        } else {
            "(julianday('now') - julianday(started_at)) * 86400.0"
        };
        self.db.exec(
            &format!(
                "UPDATE runs SET status = ?2, error = ?3, metrics_json = ?4, evaluation_json = ?5,
                    artifacts_json = ?6, ended_at = strftime('%Y-%m-%dT%H:%M:%fZ','now'),
                    duration_s = {duration}
                 WHERE id = ?1"
            ),
            p![
                id,
                status,
                error,
                metrics.to_string(),
                evaluation.to_string(),
                artifacts.to_string()
            ],
        )?;
        if self.db.is_postgres() {
            self.run_lock("pg_advisory_unlock", id)?;
        }
        Ok(())
    }

    /// Reopen a stopped, failed or interrupted run for this process, on `device`, dropping the metric
    /// points recorded after `checkpoint_epoch` (the resumed loop records them again).
    pub fn resume_run(&mut self, id: i64, device: &str, checkpoint_epoch: i64) -> Result<()> {
        let run = self.run(id)?;
        if !run.can_resume() {
            return Err(StoreError::NotResumable {
                id,
                status: run.status,
            });
        }
        let tx = self.db.begin(false)?;
        tx.exec(
            "DELETE FROM run_metrics WHERE run_id = ?1 AND epoch > ?2",
            p![id, checkpoint_epoch],
        )?;
        tx.exec("DELETE FROM run_series_summaries WHERE run_id = ?1", p![id])?;
        tx.exec(
            "UPDATE runs SET status = ?4, error = NULL, ended_at = NULL, duration_s = NULL,
                device = ?2, pid = ?3 WHERE id = ?1",
            p![
                id,
                device,
                i64::from(std::process::id()),
                RunStatus::Running
            ],
        )?;
        // The lock before the commit, as in `start_run`.
        Self::hold_run_in(&tx, id)?;
        tx.commit()
    }

    /// Record a new sweep; returns its id (`sweep-N`).
    pub fn create_sweep(&mut self, spec: &serde_json::Value) -> Result<String> {
        let tx = self.db.begin(true)?;
        let n: i64 = tx.query_row("SELECT COUNT(*) FROM sweeps", p![], |r| r.get(0))?;
        let id = format!("sweep-{}", n + 1);
        tx.exec(
            "INSERT INTO sweeps (id, spec_json, status, created_at)
             VALUES (?1, ?2, ?3, strftime('%Y-%m-%dT%H:%M:%fZ','now'))",
            p![&id, spec.to_string(), SweepStatus::Running],
        )?;
        tx.commit()?;
        Ok(id)
    }

    pub fn set_sweep_status(&self, id: &str, status: SweepStatus) -> Result<()> {
        let n = self.db.exec(
            "UPDATE sweeps SET status = ?2 WHERE id = ?1",
            p![id, status],
        )?;
        if n == 0 {
            return Err(StoreError::NoSweep(id.to_owned()));
        }
        Ok(())
    }

    /// Sweeps, newest first.
    pub fn list_sweeps(&self) -> Result<Vec<Sweep>> {
        self.db.query_map(
            "SELECT s.id, s.spec_json, s.status, s.created_at, COUNT(r.id)
             FROM sweeps s LEFT JOIN runs r ON r.sweep_id = s.id
             GROUP BY s.id ORDER BY s.created_at DESC, length(s.id) DESC, s.id DESC",
            p![],
            |r| {
                Ok(Sweep {
                    id: r.get(0)?,
                    spec: r.get(1)?,
                    status: r.get(2)?,
                    created_at: r.get(3)?,
                    runs: r.get(4)?,
                })
            },
        )
    }

    /// The runs of a sweep, oldest first.
    pub fn sweep_runs(&self, sweep: &str) -> Result<Vec<Run>> {
        self.db.query_map(
            &format!("{RUN_SELECT} WHERE sweep_id = ?1 ORDER BY id"),
            p![sweep],
            run_from_row,
        )
    }

    /// Append metric points in one transaction (on PostgreSQL, one binary `COPY`, atomic by itself).
    pub fn log_metrics(&mut self, run: i64, points: &[MetricPoint]) -> Result<()> {
        if self.db.is_postgres() {
            return insert_metrics(&self.db, run, points);
        }
        let tx = self.db.begin(false)?;
        insert_metrics(&tx, run, points)?;
        tx.commit()
    }

    /// A run's metric history, by name then step.
    pub fn metric_history(&self, run: i64) -> Result<Vec<MetricPoint>> {
        self.db.query_map(
            "SELECT name, step, epoch, value, wall_s FROM run_metrics WHERE run_id = ?1
             ORDER BY name, step",
            p![run],
            |r| {
                Ok(MetricPoint {
                    name: r.get(0)?,
                    step: r.get(1)?,
                    epoch: r.get(2)?,
                    value: r.get(3)?,
                    wall_s: r.get(4)?,
                })
            },
        )
    }

    /// One metric of a run as columns (step, epoch, seconds, value), by step: what a curve needs, read
    /// without a row struct per point.
    pub fn metric_series(&self, run: i64, name: &str) -> Result<MetricSeries> {
        read_series(&self.db, run, name)
    }

    /// Store (or refresh) the summaries of a run's long series (more than two points per bucket); short
    /// ones need none. Returns how many were written.
    pub fn summarize_run(&mut self, run: i64) -> Result<usize> {
        let names = self.metric_names(run)?;
        let tx = self.db.begin(false)?;
        tx.exec(
            "DELETE FROM run_series_summaries WHERE run_id = ?1",
            p![run],
        )?;
        let mut written = 0;
        for (name, count) in names {
            if count as usize <= 2 * SUMMARY_BUCKETS {
                continue;
            }
            let s = read_series(&tx, run, &name)?;
            let keep = summary_positions(&s.value, SUMMARY_BUCKETS);
            tx.exec(
                "INSERT INTO run_series_summaries (run_id, name, points, summary) VALUES (?1, ?2, ?3, ?4)",
                p![run, &name, s.value.len() as i64, encode_summary(&s, &keep)],
            )?;
            written += 1;
        }
        tx.commit()?;
        Ok(written)
    }

    /// A series as first shown: its summary when one is stored, else every point.
    pub fn series_preview(&self, run: i64, name: &str) -> Result<SeriesPreview> {
        let stored: Option<(i64, Vec<u8>)> = self.db.query_opt(
            "SELECT points, summary FROM run_series_summaries WHERE run_id = ?1 AND name = ?2",
            p![run, name],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        if let Some((points, blob)) = stored {
            return Ok(SeriesPreview {
                series: decode_summary(&blob),
                points: points as usize,
                summary: true,
            });
        }
        let series = self.metric_series(run, name)?;
        Ok(SeriesPreview {
            points: series.value.len(),
            series,
            summary: false,
        })
    }

    /// The metric names a run recorded, found by one index seek per name (no scan of the points, however
    /// many there are).
    pub fn metric_name_list(&self, run: i64) -> Result<Vec<String>> {
        let mut names: Vec<String> = Vec::new();
        loop {
            let after = names.last().map_or("", String::as_str);
            let next: Option<String> = self.db.query_opt(
                "SELECT name FROM run_metrics WHERE run_id = ?1 AND name > ?2 ORDER BY name LIMIT 1",
                p![run, after],
                |r| r.get(0),
            )?;
            match next {
                Some(n) => names.push(n),
                None => return Ok(names),
            }
        }
    }

    /// The metric names a run recorded, with their point counts.
    pub fn metric_names(&self, run: i64) -> Result<Vec<(String, i64)>> {
        self.db.query_map(
            "SELECT name, COUNT(*) FROM run_metrics WHERE run_id = ?1 GROUP BY name ORDER BY name",
            p![run],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
    }

    /// Add tags to a run (those it has already are kept once) and record it in the audit log.
    pub fn tag_run(&mut self, id: i64, add: &[String], remove: &[String]) -> Result<Vec<String>> {
        self.run(id)?;
        let tx = self.db.begin(false)?;
        for t in add {
            tx.exec(
                "INSERT INTO run_tags (run_id, tag) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
                p![id, t],
            )?;
        }
        for t in remove {
            tx.exec(
                "DELETE FROM run_tags WHERE run_id = ?1 AND tag = ?2",
                p![id, t],
            )?;
        }
        crate::record_event(
            &tx,
            "run.tagged",
            &format!("run {id}"),
            &serde_json::json!({ "added": add, "removed": remove }),
        )?;
        tx.commit()?;
        Ok(self.run(id)?.tags)
    }

    /// Replace a run's note and record it in the audit log.
    pub fn set_run_note(&mut self, id: i64, note: &str) -> Result<()> {
        self.run(id)?;
        let tx = self.db.begin(false)?;
        tx.exec("UPDATE runs SET note = ?2 WHERE id = ?1", p![id, note])?;
        crate::record_event(
            &tx,
            "run.noted",
            &format!("run {id}"),
            &serde_json::json!({ "note": note }),
        )?;
        tx.commit()
    }

    pub fn run(&self, id: i64) -> Result<Run> {
        self.db
            .query_opt(RUN_BY_ID, p![id], run_from_row)?
            .ok_or(StoreError::NoRun(id))
    }

    /// Runs, newest first.
    pub fn list_runs(&self) -> Result<Vec<Run>> {
        // Six JSON columns a run: parsed on every core.
        self.db.query_map_parallel(
            &format!("{RUN_SELECT} ORDER BY id DESC"),
            p![],
            run_from_row,
        )
    }

    /// Mark runs left `running` by processes that are gone as `interrupted`. Returns how many. On
    /// PostgreSQL a run is alive while some session holds its lock (see `start_run`), whatever machine
    /// it runs on; `alive` (a process check on this machine) is used on `SQLite` only.
    pub fn mark_interrupted(&self, alive: impl Fn(u32) -> bool) -> Result<usize> {
        let team = self.db.is_postgres();
        let rows: Vec<(i64, Option<i64>)> = self.db.query_map(
            "SELECT id, pid FROM runs WHERE status = ?1",
            p![RunStatus::Running],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        let mut n = 0;
        for (id, pid) in rows {
            let gone = if team {
                let free = self.run_lock("pg_try_advisory_lock", id)? == "true";
                if free {
                    self.run_lock("pg_advisory_unlock", id)?;
                }
                free
            } else {
                pid.and_then(|p| u32::try_from(p).ok())
                    .is_none_or(|p| !alive(p))
            };
            if gone {
                self.db.exec(
                    "UPDATE runs SET status = ?2, error = 'the process ended before the run finished',
                        ended_at = strftime('%Y-%m-%dT%H:%M:%fZ','now') WHERE id = ?1",
                    p![id, RunStatus::Interrupted],
                )?;
                n += 1;
            }
        }
        Ok(n)
    }
}
