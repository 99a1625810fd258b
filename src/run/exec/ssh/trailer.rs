//! The remote job's real end, as the wrapper (`wrapper.sh`) reports it: exactly one
//! record `@atp:NONCE exit N\n` or `@atp:NONCE signal S\n` as the last bytes of the
//! job's stderr. ssh's own exit code is never read as the job's (it is 255 both for
//! a connection failure and for a remote job killed by a signal).
//!
//! Owns: finding and removing that record ([`Trailer`]), on a whole stream
//! ([`Trailer::split`]), on a capture file ([`Trailer::strip_file`]) and on a stream
//! copied as it comes ([`TailHolder`]).
//!
//! Invariants: only a record at the very end, carrying this run's nonce, counts;
//! the bytes before it are the job's stderr, byte for byte (the record may follow
//! bytes without a newline). No record means the job was lost.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};

use crate::run::job::ExitStatusKind;

/// Longest record: `@atp:` + nonce + ` signal ` + digits + newline, with room.
const MAX_RECORD: usize = 64;

/// The record format of one run.
#[derive(Debug, Clone)]
pub(crate) struct Trailer {
    /// `@atp:NONCE ` as bytes.
    prefix: Vec<u8>,
}

impl Trailer {
    /// The records of a run with this nonce (16 hex digits).
    pub(crate) fn new(nonce: &str) -> Trailer {
        Trailer {
            prefix: format!("@atp:{nonce} ").into_bytes(),
        }
    }

    /// Splits `stderr` into the job's bytes and its end, if it ends with a record.
    pub(crate) fn split<'a>(&self, stderr: &'a [u8]) -> Option<(&'a [u8], ExitStatusKind)> {
        let at = stderr
            .windows(self.prefix.len())
            .rposition(|w| w == self.prefix.as_slice())?;
        let record = stderr.get(at + self.prefix.len()..)?;
        let record = record.strip_suffix(b"\n")?;
        let text = std::str::from_utf8(record).ok()?;
        let status = match text.split_once(' ')? {
            ("exit", n) => ExitStatusKind::Exited(n.parse().ok()?),
            ("signal", n) => ExitStatusKind::Signaled {
                signal: n.parse().ok()?,
            },
            _ => return None,
        };
        Some((stderr.get(..at)?, status))
    }

    /// Removes the record from the end of a capture file; returns the job's end, or
    /// `None` (file unchanged) when there is none.
    pub(crate) fn strip_file(&self, file: &mut File) -> io::Result<Option<ExitStatusKind>> {
        let len = file.metadata()?.len();
        let from = len.saturating_sub(MAX_RECORD as u64);
        let mut tail = Vec::with_capacity(MAX_RECORD);
        file.seek(SeekFrom::Start(from))?;
        file.take(MAX_RECORD as u64).read_to_end(&mut tail)?;
        match self.split(&tail) {
            Some((kept, status)) => {
                file.set_len(from + kept.len() as u64)?;
                Ok(Some(status))
            }
            None => Ok(None),
        }
    }
}

/// Copies a stream to `out` as it comes, holding back the last bytes that could be
/// the record until the stream ends.
#[derive(Debug)]
pub(crate) struct TailHolder {
    held: Vec<u8>,
}

impl TailHolder {
    /// Nothing held yet.
    pub(crate) fn new() -> TailHolder {
        TailHolder { held: Vec::new() }
    }

    /// Takes `bytes`; writes to `out` all but the last [`MAX_RECORD`] bytes seen.
    pub(crate) fn feed(&mut self, bytes: &[u8], out: &mut dyn Write) -> io::Result<()> {
        self.held.extend_from_slice(bytes);
        if self.held.len() > MAX_RECORD {
            let cut = self.held.len() - MAX_RECORD;
            out.write_all(&self.held[..cut])?;
            self.held.drain(..cut);
        }
        Ok(())
    }

    /// The stream ended: writes what is not the record, returns the job's end.
    pub(crate) fn finish(
        self,
        trailer: &Trailer,
        out: &mut dyn Write,
    ) -> io::Result<Option<ExitStatusKind>> {
        match trailer.split(&self.held) {
            Some((kept, status)) => {
                out.write_all(kept)?;
                Ok(Some(status))
            }
            None => {
                out.write_all(&self.held)?;
                Ok(None)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NONCE: &str = "0123456789abcdef";

    #[test]
    fn the_record_is_split_off_the_end_only() {
        let t = Trailer::new(NONCE);
        let got = t.split(b"oops@atp:0123456789abcdef exit 3\n");
        assert_eq!(got, Some((&b"oops"[..], ExitStatusKind::Exited(3))));
        let got = t.split(b"@atp:0123456789abcdef signal 9\n");
        assert_eq!(
            got,
            Some((&b""[..], ExitStatusKind::Signaled { signal: 9 }))
        );
        // Another run's nonce, a record not at the end, a cut record: not ours.
        assert_eq!(t.split(b"@atp:ffffffffffffffff exit 0\n"), None);
        assert_eq!(t.split(b"@atp:0123456789abcdef exit 0\nmore"), None);
        assert_eq!(t.split(b"@atp:0123456789abcdef exit"), None);
        assert_eq!(t.split(b""), None);
    }

    #[test]
    fn a_capture_file_loses_only_the_record() -> io::Result<()> {
        let t = Trailer::new(NONCE);
        let mut f = tempfile::tempfile()?;
        let body = vec![b'x'; 100];
        f.write_all(&body)?;
        f.write_all(b"@atp:0123456789abcdef exit 255\n")?;
        assert_eq!(t.strip_file(&mut f)?, Some(ExitStatusKind::Exited(255)));
        assert_eq!(f.metadata()?.len(), 100);
        // No record: nothing removed, the job was lost.
        assert_eq!(t.strip_file(&mut f)?, None);
        assert_eq!(f.metadata()?.len(), 100);
        Ok(())
    }

    #[test]
    fn a_stream_is_copied_exactly_without_the_record() -> io::Result<()> {
        let t = Trailer::new(NONCE);
        let mut stream = vec![b'e'; 1000];
        stream.extend_from_slice(b"@atp:0123456789abcdef signal 15\n");
        let mut out = Vec::new();
        let mut holder = TailHolder::new();
        for chunk in stream.chunks(7) {
            holder.feed(chunk, &mut out)?;
        }
        let end = holder.finish(&t, &mut out)?;
        assert_eq!(end, Some(ExitStatusKind::Signaled { signal: 15 }));
        assert_eq!(out, vec![b'e'; 1000]);
        let mut out = Vec::new();
        let mut holder = TailHolder::new();
        holder.feed(b"lost", &mut out)?;
        assert_eq!(holder.finish(&t, &mut out)?, None);
        assert_eq!(out, b"lost");
        Ok(())
    }
}
