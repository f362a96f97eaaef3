//! Kiln's model server: a model version (by alias, e.g. `champion`) behind an HTTP API — Kiln's own
//! (`/v1/predict`, `/v1/health`, `/v1/model`, `/v1/feedback`) and the Open Inference Protocol (`KServe` V2:
//! `/v2/health/*`, `/v2/models/{name}[/versions/{v}][/ready|/infer]`).
//!
//! One model thread owns the loaded model and answers queued requests in micro-batches; the queue is
//! bounded, so overload is a 503 with `Retry-After` instead of unbounded memory. A watcher re-reads the
//! alias and hands the thread the new version: requests already queued are answered by the old one, the
//! next by the new one, none fails. Every answered request is logged through a batched writer thread.
//! Client mistakes are 4xx with a message naming the problem; the server never answers them with a 5xx.

mod ab;
pub mod capacity;
pub mod loadgen;
mod model;
mod protocol;
mod shadow;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::Router;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

pub use model::{ModelHandle, Served};
use protocol::{ApiError, Rows};

/// How to serve.
#[derive(Clone, Debug)]
pub struct ServeConfig {
    pub workspace: PathBuf,
    pub model: String,
    /// An alias (`champion`, `staging`) or a version number.
    pub alias: String,
    pub addr: SocketAddr,
    /// Requests without `Authorization: Bearer TOKEN` get 401 (health probes excepted).
    pub token: Option<String>,
    /// Largest request body in bytes (larger: 413).
    pub body_limit: usize,
    /// Requests waiting for the model at most (more: 503).
    pub queue: usize,
    /// Log the features of one predicted row in this many (1 = every row).
    pub log_every: u64,
    /// Answered-request batches queued in memory for the log writer; past it they wait in the spool file
    /// until the writer catches up.
    pub log_queue: usize,
    /// How often the workspace is checked for changes (the alias is re-read after one), in milliseconds.
    pub watch_ms: u64,
    /// A second alias of the model (e.g. `challenger`) that gets a share of the traffic.
    pub challenger: Option<String>,
    /// The challenger's share of requests (fixed split).
    pub split: f64,
    /// Allocate traffic by Thompson sampling on feedback instead of a fixed split.
    pub bandit: bool,
    /// Seed of the traffic allocation (the clock when `None`).
    pub seed: Option<u64>,
    /// A prediction not back within this many milliseconds is a failure (or a fallback answer).
    pub deadline_ms: Option<u64>,
    /// The class answered, marked `fallback: true`, when the model cannot answer (deadline, overload,
    /// a stopped model); without it those are 503.
    pub fallback_class: Option<String>,
    /// Keep the version the alias pointed to before (the previous champion) loaded as a standby: it
    /// answers, marked `fallback: true`, when the current one cannot (it fails to load, misses the
    /// deadline, is overloaded or stopped); `fallback_class` is the last resort after it.
    pub fallback_previous: bool,
    /// Answer without writing the request log (a capacity run: its synthetic traffic must not reach the
    /// Monitor). The log records are still made.
    pub discard_log: bool,
    /// Slow every prediction by this many milliseconds per row, on the model thread (tests of the
    /// capacity gate: a server made slow on purpose).
    pub debug_delay_ms: Option<u64>,
    /// Another alias (or version) of the model that gets a copy of every answered request off the
    /// request path; its answers are logged beside the champion's, never sent.
    pub shadow: Option<String>,
    /// Copies waiting for the shadow at most (more are dropped, and counted).
    pub shadow_queue: usize,
    /// Slow the shadow by this many milliseconds per row (tests: a shadow that falls behind).
    pub shadow_debug_delay_ms: Option<u64>,
    /// Most requests answered in one forward pass (dynamic batching).
    pub max_batch: usize,
    /// How long a batch's first request waits for others to join it, in microseconds (0: only those
    /// already waiting join).
    pub batch_wait_us: u64,
    /// Serve an exported bundle (checked against its manifest) instead of a workspace's version: no
    /// workspace is opened, nothing is logged, and feedback is refused.
    pub bundle: Option<PathBuf>,
}

