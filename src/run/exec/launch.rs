//! How a job's command line is launched: under which shell (`--shell`, else
//! `ATP_SHELL`, else `PARALLEL_SHELL`, else `/bin/sh`) and at which niceness
//! (`--nice`). Both executors take one [`Launch`]: the local one runs
//! `SHELL -c COMMAND` from a thread at that niceness ([`nice_this_thread`]); the
//! remote one gives its wrapper `[nice -n N] SHELL -c COMMAND` to run
//! ([`Launch::remote_line`]).
//!
//! Why the default is `/bin/sh` and not `$SHELL` (GNU parallel takes the shell it
//! was started from, then `$SHELL`): a command list then means the same thing
//! whoever runs it (a cron job, a colleague with zsh, fish or csh as login
//! shell); values put into a template are quoted for POSIX shells, which fish and
//! csh read differently (with fish a crafted value would run as code); and dash
//! starts faster than bash. `--shell bash` (or `ATP_SHELL=bash`) is one word away.
//!
//! Invariants:
//! - Only the program changes: the command shown to the user (status lines,
//!   `--dry-run`, the joblog, `-t`) is the command as given, never wrapped.
//! - A shell named by the flag or a variable exists here, found before any job
//!   runs (a bare name is looked up in PATH once); with `-S` the hosts are given
//!   the name as written, so their PATH finds theirs.
//! - A shell that does not read POSIX quoting (fish, csh, tcsh, ...) is refused
//!   with a template; a plain command list runs under it as written.

use std::borrow::Cow;
use std::cell::Cell;
use std::ffi::{OsStr, OsString};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::run::input::template::shell_quote;

/// The shell jobs run under unless told otherwise.
pub(crate) const DEFAULT_SHELL: &str = "/bin/sh";

/// Shells whose syntax is not POSIX sh's: the quoting of template values does not
/// hold under them.
const NOT_POSIX: [&str; 9] = [
    "fish", "csh", "tcsh", "rc", "es", "nu", "elvish", "xonsh", "pwsh",
];

/// The shell and niceness jobs are launched with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Launch {
    /// The shell's program here (a bare name already found in PATH).
    pub program: PathBuf,
    /// The shell as the user named it (`None`: the default), for remote hosts.
    pub given: Option<OsString>,
    /// `--nice N`: the niceness of every job.
    pub nice: Option<i32>,
}

impl Default for Launch {
    fn default() -> Launch {
        Launch {
            program: PathBuf::from(DEFAULT_SHELL),
            given: None,
            nice: None,
        }
    }
}

impl Launch {
    /// The launch settings of a run: the shell named by `flag`, else by the
    /// variables `env` gives (`ATP_SHELL`, then `PARALLEL_SHELL`; an empty one is
    /// unset), else `/bin/sh`; and the niceness. `template`: values are
    /// substituted into commands (they are quoted for POSIX shells).
    ///
    /// # Errors
    /// A one-line usage error naming the flag or variable: a shell that cannot be
    /// found, or one that does not read POSIX quoting given with a template.
    pub(crate) fn new(
        flag: Option<&OsStr>,
        env: impl Fn(&str) -> Option<OsString>,
        nice: Option<i32>,
        template: bool,
    ) -> Result<Launch, String> {
        let named = match flag {
            Some(shell) => Some((shell.to_owned(), "--shell")),
            None => ["ATP_SHELL", "PARALLEL_SHELL"]
                .into_iter()
                .find_map(|var| env(var).filter(|v| !v.is_empty()).map(|v| (v, var))),
        };
        let Some((given, source)) = named else {
            return Ok(Launch {
                nice,
                ..Launch::default()
            });
        };
        let shown = given.to_string_lossy();
        let at = if source == "--shell" {
            format!("--shell {shown}")
        } else {
            format!("{source}={shown}")
        };
        let program = find_shell(&given, std::env::var_os("PATH").as_deref())
            .map_err(|why| format!("{at}: {why}"))?;
        let name = Path::new(&given).file_name().unwrap_or(given.as_os_str());
        if template && NOT_POSIX.iter().any(|s| OsStr::new(s) == name) {
            return Err(format!(
                "{at}: the values atp-run puts into a template are quoted for POSIX shells, which \
                 {} does not read the same way: use sh, bash, dash, ksh or zsh with a template \
                 (a command list runs under any shell)",
                name.to_string_lossy()
            ));
        }
        Ok(Launch {
            program,
            given: Some(given),
            nice,
        })
    }

