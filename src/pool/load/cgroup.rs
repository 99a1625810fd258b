//! The limits of the cgroup this process runs in — inside a container, `/proc/meminfo`
//! and the core count describe the host, not us.
//!
//! Supported: cgroup v2 (`memory.max`, `memory.current`, `memory.stat`'s
//! `inactive_file`, `cpu.max`, `cpu.stat`'s `usage_usec`) and v1
//! (`memory.limit_in_bytes`, `memory.usage_in_bytes`, `memory.stat`'s
//! `total_inactive_file`, `cpu.cfs_quota_us`/`cpu.cfs_period_us`, `cpuacct.usage`).
//! Limits apply hierarchically, so every level from our cgroup up to the mount root is
//! read and the tightest memory limit wins. Where none of this exists (another OS, no
//! cgroup fs mounted) [`Cgroup::detect`] finds nothing and the probe falls back to
//! `/proc` or to no load information at all.
//!
//! Parsing is pure functions over the files' text; [`Cgroup`] only adds file reading.

use std::fs;
use std::path::{Path, PathBuf};

/// Which cgroup files describe this process.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Cgroup {
    /// Unified hierarchy: the directories from our cgroup up to the mount root.
    V2 { dirs: Vec<PathBuf> },
    /// Legacy hierarchies: the memory and cpu controllers' directories (ours first,
    /// then ancestors), each possibly absent.
    V1 {
        memory: Vec<PathBuf>,
        cpu: Vec<PathBuf>,
    },
}

/// Memory use against the tightest limit, in bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct CgroupMemory {
    pub(crate) limit: u64,
    /// Usage not counting inactive file cache, which the kernel reclaims first.
    pub(crate) used: u64,
}

impl CgroupMemory {
    pub(crate) fn available(&self) -> u64 {
        self.limit.saturating_sub(self.used)
    }
}

impl Cgroup {
    /// Finds our cgroup from `/proc/self/cgroup` under `/sys/fs/cgroup`.
    pub(crate) fn detect() -> Option<Cgroup> {
        let text = fs::read_to_string("/proc/self/cgroup").ok()?;
        Cgroup::from_proc_self_cgroup(&text, Path::new("/sys/fs/cgroup"))
    }

    /// Builds the directory lists from the text of `/proc/self/cgroup` and the mount
    /// point; keeps only directories that exist.
    pub(crate) fn from_proc_self_cgroup(text: &str, mount: &Path) -> Option<Cgroup> {
        let entries = parse_proc_self_cgroup(text);
        if let Some((_, path)) = entries.iter().find(|(ctrl, _)| ctrl.is_empty()) {
            if mount.join("cgroup.controllers").exists() {
                let dirs = ancestors(mount, path);
                return (!dirs.is_empty()).then_some(Cgroup::V2 { dirs });
            }
        }
        let find = |name: &str| -> Vec<PathBuf> {
            entries
                .iter()
                .find(|(ctrls, _)| ctrls.split(',').any(|c| c == name))
                .map(|(ctrls, path)| {
                    let root = [ctrls.as_str(), name]
                        .iter()
                        .map(|d| mount.join(d))
                        .find(|d| d.exists());
                    root.map(|root| ancestors(&root, path)).unwrap_or_default()
                })
                .unwrap_or_default()
        };
        let (memory, cpu) = (find("memory"), find("cpu"));
        (!memory.is_empty() || !cpu.is_empty()).then_some(Cgroup::V1 { memory, cpu })
    }

    /// Memory use against the tightest limit, if any level sets one.
    pub(crate) fn memory(&self) -> Option<CgroupMemory> {
        match self {
            Cgroup::V2 { dirs } => tightest(dirs, |dir| {
                let limit = parse_limit(&read(dir, "memory.max")?)?;
                let current = parse_u64(&read(dir, "memory.current")?)?;
                let inactive = read(dir, "memory.stat")
                    .and_then(|s| stat_field(&s, "inactive_file"))
                    .unwrap_or(0);
                Some(CgroupMemory {
                    limit,
                    used: current.saturating_sub(inactive),
                })
            }),
            Cgroup::V1 { memory, .. } => tightest(memory, |dir| {
                let limit = parse_limit(&read(dir, "memory.limit_in_bytes")?)?;
                let usage = parse_u64(&read(dir, "memory.usage_in_bytes")?)?;
                let inactive = read(dir, "memory.stat")
                    .and_then(|s| stat_field(&s, "total_inactive_file"))
                    .unwrap_or(0);
                Some(CgroupMemory {
                    limit,
                    used: usage.saturating_sub(inactive),
                })
            }),
        }
    }