impl ServeConfig {
    pub fn new(workspace: PathBuf, model: &str, alias: &str) -> Self {
        Self {
            workspace,
            model: model.to_owned(),
            alias: alias.to_owned(),
            addr: SocketAddr::from(([127, 0, 0, 1], 8080)),
            token: None,
            body_limit: 1 << 20,
            queue: 4096,
            log_every: 1,
            log_queue: 8192,
            watch_ms: 500,
            challenger: None,
            split: 0.1,
            bandit: false,
            seed: None,
            deadline_ms: None,
            fallback_class: None,
            fallback_previous: false,
            discard_log: false,
            debug_delay_ms: None,
            shadow: None,
            shadow_queue: 1024,
            shadow_debug_delay_ms: None,
            max_batch: 64,
            batch_wait_us: 0,
            bundle: None,
        }
    }

    /// Serve the bundle in `dir` (its model and version come from the bundle).
    pub fn for_bundle(dir: PathBuf) -> Self {
        Self {
            bundle: Some(dir),
            discard_log: true,
            ..Self::new(PathBuf::new(), "", "bundle")
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(transparent)]
    Core(#[from] kiln_core::CoreError),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("load generator: {0}")]
    Load(String),
    #[error("capacity run: {0}")]
    Capacity(String),
}

struct AppState {
    config: ServeConfig,
    model: ModelHandle,
    /// The A/B challenger, when one is served.
    challenger: Option<ModelHandle>,
    /// The previous version of the alias, answering when `model` cannot.
    standby: Option<ModelHandle>,
    /// The alias's version that failed to load (and why): `model` is then the previous version, and every
    /// answer is a fallback until the alias moves on.
    degraded: std::sync::Mutex<Option<(i64, String)>>,
    /// Per arm (0 champion, 1 challenger): requests, successes and failures on feedback.
    arms: [ArmStats; 2],
    rng: std::sync::Mutex<ab::Rng>,
    log: model::RequestLog,
    next_id: AtomicU64,
    started: String,
    /// This server in the shared request log: `host:port`.
    replica: String,
    /// The shadow answering copies of every request, when one is served (the model thread copies each
    /// answered batch to it).
    shadow: Option<Arc<shadow::Shadow>>,
}

#[derive(Default)]
struct ArmStats {
    traffic: AtomicU64,
    successes: AtomicU64,
    failures: AtomicU64,
}

impl AppState {
    fn failed_version(&self) -> Option<i64> {
        self.degraded
            .lock()
            .ok()
            .and_then(|d| d.as_ref().map(|(v, _)| *v))
    }

    fn degraded_reason(&self) -> Option<String> {
        self.degraded
            .lock()
            .ok()
            .and_then(|d| d.as_ref().map(|(_, why)| why.clone()))
    }

    fn arm(&self, i: usize) -> &ModelHandle {
        match (i, &self.challenger) {
            (1, Some(c)) => c,
            _ => &self.model,
        }
    }

    /// Which arm answers the next request.
    fn pick_arm(&self) -> usize {
        if self.challenger.is_none() {
            return 0;
        }
        let mut rng = self
            .rng
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if self.config.bandit {
            let draw = |a: &ArmStats, rng: &mut ab::Rng| {
                rng.beta(
                    a.successes.load(Ordering::Relaxed) as f64 + 1.0,
                    a.failures.load(Ordering::Relaxed) as f64 + 1.0,
                )
            };
            let (c, x) = (draw(&self.arms[0], &mut rng), draw(&self.arms[1], &mut rng));
            usize::from(x > c)
        } else {
            usize::from(rng.uniform() < self.config.split)
        }
    }

    fn arms_json(&self) -> Value {
        let names = [
            "champion".to_owned(),
            self.config.challenger.clone().unwrap_or_default(),
        ];
        let n = if self.challenger.is_some() { 2 } else { 1 };
        Value::Array(
            (0..n)
                .map(|i| {
                    let a = &self.arms[i];
                    let (s, f) = (a.successes.load(Ordering::Relaxed), a.failures.load(Ordering::Relaxed));
                    let (lo, hi) = kiln_core::drift::wilson(s, s + f);
                    json!({
                        "arm": if i == 0 { self.config.alias.clone() } else { names[1].clone() },
                        "version": self.arm(i).current().version,
                        "traffic": a.traffic.load(Ordering::Relaxed),
                        "successes": s,
                        "failures": f,
                        "success_rate": if s + f > 0 { Some(s as f64 / (s + f) as f64) } else { None },
                        "ci95": [lo, hi],
                    })
                })
                .collect(),
        )
    }
}

/// A running server: its address, and a handle to stop it.
pub struct Running {
    pub addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<Result<(), ServeError>>>,
}

impl Running {
    /// Stop accepting, finish the requests in flight, flush the log.
    pub fn stop(mut self) -> Result<(), ServeError> {
        self.shutdown()
    }

    fn shutdown(&mut self) -> Result<(), ServeError> {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        match self.thread.take().map(std::thread::JoinHandle::join) {
            Some(Ok(r)) => r,
            Some(Err(_)) => Err(ServeError::Io(std::io::Error::other(
                "the server thread panicked",
            ))),
            None => Ok(()),
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.shutdown();
    }
}

/// Load the model, bind, and serve on a thread of its own until [`Running::stop`].
pub fn start(mut config: ServeConfig) -> Result<Running, ServeError> {
    if let Some(dir) = &config.bundle {
        // Its names only: the model thread checks the bundle before anything is served.
        let info = kiln_core::bundle::bundle_info(dir)?;
        if config.challenger.is_some() || config.shadow.is_some() || config.fallback_previous {
            return Err(ServeError::Core(kiln_core::CoreError::Invalid(
                "a bundle holds one model: a challenger, a shadow or the previous version need the workspace".into(),
            )));
        }
        config.model = info.model;
        config.alias = info.version.to_string();
        config.discard_log = true;
    }
    let mut standby = None;
    if config.fallback_previous {
        let previous = kiln_core::Workspace::open(&config.workspace)?
            .previous_model(&config.model, &config.alias)?;
        if let Some((version, _)) = previous {
            standby = Some(ModelHandle::start_alias(&config, &version.to_string())?);
        } else {
            tracing::warn!(
                "{}@{} has no previous version: no standby model",
                config.model,
                config.alias
            );
        }
    }
    let mut degraded = None;
    let model = match (ModelHandle::start(&config), standby.take()) {
        (Ok(m), standby_model) => {
            standby = standby_model;
            m
        }
        (Err(e), Some(previous)) => {
            let failed = kiln_core::Workspace::open(&config.workspace)?
                .resolve_model(&config.model, &config.alias)?
                .0;
            let why = format!(
                "version {failed} failed to load ({e}); answering from version {}",
                previous.current().version
            );
            tracing::error!("{why}");
            degraded = Some((failed, why));
            previous
        }
        (Err(e), None) => return Err(e),
    };
    let challenger = match &config.challenger {
        Some(alias) => Some(ModelHandle::start_alias(&config, alias)?),
        None => None,
    };
    let shadow = match &config.shadow {
        Some(_) => {
            let current = model.current();
            let sh = Arc::new(shadow::Shadow::start(
                &config,
                current.version,
                &current.names,
            )?);
            model.set_shadow(sh.clone());
            Some(sh)
        }
        None => None,
    };
    let log = model::RequestLog::start(&config.workspace, config.log_queue, config.discard_log)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("kiln-serve")
        .build()?;
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind(config.addr))
        .map_err(|source| ServeError::Bind {
            addr: config.addr,
            source,
        })?;
    let addr = listener.local_addr()?;
    let seed = config.seed.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64)
    });
    let state = Arc::new(AppState {
        model,
        challenger,
        standby,
        degraded: std::sync::Mutex::new(degraded),
        arms: Default::default(),
        rng: std::sync::Mutex::new(ab::Rng::new(seed)),
        log,
        next_id: AtomicU64::new(1),
        started: kiln_core::serving::now(),
        replica: format!("{}:{}", kiln_core::host_name(), addr.port()),
        shadow,
        config,
    });
    let app = router(state.clone());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let watcher_state = state.clone();
    let thread = std::thread::Builder::new()
        .name("kiln-serve-main".into())
        .spawn(move || {
            runtime.block_on(async move {
                let bundle = watcher_state.config.bundle.is_some();
                let watch = tokio::spawn(async move {
                    // A bundle is one version: nothing to follow.
                    if !bundle {
                        watch_alias(watcher_state).await;
                    }
                });
                let served = axum::serve(listener, app)
                    .with_graceful_shutdown(async {
                        let _ = stopped.await;
                    })
                    .await;
                watch.abort();
                state.log.flush();
                state.model.stop();
                for h in [&state.challenger, &state.standby].into_iter().flatten() {
                    h.stop();
                }
                served.map_err(ServeError::Io)
            })
        })?;
    Ok(Running {
        addr,
        stop: Some(stop),
        thread: Some(thread),
    })
}

