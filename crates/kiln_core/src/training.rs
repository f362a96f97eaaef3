//! Training runs: split the version, encode features, train on the chosen device, and record everything
//! — parameters, device, split, metric history (through a writer thread that batches points into
//! transactions, so the training loop never waits on disk), test evaluation and the weights as an object.

use std::collections::BTreeMap;
use std::sync::atomic::AtomicBool;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

use kiln_data::polars::prelude::*;
use kiln_store::{MetricPoint, NewRun, RunStatus};
use kiln_train::{Checkpoints, DeviceChoice, Event, FeatureSpec, Rows, TrainParams};
use serde::{Deserialize, Serialize};

use crate::{CoreError, ObjectStore, Result, Workspace};

/// A version split and encoded for training.
struct TrainingData {
    version: kiln_store::DatasetVersion,
    spec: FeatureSpec,
    split: serde_json::Value,
    /// In memory, or streamed from the object for a version larger than the memory budget.
    train: Box<dyn Rows + Send + Sync>,
    val: Box<dyn Rows + Send + Sync>,
    test: Box<dyn Rows + Send + Sync>,
}

/// What to train.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainRequest {
    /// `NAME` or `NAME@VERSION`.
    pub dataset: String,
    pub target: String,
    /// Feature columns; all but the target, row ids and `split` when `None`.
    pub features: Option<Vec<String>>,
    pub params: TrainParams,
    pub device: DeviceChoice,
    pub sweep_id: Option<String>,
}

/// The outcome of a run, as the CLI reports it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunSummary {
    pub run_id: i64,
    pub status: RunStatus,
    pub device: String,
    pub metrics: BTreeMap<String, f64>,
}

/// Column names taken as the target when a version has one (compared without regard to case), in this
/// order of preference.
pub const TARGET_NAMES: [&str; 7] = [
    "label", "labels", "target", "class", "y", "category", "outcome",
];

/// A column with at most this many distinct values (and at most half as many as it has rows) counts as
/// one that could be a target.
pub const FEW_DISTINCT: usize = 20;

/// What the Train form starts from for a version.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TrainDefaults {
    /// See [`guess_target`].
    pub target: Option<String>,
    /// Columns left out of the features: when the version has an image column, every other column (a
    /// dataset of images trains on its images, not on their file names); otherwise none.
    pub excluded: Vec<String>,
}

/// The target a user would most likely pick: a column named like one of [`TARGET_NAMES`], else the last
/// column with few distinct values ([`FEW_DISTINCT`]), else none. Kiln's reserved columns never count.
pub fn guess_target(df: &DataFrame) -> Option<String> {
    let columns: Vec<&Column> = df
        .columns()
        .iter()
        .filter(|c| !kiln_train::RESERVED_COLUMNS.contains(&c.name().as_str()))
        .collect();
    let named = TARGET_NAMES.iter().find_map(|t| {
        columns
            .iter()
            .find(|c| c.name().as_str().eq_ignore_ascii_case(t))
    });
    if let Some(c) = named {
        return Some(c.name().to_string());
    }
    let rows = df.height();
    columns
        .iter()
        .rev()
        .find(|c| {
            let distinct = c
                .as_materialized_series()
                .drop_nulls()
                .n_unique()
                .unwrap_or(usize::MAX);
            (2..=FEW_DISTINCT).contains(&distinct) && distinct * 2 <= rows
        })
        .map(|c| c.name().to_string())
}

/// The Train form's defaults for a version's data.
pub fn train_defaults(df: &DataFrame) -> TrainDefaults {
    let is_image = |c: &Column| matches!(c.dtype(), DataType::Binary | DataType::BinaryOffset);
    let excluded = if df.columns().iter().any(is_image) {
        df.columns()
            .iter()
            .filter(|c| !is_image(c) && !kiln_train::RESERVED_COLUMNS.contains(&c.name().as_str()))
            .map(|c| c.name().to_string())
            .collect()
    } else {
        Vec::new()
    };
    TrainDefaults {
        target: guess_target(df),
        excluded,
    }
}

/// The commit of the repository the user works in, if the current folder is one.
fn git_commit() -> Option<String> {
    let out = std::process::Command::new("git")
        .args(["rev-parse", "HEAD"])
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
        .filter(|s| !s.is_empty())
}

