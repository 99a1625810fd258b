//! Per-job time limits (`--timeout`): one timer thread for the whole run, with a
//! binary heap of deadlines, that runs the termination sequence (`--termseq`) on
//! a job's process group when its time is up.
//!
//! Owns: the heap of pending deadlines and sequence steps, and the timer thread.
//!
//! Invariants:
//! - No thread per job: [`Timeouts::arm`] and [`Timeouts::disarm`] only touch the
//!   heap under a mutex and wake the one timer thread.
//! - Signals go through [`ProcessRegistry::signal_timed_out`], which signals a
//!   group only while the job that was armed (same leader pid *and* start time)
//!   is still registered as running; the executor unregisters a job before
//!   reaping its leader, so a late timer never hits a finished job or a reused pgid.
//! - Step *k+1* of the sequence is sent only if the job is still running after
//!   step *k*'s wait. Members a job leaves behind once its leader is gone are
//!   the registry's lingering groups, terminated at the end of the run.
//! - A disarmed entry stays in the heap until it is due or the heap is rebuilt
//!   (when more than half of it is stale), so memory stays proportional to the
//!   running jobs, however many jobs the run has.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashSet};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use nix::unistd::Pid;

use crate::run::exec::registry::ProcessRegistry;
use crate::run::values::termseq::TermSeq;

/// A step of a job's termination sequence, due at `at`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Pending {
    at: Instant,
    id: u64,
    pid: Pid,
    started: Instant,
    step: usize,
}

#[derive(Debug, Default)]
struct State {
    heap: BinaryHeap<Reverse<Pending>>,
    /// Armed and not disarmed.
    live: HashSet<u64>,
    next_id: u64,
    shutdown: bool,
}

#[derive(Debug)]
struct Shared {
    state: Mutex<State>,
    wake: Condvar,
    registry: Arc<ProcessRegistry>,
    seq: TermSeq,
    limit: Duration,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Which arming of a job; give it back to [`Timeouts::disarm`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimerId(u64);

/// The run's job timer.
#[derive(Debug)]
pub struct Timeouts {
    shared: Arc<Shared>,
}

impl Timeouts {
    /// Starts the timer thread: jobs run at most `limit`, then get `seq`.
    pub fn start(
        limit: Duration,
        seq: TermSeq,
        registry: Arc<ProcessRegistry>,
    ) -> std::io::Result<Timeouts> {
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            wake: Condvar::new(),
            registry,
            seq,
            limit,
        });
        let timer = Arc::clone(&shared);
        std::thread::Builder::new()
            .name("atp-run-timeout".into())
            .spawn(move || run_timer(&timer))?;
        Ok(Timeouts { shared })
    }

    /// The time limit.
    pub fn limit(&self) -> Duration {
        self.shared.limit
    }

    /// Arms the limit for the job whose leader is `pid`, started at `started`.
    pub fn arm(&self, pid: Pid, started: Instant) -> TimerId {
        let mut st = self.shared.lock();
        let id = st.next_id;
        st.next_id += 1;
        st.live.insert(id);
        let at = started.checked_add(self.shared.limit).unwrap_or(started);
        let first = st.heap.peek().is_none_or(|Reverse(p)| at < p.at);
        st.heap.push(Reverse(Pending {
            at,
            id,
            pid,
            started,
            step: 0,
        }));
        drop(st);
        if first {
            self.shared.wake.notify_one();
        }
        TimerId(id)
    }

    /// The job ended: its deadline and any further steps are cancelled.
    pub fn disarm(&self, id: TimerId) {
        let mut st = self.shared.lock();
        st.live.remove(&id.0);
        if st.heap.len() > 64 && st.heap.len() > 2 * st.live.len() {
            let State { heap, live, .. } = &mut *st;
            heap.retain(|Reverse(p)| live.contains(&p.id));
        }
    }

    /// Entries in the heap (for tests).
    #[cfg(test)]
    fn pending(&self) -> usize {
        self.shared.lock().heap.len()
    }
}

impl Drop for Timeouts {
    fn drop(&mut self) {
        self.shared.lock().shutdown = true;
        self.shared.wake.notify_all();
    }
}

fn run_timer(shared: &Shared) {
    let steps = shared.seq.steps();
    let mut st = shared.lock();
    loop {
        if st.shutdown {
            return;
        }
        let now = Instant::now();
        let mut due = Vec::new();
        while let Some(Reverse(top)) = st.heap.peek().copied() {
            if top.at > now {
                break;
            }
            st.heap.pop();
            if st.live.contains(&top.id) {
                due.push(top);
            }
        }
        if !due.is_empty() {
            drop(st);
            let mut next = Vec::new();
            for p in due {
                let step = steps[p.step];
                let running = shared
                    .registry
                    .signal_timed_out(p.pid, p.started, step.signal);
                log::debug!(
                    "timeout: {} to job group {} ({})",
                    step.signal,
                    p.pid,
                    if running { "sent" } else { "already gone" }
                );
                if running && p.step + 1 < steps.len() {
                    next.push(Pending {
                        at: Instant::now() + step.wait,
                        step: p.step + 1,
                        ..p
                    });
                }
            }
            st = shared.lock();
            for p in next {
                if st.live.contains(&p.id) {
                    st.heap.push(Reverse(p));
                }
            }
            continue;
        }
        st = match st.heap.peek() {
            Some(Reverse(top)) => {
                let wait = top.at.saturating_duration_since(now);
                shared
                    .wake
                    .wait_timeout(st, wait)
                    .unwrap_or_else(PoisonError::into_inner)
                    .0
            }
            None => shared.wake.wait(st).unwrap_or_else(PoisonError::into_inner),
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disarmed_entries_do_not_pile_up() {
        let registry = Arc::new(ProcessRegistry::new());
        let timeouts = Timeouts::start(Duration::from_secs(3600), TermSeq::default(), registry)
            .expect("timer thread");
        // Pids that cannot exist; nothing is ever signalled (an hour away anyway).
        let t0 = Instant::now();
        for i in 0..1000 {
            let id = timeouts.arm(Pid::from_raw(i32::MAX - i), t0);
            timeouts.disarm(id);
        }
        assert!(timeouts.pending() <= 65, "{}", timeouts.pending());
        assert_eq!(timeouts.limit(), Duration::from_secs(3600));
    }

    #[test]
    fn a_due_entry_of_a_job_that_is_not_running_is_dropped() {
        let registry = Arc::new(ProcessRegistry::new());
        let timeouts =
            Timeouts::start(Duration::ZERO, TermSeq::default(), Arc::clone(&registry)).unwrap();
        // Not registered: signal_timed_out refuses, so no further step is queued.
        timeouts.arm(Pid::from_raw(i32::MAX - 7), Instant::now());
        let deadline = Instant::now() + Duration::from_secs(30);
        while timeouts.pending() > 0 {
            assert!(Instant::now() < deadline, "the timer never fired");
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}
