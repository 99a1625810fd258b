//! How the pool runs a task: the type-erased [`Job`] the queue holds, one run of it
//! ([`Runnable::run`]), and its end ([`Job::end`]), which tells
//! the handle and then drops what is left of the task.
//!
//! Invariants:
//! - every call into user code (targets, callbacks, `Drop` of values, captures,
//!   errors and panic payloads, and the program's logger, through `logging.rs`) is
//!   contained: a panic there is a failure of the run or a report, never an
//!   unwinding worker;
//! - a one-shot job keeps its result from its run to its end, when the handle gets it
//!   with the outcome; a spawned closure, or a [`Task`] with its body inline, shares
//!   one allocation with its handle's state ([`SpawnCell`]);
//! - a failure no callback takes is reported (logged, or written to stderr without a
//!   logger), never dropped silently.

use std::any::Any;
use std::fmt;
use std::sync::Arc;

use super::failure::{Failure, FailureKind, caught};
use super::id::{TaskId, next_task_id};
use super::logging;
use super::panic_capture;
use super::stop_token::StopToken;
use super::sync::{self, Mutex};
use super::task::{InfiniteTask, Task, TaskBody};
use super::task_state::{HandleState, InfiniteState, TaskOutcome, TaskState};

/// What one run of a queued job reported back to its worker.
pub(crate) struct RunReport {
    pub(crate) failed: bool,
    /// The job wants another run (infinite and not stopped).
    pub(crate) again: bool,
}

/// A type-erased task, as the queue holds it.
pub(crate) trait Runnable: Send {
    /// The task's id.
    fn id(&self) -> TaskId;

    /// Runs the target once and then the callbacks; never panics.
    fn run(&mut self) -> RunReport;

    /// An infinite task's state, so that shutdown can stop it.
    fn infinite_state(&self) -> Option<Arc<InfiniteState>> {
        None
    }

    /// Whether the task was asked to stop.
    fn stop_requested(&self) -> bool {
        false
    }

    /// Tells the handle how the task ended, after its last run was recorded or
    /// unrun: the outcome follows from the task itself (see [`Job::end`]).
    fn finish(self: Box<Self>);

    /// For `Sealed::from_job`: the concrete job, to take the task back.
    fn into_any(self: Box<Self>) -> Box<dyn Any>;
}

/// A queued [`InfiniteTask`] and the token each of its runs gets.
pub(crate) struct InfiniteJob<T> {
    pub(crate) task: InfiniteTask<T>,
    pub(crate) token: StopToken,
}

impl<T: Send + 'static> Runnable for InfiniteJob<T> {
    fn id(&self) -> TaskId {
        self.token.state.task.id
    }

    fn infinite_state(&self) -> Option<Arc<InfiniteState>> {
        Some(Arc::clone(&self.token.state))
    }

    fn run(&mut self) -> RunReport {
        let id = self.id();
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

    fn finish(self: Box<Self>) {
        self.token.state.task.finish(TaskOutcome::Stopped);
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
    if !logging::write(module_path!(), log::Level::Error, message) {
        eprintln!("atp: {message}");
    }
}

/// A task wrapper for [`ThreadPool::execute`](crate::ThreadPool::execute): a plain
/// closure with no callbacks and no handle.
pub(crate) struct Plain<F> {
    pub(crate) id: TaskId,
    pub(crate) f: Option<F>,
}

impl<F: FnOnce() + Send + 'static> Runnable for Plain<F> {
    fn id(&self) -> TaskId {
        self.id
    }

    fn run(&mut self) -> RunReport {
        let id = self.id;
        let Some(f) = self.f.take() else {
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

    fn finish(self: Box<Self>) {}

    fn into_any(self: Box<Self>) -> Box<dyn Any> {
        self
    }
}

/// Jobs that share their allocation with their handle's state.
pub(crate) trait SharedRunnable: Send + Sync {
    /// As [`Runnable::id`].
    fn id(&self) -> TaskId;
    /// As [`Runnable::run`].
    fn run(&self) -> RunReport;
    /// As [`Runnable::stop_requested`].
    fn stop_requested(&self) -> bool;
    /// As [`Runnable::finish`].
    fn finish(&self);
    /// For taking the closure back out of a refused job.
    fn into_any(self: Arc<Self>) -> Arc<dyn Any + Send + Sync>;
}

/// One-shot work a [`SpawnCell`] runs: a closure from
/// [`ThreadPool::spawn`](crate::ThreadPool::spawn), or a [`Task`].
pub(crate) trait OneShot<T>: Send + 'static {
    /// Runs it once, every panic contained; a failure is handed to the failure
    /// callback or reported, and returned for the handle (a copy without the payload
    /// if the callback took it).
    fn run_once(self, id: TaskId) -> Result<T, Failure>;
}

impl<F, T> OneShot<T> for F
where
    F: FnOnce() -> T + Send + 'static,
{
    fn run_once(self, id: TaskId) -> Result<T, Failure> {
        let result = caught(id, FailureKind::Panicked, self);
        if let Err(failure) = &result {
            report_unhandled(failure);
        }
        result
    }
}

impl<T: Send + 'static, B: TaskBody<Output = T>> OneShot<T> for Task<T, B> {
    fn run_once(self, id: TaskId) -> Result<T, Failure> {
        let Task {
            body, on_failure, ..
        } = self;
        // The body catches the panics of the target and the success callbacks; this
        // catches what escapes them.
        match caught(id, FailureKind::Panicked, || body.run(id)).and_then(|r| r) {
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
        }
    }
}