    /// The CPU quota in cores (e.g. 1.5), if our cgroup (or an ancestor) sets one.
    pub(crate) fn cpu_quota(&self) -> Option<f64> {
        let quotas: Vec<f64> = match self {
            Cgroup::V2 { dirs } => dirs
                .iter()
                .filter_map(|d| parse_cpu_max(&read(d, "cpu.max")?))
                .collect(),
            Cgroup::V1 { cpu, .. } => cpu
                .iter()
                .filter_map(|d| {
                    parse_cfs_quota(
                        &read(d, "cpu.cfs_quota_us")?,
                        &read(d, "cpu.cfs_period_us")?,
                    )
                })
                .collect(),
        };
        quotas.into_iter().reduce(f64::min)
    }

    /// CPU time used by our cgroup so far, in microseconds.
    pub(crate) fn cpu_usage_usec(&self) -> Option<u64> {
        match self {
            Cgroup::V2 { dirs } => stat_field(&read(dirs.first()?, "cpu.stat")?, "usage_usec"),
            Cgroup::V1 { cpu, .. } => {
                // cpuacct.usage is in nanoseconds; cpu and cpuacct are usually co-mounted.
                let ns = parse_u64(&read(cpu.first()?, "cpuacct.usage")?)?;
                Some(ns / 1000)
            }
        }
    }
}

/// `(controllers, path)` pairs from `/proc/self/cgroup` (`hierarchy:controllers:path`;
/// v2's line is `0::/path`, with no controllers).
pub(crate) fn parse_proc_self_cgroup(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|line| {
            let mut parts = line.splitn(3, ':');
            let _id = parts.next()?;
            let controllers = parts.next()?;
            let path = parts.next()?;
            Some((controllers.to_owned(), path.to_owned()))
        })
        .collect()
}

/// `root/path` and each of its ancestors up to `root`, deepest first; only those
/// that exist. A path that is not absolute is treated as relative to `root`.
fn ancestors(root: &Path, path: &str) -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    let mut current = Some(Path::new(path.trim_start_matches('/')));
    while let Some(rel) = current {
        let dir = root.join(rel);
        if dir.is_dir() {
            dirs.push(dir);
        }
        current = rel.parent();
    }
    dirs
}

/// The reading with the least available memory among the levels that have a limit.
fn tightest(
    dirs: &[PathBuf],
    read_level: impl Fn(&Path) -> Option<CgroupMemory>,
) -> Option<CgroupMemory> {
    dirs.iter()
        .filter_map(|d| read_level(d))
        .min_by_key(CgroupMemory::available)
}

fn read(dir: &Path, file: &str) -> Option<String> {
    fs::read_to_string(dir.join(file)).ok()
}

fn parse_u64(text: &str) -> Option<u64> {
    text.trim().parse().ok()
}

/// A memory limit: `max` (v2) or a huge page-rounded number (v1's "no limit",
/// 9223372036854771712) mean none.
pub(crate) fn parse_limit(text: &str) -> Option<u64> {
    let text = text.trim();
    if text == "max" {
        return None;
    }
    let value: u64 = text.parse().ok()?;
    (value < (1 << 62)).then_some(value)
}

/// `cpu.max`: `"$QUOTA $PERIOD"` in microseconds, or `"max $PERIOD"` for none.
pub(crate) fn parse_cpu_max(text: &str) -> Option<f64> {
    let mut parts = text.split_ascii_whitespace();
    let quota = parts.next()?;
    let period: f64 = parts.next()?.parse().ok()?;
    if quota == "max" || period <= 0.0 {
        return None;
    }
    let quota: f64 = quota.parse().ok()?;
    (quota > 0.0).then_some(quota / period)
}

/// v1 `cpu.cfs_quota_us` (-1 for none) over `cpu.cfs_period_us`.
pub(crate) fn parse_cfs_quota(quota: &str, period: &str) -> Option<f64> {
    let quota: i64 = quota.trim().parse().ok()?;
    let period: i64 = period.trim().parse().ok()?;
    (quota > 0 && period > 0).then(|| quota as f64 / period as f64)
}

