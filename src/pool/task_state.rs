//! The state a task shares with its handle and its stop token: [`TaskState`], and
//! [`TaskOutcome`], how a task ended.
//!
//! Invariants:
//! - a task's state is finished exactly once ([`TaskState::finish`], or
//!   [`TaskState::finish_stored`] for a one-shot task's stored result), after its last
//!   callback and after the pool recorded its last run, and that is what
//!   [`TaskHandle::wait`](crate::TaskHandle::wait) and
//!   [`TaskHandle::join`](crate::TaskHandle::join) wait for; the result `join` takes
//!   is in place before the outcome is set: a one-shot task's in its cell (`job.rs`),
//!   an infinite task's is always `Ok(())`;
//! - a [`TaskState`] holds no result and no run counters (an infinite task's
//!   [`InfiniteState`] adds the counters), so that a one-shot task's cell (state,
//!   work and result in one allocation, `job.rs`) stays small: glibc frees chunks of
//!   up to 128 bytes (header included) to its lock-free fast bins, larger ones under
//!   the arena's lock, which the submitting thread's allocations then wait for (tiny
//!   tasks are freed on the workers);
//! - ending a task or asking it to stop takes the mutex and notifies only while a
//!   thread waits (counted in `TaskState::word`); the handshake that keeps this from
//!   losing a wake-up is described on [`TaskState`];
//! - once stop is requested, an infinite task never starts another run.

use std::fmt;
use std::time::Instant;

use super::failure::Failure;
use super::id::TaskId;
use super::sync::{self, AtomicU8, AtomicU64, AtomicUsize, Condvar, Mutex, MutexGuard, Ordering};

/// How a task ended, as reported by [`TaskHandle::wait`](crate::TaskHandle::wait).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TaskOutcome {
    /// A one-shot task ran and its target succeeded (and so did its success callback).
    Succeeded,
    /// A one-shot task ran and failed; the failure went to the failure callback or
    /// the log.
    Failed,
    /// An infinite task was stopped (by [`TaskHandle::stop`](crate::TaskHandle::stop), [`StopToken::stop`](crate::StopToken::stop) or
    /// pool shutdown).
    Stopped,
    /// A one-shot task was removed before it ran: stopped while queued, or dropped by
    /// [`ThreadPool::shutdown_now`](crate::ThreadPool::shutdown_now).
    Cancelled,
}

impl fmt::Display for TaskOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TaskOutcome::Succeeded => "succeeded",
            TaskOutcome::Failed => "failed",
            TaskOutcome::Stopped => "stopped",
            TaskOutcome::Cancelled => "cancelled",
        })
    }
}

/// State shared between a queued or running task, its handle and its stop token.
///
/// Ending a task takes no lock when nobody waits for it (the common case: most
/// handles are joined after their task ended, or dropped): the end is one atomic
/// read-modify-write, and only a waiter makes the finisher lock and notify, as
/// std's thread parker and oneshot channels do. The handshake (modelled in
/// `loom_tests.rs`): the end, the stop request and the number of waiters share one
/// atomic word, [`TaskState::word`]. A waiter adds itself to it under the mutex, then
/// checks for what it waits for, and stays counted until it returns; a finisher or
/// stopper sets its bit with a read-modify-write, which returns the waiter count.
/// Read-modify-writes of one word are totally ordered, so either the waiter's
/// check sees the bit or the setter sees the waiter and takes the mutex to notify —
/// which it gets only once the waiter, holding the mutex from its check until it
/// sleeps, is asleep. (Two separate atomics would need a store-load fence between
/// them, the Dekker pattern, which is easier to get wrong and which loom cannot
/// check.)
pub(crate) struct TaskState {
    pub(crate) id: TaskId,
    /// Bits 0–2: how the task ended ([`encode`]d), 0 while it has not; set once.
    /// Bit 3 ([`STOP`]): stop was requested. The rest, in units of [`WAITER`]: the
    /// threads in [`wait_until`](Self::wait_until), changed only under `lock`'s
    /// mutex.
    word: AtomicUsize,
    /// How the result a one-shot run stored will end the task ([`encode`]d), 0 if
    /// no run stored one. Written by the worker that runs the task, read by it to end
    /// the task and by the handle for its run counts.
    stored: AtomicU8,
    /// Guards the waiter count's changes and the sleeps on `changed`.
    pub(crate) lock: Mutex<()>,
    /// Notified when the task ends and when stop is requested (for
    /// [`StopToken::sleep`](crate::StopToken::sleep)), if anyone waits on it.
    changed: Condvar,
}

