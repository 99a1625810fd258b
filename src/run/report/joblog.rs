//! The job log sink (`--joblog`), in GNU parallel's format (reading one back for
//! `--resume` is `control/resume.rs`).
//!
//! Owns: the joblog file and the byte format of its header and rows ([`HEADER`],
//! [`Row`]).
//!
//! Invariants:
//! - The format is GNU parallel's (src/parallel, `Job::print_joblog`), tab
//!   separated: `Seq Host Starttime JobRuntime Send Receive Exitval Signal
//!   Command`, Host `:` (local), Starttime epoch seconds `%.3f`, JobRuntime
//!   truncated to milliseconds and printed `%10.3f`, and newlines in the
//!   command written as NUL bytes, as GNU does.
//! - Send is the length of the job's `--pipe` block (0 without `--pipe`), also
//!   when the job did not read it all; Receive the bytes of stdout the job wrote
//!   (its last attempt's, with `--retries`; 0 with `--ungroup`, where its output
//!   does not pass through atp-run). Both are what the executor reports in
//!   [`JobEnd`]. GNU's `--line-buffer` also adds stderr and counts a last line
//!   without a newline twice; here Receive is stdout alone in every mode.
//! - The file is opened with `O_APPEND`; each row is one `write` call, made when
//!   its job ends, so rows of concurrent jobs never mix and every row written
//!   survives a `kill -9` of atp-run. A header is written only into an empty file.
//! - Appending (`+FILE`, `--resume`) to a joblog whose last row was cut short
//!   first removes that partial row (its job was not recorded whole, so it is
//!   not done), so the next row never glues onto it.
//! - A row that cannot be written (a full disk) is reported once, and the run
//!   then ends with exit status 2: a joblog missing rows is not a success.
//! - Only final results get a row: a job retried under `--retries` gets one row,
//!   for its last attempt (GNU's reaper logs only when `should_be_retried` is
//!   false); a job killed because the run was stopping gets none (GNU's
//!   `--halt now` kills without logging), so `--resume` runs it again.

use std::ffi::OsString;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::run::job::{ExitStatusKind, JobEnd, JobError};
use crate::run::lock::lock;

/// The header line, exactly as GNU parallel writes it.
pub const HEADER: &str =
    "Seq\tHost\tStarttime\tJobRuntime\tSend\tReceive\tExitval\tSignal\tCommand\n";

/// Where the joblog goes: `--joblog FILE` truncates, `--joblog +FILE` appends.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JoblogTarget {
    /// The file.
    pub path: PathBuf,
    /// `+FILE`: keep what is there.
    pub append: bool,
}

impl JoblogTarget {
    /// Parses a `--joblog` value.
    pub fn parse(value: OsString) -> JoblogTarget {
        let bytes = value.into_vec();
        match bytes.strip_prefix(b"+") {
            Some(rest) if !rest.is_empty() => JoblogTarget {
                path: PathBuf::from(OsString::from_vec(rest.to_vec())),
                append: true,
            },
            _ => JoblogTarget {
                path: PathBuf::from(OsString::from_vec(bytes)),
                append: false,
            },
        }
    }
}

/// One finished job, as a joblog row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Row<'a> {
    /// The job number.
    pub seq: u64,
    /// The sshlogin it ran on, as written; `:` for this machine.
    pub host: &'a str,
    /// When it started (wall clock).
    pub start: SystemTime,
    /// How long it ran.
    pub runtime: Duration,
    /// Bytes given to its stdin (GNU's Send).
    pub send: u64,
    /// Bytes of its stdout (GNU's Receive).
    pub receive: u64,
    /// GNU's Exitval: the exit code, 0 if killed by a signal, -1 if it timed
    /// out (unless it then exited with a non-zero code).
    pub exitval: i32,
    /// The signal that killed it, or 0.
    pub signal: i32,
    /// The command as it ran.
    pub command: &'a [u8],
}

