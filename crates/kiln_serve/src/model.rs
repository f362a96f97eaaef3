//! The model thread (owns the loaded model, answers queued requests in micro-batches, swaps versions
//! between batches) and the request log writer.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use axum::http::StatusCode;
use kiln_core::data::polars::prelude::*;
use kiln_core::serving::ServedFeature;
use kiln_core::{LoadedModel, ServedRequestRecord, Workspace};

use crate::protocol::{ApiError, Rows};
use crate::{ServeConfig, ServeError};

/// The version being served, as requests see it.
#[derive(Clone, Debug, PartialEq)]
pub struct Served {
    pub version: i64,
    pub run_id: i64,
    pub target: String,
    pub classes: Vec<String>,
    pub features: Vec<ServedFeature>,
}

/// One row's answer.
#[derive(Clone, Debug, PartialEq)]
pub struct Answer {
    pub prediction_id: String,
    pub class: String,
    pub probabilities: Vec<f64>,
    /// Answered with the declared fallback (the model could not answer in time).
    pub fallback: bool,
}

type Reply = tokio::sync::oneshot::Sender<Result<(Arc<Served>, Vec<Answer>), ApiError>>;

enum Msg {
    Predict(Rows, Reply),
    Stop,
}

/// Most requests answered in one forward pass.
const BATCH: usize = 64;

pub struct ModelHandle {
    tx: SyncSender<Msg>,
    current: Arc<RwLock<Arc<Served>>>,
    swap_to: Arc<Mutex<Option<(i64, i64)>>>,
    prefix: String,
}

fn load(
    root: &std::path::Path,
    version: i64,
    run: i64,
) -> Result<(LoadedModel, Served), kiln_core::CoreError> {
    let ws = Workspace::open(root)?;
    let m = ws.load_model(run)?;
    let served = Served {
        version,
        run_id: run,
        target: m.target().to_owned(),
        classes: m.classes().to_vec(),
        features: m.features(),
    };
    Ok((m, served))
}

impl ModelHandle {
    /// Resolve the alias, load the model on its own thread, and wait until it is ready.
    pub fn start(config: &ServeConfig) -> Result<Self, ServeError> {
        Self::start_alias(config, &config.alias)
    }

    /// As [`ModelHandle::start`], for another alias of the same model (an A/B challenger).
    pub fn start_alias(config: &ServeConfig, alias: &str) -> Result<Self, ServeError> {
        let ws = Workspace::open(&config.workspace)?;
        let (version, run) = ws.resolve_model(&config.model, alias)?;
        drop(ws);
        let (tx, rx) = std::sync::mpsc::sync_channel::<Msg>(config.queue.max(1));
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let swap_to = Arc::new(Mutex::new(None));
        let root = config.workspace.clone();
        let swap = swap_to.clone();
        let current_slot: Arc<RwLock<Arc<Served>>> = Arc::new(RwLock::new(Arc::new(Served {
            version,
            run_id: run,
            target: String::new(),
            classes: Vec::new(),
            features: Vec::new(),
        })));
        let current = current_slot.clone();
        std::thread::Builder::new()
            .name("kiln-serve-model".into())
            .spawn(move || {
                // The model is loaded (and lives) on this thread only.
                let (mut model, served) = match load(&root, version, run) {
                    Ok(x) => x,
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                        return;
                    }
                };
                if let Ok(mut c) = current.write() {
                    *c = Arc::new(served);
                }
                let _ = ready_tx.send(Ok(()));
                worker(&rx, &root, &mut model, &current, &swap);
            })?;
        ready_rx
            .recv()
            .map_err(|_| ServeError::Io(std::io::Error::other("the model thread ended")))??;
        let started = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or_default();
        Ok(Self {
            tx,
            current: current_slot,
            swap_to,
            prefix: format!("{started:x}"),
        })
    }

    /// The version answering now.
    pub fn current(&self) -> Arc<Served> {
        self.current
            .read()
            .map_or_else(|e| e.into_inner().clone(), |c| c.clone())
    }

    /// Serve `version` (run `run`) from the next batch on.
    pub fn swap(&self, version: i64, run: i64) {
        if let Ok(mut s) = self.swap_to.lock() {
            *s = Some((version, run));
        }
    }

    /// Give each row its prediction id.
    pub fn number(&self, mut rows: Rows, counter: &AtomicU64) -> Rows {
        let n = rows.len() as u64;
        let first = counter.fetch_add(n, Ordering::Relaxed);
        rows.ids = (first..first + n)
            .map(|k| format!("{}-{k}", self.prefix))
            .collect();
        rows
    }

    /// Queue rows for the model and wait for the answer; a full queue is 503.
    pub async fn predict(&self, rows: Rows) -> Result<(Arc<Served>, Vec<Answer>), ApiError> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        match self.tx.try_send(Msg::Predict(rows, reply)) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                return Err(ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "overloaded: too many requests waiting for the model; retry shortly",
                ));
            }
            Err(TrySendError::Disconnected(_)) => {
                return Err(ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "the model is not running",
                ));
            }
        }
        answer
            .await
            .map_err(|_| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "the model stopped"))?
    }

    pub fn stop(&self) {
        let _ = self.tx.send(Msg::Stop);
    }
}

