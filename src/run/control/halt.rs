//! The `--halt` decision: after each job's final result (and when the total becomes
//! known), whether the policy is met, and the exit status of a halted run.
//!
//! Owns: [`HaltTracker`], a pure state machine over the run's tally.
//!
//! Invariants: only a job's *final* result is recorded (the last attempt under
//! `--retries`); the counts are the run's one tally (`report/tally.rs`); the tracker
//! fires at most once; a percentage is decided only once the total number of jobs
//! is known (input is streamed, so that is when the input ends), as a fraction of
//! that total.

use crate::run::job::{ExitStatusKind, JobEnd, JobError};
use crate::run::report::tally::Counts;
use crate::run::values::halt_spec::{HaltSpec, Threshold, When, Why};

/// A job's final result, as far as halting is concerned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct JobResult {
    /// The job's number.
    pub number: u64,
    /// Whether it succeeded.
    pub ok: bool,
    /// The exit status a `--halt …=1` run exits with when this job triggers it:
    /// the job's exit code, or 128 + the signal that killed it.
    pub status: u8,
}

/// The decision the tracker made (once).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Halt {
    /// Soon or now.
    pub when: When,
    /// The job whose end met the condition (none if it was met when the
    /// total became known).
    pub job: Option<u64>,
    /// The exit status of the run.
    pub exit_code: u8,
}

/// Counts final job results and decides when the run halts.
#[derive(Debug)]
pub(crate) struct HaltTracker {
    spec: HaltSpec,
    total: Option<u64>,
    fired: Option<Halt>,
}

impl HaltTracker {
    /// A tracker for `spec`.
    pub(crate) fn new(spec: HaltSpec) -> HaltTracker {
        HaltTracker {
            spec,
            total: None,
            fired: None,
        }
    }

    /// The policy.
    pub(crate) fn spec(&self) -> HaltSpec {
        self.spec
    }

    /// A job's final result was tallied (`counts` include it); returns the
    /// decision if this made the run halt (only the first time).
    pub(crate) fn record(&mut self, counts: Counts, ended: JobResult) -> Option<Halt> {
        self.check(counts, Some(ended))
    }

    /// The total number of jobs became known (the input ended); percentages can
    /// now be decided.
    pub(crate) fn set_total(&mut self, counts: Counts, total: u64) -> Option<Halt> {
        self.total = Some(total);
        self.check(counts, None)
    }

    /// The decision, if the run halted.
    pub(crate) fn fired(&self) -> Option<Halt> {
        self.fired
    }

    /// `trigger` is the job just recorded, or `None` when the total became known.
    fn check(&mut self, counts: Counts, trigger: Option<JobResult>) -> Option<Halt> {
        if self.fired.is_some() {
            return None;
        }
        // The count this policy looks at; a job that is not of that kind cannot
        // be what meets the condition.
        let (count, relevant) = match self.spec.why {
            Why::Fail => (counts.failed, trigger.is_none_or(|e| !e.ok)),
            Why::Success => (counts.succeeded, trigger.is_none_or(|e| e.ok)),
            Why::Done => (counts.finished(), true),
        };
        if !relevant {
            return None;
        }
        let met = match self.spec.threshold {
            Threshold::Count(n) => count >= n,
            Threshold::Percent(p) => match self.total {
                Some(total) if total > 0 => count as f64 >= total as f64 * p / 100.0,
                _ => false,
            },
        };
        if !met {
            return None;
        }
        let halt = Halt {
            when: self.spec.when,
            job: trigger.map(|e| e.number),
            exit_code: self.exit_code(counts, trigger),
        };
        self.fired = Some(halt);
        Some(halt)
    }

    /// GNU parallel's rule (src/parallel, `should_we_halt`): success halts exit 0;
    /// `fail=1`/`done=1` exit with the triggering job's status (its exit code, or
    /// 128 + signal, "emulating Bash"). Other fail/done halts use atp-run's usual
    /// status: 1 if a job failed, else 0 (GNU would exit with the count of failed
    /// jobs, which atp-run never does).
    fn exit_code(&self, counts: Counts, trigger: Option<JobResult>) -> u8 {
        match (self.spec.why, self.spec.threshold, trigger) {
            (Why::Success, ..) => 0,
            (_, Threshold::Count(1), Some(job)) => job.status,
            _ => u8::from(counts.failed > 0),
        }
    }
}

