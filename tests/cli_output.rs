//! CLI tests of `atp-run`'s output: big outputs of parallel jobs arrive as whole
//! blocks, never interleaved; a standard output closed by its reader (`| head -1`)
//! stops the run quietly with exit status 141 and leaves nothing running.

mod common;

use std::io::{BufRead, BufReader};
use std::process::Stdio;

use common::background::Running;
use common::procs::{assert_nothing_left, sleepers};
use common::sandbox::Sandbox;
use common::{RUN_LIMIT, eventually};

const JOBS: usize = 50;
const BLOCK: usize = 1_000_000;

/// The byte job `i` (0-based) prints: 50 distinct printable bytes.
fn job_byte(i: usize) -> u8 {
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwx"[i]
}

#[test]
fn big_outputs_of_parallel_jobs_arrive_as_whole_blocks() {
    let sb = Sandbox::new();
    let input: String = (0..JOBS)
        .map(|i| {
            format!(
                "head -c {BLOCK} /dev/zero | tr '\\0' '{}'\n",
                job_byte(i) as char
            )
        })
        .collect();
    // Let the pool grow: many jobs write at the same time.
    let run = sb.run(["--min-workers", "8"], &input);
    run.assert_code(0);
    assert_eq!(run.stdout.len(), JOBS * BLOCK, "total output size");

    // Cut stdout into runs of one byte value: each must be one job's whole block.
    let mut seen = Vec::new();
    let mut rest = &run.stdout[..];
    while let Some(&byte) = rest.first() {
        let len = rest.iter().position(|&b| b != byte).unwrap_or(rest.len());
        assert_eq!(
            len,
            BLOCK,
            "block #{} of byte {:?} is {len} bytes: outputs were split or interleaved",
            seen.len() + 1,
            byte as char
        );
        seen.push(byte);
        rest = &rest[len..];
    }
    seen.sort();
    let mut expected: Vec<u8> = (0..JOBS).map(job_byte).collect();
    expected.sort();
    assert_eq!(seen, expected, "each job's block exactly once");
    assert_eq!(run.status_lines().len(), JOBS, "{}", run.stderr);
}

#[test]
fn stdout_and_stderr_of_a_job_each_arrive_as_one_block() {
    // Each job interleaves lines on its stdout and stderr; on our stderr each job's
    // error lines must still be contiguous and precede its status line.
    let sb = Sandbox::new();
    let input: String = (1..=20)
        .map(|i| format!("for n in 1 2 3 4 5; do echo out{i}; echo err{i} >&2; sleep 0.01; done\n"))
        .collect();
    let run = sb.run(Vec::<&str>::new(), &input);
    run.assert_code(0);
    let stdout = run.stdout_str();
    let out: Vec<&str> = stdout.lines().collect();
    assert_eq!(out.len(), 100);
    for chunk in out.chunks(5) {
        assert!(
            chunk.iter().all(|l| *l == chunk[0]),
            "interleaved stdout: {out:?}"
        );
    }
    let err: Vec<&str> = run.stderr.lines().collect();
    let mut i = 0;
    while i < err.len() {
        if let Some(job) = err[i].strip_prefix("err") {
            assert!(
                err[i..i + 5].iter().all(|l| *l == err[i]),
                "interleaved stderr:\n{}",
                run.stderr
            );
            assert!(
                err[i + 5].starts_with(&format!("[{job}] ok after ")),
                "job {job}'s status line does not follow its error output:\n{}",
                run.stderr
            );
            i += 6;
        } else {
            i += 1;
        }
    }
}

#[test]
fn a_closed_stdout_stops_the_run_quietly_with_141() {
    // `atp-run jobs | head -1`, with many jobs producing output and one that would
    // run forever.
    let (sb, m) = Sandbox::with_marker();
    let mut jobs = format!("sleep {m}\n");
    for _ in 0..300 {
        jobs.push_str("seq 1 2000\n");
    }
    sb.write("jobs", &jobs);
    let mut cmd = sb.command(["jobs"]);
    cmd.stdin(Stdio::null()).stdout(Stdio::piped());
    let mut running = Running::spawn_raw_stdout(cmd);
    let mut reader = BufReader::new(running.child.stdout.take().unwrap());
    let mut first = String::new();
    reader.read_line(&mut first).unwrap();
    assert_eq!(first, "1\n");
    eventually("the endless job to start", || !sleepers(&m).is_empty());
    drop(reader); // the reader goes away, as `head -1` does

    let finished = running.wait_for_exit(RUN_LIMIT);
    let run = finished.run;
    assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
    run.assert_code(141);
    assert_nothing_left(&m, &[]);
}
