//! Processes jobs left behind outside their process groups (a `setsid` daemon, a
//! double fork), brought back to atp-run by `PR_SET_CHILD_SUBREAPER` so that they
//! can be found and ended like the groups the registry knows.
//!
//! Owns: making atp-run a child subreaper ([`become_subreaper`]), reaping its
//! adopted children as they die ([`reap_on_sigchld`], [`members_left`]), and
//! finding, signalling and reaping the ones left at the end ([`stop_adopted`],
//! [`kill_adopted`]).
//!
//! Invariants:
//! - Once atp-run is a subreaper, every descendant whose parent dies is re-parented
//!   to atp-run (not to init): a job's daemon, whatever session or group it moved
//!   to, is a child of ours, found by its parent pid in `/proc` (the model is
//!   systemd's and tini's use of the same `prctl`).
//! - While jobs run, only *adopted* zombies are reaped here: children not in our
//!   own process group that either are members of a group they do not lead
//!   (pgid != pid) or lead a session of their own (sid == pid). A job leader
//!   leads its group (pgid == pid) and, being a group leader, can never call
//!   `setsid`; its exit status is left to its worker's `Child::wait`. So are
//!   children started in our own group (an input command).
//! - Adopted zombies are reaped when they die: a SIGCHLD thread scans `/proc`, but
//!   only while adopted processes may be alive ([`MAY_HAVE_ADOPTED`]): the flag is
//!   set when a job ends with members left in its group, and cleared by a scan that
//!   finds no adopted process alive. A run whose jobs leave nothing behind never
//!   scans (a scan per job more than doubled the cost of a job of `true`).
//!   Not covered: a process that moved to a group of its own without a session
//!   (`set -m` in a job's shell) looks like a job leader, and its zombie stays
//!   until the run ends; so does an adopted process that dies while the flag is
//!   clear (a job's `setsid` daemon, when no job has left members in its group).
//! - Scans that reap hold [`SCANNING`]: a zombie seen in `/proc` is still ours,
//!   unreaped, when it is reaped (its pid cannot have been reused meanwhile).
//! - [`stop_adopted`] reaps every zombie child, so it runs only once no worker
//!   waits for a job leader (after the pool has been shut down): every child of
//!   ours left then is an adopted orphan. [`kill_adopted`] only signals, and may
//!   run at any time.
//! - Each adopted process gets the signal, and so does its process group when it
//!   leads one (a daemon's own children follow it); what they leave behind is
//!   re-parented to us in turn and found by the next scan.

use std::fs;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::signal::{Signal, kill, killpg};
use nix::sys::wait::{WaitPidFlag, waitpid};
use nix::unistd::{Pid, getpgrp, getpid};
use signal_hook::consts::SIGCHLD;
use signal_hook::iterator::Signals;

/// Time between scans while waiting for adopted processes to go.
const POLL: Duration = Duration::from_millis(10);

/// Set while adopted processes may be alive (a job ended with members left in its
/// group, and no scan since has found every adopted process gone): only then
/// does a SIGCHLD cost a scan of `/proc`.
static MAY_HAVE_ADOPTED: AtomicBool = AtomicBool::new(false);

/// Held by every scan that reaps (see the module invariants).
static SCANNING: Mutex<()> = Mutex::new(());

/// Makes atp-run the reaper of its orphaned descendants. A failure (an old
/// kernel) is logged: only `setsid` daemons of jobs can then escape.
pub(crate) fn become_subreaper() {
    if let Err(err) = nix::sys::prctl::set_child_subreaper(true) {
        log::warn!(
            "cannot become a child subreaper ({err}): a job's daemon that leaves its \
             process group may outlive atp-run"
        );
    }
}

/// A child of ours: its pid, process group, session, and whether it is a zombie.
#[derive(Debug, Clone, Copy)]
struct Child {
    pid: Pid,
    pgid: Pid,
    sid: Pid,
    zombie: bool,
}

impl Child {
    /// Adopted for sure while jobs run: not in our group, and either a member of
    /// a group it does not lead or a session leader — never a job leader (see
    /// the module invariants).
    fn surely_adopted(&self, own_group: Pid) -> bool {
        self.pgid != own_group && (self.pgid != self.pid || self.sid == self.pid)
    }
}

/// Our children, from `/proc/<pid>/stat` (`pid (comm) state ppid pgrp session ...`).
fn children() -> Vec<Child> {
    let me = getpid().as_raw();
    let Some(pids) = crate::run::exec::registry::proc_pids() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for pid in pids {
        let Ok(stat) = fs::read(format!("/proc/{pid}/stat")) else {
            continue;
        };
        let Some(close) = stat.iter().rposition(|&b| b == b')') else {
            continue;
        };
        let rest = String::from_utf8_lossy(&stat[close + 1..]).into_owned();
        let mut fields = rest.split_ascii_whitespace();
        let (Some(state), Some(ppid), Some(pgrp), Some(session)) =
            (fields.next(), fields.next(), fields.next(), fields.next())
        else {
            continue;
        };
        if ppid.parse() != Ok(me) {
            continue;
        }
        let (Ok(pid), Ok(pgrp), Ok(session)) = (pid.parse(), pgrp.parse(), session.parse()) else {
            continue;
        };
        out.push(Child {
            pid: Pid::from_raw(pid),
            pgid: Pid::from_raw(pgrp),
            sid: Pid::from_raw(session),
            zombie: state == "Z" || state == "X",
        });
    }
    out
}

