//! Registry of the process groups of running jobs, for signalling and shutdown.
//!
//! Owns: the set of running jobs' process groups (pgid == leader pid, start
//! time, whether its `--timeout` fired), the set of "lingering" groups (members outlived their reaped
//! leader), the closed flag and the kill-now flag.
//!
//! Invariants:
//! - The registry only signals, it never reaps: each leader is reaped by the
//!   worker blocked in `Child::wait()`, which then calls [`ProcessRegistry::finish`].
//! - Once [`ProcessRegistry::close`] has run (also implied by
//!   [`ProcessRegistry::terminate_all`] and [`ProcessRegistry::kill_now`]),
//!   [`ProcessRegistry::register`] refuses every new group; the closed flag
//!   and the sets share one mutex, so a group is either seen by a later
//!   `signal_all`/`terminate_all` or refused (and killed by its spawner) —
//!   never missed. Spawning itself happens outside the lock.
//! - A running group is signalled only under the registry lock and only while
//!   it is in the running set; the executor removes it ([`ProcessRegistry::finish`])
//!   *before* it reaps the leader (it waits with `WNOWAIT` first), so the pgid of a
//!   running group cannot have been reused by someone else's processes.
//! - Signals are only ever sent to groups > 1 (never to our own group via
//!   pgid 0, never to init); `ESRCH` is ignored.
//! - A group is "alive" if it has a member that is not a zombie (see
//!   [`group_alive`]): in containers whose PID 1 does not reap orphans, a
//!   zombie-only group would otherwise look alive forever.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::fs;
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

use crate::run::values::termseq::TermSeq;

/// Poll interval while waiting for terminated groups to disappear.
const POLL_INTERVAL: Duration = Duration::from_millis(10);

/// A job whose leader has not been reaped yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunningJob {
    /// Leader pid, which is also the job's process-group id.
    pub pid: Pid,
    /// When the job was started.
    pub started: Instant,
}

/// What [`ProcessRegistry::terminate_all`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TerminationReport {
    /// Process groups sent SIGTERM (running + lingering).
    pub groups: usize,
    /// Groups still alive at the end of the grace period, sent SIGKILL.
    pub killed: usize,
    /// Whether [`ProcessRegistry::kill_now`] was called (before or during the
    /// grace period), cutting it short.
    pub interrupted: bool,
}

/// Error of [`ProcessRegistry::register`]: the registry is closed; the caller
/// must kill the group it just spawned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RegistryClosed;

impl fmt::Display for RegistryClosed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("process registry is closed: no new job may start")
    }
}

impl std::error::Error for RegistryClosed {}

/// A running job's entry.
#[derive(Debug, Clone, Copy)]
struct Entry {
    started: Instant,
    /// Its `--timeout` fired: it was sent (part of) the termination sequence.
    timed_out: bool,
}

#[derive(Debug, Default)]
struct State {
    closed: bool,
    kill_now: bool,
    running: HashMap<Pid, Entry>,
    /// Lingering pgid -> insertion generation (guards pruning against pid reuse).
    lingering: HashMap<Pid, u64>,
    generation: u64,
}

impl State {
    fn all_groups(&self) -> Vec<Pid> {
        let mut v: Vec<Pid> = self.running.keys().copied().collect();
        v.extend(
            self.lingering
                .keys()
                .filter(|p| !self.running.contains_key(p)),
        );
        v
    }
}

/// Process groups of running (and lingering) jobs; `Send + Sync`, share it via `Arc`.
#[derive(Debug, Default)]
pub struct ProcessRegistry {
    state: Mutex<State>,
    wake: Condvar,
}

impl ProcessRegistry {
    /// An empty, open registry.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Records a freshly spawned job whose process group is `pid`.
    ///
    /// # Errors
    /// [`RegistryClosed`] if [`close`](Self::close) already ran; the group is
    /// then NOT recorded and the caller must kill it.
    pub fn register(&self, pid: Pid, started: Instant) -> Result<(), RegistryClosed> {
        let mut st = self.lock();
        if st.closed {
            return Err(RegistryClosed);
        }
        // The pid is in use again, so any lingering group of that id is gone.
        st.lingering.remove(&pid);
        st.running.insert(
            pid,
            Entry {
                started,
                timed_out: false,
            },
        );
        Ok(())
    }

