//! What model-assisted labeling keeps: each suspect-label run (its settings, summary and ranked rows, as
//! JSON written by the core) and the rows a reviewer kept as labelled for a version.

use serde::{Deserialize, Serialize};

use crate::db::{Row, p};
use crate::{Result, Store};

/// One recorded suspect-label run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SuspectRunRecord {
    pub id: i64,
    pub base_version_id: i64,
    pub column: String,
    pub created_at: String,
    pub settings: serde_json::Value,
    pub summary: serde_json::Value,
    pub suspects: serde_json::Value,
}

fn from_row(r: &Row) -> Result<SuspectRunRecord> {
    Ok(SuspectRunRecord {
        id: r.get(0)?,
        base_version_id: r.get(1)?,
        column: r.get(2)?,
        created_at: r.get(3)?,
        settings: r.get(4)?,
        summary: r.get(5)?,
        suspects: r.get(6)?,
    })
}

const SELECT: &str =
    "SELECT id, base_version_id, column_name, created_at, settings_json, summary_json,
    suspects_json FROM label_suspect_runs";

impl Store {
    /// Record a suspect-label run; returns its id.
    pub fn record_suspect_run(
        &self,
        base: i64,
        column: &str,
        settings: &serde_json::Value,
        summary: &serde_json::Value,
        suspects: &serde_json::Value,
    ) -> Result<i64> {
        self.db.query_row(
            "INSERT INTO label_suspect_runs
             (base_version_id, column_name, created_at, settings_json, summary_json, suspects_json)
             VALUES (?1, ?2, strftime('%Y-%m-%dT%H:%M:%fZ','now'), ?3, ?4, ?5) RETURNING id",
            p![
                base,
                column,
                settings.to_string(),
                summary.to_string(),
                suspects.to_string()
            ],
            |r| r.get(0),
        )
    }

    pub fn suspect_run(&self, id: i64) -> Result<Option<SuspectRunRecord>> {
        self.db
            .query_opt(&format!("{SELECT} WHERE id = ?1"), p![id], from_row)
    }

    /// The newest suspect-label run of `(base version, column)`.
    pub fn latest_suspect_run(&self, base: i64, column: &str) -> Result<Option<SuspectRunRecord>> {
        self.db.query_opt(
            &format!(
                "{SELECT} WHERE base_version_id = ?1 AND column_name = ?2 ORDER BY id DESC LIMIT 1"
            ),
            p![base, column],
            from_row,
        )
    }

    /// Remember that a reviewer kept `row`'s label in `(base version, column)` as it is.
    pub fn keep_label(&self, base: i64, column: &str, row: u64) -> Result<()> {
        self.db.exec(
            "INSERT INTO label_keeps (base_version_id, column_name, row_id, kept_at)
             VALUES (?1, ?2, ?3, strftime('%Y-%m-%dT%H:%M:%fZ','now'))
             ON CONFLICT (base_version_id, column_name, row_id) DO UPDATE SET kept_at = excluded.kept_at",
            p![base, column, row as i64],
        )?;
        Ok(())
    }

    /// Forget a keep decision (undo).
    pub fn unkeep_label(&self, base: i64, column: &str, row: u64) -> Result<()> {
        self.db.exec(
            "DELETE FROM label_keeps WHERE base_version_id = ?1 AND column_name = ?2 AND row_id = ?3",
            p![base, column, row as i64],
        )?;
        Ok(())
    }

    /// Rows kept as labelled in `(base version, column)`, ascending.
    pub fn kept_labels(&self, base: i64, column: &str) -> Result<Vec<u64>> {
        self.db.query_map(
            "SELECT row_id FROM label_keeps WHERE base_version_id = ?1 AND column_name = ?2 ORDER BY row_id",
            p![base, column],
            |r| Ok(r.get::<i64>(0)? as u64),
        )
    }
}
