//! The hosts of a run as the command line names them: `-S/--sshlogin
//! [N/]LOGIN[,LOGIN…]` (repeatable), `--slf FILE` (one such list per line, `#`
//! comments) and `--ssh CMD`, as GNU parallel spells them.
//!
//! Owns: [`Login`] (one host: its label, pinned slots, how to reach it) and the
//! parsing of those arguments.
//!
//! Invariants: a [`Login`]'s `label` is the sshlogin as written without its `N/`
//! (what the joblog's Host column and `--json` show; `:` is this machine); a login
//! with whitespace is a whole ssh command whose last word is the host, so its own
//! command replaces `--ssh`; every error is one line naming the login at fault.

use std::path::Path;

use crate::run::exec::job_env::JobEnv;

/// How a host is reached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Target {
    /// This machine (`:`): jobs run on the local executor.
    Local,
    /// As a step of the current Slurm allocation (`--slurm`): `srun`.
    Slurm {
        /// CPUs of each step (`--cpus-per-job`, `srun -c`).
        cpus: usize,
        /// Most steps launched per second (`--slurm-rate`).
        rate: usize,
    },
    /// Over OpenSSH: `command… host`.
    Ssh {
        /// The ssh program and its options (`--ssh`, or the login's own words).
        command: Vec<String>,
        /// `[user@]host`, the last word given to ssh.
        host: String,
    },
}

/// One host of the run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Login {
    /// The sshlogin as written, without `N/`.
    pub label: String,
    /// `N/`: this many jobs at once on it (otherwise its probed core count).
    pub slots: Option<usize>,
    /// How to reach it.
    pub target: Target,
}

impl Login {
    /// What `{host}` (GNU parallel's `$PARALLEL_SSHHOST`) is for its jobs: the
    /// host without `user@` (`:` for this machine).
    pub(crate) fn host_name(&self) -> &str {
        match &self.target {
            Target::Ssh { host, .. } => host.rsplit_once('@').map_or(host, |(_, h)| h),
            _ => &self.label,
        }
    }

    /// The job line a remote job runs: `command`, after setting
    /// `PARALLEL_SSHHOST` and `PARALLEL_SSHLOGIN` (what `{host}` and `{sshlogin}`
    /// render to) and the job's `env` (`PARALLEL_SEQ`, `PARALLEL_JOBSLOT`,
    /// `PARALLEL_PID`) for it, as GNU parallel sets them.
    pub(crate) fn job_line(&self, env: &JobEnv, command: &[u8]) -> Vec<u8> {
        let mut line = b"PARALLEL_SSHHOST=".to_vec();
        line.extend(super::quote(self.host_name().as_bytes()));
        line.extend(b" PARALLEL_SSHLOGIN=");
        line.extend(super::quote(self.label.as_bytes()));
        line.extend(b"; export PARALLEL_SSHHOST PARALLEL_SSHLOGIN\n");
        env.push_exports(&mut line);
        line.extend_from_slice(command);
        line
    }
}

/// The ssh command `--ssh CMD` gives (default `ssh`), split on whitespace.
pub(crate) fn ssh_command(ssh: Option<&str>) -> Result<Vec<String>, String> {
    let words: Vec<String> = ssh
        .unwrap_or("ssh")
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    if words.is_empty() {
        return Err("--ssh is empty: write the ssh command, e.g. --ssh 'ssh -p 2222'".into());
    }
    Ok(words)
}

/// Parses one `-S` argument: a comma-separated list of `[N/]LOGIN`.
pub(crate) fn parse_list(arg: &str, ssh: &[String]) -> Result<Vec<Login>, String> {
    arg.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|one| parse_one(one, ssh))
        .collect()
}

