//! The executor boundary: how a job is started, signalled and waited for, whatever
//! runs it. The runner (attempts, timeouts, signals, shutdown) talks to jobs only
//! through [`Executor`], by [`JobKey`]; the local process-group executor
//! (`local.rs`) is the first implementation, the mock in `control/attempts.rs`'s
//! tests a second.
//!
//! Owns: the [`Executor`] trait, the output a job is given ([`JobOutput`]), the hooks
//! a job's watcher gets ([`JobWatch`]) and the listing/termination types.
//!
//! How other executors fit, without changes to reporting:
//! - **SSH** (`ssh/`): a job is `ssh host <wrapper>` whose stdin is a control channel. `run`
//!   starts it (its stdout/stderr go to the same [`JobOutput`]), keeps the channel in
//!   its own table under the [`JobKey`], and returns the end the wrapper reports (not
//!   ssh's 255). [`Executor::signal`] writes the signal's name as a line to that
//!   channel; closing it ends the remote group.
//! - **Slurm**: `run` starts an `srun` step; [`Executor::signal`] sends SIGTERM to
//!   srun, which cancels the step and its tree.
//! - `--pipe` gives a job a block of bytes as stdin (a [`JobStdin`] variant);
//!   `--results` is a [`JobOutput::Capture`] on the job's own results files
//!   (`report/results.rs`), so every executor fills them unchanged;
//!   `--shell` and `--nice` are the executors' [`Launch`] setting (`launch.rs`); a host label per job is what
//!   an executor adds to [`JobEnd`] for the joblog's Host column and `{host}`, and
//!   the bytes it gave the job's stdin and passed on from its stdout are what it
//!   reports there for the joblog's Send and Receive.
//!
//! Invariants every executor keeps:
//! - [`Executor::execute`] blocks the calling worker until the job has ended and nothing
//!   of it can be signalled any more; once [`Executor::close`] has run, a job being
//!   started is refused or killed at once and reported as [`JobError::Cancelled`].
//! - A job is registered under its key from the moment it can be signalled until
//!   just before its end is returned; [`JobWatch::started`] is called after it is
//!   registered and [`JobWatch::ended`] before it is forgotten, so a watcher (the
//!   `--timeout` timer) never signals a job that is gone.
//! - [`Executor::signal`] never blocks on a job, and returns whether the job was
//!   running.
//!
//! [`JobStdin`]: crate::run::job::JobStdin
//! [`Launch`]: crate::run::exec::launch::Launch

use std::fmt;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;

use crate::run::exec::capture::Capture;
use crate::run::job::{JobEnd, JobError, JobKey, JobSpec, Stream};
use crate::run::values::termseq::TermSeq;

/// Where a running job's output goes: the sink it is given.
pub(crate) enum JobOutput<'a> {
    /// Into these capture files, printed as blocks by the reporter when the job ends.
    Capture(&'a mut Capture),
    /// Whole lines as they come, to this callback (`--line-buffer`).
    Lines(&'a mut dyn FnMut(Stream, &[u8])),
    /// Straight to our own stdout and stderr (`--ungroup`).
    Inherit,
}

impl fmt::Debug for JobOutput<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            JobOutput::Capture(_) => "Capture",
            JobOutput::Lines(_) => "Lines",
            JobOutput::Inherit => "Inherit",
        })
    }
}

/// Sends a signal to a running job, by key.
pub(crate) trait SignalJob: Send + Sync + fmt::Debug {
    /// Sends `signal` to the whole of job `key` (locally: its process group, then
    /// SIGCONT so a stopped job sees it). Returns whether the job was running.
    fn signal(&self, key: JobKey, signal: Signal) -> bool;
}

/// Told when a job starts and ends (the `--timeout` timer).
pub(crate) trait JobWatch: Send + Sync {
    /// Job `key` was started at `at` and can now be signalled; returns a token for
    /// [`JobWatch::ended`].
    fn started(&self, key: JobKey, at: Instant) -> u64;
    /// The job of `token` ended (it is not signalled any more after this); returns
    /// whether the watcher had started to stop it (the job timed out).
    fn ended(&self, token: u64) -> bool;
}

/// A job running now, for SIGUSR1's list and the `--halt` message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RunningJob {
    /// Which job.
    pub key: JobKey,
    /// When it started.
    pub started: Instant,
    /// Its command line.
    pub command: Box<[u8]>,
}

/// What a termination sequence did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct TerminationReport {
    /// Jobs (and left-behind groups) that were signalled.
    pub groups: usize,
    /// Of those, how many were still there for the last signal of the sequence.
    pub killed: usize,
    /// [`Executor::kill_now`] cut the sequence short.
    pub interrupted: bool,
}

/// Starts jobs, signals them, waits for their end; see the module header.
pub(crate) trait Executor: SignalJob {
    /// Starts `spec` with its output going to `output`, tells `watch` (if any), and
    /// blocks until the job has ended.
    ///
    /// # Errors
    /// [`JobError::Cancelled`] once closed; otherwise the job could not be started
    /// or followed. A job that fails or is killed is not an error (see [`JobEnd`]).
    fn execute(
        &self,
        spec: &JobSpec<'_>,
        output: JobOutput<'_>,
        watch: Option<&dyn JobWatch>,
    ) -> Result<JobEnd, JobError>;

    /// No job starts after this; one starting concurrently is cancelled.
    fn close(&self);

    /// Whether [`Executor::close`] has run.
    fn is_closed(&self) -> bool;

    /// The jobs running now, oldest first.
    fn running(&self) -> Vec<RunningJob>;

    /// How many jobs are running now.
    fn running_count(&self) -> usize;

    /// Per host of a `-S` run: its label, the jobs running on it and its slots
    /// now (none for a run on this machine only).
    fn host_usage(&self) -> Vec<(&'static str, usize, usize)> {
        Vec::new()
    }

    /// Sends `signal`, and only it, to every running job (and what jobs left
    /// behind): Ctrl-Z stops them all with SIGSTOP, SIGCONT continues them.
    /// Returns how many were signalled. Never blocks on a job.
    fn signal_running(&self, signal: Signal) -> usize;

    /// Closes, then runs `seq` on every running job and on whatever jobs left
    /// behind: each step's signal, then a wait for them to go (cut short by
    /// [`Executor::kill_now`]), the last step's signal to what is left.
    fn terminate_all(&self, seq: &TermSeq) -> TerminationReport;

    /// Closes and kills every job at once; cuts a running [`Executor::terminate_all`]
    /// short (a second Ctrl-C).
    fn kill_now(&self);

    /// The run ended normally: stops what jobs left running behind them (background
    /// processes), TERM then KILL after `grace`. Returns how many there were.
    fn stop_leftovers(&self, grace: Duration) -> usize;

    /// The run is over (no job runs, none will): releases what the executor holds
    /// for the run, such as its connections to remote hosts.
    fn disconnect(&self) {}
}
