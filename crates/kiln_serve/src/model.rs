//! The model thread (owns the loaded model, answers queued requests in micro-batches, swaps versions
//! between batches) and the request log writer.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use axum::http::StatusCode;
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
    /// The features' names, shared by every request parsed for this version.
    pub names: Arc<Vec<String>>,
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

/// How the model thread batches, and what it counts.
struct Tuning {
    /// Slow every row by this much (tests of the capacity gate).
    delay: Option<Duration>,
    /// Most requests answered in one forward pass.
    max_batch: usize,
    /// How long the first request of a batch waits for more (0: only what is already waiting).
    batch_wait: Duration,
    stats: Arc<BatchStats>,
}

/// Forward passes made and the requests they answered.
#[derive(Default)]
pub struct BatchStats {
    pub batches: AtomicU64,
    pub requests: AtomicU64,
}

pub struct ModelHandle {
    tx: SyncSender<Msg>,
    current: Arc<RwLock<Arc<Served>>>,
    swap_to: Arc<Mutex<Option<(i64, i64)>>>,
    prefix: String,
    /// The shadow every answered batch is copied to, once one is set.
    shadow: Arc<std::sync::OnceLock<Arc<crate::shadow::Shadow>>>,
    stats: Arc<BatchStats>,
}

/// Where a server's models come from: a workspace (versions by run), or one exported bundle.
#[derive(Clone, Debug)]
enum Source {
    Workspace(std::path::PathBuf),
    Bundle(std::path::PathBuf),
}

