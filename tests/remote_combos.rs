//! `-S` combined with the other features (transfers, `{host}`, `--results`…)
//! against real OpenSSH servers: the loopback hosts of `.ci/sshd-hosts.sh`, each
//! with its own home.
//!
//! Like `remote_ssh.rs`: without the hosts a test prints why it is skipped and
//! passes, unless `CI=true`, where it fails. The tests check the hosts' homes, so
//! they run one at a time, and each leaves the homes empty.
#![cfg(feature = "cli")]

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Mutex;

mod remote;

use remote::{BIN, test_hosts, text};

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn ssh(config: &Path, host: &str, command: &str) -> Output {
    Command::new("ssh")
        .arg("-F")
        .arg(config)
        .args(["-o", "ConnectTimeout=10", host, command])
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run ssh: {e}"))
}

/// What is in `host`'s home (hidden files too), one name per line.
fn home(config: &Path, host: &str) -> String {
    text(&ssh(config, host, "ls -A").stdout)
}

const HOSTS: [&str; 3] = ["host1", "host2", "host3"];

/// Empties the hosts' homes (a failed test may leave files).
fn clear_homes(config: &Path) {
    for h in HOSTS {
        ssh(config, h, "rm -rf ~/* ~/.[!.]*");
    }
}

fn assert_homes_empty(config: &Path) {
    for h in HOSTS {
        assert_eq!(home(config, h), "", "{h}'s home is not empty");
    }
}

/// `atp-run --ssh 'ssh -F CONFIG' ARGS` in `dir`.
fn atp(config: &Path, dir: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .arg("--ssh")
        .arg(format!("ssh -F {}", config.display()))
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {BIN}: {e}"))
}

/// Locks the hosts for one test and gives it a fresh local directory.
fn setup() -> Option<(
    std::sync::MutexGuard<'static, ()>,
    PathBuf,
    tempfile::TempDir,
)> {
    let guard = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let config = test_hosts()?;
    clear_homes(&config);
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    Some((guard, config, dir))
}

/// `{host}` in a `--return` name is the host the job ran on, as in the command:
/// the file the job wrote comes back under that name (the name once reached tar
/// as the literal `${PARALLEL_SSHHOST}`, so nothing came back).
#[test]
fn host_in_a_return_name_is_the_jobs_host() {
    let Some((_guard, config, dir)) = setup() else {
        return;
    };
    let names = ["a.in", "b c.in", "d.in", "e.in"];
    for name in names {
        fs::write(dir.path().join(name), format!("content of {name}\n")).unwrap();
    }
    let mut args = vec![
        "-S",
        "1/host1,1/host2",
        "--transferfile",
        "{}",
        "--return",
        "{.}.{host}.out",
        "--cleanup",
        "--",
        "cat {} > {.}.{host}.out; hostname >> {.}.{host}.out",
        ":::",
    ];
    args.extend(names);
    let out = atp(&config, dir.path(), &args);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        !text(&out.stderr).contains("Cannot stat"),
        "{}",
        text(&out.stderr)
    );
    for name in names {
        let stem = name.trim_end_matches(".in");
        let back: Vec<String> = ["host1", "host2"]
            .iter()
            .map(|h| format!("{stem}.{h}.out"))
            .filter(|f| dir.path().join(f).exists())
            .collect();
        assert_eq!(back.len(), 1, "{name}: came back as {back:?}");
        let host = back[0].rsplit('.').nth(1).unwrap_or_default();
        let content = fs::read_to_string(dir.path().join(&back[0])).unwrap();
        assert_eq!(content, format!("content of {name}\n{host}\n"));
    }
    assert_homes_empty(&config);
}
