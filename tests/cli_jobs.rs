//! CLI tests of job control, with real processes: `--joblog` (byte format, `+FILE`,
//! an unwritable path), `--resume` and `--resume-failed` (with GNU-parallel-style
//! joblogs, and with GNU parallel itself reading ours when it is installed), a
//! `kill -9` in the middle of a run then `--resume`, `--retries`, `--timeout` and
//! `--termseq`, `--halt`, `--dry-run`, and SIGUSR1.
//!
//! Jobs that must be running when something happens carry a unique
//! `sleep 1000.<marker>`; nothing they start may outlive a test.
#![cfg(feature = "cli")]

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use nix::sys::signal::Signal;

use common::outcome::json_lines;
use common::procs::{assert_nothing_left, sleepers};
use common::sandbox::Sandbox;
use common::shell::{wait_for, wait_for_all};
use common::timeout::{READY, until_ready_in_time};
use common::{RUN_LIMIT, eventually};

const HEADER: &str = "Seq\tHost\tStarttime\tJobRuntime\tSend\tReceive\tExitval\tSignal\tCommand";

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

/// A joblog row split into its nine fields, after checking each field's format.
fn row_fields(row: &str) -> Vec<&str> {
    let fields: Vec<&str> = row.splitn(9, '\t').collect();
    assert_eq!(fields.len(), 9, "row {row:?}");
    assert!(
        fields[0].bytes().all(|b| b.is_ascii_digit()),
        "Seq in {row:?}"
    );
    assert_eq!(fields[1], ":", "Host in {row:?}");
    let (secs, ms) = fields[2].split_once('.').expect("Starttime has a point");
    assert!(
        secs.bytes().all(|b| b.is_ascii_digit()) && ms.len() == 3,
        "{row:?}"
    );
    assert_eq!(fields[3].len(), 10, "JobRuntime is %10.3f in {row:?}");
    let runtime = fields[3].trim_start();
    let (secs, ms) = runtime.split_once('.').expect("JobRuntime has a point");
    assert!(
        secs.bytes().all(|b| b.is_ascii_digit()) && ms.len() == 3,
        "{row:?}"
    );
    assert!(
        fields[4..6]
            .iter()
            .all(|f| !f.is_empty() && f.bytes().all(|b| b.is_ascii_digit())),
        "Send, Receive in {row:?}"
    );
    fields
}

/// Rows of a joblog by Seq (panics on a Seq logged twice).
fn rows_by_seq(log: &str) -> BTreeMap<u64, Vec<String>> {
    let mut lines = log.lines();
    assert_eq!(lines.next(), Some(HEADER));
    let mut rows = BTreeMap::new();
    for row in lines {
        let fields: Vec<String> = row_fields(row).iter().map(|s| s.to_string()).collect();
        let seq = fields[0].parse().unwrap();
        assert!(
            rows.insert(seq, fields).is_none(),
            "Seq {seq} twice in:\n{log}"
        );
    }
    rows
}

#[test]
fn joblog_rows_are_gnu_parallels_format_byte_for_byte() {
    let sb = Sandbox::new();
    let before = now();
    sb.run(
        ["--joblog", "log", "-j", "3"],
        "true\nexit 3\nkill -USR1 $$\nprintf 'x'\n",
    )
    .assert_code(1);
    let after = now();
    let log = sb.read_string("log");
    assert!(log.starts_with(&format!("{HEADER}\n")), "{log}");
    assert!(log.ends_with('\n'));
    let rows = rows_by_seq(&log);
    assert_eq!(rows.len(), 4, "{log}");
    let status = |seq: u64| {
        let r = &rows[&seq];
        (r[6].as_str(), r[7].as_str(), r[8].as_str())
    };
    assert_eq!(status(1), ("0", "0", "true"));
    assert_eq!(status(2), ("3", "0", "exit 3"));
    assert_eq!(status(3), ("0", "10", "kill -USR1 $$"));
    assert_eq!(status(4), ("0", "0", "printf 'x'"));
    // Send: no --pipe block; Receive: the bytes of stdout (GNU's).
    let sizes: Vec<(&str, &str)> = rows
        .values()
        .map(|r| (r[4].as_str(), r[5].as_str()))
        .collect();
    assert_eq!(sizes, [("0", "0"), ("0", "0"), ("0", "0"), ("0", "1")]);
    for row in rows.values() {
        let start: f64 = row[2].parse().unwrap();
        assert!(start >= before - 1.0 && start <= after + 1.0, "{row:?}");
    }
}

