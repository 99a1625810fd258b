//! The reporter: the one place job events become output. It receives every job
//! event (an attempt ended, a job was skipped, lines of a running job, a message)
//! and fans it out to the sinks: the tally, the status line, the output sink chosen
//! for the run (grouped, ordered, line-buffered, ungrouped, JSON), the joblog and
//! the progress display.
//!
//! Owns: the output lock, the tally ([`Tally`]), the health of stdout, and the order
//! in which sinks see an event.
//!
//! Invariants:
//! - Everything printed (job output, status lines, messages) is printed under the
//!   output lock with the progress bar suspended, so nothing interleaves. What can
//!   be prepared before (the status line, the sink's [`Rendered`]) is.
//! - Only a job's counted attempt (a success, or its last attempt) is tallied, gets
//!   a joblog row and advances the progress bar; a retried attempt prints its status
//!   line (as a message, for sinks that print a job once). A cancelled job prints
//!   nothing and is passed over by the sink.
//! - A job killed because the run was stopping is counted as stopped, not failed;
//!   on a terminal (without `-v`) its status line is left out: the summary counts
//!   them in one line. Elsewhere each still gets its line, so logs stay complete.
//! - A job that ended while the run was stopping (an interrupt, `--halt now`)
//!   gets no joblog row (as in GNU parallel), so `--resume` runs it again: also
//!   when it handled our SIGTERM and exited with a status of its own.
//! - `-t` echoes each command on stderr as its job starts, through the same lock
//!   and the suspended bar, as one write per line.
//! - The default path costs what it did before sinks existed: the status line is
//!   the one allocation, the copies and its write the only system calls.

use std::io::{self, Write};
use std::sync::{Arc, Mutex};

use crossbeam_channel::Sender;

use crate::run::events::Event;
use crate::run::exec::capture::Capture;
use crate::run::exec::executor::JobOutput;
use crate::run::job::{ExitStatusKind, JobEnd, JobError, JobLabel, Stream};
use crate::run::lock::lock;
use crate::run::report::joblog::{Joblog, Row};
use crate::run::report::line_buffered::LineWriter;
use crate::run::report::progress::Progress;
use crate::run::report::repeats::Repeats;
use crate::run::report::sink::{OutputKind, OutputSink};
use crate::run::report::status::StatusLines;
use crate::run::report::stdout::StdoutHealth;
use crate::run::report::tally::Tally;

/// One attempt at a job ended.
#[derive(Debug)]
pub(crate) struct AttemptEnded<'a> {
    /// Which job, which attempt.
    pub job: &'a JobLabel<'a>,
    /// How it ended.
    pub result: &'a Result<JobEnd, JobError>,
    /// Whether it is the job's last attempt (no retry will come).
    pub last: bool,
    /// Whether the run was being stopped (a job killed then was killed by us).
    pub stopping: bool,
}

/// Turns job events into output; shared by all workers.
#[derive(Debug)]
pub(crate) struct Reporter {
    /// Serialises everything printed.
    output: Mutex<()>,
    sink: Box<dyn OutputSink>,
    status: StatusLines,
    /// `--tag` (for line-buffered jobs' writers).
    tag: bool,
    progress: Progress,
    tally: Arc<Tally>,
    joblog: Option<Joblog>,
    stdout: StdoutHealth,
    /// `--repeat` on a terminal: identical failure lines collapsed.
    repeats: Option<Repeats>,
    /// `-t`/`-v`: each command is printed on stderr as it starts.
    echo: bool,
}

impl Reporter {
    /// Whether job output is tagged (`--tag`): only then do jobs need their
    /// tag text.
    pub(crate) fn tags(&self) -> bool {
        self.tag
    }

    /// A reporter printing through `sink`, telling the coordinator on `events` when
    /// stdout fails.
    pub(crate) fn new(
        sink: Box<dyn OutputSink>,
        status: StatusLines,
        tag: bool,
        progress: Progress,
        tally: Arc<Tally>,
        events: Sender<Event>,
    ) -> Reporter {
        Reporter {
            output: Mutex::new(()),
            sink,
            status,
            tag,
            progress,
            tally,
            joblog: None,
            stdout: StdoutHealth::new(events),
            repeats: None,
            echo: false,
        }
    }

    /// Prints each command on stderr as its job starts (`-t`, `-v`).
    pub(crate) fn echoing_commands(mut self, on: bool) -> Reporter {
        self.echo = on;
        self
    }

    /// A job is starting `command` (after its `--delay` turn): with `-t`, the
    /// command as it runs goes to stderr, one line, through the progress bar.
    pub(crate) fn command_starting(&self, command: &[u8]) {
        if !self.echo {
            return;
        }
        let mut line = Vec::with_capacity(command.len() + 1);
        line.extend_from_slice(command);
        line.push(b'\n');
        self.printing(|| {
            let _ = io::stderr().lock().write_all(&line);
        });
    }

    /// Collapses a watchdog's identical failure lines (`--repeat`, stderr a
    /// terminal; see `repeats.rs`).
    pub(crate) fn collapsing_repeats(mut self, on: bool) -> Reporter {
        self.repeats = on.then(Repeats::default);
        self
    }

