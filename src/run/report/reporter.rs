//! The reporter: the one place job results become output.
//!
//! When a job ends, the worker that ran it calls [`Reporter::job_finished`], which,
//! under one lock and with the progress bar suspended, copies the job's captured
//! stdout to our stdout and its stderr to our stderr, each as one block, then writes
//! the job's status line to stderr. So blocks of different jobs never interleave, and
//! `atp-run ... > out` captures job output only. The status line is formatted before
//! the lock is taken; the copies use the kernel's file-to-pipe paths where it can.
//!
//! That is the default path. With an output-shaping flag (`--keep-order`, `--tag`,
//! `--line-buffer`, `--ungroup`, `--json`) the same lock is taken but printing is
//! delegated to `output.rs`, which keeps its state (the `--keep-order` buffer)
//! under it; [`Reporter::write_lines`] prints `--line-buffer` lines under it too.
//!
//! A write to stdout failing with `BrokenPipe` (the reader went away, as in
//! `| head -1`) is reported once as an event; the run then stops quietly.

use std::fmt::Write as _;
use std::io::{self, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::Duration;

use crossbeam_channel::Sender;

use crate::run::events::Event;
use crate::run::exec::capture::Capture;
use crate::run::exec::local::{ExitStatusKind, JobExit, RunError, signal_name};
use crate::run::exec::pump::{Stream, Tagger};
use crate::run::report::grouped::{OutputOptions, OutputState, Shaper, StdoutHealth};
use crate::run::report::progress::Progress;
use crate::run::values::duration::format_duration;

/// Counts of finished jobs (runs, in `--repeat` mode).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tally {
    /// Runs that ended with exit code 0.
    pub succeeded: u64,
    /// Runs that exited non-zero, were killed, or could not be started.
    pub failed: u64,
    /// Runs that ended by a signal (a subset of `failed`).
    pub killed: u64,
}

impl Tally {
    /// All finished runs.
    pub fn finished(&self) -> u64 {
        self.succeeded + self.failed
    }
}

/// Which job a result belongs to.
pub struct JobLabel<'a> {
    /// The job's number (1-based, in input order).
    pub number: u64,
    /// In `--repeat` mode, which run of the job this was (1-based).
    pub run: Option<u64>,
    /// Which attempt at the job this was (1-based; above 1 only with retries).
    pub attempt: u32,
    /// The worker slot that ran it (1-based, as `{%}`).
    pub slot: usize,
    /// The command as it ran.
    pub command: &'a [u8],
    /// The input record it came from: the argument, with a template; the command
    /// itself otherwise (what `--tag` prints).
    pub record: &'a [u8],
}

/// Turns job results into output; shared by all workers.
pub struct Reporter {
    output: Mutex<OutputState>,
    /// Signalled when `--keep-order` releases held jobs (see [`Reporter::wait_for_room`]).
    room: Condvar,
    shaper: Shaper,
    progress: Progress,
    quiet: bool,
    color: bool,
    succeeded: AtomicU64,
    failed: AtomicU64,
    killed: AtomicU64,
    stdout_broken: AtomicBool,
    events: Sender<Event>,
    /// `--retries`: attempts a job gets; only the last one (or a success) counts.
    max_attempts: u32,
}

impl Reporter {
    /// A reporter writing through `progress`.
    pub fn new(progress: Progress, quiet: bool, color: bool, events: Sender<Event>) -> Reporter {
        Reporter {
            output: Mutex::new(OutputState::default()),
            room: Condvar::new(),
            shaper: Shaper::default(),
            progress,
            quiet,
            color,
            succeeded: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            killed: AtomicU64::new(0),
            stdout_broken: AtomicBool::new(false),
            events,
            max_attempts: 1,
        }
    }

    /// With `--retries N`: status lines say `(attempt k of N)`, and a failed
    /// attempt that will be retried is printed but not counted.
    pub fn with_max_attempts(mut self, attempts: u32) -> Reporter {
        self.max_attempts = attempts.max(1);
        self
    }

    /// The same reporter, shaping output as `options` say (`--keep-order` keeps
    /// spare capture files in `tmpdir`).
    pub fn with_output(mut self, options: OutputOptions, tmpdir: PathBuf) -> Reporter {
        let (shaper, state) = Shaper::new(options, tmpdir);
        self.shaper = shaper;
        self.output = Mutex::new(state);
        self
    }

    /// How output is shaped.
    pub fn shaper(&self) -> &Shaper {
        &self.shaper
    }

    fn lock_output(&self) -> MutexGuard<'_, OutputState> {
        self.output.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Job `number` will never be reported (skipped, or cancelled before it ran):
    /// with `--keep-order`, the jobs after it must not wait for it.
    pub fn job_skipped(&self, number: u64) {
        if self.shaper.options().keep_order {
            let mut state = self.lock_output();
            let released = self
                .progress
                .suspend(|| self.shaper.skip(&mut state, number, self));
            if released {
                self.room.notify_all();
            }
        }
    }

