//! The process limit (`ulimit -u`, `RLIMIT_NPROC`): starting a job that the
//! kernel refuses with `EAGAIN` is not the job's failure.
//!
//! Owns: how many jobs this executor is running, and the cap it learnt. When a
//! spawn fails with `EAGAIN` while other jobs run, the limit is reached at that
//! many jobs: the cap is set to it (one warning line, once per run) and the job
//! waits until one of them ends, then tries again. When nothing else of ours runs,
//! the processes holding the limit are not ours to wait for: the job backs off
//! (10 ms doubling up to 1 s, as `--repeat` does) and tries again, [`RETRIES`]
//! times, before it is reported as failed. GNU parallel likewise runs every job,
//! with a warning saying how many it could run at once.
//!
//! Invariants: a job holds a [`Slot`] from before its spawn until its leader is
//! reaped, so `running` counts every live job leader; while capped, no spawn starts
//! with `running >= cap`. Every wait here ends when the executor closes (checked
//! at least every 100 ms), so a stopping run never waits on the limit. The cap
//! only ever goes down.

use std::io;
use std::sync::{Condvar, Mutex};
use std::time::Duration;

use crate::run::control::backoff::Backoff;
use crate::run::lock::{lock, wait_timeout};

/// Spawns refused while no other job of ours runs, before the job fails.
pub(crate) const RETRIES: u32 = 12;

/// How often a waiting job checks that the run is not stopping.
const POLL: Duration = Duration::from_millis(100);

#[derive(Debug, Default)]
struct State {
    /// Job leaders spawned (or being spawned) and not yet reaped.
    running: usize,
    /// Most jobs at once the process limit allows, once a spawn was refused.
    cap: Option<usize>,
}

/// Counts running jobs and holds spawns back at the learnt cap.
#[derive(Debug, Default)]
pub(crate) struct SpawnLimit {
    state: Mutex<State>,
    ended: Condvar,
}

/// A running (or starting) job's place under the cap; freed when dropped.
#[derive(Debug)]
pub(crate) struct Slot<'a>(&'a SpawnLimit);

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        lock(&self.0.state).running -= 1;
        self.0.ended.notify_all();
    }
}

/// Whether `err` is the kernel refusing a new process for now (`EAGAIN`).
pub(crate) fn is_refused(err: &io::Error) -> bool {
    err.raw_os_error() == Some(nix::libc::EAGAIN)
}

impl SpawnLimit {
    /// Waits for room under the cap; `None` if `closed()` became true meanwhile.
    pub(crate) fn enter(&self, closed: impl Fn() -> bool) -> Option<Slot<'_>> {
        let mut st = lock(&self.state);
        while st.cap.is_some_and(|cap| st.running >= cap) {
            if closed() {
                return None;
            }
            st = wait_timeout(&self.ended, st, POLL);
        }
        st.running += 1;
        Some(Slot(self))
    }

    /// The spawn of the job holding `slot` was refused (`EAGAIN`), for the
    /// `refusals`-th time in a row. Frees the slot; returns how long to back off
    /// before entering again (zero: enter at once, it waits for a job to end), or
    /// `None` when the job should fail. `backoff` is the job's own.
    pub(crate) fn refused(
        &self,
        slot: Slot<'_>,
        refusals: u32,
        backoff: &mut Backoff,
    ) -> Option<Duration> {
        let others = {
            let mut st = lock(&self.state);
            let others = st.running - 1;
            if others > 0 && st.cap.is_none_or(|cap| others < cap) {
                if st.cap.is_none() {
                    eprintln!(
                        "atp-run: warning: the process limit (ulimit -u) refused to start \
                         a job: running at most {others} job{} at once",
                        if others == 1 { "" } else { "s" }
                    );
                }
                log::info!("process limit: at most {others} jobs at once");
                st.cap = Some(others);
            }
            others
        };
        drop(slot);
        match others {
            0 if refusals > RETRIES => None,
            0 => Some(backoff.after(false, None)),
            _ => Some(Duration::ZERO),
        }
    }

    /// The cap learnt so far (for tests).
    #[cfg(test)]
    fn cap(&self) -> Option<usize> {
        lock(&self.state).cap
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refusal_while_others_run_caps_at_their_number() {
        let limit = SpawnLimit::default();
        let a = limit.enter(|| false).unwrap();
        let b = limit.enter(|| false).unwrap();
        let c = limit.enter(|| false).unwrap();
        let mut backoff = Backoff::default();
        assert_eq!(limit.refused(c, 1, &mut backoff), Some(Duration::ZERO));
        assert_eq!(limit.cap(), Some(2));
        // At the cap, entering waits; a closed executor ends the wait.
        assert!(limit.enter(|| true).is_none());
        drop(a);
        let c = limit.enter(|| false).expect("room after a job ended");
        drop((b, c));
    }

    #[test]
    fn a_refusal_with_nothing_else_running_backs_off_then_fails() {
        let limit = SpawnLimit::default();
        let mut backoff = Backoff::default();
        for refusals in 1..=RETRIES {
            let slot = limit.enter(|| false).unwrap();
            let pause = limit.refused(slot, refusals, &mut backoff).unwrap();
            assert!(!pause.is_zero(), "{refusals}");
        }
        let slot = limit.enter(|| false).unwrap();
        assert_eq!(limit.refused(slot, RETRIES + 1, &mut backoff), None);
        assert_eq!(limit.cap(), None, "nothing of ours to cap");
    }
}
