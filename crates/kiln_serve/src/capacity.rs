//! A capacity run: a version's own server started on loopback as a separate process (`kiln serve`, its
//! request log discarded so the synthetic traffic never reaches the Monitor), driven by the load
//! generator at the required rate, then at rising rates until one is missed, then between the last rate
//! held and the first missed; the server's peak memory is read from the system when it ends.

use std::io::{BufReader, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use kiln_core::release::{Capacity, CapacityStep, Target};

use crate::ServeError;
use crate::loadgen::{LoadPlan, read_answer, run};

/// What to measure and how.
#[derive(Clone, Debug)]
pub struct CapacityPlan {
    /// The workspace as `kiln --workspace` takes it (a folder or a team workspace's URL).
    pub workspace: String,
    pub model: String,
    pub version: i64,
    /// The program (and its first arguments) that runs `kiln`; `--workspace … serve …` is appended.
    pub server_command: Vec<String>,
    /// Requests per second the product needs: the first step.
    pub rate: f64,
    pub latency_targets: Vec<Target>,
    pub step_seconds: f64,
    pub connections: usize,
    /// Most steps, the first included.
    pub max_steps: usize,
    /// Slow the server by this many milliseconds per row (tests of the gate).
    pub debug_delay_ms: Option<u64>,
}

/// Rates this close (the higher over the lower) end the search between held and missed.
const CLOSE_ENOUGH: f64 = 1.1;

/// How long a server may take to load its model and answer its health check.
const START_TIMEOUT: Duration = Duration::from_mins(2);

/// The server process; killed when dropped.
struct Server {
    child: Child,
    log: PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.log);
    }
}

impl Server {
    /// The last lines the server wrote to its error output.
    fn said(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
        lines[lines.len().saturating_sub(6)..].join("\n")
    }

    /// Peak resident memory in MiB (`VmHWM`), where the system reports it.
    fn peak_memory_mb(&self) -> Option<f64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).ok()?;
        let kb: f64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))?
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse()
            .ok()?;
        Some(kb / 1024.0)
    }
}

fn free_port() -> Result<u16, ServeError> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// One request to the server; its status and body (`None` when it does not answer).
fn ask(port: u16, request: &[u8]) -> Option<(u16, Vec<u8>)> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(30))).ok()?;
    s.write_all(request).ok()?;
    let mut reader = BufReader::new(s);
    read_answer(&mut reader, &mut String::new()).ok()
}