/// Rows of `df` whose `split` column equals `part`.
fn part(df: &DataFrame, part: &str) -> Result<DataFrame> {
    Ok(df
        .clone()
        .lazy()
        .filter(col("split").eq(lit(part)))
        .collect()?)
}

/// A writer thread that appends metric points in batched transactions.
struct MetricWriter {
    tx: Option<SyncSender<Vec<MetricPoint>>>,
    handle: Option<std::thread::JoinHandle<Result<usize>>>,
}

impl MetricWriter {
    fn spawn(root: std::path::PathBuf, run: i64) -> Result<Self> {
        let (tx, rx): (SyncSender<Vec<MetricPoint>>, Receiver<Vec<MetricPoint>>) =
            sync_channel(1024);
        let handle = std::thread::Builder::new()
            .name("kiln-metrics".into())
            .spawn(move || -> Result<usize> {
                let mut store = crate::Workspace::open_store(&root)?;
                let mut n = 0;
                while let Ok(mut batch) = rx.recv() {
                    // Drain what else is queued into the same transaction.
                    while let Ok(more) = rx.try_recv() {
                        batch.extend(more);
                    }
                    store.log_metrics(run, &batch)?;
                    n += batch.len();
                }
                Ok(n)
            })
            .map_err(|e| CoreError::io(std::path::Path::new("kiln-metrics"), e))?;
        Ok(Self {
            tx: Some(tx),
            handle: Some(handle),
        })
    }

    fn send(&self, batch: Vec<MetricPoint>) {
        if let Some(tx) = &self.tx {
            let _ = tx.send(batch);
        }
    }

    /// Flush and wait for the writer; returns how many points it wrote.
    fn finish(mut self) -> Result<usize> {
        drop(self.tx.take());
        match self.handle.take().map(std::thread::JoinHandle::join) {
            Some(Ok(r)) => r,
            _ => Ok(0),
        }
    }
}

impl Workspace {
    /// Where a run keeps its last checkpoint (while it can still be resumed).
    pub fn checkpoint_dir(&self, run_id: i64) -> std::path::PathBuf {
        self.root.join("checkpoints").join(format!("run-{run_id}"))
    }

    /// The epoch a run can resume after, if it left a checkpoint.
    pub fn resumable_epoch(&self, run_id: i64) -> Option<usize> {
        kiln_train::training::checkpoint_state(&self.checkpoint_dir(run_id)).map(|s| s.epoch)
    }

    /// Split and encode a version: its own `split` column when it has one, otherwise a stratified
    /// 72/8/20 split drawn with `seed`. A version larger than the memory budget streams instead (see
    /// [`crate::streamed`]).
    fn training_data(
        &self,
        version: kiln_store::DatasetVersion,
        target: &str,
        features: Option<&[String]>,
        seed: u64,
        fraction: f64,
    ) -> Result<TrainingData> {
        if let Some(table) = self.larger_than_budget(&version) {
            let s = crate::streamed::prepare(
                &std::sync::Arc::new(table),
                target,
                features,
                seed,
                fraction,
            )?;
            let [train, val, test] = s.parts;
            return Ok(TrainingData {
                version,
                spec: s.spec,
                split: s.split,
                train: Box::new(train),
                val: Box::new(val),
                test: Box::new(test),
            });
        }
        let df = self.load(&version)?;
        if df.column(target).is_err() {
            return Err(CoreError::from(kiln_train::TrainError::NoTarget(
                target.to_owned(),
            )));
        }
        let (df, split) = if df.column("split").is_ok() {
            (df, serde_json::json!({ "source": "version" }))
        } else {
            let ratios = [0.72, 0.08, 0.2];
            let split = kiln_data::split(&df, ratios, seed, Some(target))?;
            let info = serde_json::json!({
                "source": "generated", "ratios": ratios, "seed": seed, "stratify": target
            });
            (kiln_data::without_row_ids(&split), info)
        };
        let (train_df, val_df, test_df) = (
            part(&df, "train")?,
            part(&df, "validation")?,
            part(&df, "test")?,
        );
        // A learning curve's smaller runs: a nested stratified share of the training rows only.
        let train_df = kiln_data::nested_subset(&train_df, fraction, seed, Some(target))?;
        let spec = FeatureSpec::fit(&train_df, target, features)?;
        let prep = |d: &DataFrame| spec.transform(d, true).map_err(CoreError::from);
        let (train, val, test) = (prep(&train_df)?, prep(&val_df)?, prep(&test_df)?);
        Ok(TrainingData {
            version,
            spec,
            split,
            train: Box::new(train),
            val: Box::new(val),
            test: Box::new(test),
        })
    }

