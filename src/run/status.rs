//! SIGUSR1: print the running jobs (number, how long each has run, command) on
//! standard error, stopping nothing.
//!
//! Owns: the table of running jobs ([`RunningJobs`]) and the signal thread.
//!
//! Invariants:
//! - No signal handler and no unsafe code: SIGUSR1 is blocked in the calling
//!   thread by [`block_sigusr1`] *before* the run spawns any thread, so every
//!   thread inherits the mask and a SIGUSR1 sent to the process stays pending until
//!   the one thread that `sigwait`s for it takes it. Jobs are not affected: std
//!   resets the signal mask of the processes it spawns, so a job gets SIGUSR1's
//!   default action (tested in `tests/cli_jobs.rs`).
//! - A job is in the table from just before it is spawned until its result has
//!   been reported; the table is keyed by job number (one attempt, or one run of
//!   a watchdog, at a time).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use nix::sys::signal::{SigSet, Signal};

use super::duration::format_duration;
use super::report::{Reporter, push_printable};

#[derive(Debug)]
struct Entry {
    command: Vec<u8>,
    started: Instant,
}

/// The jobs running now.
#[derive(Debug, Default)]
pub struct RunningJobs {
    jobs: Mutex<BTreeMap<u64, Entry>>,
}

/// Removes its job from the table when dropped.
pub struct Running<'a> {
    table: &'a RunningJobs,
    number: u64,
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.table.lock().remove(&self.number);
    }
}

impl RunningJobs {
    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<u64, Entry>> {
        self.jobs.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Job `number` is starting `command`; it leaves the table when the guard drops.
    pub fn enter(&self, number: u64, command: &[u8]) -> Running<'_> {
        self.lock().insert(
            number,
            Entry {
                command: command.to_vec(),
                started: Instant::now(),
            },
        );
        Running {
            table: self,
            number,
        }
    }

    /// `atp-run: 2 jobs running:` then `  [3] 1.234s: cmd` lines, by job number.
    pub fn describe(&self, now: Instant) -> String {
        let jobs = self.lock();
        let mut out = match jobs.len() {
            0 => "atp-run: no job running".to_owned(),
            1 => "atp-run: 1 job running:".to_owned(),
            n => format!("atp-run: {n} jobs running:"),
        };
        for (number, entry) in jobs.iter() {
            let ran = now.saturating_duration_since(entry.started);
            let _ = write!(out, "\n  [{number}] {}: ", format_duration(ran));
            push_printable(&mut out, &entry.command);
        }
        out
    }
}

/// Blocks SIGUSR1 in the calling thread (and so in every thread it spawns from
/// now on). Call it before any other thread exists.
pub fn block_sigusr1() -> nix::Result<()> {
    usr1().thread_block()
}

fn usr1() -> SigSet {
    let mut set = SigSet::empty();
    set.add(Signal::SIGUSR1);
    set
}

/// Starts the thread that waits for SIGUSR1 and prints the running jobs.
pub fn spawn_listener(running: Arc<RunningJobs>, reporter: Arc<Reporter>) -> std::io::Result<()> {
    std::thread::Builder::new()
        .name("atp-run-sigusr1".into())
        .spawn(move || {
            let set = usr1();
            loop {
                match set.wait() {
                    Ok(_) => reporter.message(&running.describe(Instant::now())),
                    Err(err) => {
                        log::warn!("sigwait(SIGUSR1) failed: {err}");
                        return;
                    }
                }
            }
        })
        .map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_lists_running_jobs_by_number() {
        let table = RunningJobs::default();
        assert_eq!(table.describe(Instant::now()), "atp-run: no job running");
        let _b = table.enter(12, b"sleep 2");
        {
            let _a = table.enter(3, b"echo 'a\nb'");
            let text = table.describe(Instant::now());
            let lines: Vec<&str> = text.lines().collect();
            assert_eq!(lines[0], "atp-run: 2 jobs running:");
            assert!(lines[1].starts_with("  [3] ") && lines[1].ends_with("s: echo 'a\\nb'"));
            assert!(lines[2].starts_with("  [12] ") && lines[2].ends_with(": sleep 2"));
        }
        assert!(
            table
                .describe(Instant::now())
                .starts_with("atp-run: 1 job running:\n  [12] ")
        );
    }
}
