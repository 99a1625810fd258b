//! `--slurm`: jobs as `srun` steps inside the current Slurm allocation, run by the
//! remote executor (`ssh/`) with `srun --exact -N1 -n1 -c N --quiet` in place of
//! ssh, under the same wrapper (srun forwards its stdin, the control channel, to
//! the step's task).
//!
//! Owns: reading the allocation from the environment: that there is one
//! (`SLURM_JOB_ID`), how many steps of `--cpus-per-job` CPUs fit at once; the
//! step's command line; for `--slurm=ssh`, the nodes and their slots (jobs then
//! run over the SSH executor, no step); the pace of launches (`launch.rs`) and the warning about
//! jobs too short for a step each (`short_jobs.rs`).
//!
//! Invariants:
//! - Concurrency is counted per node, as a step never spans nodes: a node with C
//!   CPUs runs C / N steps of N CPUs (`SLURM_JOB_CPUS_PER_NODE`, e.g. `2(x3),4`;
//!   otherwise `SLURM_NTASKS` × `SLURM_CPUS_PER_TASK`, as one node); at least 1.
//!   N larger than every node's CPUs is a one-line usage error, as is no allocation.
//! - The step reports the node it ran on (`SLURMD_NODENAME`) in the wrapper's
//!   record (`@atp:NONCE:NODE …`), so the Host column names the node of each job;
//!   the job's `{host}` and `{sshlogin}` are that node too (the node name is what
//!   `--slurm=ssh` logs in to, so both modes give a job the same values). Its
//!   `PARALLEL_SEQ`, `PARALLEL_JOBSLOT` and `PARALLEL_PID` are exported by its job
//!   line (`job_env.rs`), not taken from srun's copy of our environment, which
//!   `--export` settings (`SLURM_EXPORT_ENV=NONE`) may withhold.
//! - A step that ends without the wrapper's record (srun could not start it) is a
//!   job that could not run, not a lost one: it is not run again behind the user's
//!   back.

pub(crate) mod launch;
pub(crate) mod short_jobs;

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::process::Command;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

use crate::run::lock::lock;

use launch::TokenBucket;
use short_jobs::ShortJobs;

/// What a step runs: the wrapper (`$0`) with the record's nonce extended by the
/// node and the time the step began, and with `PARALLEL_SSHHOST` and
/// `PARALLEL_SSHLOGIN` (what `{host}` and `{sshlogin}` render to) set to the node.
const STEP_SHELL: &str = r#"n=$2; shift 2; PARALLEL_SSHHOST=${SLURMD_NODENAME:-}; PARALLEL_SSHLOGIN=$PARALLEL_SSHHOST; export PARALLEL_SSHHOST PARALLEL_SSHLOGIN; exec sh -c "$0" atp "$n:${SLURMD_NODENAME:-}:$(date +%s.%N 2>/dev/null)" "$@""#;

/// How often a worker waiting for its launch checks that the run goes on.
const CLOSED_CHECK: Duration = Duration::from_millis(50);

/// Steps launched per second at most, by default (`--slurm-rate`).
pub(crate) const DEFAULT_RATE: usize = 20;

/// The allocation, as its environment describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Allocation {
    /// Steps at once (per node, its CPUs / CPUs per job).
    pub slots: usize,
    /// The Host column when a step names no node: the allocation's node list.
    pub label: String,
}

