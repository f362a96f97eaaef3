//! Reading recorded runs and sweeps: what the Runs views and `kiln runs` show. Writing them is training's
//! business (`training.rs`, `sweeps.rs`).

use kiln_store::{DatasetVersion, MetricPoint, Run, Sweep};

use crate::{Result, Workspace};

/// A run that may resume, and the epoch its checkpoint ends after.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Resumable {
    pub run_id: i64,
    pub epoch: usize,
}

impl Workspace {
    /// Every run, newest first.
    pub fn runs(&self) -> Result<Vec<Run>> {
        Ok(self.store.list_runs()?)
    }

    pub fn run(&self, id: i64) -> Result<Run> {
        Ok(self.store.run(id)?)
    }

    /// A run's metric history, by name then step.
    pub fn metric_history(&self, run: i64) -> Result<Vec<MetricPoint>> {
        Ok(self.store.metric_history(run)?)
    }

    /// Every sweep, newest first.
    pub fn sweeps(&self) -> Result<Vec<Sweep>> {
        Ok(self.store.list_sweeps()?)
    }

    /// The runs of a sweep, oldest first.
    pub fn sweep_runs(&self, sweep: &str) -> Result<Vec<Run>> {
        Ok(self.store.sweep_runs(sweep)?)
    }

    /// The dataset version a run trained on.
    pub fn run_version(&self, run: &Run) -> Result<DatasetVersion> {
        Ok(self.store.version_by_id(run.dataset_version_id)?)
    }

    /// Of `runs`, those that can resume now (ended without finishing and left a checkpoint).
    pub fn resumable(&self, runs: &[Run]) -> Vec<Resumable> {
        runs.iter()
            .filter(|r| r.can_resume())
            .filter_map(|r| {
                Some(Resumable {
                    run_id: r.id,
                    epoch: self.resumable_epoch(r.id)?,
                })
            })
            .collect()
    }
}