/// Follow the alias: the registry is re-read when another connection changed the workspace (checked
/// every `watch_ms` by a `kiln-watch` thread — on PostgreSQL from the change notifications it has
/// received, without a query) and every 10 s in any case; the model is swapped when the alias moved.
/// One connection, kept open, does the reading.
async fn watch_alias(state: Arc<AppState>) {
    let every = std::time::Duration::from_millis(state.config.watch_ms.max(10));
    let wake = Arc::new(tokio::sync::Notify::new());
    let waker = wake.clone();
    // Opened off the async threads (a PostgreSQL client runs its own runtime).
    let root = state.config.workspace.clone();
    let started = tokio::task::spawn_blocking(move || {
        kiln_core::watch::Watch::start(&root, every, Arc::new(move || waker.notify_one()))
            .map_err(|e| e.to_string())
    })
    .await
    .map_err(|e| e.to_string())
    .and_then(|r| r);
    let watch = started
        .map_err(|e| {
            tracing::warn!(
                "not watching the workspace for changes ({e}): re-reading the alias every {every:?}"
            );
        })
        .ok();
    let fallback = if watch.is_some() {
        std::time::Duration::from_secs(10)
    } else {
        every
    };
    let reader: Arc<std::sync::Mutex<Option<kiln_core::Workspace>>> = Arc::default();
    loop {
        tokio::select! {
            () = wake.notified() => {}
            () = tokio::time::sleep(fallback) => {}
        }
        if let Some(w) = &watch {
            // Only what the registry is part of; the serving log changes with every request.
            let changes = w.changes();
            if !changes.is_empty() && !changes.contains(&kiln_core::watch::Change::Lists) {
                continue;
            }
        }
        // One read of the registry: the alias, the version before it (for the standby) and the
        // challenger's alias.
        let (root, model, alias) = (
            state.config.workspace.clone(),
            state.config.model.clone(),
            state.config.alias.clone(),
        );
        let (want_previous, challenger, shadow) = (
            state.standby.is_some(),
            state.config.challenger.clone(),
            state.shadow.as_ref().map(|sh| sh.alias.clone()),
        );
        let reader = reader.clone();
        let found = tokio::task::spawn_blocking(move || {
            let mut slot = reader.lock().ok()?;
            if slot.is_none() {
                *slot = kiln_core::Workspace::open(&root).ok();
            }
            // A session the server ends is connected again by the store itself.
            let ws = slot.as_ref()?;
            let previous = if want_previous {
                ws.previous_model(&model, &alias).ok().flatten()
            } else {
                None
            };
            Some((
                ws.resolve_model(&model, &alias).ok(),
                previous,
                challenger.and_then(|c| ws.resolve_model(&model, &c).ok()),
                shadow.and_then(|c| ws.resolve_model(&model, &c).ok()),
            ))
        })
        .await;
        let Ok(Some((current, previous, challenger, shadow))) = found else {
            continue;
        };
        // The shadow follows its alias too (e.g. `staging` moving as QA moves on).
        if let (Some((version, run)), Some(sh)) = (shadow, &state.shadow)
            && sh.version() != version
        {
            sh.swap(version, run);
        }
        // The standby follows: the version before the alias's current one.
        if let (Some((version, run)), Some(standby)) = (previous, &state.standby)
            && standby.current().version != version
        {
            standby.swap(version, run);
        }
        if let Some((version, run)) = current
            && state.model.current().version != version
            && state.failed_version() != Some(version)
        {
            tracing::info!("{} moved to v{version}: swapping", state.config.alias);
            state.model.swap(version, run);
            if let Ok(mut d) = state.degraded.lock() {
                *d = None;
            }
        }
        if let (Some((version, run)), Some(handle)) = (challenger, &state.challenger)
            && handle.current().version != version
        {
            handle.swap(version, run);
        }
    }
}