    /// The run is over: prints whatever `--keep-order` still holds, in order, and
    /// lets a waiting feeder go.
    pub fn flush_held(&self) {
        if self.shaper.options().keep_order {
            let mut state = self.lock_output();
            self.progress
                .suspend(|| self.shaper.flush(&mut state, self));
            self.room.notify_all();
        }
    }

    /// Blocks the feeder while `--keep-order` holds too many finished jobs (until
    /// the earliest running one ends, or the run is over). Returns at once
    /// otherwise.
    pub fn wait_for_room(&self) {
        if !self.shaper.options().keep_order {
            return;
        }
        let mut state = self.lock_output();
        while !self.shaper.has_room(&state) {
            state = self.room.wait(state).unwrap_or_else(|p| p.into_inner());
        }
    }

    /// `--line-buffer`: prints whole lines of a running job (or its partial last
    /// line, at its end) to our stdout or stderr, tagged with `tagger`.
    pub fn write_lines(&self, stream: Stream, bytes: &[u8], tagger: Option<&mut Tagger>) {
        if stream == Stream::Stdout && self.stdout_broken() {
            return;
        }
        let _serial = self.lock_output();
        self.progress.suspend(|| {
            let written = match stream {
                Stream::Stdout => write_lines_to(&mut io::stdout().lock(), bytes, tagger),
                Stream::Stderr => write_lines_to(&mut io::stderr().lock(), bytes, tagger),
            };
            match (written, stream) {
                (Ok(()), _) => {}
                (Err(err), Stream::Stdout) => self.stdout_failed(&err),
                (Err(err), Stream::Stderr) => {
                    log::warn!("cannot write a job's error output: {err}")
                }
            }
        });
    }

    /// The progress display.
    pub fn progress(&self) -> &Progress {
        &self.progress
    }

    /// Counts so far.
    pub fn tally(&self) -> Tally {
        Tally {
            succeeded: self.succeeded.load(Ordering::Relaxed),
            failed: self.failed.load(Ordering::Relaxed),
            killed: self.killed.load(Ordering::Relaxed),
        }
    }

    /// Whether `--quiet` was given.
    pub fn is_quiet(&self) -> bool {
        self.quiet
    }

    /// Whether stdout's reader has gone away.
    pub fn stdout_broken(&self) -> bool {
        self.stdout_broken.load(Ordering::Relaxed)
    }

    /// Reports a job that ended (or could not start): prints its output blocks and
    /// its status line. Returns whether the job succeeded. A job that was cancelled
    /// before it started prints nothing and counts as neither (with `--keep-order`
    /// its turn is released). A failed attempt below `--retries` (`job.attempt` <
    /// the maximum) is printed but not counted: only a job's last attempt counts;
    /// with `--keep-order` or `--json` only its status line is printed (only the
    /// final attempt takes the job's turn, or gets an object).
    pub fn job_finished(
        &self,
        job: &JobLabel<'_>,
        result: &Result<JobExit, RunError>,
        capture: Option<&mut Capture>,
    ) -> Option<bool> {
        self.attempt_finished(job, result, capture, job.attempt >= self.max_attempts)
    }

    /// [`job_finished`](Self::job_finished), saying whether this is the job's
    /// last attempt (it is also when the run is stopping and no retry will come):
    /// only a success or a last attempt is counted.
    pub fn attempt_finished(
        &self,
        job: &JobLabel<'_>,
        result: &Result<JobExit, RunError>,
        capture: Option<&mut Capture>,
        last_attempt: bool,
    ) -> Option<bool> {
        let (ok, line) = match result {
            Err(RunError::Cancelled) => {
                self.job_skipped(job.number);
                return None;
            }
            Ok(exit) => (exit.success(), self.status_line(job, Ok(exit))),
            Err(err) => (false, self.status_line(job, Err(err))),
        };
        let counted = ok || last_attempt;
        let counter = if ok { &self.succeeded } else { &self.failed };
        if counted {
            counter.fetch_add(1, Ordering::Relaxed);
        }
        if let Ok(JobExit {
            status: ExitStatusKind::Signaled { .. },
            ..
        }) = result
            && counted
        {
            self.killed.fetch_add(1, Ordering::Relaxed);
        }
        let show_status = !(self.quiet && ok);
        let shaping = self.shaper.options();
        if !counted && (shaping.keep_order || shaping.json) {
            // A failed attempt that will be retried: only the job's final attempt
            // takes its turn in the --keep-order buffer and gets a --json object.
            // This one's output is dropped; its status line says it failed.
            self.message(line.trim_end_matches('\n'));
            return Some(ok);
        }
        if !shaping.is_plain() {
            let rendered = self.shaper.render(job, result, show_status.then_some(line));
            let mut state = self.lock_output();
            let released = self.progress.suspend(|| {
                self.shaper
                    .emit(&mut state, job.number, rendered, capture, self)
            });
            drop(state);
            if released {
                self.room.notify_all();
            }
            if counted {
                self.progress.inc();
            }
            return Some(ok);
        }
        let _serial = self.lock_output();
        self.progress.suspend(|| {
            if let Some(capture) = capture {
                self.copy_output(capture);
            }
            if show_status {
                let mut err = io::stderr().lock();
                let _ = err.write_all(line.as_bytes());
                let _ = err.flush();
            }
        });
        if counted {
            self.progress.inc();
        }
        Some(ok)
    }