/// The bits of [`TaskState::word`] that say how the task ended.
const ENDED: usize = 0b111;
/// The bit of [`TaskState::word`] set when stop is requested.
const STOP: usize = 0b1000;
/// One waiter in [`TaskState::word`].
const WAITER: usize = 0b1_0000;

/// [`TaskOutcome`] as stored in [`TaskState::word`]; 0 means "not ended".
fn encode(outcome: TaskOutcome) -> usize {
    match outcome {
        TaskOutcome::Succeeded => 1,
        TaskOutcome::Failed => 2,
        TaskOutcome::Stopped => 3,
        TaskOutcome::Cancelled => 4,
    }
}

fn decode(code: usize) -> Option<TaskOutcome> {
    match code {
        1 => Some(TaskOutcome::Succeeded),
        2 => Some(TaskOutcome::Failed),
        3 => Some(TaskOutcome::Stopped),
        4 => Some(TaskOutcome::Cancelled),
        _ => None,
    }
}

impl TaskState {
    pub(crate) fn new(id: TaskId) -> TaskState {
        TaskState {
            id,
            word: AtomicUsize::new(0),
            stored: AtomicU8::new(0),
            lock: Mutex::new(()),
            changed: Condvar::new(),
        }
    }

    pub(crate) fn stop_requested(&self) -> bool {
        self.word.load(Ordering::Acquire) & STOP != 0
    }

    /// How the task ended, if it has.
    pub(crate) fn ended(&self) -> Option<TaskOutcome> {
        decode(self.word.load(Ordering::Acquire) & ENDED)
    }

    /// Wakes the threads in [`wait_until`](Self::wait_until) if `before`, the word
    /// as the read-modify-write that set what they wait for found it, counts any.
    /// See the handshake above.
    fn wake_waiters(&self, before: usize) {
        if before >= WAITER {
            let _guard = sync::lock(&self.lock);
            self.changed.notify_all();
        }
    }

    /// Asks the task to stop and wakes a run sleeping in [`StopToken::sleep`](crate::StopToken::sleep).
    pub(crate) fn request_stop(&self) {
        let before = self.word.fetch_or(STOP, Ordering::AcqRel);
        self.wake_waiters(before);
    }

