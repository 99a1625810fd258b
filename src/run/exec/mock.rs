//! A mock executor for unit tests: jobs that "run" without a process, scripted by
//! their command, so retries, `--halt`, ordering, the sinks and the joblog can be
//! tested through the same [`Executor`] boundary the local executor implements.
//!
//! Commands (words):
//! - `exit N`: ends with exit code N;
//! - `fail K`: fails (exit 1) on attempts below K, then succeeds;
//! - `kill S`: killed by signal S;
//! - `stopped`: the run is being stopped while it runs (the executor closes), and
//!   it is killed by SIGTERM; `stopped N`: the same, but it handles the SIGTERM
//!   and exits with code N;
//! - `print TEXT`: writes TEXT to its stdout, exits 0;
//! - `hold`: waits until [`MockExecutor::release`] lets it end (exit 0).

use std::collections::HashSet;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant, SystemTime};

use nix::sys::signal::Signal;

use crate::run::exec::executor::{
    Executor, JobOutput, JobWatch, RunningJob, SignalJob, TerminationReport,
};
use crate::run::job::{ExitStatusKind, JobEnd, JobError, JobKey, JobSpec, Stream};
use crate::run::lock::{lock, wait};
use crate::run::values::termseq::TermSeq;

/// Scripted jobs; records what it was asked.
#[derive(Debug, Default)]
pub(crate) struct MockExecutor {
    /// Every job started, in order.
    pub started: Mutex<Vec<JobKey>>,
    /// Every signal sent, in order.
    pub signals: Mutex<Vec<(JobKey, Signal)>>,
    running: Mutex<Vec<RunningJob>>,
    closed: AtomicBool,
    /// Job numbers whose `hold` may end.
    released: Mutex<HashSet<u64>>,
    wake: Condvar,
}

impl MockExecutor {
    /// Lets job `number`'s `hold` end.
    pub(crate) fn release(&self, number: u64) {
        lock(&self.released).insert(number);
        self.wake.notify_all();
    }

    /// How the job of `spec` ends, and what it prints.
    fn script(&self, spec: &JobSpec<'_>) -> (ExitStatusKind, Vec<u8>) {
        let text = String::from_utf8_lossy(spec.command).into_owned();
        let (word, arg) = text.split_once(' ').unwrap_or((&text, ""));
        let number = |s: &str| s.parse::<i32>().unwrap_or(1);
        match word {
            "exit" => (ExitStatusKind::Exited(number(arg)), Vec::new()),
            "fail" if i64::from(spec.key.attempt) < i64::from(number(arg)) => {
                (ExitStatusKind::Exited(1), Vec::new())
            }
            "fail" => (ExitStatusKind::Exited(0), Vec::new()),
            "kill" => (
                ExitStatusKind::Signaled {
                    signal: number(arg),
                },
                Vec::new(),
            ),
            "stopped" if arg.is_empty() => {
                self.close();
                (ExitStatusKind::Signaled { signal: 15 }, Vec::new())
            }
            "stopped" => {
                self.close();
                (ExitStatusKind::Exited(number(arg)), Vec::new())
            }
            "print" => (ExitStatusKind::Exited(0), arg.as_bytes().to_vec()),
            "hold" => {
                let mut released = lock(&self.released);
                while !released.contains(&spec.key.number) {
                    released = wait(&self.wake, released);
                }
                (ExitStatusKind::Exited(0), Vec::new())
            }
            _ => (ExitStatusKind::Exited(127), Vec::new()),
        }
    }
}

impl SignalJob for MockExecutor {
    fn signal(&self, key: JobKey, signal: Signal) -> bool {
        lock(&self.signals).push((key, signal));
        lock(&self.running).iter().any(|job| job.key == key)
    }
}

impl Executor for MockExecutor {
    fn execute(
        &self,
        spec: &JobSpec<'_>,
        output: JobOutput<'_>,
        watch: Option<&dyn JobWatch>,
    ) -> Result<JobEnd, JobError> {
        if self.is_closed() {
            return Err(JobError::Cancelled);
        }
        lock(&self.started).push(spec.key);
        lock(&self.running).push(RunningJob {
            key: spec.key,
            started: Instant::now(),
            command: spec.command.into(),
        });
        let token = watch.map(|w| w.started(spec.key, Instant::now()));
        let (status, stdout) = self.script(spec);
        let (stdout_len, stderr_len) = match output {
            JobOutput::Capture(capture) => {
                let (mut out, _err) = capture.files_for_job().map_err(JobError::Capture)?;
                out.write_all(&stdout).map_err(JobError::Capture)?;
                capture.job_finished(false).map_err(JobError::Capture)?
            }
            JobOutput::Lines(emit) => {
                if !stdout.is_empty() {
                    emit(Stream::Stdout, &stdout);
                }
                (stdout.len() as u64, 0)
            }
            JobOutput::Inherit => (0, 0),
        };
        let timed_out = match (watch, token) {
            (Some(w), Some(token)) => w.ended(token),
            _ => false,
        };
        lock(&self.running).retain(|job| job.key != spec.key);
        Ok(JobEnd {
            status,
            started: SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000),
            duration: Duration::from_millis(5),
            stdout_len,
            stderr_len,
            timed_out,
            host: None,
            stdin_len: spec.stdin.len(),
        })
    }

    fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
    }

    fn is_closed(&self) -> bool {
        self.closed.load(Ordering::SeqCst)
    }

    fn running(&self) -> Vec<RunningJob> {
        lock(&self.running).clone()
    }

    fn running_count(&self) -> usize {
        lock(&self.running).len()
    }

    fn signal_running(&self, signal: Signal) -> usize {
        let running = self.running();
        lock(&self.signals).extend(running.iter().map(|job| (job.key, signal)));
        running.len()
    }

    fn terminate_all(&self, seq: &TermSeq) -> TerminationReport {
        self.close();
        let running = self.running();
        for job in &running {
            for step in seq.steps() {
                self.signal(job.key, step.signal);
            }
        }
        TerminationReport {
            groups: running.len(),
            ..TerminationReport::default()
        }
    }

    fn kill_now(&self) {
        self.close();
    }

    fn stop_leftovers(&self, _grace: Duration) -> usize {
        0
    }
}
