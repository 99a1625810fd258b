//! What the `-S` hosts' start-up has begun, so that an interrupt during it (a
//! Ctrl-C while a slow host connects) leaves nothing behind: the masters being
//! started and the control sockets' directory.
//!
//! Owns: the process-wide record of one start-up ([`begin`] … [`end`]) and
//! abandoning it ([`abandon`]: every master's process group killed, the directory
//! removed).
//!
//! Invariants: only one start-up is recorded at a time (a run starts its hosts
//! once, before any job); outside [`begin`] … [`end`] nothing is recorded and
//! [`abandon`] does nothing (the executor, once made, ends its masters itself).
//! Masters run in process groups of their own, so killing a group reaches only it.

use std::path::PathBuf;
use std::sync::Mutex;

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

use crate::run::lock::lock;

#[derive(Debug)]
struct StartUp {
    dir: PathBuf,
    masters: Vec<u32>,
}

static STARTING: Mutex<Option<StartUp>> = Mutex::new(None);

/// A start-up begins, its sockets in `dir`.
pub(crate) fn begin(dir: PathBuf) {
    *lock(&STARTING) = Some(StartUp {
        dir,
        masters: Vec::new(),
    });
}

/// A master (the leader of its own process group) was spawned.
pub(crate) fn track(pid: u32) {
    if let Some(start) = lock(&STARTING).as_mut() {
        start.masters.push(pid);
    }
}

/// The start-up is over: the executor owns what it began.
pub(crate) fn end() {
    lock(&STARTING).take();
}

/// An interrupt came during the start-up: kills every master it began and removes
/// the sockets' directory.
pub(crate) fn abandon() {
    let Some(start) = lock(&STARTING).take() else {
        return;
    };
    for pid in start.masters {
        if let Ok(pid) = i32::try_from(pid) {
            let _ = killpg(Pid::from_raw(pid), Signal::SIGKILL);
        }
    }
    let _ = std::fs::remove_dir_all(&start.dir);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::CommandExt;
    use std::process::Command;

    #[test]
    fn abandoning_kills_the_masters_begun_and_removes_the_directory() -> std::io::Result<()> {
        let dir = tempfile::tempdir()?.keep();
        let mut master = Command::new("sleep").arg("30").process_group(0).spawn()?;
        begin(dir.clone());
        track(master.id());
        abandon();
        let status = master.wait()?;
        assert!(!status.success(), "{status}");
        assert!(!dir.exists());
        // Once over, nothing is recorded and abandon does nothing.
        let mut later = Command::new("sleep").arg("30").process_group(0).spawn()?;
        track(later.id());
        abandon();
        assert!(
            later.try_wait()?.is_none(),
            "a master after the start-up was killed"
        );
        later.kill()?;
        later.wait()?;
        end();
        Ok(())
    }
}
