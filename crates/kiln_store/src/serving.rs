//! What the model server records: answered requests (with sampled input features) and feedback.

use serde::{Deserialize, Serialize};

use crate::db::{Row, p};
use crate::{Result, Store};

/// One answered request (one row of a batch for predictions).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ServedRequest {
    pub at: String,
    pub model: String,
    pub version: Option<i64>,
    pub endpoint: String,
    pub status: u16,
    pub latency_ms: f64,
    pub prediction_id: Option<String>,
    pub class: Option<String>,
    /// The row's features as JSON, when sampled.
    pub features: Option<String>,
    /// The server that answered (`host:port`); several replicas share one team workspace's log.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replica: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Feedback {
    pub prediction_id: String,
    pub at: String,
    pub label: Option<String>,
    pub outcome: Option<f64>,
}

/// A shadow's answer to a request the champion answered (never sent to the client), or — with
/// `dropped` > 0 and no prediction — copies the server dropped while the shadow was behind.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ShadowAnswer {
    pub at: String,
    pub model: String,
    pub champion_version: i64,
    pub shadow_version: i64,
    pub prediction_id: Option<String>,
    pub champion_class: Option<String>,
    /// `None` when the shadow failed (`error` says why) or for a drop count.
    pub shadow_class: Option<String>,
    /// From the champion's answer to the shadow's, in milliseconds.
    pub latency_ms: f64,
    pub error: Option<String>,
    pub dropped: i64,
}

/// Rows written by one `INSERT` (10 values each, within `SQLite`'s parameter limit): a server answering
/// thousands of requests a second keeps its writer thread (which shares the cores with it) short.
const ROWS_PER_INSERT: usize = 64;

/// Insert `rows` with `head` (`INSERT INTO t (columns) VALUES `), `ROWS_PER_INSERT` a statement, each
/// row's `N` values from `values`.
fn insert_rows<'a, T, const N: usize>(
    tx: &crate::db::Db,
    head: &str,
    rows: &'a [T],
    values: impl Fn(&'a T) -> [crate::db::Param<'a>; N],
) -> Result<()> {
    let one = format!("({})", vec!["?"; N].join(","));
    for chunk in rows.chunks(ROWS_PER_INSERT) {
        let mut sql = String::from(head);
        let mut params: Vec<crate::db::Param<'_>> = Vec::with_capacity(chunk.len() * N);
        for (i, r) in chunk.iter().enumerate() {
            if i > 0 {
                sql.push(',');
            }
            sql.push_str(&one);
            params.extend(values(r));
        }
        tx.exec(&sql, &params)?;
    }
    Ok(())
}

const SERVED_SELECT: &str =
    "SELECT at, model, version, endpoint, status, latency_ms, prediction_id,
    class, features_json, replica FROM served_requests";

fn served_from_row(r: &Row) -> Result<ServedRequest> {
    Ok(ServedRequest {
        at: r.get(0)?,
        model: r.get(1)?,
        version: r.get(2)?,
        endpoint: r.get(3)?,
        status: r.get(4)?,
        latency_ms: r.get(5)?,
        prediction_id: r.get(6)?,
        class: r.get(7)?,
        features: r.get(8)?,
        replica: r.get(9)?,
    })
}

impl Store {
    /// Append served requests in one transaction (the server's batched writer).
    pub fn log_served(&mut self, rows: &[ServedRequest]) -> Result<()> {
        if let crate::db::Db::Postgres(pg) = &self.db {
            // One binary COPY per batch: a server answering thousands of requests a second keeps up
            // over the network (one INSERT per row would not).
            return pg.with(|c| crate::team::copy_served(c, rows));
        }
        let tx = self.db.begin(false)?;
        insert_rows(
            &tx,
            "INSERT INTO served_requests (at, model, version, endpoint, status, latency_ms,
                prediction_id, class, features_json, replica) VALUES ",
            rows,
            |r| {
                [
                    (&r.at).into(),
                    (&r.model).into(),
                    r.version.into(),
                    (&r.endpoint).into(),
                    r.status.into(),
                    r.latency_ms.into(),
                    (&r.prediction_id).into(),
                    (&r.class).into(),
                    (&r.features).into(),
                    (&r.replica).into(),
                ]
            },
        )?;
        tx.commit()
    }

    /// Append a shadow's answers (and drop counts) in one transaction.
    pub fn log_shadow(&mut self, rows: &[ShadowAnswer]) -> Result<()> {
        let tx = self.db.begin(false)?;
        insert_rows(
            &tx,
            "INSERT INTO shadow_answers (at, model, champion_version, shadow_version,
                prediction_id, champion_class, shadow_class, latency_ms, error, dropped) VALUES ",
            rows,
            |r| {
                [
                    (&r.at).into(),
                    (&r.model).into(),
                    r.champion_version.into(),
                    r.shadow_version.into(),
                    (&r.prediction_id).into(),
                    (&r.champion_class).into(),
                    (&r.shadow_class).into(),
                    r.latency_ms.into(),
                    (&r.error).into(),
                    r.dropped.into(),
                ]
            },
        )?;
        tx.commit()
    }

    /// A model's shadow answers at or after `since` (all when `None`), oldest first.
    pub fn shadow_answers(&self, model: &str, since: Option<&str>) -> Result<Vec<ShadowAnswer>> {
        self.db.query_map(
            "SELECT at, model, champion_version, shadow_version, prediction_id, champion_class,
                shadow_class, latency_ms, error, dropped FROM shadow_answers
             WHERE model = ?1 AND at >= ?2 ORDER BY id",
            p![model, since.unwrap_or("")],
            |r| {
                Ok(ShadowAnswer {
                    at: r.get(0)?,
                    model: r.get(1)?,
                    champion_version: r.get(2)?,
                    shadow_version: r.get(3)?,
                    prediction_id: r.get(4)?,
                    champion_class: r.get(5)?,
                    shadow_class: r.get(6)?,
                    latency_ms: r.get(7)?,
                    error: r.get(8)?,
                    dropped: r.get(9)?,
                })
            },
        )
    }

    /// The served request that made a prediction, if it was logged.
    pub fn served_prediction(&self, prediction_id: &str) -> Result<Option<ServedRequest>> {
        self.db.query_opt(
            &format!("{SERVED_SELECT} WHERE prediction_id = ?1 LIMIT 1"),
            p![prediction_id],
            served_from_row,
        )
    }

    /// Served requests of a model, oldest first.
    pub fn served(&self, model: &str) -> Result<Vec<ServedRequest>> {
        self.db.query_map(
            &format!("{SERVED_SELECT} WHERE model = ?1 ORDER BY id"),
            p![model],
            served_from_row,
        )
    }

    pub fn record_feedback(&self, f: &Feedback) -> Result<()> {
        self.db.exec(
            "INSERT INTO feedback (prediction_id, at, label, outcome) VALUES (?1, ?2, ?3, ?4)",
            p![&f.prediction_id, &f.at, &f.label, f.outcome],
        )?;
        Ok(())
    }

    pub fn feedback(&self) -> Result<Vec<Feedback>> {
        self.db.query_map(
            "SELECT prediction_id, at, label, outcome FROM feedback ORDER BY id",
            p![],
            |r| {
                Ok(Feedback {
                    prediction_id: r.get(0)?,
                    at: r.get(1)?,
                    label: r.get(2)?,
                    outcome: r.get(3)?,
                })
            },
        )
    }
}
