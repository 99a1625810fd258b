//! Tasks and what callers hold on to: [`Task`], [`TaskHandle`], [`StopToken`],
//! [`TaskOutcome`], [`TaskId`].
//!
//! A task is a target closure plus optional success and failure callbacks (the
//! original ATP's `args`/`kwargs` become the closure's captures). A one-shot task runs
//! once; an infinite task runs again and again, each run going to the back of the
//! queue so it shares workers fairly with other work, until it is stopped.
//!
//! Invariants:
//! - a task's callbacks run on the worker that ran the target, right after it, and
//!   never concurrently with another run of the same task (one run is queued or
//!   running at a time);
//! - [`TaskState::finish`] is called exactly once per task, after its last callback,
//!   and is what [`TaskHandle::wait`] waits for;
//! - once stop is requested, an infinite task never starts another run.

use std::any::Any;
use std::fmt;
use std::time::{Duration, Instant};

use super::failure::{BoxError, Failure, FailureKind};
use super::panic_capture;
use std::sync::{Arc, Weak};

use super::shared::Shared;
use super::sync::{self, AtomicBool, AtomicU64, Condvar, Mutex, MutexGuard, Ordering};

/// Identifies a task within the process (ids are never reused).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TaskId(pub(crate) u64);

impl TaskId {
    /// The id as a number.
    pub fn get(self) -> u64 {
        self.0
    }
}

impl fmt::Display for TaskId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// Deliberately `std`'s atomic even under loom: ids only need to be unique, which a
/// process-wide counter guarantees whatever the interleaving, and keeping it out of
/// the model avoids a scheduling point per submission. (A loom thread-local counter
/// would hand the same id to tasks submitted from different model threads, and
/// [`TaskHandle::stop`] finds a queued task by its id.)
static NEXT_TASK_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

pub(crate) fn next_task_id() -> TaskId {
    TaskId(NEXT_TASK_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed))
}

/// How a task ended, as reported by [`TaskHandle::wait`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TaskOutcome {
    /// A one-shot task ran and its target succeeded (and so did its success callback).
    Succeeded,
    /// A one-shot task ran and failed; the failure went to the failure callback or
    /// the log.
    Failed,
    /// An infinite task was stopped (by [`TaskHandle::stop`], [`StopToken::stop`] or
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
/// `T` is what [`TaskHandle::join`] returns: the value of a one-shot task, `()` for
/// an infinite one.
pub(crate) struct TaskState<T = ()> {
    pub(crate) id: TaskId,
    stop: AtomicBool,
    runs: AtomicU64,
    failures: AtomicU64,
    outcome: Mutex<Outcome<T>>,
    /// Notified when the outcome is set and when stop is requested (for
    /// [`StopToken::sleep`]), if anyone waits on it.
    changed: Condvar,
}

/// The part of [`TaskState`] under its mutex.
struct Outcome<T> {
    /// Set once, when the task has ended.
    value: Option<TaskOutcome>,
    /// Set with `value`; taken by [`TaskHandle::join`].
    result: Option<Result<T, Failure>>,
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

    /// Asks the task to stop and wakes a run sleeping in [`StopToken::sleep`].
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

    /// Waits on `changed` (at most `timeout`, if given), counted in `waiting`.
    fn wait_for_change<'a>(
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
    state: Arc<TaskState>,
}

impl StopToken {
    /// A token of its own, not yet stopped, that belongs to no task (for tests and
    /// for calling an infinite task's target directly).
    pub fn new() -> StopToken {
        StopToken {
            state: Arc::new(TaskState::new(next_task_id())),
        }
    }

    /// True once [`TaskHandle::stop`] or [`StopToken::stop`] was called or the pool
    /// is shutting down.
    pub fn is_stopped(&self) -> bool {
        self.state.stop_requested()
    }

    /// Stops the task from inside (or from anywhere holding a clone): the current
    /// run goes on to its end and its callbacks, and the task never runs again; its
    /// handle then reports [`TaskOutcome::Stopped`]. A clone of the token used while
    /// the task is queued stops it too: it is dropped, not run, when its turn comes.
    pub fn stop(&self) {
        self.state.request_stop();
    }

