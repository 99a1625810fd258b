//! A finished run of `atp-run` ([`Run`]) and how to read what it printed: the
//! status lines and the summary on stderr, `--json` objects on stdout.
//!
//! Invariant: every accessor that expects something (an exit code, one status
//! line per job, one summary) panics showing the whole stderr when it is not
//! there, so a failing test says what atp-run printed.

use std::os::unix::process::ExitStatusExt;
use std::process::{Command, ExitStatus, Output};

/// A finished run of `atp-run`.
#[derive(Debug)]
pub struct Run {
    pub status: ExitStatus,
    pub stdout: Vec<u8>,
    pub stderr: String,
}

impl From<Output> for Run {
    fn from(output: Output) -> Run {
        Run {
            status: output.status,
            stdout: output.stdout,
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }
}

impl Run {
    /// Runs `cmd` (set up by the caller: stdin, stdout, environment) to the end.
    pub fn of(cmd: &mut Command) -> Run {
        Run::from(cmd.output().expect("cannot run atp-run"))
    }

    /// The exit code; panics (showing stderr) if it was killed by a signal, which
    /// includes the run's time limit running out.
    pub fn code(&self) -> i32 {
        self.status.code().unwrap_or_else(|| {
            panic!(
                "atp-run was killed by signal {:?}; stderr:\n{}",
                self.status.signal(),
                self.stderr
            )
        })
    }

    /// Asserts the exit code, showing everything on failure.
    pub fn assert_code(&self, expected: i32) -> &Run {
        assert_eq!(
            self.code(),
            expected,
            "unexpected exit status; stderr:\n{}\nstdout:\n{}",
            self.stderr,
            String::from_utf8_lossy(&self.stdout)
        );
        self
    }

    pub fn stdout_str(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    /// Job output lines, sorted (jobs run in parallel, so their order is not fixed).
    pub fn sorted_stdout_lines(&self) -> Vec<String> {
        let mut lines: Vec<String> = self.stdout_str().lines().map(str::to_owned).collect();
        lines.sort();
        lines
    }

    /// Status lines (`[N] ...` or `[N run M] ...`) on stderr, in the order printed.
    pub fn status_lines(&self) -> Vec<&str> {
        status_lines(&self.stderr)
    }

    /// The status line of job `number`; panics if there is not exactly one.
    pub fn status_of(&self, number: u64) -> &str {
        let prefix = format!("[{number}] ");
        let lines: Vec<&str> = self
            .status_lines()
            .into_iter()
            .filter(|l| l.starts_with(&prefix))
            .collect();
        assert_eq!(
            lines.len(),
            1,
            "expected one status line for job {number}; stderr:\n{}",
            self.stderr
        );
        lines[0]
    }

    /// The summary line (`atp-run: N jobs ran, ...`).
    pub fn summary(&self) -> &str {
        summary_line(&self.stderr)
    }

    /// Asserts that the summary line starts with `prefix`.
    pub fn assert_summary_starts_with(&self, prefix: &str) {
        let summary = self.summary();
        assert!(
            summary.starts_with(prefix),
            "summary {summary:?} does not start with {prefix:?}"
        );
    }
}

/// Status lines in `stderr`.
pub fn status_lines(stderr: &str) -> Vec<&str> {
    stderr
        .lines()
        .filter(|l| {
            l.strip_prefix('[')
                .and_then(|rest| rest.split_once("] "))
                .is_some_and(|(label, _)| {
                    label
                        .split(' ')
                        .next()
                        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
                })
        })
        .collect()
}

/// The one summary line in `stderr`; panics if there is not exactly one.
pub fn summary_line(stderr: &str) -> &str {
    let lines: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("atp-run: ") && l.contains(" ran, "))
        .collect();
    assert_eq!(lines.len(), 1, "expected one summary line in:\n{stderr}");
    lines[0]
}

/// Checks a status line's shape: `[<label>] <verdict> after <duration>s: <command>`.
pub fn assert_status_line(line: &str, label: &str, verdict: &str, command: &str) {
    let head = format!("[{label}] {verdict} after ");
    let tail = format!(": {command}");
    assert!(
        line.starts_with(&head) && line.ends_with(&tail),
        "status line {line:?} is not \"{head}…{tail}\""
    );
    let duration = &line[head.len()..line.len() - tail.len()];
    assert!(
        duration.ends_with('s') && duration.len() > 1,
        "no duration in status line {line:?}"
    );
}

/// The `--json` objects on `stdout`, one a line; panics on a line that is not one.
pub fn json_lines(stdout: &[u8]) -> Vec<serde_json::Value> {
    let text = std::str::from_utf8(stdout).expect("--json output is UTF-8");
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l:?}")))
        .collect()
}
