//! `--line-buffer`: jobs' output printed line by line as it comes, whole lines only
//! (a job's partial last line when it ends), tagged with `--tag`; the status line
//! when the job ends.
//!
//! Owns: the per-job line writer ([`LineWriter`]) and the sink that prints only
//! status lines ([`LineBuffered`]).
//!
//! Invariants: a run of whole lines is written under the reporter's output lock in
//! one piece, so lines of different jobs never mix; nothing is written to a broken
//! stdout.

use std::io::{self, Write};

use crate::run::job::{JobLabel, Stream};
use crate::run::report::grouped::tag_of;
use crate::run::report::sink::{OutputKind, OutputSink};
use crate::run::report::stdout::StdoutHealth;
use crate::run::report::tagger::Tagger;

/// Prints status lines when jobs end (their lines are printed while they run, by a
/// [`LineWriter`] each).
#[derive(Debug, Default)]
pub(crate) struct LineBuffered;

impl OutputSink for LineBuffered {
    fn output_kind(&self) -> OutputKind {
        OutputKind::Lines
    }
}

/// Writes one job's lines (to be called under the output lock).
#[derive(Debug)]
pub(crate) struct LineWriter {
    /// `--tag`: one tagger per stream.
    taggers: Option<(Tagger, Tagger)>,
}

impl LineWriter {
    /// The writer for the lines of `job` (`tag`: `--tag`).
    pub(crate) fn new(tag: bool, job: &JobLabel<'_>) -> LineWriter {
        LineWriter {
            taggers: tag.then(|| {
                let tag = tag_of(job);
                (Tagger::new(tag.clone()), Tagger::new(tag))
            }),
        }
    }

    /// Prints `bytes` (whole lines, or the stream's partial last line at its end)
    /// to our `stream`.
    pub(crate) fn write(&mut self, stream: Stream, bytes: &[u8], stdout: &StdoutHealth) {
        if stream == Stream::Stdout && stdout.is_broken() {
            return;
        }
        let tagger = self.taggers.as_mut().map(|(out, err)| match stream {
            Stream::Stdout => out,
            Stream::Stderr => err,
        });
        let written = match stream {
            Stream::Stdout => write_lines_to(&mut io::stdout().lock(), bytes, tagger),
            Stream::Stderr => write_lines_to(&mut io::stderr().lock(), bytes, tagger),
        };
        match (written, stream) {
            (Ok(()), _) => {}
            (Err(err), Stream::Stdout) => stdout.failed(&err),
            (Err(err), Stream::Stderr) => log::warn!("cannot write a job's error output: {err}"),
        }
    }
}

fn write_lines_to<W: Write>(
    w: &mut W,
    bytes: &[u8],
    tagger: Option<&mut Tagger>,
) -> io::Result<()> {
    match tagger {
        Some(tagger) => tagger.write(w, bytes)?,
        None => w.write_all(bytes)?,
    }
    w.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_go_through_the_tagger_of_their_stream() {
        let mut out = Vec::new();
        let mut tagger = Tagger::new(b"x\t".to_vec());
        write_lines_to(&mut out, b"a\nb", Some(&mut tagger)).unwrap();
        write_lines_to(&mut out, b"c\n", Some(&mut tagger)).unwrap();
        assert_eq!(out, b"x\ta\nx\tbc\n");
        let mut plain = Vec::new();
        write_lines_to(&mut plain, b"a\n", None).unwrap();
        assert_eq!(plain, b"a\n");
    }
}