#[test]
fn joblog_receive_is_the_jobs_stdout_in_every_output_mode() {
    // 12 bytes of stdout, the last line without its newline, and some stderr.
    // GNU parallel 20221122 writes Receive 12 grouped, with -k, --tag and
    // --results DIR, and 0 with --ungroup (the output does not pass through
    // it). Its --line-buffer also adds stderr and counts the unfinished line
    // twice (26 here); atp-run counts stdout alone there too.
    let sb = Sandbox::new();
    let job = "printf 'a\\nno newline'; echo err >&2\n";
    for (mode, receive) in [
        (None, "12"),
        (Some("--keep-order"), "12"),
        (Some("--tag"), "12"),
        (Some("--line-buffer"), "12"),
        (Some("--results=res"), "12"),
        (Some("--ungroup"), "0"),
    ] {
        let mut args = vec!["--joblog", "log"];
        args.extend(mode);
        sb.run(&args, job).assert_code(0);
        let rows = rows_by_seq(&sb.read_string("log"));
        assert_eq!(
            (rows[&1][4].as_str(), rows[&1][5].as_str()),
            ("0", receive),
            "{mode:?}"
        );
    }
}

#[test]
fn joblog_plus_appends_without_a_second_header_and_plain_truncates() {
    let sb = Sandbox::new();
    sb.run(["--joblog", "+log"], "true\n").assert_code(0);
    sb.run(["--joblog", "+log"], "exit 2\n").assert_code(1);
    let log = sb.read_string("log");
    assert_eq!(log.matches("Seq\t").count(), 1, "{log}");
    let rows: Vec<&str> = log.lines().skip(1).collect();
    assert_eq!(rows.len(), 2, "{log}");
    assert!(rows[0].ends_with("\t0\t0\ttrue") && rows[1].ends_with("\t2\t0\texit 2"));
    sb.run(["--joblog", "log"], "true\n").assert_code(0);
    assert_eq!(sb.read_string("log").lines().count(), 2);
}

#[test]
fn an_unwritable_joblog_is_an_error_before_anything_runs() {
    let sb = Sandbox::new();
    let run = sb.run(["--joblog", "no/such/dir/log"], "touch ran\n");
    run.assert_code(2);
    assert!(
        run.stderr.contains("--joblog no/such/dir/log"),
        "{}",
        run.stderr
    );
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
    assert!(!sb.exists("ran"));
}

/// A joblog as GNU parallel 20221122 writes it (header, padded JobRuntime,
/// a timed-out job's -1, a signal), for jobs 1, 2, 4 and 5 of 6.
const GNU_JOBLOG: &str = "Seq\tHost\tStarttime\tJobRuntime\tSend\tReceive\tExitval\tSignal\tCommand\n\
1\t:\t1795554487.932\t     0.006\t0\t0\t0\t0\techo 1 >> out\n\
2\t:\t1795554487.938\t     0.000\t0\t0\t3\t0\techo 2 >> out\n\
4\t:\t1795554487.947\t     1.314\t0\t0\t-1\t15\techo 4 >> out\n\
5\t:\t1795554487.950\t     0.099\t0\t0\t0\t9\techo 5 >> out\n";

fn numbered_lines(sb: &Sandbox, name: &str) -> Vec<u64> {
    let mut v: Vec<u64> = sb
        .read_string(name)
        .lines()
        .map(|l| l.trim().parse().unwrap())
        .collect();
    v.sort();
    v
}

#[test]
fn resume_skips_every_job_in_a_gnu_joblog_and_keeps_job_numbers() {
    let sb = Sandbox::new();
    sb.write("log", GNU_JOBLOG);
    let input = "a\nb\nc\nd\ne\nf\n";
    let run = sb.run(
        [
            "--joblog", "log", "--resume", "--", ":", "{};", "echo", "{#}", ">>", "out",
        ],
        input,
    );
    run.assert_code(0);
    assert_eq!(numbered_lines(&sb, "out"), [3, 6]);
    assert!(
        run.stderr.contains("skipped 4 jobs already in the joblog"),
        "{}",
        run.stderr
    );
    // Appended to the log it resumed from: GNU's rows, then ours.
    let log = sb.read_string("log");
    assert!(log.starts_with(GNU_JOBLOG), "{log}");
    let rows = rows_by_seq(&log);
    assert_eq!(rows.keys().copied().collect::<Vec<_>>(), [1, 2, 3, 4, 5, 6]);
    // Resuming again runs nothing.
    sb.run(
        [
            "--joblog", "log", "--resume", "--", ":", "{};", "echo", "{#}", ">>", "out",
        ],
        input,
    )
    .assert_code(0);
    assert_eq!(numbered_lines(&sb, "out"), [3, 6]);
}

