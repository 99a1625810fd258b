//! One OpenSSH ControlMaster: the connection that a host's job sessions are
//! multiplexed over, held by atp-run for the run.
//!
//! Owns: starting a master (its first command is the health check and the probe
//! of the host's cores), knowing whether it still runs, closing it.
//!
//! Invariants:
//! - The master's own session runs `nproc` (or `getconf _NPROCESSORS_ONLN`), then
//!   `cat` on its stdin, a pipe only atp-run holds: when atp-run ends, even by
//!   SIGKILL, the pipe closes, the session ends and the master exits
//!   (`ControlPersist=no`) once its job sessions are gone. So no process of a run
//!   stays; the directory of its sockets is removed by the next run (`sockets.rs`).
//! - A stale socket at the ControlPath is unlinked before the master starts (ssh
//!   would otherwise silently disable multiplexing), and after it is closed.
//! - `ServerAliveInterval`/`ServerAliveCountMax` end the master (and its sessions)
//!   within seconds when the host hangs; `ConnectTimeout` bounds a probe.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

/// Seconds between keep-alives, and how many may go unanswered.
pub(crate) const ALIVE_INTERVAL: u32 = 2;
/// See [`ALIVE_INTERVAL`].
pub(crate) const ALIVE_COUNT: u32 = 3;

/// The probe, then a wait for the end of stdin.
const PROBE: &str = "nproc 2>/dev/null || getconf _NPROCESSORS_ONLN; exec cat >/dev/null";

/// A running ControlMaster.
#[derive(Debug)]
pub(crate) struct Master {
    child: Child,
    /// Held open for the master's life; dropping it ends the master's session.
    stdin: Option<ChildStdin>,
    _stdout: BufReader<ChildStdout>,
    path: PathBuf,
}

impl Master {
    /// Starts a master to `host` on socket `path` and probes the host; returns it
    /// and the host's core count.
    ///
    /// # Errors
    /// One line: why the host cannot be used (ssh's last words on stderr).
    pub(crate) fn start(
        command: &[String],
        host: &str,
        path: &Path,
        connect_timeout: u32,
        errors: &Path,
    ) -> Result<(Master, usize), String> {
        let _ = std::fs::remove_file(path);
        let err_file =
            File::create(errors).map_err(|e| format!("cannot create {}: {e}", errors.display()))?;
        let (program, options) = command.split_first().ok_or("no ssh command")?;
        let mut command = Command::new(program);
        command
            .args(options)
            .args(["-o", "ControlMaster=yes", "-o", "ControlPersist=no"])
            .arg("-o")
            .arg(format!("ControlPath={}", path.display()))
            .arg("-o")
            .arg(format!("ConnectTimeout={connect_timeout}"))
            .arg("-o")
            .arg(format!("ServerAliveInterval={ALIVE_INTERVAL}"))
            .arg("-o")
            .arg(format!("ServerAliveCountMax={ALIVE_COUNT}"))
            .arg(host)
            .arg("--")
            .arg(PROBE)
            .process_group(0)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(err_file);
        let mut child = super::starting::spawn(&mut command)
            .map_err(|e| format!("cannot run {program}: {e}"))?;
        let stdin = child.stdin.take();
        let Some(stdout) = child.stdout.take() else {
            let _ = child.kill();
            let _ = child.wait();
            return Err("ssh has no stdout".into());
        };
        let mut stdout = BufReader::new(stdout);
        let mut line = String::new();
        let read = stdout.read_line(&mut line);
        let cores = line.trim().parse::<usize>().ok().filter(|&n| n > 0);
        let mut master = Master {
            child,
            stdin,
            _stdout: stdout,
            path: path.to_owned(),
        };
        let Some(cores) = cores else {
            master.close();
            let why = std::fs::read_to_string(errors).unwrap_or_default();
            let why = why
                .lines()
                .rev()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("");
            return Err(match read {
                Err(e) => format!("cannot read its core count: {e}"),
                Ok(_) if why.is_empty() => format!("its core probe said {:?}", line.trim()),
                Ok(_) => why.trim().to_owned(),
            });
        };
        // The socket is bound before the session runs; wait a little if not yet.
        let deadline = Instant::now() + Duration::from_secs(5);
        while !path.exists() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        if !path.exists() {
            master.close();
            return Err(format!("no control socket at {}", path.display()));
        }
        Ok((master, cores))
    }

    /// The ControlPath its sessions use.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Whether the master still runs (its connection may still be going down).
    pub(crate) fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Whether a session over the master runs `true` within `timeout`: the check
    /// after a lost job (a master that is going down may still be running).
    pub(crate) fn answers(&mut self, command: &[String], host: &str, timeout: Duration) -> bool {
        let Some((program, options)) = command.split_first() else {
            return false;
        };
        if !self.is_running() {
            return false;
        }
        let check = Command::new(program)
            .args(options)
            .args(["-o", "ControlMaster=no", "-o"])
            .arg(format!("ControlPath={}", self.path.display()))
            .args([host, "--", "true"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn();
        let Ok(mut check) = check else {
            return false;
        };
        let deadline = Instant::now() + timeout;
        loop {
            match check.try_wait() {
                Ok(Some(status)) => return status.success() && self.is_running(),
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(20));
                }
                _ => {
                    let _ = check.kill();
                    let _ = check.wait();
                    return false;
                }
            }
        }
    }

    /// Ends the master's own session (end of its stdin): it exits once its job
    /// sessions are gone.
    pub(crate) fn hang_up(&mut self) {
        drop(self.stdin.take());
    }

    /// Ends the master: end of its stdin, a moment for it to go, then SIGKILL;
    /// reaps it and unlinks its socket.
    pub(crate) fn close(&mut self) {
        drop(self.stdin.take());
        let deadline = Instant::now() + Duration::from_millis(500);
        while matches!(self.child.try_wait(), Ok(None)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.path);
    }
}

impl Drop for Master {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            self.close();
        }
    }
}
