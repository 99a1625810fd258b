//! Reading a `--pipe` stream into blocks: large reads straight into the buffer a
//! block is handed out in, the header put in front of each block.
//!
//! Owns: [`Blocks`], the buffer between the input and the [`Splitter`].
//!
//! Invariants:
//! - Every byte of the input (after the header lines) is in exactly one block, in
//!   order; each block starts with the header; an empty input (or one holding only
//!   the header) gives no block.
//! - Memory: the buffer holds at most one block being filled plus what the splitter
//!   needs to see past it; a record longer than that grows it geometrically (each
//!   read at least doubles it), so a long record costs linear time.
//! - Copies: bytes are read straight into the buffer. When a block is cut, the
//!   cheaper side is copied: the partial record after it moves to a fresh buffer and
//!   the block keeps the one it was read into (the usual case, by size); or the
//!   block is copied out and the buffer kept (small `-N` blocks).

use std::io::{self, Read};

use crate::run::input::pipe::splitter::{Cut, Splitter};

/// The blocks of one input stream.
#[derive(Debug)]
pub(crate) struct Blocks<R> {
    input: R,
    splitter: Splitter,
    /// The header lines, at the front of every block.
    header: Vec<u8>,
    /// How many header lines are still to be read off the input.
    header_lines_left: usize,
    /// `header`, then consumed bytes, then the unread bytes from `start`.
    buf: Vec<u8>,
    /// Where the bytes not yet handed out begin in `buf` (at least `header.len()`).
    start: usize,
    /// Bytes wanted after `start` before the next cut is tried.
    want: usize,
    /// The input ended.
    eof: bool,
}

impl<R: Read> Blocks<R> {
    /// Blocks of `input` as `splitter` cuts them, each starting with the first
    /// `header_lines` lines of `input` (newline-terminated).
    pub(crate) fn new(input: R, splitter: Splitter, header_lines: usize) -> Blocks<R> {
        let want = splitter.lookahead();
        Blocks {
            input,
            splitter,
            header: Vec::new(),
            header_lines_left: header_lines,
            buf: Vec::new(),
            start: 0,
            want,
            eof: false,
        }
    }

    /// The next block, or `None` at the end of the input.
    ///
    /// # Errors
    /// Reading the input failed.
    pub(crate) fn next_block(&mut self) -> io::Result<Option<Vec<u8>>> {
        loop {
            let data = &self.buf[self.start..];
            if self.header_lines_left > 0 {
                if let Some(end) = header_end(data, self.header_lines_left) {
                    self.take_header(end);
                    continue;
                }
                if self.eof {
                    // Only (part of) the header: no record, so no job (GNU).
                    return Ok(None);
                }
            } else if !data.is_empty() && (self.eof || data.len() >= self.want) {
                match self.splitter.cut(data, self.eof) {
                    Cut::Block(p) => return Ok(Some(self.take(p))),
                    Cut::More => self.want = data.len().saturating_mul(2),
                }
            } else if data.is_empty() && self.eof {
                return Ok(None);
            }
            self.fill()?;
        }
    }

    /// The header lines end at `end` (from `start`): move them to the front.
    fn take_header(&mut self, end: usize) {
        // Nothing was handed out yet: the header is at the front of `buf`.
        let rest = self.buf.split_off(self.start + end);
        self.header = std::mem::replace(&mut self.buf, rest);
        let mut buf = Vec::with_capacity(self.header.len() + self.want + READ_SLACK);
        buf.extend_from_slice(&self.header);
        buf.extend_from_slice(&self.buf);
        self.buf = buf;
        self.start = self.header.len();
        self.header_lines_left = 0;
    }

    /// Hands out the `p` bytes from `start` as a block (after the header).
    fn take(&mut self, p: usize) -> Vec<u8> {
        let end = self.start + p;
        let tail = self.buf.len() - end;
        let mut block = if self.start == self.header.len() && tail <= p {
            // The partial record after the block moves; the block stays.
            let mut next = Vec::with_capacity(self.header.len() + self.want.max(tail) + READ_SLACK);
            next.extend_from_slice(&self.header);
            next.extend_from_slice(&self.buf[end..]);
            self.buf.truncate(end);
            std::mem::replace(&mut self.buf, next)
        } else {
            let mut block = Vec::with_capacity(self.header.len() + p);
            block.extend_from_slice(&self.header);
            block.extend_from_slice(&self.buf[self.start..end]);
            self.start = end;
            block
        };
        self.want = self.splitter.lookahead();
        if block.capacity() > block.len() + block.len() / 4 + READ_SLACK {
            block.shrink_to_fit();
        }
        block
    }

