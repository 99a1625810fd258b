//! `--dry-run`: print each command as it would run, run nothing.
//!
//! Owns: the dry-run loop over the input. Commands are rendered exactly as a
//! real run renders them (template substitution, shell quoting, the job number
//! for `{#}`; `{%}` is slot 1), one per line on standard output, in input
//! order; jobs `--resume` would skip are left out, but keep their numbers. With
//! `--tag` each line starts with what a job's output lines would (the argument,
//! with a template, else the command, and a tab). `--json` is refused by the
//! command line (it describes finished jobs).
//!
//! Invariants: no process is started, no joblog is written; reading the input
//! failing part way is exit status 2; a standard output closed by its reader
//! (EPIPE) is 141, quietly; any other write error (a full disk) is reported on one
//! line and is exit status 2, as in a normal run.

use std::io::{self, BufWriter, Write};

use crate::run::input::job_args::JobArgs;
use crate::run::input::pipeline::RecordStream;
use crate::run::input::sources::InputError;
use crate::run::input::template::Template;
use crate::run::outcome::Outcome;

/// Prints the commands of `records` (`tag`: after their `--tag` prefix);
/// `skip(number)` says whether a job is skipped.
pub fn print(
    records: RecordStream,
    template: Option<&Template>,
    tag: bool,
    skip: impl Fn(u64) -> bool,
) -> Outcome {
    let stdout = io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let mut number = 0u64;
    let mut too_long = false;
    for record in records {
        let record = match record {
            Ok(record) => record.bytes,
            Err(err @ InputError::RecordTooLong { .. }) => {
                // Not printable as a command; it keeps its number, as in a run.
                number += 1;
                let _ = out.flush();
                eprintln!("atp-run: [{number}] failed: {err}");
                too_long = true;
                continue;
            }
            Err(err) => {
                let _ = out.flush();
                eprintln!("atp-run: {err}");
                return Outcome::InputFailed;
            }
        };
        number += 1;
        if skip(number) {
            continue;
        }
        let tag_text = match template {
            Some(_) => JobArgs::decode(&record).tag(),
            None => record.clone(),
        };
        if tag && let Err(err) = write_tag(&mut out, &tag_text) {
            return write_failed(&err);
        }
        let command = match template {
            Some(t) => t.render(&record, number, 1),
            None => record,
        };
        if let Err(err) = write_line(&mut out, &command) {
            return write_failed(&err);
        }
    }
    match out.flush() {
        Ok(()) if too_long => Outcome::JobsFailed,
        Ok(()) => Outcome::Success,
        Err(err) => write_failed(&err),
    }
}

/// How writing standard output failing with `err` ends the run.
fn write_failed(err: &io::Error) -> Outcome {
    if err.kind() == io::ErrorKind::BrokenPipe {
        return Outcome::StdoutClosed;
    }
    eprintln!("atp-run: cannot write to standard output: {err}");
    Outcome::OutputFailed
}

fn write_tag(out: &mut impl Write, record: &[u8]) -> io::Result<()> {
    out.write_all(record)?;
    out.write_all(b"\t")
}

fn write_line(out: &mut impl Write, command: &[u8]) -> io::Result<()> {
    out.write_all(command)?;
    out.write_all(b"\n")
}
