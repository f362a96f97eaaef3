//! `kiln users`, `kiln models`, `kiln release`, `kiln audit`, `kiln gate` and `kiln retrain`: the model
//! registry and release approval from scripts and CI. `--by` defaults to the OS user.

use std::io::Write;

use anyhow::{Result, bail};
use clap::{Args, Subcommand};
use kiln_core::Workspace;
use kiln_core::release::{Brief, ReleaseReport, Role, Target};
use serde_json::json;

use super::report::print_json;

pub(super) fn by_default() -> String {
    kiln_core::current_user()
}

#[derive(Debug, Subcommand)]
pub enum UsersSubcommand {
    /// Add a user or change a role. The first user is the workspace's admin (`--role admin`), who then
    /// adds the others; only an admin manages users. On a team workspace a new user is a PostgreSQL login
    /// with a password (asked for, or read from standard input), and the database checks the admin.
    Add {
        name: String,
        /// data-scientist, approver or admin.
        #[arg(long)]
        role: String,
        #[arg(long, default_value_t = by_default())]
        by: String,
        /// Team workspace: read the new user's password from standard input (one line).
        #[arg(long)]
        password_stdin: bool,
    },
    /// Every workspace user with their role.
    List,
}

#[derive(Debug, Subcommand)]
pub enum ModelsSubcommand {
    /// Register a run's model as the next version of a named model.
    Register {
        #[arg(long)]
        run: i64,
        #[arg(long)]
        name: String,
        /// poc (a prototype for early vetting) or candidate.
        #[arg(long, default_value = "candidate")]
        stage: String,
        #[arg(long, default_value_t = by_default())]
        by: String,
    },
    /// Every model with its champion and versions.
    List,
    /// A model: brief, versions, aliases, requests, comments; with `--version`, that version's card.
    Show {
        name: String,
        #[arg(long)]
        version: Option<i64>,
    },
    /// Set the product brief: problem, owner, product metric, success targets (the default gates), the
    /// evaluation data, and gains over the champion. Fields not given keep their value.
    Brief(BriefArgs),
    /// Comment on a model or a version; `--accept` / `--not-accepted` records the verdict on a POC.
    Comment {
        name: String,
        #[arg(long)]
        version: Option<i64>,
        #[arg(long)]
        text: String,
        #[arg(long, conflicts_with = "not_accepted")]
        accept: bool,
        #[arg(long)]
        not_accepted: bool,
        #[arg(long, default_value_t = by_default())]
        by: String,
    },
    /// Change a version's stage (poc, candidate, archived).
    Stage {
        name: String,
        #[arg(long)]
        version: i64,
        stage: String,
        #[arg(long, default_value_t = by_default())]
        by: String,
    },
    /// Write a version as a self-contained bundle a server machine serves without the workspace
    /// (`kiln serve --bundle DIR`): weights, features, classes, model card, the versions it was built
    /// with, and a manifest of blake3 hashes.
    Export {
        /// NAME@ALIAS (`champion`, `staging`) or NAME@VERSION; a bare NAME means NAME@champion.
        model: String,
        /// A new (or empty) folder.
        #[arg(long)]
        out: std::path::PathBuf,
    },
    /// Point an alias (e.g. `staging`) at a version; `champion` moves only through `kiln release`.
    Alias {
        name: String,
        alias: String,
        #[arg(long)]
        version: i64,
        #[arg(long, default_value_t = by_default())]
        by: String,
    },
}

#[derive(Debug, Args)]
pub struct BriefArgs {
    pub name: String,
    #[arg(long)]
    pub problem: Option<String>,
    #[arg(long)]
    pub owner: Option<String>,
    #[arg(long)]
    pub product_metric: Option<String>,
    /// `accuracy>=0.95`, `recall:CLASS>=0.9`, `latency_p99_ms<=20`; repeat. Replaces the targets.
    #[arg(long = "target")]
    pub targets: Vec<String>,
    /// NAME@VERSION of the evaluation data (its `test` rows when it has a `split` column; rows a compared
    /// version trained or validated on are always left out).
    #[arg(long)]
    pub eval: Option<String>,
    /// Least accuracy gain over the champion (0.01 = one point).
    #[arg(long)]
    pub min_gain: Option<f64>,
    /// Least relative accuracy gain over the champion (0.02 = 2 %).
    #[arg(long)]
    pub min_rel_gain: Option<f64>,
    #[arg(long, default_value_t = by_default())]
    pub by: String,
}

