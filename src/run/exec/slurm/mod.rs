//! `--slurm`: jobs as `srun` steps inside the current Slurm allocation, run by the
//! remote executor (`ssh/`) with `srun --exact -N1 -n1 -c1 --quiet` in place of
//! ssh, under the same wrapper (srun forwards its stdin, the control channel, to
//! the step's task).
//!
//! Owns: reading the allocation from the environment: that there is one
//! (`SLURM_JOB_ID`), how many steps fit at once, and the Host column's label.
//!
//! Invariants: concurrency is the allocation's CPUs (`SLURM_JOB_CPUS_PER_NODE`,
//! e.g. `2(x3),4` = 10; otherwise `SLURM_NTASKS` × `SLURM_CPUS_PER_TASK`), one per
//! job, at least 1; no allocation is a one-line usage error. A step that ends
//! without the wrapper's record (srun could not start it) is a job that could not
//! run, not a lost one: it is not run again behind the user's back.

use std::ffi::OsString;

/// The allocation, as its environment describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Allocation {
    /// Steps at once (CPUs, one per job).
    pub slots: usize,
    /// The joblog's Host column: the allocation's node list.
    pub label: String,
}

/// Reads the allocation from `var` (the environment, in `atp-run`).
pub(crate) fn allocation(var: impl Fn(&str) -> Option<OsString>) -> Result<Allocation, String> {
    let get = |name: &str| var(name).and_then(|v| v.into_string().ok());
    if get("SLURM_JOB_ID").is_none_or(|id| id.is_empty()) {
        return Err(
            "--slurm runs jobs inside a Slurm allocation, and there is none (no SLURM_JOB_ID): \
             run atp-run under salloc or sbatch"
                .into(),
        );
    }
    let from_nodes = get("SLURM_JOB_CPUS_PER_NODE").and_then(|s| cpus_per_node(&s));
    let from_tasks = || {
        let tasks: usize = get("SLURM_NTASKS")?.parse().ok()?;
        let per_task: usize = get("SLURM_CPUS_PER_TASK").map_or(Some(1), |s| s.parse().ok())?;
        tasks.checked_mul(per_task)
    };
    let slots = from_nodes.or_else(from_tasks).unwrap_or(1).max(1);
    let label = get("SLURM_JOB_NODELIST").unwrap_or_else(|| "slurm".into());
    Ok(Allocation { slots, label })
}

/// Total CPUs of `SLURM_JOB_CPUS_PER_NODE` (`2(x3),4` = 10); `None` if malformed.
fn cpus_per_node(s: &str) -> Option<usize> {
    s.split(',').try_fold(0usize, |sum, part| {
        let (cpus, times) = match part.split_once("(x") {
            Some((cpus, rest)) => (cpus, rest.strip_suffix(')')?.parse::<usize>().ok()?),
            None => (part, 1),
        };
        sum.checked_add(cpus.trim().parse::<usize>().ok()?.checked_mul(times)?)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<OsString> {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| ((*k).into(), (*v).into()))
            .collect();
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| OsString::from(v))
        }
    }

    #[test]
    fn cpus_come_from_the_nodes_then_the_tasks() {
        let got = allocation(env(&[
            ("SLURM_JOB_ID", "14"),
            ("SLURM_JOB_CPUS_PER_NODE", "2(x3),4"),
            ("SLURM_NTASKS", "2"),
            ("SLURM_JOB_NODELIST", "n[1-4]"),
        ]));
        assert_eq!(
            got,
            Ok(Allocation {
                slots: 10,
                label: "n[1-4]".into()
            })
        );
        let got = allocation(env(&[
            ("SLURM_JOB_ID", "15"),
            ("SLURM_NTASKS", "3"),
            ("SLURM_CPUS_PER_TASK", "2"),
        ]));
        assert_eq!(got.map(|a| a.slots), Ok(6));
        let got = allocation(env(&[
            ("SLURM_JOB_ID", "16"),
            ("SLURM_JOB_CPUS_PER_NODE", "x"),
        ]));
        assert_eq!(got.map(|a| (a.slots, a.label)), Ok((1, "slurm".into())));
    }

    #[test]
    fn no_allocation_is_said_in_one_line() {
        let err = allocation(env(&[])).err().unwrap_or_default();
        assert!(
            err.contains("SLURM_JOB_ID") && err.contains("salloc"),
            "{err}"
        );
        assert!(!err.contains('\n'));
    }
}
