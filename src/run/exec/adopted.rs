//! Processes jobs left behind outside their process groups (a `setsid` daemon, a
//! double fork), brought back to atp-run by `PR_SET_CHILD_SUBREAPER` so that they
//! can be found and ended like the groups the registry knows.
//!
//! Owns: making atp-run a child subreaper ([`become_subreaper`]), and finding,
//! signalling and reaping its adopted children ([`stop_adopted`], [`kill_adopted`]).
//!
//! Invariants:
//! - Once atp-run is a subreaper, every descendant whose parent dies is re-parented
//!   to atp-run (not to init): a job's daemon, whatever session or group it moved
//!   to, is a child of ours, found by its parent pid in `/proc` (the model is
//!   systemd's and tini's use of the same `prctl`).
//! - [`stop_adopted`] reaps, so it runs only once no worker waits for a job leader
//!   (after the pool has been shut down): every child of ours left then is an
//!   adopted orphan. [`kill_adopted`] only signals, and may run at any time.
//!   [`reap_orphaned_members`] reaps while jobs run, but only zombies that were
//!   not leaders of a group (job leaders are group leaders): each time a job
//!   leaves members behind, so zombies of a long run stay few. A `setsid`
//!   daemon that exits during the run stays a zombie until the run ends.
//! - Each adopted process gets the signal, and so does its process group when it
//!   leads one (a daemon's own children follow it); what they leave behind is
//!   re-parented to us in turn and found by the next scan.

use std::fs;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::signal::{Signal, kill, killpg};
use nix::sys::wait::{WaitPidFlag, waitpid};
use nix::unistd::{Pid, getpid};

/// Time between scans while waiting for adopted processes to go.
const POLL: Duration = Duration::from_millis(10);

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

/// An adopted child: its pid, process group, and whether it is a zombie.
#[derive(Debug, Clone, Copy)]
struct Child {
    pid: Pid,
    pgid: Pid,
    zombie: bool,
}

/// Our children, from `/proc/<pid>/stat` (`pid (comm) state ppid pgrp ...`).
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
        let (Some(state), Some(ppid), Some(pgrp)) = (fields.next(), fields.next(), fields.next())
        else {
            continue;
        };
        if ppid.parse() != Ok(me) {
            continue;
        }
        let (Ok(pid), Ok(pgrp)) = (pid.parse(), pgrp.parse()) else {
            continue;
        };
        out.push(Child {
            pid: Pid::from_raw(pid),
            pgid: Pid::from_raw(pgrp),
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

/// Reaps the adopted children that are zombies and were members of a job's
/// group, not its leader (pgid != pid): job leaders have pgid == pid and are
/// reaped by their workers only, so this may run while jobs run. Without it,
/// the background processes of a long run (a `--repeat` job that starts one
/// each time) would pile up as zombies of atp-run until it ends.
pub(crate) fn reap_orphaned_members() {
    let members: Vec<Child> = children()
        .into_iter()
        .filter(|c| c.zombie && c.pgid != c.pid)
        .collect();
    reap(members);
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
