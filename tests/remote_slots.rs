//! Per-host adaptive slots and `{host}` against real OpenSSH servers: the three
//! loopback hosts of `.ci/sshd-hosts.sh` (host1..3 with 2/1/1 cores). Skipped with
//! a printed reason when they are not up, failed under `CI=true`.
//!
//! Concurrency is measured from the jobs' own start and end times on the host
//! (`date +%s%N`, written to a file under the shared /tmp), never from our wall
//! clock. The test hosts share this 2-core machine with everything else running
//! on it, so every bound is one the controller keeps whatever the machine's load:
//! waiting jobs fan out because their own cost on the host is measured (not the
//! machine's busy CPU), computing jobs hold near the host's cores, pins hold.
#![cfg(feature = "cli")]

mod common;
mod remote;

use std::fs;
use std::path::Path;
use std::process::{Command, Output};
use std::sync::Mutex;

use common::pty::Pty;
use remote::{BIN, spawn_fed, test_hosts, text};

/// The tests measure concurrency on the same hosts: one at a time.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// Runs `atp-run --ssh 'ssh -F CONFIG' ARGS` on `stdin`.
fn atp(config: &Path, args: &[&str], stdin: &str) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.arg("--ssh")
        .arg(format!("ssh -F {}", config.display()))
        .args(args);
    spawn_fed(&mut cmd, stdin)
        .wait_with_output()
        .unwrap_or_else(|e| panic!("atp-run: {e}"))
}

/// `n` input lines.
fn lines(n: usize) -> String {
    (1..=n).map(|i| format!("{i}\n")).collect()
}

/// A job that runs `body` and appends its own start and end (ns) to `times`.
fn timed(times: &Path, body: &str) -> String {
    format!(
        "s=$(date +%s%N); {body}; e=$(date +%s%N); echo \"$s $e\" >> {} #",
        times.display()
    )
}

/// The most jobs that ran at once, by their own start and end times.
fn most_at_once(times: &Path) -> usize {
    let text = fs::read_to_string(times).unwrap_or_else(|e| panic!("{}: {e}", times.display()));
    let mut events: Vec<(u128, i32)> = Vec::new();
    for line in text.lines() {
        let mut f = line
            .split_whitespace()
            .map(|n| n.parse::<u128>().unwrap_or(0));
        let (start, end) = (f.next().unwrap_or(0), f.next().unwrap_or(0));
        events.push((start, 1));
        events.push((end, -1));
    }
    // An end before a start at the same instant.
    events.sort();
    let (mut now, mut most) = (0i32, 0i32);
    for (_, step) in events {
        now += step;
        most = most.max(now);
    }
    usize::try_from(most).unwrap_or(0)
}

#[test]
fn waiting_jobs_fan_out_past_a_one_core_hosts_core() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let Some(config) = test_hosts() else { return };
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let times = dir.path().join("times");
    // host2 has one core: fixed slots would run these one at a time (30 s).
    let out = atp(
        &config,
        &["-S", "host2", "--", &timed(&times, "sleep 1")],
        &lines(30),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        fs::read_to_string(&times)
            .unwrap_or_default()
            .lines()
            .count(),
        30
    );
    let most = most_at_once(&times);
    assert!(
        most > 1,
        "sleeping jobs on a 1-core host ran {most} at once"
    );
}

#[test]
fn computing_jobs_hold_near_a_one_core_hosts_core() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let Some(config) = test_hosts() else { return };
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let times = dir.path().join("times");
    let spin = "i=0; while [ $i -lt 300000 ]; do i=$((i+1)); done";
    let out = atp(
        &config,
        &["-S", "host3", "--", &timed(&times, spin)],
        &lines(8),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    // The controller may probe one slot past the core while the CPU shows idle
    // time (additive increase), and one more when a window falls between two jobs
    // on a quiet machine; growing by the backlog would run all 8 at once.
    let most = most_at_once(&times);
    assert!(
        most <= 3,
        "computing jobs on a 1-core host ran {most} at once"
    );
}

#[test]
fn a_pinned_host_never_runs_more_than_its_pin() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let Some(config) = test_hosts() else { return };
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let times = dir.path().join("times");
    // Waiting jobs, which an adaptive host would fan out (see above).
    let job = timed(&times, "sleep 0.5");
    let out = atp(&config, &["-S", "2/host2", "--", &job], &lines(16));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let most = most_at_once(&times);
    assert!(most <= 2, "{most} at once on a host pinned to 2");
}

#[test]
fn each_job_gets_its_host_as_the_host_column_says() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let Some(config) = test_hosts() else { return };
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let log = dir.path().join("joblog");
    let args = [
        "-S",
        "host1,root@host2,host3,:",
        "--joblog",
        log.to_str().unwrap_or(""),
        "--",
        "echo {} {host} {sshlogin} $(hostname); sleep 0.2",
    ];
    let out = atp(&config, &args, &lines(16));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let log = fs::read_to_string(&log).unwrap_or_else(|e| panic!("joblog: {e}"));
    let stdout = text(&out.stdout);
    let mut hosts_seen = std::collections::BTreeSet::new();
    for row in log.lines().skip(1) {
        let f: Vec<&str> = row.split('\t').collect();
        let (seq, login) = (f[0], f[1]);
        let line = stdout
            .lines()
            .find(|l| l.split(' ').next() == Some(seq))
            .unwrap_or_else(|| panic!("job {seq} printed nothing: {stdout}"));
        let words: Vec<&str> = line.split(' ').collect();
        // {host} is the login without user@, {sshlogin} the login as written.
        let host = login.rsplit('@').next().unwrap_or(login);
        assert_eq!(
            words[1..3],
            [host, login],
            "{line} vs the Host column {login}"
        );
        if login != ":" {
            assert_eq!(words[3], host, "{line}: ran elsewhere than {login}");
        }
        hosts_seen.insert(login.to_owned());
    }
    assert!(hosts_seen.len() >= 2, "{hosts_seen:?}");
}

#[test]
fn the_progress_line_shows_each_hosts_jobs_and_slots_within_the_width() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let Some(config) = test_hosts() else { return };
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let ssh = format!("ssh -F {}", config.display());
    let jobs = dir.path().join("jobs");
    fs::write(&jobs, "sleep 2\n".repeat(6)).unwrap_or_else(|e| panic!("{e}"));
    let jobs = jobs.to_str().unwrap_or("");
    for cols in [120, 60] {
        let args = ["--ssh", &ssh, "-S", "2/host1,host2,host3", jobs];
        let mut pty = Pty::spawn(cols, 20, dir.path(), &args, &[]);
        let fits = |rows: &[String]| {
            rows.iter()
                .all(|r| r.chars().count() <= usize::from(cols) - 2)
        };
        if cols >= 120 {
            pty.wait_for("every host's jobs/slots", |rows| {
                rows.iter().any(|r| {
                    r.contains("host1 2/2") && r.contains("host2 ") && r.contains("host3 ")
                }) && fits(rows)
            });
        } else {
            // Too narrow for all three: the first host, then how many are left out.
            pty.wait_for("the first host and a count of the others", |rows| {
                rows.iter()
                    .any(|r| r.contains("host1 2/2 · ") && r.contains(" · +"))
                    && fits(rows)
            });
        }
        assert!(pty.wrapped_rows().is_empty(), "{}", pty.screen());
        assert_eq!(pty.wait_exit(), 0, "{}", pty.screen());
    }
}
