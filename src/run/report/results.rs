//! `--results DIR`: every job's stdout, stderr, sequence number and exit status
//! kept in files under DIR, in GNU parallel's layout.
//!
//! Owns: the results directory ([`ResultsDir`]), where a job's files go
//! ([`ResultsDir::job_dir`], [`escape`]), creating them for an attempt
//! ([`ResultsDir::start`]) and recording its end ([`ResultsDir::finish`]).
//!
//! Layout (GNU parallel 20221122's, checked side by side with it): a job with
//! arguments gets `DIR/<source>/<value>/` — one `<source>/<value>` pair per value,
//! row by row (`-n 2` gives `DIR/1/a/1/b/`, two `:::` sources `DIR/1/a/2/b/`);
//! `<source>` is the source's number from 1 (the column's with `--colsep`), or its
//! name with `--header :` (pairs then sorted by name, as GNU parallel does). A plain
//! command line (commands read from the input, no template) is the value of
//! source 1, as in GNU parallel: `DIR/1/<command>/`. In that directory:
//! - `seq`: the job number (`{#}`), no newline, written when the job starts;
//! - `stdout`, `stderr`: the job's output, written by the job itself as it runs;
//! - `exitval` (not in GNU parallel): written when the job ends, no newline: the
//!   exit code (`0`…`255`), the name of the signal that killed it (`SIGTERM`), or
//!   `timeout` when its `--timeout` ran out. No `exitval`: the job never ended
//!   while atp-run watched it (it could not start, or atp-run was killed).
//!
//! A value becomes one directory name as GNU parallel makes it (`\` → `\\`,
//! tab → `\t`, NUL → `\0`, `/` → `\_`), and, where GNU parallel's names would
//! leave DIR or collide: the empty value → `\e`, `.` → `\.`, `..` → `\.\.`, and
//! a name longer than 255 bytes is cut to 237 bytes followed by `\#` and 16 hex
//! digits of a hash of the whole value (GNU parallel cuts at 255 bytes, so two
//! long values shared a directory).
//!
//! Invariants:
//! - Output never passes through our memory: the files are the job's stdout and
//!   stderr (a [`Capture`] on them), so any executor fills them as the job runs.
//! - Each attempt gets brand-new files (the old ones are unlinked first): a
//!   `--retries` job's files hold its last attempt, and a process left behind by
//!   an earlier attempt writes into an unlinked file, never into the new one.
//! - A job's `exitval` exists only once it has ended; one cancelled before it
//!   started leaves no files (its directory's parents may stay, empty).

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use crate::run::exec::capture::Capture;
use crate::run::input::job_args::JobArgs;
use crate::run::job::{ExitStatusKind, JobEnd, JobError, signal_name};

/// Longest file name (`NAME_MAX` on Linux and the BSDs).
const NAME_MAX: usize = 255;

/// The files of one job, in the order they are listed in the module header.
const FILES: [&str; 4] = ["seq", "stdout", "stderr", "exitval"];

/// The `--results` directory of a run.
#[derive(Debug)]
pub(crate) struct ResultsDir {
    root: PathBuf,
    /// `--header :` column names (empty: sources are numbered).
    names: Vec<Vec<u8>>,
    /// An `exitval` could not be written (the run then fails).
    failed: AtomicBool,
}

/// What a job's directory is named after.
#[derive(Debug, Clone, Copy)]
pub(crate) enum JobInput<'a> {
    /// The arguments of a job in template mode.
    Args(&'a JobArgs<'a>),
    /// A plain command line.
    Command(&'a [u8]),
}

impl ResultsDir {
    /// Creates `root` (and its parents) if needed and checks that files can be
    /// made in it, before any job runs.
    ///
    /// # Errors
    /// Why `root` cannot hold results.
    pub(crate) fn open(root: &Path, names: Vec<Vec<u8>>) -> io::Result<ResultsDir> {
        fs::create_dir_all(root)?;
        // Directories and files will be made in it: check with one of each.
        let probe = tempfile::Builder::new()
            .prefix(".atp-run-probe")
            .tempdir_in(root)?;
        tempfile::tempfile_in(probe.path())?;
        Ok(ResultsDir {
            root: root.to_owned(),
            names,
            failed: AtomicBool::new(false),
        })
    }

    /// The directory of a job's files (see the module header).
    pub(crate) fn job_dir(&self, input: JobInput<'_>) -> PathBuf {
        let mut dir = self.root.clone();
        let mut push = |source: &[u8], value: &[u8]| {
            dir.push(std::ffi::OsStr::from_bytes(&escape(source)));
            dir.push(std::ffi::OsStr::from_bytes(&escape(value)));
        };
        match input {
            JobInput::Command(command) => push(b"1", command),
            JobInput::Args(args) => {
                let width = args.values().len().checked_div(args.rows()).unwrap_or(0);
                let order = self.column_order(width);
                for r in 0..args.rows() {
                    let row = args.row(r);
                    for &(column, ref source) in &order {
                        push(source, row[column]);
                    }
                }
            }
        }
        dir
    }

