//! The local executor's registry: its running jobs by [`JobKey`] (process group,
//! start time, command), for signalling, listing and shutdown.
//!
//! Owns: the running jobs (pgid == leader pid), the set of "lingering" groups
//! (members outlived their reaped leader), the spawns in flight, the closed flag
//! and the kill-now flag.
//!
//! Invariants:
//! - The registry only signals, it never reaps: each leader is reaped by the
//!   worker blocked in `Child::wait()`, which calls [`ProcessRegistry::forget`]
//!   before reaping it.
//! - Once [`ProcessRegistry::close`] has run (also implied by
//!   [`ProcessRegistry::terminate_all`] and [`ProcessRegistry::kill_now`]),
//!   [`ProcessRegistry::register`] refuses every new group; the closed flag
//!   and the sets share one mutex, so a group is either seen by a later
//!   `signal_all`/`terminate_all` or refused (and killed by its spawner) —
//!   never missed. Spawning itself happens outside the lock.
//! - A running group is signalled only under the registry lock and only while
//!   it is in the running set; the executor removes it ([`ProcessRegistry::forget`])
//!   *before* it reaps the leader (it waits with `WNOWAIT` first), so the pgid of a
//!   running group cannot have been reused by someone else's processes.
//! - A spawn in flight is a child that may still be in our own process group
//!   (between fork and `setpgid`), so a Ctrl-Z typed then reaches it too. std's
//!   `posix_spawn` child holds signals blocked until it has its own group, then
//!   unblocks them *before* `exec`: the pending SIGTSTP stops it there, and the
//!   spawning worker stays blocked in the vfork wait, with no pid to register.
//!   So every SIGCONT sweep ([`ProcessRegistry::signal_all`]) also continues our
//!   stopped children in groups of their own, and keeps doing so until every
//!   spawn that was in flight when it began has returned ([`ProcessRegistry::spawning`]).
//! - Signals are only ever sent to groups > 1 (never to our own group via
//!   pgid 0, never to init); `ESRCH` is ignored.
//! - A group is "alive" if it has a member that is not a zombie (see
//!   [`group_alive`]): in containers whose PID 1 does not reap orphans, a
//!   zombie-only group would otherwise look alive forever.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::fmt;
use std::fs;
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

use crate::run::exec::executor::{RunningJob, TerminationReport};
use crate::run::exec::wait::pid_has_exited;
use crate::run::job::JobKey;
use crate::run::lock::{lock, wait_timeout};
use crate::run::values::termseq::TermSeq;

/// Poll interval while waiting for terminated groups to disappear.
const POLL_INTERVAL: Duration = Duration::from_millis(10);

/// Error of [`ProcessRegistry::register`]: the registry is closed; the caller
/// must kill the group it just spawned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RegistryClosed;

impl fmt::Display for RegistryClosed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("process registry is closed: no new job may start")
    }
}

impl std::error::Error for RegistryClosed {}

/// A running job's entry.
#[derive(Debug, Clone)]
struct Entry {
    /// Its process group (the leader's pid).
    pgid: Pid,
    started: Instant,
    /// Its command line, for SIGUSR1's list.
    command: Box<[u8]>,
}

#[derive(Debug, Default)]
struct State {
    closed: bool,
    kill_now: bool,
    running: HashMap<JobKey, Entry>,
    /// Lingering pgid -> insertion generation (guards pruning against pid reuse).
    lingering: HashMap<Pid, u64>,
    generation: u64,
    /// Tickets of the spawns in flight (see [`ProcessRegistry::spawning`]).
    spawns: BTreeSet<u64>,
    next_spawn: u64,
}

impl State {
    fn all_groups(&self) -> Vec<Pid> {
        let mut v: Vec<Pid> = self.running.values().map(|e| e.pgid).collect();
        let running = v.len();
        for &pgid in self.lingering.keys() {
            if !v[..running].contains(&pgid) {
                v.push(pgid);
            }
        }
        v
    }
}

/// Process groups of running (and lingering) jobs; `Send + Sync`, share it via `Arc`.
#[derive(Debug, Default)]
pub(crate) struct ProcessRegistry {
    state: Mutex<State>,
    wake: Condvar,
}

