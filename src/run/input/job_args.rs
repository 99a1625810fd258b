//! [`JobArgs`]: the arguments of one job in template mode, carried from the
//! sources to the template as one byte buffer.
//!
//! A job has `rows` argument rows (one per input line or combination of input
//! sources; several with `-n`, `-X`, `-m`…), each of `width` values (one per
//! input source, or per column with `--colsep`). The feeder, the attempts and
//! the reporter pass a job's input around as plain bytes; in template mode those
//! bytes are this encoding, so nothing between the sources and the template
//! needs to know about rows and columns.
//!
//! Encoding (all numbers u32, little endian): `width`, then for every value of
//! every row, row by row, its length and its bytes. One allocation per job,
//! like the kernel's own argv block.
//!
//! Invariants: [`encode`] and [`JobArgs::decode`] are inverses; a buffer that
//! [`encode`] did not make is never decoded (the runner makes every buffer it
//! decodes), so decoding panics on a malformed one rather than guessing.

/// A decoded job: borrowed values, `width` per row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobArgs<'a> {
    width: usize,
    values: Vec<&'a [u8]>,
}

/// Encodes `rows` (each of the same number of values) as one buffer.
pub fn encode<R, V>(rows: &[R]) -> Vec<u8>
where
    R: AsRef<[V]>,
    V: AsRef<[u8]>,
{
    let width = rows.first().map_or(0, |r| r.as_ref().len());
    let size: usize = rows
        .iter()
        .flat_map(|r| r.as_ref().iter())
        .map(|v| v.as_ref().len() + 4)
        .sum();
    let mut out = Vec::with_capacity(4 + size);
    push_u32(&mut out, width);
    for row in rows {
        debug_assert_eq!(row.as_ref().len(), width, "rows of one job differ in width");
        for value in row.as_ref() {
            push_u32(&mut out, value.as_ref().len());
            out.extend_from_slice(value.as_ref());
        }
    }
    out
}

/// Appends one value's encoding (its length, then its bytes).
pub fn push_value(out: &mut Vec<u8>, value: &[u8]) {
    push_u32(out, value.len());
    out.extend_from_slice(value);
}

/// A job of rows of `width` values whose encodings ([`push_value`]) are
/// `values`, back to back.
pub fn encode_packed(width: usize, values: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(4 + values.len());
    push_u32(&mut out, width);
    out.extend_from_slice(values);
    out
}

fn push_u32(out: &mut Vec<u8>, n: usize) {
    let n = u32::try_from(n).expect("an argument longer than 4 GiB");
    out.extend_from_slice(&n.to_le_bytes());
}

fn read_u32(buf: &[u8], at: usize) -> usize {
    let bytes: [u8; 4] = buf[at..at + 4].try_into().expect("4 bytes");
    u32::from_le_bytes(bytes) as usize
}

impl<'a> JobArgs<'a> {
    /// Decodes a buffer made by [`encode`].
    pub fn decode(buf: &'a [u8]) -> JobArgs<'a> {
        let width = read_u32(buf, 0);
        let mut values = Vec::new();
        let mut at = 4;
        while at < buf.len() {
            let len = read_u32(buf, at);
            values.push(&buf[at + 4..at + 4 + len]);
            at += 4 + len;
        }
        JobArgs { width, values }
    }

    /// One row of one value (a plain input line).
    pub fn single(value: &'a [u8]) -> JobArgs<'a> {
        JobArgs {
            width: 1,
            values: vec![value],
        }
    }

    /// Values per row.
    #[cfg(test)]
    pub fn width(&self) -> usize {
        self.width
    }

    /// Number of rows.
    pub fn rows(&self) -> usize {
        self.values.len().checked_div(self.width).unwrap_or(0)
    }

    /// The values of row `r` (0-based).
    pub fn row(&self, r: usize) -> &[&'a [u8]] {
        &self.values[r * self.width..(r + 1) * self.width]
    }

    /// Every value, row by row.
    pub fn values(&self) -> &[&'a [u8]] {
        &self.values
    }

    /// What `--tag` prints before each output line: the values of a row joined by
    /// tabs, rows joined by spaces (GNU parallel's `--tag` with several sources
    /// and with `-X`).
    pub fn tag(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for r in 0..self.rows() {
            if r > 0 {
                out.push(b' ');
            }
            for (i, value) in self.row(r).iter().enumerate() {
                if i > 0 {
                    out.push(b'\t');
                }
                out.extend_from_slice(value);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encode_then_decode_gives_the_rows_back() {
        let rows = vec![
            vec![b"a".to_vec(), b"".to_vec()],
            vec![b"c\0d".to_vec(), b"e".to_vec()],
        ];
        let buf = encode(&rows);
        let args = JobArgs::decode(&buf);
        assert_eq!((args.width(), args.rows()), (2, 2));
        assert_eq!(args.row(0), [&b"a"[..], b""]);
        assert_eq!(args.row(1), [&b"c\0d"[..], b"e"]);
        assert_eq!(args.tag(), b"a\t c\0d\te");
    }

    #[test]
    fn a_job_without_rows_decodes_empty() {
        let buf = encode::<Vec<Vec<u8>>, Vec<u8>>(&[]);
        let args = JobArgs::decode(&buf);
        assert_eq!((args.width(), args.rows()), (0, 0));
        assert!(args.tag().is_empty());
    }
}