/// A queued one-shot task — a closure from `spawn` or a [`Task`] — and the state its
/// handle shares, in one allocation: the queue and the handle hold the same `Arc`.
/// (Tiny tasks are dominated by allocation: this way `spawn` allocates no more than
/// the `threadpool` crate's `execute`.) The cell is kept small — 80 bytes with its
/// reference counts for a boxed closure returning `()`, 96 for a
/// `Task::new(closure)` — because glibc returns chunks of up to 128 bytes to its
/// lock-free fast bins when a worker frees them, and larger ones under the arena
/// lock the submitting thread allocates under: at 144 bytes, `run(Task::new(f))`
/// took 1.3-1.5x the time of `spawn(f)` in `benches/tiny_ab.rs` (1.0x with
/// `GLIBC_TUNABLES=glibc.malloc.mxfast=160`). Hence no counters (a one-shot task
/// ran once if it stored a result) and no result in the [`TaskState`].
///
/// Its [`Slot`] holds the work until the run and then the result until `join` takes
/// it, under one mutex that the run holds from taking the work to storing the result:
/// one lock per run instead of two (each lock and unlock is an atomic
/// read-modify-write on the freshly submitted cell, a cache miss on the worker).
/// Holding it across user code blocks nobody: only the worker that owns the job
/// takes it before the task ends, and the handle takes it only after the end
/// (`join` waits for the end first; `wait` and `stop` never take it).
pub(crate) struct SpawnCell<W, T> {
    pub(crate) state: TaskState,
    pub(crate) slot: Mutex<Slot<W, T>>,
}

/// What a [`SpawnCell`] holds: its work, then the result of its run.
pub(crate) enum Slot<W, T> {
    /// Queued, not yet run.
    Work(W),
    /// Ran (or was cancelled before it could): the result, until `join` takes it
    /// (the end is set after it is stored).
    Done(Result<T, Failure>),
    /// Running, taken back, dropped unrun, or the result was taken.
    Empty,
}

impl<W, T> Slot<W, T> {
    fn take(&mut self) -> Slot<W, T> {
        std::mem::replace(self, Slot::Empty)
    }
}

impl<W: OneShot<T>, T: Send + 'static> SpawnCell<W, T> {
    pub(crate) fn new(work: W) -> SpawnCell<W, T> {
        SpawnCell {
            state: TaskState::new(next_task_id()),
            slot: Mutex::new(Slot::Work(work)),
        }
    }

    /// The job for the queue and the state for the handle: one allocation.
    pub(crate) fn into_job(self) -> (Job, Arc<dyn HandleState<T>>) {
        let cell = Arc::new(self);
        let job = Job {
            body: Body::Shared(Arc::clone(&cell) as Arc<dyn SharedRunnable>),
        };
        (job, cell)
    }

    /// The work of a job that was refused.
    pub(crate) fn take_back(job: Job) -> Option<W> {
        match job.body {
            Body::Shared(body) => {
                let cell = body.into_any().downcast::<SpawnCell<W, T>>().ok()?;
                match sync::lock(&cell.slot).take() {
                    Slot::Work(work) => Some(work),
                    _ => None,
                }
            }
            Body::Plain(_) | Body::Infinite(_) => None,
        }
    }
}

impl<W: OneShot<T>, T: Send + 'static> SharedRunnable for SpawnCell<W, T> {
    fn id(&self) -> TaskId {
        self.state.id
    }

    fn run(&self) -> RunReport {
        let id = self.state.id;
        // Held until the result is stored: see `SpawnCell`.
        let mut slot = sync::lock(&self.slot);
        let work = match slot.take() {
            Slot::Work(work) => work,
            other => {
                *slot = other;
                return RunReport {
                    failed: false,
                    again: false,
                };
            }
        };
        let result = work.run_once(id);
        let failed = result.is_err();
        // Kept for `join`; `finish` sets the outcome once the run is recorded.
        *slot = Slot::Done(result);
        self.state.mark_stored(!failed);
        RunReport {
            failed,
            again: false,
        }
    }

    fn stop_requested(&self) -> bool {
        self.state.stop_requested()
    }

    fn finish(&self) {
        if !self.state.finish_stored() {
            // Never ran: cancelled. The failure goes where `join` looks before the
            // outcome is set; the work is dropped with the lock released (`Job::end`
            // contains a panicking `Drop`).
            let cancelled = Slot::Done(Err(Failure::cancelled(self.state.id)));
            let unrun = std::mem::replace(&mut *sync::lock(&self.slot), cancelled);
            self.state.finish(TaskOutcome::Cancelled);
            drop(unrun);
        }
    }

    fn into_any(self: Arc<Self>) -> Arc<dyn Any + Send + Sync> {
        self
    }
}

