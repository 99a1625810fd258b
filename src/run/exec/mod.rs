//! Where jobs run: the executor boundary (`executor.rs`) and the local
//! process-group executor (`local.rs`), with what it uses: capture files, the
//! registry of running groups, the line pump, waiting without reaping; and the
//! `--timeout` timer, which signals jobs through any executor.

pub(crate) mod capture;
pub(crate) mod executor;
pub(crate) mod fdlimit;
pub(crate) mod local;
pub(crate) mod long_command;
#[cfg(test)]
pub(crate) mod mock;
pub(crate) mod pump;
pub(crate) mod registry;
pub(crate) mod timeout;
pub(crate) mod wait;