    /// Sleeps for `duration`, or less if stop is requested meanwhile. Returns true if
    /// the task was asked to stop. Use it instead of `thread::sleep` between polls so
    /// that stopping is prompt.
    pub fn sleep(&self, duration: Duration) -> bool {
        // `None`: too far to express as an instant, so until stopped.
        let deadline = Instant::now().checked_add(duration);
        let mut guard = sync::lock(&self.state.outcome);
        loop {
            if self.is_stopped() {
                return true;
            }
            let left = match deadline {
                Some(deadline) => match deadline.checked_duration_since(Instant::now()) {
                    Some(left) if !left.is_zero() => Some(left),
                    _ => return false,
                },
                None => None,
            };
            guard = self.state.wait_for_change(guard, left);
        }
    }

    /// The id of the task this token belongs to.
    pub fn task_id(&self) -> TaskId {
        self.state.id
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
            .field("task", &self.state.id)
            .field("stopped", &self.is_stopped())
            .finish()
    }
}

/// The target and success stages of a one-shot task, every panic caught.
type OnceBody<T> = Box<dyn FnOnce(TaskId) -> Result<T, Failure> + Send>;
type OnceFailureCallback = Box<dyn FnOnce(Failure) + Send>;
type InfiniteTarget<T> = Box<dyn FnMut(&StopToken) -> Result<T, BoxError> + Send>;

/// Runs `f` (user code), turning a panic into a [`Failure`] of `kind`.
fn caught<R>(id: TaskId, kind: FailureKind, f: impl FnOnce() -> R) -> Result<R, Failure> {
    let (result, record) = panic_capture::catch(f);
    result.map_err(|payload| Failure::from_panic(id, kind, payload, record))
}

/// A one-shot unit of work for a [`ThreadPool`](crate::ThreadPool): a target and its
/// callbacks. `T` is what [`TaskHandle::join`] returns: the target's value, or what
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
    body: OnceBody<T>,
    on_failure: Option<OnceFailureCallback>,
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
    /// [`TaskHandle::join`] returns (like `Result::map`: a second call adds a stage
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
    /// is the callback's: [`TaskHandle::join`] then returns a copy of it without the
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
/// `FnMut`. Its [`TaskHandle`] joins to `()` once it is stopped.
pub struct InfiniteTask<T> {
    target: InfiniteTarget<T>,
    on_success: Option<Box<dyn FnMut(T) + Send>>,
    on_failure: Option<Box<dyn FnMut(Failure) + Send>>,
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

// The sealed trait cannot be named outside the crate, so its crate-private types are
// not part of the public interface.
#[allow(private_interfaces)]
pub(crate) mod sealed {
    use std::sync::Arc;

    use super::{Job, TaskState};

    /// Keeps [`Submit`](super::Submit) implemented by this crate's task types only,
    /// and holds what the pool needs of them.
    pub trait Sealed: Sized {
        /// What the handle's `join` returns.
        type Joined: Send + 'static;

        /// Makes the queued job and the state its handle shares.
        fn into_job(self) -> (Job, Arc<TaskState<Self::Joined>>);

        /// Takes the task back out of a job that was refused.
        fn from_job(job: Job) -> Self;
    }
}

/// What [`ThreadPool::run`](crate::ThreadPool::run) accepts: a one-shot [`Task`] or an
/// [`InfiniteTask`]. `Output` is what the task's [`TaskHandle::join`] returns.
pub trait Submit: sealed::Sealed<Joined = Self::Output> + Send + 'static {
    /// The task's result: the value for a one-shot task, `()` for an infinite one.
    type Output: Send + 'static;
}

impl<T: Send + 'static> Submit for Task<T> {
    type Output = T;
}

impl<T: Send + 'static> Submit for InfiniteTask<T> {
    type Output = ();
}

// The sealed trait cannot be named outside the crate, so its crate-private types
// are not part of the public interface.
#[allow(private_interfaces)]
impl<T: Send + 'static> sealed::Sealed for Task<T> {
    type Joined = T;

    fn into_job(self) -> (Job, Arc<TaskState<T>>) {
        let state = Arc::new(TaskState::new(next_task_id()));
        let job = Job {
            id: state.id,
            state: None,
            infinite: false,
            body: Body::Boxed(Box::new(OnceJob {
                task: Some(self),
                state: Arc::clone(&state),
                result: None,
            })),
        };
        (job, state)
    }

    fn from_job(job: Job) -> Task<T> {
        let body = match job.body {
            Body::Boxed(body) => body.into_any().downcast::<OnceJob<T>>().ok(),
            Body::Shared(_) => None,
        };
        body.and_then(|body| body.task)
            .expect("a refused job is the one-shot task it was made from, unrun")
    }
}

