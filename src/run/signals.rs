//! SIGINT, SIGTERM and SIGHUP for `atp-run` (through the `ctrlc` crate, whose
//! `termination` feature covers all three).
//!
//! The first signal becomes an [`Event::Interrupt`] for the coordinator, which stops
//! starting jobs and runs the termination sequence (TERM, grace period, KILL). Any
//! further signal means "now": every job's process group is killed at once and the
//! grace period is cut short — as fd and GNU parallel do on a second Ctrl-C.
//!
//! Jobs run in their own process groups, so a Ctrl-C typed at the terminal reaches
//! only atp-run; the jobs are signalled by atp-run itself, whole trees at a time.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use crossbeam_channel::Sender;

use crate::run::events::Event;
use crate::run::exec::registry::ProcessRegistry;

/// Installs the handler. Fails only if a handler was already installed in this
/// process or the OS refuses.
pub fn install(events: Sender<Event>, registry: Arc<ProcessRegistry>) -> Result<(), ctrlc::Error> {
    let count = AtomicUsize::new(0);
    ctrlc::set_handler(move || {
        if count.fetch_add(1, Ordering::SeqCst) == 0 {
            let _ = events.send(Event::Interrupt);
        } else {
            registry.kill_now();
        }
    })
}
