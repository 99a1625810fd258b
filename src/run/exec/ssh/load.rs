//! A remote host's load, as its load monitor session reports it: the script
//! (`load.sh`) that runs over the host's first master for the run, and the parser
//! that turns its frames into the readings the per-host controller
//! (`exec/host_controller.rs`) decides on — the same figures the local probe gives
//! the pool (`pool/load`), parsed by the same `/proc` parsers.
//!
//! Owns: [`Frames`] (the session's output, line by line, into [`Frame`]s) and
//! [`LoadMeter`] (two frames in a row into one [`HostLoad`]).
//!
//! Invariants:
//! - CPU figures cover the host's own CPUs only (its `Cpus_allowed_list`, which
//!   `nproc` honours too): a host confined to one CPU of a bigger machine (a
//!   container, or `taskset`) is busy when that CPU is, whatever the others do.
//!   Without the list, the whole machine's `cpu` line counts.
//! - The window of a reading is measured in the host's own clock ticks (its
//!   CPUs' total ticks over their count), never in our time: network delays do
//!   not distort it.
//! - What our jobs cost is their processes' own CPU time (`utime + stime`): a
//!   process seen in both frames adds its growth, one new in the second adds all
//!   of it. Reaped children's time (`cutime`) is left out there: it would count
//!   again the time of a child already counted while it ran. Jobs too short to be
//!   seen running are counted when their session ends: the growth of the whole
//!   CPU time (own and reaped) of the sshd process serving the monitor's master,
//!   which forks and reaps that master's sessions, scaled up to all the host's
//!   jobs by the share of them that master carries. (A job seen running is
//!   counted again when it ends: an overestimate, which only holds growth back.)

use std::collections::HashMap;

use crate::LoadReading;
use crate::pool::load::procfs;

/// The monitor script, without its comment lines.
const SCRIPT: &str = include_str!("load.sh");

/// Clock ticks per second in `/proc` (USER_HZ: 100 on every Linux ABI we run on).
const TICKS_PER_SECOND: f64 = 100.0;

/// The script without its comment lines (shellcheck directives included).
pub(crate) fn script() -> String {
    SCRIPT
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The pattern that finds this run's job wrappers (whose command line holds the
/// nonce) but not the script or `grep` that look for it: the nonce with its
/// first character in brackets.
pub(crate) fn pattern(nonce: &str) -> String {
    let mut chars = nonce.chars();
    match chars.next() {
        Some(first) => format!("[{first}]{}", chars.as_str()),
        None => String::new(),
    }
}

/// One sample of a host, as one frame of the script gives it.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Frame {
    /// Busy and total ticks of the host's CPUs, and how many CPUs that is.
    cpu: Option<(procfs::CpuTimes, usize)>,
    memory: Option<procfs::MemInfo>,
    /// PSI `some` total of `/proc/pressure/cpu`, µs.
    stall: Option<u64>,
    /// Our job processes: pid → own CPU ticks.
    jobs: HashMap<u32, u64>,
    /// How many of them were running or ready to run.
    runnable: usize,
    /// The master's sshd process: pid → CPU ticks, its reaped children's included.
    session: Option<(u32, u64)>,
}

/// Splits the script's output into frames; see `load.sh` for the format.
#[derive(Debug, Default)]
pub(crate) struct Frames {
    /// The host's CPUs (`@cpus`), when it said.
    cpus: Option<Vec<usize>>,
    /// The lines of the frame being read.
    lines: Vec<String>,
    in_frame: bool,
}

impl Frames {
    /// Takes one line of output; returns a frame when the line ends one.
    pub(crate) fn push(&mut self, line: &str) -> Option<Frame> {
        let line = line.trim_end_matches('\n');
        if let Some(list) = line.strip_prefix("@cpus") {
            self.cpus = parse_cpu_list(list.trim());
        } else if line == "@frame" {
            self.lines.clear();
            self.in_frame = true;
        } else if line == "@end" && self.in_frame {
            self.in_frame = false;
            return Some(self.frame());
        } else if self.in_frame {
            self.lines.push(line.to_owned());
        }
        None
    }

    /// How many CPUs the host said it has, if it said.
    pub(crate) fn cpu_count(&self) -> Option<usize> {
        self.cpus.as_ref().map(Vec::len).filter(|&n| n > 0)
    }

