//! What the remote test binaries (`remote_ssh.rs`, `remote_slurm.rs`) share: the
//! same jobs run locally as the reference a remote run must match, and reading
//! `--json` output into comparable fields.

#![allow(dead_code)] // each test binary uses a different subset

use std::io::Write;
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
