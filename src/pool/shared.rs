//! The pool's shared state and the protocol every thread follows on it.
//!
//! One mutex guards [`State`]; user code never runs under it. The protocol:
//!
//! - **Submit**: push the job at the back of the queue. If a worker is idle, pop the
//!   *newest* idle worker (LIFO), mark it woken and notify its own condition variable;
//!   otherwise kick the monitor, which decides whether to grow.
//! - **Claim**: a worker takes jobs from the front of the queue while there are any;
//!   when the queue is empty it pushes itself on the idle stack and waits on its own
//!   condition variable until it is woken or its idle timeout passes.
//! - **Retire**: a worker whose idle wait timed out *without* being woken leaves the
//!   idle stack and exits, but only while more than `min_workers` are live; at the
//!   minimum it waits again. Waking newest-first is what lets surplus workers really
//!   time out (tokio's blocking pool wakes any idle thread and so rarely shrinks).
//! - **Shutdown**: the phase leaves `Running`; every idle worker is woken; workers
//!   drain the queue (graceful) or find it emptied (cancelling) and exit; infinite
//!   tasks are asked to stop, are not requeued, and a queued one is dropped rather
//!   than started (the phase is checked under the lock, so no run can slip in before
//!   the stop request lands). Each exiting worker kicks the monitor, which exits once
//!   the phase is not `Running` and the queue is empty.
//!
//! Invariants of [`State`], true whenever the lock is free:
//! - `idle` holds exactly the workers blocked in (or about to enter) an idle wait that
//!   nobody has woken; `starting` counts workers not yet at the queue; `woken[slot]` is set for a worker popped from `idle` by a
//!   notifier that has not yet re-checked the queue; `waking` counts those flags.
//! - `busy <= live <= ceiling <= max_workers`, and while the phase is `Running`,
//!   `live >= min_workers` except transiently after a spawn failure (the monitor
//!   restores it).
//! - If the queue is not empty then some worker will look at it: an idle worker was
//!   woken for each submission that found one, every busy worker re-checks the queue
//!   after its job, and otherwise the monitor was kicked.
//! - `slots[s]` is true exactly while a live worker holds slot `s`.

use std::collections::VecDeque;
use std::sync::{Arc, Weak};

use super::config::Config;
use super::id::TaskId;
use super::job::Job;
use super::sync::{self, Condvar, Mutex, MutexGuard};
use super::task_state::InfiniteState;

/// Lifecycle of a pool.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Accepting and running tasks.
    Running,
    /// No new tasks; queued ones still run; infinite tasks are not requeued.
    Draining,
    /// No new tasks; the queue was emptied and its tasks cancelled.
    Cancelling,
}

/// An idle worker on the idle stack.
pub(crate) struct IdleWorker {
    pub(crate) slot: usize,
    pub(crate) wakeup: Arc<Condvar>,
}

/// A worker thread's join handle, with the serial number that identifies it.
pub(crate) struct WorkerThread {
    pub(crate) serial: u64,
    pub(crate) handle: sync::thread::JoinHandle<()>,
}

/// Everything the pool's threads share, under one lock. See the module header for
/// the invariants.
pub(crate) struct State {
    pub(crate) phase: Phase,
    pub(crate) queue: VecDeque<Job>,
    /// Idle, un-woken workers; the newest is last and is woken first.
    pub(crate) idle: Vec<IdleWorker>,
    /// Indexed by slot: woken by a notifier, not yet back at the queue.
    pub(crate) woken: Vec<bool>,
    /// Number of `true` entries in `woken`.
    pub(crate) waking: usize,
    /// Workers reserved or spawned that have not yet reached the queue: each will
    /// take a waiting task without being woken.
    pub(crate) starting: usize,
    /// Indexed by slot: held by a live (or reserved) worker.
    pub(crate) slots: Vec<bool>,
    /// Workers started or reserved by the monitor that have neither exited nor
    /// retired (a retiring worker leaves `live` when it decides to retire).
    pub(crate) live: usize,
    /// Workers running a job.
    pub(crate) busy: usize,
    /// Current bound on `live`: `max_workers`, lowered when the OS refuses a thread.
    pub(crate) ceiling: usize,
    /// Highest `live` ever seen with every counted worker actually started (a
    /// reservation the OS then refuses is never counted).
    pub(crate) peak: usize,
    /// Set by the controller when backing off: workers above it (and above the
    /// minimum) retire after their current task. `None` while growth is allowed.
    pub(crate) target: Option<usize>,
    /// Task runs finished, failed ones included.
    pub(crate) completed: u64,
    /// Task runs that failed.
    pub(crate) failed: u64,
    /// Wall time spent in task runs that have finished (worker-busy time), for the
    /// controller's estimate of what a busy worker costs.
    pub(crate) run_time: std::time::Duration,
    /// Queued tasks dropped by a cancelling shutdown or a stop.
    pub(crate) cancelled: u64,
    /// Set by a submission that found no idle worker; cleared by the monitor.
    pub(crate) monitor_kicked: bool,
    /// Whether a submission that finds no free worker should kick the monitor: while
    /// it is parked (the queue was empty when it last looked), and after a round
    /// whose decision more tasks could change (it grew, or held because workers were
    /// free). After a round held by the load gates or the ceiling it re-checks on its
    /// own every interval, so kicks are skipped: a wake-up per submission would cost
    /// a context switch per task in a burst. Exits and shutdown always kick.
    pub(crate) monitor_listening: bool,
    /// Threads to join: the monitor and every worker not yet joined.
    pub(crate) threads: Vec<WorkerThread>,
    /// Pool threads (workers, reserved ones included, and the monitor) that have not
    /// yet finished; each decrement notifies `Shared::exited`.
    pub(crate) threads_alive: usize,
    /// The monitor thread is counted in `threads_alive`.
    pub(crate) monitor_alive: bool,
    /// Threads of `threads` taken out by a shutdown that is joining them now.
    pub(crate) joining: usize,
    /// Workers whose task is inside `shutdown`, waiting for the other threads.
    pub(crate) waiting_inside: usize,
    /// Thread ids of the live workers: tells a `shutdown` called from a task apart.
    pub(crate) worker_ids: Vec<sync::thread::ThreadId>,
    /// Serials of workers that have exited and can be joined without blocking long.
    pub(crate) exited: Vec<u64>,
    pub(crate) next_serial: u64,
    /// Infinite tasks that may still be queued or running, to stop at shutdown.
    pub(crate) infinite: Vec<Weak<InfiniteState>>,
    /// Threads blocked in `ThreadPool::wait_idle` (on `Shared::idle_wakeup`).
    pub(crate) idle_waiters: usize,
}

