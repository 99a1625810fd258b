//! Where a `--pipe` block ends: a pure function of the bytes read so far, no I/O.
//!
//! Owns: the record boundary (`--recend`, `--recstart`, both) and the choice of the
//! next cut, by size (`--block`) or by count (`-N`), with GNU parallel's meanings.
//!
//! A *boundary* is a position `p > 0` where the bytes before `p` end with `recend`
//! and the bytes from `p` start with `recstart` (both may be empty; with both empty
//! every position is a boundary, GNU's `--recend ''` for binary data). The end of
//! the input is always where its last block ends, whatever it ends with. Matches
//! are looked for in the bytes of the block being cut (a separator that overlaps
//! itself, `\n\n` in `\n\n\n`, is not matched across the previous cut).
//!
//! Invariants (checked by the property tests below):
//! - A cut is always at a boundary, or at the end of the input: no record is ever
//!   split across two blocks, and no byte is lost or repeated (the blocks of a
//!   stream, concatenated, are the stream).
//! - By size: a block is the longest prefix of at most `size` bytes that ends at a
//!   boundary whose separator (the `recend` and the `recstart` after it) lies
//!   within those `size` bytes (GNU's `rindex` on a `--block`-sized buffer); when
//!   there is none, the block is the first record alone, however long (GNU grows
//!   its block to hold it too).
//! - An empty record is a record: `-N 2` on `\n\na\n` gives `\n\n` and `a\n`
//!   (GNU's search for the N-th separator starts at the second byte, so it
//!   merges an empty first record of a block into the next one).
//! - By count: a block is exactly `n` records (the last block may hold fewer); the
//!   size plays no part.
//! - [`Splitter::cut`] never answers for bytes it has not seen: with `eof` false
//!   it asks for more rather than guess where a record it cannot see ends.
//!
//! The search is `memchr::memmem` (SIMD substring search) over the separator
//! `recend + recstart`: a block costs one backward search of its window, not a
//! pass per byte.

use memchr::memmem;

/// What to do with the bytes read so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cut {
    /// The first block is the first this many bytes.
    Block(usize),
    /// Not enough bytes to decide: read more (at least as many again, so that a
    /// long record costs linear time, not quadratic).
    More,
}

/// The record separator and the block rule of a `--pipe` run.
#[derive(Debug, Clone)]
pub(crate) struct Splitter {
    /// `recend` then `recstart`: what must be found around a boundary.
    separator: Vec<u8>,
    /// Length of `recend` (the boundary is this far into a match).
    recend_len: usize,
    /// Most bytes per block (at least 1).
    size: usize,
    /// `-N`: records per block instead of a size.
    records: Option<usize>,
}

impl Splitter {
    /// A splitter cutting blocks of about `size` bytes (at least 1), or of
    /// `records` records, at boundaries of `recend` and `recstart`.
    pub(crate) fn new(recend: &[u8], recstart: &[u8], size: usize, records: Option<usize>) -> Self {
        Splitter {
            separator: [recend, recstart].concat(),
            recend_len: recend.len(),
            size: size.max(1),
            records: records.map(|n| n.max(1)),
        }
    }

    /// The bytes to read before a cut is tried: a block's worth.
    pub(crate) fn lookahead(&self) -> usize {
        self.size
    }

    /// Where the first block of `data` (not empty) ends; `eof`: nothing follows.
    pub(crate) fn cut(&self, data: &[u8], eof: bool) -> Cut {
        debug_assert!(!data.is_empty());
        match self.records {
            Some(n) => self.cut_records(data, eof, n),
            None => self.cut_size(data, eof),
        }
    }

    fn cut_size(&self, data: &[u8], eof: bool) -> Cut {
        if eof && data.len() <= self.size {
            return Cut::Block(data.len());
        }
        if !eof && data.len() < self.lookahead() {
            return Cut::More;
        }
        // The whole separator within `size` bytes, as GNU's `rindex` on its
        // `--block`-sized buffer: a recstart just past it does not count.
        let window = &data[..data.len().min(self.size)];
        if let Some(p) = self.last_boundary(window) {
            return Cut::Block(p);
        }
        // No separator within `size`: the first record alone, however long.
        match self.next_boundary(data, 0) {
            Some(p) => Cut::Block(p),
            None if eof => Cut::Block(data.len()),
            None => Cut::More,
        }
    }

