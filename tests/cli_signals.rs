//! CLI tests of how `atp-run` stops: SIGINT, SIGTERM and SIGHUP, the grace period
//! before SIGKILL, a second Ctrl-C, and `--repeat` watchdogs (with `--interval`),
//! which only ever end by a signal. After every run, nothing it started may be left
//! running: each test's jobs carry a unique `sleep 1000.<marker>`, and the process
//! groups of the jobs are checked too (a pipeline's `cat` carries no marker).
#![cfg(feature = "cli")]

mod common;

use std::time::{Duration, Instant};

use nix::sys::signal::Signal;

use common::background::Running;
use common::outcome::{Run, status_lines, summary_line};
use common::procs::{assert_nothing_left, sleepers};
use common::sandbox::{Sandbox, bin};
use common::{RUN_LIMIT, eventually};

/// Waits until `count` `sleep <marker>` processes run, each in its own process group
/// (not atp-run's); returns the groups.
fn running_job_groups(running: &Running, m: &str, count: usize) -> Vec<i32> {
    eventually(&format!("{count} jobs to be running"), || {
        sleepers(m).len() == count
    });
    let mut groups: Vec<i32> = sleepers(m).iter().map(|p| p.pgid).collect();
    groups.sort();
    groups.dedup();
    assert_eq!(
        groups.len(),
        count,
        "jobs must be in their own process groups"
    );
    let own = nix::unistd::getpgid(Some(running.pid())).unwrap().as_raw();
    assert!(
        !groups.contains(&own),
        "a job is in atp-run's process group"
    );
    groups
}

/// Waits until atp-run has taken delivery of a process-directed `signal` (it is no
/// longer pending), so that a next one is not merged with it by the kernel.
fn wait_delivered(running: &Running, signal: Signal) {
    let bit = 1u64 << (signal as i32 - 1);
    let path = format!("/proc/{}/status", running.pid());
    eventually("atp-run to take delivery of the signal", || {
        let status = std::fs::read_to_string(&path).unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("ShdPnd:"))
            .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
            .is_some_and(|pending| pending & bit == 0)
    });
}

/// 8 running `sleep | cat` pipelines, then `signal` to atp-run: exit 130, an
/// "interrupted" summary, every job killed, nothing left.
fn interrupt_with(signal: Signal) {
    let (sb, m) = Sandbox::with_marker();
    let jobs: String = (0..8).map(|_| format!("sleep {m} | cat\n")).collect();
    sb.write("jobs", &jobs);
    let mut running = sb.spawn(["-j", "8", "jobs"]);
    let groups = running_job_groups(&running, &m, 8);

    running.signal(signal);
    let run = running.wait_for_exit(RUN_LIMIT).run;
    run.assert_code(130);
    assert!(
        run.summary().starts_with(
            "atp-run: interrupted: 8 jobs ran, 0 succeeded, 0 failed, 8 stopped by the interrupt"
        ),
        "{signal}: {}",
        run.summary()
    );
    let lines = run.status_lines();
    assert_eq!(lines.len(), 8, "{}", run.stderr);
    for line in lines {
        assert!(
            line.contains("] killed by SIGTERM after ")
                && line.ends_with(&format!(": sleep {m} | cat")),
            "{signal}: {line}"
        );
    }
    assert_nothing_left(&m, &groups);
}

#[test]
fn sigint_stops_every_job_and_exits_with_130() {
    interrupt_with(Signal::SIGINT);
}

#[test]
fn sigterm_stops_every_job_and_exits_with_130() {
    interrupt_with(Signal::SIGTERM);
}

#[test]
fn sighup_stops_every_job_and_exits_with_130() {
    interrupt_with(Signal::SIGHUP);
}

