//! Command-line interface. Every command takes the global `--workspace DIR` (or `KILN_WORKSPACE`) and
//! `--json`; with `--json` it prints exactly one JSON document on stdout. Commands call `kiln_core` and
//! only format; this module never imports the GUI (with no command, `main` opens the window instead).

mod args;
mod datasets;
mod env;
mod import;
mod labels;
mod monitor;
mod release;
mod report;
mod runs;
mod schedule;
mod serve;
mod train;

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use kiln_core::Workspace;

#[derive(Debug, Parser)]
#[command(
    name = "kiln",
    version,
    about = "Kiln: explore, label, version, train, release and serve models from one workspace folder.\nRun without a command to open the GUI."
)]
pub struct Cli {
    /// Workspace folder (created if missing). Default: the demo workspace in your data directory.
    #[arg(long, global = true, env = "KILN_WORKSPACE", value_name = "DIR")]
    pub workspace: Option<PathBuf>,
    /// Print one JSON document on stdout instead of text.
    #[arg(long, global = true)]
    pub json: bool,
    /// Log progress to stderr.
    #[arg(long, short, global = true)]
    pub verbose: bool,
    #[command(subcommand)]
    pub command: Option<CliCommand>,
}

impl Cli {
    /// True when this command line asks for the window (no command, or `kiln gui`).
    pub fn opens_gui(&self) -> bool {
        matches!(self.command, None | Some(CliCommand::Gui))
    }
}

#[derive(Debug, Subcommand)]
pub enum CliCommand {
    /// Import a CSV, TSV, Parquet, Arrow IPC/Feather, JSON or NDJSON file, or a PostgreSQL query's result
    /// (`kiln import postgres://user@host/db --query "SELECT …" --name NAME`), as a new dataset version.
    Import(import::ImportArgs),
    /// List, inspect, diff, export and derive dataset versions.
    #[command(subcommand)]
    Datasets(datasets::DatasetsSubcommand),
    /// Set labels of rows directly and create the new version (scripted labeling).
    Label(labels::LabelArgs),
    /// Label schemas, and labels to and from Label Studio JSON or CSV.
    #[command(subcommand)]
    Labels(labels::LabelsSubcommand),
    /// Train a model on a dataset version and record the run.
    Train(train::TrainArgs),
    /// The runs table (filter, sort, group, export), one run, comparisons, tags and notes.
    #[command(subcommand)]
    Runs(runs::RunsSubcommand),
    /// Batch predictions of a run's model for a file.
    Predict(train::PredictArgs),
    /// Grid or random search over training parameters; each trial is a run tagged with the sweep.
    Sweep(train::SweepArgs),
    /// Workspace users and their roles (data-scientist, approver, admin).
    #[command(subcommand)]
    Users(release::UsersSubcommand),
    /// The model registry: register, brief and gates, comments, stages, aliases, model cards.
    #[command(subcommand)]
    Models(release::ModelsSubcommand),
    /// Release requests, approval, rejection, rollback, and paired comparisons.
    #[command(subcommand)]
    Release(release::ReleaseSubcommand),
    /// Environments (dev, QA, production): what each serves, their serving settings, promotion.
    #[command(subcommand)]
    Env(env::EnvSubcommand),
    /// The hash-chained audit log: verify it, or read it as of a time.
    #[command(subcommand)]
    Audit(release::AuditSubcommand),
    /// Check a model version against its quality gates (exit 0 pass, 1 fail).
    Gate(release::GateArgs),
    /// Retrain the champion's configuration on the newest data; file a release request when it passes.
    Retrain(release::RetrainArgs),
    /// Data drift of a dataset version (or of a model's served inputs) against a reference version.
    Drift(monitor::DriftArgs),
    /// Monitoring checks for cron and CI.
    #[command(subcommand)]
    Monitor(MonitorSubcommand),
    /// Serve a model version over HTTP (Kiln's API and the Open Inference Protocol); follows its alias.
    Serve(serve::ServeArgs),
    /// Schedules: pull a dataset every period, retrain a model on a dataset's new version.
    #[command(subcommand)]
    Schedule(schedule::ScheduleSubcommand),
    /// Run due schedules until stopped (a long-lived process: a systemd unit), or once with --once (cron).
    Scheduler(schedule::SchedulerArgs),
    /// Team workspaces: create one on PostgreSQL with its objects in an S3-compatible store.
    #[command(subcommand)]
    Workspace(WorkspaceSubcommand),
    /// Open the GUI (the same as running `kiln` with no command).
    Gui,
}