fn router(state: Arc<AppState>) -> Router {
    let limit = state.config.body_limit;
    Router::new()
        .route("/v1/health", get(health))
        .route("/v1/model", get(model_info))
        .route("/v1/predict", post(predict_v1))
        .route("/v1/feedback", post(feedback))
        .route("/v2/health/live", get(live))
        .route("/v2/health/ready", get(ready))
        .route("/v2", get(server_metadata))
        .route("/v2/models/{name}", get(model_v2))
        .route("/v2/models/{name}/ready", get(model_ready_v2))
        .route(
            "/v2/models/{name}/versions/{version}",
            get(model_version_v2),
        )
        .route(
            "/v2/models/{name}/versions/{version}/ready",
            get(model_version_ready_v2),
        )
        .route("/v2/models/{name}/infer", post(infer_v2))
        .route(
            "/v2/models/{name}/versions/{version}/infer",
            post(infer_version_v2),
        )
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(limit))
        .with_state(state)
}

fn authorized(state: &AppState, headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(token) = &state.config.token else {
        return Ok(());
    };
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    if given == Some(token.as_str()) {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "missing or wrong token: send `Authorization: Bearer TOKEN`",
        ))
    }
}

async fn not_found() -> Response {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "no such endpoint (see /v1/health, /v1/model, /v1/predict)",
    )
    .into_response()
}

