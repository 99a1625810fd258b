//! `--ungroup`: jobs write straight to our stdout and stderr (the executor gives
//! them ours); only the status line is printed, when the job ends.
//!
//! Invariant: nothing of a job's output passes through atp-run, so it may mix with
//! other jobs' output, as asked.

use crate::run::exec::capture::Capture;
use crate::run::job::{JobEnd, JobError, JobLabel};
use crate::run::report::grouped::write_status;
use crate::run::report::sink::{OutputKind, OutputSink, Rendered};
use crate::run::report::stdout::StdoutHealth;

/// Prints status lines only.
#[derive(Debug, Default)]
pub(crate) struct Ungrouped;

impl OutputSink for Ungrouped {
    fn output_kind(&self) -> OutputKind {
        OutputKind::Inherited
    }

    fn render(
        &self,
        _job: &JobLabel<'_>,
        _result: &Result<JobEnd, JobError>,
        status: Option<String>,
    ) -> Rendered {
        Rendered {
            status,
            ..Rendered::default()
        }
    }

    fn print(
        &self,
        _number: u64,
        rendered: Rendered,
        _capture: Option<&mut Capture>,
        _stdout: &StdoutHealth,
    ) -> bool {
        write_status(rendered.status.as_deref());
        false
    }
}