    /// Copies a job's captured stdout and stderr, each as one block.
    fn copy_output(&self, capture: &mut Capture) {
        if capture.stdout_len() > 0 && !self.stdout_broken() {
            let mut out = io::stdout().lock();
            let copied = capture.write_stdout_to(&mut out).and_then(|_| out.flush());
            if let Err(err) = copied {
                self.stdout_failed(&err);
            }
        }
        if capture.stderr_len() > 0 {
            let mut err = io::stderr().lock();
            if let Err(e) = capture.write_stderr_to(&mut err).and_then(|_| err.flush()) {
                log::warn!("cannot write a job's error output: {e}");
            }
        }
    }

    fn stdout_failed(&self, err: &io::Error) {
        if self.stdout_broken.swap(true, Ordering::Relaxed) {
            return;
        }
        // Only a reader that went away means "stop quietly" (141); anything else (a
        // full disk, an I/O error) is a failure to report.
        let event = if err.kind() == io::ErrorKind::BrokenPipe {
            Event::StdoutClosed
        } else {
            Event::StdoutFailed(err.to_string())
        };
        let _ = self.events.send(event);
    }

    /// `[3] ok in 0.004s: echo hi` and the like, newline-terminated.
    fn status_line(&self, job: &JobLabel<'_>, result: Result<&JobExit, &RunError>) -> String {
        let mut line = String::with_capacity(64 + job.command.len());
        match job.run {
            Some(run) => {
                let _ = write!(line, "[{} run {}] ", job.number, run);
            }
            None => {
                let _ = write!(line, "[{}] ", job.number);
            }
        }
        let (what, red, duration) = match result {
            Ok(exit) if exit.timed_out => ("timed out".to_owned(), true, exit.duration),
            Ok(exit) => match exit.status {
                ExitStatusKind::Exited(0) => ("ok".to_owned(), false, exit.duration),
                ExitStatusKind::Exited(127) => (
                    "failed with exit code 127 (command not found?)".to_owned(),
                    true,
                    exit.duration,
                ),
                ExitStatusKind::Exited(code) => {
                    (format!("failed with exit code {code}"), true, exit.duration)
                }
                ExitStatusKind::Signaled { signal } => (
                    format!("killed by {}", signal_name(signal)),
                    true,
                    exit.duration,
                ),
            },
            Err(err) => (format!("could not run: {err}"), true, Duration::ZERO),
        };
        self.paint(&mut line, &what, red);
        if let Ok(exit) = result {
            let _ = write!(line, " after {}", format_duration(duration));
            if exit.timed_out {
                let _ = write!(line, " ({})", exit.status);
            }
        }
        if self.max_attempts > 1 {
            let _ = write!(line, " (attempt {} of {})", job.attempt, self.max_attempts);
        }
        line.push_str(": ");
        push_printable(&mut line, job.command);
        line.push('\n');
        line
    }

    fn paint(&self, line: &mut String, text: &str, red: bool) {
        if self.color {
            let code = if red { "31" } else { "32" };
            let _ = write!(line, "\x1b[{code}m{text}\x1b[0m");
        } else {
            line.push_str(text);
        }
    }

    /// Writes a line to stderr through the progress bar, under the output lock.
    pub fn message(&self, text: &str) {
        // One write, newline included: stderr is unbuffered, and a reader (or
        // a job writing to the same stderr) must never see half a message.
        let mut line = String::with_capacity(text.len() + 1);
        line.push_str(text);
        line.push('\n');
        let _serial = self.lock_output();
        self.progress.suspend(|| {
            let mut err = io::stderr().lock();
            let _ = err.write_all(line.as_bytes());
        });
    }
}

impl StdoutHealth for Reporter {
    fn is_broken(&self) -> bool {
        self.stdout_broken()
    }

    fn failed(&self, err: &io::Error) {
        self.stdout_failed(err);
    }
}

fn write_lines_to<W: Write>(
    w: &mut W,
    bytes: &[u8],
    tagger: Option<&mut Tagger>,
) -> io::Result<()> {
    match tagger {
        Some(tagger) => tagger.write(w, bytes)?,
        None => w.write_all(bytes)?,
    }
    w.flush()
}