#[derive(Debug, Subcommand)]
pub enum ReleaseSubcommand {
    /// Ask for a version to become champion: gates, statistics and the change record are attached.
    Request {
        name: String,
        #[arg(long)]
        version: i64,
        #[arg(long, default_value = "")]
        notes: String,
        #[arg(long, default_value_t = by_default())]
        by: String,
    },
    /// Approve a pending request (an approver or admin other than its requester).
    Approve {
        request: i64,
        #[arg(long)]
        comment: String,
        /// An admin's written reason to release despite a failed gate.
        #[arg(long = "override")]
        override_reason: Option<String>,
        #[arg(long, default_value_t = by_default())]
        by: String,
    },
    /// Turn down a pending request, saying why (an approver or admin other than its requester); the
    /// champion stays where it is.
    Reject {
        request: i64,
        /// Why: kept with the request and in the audit log.
        #[arg(long)]
        comment: String,
        #[arg(long, default_value_t = by_default())]
        by: String,
    },
    /// Move `champion` back to the version before it.
    Rollback {
        name: String,
        #[arg(long)]
        comment: String,
        #[arg(long, default_value_t = by_default())]
        by: String,
    },
    /// Release requests, newest last: status, model, version, requester and whether the gates passed.
    List {
        /// Only the requests still waiting for a decision.
        #[arg(long)]
        pending: bool,
        /// Only this model's requests.
        #[arg(long)]
        model: Option<String>,
    },
    /// Two versions on the model's evaluation rows that neither trained on: the exact `McNemar` test and
    /// a paired bootstrap interval.
    Compare { name: String, a: i64, b: i64 },
    /// The requests the champion answered in production (features logged) run through a candidate and
    /// the champion: agreement, the classes that flip, and which was right where a label came back.
    Replay {
        name: String,
        /// The candidate version.
        #[arg(long)]
        version: i64,
        /// Only requests served at or after this time (ISO 8601, e.g. 2026-12-01 or 2026-12-01T09:00).
        #[arg(long)]
        since: Option<String>,
        /// Only the most recent N requests.
        #[arg(long)]
        limit: Option<usize>,
    },
    /// Start the version's server on loopback and drive it at a constant request rate — the brief's
    /// `throughput_rps`, then rising rates — to find the highest rate that meets its latency targets;
    /// kept on the version as the evidence of its serving gates.
    Capacity(CapacityArgs),
}

#[derive(Debug, Args)]
pub struct CapacityArgs {
    pub name: String,
    #[arg(long)]
    pub version: i64,
    /// The first step's requests per second (default: the brief's `throughput_rps`, else 100).
    #[arg(long)]
    pub rate: Option<f64>,
    /// Seconds of load per step.
    #[arg(long, default_value_t = 5.0)]
    pub seconds: f64,
    /// Keep-alive connections the load generator uses (at most this many requests in flight).
    #[arg(long, default_value_t = 32)]
    pub connections: usize,
    /// Most steps: the required rate, rising rates, then between the last held and the first missed.
    #[arg(long, default_value_t = 8)]
    pub max_steps: usize,
    /// Start the server with this command instead of this program, as a JSON array to which
    /// `--workspace … serve …` is appended: `["taskset","-c","2-3","kiln"]` pins it to cores like
    /// production, `["/opt/kiln-next/kiln"]` measures another build.
    #[arg(long)]
    pub server_command: Option<String>,
    /// Slow the server by this many milliseconds per row (to see the gate fail).
    #[arg(long, hide = true)]
    pub debug_delay_ms: Option<u64>,
    #[arg(long, default_value_t = by_default())]
    pub by: String,
}

#[derive(Debug, Subcommand)]
pub enum AuditSubcommand {
    /// Check the hash chain; names the first edited, deleted or reordered row (exit 1).
    Verify,
    /// The audit log (up to `--at TIME`), and which version of each model was champion then.
    Log {
        #[arg(long)]
        at: Option<String>,
    },
}

#[derive(Debug, Args)]
pub struct GateArgs {
    pub name: String,
    #[arg(long)]
    pub version: i64,
}

#[derive(Debug, Args)]
pub struct RetrainArgs {
    pub name: String,
    /// NAME or NAME@latest (default: the champion's dataset, newest version).
    #[arg(long)]
    pub dataset: Option<String>,
    #[arg(long, default_value_t = by_default())]
    pub by: String,
}

