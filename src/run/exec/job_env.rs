//! The variables GNU parallel puts in every job's environment, besides the host's
//! (`PARALLEL_SSHHOST`, `PARALLEL_SSHLOGIN`, which each executor sets for the
//! place it runs the job): `PARALLEL_SEQ`, the job's number (`{#}`);
//! `PARALLEL_JOBSLOT`, its worker slot (`{%}`); `PARALLEL_PID`, atp-run's pid
//! (on a remote host too, as GNU parallel exports it there).
//!
//! Owns: [`JobEnv`], those values for one job, as pairs for a local `Command`.
//!
//! Invariants:
//! - The values are the [`JobSpec`]'s number and slot, the very values `{#}` and
//!   `{%}` were rendered from, so a job's command and its environment agree. A
//!   retry keeps them (same number; its attempts run on the same worker, so in the
//!   same slot); a `--repeat` run keeps its number and has the slot of the worker
//!   running it, as its `{%}` does.

use crate::run::job::JobSpec;

/// The variables' names, in the order they are set.
pub(crate) const NAMES: [&str; 3] = ["PARALLEL_SEQ", "PARALLEL_JOBSLOT", "PARALLEL_PID"];

/// GNU parallel's per-job variables of one job; see the module header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct JobEnv {
    /// `PARALLEL_SEQ`: the job's number (`{#}`).
    pub seq: u64,
    /// `PARALLEL_JOBSLOT`: its worker slot (`{%}`).
    pub slot: usize,
    /// `PARALLEL_PID`: the pid of atp-run.
    pub pid: u32,
}

impl JobEnv {
    /// The variables of job `spec`, run by this process.
    pub(crate) fn of(spec: &JobSpec<'_>) -> JobEnv {
        JobEnv {
            seq: spec.key.number,
            slot: spec.slot,
            pid: std::process::id(),
        }
    }

    /// (name, value) pairs, for `Command::envs`.
    pub(crate) fn vars(&self) -> [(&'static str, String); 3] {
        let [seq, slot, pid] = NAMES;
        [
            (seq, self.seq.to_string()),
            (slot, self.slot.to_string()),
            (pid, self.pid.to_string()),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run::job::{JobKey, JobStdin};

    fn spec(number: u64, slot: usize) -> JobSpec<'static> {
        JobSpec {
            key: JobKey {
                number,
                run: 0,
                attempt: 2,
            },
            slot,
            command: b"true",
            stdin: JobStdin::Null,
            files: None,
        }
    }

    #[test]
    fn the_values_are_the_jobs_number_and_slot_and_our_pid() {
        let env = JobEnv::of(&spec(12, 3));
        assert_eq!(
            env,
            JobEnv {
                seq: 12,
                slot: 3,
                pid: std::process::id()
            }
        );
        let pid = std::process::id().to_string();
        assert_eq!(
            env.vars(),
            [
                ("PARALLEL_SEQ", "12".to_owned()),
                ("PARALLEL_JOBSLOT", "3".to_owned()),
                ("PARALLEL_PID", pid),
            ]
        );
    }
}
