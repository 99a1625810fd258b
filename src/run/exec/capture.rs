//! Per-worker capture of a job's stdout and stderr into two anonymous temp files.
//!
//! Owns: the two capture files of one worker, and the lengths of the blocks
//! the last job wrote into them.
//!
//! Invariants:
//! - Output never passes through our memory: the child writes straight into the
//!   files (duplicated descriptors sharing the same open file description), and
//!   [`Capture::write_stdout_to`] / [`Capture::write_stderr_to`] copy with
//!   `io::copy`, which uses `copy_file_range`/`sendfile` where the writer allows.
//! - The files are opened `O_APPEND` (set once, when a file is created). A
//!   process left behind by a job therefore always appends past the block we
//!   recorded, and our own seek-to-0 for reading never redirects its writes
//!   into the middle of that block.
//! - A job's block is exactly `file[0..len]`, where `len` is the file length
//!   snapshotted when the job's leader was reaped (`Capture::job_finished`).
//! - A capture is handed to a new job only when it is clean: emptied and
//!   rewound, or — if the previous job's process group outlived its leader
//!   ("tainted") — replaced by brand-new files, so a lingering writer can
//!   never leak into the next job's block.
//! - A job's block can be cut short by a full file system (the job's own write
//!   failed with `ENOSPC`, which it may ignore): [`Capture::space_ran_out`] says
//!   when the capture files' file system has no free block left after a job, and
//!   the executor then fails the job instead of printing a short block as if it
//!   were whole.
//! - A capture made on files that must outlive it ([`Capture::on_files`]: the
//!   `--results` files of one job) is never emptied: its reset replaces its files
//!   with fresh temporary ones, whoever holds it (a `--keep-order` hold too).
//! - All descriptors are close-on-exec (std and `tempfile` guarantee it), so a
//!   job spawned by another worker never inherits this worker's files.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use nix::fcntl::{FcntlArg, OFlag, fcntl};

/// Lifecycle of a [`Capture`]'s files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Empty and rewound: may be handed to a job.
    Clean,
    /// Handed to a job (or holding its output); must be emptied before reuse.
    Used,
    /// A process of the previous job may still hold the files: must be replaced.
    Tainted,
}

/// Reusable capture of one job's stdout and stderr (one per worker thread).
///
/// Typical cycle, driven by an executor (`Executor::execute`): the job's output lands in
/// the files; the caller then prints the blocks with
/// [`write_stdout_to`](Self::write_stdout_to) /
/// [`write_stderr_to`](Self::write_stderr_to); the next job (or an
/// explicit [`reset`](Self::reset)) makes the capture clean again.
#[derive(Debug)]
pub struct Capture {
    dir: PathBuf,
    stdout: File,
    stderr: File,
    stdout_len: u64,
    stderr_len: u64,
    state: State,
    /// The files are a job's `--results` files: never truncated.
    kept: bool,
}

impl Capture {
    /// Creates a capture whose anonymous temp files live in `dir`
    /// (callers normally pass `std::env::temp_dir()`, which honours `TMPDIR`).
    ///
    /// # Errors
    /// An error naming `dir` if the files cannot be created there.
    pub fn new(dir: impl Into<PathBuf>) -> io::Result<Self> {
        let dir = dir.into();
        let stdout = new_capture_file(&dir)?;
        let stderr = new_capture_file(&dir)?;
        Ok(Self {
            dir,
            stdout,
            stderr,
            stdout_len: 0,
            stderr_len: 0,
            state: State::Clean,
            kept: false,
        })
    }

    /// A capture whose files are `stdout` and `stderr` (a job's `--results`
    /// files, empty and just created), set to append mode. They are never emptied:
    /// once used, a reset replaces them with temporary files made in `dir`.
    ///
    /// # Errors
    /// Failure to set `O_APPEND`.
    pub(crate) fn on_files(dir: PathBuf, stdout: File, stderr: File) -> io::Result<Self> {
        set_append(&stdout)?;
        set_append(&stderr)?;
        Ok(Self {
            dir,
            stdout,
            stderr,
            stdout_len: 0,
            stderr_len: 0,
            state: State::Clean,
            kept: true,
        })
    }

