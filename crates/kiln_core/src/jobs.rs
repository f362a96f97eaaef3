//! Background jobs: long work (imports, stats, plots) runs on a named thread; the caller keeps a
//! [`Job`] handle to read progress, cancel, and take the result without blocking. The result travels over
//! a bounded channel of capacity one, and a notifier (the GUI's "request repaint") is called on progress
//! and on completion.

use std::sync::Arc;
use std::sync::mpsc::{Receiver, TryRecvError, sync_channel};

use crate::{Cancel, Progress};

/// A running or finished background job producing a `T`.
pub struct Job<T> {
    pub name: String,
    pub progress: Progress,
    cancel: Cancel,
    rx: Receiver<T>,
    started: std::time::Instant,
}

impl<T> std::fmt::Debug for Job<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Job")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// What polling a job found.
#[derive(Debug)]
pub enum Poll<T> {
    Running,
    Done(T),
    /// The worker ended without a result (it panicked).
    Lost,
}

impl<T: Send + 'static> Job<T> {
    /// Start `work` on a thread named `kiln-<name>`. `notify` is called on each progress update and once
    /// the result is sent.
    pub fn spawn(
        name: &str,
        notify: Arc<dyn Fn() + Send + Sync>,
        work: impl FnOnce(&Cancel, &Progress) -> T + Send + 'static,
    ) -> std::io::Result<Self> {
        let (tx, rx) = sync_channel(1);
        let cancel = Cancel::new();
        let progress = Progress::with_notify(notify.clone());
        let (c, p) = (cancel.clone(), progress.clone());
        std::thread::Builder::new()
            .name(format!("kiln-{name}"))
            .spawn(move || {
                let out = work(&c, &p);
                let _ = tx.send(out);
                notify();
            })?;
        Ok(Self {
            name: name.to_owned(),
            progress,
            cancel,
            rx,
            started: std::time::Instant::now(),
        })
    }

    /// Take the result if the job has finished; never blocks.
    pub fn poll(&self) -> Poll<T> {
        match self.rx.try_recv() {
            Ok(v) => Poll::Done(v),
            Err(TryRecvError::Empty) => Poll::Running,
            Err(TryRecvError::Disconnected) => Poll::Lost,
        }
    }

    /// Block until the job finishes (for the CLI and tests).
    pub fn wait(self) -> Option<T> {
        self.rx.recv().ok()
    }

    pub fn cancel(&self) {
        self.cancel.cancel();
    }

    /// The job's cancel flag (to cancel it without knowing its result type).
    pub fn cancel_token(&self) -> &Cancel {
        &self.cancel
    }

    pub fn is_cancelled(&self) -> bool {
        self.cancel.is_cancelled()
    }

    pub fn elapsed(&self) -> std::time::Duration {
        self.started.elapsed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn job_runs_on_a_named_thread_and_reports() {
        let notified = Arc::new(AtomicUsize::new(0));
        let n = notified.clone();
        let job = Job::spawn(
            "test",
            Arc::new(move || {
                n.fetch_add(1, Ordering::SeqCst);
            }),
            |_, p| {
                p.set(0.5, "half");
                std::thread::current().name().map(str::to_owned)
            },
        )
        .unwrap();
        assert_eq!(job.wait().unwrap().as_deref(), Some("kiln-test"));
        // Once for the progress update and once after the result was sent (just after `wait` returns).
        let start = std::time::Instant::now();
        while notified.load(Ordering::SeqCst) < 2 {
            assert!(
                start.elapsed() < std::time::Duration::from_secs(5),
                "not notified"
            );
            std::thread::yield_now();
        }
    }

    #[test]
    fn cancel_reaches_the_worker() {
        let job = Job::spawn("cancel", Arc::new(|| {}), |c, _| {
            while !c.is_cancelled() {
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
            "stopped"
        })
        .unwrap();
        assert!(matches!(job.poll(), Poll::Running));
        job.cancel();
        assert_eq!(job.wait(), Some("stopped"));
    }
}
