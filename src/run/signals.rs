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
//!   If the run has not ended [`HARD_EXIT_AFTER`] after that second signal
//!   (something is blocked for good: a write to a stdout pipe nobody reads), the
//!   process exits with 130 there and then, every job killed.
//! - SIGQUIT (Ctrl-\\), SIGUSR2 and SIGALRM (`signal-hook`, on the thread below)
//!   are terminating signals too, handled exactly like SIGINT: left at their
//!   default action they would end atp-run at once and orphan every job (jobs are
//!   in their own process groups, so the terminal's SIGQUIT never reaches them).
//!   SIGPIPE stays ignored (Rust's runtime ignores it): a closed stdout is seen as
//!   `EPIPE` on a write and stops the run quietly (exit 141); jobs get SIGPIPE's
//!   default action back when they are spawned.
//! - SIGUSR1 (`signal-hook`'s self-pipe, on a thread of its own):
//!   [`Event::ListRunning`].
//! - SIGWINCH (same thread): the terminal's width is read again, so the next
//!   progress line and status lines fit the new width.
//! - SIGTSTP (Ctrl-Z; same thread): every running job's process group is stopped
//!   with SIGSTOP through the executor ([`Executor::signal_running`]), the progress
//!   line is removed and the cursor shown, then atp-run stops itself (the default
//!   action of SIGTSTP). Jobs run in their own process groups, so the terminal's
//!   Ctrl-Z reaches only atp-run: without this they would keep running.
//! - SIGCONT (`fg`, `bg`, `kill -CONT`): the jobs are continued and the progress
//!   line comes back. So are jobs that the terminal's Ctrl-Z stopped while they
//!   were being spawned (still in atp-run's group), before they could be
//!   registered: the sweep waits for the spawns in flight to return. Job durations are wall-clock times: the time spent stopped
//!   is not taken out of them (that would take tracking every stop per job).
//!   SIGTTIN and SIGTTOU keep their default actions.
//! - SIGCHLD is the one signal caught elsewhere: by the executor's reaper of
//!   adopted processes (`exec/adopted.rs`), which has nothing to tell the
//!   coordinator.
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
use std::time::Duration;

use crossbeam_channel::Sender;
use nix::sys::signal::Signal;
use signal_hook::SigId;
use signal_hook::consts::{
    SIGALRM, SIGCONT, SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGTSTP, SIGUSR1, SIGUSR2, SIGWINCH,
};
use signal_hook::iterator::Signals;

use crate::run::events::Event;
use crate::run::exec::executor::Executor;
use crate::run::report::{progress, terminal};

/// How long a second interrupt leaves the run to end by itself (its summary
/// printed) before the process exits anyway: something may be blocked for good,
/// a write to a stdout pipe nobody reads, say.
const HARD_EXIT_AFTER: Duration = Duration::from_secs(1);

/// What every terminating signal does: the first stops the run, any further one
/// kills every job at once and makes sure the process ends.
#[derive(Debug)]
struct Interrupt {
    /// Whether the coordinator listens yet ([`Listening::start`]).
    ready: Arc<AtomicBool>,
    count: AtomicUsize,
    events: Sender<Event>,
    executor: Arc<dyn Executor>,
}

impl Interrupt {
    /// A terminating signal arrived (called on a handler thread, never in a
    /// signal handler).
    fn received(&self) {
        if !self.ready.load(Ordering::SeqCst) {
            // No job has started: only the run's connections (-S masters) to end.
            self.executor.disconnect();
            interrupted_before_start();
        }
        if self.count.fetch_add(1, Ordering::SeqCst) == 0 {
            let _ = self.events.send(Event::Interrupt);
            return;
        }
        self.executor.kill_now();
        // Every job is dead; the run normally ends at once. If it does not (a
        // worker blocked in a write holds the output, the shutdown waits for it),
        // end the process: nothing it started is left running.
        std::thread::sleep(HARD_EXIT_AFTER);
        self.executor.kill_now();
        std::process::exit(130);
    }
}

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

/// Catches the terminating signals and SIGUSR1 as flags until the real handlers
/// are installed; called first thing in `main`. (SIGUSR1 lists the running jobs: there is none yet, so
/// an early one is only kept from killing atp-run.)
pub fn catch_early() {
    let interrupted = Arc::new(AtomicBool::new(false));
    let mut ids = Vec::new();
    for signal in [SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR2, SIGALRM] {
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
    let job_control = Arc::clone(&executor);
    let listening = Listening(Arc::new(AtomicBool::new(false)));
    let interrupt = Arc::new(Interrupt {
        ready: Arc::clone(&listening.0),
        count: AtomicUsize::new(0),
        events: events.clone(),
        executor,
    });
    let first = Arc::clone(&interrupt);
    ctrlc::set_handler(move || first.received()).map_err(SignalError::Interrupt)?;
    let mut signals = Signals::new([
        SIGUSR1, SIGWINCH, SIGTSTP, SIGCONT, SIGQUIT, SIGUSR2, SIGALRM,
    ])
    .map_err(SignalError::Listener)?;
    let listing = events.clone();
    std::thread::Builder::new()
        .name("atp-run-signals".into())
        .spawn(move || {
            for signal in signals.forever() {
                match signal {
                    SIGWINCH => terminal::refresh_width(),
                    SIGTSTP => suspend(job_control.as_ref()),
                    SIGCONT => continue_jobs(job_control.as_ref()),
                    SIGUSR1 => {
                        if listing.send(Event::ListRunning).is_err() {
                            return;
                        }
                    }
                    _ => interrupt.received(),
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

/// Ctrl-Z: stops every job, then atp-run; continues them when atp-run is
/// continued.
fn suspend(executor: &dyn Executor) {
    let stopped = executor.signal_running(Signal::SIGSTOP);
    log::debug!("SIGTSTP: stopped {stopped} job group(s)");
    progress::pause();
    if let Err(err) = signal_hook::low_level::emulate_default_handler(SIGTSTP) {
        log::warn!("cannot stop atp-run itself: {err}");
    }
    // Here once continued (the SIGCONT also comes through the iterator; doing it
    // twice is harmless).
    continue_jobs(executor);
}

/// SIGCONT: every job continues and the progress line comes back.
fn continue_jobs(executor: &dyn Executor) {
    let continued = executor.signal_running(Signal::SIGCONT);
    log::debug!("SIGCONT: continued {continued} job group(s)");
    terminal::refresh_width();
    progress::resume();
}
