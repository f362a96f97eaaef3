use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use kiln_core::data::polars::prelude::DataFrame;
use kiln_core::data::{Histogram, ScatterSeries, ValueCount};
use kiln_core::jobs::Job;
use kiln_core::sweeps::{SweepOutcome, TrialOutcome};
use kiln_core::training::RunSummary;
use kiln_core::{Cancel, ColumnStats, Dataset, DatasetVersion, ImportOutcome, Progress, Workspace};
use kiln_train::Event;
use serde::{Deserialize, Serialize};

/// The phases of the product cycle, one panel each.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum PanelId {
    #[default]
    Data,
    Label,
    Train,
    Runs,
    Models,
    Monitor,
}

impl PanelId {
    pub const ALL: [PanelId; 6] = [
        PanelId::Data,
        PanelId::Label,
        PanelId::Train,
        PanelId::Runs,
        PanelId::Models,
        PanelId::Monitor,
    ];

    pub fn title(self) -> &'static str {
        match self {
            PanelId::Data => "Data",
            PanelId::Label => "Label",
            PanelId::Train => "Train",
            PanelId::Runs => "Runs",
            PanelId::Models => "Models & Releases",
            PanelId::Monitor => "Monitor",
        }
    }
}

/// What the GUI remembers between runs. Never data, only layout and choices.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct PersistedState {
    pub last_workspace: Option<PathBuf>,
    pub active_panel: PanelId,
    pub light_theme: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ToastKind {
    Info,
    Error,
}

#[derive(Clone, Debug)]
pub struct Toast {
    pub id: u64,
    pub kind: ToastKind,
    pub text: String,
    pub details: Option<String>,
    pub created: std::time::Instant,
}

/// The plot data of the Data panel's histogram tab.
#[derive(Clone, Debug)]
pub enum ColumnPlot {
    Histogram(Histogram),
    Counts(Vec<ValueCount>),
}

/// A typed background job; the app polls each kind and applies its result.
pub enum JobKind {
    Import {
        job: Job<Result<ImportOutcome, String>>,
        path: PathBuf,
    },
    Load {
        job: Job<Result<DataFrame, String>>,
        version_id: i64,
    },
    View(Job<Result<DataFrame, String>>),
    Stats(Job<Result<Vec<ColumnStats>, String>>),
    Plot {
        job: Job<Result<ColumnPlot, String>>,
        column: String,
    },
    Scatter(Job<Result<Vec<ScatterSeries>, String>>),
    Preview(Job<Result<DataFrame, String>>),
    /// The first rows of a file being imported.
    FirstRows(Job<Result<DataFrame, String>>),
    PickFile(Job<Option<PathBuf>>),
    PickFolder(Job<Option<PathBuf>>),
    /// A file chosen to export the open version to.
    PickExport(Job<Option<PathBuf>>),
    /// Loading a version for labeling.
    LabelLoad(Job<Result<LabelSession, String>>),
    /// A version-creating operation (commit labels, pull, filter, split, export).
    Derive {
        job: Job<Result<ImportOutcome, String>>,
        what: String,
    },
    Diff(Job<Result<kiln_core::data::DiffSummary, String>>),
    /// A training run (new or resumed); its live events go to [`AppState::training`].
    Train(Job<Result<RunSummary, String>>),
    Sweep(Job<Result<SweepOutcome, String>>),
}

impl JobKind {
    pub fn title(&self) -> String {
        match self {
            JobKind::Import { path, .. } => format!(
                "Import {}",
                path.file_name().unwrap_or_default().to_string_lossy()
            ),
            JobKind::Load { .. } => "Load dataset".into(),
            JobKind::View(_) => "Filter / sort".into(),
            JobKind::Stats(_) => "Column statistics".into(),
            JobKind::Plot { column, .. } => format!("Histogram of {column}"),
            JobKind::Scatter(_) => "Scatter plot".into(),
            JobKind::Preview(_) | JobKind::FirstRows(_) => "Import preview".into(),
            JobKind::PickFile(_) | JobKind::PickFolder(_) | JobKind::PickExport(_) => {
                "File dialog".into()
            }
            JobKind::LabelLoad(_) => "Load for labeling".into(),
            JobKind::Derive { what, .. } => what.clone(),
            JobKind::Diff(_) => "Diff versions".into(),
            JobKind::Train(_) => "Training".into(),
            JobKind::Sweep(_) => "Sweep".into(),
        }
    }