    fn cut_records(&self, data: &[u8], eof: bool, n: usize) -> Cut {
        let mut end = 0;
        for _ in 0..n {
            match self.next_boundary(data, end) {
                Some(p) => end = p,
                None if eof => return Cut::Block(data.len()),
                None => return Cut::More,
            }
        }
        Cut::Block(end)
    }

    /// The last boundary whose whole separator lies in `window`.
    fn last_boundary(&self, window: &[u8]) -> Option<usize> {
        // A boundary is never at 0: with no recend, skip a match there.
        let skip = usize::from(self.recend_len == 0);
        let searched = window.get(skip..)?;
        memmem::rfind(searched, &self.separator).map(|s| s + skip + self.recend_len)
    }

    /// The first boundary after `after` whose whole separator lies in `data`.
    fn next_boundary(&self, data: &[u8], after: usize) -> Option<usize> {
        let from = (after + 1).saturating_sub(self.recend_len);
        let searched = data.get(from..)?;
        memmem::find(searched, &self.separator)
            .map(|s| s + from + self.recend_len)
            .filter(|&p| p <= data.len())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Cuts `input` all at once (as if read whole), returning the blocks.
    pub(crate) fn blocks(splitter: &Splitter, input: &[u8]) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        let mut rest = input;
        while !rest.is_empty() {
            match splitter.cut(rest, true) {
                Cut::Block(p) => {
                    assert!(p > 0 && p <= rest.len(), "cut {p} of {}", rest.len());
                    out.push(rest[..p].to_vec());
                    rest = &rest[p..];
                }
                Cut::More => panic!("more asked at the end of the input"),
            }
        }
        out
    }

    fn strings(blocks: &[Vec<u8>]) -> Vec<String> {
        blocks
            .iter()
            .map(|b| String::from_utf8_lossy(b).into_owned())
            .collect()
    }

    #[test]
    fn by_size_a_block_is_the_longest_prefix_ending_a_record() {
        let s = Splitter::new(b"\n", b"", 6, None);
        assert_eq!(
            strings(&blocks(&s, b"1\n22\n333\n4\n55555\n6")),
            ["1\n22\n", "333\n4\n", "55555\n", "6"]
        );
        // Exactly the size, ending a record.
        assert_eq!(strings(&blocks(&s, b"12345\n6\n")), ["12345\n", "6\n"]);
    }

    #[test]
    fn a_record_longer_than_the_block_is_one_block() {
        let s = Splitter::new(b"\n", b"", 4, None);
        assert_eq!(
            strings(&blocks(&s, b"a\nbbbbbbbbbb\nc\nd\n")),
            ["a\n", "bbbbbbbbbb\n", "c\nd\n"]
        );
        assert_eq!(strings(&blocks(&s, b"xxxxxxxxx")), ["xxxxxxxxx"]);
    }

    #[test]
    fn recstart_alone_cuts_before_it_and_never_at_zero() {
        let s = Splitter::new(b"", b">", 1, None);
        assert_eq!(
            strings(&blocks(&s, b">a\nx\n>b\ny\n>c\n")),
            [">a\nx\n", ">b\ny\n", ">c\n"]
        );
        // What comes before the first recstart is a record of its own (GNU).
        assert_eq!(strings(&blocks(&s, b"x\n>a\n")), ["x\n", ">a\n"]);
    }

    #[test]
    fn recend_and_recstart_must_meet() {
        let s = Splitter::new(b"\n", b">", 1, None);
        assert_eq!(
            strings(&blocks(&s, b">a\nx>y\n>b\n")),
            [">a\nx>y\n", ">b\n"]
        );
    }

