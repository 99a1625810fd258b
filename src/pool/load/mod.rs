//! What the controller knows of the machine: [`LoadReading`]s taken by a
//! [`LoadProbe`].
//!
//! The default probe, [`SystemProbe`], reads Linux's `/proc/stat` (whole-machine CPU
//! time — which counts our jobs' child processes too), `/proc/pressure/cpu` (how long
//! tasks waited for a CPU), `/proc/meminfo` (MemAvailable), and the limits of our
//! cgroup (v1 or v2), taking the tighter of host and cgroup figures. On other systems, or where those files are
//! missing, its readings are empty and the controller falls back to the backlog rule.
//!
//! A reading's CPU figure covers the window since the previous reading; the monitor
//! takes one per decision window (see `monitor.rs`).

mod cgroup;
pub(crate) mod procfs;

use crate::pool::logging::pool_log;
use std::fmt;
use std::time::{Duration, Instant};

use cgroup::Cgroup;
use procfs::CpuTimes;

/// The machine's spare capacity over one window, as the controller sees it.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
#[non_exhaustive]
pub struct LoadReading {
    /// Share of the CPU capacity available to us that was busy during the window,
    /// from 0.0 to 1.0 (the cgroup's quota when it sets one, else the whole machine).
    pub cpu_busy: Option<f64>,
    /// Share of the window during which some task was ready to run but waited for a
    /// CPU (Linux pressure stall information); high means the CPU is oversubscribed.
    pub cpu_stall: Option<f64>,
    /// Cores available to this process (affinity and cgroup quota applied).
    pub cpus: f64,
    /// Memory available for new work, in bytes: the smaller of MemAvailable and the
    /// cgroup's limit minus its usage.
    pub memory_available: Option<u64>,
    /// Total memory, or the cgroup's limit when that is smaller, in bytes.
    pub memory_total: Option<u64>,
    /// CPU time used so far by this process and its reaped child processes
    /// (`getrusage` of self and children): with the run times of finished tasks, it
    /// tells what one busy worker costs, apart from whatever else loads the machine.
    pub own_cpu: Option<Duration>,
    /// CPU time used so far by this process's whole tree: `own_cpu` plus every live
    /// descendant process (its own time and its reaped children's). Unlike
    /// `own_cpu`, it grows while a task's child processes run, so the controller can
    /// tell busy workers that compute (through their children too) from blocked ones
    /// before any task has finished.
    pub tree_cpu: Option<Duration>,
    /// How many of this process's threads (but the one taking the reading) and of
    /// its live descendant processes were running or ready to run at the reading. A
    /// task that computes keeps one runnable even when a busy machine gives it little
    /// CPU; a task that waits (a timer, the network, another process) keeps none.
    pub tree_runnable: Option<u32>,
}

impl LoadReading {
    /// A reading with every figure given (for tests and custom probes).
    pub fn new(
        cpu_busy: Option<f64>,
        cpu_stall: Option<f64>,
        cpus: f64,
        memory_available: Option<u64>,
        memory_total: Option<u64>,
    ) -> LoadReading {
        LoadReading {
            cpu_busy,
            cpu_stall,
            cpus,
            memory_available,
            memory_total,
            own_cpu: None,
            tree_cpu: None,
            tree_runnable: None,
        }
    }
}

/// CPU time of this process and its reaped children so far.
pub(crate) fn own_cpu_time() -> Option<Duration> {
    use nix::sys::resource::{UsageWho, getrusage};
    use nix::sys::time::TimeVal;
    fn micros(tv: TimeVal) -> Option<u64> {
        Some(u64::try_from(tv.tv_sec()).ok()? * 1_000_000 + u64::try_from(tv.tv_usec()).ok()?)
    }
    fn total(who: UsageWho) -> Option<u64> {
        let usage = getrusage(who).ok()?;
        Some(micros(usage.user_time())? + micros(usage.system_time())?)
    }
    let micros = total(UsageWho::RUSAGE_SELF)? + total(UsageWho::RUSAGE_CHILDREN)?;
    Some(Duration::from_micros(micros))
}

