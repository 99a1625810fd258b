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

use super::panic_capture::{self, PanicRecord, panic_message};
use super::task::TaskId;

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
    task: TaskId,
    kind: FailureKind,
    message: String,
    location: Option<String>,
    backtrace: Option<Backtrace>,
    error: Option<BoxError>,
}

impl Failure {
    /// A failure from a panic payload and what the panic hook recorded, if anything.
    pub(crate) fn from_panic(
        task: TaskId,
        kind: FailureKind,
        payload: Box<dyn Any + Send>,
        record: Option<PanicRecord>,
    ) -> Failure {
        let message = panic_message(payload.as_ref());
        // A payload is user data: its `Drop` may panic.
        let _ = panic_capture::drop_contained(payload);
        let (location, backtrace) = match record {
            Some(record) => (record.location, record.backtrace),
            None => (None, None),
        };
        Failure {
            task,
            kind,
            message,
            location,
            backtrace,
            error: None,
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
            task,
            kind: FailureKind::Errored,
            message,
            location: None,
            backtrace: None,
            error: Some(error),
        }
    }

    /// The id of the task that failed.
    pub fn task_id(&self) -> TaskId {
        self.task
    }
    /// What went wrong.
    pub fn kind(&self) -> FailureKind {
        self.kind
    }
    /// The panic message, or the error's `Display` text.
    pub fn message(&self) -> &str {
        &self.message
    }
    /// `file:line:column` of the panic, when the panic hook saw it.
    pub fn location(&self) -> Option<&str> {
        self.location.as_deref()
    }
    /// The backtrace captured where the panic happened. Present only for panics, and
    /// only captured (rather than disabled) when `RUST_BACKTRACE` asks for it.
    pub fn backtrace(&self) -> Option<&Backtrace> {
        self.backtrace.as_ref()
    }
    /// The error a fallible target returned, if that is what failed.
    pub fn error(&self) -> Option<&(dyn Error + Send + Sync + 'static)> {
        self.error.as_deref()
    }
    /// Takes the error a fallible target returned, if that is what failed.
    pub fn into_error(self) -> Option<BoxError> {
        self.error
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.kind {
            FailureKind::Panicked => "panicked",
            FailureKind::Errored => "failed",
            FailureKind::SuccessCallbackPanicked => "succeeded but its success callback panicked",
        };
        write!(f, "task {} {}: {}", self.task, what, self.message)?;
        if let Some(location) = &self.location {
            write!(f, " (at {location})")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = f.debug_struct("Failure");
        s.field("task", &self.task)
            .field("kind", &self.kind)
            .field("message", &self.message)
            .field("location", &self.location);
        if let Some(bt) = &self.backtrace
            && bt.status() == BacktraceStatus::Captured
        {
            s.field("backtrace", &format_args!("\n{bt}"));
        }
        s.finish()
    }
}

impl Error for Failure {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match &self.error {
            Some(err) => Some(err.as_ref()),
            None => None,
        }
    }
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
