//! `--keep-order`: jobs' output printed in input order, whatever order they end in.
//!
//! Owns: the reorder buffer of finished jobs waiting for an earlier one (their
//! capture files and what they print besides), the spare captures handed to workers
//! in exchange, and the feeder's brake ([`Ordered::wait_for_room`]).
//!
//! Invariants:
//! - A job whose turn has come is printed from its worker's capture at once (by the
//!   inner sink); a job that finished ahead of its turn hands its capture files over
//!   to the buffer and its worker takes a spare (a recycled capture, or new files).
//!   So held output stays on disk, memory grows only with the number of held jobs,
//!   and the feeder stops starting jobs while [`KEEP_ORDER_AHEAD`] are held. At the
//!   end of a run whatever is held is flushed in order, past the gaps of cancelled
//!   jobs. The status line travels with its block (status lines follow output order).
//! - A job takes its turn exactly once: only its counted attempt reaches
//!   [`OutputSink::print`] (the reporter sends retried attempts' status lines as
//!   messages), and a job never reported (skipped by `--resume`, not started after a
//!   `--halt`, cancelled) is passed over with [`OutputSink::skip`].
//! - Lock order: the reporter's output lock, then this sink's state lock; the
//!   feeder waits for room holding neither.

use std::io;
use std::path::PathBuf;
use std::sync::{Condvar, Mutex};

use crate::run::exec::capture::Capture;
use crate::run::job::{JobEnd, JobError, JobLabel};
use crate::run::lock::{lock, wait};
use crate::run::report::reorder::Reorder;
use crate::run::report::sink::{OutputSink, Rendered};
use crate::run::report::stdout::StdoutHealth;

/// Most jobs held (finished, waiting for an earlier job) before the feeder stops
/// starting new ones. Each holds two open files.
pub(crate) const KEEP_ORDER_AHEAD: usize = 256;

/// Most spare captures kept for reuse.
const MAX_SPARES: usize = 64;

/// A job held back.
#[derive(Debug)]
struct Held {
    rendered: Rendered,
    capture: Option<Capture>,
}

#[derive(Debug)]
struct State {
    reorder: Reorder<Held>,
    spares: Vec<Capture>,
    /// The run ended: nothing will be held any more.
    closed: bool,
}

/// Prints through `inner`, in input order.
#[derive(Debug)]
pub(crate) struct Ordered {
    inner: Box<dyn OutputSink>,
    state: Mutex<State>,
    /// Signalled when held jobs are released or the run ends.
    room: Condvar,
    /// Where spare captures are created.
    tmpdir: PathBuf,
}

impl Ordered {
    /// Orders what `inner` prints; spare captures are created in `tmpdir`.
    pub(crate) fn new(inner: Box<dyn OutputSink>, tmpdir: PathBuf) -> Ordered {
        Ordered {
            inner,
            state: Mutex::new(State {
                reorder: Reorder::new(1),
                spares: Vec::new(),
                closed: false,
            }),
            room: Condvar::new(),
            tmpdir,
        }
    }

    /// Prints a held job, then recycles its capture.
    fn print_held(&self, held: Held, spares: &mut Vec<Capture>, stdout: &StdoutHealth) {
        let Held {
            rendered,
            mut capture,
        } = held;
        self.inner.print(0, rendered, capture.as_mut(), stdout);
        if let Some(mut capture) = capture
            && spares.len() < MAX_SPARES
            && capture.reset().is_ok()
        {
            spares.push(capture);
        }
    }

    /// Job `number` took its turn (with nothing to print, or printed already):
    /// releases the jobs after it that are held.
    fn complete(&self, state: &mut State, number: u64, stdout: &StdoutHealth) -> bool {
        let State {
            reorder, spares, ..
        } = state;
        let mut released = false;
        reorder.complete(number, None, |held| {
            released = true;
            self.print_held(held, spares, stdout);
        });
        if released {
            self.room.notify_all();
        }
        released
    }

    /// A clean capture for a worker that handed its own over.
    fn spare(&self, spares: &mut Vec<Capture>) -> io::Result<Capture> {
        match spares.pop() {
            Some(capture) => Ok(capture),
            None => Capture::new(&self.tmpdir),
        }
    }
}

impl OutputSink for Ordered {
    fn once_per_job(&self) -> bool {
        true
    }

