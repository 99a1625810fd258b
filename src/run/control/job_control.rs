//! Job control of one run: what the feeder skips (`--resume`), how many attempts
//! a job gets (`--retries`), its time limit (`--timeout`), the joblog row of its
//! final result (`--joblog`), and whether that result halts the run (`--halt`).
//!
//! Owns: the open joblog, the set of job numbers to skip, the timer, the halt
//! tracker, the table of running jobs (for SIGUSR1) and the count of jobs handed
//! to the pool (so a halting run knows when the last running one is done).
//!
//! Invariants:
//! - Everything that can fail here (the joblog cannot be read or written) fails
//!   in [`JobControl::new`], before any job runs, with a message naming `--joblog`.
//! - Job numbers are the input positions whether or not a job is skipped, so
//!   they stay the same from one run to the next.
//! - [`JobControl::job_ended`] is called once per job, with its final result
//!   (never for a cancelled job, never for an attempt that is retried).

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use crate::run::control::halt::{Ended, Halt, HaltSpec, HaltTracker, When, Why};
use crate::run::exec::local::{ExitStatusKind, JobExit, RunError};
use crate::run::exec::registry::ProcessRegistry;
use crate::run::exec::timeout::Timeouts;
use crate::run::options::ControlOptions;
use crate::run::report::joblog::{self, Joblog, Row};
use crate::run::report::running_list::RunningJobs;

/// Job control state shared by the feeder, the workers and the coordinator.
#[derive(Debug)]
pub struct JobControl {
    joblog: Option<Joblog>,
    skip: HashSet<u64>,
    skipped: AtomicU64,
    attempts: u32,
    timeouts: Option<Timeouts>,
    halt: Option<Mutex<HaltTracker>>,
    submitted: AtomicU64,
    running: Arc<RunningJobs>,
}

impl JobControl {
    /// Reads the joblog for `--resume`, opens it for writing, starts the timer.
    ///
    /// # Errors
    /// One line naming the flag: the joblog cannot be read, is not a joblog, or
    /// cannot be written; the timer thread cannot start.
    pub fn new(
        options: &ControlOptions,
        registry: &Arc<ProcessRegistry>,
    ) -> anyhow::Result<JobControl> {
        let skip = skip_set(options)?;
        let joblog = match &options.joblog {
            Some(target) => Some(
                // --resume appends to the log it resumes from (as GNU parallel does).
                Joblog::open(&target.path, target.append || options.resume.is_some()).map_err(
                    |e| {
                        anyhow::anyhow!(
                            "--joblog {}: cannot write it: {e}",
                            joblog::display(&target.path)
                        )
                    },
                )?,
            ),
            None => None,
        };
        let timeouts = match options.timeout {
            Some(limit) => Some(
                Timeouts::start(limit, options.termseq.clone(), Arc::clone(registry))
                    .map_err(|e| anyhow::anyhow!("--timeout: cannot start the timer: {e}"))?,
            ),
            None => None,
        };
        Ok(JobControl {
            joblog,
            skip,
            skipped: AtomicU64::new(0),
            attempts: options.attempts.max(1),
            timeouts,
            halt: options.halt.map(|spec| Mutex::new(HaltTracker::new(spec))),
            submitted: AtomicU64::new(0),
            running: Arc::new(RunningJobs::default()),
        })
    }

    /// Whether job `number` is skipped (`--resume`); counts it if so.
    pub fn skips(&self, number: u64) -> bool {
        let skip = self.skip.contains(&number);
        if skip {
            self.skipped.fetch_add(1, Ordering::Relaxed);
        }
        skip
    }

    /// Jobs skipped so far.
    pub fn skipped(&self) -> u64 {
        self.skipped.load(Ordering::Relaxed)
    }

    /// Attempts a job gets (1 without `--retries`).
    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    /// The `--timeout` timer.
    pub fn timeouts(&self) -> Option<&Timeouts> {
        self.timeouts.as_ref()
    }

    /// The running jobs, for SIGUSR1.
    pub fn running(&self) -> &Arc<RunningJobs> {
        &self.running
    }

    /// Jobs handed to the pool or skipped: each sends one `JobDone`.
    pub fn submitted(&self) -> &AtomicU64 {
        &self.submitted
    }

