//! The local executor: each job is `/bin/sh -c <command>` (or the `--shell`'s) in
//! its own process group, started and reaped by the worker thread that runs it
//! (the first [`Executor`]), at the `--nice` niceness (see `launch.rs`).
//!
//! Owns: the spawn/wait sequence of a job, and the [`ProcessRegistry`] of the groups
//! of its running jobs (by [`JobKey`]) and of what they left behind.
//!
//! What it does with the output it is given: [`JobOutput::Capture`] points the job's
//! stdout/stderr at the capture files; [`JobOutput::Lines`] gives it pipes, read on
//! the worker while it runs (`pump.rs`); [`JobOutput::Inherit`] gives it ours.
//!
//! Invariants:
//! - The child gets stdin from `/dev/null` (our stdin carries the command list), or
//!   a pipe its `--pipe` block is written to (`stdin_feed.rs`), its
//!   own process group (pgid == pid), the output above, and the variables GNU
//!   parallel gives a job (`PARALLEL_SSHHOST`, `PARALLEL_SEQ`, … see `job_env.rs`).
//!   Nothing else is configured (no `pre_exec`), so std keeps its `posix_spawn`
//!   fast path.
//! - Spawn happens outside any lock; the group is then registered. If the registry
//!   is already closed the new group is SIGKILLed, reaped, and the job reported as
//!   [`JobError::Cancelled`]: a job racing with cancellation is never left running.
//! - Every spawned leader is reaped here (blocking `Child::wait`) on every path, and
//!   forgotten by the registry *before* it is reaped: the exit is first observed
//!   with `waitid(WNOWAIT)`, which leaves the zombie (and so the pgid) in place, so
//!   nothing (the `--timeout` timer included) can signal a reused pgid. A
//!   `--line-buffer` pump checks for the exit the same way.
//! - The job's watcher (`--timeout`) is told after the group is registered and
//!   before the pump runs, and told the end before the group is forgotten.
//! - A captured job after which the capture files' file system is full fails
//!   (its output may have been cut short by `ENOSPC`): never a short block
//!   printed as if it were whole.
//! - After the leader is reaped, a group that still has live members is moved to
//!   the registry's lingering set and taints the capture (its files are replaced
//!   before the next job).

use std::io;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Child, ExitStatus, Stdio};
use std::time::{Duration, Instant, SystemTime};

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use tempfile::TempPath;

use crate::run::control::backoff::Backoff;
use crate::run::exec::adopted;
use crate::run::exec::executor::{
    Executor, JobOutput, JobWatch, RunningJob, SignalJob, TerminationReport,
};
use crate::run::exec::job_env::JobEnv;
use crate::run::exec::launch::{Launch, nice_this_thread};
use crate::run::exec::long_command::shell_command;
use crate::run::exec::pump::pump;
use crate::run::exec::registry::{ProcessRegistry, group_alive};
use crate::run::exec::spawn_limit::{SpawnLimit, is_refused};
use crate::run::exec::stdin_feed::with_block;
use crate::run::exec::wait::wait_exited_nowait;
use crate::run::job::{ExitStatusKind, JobEnd, JobError, JobKey, JobSpec, JobStdin, Stream};
use crate::run::values::termseq::TermSeq;

/// Runs jobs as local process groups.
#[derive(Debug, Default)]
pub(crate) struct LocalExecutor {
    registry: ProcessRegistry,
    /// atp-run is a child subreaper: what jobs leave outside their groups comes
    /// back to it, and is ended with the leftovers (`adopted.rs`).
    adopts: bool,
    /// Jobs running, and the cap the process limit taught us.
    limit: SpawnLimit,
    /// The shell and niceness of jobs.
    launch: Launch,
}

impl LocalExecutor {
    /// An open executor with no job running, that does not adopt orphans (for the
    /// local slots of `-S :`, beside the hosts' ssh connections).
    pub(crate) fn new() -> LocalExecutor {
        LocalExecutor::default()
    }

    /// An open executor for a whole run: makes this process a child subreaper, so
    /// that daemons jobs start (`setsid`) are ended with the leftovers. Only for a
    /// process whose children are all jobs of this executor: ending the adopted
    /// ones reaps every child left once the pool has stopped.
    pub(crate) fn adopting_orphans() -> LocalExecutor {
        adopted::become_subreaper();
        adopted::reap_on_sigchld();
        LocalExecutor {
            registry: ProcessRegistry::default(),
            adopts: true,
            limit: SpawnLimit::default(),
            launch: Launch::default(),
        }
    }

    /// Runs jobs with `launch`'s shell and niceness.
    pub(crate) fn with_launch(mut self, launch: Launch) -> LocalExecutor {
        self.launch = launch;
        self
    }

    /// Its registry of process groups.
    #[cfg(test)]
    pub(crate) fn registry(&self) -> &ProcessRegistry {
        &self.registry
    }
}

