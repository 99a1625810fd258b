//! The pool's shared state and the protocol every thread follows on it.
//!
//! One mutex guards [`State`]; user code never runs under it. The protocol:
//!
//! - **Submit**: a one-shot job goes to the inbox (`inbox.rs`), the queue's tail,
//!   without this lock; only if the inbox says a worker is idle or the monitor listens
//!   does the submitter take the lock, to pop the *newest* idle worker (LIFO), mark it
//!   woken and notify its own condition variable, or else to kick the monitor, which
//!   decides whether to grow. An infinite job is queued under the lock (shutdown
//!   must be able to find it).
//! - **Claim**: a worker takes jobs from the front of the queue while there are any,
//!   moving the inbox into the queue when the queue is empty; when both are empty it
//!   pushes itself on the idle stack (raising the inbox's `idle` flag in the same
//!   inbox critical section that found the inbox empty) and waits on its own
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
//! - Whoever reads `queue` has moved the inbox into it first ([`State::absorb`]), so
//!   the queue as read is every job submitted so far and not yet claimed.
//! - If the queue or the inbox is not empty then some worker will look at it: an idle
//!   worker was woken for each submission that found one, every busy worker re-checks
//!   the queue after its job, and otherwise the monitor was kicked.
//! - `slots[s]` is true exactly while a live worker holds slot `s`.

use std::collections::VecDeque;
use std::sync::{Arc, Weak};

use super::config::Config;
use super::id::TaskId;
use super::inbox::{Attention, Inbox};
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
    /// The inbox's previous buffer, empty, swapped in when the queue absorbs the
    /// inbox so that neither side allocates in a steady stream of tasks.
    spare: Vec<Job>,
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
    /// Where one-shot submissions leave their jobs (see `inbox.rs`); on cache lines
    /// of its own, apart from the lock the workers take for every task.
    pub(crate) inbox: Padded<Mutex<Inbox>>,
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
                spare: Vec::new(),
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
            inbox: Padded(Mutex::new(Inbox::default())),
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
        if job.is_infinite() {
            return self.submit_locked(job);
        }
        let attention = sync::lock(&self.inbox.0).push(job)?;
        if attention == Attention::Needed {
            let mut state = self.lock();
            state.absorb(self);
            state.find_a_worker(self);
        }
        Ok(())
    }

    /// [`submit`](Self::submit) for an infinite job: queued under the lock, where
    /// shutdown finds it to stop it.
    fn submit_locked(&self, job: Job) -> Result<(), Job> {
        let mut state = self.lock();
        if state.phase != Phase::Running {
            return Err(job);
        }
        if let Some(task) = job.infinite_state() {
            state.infinite.retain(|weak| weak.strong_count() > 0);
            state.infinite.push(Arc::downgrade(&task));
        }
        state.absorb(self);
        state.queue.push_back(job);
        state.find_a_worker(self);
        Ok(())
    }

    /// Takes a stopped task off the queue, if it is still there.
    pub(crate) fn remove_queued(&self, id: TaskId) {
        let mut state = self.lock();
        state.absorb(self);
        let Some(index) = state.queue.iter().position(|job| job.id() == id) else {
            return;
        };
        let job = state.queue.remove(index).expect("index came from position");
        state.cancelled += 1;
        state.notify_if_idle(self);
        drop(state);
        job.end();
    }

    /// Ends the `Running` phase. `cancel` empties the queue (its tasks are reported as
    /// cancelled/stopped) instead of letting it drain. Asks every infinite task to
    /// stop and wakes every idle worker and the monitor so they can exit. Returns the
    /// number of queued tasks cancelled. Idempotent; a later cancelling call still
    /// empties the queue.
    pub(crate) fn begin_shutdown(&self, cancel: bool) -> usize {
        let mut state = self.lock();
        {
            // Closed and absorbed at once: no job is left in the inbox, and none is
            // pushed after (see `inbox.rs`).
            let mut inbox = sync::lock(&self.inbox.0);
            inbox.closed = true;
            state.absorb_from(&mut inbox);
        }
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
                state.queue.drain(..).partition(|job| job.is_infinite());
            state.queue = rest;
            infinite.into()
        };
        state.cancelled += dropped.len() as u64;
        state.notify_if_idle(self);
        while state.wake_one_idle(self) {}
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
            job.end();
        }
        count
    }
}

impl State {
    /// Moves the inbox's jobs to the back of the queue (see `inbox.rs`).
    ///
    /// The inbox's lock is held only to swap the buffers: the submitters wait for a
    /// swap, not for the copy into the queue.
    pub(crate) fn absorb(&mut self, shared: &Shared) {
        {
            let mut inbox = sync::lock(&shared.inbox.0);
            if inbox.jobs.is_empty() {
                return;
            }
            std::mem::swap(&mut inbox.jobs, &mut self.spare);
        }
        self.queue.extend(self.spare.drain(..));
    }

    /// [`absorb`](Self::absorb), with the inbox's lock already held.
    pub(crate) fn absorb_from(&mut self, inbox: &mut Inbox) {
        if !inbox.jobs.is_empty() {
            std::mem::swap(&mut inbox.jobs, &mut self.spare);
            self.queue.extend(self.spare.drain(..));
        }
    }

