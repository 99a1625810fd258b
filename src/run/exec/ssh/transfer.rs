//! Files and environment of remote jobs (`--transferfile`, `--return`,
//! `--cleanup`, `--basefile`, `--workdir`, `--env`), moved as tar streams over the
//! host's ControlMaster, never with one rsync connection per file.
//!
//! Owns: the shell text around the wrapper for one job ([`Plan`]), the local tar
//! stream of its files, fetching its returned files, and the basefiles of each
//! host (sent once, removed at the end with `--cleanup`).
//!
//! How a job's files travel (GNU parallel's meaning, measured cheaper):
//! - `--transferfile`: inside the job's own session. atp-run writes a tar stream
//!   of N bytes on ssh's stdin before the control lines; the remote login shell
//!   runs `head -c N | tar -x` (head reads exactly N bytes, so the wrapper then
//!   reads the control channel from where the stream ends), then the wrapper.
//!   A transfer thus costs no extra session.
//! - `--workdir`: the login shell makes the directory and enters it before the
//!   wrapper; if it cannot, the job becomes `exit 255` with a message saying so
//!   (the stream is still read, so the channel stays in step).
//! - `--env`: `env 'NAME=value' sh -c '<wrapper>' …` (any bytes but NUL).
//! - `--return`: after the job (also when it failed, as GNU parallel does), one
//!   more session on the master per local destination: `tar -c` there, `tar -x`
//!   here, into the current directory (an absolute name to itself, `dir/./f` to
//!   `dir/f`). `--cleanup` then removes the returned files in that session.
//! - `--cleanup` of transferred files runs in the job's session after the
//!   wrapper's record, silenced, so the record stays the last bytes of stderr.
//!
//! Invariants: a job whose local file is missing does not run (its error names
//! the file); nothing here runs for `:` or `--slurm`; a lost job is planned
//! again for its next host, so its files go there too.

use std::fs::File;
use std::io::{self, Read, Seek};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;

use crate::run::job::{JobError, JobFiles, JobKey, JobSpec};
use crate::run::lock::lock;

use super::files::{RemoteFiles, Workdir};
use super::paths::{self, Placed};
use super::quote;

/// Where `--workdir ...` makes its directories, relative to the home.
const TEMP_ROOT: &str = ".atp-run/tmp";

/// The run's transfers: its settings and each host's basefile state.
#[derive(Debug)]
pub(crate) struct Transfers {
    files: RemoteFiles,
    /// Per host: whether its basefiles are there (held while they are sent).
    sent: Vec<Mutex<bool>>,
}

/// Files returned to one local directory.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Fetch {
    /// Where they go here (`None`: the current directory).
    local_dir: Option<Vec<u8>>,
    absolute: bool,
    members: Vec<Vec<u8>>,
}

/// What one remote job needs around the wrapper; see the module header.
#[derive(Debug)]
pub(crate) struct Plan {
    /// Shell text before `sh -c '<wrapper>' atp NONCE ` (empty for a plain job).
    pub before: Vec<u8>,
    /// The job's command as the wrapper's argument word.
    pub word: Vec<u8>,
    /// Shell text after it (empty for a plain job).
    pub after: Vec<u8>,
    /// The tar stream to write on the session's stdin first, and its size.
    pub payload: Option<File>,
    fetch: Vec<Fetch>,
    /// Remote shell text for the last fetch session, after its tar.
    finish: Vec<u8>,
    workdir: Option<Vec<u8>>,
}

impl Transfers {
    /// The settings for a run on `hosts` hosts.
    pub(crate) fn new(files: RemoteFiles, hosts: usize) -> Transfers {
        Transfers {
            files,
            sent: (0..hosts).map(|_| Mutex::new(false)).collect(),
        }
    }

