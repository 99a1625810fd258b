//! The remote job's real end, as the wrapper (`wrapper.sh`) reports it: exactly one
//! record `@atp:NONCE exit N\n` or `@atp:NONCE signal S\n` as the last bytes of the
//! job's stderr. A Slurm step's record adds, after the nonce, the node it ran on and
//! when the step's shell began (seconds since the epoch):
//! `@atp:NONCE:NODE:START exit N\n` (`exec/slurm/`), either field possibly empty.
//! ssh's own exit code is never read as the job's (it is 255 both for a connection
//! failure and for a remote job killed by a signal).
//!
//! Owns: finding and removing that record ([`Trailer`]), on a whole stream
//! ([`Trailer::split`]), on a capture file ([`Trailer::strip_file`]) and on a stream
//! copied as it comes ([`TailHolder`]).
//!
//! Invariants: only a record at the very end, carrying this run's nonce, counts;
//! a node name is 1 to [`MAX_NODE`] bytes of UTF-8 without blanks (anything else
//! is no node, not a lost job), and each name is kept once per run (a [`Record`]
//! stays `Copy`);
//! the bytes before it are the job's stderr, byte for byte (the record may follow
//! bytes without a newline). No record means the job was lost.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::run::job::ExitStatusKind;
use crate::run::lock::lock;

/// Longest node name in a record.
const MAX_NODE: usize = 64;
/// Longest record: `@atp:` + nonce + `:` + node + `:` + start (~21 bytes) +
/// ` signal ` + digits + newline, with room.
const MAX_RECORD: usize = 64 + MAX_NODE + 32;

/// A job's end as its record tells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Record {
    /// Its exit code or signal.
    pub status: ExitStatusKind,
    /// The Slurm node it ran on (`None` over ssh).
    pub node: Option<&'static str>,
    /// When the Slurm step's shell began (`None` over ssh).
    pub step_started: Option<SystemTime>,
}

/// The record format of one run.
#[derive(Debug, Clone)]
pub(crate) struct Trailer {
    /// `@atp:NONCE` as bytes.
    prefix: Vec<u8>,
    /// The node names seen, each leaked once.
    nodes: Arc<Mutex<Vec<&'static str>>>,
}

impl Trailer {
    /// The records of a run with this nonce (16 hex digits).
    pub(crate) fn new(nonce: &str) -> Trailer {
        Trailer {
            prefix: format!("@atp:{nonce}").into_bytes(),
            nodes: Arc::default(),
        }
    }

    /// Splits `stderr` into the job's bytes and its end, if it ends with a record.
    pub(crate) fn split<'a>(&self, stderr: &'a [u8]) -> Option<(&'a [u8], Record)> {
        let at = stderr
            .windows(self.prefix.len())
            .rposition(|w| w == self.prefix.as_slice())?;
        let record = stderr.get(at + self.prefix.len()..)?;
        let record = record.strip_suffix(b"\n")?;
        let text = std::str::from_utf8(record).ok()?;
        let (fields, text) = match text.strip_prefix(':') {
            Some(rest) => {
                let (fields, text) = rest.split_once(' ')?;
                (Some(fields), text)
            }
            None => (None, text.strip_prefix(' ')?),
        };
        let (node, start) = match fields {
            Some(fields) => fields.split_once(':').unwrap_or((fields, "")),
            None => ("", ""),
        };
        let status = match text.split_once(' ')? {
            ("exit", n) => ExitStatusKind::Exited(n.parse().ok()?),
            ("signal", n) => ExitStatusKind::Signaled {
                signal: n.parse().ok()?,
            },
            _ => return None,
        };
        let record = Record {
            status,
            node: self.intern(node),
            step_started: start
                .parse::<f64>()
                .ok()
                .filter(|s| s.is_finite() && *s >= 0.0)
                .map(|s| UNIX_EPOCH + Duration::from_secs_f64(s)),
        };
        Some((stderr.get(..at)?, record))
    }

    /// `name` kept for the run (`None` if it is no node name).
    fn intern(&self, name: &str) -> Option<&'static str> {
        if name.is_empty() || name.len() > MAX_NODE || name.contains(char::is_whitespace) {
            return None;
        }
        let mut nodes = lock(&self.nodes);
        if let Some(&known) = nodes.iter().find(|&&n| n == name) {
            return Some(known);
        }
        let leaked: &'static str = Box::leak(name.to_owned().into_boxed_str());
        nodes.push(leaked);
        Some(leaked)
    }

    /// Removes the record from the end of a capture file; returns the job's end, or
    /// `None` (file unchanged) when there is none.
    pub(crate) fn strip_file(&self, file: &mut File) -> io::Result<Option<Record>> {
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
    ) -> io::Result<Option<Record>> {
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
        let status = |got: Option<(&[u8], Record)>| got.map(|(kept, r)| (kept.to_vec(), r.status));
        let got = t.split(b"oops@atp:0123456789abcdef exit 3\n");
        assert_eq!(
            status(got),
            Some((b"oops".to_vec(), ExitStatusKind::Exited(3)))
        );
        let got = t
            .split(b"@atp:0123456789abcdef signal 9\n")
            .map(|(k, r)| (k, r.status));
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
        let got = t.strip_file(&mut f)?.map(|r| r.status);
        assert_eq!(got, Some(ExitStatusKind::Exited(255)));
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
        let end = end.map(|r| r.status);
        assert_eq!(end, Some(ExitStatusKind::Signaled { signal: 15 }));
        assert_eq!(out, vec![b'e'; 1000]);
        let mut out = Vec::new();
        let mut holder = TailHolder::new();
        holder.feed(b"lost", &mut out)?;
        assert_eq!(holder.finish(&t, &mut out)?, None);
        assert_eq!(out, b"lost");
        Ok(())
    }

    #[test]
    fn a_step_record_names_its_node_once_per_run_and_when_it_began() {
        let t = Trailer::new(NONCE);
        let got = t.split(b"e@atp:0123456789abcdef:node-7:1795868878.250 exit 0\n");
        let Some((kept, first)) = got else {
            panic!("the step's record was not found")
        };
        assert_eq!(
            (kept, first.status, first.node),
            (&b"e"[..], ExitStatusKind::Exited(0), Some("node-7"))
        );
        let began = first
            .step_started
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .unwrap_or_default();
        let want = Duration::from_millis(1_795_868_878_250);
        assert!(began.abs_diff(want) < Duration::from_millis(1), "{began:?}");
        let again = t
            .split(b"@atp:0123456789abcdef:node-7: signal 15\n")
            .map(|(_, r)| (r.node, r.step_started));
        let Some((Some(node), None)) = again else {
            panic!("{again:?}")
        };
        assert!(std::ptr::eq(node, first.node.unwrap_or("")), "kept once");
        // No node, no time (no SLURMD_NODENAME, a `date` without %N): still the
        // job's end.
        let bare = t.split(b"@atp:0123456789abcdef::1795868878.N exit 4\n");
        let want = Record {
            status: ExitStatusKind::Exited(4),
            node: None,
            step_started: None,
        };
        assert_eq!(bare.map(|(_, r)| r), Some(want));
        // A record cut after the fields is none.
        assert_eq!(t.split(b"@atp:0123456789abcdef:n7:1\n"), None);
    }
}