    /// Length of the last job's stdout block, in bytes.
    pub fn stdout_len(&self) -> u64 {
        self.stdout_len
    }

    /// Length of the last job's stderr block, in bytes.
    pub fn stderr_len(&self) -> u64 {
        self.stderr_len
    }

    /// Whether a process of the last job may still hold the files; if so the
    /// next [`reset`](Self::reset) replaces them instead of emptying them.
    #[cfg(test)]
    pub fn is_tainted(&self) -> bool {
        self.state == State::Tainted
    }

    /// Copies the last job's stdout block to `w`; returns the bytes copied.
    ///
    /// May be called several times; each call copies the whole block.
    ///
    /// # Errors
    /// Any error seeking/reading the capture file or writing to `w`.
    pub fn write_stdout_to<W: Write + ?Sized>(&mut self, w: &mut W) -> io::Result<u64> {
        copy_prefix(&self.stdout, self.stdout_len, w)
    }

    /// Copies the last job's stderr block to `w`; returns the bytes copied.
    ///
    /// May be called several times; each call copies the whole block.
    ///
    /// # Errors
    /// Any error seeking/reading the capture file or writing to `w`.
    pub fn write_stderr_to<W: Write + ?Sized>(&mut self, w: &mut W) -> io::Result<u64> {
        copy_prefix(&self.stderr, self.stderr_len, w)
    }

    /// A reader of the last job's stdout block (for copies that transform it:
    /// `--tag`, `--json`). Starts at the beginning of the block; each block has
    /// its own file, so a stdout and a stderr reader may be used in turn.
    ///
    /// # Errors
    /// Failure to seek the capture file.
    pub fn stdout_block(&self) -> io::Result<io::Take<&File>> {
        block_reader(&self.stdout, self.stdout_len)
    }

    /// A reader of the last job's stderr block; see
    /// [`stdout_block`](Self::stdout_block).
    ///
    /// # Errors
    /// Failure to seek the capture file.
    pub fn stderr_block(&self) -> io::Result<io::Take<&File>> {
        block_reader(&self.stderr, self.stderr_len)
    }

    /// Whether the last job's stdout (`stderr == false`) or stderr block is
    /// empty or ends with a newline (a terminal then needs none added).
    pub fn ends_with_newline(&self, stderr: bool) -> bool {
        use std::os::unix::fs::FileExt;
        let (file, len) = match stderr {
            false => (&self.stdout, self.stdout_len),
            true => (&self.stderr, self.stderr_len),
        };
        let mut last = [0u8];
        len == 0 || (file.read_exact_at(&mut last, len - 1).is_ok() && last[0] == b'\n')
    }

    /// Makes the capture clean for the next job: empties and rewinds both
    /// files, or, if the capture is tainted, replaces them with fresh files.
    ///
    /// Cheap no-op when already clean. [`files_for_job`](Self::files_for_job)
    /// calls it itself, so executors need not.
    ///
    /// # Errors
    /// Truncate/seek errors, or failure to create replacement files (the
    /// capture then stays tainted and the next reset retries).
    pub fn reset(&mut self) -> io::Result<()> {
        match self.state {
            State::Clean => return Ok(()),
            State::Tainted | State::Used if self.kept => {
                let stdout = new_capture_file(&self.dir)?;
                let stderr = new_capture_file(&self.dir)?;
                self.stdout = stdout;
                self.stderr = stderr;
                self.kept = false;
            }
            State::Tainted => {
                // Create both before touching self, so a failure leaves the
                // capture consistently tainted.
                let stdout = new_capture_file(&self.dir)?;
                let stderr = new_capture_file(&self.dir)?;
                self.stdout = stdout;
                self.stderr = stderr;
            }
            State::Used => {
                // Mark tainted until both are truncated, so a half-done reset
                // is retried by replacing the files. Only files that received
                // output need truncating (most jobs print little or nothing),
                // and no seek is needed: the files are opened O_APPEND, so the
                // next job's writes land at the new end, and reads seek first.
                self.state = State::Tainted;
                for (f, len) in [
                    (&self.stdout, self.stdout_len),
                    (&self.stderr, self.stderr_len),
                ] {
                    if len > 0 {
                        f.set_len(0)?;
                    }
                }
            }
        }
        self.stdout_len = 0;
        self.stderr_len = 0;
        self.state = State::Clean;
        Ok(())
    }