    /// The job's progress and cancel flag, whatever its result type.
    // The arms bind different job types, so they cannot be merged.
    #[allow(clippy::match_same_arms)]
    fn handles(&self) -> (&Progress, &Cancel) {
        fn h<T: Send + 'static>(job: &Job<T>) -> (&Progress, &Cancel) {
            (&job.progress, job.cancel_token())
        }
        match self {
            JobKind::Import { job, .. } => h(job),
            JobKind::Load { job, .. } => h(job),
            JobKind::View(job) | JobKind::Preview(job) | JobKind::FirstRows(job) => h(job),
            JobKind::Stats(job) => h(job),
            JobKind::Plot { job, .. } => h(job),
            JobKind::Scatter(job) => h(job),
            JobKind::PickFile(job) | JobKind::PickFolder(job) | JobKind::PickExport(job) => h(job),
            JobKind::LabelLoad(job) => h(job),
            JobKind::Derive { job, .. } => h(job),
            JobKind::Diff(job) => h(job),
            JobKind::Train(job) => h(job),
            JobKind::Sweep(job) => h(job),
        }
    }

    pub fn progress(&self) -> (f32, String) {
        let p = self.handles().0;
        (p.fraction(), p.step())
    }

    pub fn cancel(&self) {
        self.handles().1.cancel();
    }

    /// Jobs the user sees in the jobs list (file dialogs and previews are not "work").
    pub fn is_visible(&self) -> bool {
        !matches!(
            self,
            JobKind::PickFile(_)
                | JobKind::PickFolder(_)
                | JobKind::PickExport(_)
                | JobKind::Preview(_)
                | JobKind::FirstRows(_)
        )
    }
}

pub struct JobEntry {
    pub id: u64,
    pub kind: JobKind,
}

/// The dataset version open in the Data panel, its data and everything derived from it.
#[derive(Default)]
pub struct Current {
    pub version: Option<DatasetVersion>,
    /// The version's full data, once loaded.
    pub base: Option<Arc<DataFrame>>,
    /// `base` after the filter and sort (what the table shows).
    pub view: Option<Arc<DataFrame>>,
    pub filter: String,
    pub filter_error: Option<String>,
    pub sort: Option<(String, bool)>,
    pub stats: Option<Vec<ColumnStats>>,
    pub plot: Option<(String, ColumnPlot)>,
    pub scatter: Option<Vec<ScatterSeries>>,
}

/// An open labeling session: one dataset version (with row ids), one label column, its schema, the saved
/// draft and an undo stack.
pub struct LabelSession {
    pub base: DatasetVersion,
    pub column: String,
    pub df: Arc<DataFrame>,
    pub ids: Vec<u64>,
    /// Labels in `base`, by position.
    pub committed: Vec<Option<String>>,
    /// Saved draft labels by row id (`None` = cleared).
    pub drafts: std::collections::HashMap<u64, Option<String>>,
    pub schema: Vec<kiln_core::store::LabelClass>,
    /// For undo: row ids and their previous draft state (`None` = no draft, `Some(None)` = a draft
    /// that cleared the label).
    #[allow(clippy::option_option)]
    pub undo: Vec<Vec<(u64, Option<Option<String>>)>>,
    /// Position of the current item.
    pub cursor: usize,
    pub only_unlabeled: bool,
}

impl LabelSession {
    /// The label a row has now: its draft if any, else the committed value.
    pub fn label_at(&self, pos: usize) -> Option<&str> {
        match self.drafts.get(&self.ids[pos]) {
            Some(d) => d.as_deref(),
            None => self.committed[pos].as_deref(),
        }
    }

    pub fn labeled(&self) -> usize {
        (0..self.ids.len())
            .filter(|&i| self.label_at(i).is_some())
            .count()
    }

    /// Rows per class (schema order first, then other values), plus unlabeled.
    pub fn distribution(&self) -> Vec<(String, usize)> {
        let mut counts: BTreeMap<String, usize> = BTreeMap::new();
        for i in 0..self.ids.len() {
            if let Some(l) = self.label_at(i) {
                *counts.entry(l.to_owned()).or_default() += 1;
            }
        }
        let mut out: Vec<(String, usize)> = self
            .schema
            .iter()
            .map(|c| (c.name.clone(), counts.remove(&c.name).unwrap_or(0)))
            .collect();
        out.extend(counts);
        out
    }

    /// Positions shown (all, or only unlabeled ones plus the current item).
    pub fn visible(&self) -> Vec<usize> {
        (0..self.ids.len())
            .filter(|&i| !self.only_unlabeled || self.label_at(i).is_none() || i == self.cursor)
            .collect()
    }

    /// The next position after `from` in direction `step` that is shown.
    pub fn step(&self, from: usize, forward: bool) -> usize {
        let n = self.ids.len();
        let mut i = from;
        loop {
            let next = if forward { i + 1 } else { i.wrapping_sub(1) };
            if next >= n {
                return from;
            }
            i = next;
            if !self.only_unlabeled || self.label_at(i).is_none() {
                return i;
            }
        }
    }

    pub fn position_of(&self, row_id: u64) -> Option<usize> {
        self.ids.iter().position(|&id| id == row_id)
    }

    pub fn draft_count(&self) -> usize {
        self.drafts.len()
    }
}

/// One epoch of a live run.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct EpochPoint {
    pub epoch: usize,
    pub train_loss: f64,
    pub val_loss: f64,
    pub train_accuracy: f64,
    pub val_accuracy: f64,
}