impl<'a> Row<'a> {
    /// The row of a job that ended; `None` for a job that was cancelled.
    ///
    /// GNU parallel's reaper sets Exitval to `$? >> 8` and Signal to `$? & 127`,
    /// so a job killed by a signal has Exitval 0; its `--timeout` kill first sets
    /// Exitval to -1, which a zero exit code does not overwrite
    /// (`set_exitstatus`). A job that could not be started gets Exitval 255, as
    /// GNU gives its own failures.
    pub fn of(
        seq: u64,
        start: SystemTime,
        command: &'a [u8],
        result: &Result<JobEnd, JobError>,
    ) -> Option<Row<'a>> {
        let host = match result {
            Ok(JobEnd {
                host: Some(host), ..
            }) => host,
            _ => ":",
        };
        let (runtime, exitval, signal) = match result {
            Err(JobError::Cancelled) => return None,
            Err(_) => (Duration::ZERO, 255, 0),
            Ok(exit) => {
                let timed_out = exit.timed_out;
                let (code, signal) = match exit.status {
                    ExitStatusKind::Exited(code) => (code, 0),
                    ExitStatusKind::Signaled { signal } => (0, signal),
                };
                let exitval = if timed_out && code == 0 { -1 } else { code };
                (exit.duration, exitval, signal)
            }
        };
        let (send, receive) = match result {
            Ok(end) => (end.stdin_len, end.stdout_len),
            Err(_) => (0, 0),
        };
        Some(Row {
            seq,
            host,
            start,
            runtime,
            send,
            receive,
            exitval,
            signal,
            command,
        })
    }

    /// The row's bytes, newline included.
    pub fn to_bytes(&self) -> Vec<u8> {
        let start = self
            .start
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs_f64();
        // GNU: sprintf("%10.3f", int(runtime * 1000) / 1000) — truncated, not rounded.
        let ms = self.runtime.as_millis();
        let runtime = format!("{}.{:03}", ms / 1000, ms % 1000);
        let mut row = format!(
            "{}\t{}\t{start:.3}\t{runtime:>10}\t{}\t{}\t{}\t{}\t",
            self.seq, self.host, self.send, self.receive, self.exitval, self.signal
        )
        .into_bytes();
        row.extend(self.command.iter().map(|&b| if b == b'\n' { 0 } else { b }));
        row.push(b'\n');
        row
    }
}

/// An open joblog, shared by the workers.
#[derive(Debug)]
pub struct Joblog {
    file: Mutex<File>,
    path: PathBuf,
    /// A row could not be written (reported once; the run then fails).
    failed: AtomicBool,
}

impl Joblog {
    /// Opens (creating it if needed) the joblog; truncates it unless `append`;
    /// writes the header if it is empty.
    pub fn open(path: &Path, append: bool) -> io::Result<Joblog> {
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(path)?;
        if !append {
            file.set_len(0)?;
        } else if let Some(end) = end_of_last_line(&file)? {
            log::warn!(
                "removing the cut last row of the joblog {} (its job was not recorded whole; \
                 --resume runs it again)",
                path.display()
            );
            file.set_len(end)?;
        }
        if file.metadata()?.len() == 0 {
            file.write_all(HEADER.as_bytes())?;
        }
        Ok(Joblog {
            file: Mutex::new(file),
            path: path.to_owned(),
            failed: AtomicBool::new(false),
        })
    }

    /// Appends a row (one write call) now.
    pub fn write(&self, row: &Row<'_>) {
        let bytes = row.to_bytes();
        let mut file = lock(&self.file);
        if let Err(err) = file.write_all(&bytes).and_then(|()| file.flush())
            && !self.failed.swap(true, Ordering::Relaxed)
        {
            log::error!(
                "cannot write to the joblog {}: {err} (--resume would run its jobs again)",
                self.path.display()
            );
        }
    }

    /// Whether a row could not be written (the run must not end as a success).
    pub fn failed(&self) -> bool {
        self.failed.load(Ordering::Relaxed)
    }
}

/// Where the last whole line of `file` ends, if the file does not end with a
/// newline (its last row was cut short: a full disk, a power loss); `None` if it
/// is empty or ends with one. Reads backwards from the end, a block at a time.
fn end_of_last_line(file: &File) -> io::Result<Option<u64>> {
    use std::os::unix::fs::FileExt;
    let len = file.metadata()?.len();
    let mut last = [0u8; 1];
    if len == 0 {
        return Ok(None);
    }
    file.read_exact_at(&mut last, len - 1)?;
    if last[0] == b'\n' {
        return Ok(None);
    }
    let mut block = vec![0u8; 4096];
    let mut end = len;
    while end > 0 {
        let start = end.saturating_sub(block.len() as u64);
        let chunk = &mut block[..usize::try_from(end - start).unwrap_or(0)];
        file.read_exact_at(chunk, start)?;
        if let Some(i) = chunk.iter().rposition(|&b| b == b'\n') {
            return Ok(Some(start + i as u64 + 1));
        }
        end = start;
    }
    Ok(Some(0))
}