    /// The columns in the order their directories nest, each with its source
    /// name: numbers in order; `--header :` names sorted as GNU parallel sorts
    /// them (by their leading number, then as text).
    fn column_order(&self, width: usize) -> Vec<(usize, Vec<u8>)> {
        let mut order: Vec<(usize, Vec<u8>)> = (0..width)
            .map(|c| match self.names.get(c) {
                Some(name) => (c, name.clone()),
                None => (c, (c + 1).to_string().into_bytes()),
            })
            .collect();
        if !self.names.is_empty() {
            order
                .sort_by(|(_, a), (_, b)| leading_number(a).cmp(&leading_number(b)).then(a.cmp(b)));
        }
        order
    }

    /// Makes `dir` and fresh files for an attempt of job `seq` (see the module
    /// invariants); returns the capture the executor fills. `tmpdir` is where the
    /// capture makes temporary files if it is ever reused.
    ///
    /// # Errors
    /// An error naming the file that could not be made.
    pub(crate) fn start(&self, dir: &Path, seq: u64, tmpdir: &Path) -> io::Result<Capture> {
        let named = |e: io::Error, path: &Path| {
            io::Error::new(
                e.kind(),
                format!("--results: cannot write {}: {e}", path.display()),
            )
        };
        fs::create_dir_all(dir).map_err(|e| named(e, dir))?;
        for name in FILES {
            let path = dir.join(name);
            match fs::remove_file(&path) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(named(e, &path)),
                _ => {}
            }
        }
        let create = |name: &str| {
            let path = dir.join(name);
            OpenOptions::new()
                .write(true)
                .read(true)
                .create_new(true)
                .open(&path)
                .map_err(|e| named(e, &path))
        };
        create("seq")?
            .write_all(seq.to_string().as_bytes())
            .map_err(|e| named(e, &dir.join("seq")))?;
        let (stdout, stderr) = (create("stdout")?, create("stderr")?);
        Capture::on_files(tmpdir.to_owned(), stdout, stderr)
    }

    /// Whether an `exitval` could not be written.
    pub(crate) fn failed(&self) -> bool {
        self.failed.load(Ordering::Relaxed)
    }

    /// The attempt whose files are in `dir` ended with `result`: writes its
    /// `exitval`; a job cancelled before it started leaves nothing. Returns the
    /// error naming the file the first time one cannot be written.
    pub(crate) fn finish(&self, dir: &Path, result: &Result<JobEnd, JobError>) -> Option<String> {
        let text = match result {
            Ok(end) => exitval(end),
            Err(JobError::Cancelled) => {
                for name in FILES {
                    let _ = fs::remove_file(dir.join(name));
                }
                // Only if empty; its parents may be another job's being made.
                let _ = fs::remove_dir(dir);
                return None;
            }
            Err(_) => return None,
        };
        let path = dir.join("exitval");
        match File::create(&path).and_then(|mut f| f.write_all(text.as_bytes())) {
            Err(e) if !self.failed.swap(true, Ordering::Relaxed) => {
                Some(format!("--results: cannot write {}: {e}", path.display()))
            }
            _ => None,
        }
    }
}

/// What `exitval` says of a job that ended (see the module header).
fn exitval(end: &JobEnd) -> String {
    match end.status {
        _ if end.timed_out => "timeout".to_owned(),
        ExitStatusKind::Exited(code) => code.to_string(),
        ExitStatusKind::Signaled { signal } => signal_name(signal).to_owned(),
    }
}

/// A value (or a source name) as one directory name; see the module header.
pub(crate) fn escape(value: &[u8]) -> Vec<u8> {
    match value {
        b"" => return b"\\e".to_vec(),
        b"." => return b"\\.".to_vec(),
        b".." => return b"\\.\\.".to_vec(),
        _ => {}
    }
    let mut out = Vec::with_capacity(value.len());
    for &b in value {
        match b {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0 => out.extend_from_slice(b"\\0"),
            b'/' => out.extend_from_slice(b"\\_"),
            _ => out.push(b),
        }
    }
    if out.len() > NAME_MAX {
        let hash = format!("\\#{:016x}", fnv1a(value));
        out.truncate(NAME_MAX - hash.len());
        out.extend_from_slice(hash.as_bytes());
    }
    out
}

