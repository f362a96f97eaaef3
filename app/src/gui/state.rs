//! What every room reads: the workspace and its lists (datasets, versions, runs), the version open in the
//! Data room, the job board, toasts and window choices. A room's own state lives in its controller.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use kiln_core::runs::Resumable;
use kiln_core::{CoreError, Dataset, DatasetVersion, Run, Workspace};
use serde::{Deserialize, Serialize};

use super::jobs::{Board, Finished, Shown, Task};

/// A room's id: the key of its navigation entry and of the persisted active panel. Each room declares
/// its own (`data::ID`, `train::ID`, …).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PanelId(pub &'static str);

/// What the GUI remembers between runs. Never data, only layout and choices.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct PersistedState {
    pub last_workspace: Option<PathBuf>,
    /// The id of the panel shown last.
    pub active_panel: Option<String>,
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

/// The state every room reads, and the services (jobs, toasts) every controller uses.
pub struct AppState {
    pub ws: Workspace,
    pub datasets: Vec<Dataset>,
    pub versions: BTreeMap<String, Vec<DatasetVersion>>,
    /// Training runs, newest first.
    pub runs: Vec<Run>,
    /// Runs that can resume from a checkpoint.
    pub resumable: Vec<Resumable>,
    /// Which model briefs judge on which dataset version: `(model, version id)`.
    pub judged_by: Vec<(String, i64)>,
    /// Counts the re-reads of the lists, so views built from them know when to rebuild.
    pub generation: u64,
    /// The version open in the Data room (what labeling and "save filter" act on).
    pub open_version: Option<DatasetVersion>,
    pub jobs: Board,
    pub toasts: Vec<Toast>,
    pub device: String,
    pub active: PanelId,
    pub light_theme: bool,
    /// Counts the changes another process made to the serving log (requests, feedback).
    pub served_generation: u64,
    /// What other processes change in the workspace; `None` when the watch could not start.
    watch: Option<kiln_core::watch::Watch>,
    next_toast: u64,
}

/// How often the workspace database is checked for other processes' changes.
pub const WATCH_PERIOD: std::time::Duration = std::time::Duration::from_millis(400);

impl AppState {
    pub fn new(ws: Workspace, notify: Arc<dyn Fn() + Send + Sync>, active: PanelId) -> Self {
        let watch = match kiln_core::watch::Watch::start(ws.root(), WATCH_PERIOD, notify.clone()) {
            Ok(w) => Some(w),
            Err(e) => {
                tracing::warn!("cannot watch the workspace for other processes' changes: {e}");
                None
            }
        };
        let mut s = Self {
            ws,
            datasets: Vec::new(),
            versions: BTreeMap::new(),
            runs: Vec::new(),
            resumable: Vec::new(),
            judged_by: Vec::new(),
            generation: 0,
            open_version: None,
            jobs: Board::new(notify),
            toasts: Vec::new(),
            device: "rendering device unknown".into(),
            active,
            light_theme: false,
            served_generation: 0,
            watch,
            next_toast: 1,
        };
        s.refresh();
        s
    }

    /// Re-read the dataset, version and run lists from the workspace (after anything that changes them).
    pub fn refresh(&mut self) {
        self.generation += 1;
        match self.ws.datasets() {
            Ok(d) => self.datasets = d,
            Err(e) => self.error("Could not read the dataset list", &e.to_string()),
        }
        match self.ws.runs() {
            Ok(r) => self.runs = r,
            Err(e) => self.error("Could not read the runs", &e.to_string()),
        }
        self.resumable = self.ws.resumable(&self.runs);
        self.judged_by = self.ws.evaluation_versions().unwrap_or_default();
        self.versions.clear();
        for d in &self.datasets {
            if let Ok(v) = self.ws.versions(&d.name) {
                self.versions.insert(d.name.clone(), v);
            }
        }
    }