/// Two jobs that ignore SIGTERM, running under `atp-run --grace <grace>`.
fn start_stubborn_jobs(sb: &Sandbox, m: &str, grace: &str) -> (Running, Vec<i32>) {
    let jobs = format!("trap '' TERM; sleep {m}\ntrap '' TERM; sleep {m} | cat\n");
    sb.write("jobs", &jobs);
    let running = sb.spawn(["--grace", grace, "jobs"]);
    let groups = running_job_groups(&running, m, 2);
    (running, groups)
}

fn assert_all_killed_by_sigkill(run: &Run) {
    let lines = run.status_lines();
    assert_eq!(lines.len(), 2, "{}", run.stderr);
    for line in lines {
        assert!(line.contains("] killed by SIGKILL after "), "{line}");
    }
}

#[test]
fn jobs_ignoring_sigterm_are_killed_after_the_grace_period() {
    let (sb, m) = Sandbox::with_marker();
    let (mut running, groups) = start_stubborn_jobs(&sb, &m, "300ms");

    let sent = Instant::now();
    running.signal(Signal::SIGINT);
    let finished = running.wait_for_exit(RUN_LIMIT);
    finished.run.assert_code(130);
    assert!(
        finished.ended - sent >= Duration::from_millis(300),
        "atp-run did not wait for the grace period: {:?}",
        finished.ended - sent
    );
    assert_all_killed_by_sigkill(&finished.run);
    finished
        .run
        .assert_summary_starts_with("atp-run: interrupted: ");
    assert_nothing_left(&m, &groups);
}

#[test]
fn a_second_sigint_kills_at_once() {
    let (sb, m) = Sandbox::with_marker();
    let (mut running, groups) = start_stubborn_jobs(&sb, &m, "1000s");

    running.signal(Signal::SIGINT);
    wait_delivered(&running, Signal::SIGINT);
    running.signal(Signal::SIGINT);
    // Long before the 1000 s grace period.
    let finished = running.wait_for_exit(RUN_LIMIT);
    finished.run.assert_code(130);
    assert_all_killed_by_sigkill(&finished.run);
    assert_nothing_left(&m, &groups);
}

// ----------------------------------------------------------------------- --repeat

/// One row of the `runs  failed  command` table printed at the end of `--repeat`.
#[derive(Debug, PartialEq, Eq)]
struct Row {
    runs: u64,
    failed: u64,
}

fn table_row(stderr: &str, command: &str) -> Row {
    let mut lines = stderr.lines().skip_while(|l| *l != "runs  failed  command");
    assert!(lines.next().is_some(), "no runs table in:\n{stderr}");
    let rows: Vec<Row> = lines
        .take_while(|l| !l.starts_with("atp-run: "))
        .filter_map(|l| {
            let mut words = l.split_whitespace();
            let runs = words.next()?.parse().ok()?;
            let failed = words.next()?.parse().ok()?;
            let rest: Vec<&str> = words.collect();
            (rest.join(" ") == command).then_some(Row { runs, failed })
        })
        .collect();
    assert_eq!(rows.len(), 1, "no single row for {command:?} in:\n{stderr}");
    rows.into_iter().next().unwrap()
}

/// Status lines of runs of job `number`, as (run, line).
fn runs_of(stderr: &str, number: u64) -> Vec<(u64, String)> {
    let prefix = format!("[{number} run ");
    status_lines(stderr)
        .into_iter()
        .filter_map(|l| {
            let rest = l.strip_prefix(&prefix)?;
            let (run, _) = rest.split_once(']')?;
            Some((run.parse().ok()?, l.to_owned()))
        })
        .collect()
}