/// What one walk of this process's tree found: the CPU time of its live descendants
/// (each one's own and its reaped children's), and how many of our other threads and
/// of those processes were running or ready to run. Found through the `children`
/// files of our threads and theirs (Linux 3.5+ with `CONFIG_PROC_CHILDREN`); `None`
/// where they cannot be read.
///
/// A descendant reaped between two walks moves its time into its parent's
/// reaped-children figure, so the sum with [`own_cpu_time`] keeps growing.
pub(crate) fn sample_tree() -> Option<(Duration, u32)> {
    let mut ticks = 0u64;
    let mut runnable = 0u32;
    // The thread taking the reading is running, whatever the tasks do.
    let me = std::fs::read_link("/proc/thread-self").ok();
    let mut pending = Vec::new();
    for task in std::fs::read_dir("/proc/self/task").ok()? {
        let Ok(task) = task else { continue };
        let path = task.path();
        if let Ok(text) = std::fs::read_to_string(path.join("children")) {
            pending.extend(procfs::parse_children(&text));
        }
        let is_me = me.as_ref().is_some_and(|me| me.ends_with(task.file_name()));
        if !is_me
            && let Ok(stat) = std::fs::read_to_string(path.join("stat"))
            && procfs::parse_pid_stat_runnable(&stat)
        {
            runnable += 1;
        }
    }
    // A process tree is acyclic, but pids can be reused mid-walk: bound the walk.
    let mut budget = 100_000usize;
    while let Some(pid) = pending.pop() {
        budget = budget.checked_sub(1)?;
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue; // It just ended.
        };
        ticks += procfs::parse_pid_stat_cpu(&stat).unwrap_or(0);
        runnable += u32::from(procfs::parse_pid_stat_runnable(&stat));
        pending.extend(children_of(&pid.to_string()).unwrap_or_default());
    }
    // `/proc` reports these in USER_HZ ticks, which the kernel ABI fixes at 100 per
    // second on the architectures we build for (it is what `getconf CLK_TCK` says).
    const TICKS_PER_SECOND: u64 = 100;
    Some((
        Duration::from_micros(ticks * 1_000_000 / TICKS_PER_SECOND),
        runnable,
    ))
}

/// The children of every thread of process `pid` (`"self"` for us).
fn children_of(pid: &str) -> Option<Vec<u32>> {
    let mut children = Vec::new();
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).ok()? {
        let Ok(task) = task else { continue };
        let mut path = task.path();
        path.push("children");
        if let Ok(text) = std::fs::read_to_string(&path) {
            children.extend(procfs::parse_children(&text));
        }
    }
    Some(children)
}

/// Takes [`LoadReading`]s for the pool's controller. Implement it to feed the pool
/// readings of your own (tests do, to drive the controller deterministically).
pub trait LoadProbe: Send {
    /// A reading whose CPU figure covers the time since the previous call.
    fn read(&mut self) -> LoadReading;
}

/// The cores this process may use: affinity and cgroup quota applied by std.
pub(crate) fn available_cpus() -> f64 {
    std::thread::available_parallelism().map_or(1, |n| n.get()) as f64
}

/// Reads `/proc` and the cgroup files (Linux); empty readings elsewhere.
pub struct SystemProbe {
    cgroup: Option<Cgroup>,
    cpus: f64,
    /// Where the current window started: when, and the CPU counters then.
    last: Option<(Instant, CpuMark)>,
    /// The CPU pressure stall total (µs) at the start of the window, and when.
    last_stall: Option<(Instant, u64)>,
}

#[derive(Clone, Copy, Debug)]
enum CpuMark {
    Machine(CpuTimes),
    /// Cgroup usage in µs, against a quota of this many cores.
    Cgroup {
        usage_usec: u64,
        quota: f64,
    },
}

impl SystemProbe {
    /// Finds our cgroup (if any) and the cores we may use.
    pub fn new() -> SystemProbe {
        let cgroup = Cgroup::detect();
        pool_log!(
            Debug,
            "load probe: cgroup {cgroup:?}, {} cpus",
            available_cpus()
        );
        SystemProbe {
            cgroup,
            cpus: available_cpus(),
            last: None,
            last_stall: None,
        }
    }

    fn cpu_mark(&self) -> Option<CpuMark> {
        if let Some(cg) = &self.cgroup
            && let Some(quota) = cg.cpu_quota()
            && let Some(usage_usec) = cg.cpu_usage_usec()
        {
            return Some(CpuMark::Cgroup { usage_usec, quota });
        }
        let stat = std::fs::read_to_string("/proc/stat").ok()?;
        procfs::parse_stat(&stat).map(CpuMark::Machine)
    }
}

impl Default for SystemProbe {
    fn default() -> Self {
        SystemProbe::new()
    }
}

impl fmt::Debug for SystemProbe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SystemProbe")
            .field("cgroup", &self.cgroup)
            .field("cpus", &self.cpus)
            .finish()
    }
}

/// CPU busy share between two marks, if they are of the same kind and time passed.
fn busy_between(before: (Instant, CpuMark), after: (Instant, CpuMark)) -> Option<f64> {
    match (before.1, after.1) {
        (CpuMark::Machine(a), CpuMark::Machine(b)) => {
            let total = b.total.checked_sub(a.total)?;
            let busy = b.busy.checked_sub(a.busy)?;
            (total > 0).then(|| (busy as f64 / total as f64).clamp(0.0, 1.0))
        }
        (
            CpuMark::Cgroup { usage_usec: a, .. },
            CpuMark::Cgroup {
                usage_usec: b,
                quota,
            },
        ) => {
            let used = b.checked_sub(a)? as f64;
            let window = after.0.duration_since(before.0).as_micros() as f64;
            (window > 0.0).then(|| (used / (window * quota)).clamp(0.0, 1.0))
        }
        _ => None,
    }
}