pub fn run_users(
    ws: &mut Workspace,
    cmd: &UsersSubcommand,
    json_out: bool,
    out: &mut dyn Write,
) -> Result<()> {
    match cmd {
        UsersSubcommand::Add {
            name,
            role,
            by,
            password_stdin,
        } => {
            let Some(r) = Role::parse(role) else {
                bail!("unknown role `{role}` (data-scientist, approver, admin)");
            };
            if ws.team().is_some() {
                ws.who(by)?;
                let known = ws.users()?.iter().any(|u| &u.name == name);
                let password = if *password_stdin {
                    let mut line = String::new();
                    std::io::stdin().read_line(&mut line)?;
                    Some(line.trim_end_matches(['\n', '\r']).to_owned())
                } else if known {
                    None
                } else {
                    Some(rpassword::prompt_password(format!(
                        "password for {name}: "
                    ))?)
                };
                if password.as_deref().is_some_and(str::is_empty) {
                    bail!("an empty password is refused");
                }
                ws.set_team_user(name, r, password.as_deref())?;
            } else if *password_stdin {
                bail!(
                    "a local workspace has no passwords: its users are names (drop --password-stdin)"
                );
            } else {
                ws.set_user(name, r, by)?;
            }
            if json_out {
                return print_json(out, &json!({ "name": name, "role": role }));
            }
            writeln!(out, "{name}: {role}")?;
        }
        UsersSubcommand::List => {
            let users = ws.users()?;
            if json_out {
                return print_json(out, &serde_json::to_value(users)?);
            }
            for u in users {
                writeln!(out, "{:<20} {}", u.name, u.role)?;
            }
        }
    }
    Ok(())
}

fn print_report(r: &ReleaseReport, out: &mut dyn Write) -> Result<()> {
    writeln!(
        out,
        "{} v{} on {} ({} rows): accuracy {:.4}, latency p99 {:.3} ms",
        r.model,
        r.version,
        r.eval_dataset,
        r.candidate.rows,
        r.candidate.accuracy,
        r.candidate.latency_p99_ms
    )?;
    writeln!(out, "judged on {}", r.held_out.sentence())?;
    if let (Some(v), Some(c)) = (r.champion_version, &r.champion) {
        writeln!(out, "champion v{v}: accuracy {:.4}", c.accuracy)?;
    }
    if let Some(v) = &r.verdict {
        writeln!(out, "{v}")?;
    }
    if r.gates.is_empty() {
        writeln!(
            out,
            "no gates set (kiln models brief {} --target ...)",
            r.model
        )?;
    }
    print_gates(&r.gates, out)
}

/// Each gate on a line: pass or FAIL, the gate, its value.
fn print_gates(gates: &[kiln_core::release::GateResult], out: &mut dyn Write) -> Result<()> {
    for g in gates {
        writeln!(
            out,
            "  [{}] {}  (value {})",
            if g.passed { "pass" } else { "FAIL" },
            g.gate,
            g.value
                .map_or_else(|| "missing".into(), |v| format!("{v:.4}"))
        )?;
    }
    Ok(())
}

