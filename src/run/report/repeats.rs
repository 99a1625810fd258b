//! `--repeat` on a terminal: a watchdog failing the same way run after run prints
//! its status line once, not once per run.
//!
//! Owns: per watchdog, the last failure shown and how many identical ones were
//! held back since. A failure is identical when its verdict (exit code, signal,
//! timeout, or why it could not run) is; the run number and duration do not count.
//! When the watchdog's next line differs (a success, another failure) or the run
//! ends, one line says how many times the failure repeated.
//!
//! Invariant: every run is still counted (tally, summary, table); only the status
//! lines are collapsed, and only where a person reads them (stderr a terminal) —
//! a log file keeps one line per run.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::run::lock::lock;

/// The last failure shown, and the identical ones held back since.
#[derive(Debug)]
struct Shown {
    verdict: String,
    held: u64,
}

/// The collapsing state of every watchdog.
#[derive(Debug, Default)]
pub(crate) struct Repeats {
    last: Mutex<HashMap<u64, Shown>>,
}

impl Repeats {
    /// Watchdog `number`'s run ended (`ok`, with `verdict`): `None` holds its
    /// status line back; `Some(note)` shows it, after `note` (empty, or the line
    /// saying how often the previous failure repeated).
    pub(crate) fn run_ended(&self, number: u64, ok: bool, verdict: String) -> Option<String> {
        let mut last = lock(&self.last);
        if !ok
            && let Some(shown) = last.get_mut(&number)
            && shown.verdict == verdict
        {
            shown.held += 1;
            return None;
        }
        let note = match ok {
            true => last.remove(&number),
            false => last.insert(number, Shown { verdict, held: 0 }),
        };
        Some(note.map_or_else(String::new, |shown| repeated(number, shown.held)))
    }

    /// The notes of every watchdog whose last failure repeated, at the end of the run.
    pub(crate) fn finish(&self) -> String {
        let mut last: Vec<_> = lock(&self.last).drain().collect();
        last.sort_by_key(|(number, _)| *number);
        last.into_iter()
            .map(|(number, shown)| repeated(number, shown.held))
            .collect()
    }
}

/// `[3] the failure above repeated 41 more times` (empty when none was held).
fn repeated(number: u64, held: u64) -> String {
    match held {
        0 => String::new(),
        1 => format!("[{number}] the failure above repeated once more\n"),
        n => format!("[{number}] the failure above repeated {n} more times\n"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identical_failures_are_held_back_and_counted() {
        let r = Repeats::default();
        assert_eq!(r.run_ended(1, false, "exit 1".into()), Some(String::new()));
        assert_eq!(r.run_ended(1, false, "exit 1".into()), None);
        assert_eq!(r.run_ended(1, false, "exit 1".into()), None);
        // Another watchdog is separate.
        assert_eq!(r.run_ended(2, false, "exit 1".into()), Some(String::new()));
        // A different failure is shown, after the count.
        assert_eq!(
            r.run_ended(1, false, "exit 2".into()).as_deref(),
            Some("[1] the failure above repeated 2 more times\n")
        );
        assert_eq!(r.run_ended(1, false, "exit 2".into()), None);
        // A success is shown, after the count, and starts afresh.
        assert_eq!(
            r.run_ended(1, true, "ok".into()).as_deref(),
            Some("[1] the failure above repeated once more\n")
        );
        assert_eq!(r.run_ended(1, true, "ok".into()), Some(String::new()));
        assert_eq!(r.run_ended(2, false, "exit 1".into()), None);
        assert_eq!(r.finish(), "[2] the failure above repeated once more\n");
        assert_eq!(r.finish(), "");
    }
}
