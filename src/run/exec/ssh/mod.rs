//! The remote executor (`-S/--sshlogin`, `--slurm`): each job runs on one of the
//! run's hosts, as `ssh host <wrapper>` multiplexed over that host's ControlMaster,
//! on this machine for `:` (through the local executor), or as `srun … <wrapper>`
//! for `--slurm` (one "host": the allocation; see `exec/slurm/`).
//!
//! Owns: the hosts of the run (their masters, slots and state), the table of
//! running remote jobs by [`JobKey`] with their control channels, the detection of
//! lost jobs and dead hosts, and the end of the run's connections.
//!
//! How a remote job runs: `ssh -S SOCKET host -- sh -c '<wrapper.sh>' atp NONCE
//! '<command>'` in a process group of its own (a terminal's Ctrl-C reaches atp-run,
//! not ssh), stdin a pipe that is the job's control channel: [`SignalJob::signal`]
//! writes the signal's name as a line, and its end (atp-run gone, even by SIGKILL)
//! makes the wrapper terminate the job's group. The job's stdout and stderr go to
//! the output it is given, byte for byte; the wrapper's record of the job's real
//! end is stripped from stderr (`trailer.rs`). The job line exports GNU
//! parallel's variables before the command: the host's (`login.rs`) and the
//! job's number, slot and our pid (`job_env.rs`), on ssh hosts and Slurm steps.
//!
//! Invariants:
//! - A host never has more jobs than its slots (`N/`, or its probed cores), nor a
//!   master more than [`SESSIONS_PER_MASTER`] job sessions: sshd's default
//!   MaxSessions is 10 and the master's own session is one of them. Masters are
//!   started [`STAGGER`] apart so sshd's MaxStartups never drops one.
//! - A job without the wrapper's record was lost (connection failure, dead or hung
//!   host), never failed: it is run again on another host, and not counted against
//!   `--retries`. Jobs are therefore run *at least once*: a lost job may have run
//!   partly, or wholly, on the host that was lost.
//! - A lost job makes its host suspect (it takes no new job); one prober re-starts
//!   its masters with a `ConnectTimeout`; if that fails the host is dead, announced
//!   once, and re-probed with back-off (1 s doubling to 30 s) until it answers or
//!   the run ends. When every host is dead a job fails at once, naming them.
//! - A job is registered (under the table's lock, refused once closed) before its
//!   watcher is told it started, and forgotten after the watcher is told it ended.

mod adaptive;
mod files;
mod load;
mod login;
mod master;
mod paths;
mod sockets;
pub(crate) mod starting;
mod trailer;
mod transfer;

pub(crate) use files::{FileTemplates, RemoteFiles, from_cli as files_from_cli};
pub(crate) use load::HostLoad;
pub(crate) use login::{Login, Target, parse_list, read_file, ssh_command};

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant, SystemTime};

use nix::sys::signal::Signal;

use crate::run::exec::executor::{
    Executor, JobOutput, JobWatch, RunningJob, SignalJob, TerminationReport,
};
use crate::run::exec::hosts::{HostSlots, HostState, NoSlot};
use crate::run::exec::job_env::JobEnv;
use crate::run::exec::launch::Launch;
use crate::run::exec::local::LocalExecutor;
use crate::run::exec::pump::pump;
use crate::run::exec::slurm;
use crate::run::job::{JobEnd, JobError, JobKey, JobSpec, Stream};
use crate::run::lock::lock;
use crate::run::values::termseq::TermSeq;

use master::Master;
use trailer::{TailHolder, Trailer};

/// Job sessions per master (sshd's default MaxSessions, 10, less the master's own).
pub(crate) const SESSIONS_PER_MASTER: usize = 9;
/// Time between two new connections.
const STAGGER: Duration = Duration::from_millis(30);
/// `ConnectTimeout` of the first connection and of re-probes, seconds.
const CONNECT_TIMEOUT: u32 = 10;
/// `ConnectTimeout` of a re-probe of a suspect or dead host, seconds.
const REPROBE_TIMEOUT: u32 = 5;
/// Longest wait between two probes of a dead host.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// The remote job wrapper (POSIX sh), without its comment lines.
const WRAPPER: &str = include_str!("wrapper.sh");

