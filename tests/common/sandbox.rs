//! A fresh temporary directory per test, and `atp-run` started in it: run to the
//! end with some standard input, or spawned in the background.
//!
//! Invariants: every command runs with the sandbox as its working directory and a
//! clean environment for atp-run's own diagnostics (no `RUST_LOG`, no colour) and
//! its shell (no `ATP_SHELL`, `PARALLEL_SHELL`), so that stderr is the same whoever
//! runs the tests; a run that takes longer than
//! [`RUN_LIMIT`] is killed rather than waited for.

use std::ffi::OsStr;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::RUN_LIMIT;
use super::background::Running;
use super::marker::Marker;
use super::outcome::Run;

/// The binary under test.
pub fn bin() -> &'static Path {
    assert_cmd::cargo::cargo_bin!("atp-run")
}

/// A fresh temporary directory that `atp-run` runs in; removed when dropped.
pub struct Sandbox {
    dir: tempfile::TempDir,
}

impl Default for Sandbox {
    fn default() -> Self {
        Self::new()
    }
}

impl Sandbox {
    pub fn new() -> Sandbox {
        Sandbox {
            dir: tempfile::tempdir().expect("cannot create a temporary directory"),
        }
    }

    /// A sandbox and a fresh [`Marker`] for the jobs that must be running when
    /// something happens: whatever carries the marker is killed when the marker
    /// is dropped, so a failing test leaves nothing behind.
    pub fn with_marker() -> (Sandbox, Marker) {
        (Sandbox::new(), Marker::new())
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn join(&self, name: impl AsRef<Path>) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Writes `contents` to `name` in the sandbox and returns its path.
    pub fn write(&self, name: &str, contents: impl AsRef<[u8]>) -> PathBuf {
        let path = self.join(name);
        fs::write(&path, contents).expect("cannot write a test file");
        path
    }

    pub fn exists(&self, name: &str) -> bool {
        self.join(name).exists()
    }

    pub fn read(&self, name: &str) -> Vec<u8> {
        fs::read(self.join(name)).unwrap_or_else(|e| panic!("cannot read {name}: {e}"))
    }

    pub fn read_string(&self, name: &str) -> String {
        String::from_utf8(self.read(name)).expect("not UTF-8")
    }

    /// `atp-run` with `args`, running in the sandbox, with a clean environment for
    /// its own diagnostics (no RUST_LOG, no colour).
    pub fn command<I, S>(&self, args: I) -> Command
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut cmd = Command::new(bin());
        cmd.args(args)
            .current_dir(self.path())
            .env_remove("RUST_LOG")
            .env_remove("ATP_SHELL")
            .env_remove("PARALLEL_SHELL")
            .env("NO_COLOR", "1");
        cmd
    }

    /// Runs `atp-run args` to the end with `stdin` as its standard input; panics if
    /// it takes longer than [`RUN_LIMIT`].
    pub fn run<I, S>(&self, args: I, stdin: impl AsRef<[u8]>) -> Run
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let output = assert_cmd::Command::from_std(self.command(args))
            .write_stdin(stdin.as_ref().to_vec())
            .timeout(RUN_LIMIT)
            .output()
            .expect("cannot run atp-run");
        Run::from(output)
    }

    /// Starts `atp-run args` in the background with stdout and stderr collected
    /// (stdin from /dev/null).
    pub fn spawn<I, S>(&self, args: I) -> Running
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut cmd = self.command(args);
        cmd.stdin(Stdio::null());
        Running::spawn(cmd)
    }
}