#[test]
fn resume_failed_reruns_the_failed_jobs_and_the_missing_ones() {
    let sb = Sandbox::new();
    sb.write("log", GNU_JOBLOG);
    let input = "a\nb\nc\nd\ne\nf\n";
    let args = [
        "--joblog",
        "log",
        "--resume-failed",
        "--",
        ":",
        "{};",
        "echo",
        "{#}",
        ">>",
        "out",
    ];
    sb.run(args, input).assert_code(0);
    // 2 exited 3, 4 timed out, 5 was killed; 3 and 6 never ran.
    assert_eq!(numbered_lines(&sb, "out"), [2, 3, 4, 5, 6]);
    // Now every job has a successful row: nothing more to do.
    sb.run(args, input).assert_code(0);
    assert_eq!(numbered_lines(&sb, "out"), [2, 3, 4, 5, 6]);
}

#[test]
fn a_file_that_is_not_a_joblog_cannot_be_resumed() {
    let sb = Sandbox::new();
    sb.write("log", "hello\nworld\n");
    let run = sb.run(["--joblog", "log", "--resume"], "touch ran\n");
    run.assert_code(2);
    assert!(
        run.stderr.contains("--joblog log") && run.stderr.contains("line 1"),
        "{}",
        run.stderr
    );
    assert!(!sb.exists("ran"));
    assert_eq!(sb.read_string("log"), "hello\nworld\n");
}

#[test]
fn gnu_parallel_resumes_from_our_joblog() {
    let Some(parallel) = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("parallel"))
            .find(|p| p.is_file())
    }) else {
        eprintln!("skipped: GNU parallel is not installed");
        return;
    };
    let sb = Sandbox::new();
    sb.run(
        ["--joblog", "log", "--", "echo", "{}", ">>", "out"],
        "a\nb\nc\n",
    )
    .assert_code(0);
    let output = std::process::Command::new(parallel)
        .args([
            "--will-cite",
            "--resume",
            "--joblog",
            "log",
            "echo {} >> out",
            ":::",
        ])
        .args(["a", "b", "c", "d", "e"])
        .current_dir(sb.path())
        .env("HOME", sb.path())
        .output()
        .expect("cannot run parallel");
    assert!(output.status.success(), "{output:?}");
    let mut lines: Vec<String> = sb.read_string("out").lines().map(str::to_owned).collect();
    lines.sort();
    assert_eq!(lines, ["a", "b", "c", "d", "e"]);
    assert_eq!(rows_by_seq(&sb.read_string("log")).len(), 5);
}

#[test]
fn after_kill_9_resume_runs_every_job_rerunning_only_those_in_flight() {
    let (sb, m) = Sandbox::with_marker();
    let input: String = (1..=12).map(|i| format!("{i}\n")).collect();
    sb.write("input", &input);
    // Jobs 1-4 end at once; later ones sleep until the file `go` exists.
    let template =
        format!(": {{}}; echo {{#}} >> out; if [ {{#}} -gt 4 ] && [ ! -e go ]; then sleep {m}; fi");
    let args = [
        "--joblog",
        "log",
        "-j",
        "3",
        "input",
        "--",
        template.as_str(),
    ];
    let mut running = sb.spawn(args);
    eventually("3 jobs sleeping", || sleepers(&m).len() == 3);
    eventually("4 rows in the joblog", || {
        std::fs::read_to_string(sb.join("log")).is_ok_and(|l| l.lines().count() == 5)
    });
    running.signal(Signal::SIGKILL);
    let _ = running.wait_for_exit(RUN_LIMIT);
    let logged_before: Vec<u64> = rows_by_seq(&sb.read_string("log")).into_keys().collect();
    assert_eq!(logged_before, [1, 2, 3, 4]);
    // The orphaned sleepers are not ours to wait for.
    m.reap();
    sb.write("go", "");

    let resume = [
        "--resume",
        "--joblog",
        "log",
        "-j",
        "3",
        "input",
        "--",
        template.as_str(),
    ];
    sb.run(resume, "").assert_code(0);
    let ran = numbered_lines(&sb, "out");
    let mut counts = BTreeMap::new();
    for n in ran {
        *counts.entry(n).or_insert(0) += 1;
    }
    for n in 1..=12u64 {
        let times = counts.get(&n).copied().unwrap_or(0);
        assert!(times >= 1, "job {n} never ran: {counts:?}");
        if logged_before.contains(&n) {
            assert_eq!(times, 1, "job {n} had a row yet ran again: {counts:?}");
        } else {
            assert!(times <= 2, "job {n} ran {times} times: {counts:?}");
        }
    }
    assert_eq!(counts.len(), 12);
    let rows = rows_by_seq(&sb.read_string("log"));
    assert_eq!(
        rows.keys().copied().collect::<Vec<_>>(),
        (1..=12).collect::<Vec<_>>()
    );
}

