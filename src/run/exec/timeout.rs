//! Per-job time limits (`--timeout`): one timer thread for the whole run, with a
//! binary heap of deadlines, that runs the termination sequence (`--termseq`) on
//! a job's process group when its time is up.
//!
//! Owns: the heap of pending deadlines and sequence steps, and the timer thread.
//!
//! Invariants:
//! - No thread per job: [`Timeouts::arm`] and [`Timeouts::disarm`] only touch the
//!   heap under a mutex and wake the one timer thread.
//! - Signals go through the executor ([`SignalJob::signal`]) by job key, under the
//!   timer's lock and only while the entry is armed: the executor disarms a job
//!   ([`JobWatch::ended`]) before it forgets it, so a late timer never hits a
//!   finished job (nor, locally, a reused pgid). An entry whose signal reached a
//!   running job is marked fired; disarming it says the job timed out.
//! - Step *k+1* of the sequence is sent only if the job is still running after
//!   step *k*'s wait. Members a job leaves behind once its leader is gone are
//!   the registry's lingering groups, terminated at the end of the run.
//! - A disarmed entry stays in the heap until it is due or the heap is rebuilt
//!   (when more than half of it is stale), so memory stays proportional to the
//!   running jobs, however many jobs the run has.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashSet};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::run::exec::executor::{JobWatch, SignalJob};
use crate::run::job::JobKey;
use crate::run::lock::{lock, wait, wait_timeout};
use crate::run::values::termseq::TermSeq;

/// A step of a job's termination sequence, due at `at`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Pending {
    at: Instant,
    id: u64,
    key: JobKey,
    step: usize,
}

#[derive(Debug, Default)]
struct State {
    heap: BinaryHeap<Reverse<Pending>>,
    /// Armed and not disarmed.
    live: HashSet<u64>,
    /// Armed entries whose first signal reached a running job.
    fired: HashSet<u64>,
    next_id: u64,
    shutdown: bool,
}

#[derive(Debug)]
struct Shared {
    state: Mutex<State>,
    wake: Condvar,
    target: Arc<dyn SignalJob>,
    seq: TermSeq,
    limit: Duration,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }
}

/// The run's job timer.
#[derive(Debug)]
pub(crate) struct Timeouts {
    shared: Arc<Shared>,
}

impl Timeouts {
    /// Starts the timer thread: jobs run at most `limit`, then get `seq`.
    pub(crate) fn start(
        limit: Duration,
        seq: TermSeq,
        target: Arc<dyn SignalJob>,
    ) -> std::io::Result<Timeouts> {
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            wake: Condvar::new(),
            target,
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
    #[cfg(test)]
    pub(crate) fn limit(&self) -> Duration {
        self.shared.limit
    }

    /// Entries in the heap (for tests).
    #[cfg(test)]
    fn pending(&self) -> usize {
        self.shared.lock().heap.len()
    }
}

impl JobWatch for Timeouts {
    /// Arms the limit for job `key`, started at `at`.
    fn started(&self, key: JobKey, at: Instant) -> u64 {
        let mut st = self.shared.lock();
        let id = st.next_id;
        st.next_id += 1;
        st.live.insert(id);
        // A limit past what an Instant can hold never runs out: nothing to arm
        // (it used to fall back to `at`, killing the job at once).
        let Some(at) = at.checked_add(self.shared.limit) else {
            return id;
        };
        let first = st.heap.peek().is_none_or(|Reverse(p)| at < p.at);
        st.heap.push(Reverse(Pending {
            at,
            id,
            key,
            step: 0,
        }));
        drop(st);
        if first {
            self.shared.wake.notify_one();
        }
        id
    }

