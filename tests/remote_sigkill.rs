//! `atp-run -S` killed with SIGKILL, on the loopback hosts of `.ci/sshd-hosts.sh`:
//! its remote jobs and local ssh processes end by themselves, and the control
//! sockets' directory it could not remove is removed by the next run, while a
//! live run's directory is kept.
//!
//! Skipped with a printed reason when the hosts are not up (a failure with
//! `CI=true`), as in `remote_ssh.rs`. Each run carries a unique marker (a `sleep`
//! argument and an ssh option), so only its own processes are looked for.
#![cfg(feature = "cli")]

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

mod remote;

use remote::{BIN, local_left, remote_left, spawn_fed, text};

const PATIENCE: Duration = Duration::from_secs(30);

/// Polls `cond` every 50 ms for up to [`PATIENCE`].
fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + PATIENCE;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A unique word for a run's processes: a `sleep` argument, an ssh option.
fn marker(n: u32) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!("1000.{n}{}{nanos:09}", std::process::id())
}

/// A run that is SIGKILLed when dropped: a failing test leaves no run behind.
struct Run(Option<Child>);

impl Run {
    fn id(&self) -> u32 {
        self.0.as_ref().map_or(0, Child::id)
    }

    fn take(&mut self) -> Child {
        self.0.take().unwrap_or_else(|| panic!("the run was taken"))
    }
}

impl Drop for Run {
    fn drop(&mut self) {
        if let Some(child) = &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Starts `atp-run -S host1,host2` on two `touch DIR/started.N; sleep MARK`
/// jobs; returns once both run.
fn sleepers(config: &Path, mark: &str, dir: &Path) -> Run {
    let ssh = format!("ssh -F {} -o SetEnv=ATP_MARK={mark}", config.display());
    let job = format!("touch {}/started.{{}}; sleep {mark}", dir.display());
    let mut cmd = Command::new(BIN);
    cmd.arg("--ssh")
        .arg(ssh)
        .args(["-S", "1/host1,1/host2", "--", &job]);
    let child = Run(Some(spawn_fed(&mut cmd, "1\n2\n")));
    eventually("2 jobs running", || {
        fs::read_dir(dir).map_or(0, |r| r.count()) >= 2
    });
    child
}

/// The socket directories in /tmp named for process `pid`.
fn socket_dirs(pid: u32) -> Vec<PathBuf> {
    let prefix = format!("atp-{pid}.");
    fs::read_dir("/tmp")
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(&prefix))
        .map(|e| e.path())
        .collect()
}

#[test]
fn a_sigkilled_run_leaves_nothing_once_the_next_run_has_started() {
    let Some(config) = remote::test_hosts() else {
        return;
    };
    let (killed_jobs, live_jobs) = (
        tempfile::tempdir().unwrap_or_else(|e| panic!("{e}")),
        tempfile::tempdir().unwrap_or_else(|e| panic!("{e}")),
    );
    let (killed_mark, live_mark) = (marker(1), marker(2));
    let mut killed = sleepers(&config, &killed_mark, killed_jobs.path());
    let mut live = sleepers(&config, &live_mark, live_jobs.path());
    let killed_dirs = socket_dirs(killed.id());
    let live_dirs = socket_dirs(live.id());
    assert_eq!(killed_dirs.len(), 1, "{killed_dirs:?}");
    assert_eq!(live_dirs.len(), 1, "{live_dirs:?}");

    let mut child = killed.take();
    child.kill().unwrap_or_else(|e| panic!("SIGKILL: {e}"));
    child.wait().unwrap_or_else(|e| panic!("wait: {e}"));
    // Its remote jobs and local ssh processes go by themselves.
    for host in ["host1", "host2"] {
        eventually(&format!("no job of the killed run on {host}"), || {
            remote_left(&config, host, &killed_mark).is_empty()
        });
    }
    eventually("no local ssh of the killed run", || {
        local_left(&killed_mark).is_empty()
    });

    // The next run removes the killed run's directory, not the live run's.
    let mut next = Command::new(BIN);
    next.arg("--ssh")
        .arg(format!("ssh -F {}", config.display()))
        .args(["-S", "host1", "--", "true"]);
    let out = spawn_fed(&mut next, "1\n")
        .wait_with_output()
        .unwrap_or_else(|e| panic!("atp-run: {e}"));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        !killed_dirs[0].exists(),
        "{} is left",
        killed_dirs[0].display()
    );
    assert!(
        live_dirs[0].is_dir(),
        "{} was removed",
        live_dirs[0].display()
    );
    for host in ["host1", "host2"] {
        let sleep = format!("sleep {live_mark}");
        let left = remote_left(&config, host, &live_mark);
        assert!(
            left.iter().any(|l| l.ends_with(&sleep)),
            "the live run's job on {host} is gone: {left:?}"
        );
    }

    // The live run still ends as usual, and removes its own directory.
    let pid = Pid::from_raw(i32::try_from(live.id()).unwrap_or(i32::MAX));
    kill(pid, Signal::SIGTERM).unwrap_or_else(|e| panic!("SIGTERM: {e}"));
    let out = live
        .take()
        .wait_with_output()
        .unwrap_or_else(|e| panic!("atp-run: {e}"));
    assert_eq!(out.status.code(), Some(130), "{}", text(&out.stderr));
    assert!(!live_dirs[0].exists(), "{} is left", live_dirs[0].display());
}
