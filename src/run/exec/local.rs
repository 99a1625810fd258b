//! Running one job: `/bin/sh -c <command>` in its own process group, output
//! captured, registered for signalling, reaped by the calling worker thread.
//!
//! Owns: the spawn/wait sequence of a job and its result types ([`JobExit`],
//! [`ExitStatusKind`], [`RunError`]).
//!
//! Invariants:
//! - The child gets stdin from `/dev/null` (our stdin carries the command
//!   list), its own process group (pgid == pid), and stdout/stderr pointing at
//!   the worker's [`Capture`] files — or, with [`run_job_streamed`]
//!   (`--line-buffer`, `--ungroup`), to pipes read while the job runs or to our
//!   own stdout/stderr. Nothing else is configured (no env, no `pre_exec`), so
//!   std keeps its `posix_spawn` fast path.
//! - Spawn happens outside any lock; the group is then registered. If the
//!   registry is already closed the new group is SIGKILLed, reaped, and the
//!   job reported as [`RunError::Cancelled`] — a job racing with cancellation
//!   is never left running.
//! - Every spawned leader is reaped here (blocking `Child::wait`) on every
//!   path, and [`ProcessRegistry::finish`] is called for every registered one,
//!   *before* the leader is reaped: the exit is first observed with
//!   `waitid(WNOWAIT)`, which leaves the zombie (and so the pgid) in place, so
//!   nothing (the `--timeout` timer included) can signal a reused pgid. A
//!   `--line-buffer` pump checks for the exit the same way ([`has_exited`]).
//! - `--timeout` is armed in the one place every output mode goes through
//!   (`spawn_and_wait`), before the pump runs: the timer thread signals the
//!   group, which ends the job and so the pump.
//! - After the leader is reaped, a group that still has live members is moved
//!   to the registry's lingering set and taints the capture (its files are
//!   replaced before the next job).

use std::ffi::OsStr;
use std::fmt;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant, SystemTime};

use nix::errno::Errno;
use nix::sys::signal::{Signal, killpg};
use nix::sys::wait::{Id, WaitPidFlag, WaitStatus, waitid};
use nix::unistd::Pid;

use crate::run::exec::capture::Capture;
use crate::run::exec::registry::{ProcessRegistry, group_alive};
use crate::run::exec::timeout::Timeouts;

/// The shell every job runs under.
const SHELL: &str = "/bin/sh";

/// How a job's leader process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ExitStatusKind {
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
    pub fn success(self) -> bool {
        self == Self::Exited(0)
    }

    /// Converts a std exit status (from a plain `wait`, so never "stopped").
    pub fn from_status(status: ExitStatus) -> Self {
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
pub fn signal_name(signo: i32) -> &'static str {
    match Signal::try_from(signo) {
        Ok(sig) => sig.as_str(),
        Err(_) => usize::try_from(signo)
            .ok()
            .and_then(|i| SIGNAL_FALLBACK_NAMES.get(i))
            .copied()
            .unwrap_or("unknown signal"),
    }
}

const SIGNAL_FALLBACK_NAMES: [&str; 65] = [
    "signal 0",
    "signal 1",
    "signal 2",
    "signal 3",
    "signal 4",
    "signal 5",
    "signal 6",
    "signal 7",
    "signal 8",
    "signal 9",
    "signal 10",
    "signal 11",
    "signal 12",
    "signal 13",
    "signal 14",
    "signal 15",
    "signal 16",
    "signal 17",
    "signal 18",
    "signal 19",
    "signal 20",
    "signal 21",
    "signal 22",
    "signal 23",
    "signal 24",
    "signal 25",
    "signal 26",
    "signal 27",
    "signal 28",
    "signal 29",
    "signal 30",
    "signal 31",
    "signal 32",
    "signal 33",
    "signal 34",
    "signal 35",
    "signal 36",
    "signal 37",
    "signal 38",
    "signal 39",
    "signal 40",
    "signal 41",
    "signal 42",
    "signal 43",
    "signal 44",
    "signal 45",
    "signal 46",
    "signal 47",
    "signal 48",
    "signal 49",
    "signal 50",
    "signal 51",
    "signal 52",
    "signal 53",
    "signal 54",
    "signal 55",
    "signal 56",
    "signal 57",
    "signal 58",
    "signal 59",
    "signal 60",
    "signal 61",
    "signal 62",
    "signal 63",
    "signal 64",
];