/// The shared part of a pool: its settings, its state and the monitor's wake-up.
///
/// Aligned to 128 bytes (two cache lines, what adjacent-line prefetching pairs up),
/// so that in `Arc<Shared>` the reference counts, which every task handle's
/// `Weak` bumps on the submitting thread, do not share a cache line with the lock
/// and the settings the workers use for every task.
#[repr(align(128))]
pub(crate) struct Shared {
    pub(crate) config: Config,
    pub(crate) state: Mutex<State>,
    /// The monitor waits here between checks.
    pub(crate) monitor_wakeup: Condvar,
    /// `ThreadPool::wait_idle` waits here until the queue is empty and no worker is
    /// busy; notified only while `idle_waiters > 0`.
    pub(crate) idle_wakeup: Condvar,
    /// Notified when a pool thread finishes or a shutdown finished joining some:
    /// shutdowns wait here (see `join.rs`).
    pub(crate) exited: Condvar,
    /// Whether the pool has a monitor (`min_workers < max_workers`).
    pub(crate) has_monitor: bool,
    /// Whether workers time their task runs: only for the load-aware monitor's cost
    /// estimate, so fixed pools keep the clock off the hot path.
    pub(crate) times_runs: bool,
}

impl Shared {
    pub(crate) fn new(config: Config) -> Shared {
        let ceiling = config.max_workers;
        let has_monitor = config.min_workers < config.max_workers;
        let times_runs = has_monitor && config.load_aware;
        Shared {
            config,
            state: Mutex::new(State {
                phase: Phase::Running,
                queue: VecDeque::new(),
                idle: Vec::new(),
                woken: Vec::new(),
                waking: 0,
                starting: 0,
                slots: Vec::new(),
                live: 0,
                busy: 0,
                ceiling,
                peak: 0,
                target: None,
                completed: 0,
                failed: 0,
                run_time: std::time::Duration::ZERO,
                cancelled: 0,
                monitor_kicked: false,
                monitor_listening: false,
                threads: Vec::new(),
                threads_alive: 0,
                monitor_alive: false,
                joining: 0,
                waiting_inside: 0,
                worker_ids: Vec::new(),
                exited: Vec::new(),
                next_serial: 0,
                infinite: Vec::new(),
                idle_waiters: 0,
            }),
            monitor_wakeup: Condvar::new(),
            idle_wakeup: Condvar::new(),
            exited: Condvar::new(),
            has_monitor,
            times_runs,
        }
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        sync::lock(&self.state)
    }

    /// Queues a job and wakes a worker for it (or kicks the monitor). Gives the job
    /// back if the pool no longer accepts tasks.
    pub(crate) fn submit(&self, job: Job) -> Result<(), Job> {
        let mut state = self.lock();
        if state.phase != Phase::Running {
            return Err(job);
        }
        if job.infinite
            && let Some(task) = &job.state
        {
            state.infinite.retain(|weak| weak.strong_count() > 0);
            state.infinite.push(Arc::downgrade(task));
        }
        state.queue.push_back(job);
        if !state.wake_one_idle() && self.has_monitor && state.queue.len() > state.live - state.busy
        {
            // More tasks wait than workers free of a task (starting, just woken, or
            // between two tasks) will take: the monitor may need to grow.
            state.kick_monitor(self);
        }
        Ok(())
    }

