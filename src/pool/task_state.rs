//! The state a task shares with its handle and its stop token: [`TaskState`], and
//! [`TaskOutcome`], how a task ended.
//!
//! Invariants:
//! - a task's state is finished exactly once ([`TaskState::finish`], or
//!   [`TaskState::finish_stored`] for a one-shot task's stored result), after its last
//!   callback and after the pool recorded its last run, and that is what
//!   [`TaskHandle::wait`](crate::TaskHandle::wait)(crate::TaskHandle::wait) and
//!   [`TaskHandle::join`](crate::TaskHandle::join)(crate::TaskHandle::join) wait for; the result `join` takes
//!   is set with (or before) the outcome;
//! - notifiers skip the condition variable while nobody waits (`Outcome::waiting`),
//!   both sides holding the state's mutex, so no wake-up is lost;
//! - once stop is requested, an infinite task never starts another run.

use std::fmt;
use std::time::Duration;

use super::failure::Failure;
use super::id::TaskId;
use super::sync::{self, AtomicBool, AtomicU64, Condvar, Mutex, MutexGuard, Ordering};

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
/// `T` is what [`TaskHandle::join`](crate::TaskHandle::join) returns: the value of a one-shot task, `()` for
/// an infinite one.
pub(crate) struct TaskState<T = ()> {
    pub(crate) id: TaskId,
    stop: AtomicBool,
    pub(crate) runs: AtomicU64,
    pub(crate) failures: AtomicU64,
    pub(crate) outcome: Mutex<Outcome<T>>,
    /// Notified when the outcome is set and when stop is requested (for
    /// [`StopToken::sleep`](crate::StopToken::sleep)), if anyone waits on it.
    changed: Condvar,
}

/// The part of [`TaskState`] under its mutex.
pub(crate) struct Outcome<T> {
    /// Set once, when the task has ended.
    pub(crate) value: Option<TaskOutcome>,
    /// Set with `value`; taken by [`TaskHandle::join`](crate::TaskHandle::join).
    pub(crate) result: Option<Result<T, Failure>>,
    /// Threads blocked on `changed`. Notifying a condition variable costs a system
    /// call even when nobody waits, and nobody waits for most tasks; so notifiers
    /// skip it when this is zero (both sides hold the mutex, so none is missed).
    waiting: usize,
}

impl<T> TaskState<T> {
    pub(crate) fn new(id: TaskId) -> TaskState<T> {
        TaskState {
            id,
            stop: AtomicBool::new(false),
            runs: AtomicU64::new(0),
            failures: AtomicU64::new(0),
            outcome: Mutex::new(Outcome {
                value: None,
                result: None,
                waiting: 0,
            }),
            changed: Condvar::new(),
        }
    }

    pub(crate) fn stop_requested(&self) -> bool {
        self.stop.load(Ordering::Acquire)
    }

    /// Asks the task to stop and wakes a run sleeping in [`StopToken::sleep`](crate::StopToken::sleep).
    pub(crate) fn request_stop(&self) {
        self.stop.store(true, Ordering::Release);
        let guard = sync::lock(&self.outcome);
        if guard.waiting > 0 {
            self.changed.notify_all();
        }
    }

    /// Records the final outcome and what `join` returns (first call wins) and wakes
    /// waiters.
    pub(crate) fn finish(&self, outcome: TaskOutcome, result: Result<T, Failure>) {
        let mut slot = sync::lock(&self.outcome);
        if slot.value.is_none() {
            slot.value = Some(outcome);
            slot.result = Some(result);
        }
        if slot.waiting > 0 {
            self.changed.notify_all();
        }
    }

    /// Keeps the result of the task's run until
    /// [`finish_stored`](Self::finish_stored).
    pub(crate) fn store_result(&self, result: Result<T, Failure>) {
        sync::lock(&self.outcome).result = Some(result);
    }

    /// Finishes the task with the result its run stored — or, if it never ran, as
    /// cancelled — and wakes waiters. Returns whether it had run.
    pub(crate) fn finish_stored(&self) -> bool {
        let mut slot = sync::lock(&self.outcome);
        let mut ran = true;
        if slot.value.is_none() {
            let outcome = match &slot.result {
                Some(Ok(_)) => TaskOutcome::Succeeded,
                Some(Err(_)) => TaskOutcome::Failed,
                None => {
                    ran = false;
                    slot.result = Some(Err(Failure::cancelled(self.id)));
                    TaskOutcome::Cancelled
                }
            };
            slot.value = Some(outcome);
        }
        if slot.waiting > 0 {
            self.changed.notify_all();
        }
        ran
    }

    /// Waits on `changed` (at most `timeout`, if given), counted in `waiting`.
    pub(crate) fn wait_for_change<'a>(
        &self,
        mut guard: MutexGuard<'a, Outcome<T>>,
        timeout: Option<Duration>,
    ) -> MutexGuard<'a, Outcome<T>> {
        guard.waiting += 1;
        guard = match timeout {
            Some(timeout) => sync::wait_timeout(&self.changed, guard, timeout).0,
            None => sync::wait(&self.changed, guard),
        };
        guard.waiting -= 1;
        guard
    }

    pub(crate) fn count_run(&self, failed: bool) {
        self.runs.fetch_add(1, Ordering::Relaxed);
        if failed {
            self.failures.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// [`count_run`](Self::count_run) for a one-shot task, whose only run this is:
    /// plain stores, cheaper than read-modify-writes on the hot path.
    pub(crate) fn count_only_run(&self, failed: bool) {
        self.runs.store(1, Ordering::Relaxed);
        if failed {
            self.failures.store(1, Ordering::Relaxed);
        }
    }
}

/// What a [`TaskHandle`](crate::TaskHandle) holds: the task's state, alone or inside its job.
pub(crate) trait HandleState<T = ()>: Send + Sync {
    fn task_state(&self) -> &TaskState<T>;
}

impl<T: Send> HandleState<T> for TaskState<T> {
    fn task_state(&self) -> &TaskState<T> {
        self
    }
}
