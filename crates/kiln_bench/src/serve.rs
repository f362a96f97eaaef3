//! Serving and drift figures: a keep-alive HTTP/1.1 load generator (any server, so the peers are
//! measured with the same client), `kiln serve` on the digits MLP under 32 and 1,000 connections with the
//! server's resident memory, and the drift report on a large synthetic frame.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use kiln_core::Workspace;
use kiln_core::data::polars::prelude::*;
use serde_json::{Value, json};

/// What to send, again and again, on every connection.
#[derive(Clone, Debug)]
pub struct Target {
    pub addr: SocketAddr,
    pub host: String,
    pub path: String,
    pub content_type: String,
    pub body: Vec<u8>,
}

impl Target {
    /// `http://HOST:PORT/PATH`.
    pub fn parse(url: &str, content_type: &str, body: Vec<u8>) -> Result<Self> {
        let rest = url
            .strip_prefix("http://")
            .with_context(|| format!("`{url}`: only http:// URLs"))?;
        let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
        let addr = host
            .to_socket_addrs()
            .with_context(|| format!("resolving `{host}`"))?
            .next()
            .with_context(|| format!("`{host}` has no address"))?;
        Ok(Self {
            addr,
            host: host.to_owned(),
            path: format!("/{path}"),
            content_type: content_type.to_owned(),
            body,
        })
    }

    fn request(&self) -> Vec<u8> {
        let mut r = format!(
            "POST {} HTTP/1.1\r\nHost: {}\r\nContent-Type: {}\r\nContent-Length: {}\r\n\r\n",
            self.path,
            self.host,
            self.content_type,
            self.body.len()
        )
        .into_bytes();
        r.extend_from_slice(&self.body);
        r
    }
}

/// The outcome of one load run.
#[derive(Debug)]
pub struct LoadReport {
    pub connections: usize,
    pub seconds: f64,
    pub ok: u64,
    /// Non-2xx answers plus connection errors.
    pub failed: u64,
    /// Answers by HTTP status, in status order.
    pub statuses: std::collections::BTreeMap<u16, u64>,
    pub io_errors: u64,
    /// Latencies of the successful requests, in milliseconds.
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

impl LoadReport {
    pub fn json(&self) -> Value {
        json!({
            "connections": self.connections,
            "seconds": self.seconds,
            "requests_ok": self.ok,
            "requests_failed": self.failed,
            "io_errors": self.io_errors,
            "statuses": self.statuses.iter().map(|(s, n)| json!({"status": s, "count": n})).collect::<Vec<_>>(),
            "req_per_s": self.ok as f64 / self.seconds,
            "p50_ms": self.p50_ms,
            "p99_ms": self.p99_ms,
            "max_ms": self.max_ms,
        })
    }
}

/// Read one HTTP/1.1 response (status line, headers, `Content-Length` body); returns the status.
fn read_response(r: &mut BufReader<TcpStream>, line: &mut String) -> std::io::Result<u16> {
    line.clear();
    if r.read_line(line)? == 0 {
        return Err(std::io::ErrorKind::UnexpectedEof.into());
    }
    let status: u16 = line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("bad status line {line:?}")))?;
    let mut length = 0usize;
    let mut chunked = false;
    loop {
        line.clear();
        if r.read_line(line)? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        if let Some((k, v)) = l.split_once(':') {
            if k.eq_ignore_ascii_case("content-length") {
                length = v.trim().parse().unwrap_or(0);
            } else if k.eq_ignore_ascii_case("transfer-encoding")
                && v.trim().eq_ignore_ascii_case("chunked")
            {
                chunked = true;
            }
        }
    }
    if chunked {
        loop {
            line.clear();
            r.read_line(line)?;
            let size = usize::from_str_radix(line.trim(), 16)
                .map_err(|_| std::io::Error::other("bad chunk size"))?;
            let mut skip = vec![0; size + 2];
            r.read_exact(&mut skip)?;
            if size == 0 {
                break;
            }
        }
    } else {
        std::io::copy(&mut r.by_ref().take(length as u64), &mut std::io::sink())?;
    }
    Ok(status)
}

