//! The shared vocabulary of a job, between the parts that start jobs (the feeder,
//! the attempts), the executors that run them, and the sinks that report them:
//! [`JobKey`], [`JobSpec`], [`JobEnd`], [`ExitStatusKind`], [`JobError`].
//!
//! Invariants: this is a leaf module (it imports nothing from the runner), so every
//! other part can use it without a cycle; a [`JobKey`] is unique among the jobs
//! running at any one time (one attempt, or one `--repeat` run, of a job at a time).

use std::borrow::Cow;
use std::fmt;
use std::io;
use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;
use std::sync::OnceLock;
use std::time::{Duration, SystemTime};

use nix::sys::signal::Signal;

/// Names one start of a job: what the executors register running jobs by, what
/// timers and signals address. Never a pid: a remote or Slurm job has none of ours.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct JobKey {
    /// The job's number (1-based, in input order; `{#}`).
    pub number: u64,
    /// `--repeat`: which run of the job (1-based); 0 otherwise.
    pub run: u64,
    /// Which attempt at the job (1-based; above 1 only with `--retries`).
    pub attempt: u32,
}

/// Where a job's standard input comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum JobStdin<'a> {
    /// Nothing (`/dev/null`): our own stdin carries the command list.
    #[default]
    Null,
    /// These bytes, then end of file (`--pipe`: the job's block). The same bytes
    /// are given again to every attempt of the job.
    Block(&'a [u8]),
}

impl JobStdin<'_> {
    /// How many bytes it gives the job.
    pub(crate) fn len(&self) -> u64 {
        match self {
            JobStdin::Null => 0,
            JobStdin::Block(block) => block.len() as u64,
        }
    }
}

/// What to run: everything an executor needs to start a job.
#[derive(Debug, Clone, Copy)]
pub(crate) struct JobSpec<'a> {
    /// Which job (and which attempt or run of it) this is.
    pub key: JobKey,
    /// The worker slot running it (1-based): the value its `{%}` was rendered
    /// with, given to it as `PARALLEL_JOBSLOT`.
    pub slot: usize,
    /// The command line, for `sh -c` (bytes: need not be UTF-8).
    pub command: &'a [u8],
    /// Its standard input.
    pub stdin: JobStdin<'a>,
    /// The files it moves to and from a remote host, and where it runs there.
    pub files: Option<&'a JobFiles>,
}

#[cfg(test)]
impl<'a> JobSpec<'a> {
    /// For tests: `command` as the first attempt of job 1 in slot 1, with no
    /// stdin and no files; change the rest with struct update syntax.
    pub(crate) fn first(command: &'a [u8]) -> JobSpec<'a> {
        JobSpec {
            key: JobKey {
                number: 1,
                run: 0,
                attempt: 1,
            },
            slot: 1,
            command,
            stdin: JobStdin::Null,
            files: None,
        }
    }
}

/// `--transferfile`, `--return` and `--workdir` as rendered for one job (file
/// names as bytes, unquoted: they need not be UTF-8).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct JobFiles {
    /// Local files to copy to the host before the job.
    pub transfer: Vec<Vec<u8>>,
    /// Files to copy back from the host after the job.
    pub returns: Vec<Vec<u8>>,
    /// A `--workdir` with placeholders, rendered (`None`: the run's setting).
    pub workdir: Option<Vec<u8>>,
}

/// Which job a result belongs to, as the reporter and its sinks see it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct JobLabel<'a> {
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
    /// When the attempt began (the joblog's Starttime for a job that could not start).
    pub started: SystemTime,
}

/// Which of a job's output streams.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stream {
    /// Its stdout (goes to ours).
    Stdout,
    /// Its stderr (goes to ours).
    Stderr,
}

/// How a job's leader process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum ExitStatusKind {
    /// Exited normally with this code (127: command not found, per `sh`).
    Exited(i32),
    /// Killed by this signal number.
    Signaled {
        /// The signal number.
        signal: i32,
    },
}

impl ExitStatusKind {
    /// Whether the job exited with code 0.
    pub(crate) fn success(self) -> bool {
        self == Self::Exited(0)
    }

    /// Converts a std exit status (from a plain `wait`, so never "stopped").
    pub(crate) fn from_status(status: ExitStatus) -> Self {
        match (status.code(), status.signal()) {
            (Some(code), _) => Self::Exited(code),
            (None, Some(signal)) => Self::Signaled { signal },
            (None, None) => Self::Exited(status.into_raw()),
        }
    }
}

impl fmt::Display for ExitStatusKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::Exited(code) => write!(f, "exit code {code}"),
            Self::Signaled { signal } => write!(f, "killed by {}", signal_name(signal)),
        }
    }
}

