//! CLI tests of atp-run at the edges of what it is given: extreme flag values,
//! signals before the first job, oversized input records, many input files, and
//! resource limits (open files, processes). Each test runs the real binary with
//! real processes.
#![cfg(feature = "cli")]

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
/// opening it: before any job (where the handlers used to be missing: the input
/// was opened before they were installed). `None` if
/// this kernel does not say where a process sleeps (the test is then skipped).
fn blocked_on_a_fifo(sb: &Sandbox) -> Option<common::background::Running> {
    blocked_on_a_fifo_with(sb, &[])
}

/// [`blocked_on_a_fifo`], with `args` before the FIFO.
fn blocked_on_a_fifo_with(sb: &Sandbox, args: &[&str]) -> Option<common::background::Running> {
    mkfifo(&sb.join("fifo"), Mode::from_bits_truncate(0o600)).unwrap();
    let running = sb.spawn(args.iter().copied().chain(["fifo"]));
    // Any of its threads: the input may be opened by the main thread or the feeder.
    let tasks = format!("/proc/{}/task", running.pid());
    let blocked = || {
        std::fs::read_dir(&tasks)
            .into_iter()
            .flatten()
            .flatten()
            .any(|task| {
                let at = std::fs::read_to_string(task.path().join("wchan")).unwrap_or_default();
                at.contains("partner") || at.contains("fifo")
            })
    };
    let deadline = std::time::Instant::now() + common::PATIENCE;
    while std::time::Instant::now() < deadline {
        if blocked() {
            return Some(running);
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    eprintln!("skipped: {tasks}/*/wchan never said a thread sleeps opening a FIFO");
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
    // The input is opened in turn by the feeder, once the coordinator listens: the
    // run stops as any interrupted run does (saying so), with nothing run.
    assert!(
        run.stderr
            .lines()
            .any(|l| l.starts_with("atp-run: interrupted: 0 jobs ran")),
        "{}",
        run.stderr
    );
}

#[test]
fn sigterm_during_a_dry_run_before_any_input_exits_130_at_once() {
    // Nothing listens for events in a dry run: the interrupt ends it at once.
    let sb = Sandbox::new();
    let Some(mut running) = blocked_on_a_fifo_with(&sb, &["--dry-run"]) else {
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
    // Non-blocking: if atp-run died, there is no reader and this fails (ENXIO)
    // instead of waiting for one forever.
    use std::os::unix::fs::OpenOptionsExt;
    let mut fifo = std::fs::OpenOptions::new()
        .write(true)
        .custom_flags(nix::libc::O_NONBLOCK)
        .open(sb.join("fifo"))
        .expect("atp-run no longer reads its input: killed by SIGUSR1?");
    fifo.write_all(b"echo hi\n").unwrap();
    drop(fifo);
    let run = running.wait_for_exit(RUN_LIMIT).run;
    run.assert_code(0);
    assert_eq!(run.stdout_str(), "hi\n");
}

// ------------------------------------------------------------ input files and records

#[test]
fn an_input_file_is_opened_only_when_reached() {
    // The job of the first file feeds the FIFO that is the second: opening every
    // file before the first job deadlocked.
    let sb = Sandbox::new();
    mkfifo(&sb.join("fifo"), Mode::from_bits_truncate(0o600)).unwrap();
    sb.write("first", "echo 'echo from the fifo' > fifo\n");
    let mut running = sb.spawn(["first", "fifo"]);
    let run = running.wait_for_exit(RUN_LIMIT).run;
    run.assert_code(0);
    assert_eq!(run.stdout_str(), "from the fifo\n");
}

#[test]
fn many_input_files_hold_one_descriptor_at_a_time() {
    let sb = Sandbox::new();
    let mut names = String::new();
    for i in 0..120 {
        sb.write(&format!("in{i}"), format!("echo {i}\n"));
        names.push_str(&format!(" in{i}"));
    }
    // 64 open files cannot hold 120 inputs at once.
    let script = format!("ulimit -n 64 && exec \"$0\" -j 1{names}");
    let run = common::outcome::Run::of(
        std::process::Command::new("sh")
            .args(["-c", &script, &common::sandbox::bin().to_string_lossy()])
            .current_dir(sb.path())
            .env("NO_COLOR", "1")
            .env_remove("RUST_LOG"),
    );
    run.assert_code(0);
    assert_eq!(run.sorted_stdout_lines().len(), 120, "{}", run.stderr);
}

#[test]
fn a_missing_file_after_a_fifo_is_reported_before_anything_runs() {
    // Checking that a file exists is not opening it: the FIFO is not opened.
    let sb = Sandbox::new();
    mkfifo(&sb.join("fifo"), Mode::from_bits_truncate(0o600)).unwrap();
    let run = sb.run(["fifo", "missing"], "");
    run.assert_code(2);
    assert_eq!(run.stderr, "atp-run: input file 'missing' does not exist\n");
}

#[test]
fn a_record_longer_than_any_command_fails_alone() {
    let sb = Sandbox::new();
    let mut input = b"echo first\n".to_vec();
    input.extend(std::iter::repeat_n(b'x', 2 << 20));
    input.extend(b"\necho last\n");
    let run = sb.run(["-j", "1"], input);
    run.assert_code(1);
    assert_eq!(run.stdout_str(), "first\nlast\n");
    assert!(
        run.stderr.contains(
            "atp-run: [2] failed: line 2 of standard input is longer than 1 MiB, more than \
             any command can hold: not run\n"
        ),
        "{}",
        &run.stderr[..run.stderr.len().min(500)]
    );
    assert!(run.stderr.len() < 10_000, "the record was printed");
    run.assert_summary_starts_with("atp-run: 3 jobs ran, 2 succeeded, 1 failed");
}

/// A field of `/proc/PID/status` or `/proc/PID/io`, as a number.
fn proc_field(pid: nix::unistd::Pid, file: &str, field: &str) -> u64 {
    let text = std::fs::read_to_string(format!("/proc/{pid}/{file}")).unwrap_or_default();
    text.lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches(" kB").parse().ok())
        .unwrap_or(0)
}

#[test]
fn an_endless_record_does_not_eat_memory() {
    let sb = Sandbox::new();
    let mut running = sb.spawn(["/dev/zero"]);
    let pid = running.pid();
    // 256 MiB read: well past the record cap, and what used to be held.
    eventually("256 MiB of /dev/zero read", || {
        proc_field(pid, "io", "rchar:") > 256 << 20
    });
    let peak_kib = proc_field(pid, "status", "VmHWM:");
    running.signal(Signal::SIGTERM);
    running.wait_for_exit(RUN_LIMIT).run.assert_code(130);
    assert!(peak_kib < 64 << 10, "peak RSS {peak_kib} KiB");
}

// ------------------------------------------------------------------ --repeat backoff

/// Most runs a watchdog failing at once can make in `elapsed` with the documented
/// backoff (10 ms, doubling, at most 1 s between runs), plus one for slack.
fn most_runs_with_backoff(elapsed: std::time::Duration) -> u64 {
    let (mut runs, mut waited, mut pause) = (1u64, 0u128, 10u128);
    while waited + pause <= elapsed.as_millis() {
        waited += pause;
        runs += 1;
        pause = (pause * 2).min(1000);
    }
    runs + 1
}

#[test]
fn a_watchdog_that_fails_at_once_backs_off() {
    let sb = Sandbox::new();
    sb.write("jobs", "echo run >> runs; exit 1\n");
    let started = std::time::Instant::now();
    let mut running = sb.spawn(["--repeat", "jobs"]);
    let lines = || sb.read_string("runs").lines().count() as u64;
    eventually("a few runs", || sb.exists("runs") && lines() >= 4);
    // A lower bound only: the check below holds however slow the machine is.
    std::thread::sleep(std::time::Duration::from_millis(500));
    running.signal(Signal::SIGTERM);
    let runs_seen = lines();
    let elapsed = started.elapsed();
    running.wait_for_exit(RUN_LIMIT).run.assert_code(130);
    assert!(
        runs_seen <= most_runs_with_backoff(elapsed),
        "{runs_seen} runs in {elapsed:?}: no backoff"
    );
}

// ---------------------------------------------------------------- resource limits

/// Runs `atp-run args` in the sandbox under the shell limits `ulimits` (e.g.
/// `ulimit -n 64`), with `input` as its standard input.
fn run_limited(sb: &Sandbox, ulimits: &str, args: &str, input: &str) -> common::outcome::Run {
    sb.write("input", input);
    let script = format!("{ulimits} && exec \"$0\" {args} < input");
    common::outcome::Run::of(
        std::process::Command::new("sh")
            .args(["-c", &script, &common::sandbox::bin().to_string_lossy()])
            .current_dir(sb.path())
            .env("NO_COLOR", "1")
            .env_remove("RUST_LOG"),
    )
}

#[test]
fn an_explicit_j_the_open_file_limit_cannot_honour_is_warned_about_once() {
    let sb = Sandbox::new();
    let run = run_limited(&sb, "ulimit -n 64", "-j 10", "true\ntrue\ntrue\n");
    run.assert_code(0);
    let warnings: Vec<_> = run
        .stderr
        .lines()
        .filter(|l| l.contains("warning"))
        .collect();
    assert_eq!(
        warnings,
        [
            "atp-run: warning: running at most 1 job at once, not 10: the open-file limit is \
          64 (ulimit -n) and each worker holds up to 4 files; raise it (ulimit -n) to run 10"
        ],
        "{}",
        run.stderr
    );
    run.assert_summary_starts_with("atp-run: 3 jobs ran, 3 succeeded");
}

#[test]
fn an_explicit_j_raises_the_soft_open_file_limit_as_far_as_it_needs() {
    let sb = Sandbox::new();
    let hard: u64 = nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
        .unwrap()
        .1;
    if hard < 200 {
        eprintln!("skipped: the hard open-file limit ({hard}) leaves no room to raise");
        return;
    }
    let run = run_limited(&sb, "ulimit -Sn 64", "-j 10 -- 'ulimit -n; :'", "a\n");
    run.assert_code(0);
    assert!(!run.stderr.contains("warning"), "{}", run.stderr);
    // 10 workers need 10 x 4 files and 64 for atp-run; the jobs inherit that.
    assert_eq!(run.stdout_str(), "104\n");
}

#[test]
fn spawns_the_process_limit_refuses_wait_instead_of_failing() {
    // RLIMIT_NPROC counts every process (and thread) of a user, so the run goes to
    // an unprivileged user of its own; root ignores the limit.
    let has = |tool: &str| {
        std::process::Command::new(tool)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    };
    use std::os::unix::fs::MetadataExt;
    let root = std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0);
    if !root || !has("setpriv") || !has("prlimit") {
        eprintln!("skipped: needs root, setpriv and prlimit to run under another user's ulimit -u");
        return;
    }
    let sb = Sandbox::new();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(sb.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    // `exec`: the job's shell forks nothing, so only atp-run's spawns meet the limit.
    let jobs: String = (0..40)
        .map(|i| format!("exec sleep 0.{}\n", 2 + i % 3))
        .collect();
    sb.write("jobs", jobs);
    let run = common::outcome::Run::of(
        std::process::Command::new("setpriv")
            .args([
                "--reuid=65534",
                "--regid=65534",
                "--clear-groups",
                "prlimit",
            ])
            .args([
                "--nproc=30",
                &common::sandbox::bin().to_string_lossy(),
                "jobs",
            ])
            .current_dir(sb.path())
            .env("NO_COLOR", "1")
            .env_remove("RUST_LOG"),
    );
    assert!(!run.stderr.contains("could not run"), "{}", run.stderr);
    run.assert_code(0);
    run.assert_summary_starts_with("atp-run: 40 jobs ran, 40 succeeded, 0 failed");
    let warnings = run.stderr.matches("refused to start a job").count();
    assert!(warnings <= 1, "{}", run.stderr);
}

#[test]
fn identical_failure_lines_of_a_watchdog_collapse_on_a_terminal() {
    let has_script = std::process::Command::new("script")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !has_script {
        eprintln!("skipped: script(1) is needed to give atp-run a terminal");
        return;
    }
    let sb = Sandbox::new();
    sb.write("jobs", "echo run >> runs; exit 1\n");
    // script(1) gives atp-run a terminal; timeout(1) interrupts it after 2 s.
    let inner = format!(
        "timeout -s TERM 2 {} --repeat --no-progress --color never jobs",
        common::sandbox::bin().display()
    );
    let out = std::process::Command::new("script")
        .args(["-qec", &inner, "/dev/null"])
        .current_dir(sb.path())
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).replace('\r', "");
    let runs = sb.read_string("runs").lines().count();
    let failures = text.matches("failed with exit code 1").count();
    assert_eq!(failures, 1, "{runs} runs:\n{text}");
    // (The last run may have been killed by the interruption: another verdict.)
    if runs >= 3 {
        assert!(
            text.contains("[1] the failure above repeated "),
            "{runs} runs:\n{text}"
        );
    }
}
