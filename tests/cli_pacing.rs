//! CLI tests of pacing, with real processes: `--delay` spaces job starts (first
//! attempts and retries, with many workers or the adaptive pool), the adaptive
//! pool does not grow workers that would only wait for their turn, and a long
//! delay never holds up Ctrl-C; `--shuf` runs every job once, in another order, `{#}`
//! following the order they run in; `--nice` is the niceness inside the job and
//! in what it starts.
//!
//! Start times are read by each job from /proc (field 22 of its shell's stat: the
//! clock tick at which the kernel created it), so spacing is checked as a lower
//! bound on process creation, one tick (rounding) short at most, never as an
//! upper bound: a busy machine can only make the gaps longer.
#![cfg(feature = "cli")]

mod common;

use std::time::Duration;

use nix::sys::signal::Signal;

use common::eventually;
use common::procs::{assert_nothing_left, sleepers};
use common::sandbox::Sandbox;

/// A job printing the clock tick its shell was created at.
const START_TICK: &str = "cut -d' ' -f22 /proc/$$/stat";

/// Clock ticks per second.
fn ticks_per_second() -> u64 {
    let out = std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .expect("getconf");
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .expect("CLK_TCK")
}

/// The ticks printed, sorted; asserts each gap is at least `delay` less one tick.
fn assert_spaced(stdout: &str, delay: Duration, starts: usize) {
    let mut ticks: Vec<u64> = stdout
        .lines()
        .map(|l| l.trim().parse().unwrap_or_else(|_| panic!("{l:?}")))
        .collect();
    ticks.sort_unstable();
    assert_eq!(ticks.len(), starts, "{stdout}");
    let least = (delay.as_secs_f64() * ticks_per_second() as f64).round() as u64 - 1;
    for pair in ticks.windows(2) {
        assert!(
            pair[1] - pair[0] >= least,
            "starts {} ticks apart, {least} at least: {ticks:?}",
            pair[1] - pair[0]
        );
    }
}

#[test]
fn delay_spaces_starts_with_many_workers_and_with_the_adaptive_pool() {
    let sandbox = Sandbox::new();
    let delay = Duration::from_millis(300);
    let jobs: String = (0..6).map(|_| format!("{START_TICK}\n")).collect();
    for extra in [&["-j", "8"][..], &[], &["--min-workers", "6"]] {
        let mut args = vec!["--delay", "0.3", "-"];
        args.extend(extra);
        let run = sandbox.run(&args, &jobs);
        run.assert_code(0);
        assert_spaced(&run.stdout_str(), delay, 6);
    }
}

#[test]
fn delay_spaces_retries_too() {
    let sandbox = Sandbox::new();
    let job = format!(": {{}}; {START_TICK}; exit 1");
    let run = sandbox.run(
        [
            "-j",
            "4",
            "--delay",
            "300ms",
            "--retries",
            "3",
            "--",
            &job,
            ":::",
            "1",
            "2",
        ],
        "",
    );
    run.assert_code(1);
    assert_spaced(&run.stdout_str(), Duration::from_millis(300), 6);
}

#[test]
fn delay_and_t_hold_when_output_goes_to_results_files() {
    let sandbox = Sandbox::new();
    let job = format!("{START_TICK}; : {{}}");
    let run = sandbox.run(
        [
            "-j",
            "8",
            "--delay",
            "0.3",
            "-t",
            "--results",
            "out",
            "--",
            &job,
            ":::",
            "1",
            "2",
            "3",
            "4",
        ],
        "",
    );
    run.assert_code(0);
    let ticks: String = (1..=4)
        .map(|n| sandbox.read_string(&format!("out/1/{n}/stdout")))
        .collect();
    assert_spaced(&ticks, Duration::from_millis(300), 4);
    let echoed = &run.stderr;
    for n in 1..=4 {
        assert!(
            echoed.contains(&format!("{START_TICK}; : {n}\n")),
            "{echoed}"
        );
    }
}

