//! Status lines and the summary: the text atp-run itself writes to stderr about
//! jobs (`[3] ok after 0.004s: echo hi`), about the run (`atp-run: 5 jobs ran, ...`),
//! `--repeat`'s table, and the `--halt` message.
//!
//! Owns: the wording and colouring of those lines.
//!
//! Invariants: every line stays one line (commands are shown with control
//! characters escaped, see [`push_printable`]); colour wraps the verdict only. On
//! a terminal a status line fits the terminal's width: the command is shortened
//! in the middle (`…`). Elsewhere a command longer than [`MAX_COMMAND_CHARS`]
//! keeps its first and last halves of that and says how much was left out. The
//! full command is always in the joblog and in `--json`.

use std::fmt::Write as _;
use std::time::Duration;

use crate::run::control::halt::Halt;
use crate::run::job::{ExitStatusKind, JobEnd, JobError, JobLabel, error_chain, signal_name};
use crate::run::report::format;
use crate::run::report::tally::{CommandCounts, Counts};
use crate::run::report::terminal;
use crate::run::values::duration::format_duration;
use crate::run::values::halt_spec::{HaltSpec, When, Why};

/// How status lines look.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct StatusLines {
    /// `--quiet`: successes are not shown.
    pub quiet: bool,
    /// Colour the verdict.
    pub color: bool,
    /// `--retries`: attempts a job gets (lines say `(attempt k of N)` when above 1).
    pub max_attempts: u32,
    /// Status lines go to a terminal: fitted to its width, and jobs killed by the
    /// stop are counted in the summary instead of a line each (not with `-v`).
    pub terminal: bool,
    /// `-v`: every job keeps its status line on a terminal too.
    pub verbose: bool,
}

/// Most characters of a command a status line shows when not on a terminal.
pub(crate) const MAX_COMMAND_CHARS: usize = 4096;

impl StatusLines {
    /// Whether jobs killed by the stop are left to the summary.
    pub(crate) fn collapses_stopped(&self) -> bool {
        self.terminal && !self.verbose
    }

    /// Whether a job that ended so is shown.
    pub(crate) fn shows(&self, ok: bool) -> bool {
        !(self.quiet && ok)
    }

    /// `[3] ok after 0.004s: echo hi` and the like, newline-terminated.
    pub(crate) fn line(&self, job: &JobLabel<'_>, result: Result<&JobEnd, &JobError>) -> String {
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
            Err(err) => (
                format!("could not run: {}", error_chain(err)),
                true,
                Duration::ZERO,
            ),
        };
        self.paint(&mut line, &what, red);
        if let Ok(exit) = result {
            let _ = write!(line, " after {}", format_duration(duration));
            if let Some(host) = exit.host {
                let _ = write!(line, " on {host}");
            }
            if exit.timed_out {
                let _ = write!(line, " ({})", exit.status);
            }
        }
        if self.max_attempts > 1 {
            let _ = write!(line, " (attempt {} of {})", job.attempt, self.max_attempts);
        }
        line.push_str(": ");
        let mut command = String::new();
        push_printable(&mut command, job.command);
        let width = if self.terminal { terminal::width() } else { 0 };
        if width > 0 {
            let escapes = if self.color { 9 } else { 0 };
            let used = format::chars(&line) - escapes;
            let room = width.saturating_sub(used).max(10);
            let ellipsis = terminal::glyphs().ellipsis;
            line.push_str(&format::middle_ellipsis(&command, room, ellipsis));
        } else {
            push_bounded(&mut line, &command, MAX_COMMAND_CHARS);
        }
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
}

/// Appends `text`, or if it is longer than `max` characters, its first and last
/// `max / 2` and how many characters were left out between them.
pub(crate) fn push_bounded(out: &mut String, text: &str, max: usize) {
    let len = format::chars(text);
    if len <= max {
        out.push_str(text);
        return;
    }
    let half = max / 2;
    out.extend(text.chars().take(half));
    let _ = write!(out, "[… {} characters left out …]", len - 2 * half);
    out.extend(text.chars().skip(len - half));
}

