//! `--tag`: the tag at the start of every line of a job's output, streaming.
//!
//! Invariants: a tag is written before the first byte of every line, including an
//! empty line and a last line without a newline; no newline is ever added (like GNU
//! parallel, whose `--tag` leaves a last partial line unterminated too). The tagger
//! keeps only a "at a line start" flag between chunks, so tagging a file of any size
//! takes constant memory.

use std::io::{self, Read, Write};

/// Writes a stream with `tag` before every line.
#[derive(Debug, Clone)]
pub(crate) struct Tagger {
    tag: Vec<u8>,
    at_line_start: bool,
}

impl Tagger {
    /// A tagger at the start of a stream; `tag` is written as is (callers add the
    /// tab).
    pub(crate) fn new(tag: Vec<u8>) -> Tagger {
        Tagger {
            tag,
            at_line_start: true,
        }
    }

    /// Writes `bytes`, the next part of the stream, tagging each line start.
    pub(crate) fn write<W: Write + ?Sized>(&mut self, w: &mut W, bytes: &[u8]) -> io::Result<()> {
        let mut rest = bytes;
        while !rest.is_empty() {
            if self.at_line_start {
                w.write_all(&self.tag)?;
                self.at_line_start = false;
            }
            match rest.iter().position(|&b| b == b'\n') {
                Some(i) => {
                    w.write_all(&rest[..=i])?;
                    rest = &rest[i + 1..];
                    self.at_line_start = true;
                }
                None => {
                    w.write_all(rest)?;
                    break;
                }
            }
        }
        Ok(())
    }

    /// Copies all of `r` to `w` tagged, in fixed-size chunks; returns the bytes
    /// read.
    pub(crate) fn copy<R: Read + ?Sized, W: Write + ?Sized>(
        &mut self,
        r: &mut R,
        w: &mut W,
    ) -> io::Result<u64> {
        let mut buf = vec![0u8; 64 * 1024];
        let mut total = 0;
        loop {
            let n = match r.read(&mut buf) {
                Ok(0) => return Ok(total),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            self.write(w, &buf[..n])?;
            total += n as u64;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tagged(tag: &str, chunks: &[&[u8]]) -> String {
        let mut t = Tagger::new(tag.as_bytes().to_vec());
        let mut out = Vec::new();
        for chunk in chunks {
            t.write(&mut out, chunk).unwrap();
        }
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn every_line_is_tagged_and_no_newline_is_added() {
        assert_eq!(tagged("x\t", &[b"a\nb"]), "x\ta\nx\tb");
        assert_eq!(tagged("x\t", &[b"a\n\nb\n"]), "x\ta\nx\t\nx\tb\n");
        assert_eq!(tagged("x\t", &[b"a", b"b\n", b"", b"c"]), "x\tab\nx\tc");
        assert_eq!(tagged("x\t", &[b"a\n", b"b\n"]), "x\ta\nx\tb\n");
        assert_eq!(tagged("x\t", &[b""]), "");
    }

    #[test]
    fn copying_tags_across_chunk_boundaries() {
        let input: Vec<u8> = (0..200_000)
            .flat_map(|i| format!("{i}\n").into_bytes())
            .collect();
        let mut out = Vec::new();
        let n = Tagger::new(b"T ".to_vec())
            .copy(&mut &input[..], &mut out)
            .unwrap();
        assert_eq!(n, input.len() as u64);
        let text = String::from_utf8(out).unwrap();
        for (i, line) in text.lines().enumerate() {
            assert_eq!(line, format!("T {i}"));
        }
        assert_eq!(text.lines().count(), 200_000);
    }
}
