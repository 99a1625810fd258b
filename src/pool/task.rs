//! What a task is: [`Task`] (one-shot) and [`InfiniteTask`], built from a target
//! closure and optional success and failure callbacks (the original ATP's
//! `args`/`kwargs` become the closure's captures), and the types a one-shot task's
//! body is made of ([`TaskBody`], [`Target`], [`Fallible`], [`Then`], [`BoxedBody`]),
//! which the type of a task names and which you rarely need to write.
//!
//! A one-shot task runs once: its body is the target and its success stages, every
//! panic caught, and its callbacks are `FnOnce`. Its body is stored inline, so
//! building it allocates nothing and [`ThreadPool::run`](crate::ThreadPool::run)
//! allocates once, as [`ThreadPool::spawn`](crate::ThreadPool::spawn) does (only a
//! failure callback is boxed). [`Task<T>`](Task), with the default body type, is the
//! boxed form ([`Task::boxed`]) that tasks of different closures share.
//!
//! An infinite task runs again and again, each run going to the back of the queue so
//! it shares workers fairly with other work, until it is stopped; its callbacks fire
//! after every run, so they are `FnMut`.

// How tasks are queued is in `submit.rs`, how the pool runs them in `job.rs`, what a
// one-shot body does in `task_body.rs`.

use std::fmt;
use std::marker::PhantomData;

use super::failure::{BoxError, Failure};
use super::stop_token::StopToken;
pub use super::task_body::{BoxedBody, Fallible, Target, TaskBody, Then};

type OnceFailureCallback = Box<dyn FnOnce(Failure) + Send>;
type InfiniteTarget<T> = Box<dyn FnMut(&StopToken) -> Result<T, BoxError> + Send>;

/// A one-shot unit of work for a [`ThreadPool`](crate::ThreadPool): a target and its
/// callbacks. `T` is what [`TaskHandle::join`](crate::TaskHandle::join) returns: the
/// target's value, or what the success callback returns if there is one.
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
///
/// `B` is the task's body: its target and success callbacks, stored inline, so that
/// building a task allocates nothing and submitting it allocates once (like
/// [`ThreadPool::spawn`](crate::ThreadPool::spawn)). Each constructor and
/// [`on_success`](Task::on_success) names its own body type, as iterator adapters do.
/// `Task<T>`, with the default body type, is a boxed task: [`boxed`](Task::boxed)
/// turns any task into one, so tasks of different closures fit in one `Vec` or one
/// return type (which may also be written `Task<T, impl TaskBody<Output = T>>`):
///
/// ```
/// let tasks: Vec<atp::Task<u32>> = vec![
///     atp::Task::new(|| 1).boxed(),
///     atp::Task::new(|| 2).on_success(|n| n * 10).boxed(),
/// ];
/// let pool = atp::ThreadPool::new()?;
/// let handles = tasks.into_iter().map(|t| pool.run(t)).collect::<Result<Vec<_>, _>>()?;
/// let values: Vec<u32> = handles.into_iter().map(|h| h.join().unwrap()).collect();
/// assert_eq!(values, [1, 20]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[must_use = "a task does nothing until it is submitted with `ThreadPool::run`"]
pub struct Task<T, B = BoxedBody<T>> {
    pub(crate) body: B,
    pub(crate) on_failure: Option<OnceFailureCallback>,
    /// `T` is `B`'s output; `fn() -> T` keeps `Task` `Send` whatever `T` is.
    output: PhantomData<fn() -> T>,
}

impl<F, T> Task<T, Target<F>>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    /// A task that runs `target` once. A panic in it is a failure.
    pub fn new(target: F) -> Task<T, Target<F>> {
        Task::with_body(Target::new(target))
    }
}

impl<F, T> Task<T, Fallible<F>>
where
    T: Send + 'static,
{
    /// A task that runs a fallible `target` once: `Err` is a failure
    /// ([`FailureKind::Errored`](crate::FailureKind::Errored)) carrying the error.
    pub fn fallible<E>(target: F) -> Task<T, Fallible<F>>
    where
        F: FnOnce() -> Result<T, E> + Send + 'static,
        E: Into<BoxError>,
    {
        Task::with_body(Fallible::new(target))
    }
}

impl<T: Send + 'static> Task<T> {
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
}

impl<T: Send + 'static, B: TaskBody<Output = T>> Task<T, B> {
    fn with_body(body: B) -> Task<T, B> {
        Task {
            body,
            on_failure: None,
            output: PhantomData,
        }
    }

    /// Called with the target's value once it succeeds; what it returns is what
    /// [`TaskHandle::join`](crate::TaskHandle::join) returns (like `Result::map`: a
    /// second call adds a stage after the first). If it panics, the task fails with a
    /// [`FailureKind::SuccessCallbackPanicked`](crate::FailureKind::SuccessCallbackPanicked)
    /// failure.
    pub fn on_success<R, C>(self, callback: C) -> Task<R, Then<B, C>>
    where
        C: FnOnce(T) -> R + Send + 'static,
        R: Send + 'static,
    {
        Task {
            body: Then::new(self.body, callback),
            on_failure: self.on_failure,
            output: PhantomData,
        }
    }

    /// Called with the [`Failure`] if the task fails. Without it, failures are logged
    /// at error level. If it panics, the panic is logged at error level. The failure
    /// is the callback's: [`TaskHandle::join`](crate::TaskHandle::join) then returns a
    /// copy of it without the panic payload, the error or the backtrace. A second call
    /// replaces the first callback. The callback is boxed, so one that captures
    /// values costs an allocation (the body stays inline).
    pub fn on_failure(mut self, callback: impl FnOnce(Failure) + Send + 'static) -> Task<T, B> {
        self.on_failure = Some(Box::new(callback));
        self
    }

    /// The same task with its body behind one allocation, as the type `Task<T>`: for
    /// tasks of different closures in one collection or one return type. A task that
    /// is boxed already is returned as it is.
    pub fn boxed(self) -> Task<T> {
        Task {
            body: self.body.into_boxed(),
            on_failure: self.on_failure,
            output: PhantomData,
        }
    }

    /// Whether this is an infinite task: never, for a `Task` (see [`InfiniteTask`]).
    pub fn is_infinite(&self) -> bool {
        false
    }
}

impl<T, B> fmt::Debug for Task<T, B> {
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
    /// [`FailureKind::SuccessCallbackPanicked`](crate::FailureKind::SuccessCallbackPanicked)
    /// failure.
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
