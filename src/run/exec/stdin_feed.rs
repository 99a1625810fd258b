//! Writing a job's `--pipe` block to its standard input, for the local executor.
//!
//! Owns: [`with_block`] (feeding the block beside whatever the worker does while the
//! job runs) and [`feed`] (the writes themselves).
//!
//! Invariants:
//! - The pipe is closed as soon as the whole block is in it, so the job sees end of
//!   file; it is never left open past the job's end.
//! - A job that does not read all of its block never hangs the run: a write that
//!   fails with `EPIPE` (the job closed its stdin, or ended) ends the feeding, and
//!   while the pipe stays full the leader's exit is checked every [`EXIT_CHECK`],
//!   so a background process left holding the pipe without reading cannot keep the
//!   job going. Either way the block was not all taken: the job is reported as GNU
//!   parallel reports it, killed by SIGPIPE (a block the pipe holds whole, 64 KiB
//!   on Linux, may be written before the job ends, and then counts as read: the
//!   same race as GNU's).
//! - The writes are non-blocking and polled: the worker (or, with `--line-buffer`,
//!   a scoped thread beside the worker's output pump) never blocks on a job that
//!   has stopped reading.

use std::io::{self, Write};
use std::os::fd::AsFd;
use std::process::{Child, ChildStdin};

use nix::errno::Errno;
use nix::fcntl::{FcntlArg, OFlag, fcntl};
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::unistd::Pid;

use crate::run::exec::pump::EXIT_CHECK;
use crate::run::exec::wait::pid_has_exited;
use crate::run::job::JobStdin;

/// Runs `pump` (the worker's duty while the job runs) and feeds the job its block,
/// if it has one: after each other when `pump` returns at once (`concurrent`
/// false), side by side on a scoped thread otherwise. Returns `pump`'s result, and
/// sets `unread` if the job did not take its whole block.
///
/// # Errors
/// `pump`'s error, or a failure to poll or write the pipe.
pub(crate) fn with_block(
    child: &mut Child,
    stdin: JobStdin<'_>,
    concurrent: bool,
    unread: &mut bool,
    pump: impl FnOnce(&mut Child) -> io::Result<()>,
) -> io::Result<()> {
    let (JobStdin::Block(block), Some(pipe)) = (stdin, child.stdin.take()) else {
        return pump(child);
    };
    let pid = Pid::from_raw(i32::try_from(child.id()).map_err(io::Error::other)?);
    if !concurrent {
        *unread = !feed(pipe, block, pid)?;
        return pump(child);
    }
    std::thread::scope(|scope| {
        let feeder = std::thread::Builder::new()
            .name("atp-run-stdin".into())
            .spawn_scoped(scope, move || feed(pipe, block, pid))?;
        let pumped = pump(child);
        let fed = feeder
            .join()
            .unwrap_or_else(|_| Err(io::Error::other("the stdin feeder panicked")));
        *unread = !fed?;
        pumped
    })
}

/// Writes `block` to `pipe` and closes it. Returns whether the whole block was
/// written (false: the job closed its stdin, or its leader `pid` ended with the
/// pipe full).
///
/// # Errors
/// A failure to set up, poll or write the pipe, other than the job going away.
pub(crate) fn feed(mut pipe: ChildStdin, block: &[u8], pid: Pid) -> io::Result<bool> {
    let flags = fcntl(&pipe, FcntlArg::F_GETFL).map_err(io::Error::from)?;
    let flags = OFlag::from_bits_retain(flags) | OFlag::O_NONBLOCK;
    fcntl(&pipe, FcntlArg::F_SETFL(flags)).map_err(io::Error::from)?;
    // The pipe keeps its default size (64 KiB): a larger one would hold whole
    // blocks, and a job that reads none of its block would then look as if it had.
    let timeout = PollTimeout::try_from(EXIT_CHECK).unwrap_or(PollTimeout::MAX);
    let mut rest = block;
    while !rest.is_empty() {
        match pipe.write(rest) {
            Ok(n) => rest = &rest[n..],
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => return Ok(false),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                let mut fds = [PollFd::new(pipe.as_fd(), PollFlags::POLLOUT)];
                match poll(&mut fds, timeout) {
                    // Full for a whole EXIT_CHECK: is anyone still there?
                    Ok(0) if pid_has_exited(pid)? => return Ok(false),
                    Ok(_) | Err(Errno::EINTR) => {}
                    Err(e) => return Err(e.into()),
                }
            }
            Err(e) => return Err(e),
        }
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::{Command, Stdio};

    /// `sh -c script` in a process group of its own (so what it leaves behind can
    /// be killed with it), stdin and stdout piped.
    fn spawn(script: &str) -> Child {
        use std::os::unix::process::CommandExt;
        Command::new("/bin/sh")
            .arg("-c")
            .arg(script)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .process_group(0)
            .spawn()
            .unwrap()
    }

    fn pid(child: &Child) -> Pid {
        Pid::from_raw(i32::try_from(child.id()).unwrap())
    }

    #[test]
    fn a_reader_gets_the_whole_block_and_end_of_file() {
        let mut child = spawn("wc -c");
        let block = vec![b'x'; 3 << 20];
        let pipe = child.stdin.take().unwrap();
        // wc reads while we write: more than any pipe holds goes through.
        assert!(feed(pipe, &block, pid(&child)).unwrap());
        let out = child.wait_with_output().unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "3145728");
    }

    #[test]
    fn a_job_that_does_not_read_ends_the_feeding() {
        // The last keeps the pipe open in a background sleep that never reads it.
        for script in ["exit 0", "exec 0<&-; sleep 0.2", "sleep 3 0<&0 & exit 0"] {
            let mut child = spawn(script);
            let block = vec![b'x'; 4 << 20];
            let pipe = child.stdin.take().unwrap();
            assert!(!feed(pipe, &block, pid(&child)).unwrap(), "{script}");
            child.wait().unwrap();
            // The background sleep, if any: nothing outlives the test.
            let _ = nix::sys::signal::killpg(pid(&child), nix::sys::signal::Signal::SIGKILL);
        }
    }
}