/// Reads the allocation from `var` (the environment, in `atp-run`), for steps of
/// `cpus_per_job` CPUs each.
pub(crate) fn allocation(
    var: &impl Fn(&str) -> Option<OsString>,
    cpus_per_job: usize,
) -> Result<Allocation, String> {
    let get = |name: &str| var(name).and_then(|v| v.into_string().ok());
    if get("SLURM_JOB_ID").is_none_or(|id| id.is_empty()) {
        return Err(
            "--slurm runs jobs inside a Slurm allocation, and there is none (no SLURM_JOB_ID): \
             run atp-run under salloc or sbatch"
                .into(),
        );
    }
    let from_tasks = || {
        let tasks: usize = get("SLURM_NTASKS")?.parse().ok()?;
        let per_task: usize = get("SLURM_CPUS_PER_TASK").map_or(Some(1), |s| s.parse().ok())?;
        Some(vec![(tasks.checked_mul(per_task)?, 1)])
    };
    let nodes = get("SLURM_JOB_CPUS_PER_NODE")
        .and_then(|s| cpus_per_node(&s))
        .or_else(from_tasks);
    let per_job = cpus_per_job.max(1);
    let slots = match nodes {
        Some(nodes) => {
            let fit: usize = nodes
                .iter()
                .map(|&(cpus, count)| (cpus / per_job).saturating_mul(count))
                .fold(0, usize::saturating_add);
            let most = nodes.iter().map(|&(cpus, _)| cpus).max().unwrap_or(0);
            if fit == 0 && per_job > 1 {
                return Err(format!(
                    "--cpus-per-job {per_job} is more than any node of the allocation has \
                     (at most {most}): ask salloc/sbatch for {per_job} CPUs per task \
                     (-c {per_job}), or lower --cpus-per-job"
                ));
            }
            fit
        }
        None => 1,
    };
    let label = get("SLURM_JOB_NODELIST").unwrap_or_else(|| "slurm".into());
    Ok(Allocation {
        slots: slots.max(1),
        label,
    })
}

/// `--slurm=ssh`: the allocation's nodes (`SLURM_JOB_NODELIST` expanded by
/// `hostnames`, i.e. `scontrol show hostnames`), each with the jobs of
/// `cpus_per_job` CPUs it fits (`None` when `SLURM_JOB_CPUS_PER_NODE` does not
/// say: the node's cores are probed over ssh). Nodes that fit none are left out;
/// none left is an error.
pub(crate) fn ssh_nodes(
    var: impl Fn(&str) -> Option<OsString>,
    cpus_per_job: usize,
    hostnames: impl Fn(&str) -> Result<Vec<String>, String>,
) -> Result<Vec<(String, Option<usize>)>, String> {
    allocation(&var, cpus_per_job)?;
    let get = |name: &str| var(name).and_then(|v| v.into_string().ok());
    let Some(list) = get("SLURM_JOB_NODELIST").filter(|l| !l.is_empty()) else {
        return Err(
            "--slurm=ssh needs the allocation's nodes, and SLURM_JOB_NODELIST is not \
                    set: run atp-run under salloc or sbatch"
                .into(),
        );
    };
    let names = hostnames(&list)?;
    let cpus: Option<Vec<usize>> = get("SLURM_JOB_CPUS_PER_NODE")
        .and_then(|s| cpus_per_node(&s))
        .map(|pairs| {
            pairs
                .into_iter()
                .flat_map(|(cpus, count)| std::iter::repeat_n(cpus, count))
                .collect()
        })
        .filter(|cpus: &Vec<usize>| cpus.len() == names.len());
    let per_job = cpus_per_job.max(1);
    let nodes: Vec<(String, Option<usize>)> = match cpus {
        Some(cpus) => names
            .into_iter()
            .zip(cpus)
            .filter(|(_, cpus)| cpus / per_job > 0)
            .map(|(name, cpus)| (name, Some(cpus / per_job)))
            .collect(),
        None => names.into_iter().map(|name| (name, None)).collect(),
    };
    if nodes.is_empty() {
        return Err(format!("--slurm=ssh: no node in {list}"));
    }
    Ok(nodes)
}

