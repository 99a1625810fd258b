//! [`Failure`]: what a failed task run produced, handed to the failure callback.
//!
//! A failure carries the task's id, what went wrong (a panic in the target, an error
//! returned by a fallible target, or a panic in the success callback), the message,
//! the source location of a panic, and a backtrace captured *inside the panicking
//! thread at the point of the panic* when `RUST_BACKTRACE` (or `RUST_LIB_BACKTRACE`)
//! asks for one (see `panic_capture.rs`).

use std::any::Any;
use std::backtrace::{Backtrace, BacktraceStatus};
use std::error::Error;
use std::fmt;
use std::sync::{Mutex, PoisonError};

use super::id::TaskId;
use super::panic_capture::{self, PanicRecord, panic_message};

/// The error type a fallible target may return.
pub type BoxError = Box<dyn Error + Send + Sync + 'static>;

/// What went wrong in a task run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum FailureKind {
    /// The target panicked.
    Panicked,
    /// A fallible target returned `Err`.
    Errored,
    /// The target succeeded but the success callback panicked.
    SuccessCallbackPanicked,
    /// The task never ran: it was stopped while queued, or dropped by a cancelling
    /// shutdown (only [`TaskHandle::join`](crate::TaskHandle::join) reports this).
    Cancelled,
}

impl fmt::Display for FailureKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FailureKind::Panicked => "panicked",
            FailureKind::Errored => "failed",
            FailureKind::SuccessCallbackPanicked => "succeeded but its success callback panicked",
            FailureKind::Cancelled => "was cancelled before it ran",
        })
    }
}

/// A failed task run: the Rust counterpart of the original ATP's `Failure` wrapper.
///
/// ```
/// use std::sync::mpsc;
///
/// let pool = atp::ThreadPool::new()?;
/// let (tx, rx) = mpsc::channel();
/// let task = atp::Task::new(|| -> u32 { panic!("fake error") })
///     .on_failure(move |failure: atp::Failure| tx.send(failure).unwrap());
/// pool.run(task)?.wait();
/// let failure = rx.recv().unwrap();
/// assert_eq!(failure.kind(), atp::FailureKind::Panicked);
/// assert_eq!(failure.message(), "fake error");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Failure {
    /// Boxed: a failure is rare, and a thin `Failure` keeps every `Result<T, Failure>`
    /// (and so every task's state) small.
    inner: Box<Inner>,
}

struct Inner {
    task: TaskId,
    kind: FailureKind,
    message: String,
    location: Option<String>,
    backtrace: Option<Backtrace>,
    error: Option<BoxError>,
    /// The panic payload, for [`Failure::resume_unwind`]. In a mutex only so that
    /// `Failure` stays `Sync` (the payload is `Send` but not `Sync`); it is only ever
    /// taken by value.
    payload: Option<Mutex<Box<dyn Any + Send>>>,
}

impl Failure {
    /// A failure from a panic payload and what the panic hook recorded, if anything.
    pub(crate) fn from_panic(
        task: TaskId,
        kind: FailureKind,
        payload: Box<dyn Any + Send>,
        record: Option<PanicRecord>,
    ) -> Failure {
        // Kept for `resume_unwind`. It is user data, whose `Drop` may panic: the pool
        // drops failures on its workers only inside `panic_capture::drop_contained`.
        let message = panic_message(payload.as_ref());
        let (location, backtrace) = match record {
            Some(record) => (record.location, record.backtrace),
            None => (None, None),
        };
        Failure {
            inner: Box::new(Inner {
                task,
                kind,
                message,
                location,
                backtrace,
                error: None,
                payload: Some(Mutex::new(payload)),
            }),
        }
    }

    /// The failure of a task that never ran.
    pub(crate) fn cancelled(task: TaskId) -> Failure {
        Failure {
            inner: Box::new(Inner {
                task,
                kind: FailureKind::Cancelled,
                message: "stopped or shut down before it ran".to_owned(),
                location: None,
                backtrace: None,
                error: None,
                payload: None,
            }),
        }
    }

    /// The same failure without what only one owner can have: the panic payload, the
    /// error and the backtrace (for the handle, when the failure callback took the
    /// failure).
    pub(crate) fn copy_without_payload(&self) -> Failure {
        Failure {
            inner: Box::new(Inner {
                task: self.inner.task,
                kind: self.inner.kind,
                message: self.inner.message.clone(),
                location: self.inner.location.clone(),
                backtrace: None,
                error: None,
                payload: None,
            }),
        }
    }

