//! CLI tests of `--results DIR`, with real processes: GNU parallel's layout (one
//! and two `:::` sources, `--header :`, plain command lines, values with `/`,
//! spaces and other characters that need escaping), the files' contents (stdout,
//! stderr, seq, exitval), no job output on stdout (as GNU parallel), files filled
//! while the job runs, `--retries`, a big output streamed to disk, Ctrl-C, the
//! error for a directory that cannot be written; and GNU's one-file forms
//! (`.csv`, `.tsv`, `.json`, `-.csv` on stdout).
//!
//! The expected trees and contents are written out here (checked once side by
//! side with GNU parallel 20221122); nothing runs GNU parallel.
#![cfg(feature = "cli")]

mod common;

use std::fs;
use std::path::Path;

use nix::sys::signal::Signal;

use common::outcome;
use common::procs::assert_nothing_left;
use common::sandbox::Sandbox;
use common::shell::wait_for;
use common::{RUN_LIMIT, eventually};

/// Every file under `dir`, as sorted paths relative to it.
fn tree(dir: &Path) -> Vec<String> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
        for entry in fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                out.push(path.strip_prefix(root).unwrap().display().to_string());
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

/// Peak resident memory of running process `pid`, in KiB (VmHWM).
fn peak_rss_kib(pid: u32) -> u64 {
    fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("cannot read atp-run's VmHWM")
}

/// The four files of each job directory in `dirs`, sorted as [`tree`] sorts.
fn files_of(dirs: &[&str]) -> Vec<String> {
    let mut out: Vec<String> = dirs
        .iter()
        .flat_map(|d| ["exitval", "seq", "stderr", "stdout"].map(|f| format!("{d}/{f}")))
        .collect();
    out.sort();
    out
}

/// `(stdout, stderr, seq, exitval)` of the job directory `dir` of the sandbox.
fn job(sb: &Sandbox, dir: &str) -> (String, String, String, String) {
    let read = |f: &str| sb.read_string(&format!("{dir}/{f}"));
    (read("stdout"), read("stderr"), read("seq"), read("exitval"))
}

fn owned(parts: (&str, &str, &str, &str)) -> (String, String, String, String) {
    (
        parts.0.to_owned(),
        parts.1.to_owned(),
        parts.2.to_owned(),
        parts.3.to_owned(),
    )
}

#[test]
fn one_source_gives_dir_1_value_with_output_seq_and_exit_status() {
    let sb = Sandbox::new();
    let run = sb.run(
        [
            "-j",
            "1",
            "--results",
            "out",
            "--",
            "echo out {}; echo err {} >&2; [ {} != b/c ]",
            ":::",
            "a",
            "b/c",
            "x y",
        ],
        "",
    );
    run.assert_code(1);
    // As GNU parallel: the jobs' output goes to the files only.
    assert_eq!(run.stdout_str(), "");
    assert_eq!(run.status_lines().len(), 3, "{}", run.stderr);
    assert_eq!(
        tree(&sb.join("out")),
        files_of(&["1/a", "1/b\\_c", "1/x y"])
    );
    assert_eq!(job(&sb, "out/1/a"), owned(("out a\n", "err a\n", "1", "0")));
    assert_eq!(
        job(&sb, "out/1/b\\_c"),
        owned(("out b/c\n", "err b/c\n", "2", "1"))
    );
    assert_eq!(
        job(&sb, "out/1/x y"),
        owned(("out x y\n", "err x y\n", "3", "0"))
    );
}

#[test]
fn two_sources_nest_source_by_source() {
    let sb = Sandbox::new();
    let run = sb.run(
        [
            "-j",
            "1",
            "--results",
            "out/",
            "--",
            "echo",
            ":::",
            "a",
            "b",
            ":::",
            "c",
            "d",
        ],
        "",
    );
    run.assert_code(0);
    assert_eq!(
        tree(&sb.join("out")),
        files_of(&["1/a/2/c", "1/a/2/d", "1/b/2/c", "1/b/2/d"])
    );
    for (dir, seq, out) in [
        ("1/a/2/c", "1", "a c\n"),
        ("1/a/2/d", "2", "a d\n"),
        ("1/b/2/c", "3", "b c\n"),
        ("1/b/2/d", "4", "b d\n"),
    ] {
        assert_eq!(
            job(&sb, &format!("out/{dir}")),
            owned((out, "", seq, "0")),
            "{dir}"
        );
    }
}

