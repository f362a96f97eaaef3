//! `kiln env`: the environments a version goes through (dev, QA, production), what each serves, their
//! serving settings, and promotion before production.

use std::io::Write;

use anyhow::Result;
use clap::Subcommand;
use kiln_core::Workspace;
use kiln_core::release::EnvSettings;
use serde_json::json;

use super::release::by_default;
use super::report::print_json;

#[derive(Debug, Subcommand)]
pub enum EnvSubcommand {
    /// The environments in promotion order with their alias and settings; with a model, the version in
    /// each.
    List {
        /// A model whose path to show.
        model: Option<String>,
    },
    /// Change an environment's serving settings (an admin); `kiln serve --env NAME` uses them.
    Set {
        name: String,
        /// Address to listen on.
        #[arg(long)]
        host: Option<String>,
        #[arg(long)]
        port: Option<u16>,
        /// The environment variable that holds the bearer token (the token is never stored).
        #[arg(long)]
        token_env: Option<String>,
        #[arg(long)]
        deadline_ms: Option<u64>,
        #[arg(long)]
        fallback_class: Option<String>,
        /// Keep the previous version loaded as a standby (`true` or `false`).
        #[arg(long)]
        fallback_previous: Option<bool>,
        #[arg(long, default_value_t = by_default())]
        by: String,
    },
    /// Put a version in an environment before production (production moves only through an approved
    /// release request; filing one puts the version in QA).
    Promote {
        model: String,
        #[arg(long)]
        version: i64,
        /// The environment (e.g. `dev`, `qa`).
        #[arg(long)]
        to: String,
        #[arg(long, default_value_t = by_default())]
        by: String,
    },
}

fn settings_text(s: &EnvSettings) -> String {
    let mut parts = Vec::new();
    if let Some(h) = &s.host {
        parts.push(format!("host {h}"));
    }
    if let Some(p) = s.port {
        parts.push(format!("port {p}"));
    }
    if let Some(t) = &s.token_env {
        parts.push(format!("token from ${t}"));
    }
    if let Some(d) = s.deadline_ms {
        parts.push(format!("deadline {d} ms"));
    }
    if let Some(c) = &s.fallback_class {
        parts.push(format!("fallback class {c}"));
    }
    if s.fallback_previous {
        parts.push("previous version as standby".into());
    }
    if parts.is_empty() {
        "default settings".into()
    } else {
        parts.join(", ")
    }
}

pub fn run(
    ws: &mut Workspace,
    cmd: &EnvSubcommand,
    json_out: bool,
    out: &mut dyn Write,
) -> Result<()> {
    match cmd {
        EnvSubcommand::List { model: None } => {
            let envs = ws.environments()?;
            if json_out {
                return print_json(out, &serde_json::to_value(envs)?);
            }
            for e in envs {
                writeln!(
                    out,
                    "{:<12} @{:<10} {}",
                    e.name,
                    e.alias,
                    settings_text(&e.settings)
                )?;
            }
        }
        EnvSubcommand::List { model: Some(m) } => {
            let path = ws.environment_path(m)?;
            if json_out {
                return print_json(out, &serde_json::to_value(path)?);
            }
            let line: Vec<String> = path
                .iter()
                .map(|p| {
                    format!(
                        "{} {}",
                        p.environment.name,
                        p.version.map_or_else(|| "—".into(), |v| format!("v{v}"))
                    )
                })
                .collect();
            writeln!(out, "{m}: {}", line.join("  ·  "))?;
        }
        EnvSubcommand::Set {
            name,
            host,
            port,
            token_env,
            deadline_ms,
            fallback_class,
            fallback_previous,
            by,
        } => {
            let mut s = ws.environment(name)?.settings;
            if host.is_some() {
                s.host.clone_from(host);
            }
            if port.is_some() {
                s.port = *port;
            }
            if token_env.is_some() {
                s.token_env.clone_from(token_env);
            }
            if deadline_ms.is_some() {
                s.deadline_ms = *deadline_ms;
            }
            if fallback_class.is_some() {
                s.fallback_class.clone_from(fallback_class);
            }
            if let Some(f) = fallback_previous {
                s.fallback_previous = *f;
            }
            ws.set_environment(name, &s, by)?;
            if json_out {
                return print_json(out, &json!({ "name": name, "settings": s }));
            }
            writeln!(out, "{name}: {}", settings_text(&s))?;
        }
        EnvSubcommand::Promote {
            model,
            version,
            to,
            by,
        } => {
            ws.promote(model, *version, to, by)?;
            if json_out {
                return print_json(
                    out,
                    &json!({ "model": model, "version": version, "environment": to }),
                );
            }
            writeln!(out, "{model} v{version} is in {to}")?;
        }
    }
    Ok(())
}