#[test]
fn the_adaptive_pool_does_not_grow_workers_that_would_only_wait() {
    // Each job is over long before the next may start: one worker would do. Were
    // all jobs handed to the pool at once, it would grow one per waiting job.
    let sandbox = Sandbox::new();
    let jobs = "true\n".repeat(16);
    let run = sandbox.run(["--delay", "0.25", "-"], &jobs);
    run.assert_code(0);
    let summary = run.summary();
    let most: usize = summary
        .rsplit("at most ")
        .next()
        .and_then(|s| s.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{summary}"));
    assert!(most <= 8, "{summary}");
}

#[test]
fn a_long_delay_never_holds_up_ctrl_c() {
    let (sandbox, m) = Sandbox::with_marker();
    let mut running = common::background::Running::spawn({
        let mut cmd = sandbox.command([
            "-j",
            "4",
            "--delay",
            "1h",
            "--",
            &format!("sleep {m}"),
            ":::",
            "1",
            "2",
            "3",
        ]);
        cmd.stdin(std::process::Stdio::null());
        cmd
    });
    eventually("the first job running", || sleepers(&m).len() == 1);
    running.signal(Signal::SIGINT);
    let finished = running.wait_for_exit(common::PATIENCE).run;
    assert_eq!(finished.status.code(), Some(130), "{}", finished.stderr);
    assert!(
        finished.stderr.contains("1 job ran"),
        "the jobs waiting for their turn never started:\n{}",
        finished.stderr
    );
    assert_nothing_left(&m, &[]);
}

#[test]
fn shuf_runs_every_job_once_in_another_order_numbered_as_they_run() {
    let sandbox = Sandbox::new();
    let input: String = (1..=200).map(|n| format!("{n}\n")).collect();
    let run = sandbox.run(
        ["--shuf", "-k", "-j", "3", "--", "echo", "{#}", "{}"],
        &input,
    );
    run.assert_code(0);
    let out = run.stdout_str();
    let pairs: Vec<(u64, u64)> = out
        .lines()
        .map(|l| {
            let (seq, value) = l.split_once(' ').expect("two words");
            (seq.parse().unwrap(), value.parse().unwrap())
        })
        .collect();
    // {#} (and so --keep-order) is the order jobs run in, as in GNU parallel.
    let seqs: Vec<u64> = pairs.iter().map(|p| p.0).collect();
    assert_eq!(seqs, (1..=200).collect::<Vec<_>>());
    let values: Vec<u64> = pairs.iter().map(|p| p.1).collect();
    let mut sorted = values.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, (1..=200).collect::<Vec<_>>(), "each job once");
    // The identity has a 1 in 200! chance.
    assert_ne!(values, sorted, "not shuffled");
}

#[test]
fn shuf_cannot_be_resumed() {
    let sandbox = Sandbox::new();
    let run = sandbox.run(["--shuf", "--joblog", "log", "--resume", "-"], "true\n");
    run.assert_code(2);
    assert!(run.stderr.contains("--resume"), "{}", run.stderr);
}

#[test]
fn nice_is_the_niceness_of_the_job_and_of_what_it_starts() {
    let sandbox = Sandbox::new();
    // 19 can always be set: niceness only ever goes up without privileges.
    let job = ": {}; cut -d' ' -f19 /proc/$$/stat; (cut -d' ' -f19 /proc/self/stat)";
    let run = sandbox.run(["--nice", "19", "-j", "2", "--", job, ":::", "1", "2"], "");
    run.assert_code(0);
    assert_eq!(run.stdout_str(), "19\n19\n19\n19\n", "{}", run.stderr);
    // Without it, jobs run at atp-run's own niceness.
    let run = sandbox.run(["--", ": {}; cut -d' ' -f19 /proc/$$/stat", ":::", "1"], "");
    let own = std::fs::read_to_string("/proc/self/stat").unwrap();
    let own = own
        .rsplit(')')
        .next()
        .unwrap()
        .split_whitespace()
        .nth(16)
        .unwrap()
        .to_owned();
    assert_eq!(run.stdout_str(), format!("{own}\n"));
    let run = sandbox.run(["--nice", "20", "-"], "true\n");
    run.assert_code(2);
}