    #[test]
    fn by_count_n_records_whatever_the_size() {
        let s = Splitter::new(b"\n", b"", 1, Some(3));
        assert_eq!(
            strings(&blocks(&s, b"1\n2\n3\n4\n5\n6\n7\n")),
            ["1\n2\n3\n", "4\n5\n6\n", "7\n"]
        );
        let s = Splitter::new(b"\0", b"", 1 << 20, Some(2));
        assert_eq!(strings(&blocks(&s, b"a\0b\0c")), ["a\0b\0", "c"]);
    }

    #[test]
    fn empty_separators_cut_at_the_size_exactly() {
        let s = Splitter::new(b"", b"", 3, None);
        assert_eq!(strings(&blocks(&s, b"abcdefg")), ["abc", "def", "g"]);
    }

    #[test]
    fn too_few_bytes_ask_for_more_unless_the_input_ended() {
        let s = Splitter::new(b"\n", b"", 10, None);
        assert_eq!(s.cut(b"ab\ncd", false), Cut::More);
        assert_eq!(s.cut(b"ab\ncd", true), Cut::Block(5));
        // A record still going past the size: its end is not known yet.
        assert_eq!(s.cut(&[b'x'; 20], false), Cut::More);
        // With recstart, a boundary needs the start of the next record.
        let s = Splitter::new(b"\n", b">", 3, None);
        assert_eq!(s.cut(b"a\n>b", false), Cut::Block(2));
        assert_eq!(s.cut(b"a\n", false), Cut::More);
        // The recstart must lie within the size too (GNU): at 4 it does not,
        // and the block is the first record alone.
        let s = Splitter::new(b"\n", b">", 4, None);
        assert_eq!(s.cut(b"a\nb\n>c\n", false), Cut::Block(4));
        assert_eq!(s.cut(b"a\nb\n>c\n>", false), Cut::Block(4));
        let s = Splitter::new(b"\n", b">", 5, None);
        assert_eq!(s.cut(b"a\n>b\n>c\n", false), Cut::Block(2));
        let s = Splitter::new(b"\n", b"", 1, Some(2));
        assert_eq!(s.cut(b"a\nb", false), Cut::More);
        assert_eq!(s.cut(b"a\nb\n", false), Cut::Block(4));
    }

    /// Whether `p` is a boundary of `input` as the module defines it.
    fn is_boundary(input: &[u8], p: usize, recend: &[u8], recstart: &[u8]) -> bool {
        p > 0 && input[..p].ends_with(recend) && input[p..].starts_with(recstart)
    }

    fn separator() -> impl Strategy<Value = Vec<u8>> {
        // Few distinct bytes, so separators occur often and overlap.
        proptest::collection::vec(prop_oneof![Just(b'a'), Just(b'b'), Just(b'\n')], 0..3)
    }

    proptest! {
        #[test]
        fn blocks_are_the_input_cut_at_boundaries(
            input in proptest::collection::vec(prop_oneof![Just(b'a'), Just(b'b'), Just(b'\n'), Just(b'c')], 0..200),
            recend in separator(),
            recstart in separator(),
            size in 1usize..40,
            records in proptest::option::of(1usize..5),
        ) {
            let s = Splitter::new(&recend, &recstart, size, records);
            let blocks = blocks(&s, &input);
            prop_assert_eq!(blocks.concat(), input.clone());
            let mut at = 0;
            for (i, block) in blocks.iter().enumerate() {
                at += block.len();
                if i + 1 < blocks.len() {
                    prop_assert!(is_boundary(&input, at, &recend, &recstart), "cut at {} not a boundary", at);
                }
                if records.is_none() && block.len() > size {
                    // Oversized only when it is one record: no boundary inside
                    // (a record end is looked for in the block's own bytes: with a
                    // separator like "aa", "aaaa" is two records, not three).
                    let start = at - block.len();
                    let inner = (start + 1..at)
                        .filter(|&p| p >= start + recend.len())
                        .any(|p| is_boundary(&input, p, &recend, &recstart));
                    prop_assert!(!inner, "block of {} > {} holds a boundary", block.len(), size);
                }
            }
        }
    }
}
