//! Waiting for a local job's leader without reaping it (`waitid` with `WNOWAIT`), so
//! its pgid stays ours until the executor has forgotten the job.
//!
//! Invariants: nothing here reaps; a job stopped by SIGTTIN or SIGTTOU (it tried to
//! use the terminal it does not have) is killed rather than waited for for ever.

use std::io;
use std::process::Child;

use nix::errno::Errno;
use nix::sys::signal::{Signal, killpg};
use nix::sys::wait::{Id, WaitPidFlag, WaitStatus, waitid};
use nix::unistd::Pid;

/// Whether `child` has exited, without reaping it (`WNOHANG | WNOWAIT`): its
/// pgid stays ours until the executor has unregistered it.
///
/// # Errors
/// `waitid` failing (other than being interrupted).
pub(crate) fn has_exited(child: &Child) -> io::Result<bool> {
    let pid = i32::try_from(child.id())
        .map(Pid::from_raw)
        .map_err(|_| io::Error::other("child pid out of range"))?;
    pid_has_exited(pid)
}

/// Whether our child `pid` has exited, without reaping it; see [`has_exited`].
///
/// # Errors
/// `waitid` failing (other than being interrupted), e.g. `ECHILD` for a pid that
/// is not an unreaped child of ours.
pub(crate) fn pid_has_exited(pid: Pid) -> io::Result<bool> {
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
pub(crate) fn wait_exited_nowait(pid: Pid) -> io::Result<()> {
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
