use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use crate::DataError;

/// A shared flag a caller sets to stop long work at its next check point.
#[derive(Clone, Debug, Default)]
pub struct Cancel(Arc<AtomicBool>);

impl Cancel {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn cancel(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }

    /// The flag itself, for loops that take an `AtomicBool` (training).
    pub fn flag(&self) -> &AtomicBool {
        &self.0
    }

    /// `Err(Cancelled)` once cancelled: call between the steps of long work.
    pub fn check(&self) -> Result<(), DataError> {
        if self.is_cancelled() {
            Err(DataError::Cancelled)
        } else {
            Ok(())
        }
    }
}

/// Progress of long work as a fraction in `[0, 1]` plus the name of the current step, readable from any
/// thread. A notifier (e.g. "request a repaint") is called on each update.
#[derive(Clone, Default)]
pub struct Progress {
    fraction: Arc<AtomicU32>,
    step: Arc<std::sync::Mutex<String>>,
    notify: Option<Arc<dyn Fn() + Send + Sync>>,
}

impl std::fmt::Debug for Progress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Progress")
            .field("fraction", &self.fraction())
            .field("step", &self.step())
            .finish_non_exhaustive()
    }
}

impl Progress {
    pub fn new() -> Self {
        Self::default()
    }

    /// A progress sink that calls `notify` after each update.
    pub fn with_notify(notify: Arc<dyn Fn() + Send + Sync>) -> Self {
        Self {
            notify: Some(notify),
            ..Self::default()
        }
    }

    pub fn set(&self, fraction: f32, step: &str) {
        self.fraction
            .store(fraction.clamp(0.0, 1.0).to_bits(), Ordering::Relaxed);
        if let Ok(mut s) = self.step.lock() {
            step.clone_into(&mut s);
        }
        if let Some(n) = &self.notify {
            n();
        }
    }

    pub fn fraction(&self) -> f32 {
        f32::from_bits(self.fraction.load(Ordering::Relaxed))
    }

    pub fn step(&self) -> String {
        self.step.lock().map(|s| s.clone()).unwrap_or_default()
    }
}
