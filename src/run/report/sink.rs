//! The output sink boundary: what the reporter asks of the sink that prints jobs'
//! output (one is chosen per run: grouped, ordered, line-buffered, ungrouped, JSON).
//!
//! Owns: the [`OutputSink`] trait and what a sink prepares before the output lock
//! ([`Rendered`]).
//!
//! Invariants: [`OutputSink::render`] runs before the reporter's output lock is
//! taken (allocations and formatting happen there); [`OutputSink::print`] and the
//! other printing calls run under it with the progress bar suspended, so what one
//! job prints is never interleaved with anything else. A sink receives only a job's
//! counted attempt (its last, or a success), once.

use std::fmt;
use std::io::{self, Write};

use crate::run::exec::capture::Capture;
use crate::run::job::{JobEnd, JobError, JobLabel};
use crate::run::report::stdout::StdoutHealth;

/// How a job's output reaches the sink: what the executor is given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OutputKind {
    /// Captured in files, printed when the job ends.
    Captured,
    /// Whole lines while the job runs (`--line-buffer`).
    Lines,
    /// Not ours to print: the job writes to our stdout and stderr (`--ungroup`).
    Inherited,
}

/// What a finished job prints besides its captured output, prepared before the
/// output lock is taken.
#[derive(Debug, Default)]
pub(crate) struct Rendered {
    /// `--tag`: the prefix of each output line (argument or command, then a tab).
    pub tag: Option<Vec<u8>>,
    /// The status line, if it is shown.
    pub status: Option<String>,
    /// `--json`: the object's fields before the output.
    pub json: Option<Vec<u8>>,
}

/// Prints jobs' output; see the module header.
pub(crate) trait OutputSink: Send + Sync + fmt::Debug {
    /// How jobs' output reaches this sink.
    fn output_kind(&self) -> OutputKind {
        OutputKind::Captured
    }

    /// Whether a retried attempt is left out of this sink (it prints a job once,
    /// whole: `--keep-order`, `--json`); its status line is then a message.
    fn once_per_job(&self) -> bool {
        false
    }

    /// Prepares what job `job` prints besides its output; `status` is its status
    /// line if shown. By default: the status line alone.
    fn render(
        &self,
        _job: &JobLabel<'_>,
        _result: &Result<JobEnd, JobError>,
        status: Option<String>,
    ) -> Rendered {
        Rendered {
            status,
            ..Rendered::default()
        }
    }

    /// Prints job `number`: `rendered` and its captured output. Returns whether jobs
    /// held back were released (the feeder may have room again). By default: the
    /// status line alone (the job's output did not pass through the sink).
    fn print(
        &self,
        _number: u64,
        rendered: Rendered,
        _capture: Option<&mut Capture>,
        _stdout: &StdoutHealth,
    ) -> bool {
        write_status(rendered.status.as_deref());
        false
    }

    /// Job `number` will never be printed (skipped, or cancelled before it ran).
    fn skip(&self, _number: u64, _stdout: &StdoutHealth) -> bool {
        false
    }

    /// The run is over: prints whatever is held.
    fn flush(&self, _stdout: &StdoutHealth) {}

    /// Blocks the feeder while the sink holds too much (`--keep-order`).
    fn wait_for_room(&self) {}
}

/// Writes a status line to stderr in one write.
pub(crate) fn write_status(status: Option<&str>) {
    if let Some(status) = status {
        let mut err = io::stderr().lock();
        let _ = err.write_all(status.as_bytes());
        let _ = err.flush();
    }
}
