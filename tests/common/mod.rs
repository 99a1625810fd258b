//! Helpers shared by the `atp-run` CLI tests, one concern per file (as ripgrep's
//! `tests/util.rs` and `tests/macros.rs` split theirs):
//!
//! - [`sandbox`]: a fresh temporary directory per test, and running the binary in it
//!   to the end (`Sandbox::run`) or in the background (`Sandbox::spawn`).
//! - [`outcome`]: a finished run (`Run`) and reading what it printed: status lines,
//!   the summary, `--json` objects.
//! - [`background`]: `atp-run` running in the background (`Running`), its output
//!   collected while it runs.
//! - [`procs`]: scans of `/proc` for the processes a test started, so that none
//!   outlives it (`assert_nothing_left`).
//! - [`marker`]: a unique `Marker` for a test's long jobs, which kills whatever
//!   carries it when dropped; `Sandbox::with_marker()` is the preamble of every test
//!   whose jobs must be running when something happens.
//! - [`shell`]: shell snippets jobs use to wait for each other, by files, never by
//!   tuned sleeps.
//! - [`timeout`]: `--timeout` runs whose job must get somewhere before its time is
//!   up, done again with more time when the machine was too slow for that.
//!
//! Nothing here depends on how fast the machine is: conditions are polled with
//! generous deadlines ([`PATIENCE`]), never asserted after a fixed sleep.

#![allow(dead_code)] // each test file uses a different part of these modules

pub mod background;
pub mod marker;
pub mod outcome;
pub mod procs;
pub mod sandbox;
pub mod shell;
pub mod timeout;

use std::time::{Duration, Instant};

/// How long a condition may take to come true on a slow, shared machine.
pub const PATIENCE: Duration = Duration::from_secs(30);

/// How long a whole `atp-run` invocation may take before the test gives up on it.
pub const RUN_LIMIT: Duration = Duration::from_secs(60);

/// Polls `condition` until it holds; panics naming `what` after [`PATIENCE`].
pub fn eventually(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + PATIENCE;
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}