async fn health(State(s): State<Arc<AppState>>) -> Response {
    let m = s.model.current();
    let degraded = s.degraded_reason();
    let (passes, requests) = s.model.batches();
    // Dynamic batching: forward passes made and the requests they answered.
    let batches = json!({
        "forward_passes": passes,
        "requests": requests,
        "requests_per_pass": (passes > 0).then(|| requests as f64 / passes as f64),
        "max_batch": s.config.max_batch,
        "batch_wait_us": s.config.batch_wait_us,
    });
    axum::Json(json!({
        "status": if degraded.is_some() { "degraded" } else { "ok" },
        "degraded": degraded,
        "model": s.config.model,
        "alias": s.config.alias,
        "version": m.version,
        "standby_version": s.standby.as_ref().map(|h| h.current().version),
        "since": s.started,
        "arms": s.arms_json(),
        // Answered requests not in the shared log yet: waiting in the spool while the writer catches up
        // (or lost, when the spool could not be written: `lost_log_rows`).
        "unlogged_requests": s.log.unlogged(),
        "lost_log_rows": s.log.lost(),
        // Requests (one row each; failures too) handed to the log since the server started.
        "logged_requests": s.log.sent(),
        "shadow": s.shadow.as_ref().map(|sh| sh.health()),
        "batches": batches,
    }))
    .into_response()
}

async fn model_info(State(s): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    if let Err(e) = authorized(&s, &headers) {
        return e.into_response();
    }
    let m = s.model.current();
    axum::Json(json!({
        "model": s.config.model,
        "version": m.version,
        "run": m.run_id,
        "target": m.target,
        "classes": m.classes,
        "features": m.features,
    }))
    .into_response()
}

