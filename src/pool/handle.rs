//! [`TaskHandle`]: what a caller holds on to after submitting a task — wait for it,
//! take its result, check on it, stop it.
//!
//! Invariant: a handle never keeps its pool alive (it holds a `Weak`); its task's
//! state (see `task_state.rs`) outlives both the handle and the queued job.

use std::fmt;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use super::failure::Failure;
use super::id::TaskId;
use super::shared::Shared;
use super::sync;
use super::task_state::{HandleState, TaskOutcome, TaskState};

/// Refers to a submitted task: wait for it, take its result, check on it, stop it.
/// `T` is what [`join`](Self::join) returns: the value of a one-shot task, `()` for
/// an infinite one.
///
/// Dropping the handle does not affect the task (it detaches it, like
/// `std::thread::JoinHandle`).
pub struct TaskHandle<T = ()> {
    /// The task's state, alone or inside the job (see `SpawnCell` in `job.rs`).
    pub(crate) inner: Arc<dyn HandleState<T>>,
    pub(crate) pool: Weak<Shared>,
}

impl<T> TaskHandle<T> {
    fn state(&self) -> &TaskState {
        self.inner.task_state()
    }

    /// The task's id.
    pub fn id(&self) -> TaskId {
        self.state().id
    }

    /// Whether the task has ended (see [`TaskOutcome`]).
    pub fn is_finished(&self) -> bool {
        self.state().ended().is_some()
    }

    /// Blocks until the task has ended, including its last callbacks, and says how
    /// it ended. See [`join`](Self::join) for its value.
    pub fn wait(&self) -> TaskOutcome {
        self.wait_ended(None).expect("waited until the task ended")
    }

    /// Blocks until the task has ended and returns its result: the target's value
    /// (or what the success callback made of it), or the [`Failure`] — for a panic,
    /// with its payload, so that the caller can re-raise it where it joins, as with
    /// `std::thread`:
    ///
    /// ```
    /// use std::panic::AssertUnwindSafe;
    ///
    /// let pool = atp::ThreadPool::new()?;
    /// assert_eq!(pool.spawn(|| 6 * 7)?.join()?, 42);
    ///
    /// let failure = pool.spawn(|| -> u32 { panic!("boom") })?.join().unwrap_err();
    /// assert_eq!(failure.kind(), atp::FailureKind::Panicked);
    /// // Re-raised, the original payload unwinds (caught here only to check it).
    /// let rethrown = std::panic::catch_unwind(AssertUnwindSafe(|| failure.resume_unwind()));
    /// assert_eq!(*rethrown.unwrap_err().downcast::<&str>().unwrap(), "boom");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// A task removed before it ran gives a [`FailureKind::Cancelled`](crate::FailureKind::Cancelled) failure; an
    /// infinite task gives `Ok(())` once stopped. A failure also went to the failure
    /// callback or the log (as a panicking thread's message is printed even if it is
    /// joined); if a failure callback took it, `join` returns a copy without the
    /// payload, the error and the backtrace.
    pub fn join(self) -> Result<T, Failure> {
        self.wait_ended(None);
        self.inner
            .take_result()
            .expect("the result is in place before the outcome is set and only `join` takes it")
    }

    /// Like [`wait`](Self::wait), giving up after `timeout`; `None` if the task is
    /// still queued or running then.
    pub fn wait_timeout(&self, timeout: Duration) -> Option<TaskOutcome> {
        self.wait_ended(Some(timeout))
    }

    /// Waits until the task has ended or `timeout` (if any) has passed; returns how
    /// it ended, if it has. A task that already ended costs no lock.
    fn wait_ended(&self, timeout: Option<Duration>) -> Option<TaskOutcome> {
        let state = self.state();
        if let Some(outcome) = state.ended() {
            return Some(outcome);
        }
        // `None`: no timeout, or one too far to express as an instant: as long as it
        // takes.
        let deadline = timeout.and_then(|timeout| Instant::now().checked_add(timeout));
        let guard = sync::lock(&state.lock);
        drop(state.wait_until(guard, deadline, |s| s.ended().is_some()));
        state.ended()
    }

    /// Stops the task. A queued task is taken off the queue and never runs
    /// ([`TaskOutcome::Cancelled`] for a one-shot task, [`TaskOutcome::Stopped`] for
    /// an infinite one). A running infinite task sees its [`StopToken`](crate::StopToken) set, finishes
    /// its current run (callbacks included) and is not run again. A running one-shot
    /// task cannot be interrupted and runs to its end.
    pub fn stop(&self) {
        self.state().request_stop();
        if let Some(pool) = self.pool.upgrade() {
            pool.remove_queued(self.state().id);
        }
    }

    /// How many runs the task has completed (failed ones included).
    pub fn runs(&self) -> u64 {
        self.inner.runs()
    }

    /// How many of those runs failed.
    pub fn failures(&self) -> u64 {
        self.inner.failures()
    }
}

impl<T> fmt::Debug for TaskHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskHandle")
            .field("id", &self.state().id)
            .field("finished", &self.is_finished())
            .field("runs", &self.runs())
            .finish()
    }
}