    /// Plans job `spec` for a host, its command line being `command` (the job's,
    /// or as the host's login rewrites it); `nonce` names `--workdir ...`
    /// directories.
    ///
    /// # Errors
    /// [`JobError::Transfer`]: a file name that cannot be placed, a missing local
    /// file, or a local `tar` that fails.
    pub(crate) fn plan(
        &self,
        spec: &JobSpec<'_>,
        command: &[u8],
        nonce: &str,
    ) -> Result<Plan, JobError> {
        let none = JobFiles::default();
        let files = spec.files.unwrap_or(&none);
        let workdir = self.workdir(files, spec.key, nonce);
        let place = |flag: &str, names: &[Vec<u8>]| {
            names
                .iter()
                .map(|n| paths::place(flag, n))
                .collect::<Result<Vec<_>, _>>()
                .map_err(JobError::Transfer)
        };
        let transfers = place("--transferfile", &files.transfer)?;
        let returns = place("--return", &files.returns)?;
        if transfers.is_empty() && returns.is_empty() && !self.files.is_set() {
            return Ok(Plan {
                before: Vec::new(),
                word: quote(command),
                after: Vec::new(),
                payload: None,
                fetch: Vec::new(),
                finish: Vec::new(),
                workdir: None,
            });
        }
        let payload = match transfers.is_empty() {
            true => None,
            false => Some(local_tar(&transfers, &files.transfer, "--transferfile")?),
        };
        let temporary = self.files.workdir == Workdir::Temporary;
        let mut before = b"o=1; h=$PWD; ".to_vec();
        let mut word = quote(command);
        if let Some(wd) = &workdir {
            let q = quote(wd);
            before.extend(b"J=");
            before.extend(&word);
            word = b"\"$J\"".to_vec();
            before.extend(b"; mkdir -p -- ");
            before.extend(&q);
            before.extend(b" 2>/dev/null; cd -- ");
            before.extend(&q);
            before.extend(
                b" 2>/dev/null || { o=; J='exit 255'; printf 'atp-run: cannot make or enter \
                  --workdir %s on %s\\n' ",
            );
            before.extend(&q);
            before.extend(b" \"$(hostname)\" >&2; }; ");
        }
        if let Some((_, len)) = &payload {
            let p = match transfers.iter().any(|t| t.absolute) {
                true => " -P",
                false => "",
            };
            before.extend(
                format!("head -c {len} | {{ [ -n \"$o\" ] && tar -x -f -{p}; cat >/dev/null; }}; ")
                    .into_bytes(),
            );
        }
        if !self.files.env.is_empty() {
            before.extend(b"env");
            for (name, value) in &self.files.env {
                before.push(b' ');
                before.extend(quote(&[name.as_bytes(), b"=", value].concat()));
            }
            before.push(b' ');
        }
        // Cleanup in the job's session: the transferred files, and without
        // --return the rest (directories, a `...` directory) too.
        let cleanup = self.files.cleanup;
        let mut now = Vec::new();
        if cleanup {
            now.extend(remove_files(&transfers));
        }
        let mut later = Vec::new();
        if cleanup {
            later.extend(remove_files(&returns));
        }
        let mut last = Vec::new();
        if let Some(wd) = workdir.as_ref().filter(|_| cleanup && !temporary) {
            last.extend(b"cd -- \"$h\" && rmdir -- ");
            last.extend(join_quoted(
                std::iter::once(wd.clone()).chain(paths::parent_dirs(wd)),
            ));
            last.extend(b"; ");
        }
        if let Some(wd) = workdir.as_ref().filter(|_| temporary) {
            last.extend(b"cd -- \"$h\" && rm -rf -- ");
            last.extend(quote(wd));
            last.extend(format!("; rmdir -- {TEMP_ROOT} {}; ", parent_of(TEMP_ROOT)).into_bytes());
        }
        let fetch = fetches(&returns);
        let mut finish = Vec::new();
        match fetch.is_empty() {
            true => now.extend(last),
            false => {
                finish.extend(later);
                finish.extend(last);
            }
        }
        let after = match now.is_empty() {
            true => Vec::new(),
            false => [
                b"; [ -n \"$o\" ] && { ".as_slice(),
                &now,
                b"} >/dev/null 2>&1",
            ]
            .concat(),
        };
        Ok(Plan {
            before,
            word,
            after,
            payload: payload.map(|(file, _)| file),
            fetch,
            finish,
            workdir,
        })
    }

    /// The job's remote work directory (`None`: the home).
    fn workdir(&self, files: &JobFiles, key: JobKey, nonce: &str) -> Option<Vec<u8>> {
        match &self.files.workdir {
            Workdir::Home => None,
            Workdir::Fixed(dir) => Some(dir.clone()),
            Workdir::Temporary => Some(
                format!(
                    "{TEMP_ROOT}/{nonce}-{}-{}-{}",
                    key.number, key.run, key.attempt
                )
                .into_bytes(),
            ),
            Workdir::PerJob => files.workdir.as_deref().and_then(paths::normalize_workdir),
        }
    }

