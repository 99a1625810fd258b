//! SIGUSR1: print the running jobs (number, how long each has run, command) on
//! standard error, stopping nothing.
//!
//! Owns: the table of running jobs ([`RunningJobs`]) and the signal thread.
//!
//! Invariants:
//! - SIGUSR1 is caught by `signal-hook`'s self-pipe handler and handled on a
//!   thread of its own, with no unsafe code here. It is *not* blocked with
//!   `sigwait`: std does not reset the signal mask of the processes it spawns
//!   (checked: a job's `SigBlk` showed SIGUSR1 blocked, and `kill -USR1 $$` no
//!   longer killed it), whereas a caught signal is reset to its default action by
//!   `exec`, so jobs get SIGUSR1's default action (tested in `tests/cli_jobs.rs`).
//! - A job is in the table from just before it is spawned until its result has
//!   been reported; the table is keyed by job number (one attempt, or one run of
//!   a watchdog, at a time).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use signal_hook::consts::SIGUSR1;
use signal_hook::iterator::Signals;

use crate::run::report::reporter::{Reporter, push_printable};
use crate::run::values::duration::format_duration;

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

/// Catches SIGUSR1 (from now on) and starts the thread that prints the running
/// jobs each time it arrives.
pub fn spawn_listener(running: Arc<RunningJobs>, reporter: Arc<Reporter>) -> std::io::Result<()> {
    let mut signals = Signals::new([SIGUSR1])?;
    std::thread::Builder::new()
        .name("atp-run-sigusr1".into())
        .spawn(move || {
            for _ in signals.forever() {
                reporter.message(&running.describe(Instant::now()));
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