impl ProcessRegistry {
    /// An empty, open registry.
    #[cfg(test)]
    pub(crate) fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    /// Marks a spawn as in flight until the returned guard drops: call it before
    /// spawning, drop it once the spawn has returned (registered or not).
    pub(crate) fn spawning(&self) -> Spawning<'_> {
        let mut st = self.lock();
        let ticket = st.next_spawn;
        st.next_spawn = st.next_spawn.wrapping_add(1);
        st.spawns.insert(ticket);
        Spawning {
            registry: self,
            ticket,
        }
    }

    /// Continues our children that are stopped in process groups of their own
    /// (spawns stopped before `exec` by a Ctrl-Z that reached them while they were
    /// still in our group), until every spawn in flight now has returned: such a
    /// child may unblock the pending SIGTSTP only after this sweep began. Returns
    /// how many groups were continued.
    fn continue_spawns(&self) -> usize {
        let Some(last) = self.lock().spawns.last().copied() else {
            return 0;
        };
        let mut continued = HashSet::new();
        loop {
            for pgid in stopped_children() {
                if send(pgid, Signal::SIGCONT) {
                    continued.insert(pgid);
                }
            }
            let st = self.lock();
            if st.spawns.first().is_none_or(|&first| first > last) {
                break;
            }
            drop(wait_timeout(&self.wake, st, POLL_INTERVAL));
        }
        continued.len()
    }

    /// Records a freshly spawned job `key` whose process group is `pgid`.
    ///
    /// # Errors
    /// [`RegistryClosed`] if [`close`](Self::close) already ran; the group is
    /// then NOT recorded and the caller must kill it.
    pub(crate) fn register(
        &self,
        key: JobKey,
        pgid: Pid,
        started: Instant,
        command: &[u8],
    ) -> Result<(), RegistryClosed> {
        let command = Box::from(command);
        let mut st = self.lock();
        if st.closed {
            return Err(RegistryClosed);
        }
        // The pid is in use again, so any lingering group of that id is gone.
        st.lingering.remove(&pgid);
        st.running.insert(
            key,
            Entry {
                pgid,
                started,
                command,
            },
        );
        Ok(())
    }

    /// Forgets job `key`: call it before reaping its leader, so its group is never
    /// signalled after.
    pub(crate) fn forget(&self, key: JobKey) {
        self.lock().running.remove(&key);
    }

    /// The reaped leader's group `pgid` still has members: they are "lingering",
    /// to be cleaned up by [`terminate_all`](Self::terminate_all).
    pub(crate) fn linger(&self, pgid: Pid) {
        let had_lingering = {
            let mut st = self.lock();
            st.generation = st.generation.wrapping_add(1);
            let generation = st.generation;
            st.lingering.insert(pgid, generation);
            st.lingering.len() > 1
        };
        if had_lingering {
            // Rare path: keep the lingering set from growing with dead groups.
            self.prune_lingering();
        }
    }

    /// Sends `sig` (then SIGCONT, unless it is SIGKILL, so a stopped job sees
    /// it) to the group of job `key` if it is running. Returns whether it was.
    ///
    /// A job whose leader has already exited (a zombie its worker has not seen
    /// yet, e.g. after atp-run itself was stopped and continued) is not running:
    /// it ended in time, so it is not signalled and `false` is returned.
    pub(crate) fn signal(&self, key: JobKey, sig: Signal) -> bool {
        let st = self.lock();
        match st.running.get(&key) {
            Some(entry) if pid_has_exited(entry.pgid).unwrap_or(false) => false,
            Some(entry) => {
                send(entry.pgid, sig);
                if sig != Signal::SIGKILL {
                    send(entry.pgid, Signal::SIGCONT);
                }
                true
            }
            None => false,
        }
    }

    /// Forbids new jobs: every later [`register`](Self::register) fails.
    pub(crate) fn close(&self) {
        self.lock().closed = true;
    }

    /// Whether [`close`](Self::close) (or a termination) has run.
    pub(crate) fn is_closed(&self) -> bool {
        self.lock().closed
    }

    /// Sends `sig` to every running and lingering group; returns how many
    /// groups were signalled successfully. Groups registered concurrently may
    /// miss it unless the registry is closed first. SIGCONT also continues the
    /// spawns a Ctrl-Z stopped before they could be registered (see the module
    /// invariants), waiting for the spawns in flight to return.
    pub(crate) fn signal_all(&self, sig: Signal) -> usize {
        let signalled = {
            let st = self.lock();
            st.all_groups()
                .into_iter()
                .filter(|&p| send(p, sig))
                .count()
        };
        if sig == Signal::SIGCONT {
            signalled + self.continue_spawns()
        } else {
            signalled
        }
    }

    /// Termination sequence: closes the registry, sends SIGTERM (then SIGCONT,
    /// so stopped jobs see it) to every group, waits up to `grace` for them to
    /// disappear (polling every ~10 ms, returning early when all are gone or
    /// when [`kill_now`](Self::kill_now) is called), then SIGKILLs the rest.
    ///
    /// Blocks the calling thread for at most about `grace`.
    pub(crate) fn terminate_all(&self, grace: Duration) -> TerminationReport {
        self.terminate_all_with(&[(Signal::SIGTERM, grace), (Signal::SIGKILL, Duration::ZERO)])
    }

    /// Like [`terminate_all`](Self::terminate_all), with a `--termseq` sequence:
    /// each step's signal goes to the groups still alive, then up to its wait
    /// for them to go. `killed` counts the groups still alive before the last
    /// step. [`kill_now`](Self::kill_now) cuts every wait short.
    pub(crate) fn terminate_all_seq(&self, seq: &TermSeq) -> TerminationReport {
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
            let st = wait_timeout(&self.wake, st, timeout);
            if st.kill_now {
                return true;
            }
        }
    }

    /// "Kill now" (e.g. a second Ctrl-C): closes the registry, SIGKILLs every
    /// group at once, and makes a running (or future) [`terminate_all`](Self::terminate_all)
    /// skip the rest of its grace period.
    pub(crate) fn kill_now(&self) {
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

    /// Whether [`kill_now`](Self::kill_now) was called.
    pub(crate) fn is_killing_now(&self) -> bool {
        self.lock().kill_now
    }

    /// Number of jobs whose leader has not been reaped yet.
    pub(crate) fn running_count(&self) -> usize {
        self.lock().running.len()
    }

    /// Number of lingering groups still alive (prunes dead ones first).
    pub(crate) fn lingering_count(&self) -> usize {
        self.prune_lingering();
        self.lock().lingering.len()
    }

    /// Forgets lingering groups that are gone; returns how many remain.
    pub(crate) fn prune_lingering(&self) -> usize {
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

    /// The running jobs, oldest first.
    pub(crate) fn running_jobs(&self) -> Vec<RunningJob> {
        let mut v: Vec<RunningJob> = self
            .lock()
            .running
            .iter()
            .map(|(&key, entry)| RunningJob {
                key,
                started: entry.started,
                command: entry.command.clone(),
            })
            .collect();
        v.sort_by_key(|j| (j.started, j.key));
        v
    }
}

/// A spawn in flight, from [`ProcessRegistry::spawning`] until dropped.
#[must_use = "the spawn is in flight until this guard drops"]
pub(crate) struct Spawning<'a> {
    registry: &'a ProcessRegistry,
    ticket: u64,
}