/// A `key value` line of a `*.stat` file.
pub(crate) fn stat_field(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|line| {
        let (k, v) = line.split_once(' ')?;
        (k == key).then(|| v.trim().parse().ok()).flatten()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_self_cgroup_lines_split_into_controllers_and_path() {
        let v2 = parse_proc_self_cgroup("0::/user.slice/session-2.scope\n");
        assert_eq!(
            v2,
            [(String::new(), "/user.slice/session-2.scope".to_owned())]
        );
        let v1 = parse_proc_self_cgroup(
            "12:memory:/docker/abc\n4:cpu,cpuacct:/docker/abc\n1:name=systemd:/x:y\n",
        );
        assert_eq!(v1[0], ("memory".to_owned(), "/docker/abc".to_owned()));
        assert_eq!(v1[1].0, "cpu,cpuacct");
        assert_eq!(v1[2].1, "/x:y", "a colon in the path is kept");
    }

    #[test]
    fn limits_max_and_v1_unlimited_mean_none() {
        assert_eq!(parse_limit("max\n"), None);
        assert_eq!(parse_limit("9223372036854771712\n"), None);
        assert_eq!(parse_limit("536870912\n"), Some(536_870_912));
        assert_eq!(parse_limit("garbage"), None);
    }

    #[test]
    fn cpu_quotas_v2_and_v1() {
        assert_eq!(parse_cpu_max("max 100000\n"), None);
        assert_eq!(parse_cpu_max("150000 100000\n"), Some(1.5));
        assert_eq!(parse_cpu_max("50000 100000"), Some(0.5));
        assert_eq!(parse_cfs_quota("-1\n", "100000\n"), None);
        assert_eq!(parse_cfs_quota("200000\n", "100000\n"), Some(2.0));
    }

    #[test]
    fn stat_fields_are_found_by_exact_key() {
        let stat = "anon 100\nfile 50\nactive_file 20\ninactive_file 30\n";
        assert_eq!(stat_field(stat, "inactive_file"), Some(30));
        assert_eq!(stat_field(stat, "file"), Some(50));
        assert_eq!(stat_field(stat, "missing"), None);
    }

    /// Writes a fake cgroup tree and reads it as the probe would.
    fn fake_tree(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (path, text) in files {
            let path = dir.path().join(path);
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(path, text).unwrap();
        }
        dir
    }

    #[test]
    fn v2_memory_takes_the_tightest_level_and_discounts_inactive_file() {
        let tree = fake_tree(&[
            ("cgroup.controllers", "cpu memory\n"),
            ("box/memory.max", "1000000\n"),
            ("box/memory.current", "600000\n"),
            ("box/memory.stat", "anon 500000\ninactive_file 100000\n"),
            ("box/job/memory.max", "max\n"),
            ("box/job/memory.current", "300000\n"),
            ("box/job/cpu.max", "200000 100000\n"),
            ("box/cpu.max", "150000 100000\n"),
            ("box/job/cpu.stat", "usage_usec 4242\nuser_usec 4000\n"),
        ]);
        let cg = Cgroup::from_proc_self_cgroup("0::/box/job\n", tree.path()).unwrap();
        let Cgroup::V2 { dirs } = &cg else {
            panic!("{cg:?}")
        };
        assert_eq!(dirs.len(), 3, "job, box and the root");
        let mem = cg.memory().unwrap();
        assert_eq!(
            (mem.limit, mem.used, mem.available()),
            (1_000_000, 500_000, 500_000)
        );
        assert_eq!(cg.cpu_quota(), Some(1.5), "the tighter ancestor quota wins");
        assert_eq!(cg.cpu_usage_usec(), Some(4242));
    }

    #[test]
    fn v1_memory_and_cpu_are_read_from_their_controllers() {
        let tree = fake_tree(&[
            ("memory/docker/abc/memory.limit_in_bytes", "2000000\n"),
            ("memory/docker/abc/memory.usage_in_bytes", "1500000\n"),
            (
                "memory/docker/abc/memory.stat",
                "cache 10\ntotal_inactive_file 500000\n",
            ),
            ("memory/memory.limit_in_bytes", "9223372036854771712\n"),
            ("memory/memory.usage_in_bytes", "99999999\n"),
            ("cpu,cpuacct/docker/abc/cpu.cfs_quota_us", "50000\n"),
            ("cpu,cpuacct/docker/abc/cpu.cfs_period_us", "100000\n"),
            ("cpu,cpuacct/docker/abc/cpuacct.usage", "7000000\n"),
        ]);
        let text = "5:memory:/docker/abc\n3:cpu,cpuacct:/docker/abc\n";
        let cg = Cgroup::from_proc_self_cgroup(text, tree.path()).unwrap();
        let mem = cg.memory().unwrap();
        assert_eq!((mem.limit, mem.used), (2_000_000, 1_000_000));
        assert_eq!(cg.cpu_quota(), Some(0.5));
        assert_eq!(cg.cpu_usage_usec(), Some(7000));
    }

    #[test]
    fn no_cgroup_files_means_nothing_detected() {
        let tree = fake_tree(&[("unrelated", "")]);
        assert_eq!(Cgroup::from_proc_self_cgroup("0::/\n", tree.path()), None);
        assert_eq!(Cgroup::from_proc_self_cgroup("", tree.path()), None);
    }
}
