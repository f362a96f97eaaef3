//! The `kiln` binary: with no command it opens the GUI, otherwise it runs the command headless.

fn main() -> std::process::ExitCode {
    kiln_app::main_entry()
}
