//! CLI tests of `atp-run`: exit statuses, status lines and where output goes, input
//! handling, usage errors, a slow input pipe, and the pool flags. Each test runs the
//! real binary in its own temporary directory.
//!
//! Templates are in `cli_template.rs`, grouped output and a closed stdout in
//! `cli_output.rs`, signals and `--repeat` in `cli_signals.rs`.
#![cfg(feature = "cli")]

mod common;

use std::fs::File;
use std::os::unix::fs::PermissionsExt;
use std::process::Stdio;

use common::background::Running;
use common::outcome::{Run, assert_status_line, status_lines, summary_line};
use common::sandbox::{Sandbox, bin};
use common::{RUN_LIMIT, eventually};

// ---------------------------------------------------------------- exit statuses

#[test]
fn exit_status_is_0_when_every_job_succeeds() {
    let sb = Sandbox::new();
    let run = sb.run(["--no-progress"], "true\necho hi\n");
    run.assert_code(0);
    assert_eq!(run.stdout, b"hi\n");
    run.assert_summary_starts_with("atp-run: 2 jobs ran, 2 succeeded, 0 failed in ");
}

#[test]
fn exit_status_is_0_when_there_is_no_job() {
    let sb = Sandbox::new();
    sb.run(Vec::<&str>::new(), "").assert_code(0);
    sb.run(Vec::<&str>::new(), "\n\n").assert_code(0);
}

#[test]
fn exit_status_is_1_when_a_job_fails() {
    let sb = Sandbox::new();
    let run = sb.run(Vec::<&str>::new(), "true\nexit 3\ntrue\n");
    run.assert_code(1);
    assert_status_line(run.status_of(2), "2", "failed with exit code 3", "exit 3");
    run.assert_summary_starts_with("atp-run: 3 jobs ran, 2 succeeded, 1 failed in ");
}

#[test]
fn help_mentions_examples_and_exit_status() {
    let sb = Sandbox::new();
    for flag in ["--help", "-h"] {
        let run = sb.run([flag], "touch RAN\n");
        run.assert_code(0);
        let help = run.stdout_str();
        assert!(help.contains("Usage: atp-run"), "{flag}:\n{help}");
        assert!(help.contains("Examples:"), "{flag}:\n{help}");
        assert!(help.contains("Exit status:"), "{flag}:\n{help}");
        for code in ["0 ", "1 ", "2 ", "130", "141"] {
            assert!(
                help.lines().any(|l| l.trim_start().starts_with(code)),
                "{flag}: exit status {code} not documented:\n{help}"
            );
        }
    }
    assert!(!sb.exists("RAN"), "--help ran a job");
}

#[test]
fn version_prints_the_name_and_version() {
    let sb = Sandbox::new();
    let run = sb.run(["--version"], "touch RAN\n");
    run.assert_code(0);
    assert_eq!(
        run.stdout_str(),
        format!("atp-run {}\n", env!("CARGO_PKG_VERSION"))
    );
    assert!(!sb.exists("RAN"));
}

// ----------------------------------------------------- status lines and output

#[test]
fn status_lines_go_to_stderr_and_job_output_to_stdout() {
    let sb = Sandbox::new();
    let run = sb.run(Vec::<&str>::new(), "echo to-out\necho to-err >&2\n");
    run.assert_code(0);
    assert_eq!(run.stdout, b"to-out\n");
    assert_status_line(run.status_of(1), "1", "ok", "echo to-out");
    assert_status_line(run.status_of(2), "2", "ok", "echo to-err >&2");
    assert!(run.stderr.lines().any(|l| l == "to-err"), "{}", run.stderr);
    summary_line(&run.stderr);
}

#[test]
fn redirecting_stdout_to_a_file_captures_only_job_output() {
    // `atp-run jobs > out`
    let sb = Sandbox::new();
    let jobs = sb.write("jobs", "echo one\necho two >&2\nfalse\necho three\n");
    let out = File::create(sb.join("out")).unwrap();
    let mut cmd = sb.command([&jobs]);
    cmd.stdin(Stdio::null()).stdout(out).stderr(Stdio::piped());
    let mut running = Running::spawn_raw_stdout(cmd);
    let run = running.wait_for_exit(RUN_LIMIT).run;
    run.assert_code(1);
    let mut lines: Vec<String> = sb.read_string("out").lines().map(str::to_owned).collect();
    lines.sort();
    assert_eq!(lines, ["one", "three"]);
    assert_eq!(run.status_lines().len(), 4, "{}", run.stderr);
    assert!(run.stderr.lines().any(|l| l == "two"), "{}", run.stderr);
}