impl SignalJob for LocalExecutor {
    fn signal(&self, key: JobKey, signal: Signal) -> bool {
        self.registry.signal(key, signal)
    }
}

impl Executor for LocalExecutor {
    fn execute(
        &self,
        spec: &JobSpec<'_>,
        mut output: JobOutput<'_>,
        watch: Option<&dyn JobWatch>,
    ) -> Result<JobEnd, JobError> {
        // A spawn the process limit refuses (EAGAIN) waits and tries again
        // (spawn_limit.rs): the job did not fail, the machine was full.
        let (mut refusals, mut backoff) = (0, Backoff::default());
        loop {
            let closed = || self.registry.is_closed();
            let slot = self.limit.enter(closed).ok_or(JobError::Cancelled)?;
            match self.execute_once(spec, &mut output, watch) {
                Err(JobError::Spawn { source, .. }) if is_refused(&source) => {
                    let Some(pause) = self.limit.refused(slot, refusals + 1, &mut backoff) else {
                        return Err(JobError::Spawn {
                            program: self.launch.program_name(),
                            source,
                        });
                    };
                    if !pause.is_zero() {
                        refusals += 1;
                        std::thread::sleep(pause);
                    }
                }
                result => return result,
            }
        }
    }

    fn close(&self) {
        self.registry.close();
    }

    fn is_closed(&self) -> bool {
        self.registry.is_closed()
    }

    fn running(&self) -> Vec<RunningJob> {
        self.registry.running_jobs()
    }

    fn running_count(&self) -> usize {
        self.registry.running_count()
    }

    fn signal_running(&self, signal: Signal) -> usize {
        self.registry.signal_all(signal)
    }

    fn terminate_all(&self, seq: &TermSeq) -> TerminationReport {
        self.registry.terminate_all_seq(seq)
    }

    fn kill_now(&self) {
        self.registry.kill_now();
        if self.adopts {
            adopted::kill_adopted();
        }
    }

    fn stop_leftovers(&self, grace: Duration) -> usize {
        let lingering = self.registry.lingering_count();
        if lingering > 0 {
            log::warn!("terminating {lingering} background process group(s) left behind by jobs");
            self.registry.terminate_all(grace);
        }
        let adopted = match self.adopts {
            true => adopted::stop_adopted(grace, || self.registry.is_killing_now()),
            false => 0,
        };
        lingering + adopted
    }
}

/// A reaped leader, as [`LocalExecutor::spawn_and_wait`] saw it.
struct Reaped {
    status: ExitStatus,
    started: SystemTime,
    duration: Duration,
    /// Members of the group outlived the leader (they are now "lingering").
    group_alive: bool,
    /// Its watcher had started to stop it (`--timeout`).
    timed_out: bool,
}

impl Reaped {
    /// `unread`: the job ended without reading all of its `--pipe` block. Then it
    /// failed, killed by SIGPIPE, whatever its exit code, as GNU parallel reports
    /// it (its writer is the one SIGPIPE hits); a timeout or a signal that killed
    /// it is kept, as the better reason.
    fn input_unread(mut self, unread: bool) -> Reaped {
        if unread && !self.timed_out && self.status.code().is_some() {
            self.status = ExitStatus::from_raw(Signal::SIGPIPE as i32);
        }
        self
    }

    /// Its end, with the bytes of stdout and stderr that came through us and
    /// what its stdin was given.
    fn end(&self, stdout_len: u64, stderr_len: u64, stdin: JobStdin<'_>) -> JobEnd {
        JobEnd {
            status: ExitStatusKind::from_status(self.status),
            started: self.started,
            duration: self.duration,
            stdout_len,
            stderr_len,
            timed_out: self.timed_out,
            host: None,
            stdin_len: stdin.len(),
        }
    }
}

