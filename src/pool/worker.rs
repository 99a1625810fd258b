//! A worker thread: claims jobs from the queue, runs them, idles newest-first, and
//! retires after its idle timeout while the pool is above its minimum.
//!
//! See `shared.rs` for the protocol. Each worker owns a slot number (the lowest free
//! one when it started, 1-based in [`current_worker_slot`]) and its own condition
//! variable, so that a submitter can wake exactly the newest idle worker.
//!
//! Invariant: a worker leaves the pool only through [`ExitGuard`], which returns its
//! slot and `live` count even if the worker unwinds because of a bug in the pool;
//! user code never unwinds into this loop (it runs inside `catch_unwind`).

use std::cell::Cell;
use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::job::Job;
use super::logging::pool_log;
use super::shared::{IdleWorker, Phase, Shared, WorkerThread};
use super::sync::{self, Condvar, thread};

thread_local! {
    static CURRENT_SLOT: Cell<Option<usize>> = const { Cell::new(None) };
}

/// The slot number (1-based) of the pool worker running the current thread, or
/// `None` outside a pool worker. Slots are reused: at any time the live workers of a
/// pool hold distinct slots, the lowest free one being taken by a new worker, so the
/// numbers stay between 1 and the number of live workers — like GNU parallel's `{%}`.
pub fn current_worker_slot() -> Option<usize> {
    CURRENT_SLOT.with(Cell::get)
}

/// Reserves a slot and starts a worker thread in it. On failure the reservation is
/// undone and the OS error returned.
pub(crate) fn start(shared: &Arc<Shared>) -> io::Result<()> {
    let (slot, serial) = shared.lock().reserve_worker();
    let config = &shared.config;
    let worker_shared = Arc::clone(shared);
    let spawned = thread::Builder::new()
        .name(format!("{}-{}", config.thread_name, slot + 1))
        .stack_size(config.stack_size_kib * 1024)
        .spawn(move || run(worker_shared, slot, serial));
    let mut state = shared.lock();
    match spawned {
        Ok(handle) => {
            // Counted only now: a reservation the OS refuses never ran.
            state.peak = state.peak.max(state.live);
            state.threads.push(WorkerThread { serial, handle });
            Ok(())
        }
        Err(err) => {
            state.start_failed();
            state.release_worker(slot);
            state.threads_alive -= 1;
            shared.exited.notify_all();
            Err(err)
        }
    }
}

/// Finishes the job whose last run has been recorded, if any (with the lock released:
/// this drops the task's callbacks, which is user code).
fn finish_ended(ended: &mut Option<Job>) {
    if let Some(job) = ended.take() {
        job.end();
    }
}

/// Returns the worker's slot and live count when the worker thread ends, however it
/// ends (unless it retired, which returned them already); kicks the monitor if that
/// leaves the pool below its minimum or the pool is shutting down.
struct ExitGuard {
    shared: Arc<Shared>,
    slot: usize,
    serial: u64,
    /// The worker retired: its slot and live count were returned in the same
    /// critical section as the decision.
    released: bool,
}

impl Drop for ExitGuard {
    fn drop(&mut self) {
        let mut state = self.shared.lock();
        if !self.released {
            state.release_worker(self.slot);
        }
        state.exited.push(self.serial);
        let me = thread::current().id();
        state.worker_ids.retain(|id| *id != me);
        state.threads_alive -= 1;
        self.shared.exited.notify_all();
        // Below the minimum the monitor must replace this worker (even mid-interval:
        // the minimum is a promise). While shutting down the monitor must re-check
        // whether the queue is drained, or it would sleep a whole `monitor_interval`
        // (forever under loom) before it exits and `shutdown` returns: workers exit
        // exactly when the queue is drained.
        if state.phase != Phase::Running || state.live < self.shared.config.min_workers {
            state.kick_monitor_now(&self.shared);
        }
    }
}

fn run(shared: Arc<Shared>, slot: usize, serial: u64) {
    CURRENT_SLOT.with(|s| s.set(Some(slot + 1)));
    let mut guard = ExitGuard {
        shared,
        slot,
        serial,
        released: false,
    };
    guard.released = work(&guard.shared, slot) == Exit::Retired;
}

/// Why [`work`] returned.
#[derive(PartialEq, Eq)]
enum Exit {
    /// The pool shut down and the queue is empty.
    Drained,
    /// The worker retired, and already returned its slot and live count: the check
    /// that the pool stays at or above its minimum and the decrement happen in one
    /// critical section, so workers retiring together cannot all pass the check on
    /// the same count and undercut the minimum.
    Retired,
}

