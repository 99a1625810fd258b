//! CLI tests of the variables GNU parallel puts in every job's environment:
//! `PARALLEL_SEQ` (the job's number, as `{#}`), `PARALLEL_JOBSLOT` (its slot, as
//! `{%}`) and `PARALLEL_PID` (atp-run's pid), on the real binary with real jobs:
//! command lists, templates, `--pipe`, `--retries` and `--repeat`. (Jobs on
//! remote hosts and Slurm steps: `remote_ssh.rs`, `remote_slurm.rs`.)
//!
//! Each job prints its placeholders and its variables side by side, so every line
//! checks that the two agree; where the values are fixed (`-k`, `-j 1`) they are
//! compared exactly.
#![cfg(feature = "cli")]

mod common;

use std::process::Stdio;

use common::background::Running;
use common::outcome::Run;
use common::sandbox::Sandbox;
use common::{RUN_LIMIT, eventually};
use nix::sys::signal::Signal;

/// What a template job prints: its placeholders, then its variables.
const SHOW: &str = "echo {#} {%} $PARALLEL_SEQ $PARALLEL_JOBSLOT";

/// Runs `atp-run args` on `stdin`; returns the run and atp-run's pid.
fn run_with_pid(sb: &Sandbox, args: &[&str], stdin: &str) -> (Run, u32) {
    let mut cmd = sb.command(args);
    cmd.stdin(Stdio::piped());
    let mut running = Running::spawn(cmd);
    running.write_stdin(stdin.as_bytes());
    drop(running.child.stdin.take());
    let pid = running.child.id();
    (running.wait_for_exit(RUN_LIMIT).run, pid)
}

/// Each line of `text` split into its words, as numbers (a missing or empty
/// variable is a test failure naming the line).
fn numbers(text: &str) -> Vec<Vec<u64>> {
    text.lines()
        .map(|line| {
            line.split_whitespace()
                .map(|w| w.parse().unwrap_or_else(|_| panic!("{w:?} in {line:?}")))
                .collect()
        })
        .collect()
}

/// Asserts that a line printed by [`SHOW`] (`{#} {%} SEQ JOBSLOT`, maybe more
/// after) has its variables equal to its placeholders, with a slot in 1..=jobs.
fn assert_agrees(line: &[u64], jobs: u64) {
    assert!(line.len() >= 4, "{line:?}");
    assert_eq!(line[2], line[0], "PARALLEL_SEQ is not {{#}}: {line:?}");
    assert_eq!(line[3], line[1], "PARALLEL_JOBSLOT is not {{%}}: {line:?}");
    assert!(
        (1..=jobs).contains(&line[1]),
        "slot out of 1..={jobs}: {line:?}"
    );
}

#[test]
fn template_jobs_get_their_number_slot_and_atp_runs_pid() {
    let sb = Sandbox::new();
    // $PPID: the job's shell is atp-run's own child.
    let template = format!("{SHOW} $PARALLEL_PID $PPID");
    let (run, pid) = run_with_pid(&sb, &["-j", "2", "-k", "--", &template], "a\nb\nc\nd\ne\n");
    run.assert_code(0);
    let lines = numbers(&run.stdout_str());
    assert_eq!(lines.len(), 5, "{}", run.stdout_str());
    for (i, line) in (1..).zip(&lines) {
        assert_eq!(line[0], i, "-k keeps input order: {lines:?}");
        assert_agrees(line, 2);
        assert_eq!(line[4], u64::from(pid), "PARALLEL_PID: {line:?}");
        assert_eq!(line[5], u64::from(pid), "the job's parent: {line:?}");
    }
}

#[test]
fn command_lines_get_them_too_and_they_replace_inherited_ones() {
    let sb = Sandbox::new();
    // As when atp-run itself runs inside a GNU parallel job: the job's own
    // values win. With -j 1 the slot is always 1.
    let run = Run::of(
        sb.command(["-j", "1", "-k"])
            .env("PARALLEL_SEQ", "999")
            .env("PARALLEL_JOBSLOT", "999")
            .env("PARALLEL_PID", "999")
            .stdin(
                std::fs::File::open(sb.write(
                    "jobs",
                    "echo $PARALLEL_SEQ $PARALLEL_JOBSLOT\n\
                 sh -c 'echo $PARALLEL_SEQ $PARALLEL_JOBSLOT'\n\
                 echo $PARALLEL_SEQ $PARALLEL_JOBSLOT $PARALLEL_PID\n",
                ))
                .expect("cannot open the jobs"),
            ),
    );
    run.assert_code(0);
    let lines = numbers(&run.stdout_str());
    assert_eq!(lines[..2], [vec![1, 1], vec![2, 1]], "{lines:?}");
    assert_eq!(lines[2][..2], [3, 1], "{lines:?}");
    assert_ne!(lines[2][2], 999, "PARALLEL_PID inherited: {lines:?}");
}

#[test]
fn pipe_blocks_are_numbered_as_their_jobs() {
    let sb = Sandbox::new();
    let command = format!("{SHOW}; cat >/dev/null");
    let run = sb.run(
        ["--pipe", "-N", "2", "-j", "2", "-k", &command],
        "1\n2\n3\n4\n5\n6\n7\n",
    );
    run.assert_code(0);
    let lines = numbers(&run.stdout_str());
    assert_eq!(lines.len(), 4, "{}", run.stdout_str());
    for (i, line) in (1..).zip(&lines) {
        assert_eq!(line[0], i, "{lines:?}");
        assert_agrees(line, 2);
    }
}

#[test]
fn every_attempt_of_a_retried_job_has_its_number_and_slot() {
    let sb = Sandbox::new();
    let template = format!("{SHOW} >> tries; exit 1");
    let run = sb.run(
        [
            "-j",
            "2",
            "--retries",
            "3",
            "--",
            &template,
            ":::",
            "a",
            "b",
        ],
        "",
    );
    run.assert_code(1);
    let tries = numbers(&sb.read_string("tries"));
    assert_eq!(tries.len(), 6, "{tries:?}");
    for job in [1, 2] {
        let attempts: Vec<_> = tries.iter().filter(|t| t[0] == job).collect();
        assert_eq!(attempts.len(), 3, "3 attempts of job {job}: {tries:?}");
        for attempt in &attempts {
            assert_agrees(attempt, 2);
            assert_eq!(attempt[3], attempts[0][3], "one slot per job: {tries:?}");
        }
    }
}

#[test]
fn every_repeat_run_keeps_its_commands_number() {
    let sb = Sandbox::new();
    let template = format!("{SHOW} {{}} >> runs");
    let mut running = sb.spawn([
        "--repeat",
        "-j",
        "2",
        "--interval",
        "20ms",
        "--",
        &template,
        ":::",
        "1",
        "2",
    ]);
    let runs_of = |n: &str| {
        let text = std::fs::read_to_string(sb.join("runs")).unwrap_or_default();
        text.lines()
            .filter(|l| l.ends_with(&format!(" {n}")))
            .count()
    };
    eventually("three runs of each command", || {
        runs_of("1") >= 3 && runs_of("2") >= 3
    });
    running.signal(Signal::SIGINT);
    running.wait_for_exit(RUN_LIMIT).run.assert_code(130);
    for run in numbers(&sb.read_string("runs")) {
        // The fifth word is the command's argument, which is its number here.
        assert_eq!(run[2], run[4], "PARALLEL_SEQ of a --repeat run: {run:?}");
        assert_agrees(&run, 2);
    }
}