/// A master and how many job sessions use it now.
#[derive(Debug, Default)]
struct MasterSlot {
    master: Option<Master>,
    sessions: usize,
}

/// One host of the run.
#[derive(Debug)]
struct Host {
    login: Login,
    /// The login as written, for the joblog, `--json` and status lines. Leaked
    /// once per host and run: a [`JobEnd`] stays `Copy`.
    label: &'static str,
    /// Jobs at once on it.
    slots: usize,
    /// Its masters (none for `:`).
    masters: Mutex<Vec<MasterSlot>>,
}

/// A remote job running now.
#[derive(Debug)]
struct Running {
    control: ChildStdin,
    started: Instant,
    command: Box<[u8]>,
}

#[derive(Debug, Default)]
struct Table {
    jobs: HashMap<JobKey, Running>,
    closed: bool,
}

#[derive(Debug)]
struct Inner {
    hosts: Vec<Host>,
    slots: HostSlots,
    local: LocalExecutor,
    table: Mutex<Table>,
    /// Signalled when a job leaves the table or kill_now runs.
    gone: Condvar,
    killed: AtomicBool,
    trailer: Trailer,
    /// The run's record nonce.
    nonce: String,
    /// The pace of Slurm step launches (`--slurm`).
    launches: slurm::Launches,
    /// `sh -c '<wrapper>' atp NONCE ` (the quoted command follows).
    prefix: Vec<u8>,
    /// Where the control sockets are (private, short path).
    dir: Mutex<Option<tempfile::TempDir>>,
    socket_dir: PathBuf,
    /// `--shell`, `--nice`: what the wrapper runs is `Launch::remote_line`.
    launch: Launch,
    /// The hosts' load monitors and the settings of their controllers.
    adaptive: adaptive::Adaptive,
    /// `--transferfile`, `--return`, `--basefile`, `--workdir`, `--env`.
    transfers: transfer::Transfers,
}

/// Runs jobs on the run's hosts; see the module header.
#[derive(Debug)]
pub(crate) struct SshExecutor {
    inner: Arc<Inner>,
}