/// The path of a `--joblog` value, for messages.
pub fn display(path: &Path) -> String {
    String::from_utf8_lossy(path.as_os_str().as_bytes()).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exit(status: ExitStatusKind, timed_out: bool) -> Result<JobEnd, JobError> {
        Ok(JobEnd::fixture(
            status,
            Duration::from_micros(1_234_567),
            timed_out,
        ))
    }

    fn row_of(result: &Result<JobEnd, JobError>) -> String {
        let start = UNIX_EPOCH + Duration::from_micros(1_700_000_000_123_456);
        let row = Row::of(7, start, b"echo a\necho b", result).unwrap();
        String::from_utf8(row.to_bytes()).unwrap()
    }

    #[test]
    fn rows_are_byte_for_byte_gnus() {
        assert_eq!(
            row_of(&exit(ExitStatusKind::Exited(3), false)),
            "7\t:\t1700000000.123\t     1.234\t0\t0\t3\t0\techo a\0echo b\n"
        );
        let long = Row {
            host: ":",
            seq: 1,
            start: UNIX_EPOCH,
            runtime: Duration::from_millis(123_456_789_999),
            send: 0,
            receive: 0,
            exitval: 0,
            signal: 0,
            command: b"x",
        };
        assert_eq!(
            long.to_bytes(),
            b"1\t:\t0.000\t123456789.999\t0\t0\t0\t0\tx\n"
        );
    }

    #[test]
    fn send_is_the_stdin_block_and_receive_the_stdout() {
        let mut end = JobEnd::fixture(ExitStatusKind::Exited(0), Duration::ZERO, false);
        (end.stdin_len, end.stdout_len, end.stderr_len) = (1000, 4, 9);
        let row = Row::of(2, UNIX_EPOCH, b"wc -l", &Ok(end)).unwrap();
        assert_eq!(
            row.to_bytes(),
            b"2\t:\t0.000\t     0.000\t1000\t4\t0\t0\twc -l\n"
        );
        let spawn = Err(JobError::Spawn {
            program: "/bin/sh".into(),
            source: io::Error::other("EAGAIN"),
        });
        let row = Row::of(2, UNIX_EPOCH, b"wc -l", &spawn).unwrap();
        assert_eq!((row.send, row.receive), (0, 0));
    }

    #[test]
    fn signals_and_timeouts_follow_gnu() {
        assert!(
            row_of(&exit(ExitStatusKind::Signaled { signal: 15 }, false)).contains("\t0\t15\t")
        );
        assert!(
            row_of(&exit(ExitStatusKind::Signaled { signal: 15 }, true)).contains("\t-1\t15\t")
        );
        assert!(row_of(&exit(ExitStatusKind::Exited(0), true)).contains("\t-1\t0\t"));
        assert!(row_of(&exit(ExitStatusKind::Exited(7), true)).contains("\t7\t0\t"));
        let spawn = Err(JobError::Spawn {
            program: "/bin/sh".into(),
            source: io::Error::other("EAGAIN"),
        });
        assert!(row_of(&spawn).contains("\t     0.000\t0\t0\t255\t0\t"));
        assert!(Row::of(1, UNIX_EPOCH, b"x", &Err(JobError::Cancelled)).is_none());
    }

    #[test]
    fn joblog_values_with_a_plus_append() {
        assert_eq!(
            JoblogTarget::parse("+log".into()),
            JoblogTarget {
                path: "log".into(),
                append: true
            }
        );
        assert_eq!(
            JoblogTarget::parse("log".into()),
            JoblogTarget {
                path: "log".into(),
                append: false
            }
        );
        assert!(!JoblogTarget::parse("+".into()).append);
    }

    #[test]
    fn open_writes_one_header_and_appends() -> io::Result<()> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("log");
        let row = Row {
            host: ":",
            seq: 1,
            start: UNIX_EPOCH,
            runtime: Duration::ZERO,
            send: 0,
            receive: 0,
            exitval: 0,
            signal: 0,
            command: b"true",
        };
        Joblog::open(&path, false)?.write(&row);
        Joblog::open(&path, true)?.write(&row);
        let one = "1\t:\t0.000\t     0.000\t0\t0\t0\t0\ttrue\n";
        assert_eq!(
            std::fs::read_to_string(&path)?,
            format!("{HEADER}{one}{one}")
        );
        Joblog::open(&path, false)?;
        assert_eq!(std::fs::read_to_string(&path)?, HEADER);
        Ok(())
    }

    #[test]
    fn a_cut_last_row_is_removed_before_appending() -> io::Result<()> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("log");
        let one = "1\t:\t0.000\t     0.000\t0\t0\t0\t0\ttrue\n";
        let row = |seq| Row {
            seq,
            host: ":",
            start: UNIX_EPOCH,
            runtime: Duration::ZERO,
            send: 0,
            receive: 0,
            exitval: 0,
            signal: 0,
            command: b"true",
        };
        // A long cut row: the line's start is more than one block back.
        let cut = format!("2\t:\t0.000\t0.0\t0\t0\t0\t0\t{}", "x".repeat(10_000));
        std::fs::write(&path, format!("{HEADER}{one}{cut}"))?;
        Joblog::open(&path, true)?.write(&row(3));
        let three = one.replacen('1', "3", 1);
        assert_eq!(
            std::fs::read_to_string(&path)?,
            format!("{HEADER}{one}{three}")
        );
        // A cut header: nothing whole is left, a new header is written.
        std::fs::write(&path, "Seq\tHo")?;
        Joblog::open(&path, true)?.write(&row(1));
        assert_eq!(std::fs::read_to_string(&path)?, format!("{HEADER}{one}"));
        Ok(())
    }
}
