//! `--resume` and `--resume-failed`: which jobs an earlier run's joblog (ours or GNU
//! parallel's) shows as done, so this run skips them.
//!
//! Owns: parsing a joblog into the set of job numbers to skip ([`read_done`]), and
//! the skip decision of the feeder ([`Resume::skip_set`] built once, before any job).
//!
//! Invariants: job numbers are input positions whether or not a job is skipped, so
//! they stay the same from one run to the next; a missing joblog means nothing was
//! done yet.

use std::collections::HashSet;
use std::fs::File;
use std::io::{self, BufRead, BufReader};
use std::path::Path;

/// Which rows of an existing joblog mark a job as done.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Resume {
    /// `--resume`: every job with a row, whatever its status.
    Any,
    /// `--resume-failed`: jobs with a row showing success (Exitval 0, Signal 0);
    /// the failed ones run again.
    Succeeded,
}

/// Reads a joblog (ours or GNU parallel's) and returns the job numbers to skip.
/// A missing file means nothing was done yet. Mirrors GNU's reading (src/parallel,
/// `--resume`): the first line is the header; a row is recognised by its leading
/// Seq; with `--resume-failed` a row counts only with Exitval and Signal both 0 (a
/// job that failed, then succeeded when resumed, is done).
///
/// # Errors
/// An I/O error, or an `InvalidData` error naming a line that is not a joblog row.
pub(crate) fn read_done(path: &Path, mode: Resume) -> io::Result<HashSet<u64>> {
    let file = match File::open(path) {
        Ok(file) => file,
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(HashSet::new()),
        Err(err) => return Err(err),
    };
    let mut done = HashSet::new();
    let mut reader = BufReader::new(file);
    let mut line = Vec::new();
    let mut number = 0usize;
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line)? == 0 {
            break;
        }
        number += 1;
        let complete = line.last() == Some(&b'\n');
        let text = line.strip_suffix(b"\n").unwrap_or(&line);
        if text.is_empty() || (number == 1 && text.starts_with(b"Seq\t")) {
            continue;
        }
        if !complete {
            // A row cut short (the disk filled up, say) can only be the last one;
            // its job was not recorded whole, so it is not done (the next append
            // removes it, see `Joblog::open`).
            log::warn!("ignoring an incomplete last line in {}", path.display());
            break;
        }
        match parse_row(text) {
            Some((seq, exitval, signal)) => {
                if mode == Resume::Any || (exitval == 0 && signal == 0) {
                    done.insert(seq);
                }
            }
            None => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!(
                        "line {number} is not a joblog row: {}",
                        String::from_utf8_lossy(text)
                    ),
                ));
            }
        }
    }
    Ok(done)
}

/// `(Seq, Exitval, Signal)` of a row; `None` if it is not one.
pub(crate) fn parse_row(line: &[u8]) -> Option<(u64, i64, i64)> {
    let fields: Vec<&[u8]> = line.splitn(9, |&b| b == b'\t').collect();
    if fields.len() < 8 {
        return None;
    }
    let number = |i: usize| std::str::from_utf8(fields[i]).ok().map(str::trim);
    let seq = number(0)?.parse().ok()?;
    let exitval = number(6)?.parse().ok()?;
    let signal = number(7)?.parse().ok()?;
    // Starttime and JobRuntime must be numbers too (GNU: `[-0-9.]+`).
    for i in [2, 3] {
        number(i)?.parse::<f64>().ok()?;
    }
    Some((seq, exitval, signal))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run::report::joblog::HEADER;

    #[test]
    fn rows_parse_including_gnus_padding_and_negative_exitvals() {
        assert_eq!(
            parse_row(b"12\t:\t1700000000.123\t     0.010\t0\t0\t-1\t15\tsleep 5"),
            Some((12, -1, 15))
        );
        assert_eq!(
            parse_row(b"3\tserver\t1.5\t2.000\t10\t20\t0\t0\techo\ta\ttab"),
            Some((3, 0, 0))
        );
        assert_eq!(parse_row(b"Seq\tHost\tStarttime"), None);
        assert_eq!(parse_row(b"x\t:\t1\t1\t0\t0\t0\t0\tcmd"), None);
        assert_eq!(parse_row(b"1 : 1 1 0 0 0 0 cmd"), None);
    }

    #[test]
    fn read_done_for_resume_and_resume_failed() -> io::Result<()> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("log");
        std::fs::write(
            &path,
            format!(
                "{HEADER}1\t:\t1.000\t     0.001\t0\t0\t0\t0\ta\n\
                 2\t:\t1.000\t     0.001\t0\t0\t1\t0\tb\n\
                 3\t:\t1.000\t     0.001\t0\t0\t0\t9\tc\n\
                 2\t:\t2.000\t     0.001\t0\t0\t0\t0\tb\n\
                 4\t:\t1.000\t     0.001\t0\t0\t-1\t15\td\n\
                 5\t:\t1.000\t     0.001\t0\t0\t0\t0\tcut in its comma"
            ),
        )?;
        let mut any: Vec<u64> = read_done(&path, Resume::Any)?.into_iter().collect();
        any.sort();
        assert_eq!(any, [1, 2, 3, 4]);
        let mut ok: Vec<u64> = read_done(&path, Resume::Succeeded)?.into_iter().collect();
        ok.sort();
        assert_eq!(ok, [1, 2]);
        assert!(read_done(&dir.path().join("missing"), Resume::Any)?.is_empty());
        std::fs::write(
            &path,
            format!("{HEADER}not a row\n1\t:\t1\t1\t0\t0\t0\t0\tx\n"),
        )?;
        let err = read_done(&path, Resume::Any).unwrap_err();
        assert!(
            err.to_string().contains("line 2 is not a joblog row"),
            "{err}"
        );
        Ok(())
    }
}
