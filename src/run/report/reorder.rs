//! The reorder buffer behind `--keep-order`: jobs finish in any order, their output
//! is released in job-number order, as soon as every earlier job's was.
//!
//! Owns: the number of the next job due, and what later jobs that already finished
//! left to print (one item each, or a mark that a job has nothing to print).
//!
//! Invariants:
//! - Items come out in increasing job number, each exactly once, and an item is
//!   released as soon as every job before it completed ([`Reorder::complete`]); so
//!   what is held is exactly the jobs that finished ahead of a job still running.
//!   The caller bounds that (the feeder waits while [`Reorder::len`] is at its limit).
//! - Nothing is ever lost: an item for a number already passed (a late report) is
//!   released at once, and [`Reorder::drain`] releases everything held, in order,
//!   skipping the gaps left by jobs that will never complete (cancelled on
//!   interruption) — the end of a run never waits for them.
//! - Generic over the item and free of I/O, so it is tested on its own; the
//!   reporter stores capture files in it, not output bytes.

use std::collections::BTreeMap;

/// Items of jobs that finished ahead of their turn, keyed by job number.
#[derive(Debug)]
pub struct Reorder<T> {
    next: u64,
    held: BTreeMap<u64, Option<T>>,
}

impl<T> Reorder<T> {
    /// A buffer whose first job is number `first`.
    pub fn new(first: u64) -> Reorder<T> {
        Reorder {
            next: first,
            held: BTreeMap::new(),
        }
    }

    /// Whether job `number` is due now: every job before it has completed, so its
    /// output may be printed at once instead of being held.
    pub fn is_next(&self, number: u64) -> bool {
        number == self.next
    }

    /// Whether nothing is held.
    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.held.is_empty()
    }

    /// How many jobs are held (finished, waiting for an earlier one).
    pub fn len(&self) -> usize {
        self.held.len()
    }

    /// Job `number` completed, leaving `item` to print (`None`: nothing to print,
    /// e.g. it was cancelled, or its output was already printed because it
    /// [was next](Self::is_next)). Calls `release` with every item now due, in order.
    pub fn complete(&mut self, number: u64, item: Option<T>, mut release: impl FnMut(T)) {
        if number < self.next {
            // Late (reported twice, or after a drain): never lose it.
            if let Some(item) = item {
                release(item);
            }
            return;
        }
        if number > self.next {
            self.held.insert(number, item);
            return;
        }
        if let Some(item) = item {
            release(item);
        }
        self.next += 1;
        while let Some(entry) = self.held.first_entry() {
            if *entry.key() != self.next {
                break;
            }
            if let Some(item) = entry.remove() {
                release(item);
            }
            self.next += 1;
        }
    }

    /// Releases everything held, in order, whatever gaps remain (the end of a run:
    /// jobs before them will never complete).
    pub fn drain(&mut self, mut release: impl FnMut(T)) {
        while let Some((number, item)) = self.held.pop_first() {
            if let Some(item) = item {
                release(item);
            }
            self.next = number + 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn complete(r: &mut Reorder<u64>, n: u64) -> Vec<u64> {
        let mut out = Vec::new();
        r.complete(n, Some(n), |x| out.push(x));
        out
    }

    #[test]
    fn in_order_completions_pass_straight_through() {
        let mut r = Reorder::new(1);
        for n in 1..=5 {
            assert!(r.is_next(n));
            assert_eq!(complete(&mut r, n), [n]);
            assert!(r.is_empty());
        }
    }

    #[test]
    fn reverse_completions_are_held_then_released_together() {
        let mut r = Reorder::new(1);
        for n in (2..=5).rev() {
            assert!(!r.is_next(n));
            assert!(complete(&mut r, n).is_empty());
        }
        assert_eq!(r.len(), 4);
        assert_eq!(complete(&mut r, 1), [1, 2, 3, 4, 5]);
        assert!(r.is_empty() && r.is_next(6));
    }

    #[test]
    fn release_stops_at_the_first_gap() {
        let mut r = Reorder::new(1);
        assert!(complete(&mut r, 2).is_empty());
        assert!(complete(&mut r, 4).is_empty());
        assert_eq!(complete(&mut r, 1), [1, 2]);
        assert_eq!(r.len(), 1);
        assert_eq!(complete(&mut r, 3), [3, 4]);
    }

    #[test]
    fn nothing_to_print_still_moves_the_turn_on() {
        let mut r = Reorder::new(1);
        assert!(complete(&mut r, 3).is_empty());
        let mut out = Vec::new();
        r.complete(2, None, |x| out.push(x));
        assert!(out.is_empty());
        // Job 1 was printed directly by its worker, because it was next.
        assert!(r.is_next(1));
        r.complete(1, None, |x| out.push(x));
        assert_eq!(out, [3]);
        assert!(r.is_next(4));
    }

    #[test]
    fn drain_skips_gaps_and_late_items_are_not_lost() {
        let mut r = Reorder::new(1);
        assert!(complete(&mut r, 5).is_empty());
        assert!(complete(&mut r, 3).is_empty());
        let mut out = Vec::new();
        r.complete(4, None, |x| out.push(x));
        r.drain(|x| out.push(x));
        assert_eq!(out, [3, 5]);
        assert!(r.is_empty() && r.is_next(6));
        // Job 2 reports after the drain: printed at once.
        assert_eq!(complete(&mut r, 2), [2]);
        assert_eq!(complete(&mut r, 6), [6]);
    }
}