    /// A job's final result: writes its joblog row and feeds the halt policy.
    /// `stopping` says the run was already being stopped (the registry closed):
    /// a job killed by a signal then was killed by us and gets no row, as in GNU
    /// parallel, so `--resume` runs it again. Returns a halt decision the first
    /// time the policy is met.
    pub fn job_ended(
        &self,
        number: u64,
        start: SystemTime,
        command: &[u8],
        result: &Result<JobExit, RunError>,
        stopping: bool,
    ) -> Option<Halt> {
        let killed_by_us = stopping
            && matches!(
                result,
                Ok(JobExit {
                    status: ExitStatusKind::Signaled { .. },
                    ..
                })
            );
        if let Some(log) = &self.joblog
            && !killed_by_us
            && let Some(row) = Row::of(number, start, command, result)
        {
            log.write(&row);
        }
        let ended = Ended {
            number,
            ok: result.as_ref().is_ok_and(JobExit::success),
            status: halt_status(result),
        };
        let halt = self.halt.as_ref()?;
        halt.lock().unwrap_or_else(|p| p.into_inner()).record(ended)
    }

    /// The input ended with `total` jobs (percentages can now be decided).
    pub fn input_ended(&self, total: u64) -> Option<Halt> {
        let halt = self.halt.as_ref()?;
        let total = total.saturating_sub(self.skipped());
        halt.lock()
            .unwrap_or_else(|p| p.into_inner())
            .set_total(total)
    }

    /// The halt decision, if the run halted.
    pub fn halted(&self) -> Option<Halt> {
        self.halt
            .as_ref()?
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .fired()
    }

    /// The policy, if any.
    pub fn halt_spec(&self) -> Option<HaltSpec> {
        Some(
            self.halt
                .as_ref()?
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .spec(),
        )
    }
}

/// The job numbers `--resume`/`--resume-failed` skip.
///
/// # Errors
/// The joblog cannot be read or is not a joblog (naming `--joblog`).
pub fn skip_set(options: &ControlOptions) -> anyhow::Result<HashSet<u64>> {
    match (&options.joblog, options.resume) {
        (Some(target), Some(mode)) => joblog::read_done(&target.path, mode).map_err(|e| {
            anyhow::anyhow!(
                "--joblog {}: cannot resume from it: {e}",
                joblog::display(&target.path)
            )
        }),
        _ => Ok(HashSet::new()),
    }
}

/// The exit status a `fail=1` halt on this result exits with: the exit code, or
/// 128 + the signal; 255 for a job that timed out yet exited 0 (GNU's -1) or
/// could not start.
fn halt_status(result: &Result<JobExit, RunError>) -> u8 {
    match result {
        Ok(exit) => match exit.status {
            ExitStatusKind::Exited(0) if exit.timed_out => 255,
            ExitStatusKind::Exited(code) => (code & 0xff) as u8,
            ExitStatusKind::Signaled { signal } => (128 + signal).clamp(0, 255) as u8,
        },
        Err(_) => 255,
    }
}

/// The line printed when the halt policy is met.
pub fn halt_message(spec: HaltSpec, halt: Halt, running: usize) -> String {
    let cause = match (halt.job, spec.why) {
        (Some(n), Why::Fail) => format!("job {n} failed"),
        (Some(n), Why::Success) => format!("job {n} succeeded"),
        (Some(n), Why::Done) => format!("job {n} ended"),
        (None, _) => "the condition is met".to_owned(),
    };
    let action = match halt.when {
        When::Now => format!("killing {running} running job(s)"),
        When::Soon => format!("starting no more jobs, waiting for {running} running"),
    };
    format!("atp-run: --halt {spec}: {cause}; {action}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn exit(status: ExitStatusKind, timed_out: bool) -> Result<JobExit, RunError> {
        Ok(JobExit::fixture(status, Duration::ZERO, timed_out))
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
        assert_eq!(halt_status(&Err(RunError::Cancelled)), 255);
    }

    #[test]
    fn halt_messages_name_the_policy_and_the_job() {
        let spec: HaltSpec = "now,fail=1".parse().unwrap();
        let halt = Halt {
            when: When::Now,
            job: Some(3),
            exit_code: 4,
        };
        assert_eq!(
            halt_message(spec, halt, 2),
            "atp-run: --halt now,fail=1: job 3 failed; killing 2 running job(s)"
        );
    }
}