    /// Brings back the returned files of a job that ended, over sessions `ssh`
    /// makes (it takes the remote command). Returns one warning per failure (the
    /// job's status stays its own, as in GNU parallel).
    pub(crate) fn fetch(&self, plan: &Plan, ssh: &dyn Fn(&[u8]) -> Command) -> Vec<String> {
        let mut warnings = Vec::new();
        for (n, group) in plan.fetch.iter().enumerate() {
            let mut remote = b"h=$PWD; ".to_vec();
            if let Some(wd) = &plan.workdir {
                remote.extend(b"cd -- ");
                remote.extend(quote(wd));
                remote.extend(b" && ");
            }
            remote.extend(b"tar -c -f -");
            if group.absolute {
                remote.extend(b" -P");
            }
            for member in &group.members {
                remote.push(b' ');
                remote.extend(quote(member));
            }
            if n + 1 == plan.fetch.len() && !plan.finish.is_empty() {
                remote.extend(b"; s=$?; { ");
                remote.extend(&plan.finish);
                remote.extend(b"} >/dev/null 2>&1; exit $s");
            }
            if let Err(why) = fetch_one(ssh(&remote), group) {
                warnings.push(why);
            }
        }
        warnings
    }

    /// Sends the basefiles to host `i` unless they are there; concurrent first
    /// jobs of a host wait for one sender. Returns whether they are there: `false`
    /// if the connection failed (ssh's 255), so the job counts as lost.
    ///
    /// # Errors
    /// [`JobError::Transfer`] naming what failed (tried again by the next job).
    pub(crate) fn send_basefiles(
        &self,
        i: usize,
        ssh: &dyn Fn(&[u8]) -> Command,
    ) -> Result<bool, JobError> {
        if self.files.basefiles.is_empty() {
            return Ok(true);
        }
        let Some(sent) = self.sent.get(i) else {
            return Ok(true);
        };
        let mut sent = lock(sent);
        if *sent {
            return Ok(true);
        }
        let placed = self.basefiles_placed()?;
        let (payload, _) = local_tar(&placed, &self.files.basefiles, "--basefile")?;
        let mut remote = Vec::new();
        if let Workdir::Fixed(wd) = &self.files.workdir {
            remote.extend(b"mkdir -p -- ");
            remote.extend(quote(wd));
            remote.extend(b" && cd -- ");
            remote.extend(quote(wd));
            remote.extend(b" && ");
        }
        remote.extend(b"tar -x -f -");
        if placed.iter().any(|p| p.absolute) {
            remote.extend(b" -P");
        }
        let out = ssh(&remote)
            .stdin(payload)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .output()
            .map_err(|e| JobError::Transfer(format!("--basefile: cannot run ssh: {e}")))?;
        if out.status.code() == Some(255) {
            log::info!("--basefile: {}", last_line(&out.stderr));
            return Ok(false);
        }
        if !out.status.success() {
            return Err(JobError::Transfer(format!(
                "--basefile: copying to the host failed: {}",
                last_line(&out.stderr)
            )));
        }
        *sent = true;
        Ok(true)
    }

    /// With `--cleanup`, removes host `i`'s basefiles if they were sent.
    pub(crate) fn remove_basefiles(&self, i: usize, ssh: &dyn Fn(&[u8]) -> Command) {
        let sent = self.sent.get(i).is_some_and(|s| *lock(s));
        if !self.files.cleanup || !sent {
            return;
        }
        let Ok(placed) = self.basefiles_placed() else {
            return;
        };
        let mut remote = b"h=$PWD; ".to_vec();
        if let Workdir::Fixed(wd) = &self.files.workdir {
            remote.extend(b"cd -- ");
            remote.extend(quote(wd));
            remote.extend(b" && ");
        }
        remote.extend(b"{ ");
        remote.extend(remove_files(&placed));
        if let Workdir::Fixed(wd) = &self.files.workdir {
            remote.extend(b"cd -- \"$h\" && rmdir -- ");
            remote.extend(join_quoted(
                std::iter::once(wd.clone()).chain(paths::parent_dirs(wd)),
            ));
            remote.extend(b"; ");
        }
        remote.extend(b"} >/dev/null 2>&1; true");
        let done = ssh(&remote)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        if let Err(e) = done {
            log::warn!("--cleanup: cannot remove the basefiles: {e}");
        }
    }

    fn basefiles_placed(&self) -> Result<Vec<Placed>, JobError> {
        self.files
            .basefiles
            .iter()
            .map(|n| paths::place("--basefile", n))
            .collect::<Result<Vec<_>, _>>()
            .map_err(JobError::Transfer)
    }
}