#[test]
fn several_arguments_per_job_and_header_names_follow_gnu_parallel() {
    let sb = Sandbox::new();
    sb.run(
        [
            "-n",
            "2",
            "--results",
            "n2",
            "--",
            "echo",
            ":::",
            "a",
            "b",
            "c",
        ],
        "",
    )
    .assert_code(0);
    assert_eq!(tree(&sb.join("n2")), files_of(&["1/a/1/b", "1/c"]));
    assert_eq!(sb.read_string("n2/1/a/1/b/stdout"), "a b\n");
    // With --header : the columns are named, and sorted by name.
    sb.run(
        [
            "--header",
            ":",
            "--results",
            "h",
            "--",
            "echo",
            "{zz}",
            "{aa}",
            ":::",
            "zz",
            "1",
            ":::",
            "aa",
            "3",
        ],
        "",
    )
    .assert_code(0);
    assert_eq!(tree(&sb.join("h")), files_of(&["aa/3/zz/1"]));
    assert_eq!(sb.read_string("h/aa/3/zz/1/stdout"), "1 3\n");
}

#[test]
fn plain_command_lines_are_the_value_of_source_1() {
    let sb = Sandbox::new();
    let run = sb.run(
        ["-j", "1", "--results", "out"],
        "echo one\necho a/b; exit 4\n",
    );
    run.assert_code(1);
    assert_eq!(
        tree(&sb.join("out")),
        files_of(&["1/echo a\\_b; exit 4", "1/echo one"])
    );
    assert_eq!(job(&sb, "out/1/echo one"), owned(("one\n", "", "1", "0")));
    assert_eq!(
        job(&sb, "out/1/echo a\\_b; exit 4"),
        owned(("a/b\n", "", "2", "4"))
    );
}

#[test]
fn values_that_need_escaping_get_one_directory_each() {
    let sb = Sandbox::new();
    let long = "x".repeat(300);
    let run = sb.run(
        [
            "-j",
            "1",
            "--results",
            "out",
            "--",
            "printf %s {}",
            ":::",
            "",
            ".",
            "..",
            "t\tab",
            "back\\slash",
            "/",
            &long,
        ],
        "",
    );
    run.assert_code(0);
    let cut = format!("{}\\#", "x".repeat(237));
    let files = tree(&sb.join("out"));
    let long_dir = files
        .iter()
        .find(|f| f.starts_with(&format!("1/{cut}")))
        .unwrap_or_else(|| panic!("no cut directory for the long value: {files:?}"));
    let long_dir = long_dir.trim_end_matches("/exitval").to_owned();
    assert_eq!(long_dir.len(), "1/".len() + 255, "{long_dir}");
    let mut dirs = vec![
        "1/\\e",
        "1/\\.",
        "1/\\.\\.",
        "1/t\\tab",
        "1/back\\\\slash",
        "1/\\_",
    ];
    dirs.push(&long_dir);
    assert_eq!(files, files_of(&dirs));
    // Nothing escaped DIR, and each value is in its own directory.
    for (dir, value) in [
        ("1/\\e", ""),
        ("1/\\.", "."),
        ("1/\\.\\.", ".."),
        ("1/t\\tab", "t\tab"),
        ("1/back\\\\slash", "back\\slash"),
        ("1/\\_", "/"),
        (long_dir.as_str(), long.as_str()),
    ] {
        assert_eq!(sb.read_string(&format!("out/{dir}/stdout")), value, "{dir}");
    }
}