pub fn run_models(
    ws: &mut Workspace,
    cmd: &ModelsSubcommand,
    json_out: bool,
    out: &mut dyn Write,
) -> Result<()> {
    match cmd {
        ModelsSubcommand::Register {
            run,
            name,
            stage,
            by,
        } => {
            let version = ws.register_model(*run, name, stage, by)?;
            if json_out {
                return print_json(
                    out,
                    &json!({ "model": name, "version": version, "run": run, "stage": stage }),
                );
            }
            writeln!(out, "registered run {run} as {name} v{version} ({stage})")?;
        }
        ModelsSubcommand::List => {
            let mut list = Vec::new();
            for m in ws.models()? {
                let o = ws.overview(&m.name)?;
                list.push(json!({ "name": o.name, "versions": o.versions.len(), "champion": o.champion, "staging": o.staging }));
            }
            if json_out {
                return print_json(out, &json!(list));
            }
            for m in list {
                writeln!(
                    out,
                    "{:<20} versions {:<3} champion {}",
                    m["name"].as_str().unwrap_or_default(),
                    m["versions"],
                    m["champion"]
                )?;
            }
        }
        ModelsSubcommand::Show { name, version } => {
            if let Some(v) = version {
                let card = ws.model_card(name, *v)?;
                if json_out {
                    return print_json(out, &serde_json::to_value(card)?);
                }
                writeln!(
                    out,
                    "{name} v{v} ({}) from run {}",
                    card.version.stage, card.run.id
                )?;
                writeln!(
                    out,
                    "trained on {}@{} (blake3 {})",
                    card.training_data.dataset,
                    card.training_data.version,
                    card.training_data.content_hash
                )?;
                for l in &card.lineage {
                    writeln!(out, "  from {}@{} ({})", l.dataset, l.version, l.operation)?;
                }
                writeln!(out, "params {}", card.run.params)?;
                writeln!(out, "metrics {}", card.run.metrics)?;
                return Ok(());
            }
            let o = ws.overview(name)?;
            if json_out {
                return print_json(out, &serde_json::to_value(o)?);
            }
            writeln!(out, "{name}: {}", o.brief.problem)?;
            writeln!(out, "champion {:?}, staging {:?}", o.champion, o.staging)?;
            for v in &o.versions {
                writeln!(
                    out,
                    "  v{} run {} {} by {}",
                    v.version, v.run_id, v.stage, v.created_by
                )?;
            }
        }
        ModelsSubcommand::Brief(a) => {
            let mut brief = if ws.models()?.iter().any(|m| m.name == a.name) {
                ws.brief(&a.name)?
            } else {
                Brief::default()
            };
            if let Some(p) = &a.problem {
                brief.problem.clone_from(p);
            }
            if let Some(o) = &a.owner {
                brief.owner.clone_from(o);
            }
            if let Some(m) = &a.product_metric {
                brief.product_metric.clone_from(m);
            }
            if !a.targets.is_empty() {
                brief.targets = a
                    .targets
                    .iter()
                    .map(|t| Target::parse(t))
                    .collect::<Result<_, _>>()?;
            }
            if let Some(e) = &a.eval {
                brief.eval_dataset = Some(e.clone());
            }
            if a.min_gain.is_some() {
                brief.min_gain = a.min_gain;
            }
            if a.min_rel_gain.is_some() {
                brief.min_rel_gain = a.min_rel_gain;
            }
            ws.set_brief(&a.name, &brief, &a.by)?;
            if json_out {
                return print_json(out, &serde_json::to_value(&brief)?);
            }
            writeln!(
                out,
                "brief of {} saved ({} targets)",
                a.name,
                brief.targets.len()
            )?;
        }
        ModelsSubcommand::Comment {
            name,
            version,
            text,
            accept,
            not_accepted,
            by,
        } => {
            let verdict = if *accept {
                Some(true)
            } else if *not_accepted {
                Some(false)
            } else {
                None
            };
            ws.comment(name, *version, by, text, verdict)?;
            if json_out {
                return print_json(
                    out,
                    &json!({ "model": name, "version": version, "accepted": verdict }),
                );
            }
            writeln!(out, "comment saved")?;
        }
        ModelsSubcommand::Stage {
            name,
            version,
            stage,
            by,
        } => {
            ws.set_stage(name, *version, stage, by)?;
            if json_out {
                return print_json(
                    out,
                    &json!({ "model": name, "version": version, "stage": stage }),
                );
            }
            writeln!(out, "{name} v{version} is now {stage}")?;
        }
        ModelsSubcommand::Export { model, out: dir } => {
            let (name, alias) = model
                .split_once('@')
                .unwrap_or((model.as_str(), "champion"));
            let info = ws.export_bundle(name, alias, dir)?;
            if json_out {
                let mut doc = serde_json::to_value(&info)?;
                doc["bundle"] = json!(dir.display().to_string());
                return print_json(out, &doc);
            }
            writeln!(
                out,
                "{} v{} written to {} (serve it with kiln serve --bundle {})",
                info.model,
                info.version,
                dir.display(),
                dir.display()
            )?;
        }
        ModelsSubcommand::Alias {
            name,
            alias,
            version,
            by,
        } => {
            ws.set_alias(name, alias, *version, by)?;
            if json_out {
                return print_json(
                    out,
                    &json!({ "model": name, "alias": alias, "version": version }),
                );
            }
            writeln!(out, "{name}@{alias} → v{version}")?;
        }
    }
    Ok(())
}

