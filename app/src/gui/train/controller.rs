//! The Train room's controller: the run followed live (its events over two bounded channels), the sweep,
//! and the form's defaults per version; each job's result is taken here.

use std::collections::HashMap;
use std::sync::mpsc::Receiver;

use kiln_core::sweeps::{SweepOutcome, TrialOutcome};
use kiln_core::training::{RunSummary, TrainDefaults, TrainRequest};
use kiln_core::{RunStatus, Workspace};
use kiln_train::Event;

use super::TrainCommand;
use crate::gui::jobs::{Finished, Task};
use crate::gui::room::Cx;
use crate::gui::state::AppState;

/// One epoch of a live run.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct EpochPoint {
    pub epoch: usize,
    pub train_loss: f64,
    pub val_loss: f64,
    pub train_accuracy: f64,
    pub val_accuracy: f64,
}

/// A training run followed live: what the worker reports over bounded channels, gathered for the plots.
pub struct LiveTraining {
    pub title: String,
    /// The run being resumed, if any (a new run's id comes with its result).
    pub resumed: Option<i64>,
    /// Batch points (lossy when the UI falls behind).
    rx: Receiver<Event>,
    /// Start and epoch events (never dropped).
    epoch_rx: Receiver<Event>,
    pub device: Option<String>,
    /// `(step, loss)` of every batch.
    pub steps: Vec<[f64; 2]>,
    pub epochs: Vec<EpochPoint>,
    pub total_epochs: usize,
    pub steps_per_epoch: usize,
    pub first_epoch: usize,
    /// The split has validation rows (otherwise "validation" figures come from the training rows).
    pub validation: bool,
    pub started: std::time::Instant,
    /// The step the (resumed) loop started from, for the rate behind the ETA.
    pub first_step: usize,
    pub last_step: usize,
    /// Set when the job ends (the error as text).
    pub result: Option<Result<RunSummary, String>>,
}

impl LiveTraining {
    fn new(
        title: String,
        resumed: Option<i64>,
        rx: Receiver<Event>,
        epoch_rx: Receiver<Event>,
    ) -> Self {
        Self {
            title,
            resumed,
            rx,
            epoch_rx,
            device: None,
            steps: Vec::new(),
            epochs: Vec::new(),
            total_epochs: 0,
            steps_per_epoch: 0,
            first_epoch: 1,
            validation: true,
            started: std::time::Instant::now(),
            first_step: 0,
            last_step: 0,
            result: None,
        }
    }

    /// Take what the worker sent; never blocks. Epoch events first: a batch point is never drawn
    /// before the start of its run.
    fn drain(&mut self) {
        let events: Vec<Event> = self.epoch_rx.try_iter().chain(self.rx.try_iter()).collect();
        for e in events {
            match e {
                Event::Start {
                    device,
                    epochs,
                    steps_per_epoch,
                    first_epoch,
                    validation,
                } => {
                    self.validation = validation;
                    self.device = Some(device);
                    self.total_epochs = epochs;
                    self.steps_per_epoch = steps_per_epoch;
                    self.first_epoch = first_epoch;
                    self.first_step = (first_epoch - 1) * steps_per_epoch;
                    self.last_step = self.first_step;
                    self.started = std::time::Instant::now();
                }
                Event::Step { step, loss, .. } => {
                    self.steps.push([step as f64, loss]);
                    self.last_step = step;
                }
                Event::Epoch {
                    epoch,
                    train_loss,
                    train_accuracy,
                    val_loss,
                    val_accuracy,
                    ..
                } => self.epochs.push(EpochPoint {
                    epoch,
                    train_loss,
                    val_loss,
                    train_accuracy,
                    val_accuracy,
                }),
            }
        }
    }

    pub fn total_steps(&self) -> usize {
        self.total_epochs * self.steps_per_epoch
    }

    pub fn fraction(&self) -> f32 {
        let total = self.total_steps();
        if total == 0 {
            0.0
        } else {
            (self.last_step as f32 / total as f32).min(1.0)
        }
    }

    /// Seconds left at the rate so far (early stopping may end the run sooner).
    pub fn eta_s(&self) -> Option<f64> {
        let done = self.last_step.saturating_sub(self.first_step);
        if done == 0 {
            return None;
        }
        let rate = done as f64 / self.started.elapsed().as_secs_f64().max(1e-3);
        Some(self.total_steps().saturating_sub(self.last_step) as f64 / rate)
    }

    pub fn running(&self) -> bool {
        self.result.is_none()
    }
}