/// Name of signal `signo`: `"SIGKILL"` for known signals, `"signal 42"` for
/// others in 0..=64 (e.g. real-time signals), `"unknown signal"` beyond.
pub(crate) fn signal_name(signo: i32) -> &'static str {
    /// `"signal N"` for every N in 0..=64, made once.
    static FALLBACK: OnceLock<[String; 65]> = OnceLock::new();
    match Signal::try_from(signo) {
        Ok(sig) => sig.as_str(),
        Err(_) => match usize::try_from(signo) {
            Ok(i) if i < 65 => {
                FALLBACK.get_or_init(|| std::array::from_fn(|i| format!("signal {i}")))[i].as_str()
            }
            _ => "unknown signal",
        },
    }
}

/// Result of a job that ran to completion (whatever its exit status).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct JobEnd {
    /// How the leader (`sh`) ended.
    pub status: ExitStatusKind,
    /// Wall-clock time just before spawn (for `--json`'s `start`).
    pub started: SystemTime,
    /// Wall time from just before spawn to the leader being reaped.
    pub duration: Duration,
    /// Bytes of stdout that came through us: captured (the block
    /// `Capture::write_stdout_to` copies) or passed on line by line
    /// (`--line-buffer`); 0 with `--ungroup`, where the job writes to our stdout
    /// itself. The joblog's Receive.
    pub stdout_len: u64,
    /// Bytes of stderr that came through us, as `stdout_len`.
    pub stderr_len: u64,
    /// Its `--timeout` ran out and the termination sequence was started on it
    /// (it is then a failure, however it exited).
    pub timed_out: bool,
    /// The sshlogin it ran on, as written (`-S`); `None`: this machine, not
    /// named by `-S`. The joblog writes `:` for it.
    pub host: Option<&'static str>,
    /// Bytes the executor gave the job's standard input: its whole `--pipe` block
    /// (0 without one), whether or not the job read all of it (one that did not
    /// is reported killed by SIGPIPE). The joblog's Send, as GNU parallel counts
    /// it (`Job::set_block` adds the block's length when the block is handed
    /// out, not what the job took).
    pub stdin_len: u64,
}

#[cfg(test)]
impl JobEnd {
    /// A job exit with no output, started at the epoch, for the modules' unit tests.
    pub(crate) fn fixture(status: ExitStatusKind, duration: Duration, timed_out: bool) -> JobEnd {
        JobEnd {
            status,
            started: std::time::SystemTime::UNIX_EPOCH,
            duration,
            stdout_len: 0,
            stderr_len: 0,
            timed_out,
            host: None,
            stdin_len: 0,
        }
    }
}

impl JobEnd {
    /// Whether the job exited with code 0 (and did not time out).
    pub(crate) fn success(&self) -> bool {
        self.status.success() && !self.timed_out
    }
}

/// Why an executor produced no [`JobEnd`].
#[derive(Debug, thiserror::Error)]
pub(crate) enum JobError {
    /// The executor was closed (cancellation in progress): the job was not
    /// started, or was killed right after starting. Not an error of the job.
    #[error("job cancelled: shutting down")]
    Cancelled,
    /// The program could not be started (e.g. `EAGAIN`: too many processes).
    #[error("cannot spawn {program}")]
    Spawn {
        /// The program that was to run (`/bin/sh`, `ssh`, `srun`).
        program: Cow<'static, str>,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// The output capture could not be prepared or measured.
    #[error("output capture failed")]
    Capture(#[source] io::Error),
    /// Waiting for the job failed (it was killed).
    #[error("waiting for job failed")]
    Wait(#[source] io::Error),
    /// `srun` ended without the job's status (the step could not start; srun's
    /// words are in the job's stderr).
    #[error("srun ended without the job's status: the step did not run")]
    StepLost,
    /// A file of `--transferfile` or `--basefile` cannot be sent (one line: which
    /// file, why, what to do).
    #[error("{0}")]
    Transfer(String),
    /// Every host of the run is down (`-S`): the job cannot run anywhere.
    #[error("no host is up (down: {hosts})")]
    NoHost {
        /// The hosts, as written.
        hosts: String,
    },
}

/// `err` and its sources, joined by `": "`, on one line (for status lines and
/// messages; `main` prints a fatal error's chain the same way).
pub(crate) fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signal_names() {
        assert_eq!(signal_name(9), "SIGKILL");
        assert_eq!(signal_name(15), "SIGTERM");
        assert_eq!(signal_name(42), "signal 42");
        assert_eq!(signal_name(64), "signal 64");
        assert_eq!(signal_name(65), "unknown signal");
        assert_eq!(signal_name(-1), "unknown signal");
        assert_eq!(
            ExitStatusKind::Signaled { signal: 9 }.to_string(),
            "killed by SIGKILL"
        );
        assert_eq!(ExitStatusKind::Exited(3).to_string(), "exit code 3");
    }

    #[test]
    fn error_chains_keep_every_source_on_one_line() {
        let err = JobError::Spawn {
            program: "/bin/sh".into(),
            source: io::Error::other("Resource temporarily unavailable"),
        };
        assert_eq!(
            error_chain(&err),
            "cannot spawn /bin/sh: Resource temporarily unavailable"
        );
        assert_eq!(
            error_chain(&JobError::Cancelled),
            "job cancelled: shutting down"
        );
    }
}