#[test]
fn retries_rerun_a_failing_job_and_only_the_last_attempt_counts() {
    let sb = Sandbox::new();
    // Fails twice, then succeeds.
    let job = "echo x >> tries; [ $(wc -l < tries) -ge 3 ]\n";
    let run = sb.run(["--retries", "3", "--joblog", "log"], job);
    run.assert_code(0);
    let lines = run.status_lines();
    assert_eq!(lines.len(), 3, "{}", run.stderr);
    assert!(
        lines[0].starts_with("[1] failed with exit code 1 after "),
        "{}",
        lines[0]
    );
    assert!(
        lines[0].contains("s (attempt 1 of 3): echo x"),
        "{}",
        lines[0]
    );
    assert!(lines[1].contains("(attempt 2 of 3)"), "{}", lines[1]);
    assert!(lines[2].starts_with("[1] ok after ") && lines[2].contains("(attempt 3 of 3)"));
    run.assert_summary_starts_with("atp-run: 1 job ran, 1 succeeded, 0 failed");
    // GNU parallel logs a retried job once, with its last attempt.
    let rows = rows_by_seq(&sb.read_string("log"));
    assert_eq!(rows.len(), 1);
    assert_eq!((rows[&1][6].as_str(), rows[&1][7].as_str()), ("0", "0"));

    let run = sb.run(["--retries", "2"], "exit 7\n");
    run.assert_code(1);
    assert_eq!(run.status_lines().len(), 2, "{}", run.stderr);
    run.assert_summary_starts_with("atp-run: 1 job ran, 0 succeeded, 1 failed");
}

#[test]
fn timeout_terminates_the_whole_group_and_counts_as_failed() {
    let (sb, m) = Sandbox::with_marker();
    let jobs = format!("sleep {m} | cat\ntrue\n");
    let run = sb.run(["--timeout", "1s", "--joblog", "log"], &jobs);
    run.assert_code(1);
    let line = run.status_of(1);
    assert!(line.starts_with("[1] timed out after "), "{line}");
    assert!(
        line.ends_with(&format!("s (killed by SIGTERM): sleep {m} | cat")),
        "{line}"
    );
    assert!(run.status_of(2).starts_with("[2] ok after "));
    let rows = rows_by_seq(&sb.read_string("log"));
    assert_eq!((rows[&1][6].as_str(), rows[&1][7].as_str()), ("-1", "15"));
    let runtime: f64 = rows[&1][3].trim().parse().unwrap();
    assert!(runtime >= 1.0, "{runtime}");
    assert_eq!((rows[&2][6].as_str(), rows[&2][7].as_str()), ("0", "0"));
    assert_nothing_left(&m, &[]);
}

#[test]
fn termseq_escalates_for_jobs_that_ignore_sigterm() {
    let (sb, m) = Sandbox::with_marker();
    // The job must ignore SIGTERM before its time is up.
    let job = format!("trap '' TERM; : >{READY}; sleep {m}\n");
    let (run, _) = until_ready_in_time(&sb, Duration::from_millis(500), |limit| {
        sb.run(["--timeout", limit, "--termseq", "TERM,200,KILL,25"], &job)
    });
    run.assert_code(1);
    let line = run.status_of(1);
    assert!(
        line.contains("timed out after ") && line.contains("(killed by SIGKILL)"),
        "{line}"
    );
    assert_nothing_left(&m, &[]);
}

