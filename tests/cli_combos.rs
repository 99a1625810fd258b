//! CLI tests of features combined, where one could break the other: here
//! `--pipe` (whose input is read on a thread of its own) with `--halt`.
#![cfg(feature = "cli")]

mod common;

use std::io::Write;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::sandbox::Sandbox;

/// `--pipe --halt now,fail=1` ends the run while its standard input is still open
/// and unread: the block reader (blocked on the next read) must not keep the run
/// alive until the input ends, as `tail -f log | atp-run --pipe --halt ...` needs.
#[test]
fn pipe_halt_now_ends_the_run_with_the_input_still_open() {
    let sb = Sandbox::new();
    let mut child = sb
        .command([
            "--pipe",
            "--block",
            "10k",
            "--halt",
            "now,fail=1",
            "--",
            "cat >/dev/null; exit 3",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("cannot run atp-run");
    let mut stdin = child.stdin.take().expect("stdin");
    let lines: String = (1..=20_000).map(|n| format!("{n}\n")).collect();
    // Once the run halted the pipe may be closed: a failed write is expected then.
    let _ = stdin.write_all(lines.as_bytes());
    // `stdin` stays open (never dropped before the end): the input never ends.
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("atp-run still runs 30 s after the halt, waiting for its input");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().expect("stderr"), &mut stderr)
        .expect("stderr");
    drop(stdin);
    assert_eq!(status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("--halt now,fail=1"), "{stderr}");
}