impl SshExecutor {
    /// Connects to every host of `logins` (one master per [`SESSIONS_PER_MASTER`]
    /// slots, staggered) and probes its cores. A host that cannot be reached is
    /// announced and left dead (re-probed later).
    ///
    /// Then starts the load monitor of every adaptive host (`adaptive.rs`): its
    /// slots follow its load from then on, within `cap` slots over all hosts,
    /// gated as `config` gates the pool.
    ///
    /// # Errors
    /// The private directory for the control sockets cannot be made (the stale
    /// ones of SIGKILLed runs are removed first: `sockets.rs`).
    pub(crate) fn connect(
        logins: Vec<Login>,
        launch: Launch,
        config: crate::Config,
        cap: usize,
        files: RemoteFiles,
    ) -> io::Result<SshExecutor> {
        let dir = sockets::make(std::path::Path::new(sockets::PARENT))?;
        let socket_dir = dir.path().to_owned();
        starting::begin(socket_dir.clone());
        let nonce = nonce()?;
        let mut prefix = b"sh -c ".to_vec();
        prefix.extend(quote(wrapper_text().as_bytes()));
        prefix.extend(format!(" atp {nonce} ").into_bytes());
        let local_cores = std::thread::available_parallelism().map_or(1, usize::from);
        let slurm_rate = logins.iter().find_map(|l| match l.target {
            Target::Slurm { rate, .. } => Some(rate),
            _ => None,
        });
        // Probe every remote host at once, the connections STAGGER apart.
        let probes: Vec<_> = logins
            .iter()
            .enumerate()
            .map(|(i, login)| {
                let login = login.clone();
                let socket_dir = socket_dir.clone();
                std::thread::spawn(move || {
                    std::thread::sleep(STAGGER * u32::try_from(i).unwrap_or(u32::MAX));
                    open_masters(&login, i, &socket_dir, login.slots, CONNECT_TIMEOUT)
                })
            })
            .collect();
        let mut hosts = Vec::new();
        let mut down = Vec::new();
        for (i, (login, probe)) in logins.into_iter().zip(probes).enumerate() {
            let probed = probe
                .join()
                .unwrap_or_else(|_| Err("its probe panicked".into()));
            let label: &'static str = Box::leak(login.label.clone().into_boxed_str());
            let (slots, masters) = match (&login.target, probed) {
                (Target::Local, _) => (login.slots.unwrap_or(local_cores), Vec::new()),
                (Target::Slurm { .. }, _) => (login.slots.unwrap_or(1), Vec::new()),
                (Target::Ssh { .. }, Ok((slots, masters))) => (slots, masters),
                (Target::Ssh { .. }, Err(why)) => {
                    log::warn!("host {label} is down ({why}): its jobs go to the other hosts");
                    down.push(i);
                    (login.slots.unwrap_or(1), Vec::new())
                }
            };
            hosts.push(Host {
                login,
                label,
                slots,
                masters: Mutex::new(masters),
            });
        }
        let counts: Vec<usize> = hosts.iter().map(|h| h.slots).collect();
        let adaptive = adaptive::Adaptive::new(config, cap, hosts.len());
        let transfers = transfer::Transfers::new(files, hosts.len());
        let inner = Arc::new(Inner {
            hosts,
            slots: HostSlots::new(&counts, cap),
            local: LocalExecutor::new().with_launch(launch.clone()),
            table: Mutex::new(Table::default()),
            gone: Condvar::new(),
            killed: AtomicBool::new(false),
            trailer: Trailer::new(&nonce),
            nonce,
            launches: slurm::Launches::new(slurm_rate.unwrap_or(slurm::DEFAULT_RATE)),
            prefix,
            dir: Mutex::new(Some(dir)),
            socket_dir,
            launch,
            adaptive,
            transfers,
        });
        starting::end();
        for i in down {
            inner.slots.set_state(i, HostState::Dead);
            spawn_prober(&inner, i, true);
        }
        for i in 0..inner.hosts.len() {
            adaptive::start(&inner, i);
        }
        Ok(SshExecutor { inner })
    }

    /// Jobs at once over all hosts at the start (their cores, or `N/`).
    pub(crate) fn total_slots(&self) -> usize {
        self.inner.hosts.iter().map(|h| h.slots).sum()
    }
}

/// The wrapper without its comment lines (they are ~60% of it).
fn wrapper_text() -> String {
    WRAPPER
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .collect::<Vec<_>>()
        .join("\n")
}

/// 16 hex digits from the kernel's random source: the run's record nonce.
fn nonce() -> io::Result<String> {
    let mut bytes = [0u8; 8];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut bytes)?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// `bytes` as one single-quoted word for a POSIX shell.
fn quote(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len() + 2);
    out.push(b'\'');
    for &b in bytes {
        if b == b'\'' {
            out.extend_from_slice(b"'\\''");
        } else {
            out.push(b);
        }
    }
    out.push(b'\'');
    out
}

/// Starts the masters of host `i` (the first probes its cores); returns its slots
/// and masters.
fn open_masters(
    login: &Login,
    i: usize,
    socket_dir: &std::path::Path,
    pinned: Option<usize>,
    timeout: u32,
) -> Result<(usize, Vec<MasterSlot>), String> {
    let Target::Ssh { command, host } = &login.target else {
        return Ok((0, Vec::new()));
    };
    let start = |m: usize| {
        let path = socket_dir.join(format!("h{i}m{m}"));
        let errors = socket_dir.join(format!("h{i}m{m}.err"));
        Master::start(command, host, &path, timeout, &errors)
    };
    let (first, cores) = start(0)?;
    let slots = pinned.unwrap_or(cores);
    let mut masters = vec![MasterSlot {
        master: Some(first),
        sessions: 0,
    }];
    for m in 1..slots.div_ceil(SESSIONS_PER_MASTER) {
        std::thread::sleep(STAGGER);
        let (master, _) = start(m)?;
        masters.push(MasterSlot {
            master: Some(master),
            sessions: 0,
        });
    }
    Ok((slots, masters))
}

