//! `kiln serve`: a model version behind the HTTP API until Ctrl+C.

use std::io::Write;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use serde_json::json;

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// NAME@ALIAS (`champion`, `staging`) or NAME@VERSION; a bare NAME means NAME@champion. The server
    /// follows the alias: when it moves, the new version answers without dropping a request.
    #[arg(long, required_unless_present = "bundle", conflicts_with = "bundle")]
    pub model: Option<String>,
    /// Serve an exported bundle (`kiln models export`) instead: no workspace is needed; a bundle whose
    /// files do not match its manifest is refused.
    #[arg(long)]
    pub bundle: Option<PathBuf>,
    /// Serve as this environment (`kiln env list`): the model's version in it (its alias), and its
    /// serving settings where the flags below are not given.
    #[arg(long, conflicts_with = "bundle")]
    pub env: Option<String>,
    /// Address to listen on (loopback by default; use 0.0.0.0 to accept other machines).
    #[arg(long)]
    pub host: Option<IpAddr>,
    /// Port (default 8080).
    #[arg(long)]
    pub port: Option<u16>,
    /// Requests without `Authorization: Bearer TOKEN` get 401 (health probes excepted).
    #[arg(long, env = "KILN_SERVE_TOKEN")]
    pub token: Option<String>,
    /// Largest request body in KiB (larger: 413).
    #[arg(long, default_value_t = 1024)]
    pub body_limit_kb: usize,
    /// Requests waiting for the model at most (more: 503 with Retry-After).
    #[arg(long, default_value_t = 4096)]
    pub queue: usize,
    /// Log the input features of one predicted row in this many (1 = all).
    #[arg(long, default_value_t = 1)]
    pub log_every: u64,
    /// A/B test: NAME@ALIAS (or ALIAS) of the challenger version of the same model.
    #[arg(long)]
    pub challenger: Option<String>,
    /// The challenger's share of requests (with `--challenger`).
    #[arg(long, default_value_t = 0.1, requires = "challenger")]
    pub split: f64,
    /// A prediction not back within this many milliseconds fails (or gets `--fallback-class`).
    #[arg(long)]
    pub deadline_ms: Option<u64>,
    /// Answer this class, marked `"fallback": true`, when the model cannot answer in time.
    #[arg(long)]
    pub fallback_class: Option<String>,
    /// Keep the alias's previous version (the previous champion) loaded: it answers, marked
    /// `"fallback": true`, when the current one fails to load, misses the deadline or is overloaded.
    #[arg(long)]
    pub fallback_previous: bool,
    /// `thompson`: allocate traffic by Thompson sampling on feedback instead of a fixed split.
    #[arg(long, value_parser = ["thompson"], requires = "challenger")]
    pub bandit: Option<String>,
    /// Shadow: NAME@ALIAS (or ALIAS) of another version of the same model that gets a copy of every
    /// answered request off the request path; its answers are logged beside the champion's (`kiln monitor
    /// shadow`), never sent to a client.
    #[arg(long)]
    pub shadow: Option<String>,
    /// Copies waiting for the shadow at most; more are dropped (and counted) while it is behind.
    #[arg(long, default_value_t = 1024, requires = "shadow")]
    pub shadow_queue: usize,
    /// Slow the shadow by this many milliseconds per row (tests: a shadow that falls behind).
    #[arg(long, hide = true, requires = "shadow")]
    pub shadow_debug_delay_ms: Option<u64>,
    /// Most requests answered in one forward pass (dynamic batching: requests waiting together are
    /// answered together).
    #[arg(long, default_value_t = 64)]
    pub max_batch: usize,
    /// How long a batch's first request waits for others, in microseconds (0: only those already
    /// waiting join; a wait adds up to this much latency for fuller batches).
    #[arg(long, default_value_t = 0)]
    pub batch_wait_us: u64,
    /// Answer without writing the request log (load tests: synthetic traffic stays out of the Monitor).
    #[arg(long)]
    pub no_request_log: bool,
    /// Slow every prediction by this many milliseconds per row (tests of the capacity gate).
    #[arg(long, hide = true)]
    pub debug_delay_ms: Option<u64>,
}

/// The alias in `NAME@ALIAS` (or a bare `ALIAS`), which must name a version of `model`.
fn same_model_alias(model: &str, given: &str, role: &str) -> Result<String> {
    let alias = given
        .split_once('@')
        .map_or(given, |(m, a)| if m == model { a } else { "" });
    anyhow::ensure!(
        !alias.is_empty(),
        "the {role} must be a version of `{model}` (NAME@ALIAS)"
    );
    Ok(alias.to_owned())
}

