//! The one tally of results: what the summary, `--halt`, the exit status, the
//! progress display and `--repeat`'s table all read.
//!
//! Invariants: only a job's counted attempts are recorded (a success, or its last
//! attempt; one per `--repeat` run); a cancelled job is never recorded; `killed` is a
//! subset of `failed`. Counters are atomics read without a lock; the per-command
//! table exists only with `--repeat`.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::run::lock::lock;

/// Counts of finished jobs (runs, in `--repeat` mode) at one moment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Counts {
    /// Runs that ended with exit code 0.
    pub succeeded: u64,
    /// Runs that exited non-zero, were killed, timed out or could not be started.
    pub failed: u64,
    /// Runs that ended by a signal (a subset of `failed`).
    pub killed: u64,
    /// Runs killed because the run was stopping (Ctrl-C, `--halt now`, a closed
    /// stdout): neither succeeded nor failed on their own.
    pub stopped: u64,
    /// Jobs handed over that never started because the run was stopping.
    pub not_started: u64,
}

impl Counts {
    /// All runs that finished on their own (not stopped).
    pub(crate) fn finished(&self) -> u64 {
        self.succeeded + self.failed
    }
}

/// Runs of one `--repeat` command, and how many of them failed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct CommandCounts {
    /// Runs recorded.
    pub runs: u64,
    /// Of those, failures.
    pub failures: u64,
}

/// The tally of a run; shared by the reporter (which records) and its readers.
#[derive(Debug, Default)]
pub(crate) struct Tally {
    succeeded: AtomicU64,
    failed: AtomicU64,
    killed: AtomicU64,
    stopped: AtomicU64,
    not_started: AtomicU64,
    /// `--repeat`: counts per job number.
    per_command: Option<Mutex<BTreeMap<u64, CommandCounts>>>,
}

impl Tally {
    /// An empty tally; `per_command` keeps counts per job too (`--repeat`).
    pub(crate) fn new(per_command: bool) -> Tally {
        Tally {
            per_command: per_command.then(Mutex::default),
            ..Tally::default()
        }
    }

    /// Records a counted result of job `number`.
    pub(crate) fn record(&self, number: u64, ok: bool, killed: bool) {
        let counter = if ok { &self.succeeded } else { &self.failed };
        counter.fetch_add(1, Ordering::Relaxed);
        if killed {
            self.killed.fetch_add(1, Ordering::Relaxed);
        }
        if let Some(table) = &self.per_command {
            let mut table = lock(table);
            let counts = table.entry(number).or_default();
            counts.runs += 1;
            counts.failures += u64::from(!ok);
        }
    }

    /// Records a run killed because the run was stopping: not a failure, and
    /// not a run of its `--repeat` command.
    pub(crate) fn record_stopped(&self) {
        self.stopped.fetch_add(1, Ordering::Relaxed);
    }

    /// Records a job that never started because the run was stopping.
    pub(crate) fn record_not_started(&self) {
        self.not_started.fetch_add(1, Ordering::Relaxed);
    }

    /// The counts now.
    pub(crate) fn counts(&self) -> Counts {
        Counts {
            succeeded: self.succeeded.load(Ordering::Relaxed),
            failed: self.failed.load(Ordering::Relaxed),
            killed: self.killed.load(Ordering::Relaxed),
            stopped: self.stopped.load(Ordering::Relaxed),
            not_started: self.not_started.load(Ordering::Relaxed),
        }
    }

    /// `--repeat`: counts of job `number` (zero if it never ran).
    pub(crate) fn of_command(&self, number: u64) -> CommandCounts {
        self.per_command
            .as_ref()
            .and_then(|table| lock(table).get(&number).copied())
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kills_are_failures_and_commands_are_counted_apart() {
        let tally = Tally::new(true);
        tally.record(1, true, false);
        tally.record(1, false, true);
        tally.record(2, false, false);
        tally.record_stopped();
        tally.record_not_started();
        assert_eq!(
            tally.counts(),
            Counts {
                succeeded: 1,
                failed: 2,
                killed: 1,
                stopped: 1,
                not_started: 1,
            }
        );
        assert_eq!(tally.counts().finished(), 3);
        assert_eq!(
            tally.of_command(1),
            CommandCounts {
                runs: 2,
                failures: 1
            }
        );
        assert_eq!(tally.of_command(3), CommandCounts::default());
        assert_eq!(
            tally.of_command(2).failures,
            1,
            "a stopped run is no failure"
        );
    }
}