/// The returned files grouped by where they go here, in order.
fn fetches(returns: &[Placed]) -> Vec<Fetch> {
    let mut groups: Vec<Fetch> = Vec::new();
    for r in returns {
        let local_dir = r.base.clone();
        match groups
            .iter_mut()
            .find(|g| g.local_dir == local_dir && g.absolute == r.absolute)
        {
            Some(g) => g.members.push(r.member.clone()),
            None => groups.push(Fetch {
                local_dir,
                absolute: r.absolute,
                members: vec![r.member.clone()],
            }),
        }
    }
    groups
}

/// `rm -f -- FILES; rmdir -- THEIR-DIRS; ` (errors are the caller's to silence).
fn remove_files(placed: &[Placed]) -> Vec<u8> {
    if placed.is_empty() {
        return Vec::new();
    }
    let mut out = b"rm -rf -- ".to_vec();
    out.extend(join_quoted(placed.iter().map(|p| p.member.clone())));
    out.extend(b"; ");
    let mut dirs: Vec<Vec<u8>> = placed
        .iter()
        .flat_map(|p| paths::parent_dirs(&p.member))
        .collect();
    // Deepest first, each once.
    dirs.sort_by(|a, b| b.len().cmp(&a.len()).then(a.cmp(b)));
    dirs.dedup();
    if !dirs.is_empty() {
        out.extend(b"rmdir -- ");
        out.extend(join_quoted(dirs));
        out.extend(b"; ");
    }
    out
}

fn join_quoted(words: impl IntoIterator<Item = Vec<u8>>) -> Vec<u8> {
    let mut out = Vec::new();
    for (n, w) in words.into_iter().enumerate() {
        if n > 0 {
            out.push(b' ');
        }
        out.extend(quote(&w));
    }
    out
}

fn parent_of(path: &str) -> &str {
    path.rsplit_once('/').map_or(path, |(p, _)| p)
}

/// The last non-empty line of `bytes`, trimmed.
fn last_line(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    text.lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("no message")
        .trim()
        .to_owned()
}

/// What tar said about the files on `stderr`, without its "tar: " prefix and its
/// closing "Exiting with failure status" line; `None` if it said nothing else.
fn tar_complaints(stderr: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(stderr);
    let lines: Vec<&str> = text
        .lines()
        .map(|l| l.trim().trim_start_matches("tar: "))
        .filter(|l| !l.is_empty() && !l.starts_with("Exiting with failure status"))
        .collect();
    (!lines.is_empty()).then(|| lines.join("; "))
}

/// A tar stream of `placed` (named `names` on the command line) in an unnamed
/// temporary file, rewound, with its size.
///
/// # Errors
/// A missing file (named, with "the job was not run") or a failing `tar`.
fn local_tar(placed: &[Placed], names: &[Vec<u8>], flag: &str) -> Result<(File, u64), JobError> {
    let cwd = std::env::current_dir()
        .map_err(|e| JobError::Transfer(format!("{flag}: cannot read this directory: {e}")))?;
    let mut cmd = Command::new("tar");
    cmd.args(["-c", "-f", "-"]);
    if placed.iter().any(|p| p.absolute) {
        cmd.arg("-P");
    }
    for (p, name) in placed.iter().zip(names) {
        let local = local_path(p, &cwd);
        if std::fs::symlink_metadata(&local).is_err() {
            return Err(JobError::Transfer(format!(
                "{flag} {}: no such file here ({}): the job was not run",
                String::from_utf8_lossy(name),
                local.display()
            )));
        }
        if !p.absolute {
            cmd.arg("-C").arg(base_dir(p, &cwd));
        }
        cmd.arg(std::ffi::OsStr::from_bytes(&p.member));
    }
    let failed = |e: io::Error| JobError::Transfer(format!("{flag}: cannot pack the files: {e}"));
    let mut file = tempfile::tempfile().map_err(failed)?;
    let out = cmd
        .stdin(Stdio::null())
        .stdout(file.try_clone().map_err(failed)?)
        .stderr(Stdio::piped())
        .output()
        .map_err(failed)?;
    if !out.status.success() {
        return Err(JobError::Transfer(format!(
            "{flag}: tar failed here: {}",
            last_line(&out.stderr)
        )));
    }
    let len = file.seek(io::SeekFrom::End(0)).map_err(failed)?;
    file.rewind().map_err(failed)?;
    Ok((file, len))
}