    /// Sets the end to `code` unless the task has ended already; returns the word as
    /// it was.
    fn set_ended(&self, code: usize) -> usize {
        match self
            .word
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |word| {
                (word & ENDED == 0).then_some(word | code)
            }) {
            Ok(before) | Err(before) => before,
        }
    }

    /// Records the final outcome of a task that did not store one (an infinite task,
    /// or a one-shot task that never ran; first call wins) and wakes waiters. What
    /// `join` returns must be in place already (see the module header).
    pub(crate) fn finish(&self, outcome: TaskOutcome) {
        self.wake_waiters(self.set_ended(encode(outcome)));
    }

    /// Records that the task's run stored its result (`ok`: a success) where
    /// [`HandleState::take_result`] finds it, for
    /// [`finish_stored`](Self::finish_stored), which the same worker calls once the
    /// pool has recorded the run.
    pub(crate) fn mark_stored(&self, ok: bool) {
        let code = encode(if ok {
            TaskOutcome::Succeeded
        } else {
            TaskOutcome::Failed
        });
        self.stored.store(code as u8, Ordering::Relaxed);
    }

    /// How the result a run stored will end the task, if a run stored one.
    pub(crate) fn stored(&self) -> Option<TaskOutcome> {
        decode(usize::from(self.stored.load(Ordering::Relaxed)))
    }

    /// Finishes the task with the result its run stored and wakes waiters; `false`
    /// (and nothing done) if no run stored one. Takes no lock when nobody waits.
    pub(crate) fn finish_stored(&self) -> bool {
        let stored = usize::from(self.stored.load(Ordering::Relaxed));
        if stored == 0 {
            return false;
        }
        // The result is in place (stored under its cell's mutex, before this): the
        // release publishes it to whoever sees the end. A plain `fetch_or`, not
        // `set_ended`'s compare-and-swap loop: a task that ran is ended only here
        // (`finish` is for tasks that never ran), so the end bits are still clear.
        let before = self.word.fetch_or(stored, Ordering::AcqRel);
        debug_assert_eq!(before & ENDED, 0, "a task that ran was ended twice");
        self.wake_waiters(before);
        true
    }

    /// Blocks until `met(self)` or `deadline` (`None`: no deadline) passes; returns
    /// the guard and whether `met` held. `met` must read only bits of the word that
    /// its notifiers set through [`wake_waiters`](Self::wake_waiters) or under the
    /// mutex.
    pub(crate) fn wait_until<'a>(
        &self,
        mut guard: MutexGuard<'a, ()>,
        deadline: Option<Instant>,
        met: impl Fn(&Self) -> bool,
    ) -> (MutexGuard<'a, ()>, bool) {
        // Counted before the first check, and until the last: see the handshake.
        self.word.fetch_add(WAITER, Ordering::AcqRel);
        let met = loop {
            if met(self) {
                break true;
            }
            let left = match deadline {
                Some(deadline) => match deadline.checked_duration_since(Instant::now()) {
                    Some(left) if !left.is_zero() => Some(left),
                    _ => break false,
                },
                None => None,
            };
            guard = match left {
                Some(left) => sync::wait_timeout(&self.changed, guard, left).0,
                None => sync::wait(&self.changed, guard),
            };
        };
        self.word.fetch_sub(WAITER, Ordering::AcqRel);
        (guard, met)
    }
}

/// The state of an infinite task: a [`TaskState`] and how many runs it has done.
/// (A one-shot task's cell counts without counters: it ran once if its run stored a
/// result.)
pub(crate) struct InfiniteState {
    pub(crate) task: TaskState,
    runs: AtomicU64,
    failures: AtomicU64,
}

impl InfiniteState {
    pub(crate) fn new(id: TaskId) -> InfiniteState {
        InfiniteState {
            task: TaskState::new(id),
            runs: AtomicU64::new(0),
            failures: AtomicU64::new(0),
        }
    }

    pub(crate) fn count_run(&self, failed: bool) {
        self.runs.fetch_add(1, Ordering::Relaxed);
        if failed {
            self.failures.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// What a [`TaskHandle`](crate::TaskHandle) holds: the task's state, alone or inside its job.
pub(crate) trait HandleState<T = ()>: Send + Sync {
    fn task_state(&self) -> &TaskState;

    /// Takes the result `join` returns, once the task has ended (`None` if taken).
    fn take_result(&self) -> Option<Result<T, Failure>>;

    /// How many runs the task has completed, failed ones included.
    fn runs(&self) -> u64;

    /// How many of those runs failed.
    fn failures(&self) -> u64;
}

impl HandleState for InfiniteState {
    fn task_state(&self) -> &TaskState {
        &self.task
    }

    /// An infinite task joins to `()` once stopped.
    fn take_result(&self) -> Option<Result<(), Failure>> {
        Some(Ok(()))
    }

    fn runs(&self) -> u64 {
        self.runs.load(Ordering::Relaxed)
    }

    fn failures(&self) -> u64 {
        self.failures.load(Ordering::Relaxed)
    }
}
