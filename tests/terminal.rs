//! The terminal experience, on a real pseudo-terminal at 40, 80 and 200 columns:
//! the progress line never wraps and never outlives the run, the cursor is
//! hidden while it is drawn and visible at exit, the first Ctrl-C says that the
//! run is stopping, Ctrl-Z stops the jobs too and SIGCONT resumes them, status
//! lines fit the width, a job's output without a final newline gets one (and
//! its colour does not leak), and TERM=dumb gets no colour.
//!
//! Nothing here depends on timing: every condition is polled with a generous
//! deadline; the one pause (Ctrl-Z) checks that a stopped job's file does not
//! grow, which no load can make it do.
#![cfg(feature = "cli")]

mod common;

use std::time::Duration;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use common::eventually;
use common::procs::{assert_nothing_left, sleepers};
use common::pty::{Pty, process_state};
use common::sandbox::Sandbox;

const WIDTHS: [u16; 3] = [40, 80, 200];

/// Fingerprints of the progress line (never of a status line or the summary).
fn is_progress_line(row: &str) -> bool {
    row.contains("/40 ·")
        || row.contains('░')
        || row.contains("SIGKILL in ")
        || row.contains(" read ·")
}

#[test]
fn the_progress_line_fits_and_ctrl_c_leaves_only_the_summary() {
    for cols in WIDTHS {
        let (sandbox, m) = Sandbox::with_marker();
        let jobs: String = (0..40).map(|_| format!("sleep {m}\n")).collect();
        let file = sandbox.write("jobs.txt", jobs);
        let mut pty = Pty::spawn(
            cols,
            30,
            sandbox.path(),
            &["-j", "6", file.to_str().unwrap()],
            &[],
        );
        eventually("6 jobs running", || sleepers(&m).len() == 6);
        pty.wait_for("the progress line", |rows| {
            rows.iter().any(|r| r.contains("0/40"))
        });
        assert!(
            pty.wrapped_rows().is_empty(),
            "{cols} columns, wrapped:\n{}",
            pty.screen()
        );
        assert!(
            pty.cursor_hidden(),
            "the cursor is hidden while the line is drawn"
        );
        for row in pty.rows() {
            assert!(
                row.chars().count() <= usize::from(cols) - 2,
                "{row:?} in {cols}"
            );
        }

        pty.type_keys(b"\x03");
        let code = pty.wait_exit();
        assert_eq!(code, 130, "{}", pty.screen());
        let rows = pty.rows();
        let screen = pty.screen();
        // Long lines wrap at 40 columns: compare without spaces.
        let joined = rows.concat().replace(' ', "");
        assert!(
            joined.contains("atp-run:stopping:") && joined.contains("(Ctrl-Cagaintokillnow)"),
            "{cols} columns: no stopping message:\n{screen}"
        );
        assert!(
            !rows.iter().any(|r| is_progress_line(r)),
            "{cols} columns: a stale progress line:\n{screen}"
        );
        assert!(
            !pty.cursor_hidden(),
            "{cols} columns: the cursor is hidden at exit"
        );
        // The killed jobs are one count in the summary, not a line each.
        assert!(!screen.contains("] killed by"), "{screen}");
        assert!(
            joined.contains("6stoppedbytheinterrupt") && joined.contains("34neverstarted"),
            "{cols} columns:\n{screen}"
        );
        assert_nothing_left(&m, &[]);
    }
}

#[test]
fn status_lines_are_shortened_to_the_width_in_the_middle() {
    for cols in WIDTHS {
        let sandbox = Sandbox::new();
        let long = format!("echo start{} # the-end", "x".repeat(400));
        let file = sandbox.write("jobs.txt", format!("{long}\n"));
        let mut pty = Pty::spawn(
            cols,
            30,
            sandbox.path(),
            &["--no-progress", file.to_str().unwrap()],
            &[],
        );
        assert_eq!(pty.wait_exit(), 0, "{}", pty.screen());
        let rows = pty.rows();
        let status = rows
            .iter()
            .find(|r| r.starts_with("[1] ok"))
            .expect("a status line");
        assert!(status.ends_with("the-end"), "{status:?}");
        assert!(status.contains('…'), "{status:?}");
        let status_wrapped = pty.wrapped_rows().iter().any(|r| r.starts_with("[1] ok"));
        assert!(!status_wrapped, "{cols} columns:\n{}", pty.screen());
    }
}