// The sealed trait cannot be named outside the crate, so its crate-private types
// are not part of the public interface.
#[allow(private_interfaces)]
impl<T: Send + 'static> sealed::Sealed for InfiniteTask<T> {
    type Joined = ();

    fn into_job(self) -> (Job, Arc<TaskState>) {
        let state = Arc::new(TaskState::new(next_task_id()));
        let job = Job {
            id: state.id,
            state: Some(Arc::clone(&state)),
            infinite: true,
            body: Body::Boxed(Box::new(InfiniteJob {
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
            Body::Boxed(body) => body.into_any().downcast::<InfiniteJob<T>>().ok(),
            Body::Shared(_) => None,
        };
        body.expect("a refused job is the infinite task it was made from")
            .task
    }
}

/// What one run of a queued job reported back to its worker.
pub(crate) struct RunReport {
    pub(crate) failed: bool,
    /// The job wants another run (infinite and not stopped).
    pub(crate) again: bool,
}

/// How a job ended, for [`Runnable::finish`].
pub(crate) enum Ended {
    /// It will never run (again): stopped while queued, or the pool shut down.
    Abandoned,
    /// Its last run is over (the job kept its result).
    Ran,
}

/// A type-erased task, as the queue holds it.
pub(crate) trait Runnable: Send {
    /// Runs the target once and then the callbacks; never panics.
    fn run(&mut self, id: TaskId) -> RunReport;

    /// Whether the task was asked to stop.
    fn stop_requested(&self) -> bool {
        false
    }

    /// Tells the handle how the task ended, after its last run was recorded.
    fn finish(self: Box<Self>, ended: Ended);

    /// For [`Submit::from_job`]: the concrete job, to take the task back.
    fn into_any(self: Box<Self>) -> Box<dyn Any>;
}

/// A queued one-shot [`Task`], the state its handle shares, and its result between
/// the run and the finish.
struct OnceJob<T> {
    /// `None` once it ran.
    task: Option<Task<T>>,
    state: Arc<TaskState<T>>,
    result: Option<Result<T, Failure>>,
}

impl<T: Send + 'static> Runnable for OnceJob<T> {
    fn run(&mut self, id: TaskId) -> RunReport {
        let Some(Task { body, on_failure }) = self.task.take() else {
            // Ran already: cannot happen, since one-shot jobs are never requeued.
            return RunReport {
                failed: false,
                again: false,
            };
        };
        // The body catches the panics of the target and the success callbacks; this
        // catches what escapes them (an error whose `Display` panics, say).
        let result = caught(id, FailureKind::Panicked, || body(id)).and_then(|r| r);
        let failed = result.is_err();
        self.state.count_only_run(failed);
        self.result = Some(match result {
            Ok(value) => Ok(value),
            Err(failure) => match on_failure {
                Some(callback) => {
                    let copy = failure.copy_without_payload();
                    deliver_failure(Some(callback), failure);
                    Err(copy)
                }
                None => {
                    report_unhandled(&failure);
                    Err(failure)
                }
            },
        });
        RunReport {
            failed,
            again: false,
        }
    }

    fn stop_requested(&self) -> bool {
        self.state.stop_requested()
    }

    fn finish(self: Box<Self>, ended: Ended) {
        let this = *self;
        let (outcome, result) = match (ended, this.result) {
            (Ended::Ran, Some(Ok(value))) => (TaskOutcome::Succeeded, Ok(value)),
            (Ended::Ran, Some(Err(failure))) => (TaskOutcome::Failed, Err(failure)),
            (_, _) => (
                TaskOutcome::Cancelled,
                Err(Failure::cancelled(this.state.id)),
            ),
        };
        this.state.finish(outcome, result);
        // Then the user code it still holds (only if it never ran): `Job::end` contains
        // a panicking `Drop`.
        drop(this.task);
    }

    fn into_any(self: Box<Self>) -> Box<dyn Any> {
        self
    }
}

/// A queued [`InfiniteTask`] and the token each of its runs gets.
struct InfiniteJob<T> {
    task: InfiniteTask<T>,
    token: StopToken,
}

impl<T: Send + 'static> Runnable for InfiniteJob<T> {
    fn run(&mut self, id: TaskId) -> RunReport {
        let task = &mut self.task;
        let token = &self.token;
        let failure = match caught(id, FailureKind::Panicked, || (task.target)(token)) {
            Ok(Ok(value)) => match &mut task.on_success {
                Some(callback) => {
                    caught(id, FailureKind::SuccessCallbackPanicked, || callback(value)).err()
                }
                // Dropped here, where a panicking `Drop` is a failure of the run.
                None => caught(id, FailureKind::Panicked, move || drop(value)).err(),
            },
            Ok(Err(error)) => Some(Failure::from_error(id, error)),
            Err(failure) => Some(failure),
        };
        let failed = failure.is_some();
        if let Some(failure) = failure {
            deliver_failure(task.on_failure.as_mut(), failure);
        }
        self.token.state.count_run(failed);
        RunReport {
            failed,
            again: !self.token.is_stopped(),
        }
    }

    fn stop_requested(&self) -> bool {
        self.token.is_stopped()
    }

    fn finish(self: Box<Self>, _: Ended) {
        self.token.state.finish(TaskOutcome::Stopped, Ok(()));
        // Then the target and callbacks are dropped: `Job::end` contains a panicking
        // `Drop`.
    }

    fn into_any(self: Box<Self>) -> Box<dyn Any> {
        self
    }
}

