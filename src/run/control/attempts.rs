//! Running a job: its attempts (`--retries`), each started on the executor with the
//! output the reporter asks for, reported, and its final result fed to `--halt`.
//!
//! Owns: [`Jobs`], what every job's task shares (template, executor, reporter,
//! timer, halt tracker, the stopping flag), and each worker's capture files.
//!
//! Invariants:
//! - A job runs only through the [`Executor`], by [`JobKey`] (number, run, attempt):
//!   nothing here knows how or where it runs.
//! - A job queued before the run started stopping (a `--halt soon`) does not start;
//!   the reporter passes over it so `--keep-order` does not wait for it.
//! - Each attempt is reported once; a failed one is retried while
//!   [`retries::is_last`] says so; only the final result reaches `--halt`.
//! - `--halt` fires at most once; firing stops new jobs and tells the coordinator.

use std::cell::RefCell;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use crossbeam_channel::Sender;

use crate::run::control::halt::{Halt, HaltTracker, JobResult, halt_status};
use crate::run::control::retries;
use crate::run::events::Event;
use crate::run::exec::capture::Capture;
use crate::run::exec::executor::{Executor, JobWatch};
use crate::run::exec::timeout::Timeouts;
use crate::run::input::template::Template;
use crate::run::job::{JobEnd, JobError, JobKey, JobLabel, JobSpec, JobStdin};
use crate::run::lock::lock;
use crate::run::report::reporter::{AttemptEnded, Reporter};
use crate::run::report::sink::OutputKind;
use crate::run::report::status::halt_message;
use crate::run::values::halt_spec::HaltSpec;

thread_local! {
    /// Each worker's reusable output capture files (created on its first job).
    static CAPTURE: RefCell<Option<Capture>> = const { RefCell::new(None) };
}

/// Everything a job's task needs, shared by all tasks of a run.
#[derive(Debug)]
pub(crate) struct Jobs {
    /// The command template, in template mode.
    pub template: Option<Template>,
    /// Where jobs run.
    pub executor: Arc<dyn Executor>,
    /// Where their results go.
    pub reporter: Arc<Reporter>,
    /// Where capture files are created.
    pub tmpdir: PathBuf,
    /// `--timeout`.
    pub timeouts: Option<Timeouts>,
    /// Attempts a job gets (`--retries`, at least 1).
    pub attempts: u32,
    /// `--halt`.
    pub halt: Option<Mutex<HaltTracker>>,
    /// Set once the run is being stopped: no job starts any more.
    pub stopping: AtomicBool,
    /// The coordinator's channel.
    pub events: Sender<Event>,
}

impl Jobs {
    /// Whether the run is being stopped.
    pub(crate) fn is_stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }

    /// Runs job `number` (or run `run` of a `--repeat` job) from `record` and
    /// reports it. Returns whether it succeeded, or `None` if it did not run.
    pub(crate) fn run_job(&self, number: u64, run: Option<u64>, record: &[u8]) -> Option<bool> {
        if run.is_none() && self.is_stopping() {
            self.reporter.job_skipped(number);
            return None;
        }
        let rendered;
        let slot = crate::current_worker_slot().unwrap_or(1);
        let command: &[u8] = match &self.template {
            Some(t) => {
                rendered = t.render(record, number, slot);
                &rendered
            }
            None => record,
        };
        let attempts = if run.is_some() { 1 } else { self.attempts };
        let mut attempt = 1;
        loop {
            let job = JobLabel {
                number,
                run,
                attempt,
                slot,
                command,
                record,
                started: SystemTime::now(),
            };
            let (reported, result, last) = self.attempt(&job, attempts);
            match reported {
                Some(false) if !last => attempt += 1,
                Some(ok) => {
                    self.job_ended(number, ok, &result);
                    return reported;
                }
                None => return None,
            }
        }
    }

    /// Runs one attempt of `job` on the executor, with its output captured in this
    /// worker's capture files if the reporter prints captured output, and reports it.
    /// Returns what the reporter said, the result, and whether it was the last attempt.
    fn attempt(
        &self,
        job: &JobLabel<'_>,
        attempts: u32,
    ) -> (Option<bool>, Result<JobEnd, JobError>, bool) {
        let spec = JobSpec {
            key: JobKey {
                number: job.number,
                run: job.run.unwrap_or(0),
                attempt: job.attempt,
            },
            command: job.command,
            stdin: JobStdin::Null,
        };
        let watch = self.timeouts.as_ref().map(|t| t as &dyn JobWatch);
        CAPTURE.with(|cell| {
            let mut cell = cell.borrow_mut();
            let captured = self.reporter.output_kind() == OutputKind::Captured;
            if captured && cell.is_none() {
                match Capture::new(&self.tmpdir) {
                    Ok(capture) => *cell = Some(capture),
                    Err(err) => {
                        let result = Err(JobError::Capture(err));
                        return (self.report(job, &result, true, None), result, true);
                    }
                }
            }
            let mut capture = if captured { cell.as_mut() } else { None };
            let result = self
                .reporter
                .with_job_output(job, capture.as_deref_mut(), |output| {
                    self.executor.run(&spec, output, watch)
                });
            let ok = result.as_ref().is_ok_and(JobEnd::success);
            let last = retries::is_last(ok, job.attempt, attempts, self.is_stopping());
            (self.report(job, &result, last, capture), result, last)
        })
    }

    fn report(
        &self,
        job: &JobLabel<'_>,
        result: &Result<JobEnd, JobError>,
        last: bool,
        capture: Option<&mut Capture>,
    ) -> Option<bool> {
        let ended = AttemptEnded {
            job,
            result,
            last,
            stopping: self.executor.is_closed(),
        };
        self.reporter.attempt_ended(&ended, capture)
    }

    /// A job's final result: feeds the halt policy.
    fn job_ended(&self, number: u64, ok: bool, result: &Result<JobEnd, JobError>) {
        let Some(tracker) = &self.halt else {
            return;
        };
        let counts = self.reporter.tally().counts();
        let ended = JobResult {
            number,
            ok,
            status: halt_status(result),
        };
        let fired = lock(tracker).record(counts, ended);
        if let Some(halt) = fired {
            self.halt(halt);
        }
    }

    /// The input ended with `total` jobs to run (skipped ones left out): a
    /// percentage policy can now be decided.
    pub(crate) fn input_ended(&self, total: u64) {
        let Some(tracker) = &self.halt else {
            return;
        };
        let fired = lock(tracker).set_total(self.reporter.tally().counts(), total);
        if let Some(halt) = fired {
            self.halt(halt);
        }
    }

    /// The halt decision, if the run halted.
    pub(crate) fn halted(&self) -> Option<Halt> {
        lock(self.halt.as_ref()?).fired()
    }

    fn halt_spec(&self) -> Option<HaltSpec> {
        Some(lock(self.halt.as_ref()?).spec())
    }

    /// The `--halt` policy was met: start no more jobs, say so, tell the
    /// coordinator (which kills the running jobs for `now`).
    fn halt(&self, halt: Halt) {
        self.stopping.store(true, Ordering::SeqCst);
        if let Some(spec) = self.halt_spec() {
            let running = self.executor.running_count();
            self.reporter.message(&halt_message(spec, halt, running));
        }
        let _ = self.events.send(Event::Halt);
    }
}