/// `connections` keep-alive connections, each sending the request as soon as the last answer came back,
/// for `seconds` after `warmup` seconds. A connection that fails is reopened and counted.
pub fn load(target: &Target, connections: usize, warmup: f64, seconds: f64) -> LoadReport {
    let request = Arc::new(target.request());
    let measuring = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let io_errors = Arc::new(AtomicU64::new(0));
    let mut threads = Vec::with_capacity(connections);
    for i in 0..connections {
        let (request, measuring, stop, errors) = (
            request.clone(),
            measuring.clone(),
            stop.clone(),
            io_errors.clone(),
        );
        let addr = target.addr;
        let spawned = std::thread::Builder::new()
            .name(format!("load-{i}"))
            .stack_size(128 * 1024)
            .spawn(move || {
                let mut latencies: Vec<f32> = Vec::new();
                let mut statuses = std::collections::BTreeMap::<u16, u64>::new();
                let mut line = String::new();
                'connect: while !stop.load(Ordering::Relaxed) {
                    let Ok(stream) = TcpStream::connect(addr) else {
                        if measuring.load(Ordering::Relaxed) {
                            errors.fetch_add(1, Ordering::Relaxed);
                        }
                        std::thread::sleep(Duration::from_millis(10));
                        continue;
                    };
                    let _ = stream.set_nodelay(true);
                    let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
                    let Ok(mut writer) = stream.try_clone() else {
                        continue;
                    };
                    let mut reader = BufReader::new(stream);
                    while !stop.load(Ordering::Relaxed) {
                        let t = Instant::now();
                        let answered = writer
                            .write_all(&request)
                            .and_then(|()| read_response(&mut reader, &mut line));
                        let counted = measuring.load(Ordering::Relaxed);
                        match answered {
                            Ok(status) if counted => {
                                if (200..300).contains(&status) {
                                    latencies.push(t.elapsed().as_secs_f32() * 1000.0);
                                }
                                *statuses.entry(status).or_default() += 1;
                            }
                            Ok(_) => {}
                            Err(_) => {
                                if counted && !stop.load(Ordering::Relaxed) {
                                    errors.fetch_add(1, Ordering::Relaxed);
                                }
                                continue 'connect;
                            }
                        }
                    }
                }
                (latencies, statuses)
            });
        match spawned {
            Ok(t) => threads.push(t),
            Err(_) => {
                io_errors.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
    std::thread::sleep(Duration::from_secs_f64(warmup));
    measuring.store(true, Ordering::Relaxed);
    let t = Instant::now();
    std::thread::sleep(Duration::from_secs_f64(seconds));
    measuring.store(false, Ordering::Relaxed);
    let elapsed = t.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    let mut latencies: Vec<f32> = Vec::new();
    let mut statuses = std::collections::BTreeMap::<u16, u64>::new();
    for t in threads {
        if let Ok((l, s)) = t.join() {
            latencies.extend(l);
            for (status, n) in s {
                *statuses.entry(status).or_default() += n;
            }
        }
    }
    let mut latencies: Vec<f64> = latencies.into_iter().map(f64::from).collect();
    latencies.sort_unstable_by(f64::total_cmp);
    let q = |p: f64| kiln_core::release::stats::nearest_rank(&latencies, p);
    let ok = latencies.len() as u64;
    let total: u64 = statuses.values().sum();
    let io_errors = io_errors.load(Ordering::Relaxed);
    LoadReport {
        connections,
        seconds: elapsed,
        ok,
        failed: total - ok + io_errors,
        statuses,
        io_errors,
        p50_ms: q(0.5),
        p99_ms: q(0.99),
        max_ms: latencies.last().copied().unwrap_or(f64::NAN),
    }
}

/// Resident memory of a process, in bytes: (now, peak) from `/proc/PID/status`.
pub fn rss_of(pid: u32) -> (Option<u64>, Option<u64>) {
    let pid = pid.to_string();
    (
        crate::status_field_of(&pid, "VmRSS:"),
        crate::status_field_of(&pid, "VmHWM:"),
    )
}

/// A digits workspace with a trained default MLP registered as `digits-mlp` v1; returns the first row
/// of the digits table as a `/v1/predict` body.
fn digits_model(dir: &Path) -> Result<Vec<u8>> {
    let mut ws = Workspace::open(dir)?;
    kiln_core::demo::seed(&mut ws)?;
    let req = kiln_core::training::TrainRequest {
        dataset: "digits".into(),
        target: "column_65".into(),
        features: None,
        params: kiln_train::TrainParams::for_model(kiln_train::ModelKind::Mlp),
        device: kiln_train::DeviceChoice::Cpu,
        sweep_id: None,
    };
    let summary = ws.train(&req, &AtomicBool::new(false), &mut |_| {})?;
    ws.set_user("bench", kiln_core::release::Role::Admin, "bench")?;
    ws.register_model(summary.run_id, "digits-mlp", "candidate", "bench")?;
    let first = ws.load(&ws.version("digits", None)?)?.head(Some(1));
    let mut row = serde_json::Map::new();
    for c in first.columns() {
        if c.name().as_str() == "column_65" {
            continue;
        }
        let v = c.cast(&DataType::Float64)?.f64()?.get(0);
        row.insert(c.name().to_string(), json!(v));
    }
    Ok(serde_json::to_vec(
        &json!({ "rows": [Value::Object(row)] }),
    )?)
}

/// Replay of `requests` logged requests of the digits MLP's champion (v1) through a second version (v2,
/// another seed and fewer epochs): the whole `Workspace::replay` (reading the log and the feedback,
/// decoding the logged features, both models' predictions), timed; a label back for every tenth request.
pub fn bench_replay(requests: usize) -> Result<Value> {
    let dir = crate::tempfile_dir("replay")?;
    let ws_dir = dir.join("ws");
    digits_model(&ws_dir)?;
    let mut ws = Workspace::open(&ws_dir)?;
    let mut params = kiln_train::TrainParams::for_model(kiln_train::ModelKind::Mlp);
    params.seed = 11;
    params.epochs = params.epochs.div_ceil(3);
    let req = kiln_core::training::TrainRequest {
        dataset: "digits".into(),
        target: "column_65".into(),
        features: None,
        params,
        device: kiln_train::DeviceChoice::Cpu,
        sweep_id: None,
    };
    let second = ws.train(&req, &AtomicBool::new(false), &mut |_| {})?;
    ws.register_model(second.run_id, "digits-mlp", "candidate", "bench")?;
    ws.set_user("ops", kiln_core::release::Role::Admin, "bench")?;
    let eval = ws.version("digits", None)?;
    let brief = kiln_core::release::Brief {
        eval_dataset: Some(format!("digits@{}", eval.version)),
        ..Default::default()
    };
    ws.set_brief("digits-mlp", &brief, "bench")?;
    let (id, _) = ws.request_release("digits-mlp", 1, "bench", "benchmark")?;
    if ws.approve(id, "ops", "benchmark", None).is_err() {
        ws.approve(id, "ops", "benchmark", Some("benchmark setup"))?;
    }
    // The logged traffic: the digits rows again and again, as the server logs them.
    let digits = ws.load(&ws.version("digits", None)?)?;
    let features: Vec<String> = digits
        .columns()
        .iter()
        .filter(|c| {
            c.name().as_str() != "column_65" && c.name().as_str() != kiln_core::data::ROW_ID
        })
        .map(|c| {
            let values = c.cast(&DataType::Float64)?;
            let values = values.f64()?;
            Ok((c.name().to_string(), values.clone()))
        })
        .collect::<Result<Vec<_>>>()?
        .into_iter()
        .fold(
            vec![serde_json::Map::new(); digits.height()],
            |mut rows, (name, values)| {
                for (row, v) in rows.iter_mut().zip(values.iter()) {
                    row.insert(name.clone(), json!(v));
                }
                rows
            },
        )
        .into_iter()
        .map(|row| Value::Object(row).to_string())
        .collect();
    let served: Vec<kiln_store::ServedRequest> = (0..requests)
        .map(|i| kiln_store::ServedRequest {
            at: format!(
                "2026-12-07T{:02}:{:02}:{:02}Z",
                i / 3600 % 24,
                i / 60 % 60,
                i % 60
            ),
            model: "digits-mlp".into(),
            version: Some(1),
            endpoint: "/v1/predict".into(),
            status: 200,
            latency_ms: 1.0,
            prediction_id: Some(format!("p{i}")),
            class: None,
            features: Some(features[i % features.len()].clone()),
            replica: None,
        })
        .collect();
    ws.log_served(&served)?;
    let labels = digits.column("column_65")?.cast(&DataType::String)?;
    let labels = labels.str()?;
    for i in (0..requests).step_by(10) {
        if let Some(l) = labels.get(i % features.len()) {
            ws.record_feedback(&format!("p{i}"), Some(l), None)?;
        }
    }
    let t = Instant::now();
    let replay = ws.replay("digits-mlp", 2, None, None)?;
    let seconds = t.elapsed().as_secs_f64();
    let _ = std::fs::remove_dir_all(&dir);
    Ok(json!({
        "requests": replay.requests,
        "replay_s": seconds,
        "agreement": replay.agreement,
        "labelled": replay.labelled,
        "candidate_ms_per_row": replay.candidate_ms_per_row,
        "champion_ms_per_row": replay.champion_ms_per_row,
        "sentence": replay.sentence(),
    }))
}

/// `kiln serve` as a child process (the release binary next to this one).
struct Server {
    child: Child,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn kiln_binary() -> Result<PathBuf> {
    let me = std::env::current_exe()?;
    let kiln = me.with_file_name(format!("kiln{}", std::env::consts::EXE_SUFFIX));
    if !kiln.exists() {
        bail!(
            "{} is missing: build it first (cargo build --release -p kiln -p kiln_bench)",
            kiln.display()
        );
    }
    Ok(kiln)
}

fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

fn start_server(ws: &Path, port: u16, extra: &[&str]) -> Result<Server> {
    let child = Command::new(kiln_binary()?)
        .arg("--workspace")
        .arg(ws)
        .args([
            "serve",
            "--model",
            "digits-mlp@1",
            "--port",
            &port.to_string(),
        ])
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("starting kiln serve")?;
    let server = Server { child };
    let deadline = Instant::now() + Duration::from_mins(1);
    while Instant::now() < deadline {
        if let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) {
            let _ = s.write_all(b"GET /v1/health HTTP/1.1\r\nHost: x\r\n\r\n");
            let mut r = BufReader::new(s);
            let mut line = String::new();
            if read_response(&mut r, &mut line).is_ok_and(|s| s == 200) {
                return Ok(server);
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    bail!("kiln serve did not answer /v1/health within 60 s")
}

/// The digits MLP behind `kiln serve`: each connection count in turn for `seconds`, with the server's
/// resident memory.
pub fn bench_serve(
    connection_counts: &[usize],
    seconds: f64,
    dir: Option<PathBuf>,
) -> Result<Value> {
    let dir = match dir {
        Some(d) => {
            std::fs::create_dir_all(&d)?;
            d
        }
        None => crate::tempfile_dir("serve")?,
    };
    let ws = dir.join("ws");
    let body = digits_model(&ws)?;
    std::fs::write(dir.join("digits-row.json"), &body)?;
    let mut runs = Vec::new();
    for &n in connection_counts {
        let port = free_port()?;
        // Log every row: the figure includes the request log.
        let server = start_server(&ws, port, &[])?;
        let pid = server.child.id();
        let (idle_rss, _) = rss_of(pid);
        let target = Target::parse(
            &format!("http://127.0.0.1:{port}/v1/predict"),
            "application/json",
            body.clone(),
        )?;
        let report = load(&target, n, 2.0, seconds);
        let (rss, peak) = rss_of(pid);
        let mut j = report.json();
        j["server_rss_idle_bytes"] = json!(idle_rss);
        j["server_rss_bytes"] = json!(rss);
        j["server_peak_rss_bytes"] = json!(peak);
        runs.push(j);
        drop(server);
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(json!({
        "model": "digits MLP (default template), one row per request, /v1/predict, every request logged",
        "runs": runs,
    }))
}

/// Kiln's constant-rate load generator against `kiln serve` (the digits MLP): `/v1/health` and one-row
/// `/v1/predict` requests at `rate` per second for `seconds`, on `connections` connections; the achieved
/// rate, latencies from each request's due time and the generator's own send delay.
pub fn bench_loadgen(rate: f64, seconds: f64, connections: usize) -> Result<Value> {
    use kiln_serve::loadgen::{LoadPlan, run};
    let dir = crate::tempfile_dir("loadgen")?;
    let ws = dir.join("ws");
    let body = digits_model(&ws)?;
    let port = free_port()?;
    let server = start_server(&ws, port, &[])?;
    let mut runs = Vec::new();
    for (path, bodies) in [("v1/health", vec![]), ("v1/predict", vec![body])] {
        let plan = LoadPlan {
            url: format!("http://127.0.0.1:{port}/{path}"),
            bodies,
            content_type: "application/json".into(),
            token: None,
            rate,
            duration: Duration::from_secs_f64(seconds),
            connections,
            give_up_after: None,
        };
        let cpu = || {
            let ts = rustix::time::clock_gettime(rustix::time::ClockId::ProcessCPUTime);
            ts.tv_sec as f64 + ts.tv_nsec as f64 / 1e9
        };
        let before = cpu();
        let outcome = run(&plan)?;
        let mut j = serde_json::to_value(&outcome)?;
        // This process runs the generator alone (the server is a child process).
        j["generator_cpu_s"] = json!(cpu() - before);
        j["path"] = json!(path);
        j["rate_error_percent"] = json!((outcome.achieved_rate / rate - 1.0) * 100.0);
        runs.push(j);
    }
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(json!({ "connections": connections, "seconds": seconds, "runs": runs }))
}

/// The same load against any URL (the peers' servers).
pub fn bench_load(
    url: &str,
    body_file: &Path,
    content_type: &str,
    connections: usize,
    seconds: f64,
) -> Result<Value> {
    let body =
        std::fs::read(body_file).with_context(|| format!("reading {}", body_file.display()))?;
    let target = Target::parse(url, content_type, body)?;
    Ok(load(&target, connections, 2.0, seconds).json())
}

/// Reference and current frames of `rows` × `cols` numeric columns; every other current column is
/// shifted by a third of a standard deviation (drifted), the rest drawn from the same distribution.
pub fn drift_frames(rows: usize, cols: usize, seed: u64) -> Result<(DataFrame, DataFrame)> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut uniform = move || {
        // xorshift64*
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        (state.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64
    };
    let mut normal = move || {
        let (u, v) = (uniform().max(f64::MIN_POSITIVE), uniform());
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    };
    let mut frame = |shift: bool| {
        let columns: Vec<Column> = (0..cols)
            .map(|c| {
                let (mu, sd) = (c as f64, 1.0 + c as f64 / 10.0);
                let drift = if shift && c % 2 == 0 { sd / 3.0 } else { 0.0 };
                let v: Vec<f64> = (0..rows).map(|_| mu + drift + sd * normal()).collect();
                Column::new(format!("f{c}").into(), v)
            })
            .collect();
        DataFrame::new(rows, columns)
    };
    Ok((frame(false)?, frame(true)?))
}

/// Time the drift report (Evidently's method choice, PSI) on `rows` × `cols`; best of `repeat`.
/// With `write`, the frames go to `write/reference.parquet` and `write/current.parquet` for the peer.
pub fn bench_drift(rows: usize, cols: usize, repeat: usize, write: Option<&Path>) -> Result<Value> {
    let (reference, current) = drift_frames(rows, cols, 7)?;
    if let Some(dir) = write {
        std::fs::create_dir_all(dir)?;
        for (name, df) in [("reference", &reference), ("current", &current)] {
            let mut df = df.clone();
            let f = std::fs::File::create(dir.join(format!("{name}.parquet")))?;
            ParquetWriter::new(f).finish(&mut df)?;
        }
    }
    let mut times = Vec::new();
    let mut report = None;
    for _ in 0..repeat.max(1) {
        let t = Instant::now();
        report = Some(kiln_core::drift::drift(&reference, &current)?);
        times.push(t.elapsed());
    }
    let report = report.context("no run")?;
    let t_hist = Instant::now();
    kiln_core::drift::histograms(&reference, &current)?;
    let hist_s = t_hist.elapsed().as_secs_f64();
    let drifted: Vec<&str> = report
        .columns
        .iter()
        .filter(|c| c.drifted)
        .map(|c| c.name.as_str())
        .collect();
    Ok(json!({
        "rows": rows,
        "cols": cols,
        "drift_s": crate::best(&times),
        "histograms_s": hist_s,
        "method": report.columns.first().map(|c| c.method.clone()),
        "drifted_columns": drifted,
        "dataset_drift": report.dataset_drift,
    }))
}

/// Suspect labels on digits with `rate` of the labels flipped (seeded; each flipped row gets another
/// digit drawn uniformly, committed as a version): time, and precision and recall of the top suspects
/// cut at the number of flips.
pub fn bench_suspects(rate: f64, seed: u64, folds: usize, filter: &str) -> Result<Value> {
    use rand::seq::SliceRandom;
    use rand::{Rng, SeedableRng};
    let dir = crate::tempfile_dir("suspects")?;
    let mut ws = Workspace::open(&dir.join("ws"))?;
    kiln_core::demo::seed(&mut ws)?;
    let df = ws.load(&ws.version("digits", None)?)?;
    let labels: Vec<Option<i64>> = df
        .column("column_65")?
        .cast(&DataType::Int64)?
        .i64()?
        .iter()
        .collect();
    let n = (labels.len() as f64 * rate).round() as usize;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut rows: Vec<u64> = (0..labels.len() as u64).collect();
    rows.shuffle(&mut rng);
    rows.truncate(n);
    let flips: Vec<(u64, Option<String>)> = rows
        .iter()
        .map(|&r| {
            let was = labels[r as usize].unwrap_or_default();
            let to = (was + rng.random_range(1..10)) % 10;
            (r, Some(to.to_string()))
        })
        .collect();
    ws.set_labels("digits", "column_65", &flips, Some("flips"), None)?;
    let mut settings = kiln_core::assist::SuspectSettings::new(kiln_train::ModelKind::Mlp);
    settings.folds = folds;
    settings.seed = seed;
    settings.filter = kiln_core::assist::SuspectFilter::parse(filter)
        .with_context(|| format!("unknown filter `{filter}`"))?;
    let t = Instant::now();
    let report = ws.find_suspects(
        "digits",
        "column_65",
        &settings,
        &AtomicBool::new(false),
        &mut |_, _| {},
    )?;
    let secs = t.elapsed().as_secs_f64();
    let flipped: std::collections::HashSet<u64> = rows.iter().copied().collect();
    let top: Vec<u64> = report.suspects.iter().take(n).map(|s| s.row_id).collect();
    let hits = top.iter().filter(|r| flipped.contains(r)).count();
    let _ = std::fs::remove_dir_all(&dir);
    Ok(json!({
        "rows": labels.len(),
        "flips": n,
        "seed": seed,
        "folds": folds,
        "filter": filter,
        "suspects_s": secs,
        "suspects": report.suspects.len(),
        "top_n_hits": hits,
        "precision": hits as f64 / top.len().max(1) as f64,
        "recall": hits as f64 / n.max(1) as f64,
        "estimated_errors": report.estimated_errors,
        "agreement": report.agreement,
    }))
}

/// Champion throughput and latency at `connections` closed-loop connections, on fresh servers in turn:
/// without a shadow, then with one (the same model registered as v2, so the shadow costs what the
/// champion does), `rounds` times; the shadow's compared and dropped copies from `/v1/health`.
pub fn bench_shadow(connections: usize, seconds: f64, rounds: usize) -> Result<Value> {
    let dir = crate::tempfile_dir("shadow")?;
    let ws_dir = dir.join("ws");
    let body = digits_model(&ws_dir)?;
    {
        let mut ws = Workspace::open(&ws_dir)?;
        let run = ws.resolve_model("digits-mlp", "1")?.1;
        ws.register_model(run, "digits-mlp", "candidate", "bench")?;
    }
    let mut runs = Vec::new();
    for round in 0..rounds {
        for shadow in [false, true] {
            let port = free_port()?;
            let extra: &[&str] = if shadow {
                &["--shadow", "digits-mlp@2"]
            } else {
                &[]
            };
            let server = start_server(&ws_dir, port, extra)?;
            let target = Target::parse(
                &format!("http://127.0.0.1:{port}/v1/predict"),
                "application/json",
                body.clone(),
            )?;
            let report = load(&target, connections, 2.0, seconds);
            let mut j = report.json();
            j["round"] = json!(round);
            j["shadow"] = json!(shadow);
            if shadow {
                let mut s = TcpStream::connect(("127.0.0.1", port))?;
                s.write_all(b"GET /v1/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")?;
                let mut text = String::new();
                s.read_to_string(&mut text)?;
                let health: Value = text
                    .split("\r\n\r\n")
                    .nth(1)
                    .and_then(|b| serde_json::from_str(b).ok())
                    .unwrap_or_default();
                j["shadow_health"] = health["shadow"].clone();
            }
            runs.push(j);
            drop(server);
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(json!({
        "model": "digits MLP, one row per request, /v1/predict, every request logged; the shadow is the same model (v2)",
        "connections": connections,
        "runs": runs,
    }))
}

/// `wrk` (closed loop, `connections` connections, one thread) against one server: `/v1/health`, then
/// one-row `/v1/predict`, `rounds` times; requests per second and p99 of each, and their ratio.
pub fn bench_http_floor(connections: usize, seconds: u64, rounds: usize) -> Result<Value> {
    let dir = crate::tempfile_dir("floor")?;
    let ws_dir = dir.join("ws");
    let body = digits_model(&ws_dir)?;
    let script = dir.join("post.lua");
    std::fs::write(
        &script,
        format!(
            "wrk.method = \"POST\"\nwrk.headers[\"Content-Type\"] = \"application/json\"\nwrk.body = {}\n",
            serde_json::to_string(&String::from_utf8_lossy(&body))?
        ),
    )?;
    let port = free_port()?;
    let server = start_server(&ws_dir, port, &[])?;
    let wrk = |path: &str, lua: bool| -> Result<(f64, f64)> {
        let mut c = Command::new("wrk");
        c.args([
            "-t1",
            &format!("-c{connections}"),
            &format!("-d{seconds}s"),
            "--latency",
        ]);
        if lua {
            c.arg("-s").arg(&script);
        }
        let out = c
            .arg(format!("http://127.0.0.1:{port}{path}"))
            .output()
            .context("running wrk (apt-get install wrk)")?;
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let rate = text
            .lines()
            .find_map(|l| l.strip_prefix("Requests/sec:"))
            .and_then(|v| v.trim().parse().ok())
            .with_context(|| format!("wrk printed no rate:\n{text}"))?;
        let p99 = text
            .lines()
            .find_map(|l| l.trim().strip_prefix("99%"))
            .map(str::trim)
            .and_then(|v| {
                let (n, unit) = v.split_at(v.find(|c: char| c.is_ascii_alphabetic())?);
                let n: f64 = n.parse().ok()?;
                Some(match unit {
                    "us" => n / 1000.0,
                    "s" => n * 1000.0,
                    _ => n,
                })
            })
            .unwrap_or(f64::NAN);
        Ok((rate, p99))
    };
    let mut runs = Vec::new();
    for round in 0..rounds {
        let (health, health_p99) = wrk("/v1/health", false)?;
        let (predict, predict_p99) = wrk("/v1/predict", true)?;
        runs.push(json!({
            "round": round,
            "health_rps": health,
            "health_p99_ms": health_p99,
            "predict_rps": predict,
            "predict_p99_ms": predict_p99,
            "ratio": predict / health,
        }));
    }
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(json!({
        "model": "digits MLP, one row per request, every request logged",
        "connections": connections,
        "runs": runs,
    }))
}