#[test]
fn repeat_reruns_every_command_until_sigint_and_counts_runs() {
    let (sb, m) = Sandbox::with_marker();
    sb.write("jobs", format!("echo tick\nsleep {m}\nfalse\n"));
    let mut running = sb.spawn(["--repeat", "jobs"]);
    let groups = running_job_groups(&running, &m, 1);
    eventually("several runs of each short command", || {
        let err = running.stderr_so_far();
        runs_of(&err, 1).len() >= 3 && runs_of(&err, 3).len() >= 3
    });

    running.signal(Signal::SIGINT);
    let run = running.wait_for_exit(RUN_LIMIT).run;
    run.assert_code(130);
    let err = &run.stderr;

    // Every run is reported, numbered from 1, and failing runs do not stop the loop.
    // The last run may have been under way when SIGINT came: then it was killed.
    let ticks = runs_of(err, 1);
    let falses = runs_of(err, 3);
    for (runs, verdict) in [(&ticks, "ok"), (&falses, "failed with exit code 1")] {
        for (i, (run, line)) in runs.iter().enumerate() {
            assert_eq!(*run, i as u64 + 1, "runs out of order:\n{err}");
            let last = i + 1 == runs.len();
            assert!(
                line.contains(&format!("] {verdict} after "))
                    || (last && line.contains("] killed by SIG")),
                "{line}"
            );
        }
    }
    let ticks_out = run.stdout_str().lines().filter(|l| *l == "tick").count();
    assert!(
        ticks_out == ticks.len() || ticks_out + 1 == ticks.len(),
        "{ticks_out} output blocks for {} runs",
        ticks.len()
    );

    // The table counts the runs reported, and the failures among them; a run
    // stopped by the interrupt is neither (stopping a watchdog is not its failure).
    let finished = |runs: &[(u64, String)]| {
        let stopped = runs
            .last()
            .is_some_and(|(_, l)| l.contains("] killed by SIG"));
        let runs = runs.len() as u64 - u64::from(stopped);
        (runs, stopped)
    };
    let (tick_runs, _) = finished(&ticks);
    assert_eq!(
        table_row(err, "echo tick"),
        Row {
            runs: tick_runs,
            failed: 0
        }
    );
    let (n, _) = finished(&falses);
    assert_eq!(table_row(err, "false"), Row { runs: n, failed: n });
    let sleeps = runs_of(err, 2);
    assert_eq!(sleeps.len(), 1, "{err}");
    assert!(
        sleeps[0].1.contains("] killed by SIGTERM after "),
        "{}",
        sleeps[0].1
    );
    assert_eq!(
        table_row(err, &format!("sleep {m}")),
        Row { runs: 0, failed: 0 },
        "the watchdog stopped by the interrupt did not fail"
    );
    assert!(
        summary_line(err).starts_with("atp-run: interrupted: "),
        "{}",
        summary_line(err)
    );
    assert_nothing_left(&m, &groups);
}