#[test]
fn bad_job_control_values_name_the_flag_and_exit_2() {
    let sb = Sandbox::new();
    for (args, flag) in [
        (&["--termseq", "TERM,soon"][..], "--termseq"),
        (&["--halt", "now,crash=1"][..], "--halt"),
        (&["--timeout", "0"][..], "--timeout"),
        (&["--retries", "0"][..], "--retries"),
        (&["--resume"][..], "--joblog"),
    ] {
        let run = sb.run(args, "touch ran\n");
        run.assert_code(2);
        assert!(run.stderr.contains(flag), "{args:?}: {}", run.stderr);
    }
    assert!(!sb.exists("ran"));
}

#[test]
fn halt_now_on_a_failure_kills_the_running_jobs_and_exits_with_its_status() {
    let (sb, m) = Sandbox::with_marker();
    // Job 1 fails once jobs 2 and 3 are running.
    let jobs = format!(
        "{}; exit 4\ntouch s2; sleep {m}\ntouch s3; sleep {m}\ntouch never\n",
        wait_for_all(&["s2", "s3"])
    );
    let run = sb.run(
        ["-j", "3", "--halt", "now,fail=1", "--joblog", "log"],
        &jobs,
    );
    run.assert_code(4);
    assert!(
        run.stderr
            .contains("atp-run: --halt now,fail=1: job 1 failed; killing"),
        "{}",
        run.stderr
    );
    assert!(
        run.status_of(2).contains("killed by SIGTERM"),
        "{}",
        run.stderr
    );
    assert!(!sb.exists("never"));
    // Killed jobs get no row (as in GNU parallel), so --resume reruns them.
    let rows = rows_by_seq(&sb.read_string("log"));
    assert_eq!(rows.keys().copied().collect::<Vec<_>>(), [1]);
    assert_eq!(rows[&1][6], "4");
    assert_nothing_left(&m, &[]);
}

