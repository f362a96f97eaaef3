//! Background jobs as the GUI sees them. A domain's controller starts a typed [`Task`] (a
//! `kiln_core::jobs::Job<Result<T, CoreError>>` on a named worker thread), keeps it in a field of its own,
//! and takes its result there when it ends: the completion is handled next to the code that started it.
//! The shell only sees the [`Board`]: every running job's title, progress and cancel flag, for the jobs
//! list, the status bar and "busy".

use std::sync::Arc;

use kiln_core::jobs::{Job, Poll};
use kiln_core::{Cancel, CoreError, Progress};

/// A running job whose result is a `T` or an error.
pub struct Task<T> {
    id: u64,
    title: String,
    job: Job<Result<T, CoreError>>,
}

impl<T> Task<T> {
    pub fn id(&self) -> u64 {
        self.id
    }

    pub fn title(&self) -> &str {
        &self.title
    }

    pub fn progress(&self) -> &Progress {
        &self.job.progress
    }
}

/// How a job ended.
pub enum Finished<T> {
    Done(T),
    /// Stopped by its Cancel button or by a newer request; nothing to report.
    Cancelled,
    Failed(CoreError),
}

/// One job as the shell lists it.
pub struct Entry {
    pub id: u64,
    pub title: String,
    pub progress: Progress,
    cancel: Cancel,
    /// Shown in the jobs list and the status bar (file dialogs and previews are not "work").
    pub visible: bool,
}

impl Entry {
    pub fn cancel(&self) {
        self.cancel.cancel();
    }
}

/// Every running job, whichever domain started it.
pub struct Board {
    entries: Vec<Entry>,
    next_id: u64,
    notify: Arc<dyn Fn() + Send + Sync>,
}

/// Whether a job shows in the jobs list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shown {
    Listed,
    Hidden,
}

impl Board {
    /// `notify` is called by workers on progress and completion (the GUI's "request repaint").
    pub fn new(notify: Arc<dyn Fn() + Send + Sync>) -> Self {
        Self {
            entries: Vec::new(),
            next_id: 1,
            notify,
        }
    }

    /// The repaint request, for workers that report more than progress (live training events).
    pub fn notifier(&self) -> Arc<dyn Fn() + Send + Sync> {
        self.notify.clone()
    }

    /// Start `work` on a thread named `kiln-<thread>`.
    pub fn spawn<T: Send + 'static>(
        &mut self,
        title: impl Into<String>,
        thread: &str,
        shown: Shown,
        work: impl FnOnce(&Cancel, &Progress) -> Result<T, CoreError> + Send + 'static,
    ) -> std::io::Result<Task<T>> {
        let job = Job::spawn(thread, self.notify.clone(), work)?;
        let id = self.next_id;
        self.next_id += 1;
        let title = title.into();
        self.entries.push(Entry {
            id,
            title: title.clone(),
            progress: job.progress.clone(),
            cancel: job.cancel_token().clone(),
            visible: shown == Shown::Listed,
        });
        Ok(Task { id, title, job })
    }

    /// The result of the job in `slot` if it has ended (the slot is emptied then); never blocks. `Err`
    /// carries the title of a job whose worker died without a result.
    pub fn poll<T: Send + 'static>(
        &mut self,
        slot: &mut Option<Task<T>>,
    ) -> Option<Result<Finished<T>, String>> {
        let task = slot.as_ref()?;
        let out = match task.job.poll() {
            Poll::Running => return None,
            Poll::Done(Ok(v)) => Ok(Finished::Done(v)),
            Poll::Done(Err(CoreError::Cancelled)) => Ok(Finished::Cancelled),
            Poll::Done(Err(e)) => Ok(Finished::Failed(e)),
            Poll::Lost => Err(task.title.clone()),
        };
        let id = task.id;
        self.entries.retain(|e| e.id != id);
        *slot = None;
        Some(out)
    }

    /// Cancel the job in `slot`, if any, and forget it (a newer request replaces it).
    pub fn replace<T: Send + 'static>(&mut self, slot: &mut Option<Task<T>>) {
        if let Some(task) = slot.take() {
            task.job.cancel();
            self.entries.retain(|e| e.id != task.id);
        }
    }

    pub fn cancel(&self, id: u64) {
        if let Some(e) = self.entries.iter().find(|e| e.id == id) {
            e.cancel();
        }
    }

    pub fn cancel_all(&self) {
        for e in &self.entries {
            e.cancel();
        }
    }

    /// Jobs the user sees in the jobs list.
    pub fn listed(&self) -> impl Iterator<Item = &Entry> {
        self.entries.iter().filter(|e| e.visible)
    }

    /// True while any background work (including previews and file dialogs) is in flight.
    pub fn busy(&self) -> bool {
        !self.entries.is_empty()
    }
}
