//! The `tgdesk` binary: parse the command line, run, exit.

fn main() -> std::process::ExitCode {
    tgdesk::cli::run()
}
