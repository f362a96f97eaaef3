//! Shadow serving: every request the champion answers is copied to a shadow version off the request
//! path. The copy goes into a bounded queue without waiting (dropped, and counted, when the shadow is
//! behind); a `kiln-shadow` thread owns the shadow's model, answers copies in batches, and logs each
//! answer beside the champion's (`shadow_answers`). A shadow's failure or slowness never reaches a
//! client: the client has its answer before the copy is made.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::time::{Duration, Instant};

use kiln_core::Workspace;
use kiln_core::data::polars::prelude::DataFrame;
use kiln_core::shadow::ShadowAnswer;
use serde_json::{Value, json};

use crate::{ServeConfig, ServeError};

/// Copies answered in one forward pass at most.
const BATCH: usize = 64;

/// A request the champion answered, as the shadow gets it.
struct Copy {
    frame: DataFrame,
    ids: Vec<String>,
    champion: Vec<String>,
    champion_version: i64,
    answered: Instant,
}

#[derive(Default)]
struct Counts {
    compared: AtomicU64,
    agreed: AtomicU64,
    failures: AtomicU64,
    dropped: AtomicU64,
}

/// The shadow beside a server's champion.
pub struct Shadow {
    tx: SyncSender<Copy>,
    counts: Arc<Counts>,
    pub alias: String,
    /// The version answering now (it follows the alias).
    version: Arc<std::sync::atomic::AtomicI64>,
    /// A version to load before the next batch: (version, run).
    swap_to: Arc<std::sync::Mutex<Option<(i64, i64)>>>,
}

impl Shadow {
    /// Load the shadow (`config.shadow`) on its own thread; refused when it reads a feature the
    /// champion's requests do not carry (`champion_features`).
    pub fn start(
        config: &ServeConfig,
        champion_version: i64,
        champion_features: &[String],
    ) -> Result<Self, ServeError> {
        let alias = config.shadow.clone().unwrap_or_default();
        let ws = Workspace::open(&config.workspace)?;
        let (version, run) = ws.resolve_model(&config.model, &alias)?;
        let model = ws.load_model(run)?;
        let missing: Vec<String> = model
            .features()
            .into_iter()
            .filter(|f| !champion_features.contains(&f.name))
            .map(|f| format!("`{}`", f.name))
            .collect();
        if !missing.is_empty() {
            return Err(ServeError::Core(kiln_core::CoreError::Invalid(format!(
                "the shadow {}@{alias} (v{version}) reads features the champion's requests do not carry: {}; \
                 it cannot answer them (train it on the champion's features, or serve it on its own)",
                config.model,
                missing.join(", ")
            ))));
        }
        let (tx, rx) = std::sync::mpsc::sync_channel(config.shadow_queue.max(1));
        let counts = Arc::new(Counts::default());
        let current = Arc::new(std::sync::atomic::AtomicI64::new(version));
        let swap_to: Arc<std::sync::Mutex<Option<(i64, i64)>>> = Arc::default();
        let worker = Worker {
            ws,
            model,
            name: config.model.clone(),
            current: current.clone(),
            swap_to: swap_to.clone(),
            champion_features: champion_features.to_vec(),
            counts: counts.clone(),
            delay: config.shadow_debug_delay_ms.map(Duration::from_millis),
            dropped_logged: 0,
            champion_version,
        };
        std::thread::Builder::new()
            .name("kiln-shadow".into())
            .spawn(move || worker.run(&rx))?;
        Ok(Self {
            tx,
            counts,
            alias,
            version: current,
            swap_to,
        })
    }

    /// The shadow's version now.
    pub fn version(&self) -> i64 {
        self.version.load(Ordering::Relaxed)
    }

    /// Answer with `version` (run `run`) from the next batch on.
    pub fn swap(&self, version: i64, run: i64) {
        if let Ok(mut s) = self.swap_to.lock() {
            *s = Some((version, run));
        }
    }

    /// Hand the shadow a copy of answered rows; never waits (a full queue drops the copy, counted).
    pub fn offer(
        &self,
        frame: DataFrame,
        ids: Vec<String>,
        champion: Vec<String>,
        champion_version: i64,
    ) {
        let n = ids.len() as u64;
        let copy = Copy {
            frame,
            ids,
            champion,
            champion_version,
            answered: Instant::now(),
        };
        if let Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) = self.tx.try_send(copy) {
            self.counts.dropped.fetch_add(n, Ordering::Relaxed);
        }
    }

    /// What `/v1/health` says of the shadow.
    pub fn health(&self) -> Value {
        let c = &self.counts;
        let (compared, agreed) = (
            c.compared.load(Ordering::Relaxed),
            c.agreed.load(Ordering::Relaxed),
        );
        json!({
            "alias": self.alias,
            "version": self.version(),
            "compared": compared,
            "agreed": agreed,
            "agreement": (compared > 0).then(|| agreed as f64 / compared as f64),
            "failures": c.failures.load(Ordering::Relaxed),
            "dropped": c.dropped.load(Ordering::Relaxed),
        })
    }
}

