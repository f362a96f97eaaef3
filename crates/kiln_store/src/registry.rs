//! The model registry and releases: users and roles, models (product brief and gates), registered
//! versions with stages, comments, aliases with their history, release requests, and the append-only
//! audit log whose every row's hash covers the previous row's. Every write here is one transaction with
//! `synchronous=FULL` that also appends its audit row, so a crash leaves either both or neither.
//! The rules (who may approve what) are the core's; this module keeps the records consistent.

use serde::{Deserialize, Serialize};

use crate::db::{Db, Row, p};
use crate::{Result, Store, StoreError};

/// The alias that production serves; it moves only through an approved request or a rollback.
pub const CHAMPION: &str = "champion";

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    pub name: String,
    pub role: String,
    pub created_at: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelRecord {
    pub name: String,
    pub brief: serde_json::Value,
    pub created_at: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelVersion {
    pub model: String,
    pub version: i64,
    pub run_id: i64,
    pub stage: String,
    /// A POC's verdict: accepted (true), not accepted (false), or not yet judged.
    pub accepted: Option<bool>,
    pub created_by: String,
    pub created_at: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Comment {
    pub id: i64,
    pub model: String,
    pub version: Option<i64>,
    pub author: String,
    pub at: String,
    pub text: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AliasMove {
    pub id: i64,
    pub model: String,
    pub alias: String,
    pub version: i64,
    pub at: String,
    pub actor: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReleaseRequest {
    pub id: i64,
    pub model: String,
    pub version: i64,
    pub requested_by: String,
    pub requested_at: String,
    pub notes: String,
    /// `pending`, `approved` or `rejected`.
    pub status: String,
    /// Gates, statistics and the change record, as evaluated when it was filed.
    pub report: serde_json::Value,
    pub decided_by: Option<String>,
    pub decided_at: Option<String>,
    pub comment: Option<String>,
    pub override_reason: Option<String>,
}

/// An environment in promotion order: the alias it serves and its serving settings (JSON).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EnvironmentRecord {
    pub name: String,
    pub alias: String,
    pub position: i64,
    pub settings: serde_json::Value,
}

/// The alias of QA: the environment right before production (`champion`), if there is one.
fn qa_alias(tx: &Db) -> Result<Option<String>> {
    tx.query_opt(
        "SELECT e.alias FROM environments e
         WHERE e.position = (SELECT p.position FROM environments p WHERE p.alias = 'champion') - 1",
        p![],
        |r| r.get(0),
    )
}

/// The version an alias of a model points to, read inside a transaction.
fn alias_version(tx: &Db, model: &str, alias: &str) -> Result<Option<i64>> {
    tx.query_opt(
        "SELECT version FROM alias_history WHERE model = ?1 AND alias = ?2 ORDER BY id DESC LIMIT 1",
        p![model, alias],
        |r| r.get(0),
    )
}

/// A measured serving capacity of a model version (the result as the core wrote it).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CapacityRecord {
    pub id: i64,
    pub model: String,
    pub version: i64,
    pub at: String,
    pub measured_by: String,
    pub result: serde_json::Value,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRow {
    pub id: i64,
    pub at: String,
    pub actor: String,
    pub action: String,
    pub subject: String,
    pub detail: String,
    pub prev_hash: String,
    pub hash: String,
}

impl AuditRow {
    /// The hash this row should carry given the previous row's hash. A team workspace's rows are chained
    /// by the database server (`sha256:` and SHA-256 of the length-prefixed fields, see
    /// `kiln_audit_chain`); a local workspace's by Kiln (BLAKE3).
    pub fn expected_hash(&self, prev_hash: &str) -> String {
        if self.hash.starts_with(SERVER_CHAIN) {
            use sha2::Digest;
            let mut h = sha2::Sha256::new();
            for part in [
                prev_hash,
                &self.at,
                &self.actor,
                &self.action,
                &self.subject,
                &self.detail,
            ] {
                h.update(format!("{}:{part}", part.len()).as_bytes());
            }
            let digest = h.finalize();
            let mut hex = String::with_capacity(SERVER_CHAIN.len() + 64);
            hex.push_str(SERVER_CHAIN);
            for b in digest {
                use std::fmt::Write as _;
                let _ = write!(hex, "{b:02x}");
            }
            return hex;
        }
        chain_hash(
            prev_hash,
            &self.at,
            &self.actor,
            &self.action,
            &self.subject,
            &self.detail,
        )
    }
}

/// The prefix of a hash computed by the PostgreSQL server of a team workspace.
const SERVER_CHAIN: &str = "sha256:";

fn chain_hash(
    prev: &str,
    at: &str,
    actor: &str,
    action: &str,
    subject: &str,
    detail: &str,
) -> String {
    let mut h = blake3::Hasher::new();
    for part in [prev, at, actor, action, subject, detail] {
        // Length-prefixed, so no two different rows hash the same text.
        h.update(&(part.len() as u64).to_le_bytes());
        h.update(part.as_bytes());
    }
    h.finalize().to_hex().to_string()
}

fn now(tx: &Db) -> Result<String> {
    tx.query_row("SELECT strftime('%Y-%m-%dT%H:%M:%fZ','now')", p![], |r| {
        r.get(0)
    })
}

/// Append one audit row chained to the last.
fn audit(
    tx: &Db,
    actor: &str,
    action: &str,
    subject: &str,
    detail: &serde_json::Value,
) -> Result<()> {
    let prev: String = tx
        .query_opt(
            "SELECT hash FROM audit_log ORDER BY id DESC LIMIT 1",
            p![],
            |r| r.get(0),
        )?
        .unwrap_or_default();
    let at = now(tx)?;
    let detail = detail.to_string();
    let hash = chain_hash(&prev, &at, actor, action, subject, &detail);
    tx.exec(
        "INSERT INTO audit_log (at, actor, action, subject, detail, prev_hash, hash)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        p![&at, actor, action, subject, &detail, &prev, &hash],
    )?;
    Ok(())
}

const REQUEST_SELECT: &str = "SELECT id, model, version, requested_by, requested_at, notes, status,
    report_json, decided_by, decided_at, comment, override_reason FROM release_requests";

fn request_from_row(r: &Row) -> Result<ReleaseRequest> {
    Ok(ReleaseRequest {
        id: r.get(0)?,
        model: r.get(1)?,
        version: r.get(2)?,
        requested_by: r.get(3)?,
        requested_at: r.get(4)?,
        notes: r.get(5)?,
        status: r.get(6)?,
        report: r.get(7)?,
        decided_by: r.get(8)?,
        decided_at: r.get(9)?,
        comment: r.get(10)?,
        override_reason: r.get(11)?,
    })
}

fn version_from_row(r: &Row) -> Result<ModelVersion> {
    Ok(ModelVersion {
        model: r.get(0)?,
        version: r.get(1)?,
        run_id: r.get(2)?,
        stage: r.get(3)?,
        accepted: r.get::<Option<i64>>(4)?.map(|a| a != 0),
        created_by: r.get(5)?,
        created_at: r.get(6)?,
    })
}

impl Store {
    /// Run `f` in one transaction committed with full durability (fsync), then back to `NORMAL`.
    fn durable<T>(&mut self, f: impl FnOnce(&Db) -> Result<T>) -> Result<T> {
        self.set_synchronous(true)?;
        let result = (|| {
            let tx = self.db.begin(true)?;
            let out = f(&tx)?;
            tx.commit()?;
            Ok(out)
        })();
        self.set_synchronous(false)?;
        result
    }

    pub fn add_user(&mut self, name: &str, role: &str, actor: &str) -> Result<()> {
        if self.db.is_postgres() {
            let _ = actor; // the database knows who is connected
            return self.set_team_user(name, role, None);
        }
        self.durable(|tx| {
            let at = now(tx)?;
            tx.exec(
                "INSERT INTO users (name, role, created_at) VALUES (?1, ?2, ?3)
                 ON CONFLICT(name) DO UPDATE SET role = excluded.role",
                p![name, role, &at],
            )?;
            audit(
                tx,
                actor,
                "user.set",
                name,
                &serde_json::json!({ "role": role }),
            )
        })
    }

    /// On a team workspace: create the login role `name` (with `password`, sent as a SCRAM verifier,
    /// never in clear) or change its role. Only an admin may; the database checks.
    pub fn set_team_user(&mut self, name: &str, role: &str, password: Option<&str>) -> Result<()> {
        if !self.db.is_postgres() {
            return Err(StoreError::Team(
                "a local workspace has no passwords: its users are names (kiln users add NAME --role ROLE --by ADMIN)".into(),
            ));
        }
        let verifier = password.map(|p| postgres_protocol::password::scram_sha_256(p.as_bytes()));
        self.db.exec(
            "SELECT kiln_set_user(?1, ?2, ?3)",
            p![name, role, verifier.as_deref()],
        )?;
        Ok(())
    }

    pub fn users(&self) -> Result<Vec<User>> {
        self.db.query_map(
            "SELECT name, role, created_at FROM users ORDER BY name",
            p![],
            |r| {
                Ok(User {
                    name: r.get(0)?,
                    role: r.get(1)?,
                    created_at: r.get(2)?,
                })
            },
        )
    }

    pub fn user(&self, name: &str) -> Result<Option<User>> {
        Ok(self.users()?.into_iter().find(|u| u.name == name))
    }

    /// Register run `run_id`'s model as the next version of `model` (created on its first version).
    pub fn register_version(
        &mut self,
        model: &str,
        run_id: i64,
        stage: &str,
        by: &str,
    ) -> Result<i64> {
        self.run(run_id)?;
        if self.db.is_postgres() {
            return self.db.query_row(
                "SELECT kiln_register_version(?1, ?2, ?3)",
                p![model, run_id, stage],
                |r| r.get(0),
            );
        }
        self.durable(|tx| {
            let at = now(tx)?;
            tx.exec(
                "INSERT INTO models (name, created_at) VALUES (?1, ?2) ON CONFLICT (name) DO NOTHING",
                p![model, &at],
            )?;
            let version: i64 = tx.query_row(
                "SELECT COALESCE(MAX(version), 0) + 1 FROM model_versions WHERE model = ?1",
                p![model],
                |r| r.get(0),
            )?;
            tx.exec(
                "INSERT INTO model_versions (model, version, run_id, stage, created_by, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                p![model, version, run_id, stage, by, &at],
            )?;
            audit(
                tx,
                by,
                "model.registered",
                &format!("{model} v{version}"),
                &serde_json::json!({ "run": run_id, "stage": stage }),
            )?;
            Ok(version)
        })
    }

    pub fn models(&self) -> Result<Vec<ModelRecord>> {
        self.db.query_map(
            "SELECT name, brief_json, created_at FROM models ORDER BY name",
            p![],
            |r| {
                Ok(ModelRecord {
                    name: r.get(0)?,
                    brief: r.get(1)?,
                    created_at: r.get(2)?,
                })
            },
        )
    }

    pub fn model(&self, name: &str) -> Result<ModelRecord> {
        self.models()?
            .into_iter()
            .find(|m| m.name == name)
            .ok_or_else(|| StoreError::NoModel(name.to_owned()))
    }

    /// Replace a model's product brief (targets, gates, evaluation data); audited with the new brief.
    pub fn set_brief(&mut self, model: &str, brief: &serde_json::Value, by: &str) -> Result<()> {
        if self.db.is_postgres() {
            self.db.exec(
                "SELECT kiln_set_brief(?1, ?2)",
                p![model, brief.to_string()],
            )?;
            return Ok(());
        }
        self.durable(|tx| {
            let at = now(tx)?;
            tx.exec(
                "INSERT INTO models (name, brief_json, created_at) VALUES (?1, ?2, ?3)
                 ON CONFLICT(name) DO UPDATE SET brief_json = excluded.brief_json",
                p![model, brief.to_string(), &at],
            )?;
            audit(tx, by, "model.brief", model, brief)
        })
    }

    pub fn model_versions(&self, model: &str) -> Result<Vec<ModelVersion>> {
        self.db.query_map(
            "SELECT model, version, run_id, stage, accepted, created_by, created_at
             FROM model_versions WHERE model = ?1 ORDER BY version",
            p![model],
            version_from_row,
        )
    }

    pub fn model_version(&self, model: &str, version: i64) -> Result<ModelVersion> {
        self.model_versions(model)?
            .into_iter()
            .find(|v| v.version == version)
            .ok_or_else(|| StoreError::NoModelVersion {
                model: model.to_owned(),
                version,
            })
    }

    pub fn set_stage(&mut self, model: &str, version: i64, stage: &str, by: &str) -> Result<()> {
        self.model_version(model, version)?;
        if self.db.is_postgres() {
            self.db.exec(
                "SELECT kiln_set_stage(?1, ?2, ?3)",
                p![model, version, stage],
            )?;
            return Ok(());
        }
        self.durable(|tx| {
            tx.exec(
                "UPDATE model_versions SET stage = ?3 WHERE model = ?1 AND version = ?2",
                p![model, version, stage],
            )?;
            audit(
                tx,
                by,
                "model.stage",
                &format!("{model} v{version}"),
                &serde_json::json!({ "stage": stage }),
            )
        })
    }

    /// A comment on a model (or one version), optionally with a POC verdict; both in its history.
    pub fn add_comment(
        &mut self,
        model: &str,
        version: Option<i64>,
        by: &str,
        text: &str,
        accepted: Option<bool>,
    ) -> Result<()> {
        self.model(model)?;
        if let Some(v) = version {
            self.model_version(model, v)?;
        }
        if self.db.is_postgres() {
            self.db.exec(
                "SELECT kiln_add_comment(?1, ?2, ?3, CAST(?4 AS BIGINT) <> 0)",
                p![model, version, text, accepted.map(i64::from)],
            )?;
            return Ok(());
        }
        self.durable(|tx| {
            let at = now(tx)?;
            tx.exec(
                "INSERT INTO model_comments (model, version, author, at, text) VALUES (?1, ?2, ?3, ?4, ?5)",
                p![model, version, by, &at, text],
            )?;
            if let (Some(v), Some(a)) = (version, accepted) {
                tx.exec(
                    "UPDATE model_versions SET accepted = ?3 WHERE model = ?1 AND version = ?2",
                    p![model, v, i64::from(a)],
                )?;
            }
            let subject = version.map_or_else(|| model.to_owned(), |v| format!("{model} v{v}"));
            audit(
                tx,
                by,
                if accepted.is_some() { "model.verdict" } else { "model.comment" },
                &subject,
                &serde_json::json!({ "text": text, "accepted": accepted }),
            )
        })
    }

    pub fn comments(&self, model: &str) -> Result<Vec<Comment>> {
        self.db.query_map(
            "SELECT id, model, version, author, at, text FROM model_comments WHERE model = ?1 ORDER BY id", p![model], |r| {
            Ok(Comment {
                id: r.get(0)?,
                model: r.get(1)?,
                version: r.get(2)?,
                author: r.get(3)?,
                at: r.get(4)?,
                text: r.get(5)?,
            })
        })
    }

    /// Every move of a model's aliases, oldest first.
    pub fn alias_history(&self, model: &str) -> Result<Vec<AliasMove>> {
        self.db.query_map(
            "SELECT id, model, alias, version, at, actor FROM alias_history WHERE model = ?1 ORDER BY id", p![model], |r| {
            Ok(AliasMove {
                id: r.get(0)?,
                model: r.get(1)?,
                alias: r.get(2)?,
                version: r.get(3)?,
                at: r.get(4)?,
                actor: r.get(5)?,
            })
        })
    }

    /// The version an alias points to now.
    pub fn alias(&self, model: &str, alias: &str) -> Result<Option<i64>> {
        Ok(self
            .alias_history(model)?
            .into_iter()
            .rev()
            .find(|m| m.alias == alias)
            .map(|m| m.version))
    }

    /// The version an alias points to now and the one it pointed to before (differing), when it has moved.
    pub fn alias_and_previous(&self, model: &str, alias: &str) -> Result<Option<(i64, i64)>> {
        let moves: Vec<i64> = self
            .alias_history(model)?
            .into_iter()
            .filter(|m| m.alias == alias)
            .map(|m| m.version)
            .collect();
        let Some(&current) = moves.last() else {
            return Ok(None);
        };
        Ok(moves
            .iter()
            .rev()
            .find(|v| **v != current)
            .map(|&previous| (current, previous)))
    }

    fn move_alias(tx: &Db, model: &str, alias: &str, version: i64, by: &str) -> Result<()> {
        let at = now(tx)?;
        tx.exec(
            "INSERT INTO alias_history (model, alias, version, at, actor) VALUES (?1, ?2, ?3, ?4, ?5)",
            p![model, alias, version, &at, by],
        )?;
        audit(
            tx,
            by,
            "alias.moved",
            &format!("{model}@{alias}"),
            &serde_json::json!({ "version": version }),
        )
    }

    /// Point an alias other than `champion` (e.g. `staging`) at a version.
    pub fn set_alias(&mut self, model: &str, alias: &str, version: i64, by: &str) -> Result<()> {
        if alias == CHAMPION {
            return Err(StoreError::ProtectedAlias(model.to_owned()));
        }
        self.model_version(model, version)?;
        if self.db.is_postgres() {
            self.db.exec(
                "SELECT kiln_set_alias(?1, ?2, ?3)",
                p![model, alias, version],
            )?;
            return Ok(());
        }
        self.durable(|tx| Self::move_alias(tx, model, alias, version, by))
    }

    /// File a release request for a version with its evaluated report; returns its id.
    pub fn create_request(
        &mut self,
        model: &str,
        version: i64,
        by: &str,
        notes: &str,
        report: &serde_json::Value,
    ) -> Result<i64> {
        self.model_version(model, version)?;
        if self.db.is_postgres() {
            return self.db.query_row(
                "SELECT kiln_create_request(?1, ?2, ?3, ?4)",
                p![model, version, notes, report.to_string()],
                |r| r.get(0),
            );
        }
        self.durable(|tx| {
            let at = now(tx)?;
            let id: i64 = tx.query_row(
                "INSERT INTO release_requests (model, version, requested_by, requested_at, notes, status,
                    report_json) VALUES (?1, ?2, ?3, ?4, ?5, 'pending', ?6) RETURNING id",
                p![model, version, by, &at, notes, report.to_string()],
                |r| r.get(0),
            )?;
            audit(
                tx,
                by,
                "release.requested",
                &format!("request {id}: {model} v{version}"),
                &serde_json::json!({ "notes": notes, "gates_passed": report["gates_passed"] }),
            )?;
            // The request puts the version in QA (the environment before production).
            if let Some(qa) = qa_alias(tx)?
                && alias_version(tx, model, &qa)? != Some(version)
            {
                Self::move_alias(tx, model, &qa, version, by)?;
            }
            Ok(id)
        })
    }

    pub fn requests(&self, model: Option<&str>, pending_only: bool) -> Result<Vec<ReleaseRequest>> {
        self.db.query_map(
            &format!(
            "{REQUEST_SELECT} WHERE (?1 IS NULL OR model = ?1) AND (?2 = 0 OR status = 'pending')
             ORDER BY id DESC"
        ),
            p![model, i64::from(pending_only)],
            request_from_row,
        )
    }

    pub fn request(&self, id: i64) -> Result<ReleaseRequest> {
        self.db
            .query_opt(
                &format!("{REQUEST_SELECT} WHERE id = ?1"),
                p![id],
                request_from_row,
            )?
            .ok_or(StoreError::NoRequest(id))
    }

    /// Approve (moving `champion` to the version in the same transaction) or reject a pending request.
    pub fn decide_request(
        &mut self,
        id: i64,
        approve: bool,
        by: &str,
        comment: &str,
        override_reason: Option<&str>,
    ) -> Result<()> {
        let req = self.request(id)?;
        if self.db.is_postgres() {
            self.db.exec(
                "SELECT kiln_decide_request(?1, ?2 <> 0, ?3, ?4)",
                p![id, approve, comment, override_reason],
            )?;
            return Ok(());
        }
        self.durable(|tx| {
            if approve && let Some(qa) = qa_alias(tx)? {
                let current = alias_version(tx, &req.model, &qa)?;
                if current != Some(req.version) {
                    return Err(StoreError::NotInQa {
                        model: req.model.clone(),
                        version: req.version,
                        alias: qa,
                        current: current.map_or_else(|| "not set".into(), |v| format!("v{v}")),
                    });
                }
            }
            let at = now(tx)?;
            let status = if approve { "approved" } else { "rejected" };
            let n = tx.exec(
                "UPDATE release_requests SET status = ?2, decided_by = ?3, decided_at = ?4, comment = ?5,
                    override_reason = ?6 WHERE id = ?1 AND status = 'pending'",
                p![id, status, by, &at, comment, override_reason],
            )?;
            if n == 0 {
                return Err(StoreError::RequestDecided {
                    id,
                    status: req.status.clone(),
                });
            }
            audit(
                tx,
                by,
                if approve { "release.approved" } else { "release.rejected" },
                &format!("request {id}: {} v{}", req.model, req.version),
                &serde_json::json!({ "comment": comment, "override_reason": override_reason }),
            )?;
            if approve {
                Self::move_alias(tx, &req.model, CHAMPION, req.version, by)?;
            }
            Ok(())
        })
    }

    /// Move `champion` back to the version it pointed to before its current one. Returns (from, to).
    pub fn rollback(&mut self, model: &str, by: &str, comment: &str) -> Result<(i64, i64)> {
        if self.db.is_postgres() {
            return self.db.query_row(
                "SELECT from_version, to_version FROM kiln_rollback(?1, ?2)",
                p![model, comment],
                |r| Ok((r.get(0)?, r.get(1)?)),
            );
        }
        let Some((current, previous)) = self.alias_and_previous(model, CHAMPION)? else {
            return Err(StoreError::NoPreviousChampion(model.to_owned()));
        };
        self.durable(|tx| {
            audit(
                tx,
                by,
                "release.rollback",
                model,
                &serde_json::json!({ "from": current, "to": previous, "comment": comment }),
            )?;
            Self::move_alias(tx, model, CHAMPION, previous, by)
        })?;
        Ok((current, previous))
    }

    /// Keep a capacity run of a version, with its audit row (the steps stay out of the audit detail).
    pub fn record_capacity(
        &mut self,
        model: &str,
        version: i64,
        by: &str,
        result: &serde_json::Value,
    ) -> Result<i64> {
        self.model_version(model, version)?;
        if self.db.is_postgres() {
            return self.db.query_row(
                "SELECT kiln_record_capacity(?1, ?2, ?3)",
                p![model, version, result.to_string()],
                |r| r.get(0),
            );
        }
        self.durable(|tx| {
            let at = now(tx)?;
            let id: i64 = tx.query_row(
                "INSERT INTO capacity_runs (model, version, at, measured_by, result_json)
                 VALUES (?1, ?2, ?3, ?4, ?5) RETURNING id",
                p![model, version, &at, by, result.to_string()],
                |r| r.get(0),
            )?;
            let mut detail = result.clone();
            if let Some(d) = detail.as_object_mut() {
                d.remove("steps");
            }
            audit(
                tx,
                by,
                "release.capacity",
                &format!("{model} v{version}"),
                &detail,
            )?;
            Ok(id)
        })
    }

    /// The capacity runs of a version, oldest first.
    pub fn capacity_runs(&self, model: &str, version: i64) -> Result<Vec<CapacityRecord>> {
        self.db.query_map(
            "SELECT id, model, version, at, measured_by, result_json FROM capacity_runs
             WHERE model = ?1 AND version = ?2 ORDER BY id",
            p![model, version],
            |r| {
                let text: String = r.get(5)?;
                Ok(CapacityRecord {
                    id: r.get(0)?,
                    model: r.get(1)?,
                    version: r.get(2)?,
                    at: r.get(3)?,
                    measured_by: r.get(4)?,
                    result: serde_json::from_str(&text).unwrap_or_default(),
                })
            },
        )
    }

    /// The environments in promotion order.
    pub fn environments(&self) -> Result<Vec<EnvironmentRecord>> {
        self.db.query_map(
            "SELECT name, alias, position, settings_json FROM environments ORDER BY position",
            p![],
            |r| {
                let text: String = r.get(3)?;
                Ok(EnvironmentRecord {
                    name: r.get(0)?,
                    alias: r.get(1)?,
                    position: r.get(2)?,
                    settings: serde_json::from_str(&text).unwrap_or_default(),
                })
            },
        )
    }

    /// Replace an environment's serving settings (audited).
    pub fn set_environment(
        &mut self,
        name: &str,
        settings: &serde_json::Value,
        by: &str,
    ) -> Result<()> {
        if self.db.is_postgres() {
            self.db.exec(
                "SELECT kiln_set_environment(?1, ?2)",
                p![name, settings.to_string()],
            )?;
            return Ok(());
        }
        self.durable(|tx| {
            let n = tx.exec(
                "UPDATE environments SET settings_json = ?2 WHERE name = ?1",
                p![name, settings.to_string()],
            )?;
            if n == 0 {
                return Err(StoreError::NoEnvironment(name.to_owned()));
            }
            audit(tx, by, "environment.set", name, settings)
        })
    }

    /// The audit log, oldest first.
    pub fn audit_rows(&self) -> Result<Vec<AuditRow>> {
        self.db.query_map(
            "SELECT id, at, actor, action, subject, detail, prev_hash, hash FROM audit_log ORDER BY id", p![], |r| {
            Ok(AuditRow {
                id: r.get(0)?,
                at: r.get(1)?,
                actor: r.get(2)?,
                action: r.get(3)?,
                subject: r.get(4)?,
                detail: r.get(5)?,
                prev_hash: r.get(6)?,
                hash: r.get(7)?,
            })
        })
    }
}