/// Hands a failure to its failure callback; a panic in the callback is reported.
/// Failures are never dropped silently.
pub(crate) fn deliver_failure(callback: Option<impl FnOnce(Failure)>, failure: Failure) {
    let Some(callback) = callback else {
        report_unhandled(&failure);
        // It holds user data (the error, the panic payload), whose `Drop` may panic.
        let id = failure.task_id();
        if let Err(panic) = panic_capture::drop_contained(failure) {
            report(format_args!(
                "dropping the error of task {id} panicked: {panic}"
            ));
        }
        return;
    };
    let id = failure.task_id();
    if let Err(panic) = caught(id, FailureKind::Panicked, || callback(failure)) {
        report(format_args!(
            "the failure callback of task {id} panicked: {}{}",
            panic.message(),
            panic
                .location()
                .map(|l| format!(" (at {l})"))
                .unwrap_or_default()
        ));
        let _ = panic_capture::drop_contained(panic);
    }
}

/// Reports a failure that no failure callback took.
fn report_unhandled(failure: &Failure) {
    report(format_args!("{failure} (no failure callback)"));
}

/// Reports an unhandled failure at error level. When the program has installed no
/// logger (or filters errors out), the report goes to stderr instead, so that a
/// failure is never lost — the original ATP's silent default was a bug.
pub(crate) fn report(message: fmt::Arguments<'_>) {
    if log::log_enabled!(log::Level::Error) {
        log::error!("{message}");
    } else {
        eprintln!("atp: {message}");
    }
}

/// A task wrapper for [`ThreadPool::execute`](crate::ThreadPool::execute): a plain
/// closure with no callbacks and no handle.
pub(crate) struct Plain<F>(pub(crate) Option<F>);

impl<F: FnOnce() + Send + 'static> Runnable for Plain<F> {
    fn run(&mut self, id: TaskId) -> RunReport {
        let Some(f) = self.0.take() else {
            return RunReport {
                failed: false,
                again: false,
            };
        };
        let failed = match caught(id, FailureKind::Panicked, f) {
            Ok(()) => false,
            Err(failure) => {
                deliver_failure(None::<fn(Failure)>, failure);
                true
            }
        };
        RunReport {
            failed,
            again: false,
        }
    }

    fn finish(self: Box<Self>, _: Ended) {}

    fn into_any(self: Box<Self>) -> Box<dyn Any> {
        self
    }
}

/// Jobs that share their allocation with their handle's state.
pub(crate) trait SharedRunnable: Send + Sync {
    /// As [`Runnable::run`].
    fn run(&self, id: TaskId) -> RunReport;
    /// As [`Runnable::stop_requested`].
    fn stop_requested(&self) -> bool;
    /// As [`Runnable::finish`].
    fn finish(&self, ended: Ended);
    /// For taking the closure back out of a refused job.
    fn into_any(self: Arc<Self>) -> Arc<dyn Any + Send + Sync>;
}

