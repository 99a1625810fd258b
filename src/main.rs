//! `atp-run`: parse the command line, set up logging, run, map the outcome to an exit
//! status, print an error's chain. Everything else lives in the library (`atp::run`).

use std::process::ExitCode;

use clap::Parser;

use atp::cli::Cli;
use atp::run::{self, init_logging, options::Options};

fn main() -> ExitCode {
    // Before anything else: a SIGTERM or SIGUSR1 in the first milliseconds must
    // not take the default action.
    run::catch_signals_early();
    // `atp-run --pipe wc -l`: the command's words are not ours (GNU's order).
    let args = run::command_words_after_pipe(std::env::args_os().collect());
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        // --help and --version print to stdout and succeed.
        Err(err) if !err.use_stderr() => {
            let _ = err.print();
            return ExitCode::SUCCESS;
        }
        // An unknown option: clap's tip ("use '-- --x'") would make it a template
        // word; ours says what to write instead.
        Err(err) if err.kind() == clap::error::ErrorKind::UnknownArgument => {
            eprintln!("atp-run: {}", run::unknown_flag::from_clap(&err));
            return ExitCode::from(2);
        }
        // Usage errors: one line, like every error found after parsing.
        Err(err) => {
            eprintln!("atp-run: {}", run::usage::one_line(&err));
            return ExitCode::from(2);
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