    /// A failure from an error returned by a fallible target.
    pub(crate) fn from_error(task: TaskId, error: BoxError) -> Failure {
        // The error's `Display` is user code, and may panic.
        let message = match panic_capture::catch(|| error.to_string()) {
            (Ok(message), _) => message,
            (Err(payload), _) => {
                let panic = panic_message(payload.as_ref());
                let _ = panic_capture::drop_contained(payload);
                format!("(an error whose Display panicked: {panic})")
            }
        };
        Failure {
            inner: Box::new(Inner {
                task,
                kind: FailureKind::Errored,
                message,
                location: None,
                backtrace: None,
                error: Some(error),
                payload: None,
            }),
        }
    }

    /// The id of the task that failed.
    pub fn task_id(&self) -> TaskId {
        self.inner.task
    }
    /// What went wrong.
    pub fn kind(&self) -> FailureKind {
        self.inner.kind
    }
    /// The panic message, or the error's `Display` text.
    pub fn message(&self) -> &str {
        &self.inner.message
    }
    /// `file:line:column` of the panic, when the panic hook saw it.
    pub fn location(&self) -> Option<&str> {
        self.inner.location.as_deref()
    }
    /// The backtrace captured where the panic happened. Present only for panics, and
    /// only captured (rather than disabled) when `RUST_BACKTRACE` asks for it.
    pub fn backtrace(&self) -> Option<&Backtrace> {
        self.inner.backtrace.as_ref()
    }
    /// The error a fallible target returned, if that is what failed.
    pub fn error(&self) -> Option<&(dyn Error + Send + Sync + 'static)> {
        self.inner.error.as_deref()
    }
    /// Takes the error a fallible target returned, if that is what failed.
    pub fn into_error(self) -> Option<BoxError> {
        self.inner.error
    }
    /// Whether the failure holds a panic payload ([`into_panic`](Self::into_panic)).
    pub fn is_panic(&self) -> bool {
        self.inner.payload.is_some()
    }
    /// Takes the panic payload, if the failure is a panic and still holds it (a
    /// failure callback took the original when [`TaskHandle::join`](crate::TaskHandle::join)
    /// returns a copy): what `std::thread::JoinHandle::join` would return as `Err`.
    pub fn into_panic(self) -> Option<Box<dyn Any + Send + 'static>> {
        self.inner
            .payload
            .map(|payload| payload.into_inner().unwrap_or_else(PoisonError::into_inner))
    }
    /// Re-raises the failure in the current thread: the original panic (payload and
    /// all) if it holds one, otherwise a panic with this failure's text.
    pub fn resume_unwind(self) -> ! {
        if self.inner.payload.is_some() {
            let payload = self.into_panic().expect("checked above");
            std::panic::resume_unwind(payload)
        }
        std::panic::panic_any(self.to_string())
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "task {} {}: {}",
            self.inner.task, self.inner.kind, self.inner.message
        )?;
        if let Some(location) = &self.inner.location {
            write!(f, " (at {location})")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = f.debug_struct("Failure");
        s.field("task", &self.inner.task)
            .field("kind", &self.inner.kind)
            .field("message", &self.inner.message)
            .field("location", &self.inner.location)
            .field("panic", &self.is_panic());
        if let Some(bt) = &self.inner.backtrace
            && bt.status() == BacktraceStatus::Captured
        {
            s.field("backtrace", &format_args!("\n{bt}"));
        }
        s.finish()
    }
}

impl Error for Failure {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match &self.inner.error {
            Some(err) => Some(err.as_ref()),
            None => None,
        }
    }
}

/// Runs `f` (user code), turning a panic into a [`Failure`] of `kind`.
pub(crate) fn caught<R>(
    id: TaskId,
    kind: FailureKind,
    f: impl FnOnce() -> R,
) -> Result<R, Failure> {
    let (result, record) = panic_capture::catch(f);
    result.map_err(|payload| Failure::from_panic(id, kind, payload, record))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_task_kind_message_and_location() {
        let failure = Failure::from_panic(
            TaskId(7),
            FailureKind::Panicked,
            Box::new("boom"),
            Some(PanicRecord {
                location: Some("src/x.rs:1:2".into()),
                backtrace: None,
            }),
        );
        assert_eq!(
            failure.to_string(),
            "task #7 panicked: boom (at src/x.rs:1:2)"
        );
        assert!(failure.error().is_none());
    }

    #[test]
    fn errors_are_kept_as_the_source() {
        let io = std::io::Error::other("disk on fire");
        let failure = Failure::from_error(TaskId(3), Box::new(io));
        assert_eq!(failure.kind(), FailureKind::Errored);
        assert_eq!(failure.to_string(), "task #3 failed: disk on fire");
        assert_eq!(failure.source().unwrap().to_string(), "disk on fire");
        assert!(failure.into_error().is_some());
    }

    #[test]
    fn string_and_foreign_payloads_have_messages() {
        assert_eq!(panic_message(&String::from("owned")), "owned");
        assert_eq!(panic_message(&42u8), "panic with a non-string payload");
    }
}
