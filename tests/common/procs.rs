//! Scans of `/proc` for the processes a test started: by the test's marker on
//! their command line, or by the process groups of its jobs; and the assertion
//! that none of them outlives atp-run.
//!
//! Invariant: zombies are not "running" (on this machine PID 1 does not reap
//! orphans, so zombies of killed pipelines may linger), and the test process
//! itself is never one of "the processes with a marker".

use std::fs;
use std::time::{Duration, Instant};

use super::PATIENCE;

/// A live (not zombie) process.
#[derive(Debug, Clone)]
pub struct Process {
    pub pid: i32,
    pub pgid: i32,
    /// argv joined with spaces.
    pub cmdline: String,
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && hay.windows(needle.len()).any(|w| w == needle)
}

/// Every live process except zombies.
pub fn live_processes() -> Vec<Process> {
    let mut out = Vec::new();
    let Ok(dir) = fs::read_dir("/proc") else {
        return out;
    };
    for entry in dir.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .filter(|s| s.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|s| s.parse::<i32>().ok())
        else {
            continue;
        };
        let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // `pid (comm) state ppid pgrp ...`; comm may contain spaces and parentheses.
        let Some((_, after_comm)) = stat.rsplit_once(')') else {
            continue;
        };
        let mut fields = after_comm.split_whitespace();
        let state = fields.next().unwrap_or("Z");
        if state == "Z" || state == "X" {
            continue;
        }
        let pgid = fields.nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
        let cmdline = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        out.push(Process {
            pid,
            pgid,
            cmdline: String::from_utf8_lossy(&cmdline)
                .replace('\0', " ")
                .trim_end()
                .to_owned(),
        });
    }
    out
}

/// Live processes whose command line contains `marker` (never this test process).
pub fn processes_with(marker: &str) -> Vec<Process> {
    let me = std::process::id() as i32;
    live_processes()
        .into_iter()
        .filter(|p| p.pid != me && contains(p.cmdline.as_bytes(), marker.as_bytes()))
        .collect()
}

/// Live `sleep <marker>` processes.
pub fn sleepers(marker: &str) -> Vec<Process> {
    processes_with(marker)
        .into_iter()
        .filter(|p| p.cmdline.starts_with("sleep "))
        .collect()
}

/// Live processes in any of `groups`.
pub fn members_of(groups: &[i32]) -> Vec<Process> {
    live_processes()
        .into_iter()
        .filter(|p| groups.contains(&p.pgid))
        .collect()
}

/// Asserts that, within [`PATIENCE`], no live process carries `marker` nor is in
/// one of `groups` (a job's whole pipeline: `cat` carries no marker).
pub fn assert_nothing_left(marker: &str, groups: &[i32]) {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let mut left = processes_with(marker);
        left.extend(members_of(groups));
        if left.is_empty() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "processes left running after atp-run exited: {left:#?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}