/// A sweep followed live.
pub struct LiveSweep {
    pub total: usize,
    rx: Receiver<TrialOutcome>,
    pub trials: Vec<TrialOutcome>,
    pub result: Option<Result<SweepOutcome, String>>,
}

impl LiveSweep {
    fn drain(&mut self) {
        while let Ok(t) = self.rx.try_recv() {
            self.trials.push(t);
        }
    }
}

#[derive(Default)]
pub struct TrainController {
    /// The run followed in the panel (running, or the last one).
    pub training: Option<LiveTraining>,
    pub sweep: Option<LiveSweep>,
    /// The form's defaults by version id, once worked out.
    defaults: HashMap<i64, TrainDefaults>,
    defaults_job: Option<Task<(i64, TrainDefaults)>>,
    train: Option<Task<RunSummary>>,
    sweep_job: Option<Task<SweepOutcome>>,
}

impl TrainController {
    pub fn defaults(&self, version_id: i64) -> Option<&TrainDefaults> {
        self.defaults.get(&version_id)
    }

    /// True while the defaults of some version are being worked out.
    pub fn defaults_pending(&self) -> bool {
        self.defaults_job.is_some()
    }

    pub fn apply(&mut self, cmd: TrainCommand, cx: &mut Cx<'_>) {
        let state = &mut *cx.state;
        match cmd {
            TrainCommand::Defaults(v) => {
                if self.defaults.contains_key(&v.id) {
                    return;
                }
                state.jobs.replace(&mut self.defaults_job);
                let objects = state.ws.objects().clone();
                self.defaults_job =
                    state.spawn("Read the columns", "train-defaults", move |_, _| {
                        // A version that cannot be read gets no guess (training it reports the error).
                        let defaults = match objects.load(&v) {
                            Ok(df) => kiln_core::training::train_defaults(&df),
                            Err(e) => {
                                tracing::warn!(
                                    "no form defaults for {}@{}: {e}",
                                    v.dataset,
                                    v.version
                                );
                                TrainDefaults::default()
                            }
                        };
                        Ok((v.id, defaults))
                    });
            }
            TrainCommand::Start(req) => self.start(state, Some(req), None),
            TrainCommand::Resume(id) => self.start(state, None, Some(id)),
            TrainCommand::Stop => {
                if let Some(t) = &self.train {
                    state.jobs.cancel(t.id());
                }
            }
            TrainCommand::StartSweep(spec) => self.start_sweep(state, spec),
            TrainCommand::StopSweep => {
                if let Some(t) = &self.sweep_job {
                    state.jobs.cancel(t.id());
                }
            }
        }
    }

    /// Start a training job (new when `resume` is `None`) whose events stream to the panel.
    fn start(&mut self, state: &mut AppState, req: Option<TrainRequest>, resume: Option<i64>) {
        if self.train.is_some() {
            state.info("A run is already training; stop it first");
            return;
        }
        // The title, and the epochs of the run (a resumed run's from its record).
        let (title, epochs) = match (&req, resume) {
            (Some(r), _) => (
                format!(
                    "{} · {} · target {}",
                    r.dataset,
                    r.params.model.name(),
                    r.target
                ),
                r.params.epochs,
            ),
            (None, Some(id)) => (
                format!("Run {id} (resumed)"),
                state.ws.run(id).map_or(0, |r| {
                    r.params["epochs"].as_u64().unwrap_or_default() as usize
                }),
            ),
            (None, None) => return,
        };
        // Two bounded channels: batch points (a UI that falls behind — or is minimised — loses some
        // rather than stalling training), and the start and epoch events, sized for every epoch of the
        // run so none is ever dropped and the worker never waits.
        let (tx, rx) = std::sync::mpsc::sync_channel(8192);
        let (etx, erx) = std::sync::mpsc::sync_channel(epochs.clamp(1, 1_000_000) + 1);
        self.training = Some(LiveTraining::new(title, resume, rx, erx));
        let root = state.ws.root().to_path_buf();
        let notify = state.jobs.notifier();
        self.train = state.spawn("Training", "train", move |cancel, progress| {
            let mut ws = Workspace::open(&root)?;
            let mut last = std::time::Instant::now();
            let (mut total_steps, mut epochs) = (0usize, 0usize);
            let mut on_event = |e: &Event| {
                match e {
                    Event::Start {
                        epochs: n,
                        steps_per_epoch,
                        ..
                    } => {
                        epochs = *n;
                        total_steps = n * steps_per_epoch;
                    }
                    Event::Step { epoch, step, .. }
                        if last.elapsed() >= std::time::Duration::from_millis(50) =>
                    {
                        last = std::time::Instant::now();
                        progress.set(
                            *step as f32 / total_steps.max(1) as f32,
                            &format!("epoch {epoch} of {epochs}"),
                        );
                    }
                    _ => {}
                }
                if matches!(e, Event::Step { .. }) {
                    let _ = tx.try_send(e.clone());
                } else {
                    let _ = etx.try_send(e.clone());
                    notify();
                }
            };
            match (req, resume) {
                (Some(req), _) => ws.train(&req, cancel.flag(), &mut on_event),
                (None, Some(id)) => ws.resume(
                    id,
                    kiln_train::DeviceChoice::Auto,
                    cancel.flag(),
                    &mut on_event,
                ),
                (None, None) => unreachable!("checked above"),
            }
        });
        state.active = super::ID;
    }

