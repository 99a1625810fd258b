//! Reading a running job's output line by line (`--line-buffer`), for an executor
//! that hands its job's pipes to a line sink.
//!
//! Owns: [`LineSplitter`]
//! (which bytes of a stream form complete lines so far) and [`pump`] (reading a
//! job's stdout and stderr pipes on the worker thread, with `poll`, no extra
//! threads).
//!
//! Invariants:
//! - The splitter hands out only whole lines while the job runs; the partial last
//!   line is handed out when the stream ends ([`LineSplitter::finish`]). A line
//!   longer than [`MAX_PARTIAL`] is handed out in pieces (so memory stays bounded
//!   for a job writing gigabytes without a newline): only then can a line be split.
//! - [`pump`] returns once both pipes reached end of file, or once the leader has
//!   exited and what was already in the pipes was read (a background process the
//!   job left holding a pipe cannot keep the job "running"; what it writes later is
//!   lost, and it gets SIGPIPE). It checks for that exit at least every
//!   [`EXIT_CHECK`], also while a background writer keeps a pipe busy, and
//!   otherwise wakes only when there is something to read. It never reaps
//!   the leader (see `wait::has_exited`): the executor unregisters the group
//!   first, so a `--timeout` can never signal a reused pgid.

use std::io::{self, Read};
use std::os::fd::AsFd;
use std::process::Child;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::fcntl::{FcntlArg, OFlag, fcntl};
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};

use crate::run::exec::wait::has_exited;
use crate::run::job::Stream;

/// Longest partial line kept while waiting for its newline.
pub const MAX_PARTIAL: usize = 1 << 20;

/// How often [`pump`] checks whether the leader exited while its pipes stay open.
pub const EXIT_CHECK: Duration = Duration::from_millis(100);

/// Cuts a stream into runs of whole lines.
#[derive(Debug, Default)]
pub struct LineSplitter {
    partial: Vec<u8>,
}

impl LineSplitter {
    /// Adds `bytes` and calls `emit` with the whole lines now available (several at
    /// once, all ending with a newline), if any.
    pub fn push(&mut self, bytes: &[u8], mut emit: impl FnMut(&[u8])) {
        let Some(last) = bytes.iter().rposition(|&b| b == b'\n') else {
            self.partial.extend_from_slice(bytes);
            if self.partial.len() >= MAX_PARTIAL {
                emit(&self.partial);
                self.partial.clear();
            }
            return;
        };
        let (lines, rest) = bytes.split_at(last + 1);
        if self.partial.is_empty() {
            emit(lines);
        } else {
            self.partial.extend_from_slice(lines);
            emit(&self.partial);
            self.partial.clear();
        }
        self.partial.extend_from_slice(rest);
    }

    /// The stream ended: calls `emit` with the partial last line, if any.
    pub fn finish(&mut self, mut emit: impl FnMut(&[u8])) {
        if !self.partial.is_empty() {
            emit(&self.partial);
            self.partial.clear();
        }
    }
}

/// One pipe being pumped.
struct Source<R> {
    pipe: Option<R>,
    stream: Stream,
    lines: LineSplitter,
}

impl<R: Read + AsFd> Source<R> {
    fn new(pipe: Option<R>, stream: Stream) -> io::Result<Source<R>> {
        if let Some(pipe) = &pipe {
            let flags = fcntl(pipe, FcntlArg::F_GETFL).map_err(io::Error::from)?;
            let flags = OFlag::from_bits_retain(flags) | OFlag::O_NONBLOCK;
            fcntl(pipe, FcntlArg::F_SETFL(flags)).map_err(io::Error::from)?;
        }
        Ok(Source {
            pipe,
            stream,
            lines: LineSplitter::default(),
        })
    }

