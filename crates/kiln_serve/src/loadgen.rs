//! Kiln's load generator: requests sent at a constant arrival rate, as wrk2 sends them. Request `i` is
//! due at `start + i / rate` whatever happened before it, and its latency is measured from that due time,
//! not from when a connection was free to send it: a server that stalls cannot hide the queue it made
//! (the "coordinated omission" of closed-loop generators, which wait for each answer before asking
//! again and so stop asking while the server is stuck). Keep-alive connections on their own threads take
//! the next due request in turn.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::ServeError;

/// What to send, how fast and for how long.
#[derive(Clone, Debug)]
pub struct LoadPlan {
    /// `http://host:port/path`.
    pub url: String,
    /// `GET` when empty, else `POST`s of these bodies, request `i` sending body `i % len`.
    pub bodies: Vec<Vec<u8>>,
    pub content_type: String,
    /// Sent as `Authorization: Bearer TOKEN`.
    pub token: Option<String>,
    /// Requests per second.
    pub rate: f64,
    pub duration: Duration,
    /// Keep-alive connections (each on its own thread): at most this many requests in flight.
    pub connections: usize,
    /// Stop sending this long after the first request was due, even with requests left (a server far
    /// behind would otherwise hold the run for as long as its queue takes); those are counted `unsent`.
    pub give_up_after: Option<Duration>,
}

/// What a run measured. Latencies are from each request's due time, in milliseconds.
#[derive(Clone, Debug, serde::Serialize)]
pub struct LoadOutcome {
    pub target_rate: f64,
    /// Requests sent over the seconds from the first due time to the last send.
    pub achieved_rate: f64,
    pub sent: u64,
    /// Answers with a 2xx status.
    pub ok: u64,
    /// Other answers and failed connections.
    pub errors: u64,
    /// Requests due in the run but never sent (the run gave up on a server too far behind).
    pub unsent: u64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
    /// How late the generator itself sent, at the 99th percentile, in milliseconds: its own overhead
    /// when the server keeps up (larger when it does not: no connection was free).
    pub send_delay_p99_ms: f64,
}

/// Where a plan's requests go, and the bytes of each request (sent in turn).
struct Target {
    addr: SocketAddr,
    requests: Vec<Vec<u8>>,
}

impl Target {
    fn of(plan: &LoadPlan) -> Result<Self, ServeError> {
        let bad = |why: &str| ServeError::Load(format!("`{}`: {why}", plan.url));
        let rest = plan
            .url
            .strip_prefix("http://")
            .ok_or_else(|| bad("the load generator speaks http:// only"))?;
        let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
        let addr = host
            .to_socket_addrs()
            .map_err(|e| bad(&e.to_string()))?
            .next()
            .ok_or_else(|| bad("the host has no address"))?;
        let auth = plan
            .token
            .as_ref()
            .map(|t| format!("Authorization: Bearer {t}\r\n"))
            .unwrap_or_default();
        let requests = if plan.bodies.is_empty() {
            vec![format!("GET /{path} HTTP/1.1\r\nHost: {host}\r\n{auth}\r\n").into_bytes()]
        } else {
            plan.bodies
                .iter()
                .map(|body| {
                    let mut request = format!(
                        "POST /{path} HTTP/1.1\r\nHost: {host}\r\n{auth}Content-Type: {}\r\nContent-Length: {}\r\n\r\n",
                        plan.content_type,
                        body.len()
                    )
                    .into_bytes();
                    request.extend_from_slice(body);
                    request
                })
                .collect()
        };
        Ok(Self { addr, requests })
    }
}

/// Read one HTTP/1.1 answer (status line, headers, a `Content-Length` body); its status and body.
pub(crate) fn read_answer(
    reader: &mut BufReader<TcpStream>,
    line: &mut String,
) -> std::io::Result<(u16, Vec<u8>)> {
    line.clear();
    reader.read_line(line)?;
    let status = line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("not an HTTP answer: {line:?}")))?;
    let mut length = 0usize;
    loop {
        line.clear();
        if reader.read_line(line)? == 0 {
            return Err(std::io::Error::other("the connection closed mid-answer"));
        }
        let header = line.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse().unwrap_or(0);
        }
    }
    let mut rest = vec![0u8; length];
    reader.read_exact(&mut rest)?;
    Ok((status, rest))
}

/// One connection's share: the due requests it took, each (latency, send delay) in microseconds, and
/// its errors.
#[derive(Default)]
struct Share {
    latencies_us: Vec<u64>,
    delays_us: Vec<u64>,
    ok: u64,
    errors: u64,
    last_send: Option<Instant>,
}