#[derive(Debug, Subcommand)]
pub enum WorkspaceSubcommand {
    /// Create (or bring up to date) a team workspace: the database if it does not exist, Kiln's roles,
    /// tables and the functions that check who may approve, and where its objects are. You connect as
    /// a PostgreSQL role allowed to create databases and roles, and become the workspace's first admin.
    /// Open it afterwards with `--workspace postgres://USER@HOST/DB` (password from PGPASSWORD or
    /// ~/.pgpass; S3 credentials and endpoint from the AWS_* variables).
    Create {
        #[arg(value_name = "URL", help = "postgres://ADMIN@HOST[:PORT]/DATABASE")]
        url: String,
        #[arg(
            long,
            help = "Where the objects go: s3://BUCKET/PREFIX (or file:///SHARED/FOLDER)"
        )]
        objects: String,
    },
    /// Copy a local workspace folder into a team workspace: every dataset version (objects checked by
    /// hash) and every ended run with its history. Run again (or after an interruption) it copies only
    /// what is missing. Models, requests and approvals are not copied: register the runs there.
    Push {
        /// The local workspace folder.
        dir: PathBuf,
        #[arg(
            long,
            value_name = "URL",
            help = "The team workspace: postgres://USER@HOST/DB"
        )]
        to: String,
    },
    /// Copy a team workspace's versions and runs into a local folder, to work offline (the same rules as
    /// push, the other way).
    Pull {
        #[arg(
            value_name = "URL",
            help = "The team workspace: postgres://USER@HOST/DB"
        )]
        url: String,
        /// The local workspace folder (created if missing).
        #[arg(long)]
        to: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
pub enum MonitorSubcommand {
    /// Serving health (and optionally drift of served inputs) against thresholds: exit 1 on an alert.
    Check(monitor::CheckArgs),
    /// A shadow served beside the champion (`kiln serve --shadow`): agreement, its latency, failures and
    /// the copies dropped while it was behind.
    Shadow(monitor::ShadowArgs),
}

/// Run a parsed command line that names a command (see [`Cli::opens_gui`]).
pub fn run(cli: Cli, out: &mut dyn Write) -> Result<()> {
    let ws = cli.workspace.as_ref();
    match cli.command {
        None | Some(CliCommand::Gui) => {
            anyhow::bail!("no command given (run `kiln` without a command to open the window)")
        }
        Some(CliCommand::Import(args)) => import::run(&mut open(ws)?, &args, cli.json, out),
        Some(CliCommand::Datasets(cmd)) => datasets::run(&mut open(ws)?, &cmd, cli.json, out),
        Some(CliCommand::Label(args)) => labels::run_label(&mut open(ws)?, &args, cli.json, out),
        Some(CliCommand::Labels(cmd)) => labels::run(&mut open(ws)?, &cmd, cli.json, out),
        Some(CliCommand::Train(args)) => train::run_train(&mut open(ws)?, &args, cli.json, out),
        Some(CliCommand::Runs(runs::RunsSubcommand::Resume { run, device })) => {
            train::run_resume(&mut open(ws)?, run, device, cli.json, out)
        }
        Some(CliCommand::Runs(cmd)) => runs::run_runs(&mut open(ws)?, &cmd, cli.json, out),
        Some(CliCommand::Sweep(args)) => train::run_sweep(&mut open(ws)?, &args, cli.json, out),
        Some(CliCommand::Predict(args)) => train::run_predict(&open(ws)?, &args, cli.json, out),
        Some(CliCommand::Users(cmd)) => release::run_users(&mut open(ws)?, &cmd, cli.json, out),
        Some(CliCommand::Models(cmd)) => release::run_models(&mut open(ws)?, &cmd, cli.json, out),
        Some(CliCommand::Release(cmd)) => release::run_release(&mut open(ws)?, &cmd, cli.json, out),
        Some(CliCommand::Env(cmd)) => env::run(&mut open(ws)?, &cmd, cli.json, out),
        Some(CliCommand::Audit(cmd)) => release::run_audit(&open(ws)?, &cmd, cli.json, out),
        Some(CliCommand::Gate(args)) => release::run_gate(&open(ws)?, &args, cli.json, out),
        Some(CliCommand::Retrain(args)) => {
            release::run_retrain(&mut open(ws)?, &args, cli.json, out)
        }
        Some(CliCommand::Drift(args)) => monitor::run_drift(&open(ws)?, &args, cli.json, out),
        Some(CliCommand::Monitor(MonitorSubcommand::Shadow(args))) => {
            monitor::run_shadow(&open(ws)?, &args, cli.json, out)
        }
        Some(CliCommand::Monitor(MonitorSubcommand::Check(args))) => {
            monitor::run_check(&open(ws)?, &args, cli.json, out)
        }
        Some(CliCommand::Workspace(WorkspaceSubcommand::Create { url, objects })) => {
            let ws = Workspace::create_team(&url, None, &objects).with_context(|| {
                format!("creating team workspace {}", kiln_store::team::redact(&url))
            })?;
            let team = ws.team().cloned();
            if cli.json {
                return crate::cli::report::print_json(
                    out,
                    &serde_json::json!({
                        "workspace": ws.name(),
                        "objects": objects,
                        "admin": team.as_ref().map(|t| t.user.clone()),
                    }),
                );
            }
            writeln!(
                out,
                "team workspace {} ready (objects in {objects}); you are its admin: add users with kiln users add NAME --role ROLE",
                ws.name()
            )?;
            Ok(())
        }
        Some(CliCommand::Workspace(WorkspaceSubcommand::Push { dir, to })) => {
            anyhow::ensure!(
                dir.is_dir() && !kiln_store::team::is_team_url(&dir.display().to_string()),
                "{} is not a local workspace folder",
                dir.display()
            );
            let from = Workspace::open(&dir)?;
            let mut target = Workspace::open_team(&to, None)?;
            copy(&from, &mut target, cli.json, out)
        }
        Some(CliCommand::Workspace(WorkspaceSubcommand::Pull { url, to })) => {
            let from = Workspace::open_team(&url, None)?;
            anyhow::ensure!(
                !to.join(kiln_core::TEAM_FILE).exists(),
                "{} is a team workspace's cache, not a local workspace",
                to.display()
            );
            let mut target = Workspace::open(&to)?;
            copy(&from, &mut target, cli.json, out)
        }
        Some(CliCommand::Schedule(cmd)) => schedule::run(&mut open(ws)?, &cmd, cli.json, out),
        Some(CliCommand::Scheduler(args)) => schedule::run_scheduler(&mut open(ws)?, &args, out),
        Some(CliCommand::Serve(args)) => {
            // A bundle is served without a workspace.
            let root = if args.bundle.is_some() {
                PathBuf::new()
            } else {
                open(ws)?.root().to_path_buf()
            };
            serve::run(root, &args, cli.json, out)
        }
    }
}