/// Starts the prober of host `i` (suspect or dead); see the module header.
fn spawn_prober(inner: &Arc<Inner>, i: usize, announced: bool) {
    let inner = Arc::clone(inner);
    let spawned = std::thread::Builder::new()
        .name("atp-run-probe".into())
        .spawn(move || {
            inner.probe_until_up(i, announced);
            adaptive::start(&inner, i);
        });
    if let Err(e) = spawned {
        log::error!("cannot start a thread to probe a host: {e}");
    }
}

impl Inner {
    /// Re-probes host `i` until it answers (back to Up) or the run ends.
    fn probe_until_up(&self, i: usize, mut announced: bool) {
        let host = &self.hosts[i];
        let mut delay = Duration::from_secs(1);
        loop {
            if self.slots.is_closed() {
                return;
            }
            match self.reopen(i) {
                Ok(()) => {
                    if announced {
                        log::warn!("host {} is back", host.label);
                    }
                    self.slots.set_state(i, HostState::Up);
                    return;
                }
                Err(why) => {
                    self.slots.set_state(i, HostState::Dead);
                    if !announced {
                        log::warn!(
                            "host {} is down ({why}): its jobs go to the other hosts",
                            host.label
                        );
                        announced = true;
                    }
                    if self.all_dead() {
                        let names: Vec<&str> = self.hosts.iter().map(|h| h.label).collect();
                        log::error!("every host is down: {}", names.join(", "));
                    }
                }
            }
            let until = Instant::now() + delay;
            while Instant::now() < until {
                if self.slots.is_closed() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            delay = (delay * 2).min(MAX_BACKOFF);
        }
    }

    fn all_dead(&self) -> bool {
        (0..self.hosts.len()).all(|i| self.slots.state(i) == Some(HostState::Dead))
    }

    /// Checks every master of host `i` with a session, and restarts those that do
    /// not answer (a restart probes the host again, with [`REPROBE_TIMEOUT`]).
    fn reopen(&self, i: usize) -> Result<(), String> {
        let host = &self.hosts[i];
        let Target::Ssh {
            command,
            host: name,
        } = &host.login.target
        else {
            return Ok(());
        };
        let mut masters = lock(&host.masters);
        if masters.is_empty() {
            let count = host.slots.div_ceil(SESSIONS_PER_MASTER).max(1);
            masters.extend((0..count).map(|_| MasterSlot::default()));
        }
        let timeout = Duration::from_secs(REPROBE_TIMEOUT.into());
        for (m, slot) in masters.iter_mut().enumerate() {
            if let Some(master) = slot.master.as_mut()
                && master.answers(command, name, timeout)
            {
                continue;
            }
            if let Some(mut old) = slot.master.take() {
                old.close();
            }
            let path = self.socket_dir.join(format!("h{i}m{m}"));
            let errors = self.socket_dir.join(format!("h{i}m{m}.err"));
            let (master, _) = Master::start(command, name, &path, REPROBE_TIMEOUT, &errors)?;
            slot.master = Some(master);
            std::thread::sleep(STAGGER);
        }
        Ok(())
    }

    /// A job was lost on host `i`: it takes no job until its prober decides.
    fn suspect(self: &Arc<Self>, i: usize) {
        if self.slots.set_state(i, HostState::Suspect) == Some(HostState::Up) {
            spawn_prober(self, i, false);
        }
    }

    /// Takes a session on one of host `i`'s running masters; returns its index
    /// and socket, or `None` if none runs.
    fn take_session(&self, i: usize) -> Option<(usize, PathBuf)> {
        let mut masters = lock(&self.hosts[i].masters);
        let (m, slot) = masters
            .iter_mut()
            .enumerate()
            .filter(|(_, s)| s.sessions < SESSIONS_PER_MASTER && s.master.is_some())
            .min_by_key(|(_, s)| s.sessions)?;
        let master = slot.master.as_mut()?;
        if !master.is_running() {
            return None;
        }
        slot.sessions += 1;
        Some((m, master.path().to_owned()))
    }

    fn end_session(&self, i: usize, m: usize) {
        if let Some(slot) = lock(&self.hosts[i].masters).get_mut(m) {
            slot.sessions = slot.sessions.saturating_sub(1);
        }
    }

    /// Runs `spec` on remote host `i` (or as a Slurm step); `Ok(None)` if the job
    /// was lost.
    fn run_remote(
        &self,
        i: usize,
        spec: &JobSpec<'_>,
        output: JobOutput<'_>,
        watch: Option<&dyn JobWatch>,
    ) -> Result<Option<JobEnd>, JobError> {
        match &self.hosts[i].login.target {
            Target::Ssh { command, host } => {
                let Some((m, socket)) = self.take_session(i) else {
                    return Ok(None);
                };
                let session = |remote: &[u8]| transfer::session(command, &socket, host, remote);
                // The basefiles' connection lost: the job is lost, not failed.
                let login = &self.hosts[i].login;
                let files = spec
                    .files
                    .map(|f| files::on_host(f, login.host_name(), &login.label));
                let spec = &JobSpec {
                    files: files.as_ref(),
                    ..*spec
                };
                let planned = match self.transfers.send_basefiles(i, &session) {
                    Ok(true) => self
                        .transfers
                        .plan(
                            spec,
                            &self.hosts[i].login.job_line(
                                &JobEnv::of(spec),
                                &self.launch.remote_line(spec.command),
                            ),
                            &self.nonce,
                        )
                        .map(Some),
                    Ok(false) => Ok(None),
                    Err(e) => Err(e),
                };
                let mut plan = match planned {
                    Ok(Some(plan)) => plan,
                    other => {
                        self.end_session(i, m);
                        return other.map(|_| None);
                    }
                };
                let mut remote = std::mem::take(&mut plan.before);
                remote.extend(&self.prefix);
                remote.extend(&plan.word);
                remote.extend(&plan.after);
                let cmd = session(&remote);
                let result = self.run_session(i, cmd, spec, output, watch, plan.payload.as_mut());
                if let Ok(Some(_)) = &result {
                    for why in self.transfers.fetch(&plan, &session) {
                        log::warn!("job {} on {}: {why}", spec.key.number, self.hosts[i].label);
                    }
                }
                self.end_session(i, m);
                result
            }
            Target::Slurm { cpus, .. } => {
                if !self.launches.wait_turn(&|| self.slots.is_closed()) {
                    return Err(JobError::Cancelled);
                }
                let cmd = slurm::step_command(
                    *cpus,
                    &wrapper_text(),
                    &self.nonce,
                    &JobEnv::of(spec).line(&self.launch.remote_line(spec.command)),
                );
                let end = self.run_session(i, cmd, spec, output, watch, None)?;
                Ok(Some(end.ok_or(JobError::StepLost)?))
            }
            Target::Local => Ok(None),
        }
    }

    fn run_session(
        &self,
        i: usize,
        mut cmd: Command,
        spec: &JobSpec<'_>,
        output: JobOutput<'_>,
        watch: Option<&dyn JobWatch>,
        mut payload: Option<&mut std::fs::File>,
    ) -> Result<Option<JobEnd>, JobError> {
        cmd.stdin(Stdio::piped()).process_group(0);
        let program = cmd.get_program().to_string_lossy().into_owned();
        let start = Instant::now();
        let started = SystemTime::now();
        let mut spawn = |cmd: &mut Command| {
            let mut child = cmd.spawn().map_err(|source| JobError::Spawn {
                program: program.clone().into(),
                source,
            })?;
            transfer::feed(&mut child, payload.take());
            Ok::<Child, JobError>(child)
        };
        let mut status = None;
        let (stdout_len, stderr_len, timed_out) = match output {
            JobOutput::Capture(capture) => {
                let (out, err) = capture.files_for_job().map_err(JobError::Capture)?;
                let mut err_file = err.try_clone().map_err(JobError::Capture)?;
                cmd.stdout(out).stderr(err);
                let child = spawn(&mut cmd)?;
                let timed_out = self.follow(spec, child, start, watch, |_| Ok(()))?;
                match self.trailer.strip_file(&mut err_file) {
                    Ok(found) => status = found,
                    Err(e) => {
                        capture.taint();
                        return Err(JobError::Capture(e));
                    }
                }
                let (o, e) = capture.job_finished(false).map_err(JobError::Capture)?;
                (o, e, timed_out)
            }
            JobOutput::Lines(emit) => {
                cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
                let child = spawn(&mut cmd)?;
                let trailer = &self.trailer;
                let (mut stdout_len, mut stderr_len) = (0u64, 0u64);
                let timed_out = self.follow(spec, child, start, watch, |child| {
                    pump(child, &mut |stream, line| {
                        let line = match stream {
                            Stream::Stderr => match trailer.split(line) {
                                Some((kept, end)) => {
                                    status = Some(end);
                                    kept
                                }
                                None => line,
                            },
                            Stream::Stdout => line,
                        };
                        match stream {
                            Stream::Stdout => stdout_len += line.len() as u64,
                            Stream::Stderr => stderr_len += line.len() as u64,
                        }
                        if !line.is_empty() {
                            emit(stream, line);
                        }
                    })
                })?;
                (stdout_len, stderr_len, timed_out)
            }
            JobOutput::Inherit => {
                cmd.stdout(Stdio::inherit()).stderr(Stdio::piped());
                let child = spawn(&mut cmd)?;
                let trailer = &self.trailer;
                let timed_out = self.follow(spec, child, start, watch, |child| {
                    let Some(mut err) = child.stderr.take() else {
                        return Ok(());
                    };
                    let mut holder = TailHolder::new();
                    let mut buf = vec![0u8; 64 * 1024];
                    loop {
                        let n = match err.read(&mut buf) {
                            Ok(0) => break,
                            Ok(n) => n,
                            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                            Err(e) => return Err(e),
                        };
                        holder.feed(&buf[..n], &mut io::stderr().lock())?;
                    }
                    status = holder.finish(trailer, &mut io::stderr().lock())?;
                    Ok(())
                })?;
                (0, 0, timed_out)
            }
        };
        if let Some(began) = status.and_then(|record| record.step_started) {
            self.launches.ended(started, began, SystemTime::now());
        }
        Ok(status.map(|record| JobEnd {
            status: record.status,
            started,
            duration: start.elapsed(),
            stdout_len,
            stderr_len,
            timed_out,
            host: Some(record.node.unwrap_or(self.hosts[i].label)),
            // Its stdin is the control channel: no `--pipe` block (refused
            // with -S and --slurm).
            stdin_len: 0,
        }))
    }

    /// Registers the spawned `child` as job `spec.key`, tells `watch`, runs
    /// `read`, waits for ssh to end, tells `watch`, forgets the job. Returns
    /// whether the watcher timed it out.
    fn follow(
        &self,
        spec: &JobSpec<'_>,
        mut child: Child,
        start: Instant,
        watch: Option<&dyn JobWatch>,
        read: impl FnOnce(&mut Child) -> io::Result<()>,
    ) -> Result<bool, JobError> {
        let Some(control) = child.stdin.take() else {
            let _ = child.kill();
            let _ = child.wait();
            return Err(JobError::Wait(io::Error::other("ssh has no stdin")));
        };
        {
            let mut table = lock(&self.table);
            if table.closed {
                drop(table);
                // End of the control channel: the wrapper ends the job.
                drop(control);
                let _ = child.kill();
                let _ = child.wait();
                return Err(JobError::Cancelled);
            }
            table.jobs.insert(
                spec.key,
                Running {
                    control,
                    started: start,
                    command: spec.command.into(),
                },
            );
        }
        let token = watch.map(|w| w.started(spec.key, start));
        let read = read(&mut child);
        let waited = child.wait();
        let timed_out = match (watch, token) {
            (Some(w), Some(token)) => w.ended(token),
            _ => false,
        };
        lock(&self.table).jobs.remove(&spec.key);
        self.gone.notify_all();
        waited.map_err(JobError::Wait)?;
        read.map_err(JobError::Capture)?;
        Ok(timed_out)
    }

    /// Writes `signal`'s name to every running remote job's control channel;
    /// returns how many there were.
    fn signal_all(&self, signal: Signal) -> usize {
        let mut table = lock(&self.table);
        let n = table.jobs.len();
        for job in table.jobs.values_mut() {
            send(&mut job.control, signal);
        }
        n
    }
}

/// Writes `signal` (then CONT, so a stopped job sees it) as lines to a control
/// channel; a job that is ending may have closed it, which is fine.
fn send(control: &mut ChildStdin, signal: Signal) {
    let name = signal.as_str().trim_start_matches("SIG");
    let line = match signal {
        Signal::SIGKILL | Signal::SIGCONT | Signal::SIGSTOP => format!("{name}\n"),
        _ => format!("{name}\nCONT\n"),
    };
    let _ = control.write_all(line.as_bytes());
}

/// Reborrows a job output for one more try.
fn again<'a>(output: &'a mut JobOutput<'_>) -> JobOutput<'a> {
    match output {
        JobOutput::Capture(c) => JobOutput::Capture(c),
        JobOutput::Lines(emit) => JobOutput::Lines(&mut **emit),
        JobOutput::Inherit => JobOutput::Inherit,
    }
}

impl SignalJob for SshExecutor {
    fn signal(&self, key: JobKey, signal: Signal) -> bool {
        let mut table = lock(&self.inner.table);
        match table.jobs.get_mut(&key) {
            Some(job) => {
                send(&mut job.control, signal);
                true
            }
            None => {
                drop(table);
                self.inner.local.signal(key, signal)
            }
        }
    }
}

impl Executor for SshExecutor {
    fn execute(
        &self,
        spec: &JobSpec<'_>,
        mut output: JobOutput<'_>,
        watch: Option<&dyn JobWatch>,
    ) -> Result<JobEnd, JobError> {
        let inner = &self.inner;
        loop {
            let i = match inner.slots.acquire() {
                Ok(i) => i,
                Err(NoSlot::Closed) => return Err(JobError::Cancelled),
                Err(NoSlot::AllDead) => {
                    let names: Vec<&str> = inner.hosts.iter().map(|h| h.label).collect();
                    return Err(JobError::NoHost {
                        hosts: names.join(", "),
                    });
                }
            };
            let host = &inner.hosts[i];
            if host.login.target == Target::Local {
                let result = inner.local.execute(spec, again(&mut output), watch);
                inner.slots.release(i);
                return result.map(|end| JobEnd {
                    host: Some(host.label),
                    ..end
                });
            }
            let result = inner.run_remote(i, spec, again(&mut output), watch);
            inner.slots.release(i);
            match result {
                Ok(Some(end)) => return Ok(end),
                Ok(None) if inner.slots.is_closed() => return Err(JobError::Cancelled),
                Ok(None) => {
                    log::info!(
                        "job {} was lost on host {}: running it again",
                        spec.key.number,
                        host.label
                    );
                    inner.suspect(i);
                }
                Err(e) => return Err(e),
            }
        }
    }

