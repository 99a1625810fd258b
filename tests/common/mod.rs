//! Helpers shared by the `atp-run` CLI tests: a fresh temporary directory per test,
//! the binary, running it with a time limit, watching a running one, and finding
//! the processes a test started (by a unique marker) so that none outlives it.
//!
//! Nothing here depends on how fast the machine is: conditions are polled with
//! generous deadlines ([`PATIENCE`]), never asserted after a fixed sleep.

#![allow(dead_code)] // each test file uses a different part of this module

use std::ffi::OsStr;
use std::fs;
use std::io::{Read, Write};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

/// How long a condition may take to come true on a slow, shared machine.
pub const PATIENCE: Duration = Duration::from_secs(30);

/// How long a whole `atp-run` invocation may take before the test gives up on it.
pub const RUN_LIMIT: Duration = Duration::from_secs(60);

/// The binary under test.
pub fn bin() -> &'static Path {
    assert_cmd::cargo::cargo_bin!("atp-run")
}

/// Polls `condition` until it holds; panics naming `what` after [`PATIENCE`].
pub fn eventually(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + PATIENCE;
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A marker unique to this test process and call, usable as a `sleep` argument
/// (`sleep 1000.<marker digits>` sleeps 1000 s): `1000.77<pid, 7 digits><n, 4 digits>`.
/// Fixed width, so one marker is never a prefix of another.
pub fn marker() -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "1000.77{:07}{:04}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// A fresh temporary directory that `atp-run` runs in.
pub struct Sandbox {
    dir: tempfile::TempDir,
}

impl Default for Sandbox {
    fn default() -> Self {
        Self::new()
    }
}

impl Sandbox {
    pub fn new() -> Sandbox {
        Sandbox {
            dir: tempfile::tempdir().expect("cannot create a temporary directory"),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn join(&self, name: impl AsRef<Path>) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Writes `contents` to `name` in the sandbox and returns its path.
    pub fn write(&self, name: &str, contents: impl AsRef<[u8]>) -> PathBuf {
        let path = self.join(name);
        fs::write(&path, contents).expect("cannot write a test file");
        path
    }

    pub fn exists(&self, name: &str) -> bool {
        self.join(name).exists()
    }

    pub fn read(&self, name: &str) -> Vec<u8> {
        fs::read(self.join(name)).unwrap_or_else(|e| panic!("cannot read {name}: {e}"))
    }

    pub fn read_string(&self, name: &str) -> String {
        String::from_utf8(self.read(name)).expect("not UTF-8")
    }

    /// `atp-run` with `args`, running in the sandbox, with a clean environment for
    /// its own diagnostics (no RUST_LOG, no colour).
    pub fn command<I, S>(&self, args: I) -> Command
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut cmd = Command::new(bin());
        cmd.args(args)
            .current_dir(self.path())
            .env_remove("RUST_LOG")
            .env("NO_COLOR", "1");
        cmd
    }

    /// Runs `atp-run args` to the end with `stdin` as its standard input; panics if
    /// it takes longer than [`RUN_LIMIT`].
    pub fn run<I, S>(&self, args: I, stdin: impl AsRef<[u8]>) -> Run
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let output = assert_cmd::Command::from_std(self.command(args))
            .write_stdin(stdin.as_ref().to_vec())
            .timeout(RUN_LIMIT)
            .output()
            .expect("cannot run atp-run");
        Run::from(output)
    }

    /// Starts `atp-run args` in the background with stdout and stderr collected
    /// (stdin from /dev/null).
    pub fn spawn<I, S>(&self, args: I) -> Running
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut cmd = self.command(args);
        cmd.stdin(Stdio::null());
        Running::spawn(cmd)
    }
}

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
    /// The exit code; panics (showing stderr) if it was killed by a signal, which
    /// includes the [`RUN_LIMIT`] running out.
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

/// A reader thread collecting everything from a pipe, readable while it runs.
pub struct Collector {
    buffer: Arc<Mutex<Vec<u8>>>,
    thread: Option<JoinHandle<()>>,
}

impl Collector {
    pub fn new(mut source: impl Read + Send + 'static) -> Collector {
        let buffer = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&buffer);
        let thread = std::thread::spawn(move || {
            let mut chunk = [0u8; 64 * 1024];
            loop {
                match source.read(&mut chunk) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => sink.lock().unwrap().extend_from_slice(&chunk[..n]),
                }
            }
        });
        Collector {
            buffer,
            thread: Some(thread),
        }
    }

    /// Everything read so far.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.buffer.lock().unwrap()).into_owned()
    }

    /// Waits for the end of the stream and returns everything.
    pub fn finish(&mut self) -> Vec<u8> {
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        std::mem::take(&mut *self.buffer.lock().unwrap())
    }
}

/// `atp-run` running in the background. Killed (SIGKILL) when dropped if it is still
/// running, so a failing test never leaves it behind.
pub struct Running {
    pub child: Child,
    pub stdout: Option<Collector>,
    pub stderr: Collector,
}

impl Running {
    /// Spawns `cmd` with stdout and stderr piped to collectors, unless stdout was
    /// already set up by the caller (then pass it as piped and take it yourself).
    pub fn spawn(mut cmd: Command) -> Running {
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("cannot start atp-run");
        let stdout = Collector::new(child.stdout.take().expect("piped"));
        let stderr = Collector::new(child.stderr.take().expect("piped"));
        Running {
            child,
            stdout: Some(stdout),
            stderr,
        }
    }