#[test]
fn halt_soon_lets_running_jobs_finish_and_starts_no_more() {
    let sb = Sandbox::new();
    // Job 1 fails once job 2 runs; job 2 ends only when the test has seen the halt
    // decided, so it is running then however slowly job 1 sees its file.
    let jobs = format!(
        "{}; exit 5\ntouch b_running; {}; touch b_done\ntouch c\ntouch d\ntouch e\n",
        wait_for("b_running"),
        wait_for("halted")
    );
    sb.write("jobs", &jobs);
    let mut running = sb.spawn(["-j", "2", "--halt", "soon,fail=1", "jobs"]);
    eventually("the halt to be decided", || {
        running.stderr_so_far().contains("starting no more jobs")
    });
    sb.write("halted", "");
    let run = running.wait_for_exit(RUN_LIMIT).run;
    run.assert_code(5);
    assert!(sb.exists("b_done"), "the running job was not let finish");
    assert!(
        !sb.exists("c") && !sb.exists("d") && !sb.exists("e"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("starting no more jobs"),
        "{}",
        run.stderr
    );
}

#[test]
fn halt_on_success_exits_0() {
    let sb = Sandbox::new();
    let run = sb.run(
        ["-j", "1", "--halt", "now,success=1"],
        "exit 3\ntrue\ntouch never\n",
    );
    run.assert_code(0);
    assert!(!sb.exists("never"));
}

#[test]
fn dry_run_prints_the_commands_and_runs_nothing() {
    let sb = Sandbox::new();
    let run = sb.run(
        ["--dry-run", "--", "touch", "{}", "#{#}"],
        "a b\n$(touch pwned)\n",
    );
    run.assert_code(0);
    assert_eq!(
        run.stdout_str(),
        "touch 'a b' #1\ntouch '$(touch pwned)' #2\n"
    );
    assert!(run.stderr.is_empty(), "{}", run.stderr);
    assert!(!sb.exists("a b") && !sb.exists("pwned"));
    // With --resume, the jobs in the joblog are left out.
    sb.write("log", GNU_JOBLOG);
    let run = sb.run(
        [
            "--dry-run",
            "--resume",
            "--joblog",
            "log",
            "--",
            "echo",
            "{#}",
            "#{}",
        ],
        "a\nb\nc\nd\ne\nf\n",
    );
    run.assert_code(0);
    assert_eq!(run.stdout_str(), "echo 3 #c\necho 6 #f\n");
    assert_eq!(sb.read_string("log"), GNU_JOBLOG);
}

#[test]
fn sigusr1_lists_the_running_jobs_and_stops_nothing() {
    let (sb, m) = Sandbox::with_marker();
    // Job 2 checks that jobs get SIGUSR1's default action (the mask is not inherited).
    sb.write("jobs", format!("sleep {m}\nkill -USR1 $$\n"));
    let mut running = sb.spawn(["-j", "2", "jobs"]);
    eventually("the job to be running", || sleepers(&m).len() == 1);
    eventually("job 2 to be reported", || {
        running.stderr_so_far().contains("[2] killed by SIGUSR1")
    });
    running.signal(Signal::SIGUSR1);
    eventually("the list of running jobs", || {
        running
            .stderr_so_far()
            .contains("atp-run: 1 job running:\n  [1] ")
    });
    assert!(running.stderr_so_far().contains(&format!(": sleep {m}\n")));
    assert_eq!(sleepers(&m).len(), 1, "SIGUSR1 stopped a job");
    assert!(running.is_running(), "SIGUSR1 stopped atp-run");
    running.signal(Signal::SIGTERM);
    running.wait_for_exit(RUN_LIMIT).run.assert_code(130);
    assert_nothing_left(&m, &[]);
}

// Job control combined with the output-shaping flags (--keep-order, --line-buffer,
// --json, --tag).

#[test]
fn retries_with_keep_order_print_each_job_once_in_its_turn() {
    let sb = Sandbox::new();
    // Job i succeeds at its attempt k_i and prints which attempt it is each time;
    // job 1 cannot end before job 3 has, so jobs end out of order, and retried
    // attempts end before the others' final ones.
    let job = |i: u32, k: u32, wait: &str| {
        format!(
            "echo x >> t{i}; a=$(wc -l < t{i}); {wait}echo out{i}-$a; echo err{i}-$a >&2; \
             touch done{i}.$a; [ $a -ge {k} ]\n"
        )
    };
    let jobs = [
        job(1, 3, &format!("{}; ", wait_for("done3.1"))),
        job(2, 2, ""),
        job(3, 1, &format!("{}; ", wait_for("done2.2"))),
    ]
    .concat();
    let run = sb.run(
        [
            "-j",
            "3",
            "--keep-order",
            "--retries",
            "3",
            "--joblog",
            "log",
        ],
        &jobs,
    );
    run.assert_code(0);
    // Each job's block once, in input order: its final attempt's output only.
    assert_eq!(run.stdout_str(), "out1-3\nout2-2\nout3-1\n");
    let blocks: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| l.starts_with("err") || l.contains(" ok after "))
        .collect();
    assert_eq!(blocks.len(), 6, "{}", run.stderr);
    for (i, pair) in blocks.chunks(2).enumerate() {
        let (n, k) = (i + 1, [3, 2, 1][i]);
        assert_eq!(pair[0], format!("err{n}-{k}"), "{}", run.stderr);
        assert!(
            pair[1].starts_with(&format!("[{n}] ok after ")),
            "{}",
            run.stderr
        );
    }
    // The retried attempts said so (output dropped), and were not counted.
    for attempt in ["[1] failed with exit code 1 after ", "(attempt 1 of 3)"] {
        assert!(run.stderr.contains(attempt), "{}", run.stderr);
    }
    assert!(!run.stderr.contains("err1-1") && !run.stderr.contains("err2-1"));
    assert_eq!(run.status_lines().len(), 3 + 2 + 1, "{}", run.stderr);
    run.assert_summary_starts_with("atp-run: 3 jobs ran, 3 succeeded, 0 failed");
    // One row per job, for its final attempt.
    let rows = rows_by_seq(&sb.read_string("log"));
    assert_eq!(rows.keys().copied().collect::<Vec<_>>(), [1, 2, 3]);
    assert!(rows.values().all(|r| r[6] == "0" && r[7] == "0"));
}

#[test]
fn retries_with_json_give_one_object_per_job_for_its_final_attempt() {
    let sb = Sandbox::new();
    let jobs = "echo x >> t; n=$(wc -l < t); echo try$n; [ $n -ge 3 ]\nexit 6\n";
    let run = sb.run(["-j", "1", "--json", "--retries", "3"], jobs);
    run.assert_code(1);
    let objects = json_lines(&run.stdout);
    assert_eq!(objects.len(), 2, "{}", run.stdout_str());
    assert_eq!(
        (
            &objects[0]["seq"],
            &objects[0]["attempt"],
            &objects[0]["exit_code"]
        ),
        (&1.into(), &3.into(), &0.into())
    );
    assert_eq!(objects[0]["stdout"], "try3\n");
    assert_eq!(
        (
            &objects[1]["seq"],
            &objects[1]["attempt"],
            &objects[1]["exit_code"]
        ),
        (&2.into(), &3.into(), &6.into())
    );
    // The retried attempts are status lines on stderr; stdout is only JSON.
    assert_eq!(run.status_lines().len(), 2 + 2, "{}", run.stderr);
    run.assert_summary_starts_with("atp-run: 2 jobs ran, 1 succeeded, 1 failed");
}