    fn close(&self) {
        self.inner.slots.close();
        lock(&self.inner.table).closed = true;
        self.inner.local.close();
    }

    fn is_closed(&self) -> bool {
        self.inner.slots.is_closed()
    }

    fn signal_running(&self, signal: Signal) -> usize {
        let mut table = lock(&self.inner.table);
        let remote = table.jobs.len();
        for job in table.jobs.values_mut() {
            send(&mut job.control, signal);
        }
        drop(table);
        remote + self.inner.local.signal_running(signal)
    }

    fn running(&self) -> Vec<RunningJob> {
        let mut all: Vec<RunningJob> = lock(&self.inner.table)
            .jobs
            .iter()
            .map(|(key, job)| RunningJob {
                key: *key,
                started: job.started,
                command: job.command.clone(),
            })
            .collect();
        all.extend(self.inner.local.running());
        all.sort_by_key(|job| job.started);
        all
    }

    fn running_count(&self) -> usize {
        lock(&self.inner.table).jobs.len() + self.inner.local.running_count()
    }

    fn host_usage(&self) -> Vec<(&'static str, usize, usize)> {
        let usage = self.inner.slots.usage();
        self.inner
            .hosts
            .iter()
            .zip(usage)
            .map(|(h, (running, slots))| (h.label, running, slots))
            .collect()
    }