impl LoadProbe for SystemProbe {
    fn read(&mut self) -> LoadReading {
        let now = Instant::now();
        let mark = self.cpu_mark().map(|m| (now, m));
        let cpu_busy = match (self.last, mark) {
            (Some(before), Some(after)) => busy_between(before, after),
            _ => None,
        };
        let stall = std::fs::read_to_string("/proc/pressure/cpu")
            .ok()
            .and_then(|text| procfs::parse_cpu_pressure(&text))
            .map(|total| (now, total));
        let cpu_stall = match (self.last_stall, stall) {
            (Some((t0, a)), Some((t1, b))) => {
                let window = t1.duration_since(t0).as_micros() as f64;
                (window > 0.0).then(|| (b.saturating_sub(a) as f64 / window).clamp(0.0, 1.0))
            }
            _ => None,
        };
        self.last_stall = stall;
        self.last = mark;
        let own_cpu = own_cpu_time();
        let tree = sample_tree();
        let host = std::fs::read_to_string("/proc/meminfo")
            .ok()
            .and_then(|s| procfs::parse_meminfo(&s));
        let cgroup = self.cgroup.as_ref().and_then(Cgroup::memory);
        let memory_available = match (host, cgroup) {
            (Some(h), Some(c)) => Some(h.available.min(c.available())),
            (Some(h), None) => Some(h.available),
            (None, Some(c)) => Some(c.available()),
            (None, None) => None,
        };
        let memory_total = match (host, cgroup) {
            (Some(h), Some(c)) => Some(h.total.min(c.limit)),
            (h, c) => h.map(|h| h.total).or(c.map(|c| c.limit)),
        };
        LoadReading {
            cpu_busy,
            cpu_stall,
            cpus: self.cpus,
            memory_available,
            memory_total,
            own_cpu,
            tree_cpu: own_cpu.zip(tree).map(|(own, (kids, _))| own + kids),
            tree_runnable: tree.map(|(_, runnable)| runnable),
        }
    }
}

/// How long a decision window must last before its CPU figure is trusted: /proc/stat
/// counts in 10 ms ticks, so a shorter window is mostly rounding.
pub(crate) const MIN_WINDOW: Duration = Duration::from_millis(50);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_system_probe_reads_this_machine() {
        let mut probe = SystemProbe::new();
        let first = probe.read();
        assert!(first.cpus >= 1.0);
        assert_eq!(first.cpu_busy, None, "no window yet");
        std::thread::sleep(Duration::from_millis(60));
        let second = probe.read();
        if cfg!(target_os = "linux") {
            let busy = second.cpu_busy.expect("a window has passed");
            assert!((0.0..=1.0).contains(&busy));
            let available = second.memory_available.unwrap();
            assert!(available > 0 && available <= second.memory_total.unwrap());
        }
    }

    #[test]
    fn own_cpu_time_grows_with_work() {
        let before = own_cpu_time().unwrap();
        let end = Instant::now() + Duration::from_millis(30);
        let mut x = 1u64;
        while Instant::now() < end {
            x = std::hint::black_box(x.wrapping_mul(3));
        }
        assert!(own_cpu_time().unwrap() > before);
    }

    #[test]
    fn the_tree_cpu_time_counts_a_child_that_computes_before_it_ends() {
        if !cfg!(target_os = "linux") {
            return;
        }
        let tree_cpu = || sample_tree().expect("our children can be listed").0;
        let before = tree_cpu();
        // A child that computes for a while, still running when we look.
        let mut child = std::process::Command::new("sh")
            .args(["-c", "while :; do :; done"])
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut seen = Duration::ZERO;
        while seen < Duration::from_millis(50) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
            seen = tree_cpu().saturating_sub(before);
        }
        let runnable = sample_tree().unwrap().1;
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(
            seen >= Duration::from_millis(50),
            "saw {seen:?} of a spinning child"
        );
        assert!(runnable >= 1, "the spinning child is runnable");
    }

    #[test]
    fn machine_busy_share_is_the_busy_tick_share() {
        let t0 = Instant::now();
        let a = (
            t0,
            CpuMark::Machine(CpuTimes {
                busy: 100,
                total: 1000,
            }),
        );
        let b = (
            t0,
            CpuMark::Machine(CpuTimes {
                busy: 175,
                total: 1100,
            }),
        );
        assert_eq!(busy_between(a, b), Some(0.75));
        assert_eq!(busy_between(a, a), None, "no time passed");
    }

    #[test]
    fn cgroup_busy_share_is_usage_over_window_times_quota() {
        let t0 = Instant::now();
        let t1 = t0 + Duration::from_millis(100);
        let a = (
            t0,
            CpuMark::Cgroup {
                usage_usec: 0,
                quota: 2.0,
            },
        );
        let b = (
            t1,
            CpuMark::Cgroup {
                usage_usec: 100_000,
                quota: 2.0,
            },
        );
        assert_eq!(busy_between(a, b), Some(0.5));
    }
}