/// Answer `rows` with the current model; log every row.
async fn answer(
    s: &Arc<AppState>,
    endpoint: &'static str,
    mut rows: Rows,
) -> Result<(Arc<Served>, Vec<model::Answer>), ApiError> {
    let t = std::time::Instant::now();
    // Kept for the log; the model needs only the frame.
    let features = std::mem::take(&mut rows.features);
    let n = rows.len();
    let arm = s.pick_arm();
    s.arms[arm].traffic.fetch_add(n as u64, Ordering::Relaxed);
    let ids = rows.ids.clone();
    let handle = s.arm(arm);
    let retry = s.standby.as_ref().map(|_| rows.clone());
    let mut result = ask(handle, rows, s.config.deadline_ms).await;
    let mut fell_back = s.failed_version().is_some();
    // The model could not answer: the standby (previous version) does, if there is one.
    if let (Err(e), Some(standby), Some(rows)) = (&result, &s.standby, retry)
        && e.status == StatusCode::SERVICE_UNAVAILABLE
    {
        tracing::warn!("{}; answering from the standby", e.message);
        result = ask(standby, rows, s.config.deadline_ms).await;
        fell_back = true;
    }
    let (served, mut answers, endpoint) = match (result, &s.config.fallback_class) {
        (Ok((served, answers)), _) => (served, answers, endpoint.to_owned()),
        (Err(e), Some(class)) if e.status == StatusCode::SERVICE_UNAVAILABLE => {
            let served = handle.current();
            let answers = ids
                .into_iter()
                .map(|prediction_id| model::Answer {
                    prediction_id,
                    class: class.clone(),
                    probabilities: served
                        .classes
                        .iter()
                        .map(|c| if c == class { 1.0 } else { 0.0 })
                        .collect(),
                    fallback: true,
                })
                .collect();
            fell_back = true;
            (served, answers, endpoint.to_owned())
        }
        (Err(e), _) => return Err(e),
    };
    let endpoint = if fell_back {
        for a in &mut answers {
            a.fallback = true;
        }
        format!("{endpoint} (fallback)")
    } else {
        endpoint
    };
    let latency = t.elapsed().as_secs_f64() * 1000.0 / n.max(1) as f64;
    let at = kiln_core::serving::now();
    let mut logged = Vec::with_capacity(n);
    for (i, a) in answers.iter().enumerate() {
        let k = s.next_id.load(Ordering::Relaxed);
        let sampled = s.config.log_every <= 1 || (k + i as u64).is_multiple_of(s.config.log_every);
        logged.push(kiln_core::ServedRequestRecord {
            at: at.clone(),
            model: s.config.model.clone(),
            version: Some(served.version),
            endpoint: endpoint.clone(),
            status: 200,
            latency_ms: latency,
            prediction_id: Some(a.prediction_id.clone()),
            class: Some(a.class.clone()),
            features: sampled.then(|| features.get(i).cloned()).flatten(),
            replica: Some(s.replica.clone()),
        });
    }
    s.log.send(logged);
    Ok((served, answers))
}

/// Rows to one model, within the deadline when there is one.
async fn ask(
    handle: &ModelHandle,
    rows: Rows,
    deadline_ms: Option<u64>,
) -> Result<(Arc<Served>, Vec<model::Answer>), ApiError> {
    match deadline_ms {
        Some(ms) => {
            tokio::time::timeout(std::time::Duration::from_millis(ms), handle.predict(rows))
                .await
                .unwrap_or_else(|_| {
                    Err(ApiError::new(
                        StatusCode::SERVICE_UNAVAILABLE,
                        format!("the model did not answer within {ms} ms"),
                    ))
                })
        }
        None => handle.predict(rows).await,
    }
}

/// The response of a prediction endpoint; a refusal is logged with its status.
fn respond(s: &AppState, endpoint: &str, r: Result<impl IntoResponse, ApiError>) -> Response {
    match r {
        Ok(ok) => ok.into_response(),
        Err(e) => {
            log_failure(s, endpoint, e.status);
            e.into_response()
        }
    }
}

fn log_failure(s: &AppState, endpoint: &str, status: StatusCode) {
    s.log.send(vec![kiln_core::ServedRequestRecord {
        at: kiln_core::serving::now(),
        model: s.config.model.clone(),
        version: Some(s.model.current().version),
        endpoint: endpoint.to_owned(),
        status: status.as_u16(),
        latency_ms: 0.0,
        prediction_id: None,
        class: None,
        features: None,
        replica: Some(s.replica.clone()),
    }]);
}

async fn predict_v1(
    State(s): State<Arc<AppState>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let r = async {
        authorized(&s, &headers)?;
        let current = s.model.current();
        let arrow = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with(protocol::ARROW_STREAM));
        let rows = if arrow {
            protocol::parse_arrow(&body, &current.features)?
        } else {
            protocol::parse_v1(&body, &current.features, &current.names)?
        };
        let rows = s.model.number(rows, &s.next_id);
        let (served, answers) = answer(&s, "/v1/predict", rows).await?;
        // Written straight from the answers (no document of values in between).
        let body = serde_json::to_vec(&PredictBody {
            model: &s.config.model,
            version: served.version,
            predictions: answers
                .iter()
                .map(|a| PredictedRow {
                    prediction_id: &a.prediction_id,
                    class: &a.class,
                    fallback: a.fallback,
                    probabilities: Probabilities(&served.classes, &a.probabilities),
                })
                .collect(),
        })
        .unwrap_or_default();
        Ok::<_, ApiError>(([(header::CONTENT_TYPE, "application/json")], body))
    }
    .await;
    respond(&s, "/v1/predict", r)
}

