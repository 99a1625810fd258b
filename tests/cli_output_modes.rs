//! CLI tests of the output-shaping flags, with real processes: `--keep-order`
//! (input order, bounded memory, flushed on interruption), `--tag`, `--line-buffer`
//! (whole lines, shown while the job runs), `--ungroup` (pass-through) and `--json`
//! (one parseable object per job, whatever the output bytes), and the flag
//! combinations that are refused.
//!
//! Jobs that must finish in a given order wait for files other jobs create (with
//! bounded shell loops), never for tuned sleeps; the test polls with generous
//! deadlines.

mod common;

use std::time::{SystemTime, UNIX_EPOCH};

use nix::sys::signal::Signal;
use serde_json::Value;

use common::outcome;
use common::procs::{assert_nothing_left, sleepers};
use common::sandbox::Sandbox;
use common::shell::wait_for;
use common::{RUN_LIMIT, eventually};

/// Peak resident memory of a running process, in KiB (VmHWM), if readable.
fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

#[test]
fn keep_order_prints_blocks_in_input_order_when_jobs_end_in_reverse() {
    // Job i waits for job i+1 to be done (the last one does not wait), so they end
    // in reverse order; all run at once.
    const N: usize = 6;
    let sb = Sandbox::new();
    let jobs: String = (1..=N)
        .map(|i| {
            let wait = if i < N {
                format!("{}; sleep 0.1; ", wait_for(&format!("done.{}", i + 1)))
            } else {
                String::new()
            };
            format!("{wait}echo out{i}; echo more{i}; echo err{i} >&2; touch done.{i}\n")
        })
        .collect();
    let run = sb.run(["-j", &N.to_string(), "--keep-order"], &jobs);
    run.assert_code(0);
    let expected: String = (1..=N).map(|i| format!("out{i}\nmore{i}\n")).collect();
    assert_eq!(run.stdout_str(), expected);
    // Status lines follow the output order, each right after its job's stderr.
    let err: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| !l.starts_with("atp-run: "))
        .collect();
    let expected_err: Vec<String> = (1..=N)
        .flat_map(|i| [format!("err{i}"), format!("[{i}] ok after")])
        .collect();
    assert_eq!(err.len(), expected_err.len(), "{}", run.stderr);
    for (line, want) in err.iter().zip(&expected_err) {
        assert!(line.starts_with(want.as_str()), "{}", run.stderr);
    }
}