#[test]
fn resume_with_keep_order_releases_the_skipped_jobs_turns() {
    let sb = Sandbox::new();
    // The joblog has jobs 1, 2, 4 and 5: only 3 and 6 run. Job 6 waits until
    // job 3's output has been seen, which --keep-order must print at once
    // (were skipped jobs still awaited, it would be held to the end: a stall).
    sb.write("log", GNU_JOBLOG);
    let jobs = format!(
        "echo 1\necho 2\necho three\necho 4\necho 5\n{}; echo six\n",
        wait_for("go")
    );
    sb.write("jobs", &jobs);
    let mut running = sb.spawn(["-j", "2", "-k", "--joblog", "log", "--resume", "jobs"]);
    eventually("job 3's output", || running.stdout_so_far() == "three\n");
    sb.write("go", "");
    let run = running.wait_for_exit(RUN_LIMIT).run;
    run.assert_code(0);
    assert_eq!(run.stdout_str(), "three\nsix\n");
    let rows = rows_by_seq(&sb.read_string("log"));
    assert_eq!(rows.keys().copied().collect::<Vec<_>>(), [1, 2, 3, 4, 5, 6]);
}

#[test]
fn timeout_with_line_buffer_kills_on_time_and_the_line_was_shown() {
    let (sb, m) = Sandbox::with_marker();
    // The line must be printed before the job's time is up.
    let job = format!("echo shown; : >{READY}; sleep {m}\n");
    let ((run, took), limit) = until_ready_in_time(&sb, Duration::from_secs(1), |limit| {
        let started = Instant::now();
        let args = [
            "--line-buffer",
            "--tag",
            "--timeout",
            limit,
            "--joblog",
            "log",
        ];
        let run = sb.run(args, &job);
        (run, started.elapsed())
    });
    run.assert_code(1);
    assert_eq!(run.stdout_str(), format!("{}\tshown\n", job.trim_end()));
    let line = run.status_of(1);
    assert!(
        line.starts_with("[1] timed out after ") && line.contains("(killed by SIGTERM)"),
        "{line}"
    );
    assert!(took < limit + Duration::from_secs(19), "{took:?}");
    let rows = rows_by_seq(&sb.read_string("log"));
    assert_eq!((rows[&1][6].as_str(), rows[&1][7].as_str()), ("-1", "15"));
    let runtime: f64 = rows[&1][3].trim().parse().unwrap();
    let limit = limit.as_secs_f64();
    assert!((limit..limit + 14.0).contains(&runtime), "{runtime}");
    assert_nothing_left(&m, &[]);

    // --ungroup too (the job writes to our stdout itself).
    let (run, _) = until_ready_in_time(&sb, Duration::from_millis(500), |limit| {
        sb.run(["-u", "--timeout", limit], &job)
    });
    run.assert_code(1);
    assert_eq!(run.stdout_str(), "shown\n");
    assert!(run.status_of(1).starts_with("[1] timed out after "));
    assert_nothing_left(&m, &[]);
}

#[test]
fn timeout_with_json_is_in_the_object_and_the_joblog_rows_stay_exact() {
    let (sb, m) = Sandbox::with_marker();
    // Job 1's line must be printed before its time is up.
    let jobs = format!("echo partial; : >{READY}; sleep {m}\necho fine\nexit 2\n");
    let (run, limit) = until_ready_in_time(&sb, Duration::from_secs(1), |limit| {
        let args = [
            "-j",
            "3",
            "--json",
            "-k",
            "--timeout",
            limit,
            "--joblog",
            "log",
        ];
        sb.run(args, &jobs)
    });
    run.assert_code(1);
    let objects = json_lines(&run.stdout);
    assert_eq!(objects.len(), 3, "{}", run.stdout_str());
    let (slow, fine, failed) = (&objects[0], &objects[1], &objects[2]);
    assert_eq!(slow["seq"], 1);
    assert_eq!(slow["timed_out"], true);
    assert_eq!(slow["signal"], "SIGTERM");
    assert!(slow["exit_code"].is_null());
    assert_eq!(slow["stdout"], "partial\n");
    assert!(
        slow["duration"].as_f64().unwrap() >= limit.as_secs_f64(),
        "{slow}"
    );
    assert_eq!(
        (&fine["seq"], &fine["timed_out"], &fine["exit_code"]),
        (&2.into(), &false.into(), &0.into())
    );
    assert_eq!(
        (&failed["seq"], &failed["timed_out"], &failed["exit_code"]),
        (&3.into(), &false.into(), &2.into())
    );
    assert!(run.status_lines().is_empty(), "{}", run.stderr);
    let rows = rows_by_seq(&sb.read_string("log"));
    let exits: Vec<(&str, &str)> = rows
        .values()
        .map(|r| (r[6].as_str(), r[7].as_str()))
        .collect();
    assert_eq!(exits, [("-1", "15"), ("0", "0"), ("2", "0")]);
    assert_eq!(rows[&2][8], "echo fine");
    assert_nothing_left(&m, &[]);
}