#[test]
fn quiet_shows_only_the_failures_status_lines() {
    let sb = Sandbox::new();
    let run = sb.run(["-q"], "true\nexit 4\necho shown\n");
    run.assert_code(1);
    assert_eq!(run.stdout, b"shown\n", "-q must not hide job output");
    let lines = run.status_lines();
    assert_eq!(lines.len(), 1, "{}", run.stderr);
    assert_status_line(lines[0], "2", "failed with exit code 4", "exit 4");

    // Nothing failed: no status line and no summary at all.
    let run = sb.run(["--quiet"], "true\necho shown\n");
    run.assert_code(0);
    assert_eq!(run.stderr, "", "--quiet printed something");
}

#[test]
fn a_command_that_is_not_found_fails_with_127() {
    let sb = Sandbox::new();
    let run = sb.run(Vec::<&str>::new(), "atp_no_such_command_x7\ntrue\n");
    run.assert_code(1);
    let line = run.status_of(1);
    assert!(line.starts_with("[1] failed with exit code 127"), "{line}");
    assert!(line.ends_with(": atp_no_such_command_x7"), "{line}");
}

#[test]
fn a_job_killed_by_a_signal_names_the_signal() {
    let sb = Sandbox::new();
    let run = sb.run(
        Vec::<&str>::new(),
        "kill -TERM $$\nkill -KILL $$\nkill -USR1 $$\ntrue\n",
    );
    run.assert_code(1);
    assert_status_line(run.status_of(1), "1", "killed by SIGTERM", "kill -TERM $$");
    assert_status_line(run.status_of(2), "2", "killed by SIGKILL", "kill -KILL $$");
    assert_status_line(run.status_of(3), "3", "killed by SIGUSR1", "kill -USR1 $$");
    run.assert_summary_starts_with(
        "atp-run: 4 jobs ran, 1 succeeded, 3 failed (3 killed by a signal)",
    );
}

// ------------------------------------------------------------------------ input

/// Job number → command, from the status lines.
fn numbered_commands(run: &Run) -> Vec<(u64, String)> {
    let mut jobs: Vec<(u64, String)> = run
        .status_lines()
        .iter()
        .map(|l| {
            let (label, rest) = l[1..].split_once("] ").unwrap();
            let (_, command) = rest.split_once(": ").unwrap();
            (label.parse().unwrap(), command.to_owned())
        })
        .collect();
    jobs.sort();
    jobs
}

#[test]
fn several_files_and_stdin_are_read_in_operand_order() {
    let sb = Sandbox::new();
    sb.write("a", "echo a1\necho a2\n");
    sb.write("b", "echo b1\n");
    let run = sb.run(["a", "-", "b"], "echo s1\necho s2\n");
    run.assert_code(0);
    assert_eq!(run.sorted_stdout_lines(), ["a1", "a2", "b1", "s1", "s2"]);
    let expected = ["echo a1", "echo a2", "echo s1", "echo s2", "echo b1"];
    let jobs = numbered_commands(&run);
    assert_eq!(
        jobs,
        expected
            .iter()
            .enumerate()
            .map(|(i, c)| (i as u64 + 1, c.to_string()))
            .collect::<Vec<_>>()
    );
}

#[test]
fn blank_lines_are_skipped_and_crlf_is_tolerated() {
    let sb = Sandbox::new();
    let run = sb.run(
        Vec::<&str>::new(),
        "echo one\r\n\r\n\n   \n\t\necho two\r\necho three",
    );
    run.assert_code(0);
    assert_eq!(run.sorted_stdout_lines(), ["one", "three", "two"]);
    assert!(!run.stdout.contains(&b'\r'), "a CR reached a job");
    run.assert_summary_starts_with("atp-run: 3 jobs ran, 3 succeeded");
}