/// Appends `bytes` as text that stays on one line: invalid UTF-8 is replaced and
/// control characters (newlines in `-0` records, escapes) are shown escaped.
pub fn push_printable(out: &mut String, bytes: &[u8]) {
    for c in String::from_utf8_lossy(bytes).chars() {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reporter(quiet: bool, color: bool) -> Reporter {
        let (tx, _rx) = crossbeam_channel::unbounded();
        Reporter::new(Progress::new(false), quiet, color, tx)
    }

    fn exit(status: ExitStatusKind) -> JobExit {
        JobExit::fixture(status, Duration::from_millis(4), false)
    }

    fn line(status: ExitStatusKind, run: Option<u64>) -> String {
        let job = JobLabel {
            number: 3,
            run,
            attempt: 1,
            slot: 1,
            command: b"echo hi",
            record: b"echo hi",
        };
        reporter(false, false).status_line(&job, Ok(&exit(status)))
    }

    #[test]
    fn status_lines_say_what_happened() {
        assert_eq!(
            line(ExitStatusKind::Exited(0), None),
            "[3] ok after 0.004s: echo hi\n"
        );
        assert_eq!(
            line(ExitStatusKind::Exited(2), None),
            "[3] failed with exit code 2 after 0.004s: echo hi\n"
        );
        assert_eq!(
            line(ExitStatusKind::Exited(127), None),
            "[3] failed with exit code 127 (command not found?) after 0.004s: echo hi\n"
        );
        assert_eq!(
            line(ExitStatusKind::Signaled { signal: 9 }, Some(5)),
            "[3 run 5] killed by SIGKILL after 0.004s: echo hi\n"
        );
    }

    #[test]
    fn timeouts_and_attempts_are_said() {
        let (tx, _rx) = crossbeam_channel::unbounded();
        let r = Reporter::new(Progress::new(false), false, false, tx).with_max_attempts(3);
        let job = JobLabel {
            number: 3,
            run: None,
            attempt: 1,
            slot: 1,
            command: b"cmd",
            record: b"cmd",
        };
        let mut timed_out = exit(ExitStatusKind::Signaled { signal: 15 });
        timed_out.timed_out = true;
        assert_eq!(
            r.status_line(&job, Ok(&timed_out)),
            "[3] timed out after 0.004s (killed by SIGTERM) (attempt 1 of 3): cmd\n"
        );
        // A retried failure is printed but not counted; the last attempt is.
        let failed = Ok(exit(ExitStatusKind::Exited(1)));
        assert_eq!(r.job_finished(&job, &failed, None), Some(false));
        assert_eq!(r.tally(), Tally::default());
        let last = JobLabel { attempt: 3, ..job };
        assert_eq!(r.job_finished(&last, &failed, None), Some(false));
        assert_eq!(r.tally().failed, 1);
        // A timed-out job that exited 0 still failed.
        let mut zero = exit(ExitStatusKind::Exited(0));
        zero.timed_out = true;
        assert_eq!(r.attempt_finished(&job, &Ok(zero), None, true), Some(false));
    }

    #[test]
    fn colour_wraps_the_verdict_only() {
        let job = JobLabel {
            number: 1,
            run: None,
            attempt: 1,
            slot: 1,
            command: b"true",
            record: b"true",
        };
        let line = reporter(false, true).status_line(&job, Ok(&exit(ExitStatusKind::Exited(0))));
        assert_eq!(line, "[1] \x1b[32mok\x1b[0m after 0.004s: true\n");
    }

    #[test]
    fn commands_stay_on_one_line() {
        let mut s = String::new();
        push_printable(&mut s, b"printf 'a\nb'\t\xff");
        assert_eq!(s, "printf 'a\\nb'\\t\u{fffd}");
    }

    #[test]
    fn tallies_count_successes_failures_and_kills_but_not_cancellations() {
        let r = reporter(true, false);
        let job = JobLabel {
            number: 1,
            run: None,
            attempt: 1,
            slot: 1,
            command: b"x",
            record: b"x",
        };
        assert_eq!(
            r.job_finished(&job, &Ok(exit(ExitStatusKind::Exited(0))), None),
            Some(true)
        );
        assert_eq!(
            r.job_finished(&job, &Ok(exit(ExitStatusKind::Exited(1))), None),
            Some(false)
        );
        let killed = exit(ExitStatusKind::Signaled { signal: 15 });
        assert_eq!(r.job_finished(&job, &Ok(killed), None), Some(false));
        assert_eq!(r.job_finished(&job, &Err(RunError::Cancelled), None), None);
        assert_eq!(
            r.tally(),
            Tally {
                succeeded: 1,
                failed: 2,
                killed: 1
            }
        );
    }
}