/// `/v1/predict`'s answer.
#[derive(serde::Serialize)]
struct PredictBody<'a> {
    model: &'a str,
    version: i64,
    predictions: Vec<PredictedRow<'a>>,
}

#[derive(serde::Serialize)]
struct PredictedRow<'a> {
    prediction_id: &'a str,
    class: &'a str,
    fallback: bool,
    probabilities: Probabilities<'a>,
}

/// Each class with its probability, as one object in the classes' order.
struct Probabilities<'a>(&'a [String], &'a [f64]);

impl serde::Serialize for Probabilities<'_> {
    fn serialize<S: serde::Serializer>(&self, ser: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = ser.serialize_map(Some(self.0.len()))?;
        for (c, p) in self.0.iter().zip(self.1) {
            m.serialize_entry(c, p)?;
        }
        m.end()
    }
}

async fn feedback(
    State(s): State<Arc<AppState>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let r = async {
        authorized(&s, &headers)?;
        if s.config.bundle.is_some() {
            return Err(ApiError::new(
                StatusCode::NOT_FOUND,
                "this server serves a bundle, without a workspace: feedback is recorded by a server on the workspace",
            ));
        }
        let fb = protocol::parse_feedback(&body)?;
        let root = s.config.workspace.clone();
        let id = fb.prediction_id.clone();
        let state = s.clone();
        let judged = tokio::task::spawn_blocking(move || {
            // The prediction may still be in the log writer's batch.
            state.log.flush();
            kiln_core::Workspace::open(&root).and_then(|ws| {
                ws.record_feedback(&fb.prediction_id, fb.label.as_deref(), fb.outcome)?;
                // Whether the prediction was a success, for the A/B arms.
                let served = ws.served_prediction(&fb.prediction_id)?;
                Ok(served.map(|r| {
                    let success = match (&fb.label, fb.outcome) {
                        (_, Some(o)) => o >= 0.5,
                        (Some(l), None) => r.class.as_deref() == Some(l.as_str()),
                        (None, None) => false,
                    };
                    (r.version, success)
                }))
            })
        })
        .await
        .map_err(|_| {
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "the server is shutting down",
            )
        })?
        .map_err(|e| match e {
            kiln_core::CoreError::Invalid(m) => ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, m),
            other => ApiError::new(StatusCode::SERVICE_UNAVAILABLE, other.to_string()),
        })?;
        // Credit the arm that served it (by version).
        if let Some((Some(version), success)) = judged {
            let arm = (0..2).find(|&i| {
                (i == 0 || s.challenger.is_some()) && s.arm(i).current().version == version
            });
            if let Some(i) = arm {
                let c = if success {
                    &s.arms[i].successes
                } else {
                    &s.arms[i].failures
                };
                c.fetch_add(1, Ordering::Relaxed);
            }
        }
        Ok::<_, ApiError>(axum::Json(json!({ "recorded": id })))
    }
    .await;
    match r {
        Ok(ok) => ok.into_response(),
        Err(e) => e.into_response(),
    }
}

async fn live() -> Response {
    axum::Json(json!({ "live": true })).into_response()
}

async fn ready(State(s): State<Arc<AppState>>) -> Response {
    let _ = s.model.current();
    axum::Json(json!({ "ready": true })).into_response()
}

async fn server_metadata() -> Response {
    axum::Json(json!({ "name": "kiln", "version": env!("CARGO_PKG_VERSION"), "extensions": [] }))
        .into_response()
}

fn check_name(s: &AppState, name: &str, version: Option<&str>) -> Result<Arc<Served>, ApiError> {
    let m = s.model.current();
    if name != s.config.model {
        return Err(ApiError::v2(
            StatusCode::NOT_FOUND,
            format!("no model `{name}` here (serving `{}`)", s.config.model),
        ));
    }
    if let Some(v) = version
        && v != m.version.to_string()
    {
        return Err(ApiError::v2(
            StatusCode::NOT_FOUND,
            format!(
                "version {v} of `{name}` is not served (serving version {})",
                m.version
            ),
        ));
    }
    Ok(m)
}