impl LocalExecutor {
    /// One try at running the job (see [`Executor::execute`]).
    fn execute_once(
        &self,
        spec: &JobSpec<'_>,
        output: &mut JobOutput<'_>,
        watch: Option<&dyn JobWatch>,
    ) -> Result<JobEnd, JobError> {
        if self.registry.is_closed() {
            return Err(JobError::Cancelled);
        }
        match output {
            JobOutput::Capture(capture) => {
                let (stdout, stderr) = capture.files_for_job().map_err(JobError::Capture)?;
                let (stdout, stderr) = (Stdio::from(stdout), Stdio::from(stderr));
                let mut unread = false;
                let fed = |child: &mut Child| {
                    with_block(child, spec.stdin, false, &mut unread, |_| Ok(()))
                };
                let reaped = match self.spawn_and_wait(spec, stdout, stderr, watch, fed) {
                    Ok(reaped) => reaped.input_unread(unread),
                    Err(err) => {
                        if !matches!(err, JobError::Spawn { .. }) {
                            capture.taint();
                        }
                        return Err(err);
                    }
                };
                let (stdout_len, stderr_len) = capture
                    .job_finished(reaped.group_alive)
                    .map_err(JobError::Capture)?;
                if capture.space_ran_out() {
                    let err = out_of_space(capture.dir());
                    capture.taint();
                    return Err(JobError::Capture(err));
                }
                Ok(reaped.end(stdout_len, stderr_len, spec.stdin))
            }
            JobOutput::Lines(emit) => {
                let (out, err) = (Stdio::piped(), Stdio::piped());
                let mut unread = false;
                let (mut stdout_len, mut stderr_len) = (0u64, 0u64);
                let mut counted = |stream: Stream, bytes: &[u8]| {
                    match stream {
                        Stream::Stdout => stdout_len += bytes.len() as u64,
                        Stream::Stderr => stderr_len += bytes.len() as u64,
                    }
                    emit(stream, bytes);
                };
                let pumped = |child: &mut Child| {
                    with_block(child, spec.stdin, true, &mut unread, |child| {
                        pump(child, &mut counted)
                    })
                };
                let reaped = self.spawn_and_wait(spec, out, err, watch, pumped)?;
                Ok(reaped
                    .input_unread(unread)
                    .end(stdout_len, stderr_len, spec.stdin))
            }
            JobOutput::Inherit => {
                let (out, err) = (Stdio::inherit(), Stdio::inherit());
                let mut unread = false;
                let fed = |child: &mut Child| {
                    with_block(child, spec.stdin, false, &mut unread, |_| Ok(()))
                };
                let reaped = self.spawn_and_wait(spec, out, err, watch, fed)?;
                Ok(reaped.input_unread(unread).end(0, 0, spec.stdin))
            }
        }
    }

    /// Spawns the job's shell with the given output, registers its group, tells
    /// `watch`, runs `pump`, waits for the leader to exit, tells `watch` the end,
    /// forgets the group and only then reaps the leader.
    fn spawn_and_wait(
        &self,
        spec: &JobSpec<'_>,
        stdout: Stdio,
        stderr: Stdio,
        watch: Option<&dyn JobWatch>,
        pump: impl FnOnce(&mut Child) -> io::Result<()>,
    ) -> Result<Reaped, JobError> {
        let start = Instant::now();
        let started = SystemTime::now();
        // In flight until it returns: a Ctrl-Z may stop the child before `exec`
        // (see the registry's invariants), and only a SIGCONT sweep that knows a
        // spawn is in flight will look for it. `_script` (a command too long for
        // `sh -c`) lives until the job ended.
        let spawning = self.registry.spawning();
        let spawned = spawn(spec, &self.launch, stdout, stderr);
        drop(spawning);
        let (mut child, pid, _script) = spawned?;
        let key = spec.key;
        if self
            .registry
            .register(key, pid, start, spec.command)
            .is_err()
        {
            kill_group_and_reap(pid, &mut child);
            return Err(JobError::Cancelled);
        }
        let token = watch.map(|w| w.started(key, start));
        let pumped = pump(&mut child);
        if pumped.is_err() {
            // The group is still registered (its leader unreaped): kill it there.
            if pid.as_raw() > 1 {
                let _ = killpg(pid, Signal::SIGKILL);
            }
        }
        // Observe the exit without reaping: the zombie leader keeps the pgid ours
        // until the registry has forgotten the group.
        let exited = wait_exited_nowait(pid);
        let duration = start.elapsed();
        let timed_out = match (watch, token) {
            (Some(w), Some(token)) => w.ended(token),
            _ => false,
        };
        // Forget the running job before reaping it (so nothing can signal a reused
        // pgid), but ask whether its group outlived it only after: while the leader
        // is an unreaped zombie the group always looks alive, and telling zombies
        // apart takes a scan of /proc — per job, that scan cost more than the spawn.
        // A group that still has members keeps its pgid, so recording it as
        // lingering after the reap is safe.
        self.registry.forget(key);
        let status = match exited.and_then(|()| child.wait()) {
            Ok(status) => status,
            Err(e) => {
                kill_group_and_reap(pid, &mut child);
                return Err(JobError::Wait(e));
            }
        };
        if self.adopts && pid.as_raw() > 1 && killpg(pid, None).is_ok() {
            // The job left members behind, now ours (live, or zombies): reap those
            // that ended, and the others as they die. Only then is the group's
            // liveness scanned, as before; a job that leaves nothing costs nothing.
            adopted::members_left();
        }
        let alive = group_alive(pid);
        if alive {
            self.registry.linger(pid);
        }
        if let Err(e) = pumped {
            return Err(JobError::Capture(e));
        }
        Ok(Reaped {
            status,
            started,
            duration,
            group_alive: alive,
            timed_out,
        })
    }
}

