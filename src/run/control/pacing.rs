//! `--delay`: at least DURATION between two job starts, however many workers
//! the pool has (GNU parallel's meaning; for rate-limited services).
//!
//! Owns: the [`Pacer`], the one gate every start of a job passes (first
//! attempts, retries, `--repeat` runs: `attempts.rs` takes a [`Turn`] just
//! before it asks the executor to start the job).
//!
//! Protocol: a worker waits for the turn (first come, first served, so jobs
//! start in the order they reached the gate) until no other start is in
//! progress and DURATION has passed since the last start; it holds the turn
//! while the executor spawns the job. The executor tells its watch that the job
//! started ([`JobWatch::started`], after the spawn): that moment plus DURATION
//! is the earliest next start, and the turn passes on. So two spawns are always
//! at least DURATION apart, measured from the end of one spawn to the beginning
//! of the next. A job that never started (cancelled, could not spawn) gives the
//! turn back without delaying the next.
//!
//! Invariants:
//! - At most one turn is held at a time; waiting is FIFO by arrival.
//! - A waiter gives up when its `cancelled` check says so (checked at least
//!   every [`POLL`]), so a long delay never holds up Ctrl-C or `--halt`.
//! - The feeder hands the pool its next job only once the job before it reached
//!   the gate, no start is in progress or waiting, and the next start is due
//!   ([`Pacer::wait_due`]): jobs then start in input order, the pool's backlog
//!   stays at one job, and the adaptive pool does not grow workers that would
//!   only wait here.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

use crate::run::exec::executor::JobWatch;
use crate::run::job::JobKey;
use crate::run::lock::lock;

/// Longest a waiter sleeps before it checks whether it should give up.
pub(crate) const POLL: Duration = Duration::from_millis(50);

#[derive(Debug)]
struct State {
    /// Earliest time of the next start.
    next: Instant,
    /// A start is in progress (a turn is held).
    held: bool,
    /// Tickets of the waiters, in arrival order.
    queue: VecDeque<u64>,
    /// The next ticket.
    tickets: u64,
    /// Jobs the feeder handed over that have not reached the gate yet.
    expected: usize,
}

/// Spaces job starts at least `delay` apart; see the module header.
#[derive(Debug)]
pub(crate) struct Pacer {
    delay: Duration,
    state: Mutex<State>,
    changed: Condvar,
}

impl Pacer {
    /// A pacer whose first start may happen at once.
    pub(crate) fn new(delay: Duration) -> Pacer {
        Pacer {
            delay,
            state: Mutex::new(State {
                next: Instant::now(),
                held: false,
                queue: VecDeque::new(),
                tickets: 0,
                expected: 0,
            }),
            changed: Condvar::new(),
        }
    }

    /// Waits for the turn to start a job; `None` if `cancelled` said so first.
    /// The turn is the [`JobWatch`] to give the executor (wrapping `inner`, the
    /// `--timeout` timer): it passes on when the executor says the job started,
    /// or when dropped.
    pub(crate) fn turn<'a>(
        &'a self,
        inner: Option<&'a dyn JobWatch>,
        cancelled: impl Fn() -> bool,
    ) -> Option<Turn<'a>> {
        let mut state = lock(&self.state);
        let ticket = state.tickets;
        state.tickets += 1;
        state.expected = state.expected.saturating_sub(1);
        state.queue.push_back(ticket);
        loop {
            if cancelled() {
                state.queue.retain(|&t| t != ticket);
                drop(state);
                self.changed.notify_all();
                return None;
            }
            let now = Instant::now();
            let first = state.queue.front() == Some(&ticket);
            if first && !state.held && now >= state.next {
                state.queue.pop_front();
                state.held = true;
                return Some(Turn {
                    pacer: self,
                    inner,
                    passed: AtomicBool::new(false),
                });
            }
            let wait = match first && !state.held {
                true => (state.next - now).min(POLL),
                false => POLL,
            };
            state = match self.changed.wait_timeout(state, wait) {
                Ok((guard, _)) => guard,
                Err(poisoned) => poisoned.into_inner().0,
            };
        }
    }

    /// The feeder's wait (see the module header): until the gate is free and the
    /// next start due, or `cancelled` says to stop waiting. The job the feeder
    /// then hands over is expected at the gate.
    pub(crate) fn wait_due(&self, cancelled: impl Fn() -> bool) {
        let mut state = lock(&self.state);
        loop {
            if cancelled() {
                return;
            }
            let now = Instant::now();
            let free = state.expected == 0 && state.queue.is_empty() && !state.held;
            if free && now >= state.next {
                state.expected += 1;
                return;
            }
            let wait = match free {
                true => (state.next - now).min(POLL),
                false => POLL,
            };
            state = match self.changed.wait_timeout(state, wait) {
                Ok((guard, _)) => guard,
                Err(poisoned) => poisoned.into_inner().0,
            };
        }
    }

    /// The turn passes on; `started`: a job was started just now.
    fn pass(&self, started: bool) {
        let mut state = lock(&self.state);
        if started {
            // A delay too long to add to a clock reading is as good as "never".
            let now = Instant::now();
            let far = || now.checked_add(Duration::from_secs(1 << 32)).unwrap_or(now);
            state.next = now.checked_add(self.delay).unwrap_or_else(far);
        }
        state.held = false;
        drop(state);
        self.changed.notify_all();
    }
}