    /// Also writes a joblog row per job.
    pub(crate) fn with_joblog(mut self, joblog: Option<Joblog>) -> Reporter {
        self.joblog = joblog;
        self
    }

    /// How jobs' output must reach the reporter (what executors are given).
    pub(crate) fn output_kind(&self) -> OutputKind {
        self.sink.output_kind()
    }

    /// The tally.
    pub(crate) fn tally(&self) -> &Arc<Tally> {
        &self.tally
    }

    /// The progress display.
    pub(crate) fn progress(&self) -> &Progress {
        &self.progress
    }

    /// Whether a `--joblog` row could not be written.
    pub(crate) fn joblog_failed(&self) -> bool {
        self.joblog.as_ref().is_some_and(Joblog::failed)
    }

    /// Whether `--quiet` was given.
    pub(crate) fn is_quiet(&self) -> bool {
        self.status.quiet
    }

    /// Runs `f` under the output lock with the progress bar suspended.
    fn printing<R>(&self, f: impl FnOnce() -> R) -> R {
        let _serial = lock(&self.output);
        self.progress.suspend(f)
    }

    /// An attempt ended: tallies it, prints it, logs it. Returns whether it
    /// succeeded, or `None` if it was cancelled before it started.
    pub(crate) fn attempt_ended(
        &self,
        ended: &AttemptEnded<'_>,
        capture: Option<&mut Capture>,
    ) -> Option<bool> {
        let (job, result) = (ended.job, ended.result);
        let (ok, line) = match result {
            Err(JobError::Cancelled) => {
                self.job_not_started(job.number);
                return None;
            }
            Ok(exit) => (exit.success(), self.status.line(job, Ok(exit))),
            Err(err) => (false, self.status.line(job, Err(err))),
        };
        let counted = ok || ended.last;
        let killed = matches!(
            result,
            Ok(JobEnd {
                status: ExitStatusKind::Signaled { .. },
                ..
            })
        );
        if !counted {
            if self.sink.once_per_job() {
                // Only the job's counted attempt takes its turn in --keep-order and
                // gets a --json object: this one's output is dropped, its status
                // line says it failed.
                self.message(line.trim_end_matches('\n'));
            } else {
                let rendered = self.sink.render(job, result, Some(line));
                self.printing(|| self.sink.print(job.number, rendered, capture, &self.stdout));
            }
            return Some(ok);
        }
        let stopped = ended.stopping && killed;
        if stopped {
            self.tally.record_stopped();
        } else {
            self.tally.record(job.number, ok, killed);
        }
        // On a terminal, jobs killed by the stop are one line of the summary.
        let mut shown = (self.status.shows(ok) && !(stopped && self.status.collapses_stopped()))
            .then_some(line);
        if let (Some(repeats), Some(_)) = (&self.repeats, job.run) {
            let verdict = match result {
                Ok(exit) => format!("{:?} {}", exit.status, exit.timed_out),
                Err(err) => crate::run::job::error_chain(err),
            };
            shown = match repeats.run_ended(job.number, ok, verdict) {
                None => None,
                Some(note) => shown.map(|line| note + &line),
            };
        }
        let rendered = self.sink.render(job, result, shown);
        self.printing(|| self.sink.print(job.number, rendered, capture, &self.stdout));
        self.progress.inc(
            result
                .as_ref()
                .map_or(std::time::Duration::ZERO, |end| end.duration),
        );
        // A job that ended once the run was stopping was (or was about to be)
        // stopped by us, whether it died of our signal or handled it and exited:
        // it gets no row, so --resume runs it again (as GNU parallel does).
        if let Some(log) = &self.joblog
            && !ended.stopping
        {
            let started = result.as_ref().map_or(job.started, |end| end.started);
            if let Some(row) = Row::of(job.number, started, job.command, result) {
                log.write(&row);
            }
        }
        Some(ok)
    }

    /// Job `number` will never be reported (skipped, or cancelled before it ran):
    /// the sink passes over it (`--keep-order` must not wait for it).
    pub(crate) fn job_skipped(&self, number: u64) {
        self.printing(|| self.sink.skip(number, &self.stdout));
    }

    /// Job `number` never started because the run was stopping: counted for the
    /// summary, and passed over like a skipped job.
    pub(crate) fn job_not_started(&self, number: u64) {
        self.tally.record_not_started();
        self.job_skipped(number);
    }

    /// The writer for `job`'s lines (`--line-buffer`).
    pub(crate) fn line_writer(&self, job: &JobLabel<'_>) -> LineWriter {
        LineWriter::new(self.tag, job)
    }

    /// Prints lines of a running job (`--line-buffer`).
    pub(crate) fn lines(&self, writer: &mut LineWriter, stream: Stream, bytes: &[u8]) {
        self.printing(|| writer.write(stream, bytes, &self.stdout));
    }

