//! The `kiln` binary: with no command it opens the GUI, otherwise it runs the command headless. This is
//! the one place that knows both front ends.

use std::io::Write as _;

fn main() -> std::process::ExitCode {
    let (mut out, mut err) = (std::io::stdout(), std::io::stderr());
    let code = match kiln_app::cli::parse(std::env::args_os().skip(1), &mut out, &mut err) {
        Err(code) => code,
        Ok(cli) if cli.opens_gui() => {
            kiln_app::init_tracing(cli.verbose);
            match kiln_app::gui::run(cli.workspace) {
                Ok(()) => 0,
                Err(e) => {
                    let _ = writeln!(err, "error: {e:#}");
                    1
                }
            }
        }
        Ok(cli) => kiln_app::cli::execute(cli, &mut out, &mut err),
    };
    std::process::ExitCode::from(u8::try_from(code).unwrap_or(1))
}