/// Parses one `[N/]LOGIN`.
fn parse_one(spec: &str, ssh: &[String]) -> Result<Login, String> {
    let (slots, login) = match spec.split_once('/') {
        Some((n, rest)) if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => {
            let n: usize = n
                .parse()
                .map_err(|_| format!("--sshlogin {spec:?}: {n} is not a number of jobs"))?;
            if n == 0 {
                return Err(format!(
                    "--sshlogin {spec:?}: 0 jobs at once on a host; write N/LOGIN with N >= 1"
                ));
            }
            (Some(n), rest.trim())
        }
        _ => (None, spec),
    };
    let target = if login == ":" {
        Target::Local
    } else {
        let mut words: Vec<String> = login.split_whitespace().map(str::to_owned).collect();
        let Some(host) = words.pop() else {
            return Err(format!(
                "--sshlogin {spec:?}: no host; write [N/][user@]host"
            ));
        };
        let command = if words.is_empty() {
            ssh.to_vec()
        } else {
            words
        };
        Target::Ssh { command, host }
    };
    Ok(Login {
        label: login.to_owned(),
        slots,
        target,
    })
}

/// Reads `--slf FILE`: one `-S` list per line; blank lines and `#` comments skipped.
pub(crate) fn read_file(path: &Path, ssh: &[String]) -> Result<Vec<Login>, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("--slf {}: cannot read it: {e}", path.display()))?;
    let mut logins = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        logins.extend(parse_list(line, ssh).map_err(|e| format!("--slf {}: {e}", path.display()))?);
    }
    Ok(logins)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::ffi::OsStrExt;

    fn ssh() -> Vec<String> {
        vec!["ssh".into(), "-F".into(), "cfg".into()]
    }

    #[test]
    fn logins_with_slots_local_and_own_commands() {
        let got = parse_list("2/host1, root@host2,:,1/ssh -p 2222 u@h", &ssh());
        let got = got.unwrap_or_default();
        assert_eq!(got.len(), 4);
        assert_eq!(got[0].label, "host1");
        assert_eq!(got[0].slots, Some(2));
        assert_eq!(
            got[0].target,
            Target::Ssh {
                command: ssh(),
                host: "host1".into()
            }
        );
        assert_eq!((got[1].label.as_str(), got[1].slots), ("root@host2", None));
        assert_eq!(got[2].target, Target::Local);
        assert_eq!(got[2].label, ":");
        assert_eq!(got[3].label, "ssh -p 2222 u@h");
        assert_eq!(
            got[3].target,
            Target::Ssh {
                command: vec!["ssh".into(), "-p".into(), "2222".into()],
                host: "u@h".into()
            }
        );
    }

    #[test]
    fn remote_jobs_get_their_host_and_login_as_gnu_parallel_sets_them() -> std::io::Result<()> {
        let got = parse_list("2/root@host1,1/ssh -p 2222 u@h,:", &ssh()).unwrap_or_default();
        let hosts: Vec<&str> = got.iter().map(Login::host_name).collect();
        assert_eq!(hosts, ["host1", "h", ":"]);
        // The line runs in sh: the variables are set for the job, whatever it is.
        let env = JobEnv {
            seq: 7,
            slot: 2,
            pid: 99,
        };
        let job = b"echo \"$PARALLEL_SSHHOST|$PARALLEL_SSHLOGIN\"; \
                    sh -c 'echo $PARALLEL_SEQ $PARALLEL_JOBSLOT $PARALLEL_PID'; exit 3";
        let line = got[1].job_line(&env, job);
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(std::ffi::OsStr::from_bytes(&line))
            .output()?;
        assert_eq!(out.stdout, b"h|ssh -p 2222 u@h\n7 2 99\n");
        assert_eq!(out.status.code(), Some(3));
        Ok(())
    }

    #[test]
    fn bad_logins_are_named() {
        let err = parse_list("0/host1", &ssh()).err().unwrap_or_default();
        assert!(
            err.contains("\"0/host1\"") && err.contains("N >= 1"),
            "{err}"
        );
        assert!(ssh_command(Some("  ")).is_err());
        assert_eq!(ssh_command(None), Ok(vec!["ssh".to_owned()]));
    }

    #[test]
    fn slf_skips_comments_and_blank_lines() -> std::io::Result<()> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("hosts");
        std::fs::write(
            &path,
            "# hosts\n\n2/host1\n  # indented comment\nhost2,host3\n",
        )?;
        let got = read_file(&path, &ssh()).unwrap_or_default();
        let labels: Vec<&str> = got.iter().map(|l| l.label.as_str()).collect();
        assert_eq!(labels, ["host1", "host2", "host3"]);
        assert!(read_file(&dir.path().join("none"), &ssh()).is_err());
        Ok(())
    }
}