/// A closure queued by [`ThreadPool::spawn`](crate::ThreadPool::spawn) and the state
/// its handle shares, in one allocation: the queue and the handle hold the same
/// `Arc`. (Tiny tasks are dominated by allocation: this one makes `spawn` cost no
/// more allocations than the `threadpool` crate's `execute`.)
pub(crate) struct SpawnCell<F, T> {
    pub(crate) state: TaskState<T>,
    /// `None` once it ran (or was taken back).
    pub(crate) f: Mutex<Option<F>>,
}

impl<F, T> SharedRunnable for SpawnCell<F, T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    fn run(&self, id: TaskId) -> RunReport {
        let Some(f) = sync::lock(&self.f).take() else {
            return RunReport {
                failed: false,
                again: false,
            };
        };
        let result = caught(id, FailureKind::Panicked, f);
        let failed = result.is_err();
        if let Err(failure) = &result {
            report_unhandled(failure);
        }
        self.state.count_only_run(failed);
        // Kept beside the outcome, which `finish` sets once the run is recorded.
        sync::lock(&self.state.outcome).result = Some(result);
        RunReport {
            failed,
            again: false,
        }
    }

    fn stop_requested(&self) -> bool {
        self.state.stop_requested()
    }

    fn finish(&self, _: Ended) {
        let mut slot = sync::lock(&self.state.outcome);
        let mut ran = true;
        if slot.value.is_none() {
            let outcome = match &slot.result {
                Some(Ok(_)) => TaskOutcome::Succeeded,
                Some(Err(_)) => TaskOutcome::Failed,
                None => {
                    ran = false;
                    slot.result = Some(Err(Failure::cancelled(self.state.id)));
                    TaskOutcome::Cancelled
                }
            };
            slot.value = Some(outcome);
        }
        if slot.waiting > 0 {
            self.state.changed.notify_all();
        }
        drop(slot);
        if !ran {
            // The closure that never ran: `Job::end` contains a panicking `Drop`.
            drop(sync::lock(&self.f).take());
        }
    }

    fn into_any(self: Arc<Self>) -> Arc<dyn Any + Send + Sync> {
        self
    }
}

impl<F: Send, T: Send> HandleState<T> for SpawnCell<F, T> {
    fn task_state(&self) -> &TaskState<T> {
        &self.state
    }
}

/// What a [`TaskHandle`] holds: the task's state, alone or inside its job.
pub(crate) trait HandleState<T>: Send + Sync {
    fn task_state(&self) -> &TaskState<T>;
}

impl<T: Send> HandleState<T> for TaskState<T> {
    fn task_state(&self) -> &TaskState<T> {
        self
    }
}

/// A job as the queue holds it.
pub(crate) enum Body {
    /// Its own allocation, apart from any handle's state.
    Boxed(Box<dyn Runnable>),
    /// Sharing its allocation with its handle's state.
    Shared(Arc<dyn SharedRunnable>),
}

/// A queued unit of work: the erased task.
pub(crate) struct Job {
    pub(crate) id: TaskId,
    /// An infinite task's state, so that shutdown can stop it; `None` for one-shot
    /// tasks (their state lives in `body`).
    pub(crate) state: Option<Arc<TaskState>>,
    pub(crate) body: Body,
    pub(crate) infinite: bool,
}

impl Job {
    /// Ends a job that will not run (again): `Stopped` for infinite tasks,
    /// `Cancelled` for one-shot tasks that never ran.
    pub(crate) fn abandon(self) {
        self.end(Ended::Abandoned);
    }

    /// Ends a job after its last run.
    pub(crate) fn finish(self) {
        self.end(Ended::Ran);
    }

    /// Tells the handle how the task ended, then drops what is left of it: its
    /// target and callbacks, and its value if no handle will take it — user code,
    /// whose `Drop` may panic, which is reported, never let loose on the worker.
    fn end(self, ended: Ended) {
        let (id, body) = (self.id, self.body);
        let end = move || match body {
            Body::Boxed(body) => body.finish(ended),
            Body::Shared(body) => body.finish(ended),
        };
        if let (Err(payload), _) = panic_capture::catch(end) {
            let message = panic_capture::panic_message(payload.as_ref());
            let _ = panic_capture::drop_contained(payload);
            report(format_args!(
                "dropping task {id} (its target, callbacks or value) panicked: {message}"
            ));
        }
    }

    /// Whether the job's task was asked to stop.
    pub(crate) fn stop_requested(&self) -> bool {
        match &self.body {
            Body::Boxed(body) => body.stop_requested(),
            Body::Shared(body) => body.stop_requested(),
        }
    }