    /// Takes a stopped task off the queue, if it is still there.
    pub(crate) fn remove_queued(&self, id: TaskId) {
        let mut state = self.lock();
        let Some(index) = state.queue.iter().position(|job| job.id == id) else {
            return;
        };
        let job = state.queue.remove(index).expect("index came from position");
        state.cancelled += 1;
        state.notify_if_idle(self);
        drop(state);
        job.abandon();
    }

    /// Ends the `Running` phase. `cancel` empties the queue (its tasks are reported as
    /// cancelled/stopped) instead of letting it drain. Asks every infinite task to
    /// stop and wakes every idle worker and the monitor so they can exit. Returns the
    /// number of queued tasks cancelled. Idempotent; a later cancelling call still
    /// empties the queue.
    pub(crate) fn begin_shutdown(&self, cancel: bool) -> usize {
        let mut state = self.lock();
        let dropped: Vec<Job> = if cancel {
            state.phase = Phase::Cancelling;
            state.queue.drain(..).collect()
        } else {
            if state.phase == Phase::Running {
                state.phase = Phase::Draining;
            }
            // Queued infinite tasks will never run again: drop them here, where the
            // report counts them, rather than let a worker drop them uncounted.
            let (infinite, rest): (VecDeque<Job>, VecDeque<Job>) =
                state.queue.drain(..).partition(|job| job.infinite);
            state.queue = rest;
            infinite.into()
        };
        state.cancelled += dropped.len() as u64;
        state.notify_if_idle(self);
        while state.wake_one_idle() {}
        state.monitor_kicked = true;
        self.monitor_wakeup.notify_all();
        let infinite: Vec<Arc<InfiniteState>> = state
            .infinite
            .drain(..)
            .filter_map(|weak| weak.upgrade())
            .collect();
        drop(state);
        for task in infinite {
            task.task.request_stop();
        }
        let count = dropped.len();
        for job in dropped {
            job.abandon();
        }
        count
    }
}

impl State {
    /// Wakes the newest idle worker, if any. Returns whether one was woken.
    pub(crate) fn wake_one_idle(&mut self) -> bool {
        match self.idle.pop() {
            Some(worker) => {
                self.woken[worker.slot] = true;
                self.waking += 1;
                worker.wakeup.notify_one();
                true
            }
            None => false,
        }
    }

    /// Reserves the lowest free slot for a new worker and counts it as live.
    pub(crate) fn reserve_worker(&mut self) -> (usize, u64) {
        let slot = match self.slots.iter().position(|used| !used) {
            Some(slot) => slot,
            None => {
                self.slots.push(false);
                self.woken.push(false);
                self.slots.len() - 1
            }
        };
        self.slots[slot] = true;
        self.live += 1;
        self.threads_alive += 1;
        self.starting += 1;
        let serial = self.next_serial;
        self.next_serial += 1;
        (slot, serial)
    }

    /// Undoes [`reserve_worker`](Self::reserve_worker) for a worker that exits (or,
    /// after [`started`](Self::started) was undone too, could not be started).
    pub(crate) fn release_worker(&mut self, slot: usize) {
        self.slots[slot] = false;
        self.live -= 1;
    }

    /// A reserved worker has reached the queue (or will never run).
    pub(crate) fn started(&mut self) {
        self.starting -= 1;
    }

    /// Records the end of one run of a job that took `took`.
    pub(crate) fn record_run(&mut self, failed: bool, took: std::time::Duration) {
        self.busy -= 1;
        self.run_time += took;
        self.completed += 1;
        if failed {
            self.failed += 1;
        }
    }

    /// Tells the monitor that tasks wait that no free worker will take: wakes it if
    /// it listens (see `monitor_listening`), and only once: a kick already pending
    /// covers later tasks too, since the monitor clears the flag before it takes its
    /// snapshot. Skipping the notification (a system call) matters when tasks are
    /// submitted in bursts.
    pub(crate) fn kick_monitor(&mut self, shared: &Shared) {
        if self.monitor_listening && !self.monitor_kicked {
            self.monitor_kicked = true;
            shared.monitor_wakeup.notify_one();
        }
    }

    /// Wakes the threads in `ThreadPool::wait_idle` if no task is queued or running.
    pub(crate) fn notify_if_idle(&self, shared: &Shared) {
        if self.idle_waiters > 0 && self.busy == 0 && self.queue.is_empty() {
            shared.idle_wakeup.notify_all();
        }
    }

    /// Removes `slot` from the idle stack (after its wait timed out un-woken).
    pub(crate) fn leave_idle(&mut self, slot: usize) {
        if let Some(index) = self.idle.iter().rposition(|w| w.slot == slot) {
            self.idle.remove(index);
        }
    }
}