/// A training run followed live: what the worker reports over a bounded channel, gathered for the plots.
pub struct LiveTraining {
    pub title: String,
    /// The run being resumed, if any (a new run's id comes with its result).
    pub resumed: Option<i64>,
    /// Batch points (lossy when the UI falls behind).
    pub rx: std::sync::mpsc::Receiver<Event>,
    /// Start and epoch events (never dropped).
    pub epoch_rx: std::sync::mpsc::Receiver<Event>,
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
    /// Set when the job ends.
    pub result: Option<Result<RunSummary, String>>,
}

impl LiveTraining {
    pub fn new(
        title: String,
        resumed: Option<i64>,
        rx: std::sync::mpsc::Receiver<Event>,
        epoch_rx: std::sync::mpsc::Receiver<Event>,
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
    pub fn drain(&mut self) {
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
    pub rx: std::sync::mpsc::Receiver<TrialOutcome>,
    pub trials: Vec<TrialOutcome>,
    pub result: Option<Result<SweepOutcome, String>>,
}

impl LiveSweep {
    pub fn drain(&mut self) {
        while let Ok(t) = self.rx.try_recv() {
            self.trials.push(t);
        }
    }
}

/// A file being imported: its first rows, shown before the full import finishes.
pub struct Importing {
    pub path: PathBuf,
    pub name: String,
    pub preview: Option<Arc<DataFrame>>,
}

/// Everything the panels read.
pub struct AppState {
    pub ws: Workspace,
    pub datasets: Vec<Dataset>,
    pub versions: BTreeMap<String, Vec<DatasetVersion>>,
    pub current: Current,
    pub importing: Option<Importing>,
    pub labeling: Option<LabelSession>,
    /// Training runs, newest first.
    pub runs: Vec<kiln_core::store::Run>,
    /// Stopped, failed or interrupted runs with a checkpoint: `(run id, epoch it resumes after)`.
    pub resumable: Vec<(i64, usize)>,
    /// The training run followed in the Train panel (running, or the last one).
    pub training: Option<LiveTraining>,
    pub sweep: Option<LiveSweep>,
    /// The last diff computed in the versions view: `(a, b, summary)`.
    pub diff: Option<(String, String, kiln_core::data::DiffSummary)>,
    pub jobs: Vec<JobEntry>,
    pub toasts: Vec<Toast>,
    pub device: String,
    pub active: PanelId,
    pub light_theme: bool,
    next_id: u64,
}

impl AppState {
    pub fn new(ws: Workspace) -> Self {
        let mut s = Self {
            ws,
            datasets: Vec::new(),
            versions: BTreeMap::new(),
            current: Current::default(),
            importing: None,
            labeling: None,
            runs: Vec::new(),
            resumable: Vec::new(),
            training: None,
            sweep: None,
            diff: None,
            jobs: Vec::new(),
            toasts: Vec::new(),
            device: "rendering device unknown".into(),
            active: PanelId::Data,
            light_theme: false,
            next_id: 1,
        };
        s.refresh();
        s
    }

    pub fn next_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    /// Re-read the dataset list from the workspace.
    pub fn refresh(&mut self) {
        match self.ws.datasets() {
            Ok(d) => self.datasets = d,
            Err(e) => self.error("Could not read the dataset list", &e.to_string()),
        }
        self.runs = self.ws.store().list_runs().unwrap_or_default();
        self.resumable = self
            .runs
            .iter()
            .filter(|r| r.can_resume())
            .filter_map(|r| Some((r.id, self.ws.resumable_epoch(r.id)?)))
            .collect();
        self.versions.clear();
        for d in &self.datasets {
            if let Ok(v) = self.ws.versions(&d.name) {
                self.versions.insert(d.name.clone(), v);
            }
        }
    }

    pub fn info(&mut self, text: impl Into<String>) {
        let id = self.next_id();
        self.toasts.push(Toast {
            id,
            kind: ToastKind::Info,
            text: text.into(),
            details: None,
            created: std::time::Instant::now(),
        });
    }

    pub fn error(&mut self, text: impl Into<String>, details: &str) {
        let id = self.next_id();
        tracing::warn!("{}: {details}", self.toasts.len());
        self.toasts.push(Toast {
            id,
            kind: ToastKind::Error,
            text: text.into(),
            details: Some(details.to_owned()),
            created: std::time::Instant::now(),
        });
    }

    pub fn running_jobs(&self) -> impl Iterator<Item = &JobEntry> {
        self.jobs.iter().filter(|j| j.kind.is_visible())
    }

    /// True while any background work (including previews and file dialogs) is in flight.
    pub fn busy(&self) -> bool {
        !self.jobs.is_empty()
    }

    pub fn is_running(&self, f: impl Fn(&JobKind) -> bool) -> Option<&JobEntry> {
        self.jobs.iter().find(|j| f(&j.kind))
    }
}