/// `atp-run: 5 jobs ran, 4 succeeded, 1 failed in 1.2s (at most 3 workers at once)`;
/// `not_started` is set when the run was interrupted: then jobs stopped by the
/// interrupt and jobs never started are counted apart from failures.
pub(crate) fn summary(
    counts: &Counts,
    not_started: Option<usize>,
    peak: usize,
    wall: Duration,
) -> String {
    let what = if not_started.is_some() {
        "interrupted: "
    } else {
        ""
    };
    let mut s = format!(
        "atp-run: {what}{} ran, {} succeeded, {} failed",
        plural(counts.finished() + counts.stopped, "job"),
        counts.succeeded,
        counts.failed
    );
    if counts.killed > 0 {
        let _ = write!(s, " ({} killed by a signal)", counts.killed);
    }
    if counts.stopped > 0 {
        let by = if not_started.is_some() {
            "stopped by the interrupt"
        } else {
            "stopped"
        };
        let _ = write!(s, ", {} {by}", counts.stopped);
    }
    if let Some(n) = not_started.filter(|n| *n > 0) {
        let _ = write!(s, ", {n} never started");
    }
    let _ = write!(
        s,
        " in {} (at most {} at once)",
        format_duration(wall),
        plural(peak as u64, "worker")
    );
    s
}

/// The line printed on the first Ctrl-C (or SIGTERM, SIGHUP).
pub(crate) fn stopping_message(running: usize, grace: Duration) -> String {
    format!(
        "atp-run: stopping: no new jobs; SIGTERM sent to {}, SIGKILL to what is left in {} \
         (Ctrl-C again to kill now)",
        plural(running as u64, "running job"),
        format_duration(grace)
    )
}

/// `--repeat`'s table: runs and failures per command, in input order.
pub(crate) fn repeat_table<'a>(rows: impl Iterator<Item = (CommandCounts, &'a [u8])>) -> String {
    let mut table = String::from("runs  failed  command\n");
    for (counts, command) in rows {
        let _ = write!(table, "{:>4}  {:>6}  ", counts.runs, counts.failures);
        push_printable(&mut table, command);
        table.push('\n');
    }
    table.truncate(table.trim_end().len());
    table
}

/// The line printed when the halt policy is met.
pub(crate) fn halt_message(spec: HaltSpec, halt: Halt, running: usize) -> String {
    let cause = match (halt.job, spec.why) {
        (Some(n), Why::Fail) => format!("job {n} failed"),
        (Some(n), Why::Success) => format!("job {n} succeeded"),
        (Some(n), Why::Done) => format!("job {n} ended"),
        (None, _) => "the condition is met".to_owned(),
    };
    let action = match halt.when {
        When::Now => format!("killing {running} running job(s)"),
        When::Soon => format!("starting no more jobs, waiting for {running} running"),
    };
    format!("atp-run: --halt {spec}: {cause}; {action}")
}