    fn terminate_all(&self, seq: &TermSeq) -> TerminationReport {
        self.close();
        let local = {
            let inner = Arc::clone(&self.inner);
            let seq = seq.clone();
            std::thread::spawn(move || inner.local.terminate_all(&seq))
        };
        let inner = &self.inner;
        let mut report = TerminationReport::default();
        let steps = seq.steps();
        for (n, step) in steps.iter().enumerate() {
            let signalled = inner.signal_all(step.signal);
            if n == 0 {
                report.groups = signalled;
            }
            if n + 1 == steps.len() {
                report.killed = signalled;
                break;
            }
            let until = Instant::now() + step.wait;
            let mut table = lock(&inner.table);
            while !table.jobs.is_empty() && !inner.killed.load(Ordering::SeqCst) {
                let left = until.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    break;
                }
                table = inner
                    .gone
                    .wait_timeout(table, left)
                    .map_or_else(|e| e.into_inner().0, |(t, _)| t);
            }
            if table.jobs.is_empty() {
                break;
            }
            if inner.killed.load(Ordering::SeqCst) {
                report.interrupted = true;
                break;
            }
        }
        if let Ok(local) = local.join() {
            report.groups += local.groups;
            report.killed += local.killed;
            report.interrupted |= local.interrupted;
        }
        report
    }

