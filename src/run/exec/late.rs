//! An executor chosen after the signal handlers are installed: the handlers take
//! this one at the start of a run, and the run's real executor (local, `-S` hosts,
//! `--slurm`) is set into it once it exists. So a signal that arrives while the
//! `-S` hosts' masters are being started is never left to its default action, and
//! a `--dry-run` needs no executor at all (it touches no host).
//!
//! Owns: the one-time slot for the run's executor, and delegating to it.
//!
//! Invariants: until [`LateExecutor::set`] there is no job: every query answers
//! "none", `execute` is cancelled, signals reach nobody, and `disconnect` abandons
//! the hosts' start-up if one is under way (`ssh/starting.rs`); after it, every
//! call is the real executor's. The slot is set at most once.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use nix::sys::signal::Signal;

use crate::run::exec::executor::{
    Executor, JobOutput, JobWatch, RunningJob, SignalJob, TerminationReport,
};
use crate::run::job::{JobEnd, JobError, JobKey, JobSpec};
use crate::run::values::termseq::TermSeq;

/// The run's executor once it exists; see the module header.
#[derive(Debug, Default)]
pub(crate) struct LateExecutor {
    slot: OnceLock<Arc<dyn Executor>>,
}

impl LateExecutor {
    /// No executor yet.
    pub(crate) fn new() -> LateExecutor {
        LateExecutor::default()
    }

    /// Sets the run's executor (a second one is ignored: there is one per run).
    pub(crate) fn set(&self, executor: Arc<dyn Executor>) {
        if self.slot.set(executor).is_err() {
            log::debug!("the run's executor was already set");
        }
    }

    fn get(&self) -> Option<&Arc<dyn Executor>> {
        self.slot.get()
    }
}

impl SignalJob for LateExecutor {
    fn signal(&self, key: JobKey, signal: Signal) -> bool {
        self.get().is_some_and(|e| e.signal(key, signal))
    }
}

impl Executor for LateExecutor {
    fn execute(
        &self,
        spec: &JobSpec<'_>,
        output: JobOutput<'_>,
        watch: Option<&dyn JobWatch>,
    ) -> Result<JobEnd, JobError> {
        match self.get() {
            Some(e) => e.execute(spec, output, watch),
            None => Err(JobError::Cancelled),
        }
    }

    fn close(&self) {
        if let Some(e) = self.get() {
            e.close();
        }
    }

    fn is_closed(&self) -> bool {
        self.get().is_some_and(|e| e.is_closed())
    }

    fn running(&self) -> Vec<RunningJob> {
        self.get().map(|e| e.running()).unwrap_or_default()
    }

    fn running_count(&self) -> usize {
        self.get().map_or(0, |e| e.running_count())
    }

    fn signal_running(&self, signal: Signal) -> usize {
        self.get().map_or(0, |e| e.signal_running(signal))
    }

    fn terminate_all(&self, seq: &TermSeq) -> TerminationReport {
        self.get().map(|e| e.terminate_all(seq)).unwrap_or_default()
    }

    fn kill_now(&self) {
        if let Some(e) = self.get() {
            e.kill_now();
        }
    }

    fn stop_leftovers(&self, grace: Duration) -> usize {
        self.get().map_or(0, |e| e.stop_leftovers(grace))
    }

    fn disconnect(&self) {
        match self.get() {
            Some(e) => e.disconnect(),
            // Interrupted while the -S hosts were being connected to.
            None => crate::run::exec::ssh::starting::abandon(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run::exec::mock::MockExecutor;

    #[test]
    fn nothing_runs_until_the_executor_is_set_then_it_is_used() {
        let late = LateExecutor::new();
        assert_eq!(late.running_count(), 0);
        let key = JobKey {
            number: 1,
            run: 0,
            attempt: 1,
        };
        assert!(!late.signal(key, Signal::SIGTERM));
        assert!(!late.is_closed());
        late.set(Arc::new(MockExecutor::default()));
        late.close();
        assert!(late.is_closed(), "close() reached the executor set");
    }
}
