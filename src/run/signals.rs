//! Every signal atp-run handles, in one place, feeding the coordinator's one event
//! channel.
//!
//! - SIGINT, SIGTERM, SIGHUP (the `ctrlc` crate, whose `termination` feature covers
//!   all three): the first becomes [`Event::Interrupt`]; the coordinator stops
//!   starting jobs and runs the termination sequence (TERM, grace period, KILL). Any
//!   further one means "now": every job is killed at once through the executor and
//!   the grace period is cut short, as fd and GNU parallel do on a second Ctrl-C.
//!   (This is the one action taken here rather than by the coordinator: the
//!   coordinator is then busy in that very termination sequence.)
//! - SIGUSR1 (`signal-hook`'s self-pipe, on a thread of its own):
//!   [`Event::ListRunning`]. Job-control signals (SIGTSTP, SIGCONT, SIGWINCH) join
//!   the same iterator as further events.
//!
//! - From the first line of `main` ([`catch_early`]) until [`install`], the same
//!   signals only raise flags, so that one arriving within the first milliseconds
//!   neither kills atp-run with the default action (143 for SIGTERM, 138 for
//!   SIGUSR1) nor is lost: `install` turns a caught interrupt into the interrupt it
//!   would have been. `install` itself runs at the start of a run, before any input
//!   is opened.
//! - Until the coordinator listens ([`Listening::start`], just before the feeder
//!   starts the first job), an interrupt ends atp-run at once with 130: nothing has
//!   started, so there is nothing to stop, and nothing would read the event (a
//!   `--dry-run`, or opening a FIFO nobody writes, would otherwise ignore it).
//!
//! Invariants: no unsafe code here. SIGUSR1 is caught, not blocked with `sigwait`:
//! std does not reset the signal mask of the processes it spawns (a job's `SigBlk`
//! showed SIGUSR1 blocked, and `kill -USR1 $$` no longer killed it), whereas a caught
//! signal is reset to its default action by `exec`, so jobs get SIGUSR1's default
//! action (tested in `tests/cli_jobs.rs`). Jobs run in their own process groups, so a
//! Ctrl-C typed at the terminal reaches only atp-run; the jobs are signalled by
//! atp-run itself, whole trees at a time.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use crossbeam_channel::Sender;
use signal_hook::SigId;
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM, SIGUSR1};
use signal_hook::iterator::Signals;

use crate::run::events::Event;
use crate::run::exec::executor::Executor;

/// Why the handlers could not be installed.
#[derive(Debug, thiserror::Error)]
pub enum SignalError {
    /// The SIGINT/SIGTERM/SIGHUP handler (a handler was already installed in this
    /// process, or the OS refused).
    #[error("cannot install the signal handlers")]
    Interrupt(#[source] ctrlc::Error),
    /// The SIGUSR1 listener.
    #[error("cannot start the SIGUSR1 listener thread")]
    Listener(#[source] std::io::Error),
}

/// The flags [`catch_early`] raises, and the registrations to undo.
struct Early {
    interrupted: Arc<AtomicBool>,
    ids: Mutex<Vec<SigId>>,
}

static EARLY: OnceLock<Early> = OnceLock::new();

/// Catches SIGINT, SIGTERM, SIGHUP and SIGUSR1 as flags until the real handlers
/// are installed; called first thing in `main`. (SIGUSR1 lists the running jobs: there is none yet, so
/// an early one is only kept from killing atp-run.)
pub fn catch_early() {
    let interrupted = Arc::new(AtomicBool::new(false));
    let mut ids = Vec::new();
    for signal in [SIGINT, SIGTERM, SIGHUP] {
        ids.extend(signal_hook::flag::register(signal, Arc::clone(&interrupted)).ok());
    }
    let listed = Arc::new(AtomicBool::new(false));
    ids.extend(signal_hook::flag::register(SIGUSR1, listed).ok());
    let _ = EARLY.set(Early {
        interrupted,
        ids: Mutex::new(ids),
    });
}

/// Whether the coordinator listens for interrupts yet (see the module header).
#[derive(Debug, Clone)]
pub(crate) struct Listening(Arc<AtomicBool>);

impl Listening {
    /// From now on an interrupt is an event for the coordinator.
    pub(crate) fn start(&self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

/// Ends atp-run for an interrupt that came before any job could start.
fn interrupted_before_start() -> ! {
    eprintln!("atp-run: interrupted before any job started");
    std::process::exit(130)
}

/// Installs every handler: from now on signals become events on `events` (once
/// [`Listening::start`] is called; before, an interrupt exits with 130); a second
/// interrupt kills every job of `executor` at once.
pub(crate) fn install(
    events: &Sender<Event>,
    executor: Arc<dyn Executor>,
) -> Result<Listening, SignalError> {
    let count = AtomicUsize::new(0);
    let interrupts = events.clone();
    let listening = Listening(Arc::new(AtomicBool::new(false)));
    let ready = Arc::clone(&listening.0);
    ctrlc::set_handler(move || {
        if !ready.load(Ordering::SeqCst) {
            interrupted_before_start();
        }
        if count.fetch_add(1, Ordering::SeqCst) == 0 {
            let _ = interrupts.send(Event::Interrupt);
        } else {
            executor.kill_now();
        }
    })
    .map_err(SignalError::Interrupt)?;
    let mut signals = Signals::new([SIGUSR1]).map_err(SignalError::Listener)?;
    let listing = events.clone();
    std::thread::Builder::new()
        .name("atp-run-signals".into())
        .spawn(move || {
            for _ in signals.forever() {
                if listing.send(Event::ListRunning).is_err() {
                    return;
                }
            }
        })
        .map_err(SignalError::Listener)?;
    // The handlers are in place: an interrupt caught before them counts now.
    if let Some(early) = EARLY.get() {
        for id in std::mem::take(&mut *crate::run::lock::lock(&early.ids)) {
            signal_hook::low_level::unregister(id);
        }
        if early.interrupted.load(Ordering::SeqCst) {
            interrupted_before_start();
        }
    }
    Ok(listening)
}