/// Copy `from` into `to`, saying what was copied.
fn copy(from: &Workspace, to: &mut Workspace, json: bool, out: &mut dyn Write) -> Result<()> {
    let verbose = !json;
    let mut said = |item: &str| {
        if verbose {
            tracing::info!("copying {item}");
        }
    };
    let report = kiln_core::sync::copy_workspace(from, to, &mut said)
        .with_context(|| format!("copying {} into {}", from.name(), to.name()))?;
    if json {
        return crate::cli::report::print_json(out, &serde_json::to_value(&report)?);
    }
    writeln!(out, "{}: {}", to.name(), report.sentence())?;
    Ok(())
}

/// Parse a command line (without the program name). Help, version and usage errors are printed here;
/// their exit code comes back as `Err`.
pub fn parse<I, S>(args: I, out: &mut dyn Write, err: &mut dyn Write) -> Result<Cli, i32>
where
    I: IntoIterator<Item = S>,
    S: Into<std::ffi::OsString> + Clone,
{
    let words =
        std::iter::once(std::ffi::OsString::from("kiln")).chain(args.into_iter().map(Into::into));
    Cli::try_parse_from(words).map_err(|e| {
        let code = e.exit_code();
        let text = e.render().to_string();
        if code == 0 {
            let _ = write!(out, "{text}");
        } else {
            let _ = write!(err, "{text}");
        }
        code
    })
}

/// Run a parsed command line, writing what it prints to `out` and `err`; returns the exit code.
pub fn execute(cli: Cli, out: &mut dyn Write, err: &mut dyn Write) -> i32 {
    crate::init_tracing(cli.verbose);
    match run(cli, out) {
        Ok(()) => 0,
        Err(e) => {
            let _ = writeln!(err, "error: {e:#}");
            1
        }
    }
}

/// Run `kiln` with `args` (without the program name) headless; returns the process exit code. The tests
/// go through here; a command line without a command is an error here (only `main` opens the window).
pub fn run_args<I, S>(args: I, out: &mut dyn Write, err: &mut dyn Write) -> i32
where
    I: IntoIterator<Item = S>,
    S: Into<std::ffi::OsString> + Clone,
{
    match parse(args, out, err) {
        Ok(cli) => execute(cli, out, err),
        Err(code) => code,
    }
}

/// Open the given workspace, or the default one (seeded with the demo datasets when new).
pub fn open(dir: Option<&PathBuf>) -> Result<Workspace> {
    match dir {
        Some(d) => Workspace::open(d).with_context(|| format!("opening workspace {}", d.display())),
        None => kiln_core::open_default().context("opening the default workspace"),
    }
}
