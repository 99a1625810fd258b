//! Where jobs run: the executor boundary (`executor.rs`), the local
//! process-group executor (`local.rs`), the SSH executor (`ssh/`, with the host
//! slots of `hosts.rs`) and the Slurm steps (`slurm/`), with what they use:
//! capture files, the registry of running groups, the slot for an executor
//! chosen after the signal handlers (`late.rs`), a `--pipe` block fed to a
//! job's stdin (`stdin_feed.rs`), the line pump, waiting without
//! reaping, the process limit (`spawn_limit.rs`: EAGAIN on spawn waits, it does not
//! fail); the `--timeout` timer, which signals jobs through any executor; and the
//! orphans jobs leave outside their groups, adopted as a child subreaper.

pub(crate) mod adopted;
pub(crate) mod capture;
pub(crate) mod executor;
pub(crate) mod fdlimit;
pub(crate) mod host_controller;
pub(crate) mod hosts;
pub(crate) mod job_env;
pub(crate) mod late;
pub(crate) mod launch;
pub(crate) mod local;
pub(crate) mod long_command;
#[cfg(test)]
pub(crate) mod mock;
pub(crate) mod pump;
pub(crate) mod registry;
pub(crate) mod slurm;
pub(crate) mod spawn_limit;
pub(crate) mod ssh;
pub(crate) mod stdin_feed;
pub(crate) mod timeout;
pub(crate) mod wait;