    /// The program spawned for a job here (for error messages too).
    pub(crate) fn program_name(&self) -> Cow<'static, str> {
        match &self.given {
            None => DEFAULT_SHELL.into(),
            Some(_) => self.program.to_string_lossy().into_owned().into(),
        }
    }

    /// The line a remote host's wrapper runs for `command` (it runs it with `sh`
    /// as written): the command itself by default, else `[nice -n N] SHELL -c
    /// 'COMMAND'`, the shell named as the user wrote it. `nice -n` is relative to
    /// the remote shell's niceness (0 for an ssh session). The shell runs as a
    /// child of the wrapper's `sh` (not `exec`ed: the wrapper's exit trap must
    /// see its exact exit code), so signals to the job's group are reported as
    /// locally; only a shell killed alone (`kill -9 $$` in the job) reads as
    /// exit 128+N there.
    pub(crate) fn remote_line<'a>(&self, command: &'a [u8]) -> Cow<'a, [u8]> {
        if self.given.is_none() && self.nice.is_none() {
            return Cow::Borrowed(command);
        }
        let mut line = Vec::with_capacity(command.len() + 32);
        if let Some(n) = self.nice {
            line.extend_from_slice(format!("nice -n {n} ").as_bytes());
        }
        let shell = self.given.as_deref().unwrap_or(OsStr::new("sh"));
        line.extend_from_slice(&shell_quote(shell.as_bytes()));
        line.extend_from_slice(b" -c ");
        line.extend_from_slice(&shell_quote(command));
        Cow::Owned(line)
    }
}

/// The shell `name` here: a path must be an executable file; a bare name is
/// looked up in `path` (PATH).
fn find_shell(name: &OsStr, path: Option<&OsStr>) -> Result<PathBuf, String> {
    let executable = |p: &Path| {
        std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    if name.as_bytes().contains(&b'/') {
        let p = Path::new(name);
        return match p.exists() {
            true if executable(p) => Ok(p.to_owned()),
            true => Err("is not an executable file".into()),
            false => Err("no such file".into()),
        };
    }
    path.into_iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join(name))
        .find(|p| executable(p))
        .ok_or_else(|| "not found in PATH (install it, or give its path)".into())
}

thread_local! {
    /// The niceness this thread was moved to (`None`: untouched).
    static NICENESS: Cell<Option<i32>> = const { Cell::new(None) };
}

/// Moves the calling thread to niceness `n`, so that the processes it spawns
/// from now on are born at `n`.
///
/// Why this way: Linux keeps the nice value per thread, and a new process takes
/// the value of the thread that forks it. A job's shell spawned from a thread at
/// `n` runs at `n` from its first instruction, before it can fork anything, with
/// no extra exec. The alternatives: `pre_exec(setpriority)` needs unsafe code
/// (forbidden in this crate); renicing the job after the spawn races with what
/// it forks first (those children keep the old value); `nice -n N sh -c` costs
/// an exec per job (the remote side does that, see [`Launch::remote_line`]).
/// The price: the worker thread itself runs at `n` too, and it only waits for its
/// job and copies its output. Done once per thread: every job of a run has the
/// same niceness.
///
/// # Errors
/// The niceness cannot be set (lowering it needs privileges).
pub(crate) fn nice_this_thread(n: i32) -> io::Result<()> {
    if NICENESS.get() == Some(n) {
        return Ok(());
    }
    rustix::process::setpriority_process(Some(rustix::thread::gettid()), n)?;
    NICENESS.set(Some(n));
    Ok(())
}

/// Checks, before any job runs, that jobs can run at niceness `n` (on a thread
/// of its own, which then ends).
///
/// # Errors
/// A one-line usage error naming `--nice`.
pub(crate) fn check_niceness(n: i32) -> Result<(), String> {
    let probe = std::thread::spawn(move || nice_this_thread(n));
    match probe.join() {
        Ok(Ok(())) => Ok(()),
        Ok(Err(err)) => Err(format!(
            "--nice {n}: cannot run jobs at niceness {n}: {err} (only root can lower niceness; \
             write a value at least this process's, {})",
            current_niceness().map_or_else(|_| "unknown".into(), |v| v.to_string())
        )),
        Err(_) => Err(format!("--nice {n}: the niceness probe failed")),
    }
}

