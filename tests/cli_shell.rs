//! CLI tests of the shell jobs run under and of seeing commands as they start,
//! with real processes: `--shell bash` runs process substitution, a missing shell
//! is one line before any job, the default is /bin/sh whatever $SHELL says,
//! `ATP_SHELL` and `PARALLEL_SHELL`, the joblog and `--dry-run` show the command
//! as given, a shell that does not read POSIX quoting is refused with a template;
//! `-t` and `-v` print each command on stderr as it starts, once per attempt, and
//! on a terminal never garble the progress display.
//!
//! bash is needed (as on every system these tests run on); the shells that are not
//! POSIX are stood in for by a script named `fish`, so fish need not be installed.
#![cfg(feature = "cli")]

mod common;

use std::os::unix::fs::PermissionsExt;

use common::pty::Pty;
use common::sandbox::Sandbox;

/// bash's path here (found in PATH, as atp-run finds it).
fn bash() -> String {
    let path = std::env::var_os("PATH").expect("PATH");
    std::env::split_paths(&path)
        .map(|dir| dir.join("bash"))
        .find(|p| p.is_file())
        .expect("bash in PATH")
        .to_string_lossy()
        .into_owned()
}

/// Runs `atp-run args` in `sandbox` with `env` added, no stdin.
fn run_with(sandbox: &Sandbox, args: &[&str], env: &[(&str, &str)]) -> common::outcome::Run {
    let mut cmd = sandbox.command(args);
    cmd.stdin(std::process::Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    common::outcome::Run::of(&mut cmd)
}

#[test]
fn shell_bash_runs_process_substitution() {
    let sandbox = Sandbox::new();
    sandbox.write("a", "b\na\n");
    sandbox.write("b", "c\na\n");
    let job = "diff <(sort a) <(sort b)\n";
    let run = sandbox.run(["--shell", "bash", "-"], job);
    run.assert_code(1); // diff found a difference: the job ran
    assert_eq!(run.stdout_str(), "2c2\n< b\n---\n> c\n");
    // The default shell is /bin/sh: on systems whose sh is not bash, the same line
    // is a syntax error there; everywhere, the job's $0 is /bin/sh.
    let run = sandbox.run(["-"], "echo $0\n");
    run.assert_code(0);
    assert_eq!(run.stdout_str(), "/bin/sh\n");
}

#[test]
fn the_default_is_bin_sh_whatever_shell_says() {
    let sandbox = Sandbox::new();
    let run = run_with(
        &sandbox,
        &["--", "echo $0 ${BASH_VERSION:-nobash}", ":::", "x"],
        &[("SHELL", &bash())],
    );
    run.assert_code(0);
    let out = run.stdout_str();
    assert!(out.starts_with("/bin/sh "), "{out}");
}

#[test]
fn atp_shell_then_parallel_shell_and_the_flag_wins() {
    let sandbox = Sandbox::new();
    let probe = ["--", ": {}; echo ${BASH_VERSION:+bash}:$0", ":::", "x"];
    let bash = bash();
    let bash_or_sh = |env: &[(&str, &str)], flag: Option<&str>| {
        let mut args: Vec<&str> = Vec::new();
        if let Some(shell) = flag {
            args.extend(["--shell", shell]);
        }
        args.extend(probe);
        let run = run_with(&sandbox, &args, env);
        run.assert_code(0);
        run.stdout_str()
    };
    let bash_path = bash_or_sh(&[("ATP_SHELL", "bash")], None);
    assert!(
        bash_path.starts_with("bash:/") && bash_path.trim_end().ends_with("/bash"),
        "a bare name is found in PATH: {bash_path}"
    );
    assert_eq!(
        bash_or_sh(&[("PARALLEL_SHELL", &bash)], None),
        format!("bash:{bash}\n")
    );
    let both = [("ATP_SHELL", "/bin/sh"), ("PARALLEL_SHELL", &bash)];
    assert_eq!(bash_or_sh(&both, None), ":/bin/sh\n", "ATP_SHELL first");
    assert_eq!(bash_or_sh(&both, Some(&bash)), format!("bash:{bash}\n"));
    // An empty variable is unset.
    assert_eq!(bash_or_sh(&[("ATP_SHELL", "")], None), ":/bin/sh\n");
}

#[test]
fn a_missing_shell_is_one_line_before_any_job_runs() {
    let sandbox = Sandbox::new();
    let run = sandbox.run(
        ["--shell", "no-such-shell-x1", "--", "touch", "{}"],
        "ran\n",
    );
    run.assert_code(2);
    assert_eq!(
        run.stderr,
        "atp-run: --shell no-such-shell-x1: not found in PATH (install it, or give its path)\n"
    );
    assert!(!sandbox.exists("ran"));
    let run = run_with(
        &sandbox,
        &["--", "touch", "ran", ":::", "x"],
        &[("PARALLEL_SHELL", "/no/such/sh")],
    );
    run.assert_code(2);
    assert_eq!(
        run.stderr,
        "atp-run: PARALLEL_SHELL=/no/such/sh: no such file\n"
    );
    assert!(!sandbox.exists("ran"));
}

#[test]
fn joblog_dry_run_and_status_lines_show_the_command_as_given() {
    let sandbox = Sandbox::new();
    sandbox.write("a", "x\n");
    sandbox.write("b", "x\n");
    let args = [
        "--shell",
        "bash",
        "--joblog",
        "log",
        "--",
        "diff <(sort {}) b",
        ":::",
        "a",
    ];
    let run = run_with(&sandbox, &args, &[]);
    run.assert_code(0);
    let log = sandbox.read_string("log");
    let row = log.lines().nth(1).expect("a joblog row");
    assert!(row.ends_with("\tdiff <(sort a) b"), "{row}");
    assert!(
        run.status_of(1).ends_with(": diff <(sort a) b"),
        "{}",
        run.stderr
    );
    let run = run_with(
        &sandbox,
        &[
            "--shell",
            "bash",
            "--dry-run",
            "--",
            "diff <(sort {}) b",
            ":::",
            "a",
        ],
        &[],
    );
    run.assert_code(0);
    assert_eq!(run.stdout_str(), "diff <(sort a) b\n");
}

#[test]
fn a_long_command_runs_under_the_chosen_shell_too() {
    // Over 128 KiB: run from a script file rather than as `-c`'s argument.
    let sandbox = Sandbox::new();
    let job = format!(
        "[[ -n $BASH_VERSION ]] && echo bash # {}\n",
        "x".repeat(200_000)
    );
    let run = sandbox.run(["--shell", "bash", "-"], &job);
    run.assert_code(0);
    assert_eq!(run.stdout_str(), "bash\n");
}

#[test]
fn a_shell_that_does_not_read_posix_quoting_runs_command_lists_only() {
    let sandbox = Sandbox::new();
    let fish = sandbox.write("fish", "#!/bin/sh\nexec /bin/sh \"$@\"\n");
    std::fs::set_permissions(&fish, std::fs::Permissions::from_mode(0o755)).unwrap();
    let fish = fish.to_str().unwrap();
    let run = run_with(&sandbox, &["--shell", fish, "--", "echo", ":::", "x"], &[]);
    run.assert_code(2);
    assert!(
        run.stderr
            .contains("quoted for POSIX shells, which fish does not read the same way"),
        "{}",
        run.stderr
    );
    let run = sandbox.run(["--shell", fish, "-"], "echo listed\n");
    run.assert_code(0);
    assert_eq!(run.stdout_str(), "listed\n");
}

/// The lines of `stderr` that are exactly `line`.
fn count(stderr: &str, line: &str) -> usize {
    stderr.lines().filter(|l| *l == line).count()
}

#[test]
fn t_prints_each_command_on_stderr_as_it_starts() {
    let sandbox = Sandbox::new();
    for flag in ["-t", "--verbose-commands", "-v"] {
        let run = run_with(
            &sandbox,
            &[flag, "-j", "2", "--", "echo", "{}", ":::", "a", "b c", "d"],
            &[],
        );
        run.assert_code(0);
        assert_eq!(run.sorted_stdout_lines(), ["a", "b c", "d"], "{flag}");
        for (n, command) in [(1, "echo a"), (2, "echo 'b c'"), (3, "echo d")] {
            assert_eq!(count(&run.stderr, command), 1, "{flag}:\n{}", run.stderr);
            // Printed as the job starts: before the line saying it ended.
            let echoed = run.stderr.find(&format!("{command}\n")).unwrap();
            let ended = run.stderr.find(&format!("[{n}] ok after")).unwrap();
            assert!(echoed < ended, "{flag}:\n{}", run.stderr);
        }
        assert!(
            !run.stderr.contains("INFO"),
            "-v is not diagnostics: {}",
            run.stderr
        );
    }
    // Without it, no command is printed but in status lines.
    let run = run_with(&sandbox, &["--", "echo", "{}", ":::", "a"], &[]);
    assert_eq!(count(&run.stderr, "echo a"), 0);
}

#[test]
fn t_prints_every_attempt() {
    let sandbox = Sandbox::new();
    let run = run_with(
        &sandbox,
        &["-t", "--retries", "3", "--", "exit", "{}", ":::", "4"],
        &[],
    );
    run.assert_code(1);
    assert_eq!(count(&run.stderr, "exit 4"), 3, "{}", run.stderr);
}

#[test]
fn t_lines_never_garble_the_progress_display() {
    let sandbox = Sandbox::new();
    let jobs: String = (1..=12)
        .map(|n| format!("sleep 0.2 # job-{n:02}\n"))
        .collect();
    let file = sandbox.write("jobs.txt", jobs);
    let mut pty = Pty::spawn(
        100,
        80,
        sandbox.path(),
        &["-t", "-j", "2", file.to_str().unwrap()],
        &[],
    );
    assert_eq!(pty.wait_exit(), 0, "{}", pty.screen());
    let rows = pty.rows();
    for n in 1..=12 {
        let command = format!("sleep 0.2 # job-{n:02}");
        let whole = rows.iter().filter(|r| r.trim_end() == command).count();
        assert_eq!(
            whole,
            1,
            "job {n}'s line is whole, on a row of its own:\n{}",
            pty.screen()
        );
        let mixed = rows.iter().filter(|r| {
            r.contains(&command) && r.trim_end() != command && !r.contains("] ok after")
        });
        assert_eq!(mixed.count(), 0, "{}", pty.screen());
    }
    assert!(pty.wrapped_rows().is_empty(), "{}", pty.screen());
}