pub fn run_release(
    ws: &mut Workspace,
    cmd: &ReleaseSubcommand,
    json_out: bool,
    out: &mut dyn Write,
) -> Result<()> {
    match cmd {
        ReleaseSubcommand::Request {
            name,
            version,
            notes,
            by,
        } => {
            let (id, report) = ws.request_release(name, *version, by, notes)?;
            if json_out {
                let mut doc = serde_json::to_value(&report)?;
                doc["request_id"] = json!(id);
                return print_json(out, &doc);
            }
            writeln!(out, "request {id} filed")?;
            print_report(&report, out)?;
        }
        ReleaseSubcommand::Approve {
            request,
            comment,
            override_reason,
            by,
        } => {
            ws.approve(*request, by, comment, override_reason.as_deref())?;
            let r = ws.request(*request)?;
            if json_out {
                return print_json(out, &serde_json::to_value(r)?);
            }
            writeln!(
                out,
                "request {request} approved: {} v{} is champion",
                r.model, r.version
            )?;
        }
        ReleaseSubcommand::Reject {
            request,
            comment,
            by,
        } => {
            ws.reject(*request, by, comment)?;
            if json_out {
                return print_json(out, &serde_json::to_value(ws.request(*request)?)?);
            }
            writeln!(out, "request {request} rejected")?;
        }
        ReleaseSubcommand::Rollback { name, comment, by } => {
            let (from, to) = ws.rollback(name, by, comment)?;
            if json_out {
                return print_json(out, &json!({ "model": name, "from": from, "to": to }));
            }
            writeln!(out, "{name}@champion: v{from} → v{to}")?;
        }
        ReleaseSubcommand::List { pending, model } => {
            let list = ws.requests(model.as_deref(), *pending)?;
            if json_out {
                return print_json(out, &serde_json::to_value(list)?);
            }
            for r in list {
                writeln!(
                    out,
                    "request {:<4} {:<10} {} v{}  by {}  gates {}",
                    r.id,
                    r.status,
                    r.model,
                    r.version,
                    r.requested_by,
                    if r.report["gates_passed"].as_bool().unwrap_or(false) {
                        "pass"
                    } else {
                        "FAIL"
                    }
                )?;
            }
        }
        ReleaseSubcommand::Compare { name, a, b } => {
            let (c, verdict, held_out) = ws.compare_versions(name, *a, *b)?;
            if json_out {
                let mut doc = serde_json::to_value(&c)?;
                doc["verdict"] = json!(verdict);
                doc["held_out"] = serde_json::to_value(&held_out)?;
                return print_json(out, &doc);
            }
            writeln!(out, "{verdict}")?;
            writeln!(out, "judged on {}", held_out.sentence())?;
        }
        ReleaseSubcommand::Capacity(a) => run_capacity(ws, a, json_out, out)?,
        ReleaseSubcommand::Replay {
            name,
            version,
            since,
            limit,
        } => {
            let r = ws.replay(name, *version, since.as_deref(), *limit)?;
            if json_out {
                let mut doc = serde_json::to_value(&r)?;
                doc["sentence"] = json!(r.sentence());
                return print_json(out, &doc);
            }
            writeln!(out, "{}", r.sentence())?;
            let flips: Vec<_> = r.flips.iter().filter(|(a, b, _)| a != b).collect();
            if !flips.is_empty() {
                writeln!(out, "answers that change (champion · candidate):")?;
                for (a, b, n) in flips {
                    writeln!(out, "  {a} · {b}: {n}")?;
                }
            }
            if r.labelled > 0 {
                writeln!(
                    out,
                    "on the {} requests with a label: champion right {}, candidate right {}",
                    r.labelled, r.champion_right, r.candidate_right
                )?;
            }
            writeln!(
                out,
                "time per row: candidate {:.4} ms, champion {:.4} ms",
                r.candidate_ms_per_row, r.champion_ms_per_row
            )?;
            for d in r.disagreements.iter().take(20) {
                writeln!(
                    out,
                    "  {}  {}  champion {}  candidate {}{}",
                    d.at,
                    d.prediction_id.as_deref().unwrap_or("-"),
                    d.champion,
                    d.candidate,
                    d.label
                        .as_ref()
                        .map(|l| format!("  label {l}"))
                        .unwrap_or_default()
                )?;
            }
        }
    }
    Ok(())
}