    /// The next job to run: the front of the queue, after the inbox if the queue is
    /// empty.
    pub(crate) fn next_job(&mut self, shared: &Shared) -> Option<Job> {
        if self.queue.is_empty() {
            self.absorb(shared);
        }
        self.queue.pop_front()
    }

    /// Puts a worker on the idle stack, unless jobs wait in the inbox (which are then
    /// queued): in one inbox critical section, so that a submitter either sees the
    /// `idle` flag or left its job where this worker finds it. Returns whether the
    /// worker is now idle.
    pub(crate) fn go_idle(&mut self, shared: &Shared, worker: IdleWorker) -> bool {
        let mut inbox = sync::lock(&shared.inbox.0);
        self.absorb_from(&mut inbox);
        if !self.queue.is_empty() {
            return false;
        }
        self.idle.push(worker);
        inbox.idle = true;
        true
    }

    /// The monitor's check before it parks: if the queue and the inbox are empty and
    /// the pool runs, it listens for kicks from now on, raising the inbox's `listen`
    /// flag in the same inbox critical section that found the inbox empty (so a
    /// submission either is seen here or sees the flag and kicks). Returns whether
    /// the monitor may park.
    pub(crate) fn park_monitor(&mut self, shared: &Shared) -> bool {
        let mut inbox = sync::lock(&shared.inbox.0);
        self.absorb_from(&mut inbox);
        if !self.queue.is_empty() || self.phase != Phase::Running {
            return false;
        }
        self.monitor_listening = true;
        inbox.listen = !self.monitor_kicked;
        true
    }

    /// Whether the monitor wants a kick now: what the inbox's `listen` flag mirrors.
    pub(crate) fn listening_for_kicks(&self) -> bool {
        self.monitor_listening && !self.monitor_kicked
    }

    /// Sets the inbox's `listen` flag from `monitor_listening` and `monitor_kicked`.
    /// (Where it must go up together with a look at the inbox, the monitor sets it
    /// in the critical section that looked: `park_monitor` and its decisions.)
    pub(crate) fn sync_listen(&self, shared: &Shared) {
        sync::lock(&shared.inbox.0).listen = self.listening_for_kicks();
    }

    /// Records a kick for the monitor and wakes it (one pending kick covers the
    /// tasks after it: see `kick_monitor`).
    pub(crate) fn kick_monitor_now(&mut self, shared: &Shared) {
        self.monitor_kicked = true;
        sync::lock(&shared.inbox.0).listen = false;
        shared.monitor_wakeup.notify_one();
    }

    /// After queueing a job: wakes an idle worker for it, or kicks the monitor if more
    /// tasks wait than workers free of a task (starting, just woken, or between two
    /// tasks) will take.
    fn find_a_worker(&mut self, shared: &Shared) {
        if !self.wake_one_idle(shared)
            && shared.has_monitor
            && self.queue.len() > self.live - self.busy
        {
            self.kick_monitor(shared);
        }
    }

    /// Wakes the newest idle worker, if any. Returns whether one was woken.
    pub(crate) fn wake_one_idle(&mut self, shared: &Shared) -> bool {
        match self.idle.pop() {
            Some(worker) => {
                self.woken[worker.slot] = true;
                self.waking += 1;
                worker.wakeup.notify_one();
                if self.idle.is_empty() {
                    sync::lock(&shared.inbox.0).idle = false;
                }
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
    /// after [`start_failed`](Self::start_failed), could not be started).
    pub(crate) fn release_worker(&mut self, slot: usize) {
        self.slots[slot] = false;
        self.live -= 1;
    }

    /// A reserved worker will never run: its start failed.
    pub(crate) fn start_failed(&mut self) {
        self.starting -= 1;
    }

    /// A reserved worker has reached the queue, and counts in the peak from now on:
    /// it may run a task at once, before the thread that started it (still
    /// returning from the spawn) counts it. Every live worker that is not
    /// `starting` has reached the queue, so certainly started.
    pub(crate) fn arrived(&mut self) {
        self.starting -= 1;
        self.peak = self.peak.max(self.live - self.starting);
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
        if self.listening_for_kicks() {
            self.kick_monitor_now(shared);
        }
    }

    /// Wakes the threads in `ThreadPool::wait_idle` if no task is queued or running.
    pub(crate) fn notify_if_idle(&mut self, shared: &Shared) {
        if self.idle_waiters > 0 && self.busy == 0 {
            self.absorb(shared);
            if self.queue.is_empty() {
                shared.idle_wakeup.notify_all();
            }
        }
    }

    /// Removes `slot` from the idle stack (after its wait timed out un-woken).
    pub(crate) fn leave_idle(&mut self, shared: &Shared, slot: usize) {
        if let Some(index) = self.idle.iter().rposition(|w| w.slot == slot) {
            self.idle.remove(index);
            if self.idle.is_empty() {
                sync::lock(&shared.inbox.0).idle = false;
            }
        }
    }
}

/// Keeps its value on cache lines of its own (128 bytes: two lines, what
/// adjacent-line prefetching pairs up), so that threads hammering it do not slow
/// down the fields beside it.
#[repr(align(128))]
pub(crate) struct Padded<T>(pub(crate) T);
