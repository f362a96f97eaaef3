//! The `kiln` application: the command line (`cli`) and the desktop GUI (`gui`), two front ends that never
//! import each other. Both are thin: every action is a `kiln_core` function; this crate parses arguments,
//! draws, and reports errors once. `main.rs` chooses between them.

pub mod cli;
pub mod gui;

/// Send `tracing` output to stderr (`KILN_LOG` overrides the level).
pub fn init_tracing(verbose: bool) {
    let default = if verbose { "info" } else { "warn" };
    let filter = tracing_subscriber::EnvFilter::try_from_env("KILN_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}