fn metadata_v2(s: &AppState, m: &Served) -> Value {
    json!({
        "name": s.config.model,
        "versions": [m.version.to_string()],
        "platform": "kiln",
        "inputs": m.features.iter().map(|f| json!({
            "name": f.name,
            "datatype": if f.kind == kiln_core::serving::FeatureKind::Numeric { "FP64" } else { "BYTES" },
            "shape": [-1],
        })).collect::<Vec<_>>(),
        "outputs": [
            { "name": "class", "datatype": "BYTES", "shape": [-1] },
            { "name": "probabilities", "datatype": "FP32", "shape": [-1, m.classes.len()] },
        ],
    })
}

/// The served model a `/v2/models/{name}[/versions/{version}]` path names, for an authorized caller.
fn v2_model(
    s: &AppState,
    headers: &HeaderMap,
    name: &str,
    version: Option<&str>,
) -> Result<Arc<Served>, ApiError> {
    authorized(s, headers).map_err(ApiError::into_v2)?;
    check_name(s, name, version)
}

async fn model_v2(
    State(s): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> Response {
    match v2_model(&s, &headers, &name, None) {
        Ok(m) => axum::Json(metadata_v2(&s, &m)).into_response(),
        Err(e) => e.into_response(),
    }
}

async fn model_version_v2(
    State(s): State<Arc<AppState>>,
    headers: HeaderMap,
    Path((name, version)): Path<(String, String)>,
) -> Response {
    match v2_model(&s, &headers, &name, Some(&version)) {
        Ok(m) => axum::Json(metadata_v2(&s, &m)).into_response(),
        Err(e) => e.into_response(),
    }
}

async fn model_ready_v2(
    State(s): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> Response {
    match v2_model(&s, &headers, &name, None) {
        Ok(_) => axum::Json(json!({ "name": name, "ready": true })).into_response(),
        Err(e) => e.into_response(),
    }
}

async fn model_version_ready_v2(
    State(s): State<Arc<AppState>>,
    headers: HeaderMap,
    Path((name, version)): Path<(String, String)>,
) -> Response {
    match v2_model(&s, &headers, &name, Some(&version)) {
        Ok(_) => axum::Json(json!({ "name": name, "ready": true })).into_response(),
        Err(e) => e.into_response(),
    }
}

async fn infer(
    s: Arc<AppState>,
    headers: HeaderMap,
    name: String,
    version: Option<String>,
    body: axum::body::Bytes,
) -> Response {
    let r = async {
        let current = v2_model(&s, &headers, &name, version.as_deref())?;
        let (id, rows) = protocol::parse_v2(&body, &current.features, &current.names).map_err(ApiError::into_v2)?;
        let rows = s.model.number(rows, &s.next_id);
        let (served, answers) = answer(&s, "/v2/infer", rows).await.map_err(ApiError::into_v2)?;
        let k = served.classes.len();
        let mut out = json!({
            "model_name": s.config.model,
            "model_version": served.version.to_string(),
            "outputs": [
                {
                    "name": "class",
                    "datatype": "BYTES",
                    "shape": [answers.len()],
                    "data": answers.iter().map(|a| a.class.clone()).collect::<Vec<_>>(),
                },
                {
                    "name": "probabilities",
                    "datatype": "FP32",
                    "shape": [answers.len(), k],
                    "data": answers.iter().flat_map(|a| a.probabilities.iter().copied()).collect::<Vec<_>>(),
                },
                {
                    "name": "prediction_id",
                    "datatype": "BYTES",
                    "shape": [answers.len()],
                    "data": answers.iter().map(|a| a.prediction_id.clone()).collect::<Vec<_>>(),
                },
            ],
        });
        if let Some(id) = id {
            out["id"] = json!(id);
        }
        Ok::<_, ApiError>(axum::Json(out))
    }
    .await;
    respond(&s, "/v2/infer", r)
}

async fn infer_v2(
    State(s): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(name): Path<String>,
    body: axum::body::Bytes,
) -> Response {
    infer(s, headers, name, None, body).await
}

async fn infer_version_v2(
    State(s): State<Arc<AppState>>,
    headers: HeaderMap,
    Path((name, version)): Path<(String, String)>,
    body: axum::body::Bytes,
) -> Response {
    infer(s, headers, name, Some(version), body).await
}