/// `1 job`, `2 jobs`.
pub(crate) fn plural(n: u64, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// Appends `bytes` as text that stays on one line: invalid UTF-8 is replaced and
/// control characters (newlines in `-0` records, escapes) are shown escaped.
pub(crate) fn push_printable(out: &mut String, bytes: &[u8]) {
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
    use std::time::SystemTime;

    fn lines(color: bool, max_attempts: u32) -> StatusLines {
        StatusLines {
            color,
            max_attempts,
            ..StatusLines::default()
        }
    }

    fn exit(status: ExitStatusKind) -> JobEnd {
        JobEnd::fixture(status, Duration::from_millis(4), false)
    }

    fn job(command: &[u8], run: Option<u64>) -> JobLabel<'_> {
        JobLabel {
            number: 3,
            run,
            attempt: 1,
            slot: 1,
            command,
            record: command,
            started: SystemTime::UNIX_EPOCH,
        }
    }

    fn line(status: ExitStatusKind, run: Option<u64>) -> String {
        lines(false, 1).line(&job(b"echo hi", run), Ok(&exit(status)))
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
    fn timeouts_attempts_and_errors_are_said() {
        let mut timed_out = exit(ExitStatusKind::Signaled { signal: 15 });
        timed_out.timed_out = true;
        assert_eq!(
            lines(false, 3).line(&job(b"cmd", None), Ok(&timed_out)),
            "[3] timed out after 0.004s (killed by SIGTERM) (attempt 1 of 3): cmd\n"
        );
        let err = JobError::Spawn {
            program: "/bin/sh".into(),
            source: std::io::Error::other("no more processes"),
        };
        assert_eq!(
            lines(false, 1).line(&job(b"cmd", None), Err(&err)),
            "[3] could not run: cannot spawn /bin/sh: no more processes: cmd\n"
        );
    }

    #[test]
    fn colour_wraps_the_verdict_only() {
        let line = lines(true, 1).line(&job(b"true", None), Ok(&exit(ExitStatusKind::Exited(0))));
        assert_eq!(line, "[3] \x1b[32mok\x1b[0m after 0.004s: true\n");
    }

    #[test]
    fn long_commands_are_bounded_off_a_terminal() {
        let cases: &[(&str, usize, &str)] = &[
            ("abcdef", 6, "abcdef"),
            ("abcdefgh", 6, "abc[… 2 characters left out …]fgh"),
            ("abcdefgh", 5, "ab[… 4 characters left out …]gh"),
        ];
        for (text, max, want) in cases {
            let mut s = String::new();
            push_bounded(&mut s, text, *max);
            assert_eq!(s, *want);
        }
        let huge = "x".repeat(140_000);
        let line = lines(false, 1).line(
            &job(huge.as_bytes(), None),
            Ok(&exit(ExitStatusKind::Exited(0))),
        );
        assert!(line.len() < MAX_COMMAND_CHARS + 100, "{} bytes", line.len());
        assert!(line.contains("135904 characters left out"));
    }

    #[test]
    fn commands_stay_on_one_line() {
        let mut s = String::new();
        push_printable(&mut s, b"printf 'a\nb'\t\xff");
        assert_eq!(s, "printf 'a\\nb'\\t\u{fffd}");
    }

    #[test]
    fn summaries_count_kills_and_jobs_not_started() {
        let counts = Counts {
            succeeded: 1,
            failed: 2,
            killed: 1,
            stopped: 5,
            not_started: 0,
        };
        assert_eq!(
            summary(&counts, Some(4), 1, Duration::from_millis(1500)),
            "atp-run: interrupted: 8 jobs ran, 1 succeeded, 2 failed (1 killed by a signal), \
             5 stopped by the interrupt, 4 never started in 1.500s (at most 1 worker at once)"
        );
        assert_eq!(
            summary(&Counts::default(), None, 2, Duration::ZERO),
            "atp-run: 0 jobs ran, 0 succeeded, 0 failed in 0.000s (at most 2 workers at once)"
        );
    }

    #[test]
    fn the_stopping_message_says_what_happens_next() {
        assert_eq!(
            stopping_message(93, Duration::from_secs(5)),
            "atp-run: stopping: no new jobs; SIGTERM sent to 93 running jobs, SIGKILL to what \
             is left in 5.000s (Ctrl-C again to kill now)"
        );
    }

    #[test]
    fn the_repeat_table_has_a_row_per_command() {
        let rows = [
            (
                CommandCounts {
                    runs: 3,
                    failures: 1,
                },
                &b"true"[..],
            ),
            (
                CommandCounts {
                    runs: 12,
                    failures: 0,
                },
                &b"a\nb"[..],
            ),
        ];
        assert_eq!(
            repeat_table(rows.into_iter()),
            "runs  failed  command\n   3       1  true\n  12       0  a\\nb"
        );
    }

    #[test]
    fn halt_messages_name_the_policy_and_the_job() {
        let spec: HaltSpec = "now,fail=1".parse().unwrap();
        let halt = Halt {
            when: When::Now,
            job: Some(3),
            exit_code: 4,
        };
        assert_eq!(
            halt_message(spec, halt, 2),
            "atp-run: --halt now,fail=1: job 3 failed; killing 2 running job(s)"
        );
    }
}