/// Result of a job that ran to completion (whatever its exit status).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JobExit {
    /// How the leader (`sh`) ended.
    pub status: ExitStatusKind,
    /// Wall-clock time just before spawn (for `--json`'s `start`).
    pub started: SystemTime,
    /// Wall time from just before spawn to the leader being reaped.
    pub duration: Duration,
    /// Bytes of stdout captured (the block [`Capture::write_stdout_to`] copies).
    pub stdout_len: u64,
    /// Bytes of stderr captured (the block [`Capture::write_stderr_to`] copies).
    pub stderr_len: u64,
    /// Its `--timeout` ran out and the termination sequence was started on it
    /// (it is then a failure, however it exited).
    pub timed_out: bool,
}

#[cfg(test)]
impl JobExit {
    /// A job exit with no output, started at the epoch, for the modules' unit tests.
    pub(crate) fn fixture(status: ExitStatusKind, duration: Duration, timed_out: bool) -> JobExit {
        JobExit {
            status,
            started: std::time::SystemTime::UNIX_EPOCH,
            duration,
            stdout_len: 0,
            stderr_len: 0,
            timed_out,
        }
    }
}

impl JobExit {
    /// Whether the job exited with code 0 (and did not time out).
    pub fn success(&self) -> bool {
        self.status.success() && !self.timed_out
    }
}

/// Why [`run_job`] produced no [`JobExit`].
#[derive(Debug)]
pub enum RunError {
    /// The registry was closed (cancellation in progress): the job was not
    /// started, or was killed right after spawning. Not an error of the job.
    Cancelled,
    /// The shell could not be spawned (e.g. `EAGAIN`: too many processes).
    Spawn(io::Error),
    /// The capture files could not be prepared or measured.
    Capture(io::Error),
    /// Waiting for the leader failed (the group was killed).
    Wait(io::Error),
}

impl fmt::Display for RunError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Cancelled => f.write_str("job cancelled: shutting down"),
            Self::Spawn(e) => write!(f, "cannot spawn {SHELL}: {e}"),
            Self::Capture(e) => write!(f, "output capture failed: {e}"),
            Self::Wait(e) => write!(f, "waiting for job failed: {e}"),
        }
    }
}

impl std::error::Error for RunError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Cancelled => None,
            Self::Spawn(e) | Self::Capture(e) | Self::Wait(e) => Some(e),
        }
    }
}

/// Runs `command` with `/bin/sh -c` and blocks until its leader exits.
///
/// The capture is made clean first (see [`Capture::reset`]); afterwards it
/// holds the job's stdout/stderr blocks until the next call. The job's process
/// group is registered in `registry` while it runs.
///
/// # Errors
/// [`RunError::Cancelled`] if `registry` is closed, otherwise spawn, capture
/// or wait failures. A job that fails or is killed is NOT an error: see
/// [`JobExit::status`].
pub fn run_job(
    command: &[u8],
    capture: &mut Capture,
    registry: &ProcessRegistry,
) -> Result<JobExit, RunError> {
    run_job_with(command, capture, registry, None)
}

/// [`run_job`], with the job's `--timeout` armed on `timeouts` while it runs.
///
/// # Errors
/// As [`run_job`].
pub fn run_job_with(
    command: &[u8],
    capture: &mut Capture,
    registry: &ProcessRegistry,
    timeouts: Option<&Timeouts>,
) -> Result<JobExit, RunError> {
    if registry.is_closed() {
        return Err(RunError::Cancelled);
    }
    let (stdout, stderr) = capture.stdio_for_job().map_err(RunError::Capture)?;
    let ended = match spawn_and_wait(command, stdout, stderr, registry, timeouts, |_| Ok(())) {
        Ok(ended) => ended,
        Err(err) => {
            if !matches!(err, RunError::Spawn(_)) {
                capture.taint();
            }
            return Err(err);
        }
    };
    let (stdout_len, stderr_len) = capture
        .job_finished(ended.group_alive)
        .map_err(RunError::Capture)?;
    Ok(JobExit {
        status: ExitStatusKind::from_status(ended.status),
        started: ended.started,
        duration: ended.duration,
        stdout_len,
        stderr_len,
        timed_out: ended.timed_out,
    })
}

