//! `kiln drift`: data drift between two dataset versions.

use std::io::Write;

use anyhow::Result;
use clap::Args;
use kiln_core::Workspace;

#[derive(Debug, Args)]
pub struct DriftArgs {
    /// NAME[@VERSION] of the reference data.
    pub reference: String,
    /// NAME[@VERSION] of the current data (or `--served MODEL`).
    #[arg(required_unless_present = "served")]
    pub current: Option<String>,
    /// Compare the inputs MODEL was served (as logged by `kiln serve`) instead of a dataset version.
    #[arg(long, conflicts_with = "current")]
    pub served: Option<String>,
    /// With `--served`: only requests at or after this ISO time.
    #[arg(long, requires = "served")]
    pub since: Option<String>,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// The served model.
    pub model: String,
    /// Most failed requests, as a share (0.05 = 5 %).
    #[arg(long, default_value_t = 0.05)]
    pub max_error_rate: f64,
    /// Most answers by the fallback, as a share.
    #[arg(long, default_value_t = 0.05)]
    pub max_fallback_rate: f64,
    /// Slowest p99 time per row, in milliseconds.
    #[arg(long)]
    pub max_p99_ms: Option<f64>,
    /// Least share right among predictions labelled back through feedback.
    #[arg(long)]
    pub min_feedback_accuracy: Option<f64>,
    /// Fail when the served inputs drifted from this dataset version (NAME@VERSION).
    #[arg(long)]
    pub drift_reference: Option<String>,
}

#[derive(Debug, Args)]
pub struct ShadowArgs {
    /// The served model.
    pub model: String,
    /// Only requests at or after this ISO time.
    #[arg(long)]
    pub since: Option<String>,
}

/// `kiln monitor shadow`: how the shadow answered beside the champion.
pub fn run_shadow(
    ws: &Workspace,
    args: &ShadowArgs,
    json_out: bool,
    out: &mut dyn Write,
) -> Result<()> {
    let s = ws.shadow_summary(&args.model, args.since.as_deref())?;
    if json_out {
        let mut doc = serde_json::to_value(&s)?;
        doc["sentence"] = serde_json::json!(s.sentence());
        return super::report::print_json(out, &doc);
    }
    writeln!(out, "{}", s.sentence())?;
    for (a, b, n) in s.flips.iter().take(10) {
        writeln!(out, "  champion {a} · shadow {b}: {n}")?;
    }
    if let Some(e) = &s.last_error {
        writeln!(out, "last failure: {e}")?;
    }
    Ok(())
}

/// `kiln monitor check`: exit 1 when a threshold is crossed (for cron and CI).
pub fn run_check(
    ws: &Workspace,
    args: &CheckArgs,
    json_out: bool,
    out: &mut dyn Write,
) -> Result<()> {
    let health = ws
        .serving_health()?
        .into_iter()
        .find(|h| h.model == args.model)
        .ok_or_else(|| anyhow::anyhow!("`{}` has not answered any request", args.model))?;
    let mut checks: Vec<(String, bool)> = vec![(
        format!(
            "failed requests {:.2}% ≤ {:.2}%",
            health.error_rate * 100.0,
            args.max_error_rate * 100.0
        ),
        health.error_rate <= args.max_error_rate,
    )];
    checks.push((
        format!(
            "fallback answers {:.2}% ≤ {:.2}%",
            health.fallback_rate * 100.0,
            args.max_fallback_rate * 100.0
        ),
        health.fallback_rate <= args.max_fallback_rate,
    ));
    if let Some(max) = args.max_p99_ms {
        checks.push((
            format!("p99 {:.3} ms ≤ {max} ms", health.latency_p99_ms),
            health.latency_p99_ms <= max,
        ));
    }
    if let Some(min) = args.min_feedback_accuracy {
        match health.accuracy_on_feedback {
            Some(a) => checks.push((format!("right on feedback {a:.4} ≥ {min}"), a >= min)),
            None => checks.push(("right on feedback: no labelled feedback yet".into(), true)),
        }
    }
    if let Some(r) = &args.drift_reference {
        let d = ws.served_drift(r, &args.model, None)?;
        checks.push((
            format!(
                "served inputs against {r}: {} of {} columns drifted",
                d.drifted_columns,
                d.columns.len()
            ),
            !d.dataset_drift,
        ));
    }
    let ok = checks.iter().all(|(_, pass)| *pass);
    if json_out {
        super::report::print_json(
            out,
            &serde_json::json!({
                "model": args.model,
                "ok": ok,
                "health": health,
                "checks": checks.iter().map(|(t, p)| serde_json::json!({ "check": t, "passed": p })).collect::<Vec<_>>(),
            }),
        )?;
    } else {
        for (t, p) in &checks {
            writeln!(out, "[{}] {t}", if *p { "ok" } else { "ALERT" })?;
        }
        if health.replicas.len() > 1 {
            writeln!(out, "{} servers answered:", health.replicas.len())?;
            for r in &health.replicas {
                writeln!(
                    out,
                    "  {:<28} {:>8} requests  {:>5} failed  p99 {:.2} ms  last {}",
                    r.replica, r.requests, r.errors, r.latency_p99_ms, r.last_at
                )?;
            }
        }
    }
    if !ok {
        anyhow::bail!("{} needs attention", args.model);
    }
    Ok(())
}

pub fn run_drift(
    ws: &Workspace,
    args: &DriftArgs,
    json_out: bool,
    out: &mut dyn Write,
) -> Result<()> {
    let r = match (&args.current, &args.served) {
        (Some(c), _) => ws.drift(&args.reference, c)?,
        (None, Some(m)) => ws.served_drift(&args.reference, m, args.since.as_deref())?,
        (None, None) => anyhow::bail!("give a CURRENT version or --served MODEL"),
    };
    if json_out {
        return super::report::print_json(out, &serde_json::to_value(&r)?);
    }
    writeln!(
        out,
        "{} of {} columns drifted ({} reference rows, {} current){}",
        r.drifted_columns,
        r.columns.len(),
        r.reference_rows,
        r.current_rows,
        if r.dataset_drift {
            ": the dataset drifted"
        } else {
            ""
        }
    )?;
    writeln!(
        out,
        "{:<24} {:<14} {:>12} {:>12} {:>8}  drifted",
        "column", "method", "statistic", "p-value", "PSI"
    )?;
    for c in &r.columns {
        writeln!(
            out,
            "{:<24} {:<14} {:>12.6} {:>12} {:>8.4}  {}",
            c.name,
            c.method,
            c.statistic,
            c.p_value.map_or_else(|| "-".into(), |p| format!("{p:.6}")),
            c.psi,
            if c.drifted { "yes" } else { "no" }
        )?;
    }
    Ok(())
}
