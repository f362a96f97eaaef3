//! `kiln schedule` (add, list, remove, run, runs) and `kiln scheduler`, the long-lived process that runs
//! due jobs.

use std::io::Write;

use anyhow::Result;
use clap::Subcommand;
use kiln_core::schedule::{Job, every_text, parse_every};
use kiln_core::{Cancel, Workspace};
use serde_json::json;

#[derive(Debug, Subcommand)]
pub enum ScheduleSubcommand {
    /// Add a schedule: `pull DATASET --every 1h`, or `retrain MODEL --on-new-version DATASET`.
    Add {
        /// `pull` or `retrain`.
        kind: String,
        /// The dataset to pull, or the model to retrain.
        target: String,
        /// For `pull`: how often (30m, 1h, 1d). The first pull is due at once.
        #[arg(long)]
        every: Option<String>,
        /// For `retrain`: the dataset whose next new version starts it.
        #[arg(long)]
        on_new_version: Option<String>,
    },
    /// The schedules: what, when, the last run and its outcome.
    List,
    /// Remove a schedule (and its run history).
    Remove { id: i64 },
    /// Run a schedule now, due or not (refused while another scheduler runs it).
    Run { id: i64 },
    /// A schedule's runs, newest first, with what each started.
    Runs {
        id: i64,
        #[arg(long, default_value_t = 20)]
        limit: i64,
    },
}

#[derive(Debug, clap::Args)]
pub struct SchedulerArgs {
    /// Run what is due once and exit (for cron).
    #[arg(long)]
    pub once: bool,
    /// Seconds between looks at what is due.
    #[arg(long, default_value_t = 30)]
    pub interval_s: u64,
}

/// This scheduler's name in claims: host and process.
fn scheduler_name() -> String {
    format!("{}:{}", kiln_core::host_name(), std::process::id())
}

pub fn run(
    ws: &mut Workspace,
    cmd: &ScheduleSubcommand,
    json: bool,
    out: &mut dyn Write,
) -> Result<()> {
    let now = kiln_core::schedule::Utc::now();
    match cmd {
        ScheduleSubcommand::Add {
            kind,
            target,
            every,
            on_new_version,
        } => {
            let job = match (kind.as_str(), every, on_new_version) {
                ("pull", Some(every), None) => Job::Pull {
                    dataset: target.clone(),
                    every_s: parse_every(every)?,
                },
                ("retrain", None, Some(dataset)) => Job::Retrain {
                    model: target.clone(),
                    dataset: dataset.clone(),
                },
                ("pull", _, _) => anyhow::bail!("a pull schedule takes --every (e.g. --every 1h)"),
                ("retrain", _, _) => {
                    anyhow::bail!("a retrain schedule takes --on-new-version DATASET")
                }
                (other, _, _) => anyhow::bail!("`{other}` is not a schedule: use pull or retrain"),
            };
            let id = ws.add_schedule(&job, now)?;
            if json {
                return super::report::print_json(out, &json!({ "id": id }));
            }
            writeln!(
                out,
                "schedule {id} added: {}",
                describe(&ws.schedules()?, id)
            )?;
        }
        ScheduleSubcommand::List => {
            let schedules = ws.schedules()?;
            let mut rows = Vec::new();
            for s in &schedules {
                let last = ws.schedule_runs(s.id, 1)?.into_iter().next();
                rows.push(json!({
                    "id": s.id,
                    "job": describe(&schedules, s.id),
                    "next": s.next_at,
                    "running": s.claimed_by,
                    "last_run": last.as_ref().map(|r| &r.started_at),
                    "last_status": last.as_ref().map(|r| &r.status),
                    "last_error": last.as_ref().and_then(|r| r.error.clone()),
                    "last_chain": last.as_ref().map(|r| &r.chain),
                }));
            }
            if json {
                return super::report::print_json(out, &json!(rows));
            }
            if rows.is_empty() {
                writeln!(
                    out,
                    "no schedules (add one: kiln schedule add pull DATASET --every 1h)"
                )?;
            }
            for r in rows {
                writeln!(
                    out,
                    "{:>3}  {:<44} next {:<24} last {} {}{}",
                    r["id"],
                    r["job"].as_str().unwrap_or_default(),
                    r["next"].as_str().unwrap_or("on a new version"),
                    r["last_run"].as_str().unwrap_or("never"),
                    r["last_status"].as_str().unwrap_or_default(),
                    r["last_error"]
                        .as_str()
                        .map(|e| format!(": {e}"))
                        .unwrap_or_default()
                )?;
            }
        }
        ScheduleSubcommand::Remove { id } => {
            ws.remove_schedule(*id)?;
            if json {
                return super::report::print_json(out, &json!({ "removed": id }));
            }
            writeln!(out, "schedule {id} removed")?;
        }
        ScheduleSubcommand::Run { id } => {
            let run = ws.run_schedule(*id, now, &scheduler_name(), &Cancel::new())?;
            report_run(*id, &run, json, out)?;
            if run.status == "failed" {
                anyhow::bail!("schedule {id} failed: {}", run.error.unwrap_or_default());
            }
        }
        ScheduleSubcommand::Runs { id, limit } => {
            let runs = ws.schedule_runs(*id, *limit)?;
            if json {
                return super::report::print_json(out, &serde_json::to_value(&runs)?);
            }
            for r in &runs {
                report_run(*id, r, false, out)?;
            }
        }
    }
    Ok(())
}