    fn frame(&self) -> Frame {
        let mut all_cpus = None;
        let mut mine = (procfs::CpuTimes::default(), 0usize);
        let mut meminfo = String::new();
        let mut frame = Frame::default();
        let mut session_next = false;
        for line in &self.lines {
            if line == "@session" {
                session_next = true;
                continue;
            }
            if std::mem::take(&mut session_next) {
                let pid = line
                    .split_ascii_whitespace()
                    .next()
                    .and_then(|p| p.parse().ok());
                frame.session = pid.zip(procfs::parse_pid_stat_cpu(line));
                continue;
            }
            if let Some(cpu) = line.strip_prefix("/proc/stat:") {
                let (name, rest) = cpu.split_once(' ').unwrap_or((cpu, ""));
                let Some(times) = procfs::parse_stat(&format!("cpu {rest}\n")) else {
                    continue;
                };
                match name.strip_prefix("cpu").map(str::parse::<usize>) {
                    Some(Ok(n)) => {
                        if self.cpus.as_ref().is_some_and(|cpus| cpus.contains(&n)) {
                            mine.0.busy += times.busy;
                            mine.0.total += times.total;
                            mine.1 += 1;
                        }
                    }
                    _ => all_cpus = Some(times),
                }
            } else if let Some(mem) = line.strip_prefix("/proc/meminfo:") {
                meminfo.push_str(mem);
                meminfo.push('\n');
            } else if let Some(psi) = line.strip_prefix("/proc/pressure/cpu:") {
                frame.stall = procfs::parse_cpu_pressure(psi);
            } else if let Some(ticks) = own_ticks(line) {
                let pid = line
                    .split_ascii_whitespace()
                    .next()
                    .and_then(|p| p.parse().ok());
                if let Some(pid) = pid
                    && frame.jobs.insert(pid, ticks).is_none()
                    && procfs::parse_pid_stat_runnable(line)
                {
                    frame.runnable += 1;
                }
            }
        }
        frame.cpu = match (mine.1, all_cpus) {
            (n, _) if n > 0 => Some(mine),
            (_, Some(all)) => {
                // The whole machine: as many CPUs as it has lines for.
                let count = self
                    .lines
                    .iter()
                    .filter(|l| {
                        l.strip_prefix("/proc/stat:cpu")
                            .is_some_and(|r| r.starts_with(|c: char| c.is_ascii_digit()))
                    })
                    .count();
                Some((all, count.max(1)))
            }
            _ => None,
        };
        frame.memory = procfs::parse_meminfo(&meminfo);
        frame
    }
}

/// The own CPU ticks (`utime + stime`, fields 14 and 15) of a `/proc/PID/stat`
/// line; `None` if it is not one. Fields are counted from the last `)`: the
/// command name may hold spaces and parentheses.
fn own_ticks(line: &str) -> Option<u64> {
    let after_name = &line[line.rfind(')')? + 1..];
    let mut fields = after_name.split_ascii_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

/// `0-1,3` → `[0, 1, 3]`; `None` if malformed or empty.
fn parse_cpu_list(list: &str) -> Option<Vec<usize>> {
    let mut cpus = Vec::new();
    for part in list.split(',').filter(|p| !p.is_empty()) {
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b): (usize, usize) = (a.parse().ok()?, b.parse().ok()?);
                if b < a || b - a > 65_536 {
                    return None;
                }
                cpus.extend(a..=b);
            }
            None => cpus.push(part.parse().ok()?),
        }
    }
    (!cpus.is_empty()).then_some(cpus)
}

/// What a host's controller needs of one window: the machine's load as the
/// local probe reports it, and what this run's jobs on the host cost.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct HostLoad {
    /// CPU busy share and stall over the window, memory, and the host's CPUs.
    pub(crate) reading: LoadReading,
    /// Cores our jobs used over the window.
    pub(crate) our_cpu: Option<f64>,
    /// Our job processes running or ready to run at the end of the window.
    pub(crate) our_runnable: Option<f64>,
}

/// Turns consecutive frames into [`HostLoad`]s.
#[derive(Debug, Default)]
pub(crate) struct LoadMeter {
    last: Option<Frame>,
}