fn worker(
    rx: &Receiver<Msg>,
    root: &std::path::Path,
    model: &mut LoadedModel,
    current: &RwLock<Arc<Served>>,
    swap: &Mutex<Option<(i64, i64)>>,
) {
    loop {
        let pending = swap.lock().ok().and_then(|mut s| s.take());
        if let Some((version, run)) = pending {
            match load(root, version, run) {
                Ok((m, served)) => {
                    *model = m;
                    if let Ok(mut c) = current.write() {
                        *c = Arc::new(served);
                    }
                    tracing::info!("now serving version {version} (run {run})");
                }
                Err(e) => tracing::error!(
                    "could not load version {version}: {e}; still serving the previous one"
                ),
            }
        }
        let first = match rx.recv_timeout(Duration::from_millis(20)) {
            Ok(Msg::Predict(rows, reply)) => (rows, reply),
            Ok(Msg::Stop) | Err(RecvTimeoutError::Disconnected) => return,
            Err(RecvTimeoutError::Timeout) => continue,
        };
        let mut batch = vec![first];
        let mut stop = false;
        while batch.len() < BATCH {
            match rx.try_recv() {
                Ok(Msg::Predict(rows, reply)) => batch.push((rows, reply)),
                Ok(Msg::Stop) => {
                    stop = true;
                    break;
                }
                Err(_) => break,
            }
        }
        let served = current
            .read()
            .map_or_else(|e| e.into_inner().clone(), |c| c.clone());
        answer_batch(model, &served, batch);
        if stop {
            return;
        }
    }
}

fn answer_batch(model: &LoadedModel, served: &Arc<Served>, batch: Vec<(Rows, Reply)>) {
    let mut frame: Option<DataFrame> = None;
    for (rows, _) in &batch {
        frame = Some(match frame {
            None => rows.frame.clone(),
            Some(mut f) => {
                if f.vstack_mut(&rows.frame).is_err() {
                    // Frames that do not stack are answered one by one.
                    for (rows, reply) in batch {
                        let r = predict_rows(model, served, &rows);
                        let _ = reply.send(r);
                    }
                    return;
                }
                f
            }
        });
    }
    let Some(frame) = frame else {
        return;
    };
    match model.predict_proba(&frame) {
        Ok(probs) => {
            let mut it = probs.into_iter();
            for (rows, reply) in batch {
                let part: Vec<Vec<f64>> = it.by_ref().take(rows.len()).collect();
                let _ = reply.send(Ok((served.clone(), answers(served, &rows, part))));
            }
        }
        Err(_) => {
            // One bad request must not fail the others: retry each alone.
            for (rows, reply) in batch {
                let r = predict_rows(model, served, &rows);
                let _ = reply.send(r);
            }
        }
    }
}