    /// Train a model on a dataset version and record the run. Cancelling (setting `cancel`) stops at the
    /// next batch and records the run as `stopped` with its best checkpoint; it can be resumed.
    pub fn train(
        &mut self,
        req: &TrainRequest,
        cancel: &AtomicBool,
        on_event: &mut dyn FnMut(&Event),
    ) -> Result<RunSummary> {
        self.train_recorded(req, cancel, on_event).1
    }

    /// [`Workspace::train`], also saying which run was recorded: `None` when the request failed before
    /// a run was started (bad dataset, target, features or device).
    pub(crate) fn train_recorded(
        &mut self,
        req: &TrainRequest,
        cancel: &AtomicBool,
        on_event: &mut dyn FnMut(&Event),
    ) -> (Option<i64>, Result<RunSummary>) {
        let (run_id, data, device) = match self.record_new_run(req) {
            Ok(started) => started,
            Err(e) => return (None, Err(e)),
        };
        let r = self.run_training(run_id, &data, &req.params, &device, false, cancel, on_event);
        (Some(run_id), r)
    }

    /// Split and encode the data, pick the device and record the run as `running`.
    fn record_new_run(
        &mut self,
        req: &TrainRequest,
    ) -> Result<(i64, TrainingData, kiln_train::TrainDevice)> {
        let version = self.resolve(&req.dataset)?;
        let data = self.training_data(
            version,
            &req.target,
            req.features.as_deref(),
            req.params.seed,
            req.params.fraction,
        )?;
        // A CNN on inputs that are not an image fails here, before a run is recorded.
        req.params.net_config(&data.spec)?;
        let device = kiln_train::pick_device(req.device)?;
        let commit = git_commit();
        let run_id = self.store.start_run(&NewRun {
            dataset_version_id: data.version.id,
            model: req.params.model.name(),
            target: &req.target,
            features: serde_json::to_value(&data.spec.columns).unwrap_or_default(),
            params: serde_json::to_value(&req.params).unwrap_or_default(),
            split: data.split.clone(),
            device: &device.name,
            seed: req.params.seed as i64,
            kiln_version: crate::VERSION,
            git_commit: commit.as_deref(),
            sweep_id: req.sweep_id.as_deref(),
        })?;
        Ok((run_id, data, device))
    }