#[test]
fn nul_separated_records_keep_their_newlines() {
    let sb = Sandbox::new();
    // Two records; the first is a two-line script.
    let run = sb.run(["-0"], "echo one\necho two\0echo three\0");
    run.assert_code(0);
    assert_eq!(run.sorted_stdout_lines(), ["one", "three", "two"]);
    run.assert_summary_starts_with("atp-run: 2 jobs ran, 2 succeeded");
    // The status line keeps the command on one line.
    assert_status_line(run.status_of(1), "1", "ok", "echo one\\necho two");
}

#[test]
fn non_utf8_bytes_in_commands_reach_the_shell_unchanged() {
    let sb = Sandbox::new();
    let run = sb.run(Vec::<&str>::new(), b"echo caf\xe9 \xff\xfe\n");
    run.assert_code(0);
    assert_eq!(run.stdout, b"caf\xe9 \xff\xfe\n");
    assert_status_line(
        run.status_of(1),
        "1",
        "ok",
        "echo caf\u{fffd} \u{fffd}\u{fffd}",
    );
}

#[test]
fn cat_as_a_job_does_not_swallow_the_command_list() {
    // Jobs get /dev/null as stdin: a `cat` job must neither read the rest of the
    // command list nor wait for input.
    let sb = Sandbox::new();
    let mut input = String::from("cat\n");
    for i in 1..=20 {
        input.push_str(&format!("echo line{i}\n"));
    }
    input.push_str("cat\n");
    let run = sb.run(Vec::<&str>::new(), &input);
    run.assert_code(0);
    let lines = run.sorted_stdout_lines();
    assert_eq!(lines.len(), 20, "{lines:?}");
    assert!(lines.iter().all(|l| l.starts_with("line")), "{lines:?}");
    run.assert_summary_starts_with("atp-run: 22 jobs ran, 22 succeeded");
}

#[test]
fn the_first_job_starts_before_the_input_ends() {
    let sb = Sandbox::new();
    let mut cmd = sb.command(Vec::<&str>::new());
    cmd.stdin(Stdio::piped());
    let mut running = Running::spawn(cmd);
    running.write_stdin(b"touch STARTED\n");
    // stdin is still open: the job must run anyway.
    eventually("the first job to run while the input is still open", || {
        sb.exists("STARTED")
    });
    running.write_stdin(b"touch SECOND\n");
    drop(running.child.stdin.take());
    let finished = running.wait_for_exit(RUN_LIMIT);
    finished.run.assert_code(0);
    assert!(sb.exists("SECOND"));
    finished
        .run
        .assert_summary_starts_with("atp-run: 2 jobs ran, 2 succeeded");
}

// --------------------------------------------------- errors: exit 2, nothing runs

/// Runs `args` where `jobs` and stdin both say `touch RAN`; expects exit status 2,
/// an error message, and no job run.
fn assert_usage_error(sb: &Sandbox, args: &[&str], message: &str) {
    let run = sb.run(args, "touch RAN\n");
    assert_eq!(
        run.code(),
        2,
        "{args:?}: expected exit status 2; stderr:\n{}",
        run.stderr
    );
    assert!(
        !sb.exists("RAN"),
        "{args:?}: a job ran despite the error; stderr:\n{}",
        run.stderr
    );
    assert!(
        run.stdout.is_empty(),
        "{args:?}: stdout: {:?}",
        run.stdout_str()
    );
    assert!(
        run.stderr.contains(message),
        "{args:?}: stderr does not mention {message:?}:\n{}",
        run.stderr
    );
    // One line, as the README promises: no usage block, no pointer to --help.
    assert!(
        run.stderr.starts_with("atp-run: ") && run.stderr.lines().count() == 1,
        "{args:?}: expected one line starting with 'atp-run: ':\n{}",
        run.stderr
    );
    assert!(status_lines(&run.stderr).is_empty(), "{}", run.stderr);
}

fn jobs_sandbox() -> Sandbox {
    let sb = Sandbox::new();
    sb.write("jobs", "touch RAN\n");
    std::fs::create_dir(sb.join("subdir")).unwrap();
    sb
}

#[test]
fn a_missing_input_file_is_an_error_before_anything_runs() {
    let sb = jobs_sandbox();
    // The good file comes first: it must not start running before the bad one is seen.
    assert_usage_error(&sb, &["jobs", "no-such-file"], "no-such-file");
    assert_usage_error(&sb, &["no-such-file"], "no-such-file");
}

