//! How a run ended, and the exit status each ending maps to (documented in
//! `--help` and the man page).

/// How a run ended; `main` maps it to the exit status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Every job succeeded.
    Success,
    /// Some job failed, was killed, or could not start.
    JobsFailed,
    /// Reading the input failed part way (the jobs read before it ran).
    InputFailed,
    /// Stopped by a signal.
    Interrupted,
    /// Stopped because standard output was closed.
    StdoutClosed,
    /// Stopped because writing standard output failed (reported on stderr).
    OutputFailed,
    /// Stopped by `--halt`, with this exit status.
    Halted(u8),
}

impl Outcome {
    /// The exit status for this outcome (documented in `--help` and the man page).
    pub fn exit_code(self) -> u8 {
        match self {
            Outcome::Success => 0,
            Outcome::JobsFailed => 1,
            Outcome::InputFailed => 2,
            Outcome::Interrupted => 130,
            Outcome::StdoutClosed => 141,
            Outcome::OutputFailed => 2,
            Outcome::Halted(code) => code,
        }
    }
}