impl Drop for Spawning<'_> {
    fn drop(&mut self) {
        self.registry.lock().spawns.remove(&self.ticket);
        self.registry.wake.notify_all();
    }
}

/// Process groups led by a stopped child of ours in a group of its own (never
/// our own group); empty if `/proc` is unreadable.
fn stopped_children() -> Vec<Pid> {
    let me = i32::try_from(std::process::id()).unwrap_or(0);
    let Some(pids) = proc_pids() else {
        return Vec::new();
    };
    pids.filter_map(|pid| {
        let pid: i32 = pid.parse().ok()?;
        let stat = fs::read(format!("/proc/{pid}/stat")).ok()?;
        let (state, ppid, pgrp) = parse_stat_parent(&stat)?;
        (ppid == me && pgrp == pid && pid != me && (state == b'T' || state == b't'))
            .then(|| Pid::from_raw(pid))
    })
    .collect()
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
pub(crate) fn group_alive(pgid: Pid) -> bool {
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
    parse_stat_parent(stat).map(|(state, _ppid, pgrp)| (state, pgrp))
}

/// Extracts (state, ppid, pgrp) from a `/proc/<pid>/stat` line.
fn parse_stat_parent(stat: &[u8]) -> Option<(u8, i32, i32)> {
    let close = stat.iter().rposition(|&b| b == b')')?;
    let rest = std::str::from_utf8(stat.get(close + 1..)?).ok()?;
    let mut fields = rest.split_ascii_whitespace();
    let state = *fields.next()?.as_bytes().first()?;
    let ppid = fields.next()?.parse().ok()?;
    let pgrp = fields.next()?.parse().ok()?;
    Some((state, ppid, pgrp))
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

    fn key(number: u64) -> JobKey {
        JobKey {
            number,
            run: 0,
            attempt: 1,
        }
    }

    #[test]
    fn register_forget_close_bookkeeping() {
        // Pids are only recorded here, never signalled (no terminate/signal_all).
        let reg = ProcessRegistry::new();
        let t0 = Instant::now();
        let a = Pid::from_raw(i32::MAX - 1);
        let b = Pid::from_raw(i32::MAX - 2);
        assert_eq!(reg.register(key(1), a, t0, b"one"), Ok(()));
        assert_eq!(
            reg.register(key(2), b, t0 + Duration::from_millis(1), b"two"),
            Ok(())
        );
        assert_eq!(reg.running_count(), 2);
        let jobs = reg.running_jobs();
        assert_eq!(
            jobs.iter()
                .map(|j| (j.key, &*j.command))
                .collect::<Vec<_>>(),
            vec![(key(1), &b"one"[..]), (key(2), &b"two"[..])]
        );
        reg.forget(key(1));
        reg.forget(key(2));
        // Such pids cannot exist, so the "lingering" group is pruned at once.
        reg.linger(b);
        assert_eq!(reg.running_count(), 0);
        assert_eq!(reg.lingering_count(), 0);
        assert!(!reg.signal(key(1), Signal::SIGTERM), "forgotten");
        assert!(!reg.is_closed());
        reg.close();
        assert!(reg.is_closed());
        assert_eq!(reg.register(key(1), a, t0, b"one"), Err(RegistryClosed));
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

    /// The state letter of process `pid` (`None` once it is reaped).
    fn state(pid: Pid) -> Option<u8> {
        let stat = fs::read(format!("/proc/{pid}/stat")).ok()?;
        parse_stat(&stat).map(|(state, _)| state)
    }

    /// Polls `cond` for up to 30 s.
    fn eventually(mut cond: impl FnMut() -> bool) -> bool {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if cond() {
                return true;
            }
            std::thread::sleep(POLL_INTERVAL);
        }
        false
    }

    #[test]
    fn sigcont_continues_an_unregistered_stopped_child_until_spawns_return() -> std::io::Result<()>
    {
        // What a Ctrl-Z does to a job being spawned: its child, in a group of its
        // own but not registered yet (the spawner is still blocked), is stopped.
        use std::os::unix::process::CommandExt;
        let reg = Arc::new(ProcessRegistry::new());
        let spawning = reg.spawning();
        let mut child = Command::new("/bin/sh")
            .args(["-c", "kill -STOP $$; exit 7"])
            .stdin(Stdio::null())
            .process_group(0)
            .spawn()?;
        let pid = Pid::from_raw(i32::try_from(child.id()).unwrap_or(0));
        assert!(eventually(|| state(pid) == Some(b'T')), "the child stops");
        let sweep = {
            let reg = Arc::clone(&reg);
            std::thread::spawn(move || reg.signal_all(Signal::SIGCONT))
        };
        let continued = eventually(|| matches!(child.try_wait(), Ok(Some(_))));
        // The sweep goes on while the spawn is in flight: its child could still stop.
        let swept_early = sweep.is_finished();
        drop(spawning);
        let signalled = sweep
            .join()
            .map_err(|_| std::io::Error::other("sweep panicked"))?;
        if !continued {
            let _ = killpg(pid, Signal::SIGKILL);
        }
        assert!(continued, "the stopped child was never continued");
        assert_eq!(child.wait()?.code(), Some(7));
        assert!(!swept_early, "the sweep returned with a spawn in flight");
        assert_eq!(signalled, 1);
        Ok(())
    }

    #[test]
    fn sigcont_without_spawns_in_flight_returns_at_once() {
        let reg = ProcessRegistry::new();
        assert_eq!(reg.signal_all(Signal::SIGCONT), 0);
    }

    #[test]
    fn a_job_whose_leader_exited_unseen_is_not_signalled() -> std::io::Result<()> {
        use std::os::unix::process::CommandExt;
        // As after a SIGSTOP/SIGCONT of atp-run: the job ended in time, but its
        // worker has not seen it yet when the timer comes to signal it.
        let mut child = Command::new("/bin/sh")
            .args(["-c", "exit 0"])
            .stdin(Stdio::null())
            .process_group(0)
            .spawn()?;
        let pid = Pid::from_raw(i32::try_from(child.id()).unwrap_or(0));
        let reg = ProcessRegistry::new();
        assert_eq!(reg.register(key(1), pid, Instant::now(), b"exit 0"), Ok(()));
        crate::run::exec::wait::wait_exited_nowait(pid)?;
        assert!(
            !reg.signal(key(1), Signal::SIGTERM),
            "a zombie was signalled"
        );
        reg.forget(key(1));
        assert!(child.wait()?.success());
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
