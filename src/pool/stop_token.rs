//! [`StopToken`]: what each run of an infinite task gets, to learn that it should
//! stop and to stop itself.
//!
//! Invariant: once stopped, a token stays stopped, and the task it belongs to never
//! starts another run.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::id::{TaskId, next_task_id};
use super::sync;
use super::task_state::InfiniteState;

/// Given to each run of an infinite task: tells the run whether it should stop, and
/// lets it stop itself.
///
/// The counterpart of the kill event the original ATP passed as first argument (which
/// a task could also set). [`StopToken::new`] makes one that belongs to no task, to
/// test a target on its own:
///
/// ```
/// fn poll(stop: &atp::StopToken) -> u32 {
///     let mut polls = 0;
///     while !stop.is_stopped() {
///         polls += 1;
///         if polls == 3 {
///             stop.stop(); // the work is done: no more runs
///         }
///     }
///     polls
/// }
///
/// let token = atp::StopToken::new();
/// assert_eq!(poll(&token), 3);
/// assert!(token.is_stopped());
/// ```
#[derive(Clone)]
pub struct StopToken {
    pub(crate) state: Arc<InfiniteState>,
}

impl StopToken {
    /// A token of its own, not yet stopped, that belongs to no task (for tests and
    /// for calling an infinite task's target directly).
    pub fn new() -> StopToken {
        StopToken {
            state: Arc::new(InfiniteState::new(next_task_id())),
        }
    }

    /// True once [`TaskHandle::stop`](crate::TaskHandle::stop) or [`StopToken::stop`] was called or the pool
    /// is shutting down.
    pub fn is_stopped(&self) -> bool {
        self.state.task.stop_requested()
    }

    /// Stops the task from inside (or from anywhere holding a clone): the current
    /// run goes on to its end and its callbacks, and the task never runs again; its
    /// handle then reports [`TaskOutcome::Stopped`](crate::TaskOutcome::Stopped). A clone of the token used while
    /// the task is queued stops it too: it is dropped, not run, when its turn comes.
    pub fn stop(&self) {
        self.state.task.request_stop();
    }

    /// Sleeps for `duration`, or less if stop is requested meanwhile. Returns true if
    /// the task was asked to stop. Use it instead of `thread::sleep` between polls so
    /// that stopping is prompt.
    pub fn sleep(&self, duration: Duration) -> bool {
        // `None`: too far to express as an instant, so until stopped.
        let deadline = Instant::now().checked_add(duration);
        let task = &self.state.task;
        let guard = sync::lock(&task.lock);
        task.wait_until(guard, deadline, |state| state.stop_requested())
            .1
    }

    /// The id of the task this token belongs to.
    pub fn task_id(&self) -> TaskId {
        self.state.task.id
    }
}

impl Default for StopToken {
    fn default() -> StopToken {
        StopToken::new()
    }
}

impl fmt::Debug for StopToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StopToken")
            .field("task", &self.state.task.id)
            .field("stopped", &self.is_stopped())
            .finish()
    }
}