impl<W: Send, T: Send> HandleState<T> for SpawnCell<W, T> {
    fn task_state(&self) -> &TaskState {
        &self.state
    }

    fn take_result(&self) -> Option<Result<T, Failure>> {
        match sync::lock(&self.slot).take() {
            Slot::Done(result) => Some(result),
            _ => None,
        }
    }

    /// One run once it stored its result; none before, or if it never ran.
    fn runs(&self) -> u64 {
        u64::from(self.state.stored().is_some())
    }

    fn failures(&self) -> u64 {
        u64::from(self.state.stored() == Some(TaskOutcome::Failed))
    }
}

/// A job as the queue holds it.
pub(crate) enum Body {
    /// A closure from `execute`, in its own allocation (no handle).
    Plain(Box<dyn Runnable>),
    /// An infinite task, in its own allocation apart from its state; run again and
    /// again until stopped.
    Infinite(Box<dyn Runnable>),
    /// A one-shot task sharing its allocation with its handle's state.
    Shared(Arc<dyn SharedRunnable>),
}

/// A queued unit of work: the erased task. One pointer and a tag (24 bytes): jobs
/// are moved from the submitter's inbox to the queue to a worker, so every byte of
/// them crosses between cores (the id and an infinite task's state are behind the
/// pointer).
pub(crate) struct Job {
    pub(crate) body: Body,
}

impl Job {
    /// The task's id.
    pub(crate) fn id(&self) -> TaskId {
        match &self.body {
            Body::Plain(body) | Body::Infinite(body) => body.id(),
            Body::Shared(body) => body.id(),
        }
    }

    /// Whether this is an infinite task (requeued after each run).
    pub(crate) fn is_infinite(&self) -> bool {
        matches!(self.body, Body::Infinite(_))
    }

    /// An infinite task's state, so that shutdown can stop it.
    pub(crate) fn infinite_state(&self) -> Option<Arc<InfiniteState>> {
        match &self.body {
            Body::Infinite(body) => body.infinite_state(),
            Body::Plain(_) | Body::Shared(_) => None,
        }
    }

    /// Ends a job that will not run again — after its last run was recorded, or
    /// unrun (stopped while queued, or dropped by a shutdown) — and tells the handle
    /// how it ended, which follows from the task itself: a one-shot task that stored
    /// a result ended with it, one that never ran is `Cancelled`, an infinite task is
    /// `Stopped`. Then drops what is left of it: its target and callbacks, and its
    /// value if no handle will take it — user code, whose `Drop` may panic, which is
    /// reported, never let loose on the worker.
    pub(crate) fn end(self) {
        let id = self.id();
        let body = self.body;
        let end = move || match body {
            Body::Plain(body) | Body::Infinite(body) => body.finish(),
            Body::Shared(body) => body.finish(),
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
            Body::Plain(body) | Body::Infinite(body) => body.stop_requested(),
            Body::Shared(body) => body.stop_requested(),
        }
    }

    /// Runs the job once (see [`Runnable::run`]).
    ///
    /// [`Runnable::run`] contains the user code it calls (the logger included, see
    /// `logging.rs`); this is the last line of defence against a bug of the pool's
    /// own: such a run counts as failed and the task ends, but the worker lives on.
    pub(crate) fn run_once(&mut self) -> RunReport {
        let id = self.id();
        let body = &mut self.body;
        let run = || match body {
            Body::Plain(body) | Body::Infinite(body) => body.run(),
            Body::Shared(body) => body.run(),
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

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    /// What `Arc` adds to its value: the strong and weak counts.
    const ARC_COUNTS: usize = 2 * std::mem::size_of::<usize>();

    /// glibc's default limit for its lock-free fast bins: 128-byte chunks, of which
    /// 8 bytes are the chunk's header.
    const FAST_BIN_REQUEST: usize = 120;

    #[test]
    fn a_queued_job_is_a_pointer_and_a_tag() {
        assert!(std::mem::size_of::<Job>() <= 3 * std::mem::size_of::<usize>());
    }

    #[test]
    fn a_tiny_tasks_cell_fits_glibcs_fast_bins_with_room_for_captures() {
        type Boxed = Box<dyn FnOnce() + Send>;
        let spawned = ARC_COUNTS + std::mem::size_of::<SpawnCell<Boxed, ()>>();
        let task =
            ARC_COUNTS + std::mem::size_of::<SpawnCell<Task<(), crate::task::Target<Boxed>>, ()>>();
        let valued =
            ARC_COUNTS + std::mem::size_of::<SpawnCell<Box<dyn FnOnce() -> u64 + Send>, u64>>();
        // Room for 16 more bytes of captures (two more words) in each.
        for (what, size) in [
            ("spawn", spawned),
            ("run(Task::new)", task),
            ("spawn -> u64", valued),
        ] {
            assert!(
                size + 16 <= FAST_BIN_REQUEST,
                "{what}: a {size}-byte cell leaves no room below glibc's fast-bin limit"
            );
        }
    }
}
