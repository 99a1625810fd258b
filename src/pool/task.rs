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
pub enum TaskOutcome {
    /// A one-shot task ran and its target succeeded (and so did its success callback).
    Succeeded,
    /// A one-shot task ran and failed; the failure went to the failure callback or
    /// the log.
    Failed,
    /// An infinite task was stopped (by [`TaskHandle::stop`] or pool shutdown).
    Stopped,
    /// A one-shot task was removed before it ran: stopped while queued, or dropped by
    /// [`ThreadPool::shutdown_now`](crate::ThreadPool::shutdown_now).
    Cancelled,
}

/// State shared between a queued or running task, its handle and its stop token.
pub(crate) struct TaskState {
    pub(crate) id: TaskId,
    stop: AtomicBool,
    runs: AtomicU64,
    failures: AtomicU64,
    outcome: Mutex<Outcome>,
    /// Notified when the outcome is set and when stop is requested (for
    /// [`StopToken::sleep`]), if anyone waits on it.
    changed: Condvar,
}

/// The part of [`TaskState`] under its mutex.
struct Outcome {
    /// Set once, when the task has ended.
    value: Option<TaskOutcome>,
    /// Threads blocked on `changed`. Notifying a condition variable costs a system
    /// call even when nobody waits, and nobody waits for most tasks; so notifiers
    /// skip it when this is zero (both sides hold the mutex, so none is missed).
    waiting: usize,
}

