//! `atp-run`: parse the command line, set up logging, run, map the outcome to an exit
//! status, print an error's chain. Everything else lives in the library (`atp::run`).

use std::process::ExitCode;

use clap::Parser;

use atp::cli::Cli;
use atp::run::{self, init_logging, options::Options};

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) if err.kind() == clap::error::ErrorKind::ArgumentConflict => {
            // Flags that cannot be combined: one line, like every usage error
            // found after parsing.
            let text = err.render().to_string();
            let line = text.lines().next().unwrap_or_default();
            eprintln!("atp-run: {}", line.strip_prefix("error: ").unwrap_or(line));
            return ExitCode::from(2);
        }
        Err(err) if err.kind() == clap::error::ErrorKind::UnknownArgument => {
            // clap's tip ("use '-- --x'") would make it a template word.
            eprintln!("atp-run: {}", run::unknown_flag::from_clap(&err));
            return ExitCode::from(2);
        }
        Err(err) => {
            // --help and --version print to stdout and succeed; usage errors exit 2.
            let _ = err.print();
            return ExitCode::from(if err.use_stderr() { 2 } else { 0 });
        }
    };
    init_logging(cli.verbose);
    let outcome = Options::from_cli(cli)
        .map_err(anyhow::Error::from)
        .and_then(|options| Ok(run::run(options, true)?));
    match outcome {
        Ok(outcome) => ExitCode::from(outcome.exit_code()),
        Err(err) => fail(&err),
    }
}

/// Reports an error found before any job ran, with its chain of causes on one line
/// (`{:#}` joins them with ": ", as ripgrep prints its errors), and exits with 2.
fn fail(err: &anyhow::Error) -> ExitCode {
    eprintln!("atp-run: {err:#}");
    ExitCode::from(2)
}