#[test]
fn output_without_a_final_newline_gets_one_and_its_colour_ends() {
    let sandbox = Sandbox::new();
    let file = sandbox.write("jobs.txt", "printf '\\033[31mRED'\n");
    let mut pty = Pty::spawn(
        80,
        10,
        sandbox.path(),
        &["--color=always", file.to_str().unwrap()],
        &[],
    );
    assert_eq!(pty.wait_exit(), 0, "{}", pty.screen());
    let rows = pty.rows();
    assert!(rows.iter().any(|r| r == "RED"), "{}", pty.screen());
    assert_eq!(
        pty.default_colour_at("[1] "),
        Some(true),
        "the job's red leaks"
    );
}

#[test]
fn a_dumb_terminal_gets_no_colour() {
    let sandbox = Sandbox::new();
    let file = sandbox.write("jobs.txt", "exit 3\n");
    let mut pty = Pty::spawn(
        80,
        10,
        sandbox.path(),
        &[file.to_str().unwrap()],
        &[("TERM", "dumb")],
    );
    assert_eq!(pty.wait_exit(), 1);
    assert!(
        pty.screen().contains("[1] failed with exit code 3"),
        "{}",
        pty.screen()
    );
    assert!(!contains(&pty.raw(), b"\x1b[31m"), "colour on TERM=dumb");
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn ctrl_z_stops_the_jobs_and_sigcont_resumes_them() {
    let (sandbox, m) = Sandbox::with_marker();
    let ticks = sandbox.join("ticks");
    // The marker in the loop lets the sandbox reap the job if the test fails.
    let job = format!(
        "while :; do echo x >> {}; sleep 0.05; : {m}; done\n",
        ticks.display()
    );
    let file = sandbox.write("jobs.txt", job);
    let mut pty = Pty::spawn(80, 20, sandbox.path(), &[file.to_str().unwrap()], &[]);
    let size = || std::fs::metadata(&ticks).map_or(0, |m| m.len());
    eventually("the job to tick", || size() > 0);
    let pid = pty.pid();

    pty.type_keys(b"\x1a");
    eventually("atp-run to stop", || process_state(pid) == Some('T'));
    // A stopped atp-run writes nothing: what it wrote before stopping only has to
    // reach the screen (the pty is read on a thread of its own).
    eventually("the cursor to be shown while stopped", || {
        !pty.cursor_hidden()
    });
    assert_eq!(process_state(pid), Some('T'));
    // The jobs were stopped before atp-run stopped itself; let a write under way
    // land, then the file must not grow.
    std::thread::sleep(Duration::from_millis(300));
    let stopped_at = size();
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(
        size(),
        stopped_at,
        "the job kept running while atp-run was stopped"
    );

    kill(Pid::from_raw(pid as i32), Signal::SIGCONT).unwrap();
    eventually("the job to tick again", || size() > stopped_at);
    pty.type_keys(b"\x03");
    assert_eq!(pty.wait_exit(), 130, "{}", pty.screen());
    assert!(!pty.cursor_hidden());
    assert_nothing_left(&m, &[]);
}

#[test]
fn ctrl_z_removes_the_progress_line_and_sigcont_brings_it_back() {
    let (sandbox, m) = Sandbox::with_marker();
    let file = sandbox.write("jobs.txt", format!("sleep {m}\n"));
    let mut pty = Pty::spawn(80, 20, sandbox.path(), &[file.to_str().unwrap()], &[]);
    let line_shown = |rows: &[String]| rows.iter().any(|r| is_progress_line(r));
    pty.wait_for("the progress line", line_shown);
    let pid = pty.pid();

    pty.type_keys(b"\x1a");
    eventually("atp-run to stop", || process_state(pid) == Some('T'));
    // Nothing is written while atp-run is stopped: the line is gone for good.
    pty.wait_for("the line to be removed", |rows| !line_shown(rows));

    kill(Pid::from_raw(pid as i32), Signal::SIGCONT).unwrap();
    pty.wait_for("the line to come back", line_shown);
    assert!(pty.cursor_hidden(), "the cursor is hidden again");
    assert!(pty.wrapped_rows().is_empty(), "{}", pty.screen());
    pty.type_keys(b"\x03");
    assert_eq!(pty.wait_exit(), 130, "{}", pty.screen());
    assert!(!pty.cursor_hidden());
    assert_nothing_left(&m, &[]);
}

#[test]
fn a_second_ctrl_c_kills_at_once_and_the_cursor_comes_back() {
    let (sandbox, m) = Sandbox::with_marker();
    // Jobs that ignore SIGTERM: only SIGKILL ends them, after a grace of 10 min
    // unless the second Ctrl-C cuts it short.
    let jobs: String = (0..3)
        .map(|_| format!("trap '' TERM; sleep {m}\n"))
        .collect();
    let file = sandbox.write("jobs.txt", jobs);
    let args = ["-j", "3", "--grace", "10m", file.to_str().unwrap()];
    let mut pty = Pty::spawn(80, 20, sandbox.path(), &args, &[]);
    eventually("3 jobs running", || sleepers(&m).len() == 3);
    pty.wait_for("the progress line", |rows| {
        rows.iter().any(|r| r.contains("0/3"))
    });
    pty.type_keys(b"\x03");
    pty.wait_for("the stopping line", |rows| {
        rows.iter().any(|r| {
            r.starts_with("stopping: 3 jobs sent SIGTERM") && r.contains("Ctrl-C again to kill now")
        })
    });
    assert!(pty.cursor_hidden());
    pty.type_keys(b"\x03");
    assert_eq!(pty.wait_exit(), 130, "{}", pty.screen());
    assert!(!pty.cursor_hidden(), "the cursor is hidden at exit");
    let rows = pty.rows();
    assert!(
        !rows.iter().any(|r| is_progress_line(r)),
        "{}",
        pty.screen()
    );
    assert_nothing_left(&m, &[]);
}

#[test]
fn a_resized_terminal_gets_a_line_that_fits_the_new_width() {
    let (sandbox, m) = Sandbox::with_marker();
    let jobs: String = (0..40).map(|_| format!("sleep {m}\n")).collect();
    let file = sandbox.write("jobs.txt", jobs);
    let mut pty = Pty::spawn(
        200,
        20,
        sandbox.path(),
        &["-j", "4", file.to_str().unwrap()],
        &[],
    );
    pty.wait_for("a wide progress line", |rows| {
        rows.iter()
            .any(|r| r.contains("0/40") && r.contains("workers"))
    });
    pty.resize(40);
    // What atp-run wrote just before the resize may reach this screen only after
    // it: a terminal would have shown it at 200 columns, this one wraps it at 40,
    // and its first row, cut by the wrap, looks like a short line. Every row of
    // such a line that shows "0/40" goes on to the next (indicatif pads it to 198
    // columns). A row with "0/40" that does not was drawn for 40 columns, so after
    // the resize, so after all of that: the screen is cleared once it is seen, and
    // what atp-run draws from then on is judged.
    let fitted = |rows: &[String]| {
        rows.iter()
            .any(|r| r.contains("0/40") && !r.contains("workers"))
    };
    pty.wait_for_unwrapped("a line for 40 columns", fitted);
    pty.clear();
    pty.wait_for("the line drawn again", fitted);
    for row in pty.rows() {
        assert!(row.chars().count() <= 38, "{row:?}");
    }
    assert!(pty.wrapped_rows().is_empty(), "{}", pty.screen());
    pty.type_keys(b"\x03");
    assert_eq!(pty.wait_exit(), 130);
    assert_nothing_left(&m, &[]);
}

#[test]
fn redirected_output_stays_byte_for_byte() {
    let sandbox = Sandbox::new();
    let run = sandbox.run(["--color=always", "-"], "printf '\\033[31mRED'\n");
    run.assert_code(0);
    assert_eq!(run.stdout, b"\x1b[31mRED", "nothing added off a terminal");
}

#[test]
fn with_v_each_stopped_job_keeps_its_status_line_on_a_terminal() {
    let (sandbox, m) = Sandbox::with_marker();
    let jobs: String = (0..3).map(|_| format!("sleep {m}\n")).collect();
    let file = sandbox.write("jobs.txt", jobs);
    let args = ["-v", "-j", "3", file.to_str().unwrap()];
    let mut pty = Pty::spawn(200, 30, sandbox.path(), &args, &[]);
    eventually("3 jobs running", || sleepers(&m).len() == 3);
    pty.wait_for("the progress line", |rows| {
        rows.iter().any(|r| r.contains("0/3"))
    });
    pty.type_keys(b"\x03");
    assert_eq!(pty.wait_exit(), 130, "{}", pty.screen());
    let killed = pty
        .rows()
        .iter()
        .filter(|r| r.contains("] killed by SIGTERM after "))
        .count();
    assert_eq!(killed, 3, "{}", pty.screen());
    assert_nothing_left(&m, &[]);
}

#[test]
fn a_closed_stdout_shows_the_cursor_again() {
    let sandbox = Sandbox::new();
    let file = sandbox.write("jobs.txt", "seq 1 100000\nseq 1 100000\n");
    let script = format!(
        "'{}' {} | head -1",
        env!("CARGO_BIN_EXE_atp-run"),
        file.display()
    );
    let mut pty = Pty::spawn_program(80, 20, sandbox.path(), "/bin/sh", &["-c", &script]);
    pty.wait_exit();
    assert!(pty.rows().iter().any(|r| r == "1"), "{}", pty.screen());
    assert!(
        contains(&pty.raw(), b"\x1b[?25l"),
        "the cursor was never hidden: the test shows nothing"
    );
    assert!(!pty.cursor_hidden(), "the cursor is hidden after `| head`");
}