    /// Reads what is there (at most `max_reads` reads), emitting whole lines;
    /// closes the pipe and emits the partial line at end of file.
    fn read_available(
        &mut self,
        buf: &mut [u8],
        max_reads: usize,
        emit: &mut dyn FnMut(Stream, &[u8]),
    ) -> io::Result<()> {
        let Some(pipe) = self.pipe.as_mut() else {
            return Ok(());
        };
        let stream = self.stream;
        for _ in 0..max_reads {
            match pipe.read(buf) {
                Ok(0) => {
                    self.pipe = None;
                    self.lines.finish(|b| emit(stream, b));
                    return Ok(());
                }
                Ok(n) => self.lines.push(&buf[..n], |b| emit(stream, b)),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Stops reading: emits the partial line and closes the pipe.
    fn close(&mut self, emit: &mut dyn FnMut(Stream, &[u8])) {
        let stream = self.stream;
        self.lines.finish(|b| emit(stream, b));
        self.pipe = None;
    }
}

/// Reads the job's stdout and stderr pipes (taken from `child`) until both end or
/// the leader exits, calling `emit` with whole lines as they complete, and with
/// each stream's partial last line at its end. See the module invariants.
///
/// # Errors
/// Failure to poll or read a pipe.
pub fn pump(child: &mut Child, emit: &mut dyn FnMut(Stream, &[u8])) -> io::Result<()> {
    let mut out = Source::new(child.stdout.take(), Stream::Stdout)?;
    let mut err = Source::new(child.stderr.take(), Stream::Stderr)?;
    let mut buf = vec![0u8; 64 * 1024];
    let timeout = PollTimeout::try_from(EXIT_CHECK).unwrap_or(PollTimeout::MAX);
    let mut last_check = Instant::now();
    loop {
        let (out_ready, err_ready) = {
            let mut fds = Vec::with_capacity(2);
            let watched = PollFlags::POLLIN;
            if let Some(pipe) = &out.pipe {
                fds.push(PollFd::new(pipe.as_fd(), watched));
            }
            if let Some(pipe) = &err.pipe {
                fds.push(PollFd::new(pipe.as_fd(), watched));
            }
            if fds.is_empty() {
                return Ok(());
            }
            match poll(&mut fds, timeout) {
                Ok(_) => {}
                Err(Errno::EINTR) => continue,
                Err(e) => return Err(e.into()),
            }
            // POLLHUP and POLLERR are reported whatever was asked: any event
            // means a read will not block.
            let ready = |fd: &PollFd<'_>| fd.revents().is_some_and(|r| !r.is_empty());
            let first = fds.first().is_some_and(ready);
            let second = fds.get(1).is_some_and(ready);
            match (out.pipe.is_some(), err.pipe.is_some()) {
                (true, true) => (first, second),
                (true, false) => (first, false),
                _ => (false, first),
            }
        };
        if out_ready {
            out.read_available(&mut buf, 16, emit)?;
        }
        if err_ready {
            err.read_available(&mut buf, 16, emit)?;
        }
        // A pipe kept busy by a background writer must not hide the leader's
        // exit: it is checked when the pipes are quiet, and at least every
        // EXIT_CHECK however busy they are.
        let check = (!out_ready && !err_ready) || last_check.elapsed() >= EXIT_CHECK;
        if check {
            last_check = Instant::now();
        }
        if check && has_exited(child)? {
            // The leader is gone but something holds a pipe: read what is
            // already there, then stop.
            out.read_available(&mut buf, 16, emit)?;
            err.read_available(&mut buf, 16, emit)?;
            out.close(emit);
            err.close(emit);
            return Ok(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run::exec::local::testutil::{Reaper, find, unique_marker};
    use std::process::{Command, Stdio};

    fn split(chunks: &[&[u8]]) -> Vec<Vec<u8>> {
        let mut s = LineSplitter::default();
        let mut out = Vec::new();
        for chunk in chunks {
            s.push(chunk, |b| out.push(b.to_vec()));
        }
        s.finish(|b| out.push(b.to_vec()));
        out
    }

    #[test]
    fn only_whole_lines_come_out_until_the_end() {
        assert_eq!(
            split(&[b"ab", b"c\nde", b"f\ng\nh", b"i"]),
            [&b"abc\n"[..], b"def\ng\n", b"hi"]
        );
        assert_eq!(split(&[b"a\n", b"b\n"]), [&b"a\n"[..], b"b\n"]);
        assert!(split(&[b"", b""]).is_empty());
    }

    #[test]
    fn a_huge_line_is_cut_to_bound_memory() {
        let big = vec![b'x'; MAX_PARTIAL];
        let out = split(&[&big, b"y\n"]);
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].len(), MAX_PARTIAL);
        assert_eq!(out[1], b"y\n");
    }

    #[test]
    fn pump_reads_both_streams_to_the_end() {
        let mut child = Command::new("/bin/sh")
            .arg("-c")
            .arg("for i in 1 2 3; do echo o$i; echo e$i >&2; done; printf tail")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (mut out, mut err) = (Vec::new(), Vec::new());
        pump(&mut child, &mut |s, b| {
            // Every piece handed out is whole lines, or the final partial one.
            assert!(b.ends_with(b"\n") || b == b"tail", "{b:?}");
            match s {
                Stream::Stdout => out.extend_from_slice(b),
                Stream::Stderr => err.extend_from_slice(b),
            }
        })
        .unwrap();
        assert!(child.wait().unwrap().success());
        assert_eq!(out, b"o1\no2\no3\ntail");
        assert_eq!(err, b"e1\ne2\ne3\n");
    }

    #[test]
    fn pump_returns_when_the_leader_exits_though_a_pipe_stays_open() {
        // The background sleep keeps both pipes open (they are its stdout and
        // stderr); the reaper kills it whatever happens.
        let m = unique_marker();
        let _reaper = Reaper(m.clone());
        let mut child = Command::new("/bin/sh")
            .arg("-c")
            .arg(format!("sleep {m} & echo done"))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut out = Vec::new();
        pump(&mut child, &mut |_, b| out.extend_from_slice(b)).unwrap();
        assert_eq!(out, b"done\n");
        assert!(child.wait().unwrap().success());
        assert_eq!(find(&m).len(), 1, "the background sleep outlived the pump");
    }

    #[test]
    fn pump_returns_when_the_leader_exits_though_a_background_writer_keeps_writing() {
        let m = unique_marker();
        let _reaper = Reaper(m.clone());
        // The writer carries the marker in its environment, so the reaper finds it.
        let mut child = Command::new("/bin/sh")
            .arg("-c")
            .arg("yes & yes & echo x")
            .env("ATP_TEST_MARK", &m)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // Two writers that never sleep keep a pipe readable at nearly every poll:
        // the pump used to wait for a quiet 100 ms, which took minutes to come.
        let t0 = std::time::Instant::now();
        let mut x = false;
        pump(&mut child, &mut |_, b| {
            x |= b.split(|&b| b == b'\n').any(|l| l == b"x");
        })
        .unwrap();
        assert!(t0.elapsed() < Duration::from_secs(30), "{:?}", t0.elapsed());
        assert!(x, "the job's own line is missing");
        assert!(child.wait().unwrap().success());
    }
}
