//! Parsers for the `/proc` files the load probe reads: `/proc/stat` (whole-machine CPU
//! time, which counts every process — our jobs and their children included),
//! `/proc/meminfo` (total and available memory) and `/proc/pressure/cpu` (pressure
//! stall information: how long tasks waited for a CPU).
//!
//! Pure functions over the files' text, so they are tested on sample files.

/// Cumulative CPU time of the whole machine, in clock ticks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct CpuTimes {
    /// user + nice + system + irq + softirq + steal.
    pub(crate) busy: u64,
    /// busy + idle + iowait.
    pub(crate) total: u64,
}

/// Parses the aggregate `cpu` line of `/proc/stat`. `None` if it is missing or
/// malformed.
pub(crate) fn parse_stat(text: &str) -> Option<CpuTimes> {
    let line = text.lines().find(|l| l.starts_with("cpu "))?;
    let v: Vec<u64> = line
        .split_ascii_whitespace()
        .skip(1)
        .map(|f| f.parse().ok())
        .collect::<Option<_>>()?;
    if v.len() < 4 {
        return None;
    }
    let at = |i: usize| v.get(i).copied().unwrap_or(0);
    // user nice system idle iowait irq softirq steal (guest is counted in user).
    let busy = at(0) + at(1) + at(2) + at(5) + at(6) + at(7);
    let idle = at(3) + at(4);
    Some(CpuTimes {
        busy,
        total: busy + idle,
    })
}

/// The cumulative time, in microseconds, during which at least one task was runnable
/// but waiting for a CPU: the `some` line's `total=` of `/proc/pressure/cpu` (Linux
/// 4.20+ with PSI enabled).
pub(crate) fn parse_cpu_pressure(text: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.starts_with("some "))?;
    line.split_ascii_whitespace()
        .find_map(|field| field.strip_prefix("total="))?
        .parse()
        .ok()
}

/// Total and available memory in bytes, from `/proc/meminfo`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct MemInfo {
    pub(crate) total: u64,
    pub(crate) available: u64,
}

/// Parses `/proc/meminfo`. `None` without `MemTotal` and `MemAvailable` (kernels
/// before 3.14 lack the latter; then memory is not gated).
pub(crate) fn parse_meminfo(text: &str) -> Option<MemInfo> {
    let mut total = None;
    let mut available = None;
    for line in text.lines() {
        let Some((key, rest)) = line.split_once(':') else {
            continue;
        };
        let slot = match key {
            "MemTotal" => &mut total,
            "MemAvailable" => &mut available,
            _ => continue,
        };
        let mut parts = rest.split_ascii_whitespace();
        let value: u64 = parts.next()?.parse().ok()?;
        let scale = match parts.next() {
            Some("kB") => 1024,
            None => 1,
            Some(_) => return None,
        };
        *slot = Some(value.checked_mul(scale)?);
    }
    Some(MemInfo {
        total: total?,
        available: available?,
    })
}

/// CPU time, in clock ticks, that `/proc/<pid>/stat` reports for a process: its own
/// (`utime`, `stime`) and its reaped children's (`cutime`, `cstime`). `None` if the
/// text is malformed. The command name (field 2) may hold spaces and parentheses, so
/// fields are counted from the last `)`.
pub(crate) fn parse_pid_stat_cpu(text: &str) -> Option<u64> {
    let after_name = &text[text.rfind(')')? + 1..];
    // Field 3 (state) is the first after the name; utime is field 14.
    let fields: Vec<&str> = after_name
        .split_ascii_whitespace()
        .skip(11)
        .take(4)
        .collect();
    if fields.len() < 4 {
        return None;
    }
    fields
        .iter()
        .try_fold(0u64, |sum, f| Some(sum + f.parse::<u64>().ok()?))
}

/// Whether `/proc/<pid>/stat` (or a thread's) says running or ready to run (`R`).
pub(crate) fn parse_pid_stat_runnable(text: &str) -> bool {
    text.rfind(')')
        .and_then(|end| text[end + 1..].split_ascii_whitespace().next())
        == Some("R")
}

/// The process ids listed in a `/proc/<pid>/task/<tid>/children` file.
pub(crate) fn parse_children(text: &str) -> Vec<u32> {
    text.split_ascii_whitespace()
        .filter_map(|pid| pid.parse().ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const STAT: &str = "\
cpu  4705 356 584 3699176 23060 0 277 0 0 0
cpu0 1393280 32966 572056 13343292 6130 0 17875 0 23933 0
intr 114930548 113199788 3 0 5 263 0 4 [... lots more numbers ...]
ctxt 1990473
btime 1062191376
processes 2915
procs_running 3
procs_blocked 0
";

    #[test]
    fn a_process_stat_gives_own_and_reaped_children_cpu_ticks() {
        // pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt majflt
        // cmajflt utime stime cutime cstime ...
        let stat = "4242 (sh -c (x)) S 1 4242 4242 0 -1 4194304 90 0 0 0 7 3 20 5 20 0 1 0";
        assert_eq!(parse_pid_stat_cpu(stat), Some(7 + 3 + 20 + 5));
        assert_eq!(parse_pid_stat_cpu("4242 (sh) S 1 2"), None);
        assert_eq!(parse_pid_stat_cpu("garbage"), None);
        assert!(!parse_pid_stat_runnable(stat));
        assert!(parse_pid_stat_runnable("7 (a) b) R 1 2"));
    }

    #[test]
    fn children_files_list_pids() {
        assert_eq!(parse_children("7011 7020 \n"), vec![7011, 7020]);
        assert_eq!(parse_children(""), Vec::<u32>::new());
    }

    #[test]
    fn stat_sums_busy_and_total_ticks() {
        let t = parse_stat(STAT).unwrap();
        assert_eq!(t.busy, 4705 + 356 + 584 + 277);
        assert_eq!(t.total, t.busy + 3_699_176 + 23_060);
    }

    #[test]
    fn stat_from_old_kernels_with_four_fields_parses() {
        let t = parse_stat("cpu 10 0 5 85\n").unwrap();
        assert_eq!((t.busy, t.total), (15, 100));
    }

    #[test]
    fn malformed_stat_is_none() {
        assert_eq!(parse_stat(""), None);
        assert_eq!(parse_stat("cpu 1 2 x 4\n"), None);
        assert_eq!(parse_stat("cpu 1 2\n"), None);
    }

    #[test]
    fn cpu_pressure_reads_the_some_total() {
        let text = "some avg10=10.37 avg60=12.39 avg300=7.07 total=70588635\n\
                    full avg10=0.00 avg60=0.00 avg300=0.00 total=0\n";
        assert_eq!(parse_cpu_pressure(text), Some(70_588_635));
        assert_eq!(parse_cpu_pressure("full avg10=0 total=5\n"), None);
        assert_eq!(parse_cpu_pressure(""), None);
    }

    #[test]
    fn meminfo_reads_total_and_available_in_bytes() {
        let text = "MemTotal:       24598920 kB\nMemFree:        23960092 kB\n\
                    MemAvailable:   24056444 kB\nBuffers:            3340 kB\n";
        let m = parse_meminfo(text).unwrap();
        assert_eq!(m.total, 24_598_920 * 1024);
        assert_eq!(m.available, 24_056_444 * 1024);
    }

    #[test]
    fn meminfo_without_available_is_none() {
        assert_eq!(parse_meminfo("MemTotal: 100 kB\nMemFree: 50 kB\n"), None);
        assert_eq!(
            parse_meminfo("MemTotal: 100 MB\nMemAvailable: 5 kB\n"),
            None
        );
    }
}