fn start_server(plan: &CapacityPlan, port: u16) -> Result<Server, ServeError> {
    let (program, first) = plan
        .server_command
        .split_first()
        .ok_or_else(|| ServeError::Capacity("no command to start the server with".into()))?;
    let log = std::env::temp_dir().join(format!("kiln-capacity-{}-{port}.log", std::process::id()));
    let err = std::fs::File::create(&log)?;
    let mut command = Command::new(program);
    command
        .args(first)
        .args(["--workspace", &plan.workspace, "serve", "--model"])
        .arg(format!("{}@{}", plan.model, plan.version))
        .args(["--port", &port.to_string(), "--no-request-log"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(err);
    if let Some(ms) = plan.debug_delay_ms {
        command.args(["--debug-delay-ms", &ms.to_string()]);
    }
    let child = command.spawn().map_err(|e| {
        let _ = std::fs::remove_file(&log);
        ServeError::Capacity(format!(
            "cannot start the server of {} v{} (`{program}`): {e}",
            plan.model, plan.version
        ))
    })?;
    let mut server = Server { child, log };
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        if let Some(status) = server.child.try_wait()? {
            let said = server.said();
            return Err(ServeError::Capacity(format!(
                "the server of {} v{} did not start ({status}){}",
                plan.model,
                plan.version,
                if said.is_empty() {
                    String::new()
                } else {
                    format!(": {said}")
                }
            )));
        }
        if ask(port, b"GET /v1/health HTTP/1.1\r\nHost: kiln\r\n\r\n")
            .is_some_and(|(s, _)| s == 200)
        {
            return Ok(server);
        }
        if Instant::now() > deadline {
            return Err(ServeError::Capacity(format!(
                "the server of {} v{} did not answer its health check within {} s",
                plan.model,
                plan.version,
                START_TIMEOUT.as_secs()
            )));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn post(body: &[u8]) -> Vec<u8> {
    let mut r = format!(
        "POST /v1/predict HTTP/1.1\r\nHost: kiln\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    r.extend_from_slice(body);
    r
}

/// The next rate to try, or `None` when the search is done.
fn next_rate(held: Option<f64>, missed: Option<f64>) -> Option<f64> {
    match (held, missed) {
        (Some(h), None) => Some(h * 2.0),
        (None, Some(m)) => Some(m / 2.0).filter(|r| *r >= 1.0),
        (Some(h), Some(m)) => (m / h > CLOSE_ENOUGH).then_some(f64::midpoint(h, m)),
        (None, None) => None,
    }
}

/// Run `plan` with `bodies` (`/v1/predict` bodies, sent in turn); `on_step` sees each step as it ends.
pub fn measure(
    plan: &CapacityPlan,
    bodies: &[Vec<u8>],
    on_step: &mut dyn FnMut(&CapacityStep),
    cancel: &AtomicBool,
) -> Result<Capacity, ServeError> {
    if !(plan.rate.is_finite() && plan.rate > 0.0) {
        return Err(ServeError::Capacity(format!(
            "a capacity run needs a positive rate, not {}",
            plan.rate
        )));
    }
    if !(plan.step_seconds.is_finite() && plan.step_seconds > 0.0) || plan.connections == 0 {
        return Err(ServeError::Capacity(
            "a capacity run needs steps of some seconds and at least one connection".into(),
        ));
    }
    let first_body = bodies
        .first()
        .ok_or_else(|| ServeError::Capacity("no request to send".into()))?
        .clone();
    let port = free_port()?;
    let server = start_server(plan, port)?;
    // One request first: a refusal is the server's message, not a run of errors.
    match ask(port, &post(&first_body)) {
        Some((200, _)) => {}
        Some((status, body)) => {
            return Err(ServeError::Capacity(format!(
                "the server refused a sample request ({status}): {}",
                String::from_utf8_lossy(&body)
            )));
        }
        None => {
            return Err(ServeError::Capacity(format!(
                "the server did not answer a sample request{}",
                Some(server.said())
                    .filter(|s| !s.is_empty())
                    .map(|s| format!(": {s}"))
                    .unwrap_or_default()
            )));
        }
    }
    let load = |rate: f64, seconds: f64| LoadPlan {
        url: format!("http://127.0.0.1:{port}/v1/predict"),
        bodies: bodies.to_vec(),
        content_type: "application/json".into(),
        token: None,
        rate,
        duration: Duration::from_secs_f64(seconds),
        connections: plan.connections,
        give_up_after: Some(Duration::from_secs_f64(seconds * 2.0 + 1.0)),
    };
    // A short warm-up at the required rate (connections, first allocations), not counted.
    run(&load(plan.rate, plan.step_seconds.min(1.0)))?;
    let mut steps = Vec::new();
    let (mut held, mut missed): (Option<f64>, Option<f64>) = (None, None);
    let mut rate = plan.rate;
    while steps.len() < plan.max_steps.max(1) {
        if cancel.load(Ordering::Relaxed) {
            return Err(ServeError::Capacity("cancelled: nothing recorded".into()));
        }
        let o = run(&load(rate, plan.step_seconds))?;
        let step = CapacityStep {
            rate,
            achieved_rate: o.achieved_rate,
            sent: o.sent,
            ok: o.ok,
            errors: o.errors + o.unsent,
            p50_ms: o.p50_ms,
            p99_ms: o.p99_ms,
            p999_ms: o.p999_ms,
            max_ms: o.max_ms,
        };
        if step.held(&plan.latency_targets) {
            held = Some(held.map_or(rate, |h: f64| h.max(rate)));
        } else {
            missed = Some(missed.map_or(rate, |m: f64| m.min(rate)));
        }
        on_step(&step);
        steps.push(step);
        let Some(next) = next_rate(held, missed) else {
            break;
        };
        rate = (next * 10.0).round() / 10.0;
    }
    let peak_memory_mb = server.peak_memory_mb();
    drop(server);
    let mut capacity = Capacity {
        model: plan.model.clone(),
        version: plan.version,
        required_rate: plan.rate,
        latency_targets: plan.latency_targets.clone(),
        steps,
        max_rate_held: None,
        peak_memory_mb,
        connections: plan.connections,
        step_seconds: plan.step_seconds,
        machine: format!(
            "{} ({} cores, shared by the server and the load generator)",
            kiln_core::host_name(),
            std::thread::available_parallelism().map_or(1, std::num::NonZero::get)
        ),
        debug_delay_ms: plan.debug_delay_ms,
    };
    capacity.max_rate_held = capacity.rate_held(&plan.latency_targets);
    Ok(capacity)
}

/// How a version's capacity run is made; the rest comes from the model's brief.
#[derive(Clone, Debug)]
pub struct CapacityOptions {
    /// The first step's rate (default: the brief's `throughput_rps`, else 100 requests/s).
    pub rate: Option<f64>,
    pub step_seconds: f64,
    pub connections: usize,
    pub max_steps: usize,
    /// The program (and its first arguments) that runs `kiln` (default: this program).
    pub server_command: Option<Vec<String>>,
    pub debug_delay_ms: Option<u64>,
}

impl Default for CapacityOptions {
    fn default() -> Self {
        Self {
            rate: None,
            step_seconds: 5.0,
            connections: 32,
            max_steps: 8,
            server_command: None,
            debug_delay_ms: None,
        }
    }
}

/// Measure `name` v`version` against its brief's serving targets and keep the result on the version (and
/// in the audit log). Nothing is recorded when the run fails or is cancelled.
pub fn measure_version(
    ws: &mut kiln_core::Workspace,
    name: &str,
    version: i64,
    options: &CapacityOptions,
    by: &str,
    on_step: &mut dyn FnMut(&CapacityStep),
    cancel: &AtomicBool,
) -> Result<Capacity, ServeError> {
    let brief = ws.brief(name)?;
    let bodies = ws.capacity_requests(name, version, 256)?;
    let server_command = match &options.server_command {
        Some(c) => c.clone(),
        None => vec![std::env::current_exe()?.display().to_string()],
    };
    let plan = CapacityPlan {
        workspace: ws.root().display().to_string(),
        model: name.to_owned(),
        version,
        server_command,
        rate: options
            .rate
            .or_else(|| brief.required_rate())
            .unwrap_or(kiln_core::release::capacity::DEFAULT_RATE),
        latency_targets: brief.latency_targets(),
        step_seconds: options.step_seconds,
        connections: options.connections,
        max_steps: options.max_steps,
        debug_delay_ms: options.debug_delay_ms,
    };
    let capacity = measure(&plan, &bodies, on_step, cancel)?;
    ws.record_capacity(&capacity, by)?;
    Ok(capacity)
}
