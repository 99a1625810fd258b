//! `--json`: one JSON object per job on stdout, with its output inside, and nothing
//! else on stdout; jobs get no status line (the object says it all).
//!
//! Owns: the fields of a job's object ([`json_fields`]) and printing the object,
//! its output encoded while being copied from the capture files (see `json.rs`).
//!
//! Invariants: one line per job, written under the output lock in one buffered
//! pass; only a job's counted attempt gets an object.

use std::io::{self, BufWriter, Write};
use std::time::UNIX_EPOCH;

use crate::run::exec::capture::Capture;
use crate::run::job::{ExitStatusKind, JobEnd, JobError, JobLabel, error_chain, signal_name};
use crate::run::report::json;
use crate::run::report::sink::{OutputSink, Rendered};
use crate::run::report::stdout::StdoutHealth;

/// Prints each job as one JSON object.
#[derive(Debug, Default)]
pub(crate) struct Json;

impl OutputSink for Json {
    fn once_per_job(&self) -> bool {
        true
    }

    fn render(
        &self,
        job: &JobLabel<'_>,
        result: &Result<JobEnd, JobError>,
        _status: Option<String>,
    ) -> Rendered {
        let mut head = Vec::with_capacity(256 + job.command.len());
        // Writing to a Vec cannot fail.
        let _ = json::job_head(&mut head, &json_fields(job, result, &mut String::new()));
        Rendered {
            json: Some(head),
            ..Rendered::default()
        }
    }

    fn print(
        &self,
        _number: u64,
        rendered: Rendered,
        capture: Option<&mut Capture>,
        stdout: &StdoutHealth,
    ) -> bool {
        let Some(head) = &rendered.json else {
            return false;
        };
        if stdout.is_broken() {
            return false;
        }
        let mut out = BufWriter::with_capacity(64 * 1024, io::stdout().lock());
        let written = out
            .write_all(head)
            .and_then(|()| match capture {
                Some(capture) => json::job_output(
                    &mut out,
                    &mut capture.stdout_block()?,
                    &mut capture.stderr_block()?,
                ),
                None => json::job_output(&mut out, &mut io::empty(), &mut io::empty()),
            })
            .and_then(|()| out.flush());
        if let Err(err) = written {
            stdout.failed(&err);
        }
        false
    }
}

/// The JSON fields of a job; `error` is storage for the error message.
pub(crate) fn json_fields<'a>(
    job: &JobLabel<'a>,
    result: &Result<JobEnd, JobError>,
    error: &'a mut String,
) -> json::JobFields<'a> {
    let mut fields = json::JobFields {
        seq: job.number,
        run: job.run,
        command: job.command,
        start: None,
        duration: None,
        exit_code: None,
        signal: None,
        timed_out: false,
        attempt: job.attempt,
        slot: job.slot,
        error: None,
    };
    match result {
        Ok(exit) => {
            fields.start = exit
                .started
                .duration_since(UNIX_EPOCH)
                .ok()
                .map(|d| d.as_secs_f64());
            fields.duration = Some(exit.duration.as_secs_f64());
            fields.timed_out = exit.timed_out;
            match exit.status {
                ExitStatusKind::Exited(code) => fields.exit_code = Some(code),
                ExitStatusKind::Signaled { signal } => fields.signal = Some(signal_name(signal)),
            }
        }
        Err(err) => {
            *error = error_chain(err);
            fields.error = Some(error.as_str());
        }
    }
    fields
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, SystemTime};

    fn head(result: &Result<JobEnd, JobError>) -> String {
        let job = JobLabel {
            number: 2,
            run: None,
            attempt: 1,
            slot: 3,
            command: b"kill -9 $$",
            record: b"kill -9 $$",
            started: SystemTime::UNIX_EPOCH,
        };
        let rendered = Json.render(&job, result, Some("not printed".into()));
        assert!(rendered.status.is_none(), "no status line with --json");
        String::from_utf8(rendered.json.unwrap()).unwrap()
    }

    #[test]
    fn the_head_says_how_the_job_ended() {
        let killed = Ok(JobEnd::fixture(
            ExitStatusKind::Signaled { signal: 9 },
            Duration::from_millis(250),
            false,
        ));
        assert_eq!(
            head(&killed),
            "{\"seq\":2,\"run\":null,\"command\":\"kill -9 $$\",\"command_lossy\":false,\
             \"start\":0,\"duration\":0.25,\"exit_code\":null,\"signal\":\"SIGKILL\",\
             \"timed_out\":false,\"attempt\":1,\"slot\":3,\"error\":null,"
        );
        let err = Err(JobError::Wait(io::Error::other("gone")));
        assert!(
            head(&err).contains("\"start\":null,\"duration\":null,\"exit_code\":null,\"signal\":null,\"timed_out\":false,\"attempt\":1,\"slot\":3,\"error\":\"waiting for job failed: gone\","),
            "{}",
            head(&err)
        );
    }
}