/// `scontrol show hostnames LIST`: the node names of a Slurm host list.
pub(crate) fn scontrol_hostnames(list: &str) -> Result<Vec<String>, String> {
    let out = Command::new("scontrol")
        .args(["show", "hostnames", list])
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| format!("--slurm=ssh: cannot run scontrol: {e}"))?;
    if !out.status.success() {
        let why = String::from_utf8_lossy(&out.stderr);
        return Err(format!(
            "--slurm=ssh: scontrol show hostnames {list} failed: {}",
            why.trim()
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .map(str::to_owned)
        .collect())
}

/// `SLURM_JOB_CPUS_PER_NODE` as (CPUs, nodes) pairs (`2(x3),4` = [(2, 3), (4, 1)]);
/// `None` if malformed.
fn cpus_per_node(s: &str) -> Option<Vec<(usize, usize)>> {
    s.split(',')
        .map(|part| {
            let (cpus, times) = match part.split_once("(x") {
                Some((cpus, rest)) => (cpus, rest.strip_suffix(')')?.parse::<usize>().ok()?),
                None => (part, 1),
            };
            Some((cpus.trim().parse::<usize>().ok()?, times))
        })
        .collect()
}

/// The step of one job: `srun --exact -N1 -n1 -c CPUS --quiet` running `wrapper`
/// on `command`, with the node's name and the step's start appended to the
/// record's nonce (`NONCE:NODE:START`, see `ssh/trailer.rs`; START from
/// `date +%s.%N`, ~2 ms, which tells launch time from job time), and `step`
/// telling the wrapper it runs under srun.
pub(crate) fn step_command(cpus: usize, wrapper: &str, nonce: &str, command: &[u8]) -> Command {
    let mut cmd = Command::new("srun");
    cmd.args(["--exact", "-N1", "-n1"])
        .arg(format!("-c{}", cpus.max(1)))
        .args(["--quiet", "sh", "-c"])
        .arg(STEP_SHELL)
        .arg(wrapper)
        .arg("atp")
        .arg(nonce)
        .arg(OsStr::from_bytes(command))
        .arg("step");
    cmd
}

/// The pace of a run's step launches and what they cost: see `launch.rs` and
/// `short_jobs.rs`.
#[derive(Debug)]
pub(crate) struct Launches {
    bucket: Mutex<TokenBucket>,
    short: Mutex<ShortJobs>,
}

impl Launches {
    /// At most `rate` launches per second, in bursts of as many.
    pub(crate) fn new(rate: usize) -> Launches {
        Launches {
            bucket: Mutex::new(TokenBucket::new(rate, Instant::now())),
            short: Mutex::new(ShortJobs::new()),
        }
    }

    /// Waits until the next step may be launched; `false` (at once) if `closed`
    /// says the run is stopping meanwhile: with a large allocation a worker may
    /// have its turn many seconds ahead, and a Ctrl-C must not wait for it.
    pub(crate) fn wait_turn(&self, closed: &dyn Fn() -> bool) -> bool {
        let until = Instant::now() + lock(&self.bucket).take(Instant::now());
        loop {
            if closed() {
                return false;
            }
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return true;
            }
            std::thread::sleep(left.min(CLOSED_CHECK));
        }
    }

    /// A step was launched (srun started) at `launched`, its shell began at
    /// `began` and it ended at `ended`: warns once if its jobs are shorter than
    /// their launches.
    pub(crate) fn ended(&self, launched: SystemTime, began: SystemTime, ended: SystemTime) {
        let launch = began.duration_since(launched).unwrap_or_default();
        let job = ended.duration_since(began).unwrap_or_default();
        if let Some(warning) = lock(&self.short).record(launch, job) {
            log::warn!("{warning}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

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
        let allocation = |vars| allocation(&vars, 1);
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
        let err = allocation(&env(&[]), 1).err().unwrap_or_default();
        assert!(
            err.contains("SLURM_JOB_ID") && err.contains("salloc"),
            "{err}"
        );
        assert!(!err.contains('\n'));
    }

    #[test]
    fn a_step_of_n_cpus_fits_each_node_its_cpus_over_n() {
        let vars = [
            ("SLURM_JOB_ID", "14"),
            ("SLURM_JOB_CPUS_PER_NODE", "2(x3),5"),
        ];
        let slots = |n| allocation(&env(&vars), n).map(|a| a.slots);
        // 2+2+2+5 CPUs; a job never spans two nodes.
        assert_eq!(slots(1), Ok(11));
        assert_eq!(slots(2), Ok(1 + 1 + 1 + 2));
        assert_eq!(slots(3), Ok(1));
        assert_eq!(slots(5), Ok(1));
        let err = slots(6).err().unwrap_or_default();
        assert!(
            err.contains("--cpus-per-job 6") && err.contains("at most 5"),
            "{err}"
        );
        // salloc -n1 -c2: one node's worth from the tasks.
        let vars = [
            ("SLURM_JOB_ID", "15"),
            ("SLURM_NTASKS", "1"),
            ("SLURM_CPUS_PER_TASK", "2"),
        ];
        assert_eq!(allocation(&env(&vars), 2).map(|a| a.slots), Ok(1));
        assert!(allocation(&env(&vars), 3).is_err());
    }

    #[test]
    fn the_step_asks_srun_for_the_cpus_and_reports_its_node() -> std::io::Result<()> {
        let cmd = step_command(
            3,
            "echo \"$1\" \"$2\" \"$3\" \"$PARALLEL_SSHHOST|$PARALLEL_SSHLOGIN\"",
            "n0",
            b"job 'x'",
        );
        let args: Vec<_> = cmd.get_args().collect();
        assert_eq!(cmd.get_program(), "srun");
        assert_eq!(&args[..5], ["--exact", "-N1", "-n1", "-c3", "--quiet"]);
        // What srun would run, run here, on a node called n7.
        let out = Command::new(args[5])
            .args(&args[6..])
            .env("SLURMD_NODENAME", "n7")
            .output()?;
        let before = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let stdout = String::from_utf8_lossy(&out.stdout);
        let (nonce, rest) = stdout.split_once(' ').unwrap_or_default();
        // {host} and {sshlogin} are the node.
        assert_eq!(rest, "job 'x' step n7|n7\n");
        let fields: Vec<&str> = nonce.split(':').collect();
        assert_eq!(fields[..2], ["n0", "n7"], "{stdout}");
        let start: f64 = fields[2].parse().unwrap_or_default();
        assert!((start - before.as_secs_f64()).abs() < 60.0, "{stdout}");
        // No node name in the step's environment: an empty field.
        let out = Command::new(args[5])
            .args(&args[6..])
            .env_remove("SLURMD_NODENAME")
            .output()?;
        assert!(out.stdout.starts_with(b"n0::"), "{out:?}");
        Ok(())
    }

    #[test]
    fn ssh_nodes_pair_each_node_with_its_cpus_over_n() {
        let vars = [
            ("SLURM_JOB_ID", "14"),
            ("SLURM_JOB_NODELIST", "n[1-3],big"),
            ("SLURM_JOB_CPUS_PER_NODE", "2(x3),8"),
        ];
        let expand = |list: &str| {
            assert_eq!(list, "n[1-3],big");
            Ok(["n1", "n2", "n3", "big"].map(String::from).to_vec())
        };
        let nodes = ssh_nodes(env(&vars), 1, expand);
        let want = [("n1", 2), ("n2", 2), ("n3", 2), ("big", 8)];
        let want: Vec<(String, Option<usize>)> =
            want.iter().map(|&(n, c)| (n.into(), Some(c))).collect();
        assert_eq!(nodes, Ok(want));
        // -c 3: only the big node fits (two at once).
        let nodes = ssh_nodes(env(&vars), 3, expand);
        assert_eq!(nodes, Ok(vec![("big".into(), Some(2))]));
        // CPUs that do not match the nodes: probed over ssh.
        let vars = [("SLURM_JOB_ID", "15"), ("SLURM_JOB_NODELIST", "a,b")];
        let nodes = ssh_nodes(env(&vars), 1, |_| Ok(vec!["a".into(), "b".into()]));
        assert_eq!(nodes, Ok(vec![("a".into(), None), ("b".into(), None)]));
    }

    #[test]
    fn a_worker_waiting_for_its_launch_stops_waiting_when_the_run_stops() {
        let launches = Launches::new(1);
        let open = || false;
        assert!(launches.wait_turn(&open), "the first launch is at once");
        // 30 more reserved: the next turn is ~30 s away.
        for _ in 0..30 {
            lock(&launches.bucket).take(Instant::now());
        }
        let started = Instant::now();
        assert!(!launches.wait_turn(&|| started.elapsed() > Duration::from_millis(100)));
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{:?}",
            started.elapsed()
        );
    }
}