fn run_capacity(
    ws: &mut Workspace,
    a: &CapacityArgs,
    json_out: bool,
    out: &mut dyn Write,
) -> Result<()> {
    let server_command = match &a.server_command {
        Some(text) => {
            let c: Vec<String> = serde_json::from_str(text).map_err(|e| {
                anyhow::anyhow!(
                    "--server-command is a JSON array of strings, e.g. [\"taskset\",\"-c\",\"2-3\",\"kiln\"] ({e})"
                )
            })?;
            anyhow::ensure!(!c.is_empty(), "--server-command names no program");
            Some(c)
        }
        None => None,
    };
    let options = kiln_serve::capacity::CapacityOptions {
        rate: a.rate,
        step_seconds: a.seconds,
        connections: a.connections,
        max_steps: a.max_steps,
        server_command,
        debug_delay_ms: a.debug_delay_ms,
    };
    let brief = ws.brief(&a.name)?;
    let targets = brief.latency_targets();
    let mut said = |s: &kiln_core::release::CapacityStep| {
        if !json_out {
            let _ = writeln!(
                out,
                "  {:>8.1} req/s asked · {:>8.1} sent · p50 {:>8.2} ms · p99 {:>8.2} ms · p99.9 {:>8.2} ms · errors {}  {}",
                s.rate,
                s.achieved_rate,
                s.p50_ms,
                s.p99_ms,
                s.p999_ms,
                s.errors,
                if s.held(&targets) { "held" } else { "MISSED" }
            );
        }
    };
    let cancel = std::sync::atomic::AtomicBool::new(false);
    let capacity = kiln_serve::capacity::measure_version(
        ws, &a.name, a.version, &options, &a.by, &mut said, &cancel,
    )?;
    let gates = kiln_core::release::capacity::serving_gates(&brief, Some(&capacity));
    if json_out {
        let mut doc = serde_json::to_value(&capacity)?;
        doc["gates"] = serde_json::to_value(&gates)?;
        doc["sentence"] = json!(capacity.sentence(&brief));
        return print_json(out, &doc);
    }
    writeln!(out, "{}", capacity.sentence(&brief))?;
    if gates.is_empty() {
        writeln!(
            out,
            "the brief has no serving targets (kiln models brief {} --target throughput_rps>=N --target p99_ms<=MS ...)",
            a.name
        )?;
    }
    print_gates(&gates, out)
}

pub fn run_audit(
    ws: &Workspace,
    cmd: &AuditSubcommand,
    json_out: bool,
    out: &mut dyn Write,
) -> Result<()> {
    match cmd {
        AuditSubcommand::Verify => {
            let check = ws.audit_verify()?;
            if json_out {
                print_json(out, &serde_json::to_value(&check)?)?;
            } else if check.ok {
                writeln!(out, "audit log intact ({} rows)", check.rows)?;
            }
            if !check.ok {
                bail!(
                    "audit log broken at row {}: {}",
                    check.first_bad_row.unwrap_or_default(),
                    check.problem.unwrap_or_default()
                );
            }
        }
        AuditSubcommand::Log { at } => {
            let rows = ws.audit_log(at.as_deref())?;
            let champions = match at {
                Some(t) => Some(ws.champions_at(t)?),
                None => None,
            };
            if json_out {
                return print_json(out, &json!({ "rows": rows, "champions": champions }));
            }
            for r in &rows {
                writeln!(
                    out,
                    "{:<4} {}  {:<10} {:<18} {}  {}",
                    r.id, r.at, r.actor, r.action, r.subject, r.detail
                )?;
            }
            if let Some(c) = champions {
                for (m, v) in c {
                    writeln!(out, "champion of {m} then: v{v}")?;
                }
            }
        }
    }
    Ok(())
}

/// `kiln gate`: exit 0 when every gate passes, 1 when one fails.
pub fn run_gate(
    ws: &Workspace,
    args: &GateArgs,
    json_out: bool,
    out: &mut dyn Write,
) -> Result<()> {
    let report = ws.release_report(&args.name, args.version)?;
    if json_out {
        print_json(out, &serde_json::to_value(&report)?)?;
    } else {
        print_report(&report, out)?;
    }
    if !report.gates_passed {
        bail!("{} v{} fails its quality gates", args.name, args.version);
    }
    Ok(())
}

pub fn run_retrain(
    ws: &mut Workspace,
    args: &RetrainArgs,
    json_out: bool,
    out: &mut dyn Write,
) -> Result<()> {
    let cancel = std::sync::atomic::AtomicBool::new(false);
    let o = ws.retrain(&args.name, args.dataset.as_deref(), &args.by, &cancel)?;
    if json_out {
        return print_json(out, &serde_json::to_value(&o)?);
    }
    writeln!(
        out,
        "retrained {} on {}: run {}, v{}; gates {}{}",
        args.name,
        o.dataset,
        o.run_id,
        o.version,
        if o.gates_passed { "pass" } else { "FAIL" },
        o.request_id
            .map(|r| format!(", release request {r} filed"))
            .unwrap_or_default()
    )?;
    Ok(())
}