fn stamps(sb: &Sandbox) -> Vec<u128> {
    std::fs::read_to_string(sb.join("stamps"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect()
}

#[test]
fn repeat_with_an_interval_waits_between_runs() {
    let (sb, m) = Sandbox::with_marker();
    sb.write("jobs", format!("date +%s%N >> stamps\nsleep {m}\n"));
    let mut running = sb.spawn(["--repeat", "--interval", "300ms", "jobs"]);
    let groups = running_job_groups(&running, &m, 1);
    eventually("3 runs", || stamps(&sb).len() >= 3);

    running.signal(Signal::SIGINT);
    let run = running.wait_for_exit(RUN_LIMIT).run;
    run.assert_code(130);
    let stamps = stamps(&sb);
    for pair in stamps.windows(2) {
        let gap = Duration::from_nanos((pair[1] - pair[0]) as u64);
        assert!(
            gap >= Duration::from_millis(290),
            "runs {gap:?} apart with --interval 300ms: {stamps:?}"
        );
    }
    assert_nothing_left(&m, &groups);
}

#[test]
fn sigint_cuts_a_long_interval_short() {
    let (sb, m) = Sandbox::with_marker();
    sb.write("jobs", format!("date +%s%N >> stamps\nsleep {m}\n"));
    let mut running = sb.spawn(["--repeat", "--interval", "1000s", "jobs"]);
    let groups = running_job_groups(&running, &m, 1);
    eventually("the first run", || stamps(&sb).len() == 1);
    eventually("its status line", || {
        runs_of(&running.stderr_so_far(), 1).len() == 1
    });

    running.signal(Signal::SIGINT);
    // Long before the 1000 s interval.
    let run = running.wait_for_exit(RUN_LIMIT).run;
    run.assert_code(130);
    assert_eq!(stamps(&sb).len(), 1);
    assert_eq!(
        table_row(&run.stderr, "date +%s%N >> stamps"),
        Row { runs: 1, failed: 0 }
    );
    assert_nothing_left(&m, &groups);
}

/// A job that touches the terminal is stopped by SIGTTOU/SIGTTIN (jobs run in
/// background process groups); atp-run must kill it rather than wait for ever.
/// Needs a controlling terminal, which `script` (util-linux) provides.
#[test]
fn a_job_that_uses_the_terminal_is_killed_instead_of_hanging_the_run() {
    if std::process::Command::new("script")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("skipped: `script` (util-linux) is not installed");
        return;
    }
    let sb = Sandbox::new();
    sb.write("jobs", "stty sane < /dev/tty; echo done\necho fine\n");
    let command = format!("'{}' --no-progress --color never jobs", bin().display());
    let mut child = std::process::Command::new("script")
        .args(["-qec", &command, "/dev/null"])
        .current_dir(sb.path())
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut finished = None;
    eventually("the run ends", || {
        finished = child.try_wait().unwrap();
        finished.is_some()
    });
    let mut output = String::new();
    std::io::Read::read_to_string(child.stdout.as_mut().unwrap(), &mut output).unwrap();
    if !output.contains("fine") {
        eprintln!("skipped: `script` could not run atp-run on a terminal here: {output}");
        return;
    }
    assert!(output.contains("killed by SIGKILL"), "{output}");
    assert!(
        output.contains("used the terminal") || output.contains("use the terminal"),
        "{output}"
    );
    assert!(output.contains("1 succeeded, 1 failed"), "{output}");
}

/// The state letter of process `pid` (`T` when stopped), from /proc.
fn state_of(pid: nix::unistd::Pid) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit_once(')')?.1.trim_start().chars().next()
}

#[test]
fn ctrl_z_while_jobs_are_being_spawned_never_blocks_the_run() {
    // A typed Ctrl-Z goes to atp-run's whole process group, which includes a job
    // being spawned until it has moved to its own group: such a child used to stop
    // before `exec`, leaving its worker blocked in the spawn for good, and the run
    // then hung at Ctrl-C with "SIGTERM sent to 0 running jobs". atp-run runs here
    // in a group of its own; each SIGTSTP goes to that group, as the terminal's does,
    // and SIGCONT to atp-run alone, as `kill -CONT` does, while short jobs start
    // all the time.
    let sb = Sandbox::new();
    let file = sb.write("jobs.txt", "true\n".repeat(200_000));
    let mut cmd = sb.command(["-j", "4", file.to_str().unwrap()]);
    std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    cmd.stdin(std::process::Stdio::null());
    let mut running = Running::spawn(cmd);
    let pid = running.pid();
    eventually("jobs to be running", || {
        running.stderr_so_far().contains("] ok after ")
    });
    for _ in 0..200 {
        if !running.is_running() {
            break;
        }
        nix::sys::signal::killpg(pid, Signal::SIGTSTP).unwrap();
        eventually("atp-run to stop", || {
            matches!(state_of(pid), Some('T' | 'Z' | 'X') | None)
        });
        running.signal(Signal::SIGCONT);
        eventually("atp-run to continue", || state_of(pid) != Some('T'));
    }
    let interrupted = running.is_running();
    if interrupted {
        running.signal(Signal::SIGINT);
    }
    let finished = running.wait_for_exit(RUN_LIMIT);
    finished.run.assert_code(if interrupted { 130 } else { 0 });
}
