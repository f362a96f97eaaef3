//! Command-line interface. Every command takes the global `--workspace DIR` (or `KILN_WORKSPACE`) and
//! `--json`; with `--json` it prints exactly one JSON document on stdout.

mod bench;
mod datasets;
mod import;
mod labels;
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
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Import a CSV, TSV, Parquet, Arrow IPC/Feather, JSON or NDJSON file as a new dataset version.
    Import(import::ImportArgs),
    /// List, inspect, diff, export and derive dataset versions.
    #[command(subcommand)]
    Datasets(datasets::DatasetsCommand),
    /// Set labels of rows directly and create the new version (scripted labeling).
    Label(labels::LabelArgs),
    /// Label schemas, and labels to and from Label Studio JSON or CSV.
    #[command(subcommand)]
    Labels(labels::LabelsCommand),
    /// Train a model on a dataset version and record the run.
    Train(train::TrainArgs),
    /// List and inspect training runs.
    #[command(subcommand)]
    Runs(train::RunsCommand),
    /// Batch predictions of a run's model for a file.
    Predict(train::PredictArgs),
    /// Grid or random search over training parameters; each trial is a run tagged with the sweep.
    Sweep(train::SweepArgs),
    /// Measure Kiln's performance figures (see BENCHMARKS.md).
    #[command(subcommand)]
    Bench(bench::BenchCommand),
    /// Open the GUI (the same as running `kiln` with no command).
    Gui,
}

/// Run a parsed command line.
pub fn run(cli: Cli, out: &mut dyn Write) -> Result<()> {
    match cli.command {
        None | Some(Command::Gui) => crate::gui::run(cli.workspace),
        Some(Command::Import(args)) => {
            import::run(&mut open(cli.workspace.as_ref())?, &args, cli.json, out)
        }
        Some(Command::Datasets(cmd)) => {
            datasets::run(&mut open(cli.workspace.as_ref())?, &cmd, cli.json, out)
        }
        Some(Command::Label(args)) => {
            labels::run_label(&mut open(cli.workspace.as_ref())?, &args, cli.json, out)
        }
        Some(Command::Labels(cmd)) => {
            labels::run(&mut open(cli.workspace.as_ref())?, &cmd, cli.json, out)
        }
        Some(Command::Train(args)) => {
            train::run_train(&mut open(cli.workspace.as_ref())?, &args, cli.json, out)
        }
        Some(Command::Runs(train::RunsCommand::Resume { run, device })) => train::run_resume(
            &mut open(cli.workspace.as_ref())?,
            run,
            device,
            cli.json,
            out,
        ),
        Some(Command::Runs(cmd)) => {
            train::run_runs(&open(cli.workspace.as_ref())?, &cmd, cli.json, out)
        }
        Some(Command::Sweep(args)) => {
            train::run_sweep(&mut open(cli.workspace.as_ref())?, &args, cli.json, out)
        }
        Some(Command::Predict(args)) => {
            train::run_predict(&open(cli.workspace.as_ref())?, &args, cli.json, out)
        }
        Some(Command::Bench(cmd)) => bench::run(&cmd, cli.json, out),
    }
}

/// Run `kiln` with `args` (without the program name), writing what it prints to `out` and `err`;
/// returns the process exit code. `main` and the end-to-end tests both go through here.
pub fn run_args<I, S>(args: I, out: &mut dyn Write, err: &mut dyn Write) -> i32
where
    I: IntoIterator<Item = S>,
    S: Into<std::ffi::OsString> + Clone,
{
    let words =
        std::iter::once(std::ffi::OsString::from("kiln")).chain(args.into_iter().map(Into::into));
    let cli = match Cli::try_parse_from(words) {
        Ok(c) => c,
        Err(e) => {
            let code = e.exit_code();
            let text = e.render().to_string();
            if code == 0 {
                let _ = write!(out, "{text}");
            } else {
                let _ = write!(err, "{text}");
            }
            return code;
        }
    };
    crate::init_tracing(cli.verbose);
    match run(cli, out) {
        Ok(()) => 0,
        Err(e) => {
            let _ = writeln!(err, "error: {e:#}");
            1
        }
    }
}

/// Open the given workspace, or the default one (seeded with the demo datasets when new).
pub fn open(dir: Option<&PathBuf>) -> Result<Workspace> {
    match dir {
        Some(d) => Workspace::open(d).with_context(|| format!("opening workspace {}", d.display())),
        None => open_default(),
    }
}

/// The default workspace in the user's data directory; the demo datasets are imported on its first use.
pub fn open_default() -> Result<Workspace> {
    let dir = Workspace::default_dir();
    let fresh = !dir.join("kiln.db").exists();
    let mut ws =
        Workspace::open(&dir).with_context(|| format!("opening workspace {}", dir.display()))?;
    if fresh {
        kiln_core::demo::seed(&mut ws).context("importing the demo datasets")?;
    }
    Ok(ws)
}

/// Print `value` as pretty JSON on stdout.
pub(crate) fn print_json(out: &mut dyn Write, value: &serde_json::Value) -> Result<()> {
    writeln!(out, "{}", serde_json::to_string_pretty(value)?)?;
    Ok(())
}