    fn render(
        &self,
        job: &JobLabel<'_>,
        result: &Result<JobEnd, JobError>,
        status: Option<String>,
    ) -> Rendered {
        self.inner.render(job, result, status)
    }

    fn print(
        &self,
        number: u64,
        rendered: Rendered,
        capture: Option<&mut Capture>,
        stdout: &StdoutHealth,
    ) -> bool {
        let mut state = lock(&self.state);
        if state.reorder.is_next(number) {
            self.inner.print(number, rendered, capture, stdout);
            return self.complete(&mut state, number, stdout);
        }
        let held_capture = match capture {
            None => None,
            Some(capture) => match self.spare(&mut state.spares) {
                Ok(spare) => Some(std::mem::replace(capture, spare)),
                Err(err) => {
                    log::warn!("--keep-order: printing job {number} out of turn: {err}");
                    self.inner.print(number, rendered, Some(capture), stdout);
                    state.reorder.complete(number, None, |_| {});
                    return false;
                }
            },
        };
        let held = Held {
            rendered,
            capture: held_capture,
        };
        state.reorder.complete(number, Some(held), |_| {
            unreachable!("job {number} is not next")
        });
        false
    }

    fn skip(&self, number: u64, stdout: &StdoutHealth) -> bool {
        let mut state = lock(&self.state);
        self.complete(&mut state, number, stdout)
    }

    fn flush(&self, stdout: &StdoutHealth) {
        let mut state = lock(&self.state);
        state.closed = true;
        let State {
            reorder, spares, ..
        } = &mut *state;
        reorder.drain(|held| self.print_held(held, spares, stdout));
        self.room.notify_all();
    }

    fn wait_for_room(&self) {
        let mut state = lock(&self.state);
        while !state.closed && state.reorder.len() >= KEEP_ORDER_AHEAD {
            state = wait(&self.room, state);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run::report::grouped::Grouped;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Records the order jobs are printed in (by their status line).
    #[derive(Debug, Default)]
    struct Recorder(Mutex<Vec<String>>);

    impl OutputSink for Arc<Recorder> {
        fn print(
            &self,
            _number: u64,
            rendered: Rendered,
            _capture: Option<&mut Capture>,
            _stdout: &StdoutHealth,
        ) -> bool {
            lock(&self.0).extend(rendered.status);
            false
        }
    }

    fn status(s: &str) -> Rendered {
        Rendered {
            status: Some(s.into()),
            ..Rendered::default()
        }
    }

    #[test]
    fn jobs_are_printed_in_input_order_past_skipped_ones() {
        let recorder = Arc::new(Recorder::default());
        let ordered = Ordered::new(Box::new(Arc::clone(&recorder)), std::env::temp_dir());
        let (tx, _rx) = crossbeam_channel::unbounded();
        let stdout = StdoutHealth::new(tx);
        assert!(!ordered.print(3, status("3"), None, &stdout));
        assert!(!ordered.print(4, status("4"), None, &stdout));
        assert!(lock(&recorder.0).is_empty(), "held until 1 and 2");
        assert!(!ordered.print(1, status("1"), None, &stdout));
        assert!(ordered.skip(2, &stdout), "skipping 2 releases 3 and 4");
        assert_eq!(*lock(&recorder.0), ["1", "3", "4"]);
        assert!(!ordered.print(6, status("6"), None, &stdout));
        ordered.flush(&stdout);
        assert_eq!(*lock(&recorder.0), ["1", "3", "4", "6"]);
    }

    #[test]
    fn a_full_buffer_holds_the_feeder_until_the_run_ends() {
        let ordered = Arc::new(Ordered::new(
            Box::new(Grouped::default()),
            std::env::temp_dir(),
        ));
        let (tx, _rx) = crossbeam_channel::unbounded();
        let stdout = StdoutHealth::new(tx);
        for n in 2..2 + KEEP_ORDER_AHEAD as u64 {
            ordered.print(n, Rendered::default(), None, &stdout);
        }
        let waited = Arc::new(AtomicUsize::new(0));
        let feeder = {
            let (ordered, waited) = (Arc::clone(&ordered), Arc::clone(&waited));
            std::thread::spawn(move || {
                ordered.wait_for_room();
                waited.fetch_add(1, Ordering::SeqCst);
            })
        };
        ordered.flush(&stdout);
        feeder.join().unwrap();
        assert_eq!(waited.load(Ordering::SeqCst), 1);
    }
}