/// Sends `signal` to each live child in `children`, and to its group if it leads
/// one (never to our own group, never to init's).
fn signal_each(children: &[Child], signal: Signal) {
    let own = nix::unistd::getpgrp();
    for child in children.iter().filter(|c| !c.zombie && c.pid.as_raw() > 1) {
        let _ = kill(child.pid, signal);
        if child.pgid == child.pid && child.pgid != own {
            let _ = killpg(child.pgid, signal);
        }
        if signal != Signal::SIGKILL {
            let _ = kill(child.pid, Signal::SIGCONT);
        }
    }
}

/// Reaps the zombies among `children`; returns the live ones.
fn reap(children: Vec<Child>) -> Vec<Child> {
    children
        .into_iter()
        .filter(|c| {
            if c.zombie {
                while let Err(Errno::EINTR) = waitpid(c.pid, Some(WaitPidFlag::WNOHANG)) {}
            }
            !c.zombie
        })
        .collect()
}

/// Reaps the adopted zombies (never a job leader: see the module invariants);
/// returns whether adopted processes are still alive.
fn reap_adopted() -> bool {
    let _scanning = SCANNING
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let own = getpgrp();
    let adopted: Vec<Child> = children()
        .into_iter()
        .filter(|c| c.surely_adopted(own))
        .collect();
    !reap(adopted).is_empty()
}

/// A job ended with members left in its group, now adopted by us: reaps those
/// that already ended (this job's and earlier ones'), and has the others reaped
/// as they die (by [`reap_on_sigchld`]'s thread). Without it, the background
/// processes of a long run (a `--repeat` job that starts one each time) would
/// pile up as zombies of atp-run until it ends.
pub(crate) fn members_left() {
    MAY_HAVE_ADOPTED.store(true, Ordering::SeqCst);
    reap_adopted();
}

/// Starts the thread that reaps adopted zombies when a child of ours dies, while
/// adopted processes may be alive. A failure is logged: adopted zombies are then
/// reaped only when a job leaves members behind, and at the end of the run.
pub(crate) fn reap_on_sigchld() {
    let mut signals = match Signals::new([SIGCHLD]) {
        Ok(signals) => signals,
        Err(err) => {
            log::warn!("cannot catch SIGCHLD ({err}): adopted zombies are reaped late");
            return;
        }
    };
    let spawned = std::thread::Builder::new()
        .name("atp-run-reaper".into())
        .spawn(move || {
            for _ in signals.forever() {
                // Cleared before the scan, so that a job ending during it (and
                // setting it again) is not forgotten.
                if MAY_HAVE_ADOPTED.swap(false, Ordering::SeqCst) && reap_adopted() {
                    MAY_HAVE_ADOPTED.store(true, Ordering::SeqCst);
                }
            }
        });
    if let Err(err) = spawned {
        log::warn!("cannot start the SIGCHLD thread ({err}): adopted zombies are reaped late");
    }
}

/// SIGKILLs every adopted child (and the groups they lead) at once, without
/// reaping: for a second interrupt, while workers may still wait for leaders.
/// Job leaders are children too, but are being killed then anyway.
pub(crate) fn kill_adopted() {
    signal_each(&children(), Signal::SIGKILL);
}

/// Ends every adopted child: SIGTERM, up to `grace` for them to go (newly
/// adopted ones get their SIGTERM as they are found), then SIGKILL; reaps them.
/// `cut_short` is polled: when it says so, what is left is killed at once.
/// Returns how many processes were adopted. Call only once no job leader is
/// waited for (see the module invariants).
pub(crate) fn stop_adopted(grace: Duration, cut_short: impl Fn() -> bool) -> usize {
    let _scanning = SCANNING
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let mut live = reap(children());
    if live.is_empty() {
        return 0;
    }
    log::warn!(
        "terminating {} process(es) that jobs left running outside their process groups",
        live.len()
    );
    let mut seen: Vec<Pid> = Vec::new();
    let deadline = Instant::now().checked_add(grace);
    loop {
        let new: Vec<Child> = live
            .iter()
            .filter(|c| !seen.contains(&c.pid))
            .copied()
            .collect();
        signal_each(&new, Signal::SIGTERM);
        seen.extend(new.iter().map(|c| c.pid));
        let late = deadline.is_some_and(|d| Instant::now() >= d) || cut_short();
        if late {
            signal_each(&live, Signal::SIGKILL);
        }
        std::thread::sleep(POLL);
        live = reap(children());
        if live.is_empty() {
            return seen.len();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn child(pid: i32, pgid: i32, sid: i32) -> Child {
        Child {
            pid: Pid::from_raw(pid),
            pgid: Pid::from_raw(pgid),
            sid: Pid::from_raw(sid),
            zombie: true,
        }
    }

    #[test]
    fn a_job_leader_is_never_taken_for_adopted() {
        // Leads its group, in our session.
        assert!(!child(200, 200, 10).surely_adopted(Pid::from_raw(10)));
    }

    #[test]
    fn members_of_a_group_they_do_not_lead_and_session_leaders_are_adopted() {
        let own = Pid::from_raw(10);
        assert!(child(201, 200, 10).surely_adopted(own));
        assert!(child(300, 300, 300).surely_adopted(own));
    }

    #[test]
    fn children_in_our_own_group_are_left_to_whoever_started_them() {
        assert!(!child(400, 10, 10).surely_adopted(Pid::from_raw(10)));
    }
}