/// The calling thread's niceness.
fn current_niceness() -> io::Result<i32> {
    Ok(rustix::process::getpriority_process(Some(
        rustix::thread::gettid(),
    ))?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(vars: &'a [(&str, &str)]) -> impl Fn(&str) -> Option<OsString> + 'a {
        move |name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| OsString::from(v))
        }
    }

    #[test]
    fn the_flag_wins_then_atp_shell_then_parallel_shell_then_bin_sh() {
        let both = [("ATP_SHELL", "/bin/sh"), ("PARALLEL_SHELL", "bash")];
        let l = Launch::new(Some(OsStr::new("/bin/dash")), env(&both), None, true).unwrap();
        assert_eq!(l.given.as_deref(), Some(OsStr::new("/bin/dash")));
        let l = Launch::new(None, env(&both), None, true).unwrap();
        assert_eq!(l.given.as_deref(), Some(OsStr::new("/bin/sh")));
        let l = Launch::new(None, env(&[("ATP_SHELL", ""), both[1]]), None, true).unwrap();
        assert_eq!(l.given.as_deref(), Some(OsStr::new("bash")));
        assert!(
            l.program.is_absolute() && l.program.ends_with("bash"),
            "{l:?}"
        );
        let l = Launch::new(None, env(&[("SHELL", "/usr/bin/fish")]), Some(3), true).unwrap();
        assert_eq!(
            l.program,
            Path::new(DEFAULT_SHELL),
            "$SHELL is not followed"
        );
        assert_eq!((l.given, l.nice), (None, Some(3)));
    }

    #[test]
    fn a_missing_shell_names_where_it_came_from() {
        let err = Launch::new(Some(OsStr::new("no-such-shell-x")), env(&[]), None, false);
        assert_eq!(
            err.unwrap_err(),
            "--shell no-such-shell-x: not found in PATH (install it, or give its path)"
        );
        let err = Launch::new(None, env(&[("PARALLEL_SHELL", "/no/sh")]), None, false);
        assert_eq!(err.unwrap_err(), "PARALLEL_SHELL=/no/sh: no such file");
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::set_permissions(file.path(), std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = Launch::new(Some(file.path().as_os_str()), env(&[]), None, false);
        assert!(err.unwrap_err().ends_with("is not an executable file"));
    }

    #[test]
    fn non_posix_shells_are_refused_only_with_a_template() {
        let dir = tempfile::tempdir().unwrap();
        let fish = dir.path().join("fish");
        std::fs::write(&fish, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&fish, std::fs::Permissions::from_mode(0o755)).unwrap();
        let err = Launch::new(Some(fish.as_os_str()), env(&[]), None, true).unwrap_err();
        assert!(err.contains("quoted for POSIX shells, which fish"), "{err}");
        assert!(Launch::new(Some(fish.as_os_str()), env(&[]), None, false).is_ok());
    }

    #[test]
    fn remote_lines_wrap_only_when_asked() {
        let plain = Launch::default();
        assert_eq!(&*plain.remote_line(b"echo 'a b'"), b"echo 'a b'");
        let l = Launch::new(Some(OsStr::new("bash")), env(&[]), Some(7), false).unwrap();
        assert_eq!(
            &*l.remote_line(b"diff <(sort a) b"),
            b"nice -n 7 bash -c 'diff <(sort a) b'"
        );
        let nice_only = Launch {
            nice: Some(5),
            ..Launch::default()
        };
        assert_eq!(
            &*nice_only.remote_line(b"it's"),
            b"nice -n 5 sh -c 'it'\\''s'"
        );
    }

    #[test]
    fn a_thread_moved_to_a_niceness_spawns_children_at_it() {
        let base = current_niceness().unwrap();
        let seen = std::thread::spawn(|| {
            nice_this_thread(11).unwrap();
            let out = std::process::Command::new(DEFAULT_SHELL)
                .args(["-c", "cut -d' ' -f19 /proc/$$/stat"])
                .output()
                .unwrap();
            (current_niceness().unwrap(), out.stdout)
        })
        .join()
        .unwrap();
        assert_eq!(seen, (11, b"11\n".to_vec()));
        // Other threads are untouched.
        assert_eq!(current_niceness().unwrap(), base);
        assert!(check_niceness(12).is_ok());
        let err = check_niceness(-20);
        if rustix::process::geteuid().is_root() {
            return; // root may lower it
        }
        assert!(err.unwrap_err().starts_with("--nice -20: cannot run jobs"));
    }
}
