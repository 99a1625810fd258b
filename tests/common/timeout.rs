//! Runs of `--timeout` tests whose meaning depends on the job reaching a point
//! (ignoring SIGTERM, printing a line) before its time is up.
//!
//! How soon a job's shell gets to its first command depends on the machine's load,
//! which no fixed limit bounds: a run in which the timer fired first says nothing
//! about atp-run. So such a job writes [`READY`] once it is there, and a run
//! without it is done again with twice the time.
//!
//! Invariants: the result returned is always that of a run whose job got ready in
//! time, so the test's assertions keep their full strictness; the first attempt
//! has the test's own limit, so an idle machine runs each test once, as fast as
//! before; it gives up (panics) once a run with a limit of [`PATIENCE`] or more was
//! not enough.

use std::fs;
use std::time::Duration;

use super::PATIENCE;
use super::sandbox::Sandbox;

/// The file a job writes (`: >ready`, no new process) once it is ready.
pub const READY: &str = "ready";

/// Calls `attempt` with a `--timeout` value (first `first`, then twice as long each
/// time) until the run it made in `sb` has left [`READY`] there; returns the
/// attempt's result and the limit it ran with.
pub fn until_ready_in_time<T>(
    sb: &Sandbox,
    first: Duration,
    mut attempt: impl FnMut(&str) -> T,
) -> (T, Duration) {
    let mut limit = first;
    loop {
        let _ = fs::remove_file(sb.join(READY));
        let result = attempt(&format!("{}ms", limit.as_millis()));
        if sb.exists(READY) {
            return (result, limit);
        }
        assert!(
            limit < PATIENCE,
            "the job was still not ready when its --timeout of {limit:?} ran out"
        );
        eprintln!("the job was not ready within {limit:?}: again with twice the time");
        limit *= 2;
    }
}