    /// Continue a stopped, failed or interrupted run from its last checkpoint (the epoch after it), on
    /// `device`. The metric history goes on from the checkpoint; the run keeps its id.
    pub fn resume(
        &mut self,
        run_id: i64,
        device: DeviceChoice,
        cancel: &AtomicBool,
        on_event: &mut dyn FnMut(&Event),
    ) -> Result<RunSummary> {
        let run = self.store.run(run_id)?;
        if !run.can_resume() {
            return Err(kiln_store::StoreError::NotResumable {
                id: run_id,
                status: run.status,
            }
            .into());
        }
        let Some(epoch) = self.resumable_epoch(run_id) else {
            return Err(CoreError::from(kiln_train::TrainError::Invalid(format!(
                "run {run_id} has no checkpoint to resume from (it stopped before its first epoch ended)"
            ))));
        };
        let params: TrainParams = serde_json::from_value(run.params.clone()).map_err(|e| {
            CoreError::from(kiln_train::TrainError::Invalid(format!(
                "run {run_id} has unreadable parameters: {e}"
            )))
        })?;
        let features: Vec<String> = run
            .features
            .as_array()
            .map(|cols| {
                cols.iter()
                    .filter_map(|c| c.get("name").and_then(|n| n.as_str()).map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        let version = self.store.version_by_id(run.dataset_version_id)?;
        let data = self.training_data(
            version,
            &run.target,
            Some(&features),
            params.seed,
            params.fraction,
        )?;
        let device = kiln_train::pick_device(device)?;
        self.store.resume_run(run_id, &device.name, epoch as i64)?;
        self.run_training(run_id, &data, &params, &device, true, cancel, on_event)
    }

    /// Run the loop for a recorded run and close it with its outcome.
    #[allow(clippy::too_many_arguments)]
    fn run_training(
        &mut self,
        run_id: i64,
        data: &TrainingData,
        params: &TrainParams,
        device: &kiln_train::TrainDevice,
        resume: bool,
        cancel: &AtomicBool,
        on_event: &mut dyn FnMut(&Event),
    ) -> Result<RunSummary> {
        let spec = &data.spec;
        let checkpoint_dir = self.checkpoint_dir(run_id);
        let writer = MetricWriter::spawn(self.root.clone(), run_id)?;
        let mut buffer: Vec<MetricPoint> = Vec::with_capacity(512);
        // Seconds since the run started: a resumed run goes on from its last recorded time.
        let mut time_offset = 0.0;
        let clock = std::time::Instant::now();
        let mut last_epoch = BTreeMap::new();
        // Validation figures by epoch, to report those of the best epoch.
        let mut by_epoch: BTreeMap<usize, (f64, f64)> = BTreeMap::new();
        if resume {
            for p in self.store.metric_history(run_id)? {
                time_offset = p.wall_s.map_or(time_offset, |t: f64| t.max(time_offset));
                let e = p.step as usize;
                match p.name.as_str() {
                    "val_loss" => by_epoch.entry(e).or_default().0 = p.value,
                    "val_accuracy" => by_epoch.entry(e).or_default().1 = p.value,
                    _ => {}
                }
            }
        }
        let result = kiln_train::train(
            spec,
            &kiln_train::Splits {
                train: data.train.as_ref(),
                val: data.val.as_ref(),
                test: data.test.as_ref(),
            },
            params,
            device,
            cancel,
            Some(Checkpoints {
                dir: &checkpoint_dir,
                resume,
            }),
            &mut |e| {
                let wall_s = Some(time_offset + clock.elapsed().as_secs_f64());
                match &e {
                    Event::Start { .. } => {}
                    Event::Step { epoch, step, loss } => buffer.push(MetricPoint {
                        name: "train_step_loss".into(),
                        step: *step as i64,
                        epoch: Some(*epoch as i64),
                        value: *loss,
                        wall_s,
                    }),
                    Event::Epoch {
                        epoch,
                        train_loss,
                        train_accuracy,
                        val_loss,
                        val_accuracy,
                        learning_rate,
                    } => {
                        for (name, value) in [
                            ("train_loss", *train_loss),
                            ("train_accuracy", *train_accuracy),
                            ("val_loss", *val_loss),
                            ("val_accuracy", *val_accuracy),
                            ("learning_rate", *learning_rate),
                        ] {
                            buffer.push(MetricPoint {
                                name: name.into(),
                                step: *epoch as i64,
                                epoch: Some(*epoch as i64),
                                value,
                                wall_s,
                            });
                            last_epoch.insert(name.to_owned(), value);
                        }
                        by_epoch.insert(*epoch, (*val_loss, *val_accuracy));
                        writer.send(std::mem::take(&mut buffer));
                    }
                }
                if buffer.len() >= 512 {
                    writer.send(std::mem::take(&mut buffer));
                }
                on_event(&e);
            },
        );
        writer.send(buffer);
        writer.finish()?;
        // Long series get a stored summary, so plots of them draw at once.
        self.store.summarize_run(run_id)?;
        let outcome = match result {
            Ok(o) => o,
            Err(e) => {
                let status = if matches!(e, kiln_train::TrainError::Cancelled) {
                    RunStatus::Stopped
                } else {
                    RunStatus::Failed
                };
                let msg = e.to_string();
                self.store.finish_run(
                    run_id,
                    status,
                    Some(&msg),
                    &serde_json::json!({}),
                    &serde_json::json!({}),
                    &serde_json::json!({}),
                )?;
                return Err(CoreError::from(e));
            }
        };
        // Weights by content hash under objects/.
        let tmp = self.objects.temp("bpk");
        kiln_train::training::save(outcome.model, tmp.path())?;
        let hash = ObjectStore::hash_file(tmp.path())?;
        let weights = ObjectStore::relative_path(&hash, "bpk");
        self.objects
            .commit(tmp, &weights)
            .map_err(|e| CoreError::io(std::path::Path::new(&weights), e))?;
        let mut metrics: BTreeMap<String, f64> = last_epoch
            .into_iter()
            .map(|(k, v)| (format!("final_{k}"), v))
            .collect();
        metrics.insert("test_accuracy".into(), outcome.test.accuracy);
        metrics.insert("test_loss".into(), outcome.test.loss);
        metrics.insert("best_epoch".into(), outcome.best_epoch as f64);
        if let Some((loss, accuracy)) = by_epoch.get(&outcome.best_epoch) {
            metrics.insert("best_val_loss".into(), *loss);
            metrics.insert("best_val_accuracy".into(), *accuracy);
        }
        metrics.insert("epochs".into(), outcome.epochs_run as f64);
        let cost = &outcome.cost;
        metrics.insert("train_rows".into(), data.train.rows() as f64);
        metrics.insert("param_count".into(), cost.parameters as f64);
        if cost.train_seconds > 0.0 {
            metrics.insert(
                "samples_per_s".into(),
                cost.samples as f64 / cost.train_seconds,
            );
        }
        if cost.test_rows > 0 {
            metrics.insert(
                "latency_ms_per_row".into(),
                cost.test_seconds * 1000.0 / cost.test_rows as f64,
            );
        }
        if let Ok(meta) = std::fs::metadata(self.objects.absolute(&weights)) {
            metrics.insert("weights_bytes".into(), meta.len() as f64);
        }
        let status = if outcome.stopped {
            RunStatus::Stopped
        } else {
            RunStatus::Finished
        };
        let artifacts = serde_json::json!({
            "weights": weights,
            "weights_hash": hash,
            "model_config": outcome.config,
            "feature_spec": spec,
        });
        self.store.finish_run(
            run_id,
            status,
            None,
            &serde_json::to_value(&metrics).unwrap_or_default(),
            &serde_json::to_value(&outcome.test).unwrap_or_default(),
            &artifacts,
        )?;
        if status == RunStatus::Finished {
            // Nothing left to resume: the checkpoint folder goes (the weights are in objects/).
            let _ = std::fs::remove_dir_all(&checkpoint_dir);
        }
        Ok(RunSummary {
            run_id,
            status,
            device: device.name.clone(),
            metrics,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kiln_data::polars::df;

    #[test]
    fn target_guess_takes_a_target_name_first_in_any_case() {
        let df = df!(
            "a" => [1, 2, 3, 4, 5, 6],
            "Label" => ["x", "y", "x", "y", "x", "y"],
            "z" => [0, 1, 0, 1, 0, 1],
        )
        .unwrap();
        assert_eq!(guess_target(&df).as_deref(), Some("Label"));
    }

    #[test]
    fn target_guess_else_takes_the_last_column_with_few_distinct_values() {
        let df = df!(
            "kind" => ["a", "b", "a", "b", "a", "b"],
            "group" => [1, 1, 2, 2, 3, 3],
            "value" => [0.1, 0.2, 0.3, 0.4, 0.5, 0.6],
        )
        .unwrap();
        assert_eq!(guess_target(&df).as_deref(), Some("group"));
        // Every value distinct, or a constant: nothing is guessed; reserved columns never count.
        let df = df!(
            "id" => [1, 2, 3, 4],
            "one" => [7, 7, 7, 7],
            "split" => ["train", "train", "test", "test"],
        )
        .unwrap();
        assert_eq!(guess_target(&df), None);
    }

    #[test]
    fn image_versions_default_to_their_image_column() {
        let df = df!(
            "file" => ["a.png", "b.png"],
            "label" => ["cat", "dog"],
            "image" => [&b"\x89PNG"[..], &b"\x89PNG"[..]],
        )
        .unwrap();
        let d = train_defaults(&df);
        assert_eq!(d.target.as_deref(), Some("label"));
        assert_eq!(d.excluded, ["file", "label"]);
        let df = df!("x" => [1.0, 2.0], "label" => ["a", "b"]).unwrap();
        assert!(train_defaults(&df).excluded.is_empty());
    }
}
