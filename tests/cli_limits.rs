//! CLI tests of atp-run at the edges of what it is given: extreme flag values,
//! oversized input records, many input files, and resource limits (open files,
//! processes). Each test runs the real binary with real processes.

mod common;

use nix::sys::signal::Signal;

use common::RUN_LIMIT;
use common::eventually;
use common::sandbox::Sandbox;

/// The largest number of seconds a duration flag accepts (`u64::MAX`): too long to
/// ever elapse, so it means "never".
const FOREVER: &str = "18446744073709551615";

#[test]
fn a_timeout_too_long_to_elapse_never_fires() {
    let sb = Sandbox::new();
    let run = sb.run(["--timeout", FOREVER], "sleep 0.3; echo done\n");
    assert!(!run.stderr.contains("timed out"), "{}", run.stderr);
    run.assert_code(0);
    assert_eq!(run.stdout_str(), "done\n");
}

#[test]
fn an_idle_timeout_too_long_to_elapse_never_retires_and_never_panics() {
    let sb = Sandbox::new();
    let run = sb.run(
        ["--min-workers", "1", "--idle-timeout", FOREVER],
        "sleep 0.2\nsleep 0.2\nsleep 0.2\nsleep 0.2\n",
    );
    assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
    run.assert_code(0);
}

#[test]
fn an_interval_too_long_to_elapse_waits_until_interrupted() {
    let sb = Sandbox::new();
    sb.write("jobs", "echo run >> runs\n");
    let mut running = sb.spawn(["--repeat", "--interval", FOREVER, "jobs"]);
    eventually("the first run", || sb.exists("runs"));
    eventually("its status line", || {
        running.stderr_so_far().contains("] ok after")
    });
    running.signal(Signal::SIGTERM);
    let run = running.wait_for_exit(RUN_LIMIT).run;
    assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
    run.assert_code(130);
    assert_eq!(sb.read_string("runs"), "run\n", "rerun before the interval");
}