#[test]
fn a_directory_as_input_is_an_error_before_anything_runs() {
    let sb = jobs_sandbox();
    assert_usage_error(&sb, &["jobs", "subdir"], "subdir");
}

#[test]
fn stdin_twice_is_an_error_before_anything_runs() {
    let sb = jobs_sandbox();
    assert_usage_error(&sb, &["-", "jobs", "-"], "atp-run: ");
}

#[test]
fn an_unreadable_input_file_is_an_error_before_anything_runs() {
    let sb = jobs_sandbox();
    let secret = sb.write("secret", "touch RAN\n");
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o000)).unwrap();
    if File::open(&secret).is_ok() {
        eprintln!(
            "skipped: a mode 000 file is still readable here (running as root?), so an \
             unreadable input cannot be set up"
        );
        return;
    }
    assert_usage_error(&sb, &["jobs", "secret"], "secret");
}

#[test]
fn bad_flag_values_are_errors_before_anything_runs() {
    let sb = jobs_sandbox();
    let cases: &[(&[&str], &str)] = &[
        (&["--min-workers", "x", "jobs"], "--min-workers"),
        (&["-j", "-999", "jobs"], "leaves no job to run"),
        (&["-j", "many", "jobs"], "--jobs"),
        (&["--max-workers", "0", "jobs"], "--max-workers"),
        (&["--idle-timeout", "5x", "jobs"], "--idle-timeout"),
        (&["--grace", "soon", "jobs"], "--grace"),
        (&["--stack-size", "8", "jobs"], "--stack-size"),
        (&["--color", "purple", "jobs"], "--color"),
        (&["--no-such-flag", "jobs"], "--no-such-flag"),
        (&["--halt", "later", "jobs"], "--halt"),
        (&["--halt", "-3", "jobs"], "--halt"),
        (&["--timeout", "5x", "jobs"], "--timeout"),
    ];
    for (args, message) in cases {
        assert_usage_error(&sb, args, message);
    }
}

#[test]
fn inconsistent_flags_are_errors_before_anything_runs() {
    let sb = jobs_sandbox();
    let cases: &[(&[&str], &str)] = &[
        (
            &["--min-workers", "5", "--max-workers", "2", "jobs"],
            "--min-workers 5 is above --max-workers 2",
        ),
        (&["-j", "2", "--max-workers", "4", "jobs"], "--max-workers"),
        (&["-j", "2", "--min-workers", "1", "jobs"], "--min-workers"),
        (&["--interval", "1s", "jobs"], "--repeat"),
        (&["jobs", "--", ""], "empty"),
        (&["jobs", "--", " ", "  "], "empty"),
    ];
    for (args, message) in cases {
        assert_usage_error(&sb, args, message);
    }
}

// -------------------------------------------------------------------- pool flags

#[test]
fn j1_runs_one_job_at_a_time() {
    let sb = Sandbox::new();
    let mut input = String::new();
    for i in 1..=6 {
        input.push_str(&format!(
            "echo start {i} >> log; sleep 0.2; echo end {i} >> log\n"
        ));
    }
    let run = sb.run(["-j", "1"], &input);
    run.assert_code(0);
    let log = sb.read_string("log");
    let lines: Vec<&str> = log.lines().collect();
    assert_eq!(lines.len(), 12, "{log}");
    for pair in lines.chunks(2) {
        let job = pair[0].strip_prefix("start ").expect(&log);
        assert_eq!(pair[1], format!("end {job}"), "jobs overlapped:\n{log}");
    }
    assert!(
        run.summary().ends_with("(at most 1 worker at once)"),
        "{}",
        run.summary()
    );
}

/// Jobs that each record how many jobs were running when it started (each creates
/// its own file in `running/`, counts the files, then removes its own).
fn counting_jobs(n: usize) -> String {
    (1..=n)
        .map(|i| {
            format!("touch running/{i}; ls running | wc -l >> counts; sleep 0.3; rm running/{i}\n")
        })
        .collect()
}