#[test]
fn files_fill_while_the_job_runs_and_exitval_comes_at_its_end() {
    let sb = Sandbox::new();
    let script = format!("echo first; {}; echo second; : {{}}", wait_for("go"));
    let mut running = sb.spawn(["--results", "out", "--", &script, ":::", "a"]);
    eventually("the first line to be in the stdout file", || {
        fs::read_to_string(sb.join("out/1/a/stdout")).is_ok_and(|s| s == "first\n")
    });
    assert_eq!(sb.read_string("out/1/a/seq"), "1");
    assert!(
        !sb.exists("out/1/a/exitval"),
        "exitval before the job ended"
    );
    sb.write("go", "");
    let run = running.wait_for_exit(RUN_LIMIT).run;
    run.assert_code(0);
    assert_eq!(
        job(&sb, "out/1/a"),
        owned(("first\nsecond\n", "", "1", "0"))
    );
}

#[test]
fn every_output_mode_keeps_the_files_and_prints_no_job_output() {
    for mode in [
        &[][..],
        &["--keep-order"],
        &["--line-buffer"],
        &["--ungroup"],
        &["--tag"],
    ] {
        let sb = Sandbox::new();
        let mut args = vec!["--results", "out"];
        args.extend_from_slice(mode);
        args.extend(["--", "echo o {}; echo e {} >&2", ":::", "a", "b"]);
        let run = sb.run(&args, "");
        run.assert_code(0);
        assert_eq!(run.stdout_str(), "", "{mode:?}");
        assert!(
            !run.stderr.lines().any(|l| l.ends_with("e a")),
            "{mode:?}: {}",
            run.stderr
        );
        assert_eq!(
            job(&sb, "out/1/b"),
            owned(("o b\n", "e b\n", "2", "0")),
            "{mode:?}"
        );
    }
}

#[test]
fn json_still_carries_the_output_beside_the_files() {
    let sb = Sandbox::new();
    let run = sb.run(
        [
            "--json",
            "--results",
            "out",
            "--",
            "echo o {}; exit 2",
            ":::",
            "a",
        ],
        "",
    );
    run.assert_code(1);
    let objects = outcome::json_lines(&run.stdout);
    assert_eq!(objects.len(), 1);
    assert_eq!(objects[0]["stdout"], "o a\n");
    assert_eq!(objects[0]["exit_code"], 2);
    assert_eq!(job(&sb, "out/1/a"), owned(("o a\n", "", "1", "2")));
}

#[test]
fn retries_leave_the_last_attempt_in_the_files() {
    let sb = Sandbox::new();
    // Attempt n prints its number and stderr; it succeeds at the second, or never.
    let script = "n=$(cat count.{} 2>/dev/null || echo 0); n=$((n+1)); echo $n > count.{}; \
                  echo attempt $n; echo err $n >&2; [ {} = never ] && exit 3; [ $n -ge 2 ]";
    let run = sb.run(
        [
            "--retries",
            "3",
            "--results",
            "out",
            "--",
            script,
            ":::",
            "twice",
            "never",
        ],
        "",
    );
    run.assert_code(1);
    assert_eq!(
        job(&sb, "out/1/twice"),
        owned(("attempt 2\n", "err 2\n", "1", "0"))
    );
    assert_eq!(
        job(&sb, "out/1/never"),
        owned(("attempt 3\n", "err 3\n", "2", "3"))
    );
}

#[test]
fn a_big_output_goes_to_disk_not_into_memory() {
    const SIZE: u64 = 50_000_000;
    let sb = Sandbox::new();
    // The job holds on after writing, so atp-run's peak can be read while it runs.
    let script = format!(
        "head -c {SIZE} /dev/zero; echo done > written; {}; : {{}}",
        wait_for("go")
    );
    let mut running = sb.spawn(["--results", "out", "--", &script, ":::", "big"]);
    let pid = running.child.id();
    eventually("the job to write its output", || sb.exists("written"));
    let peak = peak_rss_kib(pid);
    sb.write("go", "");
    let run = running.wait_for_exit(RUN_LIMIT).run;
    run.assert_code(0);
    assert_eq!(run.stdout.len(), 0);
    let file = fs::metadata(sb.join("out/1/big/stdout")).unwrap().len();
    assert_eq!(file, SIZE);
    let total_kib = SIZE / 1024;
    assert!(
        peak < total_kib / 2,
        "atp-run's peak RSS {peak} KiB is not well under the {total_kib} KiB of output"
    );
}