pub fn run(root: PathBuf, args: &ServeArgs, json_out: bool, out: &mut dyn Write) -> Result<()> {
    let given = args.model.clone().unwrap_or_default();
    let env = match &args.env {
        Some(name) => {
            anyhow::ensure!(
                !given.contains('@'),
                "--env {name} names the version (its alias): give the model alone (--model NAME)"
            );
            Some(kiln_core::Workspace::open(&root)?.environment(name)?)
        }
        None => None,
    };
    let (model, alias) = match &env {
        Some(e) => (given.as_str(), e.alias.as_str()),
        None => given
            .split_once('@')
            .unwrap_or((given.as_str(), "champion")),
    };
    let settings = env.as_ref().map(|e| e.settings.clone()).unwrap_or_default();
    let mut config = match &args.bundle {
        Some(dir) => {
            // What to call it; the server checks the bundle against its manifest as it loads it.
            let info = kiln_core::bundle::bundle_info(dir)?;
            let mut c = kiln_serve::ServeConfig::for_bundle(dir.clone());
            c.model.clone_from(&info.model);
            c.alias = info.version.to_string();
            c
        }
        None => kiln_serve::ServeConfig::new(root, model, alias),
    };
    let (model, alias) = (config.model.clone(), config.alias.clone());
    let model = model.as_str();
    let host = match (args.host, &settings.host) {
        (Some(h), _) => h,
        (None, Some(h)) => h
            .parse()
            .with_context(|| format!("the environment's host `{h}` is not an address"))?,
        (None, None) => IpAddr::from([127, 0, 0, 1]),
    };
    config.addr = SocketAddr::new(host, args.port.or(settings.port).unwrap_or(8080));
    config.token.clone_from(&args.token);
    if config.token.is_none()
        && let Some(var) = &settings.token_env
    {
        config.token = Some(std::env::var(var).map_err(|_| {
            anyhow::anyhow!(
                "environment {} takes its token from ${var}, which is not set",
                args.env.as_deref().unwrap_or_default()
            )
        })?);
    }
    config.body_limit = args.body_limit_kb.max(1) * 1024;
    config.queue = args.queue.max(1);
    config.log_every = args.log_every.max(1);
    config.deadline_ms = args.deadline_ms.or(settings.deadline_ms);
    config.fallback_class = args
        .fallback_class
        .clone()
        .or(settings.fallback_class.clone());
    config.fallback_previous = args.fallback_previous || settings.fallback_previous;
    config.discard_log = args.no_request_log || args.bundle.is_some();
    anyhow::ensure!(args.max_batch >= 1, "--max-batch is at least 1");
    config.max_batch = args.max_batch;
    config.batch_wait_us = args.batch_wait_us;
    if let Some(sh) = &args.shadow {
        config.shadow = Some(same_model_alias(model, sh, "shadow")?);
        config.shadow_queue = args.shadow_queue.max(1);
        config.shadow_debug_delay_ms = args.shadow_debug_delay_ms;
    }
    config.debug_delay_ms = args.debug_delay_ms;
    if let Some(c) = &args.challenger {
        let alias = same_model_alias(model, c, "challenger")?;
        anyhow::ensure!(
            (0.0..=1.0).contains(&args.split),
            "--split is a share between 0 and 1"
        );
        config.challenger = Some(alias);
        config.split = args.split;
        config.bandit = args.bandit.is_some();
    }
    let running = kiln_serve::start(config).context("starting the server")?;
    let (stop_tx, stop_rx) = std::sync::mpsc::channel();
    ctrlc::set_handler(move || {
        let _ = stop_tx.send(());
    })
    .context("installing the Ctrl+C handler")?;
    if json_out {
        super::report::print_json(
            out,
            &json!({ "model": model, "alias": alias, "url": format!("http://{}", running.addr) }),
        )?;
    } else {
        writeln!(
            out,
            "serving {model}@{alias} on http://{} (Ctrl+C or SIGTERM stops it, after the request log is written)",
            running.addr
        )?;
        writeln!(
            out,
            "  POST /v1/predict {{\"rows\": [{{...}}]}} · GET /v1/model · POST /v1/feedback · KServe V2 under /v2"
        )?;
    }
    out.flush()?;
    let _ = stop_rx.recv();
    running.stop().context("stopping the server")?;
    Ok(())
}
