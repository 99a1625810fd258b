//! `atp-run` running in the background: its stdout and stderr collected by reader
//! threads and readable while it runs, signals sent to it, and waiting for its
//! exit with a time limit.
//!
//! Invariant: a [`Running`] is killed (SIGKILL) when dropped if it is still
//! running, so a failing test never leaves atp-run behind (its jobs carry the
//! test's [`super::marker::Marker`], which reaps them).

use std::io::{Read, Write};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use super::outcome::Run;

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
    /// Spawns `cmd` with stdout and stderr piped to collectors.
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

    /// Standard output so far; panics if it is not collected (see
    /// [`Running::spawn_raw_stdout`]).
    pub fn stdout_so_far(&self) -> String {
        self.stdout
            .as_ref()
            .expect("stdout is not collected")
            .text()
    }

    /// Standard error so far.
    pub fn stderr_so_far(&self) -> String {
        self.stderr.text()
    }

    /// Whether atp-run is still running.
    pub fn is_running(&mut self) -> bool {
        self.child
            .try_wait()
            .expect("cannot wait for atp-run")
            .is_none()
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