    /// Runs the job once (see [`Runnable::run`]).
    ///
    /// [`Runnable::run`] contains the user code it calls; this is the last line of
    /// defence for what it cannot (a logger that panics while a failure is reported):
    /// such a run counts as failed and the task ends, but the worker lives on.
    ///
    /// [`Runnable::run`] contains the user code it calls; this is the last line of
    /// defence for what it cannot (a logger that panics while a failure is reported):
    /// such a run counts as failed and the task ends, but the worker lives on.
    pub(crate) fn run_once(&mut self) -> RunReport {
        let (id, body) = (self.id, &mut self.body);
        let run = || match body {
            Body::Boxed(body) => body.run(id),
            Body::Shared(body) => body.run(id),
        };
        match panic_capture::catch(run) {
            (Ok(report), _) => report,
            (Err(payload), _) => {
                let message = panic_capture::panic_message(payload.as_ref());
                let _ = panic_capture::drop_contained(payload);
                report(format_args!(
                    "task {id}: a panic escaped its run's own handling: {message}"
                ));
                RunReport {
                    failed: true,
                    again: false,
                }
            }
        }
    }
}

/// Refers to a submitted task: wait for it, take its result, check on it, stop it.
/// `T` is what [`join`](Self::join) returns: the value of a one-shot task, `()` for
/// an infinite one.
///
/// Dropping the handle does not affect the task (it detaches it, like
/// `std::thread::JoinHandle`).
pub struct TaskHandle<T = ()> {
    /// The task's state, alone or inside the job (see [`SpawnCell`]).
    pub(crate) inner: Arc<dyn HandleState<T>>,
    pub(crate) pool: Weak<Shared>,
}

impl<T> TaskHandle<T> {
    fn state(&self) -> &TaskState<T> {
        self.inner.task_state()
    }

    /// The task's id.
    pub fn id(&self) -> TaskId {
        self.state().id
    }

    /// Whether the task has ended (see [`TaskOutcome`]).
    pub fn is_finished(&self) -> bool {
        sync::lock(&self.state().outcome).value.is_some()
    }

    /// Blocks until the task has ended, including its last callbacks, and says how
    /// it ended. See [`join`](Self::join) for its value.
    pub fn wait(&self) -> TaskOutcome {
        self.wait_ended(None)
            .value
            .expect("waited until the task ended")
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
    /// A task removed before it ran gives a [`FailureKind::Cancelled`] failure; an
    /// infinite task gives `Ok(())` once stopped. A failure also went to the failure
    /// callback or the log (as a panicking thread's message is printed even if it is
    /// joined); if a failure callback took it, `join` returns a copy without the
    /// payload, the error and the backtrace.
    pub fn join(self) -> Result<T, Failure> {
        let mut guard = self.wait_ended(None);
        guard
            .result
            .take()
            .expect("the result is set with the outcome and only `join` takes it")
    }

    /// Like [`wait`](Self::wait), giving up after `timeout`; `None` if the task is
    /// still queued or running then.
    pub fn wait_timeout(&self, timeout: Duration) -> Option<TaskOutcome> {
        self.wait_ended(Some(timeout)).value
    }

    /// Waits until the task has ended or `timeout` (if any) has passed; returns the
    /// locked outcome.
    fn wait_ended(&self, timeout: Option<Duration>) -> MutexGuard<'_, Outcome<T>> {
        // `None`: no timeout, or one too far to express as an instant: as long as it
        // takes.
        let deadline = timeout.and_then(|timeout| Instant::now().checked_add(timeout));
        let mut guard = sync::lock(&self.state().outcome);
        loop {
            if guard.value.is_some() {
                return guard;
            }
            let left = match deadline {
                Some(deadline) => match deadline.checked_duration_since(Instant::now()) {
                    Some(left) if !left.is_zero() => Some(left),
                    _ => return guard,
                },
                None => None,
            };
            guard = self.state().wait_for_change(guard, left);
        }
    }

    /// Stops the task. A queued task is taken off the queue and never runs
    /// ([`TaskOutcome::Cancelled`] for a one-shot task, [`TaskOutcome::Stopped`] for
    /// an infinite one). A running infinite task sees its [`StopToken`] set, finishes
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
        self.state().runs.load(Ordering::Relaxed)
    }

    /// How many of those runs failed.
    pub fn failures(&self) -> u64 {
        self.state().failures.load(Ordering::Relaxed)
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