#[test]
fn after_ctrl_c_finished_jobs_are_whole_and_killed_ones_say_so() {
    let (sb, m) = Sandbox::with_marker();
    let script = format!("echo start {{}}; if [ {{}} = slow ]; then sleep {m}; fi; echo end {{}}");
    let mut running = sb.spawn([
        "-j",
        "2",
        "--results",
        "out",
        "--",
        &script,
        ":::",
        "fast",
        "slow",
    ]);
    eventually("the fast job to end and the slow one to start", || {
        sb.exists("out/1/fast/exitval")
            && fs::read_to_string(sb.join("out/1/slow/stdout")).is_ok_and(|s| s == "start slow\n")
    });
    running.signal(Signal::SIGINT);
    let run = running.wait_for_exit(RUN_LIMIT).run;
    run.assert_code(130);
    assert_eq!(
        job(&sb, "out/1/fast"),
        owned(("start fast\nend fast\n", "", "1", "0"))
    );
    assert_eq!(
        job(&sb, "out/1/slow"),
        owned(("start slow\n", "", "2", "SIGTERM"))
    );
    assert_nothing_left(&m, &[]);
}

#[test]
fn a_directory_that_cannot_be_written_is_one_error_before_any_job() {
    let sb = Sandbox::new();
    sb.write("file", "");
    let run = sb.run(["--results", "file/out", "--", "touch ran", ":::", "a"], "");
    run.assert_code(2);
    let lines: Vec<&str> = run.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{}", run.stderr);
    assert!(
        lines[0].starts_with(
            "atp-run: --results file/out: cannot write job results there (give a path you \
             can write to): "
        ),
        "{}",
        run.stderr
    );
    assert!(!sb.exists("ran"), "a job ran");
}

#[test]
fn a_replacement_string_in_the_name_or_a_flag_as_dir_is_refused() {
    let sb = Sandbox::new();
    for (args, says) in [
        (
            &["--results", "my_{}"][..],
            "a replacement string in the name is not supported",
        ),
        (&["--results", "--json"], "give a directory after --results"),
        (&["--json", "--results", "-.csv"], "use one of them"),
    ] {
        let mut all = args.to_vec();
        all.extend(["--", "touch ran", ":::", "a"]);
        let run = sb.run(&all, "");
        run.assert_code(2);
        assert!(
            run.stderr.starts_with("atp-run: --results ") && run.stderr.contains(says),
            "{args:?}: {}",
            run.stderr
        );
        assert!(!sb.exists("ran"), "{args:?}");
    }
}

/// `text` with every `Starttime` and `JobRuntime` value (3 decimals) replaced
/// by `T` and `R`.
fn without_times(text: &str, sep: &str) -> String {
    let re = regex::Regex::new(&format!(
        r"(Starttime.: )?\d+\.\d{{3}}({sep}|, .JobRuntime.: )\d+\.\d{{3}}"
    ))
    .unwrap();
    re.replace_all(text, |c: &regex::Captures<'_>| {
        let start = c.get(1).map_or("", |m| m.as_str());
        format!("{start}T{}R", &c[2])
    })
    .into_owned()
}

