//! What the remote test binaries (`remote_ssh.rs`, `remote_slurm.rs`) share: the
//! same jobs run locally as the reference a remote run must match, and reading
//! `--json` output into comparable fields, and finding what a run left running on
//! the hosts or here.

#![allow(dead_code)] // each test binary uses a different subset

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_atp-run");

/// Bytes as text, lossily.
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Each `--json` object of `out` as "seq exit_code signal stdout stderr", sorted:
/// what must be the same for a job wherever it ran.
pub fn json_fields(out: &Output) -> Vec<String> {
    let mut v: Vec<String> = text(&out.stdout)
        .lines()
        .map(|l| {
            let j: serde_json::Value = serde_json::from_str(l).unwrap_or_default();
            format!(
                "{} {} {} {:?} {:?}",
                j["seq"], j["exit_code"], j["signal"], j["stdout"], j["stderr"]
            )
        })
        .collect();
    v.sort();
    v
}

/// Runs `jobs` on this machine with `--json -j 2`: the reference.
pub fn run_locally_as_json(jobs: &str) -> Output {
    Command::new(BIN)
        .args(["--json", "-j", "2"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            c.stdin.take().map(|mut i| i.write_all(jobs.as_bytes()));
            c.wait_with_output()
        })
        .unwrap_or_else(|e| panic!("{e}"))
}

/// The test hosts' ssh_config (of `.ci/sshd-hosts.sh`, in `$ATP_TEST_HOSTS_DIR`)
/// if host1..3 all answer; `None` otherwise, after printing why the test is
/// skipped — or a panic with `CI=true`, where they must be up.
pub fn test_hosts() -> Option<PathBuf> {
    let dir = std::env::var_os("ATP_TEST_HOSTS_DIR")
        .map_or_else(|| "/tmp/atp-test-hosts".into(), PathBuf::from);
    let config = dir.join("ssh_config");
    let why = if !config.exists() {
        format!("{} does not exist", config.display())
    } else {
        let down: Vec<&str> = ["host1", "host2", "host3"]
            .into_iter()
            .filter(|h| {
                Command::new("ssh")
                    .arg("-F")
                    .arg(&config)
                    .args(["-o", "ConnectTimeout=10", h, "true"])
                    .stdin(Stdio::null())
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status()
                    .map_or(true, |s| !s.success())
            })
            .collect();
        if down.is_empty() {
            return Some(config);
        }
        format!("{} do not answer", down.join(", "))
    };
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "CI=true but the SSH test hosts are not up: {why}"
    );
    eprintln!(
        "skipped: the SSH test hosts are not up: {why} (start them with .ci/sshd-hosts.sh start)"
    );
    None
}

/// Runs `.ci/sshd-hosts.sh ARGS` (start, kill HOST, freeze HOST, thaw HOST).
pub fn hosts_script(args: &[&str]) -> bool {
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(".ci/sshd-hosts.sh");
    Command::new("bash")
        .arg(script)
        .args(args)
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Starts a killed host again when dropped (also when the test fails).
pub struct Revive;

impl Drop for Revive {
    fn drop(&mut self) {
        hosts_script(&["start"]);
    }
}

/// Spawns `cmd` with piped stdio and writes `stdin` to it (then closes it).
pub fn spawn_fed(cmd: &mut Command, stdin: &str) -> std::process::Child {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {BIN}: {e}"));
    if let Some(mut input) = child.stdin.take() {
        input
            .write_all(stdin.as_bytes())
            .unwrap_or_else(|e| panic!("stdin: {e}"));
    }
    child
}

/// Runs `command` on `host` of the test hosts' ssh config `config`.
pub fn ssh(config: &Path, host: &str, command: &str) -> Output {
    Command::new("ssh")
        .arg("-F")
        .arg(config)
        .args(["-o", "ConnectTimeout=10", host, command])
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run ssh: {e}"))
}

/// Processes on `host` (not zombies) whose command line contains `mark`.
pub fn remote_left(config: &Path, host: &str, mark: &str) -> Vec<String> {
    let out = ssh(config, host, "ps -eo stat=,args=");
    text(&out.stdout)
        .lines()
        .filter(|l| l.contains(mark) && !l.trim_start().starts_with('Z'))
        .map(str::to_owned)
        .collect()
}

/// Local processes (not zombies) whose command line contains `mark`.
pub fn local_left(mark: &str) -> Vec<String> {
    let mut found = Vec::new();
    for entry in fs::read_dir("/proc").into_iter().flatten().flatten() {
        let dir = entry.path();
        let cmdline = fs::read(dir.join("cmdline")).unwrap_or_default();
        let stat = fs::read_to_string(dir.join("stat")).unwrap_or_default();
        let zombie = stat
            .rsplit_once(") ")
            .is_some_and(|(_, s)| s.starts_with('Z'));
        let cmdline = text(&cmdline).replace('\0', " ");
        if !zombie && cmdline.contains(mark) {
            found.push(cmdline);
        }
    }
    found
}
