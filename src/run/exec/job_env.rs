//! The variables GNU parallel puts in every job's environment, besides the host's
//! (`PARALLEL_SSHHOST`, `PARALLEL_SSHLOGIN`, which each executor sets for the
//! place it runs the job): `PARALLEL_SEQ`, the job's number (`{#}`);
//! `PARALLEL_JOBSLOT`, its worker slot (`{%}`); `PARALLEL_PID`, atp-run's pid
//! (on a remote host too, as GNU parallel exports it there).
//!
//! Owns: [`JobEnv`], those values for one job, as pairs for a local `Command` and
//! as a line of shell assignments for jobs whose environment is not ours (the
//! remote job line over ssh, the command of a Slurm step).
//!
//! Invariants:
//! - The values are the [`JobSpec`]'s number and slot, the very values `{#}` and
//!   `{%}` were rendered from, so a job's command and its environment agree. A
//!   retry keeps them (same number; its attempts run on the same worker, so in the
//!   same slot); a `--repeat` run keeps its number and has the slot of the worker
//!   running it, as its `{%}` does.
//! - Every value is a decimal integer, so the assignments need no quoting; they
//!   end in a newline, so the job line after them is parsed as it would be alone.

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

    /// Appends `NAME=value …; export NAME …` and a newline to `line`: what a
    /// POSIX shell runs before the job's own line to give it the variables.
    pub(crate) fn push_exports(&self, line: &mut Vec<u8>) {
        for (i, (name, value)) in self.vars().iter().enumerate() {
            if i > 0 {
                line.push(b' ');
            }
            line.extend_from_slice(name.as_bytes());
            line.push(b'=');
            line.extend_from_slice(value.as_bytes());
        }
        line.extend_from_slice(b"; export");
        for name in NAMES {
            line.push(b' ');
            line.extend_from_slice(name.as_bytes());
        }
        line.push(b'\n');
    }

    /// `command` after the exports of [`JobEnv::push_exports`].
    pub(crate) fn line(&self, command: &[u8]) -> Vec<u8> {
        let mut line = Vec::with_capacity(command.len() + 96);
        self.push_exports(&mut line);
        line.extend_from_slice(command);
        line
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run::job::{JobKey, JobStdin};
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt;
    use std::process::Command;

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

    #[test]
    fn the_line_gives_a_shell_job_the_variables_and_its_own_exit() -> std::io::Result<()> {
        let env = JobEnv {
            seq: u64::MAX,
            slot: 2,
            pid: 77,
        };
        // Exported: a child of the job's shell sees them; and the job line after
        // them runs as written (its first line is not glued to the exports).
        let line =
            env.line(b"sh -c 'echo \"$PARALLEL_SEQ $PARALLEL_JOBSLOT $PARALLEL_PID\"'\nexit 4");
        let out = Command::new("sh")
            .arg("-c")
            .arg(OsStr::from_bytes(&line))
            .env_remove("PARALLEL_SEQ")
            .output()?;
        assert_eq!(out.stdout, b"18446744073709551615 2 77\n");
        assert_eq!(out.status.code(), Some(4));
        Ok(())
    }
}
