//! Counting jobs in and out: how many the feeder handed over (or skipped), how many
//! are done, and the one [`Event::AllDone`] when every one of them is. See
//! `PROTOCOL.md`, "Completion".
//!
//! Invariants: every submitted one-shot job is counted done exactly once (a
//! [`DoneGuard`] counts it even if running it unwinds); with `SeqCst` on both
//! sides, whichever of the last job and the end of input comes second sees the
//! other and sends `AllDone` (both may: the coordinator takes the first).

use std::sync::atomic::{AtomicU64, Ordering};

use crossbeam_channel::Sender;

use crate::run::events::Event;

/// The counts the feeder, the workers and the coordinator share.
#[derive(Debug)]
pub(crate) struct Completion {
    /// Jobs done (including skipped ones).
    done: AtomicU64,
    /// Jobs submitted in all; `u64::MAX` until the input has ended.
    total: AtomicU64,
    /// Jobs handed to the pool or skipped so far.
    submitted: AtomicU64,
    /// Jobs `--resume` skipped.
    skipped: AtomicU64,
    events: Sender<Event>,
}

impl Completion {
    /// Nothing submitted yet; `AllDone` goes to `events`.
    pub(crate) fn new(events: Sender<Event>) -> Completion {
        Completion {
            done: AtomicU64::new(0),
            total: AtomicU64::new(u64::MAX),
            submitted: AtomicU64::new(0),
            skipped: AtomicU64::new(0),
            events,
        }
    }

    /// The feeder is handing a job over (or skipping it).
    pub(crate) fn submitting(&self) {
        self.submitted.fetch_add(1, Ordering::SeqCst);
    }

    /// Handing the job over failed (the pool is shutting down).
    pub(crate) fn not_submitted(&self) {
        self.submitted.fetch_sub(1, Ordering::SeqCst);
    }

    /// `--resume` skipped a job: it counts as done.
    pub(crate) fn skipped_one(&self) {
        self.skipped.fetch_add(1, Ordering::Relaxed);
        self.job_done();
    }

    /// Jobs handed over so far, skipped ones included: the records read (the
    /// progress display's figure while the input streams).
    pub(crate) fn submitted(&self) -> u64 {
        self.submitted.load(Ordering::Relaxed)
    }

    /// Jobs `--resume` skipped.
    pub(crate) fn skipped(&self) -> u64 {
        self.skipped.load(Ordering::Relaxed)
    }

    /// A job is done.
    pub(crate) fn job_done(&self) {
        let done = self.done.fetch_add(1, Ordering::SeqCst) + 1;
        if done == self.total.load(Ordering::SeqCst) {
            let _ = self.events.send(Event::AllDone);
        }
    }

    /// The input ended after `jobs` jobs.
    pub(crate) fn input_ended(&self, jobs: u64) {
        self.total.store(jobs, Ordering::SeqCst);
        if self.done.load(Ordering::SeqCst) == jobs {
            let _ = self.events.send(Event::AllDone);
        }
    }

    /// Whether every job handed over so far is done (a halting run waits for
    /// that, not for the input to end).
    pub(crate) fn all_submitted_done(&self) -> bool {
        self.done.load(Ordering::SeqCst) >= self.submitted.load(Ordering::SeqCst)
    }
}

/// Counts a one-shot job as done exactly once: explicitly where the job ends, or,
/// should running it ever unwind (a bug; the pool contains the panic), when the guard
/// drops — otherwise the coordinator would wait for that job for ever.
#[derive(Debug)]
pub(crate) struct DoneGuard<'a> {
    completion: &'a Completion,
    armed: bool,
}

impl<'a> DoneGuard<'a> {
    /// A guard for one job.
    pub(crate) fn new(completion: &'a Completion) -> DoneGuard<'a> {
        DoneGuard {
            completion,
            armed: true,
        }
    }

    /// The job is done.
    pub(crate) fn fire(&mut self) {
        if std::mem::take(&mut self.armed) {
            self.completion.job_done();
        }
    }
}

impl Drop for DoneGuard<'_> {
    fn drop(&mut self) {
        self.fire();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crossbeam_channel::Receiver;

    fn new_completion() -> (Completion, Receiver<Event>) {
        let (events, inbox) = crossbeam_channel::unbounded();
        let completion = Completion::new(events);
        completion.input_ended(1);
        (completion, inbox)
    }

    #[test]
    fn a_job_is_counted_done_once_whether_it_ends_or_unwinds() {
        let (completion, inbox) = new_completion();
        {
            let mut guard = DoneGuard::new(&completion);
            guard.fire();
        }
        assert_eq!(
            completion.done.load(Ordering::SeqCst),
            1,
            "fired, not again on drop"
        );
        assert!(matches!(inbox.try_recv(), Ok(Event::AllDone)));

        let (completion, inbox) = new_completion();
        let unwound = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let _guard = DoneGuard::new(&completion);
            panic!("a bug while running a job");
        }));
        assert!(unwound.is_err());
        assert_eq!(
            completion.done.load(Ordering::SeqCst),
            1,
            "counted while unwinding"
        );
        assert!(matches!(inbox.try_recv(), Ok(Event::AllDone)));
    }

    #[test]
    fn all_done_comes_from_whichever_of_input_end_and_last_job_is_second() {
        let (events, inbox) = crossbeam_channel::unbounded();
        let completion = Completion::new(events);
        completion.submitting();
        completion.submitting();
        completion.job_done();
        assert!(!completion.all_submitted_done());
        completion.skipped_one();
        assert!(completion.all_submitted_done());
        assert!(inbox.try_recv().is_err(), "the input has not ended");
        completion.input_ended(2);
        assert!(matches!(inbox.try_recv(), Ok(Event::AllDone)));
        assert_eq!(completion.skipped(), 1);
    }
}