    /// Take in what other processes changed since the last frame: the lists are read again (rooms
    /// rebuild from them, keeping their selection), a serving-log change counts in `served_generation`.
    pub fn follow_other_processes(&mut self) {
        let Some(w) = &self.watch else {
            return;
        };
        for change in w.changes() {
            match change {
                kiln_core::watch::Change::Lists => self.refresh(),
                kiln_core::watch::Change::Served => self.served_generation += 1,
            }
        }
    }

    /// The models whose brief judges on dataset version `id`.
    pub fn briefs_judging(&self, id: i64) -> Vec<&str> {
        self.judged_by
            .iter()
            .filter(|(_, v)| *v == id)
            .map(|(m, _)| m.as_str())
            .collect()
    }

    /// After a version-creating operation: re-read the lists and say what `what` made.
    pub fn report_version(&mut self, what: &str, out: &kiln_core::ImportOutcome) {
        self.refresh();
        let v = &out.version;
        if out.created {
            self.info(format!(
                "{what}: created {}@{} ({} rows)",
                v.dataset, v.version, v.row_count
            ));
        } else {
            self.info(format!(
                "{what}: no change, identical to {}@{}",
                v.dataset, v.version
            ));
        }
    }

    pub fn info(&mut self, text: impl Into<String>) {
        self.toast(ToastKind::Info, text.into(), None);
    }

    pub fn error(&mut self, text: impl Into<String>, details: &str) {
        let text = text.into();
        tracing::warn!("{text}: {details}");
        self.toast(ToastKind::Error, text, Some(details.to_owned()));
    }

    fn toast(&mut self, kind: ToastKind, text: String, details: Option<String>) {
        let id = self.next_toast;
        self.next_toast += 1;
        self.toasts.push(Toast {
            id,
            kind,
            text,
            details,
            created: std::time::Instant::now(),
        });
    }

    /// Start a job listed in the jobs window; a thread that cannot start is reported as a toast.
    pub fn spawn<T: Send + 'static>(
        &mut self,
        title: impl Into<String>,
        thread: &str,
        work: impl FnOnce(&kiln_core::Cancel, &kiln_core::Progress) -> Result<T, CoreError>
        + Send
        + 'static,
    ) -> Option<Task<T>> {
        self.spawn_shown(title, thread, Shown::Listed, work)
    }

    /// [`AppState::spawn`] for work that is not shown as a job (file dialogs, previews).
    pub fn spawn_shown<T: Send + 'static>(
        &mut self,
        title: impl Into<String>,
        thread: &str,
        shown: Shown,
        work: impl FnOnce(&kiln_core::Cancel, &kiln_core::Progress) -> Result<T, CoreError>
        + Send
        + 'static,
    ) -> Option<Task<T>> {
        match self.jobs.spawn(title, thread, shown, work) {
            Ok(t) => Some(t),
            Err(e) => {
                self.error("Could not start a worker thread", &e.to_string());
                None
            }
        }
    }

    /// The result of the job in `slot` once it has ended; a worker that died is reported here, as a
    /// toast, and gives `None` like a job still running.
    pub fn poll<T: Send + 'static>(&mut self, slot: &mut Option<Task<T>>) -> Option<Finished<T>> {
        match self.jobs.poll(slot)? {
            Ok(f) => Some(f),
            Err(title) => {
                self.error(
                    format!("{title} stopped unexpectedly"),
                    "the worker thread panicked",
                );
                None
            }
        }
    }

    /// Poll every task of a list; the ended ones leave it.
    pub fn poll_each<T: Send + 'static>(
        &mut self,
        tasks: &mut Vec<Task<T>>,
    ) -> Vec<(String, Finished<T>)> {
        let mut done = Vec::new();
        let mut still = Vec::with_capacity(tasks.len());
        for t in tasks.drain(..) {
            let title = t.title().to_owned();
            let mut slot = Some(t);
            match self.poll(&mut slot) {
                Some(f) => done.push((title, f)),
                None => still.extend(slot),
            }
        }
        *tasks = still;
        done
    }

    /// True while any background work (including previews and file dialogs) is in flight.
    pub fn busy(&self) -> bool {
        self.jobs.busy()
    }
}