impl LoadMeter {
    /// The load over the window since the previous frame (the first frame has no
    /// window: only memory, and no CPU figure). `cores`: the host's probed cores,
    /// used when the frame does not say which CPUs are the host's. `share`: the
    /// part of the host's jobs that the monitor's master carries (0..=1).
    pub(crate) fn next(&mut self, frame: Frame, cores: usize, share: f64) -> HostLoad {
        let previous = self.last.replace(frame);
        let frame = self.last.as_ref().unwrap_or_else(|| unreachable!());
        let cpus = frame.cpu.map_or(cores, |(_, n)| n).max(1) as f64;
        let mut reading = LoadReading::new(
            None,
            None,
            cpus,
            frame.memory.map(|m| m.available),
            frame.memory.map(|m| m.total),
        );
        let Some(before) = previous else {
            return HostLoad {
                reading,
                our_cpu: None,
                our_runnable: None,
            };
        };
        let (Some((a, n_a)), Some((b, n_b))) = (before.cpu, frame.cpu) else {
            return HostLoad {
                reading,
                our_cpu: None,
                our_runnable: Some(frame.runnable as f64),
            };
        };
        let total = b
            .total
            .checked_sub(a.total)
            .filter(|&t| t > 0 && n_a == n_b);
        let Some(total) = total else {
            return HostLoad {
                reading,
                our_cpu: None,
                our_runnable: Some(frame.runnable as f64),
            };
        };
        let busy = b.busy.saturating_sub(a.busy);
        reading.cpu_busy = Some((busy as f64 / total as f64).clamp(0.0, 1.0));
        // The window in ticks of one CPU, and in µs.
        let window_ticks = total as f64 / n_b as f64;
        let window_us = window_ticks / TICKS_PER_SECOND * 1e6;
        if let (Some(s0), Some(s1)) = (before.stall, frame.stall) {
            reading.cpu_stall = Some((s1.saturating_sub(s0) as f64 / window_us).clamp(0.0, 1.0));
        }
        let ours: u64 = frame
            .jobs
            .iter()
            .map(|(pid, &now)| match before.jobs.get(pid) {
                Some(&then) => now.saturating_sub(then),
                None => now,
            })
            .sum();
        let ended = match (before.session, frame.session) {
            (Some((a, then)), Some((b, now))) if a == b && share > 0.0 => {
                now.saturating_sub(then) as f64 / share.min(1.0)
            }
            _ => 0.0,
        };
        HostLoad {
            reading,
            our_cpu: Some((ours as f64 + ended) / window_ticks),
            our_runnable: Some(frame.runnable as f64),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A frame as the script prints it, on a machine with two CPUs.
    fn frame_text(cpu0: (u64, u64), cpu1: (u64, u64), stall: u64, jobs: &[&str]) -> String {
        let mut text = String::from("@frame\n");
        let all = (cpu0.0 + cpu1.0, cpu0.1 + cpu1.1);
        for (name, (busy, idle)) in [("cpu ", all), ("cpu0", cpu0), ("cpu1", cpu1)] {
            text += &format!("/proc/stat:{name} {busy} 0 0 {idle} 0 0 0 0 0 0\n");
        }
        text += "/proc/meminfo:MemTotal:       1000 kB\n";
        text += "/proc/meminfo:MemAvailable:   600 kB\n";
        text +=
            &format!("/proc/pressure/cpu:some avg10=1.00 avg60=1.00 avg300=1.00 total={stall}\n");
        for job in jobs {
            text += job;
            text += "\n";
        }
        text + "@end\n"
    }

    /// A `/proc/PID/stat` line with these own ticks (utime, stime) and state.
    fn stat(pid: u32, state: char, utime: u64, stime: u64) -> String {
        format!(
            "{pid} (sh) {state} 1 {pid} {pid} 0 -1 4194560 335 0 0 0 {utime} {stime} 900 900 20 0 1 0"
        )
    }

    fn frames(text: &str, parser: &mut Frames) -> Vec<Frame> {
        text.lines().filter_map(|l| parser.push(l)).collect()
    }

    #[test]
    fn cpu_lists_parse_ranges_and_singles() {
        assert_eq!(parse_cpu_list("0-1,3"), Some(vec![0, 1, 3]));
        assert_eq!(parse_cpu_list("1"), Some(vec![1]));
        assert_eq!(parse_cpu_list(""), None);
        assert_eq!(parse_cpu_list("2-1"), None);
        assert_eq!(parse_cpu_list("x"), None);
    }

    #[test]
    fn the_pattern_matches_the_nonce_but_not_itself() {
        assert_eq!(pattern("3fa2"), "[3]fa2");
        assert!(!pattern("3fa2").contains("3fa2"));
    }

    #[test]
    fn a_host_on_one_cpu_is_busy_when_its_cpu_is_whatever_the_other_does() {
        let mut parser = Frames::default();
        parser.push("@cpus 1");
        assert_eq!(parser.cpu_count(), Some(1));
        // cpu0 idle, cpu1 (the host's) 75 % busy over 100 ticks; our one job used
        // 50 ticks of its own (cutime/cstime, 900 each, are not counted).
        let text = frame_text((0, 0), (0, 0), 0, &[&stat(7, 'S', 10, 0)])
            + &frame_text((0, 100), (75, 25), 500_000, &[&stat(7, 'R', 40, 20)]);
        let got = frames(&text, &mut parser);
        assert_eq!(got.len(), 2);
        let mut meter = LoadMeter::default();
        let first = meter.next(got[0].clone(), 1, 1.0);
        assert_eq!(first.reading.cpu_busy, None, "no window yet");
        assert_eq!(first.reading.memory_available, Some(600 * 1024));
        let load = meter.next(got[1].clone(), 1, 1.0);
        assert_eq!(load.reading.cpus, 1.0);
        assert_eq!(load.reading.cpu_busy, Some(0.75));
        assert_eq!(load.reading.memory_total, Some(1000 * 1024));
        // 100 ticks = 1 s = 1e6 µs; 0.5 s of stall.
        assert_eq!(load.reading.cpu_stall, Some(0.5));
        assert_eq!(load.our_cpu, Some(0.5));
        assert_eq!(load.our_runnable, Some(1.0));
    }

    #[test]
    fn without_a_cpu_list_the_whole_machine_counts() {
        let mut parser = Frames::default();
        let text = frame_text((0, 0), (0, 0), 0, &[])
            + &frame_text((100, 0), (0, 100), 0, &[&stat(8, 'R', 30, 0)]);
        let got = frames(&text, &mut parser);
        let mut meter = LoadMeter::default();
        meter.next(got[0].clone(), 4, 1.0);
        let load = meter.next(got[1].clone(), 4, 1.0);
        assert_eq!(load.reading.cpus, 2.0);
        assert_eq!(load.reading.cpu_busy, Some(0.5));
        // A job new in this frame adds all its ticks: 30 over a window of 100
        // ticks per CPU.
        assert_eq!(load.our_cpu, Some(0.3));
    }

    #[test]
    fn a_process_listed_twice_counts_once_and_ended_ones_drop_out() {
        let mut parser = Frames::default();
        parser.push("@cpus 0-1");
        let a = stat(5, 'S', 100, 0);
        let text = frame_text((0, 0), (0, 0), 0, &[&a, &stat(6, 'S', 50, 0)])
            + &frame_text((10, 90), (10, 90), 0, &[&a, &a, &stat(9, 'R', 2, 0)]);
        let got = frames(&text, &mut parser);
        assert_eq!(got[1].jobs.len(), 2);
        assert_eq!(got[1].runnable, 1);
        let mut meter = LoadMeter::default();
        meter.next(got[0].clone(), 2, 1.0);
        let load = meter.next(got[1].clone(), 2, 1.0);
        assert_eq!(load.our_cpu, Some(0.02));
    }

    #[test]
    fn jobs_too_short_to_be_seen_count_when_their_master_reaps_them() {
        let mut parser = Frames::default();
        parser.push("@cpus 0");
        // The master's sshd: 100 ticks of its own, 900 + 900 reaped; then its
        // sessions' jobs ended, 20 more ticks, no job seen running.
        let sshd = |reaped: u64| {
            format!("@session\n40 (sshd) S 1 40 40 0 -1 0 0 0 0 0 60 40 {reaped} 900 20 0")
        };
        let text = frame_text((0, 0), (0, 0), 0, &[&sshd(900)])
            + &frame_text((50, 50), (0, 0), 0, &[&sshd(920)]);
        let got = frames(&text, &mut parser);
        assert_eq!(got[1].session, Some((40, 60 + 40 + 920 + 900)));
        assert!(got[1].jobs.is_empty(), "the sshd line is not a job");
        let mut meter = LoadMeter::default();
        meter.next(got[0].clone(), 1, 1.0);
        assert_eq!(meter.next(got[1].clone(), 1, 1.0).our_cpu, Some(0.2));
        // The master carries half the host's jobs: the other half ended alike.
        let mut meter = LoadMeter::default();
        meter.next(got[0].clone(), 1, 0.5);
        assert_eq!(meter.next(got[1].clone(), 1, 0.5).our_cpu, Some(0.4));
    }

    #[test]
    fn lines_outside_a_frame_and_partial_frames_are_ignored() {
        let mut parser = Frames::default();
        assert_eq!(parser.push("noise"), None);
        assert_eq!(parser.push("@end"), None);
        parser.push("@frame");
        parser.push("/proc/stat:cpu  1 0 0 1 0 0 0 0 0 0");
        let frame = parser.push("@end").expect("a frame");
        assert!(frame.cpu.is_some());
        assert_eq!(frame.memory, None);
    }

    #[test]
    fn the_script_keeps_its_code_and_loses_its_comments() {
        let text = script();
        assert!(!text.lines().any(|l| l.trim_start().starts_with('#')));
        assert!(
            text.contains("@frame") && text.contains("/proc/stat"),
            "{text}"
        );
    }
}
