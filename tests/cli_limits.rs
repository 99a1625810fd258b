//! CLI tests of atp-run at the edges of what it is given: extreme flag values,
//! signals before the first job, oversized input records, many input files, and
//! resource limits (open files, processes). Each test runs the real binary with
//! real processes.

mod common;

use std::io::Write;

use nix::sys::signal::Signal;
use nix::sys::stat::Mode;
use nix::unistd::mkfifo;

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

/// Starts `atp-run fifo` on a FIFO nobody writes yet, and waits until it is blocked
/// opening it: before any job, where the handlers used to be missing. `None` if
/// this kernel does not say where a process sleeps (the test is then skipped).
fn blocked_on_a_fifo(sb: &Sandbox) -> Option<common::background::Running> {
    mkfifo(&sb.join("fifo"), Mode::from_bits_truncate(0o600)).unwrap();
    let running = sb.spawn(["fifo"]);
    let wchan = format!("/proc/{}/wchan", running.pid());
    let deadline = std::time::Instant::now() + common::PATIENCE;
    while std::time::Instant::now() < deadline {
        let at = std::fs::read_to_string(&wchan).unwrap_or_default();
        if at.contains("partner") || at.contains("fifo") {
            return Some(running);
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    eprintln!("skipped: {wchan} never said the process sleeps opening a FIFO");
    None
}

#[test]
fn sigterm_before_the_first_job_is_an_interrupt() {
    let sb = Sandbox::new();
    let Some(mut running) = blocked_on_a_fifo(&sb) else {
        return;
    };
    running.signal(Signal::SIGTERM);
    let run = running.wait_for_exit(RUN_LIMIT).run;
    run.assert_code(130);
    assert_eq!(run.stderr, "atp-run: interrupted before any job started\n");
}

#[test]
fn sigusr1_before_the_first_job_does_not_kill() {
    let sb = Sandbox::new();
    let Some(mut running) = blocked_on_a_fifo(&sb) else {
        return;
    };
    running.signal(Signal::SIGUSR1);
    // (The list it asks for is printed once the run starts: there is none yet.)
    let mut fifo = std::fs::OpenOptions::new()
        .write(true)
        .open(sb.join("fifo"))
        .unwrap();
    fifo.write_all(b"echo hi\n").unwrap();
    drop(fifo);
    let run = running.wait_for_exit(RUN_LIMIT).run;
    run.assert_code(0);
    assert_eq!(run.stdout_str(), "hi\n");
}