#[test]
fn halt_now_with_keep_order_prints_every_reported_job_in_order() {
    let (sb, m) = Sandbox::with_marker();
    // Job 2 fails while job 1 runs: job 2's block waits for job 1's, and job 1
    // is then killed by the halt; both are printed, in order.
    let jobs = format!(
        "echo one; touch s1; sleep {m}\n{}; echo two; exit 4\ntouch never\n",
        wait_for("s1")
    );
    let run = sb.run(["-j", "2", "-k", "--halt", "now,fail=1"], &jobs);
    run.assert_code(4);
    assert_eq!(run.stdout_str(), "one\ntwo\n");
    assert!(
        run.status_of(1).contains("killed by SIGTERM"),
        "{}",
        run.stderr
    );
    assert!(!sb.exists("never"));
    assert_nothing_left(&m, &[]);
}

#[test]
fn dry_run_with_output_flags() {
    let sb = Sandbox::new();
    // --json describes jobs that ran: refused.
    let run = sb.run(["--dry-run", "--json"], "touch ran\n");
    run.assert_code(2);
    assert!(run.stdout.is_empty());
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
    assert!(run.stderr.contains("cannot be used with"), "{}", run.stderr);
    // --tag prefixes each command like a job's output; -k changes nothing.
    let run = sb.run(
        ["--dry-run", "--tag", "-k", "--", "touch", "{}"],
        "a b\nc\n",
    );
    run.assert_code(0);
    assert_eq!(run.stdout_str(), "a b\ttouch 'a b'\nc\ttouch c\n");
    let run = sb.run(["--dry-run", "--line-buffer"], "touch ran\n");
    run.assert_code(0);
    assert_eq!(run.stdout_str(), "touch ran\n");
    assert!(!sb.exists("ran") && !sb.exists("a b") && !sb.exists("c"));
}

#[test]
fn sigusr1_lists_running_jobs_under_line_buffer() {
    let (sb, m) = Sandbox::with_marker();
    sb.write("jobs", format!("echo started; sleep {m}\n"));
    let mut running = sb.spawn(["--line-buffer", "jobs"]);
    eventually("the job's first line", || {
        running.stdout_so_far() == "started\n"
    });
    running.signal(Signal::SIGUSR1);
    eventually("the list of running jobs", || {
        running
            .stderr_so_far()
            .contains("atp-run: 1 job running:\n  [1] ")
    });
    assert_eq!(sleepers(&m).len(), 1, "SIGUSR1 stopped a job");
    running.signal(Signal::SIGTERM);
    running.wait_for_exit(RUN_LIMIT).run.assert_code(130);
    assert_nothing_left(&m, &[]);
}

#[test]
fn dry_run_write_errors_other_than_a_closed_pipe_exit_2_with_the_error() {
    let sb = Sandbox::new();
    sb.write("jobs", "touch ran\n");
    // A full disk is an error, reported on one line, as in a normal run.
    let full = std::fs::File::create("/dev/full").unwrap();
    let run = common::outcome::Run::of(sb.command(["--dry-run", "jobs"]).stdout(full));
    run.assert_code(2);
    assert_eq!(
        run.stderr,
        "atp-run: cannot write to standard output: No space left on device (os error 28)\n"
    );
    // A reader that went away (EPIPE) is the quiet 141.
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let run = common::outcome::Run::of(sb.command(["--dry-run", "jobs"]).stdout(writer));
    run.assert_code(141);
    assert_eq!(run.stderr, "");
    assert!(!sb.exists("ran"));
}