/// The `kiln-shadow` thread's side.
struct Worker {
    ws: Workspace,
    model: kiln_core::LoadedModel,
    name: String,
    /// The version answering (written here only; read by `/v1/health` too).
    current: Arc<std::sync::atomic::AtomicI64>,
    swap_to: Arc<std::sync::Mutex<Option<(i64, i64)>>>,
    /// What the champion's requests carry: a version reading more is not loaded.
    champion_features: Vec<String>,
    counts: Arc<Counts>,
    delay: Option<Duration>,
    /// Drops already written to the log.
    dropped_logged: u64,
    /// The champion's version in the last copy (what drop counts are recorded against).
    champion_version: i64,
}

impl Worker {
    fn version(&self) -> i64 {
        self.current.load(Ordering::Relaxed)
    }

    fn run(mut self, rx: &Receiver<Copy>) {
        loop {
            self.follow();
            let first = match rx.recv_timeout(Duration::from_millis(200)) {
                Ok(c) => Some(c),
                Err(RecvTimeoutError::Timeout) => None,
                Err(RecvTimeoutError::Disconnected) => {
                    self.log(Vec::new());
                    return;
                }
            };
            let mut batch: Vec<Copy> = first.into_iter().collect();
            while batch.len() < BATCH {
                match rx.try_recv() {
                    Ok(c) => batch.push(c),
                    Err(_) => break,
                }
            }
            let rows = self.answer(batch);
            self.log(rows);
        }
    }

    /// Load the version the alias moved to, if it did (a version reading a feature the champion's
    /// requests lack, or one that fails to load, is refused and the current one kept).
    fn follow(&mut self) {
        let Some((version, run)) = self.swap_to.lock().ok().and_then(|mut s| s.take()) else {
            return;
        };
        match self.ws.load_model(run) {
            Ok(m)
                if m.features()
                    .iter()
                    .all(|f| self.champion_features.contains(&f.name)) =>
            {
                self.model = m;
                self.current.store(version, Ordering::Relaxed);
                tracing::info!("the shadow now answers with version {version}");
            }
            Ok(_) => tracing::error!(
                "the shadow's alias moved to version {version}, which reads features the champion's \
                 requests do not carry; the shadow keeps version {}",
                self.version()
            ),
            Err(e) => tracing::error!(
                "the shadow's version {version} cannot be loaded ({e}); it keeps version {}",
                self.version()
            ),
        }
    }

    /// The shadow's answers to a batch of copies (each failing copy alone when the batch fails).
    fn answer(&mut self, batch: Vec<Copy>) -> Vec<ShadowAnswer> {
        if batch.is_empty() {
            return Vec::new();
        }
        if let Some(per_row) = self.delay {
            let rows: usize = batch.iter().map(|c| c.ids.len()).sum();
            std::thread::sleep(per_row * rows as u32);
        }
        let mut frame: Option<DataFrame> = None;
        let mut stacked = true;
        for c in &batch {
            match &mut frame {
                None => frame = Some(c.frame.clone()),
                Some(f) => stacked &= f.vstack_mut(&c.frame).is_ok(),
            }
        }
        let all = frame
            .filter(|_| stacked)
            .and_then(|f| self.model.predict(&f).ok());
        let mut out = Vec::new();
        let mut offset = 0;
        for c in batch {
            self.champion_version = c.champion_version;
            let answers = match &all {
                Some(a) => Ok(a[offset..offset + c.ids.len()].to_vec()),
                None => self.model.predict(&c.frame).map_err(|e| e.to_string()),
            };
            offset += c.ids.len();
            let latency = c.answered.elapsed().as_secs_f64() * 1e3;
            let at = kiln_core::serving::now();
            for (i, id) in c.ids.iter().enumerate() {
                let (shadow_class, error) = match &answers {
                    Ok(a) => (a.get(i).cloned(), None),
                    Err(e) => (None, Some(e.clone())),
                };
                let counts = &self.counts;
                if error.is_some() {
                    counts.failures.fetch_add(1, Ordering::Relaxed);
                } else {
                    counts.compared.fetch_add(1, Ordering::Relaxed);
                    if shadow_class.as_ref() == c.champion.get(i) {
                        counts.agreed.fetch_add(1, Ordering::Relaxed);
                    }
                }
                out.push(ShadowAnswer {
                    at: at.clone(),
                    model: self.name.clone(),
                    champion_version: c.champion_version,
                    shadow_version: self.version(),
                    prediction_id: Some(id.clone()),
                    champion_class: c.champion.get(i).cloned(),
                    shadow_class,
                    latency_ms: latency,
                    error,
                    dropped: 0,
                });
            }
        }
        out
    }

    /// Write answers, and the drops since the last write, in one transaction.
    fn log(&mut self, mut rows: Vec<ShadowAnswer>) {
        let dropped = self.counts.dropped.load(Ordering::Relaxed);
        if dropped > self.dropped_logged {
            rows.push(ShadowAnswer {
                at: kiln_core::serving::now(),
                model: self.name.clone(),
                champion_version: self.champion_version,
                shadow_version: self.version(),
                prediction_id: None,
                champion_class: None,
                shadow_class: None,
                latency_ms: 0.0,
                error: None,
                dropped: (dropped - self.dropped_logged) as i64,
            });
        }
        if rows.is_empty() {
            return;
        }
        match self.ws.log_shadow(&rows) {
            Ok(()) => self.dropped_logged = dropped,
            Err(e) => tracing::warn!("shadow log: {e}; {} answer(s) not logged", rows.len()),
        }
    }
}