/// Runs 12 [`counting_jobs`] under `args`; asserts that at most `max` ran at once.
fn assert_at_most_at_once(args: &[&str], max: usize) {
    let sb = Sandbox::new();
    std::fs::create_dir(sb.join("running")).unwrap();
    let run = sb.run(args, counting_jobs(12));
    run.assert_code(0);
    let seen = sb
        .read_string("counts")
        .lines()
        .map(|l| l.trim().parse::<usize>().unwrap())
        .max()
        .unwrap();
    assert!(
        seen <= max,
        "{seen} jobs ran at once with {}",
        args.join(" ")
    );
}

#[test]
fn max_workers_caps_the_jobs_running_at_once() {
    assert_at_most_at_once(&["--max-workers", "2"], 2);
}

#[test]
fn j3_runs_at_most_3_jobs_at_once() {
    assert_at_most_at_once(&["-j", "3"], 3);
}

#[test]
fn the_worker_slot_never_exceeds_the_maximum() {
    let sb = Sandbox::new();
    let input: String = (1..=12).map(|i| format!("{i}\n")).collect();
    for (args, max) in [(["--max-workers", "2"], 2), (["-j", "1"], 1)] {
        let mut argv: Vec<&str> = args.to_vec();
        argv.extend(["--", "sleep 0.1; echo {%} {}"]);
        let run = sb.run(&argv, &input);
        run.assert_code(0);
        let slots: Vec<usize> = run
            .stdout_str()
            .lines()
            .map(|l| l.split(' ').next().unwrap().parse().unwrap())
            .collect();
        assert_eq!(slots.len(), 12);
        assert!(
            slots.iter().all(|s| (1..=max).contains(s)),
            "{args:?}: slots {slots:?} outside 1..={max}"
        );
    }
}

#[test]
fn an_unusable_tmpdir_is_an_error_before_anything_runs() {
    let sb = jobs_sandbox();
    let missing = sb.join("no-such-tmpdir");
    let run = Run::of(sb.command(["jobs"]).env("TMPDIR", &missing));
    run.assert_code(2);
    assert!(!sb.exists("RAN"), "a job ran: {}", run.stderr);
    assert!(run.stderr.contains("no-such-tmpdir"), "{}", run.stderr);
    assert!(run.stderr.contains("TMPDIR"), "{}", run.stderr);
}

#[test]
fn a_low_open_file_limit_caps_the_workers_instead_of_failing_jobs() {
    let sb = Sandbox::new();
    let jobs: String = (0..60).map(|_| "sleep 0.3\n").collect();
    sb.write("jobs", jobs);
    // 128 open files leave room for 16 workers; growing to 60 would fail jobs with
    // "Too many open files".
    let script = format!("ulimit -n 128 && exec '{}' jobs", bin().display());
    let run = Run::of(
        std::process::Command::new("/bin/sh")
            .arg("-c")
            .arg(script)
            .current_dir(sb.path())
            .stdin(Stdio::null()),
    );
    run.assert_code(0);
    assert!(run.summary().contains("60 succeeded"), "{}", run.stderr);
}

#[test]
fn repeat_with_no_commands_ends_at_once() {
    let sb = Sandbox::new();
    let run = sb.run(["--repeat"], "");
    run.assert_code(0);
}

#[test]
fn repeat_reports_an_input_error_and_exits_2() {
    let sb = Sandbox::new();
    std::fs::create_dir(sb.join("dir")).unwrap();
    let run = Run::of(
        sb.command(["--repeat", "-"])
            .stdin(File::open(sb.join("dir")).unwrap()),
    );
    run.assert_code(2);
    assert!(run.stderr.contains("Is a directory"), "{}", run.stderr);
}

#[test]
fn a_failing_stdout_is_reported_in_one_line_with_status_2() {
    let sb = Sandbox::new();
    sb.write("jobs", "echo hi\n");
    let run = Run::of(
        sb.command(["jobs"])
            .stdout(File::create("/dev/full").unwrap()),
    );
    run.assert_code(2);
    assert!(
        run.stderr
            .contains("atp-run: cannot write to standard output: No space left on device"),
        "{}",
        run.stderr
    );
}

#[test]
fn an_input_read_error_is_reported_once() {
    let sb = Sandbox::new();
    std::fs::create_dir(sb.join("dir")).unwrap();
    let run = Run::of(sb.command(["-"]).stdin(File::open(sb.join("dir")).unwrap()));
    run.assert_code(2);
    assert_eq!(
        run.stderr.matches("Is a directory").count(),
        1,
        "{}",
        run.stderr
    );
}
