//! [`Submit`]: what [`ThreadPool::run`](crate::ThreadPool::run) accepts — a one-shot
//! [`Task`] or an [`InfiniteTask`] — and how each becomes a queued job and the state
//! its handle shares (and, refused, becomes the task again).
//!
//! Invariant: `from_job` is only ever given the job `into_job` made from the same
//! task, unrun.

use std::sync::Arc;

use super::id::next_task_id;
use super::job::{Body, InfiniteJob, Job, SpawnCell};
use super::stop_token::StopToken;
use super::task::{InfiniteTask, Task, TaskBody};
use super::task_state::{HandleState, InfiniteState};

// The sealed trait cannot be named outside the crate, so its crate-private types are
// not part of the public interface.
#[allow(private_interfaces)]
pub(crate) mod sealed {
    use std::sync::Arc;

    use super::super::job::Job;
    use super::super::task_state::HandleState;

    /// Keeps [`Submit`](super::Submit) implemented by this crate's task types only,
    /// and holds what the pool needs of them.
    pub trait Sealed: Sized {
        /// What the handle's `join` returns.
        type Joined: Send + 'static;

        /// Makes the queued job and the state its handle shares.
        fn into_job(self) -> (Job, Arc<dyn HandleState<Self::Joined>>);

        /// Takes the task back out of a job that was refused.
        fn from_job(job: Job) -> Self;
    }
}

/// What [`ThreadPool::run`](crate::ThreadPool::run) accepts: a one-shot [`Task`] or an
/// [`InfiniteTask`]. `Output` is what the task's [`TaskHandle::join`](crate::TaskHandle::join) returns.
pub trait Submit: sealed::Sealed<Joined = Self::Output> + Send + 'static {
    /// The task's result: the value for a one-shot task, `()` for an infinite one.
    type Output: Send + 'static;
}

impl<T: Send + 'static, B: TaskBody<Output = T>> Submit for Task<T, B> {
    type Output = T;
}

impl<T: Send + 'static> Submit for InfiniteTask<T> {
    type Output = ();
}

// The sealed trait cannot be named outside the crate, so its crate-private types
// are not part of the public interface.
#[allow(private_interfaces)]
impl<T: Send + 'static, B: TaskBody<Output = T>> sealed::Sealed for Task<T, B> {
    type Joined = T;

    /// The body is stored inline in the cell: one allocation per task.
    fn into_job(self) -> (Job, Arc<dyn HandleState<T>>) {
        SpawnCell::new(self).into_job()
    }

    fn from_job(job: Job) -> Task<T, B> {
        SpawnCell::<Task<T, B>, T>::take_back(job)
            .expect("a refused job is the one-shot task it was made from, unrun")
    }
}

// The sealed trait cannot be named outside the crate, so its crate-private types
// are not part of the public interface.
#[allow(private_interfaces)]
impl<T: Send + 'static> sealed::Sealed for InfiniteTask<T> {
    type Joined = ();

    fn into_job(self) -> (Job, Arc<dyn HandleState>) {
        let state = Arc::new(InfiniteState::new(next_task_id()));
        let job = Job {
            body: Body::Infinite(Box::new(InfiniteJob {
                task: self,
                token: StopToken {
                    state: Arc::clone(&state),
                },
            })),
        };
        (job, state)
    }

    fn from_job(job: Job) -> InfiniteTask<T> {
        let body = match job.body {
            Body::Infinite(body) => body.into_any().downcast::<InfiniteJob<T>>().ok(),
            Body::Plain(_) | Body::Shared(_) => None,
        };
        body.expect("a refused job is the infinite task it was made from")
            .task
    }
}