/// The claim/run/idle loop. Returns (with the lock released) when the worker should
/// exit: the pool shut down and the queue is empty, or it retired.
///
/// The hot path takes the pool's lock once per job: the critical section that
/// records a run also claims the next job, and the job that ended is finished (its
/// handle told, its callbacks dropped) only after the lock is released — always
/// after its run was recorded, so the stats already count a run when `wait` returns.
fn work(shared: &Shared, slot: usize) -> Exit {
    let wakeup = Arc::new(Condvar::new());
    // A job whose last run is recorded, to finish once the lock is released.
    let mut ended: Option<Job> = None;
    // Whether the worker already yielded once since it last found the queue empty.
    let mut yielded = false;
    let mut state = shared.lock();
    state.arrived();
    state.worker_ids.push(thread::current().id());
    loop {
        if let Some(job) = state.next_job(shared) {
            if job.is_infinite() && (job.stop_requested() || state.phase != Phase::Running) {
                // Stopped while queued (the stop raced with its requeue), or the pool is
                // shutting down and is about to stop it: never again. Counted like a
                // queued task that `TaskHandle::stop` removes.
                state.cancelled += 1;
                state.notify_if_idle(shared);
                drop(state);
                finish_ended(&mut ended);
                job.end();
                state = shared.lock();
                continue;
            }
            yielded = false;
            state.busy += 1;
            drop(state);
            finish_ended(&mut ended);
            let mut job = job;
            let started = shared.times_runs.then(Instant::now);
            let report = job.run_once();
            let took = started.map_or(Duration::ZERO, |at| at.elapsed());
            state = shared.lock();
            state.record_run(report.failed, took);
            if report.again && state.phase == Phase::Running {
                // Back of the queue: infinite tasks share workers fairly (behind the
                // inbox's jobs, submitted before).
                state.absorb(shared);
                state.queue.push_back(job);
                if state.queue.len() > 1 && state.idle.is_empty() {
                    state.kick_monitor(shared);
                }
            } else {
                ended = Some(job);
            }
            state.notify_if_idle(shared);
            if state
                .target
                .is_some_and(|target| state.live > target.max(shared.config.min_workers))
            {
                pool_log!(
                    Debug,
                    "retiring worker {} after its task: {} live > target {:?}",
                    slot + 1,
                    state.live,
                    state.target
                );
                state.release_worker(slot);
                drop(state);
                finish_ended(&mut ended);
                return Exit::Retired;
            }
            continue;
        }
        if ended.is_some() {
            // Never idle (or exit) with a job not yet finished: its handle waits.
            drop(state);
            finish_ended(&mut ended);
            state = shared.lock();
            continue;
        }
        if state.phase != Phase::Running {
            return Exit::Drained;
        }
        if !yielded {
            // Before going idle, let the submitters run once: in a burst of short
            // tasks the next one is usually a moment away, and idling costs a sleep
            // and a wake-up (two context switches and a system call each way).
            yielded = true;
            drop(state);
            thread::yield_now();
            state = shared.lock();
            continue;
        }
        yielded = false;

        let worker = IdleWorker {
            slot,
            wakeup: Arc::clone(&wakeup),
        };
        if !state.go_idle(shared, worker) {
            // Jobs were waiting in the inbox: they are queued now.
            continue;
        }
        let timeout = shared.config.idle_timeout;
        // `None`: a timeout too long to express as an instant (`Duration::MAX`) never
        // passes.
        let mut deadline = Instant::now().checked_add(timeout);
        loop {
            let at_minimum = state.live <= shared.config.min_workers;
            state = match deadline {
                Some(deadline) if !at_minimum => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    sync::wait_timeout(&wakeup, state, left).0
                }
                // Never retires: no timeout needed (and none wanted when it is zero).
                _ => sync::wait(&wakeup, state),
            };
            if state.woken[slot] {
                state.woken[slot] = false;
                state.waking -= 1;
                break;
            }
            if deadline.is_some_and(|deadline| Instant::now() >= deadline) {
                if state.live > shared.config.min_workers && state.phase == Phase::Running {
                    state.leave_idle(shared, slot);
                    pool_log!(
                        Debug,
                        "retiring worker {}: idle for {:?} with {} live > minimum {}",
                        slot + 1,
                        timeout,
                        state.live,
                        shared.config.min_workers
                    );
                    state.release_worker(slot);
                    return Exit::Retired;
                }
                deadline = Instant::now().checked_add(timeout);
            }
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::pool::config::Config;
    use crate::pool::job::{Job, SpawnCell};
    use crate::pool::task_state::TaskOutcome;

    #[test]
    fn a_worker_counts_in_the_peak_once_it_reaches_the_queue_before_its_starter_does() {
        // A start whose starter is slow to come back from the spawn: the worker is
        // reserved and runs, but `start` never gets to count it.
        let shared = Arc::new(Shared::new(Config::default()));
        let (slot, serial) = shared.lock().reserve_worker();
        let (job, handle): (Job, _) = SpawnCell::new(|| ()).into_job();
        shared.submit(job).map_err(|_| "refused").unwrap();
        let worker = {
            let shared = Arc::clone(&shared);
            std::thread::spawn(move || run(shared, slot, serial))
        };
        let state = handle.task_state();
        let guard = sync::lock(&state.lock);
        drop(state.wait_until(guard, None, |s| s.ended().is_some()));
        assert_eq!(state.ended(), Some(TaskOutcome::Succeeded));
        assert_eq!(
            shared.lock().peak,
            1,
            "the worker that ran the task is in the peak"
        );
        shared.begin_shutdown(false);
        worker.join().unwrap();
    }
}
