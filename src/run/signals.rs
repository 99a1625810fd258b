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
//!
//! Invariants: no unsafe code here. SIGUSR1 is caught, not blocked with `sigwait`:
//! std does not reset the signal mask of the processes it spawns (a job's `SigBlk`
//! showed SIGUSR1 blocked, and `kill -USR1 $$` no longer killed it), whereas a caught
//! signal is reset to its default action by `exec`, so jobs get SIGUSR1's default
//! action (tested in `tests/cli_jobs.rs`). Jobs run in their own process groups, so a
//! Ctrl-C typed at the terminal reaches only atp-run; the jobs are signalled by
//! atp-run itself, whole trees at a time.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use crossbeam_channel::Sender;
use nix::sys::signal::Signal;
use signal_hook::consts::{SIGCONT, SIGTSTP, SIGUSR1, SIGWINCH};
use signal_hook::iterator::Signals;

use crate::run::events::Event;
use crate::run::exec::executor::Executor;
use crate::run::report::{progress, terminal};

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

/// Installs every handler: from now on signals become events on `events`; a second
/// interrupt kills every job of `executor` at once.
pub(crate) fn install(
    events: &Sender<Event>,
    executor: Arc<dyn Executor>,
) -> Result<(), SignalError> {
    let count = AtomicUsize::new(0);
    let interrupts = events.clone();
    let job_control = Arc::clone(&executor);
    ctrlc::set_handler(move || {
        if count.fetch_add(1, Ordering::SeqCst) == 0 {
            let _ = interrupts.send(Event::Interrupt);
        } else {
            executor.kill_now();
        }
    })
    .map_err(SignalError::Interrupt)?;
    let mut signals =
        Signals::new([SIGUSR1, SIGWINCH, SIGTSTP, SIGCONT]).map_err(SignalError::Listener)?;
    let listing = events.clone();
    std::thread::Builder::new()
        .name("atp-run-signals".into())
        .spawn(move || {
            for signal in signals.forever() {
                match signal {
                    SIGWINCH => terminal::refresh_width(),
                    SIGTSTP => suspend(job_control.as_ref()),
                    SIGCONT => continue_jobs(job_control.as_ref()),
                    _ => {
                        if listing.send(Event::ListRunning).is_err() {
                            return;
                        }
                    }
                }
            }
        })
        .map(drop)
        .map_err(SignalError::Listener)
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