/// 64-bit FNV-1a: a stable hash (the same in every build, unlike std's), so a
/// long value names the same directory in every run (for `--resume`).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// The number a name starts with (0 if none), as Perl's `<=>` sees it.
fn leading_number(name: &[u8]) -> u128 {
    name.iter()
        .take_while(|b| b.is_ascii_digit())
        .fold(0u128, |n, &d| {
            n.saturating_mul(10).saturating_add(u128::from(d - b'0'))
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run::input::job_args::encode;
    use std::time::Duration;

    #[test]
    fn values_are_escaped_as_gnu_parallel_does() {
        assert_eq!(escape(b"a/b"), b"a\\_b");
        assert_eq!(escape(b"tab\tt"), b"tab\\tt");
        assert_eq!(escape(b"back\\s"), b"back\\\\s");
        assert_eq!(escape(b"nul\0"), b"nul\\0");
        assert_eq!(escape(b"x y*\n"), b"x y*\n");
        assert_eq!(escape(b"/"), b"\\_");
    }

    #[test]
    fn names_that_would_leave_or_share_a_directory_are_escaped() {
        assert_eq!(escape(b""), b"\\e");
        assert_eq!(escape(b"."), b"\\.");
        assert_eq!(escape(b".."), b"\\.\\.");
        assert_eq!(escape(b"..."), b"...");
        // A real backslash is doubled, so these never collide with a value.
        assert_ne!(escape(b"\\e"), escape(b""));
        assert_ne!(escape(b"\\."), escape(b"."));
    }

    #[test]
    fn long_values_are_cut_with_a_hash_that_tells_them_apart() {
        let a = vec![b'x'; 300];
        let mut b = a.clone();
        b[299] = b'y';
        let (ea, eb) = (escape(&a), escape(&b));
        assert_eq!((ea.len(), eb.len()), (NAME_MAX, NAME_MAX));
        assert_ne!(ea, eb);
        assert!(ea.starts_with(&[b'x'; 237]));
        assert_eq!(&ea[237..239], b"\\#");
        // Stable across runs and builds.
        assert_eq!(escape(&a), ea);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
        // Exactly NAME_MAX bytes stays whole.
        assert_eq!(escape(&[b'x'; NAME_MAX]), vec![b'x'; NAME_MAX]);
    }

    fn dir(names: &[&str]) -> ResultsDir {
        ResultsDir {
            root: PathBuf::from("R"),
            names: names.iter().map(|n| n.as_bytes().to_vec()).collect(),
            failed: AtomicBool::new(false),
        }
    }

    #[test]
    fn each_value_nests_under_its_source() {
        let two = encode(&[[&b"a/x"[..], b"c"]]);
        let args = JobArgs::decode(&two);
        assert_eq!(
            dir(&[]).job_dir(JobInput::Args(&args)),
            Path::new("R/1/a\\_x/2/c")
        );
        let rows = encode(&[[&b"a"[..]], [b"b"]]);
        let args = JobArgs::decode(&rows);
        assert_eq!(
            dir(&[]).job_dir(JobInput::Args(&args)),
            Path::new("R/1/a/1/b")
        );
        assert_eq!(
            dir(&[]).job_dir(JobInput::Command(b"echo a/b")),
            Path::new("R/1/echo a\\_b")
        );
    }

    #[test]
    fn header_names_name_the_sources_sorted() {
        let two = encode(&[[&b"1"[..], b"3"]]);
        let args = JobArgs::decode(&two);
        assert_eq!(
            dir(&["zz", "aa"]).job_dir(JobInput::Args(&args)),
            Path::new("R/aa/3/zz/1")
        );
        assert_eq!(
            dir(&["10b", "9a"]).job_dir(JobInput::Args(&args)),
            Path::new("R/9a/3/10b/1")
        );
    }

    #[test]
    fn exitval_says_code_signal_or_timeout() {
        let end = |status, timed_out| JobEnd::fixture(status, Duration::ZERO, timed_out);
        assert_eq!(exitval(&end(ExitStatusKind::Exited(3), false)), "3");
        assert_eq!(
            exitval(&end(ExitStatusKind::Signaled { signal: 15 }, false)),
            "SIGTERM"
        );
        assert_eq!(
            exitval(&end(ExitStatusKind::Signaled { signal: 15 }, true)),
            "timeout"
        );
    }

    #[test]
    fn an_attempt_gets_new_files_and_a_cancelled_one_leaves_none() -> io::Result<()> {
        let tmp = tempfile::tempdir()?;
        let results = ResultsDir::open(&tmp.path().join("out"), Vec::new())?;
        let job = results.job_dir(JobInput::Command(b"x"));
        let mut cap = results.start(&job, 7, tmp.path())?;
        let (out, _err) = cap.files_for_job()?;
        (&out).write_all(b"first")?;
        let end = JobEnd::fixture(ExitStatusKind::Exited(1), Duration::ZERO, false);
        assert_eq!(results.finish(&job, &Ok(end)), None);
        assert_eq!(fs::read(job.join("seq"))?, b"7");
        assert_eq!(fs::read(job.join("exitval"))?, b"1");
        // The next attempt: the earlier one's writer no longer reaches the file.
        let _cap = results.start(&job, 7, tmp.path())?;
        (&out).write_all(b"late")?;
        assert_eq!(fs::read(job.join("stdout"))?, b"");
        assert!(!job.join("exitval").exists());
        assert_eq!(results.finish(&job, &Err(JobError::Cancelled)), None);
        assert!(!job.exists());
        assert!(tmp.path().join("out/1").is_dir());
        Ok(())
    }
}