    /// Makes the capture clean and returns the files a job writes its stdout and
    /// stderr to (duplicates: any executor can hand them to its job).
    ///
    /// # Errors
    /// Reset errors, or failure to duplicate a descriptor (e.g. `EMFILE`).
    pub(crate) fn files_for_job(&mut self) -> io::Result<(File, File)> {
        self.reset()?;
        self.state = State::Used;
        let out = self.stdout.try_clone().map_err(|e| dup_error(&e))?;
        let err = self.stderr.try_clone().map_err(|e| dup_error(&e))?;
        Ok((out, err))
    }

    /// Records the job's block lengths once its leader has been reaped;
    /// `group_still_alive` taints the capture. Returns `(stdout_len, stderr_len)`.
    ///
    /// # Errors
    /// Failure to stat a capture file (the capture is then tainted).
    pub(crate) fn job_finished(&mut self, group_still_alive: bool) -> io::Result<(u64, u64)> {
        if group_still_alive {
            self.state = State::Tainted;
        }
        let lens = self
            .stdout
            .metadata()
            .and_then(|o| Ok((o.len(), self.stderr.metadata()?.len())));
        match lens {
            Ok((o, e)) => {
                self.stdout_len = o;
                self.stderr_len = e;
                Ok((o, e))
            }
            Err(e) => {
                self.taint();
                Err(e)
            }
        }
    }

    /// Whether the file system holding the capture files has no block left that
    /// a job of ours could write (a job's output may then have been cut short by
    /// `ENOSPC`). Root may write into the blocks reserved for it, others may not.
    /// GNU parallel makes the same check after each job (`exit_if_disk_full`).
    pub(crate) fn space_ran_out(&self) -> bool {
        match nix::sys::statvfs::fstatvfs(&self.stdout) {
            Ok(fs) if nix::unistd::geteuid().is_root() => fs.blocks_free() == 0,
            Ok(fs) => fs.blocks_available() == 0,
            Err(_) => false,
        }
    }

    /// The directory the capture files are in.
    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    /// Forgets any recorded output and forces replacement of the files at the
    /// next reset (used when a job ended abnormally).
    pub(crate) fn taint(&mut self) {
        self.stdout_len = 0;
        self.stderr_len = 0;
        self.state = State::Tainted;
    }
}

/// Creates one anonymous capture file in `dir`, in append mode.
fn new_capture_file(dir: &Path) -> io::Result<File> {
    let file = tempfile::tempfile_in(dir).map_err(|e| {
        io::Error::new(
            e.kind(),
            format!(
                "cannot create a temporary capture file in {}: {e}",
                dir.display()
            ),
        )
    })?;
    set_append(&file)?;
    Ok(file)
}

/// Puts `file` in append mode (see the module invariants).
fn set_append(file: &File) -> io::Result<()> {
    fcntl(file, FcntlArg::F_SETFL(OFlag::O_APPEND)).map_err(|errno| {
        io::Error::new(
            io::Error::from(errno).kind(),
            format!("cannot set O_APPEND on a capture file: {errno}"),
        )
    })?;
    Ok(())
}

fn dup_error(e: &io::Error) -> io::Error {
    io::Error::new(
        e.kind(),
        format!("cannot duplicate a capture file descriptor: {e}"),
    )
}