    /// Reads until `want` bytes are unread (or the input ends), straight into the
    /// buffer, first moving the unread bytes next to the header if bytes were
    /// handed out in front of them.
    fn fill(&mut self) -> io::Result<()> {
        if self.start > self.header.len() {
            let keep = self.header.len();
            self.buf.copy_within(self.start.., keep);
            self.buf.truncate(keep + (self.buf.len() - self.start));
            self.start = keep;
        }
        let unread = self.buf.len() - self.start;
        let missing = self.want.saturating_sub(unread).max(MIN_READ);
        self.buf.reserve(missing);
        let limit = u64::try_from(missing).unwrap_or(u64::MAX);
        let read = (&mut self.input).take(limit).read_to_end(&mut self.buf)?;
        if (read as u64) < limit {
            self.eof = true;
        }
        Ok(())
    }
}

/// The smallest read (so a `-N` run of small records does not read in dribbles).
const MIN_READ: usize = 64 * 1024;

/// Room left in a fresh buffer for the splitter's lookahead to arrive in one read.
const READ_SLACK: usize = 4096;

/// Where the first `lines` newline-terminated lines of `data` end, if all are there.
fn header_end(data: &[u8], lines: usize) -> Option<usize> {
    let mut end = 0;
    for _ in 0..lines {
        end += memchr::memchr(b'\n', &data[end..])? + 1;
    }
    Some(end)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A reader that hands out its bytes in pieces of the given sizes, in turn.
    struct Dribble {
        data: Vec<u8>,
        at: usize,
        pieces: Vec<usize>,
        turn: usize,
    }

    impl Read for Dribble {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let piece = self.pieces[self.turn % self.pieces.len()].max(1);
            self.turn += 1;
            let n = piece.min(buf.len()).min(self.data.len() - self.at);
            buf[..n].copy_from_slice(&self.data[self.at..self.at + n]);
            self.at += n;
            Ok(n)
        }
    }

    fn all(input: &[u8], splitter: Splitter, header: usize, pieces: Vec<usize>) -> Vec<Vec<u8>> {
        let reader = Dribble {
            data: input.to_vec(),
            at: 0,
            pieces,
            turn: 0,
        };
        let mut blocks = Blocks::new(reader, splitter, header);
        let mut out = Vec::new();
        while let Some(block) = blocks.next_block().unwrap() {
            out.push(block);
        }
        out
    }

    fn lines(blocks: &[Vec<u8>]) -> Vec<String> {
        blocks
            .iter()
            .map(|b| String::from_utf8_lossy(b).into_owned())
            .collect()
    }

    #[test]
    fn the_header_starts_every_block() {
        let s = Splitter::new(b"\n", b"", 1, Some(2));
        let out = all(b"h1\nh2\n1\n2\n3\n4\n5\n", s, 2, vec![3]);
        assert_eq!(
            lines(&out),
            ["h1\nh2\n1\n2\n", "h1\nh2\n3\n4\n", "h1\nh2\n5\n"]
        );
    }

    #[test]
    fn no_block_without_a_record() {
        let s = Splitter::new(b"\n", b"", 10, None);
        assert!(all(b"", s.clone(), 0, vec![5]).is_empty());
        assert!(all(b"h\n", s.clone(), 1, vec![5]).is_empty());
        assert!(all(b"h", s, 2, vec![5]).is_empty());
    }

    #[test]
    fn a_long_record_is_read_whole() {
        let s = Splitter::new(b"\n", b"", 10, None);
        let mut input = vec![b'x'; 300_000];
        input.extend_from_slice(b"\ny\n");
        let out = all(&input, s, 0, vec![7000]);
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].len(), 300_001);
        assert_eq!(out[1], b"y\n");
    }

    proptest! {
        #[test]
        fn blocks_read_in_pieces_are_the_input(
            input in proptest::collection::vec(prop_oneof![Just(b'a'), Just(b'\n'), Just(b'>')], 0..3000),
            recend in prop_oneof![Just(&b"\n"[..]), Just(&b""[..]), Just(&b"a\n"[..])],
            recstart in prop_oneof![Just(&b""[..]), Just(&b">"[..])],
            size in 1usize..100,
            records in proptest::option::of(1usize..4),
            header in 0usize..3,
            pieces in proptest::collection::vec(1usize..500, 1..4),
        ) {
            let s = Splitter::new(recend, recstart, size, records);
            let out = all(&input, s.clone(), header, pieces);
            let head = header_end(&input, header);
            let (head, body) = match head {
                Some(end) => input.split_at(end),
                None => (&input[..], &[][..]),
            };
            let mut joined = Vec::new();
            for block in &out {
                prop_assert!(block.starts_with(head));
                joined.extend_from_slice(&block[head.len()..]);
            }
            prop_assert_eq!(&joined[..], body);
            // The same cuts as the splitter makes on the whole input at once.
            let expected = super::super::splitter::tests::blocks(&s, body);
            let got: Vec<Vec<u8>> = out.iter().map(|b| b[head.len()..].to_vec()).collect();
            prop_assert_eq!(got, expected);
        }
    }
}