fn predict_rows(
    model: &LoadedModel,
    served: &Arc<Served>,
    rows: &Rows,
) -> Result<(Arc<Served>, Vec<Answer>), ApiError> {
    let probs = model.predict_proba(&rows.frame).map_err(|e| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("the model cannot read these rows: {e}"),
        )
    })?;
    Ok((served.clone(), answers(served, rows, probs)))
}

fn answers(served: &Served, rows: &Rows, probs: Vec<Vec<f64>>) -> Vec<Answer> {
    probs
        .into_iter()
        .zip(&rows.ids)
        .map(|(p, id)| {
            let best = kiln_core::best_class(&p);
            Answer {
                prediction_id: id.clone(),
                class: served.classes.get(best).cloned().unwrap_or_default(),
                probabilities: p,
                fallback: false,
            }
        })
        .collect()
}

enum LogMsg {
    Rows(Vec<ServedRequestRecord>),
    Flush(std::sync::mpsc::Sender<()>),
}

/// Answered requests go to the workspace database in batches, off the request path; when the writer
/// falls behind, log rows are dropped (and counted), requests never wait.
pub struct RequestLog {
    tx: SyncSender<LogMsg>,
    pub dropped: AtomicU64,
}

impl RequestLog {
    pub fn start(root: &std::path::Path) -> Result<Self, ServeError> {
        let mut ws = Workspace::open(root)?;
        let (tx, rx) = std::sync::mpsc::sync_channel::<LogMsg>(8192);
        std::thread::Builder::new()
            .name("kiln-serve-log".into())
            .spawn(move || {
                let mut buffer: Vec<ServedRequestRecord> = Vec::new();
                loop {
                    let msg = rx.recv_timeout(Duration::from_millis(200));
                    let timed_out = matches!(msg, Err(RecvTimeoutError::Timeout));
                    let mut flush_done = None;
                    match msg {
                        Ok(LogMsg::Rows(r)) => buffer.extend(r),
                        Ok(LogMsg::Flush(done)) => flush_done = Some(done),
                        Err(RecvTimeoutError::Timeout) => {}
                        Err(RecvTimeoutError::Disconnected) => {
                            let _ = ws.log_served(&buffer);
                            return;
                        }
                    }
                    while let Ok(m) = rx.try_recv() {
                        match m {
                            LogMsg::Rows(r) => buffer.extend(r),
                            LogMsg::Flush(done) => flush_done = Some(done),
                        }
                    }
                    if !buffer.is_empty()
                        && (buffer.len() >= 512 || flush_done.is_some() || timed_out)
                    {
                        if let Err(e) = ws.log_served(&buffer) {
                            tracing::warn!("request log: {e}");
                        }
                        buffer.clear();
                    }
                    if let Some(done) = flush_done {
                        let _ = done.send(());
                    }
                }
            })?;
        Ok(Self {
            tx,
            dropped: AtomicU64::new(0),
        })
    }

    pub fn send(&self, rows: Vec<ServedRequestRecord>) {
        let n = rows.len() as u64;
        if self.tx.try_send(LogMsg::Rows(rows)).is_err() {
            let before = self.dropped.fetch_add(n, Ordering::Relaxed);
            // Said at the first and then every 10,000th: monitoring undercounts from here.
            if before / 10_000 != (before + n) / 10_000 || before == 0 {
                tracing::warn!(
                    "request log: the writer is behind; {} answered request row(s) not logged so far \
                     (monitoring will undercount them)",
                    before + n
                );
            }
        }
    }

    /// Answered request rows not logged so far because the writer was behind.
    pub fn unlogged(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Write everything sent so far, and wait for it.
    pub fn flush(&self) {
        let (done, wait) = std::sync::mpsc::channel();
        if self.tx.send(LogMsg::Flush(done)).is_ok() {
            let _ = wait.recv_timeout(Duration::from_secs(10));
        }
    }
}