fn load(
    source: &Source,
    version: i64,
    run: i64,
) -> Result<(LoadedModel, Served), kiln_core::CoreError> {
    let (m, version) = match source {
        Source::Workspace(root) => (Workspace::open(root)?.load_model(run)?, version),
        Source::Bundle(dir) => {
            let (m, info) = kiln_core::bundle::open_bundle(dir)?;
            (m, info.version)
        }
    };
    let features = m.features();
    let served = Served {
        version,
        run_id: run,
        target: m.target().to_owned(),
        classes: m.classes().to_vec(),
        names: Arc::new(features.iter().map(|f| f.name.clone()).collect()),
        features,
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
        let (source, version, run) = if let Some(dir) = &config.bundle {
            // The model thread's load checks the bundle against its manifest (once).
            let info = kiln_core::bundle::bundle_info(dir)?;
            (Source::Bundle(dir.clone()), info.version, info.run_id)
        } else {
            let ws = Workspace::open(&config.workspace)?;
            let (version, run) = ws.resolve_model(&config.model, alias)?;
            (Source::Workspace(config.workspace.clone()), version, run)
        };
        let (tx, rx) = std::sync::mpsc::sync_channel::<Msg>(config.queue.max(1));
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let swap_to = Arc::new(Mutex::new(None));
        let swap = swap_to.clone();
        let current_slot: Arc<RwLock<Arc<Served>>> = Arc::new(RwLock::new(Arc::new(Served {
            version,
            run_id: run,
            target: String::new(),
            classes: Vec::new(),
            features: Vec::new(),
            names: Arc::default(),
        })));
        let current = current_slot.clone();
        let stats: Arc<BatchStats> = Arc::default();
        let tuning = Tuning {
            delay: config.debug_delay_ms.map(Duration::from_millis),
            max_batch: config.max_batch.max(1),
            batch_wait: Duration::from_micros(config.batch_wait_us),
            stats: stats.clone(),
        };
        let shadow: Arc<std::sync::OnceLock<Arc<crate::shadow::Shadow>>> = Arc::default();
        let shadow_slot = shadow.clone();
        std::thread::Builder::new()
            .name("kiln-serve-model".into())
            .spawn(move || {
                // The model is loaded (and lives) on this thread only.
                let (mut model, served) = match load(&source, version, run) {
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
                worker(
                    &rx,
                    &source,
                    &mut model,
                    &current,
                    &swap,
                    &tuning,
                    &shadow_slot,
                );
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
            shadow,
            stats,
        })
    }

    /// Forward passes made so far and the requests they answered.
    pub fn batches(&self) -> (u64, u64) {
        (
            self.stats.batches.load(Ordering::Relaxed),
            self.stats.requests.load(Ordering::Relaxed),
        )
    }

    /// Copy every batch this model answers to `shadow` from now on (after the answers are sent).
    pub fn set_shadow(&self, shadow: Arc<crate::shadow::Shadow>) {
        let _ = self.shadow.set(shadow);
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
    source: &Source,
    model: &mut LoadedModel,
    current: &RwLock<Arc<Served>>,
    swap: &Mutex<Option<(i64, i64)>>,
    tuning: &Tuning,
    shadow: &std::sync::OnceLock<Arc<crate::shadow::Shadow>>,
) {
    loop {
        let pending = swap.lock().ok().and_then(|mut s| s.take());
        if let Some((version, run)) = pending {
            match load(source, version, run) {
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
        // What is already waiting joins the batch; with a batch wait, what arrives within it too.
        let until = std::time::Instant::now() + tuning.batch_wait;
        while batch.len() < tuning.max_batch {
            let next = match rx.try_recv() {
                Err(std::sync::mpsc::TryRecvError::Empty) if !tuning.batch_wait.is_zero() => {
                    let left = until.saturating_duration_since(std::time::Instant::now());
                    if left.is_zero() {
                        break;
                    }
                    rx.recv_timeout(left).map_err(|_| ())
                }
                other => other.map_err(|_| ()),
            };
            match next {
                Ok(Msg::Predict(rows, reply)) => batch.push((rows, reply)),
                Ok(Msg::Stop) => {
                    stop = true;
                    break;
                }
                Err(()) => break,
            }
        }
        tuning.stats.batches.fetch_add(1, Ordering::Relaxed);
        tuning
            .stats
            .requests
            .fetch_add(batch.len() as u64, Ordering::Relaxed);
        let served = current
            .read()
            .map_or_else(|e| e.into_inner().clone(), |c| c.clone());
        if let Some(per_row) = tuning.delay {
            let rows: usize = batch.iter().map(|(r, _)| r.len()).sum();
            std::thread::sleep(per_row * rows as u32);
        }
        answer_batch(model, &served, batch, shadow.get().map(AsRef::as_ref));
        if stop {
            return;
        }
    }
}

fn answer_batch(
    model: &LoadedModel,
    served: &Arc<Served>,
    batch: Vec<(Rows, Reply)>,
    shadow: Option<&crate::shadow::Shadow>,
) {
    let stacked = crate::protocol::stack(&batch.iter().map(|(r, _)| r).collect::<Vec<_>>());
    let Some(frame) = stacked else {
        // Rows that do not stack are answered one by one.
        for (rows, reply) in batch {
            let r = predict_rows(model, served, &rows);
            let _ = reply.send(r);
        }
        return;
    };
    match model.predict_proba(&frame) {
        Ok(probs) => {
            let mut it = probs.into_iter();
            let (mut ids, mut classes) = (Vec::new(), Vec::new());
            for (rows, reply) in batch {
                let part: Vec<Vec<f64>> = it.by_ref().take(rows.len()).collect();
                let a = answers(served, &rows, part);
                if shadow.is_some() {
                    ids.extend(a.iter().map(|x| x.prediction_id.clone()));
                    classes.extend(a.iter().map(|x| x.class.clone()));
                }
                let _ = reply.send(Ok((served.clone(), a)));
            }
            // The clients have their answers: the shadow gets the batch (one copy, never waited for).
            if let Some(sh) = shadow {
                sh.offer(frame, ids, classes, served.version);
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
    let probs = model.predict_proba(&rows.to_frame()?).map_err(|e| {
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

/// Rows per spool file: each is written to the database in one transaction.
const SPOOL_ROWS: u64 = 50_000;

/// Answered requests the writer could not take at once (its queue full: it is behind) or could not write
/// (the database away): appended as JSON lines to files under `<workspace>/serve-log/`, named by the
/// server's process id, and written to the database when the writer has caught up. Files a server left
/// behind (killed before it caught up) are written by the next server started on the same folder.
struct Spool {
    dir: std::path::PathBuf,
    /// The file being appended to, its path and its rows so far.
    open: Option<(std::io::BufWriter<std::fs::File>, std::path::PathBuf, u64)>,
    next: u64,
}

impl Spool {
    fn append(&mut self, rows: &[ServedRequestRecord]) -> std::io::Result<()> {
        use std::io::Write;
        if self.open.is_none() {
            std::fs::create_dir_all(&self.dir)?;
            let path = self.dir.join(format!(
                "{}-{}.ndjson.partial",
                std::process::id(),
                self.next
            ));
            self.next += 1;
            let file = std::fs::File::create(&path)?;
            self.open = Some((std::io::BufWriter::with_capacity(1 << 16, file), path, 0));
        }
        let Some((file, _, n)) = self.open.as_mut() else {
            return Ok(());
        };
        for r in rows {
            serde_json::to_writer(&mut *file, r)?;
            file.write_all(b"\n")?;
        }
        *n += rows.len() as u64;
        if *n >= SPOOL_ROWS {
            self.seal()?;
        }
        Ok(())
    }

    /// Close the file being appended to, so the writer may take it.
    fn seal(&mut self) -> std::io::Result<()> {
        use std::io::Write;
        if let Some((mut file, path, _)) = self.open.take() {
            file.flush()?;
            std::fs::rename(&path, path.with_extension(""))?;
        }
        Ok(())
    }

    /// Sealed files of this process, and every file of servers no longer running, oldest first.
    fn ready(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
        let me = std::process::id().to_string();
        let mut files: Vec<(std::time::SystemTime, std::path::PathBuf)> = std::fs::read_dir(dir)
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                let pid = name.split('-').next()?.to_owned();
                let mine = pid == me;
                let gone = !mine && !std::path::Path::new("/proc").join(&pid).exists();
                let sealed = name.ends_with(".ndjson");
                ((mine && sealed) || (gone && name.contains(".ndjson"))).then(|| {
                    let at = e.metadata().and_then(|m| m.modified());
                    (at.unwrap_or(std::time::UNIX_EPOCH), e.path())
                })
            })
            .collect();
        files.sort();
        files.into_iter().map(|(_, p)| p).collect()
    }
}

/// Answered requests go to the workspace database in batches, off the request path: requests never wait
/// for the log. When the writer falls behind or the database is away, rows wait in a spool file and are
/// written once it catches up, so the log loses none (only a failing disk loses rows, counted).
pub struct RequestLog {
    tx: SyncSender<LogMsg>,
    spool: Arc<Mutex<Spool>>,
    /// Rows in the spool, not yet in the database.
    spooled: Arc<AtomicU64>,
    /// Rows lost: neither queued nor spooled.
    dropped: Arc<AtomicU64>,
    /// Rows handed to the log since the server started.
    sent: AtomicU64,
    /// Rows written to the database.
    written: Arc<AtomicU64>,
    /// Rows are counted, never written (a load test's server: synthetic traffic stays out of the log).
    discard: bool,
}

impl RequestLog {
    /// The log of a server on the workspace at `root`; with `discard`, rows are counted and dropped (the
    /// records are still made, so a load test pays what a real server pays for them).
    pub fn start(root: &std::path::Path, queue: usize, discard: bool) -> Result<Self, ServeError> {
        let (tx, rx) = std::sync::mpsc::sync_channel::<LogMsg>(queue);
        if discard {
            // Nothing is written: no writer, no spool, no workspace needed.
            drop(rx);
            return Ok(Self {
                tx,
                spool: Arc::new(Mutex::new(Spool {
                    dir: root.join("serve-log"),
                    open: None,
                    next: 0,
                })),
                spooled: Arc::default(),
                dropped: Arc::default(),
                sent: AtomicU64::new(0),
                written: Arc::default(),
                discard,
            });
        }
        let mut ws = Workspace::open(root)?;
        let dir = root.join("serve-log");
        // What servers that are gone left behind is written first.
        let left: u64 = Spool::ready(&dir).iter().map(|p| count_lines(p)).sum();
        let spool = Arc::new(Mutex::new(Spool {
            dir: dir.clone(),
            open: None,
            next: 0,
        }));
        let spooled = Arc::new(AtomicU64::new(left));
        let written = Arc::new(AtomicU64::new(0));
        let dropped = Arc::new(AtomicU64::new(0));
        let (writer_spool, writer_spooled, writer_written, writer_dropped) = (
            spool.clone(),
            spooled.clone(),
            written.clone(),
            dropped.clone(),
        );
        std::thread::Builder::new()
            .name("kiln-serve-log".into())
            .spawn(move || {
                let mut writer = Writer {
                    ws: &mut ws,
                    dir,
                    spool: writer_spool,
                    spooled: writer_spooled,
                    written: writer_written,
                    dropped: writer_dropped,
                };
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
                            writer.write(&mut buffer);
                            writer.drain_spool(true);
                            return;
                        }
                    }
                    while let Ok(m) = rx.try_recv() {
                        match m {
                            LogMsg::Rows(r) => buffer.extend(r),
                            LogMsg::Flush(done) => flush_done = Some(done),
                        }
                    }
                    let caught_up = buffer.len() < 512;
                    if !buffer.is_empty() && (!caught_up || flush_done.is_some() || timed_out) {
                        writer.write(&mut buffer);
                    }
                    // The spool once the queue is short: live rows first.
                    if flush_done.is_some()
                        || (caught_up && writer.spooled.load(Ordering::Relaxed) > 0)
                    {
                        writer.drain_spool(flush_done.is_some());
                    }
                    if let Some(done) = flush_done {
                        let _ = done.send(());
                    }
                }
            })?;
        Ok(Self {
            tx,
            spool,
            spooled,
            dropped,
            // Rows a server that is gone left in the spool count as handed to this one.
            sent: AtomicU64::new(left),
            written,
            discard,
        })
    }

    pub fn send(&self, rows: Vec<ServedRequestRecord>) {
        self.sent.fetch_add(rows.len() as u64, Ordering::Relaxed);
        if self.discard {
            self.written.fetch_add(rows.len() as u64, Ordering::Relaxed);
            return;
        }
        // Full: it waits in the spool. Sent, or the writer gone (the server stopping): nothing to do.
        let Err(TrySendError::Full(LogMsg::Rows(rows))) = self.tx.try_send(LogMsg::Rows(rows))
        else {
            return;
        };
        let n = rows.len() as u64;
        let spooled = self
            .spool
            .lock()
            .map_err(|_| std::io::Error::other("the spool's lock is poisoned"))
            .and_then(|mut s| s.append(&rows));
        match spooled {
            Ok(()) => {
                self.spooled.fetch_add(n, Ordering::Relaxed);
            }
            Err(e) => {
                let before = self.dropped.fetch_add(n, Ordering::Relaxed);
                // Said at the first and then every 10,000th: monitoring undercounts from here.
                if before / 10_000 != (before + n) / 10_000 || before == 0 {
                    tracing::warn!(
                        "request log: the writer is behind and the spool cannot be written ({e}); \
                         {} answered request row(s) not logged so far (monitoring will undercount them)",
                        before + n
                    );
                }
            }
        }
    }

    /// Answered request rows not in the database yet (queued, being written, or waiting in the spool),
    /// lost ones aside.
    pub fn unlogged(&self) -> u64 {
        let done = self.written.load(Ordering::Relaxed) + self.dropped.load(Ordering::Relaxed);
        self.sent.load(Ordering::Relaxed).saturating_sub(done)
    }

    /// Rows (answered requests and failures) handed to the log since the server started.
    pub fn sent(&self) -> u64 {
        self.sent.load(Ordering::Relaxed)
    }

    /// Answered request rows lost: the writer was behind and the spool could not be written.
    pub fn lost(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Write everything sent so far, the spool too, and wait for it.
    pub fn flush(&self) {
        let (done, wait) = std::sync::mpsc::channel();
        if self.tx.send(LogMsg::Flush(done)).is_ok() {
            let _ = wait.recv_timeout(Duration::from_secs(30));
        }
    }
}

/// The log writer thread's side.
struct Writer<'a> {
    ws: &'a mut Workspace,
    dir: std::path::PathBuf,
    spool: Arc<Mutex<Spool>>,
    spooled: Arc<AtomicU64>,
    written: Arc<AtomicU64>,
    dropped: Arc<AtomicU64>,
}

impl Writer<'_> {
    /// Write `rows` to the database; what it refuses (away, restarting) waits in the spool.
    fn write(&mut self, rows: &mut Vec<ServedRequestRecord>) {
        if rows.is_empty() {
            return;
        }
        if let Err(e) = self.ws.log_served(rows) {
            tracing::warn!("request log: {e}; {} row(s) kept in the spool", rows.len());
            self.spool_refused(rows);
            rows.clear();
            return;
        }
        self.written.fetch_add(rows.len() as u64, Ordering::Relaxed);
        rows.clear();
    }

    /// Rows the database refused, into the spool for the next try (lost, and counted, if the spool
    /// cannot be written either).
    fn spool_refused(&self, rows: &[ServedRequestRecord]) {
        let n = rows.len() as u64;
        let spooled = self
            .spool
            .lock()
            .map_err(|_| std::io::Error::other("the spool's lock is poisoned"))
            .and_then(|mut s| s.append(rows));
        match spooled {
            Ok(()) => {
                self.spooled.fetch_add(n, Ordering::Relaxed);
            }
            Err(e) => {
                tracing::error!("request log: {n} row(s) lost: the spool cannot be written ({e})");
                self.dropped.fetch_add(n, Ordering::Relaxed);
            }
        }
    }

    /// Write spooled files to the database: one (the oldest), or all of them with `all`. A file is
    /// removed once its rows are in (one transaction), kept for the next try when the database refuses.
    fn drain_spool(&mut self, all: bool) {
        if all && let Ok(mut s) = self.spool.lock() {
            let _ = s.seal();
        }
        let mut files = Spool::ready(&self.dir);
        if files.is_empty()
            && let Ok(mut s) = self.spool.lock()
        {
            // Nothing sealed: take the file being appended to.
            let _ = s.seal();
            files = Spool::ready(&self.dir);
        }
        for path in files {
            let rows = match read_spool(&path) {
                Ok(rows) => rows,
                Err(e) => {
                    tracing::error!("request log: spool file {} unreadable: {e}", path.display());
                    let _ = std::fs::rename(&path, path.with_extension("unreadable"));
                    continue;
                }
            };
            if let Err(e) = self.ws.log_served(&rows) {
                tracing::warn!("request log: {e}; the spool is written later");
                return;
            }
            let _ = std::fs::remove_file(&path);
            let n = rows.len() as u64;
            self.written.fetch_add(n, Ordering::Relaxed);
            let _ = self
                .spooled
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |v| {
                    Some(v.saturating_sub(n))
                });
            if !all {
                return;
            }
        }
    }
}

/// The rows of a spool file (a last line cut short by a crash is left out).
fn read_spool(path: &std::path::Path) -> std::io::Result<Vec<ServedRequestRecord>> {
    let text = std::fs::read_to_string(path)?;
    Ok(text
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect())
}

fn count_lines(path: &std::path::Path) -> u64 {
    read_spool(path).map_or(0, |rows| rows.len() as u64)
}
