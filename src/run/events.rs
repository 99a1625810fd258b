//! The events the coordinator hears about, all on one channel: from the feeder, the
//! workers, the reporter and the signal handlers (see `PROTOCOL.md`).

use crate::run::input::sources::InputError;

/// What the coordinator hears about.
#[derive(Debug)]
pub(crate) enum Event {
    /// Every job the feeder submitted has ended (sent once the input has ended and
    /// the last job is done; may arrive twice).
    AllDone,
    /// The feeder submitted its last job; `error` if reading the input failed.
    InputEnded {
        /// Jobs submitted in all.
        jobs: u64,
        /// Why reading stopped early, if it did.
        error: Option<InputError>,
    },
    /// SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR2 or SIGALRM (the first one; later
    /// ones kill at once, see `signals.rs`).
    Interrupt,
    /// SIGUSR1: list the running jobs.
    ListRunning,
    /// Writing to standard output failed because its reader went away.
    StdoutClosed,
    /// Writing to standard output failed otherwise (a full disk, an I/O error).
    StdoutFailed(String),
    /// The `--halt` policy was met (see `Jobs::halted`); also sent after each job
    /// ends while halting soon, so the coordinator sees the last one end..
    Halt,
}