/// Run `plan`: every request due in its duration is sent (late when no connection is free), then the
/// answers still out are awaited.
pub fn run(plan: &LoadPlan) -> Result<LoadOutcome, ServeError> {
    if !(plan.rate.is_finite() && plan.rate > 0.0) || plan.connections == 0 {
        return Err(ServeError::Load(
            "a load needs a positive rate and at least one connection".into(),
        ));
    }
    let target = Arc::new(Target::of(plan)?);
    let total = (plan.rate * plan.duration.as_secs_f64()).round() as u64;
    let next = Arc::new(AtomicU64::new(0));
    let interval = Duration::from_secs_f64(1.0 / plan.rate);
    // A moment for every thread to connect before the first request is due.
    let start = Instant::now() + Duration::from_millis(50);
    let give_up = plan.give_up_after.map(|d| start + d);
    let mut threads = Vec::with_capacity(plan.connections);
    for i in 0..plan.connections {
        let (target, next) = (target.clone(), next.clone());
        let thread = std::thread::Builder::new()
            .name(format!("kiln-load-{i}"))
            .spawn(move || connection(&target, &next, total, start, interval, give_up))
            .map_err(ServeError::Io)?;
        threads.push(thread);
    }
    let mut all = Share::default();
    for t in threads {
        let share = t
            .join()
            .map_err(|_| ServeError::Load("a load thread panicked".into()))?;
        all.latencies_us.extend(share.latencies_us);
        all.delays_us.extend(share.delays_us);
        all.ok += share.ok;
        all.errors += share.errors;
        all.last_send = all.last_send.max(share.last_send);
    }
    let sent = all.latencies_us.len() as u64;
    let span = all
        .last_send
        .map_or(0.0, |l| l.saturating_duration_since(start).as_secs_f64());
    // The last request is due (total - 1) intervals after the first: the rate counts the gaps.
    let achieved_rate = if span > 0.0 && sent > 1 {
        (sent - 1) as f64 / span
    } else {
        0.0
    };
    all.latencies_us.sort_unstable();
    all.delays_us.sort_unstable();
    let ms = |v: &[u64], q: f64| percentile(v, q) as f64 / 1_000.0;
    Ok(LoadOutcome {
        target_rate: plan.rate,
        achieved_rate,
        sent,
        ok: all.ok,
        errors: all.errors,
        unsent: total.saturating_sub(sent),
        p50_ms: ms(&all.latencies_us, 0.50),
        p99_ms: ms(&all.latencies_us, 0.99),
        p999_ms: ms(&all.latencies_us, 0.999),
        max_ms: all.latencies_us.last().map_or(0.0, |&m| m as f64 / 1_000.0),
        send_delay_p99_ms: ms(&all.delays_us, 0.99),
    })
}

/// The value at quantile `q` of sorted `v` (nearest rank); 0 when empty.
fn percentile(v: &[u64], q: f64) -> u64 {
    if v.is_empty() {
        return 0;
    }
    let rank = ((q * v.len() as f64).ceil() as usize).clamp(1, v.len());
    v[rank - 1]
}

/// One keep-alive connection taking due requests in turn until all are taken.
fn connection(
    target: &Target,
    next: &AtomicU64,
    total: u64,
    start: Instant,
    interval: Duration,
    give_up: Option<Instant>,
) -> Share {
    let mut share = Share::default();
    let mut line = String::new();
    let mut conn: Option<(TcpStream, BufReader<TcpStream>)> = None;
    loop {
        if give_up.is_some_and(|g| Instant::now() >= g) {
            return share;
        }
        let i = next.fetch_add(1, Ordering::Relaxed);
        if i >= total {
            return share;
        }
        let due = start + interval.mul_f64(i as f64);
        let now = Instant::now();
        if due > now {
            std::thread::sleep(due - now);
        }
        let sent_at = Instant::now();
        share.last_send = Some(sent_at);
        share
            .delays_us
            .push(sent_at.saturating_duration_since(due).as_micros() as u64);
        if conn.is_none() {
            conn = TcpStream::connect(target.addr).ok().and_then(|s| {
                let _ = s.set_nodelay(true);
                let _ = s.set_read_timeout(Some(Duration::from_mins(1)));
                let reader = BufReader::new(s.try_clone().ok()?);
                Some((s, reader))
            });
        }
        let answered = match &mut conn {
            Some((writer, reader)) => writer
                .write_all(&target.requests[(i % target.requests.len() as u64) as usize])
                .and_then(|()| read_answer(reader, &mut line))
                .map(|(status, _)| status),
            None => Err(std::io::Error::other("cannot connect")),
        };
        share
            .latencies_us
            .push(Instant::now().saturating_duration_since(due).as_micros() as u64);
        match answered {
            Ok(status) if (200..300).contains(&status) => share.ok += 1,
            Ok(_) => share.errors += 1,
            Err(_) => {
                share.errors += 1;
                conn = None;
            }
        }
    }
}
