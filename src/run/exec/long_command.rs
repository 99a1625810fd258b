//! How the shell gets a job's command: as `sh -c COMMAND`, or, for a command
//! too long to be one argument, as a script file.
//!
//! Linux refuses an exec whose single argument string is longer than
//! MAX_ARG_STRLEN (128 KiB, with its NUL) with E2BIG, and `sh -c` makes the
//! whole command one argument. A longer command (a generated 200 KB line) is
//! written to a temporary script that `sh FILE` reads instead; GNU parallel
//! refuses such commands. The script is removed when the returned guard drops,
//! which the executor does after the job's end.
//!
//! Invariant: the shell runs exactly the same text either way, with stdin
//! untouched (it stays /dev/null for the job). The shell is the run's
//! (`launch.rs`): `/bin/sh` unless `--shell` names another.

use std::ffi::OsStr;
use std::io::{self, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::process::Command;

use tempfile::TempPath;

use crate::run::input::batch::MAX_ARG_STRLEN;

/// `SHELL -c COMMAND`, or `SHELL SCRIPT` and the script's guard when COMMAND
/// cannot be one argument.
pub(crate) fn shell_command(
    program: &Path,
    command: &[u8],
) -> io::Result<(Command, Option<TempPath>)> {
    let mut shell = Command::new(program);
    if command.len() < MAX_ARG_STRLEN {
        shell.arg("-c").arg(OsStr::from_bytes(command));
        return Ok((shell, None));
    }
    let mut script = tempfile::Builder::new()
        .prefix("atp-run-job-")
        .suffix(".sh")
        .tempfile()?;
    script.write_all(command)?;
    script.write_all(b"\n")?;
    script.flush()?;
    let path = script.into_temp_path();
    shell.arg(&path);
    Ok((shell, Some(path)))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SH: &str = crate::run::exec::launch::DEFAULT_SHELL;

    #[test]
    fn short_commands_are_an_argument_long_ones_a_script_that_is_removed() {
        let (cmd, guard) = shell_command(Path::new(SH), b"echo hi").unwrap();
        assert!(guard.is_none());
        assert_eq!(cmd.get_args().collect::<Vec<_>>(), ["-c", "echo hi"]);

        let long = format!("echo {} | wc -c", "x".repeat(200_000));
        let (mut cmd, guard) = shell_command(Path::new(SH), long.as_bytes()).unwrap();
        let path = guard.as_ref().unwrap().to_path_buf();
        let out = cmd.output().unwrap();
        assert!(out.status.success(), "{out:?}");
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "200001");
        drop(guard);
        assert!(!path.exists());
    }
}