/// The absolute local directory `p`'s member is relative to.
fn base_dir(p: &Placed, cwd: &Path) -> PathBuf {
    match &p.base {
        None => cwd.to_owned(),
        Some(b) => cwd.join(std::ffi::OsString::from_vec(b.clone())),
    }
}

/// Where `p` is here.
fn local_path(p: &Placed, cwd: &Path) -> PathBuf {
    let member = PathBuf::from(std::ffi::OsString::from_vec(p.member.clone()));
    match p.absolute {
        true => member,
        false => base_dir(p, cwd).join(member),
    }
}

/// `ssh -o ControlMaster=no -o ControlPath=SOCKET HOST -- REMOTE`: a session
/// over the host's master (`command` is the run's ssh command, never empty).
pub(super) fn session(command: &[String], socket: &Path, host: &str, remote: &[u8]) -> Command {
    let mut cmd = match command.split_first() {
        Some((program, options)) => {
            let mut cmd = Command::new(program);
            cmd.args(options);
            cmd
        }
        None => Command::new("ssh"),
    };
    // Should the master be gone, ssh connects anew: within bounds.
    cmd.args(["-o", "ControlMaster=no", "-o"])
        .arg(format!("ControlPath={}", socket.display()))
        .arg("-o")
        .arg(format!("ConnectTimeout={}", super::CONNECT_TIMEOUT))
        .arg(host)
        .arg("--")
        .arg(std::ffi::OsString::from_vec(remote.to_vec()));
    cmd
}

impl super::Inner {
    /// With `--cleanup`, removes the basefiles from every host that has them,
    /// over its first running master (before the masters are closed).
    pub(super) fn remove_basefiles(&self) {
        for (i, host) in self.hosts.iter().enumerate() {
            let super::Target::Ssh {
                command,
                host: name,
            } = &host.login.target
            else {
                continue;
            };
            if self.slots.state(i) == Some(super::HostState::Dead) {
                continue;
            }
            let socket = lock(&host.masters)
                .iter()
                .find_map(|s| s.master.as_ref().map(|m| m.path().to_owned()));
            if let Some(socket) = socket {
                let ssh = |remote: &[u8]| session(command, &socket, name, remote);
                self.transfers.remove_basefiles(i, &ssh);
            }
        }
    }
}

/// Writes `payload` on the spawned session's stdin (before its control lines).
/// A session that is gone already is the caller's to notice (no record).
pub(crate) fn feed(child: &mut Child, payload: Option<&mut File>) {
    let (Some(payload), Some(stdin)) = (payload, child.stdin.as_mut()) else {
        return;
    };
    if let Err(e) = io::copy(payload, stdin) {
        log::debug!("writing the transfer stream: {e}");
    }
}