    /// Records that the leader `pid` was reaped. If `group_still_alive`, the
    /// group moves to the lingering set, to be cleaned up by
    /// [`terminate_all`](Self::terminate_all)/[`signal_all`](Self::signal_all).
    /// Returns whether the job's timeout fired (see [`signal_timed_out`](Self::signal_timed_out)).
    /// Call it before reaping the leader, so the group is never signalled after.
    pub fn finish(&self, pid: Pid, group_still_alive: bool) -> bool {
        let (had_lingering, timed_out) = {
            let mut st = self.lock();
            let timed_out = st.running.remove(&pid).is_some_and(|e| e.timed_out);
            if group_still_alive {
                st.generation = st.generation.wrapping_add(1);
                let generation = st.generation;
                st.lingering.insert(pid, generation);
            }
            (group_still_alive && st.lingering.len() > 1, timed_out)
        };
        if had_lingering {
            // Rare path: keep the lingering set from growing with dead groups.
            self.prune_lingering();
        }
        timed_out
    }

    /// Sends `sig` (then SIGCONT, unless it is SIGKILL, so a stopped job sees
    /// it) to the group of the job started at `started` with leader `pid`, if that
    /// job is still running, and marks it as timed out. Returns whether it was
    /// still running. Used by the `--timeout` timer, which may fire late: a job
    /// that has finished (or a later job that got the same pid) is left alone.
    pub fn signal_timed_out(&self, pid: Pid, started: Instant, sig: Signal) -> bool {
        let mut st = self.lock();
        match st.running.get_mut(&pid) {
            Some(entry) if entry.started == started => {
                entry.timed_out = true;
                send(pid, sig);
                if sig != Signal::SIGKILL {
                    send(pid, Signal::SIGCONT);
                }
                true
            }
            _ => false,
        }
    }

    /// Forbids new jobs: every later [`register`](Self::register) fails.
    pub fn close(&self) {
        self.lock().closed = true;
    }

    /// Whether [`close`](Self::close) (or a termination) has run.
    pub fn is_closed(&self) -> bool {
        self.lock().closed
    }

    /// Sends `sig` to every running and lingering group; returns how many
    /// groups were signalled successfully. Groups registered concurrently may
    /// miss it unless the registry is closed first.
    pub fn signal_all(&self, sig: Signal) -> usize {
        let st = self.lock();
        st.all_groups()
            .into_iter()
            .filter(|&p| send(p, sig))
            .count()
    }

    /// Termination sequence: closes the registry, sends SIGTERM (then SIGCONT,
    /// so stopped jobs see it) to every group, waits up to `grace` for them to
    /// disappear (polling every ~10 ms, returning early when all are gone or
    /// when [`kill_now`](Self::kill_now) is called), then SIGKILLs the rest.
    ///
    /// Blocks the calling thread for at most about `grace`.
    pub fn terminate_all(&self, grace: Duration) -> TerminationReport {
        self.terminate_all_with(&[(Signal::SIGTERM, grace), (Signal::SIGKILL, Duration::ZERO)])
    }

    /// Like [`terminate_all`](Self::terminate_all), with a `--termseq` sequence:
    /// each step's signal goes to the groups still alive, then up to its wait
    /// for them to go. `killed` counts the groups still alive before the last
    /// step. [`kill_now`](Self::kill_now) cuts every wait short.
    pub fn terminate_all_seq(&self, seq: &TermSeq) -> TerminationReport {
        let steps: Vec<(Signal, Duration)> =
            seq.steps().iter().map(|s| (s.signal, s.wait)).collect();
        self.terminate_all_with(&steps)
    }

    fn terminate_all_with(&self, steps: &[(Signal, Duration)]) -> TerminationReport {
        let targets = {
            let mut st = self.lock();
            st.closed = true;
            st.all_groups()
        };
        let mut report = TerminationReport {
            groups: targets.len(),
            ..TerminationReport::default()
        };
        let mut remaining = targets;
        let Some((&(last, _), waits)) = steps.split_last() else {
            return report;
        };
        for &(sig, wait) in waits {
            if remaining.is_empty() {
                break;
            }
            for &p in &remaining {
                send(p, sig);
                if sig != Signal::SIGKILL {
                    send(p, Signal::SIGCONT);
                }
            }
            if self.wait_gone(&mut remaining, wait) {
                report.interrupted = true;
                break;
            }
        }
        for &p in &remaining {
            send(p, last);
            if last != Signal::SIGKILL {
                send(p, Signal::SIGCONT);
            }
        }
        report.killed = remaining.len();
        // kill_now may also have ended the wait by killing every group itself.
        report.interrupted |= self.lock().kill_now;
        report
    }