    /// The job ended: its deadline and any further steps are cancelled.
    fn ended(&self, id: u64) -> bool {
        let mut st = self.shared.lock();
        st.live.remove(&id);
        let fired = st.fired.remove(&id);
        if st.heap.len() > 64 && st.heap.len() > 2 * st.live.len() {
            let State { heap, live, .. } = &mut *st;
            heap.retain(|Reverse(p)| live.contains(&p.id));
        }
        fired
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
            // Signalled under the lock: an entry disarmed (its job ended) since it
            // was popped cannot be signalled.
            for p in due {
                if !st.live.contains(&p.id) {
                    continue;
                }
                let step = steps[p.step];
                let running = shared.target.signal(p.key, step.signal);
                log::debug!(
                    "timeout: {} to job {} ({})",
                    step.signal,
                    p.key.number,
                    if running { "sent" } else { "already gone" }
                );
                if running {
                    st.fired.insert(p.id);
                    // A wait too long to ever end: the next step never comes.
                    let next = Instant::now().checked_add(step.wait);
                    if let Some(at) = next.filter(|_| p.step + 1 < steps.len()) {
                        st.heap.push(Reverse(Pending {
                            at,
                            step: p.step + 1,
                            ..p
                        }));
                    }
                }
            }
            continue;
        }
        st = match st.heap.peek() {
            Some(Reverse(top)) => {
                let wait = top.at.saturating_duration_since(now);
                wait_timeout(&shared.wake, st, wait)
            }
            None => wait(&shared.wake, st),
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::sys::signal::Signal;

    /// Records the signals it is asked to send; `running` says whether the job is.
    #[derive(Debug, Default)]
    struct Recorder {
        running: bool,
        sent: Mutex<Vec<(u64, Signal)>>,
    }

    impl SignalJob for Recorder {
        fn signal(&self, key: JobKey, signal: Signal) -> bool {
            self.sent.lock().unwrap().push((key.number, signal));
            self.running
        }
    }

    fn key(number: u64) -> JobKey {
        JobKey {
            number,
            run: 0,
            attempt: 1,
        }
    }

    fn wait_for(mut cond: impl FnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !cond() {
            assert!(Instant::now() < deadline, "the timer never fired");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    #[test]
    fn disarmed_entries_do_not_pile_up() {
        let target = Arc::new(Recorder::default());
        let timeouts = Timeouts::start(Duration::from_secs(3600), TermSeq::default(), target)
            .expect("timer thread");
        let t0 = Instant::now();
        for i in 0..1000 {
            let id = timeouts.started(key(i), t0);
            assert!(!timeouts.ended(id));
        }
        assert!(timeouts.pending() <= 65, "{}", timeouts.pending());
        assert_eq!(timeouts.limit(), Duration::from_secs(3600));
    }

    #[test]
    fn a_due_entry_of_a_job_that_is_not_running_is_dropped() {
        let target = Arc::new(Recorder::default());
        let timeouts = Timeouts::start(Duration::ZERO, TermSeq::default(), target.clone()).unwrap();
        // The job is not running: the signal is refused, no further step is queued.
        let id = timeouts.started(key(7), Instant::now());
        wait_for(|| timeouts.pending() == 0);
        assert_eq!(*target.sent.lock().unwrap(), vec![(7, Signal::SIGTERM)]);
        assert!(!timeouts.ended(id), "a job that was gone did not time out");
    }

    #[test]
    fn a_running_job_gets_the_whole_sequence_and_is_said_to_have_timed_out() {
        let target = Arc::new(Recorder {
            running: true,
            ..Recorder::default()
        });
        let seq: TermSeq = "TERM,1,KILL,1".parse().unwrap();
        let timeouts = Timeouts::start(Duration::ZERO, seq, target.clone()).unwrap();
        let id = timeouts.started(key(3), Instant::now());
        wait_for(|| target.sent.lock().unwrap().len() == 2);
        assert_eq!(
            *target.sent.lock().unwrap(),
            vec![(3, Signal::SIGTERM), (3, Signal::SIGKILL)]
        );
        assert!(timeouts.ended(id));
    }
}