/// A reader of `file[0..len]`.
fn block_reader(mut file: &File, len: u64) -> io::Result<io::Take<&File>> {
    file.seek(SeekFrom::Start(0))?;
    Ok(file.take(len))
}

/// Copies `file[0..len]` to `w`.
fn copy_prefix<W: Write + ?Sized>(mut file: &File, len: u64, w: &mut W) -> io::Result<u64> {
    if len == 0 {
        return Ok(0);
    }
    file.seek(SeekFrom::Start(0))?;
    io::copy(&mut file.take(len), w)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    fn ino(f: &File) -> u64 {
        f.metadata().map(|m| m.ino()).unwrap_or(0)
    }

    #[test]
    fn missing_dir_error_names_dir() {
        let err = Capture::new("/nonexistent/atp-capture-dir").unwrap_err();
        assert!(
            err.to_string().contains("/nonexistent/atp-capture-dir"),
            "{err}"
        );
    }

    #[test]
    fn direct_writes_copy_and_reset() -> io::Result<()> {
        let mut cap = Capture::new(std::env::temp_dir())?;
        let (ino_out, ino_err) = (ino(&cap.stdout), ino(&cap.stderr));
        drop(cap.files_for_job()?);
        (&cap.stdout).write_all(b"hello")?;
        (&cap.stderr).write_all(b"oops")?;
        assert_eq!(cap.job_finished(false)?, (5, 4));
        let (mut o, mut e) = (Vec::new(), Vec::new());
        assert_eq!(cap.write_stdout_to(&mut o)?, 5);
        assert_eq!(cap.write_stderr_to(&mut e)?, 4);
        // Copying twice yields the same block.
        assert_eq!(cap.write_stdout_to(&mut o)?, 5);
        assert_eq!(
            (o.as_slice(), e.as_slice()),
            (&b"hellohello"[..], &b"oops"[..])
        );
        cap.reset()?;
        assert_eq!((cap.stdout_len(), cap.stderr_len()), (0, 0));
        assert_eq!(cap.stdout.metadata()?.len(), 0);
        // Not tainted: the same files are reused.
        assert_eq!((ino(&cap.stdout), ino(&cap.stderr)), (ino_out, ino_err));
        Ok(())
    }

    #[test]
    fn kept_files_are_replaced_never_emptied() -> io::Result<()> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("stdout");
        let out = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)?;
        let err = tempfile::tempfile()?;
        let mut cap = Capture::on_files(std::env::temp_dir(), out, err)?;
        let (job_out, _job_err) = cap.files_for_job()?;
        (&job_out).write_all(b"kept")?;
        assert_eq!(cap.job_finished(false)?, (4, 0));
        let mut o = Vec::new();
        cap.write_stdout_to(&mut o)?;
        assert_eq!(o, b"kept");
        cap.reset()?;
        // Reused for another job: its output goes elsewhere.
        drop(cap.files_for_job()?);
        (&cap.stdout).write_all(b"next")?;
        assert_eq!(std::fs::read(&path)?, b"kept");
        Ok(())
    }

    #[test]
    fn tainted_capture_gets_new_files_and_ignores_late_appends() -> io::Result<()> {
        let mut cap = Capture::new(std::env::temp_dir())?;
        drop(cap.files_for_job()?);
        let late = cap.stdout.try_clone()?;
        (&late).write_all(b"early")?;
        assert_eq!(cap.job_finished(true)?, (5, 0));
        assert!(cap.is_tainted());
        // A "lingering" writer appends while we read: block stays intact.
        let mut o = Vec::new();
        let mut f = &cap.stdout;
        f.seek(SeekFrom::Start(0))?;
        (&late).write_all(b"LATE")?;
        cap.write_stdout_to(&mut o)?;
        assert_eq!(o, b"early");
        let old = ino(&cap.stdout);
        cap.reset()?;
        assert_ne!(ino(&cap.stdout), old);
        (&late).write_all(b"more")?;
        assert_eq!(cap.stdout.metadata()?.len(), 0);
        Ok(())
    }
}