    /// Waits up to `grace` for the groups in `remaining` to disappear, keeping
    /// only the live ones; returns true if [`kill_now`](Self::kill_now) cut it short.
    fn wait_gone(&self, remaining: &mut Vec<Pid>, grace: Duration) -> bool {
        let deadline = Instant::now().checked_add(grace);
        loop {
            retain_alive(remaining);
            if remaining.is_empty() {
                return false;
            }
            let st = self.lock();
            if st.kill_now {
                return true;
            }
            let now = Instant::now();
            let timeout = match deadline {
                Some(d) if now >= d => return false,
                Some(d) => POLL_INTERVAL.min(d - now),
                None => POLL_INTERVAL,
            };
            let (st, _) = self
                .wake
                .wait_timeout(st, timeout)
                .unwrap_or_else(PoisonError::into_inner);
            if st.kill_now {
                return true;
            }
        }
    }

    /// "Kill now" (e.g. a second Ctrl-C): closes the registry, SIGKILLs every
    /// group at once, and makes a running (or future) [`terminate_all`](Self::terminate_all)
    /// skip the rest of its grace period.
    pub fn kill_now(&self) {
        {
            let mut st = self.lock();
            st.closed = true;
            st.kill_now = true;
            for p in st.all_groups() {
                send(p, Signal::SIGKILL);
            }
        }
        self.wake.notify_all();
    }

    /// Number of jobs whose leader has not been reaped yet.
    pub fn running_count(&self) -> usize {
        self.lock().running.len()
    }

    /// Number of lingering groups still alive (prunes dead ones first).
    pub fn lingering_count(&self) -> usize {
        self.prune_lingering();
        self.lock().lingering.len()
    }

    /// Forgets lingering groups that are gone; returns how many remain.
    pub fn prune_lingering(&self) -> usize {
        let snapshot: Vec<(Pid, u64)> = self
            .lock()
            .lingering
            .iter()
            .map(|(&p, &g)| (p, g))
            .collect();
        if snapshot.is_empty() {
            return 0;
        }
        let mut alive: Vec<Pid> = snapshot.iter().map(|&(p, _)| p).collect();
        retain_alive(&mut alive);
        let mut st = self.lock();
        for (p, g) in snapshot {
            if !alive.contains(&p) && st.lingering.get(&p) == Some(&g) {
                st.lingering.remove(&p);
            }
        }
        st.lingering.len()
    }

    /// Snapshot of the running jobs, oldest first (for status reports).
    pub fn running_jobs(&self) -> Vec<RunningJob> {
        let mut v: Vec<RunningJob> = self
            .lock()
            .running
            .iter()
            .map(|(&pid, entry)| RunningJob {
                pid,
                started: entry.started,
            })
            .collect();
        v.sort_by_key(|j| (j.started, j.pid.as_raw()));
        v
    }
}

/// Sends `sig` to group `pgid`; false if it is gone or could not be signalled.
/// Refuses pgid <= 1 (0 would be our own group, 1 init).
fn send(pgid: Pid, sig: Signal) -> bool {
    if pgid.as_raw() <= 1 {
        return false;
    }
    match killpg(pgid, sig) {
        Ok(()) => true,
        Err(Errno::ESRCH) => false,
        Err(e) => {
            log::debug!("killpg({pgid}, {sig}) failed: {e}");
            false
        }
    }
}

/// Whether process group `pgid` still has a member that is not a zombie.
///
/// Fast path: `killpg(pgid, 0)` failing with `ESRCH` means no member at all.
/// Otherwise `/proc` is scanned to ignore zombies (orphans whose new parent
/// does not reap them); without `/proc`, any member counts as alive.
pub fn group_alive(pgid: Pid) -> bool {
    let mut v = vec![pgid];
    retain_alive(&mut v);
    !v.is_empty()
}

/// Keeps only the groups that still have a non-zombie member.
fn retain_alive(pgids: &mut Vec<Pid>) {
    pgids.retain(|&p| p.as_raw() > 1 && !matches!(killpg(p, None), Err(Errno::ESRCH)));
    if pgids.is_empty() {
        return;
    }
    if let Some(live) = live_pgrps() {
        pgids.retain(|p| live.contains(&p.as_raw()));
    }
}

