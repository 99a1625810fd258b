//! Adaptive slots for the remote hosts of a run: per host, one load monitor
//! session over its first master (`load.sh`), and a thread that feeds its frames
//! to the host's controller (`exec/host_controller.rs`) and applies the slot
//! counts it decides.
//!
//! Owns: [`Adaptive`] (the run's settings for the controllers and the monitor
//! sessions running now) and the monitor threads.
//!
//! Invariants:
//! - Only remote hosts without `N/` are adaptive; `N/` pins a host, `:` keeps this
//!   machine's cores.
//! - A monitor session counts as one of its master's job sessions (so a master
//!   never carries more than [`SESSIONS_PER_MASTER`]); a host that needs more
//!   slots than its masters can carry gets another master first (up to the
//!   run's cap), and never more slots than its masters can carry.
//! - A host whose monitor session ends (not Linux: no `/proc/stat`; its master
//!   lost; the host dead) goes back to its probed cores; the session is started
//!   again when the host is found up again (`Inner::probe_until_up`).
//! - [`Adaptive::stop_all`] ends every monitor session at once (before the masters
//!   close, which would otherwise wait for them).

use std::io::{BufRead, BufReader};
use std::os::unix::ffi::OsStringExt;
use std::os::unix::process::CommandExt;
use std::process::{ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use super::load::{self, Frames, LoadMeter};
use super::master::Master;
use super::{CONNECT_TIMEOUT, Inner, MasterSlot, SESSIONS_PER_MASTER, STAGGER, Target, quote};
use crate::Config;
use crate::run::exec::host_controller::HostController;
use crate::run::exec::hosts::HostState;
use crate::run::lock::lock;

/// A monitor session running now: its ssh client and the end of its stdin.
#[derive(Debug)]
struct Session {
    pid: Pid,
    _control: ChildStdin,
}

/// The run's adaptive-slot settings and monitor sessions.
#[derive(Debug)]
pub(crate) struct Adaptive {
    /// The pool's settings (its gates apply on every host).
    config: Config,
    /// Most slots on one host (and over all hosts).
    cap: usize,
    /// Per host, its monitor session, if one runs.
    sessions: Mutex<Vec<Option<Session>>>,
    /// Set by [`Adaptive::stop_all`] (before it takes `sessions`): no session
    /// is registered after it.
    stopped: AtomicBool,
}

impl Adaptive {
    pub(crate) fn new(config: Config, cap: usize, hosts: usize) -> Adaptive {
        Adaptive {
            config,
            cap,
            sessions: Mutex::new((0..hosts).map(|_| None).collect()),
            stopped: AtomicBool::new(false),
        }
    }

    /// Ends every monitor session now (their threads then put the hosts back to
    /// their cores and end).
    pub(crate) fn stop_all(&self) {
        self.stopped.store(true, Ordering::SeqCst);
        for session in lock(&self.sessions).iter_mut().filter_map(Option::take) {
            let _ = kill(session.pid, Signal::SIGKILL);
        }
    }
}

/// Starts the monitor of host `i` if it is adaptive, up, and has none running.
pub(super) fn start(inner: &Arc<Inner>, i: usize) {
    let host = &inner.hosts[i];
    let Target::Ssh {
        command,
        host: name,
    } = &host.login.target
    else {
        return;
    };
    if host.login.slots.is_some()
        || inner.slots.is_closed()
        || inner.slots.state(i) != Some(HostState::Up)
        || inner.adaptive.stopped.load(Ordering::SeqCst)
    {
        return;
    }
    if lock(&inner.adaptive.sessions)[i].is_some() {
        return;
    }
    // The monitor takes one of the masters' sessions: the host's slots must
    // still fit beside it (9 cores, one master: a second one first).
    let cores = host.slots;
    let carried = carry(inner, i, cores);
    if carried < cores {
        inner.slots.set_slots(i, carried);
    }
    let mut sessions = lock(&inner.adaptive.sessions);
    if sessions[i].is_some() {
        return;
    }
    let Some((m, socket)) = inner.take_session(i) else {
        return;
    };
    let mut remote = b"sh -c ".to_vec();
    remote.extend(quote(load::script().as_bytes()));
    remote.extend(format!(" atp-load '{}'", load::pattern(&inner.nonce)).into_bytes());
    let Some((program, options)) = command.split_first() else {
        inner.end_session(i, m);
        return;
    };
    let spawned = Command::new(program)
        .args(options)
        .args(["-o", "ControlMaster=no", "-o"])
        .arg(format!("ControlPath={}", socket.display()))
        .arg(name)
        .arg("--")
        .arg(std::ffi::OsString::from_vec(remote))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn();
    let mut child = match spawned {
        Ok(child) => child,
        Err(e) => {
            log::debug!("no load monitor on host {}: {e}", host.label);
            inner.end_session(i, m);
            return;
        }
    };
    let (Some(control), Some(stdout), Ok(pid)) = (
        child.stdin.take(),
        child.stdout.take(),
        i32::try_from(child.id()),
    ) else {
        let _ = child.kill();
        let _ = child.wait();
        inner.end_session(i, m);
        return;
    };
    if inner.adaptive.stopped.load(Ordering::SeqCst) {
        drop(control);
        let _ = child.kill();
        let _ = child.wait();
        inner.end_session(i, m);
        return;
    }
    sessions[i] = Some(Session {
        pid: Pid::from_raw(pid),
        _control: control,
    });
    drop(sessions);
    let outer = inner;
    let inner = Arc::clone(inner);
    let spawned = std::thread::Builder::new()
        .name("atp-run-load".into())
        .spawn(move || {
            follow(&inner, i, BufReader::new(stdout));
            // Forget the session before reaping its client (its pid stays ours
            // until then, so stop_all never signals a stranger).
            lock(&inner.adaptive.sessions)[i] = None;
            let _ = child.kill();
            let _ = child.wait();
            inner.end_session(i, m);
            if !inner.slots.is_closed() {
                let cores = inner.hosts[i].slots;
                log::debug!(
                    "host {}: load monitor ended; {cores} slots",
                    inner.hosts[i].label
                );
                inner.slots.set_slots(i, cores);
            }
        });
    if let Err(e) = spawned {
        log::error!("cannot start a thread to follow a host's load: {e}");
        if let Some(session) = lock(&outer.adaptive.sessions)[i].take() {
            let _ = kill(session.pid, Signal::SIGKILL);
        }
        outer.end_session(i, m);
    }
}

/// Reads host `i`'s monitor frames until the session ends, and applies its
/// controller's decisions.
fn follow(inner: &Inner, i: usize, mut out: impl BufRead) {
    let host = &inner.hosts[i];
    let cores = host.slots;
    let mut frames = Frames::default();
    let mut meter = LoadMeter::default();
    let mut controller = HostController::new(
        cores,
        inner.adaptive.cap,
        inner.adaptive.config.clone(),
        Instant::now(),
    );
    let mut line = String::new();
    loop {
        line.clear();
        match out.read_line(&mut line) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let Some(frame) = frames.push(&line) else {
            continue;
        };
        if inner.slots.is_closed() {
            return;
        }
        let load = meter.next(frame, frames.cpu_count().unwrap_or(cores), share(inner, i));
        let Some(now) = inner.slots.host_now(i) else {
            return;
        };
        if let Some(want) = controller.on_reading(Instant::now(), &load, now) {
            let carried = carry(inner, i, want);
            inner.slots.set_slots(i, carried);
        }
    }
}

/// The part of host `i`'s running jobs whose sessions its first master (the
/// monitor's) carries; 1 when none run.
fn share(inner: &Inner, i: usize) -> f64 {
    let on_first = lock(&inner.hosts[i].masters)
        .first()
        .map_or(0, |m| m.sessions.saturating_sub(1));
    let running = inner.slots.host_now(i).map_or(0, |h| h.running);
    match running {
        0 => 1.0,
        n => on_first.min(n) as f64 / n as f64,
    }
}

/// Makes sure host `i`'s masters can carry `want` job sessions (besides the
/// monitor's), starting masters as needed; returns how many they can carry.
fn carry(inner: &Inner, i: usize, want: usize) -> usize {
    let host = &inner.hosts[i];
    let Target::Ssh {
        command,
        host: name,
    } = &host.login.target
    else {
        return want;
    };
    let capacity = |masters: usize| (masters * SESSIONS_PER_MASTER).saturating_sub(1);
    loop {
        let count = lock(&host.masters).len();
        if capacity(count) >= want || inner.slots.is_closed() {
            return want.min(capacity(count));
        }
        let path = inner.socket_dir.join(format!("h{i}m{count}"));
        let errors = inner.socket_dir.join(format!("h{i}m{count}.err"));
        std::thread::sleep(STAGGER);
        match Master::start(command, name, &path, CONNECT_TIMEOUT, &errors) {
            Ok((master, _)) => lock(&host.masters).push(MasterSlot {
                master: Some(master),
                sessions: 0,
            }),
            Err(why) => {
                log::debug!("host {}: no more masters ({why})", host.label);
                return want.min(capacity(count));
            }
        }
    }
}
