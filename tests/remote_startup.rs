//! Before any remote job runs: `--dry-run` with `-S` touches no host, and an
//! interrupt while the hosts are being connected to leaves nothing behind. The
//! "host" is a stand-in ssh (`--ssh`) that records how it was called and never
//! answers, so these tests need no server and always run.
#![cfg(feature = "cli")]

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

mod remote;

use remote::{BIN, text};

/// A stand-in ssh in `dir` that appends its pid and arguments to `dir/calls`,
/// then hangs (as a host that does not answer would) for a minute.
fn hanging_ssh(dir: &Path) -> PathBuf {
    let ssh = dir.join("ssh");
    let calls = dir.join("calls");
    let script = format!(
        "#!/bin/sh\necho \"$$ $*\" >> '{}'\nexec sleep 60\n",
        calls.display()
    );
    fs::write(&ssh, script).unwrap_or_else(|e| panic!("{e}"));
    fs::set_permissions(&ssh, fs::Permissions::from_mode(0o755)).unwrap_or_else(|e| panic!("{e}"));
    ssh
}

/// Whether process `pid` is running (a zombie is not).
fn alive(pid: &str) -> bool {
    fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        stat.rsplit(')')
            .next()
            .is_some_and(|s| !s.starts_with(" Z"))
    })
}

#[test]
fn dry_run_prints_the_commands_and_connects_to_no_host() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let ssh = hanging_ssh(dir.path());
    let out = Command::new(BIN)
        .args(["-S", "host1,2/user@host2", "--ssh"])
        .arg(&ssh)
        .args(["--dry-run", "--", "echo {}", ":::", "a", "b c"])
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "echo a\necho 'b c'\n");
    let calls = fs::read_to_string(dir.path().join("calls")).unwrap_or_default();
    assert!(calls.is_empty(), "--dry-run ran ssh: {calls}");
}

#[test]
fn an_interrupt_while_connecting_leaves_no_master_and_no_socket_directory() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let ssh = hanging_ssh(dir.path());
    let atp = Command::new(BIN)
        .args(["-S", "host1", "--ssh"])
        .arg(&ssh)
        .args(["--", "echo {}", ":::", "a"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{e}"));
    let calls = dir.path().join("calls");
    let deadline = Instant::now() + Duration::from_secs(30);
    while fs::read_to_string(&calls).is_ok_and(|c| c.is_empty()) || !calls.exists() {
        assert!(Instant::now() < deadline, "the master was never started");
        std::thread::sleep(Duration::from_millis(20));
    }
    let started = Instant::now();
    let killed = Command::new("kill")
        .args(["-INT", &atp.id().to_string()])
        .status();
    assert!(killed.is_ok_and(|s| s.success()));
    let out = atp.wait_with_output().unwrap_or_else(|e| panic!("{e}"));
    // The stand-in hangs for 60 s: waiting for it would take that long.
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "atp-run waited for the connection: {:?}",
        started.elapsed()
    );
    assert_eq!(out.status.code(), Some(130), "{}", text(&out.stderr));
    let call = fs::read_to_string(&calls).unwrap_or_default();
    let pid = call.split_whitespace().next().unwrap_or("");
    let deadline = Instant::now() + Duration::from_secs(10);
    while alive(pid) {
        assert!(
            Instant::now() < deadline,
            "the master {pid} is still running: {call}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let socket_dir = call
        .split_whitespace()
        .find_map(|arg| arg.strip_prefix("ControlPath="))
        .map(|path| Path::new(path).parent().map(Path::to_owned));
    let Some(Some(socket_dir)) = socket_dir else {
        panic!("no ControlPath in the master's arguments: {call}")
    };
    assert!(!socket_dir.exists(), "{} is left", socket_dir.display());
}