    fn kill_now(&self) {
        self.close();
        self.inner.killed.store(true, Ordering::SeqCst);
        self.inner.signal_all(Signal::SIGKILL);
        self.inner.gone.notify_all();
        self.inner.local.kill_now();
    }

    fn stop_leftovers(&self, grace: Duration) -> usize {
        // The wrapper ends what a remote job leaves behind; local jobs may leave some.
        self.inner.local.stop_leftovers(grace)
    }

    fn disconnect(&self) {
        self.close();
        let inner = &self.inner;
        inner.adaptive.stop_all();
        inner.remove_basefiles();
        let mut all: Vec<Master> = Vec::new();
        for host in &inner.hosts {
            all.extend(
                lock(&host.masters)
                    .iter_mut()
                    .filter_map(|s| s.master.take()),
            );
        }
        // Hang up every master first, so they all go at once.
        for master in &mut all {
            master.hang_up();
        }
        for mut master in all {
            master.close();
        }
        drop(lock(&inner.dir).take());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::ffi::OsStringExt;

    #[test]
    fn quoting_survives_single_quotes_and_any_byte() -> io::Result<()> {
        let word = b"it's \xff $HOME `x` \"q\"";
        let script = [b"printf %s ".as_slice(), &quote(word)].concat();
        let out = Command::new("/bin/sh")
            .arg("-c")
            .arg(std::ffi::OsString::from_vec(script))
            .output()?;
        assert_eq!(out.stdout, word);
        Ok(())
    }

    #[test]
    fn the_wrapper_loses_its_comments_not_its_code() {
        let text = wrapper_text();
        assert!(!text.lines().any(|l| l.trim_start().starts_with('#')));
        assert!(text.contains("setsid"), "{text}");
        assert!(text.contains("@atp:"), "{text}");
    }

    #[test]
    fn a_signal_is_a_line_then_cont() -> io::Result<()> {
        let mut child = Command::new("cat")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()?;
        let Some(mut control) = child.stdin.take() else {
            return Err(io::Error::other("no stdin"));
        };
        send(&mut control, Signal::SIGTERM);
        send(&mut control, Signal::SIGKILL);
        drop(control);
        let out = child.wait_with_output()?;
        assert_eq!(out.stdout, b"TERM\nCONT\nKILL\n");
        Ok(())
    }
}