/// Starts `sh -c <command>` (`launch`'s shell, from this thread moved to its
/// niceness) in a process group of its own; returns it and its pid (which is its
/// pgid).
fn spawn(
    spec: &JobSpec<'_>,
    launch: &Launch,
    stdout: Stdio,
    stderr: Stdio,
) -> Result<(Child, Pid, Option<TempPath>), JobError> {
    let stdin = match spec.stdin {
        JobStdin::Null => Stdio::null(),
        JobStdin::Block(_) => Stdio::piped(),
    };
    let spawn_error = |source| JobError::Spawn {
        program: launch.program_name(),
        source,
    };
    if let Some(n) = launch.nice {
        nice_this_thread(n).map_err(spawn_error)?;
    }
    let (mut shell, script) = shell_command(&launch.program, spec.command).map_err(spawn_error)?;
    // The Command (holding our copies of the dup'd descriptors) drops here.
    // `{host}` and `{sshlogin}` of a job on this machine, and its number, slot
    // and our pid, as GNU parallel sets them.
    let spawned = shell
        .env("PARALLEL_SSHHOST", ":")
        .env("PARALLEL_SSHLOGIN", ":")
        .envs(JobEnv::of(spec).vars())
        .stdin(stdin)
        .stdout(stdout)
        .stderr(stderr)
        .process_group(0)
        .spawn();
    let mut child = spawned.map_err(spawn_error)?;
    match i32::try_from(child.id()) {
        Ok(pid) => Ok((child, Pid::from_raw(pid), script)),
        Err(_) => {
            // Cannot happen on Linux (pid_max <= 2^22); stay correct anyway.
            let _ = child.kill();
            let _ = child.wait();
            Err(JobError::Wait(io::Error::other("child pid out of range")))
        }
    }
}

/// The error of a job whose output may have been cut short because the capture
/// files' file system `dir` filled up.
fn out_of_space(dir: &std::path::Path) -> io::Error {
    io::Error::new(
        io::ErrorKind::StorageFull,
        format!(
            "the job's output may be incomplete: no space left in {} (set TMPDIR to a \
             directory with room)",
            dir.display()
        ),
    )
}

/// SIGKILLs the whole group and reaps its leader (best effort).
fn kill_group_and_reap(pid: Pid, child: &mut Child) {
    if pid.as_raw() > 1 {
        let _ = killpg(pid, Signal::SIGKILL);
    }
    let _ = child.wait();
    if group_alive(pid) {
        let _ = killpg(pid, Signal::SIGKILL);
    }
}

/// Helpers for tests that start real processes.
#[cfg(test)]
pub(crate) mod testutil {
    use std::fs;
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::time::{Duration, Instant};

    use nix::sys::signal::{Signal, kill};
    use nix::unistd::Pid;