/// The exit status a `fail=1` halt on this result exits with: the exit code, or
/// 128 + the signal; 255 for a job that timed out yet exited 0 (GNU's -1) or
/// could not start.
pub(crate) fn halt_status(result: &Result<JobEnd, JobError>) -> u8 {
    match result {
        Ok(exit) => match exit.status {
            ExitStatusKind::Exited(0) if exit.timed_out => 255,
            ExitStatusKind::Exited(code) => (code & 0xff) as u8,
            ExitStatusKind::Signaled { signal } => (128 + signal).clamp(0, 255) as u8,
        },
        Err(_) => 255,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(s: &str) -> HaltSpec {
        s.parse().unwrap()
    }

    fn ended(number: u64, ok: bool, status: u8) -> JobResult {
        JobResult { number, ok, status }
    }

    /// A tracker with the tally it reads.
    struct Tracked {
        tracker: HaltTracker,
        counts: Counts,
    }

    impl Tracked {
        fn new(spec: HaltSpec) -> Tracked {
            Tracked {
                tracker: HaltTracker::new(spec),
                counts: Counts::default(),
            }
        }

        fn record(&mut self, ended: JobResult) -> Option<Halt> {
            if ended.ok {
                self.counts.succeeded += 1;
            } else {
                self.counts.failed += 1;
            }
            self.tracker.record(self.counts, ended)
        }

        fn set_total(&mut self, total: u64) -> Option<Halt> {
            self.tracker.set_total(self.counts, total)
        }

        fn fired(&self) -> Option<Halt> {
            self.tracker.fired()
        }
    }

    #[test]
    fn fail_one_exits_with_the_failing_jobs_status() {
        let mut t = Tracked::new(spec("now,fail=1"));
        assert_eq!(t.record(ended(1, true, 0)), None);
        let halt = t.record(ended(2, false, 4)).unwrap();
        assert_eq!(
            halt,
            Halt {
                when: When::Now,
                job: Some(2),
                exit_code: 4
            }
        );
        // Fires once.
        assert_eq!(t.record(ended(3, false, 9)), None);
        assert_eq!(t.fired(), Some(halt));
    }

    #[test]
    fn counts_and_success() {
        let mut t = Tracked::new(spec("soon,fail=2"));
        assert_eq!(t.record(ended(1, false, 3)), None);
        assert_eq!(t.record(ended(2, true, 0)), None);
        let halt = t.record(ended(3, false, 5)).unwrap();
        assert_eq!((halt.when, halt.exit_code), (When::Soon, 1));

        let mut t = Tracked::new(spec("now,success=1"));
        assert_eq!(t.record(ended(1, false, 3)), None);
        assert_eq!(t.record(ended(2, true, 0)).unwrap().exit_code, 0);

        let mut t = Tracked::new(spec("soon,done=2"));
        assert_eq!(t.record(ended(1, true, 0)), None);
        assert_eq!(t.record(ended(2, true, 0)).unwrap().exit_code, 0);
    }

    #[test]
    fn percentages_wait_for_the_total() {
        let mut t = Tracked::new(spec("now,fail=50%"));
        assert_eq!(t.record(ended(1, false, 1)), None);
        assert_eq!(t.record(ended(2, true, 0)), None);
        // 1 of 2 failed: 50%.
        let halt = t.set_total(2).unwrap();
        assert_eq!((halt.job, halt.exit_code), (None, 1));

        let mut t = Tracked::new(spec("now,fail=50%"));
        assert_eq!(t.set_total(4), None);
        assert_eq!(t.record(ended(1, false, 1)), None);
        assert!(t.record(ended(2, false, 1)).is_some());
    }

    fn exit(status: ExitStatusKind, timed_out: bool) -> Result<JobEnd, JobError> {
        Ok(JobEnd::fixture(
            status,
            std::time::Duration::ZERO,
            timed_out,
        ))
    }

    #[test]
    fn halt_statuses_are_bash_like() {
        assert_eq!(halt_status(&exit(ExitStatusKind::Exited(4), false)), 4);
        assert_eq!(halt_status(&exit(ExitStatusKind::Exited(0), false)), 0);
        assert_eq!(halt_status(&exit(ExitStatusKind::Exited(0), true)), 255);
        assert_eq!(
            halt_status(&exit(ExitStatusKind::Signaled { signal: 15 }, true)),
            143
        );
        assert_eq!(halt_status(&Err(JobError::Cancelled)), 255);
    }
}
