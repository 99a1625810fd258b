//! `--ungroup`: jobs write straight to our stdout and stderr (the executor gives
//! them ours); only the status line is printed, when the job ends.
//!
//! Invariant: nothing of a job's output passes through atp-run, so it may mix with
//! other jobs' output, as asked.

use crate::run::report::sink::{OutputKind, OutputSink};

/// Prints status lines only.
#[derive(Debug, Default)]
pub(crate) struct Ungrouped;

impl OutputSink for Ungrouped {
    fn output_kind(&self) -> OutputKind {
        OutputKind::Inherited
    }
}
