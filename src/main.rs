//! `atp-run`: parse the command line, set up logging, run, map the outcome to an exit
//! status. Everything else lives in the library (`atp::run`).

use std::process::ExitCode;

use clap::Parser;

use atp::cli::Cli;
use atp::run::{self, options::Options, report::progress};

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
        Err(err) => {
            // --help and --version print to stdout and succeed; usage errors exit 2.
            let _ = err.print();
            return ExitCode::from(if err.use_stderr() { 2 } else { 0 });
        }
    };
    progress::init_logging(cli.verbose);
    let options = match Options::from_cli(cli) {
        Ok(options) => options,
        Err(err) => return fail(&err),
    };
    match run::run(options, true) {
        Ok(outcome) => ExitCode::from(outcome.exit_code()),
        Err(err) => fail(err.as_ref()),
    }
}

/// Reports an error found before any job ran, on one line, and exits with 2.
fn fail(err: &(dyn std::error::Error + 'static)) -> ExitCode {
    let mut message = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let cause = cause.to_string();
        if !message.contains(&cause) {
            message.push_str(": ");
            message.push_str(&cause);
        }
        source = cause_of(source);
    }
    eprintln!("atp-run: {message}");
    ExitCode::from(2)
}

fn cause_of<'a>(
    err: Option<&'a (dyn std::error::Error + 'static)>,
) -> Option<&'a (dyn std::error::Error + 'static)> {
    err.and_then(std::error::Error::source)
}