/// A schedule in words.
fn describe(schedules: &[kiln_core::schedule::Schedule], id: i64) -> String {
    let Some(s) = schedules.iter().find(|s| s.id == id) else {
        return String::new();
    };
    match (s.kind.as_str(), s.every_s, &s.on_new_version) {
        ("pull", Some(e), _) => format!("pull {} every {}", s.target, every_text(e)),
        ("retrain", _, Some(d)) => format!("retrain {} on a new version of {d}", s.target),
        _ => format!("{} {}", s.kind, s.target),
    }
}

fn report_run(
    id: i64,
    r: &kiln_core::schedule::ScheduleRun,
    json: bool,
    out: &mut dyn Write,
) -> Result<()> {
    if json {
        return super::report::print_json(out, &serde_json::to_value(r)?);
    }
    let c = &r.chain;
    let mut what = Vec::new();
    if let Some(p) = c["pulled"].as_str() {
        what.push(format!("pulled {p}"));
    }
    for d in c["derived"].as_array().into_iter().flatten() {
        what.push(format!("derived {}", d.as_str().unwrap_or_default()));
    }
    if let Some(run) = c["run"].as_i64() {
        what.push(format!(
            "trained run {run} on {} → v{} (gates {})",
            c["dataset"].as_str().unwrap_or_default(),
            c["model_version"],
            if c["gates_passed"] == true {
                "passed"
            } else {
                "failed"
            }
        ));
    }
    if let Some(q) = c["request"].as_i64() {
        what.push(format!("release request {q} filed"));
    }
    writeln!(
        out,
        "schedule {id} run {} at {}: {}{}{}",
        r.id,
        r.started_at,
        r.status,
        r.error
            .as_ref()
            .map(|e| format!(" — {e}"))
            .unwrap_or_default(),
        if what.is_empty() {
            String::new()
        } else {
            format!(" — {}", what.join(", "))
        }
    )?;
    Ok(())
}

/// `kiln scheduler`: run what is due, then again every `interval_s`, until stopped (Ctrl+C, SIGTERM),
/// or once with `--once`.
pub fn run_scheduler(ws: &mut Workspace, args: &SchedulerArgs, out: &mut dyn Write) -> Result<()> {
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    if !args.once {
        let flag = stop.clone();
        ctrlc::set_handler(move || flag.store(true, std::sync::atomic::Ordering::Relaxed))?;
        writeln!(
            out,
            "scheduler {} running {} schedule(s); Ctrl+C stops it",
            scheduler_name(),
            ws.schedules()?.len()
        )?;
        out.flush()?;
    }
    let who = scheduler_name();
    loop {
        for (id, r) in ws.run_due(kiln_core::schedule::Utc::now(), &who, &Cancel::new())? {
            match r {
                Ok(run) => report_run(id, &run, false, out)?,
                Err(e) => writeln!(out, "schedule {id}: {e}")?,
            }
        }
        out.flush()?;
        if args.once {
            return Ok(());
        }
        let wake = std::time::Instant::now() + std::time::Duration::from_secs(args.interval_s);
        while std::time::Instant::now() < wake {
            if stop.load(std::sync::atomic::Ordering::Relaxed) {
                return Ok(());
            }
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
    }
}
