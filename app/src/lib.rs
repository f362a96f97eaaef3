//! The `kiln` application: the command line (`cli`) and the desktop GUI (`gui`). Both are thin: every
//! action is a `kiln_core` function; this crate parses arguments, draws, and reports errors once.

pub mod cli;
pub mod gui;

/// The process entry point: parse the command line and run it. Errors are printed once, to stderr, and
/// give a non-zero exit code.
pub fn main_entry() -> std::process::ExitCode {
    let code = cli::run_args(
        std::env::args_os().skip(1),
        &mut std::io::stdout(),
        &mut std::io::stderr(),
    );
    std::process::ExitCode::from(u8::try_from(code).unwrap_or(1))
}

pub(crate) fn init_tracing(verbose: bool) {
    let default = if verbose { "info" } else { "warn" };
    let filter = tracing_subscriber::EnvFilter::try_from_env("KILN_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}