#[test]
fn csv_tsv_and_json_tables_have_gnu_parallels_columns() {
    let sb = Sandbox::new();
    let template = "echo out {1}; echo err >&2; exit {2}";
    for name in ["r.csv", "r.tsv", "r.json"] {
        let run = sb.run(
            [
                "-j",
                "1",
                "--results",
                name,
                "--",
                template,
                ":::",
                "a,b",
                "q\"x",
                ":::",
                "0",
            ],
            "",
        );
        run.assert_code(0);
        assert_eq!(run.stdout_str(), "", "{name}");
    }
    assert_eq!(
        without_times(&sb.read_string("r.csv"), ","),
        "Seq,Host,Starttime,JobRuntime,Send,Receive,Exitval,Signal,Command,V1,V2,Stdout,Stderr\n\
         1,:,T,R,0,8,0,0,\"echo out a,b; echo err >&2; exit 0\",\"a,b\",0,\"out a,b\n\",\"err\n\"\n\
         2,:,T,R,0,8,0,0,\"echo out 'q\"\"x'; echo err >&2; exit 0\",\"q\"\"x\",0,\"out q\"\"x\n\",\"err\n\"\n"
    );
    assert_eq!(
        without_times(&sb.read_string("r.tsv"), "\t"),
        "Seq\tHost\tStarttime\tJobRuntime\tSend\tReceive\tExitval\tSignal\tCommand\tV1\tV2\tStdout\tStderr\n\
         1\t:\tT\tR\t0\t8\t0\t0\t\"echo out a,b; echo err >&2; exit 0\"\ta,b\t0\t\"out a,b\n\"\t\"err\n\"\n\
         2\t:\tT\tR\t0\t8\t0\t0\t\"echo out 'q\"\"x'; echo err >&2; exit 0\"\t\"q\"\"x\"\t0\t\"out q\"\"x\n\"\t\"err\n\"\n"
    );
    assert_eq!(
        without_times(&sb.read_string("r.json"), ""),
        "{ \"Seq\": 1, \"Host\": \":\", \"Starttime\": T, \"JobRuntime\": R, \"Send\": 0, \
         \"Receive\": 8, \"Exitval\": 0, \"Signal\": 0, \
         \"Command\": \"echo out a,b; echo err >&2; exit 0\", \"V\": [ \"a,b\",\"0\" ], \
         \"Stdout\": \"out a,b\\u000a\", \"Stderr\": \"err\\u000a\" }\n\
         { \"Seq\": 2, \"Host\": \":\", \"Starttime\": T, \"JobRuntime\": R, \"Send\": 0, \
         \"Receive\": 8, \"Exitval\": 0, \"Signal\": 0, \
         \"Command\": \"echo out 'q\\\"x'; echo err >&2; exit 0\", \"V\": [ \"q\\\"x\",\"0\" ], \
         \"Stdout\": \"out q\\\"x\\u000a\", \"Stderr\": \"err\\u000a\" }\n"
    );
}

#[test]
fn a_table_on_stdout_is_all_that_is_printed_there() {
    let sb = Sandbox::new();
    let run = sb.run(["--results", "-.csv"], "echo a b\n");
    run.assert_code(0);
    assert_eq!(
        without_times(&run.stdout_str(), ","),
        "Seq,Host,Starttime,JobRuntime,Send,Receive,Exitval,Signal,Command,V1,Stdout,Stderr\n\
         1,:,T,R,0,4,0,0,\"echo a b\",\"echo a b\",\"a b\n\",\n"
    );
    assert_eq!(run.status_lines().len(), 1, "{}", run.stderr);
}

#[test]
fn a_table_takes_big_outputs_without_holding_them_in_memory() {
    const SIZE: u64 = 50_000_000;
    let sb = Sandbox::new();
    // Job 1 writes 50 MB and ends; job 2 holds the run open until the test has
    // read atp-run's peak, after job 1's row is in the table.
    let big = format!(
        "if [ {{}} = big ]; then head -c {SIZE} /dev/zero | tr '\\0' x; else {}; fi",
        wait_for("go")
    );
    let mut running = sb.spawn([
        "-j",
        "2",
        "--results",
        "t.csv",
        "--",
        &big,
        ":::",
        "big",
        "wait",
    ]);
    let pid = running.child.id();
    eventually("job 1's row to be in the table", || {
        fs::metadata(sb.join("t.csv")).is_ok_and(|m| m.len() > SIZE)
    });
    let peak = peak_rss_kib(pid);
    sb.write("go", "");
    running.wait_for_exit(RUN_LIMIT).run.assert_code(0);
    let total_kib = SIZE / 1024;
    assert!(
        peak < total_kib / 2,
        "atp-run's peak RSS {peak} KiB is not well under the {total_kib} KiB of output"
    );
}

