//! What the `-S` hosts' start-up has begun, so that an interrupt during it (a
//! Ctrl-C while a slow host connects) leaves nothing behind: the masters being
//! started and the control sockets' directory.
//!
//! Owns: the process-wide record of one start-up ([`begin`] … [`end`]) and
//! abandoning it ([`abandon`]: every master's process group killed, the directory
//! removed).
//!
//! Invariants: a master is spawned and recorded under one lock, the one
//! [`abandon`] takes, and none is spawned after an abandon (the process is
//! ending); only one start-up is recorded at a time (a run starts its hosts
//! once, before any job); outside [`begin`] … [`end`] nothing is recorded and
//! [`abandon`] does nothing (the executor, once made, ends its masters itself).
//! Masters run in process groups of their own, so killing a group reaches only it.

use std::io;
use std::path::PathBuf;
use std::process::{Child, Command};
use std::sync::Mutex;

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

use crate::run::lock::lock;

#[derive(Debug)]
struct StartUp {
    dir: PathBuf,
    masters: Vec<u32>,
}

#[derive(Debug)]
enum State {
    /// No start-up under way: nothing to record.
    Idle,
    Starting(StartUp),
    /// Interrupted: the process is ending, no master may start any more.
    Abandoned,
}

static STARTING: Mutex<State> = Mutex::new(State::Idle);

/// A start-up begins, its sockets in `dir`.
pub(crate) fn begin(dir: PathBuf) {
    let mut state = lock(&STARTING);
    if !matches!(*state, State::Abandoned) {
        *state = State::Starting(StartUp {
            dir,
            masters: Vec::new(),
        });
    }
}

/// Spawns a master (`command` makes it the leader of its own process group) and
/// records it, both under the record's lock: an [`abandon`] cannot fall between
/// the spawn and the record and miss it, and no master starts after it.
pub(crate) fn spawn(command: &mut Command) -> io::Result<Child> {
    let mut state = lock(&STARTING);
    if matches!(*state, State::Abandoned) {
        return Err(io::Error::other("atp-run was interrupted"));
    }
    let child = command.spawn()?;
    if let State::Starting(start) = &mut *state {
        start.masters.push(child.id());
    }
    Ok(child)
}

/// The start-up is over: the executor owns what it began.
pub(crate) fn end() {
    let mut state = lock(&STARTING);
    if matches!(*state, State::Starting(_)) {
        *state = State::Idle;
    }
}

/// An interrupt came during the start-up: kills every master it began and removes
/// the sockets' directory; no master starts after this.
pub(crate) fn abandon() {
    let mut state = lock(&STARTING);
    let State::Starting(start) = &*state else {
        return;
    };
    for &pid in &start.masters {
        if let Ok(pid) = i32::try_from(pid) {
            let _ = killpg(Pid::from_raw(pid), Signal::SIGKILL);
        }
    }
    let _ = std::fs::remove_dir_all(&start.dir);
    *state = State::Abandoned;
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::CommandExt;

    fn sleeper() -> Command {
        let mut command = Command::new("sleep");
        command.arg("30").process_group(0);
        command
    }

    #[test]
    fn abandoning_kills_the_masters_begun_and_removes_the_directory() -> io::Result<()> {
        let dir = tempfile::tempdir()?.keep();
        begin(dir.clone());
        let mut master = spawn(&mut sleeper())?;
        abandon();
        let status = master.wait()?;
        assert!(!status.success(), "{status}");
        assert!(!dir.exists());
        // The process is ending: no master starts after the abandon.
        assert!(spawn(&mut sleeper()).is_err());
        // Outside a start-up, nothing is recorded and abandon kills nothing.
        *lock(&STARTING) = State::Idle;
        let mut later = spawn(&mut sleeper())?;
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
