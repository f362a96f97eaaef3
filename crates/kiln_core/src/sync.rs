//! Copying a workspace into another: `kiln workspace push` (a local folder into a team workspace) and
//! `pull` (back, for working offline). The same code runs both ways.
//!
//! What is copied: every dataset version (its object first, checked by hash, then its row — lineage kept
//! by mapping parents) with its label schemas, and every ended run with its metric history, tags, note and
//! weights. Each item is found in the target by what it is, not by its id — a version by dataset and
//! content hash, a run by its data version, start time, model, seed and parameters — so a copy run again,
//! or after being killed, adds only what is missing and never duplicates. A run is written with its whole
//! history in one transaction. The registry (models, requests, approvals) and the audit log are not
//! copied: on a team workspace they are written only by the database's functions as the connected user,
//! and a copied approval would be a forged one — register the copied runs there.

use std::collections::HashMap;

use kiln_store::{EndedRun, NewRun, NewVersion, RunStatus};
use serde::Serialize;

use crate::{CoreError, Result, Workspace};

/// What a copy did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct CopyReport {
    pub versions_copied: usize,
    pub versions_present: usize,
    pub runs_copied: usize,
    pub runs_present: usize,
    /// Runs still running (or without an end) are left for a later copy.
    pub runs_skipped: usize,
    pub objects_copied: usize,
    pub bytes_copied: u64,
}

impl CopyReport {
    pub fn sentence(&self) -> String {
        format!(
            "{} version(s) and {} run(s) copied ({} MB of objects); {} version(s) and {} run(s) were there already{}",
            self.versions_copied,
            self.runs_copied,
            self.bytes_copied / 1_000_000,
            self.versions_present,
            self.runs_present,
            if self.runs_skipped > 0 {
                format!("; {} unfinished run(s) left out", self.runs_skipped)
            } else {
                String::new()
            }
        )
    }
}

/// Copy what `from` has and `to` lacks. `progress` hears each item.
pub fn copy_workspace(
    from: &Workspace,
    to: &mut Workspace,
    progress: &mut dyn FnMut(&str),
) -> Result<CopyReport> {
    let mut report = CopyReport::default();
    // Local version id → target version id.
    let mut ids: HashMap<i64, i64> = HashMap::new();
    for dataset in from.datasets()? {
        for v in from.versions(&dataset.name)? {
            if let Some(there) = to.store.find_version_by_hash(&v.dataset, &v.content_hash)? {
                ids.insert(v.id, there.id);
                report.versions_present += 1;
                continue;
            }
            progress(&format!("{}@{}", v.dataset, v.version));
            report.bytes_copied += copy_object(from, to, &v.object_path, &mut report)?;
            let parent_id = v.parent_id.and_then(|p| ids.get(&p).copied());
            let new = NewVersion {
                dataset: &v.dataset,
                content_hash: &v.content_hash,
                object_path: &v.object_path,
                schema: v.schema.clone(),
                row_count: v.row_count,
                byte_size: v.byte_size,
                source_path: v.source_path.as_deref(),
                import_options: v.import_options.clone(),
                operation: &v.operation,
                parent_id,
                message: v.message.as_deref(),
                author: v.author.as_deref(),
                details: v.details.clone(),
                clear_drafts: None,
            };
            let row = to
                .store
                .insert_version(&new, || Ok(()))?
                .map_err(|e| CoreError::Invalid(e.to_string()))?;
            ids.insert(v.id, row.id);
            report.versions_copied += 1;
        }
        for column in from.store.label_columns(&dataset.name)? {
            if let Some(classes) = from.store.label_schema(&dataset.name, &column)? {
                to.store
                    .set_label_schema(&dataset.name, &column, &classes)?;
            }
        }
    }
    let present: Vec<kiln_store::Run> = to.store.list_runs()?;
    for run in from.store.list_runs()?.into_iter().rev() {
        let (Some(_), Some(duration_s)) = (&run.ended_at, run.duration_s) else {
            report.runs_skipped += 1;
            continue;
        };
        if run.status == RunStatus::Running {
            report.runs_skipped += 1;
            continue;
        }
        let Some(&version) = ids.get(&run.dataset_version_id) else {
            report.runs_skipped += 1;
            continue;
        };
        let same = |r: &kiln_store::Run| {
            r.dataset_version_id == version
                && r.started_at == run.started_at
                && r.model == run.model
                && r.seed == run.seed
                && r.params == run.params
        };
        if present.iter().any(same) {
            report.runs_present += 1;
            continue;
        }
        progress(&format!("run {}", run.id));
        if let Some(weights) = run.artifacts["weights"].as_str() {
            report.bytes_copied += copy_object(from, to, weights, &mut report)?;
        }
        let history = from.store.metric_history(run.id)?;
        to.store.insert_copied_run(
            &NewRun {
                dataset_version_id: version,
                model: &run.model,
                target: &run.target,
                features: run.features.clone(),
                params: run.params.clone(),
                split: run.split.clone(),
                device: &run.device,
                seed: run.seed,
                kiln_version: &run.kiln_version,
                git_commit: run.git_commit.as_deref(),
                sweep_id: run.sweep_id.as_deref(),
            },
            &EndedRun {
                status: run.status,
                started_at: &run.started_at,
                duration_s,
                metrics: &run.metrics,
                evaluation: &run.evaluation,
                artifacts: &run.artifacts,
            },
            &run.note,
            &run.tags,
            &history,
        )?;
        report.runs_copied += 1;
    }
    Ok(report)
}

/// Put `from`'s object `relative` into `to` (checked by its hash on the way); its size when copied, 0
/// when `to` had it.
fn copy_object(
    from: &Workspace,
    to: &Workspace,
    relative: &str,
    report: &mut CopyReport,
) -> Result<u64> {
    let src = from.objects.local(relative)?;
    let size = std::fs::metadata(&src)
        .map_err(|e| CoreError::io(&src, e))?
        .len();
    if to.objects.has(relative, size)? {
        return Ok(0);
    }
    let tmp = to.objects.temp("copy");
    std::fs::copy(&src, tmp.path()).map_err(|e| CoreError::io(&src, e))?;
    // A shared store's upload checks the hash as it sends; into a folder it is checked here.
    if to.objects.remote().is_none() {
        let hash = crate::objects::ObjectStore::hash_file(tmp.path())?;
        crate::objects::check_hash(relative, &hash)?;
    }
    to.objects
        .commit(tmp, relative)
        .map_err(|e| CoreError::io(std::path::Path::new(relative), e))?;
    report.objects_copied += 1;
    Ok(size)
}
