//! What a task is: [`Task`] (one-shot) and [`InfiniteTask`], built from a target
//! closure and optional success and failure callbacks (the original ATP's
//! `args`/`kwargs` become the closure's captures). How they are queued is in
//! `submit.rs`.
//!
//! A one-shot task runs once: its body is the target and its success stages, every
//! panic caught, and its callbacks are `FnOnce`. An infinite task runs again and
//! again, each run going to the back of the queue so it shares workers fairly with
//! other work, until it is stopped; its callbacks fire after every run, so they are
//! `FnMut`. How the pool runs them is in `job.rs`.

use std::fmt;

use super::failure::{BoxError, Failure, FailureKind, caught};
use super::id::TaskId;
use super::stop_token::StopToken;

type OnceBody<T> = Box<dyn FnOnce(TaskId) -> Result<T, Failure> + Send>;
type OnceFailureCallback = Box<dyn FnOnce(Failure) + Send>;
type InfiniteTarget<T> = Box<dyn FnMut(&StopToken) -> Result<T, BoxError> + Send>;

/// A one-shot unit of work for a [`ThreadPool`](crate::ThreadPool): a target and its
/// callbacks. `T` is what [`TaskHandle::join`](crate::TaskHandle::join) returns: the target's value, or what
/// the success callback returns if there is one.
///
/// Callbacks of a one-shot task run at most once, so they are `FnOnce`: they may
/// consume their captures (a oneshot sender, say). [`Task::infinite`] makes an
/// [`InfiniteTask`] instead, whose callbacks run after every run and so are `FnMut`.
///
/// ```
/// let pool = atp::ThreadPool::new()?;
/// let (tx, rx) = std::sync::mpsc::channel();
/// let task = atp::Task::new(|| "hello world!".to_uppercase())
///     .on_success(move |s: String| tx.send(s).unwrap());
/// pool.run(task)?.wait();
/// assert_eq!(rx.recv().unwrap(), "HELLO WORLD!");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Task<T> {
    pub(crate) body: OnceBody<T>,
    pub(crate) on_failure: Option<OnceFailureCallback>,
}

impl<T: Send + 'static> Task<T> {
    /// A task that runs `target` once. A panic in it is a failure.
    pub fn new(target: impl FnOnce() -> T + Send + 'static) -> Task<T> {
        Task {
            body: Box::new(move |id| caught(id, FailureKind::Panicked, target)),
            on_failure: None,
        }
    }

    /// A task that runs a fallible `target` once: `Err` is a failure
    /// ([`FailureKind::Errored`]) carrying the error.
    pub fn fallible<E>(target: impl FnOnce() -> Result<T, E> + Send + 'static) -> Task<T>
    where
        E: Into<BoxError>,
    {
        Task {
            body: Box::new(move |id| {
                caught(id, FailureKind::Panicked, target)?
                    .map_err(|error| Failure::from_error(id, error.into()))
            }),
            on_failure: None,
        }
    }

    /// A task that runs `target` again and again until stopped. Each run gets the
    /// task's [`StopToken`]; after each run the callbacks fire and the task goes to
    /// the back of the queue.
    pub fn infinite(mut target: impl FnMut(&StopToken) -> T + Send + 'static) -> InfiniteTask<T> {
        InfiniteTask::with_target(Box::new(move |token| Ok(target(token))))
    }

    /// Like [`Task::infinite`], with a fallible target: each `Err` goes to the failure
    /// callback and the task carries on.
    pub fn infinite_fallible<E>(
        mut target: impl FnMut(&StopToken) -> Result<T, E> + Send + 'static,
    ) -> InfiniteTask<T>
    where
        E: Into<BoxError>,
    {
        InfiniteTask::with_target(Box::new(move |token| target(token).map_err(Into::into)))
    }

    /// Called with the target's value once it succeeds; what it returns is what
    /// [`TaskHandle::join`](crate::TaskHandle::join) returns (like `Result::map`: a second call adds a stage
    /// after the first). If it panics, the task fails with a
    /// [`FailureKind::SuccessCallbackPanicked`] failure.
    pub fn on_success<R: Send + 'static>(
        self,
        callback: impl FnOnce(T) -> R + Send + 'static,
    ) -> Task<R> {
        let Task { body, on_failure } = self;
        Task {
            body: Box::new(move |id| {
                let value = body(id)?;
                caught(id, FailureKind::SuccessCallbackPanicked, move || {
                    callback(value)
                })
            }),
            on_failure,
        }
    }

    /// Called with the [`Failure`] if the task fails. Without it, failures are logged
    /// at error level. If it panics, the panic is logged at error level. The failure
    /// is the callback's: [`TaskHandle::join`](crate::TaskHandle::join) then returns a copy of it without the
    /// panic payload, the error or the backtrace.
    pub fn on_failure(mut self, callback: impl FnOnce(Failure) + Send + 'static) -> Task<T> {
        self.on_failure = Some(Box::new(callback));
        self
    }

    /// Whether this is an infinite task: never, for a `Task` (see [`InfiniteTask`]).
    pub fn is_infinite(&self) -> bool {
        false
    }
}

impl<T> fmt::Debug for Task<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Task")
            .field("on_failure", &self.on_failure.is_some())
            .finish_non_exhaustive()
    }
}

/// A task that runs again and again until stopped, made by [`Task::infinite`] or
/// [`Task::infinite_fallible`]: its callbacks fire after every run, so they are
/// `FnMut`. Its [`TaskHandle`](crate::TaskHandle) joins to `()` once it is stopped.
pub struct InfiniteTask<T> {
    pub(crate) target: InfiniteTarget<T>,
    pub(crate) on_success: Option<Box<dyn FnMut(T) + Send>>,
    pub(crate) on_failure: Option<Box<dyn FnMut(Failure) + Send>>,
}

impl<T: Send + 'static> InfiniteTask<T> {
    fn with_target(target: InfiniteTarget<T>) -> InfiniteTask<T> {
        InfiniteTask {
            target,
            on_success: None,
            on_failure: None,
        }
    }

    /// Called with the target's value after each successful run. If it panics, the
    /// run counts as failed and the failure callback gets a
    /// [`FailureKind::SuccessCallbackPanicked`] failure.
    pub fn on_success(mut self, callback: impl FnMut(T) + Send + 'static) -> InfiniteTask<T> {
        self.on_success = Some(Box::new(callback));
        self
    }

    /// Called with a [`Failure`] after each failed run. Without it, failures are
    /// logged at error level. If it panics, the panic is logged at error level.
    pub fn on_failure(mut self, callback: impl FnMut(Failure) + Send + 'static) -> InfiniteTask<T> {
        self.on_failure = Some(Box::new(callback));
        self
    }

    /// Whether this is an infinite task: always, for an `InfiniteTask`.
    pub fn is_infinite(&self) -> bool {
        true
    }
}

impl<T> fmt::Debug for InfiniteTask<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InfiniteTask")
            .field("on_success", &self.on_success.is_some())
            .field("on_failure", &self.on_failure.is_some())
            .finish_non_exhaustive()
    }
}