/// Where the output of a job run by [`run_job_streamed`] goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Streams {
    /// Into pipes, which the `pump` given to [`run_job_streamed`] reads.
    Piped,
    /// Straight to our own stdout and stderr (inherited).
    Inherited,
}

/// Like [`run_job`], but the job's stdout and stderr are not captured in files:
/// they are pipes (`Streams::Piped`), taken from the child and read by `pump`
/// while the job runs, or our own (`Streams::Inherited`). `pump` is called once
/// the group is registered (and its `--timeout` armed on `timeouts`) and must
/// return when both pipes reached end of file or the leader exited; it must not
/// reap the leader (use [`has_exited`], not `Child::try_wait`). A timed-out job
/// is signalled by the timer thread, which ends the pump too. The lengths in the
/// returned [`JobExit`] are 0.
///
/// # Errors
/// As [`run_job`]; an error of `pump` kills the group and is a
/// [`RunError::Capture`].
pub fn run_job_streamed(
    command: &[u8],
    streams: Streams,
    registry: &ProcessRegistry,
    timeouts: Option<&Timeouts>,
    pump: impl FnOnce(&mut Child) -> io::Result<()>,
) -> Result<JobExit, RunError> {
    if registry.is_closed() {
        return Err(RunError::Cancelled);
    }
    let (stdout, stderr) = match streams {
        Streams::Piped => (Stdio::piped(), Stdio::piped()),
        Streams::Inherited => (Stdio::inherit(), Stdio::inherit()),
    };
    let ended = spawn_and_wait(command, stdout, stderr, registry, timeouts, pump)?;
    Ok(JobExit {
        status: ExitStatusKind::from_status(ended.status),
        started: ended.started,
        duration: ended.duration,
        stdout_len: 0,
        stderr_len: 0,
        timed_out: ended.timed_out,
    })
}

/// A reaped leader, as [`spawn_and_wait`] saw it.
struct Ended {
    status: ExitStatus,
    started: SystemTime,
    duration: Duration,
    /// Members of the group outlived the leader (they are now "lingering").
    group_alive: bool,
    /// Its `--timeout` fired.
    timed_out: bool,
}

/// Spawns the job's shell with the given output, registers its group, arms its
/// `--timeout`, runs `pump`, waits for the leader to exit, disarms the timeout,
/// unregisters the group and only then reaps the leader.
fn spawn_and_wait(
    command: &[u8],
    stdout: Stdio,
    stderr: Stdio,
    registry: &ProcessRegistry,
    timeouts: Option<&Timeouts>,
    pump: impl FnOnce(&mut Child) -> io::Result<()>,
) -> Result<Ended, RunError> {
    let start = Instant::now();
    let started = SystemTime::now();
    // The Command (holding our copies of the dup'd descriptors) drops here.
    let spawned = Command::new(SHELL)
        .arg("-c")
        .arg(OsStr::from_bytes(command))
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(stderr)
        .process_group(0)
        .spawn();
    let mut child = spawned.map_err(RunError::Spawn)?;
    let Some(pid) = i32::try_from(child.id()).ok().map(Pid::from_raw) else {
        // Cannot happen on Linux (pid_max <= 2^22); stay correct anyway.
        let _ = child.kill();
        let _ = child.wait();
        return Err(RunError::Wait(io::Error::other("child pid out of range")));
    };
    if registry.register(pid, start).is_err() {
        kill_group_and_reap(pid, &mut child);
        return Err(RunError::Cancelled);
    }
    let timer = timeouts.map(|t| t.arm(pid, start));
    let pumped = pump(&mut child);
    if pumped.is_err() {
        // The group is still registered (its leader unreaped): kill it there.
        if pid.as_raw() > 1 {
            let _ = killpg(pid, Signal::SIGKILL);
        }
    }
    // Observe the exit without reaping: the zombie leader keeps the pgid ours
    // until the registry has forgotten the group.
    let exited = wait_exited_nowait(pid);
    let duration = start.elapsed();
    if let (Some(t), Some(id)) = (timeouts, timer) {
        t.disarm(id);
    }
    // Forget the running job before reaping it (so the timeout timer can never
    // signal a reused pgid), but ask whether its group outlived it only after:
    // while the leader is an unreaped zombie the group always looks alive, and
    // telling zombies apart takes a scan of /proc — per job, that scan cost more
    // than the spawn. A group that still has members keeps its pgid, so recording
    // it as lingering after the reap is safe.
    let timed_out = registry.finish(pid, false);
    let status = match exited.and_then(|()| child.wait()) {
        Ok(status) => status,
        Err(e) => {
            kill_group_and_reap(pid, &mut child);
            return Err(RunError::Wait(e));
        }
    };
    let alive = group_alive(pid);
    if alive {
        registry.finish(pid, true);
    }
    if let Err(e) = pumped {
        return Err(RunError::Capture(e));
    }
    Ok(Ended {
        status,
        started,
        duration,
        group_alive: alive,
        timed_out,
    })
}

