//! Why a run could not start: the errors `run` returns, each naming what is wrong
//! and what to do, with its cause kept as its source (`main` prints the chain).
//!
//! Invariant: every variant means exit status 2, and no job ran.

use std::io;

use crate::BuildError;
use crate::run::input::sources::InputError;
use crate::run::signals::SignalError;

/// An error found before any job ran.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RunError {
    /// An input cannot be opened.
    #[error(transparent)]
    Input(#[from] InputError),
    /// The `--joblog` to resume from cannot be read, or is not a joblog.
    #[error("--joblog {path}: cannot resume from it")]
    Resume {
        /// The joblog.
        path: String,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// The `--joblog` cannot be written.
    #[error("--joblog {path}: cannot write it")]
    Joblog {
        /// The joblog.
        path: String,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// The `--results` directory cannot be made or written, or its file created.
    #[error("--results {path}: cannot write job results there (give a path you can write to)")]
    Results {
        /// The directory.
        path: String,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// Job output cannot be buffered in the temporary directory.
    #[error("cannot buffer job output (set TMPDIR to a writable directory)")]
    TempDir(#[source] io::Error),
    /// The worker pool cannot start.
    #[error("cannot start the worker pool")]
    Pool(#[source] BuildError),
    /// A thread of the run cannot start.
    #[error("cannot start the {what} thread")]
    Thread {
        /// Which thread.
        what: &'static str,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// The signal handlers cannot be installed.
    #[error(transparent)]
    Signals(#[from] SignalError),
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run::job::error_chain;

    #[test]
    fn each_cause_is_said_once() {
        let err = RunError::TempDir(io::Error::other("cannot create a file in /x"));
        assert_eq!(
            error_chain(&err),
            "cannot buffer job output (set TMPDIR to a writable directory): \
             cannot create a file in /x"
        );
        let err = RunError::from(InputError::StdinRepeated);
        assert_eq!(error_chain(&err), InputError::StdinRepeated.to_string());
    }
}
