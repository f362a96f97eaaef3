//! Noticing what other processes did to a workspace: a CLI command, a `kiln serve`, a scheduled job or a
//! second window. A named thread with its own connection reads `SQLite`'s `PRAGMA data_version` (it
//! changes when any other connection commits) every `period`, and on a change compares the marks of
//! what the app shows ([`kiln_store::Store::change_marks`]); what differs is sent on a bounded channel
//! and the app is woken. The thread ends when the [`Watch`] is dropped.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, TryRecvError, TrySendError, sync_channel};
use std::time::Duration;

use kiln_store::ChangeMarks;

use crate::{CoreError, Result};

/// What another connection changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Change {
    /// Datasets, versions, labels, runs, models, releases or users.
    Lists,
    /// The serving log: requests answered, feedback received.
    Served,
}

/// A running watch on a workspace database; dropping it stops the thread.
pub struct Watch {
    rx: Receiver<Change>,
    stop: Arc<AtomicBool>,
}

impl Watch {
    /// Start watching `root`'s database every `period`; `notify` wakes the reader.
    pub fn start(
        root: &Path,
        period: Duration,
        notify: Arc<dyn Fn() + Send + Sync>,
    ) -> Result<Self> {
        let store = crate::Workspace::open_store(root)?;
        let (tx, rx) = sync_channel(8);
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        std::thread::Builder::new()
            .name("kiln-watch".into())
            .spawn(move || {
                let mut version = store.data_version().unwrap_or_default();
                let mut marks = store.change_marks().unwrap_or_default();
                while !stopped.load(Ordering::Relaxed) {
                    std::thread::sleep(period);
                    let Ok(now) = store.data_version() else {
                        continue;
                    };
                    if now == version {
                        continue;
                    }
                    version = now;
                    let Ok(new) = store.change_marks() else {
                        continue;
                    };
                    let ChangeMarks { lists, served } = &new;
                    let mut changes = Vec::new();
                    if *lists != marks.lists {
                        changes.push(Change::Lists);
                    }
                    if *served != marks.served {
                        changes.push(Change::Served);
                    }
                    marks = new;
                    for c in changes {
                        match tx.try_send(c) {
                            // A full queue already says the same thing.
                            Ok(()) | Err(TrySendError::Full(_)) => {}
                            Err(TrySendError::Disconnected(_)) => return,
                        }
                    }
                    notify();
                }
            })
            .map_err(|e| CoreError::io(Path::new("kiln-watch"), e))?;
        Ok(Self { rx, stop })
    }

    /// The changes seen since the last call (each kind once); never blocks.
    pub fn changes(&self) -> Vec<Change> {
        let mut out = Vec::new();
        loop {
            match self.rx.try_recv() {
                Ok(c) => {
                    if !out.contains(&c) {
                        out.push(c);
                    }
                }
                Err(TryRecvError::Empty | TryRecvError::Disconnected) => return out,
            }
        }
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn another_connection_s_commit_is_seen() {
        let dir = tempfile::tempdir().unwrap();
        let _ws = crate::Workspace::open(dir.path()).unwrap();
        let watch = Watch::start(dir.path(), Duration::from_millis(20), Arc::new(|| {})).unwrap();
        std::thread::sleep(Duration::from_millis(60));
        assert!(watch.changes().is_empty(), "nothing changed yet");
        let mut other = crate::Workspace::open(dir.path()).unwrap();
        other
            .set_user("ada", crate::release::Role::Admin, "ada")
            .unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        let mut seen = Vec::new();
        while seen.is_empty() && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
            seen = watch.changes();
        }
        assert_eq!(seen, vec![Change::Lists]);
    }
}