    /// Runs `run` with the output a job of this run is given: `capture` (created
    /// by the caller only if the sink prints captured output), a line sink, or ours.
    pub(crate) fn with_job_output<R>(
        &self,
        job: &JobLabel<'_>,
        capture: Option<&mut Capture>,
        run: impl FnOnce(JobOutput<'_>) -> R,
    ) -> R {
        match (self.output_kind(), capture) {
            (OutputKind::Captured, Some(capture)) => run(JobOutput::Capture(capture)),
            (OutputKind::Lines, _) => {
                let mut writer = self.line_writer(job);
                let mut emit =
                    |stream: Stream, bytes: &[u8]| self.lines(&mut writer, stream, bytes);
                run(JobOutput::Lines(&mut emit))
            }
            _ => run(JobOutput::Inherit),
        }
    }

    /// Blocks the feeder while the sink holds too much (`--keep-order`).
    pub(crate) fn wait_for_room(&self) {
        self.sink.wait_for_room();
    }

    /// The run is over: prints whatever is held, in order, and removes the bar.
    pub(crate) fn run_ended(&self) {
        self.printing(|| self.sink.flush(&self.stdout));
        if let Some(notes) = self.repeats.as_ref().map(Repeats::finish)
            && !notes.is_empty()
        {
            self.message(notes.trim_end_matches('\n'));
        }
        self.progress.finish();
    }

    /// Writes a line to stderr through the progress bar, under the output lock.
    pub(crate) fn message(&self, text: &str) {
        // One write, newline included: stderr is unbuffered, and a reader (or
        // a job writing to the same stderr) must never see half a message.
        let mut line = String::with_capacity(text.len() + 1);
        line.push_str(text);
        line.push('\n');
        self.printing(|| {
            let _ = io::stderr().lock().write_all(line.as_bytes());
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run::report::grouped::Grouped;
    use crate::run::report::tally::Counts;
    use std::time::{Duration, SystemTime};

    fn reporter(max_attempts: u32) -> Reporter {
        let (tx, _rx) = crossbeam_channel::unbounded();
        let status = StatusLines {
            quiet: true,
            max_attempts,
            ..StatusLines::default()
        };
        Reporter::new(
            Box::new(Grouped::default()),
            status,
            false,
            Progress::new(false),
            Arc::new(Tally::new(false)),
            tx,
        )
    }

    fn exit(status: ExitStatusKind) -> Result<JobEnd, JobError> {
        Ok(JobEnd::fixture(status, Duration::from_millis(4), false))
    }

    fn ended(r: &Reporter, attempt: u32, result: &Result<JobEnd, JobError>) -> Option<bool> {
        let job = JobLabel {
            number: 1,
            run: None,
            attempt,
            slot: 1,
            command: b"x",
            record: b"x",
            started: SystemTime::UNIX_EPOCH,
        };
        let ended = AttemptEnded {
            job: &job,
            result,
            last: attempt >= 3,
            stopping: false,
        };
        r.attempt_ended(&ended, None)
    }

    #[test]
    fn only_counted_attempts_are_tallied_and_cancellations_never() {
        let r = reporter(3);
        let failed = exit(ExitStatusKind::Exited(1));
        assert_eq!(ended(&r, 1, &failed), Some(false));
        assert_eq!(r.tally().counts(), Counts::default(), "a retried attempt");
        assert_eq!(ended(&r, 3, &failed), Some(false));
        assert_eq!(ended(&r, 1, &exit(ExitStatusKind::Exited(0))), Some(true));
        assert_eq!(
            ended(&r, 3, &exit(ExitStatusKind::Signaled { signal: 15 })),
            Some(false)
        );
        assert_eq!(ended(&r, 3, &Err(JobError::Cancelled)), None);
        let mut zero = JobEnd::fixture(ExitStatusKind::Exited(0), Duration::ZERO, false);
        zero.timed_out = true;
        assert_eq!(ended(&r, 3, &Ok(zero)), Some(false), "timed out yet exit 0");
        assert_eq!(
            r.tally().counts(),
            Counts {
                succeeded: 1,
                failed: 3,
                killed: 1,
                stopped: 0,
                // The cancelled job never started.
                not_started: 1,
            }
        );
    }

    #[test]
    fn each_sink_gets_the_job_output_it_prints_from() {
        use crate::run::report::line_buffered::LineBuffered;
        use crate::run::report::ungrouped::Ungrouped;

        let job = JobLabel {
            number: 1,
            run: None,
            attempt: 1,
            slot: 1,
            command: b"x",
            record: b"x",
            started: SystemTime::UNIX_EPOCH,
        };
        let output_of = |sink: Box<dyn OutputSink>, capture: Option<&mut Capture>| {
            let mut r = reporter(1);
            r.sink = sink;
            r.with_job_output(&job, capture, |output| format!("{output:?}"))
        };
        let mut capture = Capture::new(std::env::temp_dir()).unwrap();
        assert_eq!(
            output_of(Box::new(Grouped { tag: false }), Some(&mut capture)),
            "Capture"
        );
        assert_eq!(output_of(Box::new(LineBuffered), None), "Lines");
        assert_eq!(output_of(Box::new(Ungrouped), None), "Inherit");
    }
}