#[test]
fn an_exitval_or_a_row_that_cannot_be_written_fails_the_run() {
    let sb = Sandbox::new();
    // The job removes its own directory: its exitval cannot be written.
    let run = sb.run(["--results", "out", "--", "rm -r out/1/{}", ":::", "a"], "");
    run.assert_code(2);
    assert!(
        run.stderr
            .contains("atp-run: --results: cannot write out/1/a/exitval: No such file"),
        "{}",
        run.stderr
    );
    // A table on a full device.
    std::os::unix::fs::symlink("/dev/full", sb.join("full.csv")).unwrap();
    let run = sb.run(["--results", "full.csv", "--", "echo", ":::", "a", "b"], "");
    run.assert_code(2);
    assert_eq!(
        run.stderr
            .matches("atp-run: --results: cannot write a row: No space left on device")
            .count(),
        1,
        "{}",
        run.stderr
    );
}

#[test]
fn resume_failed_reruns_only_the_failed_job_and_replaces_only_its_files() {
    let sb = Sandbox::new();
    // Each run of a job counts itself; b fails the first time only.
    let script = "n=$(cat count.{} 2>/dev/null || echo 0); n=$((n+1)); echo $n > count.{}; \
                  echo run $n; [ {} = a ] || [ $n -ge 2 ]";
    let args = |resume: bool| {
        let mut args = vec!["--joblog", "log", "--results", "out"];
        if resume {
            args.push("--resume-failed");
        }
        args.extend(["--", script, ":::", "a", "b"]);
        args
    };
    sb.run(args(false), "").assert_code(1);
    assert_eq!(job(&sb, "out/1/b"), owned(("run 1\n", "", "2", "1")));
    sb.run(args(true), "").assert_code(0);
    assert_eq!(job(&sb, "out/1/a"), owned(("run 1\n", "", "1", "0")));
    assert_eq!(job(&sb, "out/1/b"), owned(("run 2\n", "", "2", "0")));
}

#[test]
fn dry_run_makes_no_results() {
    let sb = Sandbox::new();
    let run = sb.run(
        ["--dry-run", "--results", "out", "--", "echo", ":::", "a"],
        "",
    );
    run.assert_code(0);
    assert_eq!(run.stdout_str(), "echo a\n");
    assert!(!sb.exists("out"));
}

#[test]
fn header_names_name_the_table_columns() {
    let sb = Sandbox::new();
    let run = sb.run(
        [
            "--header",
            ":",
            "--results",
            "-.csv",
            "--",
            "echo",
            "{zz}",
            "{aa}",
            ":::",
            "zz",
            "1",
            ":::",
            "aa",
            "3",
        ],
        "",
    );
    run.assert_code(0);
    assert_eq!(
        without_times(&run.stdout_str(), ","),
        "Seq,Host,Starttime,JobRuntime,Send,Receive,Exitval,Signal,Command,zz,aa,Stdout,Stderr\n\
         1,:,T,R,0,4,0,0,\"echo 1 3\",1,3,\"1 3\n\",\n"
    );
}

#[test]
fn pipe_jobs_are_named_by_their_number_and_their_block_is_no_table_value() {
    let sb = Sandbox::new();
    let run = sb.run(
        ["--pipe", "-N", "2", "--results", "out", "--", "cat"],
        "1\n2\n3\n",
    );
    run.assert_code(0);
    assert_eq!(tree(&sb.join("out")), files_of(&["1/1", "1/2"]));
    assert_eq!(job(&sb, "out/1/1"), owned(("1\n2\n", "", "1", "0")));
    assert_eq!(job(&sb, "out/1/2"), owned(("3\n", "", "2", "0")));
    let run = sb.run(
        [
            "--pipe",
            "-N",
            "1",
            "-j",
            "1",
            "--results",
            "t.csv",
            "--",
            "cat",
        ],
        "a\nb\n",
    );
    run.assert_code(0);
    let table = sb.read_string("t.csv");
    let header = table.lines().next().unwrap_or_default();
    assert!(!header.contains("V1"), "{table}");
    assert!(table.contains(",cat,\"a\n\","), "{table}");
    assert!(table.contains(",cat,\"b\n\","), "{table}");
}
