//! Grouped output, the default: each job's captured stdout and stderr printed as
//! one block each when it ends, then its status line (with `--tag`, every line of
//! the blocks starts with the job's argument and a tab).
//!
//! Owns: printing a job's blocks from its capture files ([`print_blocks`]) and the
//! status line after them; [`Grouped`], the sink that does it as jobs end.
//!
//! Invariants: without `--tag` the blocks are copied by the kernel's file-to-pipe
//! paths, and a job costs no allocation or system call beyond the copies and the
//! status line's one write; nothing is written to a broken stdout.

use std::io::{self, BufWriter, Read, Write};

use crate::run::exec::capture::Capture;
use crate::run::job::{JobEnd, JobError, JobLabel};
use crate::run::report::sink::{OutputSink, Rendered, write_status};
use crate::run::report::stdout::StdoutHealth;
use crate::run::report::tagger::Tagger;

/// Prints each job as a block when it ends.
#[derive(Debug, Default)]
pub(crate) struct Grouped {
    /// `--tag`.
    pub tag: bool,
}

impl OutputSink for Grouped {
    fn render(
        &self,
        job: &JobLabel<'_>,
        _result: &Result<JobEnd, JobError>,
        status: Option<String>,
    ) -> Rendered {
        Rendered {
            tag: self.tag.then(|| tag_of(job)),
            status,
            json: None,
        }
    }

    fn print(
        &self,
        _number: u64,
        rendered: Rendered,
        capture: Option<&mut Capture>,
        stdout: &StdoutHealth,
    ) -> bool {
        if let Some(capture) = capture {
            print_blocks(rendered.tag.as_deref(), capture, stdout);
        }
        write_status(rendered.status.as_deref());
        false
    }
}

/// `--tag`'s prefix: the input record (the argument, with a template; the command
/// otherwise) and a tab.
pub(crate) fn tag_of(job: &JobLabel<'_>) -> Vec<u8> {
    let mut tag = Vec::with_capacity(job.record.len() + 1);
    tag.extend_from_slice(job.record);
    tag.push(b'\t');
    tag
}

/// Copies a job's captured stdout to ours and its stderr to ours, each as one
/// block, tagged with `tag` if given.
pub(crate) fn print_blocks(tag: Option<&[u8]>, capture: &mut Capture, stdout: &StdoutHealth) {
    if capture.stdout_len() > 0 && !stdout.is_broken() {
        let mut out = io::stdout().lock();
        let copied = match tag {
            Some(tag) => copy_tagged(tag, capture.stdout_block(), &mut out),
            None => capture.write_stdout_to(&mut out).map(drop),
        };
        if let Err(err) = copied.and_then(|()| out.flush()) {
            stdout.failed(&err);
        }
    }
    if capture.stderr_len() > 0 {
        let mut err = io::stderr().lock();
        let copied = match tag {
            Some(tag) => copy_tagged(tag, capture.stderr_block(), &mut err),
            None => capture.write_stderr_to(&mut err).map(drop),
        };
        if let Err(e) = copied.and_then(|()| err.flush()) {
            log::warn!("cannot write a job's error output: {e}");
        }
    }
}

/// Copies a block with `tag` before every line, buffered.
fn copy_tagged<R: Read, W: Write>(tag: &[u8], block: io::Result<R>, w: &mut W) -> io::Result<()> {
    let mut block = block?;
    let mut out = BufWriter::with_capacity(64 * 1024, w);
    Tagger::new(tag.to_vec()).copy(&mut block, &mut out)?;
    out.flush()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::SystemTime;

    #[test]
    fn the_tag_is_the_record_and_a_tab_and_only_with_tag() {
        let job = JobLabel {
            number: 1,
            run: None,
            attempt: 1,
            slot: 1,
            command: b"echo a b",
            record: b"a b",
            started: SystemTime::UNIX_EPOCH,
        };
        let ok = Ok(JobEnd::fixture(
            crate::run::job::ExitStatusKind::Exited(0),
            std::time::Duration::ZERO,
            false,
        ));
        let tagged = Grouped { tag: true }.render(&job, &ok, Some("[1] ok\n".into()));
        assert_eq!(tagged.tag.as_deref(), Some(&b"a b\t"[..]));
        assert_eq!(tagged.status.as_deref(), Some("[1] ok\n"));
        let plain = Grouped { tag: false }.render(&job, &ok, None);
        assert!(plain.tag.is_none() && plain.status.is_none() && plain.json.is_none());
    }
}
