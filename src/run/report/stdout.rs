//! The health of our standard output, as every sink that writes to it sees it.
//!
//! Invariant: the first failure is reported to the coordinator once, as an event:
//! a reader that went away (`BrokenPipe`, as in `| head -1`) stops the run quietly;
//! any other error (a full disk) stops it with an error. Nothing more is written to
//! a broken stdout.

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};

use crossbeam_channel::Sender;

use crate::run::events::Event;

/// Whether stdout still works; tells the coordinator when it stops working.
#[derive(Debug)]
pub(crate) struct StdoutHealth {
    broken: AtomicBool,
    events: Sender<Event>,
}

impl StdoutHealth {
    /// Healthy, reporting to `events`.
    pub(crate) fn new(events: Sender<Event>) -> StdoutHealth {
        StdoutHealth {
            broken: AtomicBool::new(false),
            events,
        }
    }

    /// Whether writing to stdout failed (then nothing more is written to it).
    pub(crate) fn is_broken(&self) -> bool {
        self.broken.load(Ordering::Relaxed)
    }

    /// Writing to stdout failed with `err`.
    pub(crate) fn failed(&self, err: &io::Error) {
        if self.broken.swap(true, Ordering::Relaxed) {
            return;
        }
        let event = if err.kind() == io::ErrorKind::BrokenPipe {
            Event::StdoutClosed
        } else {
            Event::StdoutFailed(err.to_string())
        };
        let _ = self.events.send(event);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_first_failure_is_reported_and_a_closed_pipe_is_quiet() {
        let (tx, rx) = crossbeam_channel::unbounded();
        let health = StdoutHealth::new(tx);
        assert!(!health.is_broken());
        health.failed(&io::Error::from(io::ErrorKind::BrokenPipe));
        health.failed(&io::Error::other("disk full"));
        assert!(health.is_broken());
        assert!(matches!(rx.try_recv(), Ok(Event::StdoutClosed)));
        assert!(rx.try_recv().is_err());
        let (tx, rx) = crossbeam_channel::unbounded();
        StdoutHealth::new(tx).failed(&io::Error::other("disk full"));
        assert!(matches!(rx.try_recv(), Ok(Event::StdoutFailed(e)) if e == "disk full"));
    }
}