#[test]
fn keep_order_holds_big_outputs_on_disk_not_in_memory() {
    const N: usize = 20;
    const SIZE: usize = 2_000_000;
    let sb = Sandbox::new();
    let letters = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ";
    // Job 1 prints last: it waits for a go file the test creates once every other
    // job has finished (and so is held).
    let jobs: String = (1..=N)
        .map(|i| {
            let wait = if i == 1 {
                format!("{}; ", wait_for("go"))
            } else {
                String::new()
            };
            format!(
                "{wait}head -c {SIZE} /dev/zero | tr '\\0' '{}'; touch done.{i}\n",
                letters[i - 1] as char
            )
        })
        .collect();
    sb.write("jobs", &jobs);
    let mut running = sb.spawn(["-j", "4", "--keep-order", "jobs"]);
    let pid = running.child.id();
    eventually("jobs 2..N to finish", || {
        (2..=N).all(|i| sb.exists(&format!("done.{i}")))
    });
    // Job N's status can only be printed after job 1's: nothing on stdout yet.
    assert!(running.stdout_so_far().is_empty());
    let mut peak = peak_rss_kib(pid).expect("cannot read atp-run's VmHWM");
    sb.write("go", "");
    while let Ok(None) = running.child.try_wait() {
        if let Some(kib) = peak_rss_kib(pid) {
            peak = peak.max(kib);
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let run = running.wait_for_exit(RUN_LIMIT).run;
    run.assert_code(0);
    assert_eq!(run.stdout.len(), N * SIZE);
    for (i, block) in run.stdout.chunks(SIZE).enumerate() {
        assert!(
            block.iter().all(|&b| b == letters[i]),
            "block {} is not job {}'s",
            i + 1,
            i + 1
        );
    }
    let total_kib = (N * SIZE / 1024) as u64;
    assert!(
        peak < total_kib / 2,
        "atp-run's peak RSS {peak} KiB is not well under the {total_kib} KiB of output"
    );
}

#[test]
fn keep_order_flushes_what_it_holds_when_interrupted() {
    // Job 1 never ends; job 2 finishes and is held behind it; jobs after the
    // interruption are cancelled. Ctrl-C must still print job 2's output.
    let (sb, m) = Sandbox::with_marker();
    let mut jobs = format!("sleep {m}\necho two; touch done.2\nsleep {m}\n");
    for i in 4..40 {
        jobs.push_str(&format!("echo {i}\n"));
    }
    sb.write("jobs", &jobs);
    let mut running = sb.spawn(["-j", "2", "--keep-order", "--grace", "10s", "jobs"]);
    eventually("job 2 to finish", || sb.exists("done.2"));
    eventually("jobs 1 and 3 to run", || sleepers(&m).len() == 2);
    running.signal(Signal::SIGINT);
    let run = running.wait_for_exit(RUN_LIMIT).run;
    run.assert_code(130);
    assert_eq!(run.stdout_str(), "two\n", "{}", run.stderr);
    let statuses = run.status_lines();
    assert_eq!(statuses.len(), 3, "{}", run.stderr);
    assert!(statuses[0].starts_with("[1] killed by SIGTERM"));
    assert!(statuses[1].starts_with("[2] ok"));
    assert!(statuses[2].starts_with("[3] killed by SIGTERM"));
    assert_nothing_left(&m, &[]);
}

#[test]
fn tag_prefixes_every_line_with_the_command_including_stderr_and_a_last_partial_line() {
    let sb = Sandbox::new();
    let cmd = "printf 'a\\n\\nb\\n'; printf 'e1\\ne2' >&2; printf c";
    let run = sb.run(["--tag"], format!("{cmd}\n"));
    run.assert_code(0);
    assert_eq!(
        run.stdout_str(),
        format!("{cmd}\ta\n{cmd}\t\n{cmd}\tb\n{cmd}\tc"),
        "the last line is tagged and no newline is added"
    );
    assert!(
        run.stderr
            .starts_with(&format!("{cmd}\te1\n{cmd}\te2[1] ok after ")),
        "{}",
        run.stderr
    );
}

#[test]
fn tag_uses_the_argument_in_template_mode_and_combines_with_keep_order() {
    let sb = Sandbox::new();
    let run = sb.run(
        [
            "--tag",
            "-k",
            "--",
            "printf '%s\\n%s\\n' {} {}; echo err >&2",
        ],
        "one\ntwo words\n",
    );
    run.assert_code(0);
    assert_eq!(
        run.stdout_str(),
        "one\tone\none\tone\ntwo words\ttwo words\ntwo words\ttwo words\n"
    );
    assert!(run.stderr.contains("one\terr\n[1] ok"), "{}", run.stderr);
    assert!(
        run.stderr.contains("two words\terr\n[2] ok"),
        "{}",
        run.stderr
    );
}

#[test]
fn line_buffer_never_splits_or_mixes_lines() {
    // 4 jobs at once, each writing 60 lines on stdout and on stderr, every line in
    // two writes with a pause between them (raw pass-through, -u, mixes them).
    const JOBS: usize = 4;
    const LINES: usize = 60;
    let sb = Sandbox::new();
    let pad = "x".repeat(60);
    let jobs: String = (1..=JOBS)
        .map(|j| {
            format!(
                "for n in $(seq 1 {LINES}); do printf 'J{j} %s ' $n; printf 'E{j} %s ' $n >&2; \
                 sleep 0.01; printf '{pad}\\n'; printf '{pad}\\n' >&2; done\n"
            )
        })
        .collect();
    let run = sb.run(["-j", &JOBS.to_string(), "--line-buffer"], &jobs);
    run.assert_code(0);
    let check = |text: &str, prefix: char| {
        let mut next = [1usize; JOBS + 1];
        let mut count = 0;
        for line in text.lines().filter(|l| l.starts_with(prefix)) {
            let (label, rest) = line.split_once(' ').expect("a label");
            let (n, tail) = rest.split_once(' ').expect("a number");
            let j: usize = label[1..]
                .parse()
                .unwrap_or_else(|_| panic!("mixed: {line:?}"));
            let n: usize = n.parse().unwrap_or_else(|_| panic!("mixed: {line:?}"));
            assert_eq!(tail, pad, "split or mixed line: {line:?}");
            assert_eq!(n, next[j], "job {j}'s lines out of order: {line:?}");
            next[j] += 1;
            count += 1;
        }
        assert_eq!(count, JOBS * LINES);
    };
    let stdout = run.stdout_str();
    assert_eq!(stdout.lines().count(), JOBS * LINES);
    check(&stdout, 'J');
    check(&run.stderr, 'E');
}

#[test]
fn line_buffer_shows_lines_while_the_job_runs() {
    let sb = Sandbox::new();
    let job = format!(
        "echo first; echo early >&2; {}; echo last; printf tail\n",
        wait_for("go")
    );
    sb.write("jobs", &job);
    let mut running = sb.spawn(["--line-buffer", "--tag", "jobs"]);
    let tag = job.trim_end();
    eventually("the first line to be printed", || {
        running.stdout_so_far() == format!("{tag}\tfirst\n")
    });
    eventually("the first error line to be printed", || {
        running.stderr_so_far().contains(&format!("{tag}\tearly\n"))
    });
    assert!(running.is_running(), "the job ended early");
    assert!(!running.stderr_so_far().contains("[1]"));
    sb.write("go", "");
    let run = running.wait_for_exit(RUN_LIMIT).run;
    run.assert_code(0);
    assert_eq!(
        run.stdout_str(),
        format!("{tag}\tfirst\n{tag}\tlast\n{tag}\ttail")
    );
    assert!(run.stderr.contains(&format!("{tag}\tearly\n[1] ok after ")));
}

#[test]
fn ungroup_passes_output_straight_through() {
    let sb = Sandbox::new();
    // The job's stdout is atp-run's own (the same pipe), and its output arrives
    // while it runs.
    let job = format!(
        "readlink /proc/$$/fd/1; echo to-stderr >&2; {}; printf end\n",
        wait_for("go")
    );
    sb.write("jobs", &job);
    let mut running = sb.spawn(["-u", "jobs"]);
    let ours = std::fs::read_link(format!("/proc/{}/fd/1", running.child.id())).unwrap();
    eventually("the job's first line", || {
        running
            .stdout
            .as_ref()
            .unwrap()
            .text()
            .lines()
            .next()
            .is_some()
    });
    let first = running.stdout_so_far();
    assert_eq!(first.trim_end(), ours.to_string_lossy());
    eventually("the job's error line", || {
        running.stderr_so_far().contains("to-stderr\n")
    });
    assert!(!running.stderr_so_far().contains("[1]"));
    sb.write("go", "");
    let run = running.wait_for_exit(RUN_LIMIT).run;
    run.assert_code(0);
    assert!(run.stdout_str().ends_with("\nend"));
    assert!(
        run.stderr.contains("to-stderr\n[1] ok after "),
        "{}",
        run.stderr
    );
}

/// The `--json` objects, after checking that the last one ends its line.
fn json_lines(stdout: &[u8]) -> Vec<Value> {
    assert!(
        stdout.ends_with(b"\n"),
        "{:?}",
        String::from_utf8_lossy(stdout)
    );
    outcome::json_lines(stdout)
}

#[test]
fn json_describes_ok_failed_and_killed_jobs_and_any_output_bytes() {
    let sb = Sandbox::new();
    let before = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let mut jobs = Vec::new();
    // 1: awkward output: quotes, backslashes, control characters, newlines.
    jobs.extend_from_slice(
        b"printf 'q\"b\\\\s\\ttab\\001ctl\\nline2\\n'; printf 'e\\033[0m' >&2\n",
    );
    // 2: fails; its stderr and its command are not UTF-8.
    jobs.extend_from_slice(b"printf 'bad\\377\\376x' >&2; echo \xff >/dev/null; exit 3\n");
    // 3: killed by a signal.
    jobs.extend_from_slice(b"echo before; kill -USR1 $$\n");
    let run = sb.run(["--json", "-k"], &jobs);
    run.assert_code(1);
    let after = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    assert!(run.status_lines().is_empty(), "{}", run.stderr);
    assert!(run.summary().contains("3 jobs ran, 1 succeeded, 2 failed"));
    let objects = json_lines(&run.stdout);
    assert_eq!(objects.len(), 3);
    for (i, o) in objects.iter().enumerate() {
        assert_eq!(o["seq"], i as u64 + 1);
        assert_eq!(o["attempt"], 1);
        assert!(o["slot"].as_u64().is_some_and(|s| s >= 1), "{o}");
        assert!(o["run"].is_null() && o["error"].is_null(), "{o}");
        let start = o["start"].as_f64().unwrap();
        assert!(before - 1.0 <= start && start <= after + 1.0, "{o}");
        let duration = o["duration"].as_f64().unwrap();
        assert!((0.0..=after - before + 1.0).contains(&duration), "{o}");
    }
    let (ok, failed, killed) = (&objects[0], &objects[1], &objects[2]);
    assert_eq!(
        ok["command"],
        "printf 'q\"b\\\\s\\ttab\\001ctl\\nline2\\n'; printf 'e\\033[0m' >&2"
    );
    assert_eq!(ok["command_lossy"], false);
    assert_eq!(ok["stdout"], "q\"b\\s\ttab\u{1}ctl\nline2\n");
    assert_eq!(ok["stdout_lossy"], false);
    assert_eq!(ok["stderr"], "e\u{1b}[0m");
    assert_eq!(
        (&ok["exit_code"], &ok["signal"]),
        (&Value::from(0), &Value::Null)
    );

    assert_eq!(failed["exit_code"], 3);
    assert!(failed["signal"].is_null());
    assert_eq!(failed["stdout"], "");
    assert_eq!(failed["stderr"], "bad\u{fffd}\u{fffd}x");
    assert_eq!(failed["stderr_lossy"], true);
    assert_eq!(failed["command_lossy"], true);
    assert!(
        failed["command"]
            .as_str()
            .unwrap()
            .contains("echo \u{fffd} >")
    );

    assert!(killed["exit_code"].is_null());
    assert_eq!(killed["signal"], "SIGUSR1");
    assert_eq!(killed["stdout"], "before\n");
}

#[test]
fn json_embeds_big_outputs_whole() {
    let sb = Sandbox::new();
    let run = sb.run(
        ["--json"],
        "head -c 3000000 /dev/zero | tr '\\0' 'y'\nprintf small\n",
    );
    run.assert_code(0);
    let mut objects = json_lines(&run.stdout);
    objects.sort_by_key(|o| o["seq"].as_u64());
    let big = objects[0]["stdout"].as_str().unwrap();
    assert_eq!(big.len(), 3_000_000);
    assert!(big.bytes().all(|b| b == b'y'));
    assert_eq!(objects[1]["stdout"], "small");
}

#[test]
fn flags_that_cannot_combine_are_one_line_usage_errors() {
    let sb = Sandbox::new();
    for args in [
        &["--ungroup", "--keep-order"][..],
        &["-u", "--tag"],
        &["--line-buffer", "--json"],
        &["--json", "--tag"],
        &["-k", "--repeat"],
    ] {
        let run = sb.run(args, "echo never\n");
        run.assert_code(2);
        assert!(run.stdout.is_empty());
        assert_eq!(run.stderr.lines().count(), 1, "{args:?}: {}", run.stderr);
        assert!(
            run.stderr.starts_with("atp-run: the argument '--"),
            "{}",
            run.stderr
        );
        assert!(run.stderr.contains("cannot be used with"), "{}", run.stderr);
    }
}
