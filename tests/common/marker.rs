//! A marker unique to one test, carried by the test's long-running jobs (as the
//! argument of `sleep 1000.<marker digits>`, which sleeps 1000 s), so that the
//! process scans of [`super::procs`] can find them and nothing else.
//!
//! Invariants: a marker is `1000.77<pid, 7 digits><n, 4 digits>`, fixed width, so
//! one marker is never a prefix of another and no other test process carries it.
//! Dropping a [`Marker`] kills (SIGKILL) every live process carrying it: a failing
//! test leaves nothing behind. Processes are found by marker only, never by
//! process group: a group id may be reused by someone else's processes on a
//! shared machine (a job's `cat` reading from a killed `sleep` ends by itself).

use std::fmt;
use std::ops::Deref;
use std::sync::atomic::{AtomicU32, Ordering};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use super::procs::processes_with;

/// A unique marker for a test's jobs; what carries it is killed when it is dropped.
/// Reads as a `&str` (`sleepers(&m)`) and formats as itself (`format!("sleep {m}")`).
#[derive(Debug)]
pub struct Marker(String);

impl Marker {
    pub fn new() -> Marker {
        static N: AtomicU32 = AtomicU32::new(0);
        Marker(format!(
            "1000.77{:07}{:04}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ))
    }

    /// Kills (SIGKILL) every live process carrying the marker, now.
    pub fn reap(&self) {
        for p in processes_with(&self.0) {
            if p.pid > 1 {
                let _ = kill(Pid::from_raw(p.pid), Signal::SIGKILL);
            }
        }
    }
}

impl Default for Marker {
    fn default() -> Self {
        Self::new()
    }
}

impl Deref for Marker {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Marker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Drop for Marker {
    fn drop(&mut self) {
        self.reap();
    }
}