impl TaskState {
    pub(crate) fn new(id: TaskId) -> TaskState {
        TaskState {
            id,
            stop: AtomicBool::new(false),
            runs: AtomicU64::new(0),
            failures: AtomicU64::new(0),
            outcome: Mutex::new(Outcome {
                value: None,
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

    /// Records the final outcome (first call wins) and wakes waiters.
    pub(crate) fn finish(&self, outcome: TaskOutcome) {
        let mut slot = sync::lock(&self.outcome);
        if slot.value.is_none() {
            slot.value = Some(outcome);
        }
        if slot.waiting > 0 {
            self.changed.notify_all();
        }
    }

    /// Waits on `changed` (at most `timeout`, if given), counted in `waiting`.
    fn wait_for_change<'a>(
        &self,
        mut guard: MutexGuard<'a, Outcome>,
        timeout: Option<Duration>,
    ) -> MutexGuard<'a, Outcome> {
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
}

/// Given to each run of an infinite task: tells the run whether it should stop.
///
/// The counterpart of the kill event the original ATP passed as first argument.
#[derive(Clone)]
pub struct StopToken {
    state: Arc<TaskState>,
}

impl StopToken {
    /// True once [`TaskHandle::stop`] was called or the pool is shutting down.
    pub fn is_stopped(&self) -> bool {
        self.state.stop_requested()
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

impl fmt::Debug for StopToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StopToken")
            .field("task", &self.state.id)
            .field("stopped", &self.is_stopped())
            .finish()
    }
}

type OnceTarget<T> = Box<dyn FnOnce() -> Result<T, BoxError> + Send>;
type InfiniteTarget<T> = Box<dyn FnMut(&StopToken) -> Result<T, BoxError> + Send>;

enum Target<T> {
    /// `None` once it ran.
    Once(Option<OnceTarget<T>>),
    Infinite(InfiniteTarget<T>),
}

/// A unit of work for a [`ThreadPool`](crate::ThreadPool): a target and its callbacks.
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
    target: Target<T>,
    on_success: Option<Box<dyn FnMut(T) + Send>>,
    on_failure: Option<Box<dyn FnMut(Failure) + Send>>,
}

impl<T: Send + 'static> Task<T> {
    /// A task that runs `target` once. A panic in it is a failure.
    pub fn new(target: impl FnOnce() -> T + Send + 'static) -> Task<T> {
        Task::with_target(Target::Once(Some(Box::new(move || Ok(target())))))
    }

    /// A task that runs a fallible `target` once: `Err` is a failure
    /// ([`FailureKind::Errored`]) carrying the error.
    pub fn fallible<E>(target: impl FnOnce() -> Result<T, E> + Send + 'static) -> Task<T>
    where
        E: Into<BoxError>,
    {
        Task::with_target(Target::Once(Some(Box::new(move || {
            target().map_err(Into::into)
        }))))
    }

    /// A task that runs `target` again and again until stopped. Each run gets the
    /// task's [`StopToken`]; after each run the callbacks fire and the task goes to
    /// the back of the queue.
    pub fn infinite(mut target: impl FnMut(&StopToken) -> T + Send + 'static) -> Task<T> {
        Task::with_target(Target::Infinite(Box::new(move |token| Ok(target(token)))))
    }

    /// Like [`Task::infinite`], with a fallible target: each `Err` goes to the failure
    /// callback and the task carries on.
    pub fn infinite_fallible<E>(
        mut target: impl FnMut(&StopToken) -> Result<T, E> + Send + 'static,
    ) -> Task<T>
    where
        E: Into<BoxError>,
    {
        Task::with_target(Target::Infinite(Box::new(move |token| {
            target(token).map_err(Into::into)
        })))
    }

    fn with_target(target: Target<T>) -> Task<T> {
        Task {
            target,
            on_success: None,
            on_failure: None,
        }
    }

    /// Called with the target's value after each successful run. If it panics, the
    /// run counts as failed and the failure callback gets a
    /// [`FailureKind::SuccessCallbackPanicked`] failure.
    pub fn on_success(mut self, callback: impl FnMut(T) + Send + 'static) -> Task<T> {
        self.on_success = Some(Box::new(callback));
        self
    }

    /// Called with a [`Failure`] after each failed run. Without it, failures are
    /// logged at error level. If it panics, the panic is logged at error level.
    pub fn on_failure(mut self, callback: impl FnMut(Failure) + Send + 'static) -> Task<T> {
        self.on_failure = Some(Box::new(callback));
        self
    }

    /// Whether this is an infinite task.
    pub fn is_infinite(&self) -> bool {
        matches!(self.target, Target::Infinite(_))
    }
}

/// What one run of a queued job reported back to its worker.
pub(crate) struct RunReport {
    pub(crate) failed: bool,
    /// The job wants another run (infinite and not stopped).
    pub(crate) again: bool,
}

/// A type-erased task, as the queue holds it.
pub(crate) trait Runnable: Send {
    /// Runs the target once and then the callbacks; never panics. `state` is the
    /// state shared with the task's handle (always present for a [`Task`]; `None`
    /// for [`Plain`] closures, which have no handle).
    fn run(&mut self, id: TaskId, state: Option<&Arc<TaskState>>) -> RunReport;
}

impl<T: Send + 'static> Runnable for Task<T> {
    fn run(&mut self, id: TaskId, state: Option<&Arc<TaskState>>) -> RunReport {
        let (result, record) = match &mut self.target {
            Target::Once(target) => match target.take() {
                Some(target) => panic_capture::catch(target),
                // Ran already: cannot happen, since one-shot jobs are never requeued.
                None => {
                    return RunReport {
                        failed: false,
                        again: false,
                    };
                }
            },
            Target::Infinite(target) => {
                let state = match state {
                    Some(state) => Arc::clone(state),
                    // Not reached: `ThreadPool::run` always gives a task its state.
                    None => Arc::new(TaskState::new(id)),
                };
                let token = StopToken { state };
                panic_capture::catch(|| target(&token))
            }
        };
        let failure = match result {
            Ok(Ok(value)) => match &mut self.on_success {
                Some(callback) => match panic_capture::catch(|| callback(value)) {
                    (Ok(()), _) => None,
                    (Err(payload), record) => Some(Failure::from_panic(
                        id,
                        FailureKind::SuccessCallbackPanicked,
                        payload,
                        record,
                    )),
                },
                // Dropped here, where a panicking `Drop` is a failure of the run.
                None => match panic_capture::catch(move || drop(value)) {
                    (Ok(()), _) => None,
                    (Err(payload), record) => Some(Failure::from_panic(
                        id,
                        FailureKind::Panicked,
                        payload,
                        record,
                    )),
                },
            },
            Ok(Err(error)) => Some(Failure::from_error(id, error)),
            Err(payload) => Some(Failure::from_panic(
                id,
                FailureKind::Panicked,
                payload,
                record,
            )),
        };
        let failed = failure.is_some();
        if let Some(failure) = failure {
            deliver_failure(&mut self.on_failure, failure);
        }
        if let Some(state) = state {
            state.count_run(failed);
        }
        let again = matches!(self.target, Target::Infinite(_))
            && !state.is_some_and(|state| state.stop_requested());
        RunReport { failed, again }
    }
}

/// Hands a failure to the failure callback, or reports it when there is none or the
/// callback itself panics. Failures are never dropped silently.
pub(crate) fn deliver_failure(
    callback: &mut Option<Box<dyn FnMut(Failure) + Send>>,
    failure: Failure,
) {
    let Some(callback) = callback else {
        report(format_args!("{failure} (no failure callback)"));
        let id = failure.task_id();
        if let Err(panic) = panic_capture::drop_contained(failure) {
            report(format_args!(
                "dropping the error of task {id} panicked: {panic}"
            ));
        }
        return;
    };
    let id = failure.task_id();
    if let (Err(payload), record) = panic_capture::catch(|| callback(failure)) {
        let panic = Failure::from_panic(id, FailureKind::Panicked, payload, record);
        report(format_args!(
            "the failure callback of task {id} panicked: {}{}",
            panic.message(),
            panic
                .location()
                .map(|l| format!(" (at {l})"))
                .unwrap_or_default()
        ));
    }
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

impl<F: FnOnce() + Send> Runnable for Plain<F> {
    fn run(&mut self, id: TaskId, _: Option<&Arc<TaskState>>) -> RunReport {
        let Some(f) = self.0.take() else {
            return RunReport {
                failed: false,
                again: false,
            };
        };
        let (result, record) = panic_capture::catch(f);
        let failed = match result {
            Ok(()) => false,
            Err(payload) => {
                let failure = Failure::from_panic(id, FailureKind::Panicked, payload, record);
                deliver_failure(&mut None, failure);
                true
            }
        };
        RunReport {
            failed,
            again: false,
        }
    }
}

/// A queued unit of work: the erased task and its shared state.
pub(crate) struct Job {
    pub(crate) id: TaskId,
    /// Shared with the task's handle; `None` for closures queued with
    /// [`ThreadPool::execute`](crate::ThreadPool::execute), which have no handle
    /// (saving an allocation per task on the cheapest path).
    pub(crate) state: Option<Arc<TaskState>>,
    pub(crate) body: Box<dyn Runnable>,
    pub(crate) infinite: bool,
}

impl Job {
    /// Ends a job that will not run (again): `Stopped` for infinite tasks,
    /// `Cancelled` for one-shot tasks that never ran.
    pub(crate) fn abandon(self) {
        let outcome = if self.infinite {
            TaskOutcome::Stopped
        } else {
            TaskOutcome::Cancelled
        };
        self.end(outcome);
    }

    /// Records the task's final outcome, then drops its target and callbacks (user
    /// code: a capture's `Drop` may panic, which is reported, never let loose on the
    /// worker).
    pub(crate) fn end(self, outcome: TaskOutcome) {
        if let Some(state) = &self.state {
            state.finish(outcome);
        }
        let id = self.id;
        if let Err(panic) = panic_capture::drop_contained(self.body) {
            report(format_args!(
                "dropping task {id} (its target and callbacks) panicked: {panic}"
            ));
        }
    }

    /// Whether the job's task was asked to stop.
    pub(crate) fn stop_requested(&self) -> bool {
        self.state
            .as_ref()
            .is_some_and(|state| state.stop_requested())
    }

    /// Runs the job once (see [`Runnable::run`]).
    ///
    /// [`Runnable::run`] contains the user code it calls; this is the last line of
    /// defence for what it cannot (a logger that panics while a failure is reported):
    /// such a run counts as failed and the task ends, but the worker lives on.
    pub(crate) fn run_once(&mut self) -> RunReport {
        let (id, state, body) = (self.id, self.state.as_ref(), &mut self.body);
        match panic_capture::catch(|| body.run(id, state)) {
            (Ok(report), _) => report,
            (Err(payload), _) => {
                let message = panic_capture::panic_message(payload.as_ref());
                let _ = panic_capture::drop_contained(payload);
                report(format_args!(
                    "task {id}: a panic escaped its run's own handling: {message}"
                ));
                if let Some(state) = state {
                    state.count_run(true);
                }
                RunReport {
                    failed: true,
                    again: false,
                }
            }
        }
    }
}

/// Refers to a submitted task: wait for it, check on it, stop it.
///
/// Dropping the handle does not affect the task.
pub struct TaskHandle {
    pub(crate) state: Arc<TaskState>,
    pub(crate) pool: Weak<Shared>,
}

impl TaskHandle {
    /// The task's id.
    pub fn id(&self) -> TaskId {
        self.state.id
    }

    /// Whether the task has ended (see [`TaskOutcome`]).
    pub fn is_finished(&self) -> bool {
        sync::lock(&self.state.outcome).value.is_some()
    }

    /// Blocks until the task has ended, including its last callbacks.
    pub fn wait(&self) -> TaskOutcome {
        let mut guard = sync::lock(&self.state.outcome);
        loop {
            if let Some(outcome) = guard.value {
                return outcome;
            }
            guard = self.state.wait_for_change(guard, None);
        }
    }

    /// Like [`wait`](Self::wait), giving up after `timeout`; `None` if the task is
    /// still queued or running then.
    pub fn wait_timeout(&self, timeout: Duration) -> Option<TaskOutcome> {
        // `None`: too far to express as an instant, so as long as it takes.
        let deadline = Instant::now().checked_add(timeout);
        let mut guard = sync::lock(&self.state.outcome);
        loop {
            if let Some(outcome) = guard.value {
                return Some(outcome);
            }
            let left = match deadline {
                Some(deadline) => match deadline.checked_duration_since(Instant::now()) {
                    Some(left) if !left.is_zero() => Some(left),
                    _ => return None,
                },
                None => None,
            };
            guard = self.state.wait_for_change(guard, left);
        }
    }

    /// Stops the task. A queued task is taken off the queue and never runs
    /// ([`TaskOutcome::Cancelled`] for a one-shot task, [`TaskOutcome::Stopped`] for
    /// an infinite one). A running infinite task sees its [`StopToken`] set, finishes
    /// its current run (callbacks included) and is not run again. A running one-shot
    /// task cannot be interrupted and runs to its end.
    pub fn stop(&self) {
        self.state.request_stop();
        if let Some(pool) = self.pool.upgrade() {
            pool.remove_queued(self.state.id);
        }
    }

    /// How many runs the task has completed (failed ones included).
    pub fn runs(&self) -> u64 {
        self.state.runs.load(Ordering::Relaxed)
    }

    /// How many of those runs failed.
    pub fn failures(&self) -> u64 {
        self.state.failures.load(Ordering::Relaxed)
    }
}

impl fmt::Debug for TaskHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskHandle")
            .field("id", &self.state.id)
            .field("finished", &self.is_finished())
            .field("runs", &self.runs())
            .finish()
    }
}