    fn start_sweep(&mut self, state: &mut AppState, spec: kiln_core::sweeps::SweepSpec) {
        let total = match spec.trials() {
            Ok(t) => t.len(),
            Err(e) => {
                state.error("The sweep is not valid", &e.to_string());
                return;
            }
        };
        let (tx, rx) = std::sync::mpsc::sync_channel(total.max(1));
        self.sweep = Some(LiveSweep {
            total,
            rx,
            trials: Vec::new(),
            result: None,
        });
        let root = state.ws.root().to_path_buf();
        self.sweep_job = state.spawn("Sweep", "sweep", move |cancel, progress| {
            let mut ws = Workspace::open(&root)?;
            let done = std::sync::atomic::AtomicUsize::new(0);
            ws.sweep(&spec, cancel.flag(), &|t, total| {
                let k = done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
                progress.set(k as f32 / total as f32, &format!("{k} of {total} runs"));
                // Sized for every trial: never full.
                let _ = tx.try_send(t.clone());
            })
        });
    }

    pub fn poll(&mut self, cx: &mut Cx<'_>) {
        let state = &mut *cx.state;
        if let Some(t) = &mut self.training {
            t.drain();
        }
        if let Some(s) = &mut self.sweep {
            s.drain();
        }
        if let Some(Finished::Done((id, d))) = state.poll(&mut self.defaults_job) {
            self.defaults.insert(id, d);
        }
        let lost = self.train.is_some();
        if let Some(r) = state.poll(&mut self.train) {
            state.refresh();
            let r = match r {
                Finished::Done(s) => {
                    if s.status == RunStatus::Stopped {
                        state.info(format!(
                            "Run {} stopped; its best model is kept and it can be resumed",
                            s.run_id
                        ));
                    } else {
                        state.info(format!(
                            "Run {} finished: test accuracy {:.4}",
                            s.run_id,
                            s.metrics.get("test_accuracy").copied().unwrap_or_default()
                        ));
                    }
                    Ok(s)
                }
                Finished::Cancelled => {
                    state.info("Training stopped before its first epoch ended");
                    Err("stopped before its first epoch ended".to_owned())
                }
                Finished::Failed(e) => {
                    state.error("Training failed", &e.to_string());
                    Err(e.to_string())
                }
            };
            if let Some(t) = &mut self.training {
                t.drain();
                t.result = Some(r);
            }
        } else if lost && self.train.is_none() {
            // The worker died (reported as a toast by the poll).
            state.refresh();
            if let Some(t) = &mut self.training {
                t.result = Some(Err("the training thread stopped unexpectedly".into()));
            }
        }
        let lost = self.sweep_job.is_some();
        if let Some(r) = state.poll(&mut self.sweep_job) {
            state.refresh();
            let r = match r {
                Finished::Done(o) => {
                    state.info(format!(
                        "{} {}: {} runs{}",
                        o.sweep_id,
                        o.status,
                        o.trials.len(),
                        o.best_run
                            .map(|b| format!(", best run {b}"))
                            .unwrap_or_default()
                    ));
                    Ok(o)
                }
                Finished::Cancelled => Err("the sweep was stopped".to_owned()),
                Finished::Failed(e) => {
                    state.error("Sweep failed", &e.to_string());
                    Err(e.to_string())
                }
            };
            if let Some(sw) = &mut self.sweep {
                sw.drain();
                sw.result = Some(r);
            }
        } else if lost && self.sweep_job.is_none() {
            state.refresh();
            if let Some(sw) = &mut self.sweep {
                sw.result = Some(Err("the sweep thread stopped unexpectedly".into()));
            }
        }
    }
}