    /// Spawns `cmd` with stderr collected and stdout as the caller set it up (if it
    /// is piped, take `child.stdout` yourself).
    pub fn spawn_raw_stdout(mut cmd: Command) -> Running {
        cmd.stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("cannot start atp-run");
        let stderr = Collector::new(child.stderr.take().expect("piped"));
        Running {
            child,
            stdout: None,
            stderr,
        }
    }

    pub fn pid(&self) -> Pid {
        Pid::from_raw(self.child.id() as i32)
    }

    /// Sends `signal` to atp-run (not to its jobs: they are in their own groups).
    pub fn signal(&self, signal: Signal) {
        kill(self.pid(), signal).expect("cannot signal atp-run");
    }

    /// Standard error so far.
    pub fn stderr_so_far(&self) -> String {
        self.stderr.text()
    }

    /// Waits up to `limit` for atp-run to exit; panics (showing stderr) if it does not.
    pub fn wait_for_exit(&mut self, limit: Duration) -> Finished {
        let deadline = Instant::now() + limit;
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("cannot wait for atp-run") {
                break status;
            }
            assert!(
                Instant::now() < deadline,
                "atp-run still running after {limit:?}; stderr so far:\n{}",
                self.stderr.text()
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        let stdout = self
            .stdout
            .as_mut()
            .map(Collector::finish)
            .unwrap_or_default();
        let stderr = String::from_utf8_lossy(&self.stderr.finish()).into_owned();
        Finished {
            ended: Instant::now(),
            run: Run {
                status,
                stdout,
                stderr,
            },
        }
    }

    /// Writes to atp-run's standard input, if it was piped.
    pub fn write_stdin(&mut self, bytes: &[u8]) {
        let stdin = self.child.stdin.as_mut().expect("stdin is not piped");
        stdin.write_all(bytes).expect("cannot write to atp-run");
        stdin.flush().expect("cannot write to atp-run");
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// What [`Running::wait_for_exit`] saw.
pub struct Finished {
    /// About when atp-run exited (at most one poll late).
    pub ended: Instant,
    pub run: Run,
}

/// A live (not zombie) process.
#[derive(Debug, Clone)]
pub struct Process {
    pub pid: i32,
    pub pgid: i32,
    /// argv joined with spaces.
    pub cmdline: String,
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && hay.windows(needle.len()).any(|w| w == needle)
}

/// Every live process except zombies (on this machine PID 1 does not reap orphans,
/// so zombies of killed pipelines may linger and are not "running").
pub fn live_processes() -> Vec<Process> {
    let mut out = Vec::new();
    let Ok(dir) = fs::read_dir("/proc") else {
        return out;
    };
    for entry in dir.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .filter(|s| s.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|s| s.parse::<i32>().ok())
        else {
            continue;
        };
        let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // `pid (comm) state ppid pgrp ...`; comm may contain spaces and parentheses.
        let Some((_, after_comm)) = stat.rsplit_once(')') else {
            continue;
        };
        let mut fields = after_comm.split_whitespace();
        let state = fields.next().unwrap_or("Z");
        if state == "Z" || state == "X" {
            continue;
        }
        let pgid = fields.nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
        let cmdline = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        out.push(Process {
            pid,
            pgid,
            cmdline: String::from_utf8_lossy(&cmdline)
                .replace('\0', " ")
                .trim_end()
                .to_owned(),
        });
    }
    out
}

/// Live processes whose command line contains `marker` (never this test process).
pub fn processes_with(marker: &str) -> Vec<Process> {
    let me = std::process::id() as i32;
    live_processes()
        .into_iter()
        .filter(|p| p.pid != me && contains(p.cmdline.as_bytes(), marker.as_bytes()))
        .collect()
}

/// Live `sleep <marker>` processes.
pub fn sleepers(marker: &str) -> Vec<Process> {
    processes_with(marker)
        .into_iter()
        .filter(|p| p.cmdline.starts_with("sleep "))
        .collect()
}

/// Live processes in any of `groups`.
pub fn members_of(groups: &[i32]) -> Vec<Process> {
    live_processes()
        .into_iter()
        .filter(|p| groups.contains(&p.pgid))
        .collect()
}

/// Asserts that, within [`PATIENCE`], no live process carries `marker` nor is in
/// one of `groups` (a job's whole pipeline: `cat` carries no marker).
pub fn assert_nothing_left(marker: &str, groups: &[i32]) {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let mut left = processes_with(marker);
        left.extend(members_of(groups));
        if left.is_empty() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "processes left running after atp-run exited: {left:#?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Kills (SIGKILL) every live process carrying `marker` when dropped, so a failing
/// test leaves nothing behind. (Only by marker, never by process group: a group id
/// may be reused by someone else's processes on a shared machine. A job's `cat`
/// reading from a killed `sleep` ends by itself.)
pub struct Reaper(pub String);

impl Reaper {
    pub fn new(marker: &str) -> Reaper {
        Reaper(marker.to_owned())
    }
}

impl Drop for Reaper {
    fn drop(&mut self) {
        for p in processes_with(&self.0) {
            if p.pid > 1 {
                let _ = kill(Pid::from_raw(p.pid), Signal::SIGKILL);
            }
        }
    }
}