/// Process groups having a non-zombie member, from `/proc/<pid>/stat`; None if
/// `/proc` is unreadable.
fn live_pgrps() -> Option<HashSet<i32>> {
    let mut live = HashSet::new();
    for pid in proc_pids()? {
        let Ok(stat) = fs::read(format!("/proc/{pid}/stat")) else {
            continue; // exited meanwhile
        };
        if let Some((state, pgrp)) = parse_stat(&stat)
            && state != b'Z'
            && state != b'X'
        {
            live.insert(pgrp);
        }
    }
    Some(live)
}

/// The process ids listed in `/proc` (as their directory names); `None` if
/// `/proc` is unreadable.
pub(crate) fn proc_pids() -> Option<impl Iterator<Item = String>> {
    let entries = fs::read_dir("/proc").ok()?;
    Some(entries.flatten().filter_map(|entry| {
        let name = entry.file_name().into_string().ok()?;
        name.bytes().all(|b| b.is_ascii_digit()).then_some(name)
    }))
}

/// Extracts (state, pgrp) from a `/proc/<pid>/stat` line:
/// `pid (comm) state ppid pgrp ...`, where comm may contain spaces and ')'.
fn parse_stat(stat: &[u8]) -> Option<(u8, i32)> {
    let close = stat.iter().rposition(|&b| b == b')')?;
    let rest = std::str::from_utf8(stat.get(close + 1..)?).ok()?;
    let mut fields = rest.split_ascii_whitespace();
    let state = *fields.next()?.as_bytes().first()?;
    let _ppid = fields.next()?;
    let pgrp = fields.next()?.parse().ok()?;
    Some((state, pgrp))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::{Command, Stdio};
    use std::sync::Arc;

    #[test]
    fn registry_is_send_sync() {
        fn check<T: Send + Sync>() {}
        check::<ProcessRegistry>();
        check::<Arc<ProcessRegistry>>();
    }

    #[test]
    fn parse_stat_handles_odd_comm() {
        assert_eq!(
            parse_stat(b"123 (a) b) c) S 1 456 456 0"),
            Some((b'S', 456))
        );
        assert_eq!(parse_stat(b"7 (z) Z 1 7 7"), Some((b'Z', 7)));
        assert_eq!(parse_stat(b"garbage"), None);
        assert_eq!(parse_stat(b""), None);
    }

    #[test]
    fn register_finish_close_bookkeeping() {
        // Pids are only recorded here, never signalled (no terminate/signal_all).
        let reg = ProcessRegistry::new();
        let t0 = Instant::now();
        let a = Pid::from_raw(i32::MAX - 1);
        let b = Pid::from_raw(i32::MAX - 2);
        assert_eq!(reg.register(a, t0), Ok(()));
        assert_eq!(reg.register(b, t0 + Duration::from_millis(1)), Ok(()));
        assert_eq!(reg.running_count(), 2);
        assert_eq!(
            reg.running_jobs().iter().map(|j| j.pid).collect::<Vec<_>>(),
            vec![a, b]
        );
        reg.finish(a, false);
        // Such pids cannot exist, so the "lingering" group is pruned at once.
        reg.finish(b, true);
        assert_eq!(reg.running_count(), 0);
        assert_eq!(reg.lingering_count(), 0);
        assert!(!reg.is_closed());
        reg.close();
        assert!(reg.is_closed());
        assert_eq!(reg.register(a, t0), Err(RegistryClosed));
        assert_eq!(reg.running_count(), 0);
    }

    #[test]
    fn group_alive_tracks_a_real_group() -> std::io::Result<()> {
        use std::os::unix::process::CommandExt;
        let mut child = Command::new("/bin/sh")
            .args(["-c", "read x; true"]) // blocks until stdin closes
            .stdin(Stdio::piped())
            .process_group(0)
            .spawn()?;
        let pid = Pid::from_raw(i32::try_from(child.id()).unwrap_or(0));
        let alive = group_alive(pid);
        drop(child.stdin.take()); // EOF: sh exits
        let status = child.wait()?;
        assert!(alive);
        assert!(status.success());
        assert!(!group_alive(pid));
        assert!(!group_alive(Pid::from_raw(0)));
        assert!(!group_alive(Pid::from_raw(1)));
        Ok(())
    }

    #[test]
    fn terminate_all_on_empty_registry_returns_at_once() {
        let reg = ProcessRegistry::new();
        let report = reg.terminate_all(Duration::from_secs(3600));
        assert_eq!(report, TerminationReport::default());
        assert!(reg.is_closed());
    }
}