/// Runs one fetch: `session` (its stdout a tar stream) into `tar -x` here.
fn fetch_one(mut session: Command, group: &Fetch) -> Result<(), String> {
    let mut child = session
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("--return: cannot run ssh: {e}"))?;
    let stream = child.stdout.take().map_or_else(Stdio::null, Stdio::from);
    let mut untar = Command::new("tar");
    untar.args(["-x", "-f", "-"]);
    if group.absolute {
        untar.arg("-P");
    }
    if let Some(dir) = &group.local_dir {
        let dir = PathBuf::from(std::ffi::OsString::from_vec(dir.clone()));
        if let Err(e) = std::fs::create_dir_all(&dir) {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("--return: cannot make {}: {e}", dir.display()));
        }
        untar.arg("-C").arg(dir);
    }
    let untar = untar
        .stdin(stream)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn();
    let mut remote_err = Vec::new();
    if let Some(mut err) = child.stderr.take() {
        let _ = err.read_to_end(&mut remote_err);
    }
    let remote = child.wait();
    let untar = untar.and_then(Child::wait_with_output);
    let names = group
        .members
        .iter()
        .map(|m| String::from_utf8_lossy(m).into_owned())
        .collect::<Vec<_>>()
        .join(" ");
    match (remote, untar) {
        (Ok(r), Ok(u)) if r.success() && u.status.success() => Ok(()),
        (Ok(r), Ok(_)) if !r.success() => Err(match tar_complaints(&remote_err) {
            // "--return x.out: Cannot stat: No such file or directory"
            Some(said) => format!("--return {said}"),
            None => format!("--return {names}: {}", last_line(&remote_err)),
        }),
        (_, Ok(u)) => Err(format!(
            "--return {names}: tar here failed: {}",
            last_line(&u.stderr)
        )),
        (_, Err(e)) => Err(format!("--return {names}: cannot run tar here: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn placed(name: &str) -> Placed {
        paths::place("--return", name.as_bytes()).unwrap()
    }

    #[test]
    fn returns_group_by_local_directory_in_order() {
        let got = fetches(&[
            placed("a.out"),
            placed("/abs/b.out"),
            placed("sub/c.out"),
            placed("/data/./d.out"),
        ]);
        let names: Vec<(Option<&[u8]>, bool, usize)> = got
            .iter()
            .map(|g| (g.local_dir.as_deref(), g.absolute, g.members.len()))
            .collect();
        assert_eq!(
            names,
            [
                (None, false, 2),
                (None, true, 1),
                (Some(b"/data".as_slice()), false, 1)
            ]
        );
    }

    #[test]
    fn removal_quotes_names_and_removes_empty_parents_deepest_first() {
        let text = remove_files(&[placed("a b/c/x's"), placed("a b/y")]);
        assert_eq!(
            String::from_utf8_lossy(&text),
            "rm -rf -- 'a b/c/x'\\''s' 'a b/y'; rmdir -- 'a b/c' 'a b'; "
        );
        assert!(remove_files(&[]).is_empty());
    }

    #[test]
    fn basefiles_go_once_and_a_lost_connection_loses_the_job()
    -> Result<(), Box<dyn std::error::Error>> {
        let file = tempfile::NamedTempFile::new()?;
        let t = Transfers::new(
            RemoteFiles {
                basefiles: vec![file.path().as_os_str().as_bytes().to_vec()],
                ..RemoteFiles::default()
            },
            1,
        );
        // A stand-in for ssh: reads the stream, then answers as told.
        let answering = |code: i32| {
            move |_: &[u8]| {
                let mut cmd = Command::new("sh");
                cmd.arg("-c").arg(format!(
                    "cat >/dev/null; echo 'says {code}' >&2; exit {code}"
                ));
                cmd
            }
        };
        assert!(
            !t.send_basefiles(0, &answering(255))?,
            "255 is a lost connection"
        );
        let err = t
            .send_basefiles(0, &answering(2))
            .err()
            .map(|e| e.to_string());
        assert_eq!(
            err.as_deref(),
            Some("--basefile: copying to the host failed: says 2")
        );
        assert!(t.send_basefiles(0, &answering(0))?);
        // Sent: no more sessions (one would fail now).
        assert!(t.send_basefiles(0, &answering(2))?);
        Ok(())
    }

    #[test]
    fn tar_complaints_keep_what_names_the_file() {
        let said = b"tar: x y.out: Cannot stat: No such file or directory\n\
                     tar: Exiting with failure status due to previous errors\n";
        assert_eq!(
            tar_complaints(said).as_deref(),
            Some("x y.out: Cannot stat: No such file or directory")
        );
        assert_eq!(tar_complaints(b"tar: Exiting with failure status\n"), None);
    }

    #[test]
    fn a_missing_local_file_fails_the_job_naming_it() {
        let name = b"surely/not/here.txt".to_vec();
        let err = local_tar(&[placed("surely/not/here.txt")], &[name], "--transferfile")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            err.contains("surely/not/here.txt") && err.contains("not run"),
            "{err}"
        );
    }

    #[test]
    fn the_plan_runs_in_a_posix_shell() -> Result<(), Box<dyn std::error::Error>> {
        // Around a stand-in for the wrapper, the plan's text must parse and run
        // in sh: the work directory is entered, the env is set, the stream read.
        let dir = tempfile::tempdir()?;
        let t = Transfers::new(
            RemoteFiles {
                cleanup: true,
                workdir: Workdir::Fixed(b"w d".to_vec()),
                basefiles: Vec::new(),
                env: vec![("V".into(), b"a 'b'\nc".to_vec())],
            },
            1,
        );
        let spec = JobSpec::first(b"pwd; printf '%s|' \"$V\"");
        let plan = t.plan(&spec, spec.command, "n")?;
        let script = [
            plan.before.as_slice(),
            b"sh -c 'eval \"$1\"' x ",
            &plan.word,
            &plan.after,
        ]
        .concat();
        let out = Command::new("sh")
            .arg("-c")
            .arg(std::ffi::OsString::from_vec(script))
            .current_dir(dir.path())
            .output()?;
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            text.ends_with("/w d\na 'b'\nc|"),
            "{text:?} {:?}",
            out.stderr
        );
        // --cleanup removed the (empty) work directory again.
        assert!(!dir.path().join("w d").exists());
        Ok(())
    }
}