/// Whether `child` has exited, without reaping it (`WNOHANG | WNOWAIT`): its
/// pgid stays ours until the executor has unregistered it.
///
/// # Errors
/// `waitid` failing (other than being interrupted).
pub fn has_exited(child: &Child) -> io::Result<bool> {
    let pid = i32::try_from(child.id())
        .map(Pid::from_raw)
        .map_err(|_| io::Error::other("child pid out of range"))?;
    loop {
        let flags = WaitPidFlag::WEXITED | WaitPidFlag::WNOWAIT | WaitPidFlag::WNOHANG;
        match waitid(Id::Pid(pid), flags) {
            Ok(WaitStatus::StillAlive) => return Ok(false),
            Ok(_) => return Ok(true),
            Err(Errno::EINTR) => continue,
            Err(e) => return Err(io::Error::from(e)),
        }
    }
}

/// Blocks until child `pid` has exited, leaving it unreaped (`WNOWAIT`).
///
/// Jobs run in background process groups with no way to the terminal: a job that
/// reads from or writes to it (`stty`, a password prompt, an editor) is stopped by
/// SIGTTIN or SIGTTOU — its whole group, leader included — and would wait for ever.
/// Such a stop kills the group instead, with a warning saying why. Any other stop
/// (a user's SIGSTOP) is left alone: then only the exit is awaited.
fn wait_exited_nowait(pid: Pid) -> io::Result<()> {
    let mut watch_stops = true;
    loop {
        let mut flags = WaitPidFlag::WEXITED | WaitPidFlag::WNOWAIT;
        if watch_stops {
            flags |= WaitPidFlag::WSTOPPED;
        }
        match waitid(Id::Pid(pid), flags) {
            Ok(WaitStatus::Stopped(_, signal @ (Signal::SIGTTIN | Signal::SIGTTOU))) => {
                log::warn!(
                    "a job tried to use the terminal and was stopped by {signal}; jobs run \
                     without one, so it is killed (give it its input from a file instead)"
                );
                if pid.as_raw() > 1 {
                    let _ = killpg(pid, Signal::SIGKILL);
                }
                watch_stops = false;
            }
            Ok(WaitStatus::Stopped(..)) => watch_stops = false,
            Ok(_) => return Ok(()),
            Err(Errno::EINTR) => continue,
            Err(e) => return Err(io::Error::from(e)),
        }
    }
}

/// SIGKILLs the whole group and reaps its leader (best effort).
fn kill_group_and_reap(pid: Pid, child: &mut Child) {
    if pid.as_raw() > 1 {
        let _ = killpg(pid, Signal::SIGKILL);
    }
    let _ = child.wait();
    if group_alive(pid) {
        let _ = killpg(pid, Signal::SIGKILL);
    }
}

/// Helpers for tests that start real processes.
#[cfg(test)]
pub(crate) mod testutil {
    use std::fs;
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::time::{Duration, Instant};

    use nix::sys::signal::{Signal, kill};
    use nix::unistd::Pid;