/// The right to start one job now; see [`Pacer::turn`].
pub(crate) struct Turn<'a> {
    pacer: &'a Pacer,
    inner: Option<&'a dyn JobWatch>,
    passed: AtomicBool,
}

impl JobWatch for Turn<'_> {
    fn started(&self, key: JobKey, at: Instant) -> u64 {
        if !self.passed.swap(true, Ordering::SeqCst) {
            self.pacer.pass(true);
        }
        self.inner.map_or(0, |w| w.started(key, at))
    }

    fn ended(&self, token: u64) -> bool {
        self.inner.is_some_and(|w| w.ended(token))
    }
}

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        if !self.passed.swap(true, Ordering::SeqCst) {
            self.pacer.pass(false);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn key(number: u64) -> JobKey {
        JobKey {
            number,
            run: 0,
            attempt: 1,
        }
    }

    #[test]
    fn starts_are_spaced_whatever_the_number_of_workers() {
        let delay = Duration::from_millis(30);
        let pacer = Arc::new(Pacer::new(delay));
        let starts = Arc::new(Mutex::new(Vec::new()));
        let workers: Vec<_> = (0..8)
            .map(|w| {
                let (pacer, starts) = (Arc::clone(&pacer), Arc::clone(&starts));
                std::thread::spawn(move || {
                    for j in 0..3 {
                        let turn = pacer.turn(None, || false).expect("not cancelled");
                        let at = Instant::now();
                        lock(&starts).push(at);
                        turn.started(key(w * 10 + j), at);
                    }
                })
            })
            .collect();
        for w in workers {
            w.join().unwrap();
        }
        let mut starts = lock(&starts).clone();
        starts.sort();
        assert_eq!(starts.len(), 24);
        for pair in starts.windows(2) {
            assert!(pair[1] - pair[0] >= delay, "{:?}", pair[1] - pair[0]);
        }
    }

    #[test]
    fn a_job_that_never_started_does_not_delay_the_next() {
        let pacer = Pacer::new(Duration::from_secs(3600));
        drop(pacer.turn(None, || false).unwrap());
        let turn = pacer.turn(None, || false).expect("at once");
        turn.started(key(1), Instant::now());
        // The next start is an hour away: a cancelled waiter gives up.
        let t0 = Instant::now();
        assert!(pacer.turn(None, || t0.elapsed() > POLL).is_none());
        assert!(lock(&pacer.state).queue.is_empty());
        pacer.wait_due(|| t0.elapsed() > 2 * POLL);
        assert!(t0.elapsed() < Duration::from_secs(30));
        assert_eq!(
            lock(&pacer.state).expected,
            0,
            "a cancelled wait hands nothing over"
        );
    }

    #[test]
    fn the_feeder_waits_for_the_job_it_handed_over_to_reach_the_gate() {
        let pacer = Pacer::new(Duration::ZERO);
        pacer.wait_due(|| false);
        assert_eq!(lock(&pacer.state).expected, 1);
        let t0 = Instant::now();
        pacer.wait_due(|| t0.elapsed() > POLL);
        assert_eq!(
            lock(&pacer.state).expected,
            1,
            "still waiting for the first"
        );
        let turn = pacer.turn(None, || false).unwrap();
        assert_eq!(lock(&pacer.state).expected, 0);
        turn.started(key(1), Instant::now());
        pacer.wait_due(|| false);
        assert_eq!(lock(&pacer.state).expected, 1);
    }

    #[test]
    fn waiters_are_served_in_arrival_order() {
        let pacer = Arc::new(Pacer::new(Duration::from_millis(5)));
        let first = pacer.turn(None, || false).unwrap();
        let order = Arc::new(Mutex::new(Vec::new()));
        let mut waiters = Vec::new();
        for n in 0..5u64 {
            let (gate, order) = (Arc::clone(&pacer), Arc::clone(&order));
            waiters.push(std::thread::spawn(move || {
                let turn = gate.turn(None, || false).unwrap();
                lock(&order).push(n);
                turn.started(key(n), Instant::now());
            }));
            // Each queued before the next arrives.
            while lock(&pacer.state).queue.len() < n as usize + 1 {
                std::thread::yield_now();
            }
        }
        first.started(key(99), Instant::now());
        for w in waiters {
            w.join().unwrap();
        }
        assert_eq!(*lock(&order), [0, 1, 2, 3, 4]);
    }
}