    /// A marker unique to this test process and call, usable as a `sleep`
    /// argument: `1000.<pid><n>`.
    pub fn unique_marker() -> String {
        static N: AtomicU32 = AtomicU32::new(0);
        format!(
            "1000.{}{:04}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        )
    }

    /// A non-zombie process whose cmdline or environment contains a marker.
    #[derive(Debug)]
    pub struct Found {
        pub pid: i32,
        /// argv joined with spaces.
        pub cmdline: String,
    }

    fn contains(hay: &[u8], needle: &[u8]) -> bool {
        !needle.is_empty() && hay.windows(needle.len()).any(|w| w == needle)
    }

    /// Live processes (zombies have empty cmdline/environ, so they never
    /// match) whose cmdline or environ contains `marker`.
    pub fn find(marker: &str) -> Vec<Found> {
        let me = std::process::id().to_string();
        let mut out = Vec::new();
        let Some(pids) = crate::run::exec::registry::proc_pids() else {
            return out;
        };
        for pid in pids {
            if pid == me {
                continue;
            }
            let cmdline = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            let environ = fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
            if contains(&cmdline, marker.as_bytes()) || contains(&environ, marker.as_bytes()) {
                let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
                out.push(Found {
                    pid: pid.parse().unwrap_or(0),
                    cmdline: cmdline.trim_end().to_owned(),
                });
            }
        }
        out
    }

    /// Polls `cond` every 20 ms for up to 30 s (as the CLI tests do); returns whether it held.
    pub fn wait_until(mut cond: impl FnMut() -> bool) -> bool {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if cond() {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGKILLs every process carrying the marker when dropped (also on
    /// test failure), so no `sleep 1000` outlives the test.
    pub struct Reaper(pub String);

    impl Drop for Reaper {
        fn drop(&mut self) {
            for f in find(&self.0) {
                if f.pid > 1 {
                    let _ = kill(Pid::from_raw(f.pid), Signal::SIGKILL);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run::exec::capture::Capture;
    use crate::run::exec::local::testutil::{Reaper, find, unique_marker, wait_until};
    use crate::run::job::Stream;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::thread;

    type BoxError = Box<dyn std::error::Error>;
    type TestResult = Result<(), BoxError>;
    type RunOutput = (JobEnd, Vec<u8>, Vec<u8>);

    /// Runs `cmd` on `exec` with its output captured in `cap`, as a new job.
    fn run_job(cmd: &[u8], cap: &mut Capture, exec: &LocalExecutor) -> Result<JobEnd, JobError> {
        static NUMBER: AtomicU64 = AtomicU64::new(1);
        let spec = JobSpec {
            key: JobKey {
                number: NUMBER.fetch_add(1, Ordering::Relaxed),
                run: 0,
                attempt: 1,
            },
            slot: 1,
            command: cmd,
            stdin: JobStdin::Null,
            files: None,
        };
        exec.execute(&spec, JobOutput::Capture(cap), None)
    }

    fn capture() -> Capture {
        match Capture::new(std::env::temp_dir()) {
            Ok(c) => c,
            Err(e) => panic!("cannot create capture: {e}"),
        }
    }

    fn outputs(cap: &mut Capture) -> io::Result<(Vec<u8>, Vec<u8>)> {
        let (mut o, mut e) = (Vec::new(), Vec::new());
        cap.write_stdout_to(&mut o)?;
        cap.write_stderr_to(&mut e)?;
        Ok((o, e))
    }

    fn run(cmd: &[u8]) -> Result<RunOutput, BoxError> {
        let mut cap = capture();
        let reg = LocalExecutor::new();
        let exit = run_job(cmd, &mut cap, &reg)?;
        let (o, e) = outputs(&mut cap)?;
        assert_eq!(
            (exit.stdout_len, exit.stderr_len),
            (o.len() as u64, e.len() as u64)
        );
        assert_eq!(reg.registry().running_count(), 0);
        Ok((exit, o, e))
    }

    #[test]
    fn exit_code_passthrough() -> TestResult {
        let (exit, o, e) = run(b"exit 3")?;
        assert_eq!(exit.status, ExitStatusKind::Exited(3));
        assert!(!exit.success());
        assert!(o.is_empty() && e.is_empty());
        let (exit, ..) = run(b"true")?;
        assert!(exit.success());
        Ok(())
    }

    #[test]
    fn killed_by_signal() -> TestResult {
        let (exit, ..) = run(b"kill -9 $$")?;
        assert_eq!(exit.status, ExitStatusKind::Signaled { signal: 9 });
        Ok(())
    }

    #[test]
    fn command_not_found_is_127() -> TestResult {
        let (exit, o, e) = run(b"atp-no-such-command-7f3a")?;
        assert_eq!(exit.status, ExitStatusKind::Exited(127));
        assert!(o.is_empty());
        assert!(String::from_utf8_lossy(&e).contains("not found"));
        Ok(())
    }

    #[test]
    fn stdout_and_stderr_separate_and_exact() -> TestResult {
        let (exit, o, e) = run(b"printf 'out 1\\n'; printf 'err\\n' >&2; printf 'out 2'")?;
        assert!(exit.success());
        assert_eq!(o, b"out 1\nout 2");
        assert_eq!(e, b"err\n");
        Ok(())
    }

    #[test]
    fn large_output_exact() -> TestResult {
        let mut cap = capture();
        let reg = LocalExecutor::new();
        let exit = run_job(b"head -c 5000000 /dev/zero; printf E >&2", &mut cap, &reg)?;
        assert_eq!((exit.stdout_len, exit.stderr_len), (5_000_000, 1));
        let (o, e) = outputs(&mut cap)?;
        assert_eq!(o.len(), 5_000_000);
        assert!(o.iter().all(|&b| b == 0));
        assert_eq!(e, b"E");
        // File-to-file copy (the copy_file_range/sendfile path).
        let mut dest = tempfile::tempfile()?;
        assert_eq!(cap.write_stdout_to(&mut dest)?, 5_000_000);
        assert_eq!(dest.metadata()?.len(), 5_000_000);
        Ok(())
    }

    #[test]
    fn capture_reuse_does_not_leak() -> TestResult {
        let mut cap = capture();
        let reg = LocalExecutor::new();
        run_job(
            b"printf 'aaaaaaaaaa'; printf 'EEEEEEEE' >&2",
            &mut cap,
            &reg,
        )?;
        assert_eq!(
            outputs(&mut cap)?,
            (b"aaaaaaaaaa".to_vec(), b"EEEEEEEE".to_vec())
        );
        assert!(!cap.is_tainted());
        // No explicit reset: run_job resets.
        let exit = run_job(b"printf b", &mut cap, &reg)?;
        assert_eq!((exit.stdout_len, exit.stderr_len), (1, 0));
        assert_eq!(outputs(&mut cap)?, (b"b".to_vec(), Vec::new()));
        // Explicit reset, then an empty job.
        cap.reset()?;
        run_job(b":", &mut cap, &reg)?;
        assert_eq!(outputs(&mut cap)?, (Vec::new(), Vec::new()));
        Ok(())
    }

    #[test]
    fn non_utf8_command_bytes() -> TestResult {
        let (exit, o, _) = run(b"printf '%s' '\xff\xfe'")?;
        assert!(exit.success());
        assert_eq!(o, b"\xff\xfe");
        Ok(())
    }

    #[test]
    fn a_block_is_the_jobs_stdin_and_one_left_unread_is_sigpipe() -> TestResult {
        let reg = LocalExecutor::new();
        let mut cap = capture();
        let block = b"one\ntwo\n".repeat(20_000);
        let spec = JobSpec {
            stdin: JobStdin::Block(&block),
            ..JobSpec::first(b"cat")
        };
        let end = reg.execute(&spec, JobOutput::Capture(&mut cap), None)?;
        assert!(end.success());
        assert_eq!(outputs(&mut cap)?.0, block);
        // More than a pipe holds, never read: GNU parallel's SIGPIPE, whatever
        // the exit code; --line-buffer (fed from a thread beside the pump) too.
        let big = vec![b'x'; 1 << 20];
        let spec = JobSpec {
            command: b"exit 3",
            stdin: JobStdin::Block(&big),
            ..spec
        };
        let end = reg.execute(&spec, JobOutput::Capture(&mut cap), None)?;
        assert_eq!(end.status, ExitStatusKind::Signaled { signal: 13 });
        let mut lines = Vec::new();
        let mut emit = |_: Stream, b: &[u8]| lines.extend_from_slice(b);
        let end = reg.execute(&spec, JobOutput::Lines(&mut emit), None)?;
        assert_eq!(end.status, ExitStatusKind::Signaled { signal: 13 });
        Ok(())
    }

    #[test]
    fn the_end_counts_the_block_given_and_the_output_that_came_through() -> TestResult {
        let reg = LocalExecutor::new();
        let mut cap = capture();
        // More than a pipe holds each way: fed and pumped side by side.
        let block = b"one\ntwo\n".repeat(20_000);
        let spec = JobSpec {
            stdin: JobStdin::Block(&block),
            ..JobSpec::first(b"cat; printf err >&2")
        };
        let end = reg.execute(&spec, JobOutput::Capture(&mut cap), None)?;
        let len = block.len() as u64;
        assert_eq!(
            (end.stdin_len, end.stdout_len, end.stderr_len),
            (len, len, 3)
        );
        let mut lines = Vec::new();
        let mut emit = |stream: Stream, b: &[u8]| {
            if stream == Stream::Stdout {
                lines.extend_from_slice(b);
            }
        };
        let end = reg.execute(&spec, JobOutput::Lines(&mut emit), None)?;
        assert_eq!(
            (end.stdin_len, end.stdout_len, end.stderr_len),
            (len, len, 3)
        );
        assert_eq!(lines, block);
        // A block left unread still counts whole, as GNU parallel's Send does.
        let spec = JobSpec {
            command: b"exit 0",
            ..spec
        };
        let end = reg.execute(&spec, JobOutput::Capture(&mut cap), None)?;
        assert_eq!(end.status, ExitStatusKind::Signaled { signal: 13 });
        assert_eq!((end.stdin_len, end.stdout_len), (len, 0));
        // No block: nothing given.
        let spec = JobSpec {
            command: b"echo x",
            stdin: JobStdin::Null,
            ..spec
        };
        let end = reg.execute(&spec, JobOutput::Capture(&mut cap), None)?;
        assert_eq!((end.stdin_len, end.stdout_len), (0, 2));
        Ok(())
    }

    #[test]
    fn stdin_is_dev_null() -> TestResult {
        // If stdin were inherited this could block or eat the test's stdin.
        let (exit, o, _) = run(b"cat; readlink /proc/$$/fd/0")?;
        assert!(exit.success());
        assert_eq!(o, b"/dev/null\n");
        Ok(())
    }

    #[test]
    fn own_process_group() -> TestResult {
        let (_, o, _) = run(b"echo $$ $(ps -o pgid= -p $$)")?;
        let s = String::from_utf8(o)?;
        let v: Vec<&str> = s.split_whitespace().collect();
        assert_eq!(v.len(), 2, "{s:?}");
        assert_eq!(v[0], v[1]);
        Ok(())
    }

    #[test]
    fn lingering_writer_does_not_leak_into_next_job() -> TestResult {
        let dir = tempfile::tempdir()?;
        let d = dir.path().display();
        let mut cap = capture();
        let reg = LocalExecutor::new();
        // Background writer waits for GO, writes "late" into job 1's stdout,
        // then signals DONE. Loops are bounded (10 s) so nothing can hang.
        let job1 = format!(
            "(i=0; while [ ! -e {d}/GO ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i+1)); done; \
             echo late; echo late >&2; touch {d}/DONE) & echo hi"
        );
        let exit = run_job(job1.as_bytes(), &mut cap, &reg)?;
        assert!(exit.success());
        assert!(cap.is_tainted());
        assert_eq!(reg.registry().lingering_count(), 1);
        assert_eq!(outputs(&mut cap)?, (b"hi\n".to_vec(), Vec::new()));
        let job2 = format!(
            "touch {d}/GO; i=0; while [ ! -e {d}/DONE ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i+1)); done; \
             echo second"
        );
        let exit = run_job(job2.as_bytes(), &mut cap, &reg)?;
        assert!(exit.success());
        assert!(
            dir.path().join("DONE").exists(),
            "background writer never ran"
        );
        assert_eq!(outputs(&mut cap)?, (b"second\n".to_vec(), Vec::new()));
        assert!(!cap.is_tainted());
        assert!(wait_until(|| reg.registry().lingering_count() == 0));
        Ok(())
    }

    #[test]
    fn concurrent_workers_keep_outputs_apart() -> TestResult {
        let reg = Arc::new(LocalExecutor::new());
        let workers: Vec<_> = (0..3)
            .map(|w| {
                let reg = Arc::clone(&reg);
                thread::spawn(move || -> io::Result<usize> {
                    let mut cap = Capture::new(std::env::temp_dir())?;
                    let mut ok = 0;
                    for j in 0..15 {
                        let cmd = format!("echo out-{w}-{j}; echo err-{w}-{j} >&2");
                        let exit =
                            run_job(cmd.as_bytes(), &mut cap, &reg).map_err(io::Error::other)?;
                        let (o, e) = outputs(&mut cap)?;
                        if exit.success()
                            && o == format!("out-{w}-{j}\n").as_bytes()
                            && e == format!("err-{w}-{j}\n").as_bytes()
                        {
                            ok += 1;
                        }
                    }
                    Ok(ok)
                })
            })
            .collect();
        for w in workers {
            let ok = w.join().map_err(|_| "worker panicked")??;
            assert_eq!(ok, 15);
        }
        assert_eq!(reg.registry().running_count(), 0);
        Ok(())
    }

    /// Runs `cmd` on a worker thread; returns its handle.
    fn spawn_worker(
        cmd: String,
        reg: &Arc<LocalExecutor>,
    ) -> thread::JoinHandle<Result<JobEnd, JobError>> {
        let reg = Arc::clone(reg);
        thread::spawn(move || {
            let mut cap = Capture::new(std::env::temp_dir()).map_err(JobError::Capture)?;
            run_job(cmd.as_bytes(), &mut cap, &reg)
        })
    }

    fn join(
        h: thread::JoinHandle<Result<JobEnd, JobError>>,
    ) -> Result<JobEnd, Box<dyn std::error::Error>> {
        Ok(h.join().map_err(|_| "worker panicked")??)
    }

    #[test]
    fn terminate_all_kills_whole_pipeline() -> TestResult {
        let m = unique_marker();
        let _reaper = Reaper(m.clone());
        let reg = Arc::new(LocalExecutor::new());
        let h = spawn_worker(format!("sleep {m} | ATP_TEST_MARK={m} cat"), &reg);
        let both = || {
            let f = find(&m);
            f.iter().any(|p| p.cmdline == format!("sleep {m}"))
                && f.iter().any(|p| p.cmdline == "cat")
        };
        // Registered too: the worker may be preempted between spawn and register
        // for longer than the shell takes to start the pipeline.
        let registered = || reg.registry().running_count() == 1;
        assert!(
            wait_until(|| both() && registered()),
            "pipeline never started: {:?}",
            find(&m)
        );
        let report = reg.registry().terminate_all(Duration::from_secs(20));
        assert_eq!((report.groups, report.killed), (1, 0), "{report:?}");
        assert!(!report.interrupted);
        // terminate_all returned because the group is gone: nothing left.
        assert!(find(&m).is_empty(), "{:?}", find(&m));
        let exit = join(h)?;
        assert_eq!(exit.status, ExitStatusKind::Signaled { signal: 15 });
        assert_eq!(reg.registry().running_count(), 0);
        Ok(())
    }

    #[test]
    fn term_trapping_job_is_killed_after_grace() -> TestResult {
        let m = unique_marker();
        let _reaper = Reaper(m.clone());
        let reg = Arc::new(LocalExecutor::new());
        let h = spawn_worker(format!("trap '' TERM; sleep {m}; echo survived"), &reg);
        assert!(wait_until(|| reg.registry().running_count() == 1
            && find(&m).iter().any(|p| p.cmdline == format!("sleep {m}"))));
        let grace = Duration::from_millis(300);
        let t0 = Instant::now();
        let report = reg.registry().terminate_all(grace);
        let waited = t0.elapsed();
        assert_eq!((report.groups, report.killed), (1, 1), "{report:?}");
        assert!(
            waited >= grace,
            "returned before the grace period: {waited:?}"
        );
        let exit = join(h)?;
        assert_eq!(exit.status, ExitStatusKind::Signaled { signal: 9 });
        assert_eq!(exit.stdout_len, 0);
        assert!(wait_until(|| find(&m).is_empty()), "{:?}", find(&m));
        Ok(())
    }

    #[test]
    fn kill_now_cuts_grace_short() -> TestResult {
        let m = unique_marker();
        let _reaper = Reaper(m.clone());
        let reg = Arc::new(LocalExecutor::new());
        let h = spawn_worker(format!("trap '' TERM; sleep {m}"), &reg);
        assert!(wait_until(|| reg.registry().running_count() == 1
            && find(&m).iter().any(|p| p.cmdline == format!("sleep {m}"))));
        let t0 = Instant::now();
        let terminator = {
            let reg = Arc::clone(&reg);
            thread::spawn(move || reg.registry().terminate_all(Duration::from_secs(60)))
        };
        thread::sleep(Duration::from_millis(200));
        reg.registry().kill_now();
        let report = terminator.join().map_err(|_| "terminator panicked")?;
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "grace not cut short"
        );
        assert!(report.interrupted, "{report:?}");
        let exit = join(h)?;
        assert_eq!(exit.status, ExitStatusKind::Signaled { signal: 9 });
        assert!(wait_until(|| find(&m).is_empty()), "{:?}", find(&m));
        Ok(())
    }

    #[test]
    fn terminate_all_cleans_lingering_groups() -> TestResult {
        let m = unique_marker();
        let _reaper = Reaper(m.clone());
        let mut cap = capture();
        let reg = LocalExecutor::new();
        let exit = run_job(
            format!("sleep {m} > /dev/null & echo hi").as_bytes(),
            &mut cap,
            &reg,
        )?;
        assert!(exit.success());
        assert_eq!(outputs(&mut cap)?.0, b"hi\n");
        assert_eq!(reg.registry().running_count(), 0);
        assert_eq!(reg.registry().lingering_count(), 1);
        assert_eq!(find(&m).len(), 1);
        let report = reg.registry().terminate_all(Duration::from_secs(20));
        assert_eq!((report.groups, report.killed), (1, 0), "{report:?}");
        assert!(find(&m).is_empty(), "{:?}", find(&m));
        assert_eq!(reg.registry().lingering_count(), 0);
        Ok(())
    }

    #[test]
    fn closed_registry_cancels() -> TestResult {
        let m = unique_marker();
        let _reaper = Reaper(m.clone());
        let mut cap = capture();
        let reg = LocalExecutor::new();
        reg.registry().close();
        let res = run_job(format!("sleep {m}").as_bytes(), &mut cap, &reg);
        assert!(matches!(res, Err(JobError::Cancelled)), "{res:?}");
        assert!(find(&m).is_empty());
        assert_eq!(reg.registry().running_count(), 0);
        Ok(())
    }

    #[test]
    fn close_racing_spawn_kills_new_group() -> TestResult {
        // Exercise the "spawned, then registry found closed" path directly:
        // spawn like run_job does, close, then register.
        let m = unique_marker();
        let _reaper = Reaper(m.clone());
        let reg = LocalExecutor::new();
        let mut child = std::process::Command::new(crate::run::exec::launch::DEFAULT_SHELL)
            .arg("-c")
            .arg(format!("sleep {m}"))
            .stdin(Stdio::null())
            .process_group(0)
            .spawn()?;
        let pid = Pid::from_raw(i32::try_from(child.id())?);
        reg.registry().close();
        let key = JobKey {
            number: 1,
            run: 0,
            attempt: 1,
        };
        assert!(
            reg.registry()
                .register(key, pid, Instant::now(), b"sleep")
                .is_err()
        );
        kill_group_and_reap(pid, &mut child);
        // SIGKILL is delivered, not awaited: a member the kill reached may take a
        // moment to die on a loaded machine (this assertion, checked at once,
        // failed about once in ten full runs).
        assert!(wait_until(|| !group_alive(pid)));
        assert!(wait_until(|| find(&m).is_empty()));
        Ok(())
    }

    #[test]
    fn running_jobs_are_listed() -> TestResult {
        let m = unique_marker();
        let _reaper = Reaper(m.clone());
        let reg = Arc::new(LocalExecutor::new());
        let h = spawn_worker(format!("sleep {m}"), &reg);
        assert!(wait_until(|| reg.registry().running_count() == 1));
        let jobs = reg.registry().running_jobs();
        assert_eq!(jobs.len(), 1);
        assert!(jobs[0].started <= Instant::now());
        assert_eq!(&*jobs[0].command, format!("sleep {m}").as_bytes());
        assert_eq!(reg.registry().signal_all(Signal::SIGKILL), 1);
        let exit = join(h)?;
        assert_eq!(exit.status, ExitStatusKind::Signaled { signal: 9 });
        assert_eq!(reg.registry().running_count(), 0);
        Ok(())
    }
}