    /// A marker unique to this test process and call, usable as a `sleep`
    /// argument: `1000.<pid><n>`.
    pub fn unique_marker() -> String {
        static N: AtomicU32 = AtomicU32::new(0);
        format!(
            "1000.{}{:04}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        )
    }

    /// A non-zombie process whose cmdline or environment contains a marker.
    #[derive(Debug)]
    pub struct Found {
        pub pid: i32,
        /// argv joined with spaces.
        pub cmdline: String,
    }

    fn contains(hay: &[u8], needle: &[u8]) -> bool {
        !needle.is_empty() && hay.windows(needle.len()).any(|w| w == needle)
    }

    /// Live processes (zombies have empty cmdline/environ, so they never
    /// match) whose cmdline or environ contains `marker`.
    pub fn find(marker: &str) -> Vec<Found> {
        let me = std::process::id().to_string();
        let mut out = Vec::new();
        let Some(pids) = crate::run::exec::registry::proc_pids() else {
            return out;
        };
        for pid in pids {
            if pid == me {
                continue;
            }
            let cmdline = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            let environ = fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
            if contains(&cmdline, marker.as_bytes()) || contains(&environ, marker.as_bytes()) {
                let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
                out.push(Found {
                    pid: pid.parse().unwrap_or(0),
                    cmdline: cmdline.trim_end().to_owned(),
                });
            }
        }
        out
    }

    /// Polls `cond` every 20 ms for up to 10 s; returns whether it held.
    pub fn wait_until(mut cond: impl FnMut() -> bool) -> bool {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if cond() {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGKILLs every process carrying the marker when dropped (also on
    /// test failure), so no `sleep 1000` outlives the test.
    pub struct Reaper(pub String);

    impl Drop for Reaper {
        fn drop(&mut self) {
            for f in find(&self.0) {
                if f.pid > 1 {
                    let _ = kill(Pid::from_raw(f.pid), Signal::SIGKILL);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run::exec::local::testutil::{Reaper, find, unique_marker, wait_until};
    use std::sync::Arc;
    use std::thread;

    type BoxError = Box<dyn std::error::Error>;
    type TestResult = Result<(), BoxError>;
    type RunOutput = (JobExit, Vec<u8>, Vec<u8>);

    fn capture() -> Capture {
        match Capture::new(std::env::temp_dir()) {
            Ok(c) => c,
            Err(e) => panic!("cannot create capture: {e}"),
        }
    }

    fn outputs(cap: &mut Capture) -> io::Result<(Vec<u8>, Vec<u8>)> {
        let (mut o, mut e) = (Vec::new(), Vec::new());
        cap.write_stdout_to(&mut o)?;
        cap.write_stderr_to(&mut e)?;
        Ok((o, e))
    }

    fn run(cmd: &[u8]) -> Result<RunOutput, BoxError> {
        let mut cap = capture();
        let reg = ProcessRegistry::new();
        let exit = run_job(cmd, &mut cap, &reg)?;
        let (o, e) = outputs(&mut cap)?;
        assert_eq!(
            (exit.stdout_len, exit.stderr_len),
            (o.len() as u64, e.len() as u64)
        );
        assert_eq!(reg.running_count(), 0);
        Ok((exit, o, e))
    }

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
    fn exit_code_passthrough() -> TestResult {
        let (exit, o, e) = run(b"exit 3")?;
        assert_eq!(exit.status, ExitStatusKind::Exited(3));
        assert!(!exit.success());
        assert!(o.is_empty() && e.is_empty());
        let (exit, ..) = run(b"true")?;
        assert!(exit.success());
        Ok(())
    }

    #[test]
    fn killed_by_signal() -> TestResult {
        let (exit, ..) = run(b"kill -9 $$")?;
        assert_eq!(exit.status, ExitStatusKind::Signaled { signal: 9 });
        Ok(())
    }

    #[test]
    fn command_not_found_is_127() -> TestResult {
        let (exit, o, e) = run(b"atp-no-such-command-7f3a")?;
        assert_eq!(exit.status, ExitStatusKind::Exited(127));
        assert!(o.is_empty());
        assert!(String::from_utf8_lossy(&e).contains("not found"));
        Ok(())
    }

    #[test]
    fn stdout_and_stderr_separate_and_exact() -> TestResult {
        let (exit, o, e) = run(b"printf 'out 1\\n'; printf 'err\\n' >&2; printf 'out 2'")?;
        assert!(exit.success());
        assert_eq!(o, b"out 1\nout 2");
        assert_eq!(e, b"err\n");
        Ok(())
    }

    #[test]
    fn large_output_exact() -> TestResult {
        let mut cap = capture();
        let reg = ProcessRegistry::new();
        let exit = run_job(b"head -c 5000000 /dev/zero; printf E >&2", &mut cap, &reg)?;
        assert_eq!((exit.stdout_len, exit.stderr_len), (5_000_000, 1));
        let (o, e) = outputs(&mut cap)?;
        assert_eq!(o.len(), 5_000_000);
        assert!(o.iter().all(|&b| b == 0));
        assert_eq!(e, b"E");
        // File-to-file copy (the copy_file_range/sendfile path).
        let mut dest = tempfile::tempfile()?;
        assert_eq!(cap.write_stdout_to(&mut dest)?, 5_000_000);
        assert_eq!(dest.metadata()?.len(), 5_000_000);
        Ok(())
    }

    #[test]
    fn capture_reuse_does_not_leak() -> TestResult {
        let mut cap = capture();
        let reg = ProcessRegistry::new();
        run_job(
            b"printf 'aaaaaaaaaa'; printf 'EEEEEEEE' >&2",
            &mut cap,
            &reg,
        )?;
        assert_eq!(
            outputs(&mut cap)?,
            (b"aaaaaaaaaa".to_vec(), b"EEEEEEEE".to_vec())
        );
        assert!(!cap.is_tainted());
        // No explicit reset: run_job resets.
        let exit = run_job(b"printf b", &mut cap, &reg)?;
        assert_eq!((exit.stdout_len, exit.stderr_len), (1, 0));
        assert_eq!(outputs(&mut cap)?, (b"b".to_vec(), Vec::new()));
        // Explicit reset, then an empty job.
        cap.reset()?;
        run_job(b":", &mut cap, &reg)?;
        assert_eq!(outputs(&mut cap)?, (Vec::new(), Vec::new()));
        Ok(())
    }

    #[test]
    fn non_utf8_command_bytes() -> TestResult {
        let (exit, o, _) = run(b"printf '%s' '\xff\xfe'")?;
        assert!(exit.success());
        assert_eq!(o, b"\xff\xfe");
        Ok(())
    }

    #[test]
    fn stdin_is_dev_null() -> TestResult {
        // If stdin were inherited this could block or eat the test's stdin.
        let (exit, o, _) = run(b"cat; readlink /proc/$$/fd/0")?;
        assert!(exit.success());
        assert_eq!(o, b"/dev/null\n");
        Ok(())
    }

    #[test]
    fn own_process_group() -> TestResult {
        let (_, o, _) = run(b"echo $$ $(ps -o pgid= -p $$)")?;
        let s = String::from_utf8(o)?;
        let v: Vec<&str> = s.split_whitespace().collect();
        assert_eq!(v.len(), 2, "{s:?}");
        assert_eq!(v[0], v[1]);
        Ok(())
    }

    #[test]
    fn lingering_writer_does_not_leak_into_next_job() -> TestResult {
        let dir = tempfile::tempdir()?;
        let d = dir.path().display();
        let mut cap = capture();
        let reg = ProcessRegistry::new();
        // Background writer waits for GO, writes "late" into job 1's stdout,
        // then signals DONE. Loops are bounded (10 s) so nothing can hang.
        let job1 = format!(
            "(i=0; while [ ! -e {d}/GO ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i+1)); done; \
             echo late; echo late >&2; touch {d}/DONE) & echo hi"
        );
        let exit = run_job(job1.as_bytes(), &mut cap, &reg)?;
        assert!(exit.success());
        assert!(cap.is_tainted());
        assert_eq!(reg.lingering_count(), 1);
        assert_eq!(outputs(&mut cap)?, (b"hi\n".to_vec(), Vec::new()));
        let job2 = format!(
            "touch {d}/GO; i=0; while [ ! -e {d}/DONE ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i+1)); done; \
             echo second"
        );
        let exit = run_job(job2.as_bytes(), &mut cap, &reg)?;
        assert!(exit.success());
        assert!(
            dir.path().join("DONE").exists(),
            "background writer never ran"
        );
        assert_eq!(outputs(&mut cap)?, (b"second\n".to_vec(), Vec::new()));
        assert!(!cap.is_tainted());
        assert!(wait_until(|| reg.lingering_count() == 0));
        Ok(())
    }

    #[test]
    fn concurrent_workers_keep_outputs_apart() -> TestResult {
        let reg = Arc::new(ProcessRegistry::new());
        let workers: Vec<_> = (0..3)
            .map(|w| {
                let reg = Arc::clone(&reg);
                thread::spawn(move || -> io::Result<usize> {
                    let mut cap = Capture::new(std::env::temp_dir())?;
                    let mut ok = 0;
                    for j in 0..15 {
                        let cmd = format!("echo out-{w}-{j}; echo err-{w}-{j} >&2");
                        let exit =
                            run_job(cmd.as_bytes(), &mut cap, &reg).map_err(io::Error::other)?;
                        let (o, e) = outputs(&mut cap)?;
                        if exit.success()
                            && o == format!("out-{w}-{j}\n").as_bytes()
                            && e == format!("err-{w}-{j}\n").as_bytes()
                        {
                            ok += 1;
                        }
                    }
                    Ok(ok)
                })
            })
            .collect();
        for w in workers {
            let ok = w.join().map_err(|_| "worker panicked")??;
            assert_eq!(ok, 15);
        }
        assert_eq!(reg.running_count(), 0);
        Ok(())
    }

    /// Runs `cmd` on a worker thread; returns its handle.
    fn spawn_worker(
        cmd: String,
        reg: &Arc<ProcessRegistry>,
    ) -> thread::JoinHandle<Result<JobExit, RunError>> {
        let reg = Arc::clone(reg);
        thread::spawn(move || {
            let mut cap = Capture::new(std::env::temp_dir()).map_err(RunError::Capture)?;
            run_job(cmd.as_bytes(), &mut cap, &reg)
        })
    }

    fn join(
        h: thread::JoinHandle<Result<JobExit, RunError>>,
    ) -> Result<JobExit, Box<dyn std::error::Error>> {
        Ok(h.join().map_err(|_| "worker panicked")??)
    }

    #[test]
    fn terminate_all_kills_whole_pipeline() -> TestResult {
        let m = unique_marker();
        let _reaper = Reaper(m.clone());
        let reg = Arc::new(ProcessRegistry::new());
        let h = spawn_worker(format!("sleep {m} | ATP_TEST_MARK={m} cat"), &reg);
        let both = || {
            let f = find(&m);
            f.iter().any(|p| p.cmdline == format!("sleep {m}"))
                && f.iter().any(|p| p.cmdline == "cat")
        };
        assert!(wait_until(both), "pipeline never started: {:?}", find(&m));
        let report = reg.terminate_all(Duration::from_secs(20));
        assert_eq!((report.groups, report.killed), (1, 0), "{report:?}");
        assert!(!report.interrupted);
        // terminate_all returned because the group is gone: nothing left.
        assert!(find(&m).is_empty(), "{:?}", find(&m));
        let exit = join(h)?;
        assert_eq!(exit.status, ExitStatusKind::Signaled { signal: 15 });
        assert_eq!(reg.running_count(), 0);
        Ok(())
    }

    #[test]
    fn term_trapping_job_is_killed_after_grace() -> TestResult {
        let m = unique_marker();
        let _reaper = Reaper(m.clone());
        let reg = Arc::new(ProcessRegistry::new());
        let h = spawn_worker(format!("trap '' TERM; sleep {m}; echo survived"), &reg);
        assert!(wait_until(|| find(&m)
            .iter()
            .any(|p| p.cmdline == format!("sleep {m}"))));
        let grace = Duration::from_millis(300);
        let t0 = Instant::now();
        let report = reg.terminate_all(grace);
        let waited = t0.elapsed();
        assert_eq!((report.groups, report.killed), (1, 1), "{report:?}");
        assert!(
            waited >= grace,
            "returned before the grace period: {waited:?}"
        );
        let exit = join(h)?;
        assert_eq!(exit.status, ExitStatusKind::Signaled { signal: 9 });
        assert_eq!(exit.stdout_len, 0);
        assert!(wait_until(|| find(&m).is_empty()), "{:?}", find(&m));
        Ok(())
    }

    #[test]
    fn kill_now_cuts_grace_short() -> TestResult {
        let m = unique_marker();
        let _reaper = Reaper(m.clone());
        let reg = Arc::new(ProcessRegistry::new());
        let h = spawn_worker(format!("trap '' TERM; sleep {m}"), &reg);
        assert!(wait_until(|| find(&m)
            .iter()
            .any(|p| p.cmdline == format!("sleep {m}"))));
        let t0 = Instant::now();
        let terminator = {
            let reg = Arc::clone(&reg);
            thread::spawn(move || reg.terminate_all(Duration::from_secs(60)))
        };
        thread::sleep(Duration::from_millis(200));
        reg.kill_now();
        let report = terminator.join().map_err(|_| "terminator panicked")?;
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "grace not cut short"
        );
        assert!(report.interrupted, "{report:?}");
        let exit = join(h)?;
        assert_eq!(exit.status, ExitStatusKind::Signaled { signal: 9 });
        assert!(wait_until(|| find(&m).is_empty()), "{:?}", find(&m));
        Ok(())
    }

    #[test]
    fn terminate_all_cleans_lingering_groups() -> TestResult {
        let m = unique_marker();
        let _reaper = Reaper(m.clone());
        let mut cap = capture();
        let reg = ProcessRegistry::new();
        let exit = run_job(
            format!("sleep {m} > /dev/null & echo hi").as_bytes(),
            &mut cap,
            &reg,
        )?;
        assert!(exit.success());
        assert_eq!(outputs(&mut cap)?.0, b"hi\n");
        assert_eq!(reg.running_count(), 0);
        assert_eq!(reg.lingering_count(), 1);
        assert_eq!(find(&m).len(), 1);
        let report = reg.terminate_all(Duration::from_secs(20));
        assert_eq!((report.groups, report.killed), (1, 0), "{report:?}");
        assert!(find(&m).is_empty(), "{:?}", find(&m));
        assert_eq!(reg.lingering_count(), 0);
        Ok(())
    }

    #[test]
    fn closed_registry_cancels() -> TestResult {
        let m = unique_marker();
        let _reaper = Reaper(m.clone());
        let mut cap = capture();
        let reg = ProcessRegistry::new();
        reg.close();
        let res = run_job(format!("sleep {m}").as_bytes(), &mut cap, &reg);
        assert!(matches!(res, Err(RunError::Cancelled)), "{res:?}");
        assert!(find(&m).is_empty());
        assert_eq!(reg.running_count(), 0);
        Ok(())
    }

    #[test]
    fn close_racing_spawn_kills_new_group() -> TestResult {
        // Exercise the "spawned, then registry found closed" path directly:
        // spawn like run_job does, close, then register.
        let m = unique_marker();
        let _reaper = Reaper(m.clone());
        let reg = ProcessRegistry::new();
        let mut child = Command::new(SHELL)
            .arg("-c")
            .arg(format!("sleep {m}"))
            .stdin(Stdio::null())
            .process_group(0)
            .spawn()?;
        let pid = Pid::from_raw(i32::try_from(child.id())?);
        reg.close();
        assert!(reg.register(pid, Instant::now()).is_err());
        kill_group_and_reap(pid, &mut child);
        assert!(!group_alive(pid));
        assert!(wait_until(|| find(&m).is_empty()));
        Ok(())
    }

    #[test]
    fn running_jobs_are_listed() -> TestResult {
        let m = unique_marker();
        let _reaper = Reaper(m.clone());
        let reg = Arc::new(ProcessRegistry::new());
        let h = spawn_worker(format!("sleep {m}"), &reg);
        assert!(wait_until(|| reg.running_count() == 1));
        let jobs = reg.running_jobs();
        assert_eq!(jobs.len(), 1);
        assert!(jobs[0].started <= Instant::now());
        assert!(group_alive(jobs[0].pid));
        assert_eq!(reg.signal_all(Signal::SIGKILL), 1);
        let exit = join(h)?;
        assert_eq!(exit.status, ExitStatusKind::Signaled { signal: 9 });
        assert_eq!(reg.running_count(), 0);
        Ok(())
    }
}
