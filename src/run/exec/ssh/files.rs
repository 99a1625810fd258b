//! The run's settings for files and environment on `-S` hosts: `--transferfile`,
//! `--transfer`, `--return`, `--cleanup`, `--trc`, `--basefile`, `--workdir`,
//! `--env`, checked once from the command line.
//!
//! Owns: [`FileTemplates`] (the names with placeholders, rendered per job into a
//! [`JobFiles`]) and [`RemoteFiles`] (what holds for the whole run).
//!
//! Invariants: every check that can fail on the arguments alone fails here, as a
//! usage error naming the flag; the values of `--env` variables are read once, at
//! the start, as bytes (any byte but NUL survives to the host).

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use crate::cli::Cli;
use crate::run::input::job_args::{JobArgs, encode};
use crate::run::input::template::{HOST_VAR, SSHLOGIN_VAR, Template, TemplateOptions};
use crate::run::job::JobFiles;

use super::paths;

/// Where jobs run on a host (`--workdir`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Workdir {
    /// The login directory (the default).
    Home,
    /// `...`: a new directory per job under `~/.atp-run/tmp`, removed after it.
    Temporary,
    /// A fixed directory, relative to the home unless absolute.
    Fixed(Vec<u8>),
    /// A directory with placeholders, rendered per job ([`JobFiles::workdir`]).
    PerJob,
}

/// The run-wide settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RemoteFiles {
    /// `--cleanup`.
    pub cleanup: bool,
    /// `--workdir`.
    pub workdir: Workdir,
    /// `--basefile`, as given.
    pub basefiles: Vec<Vec<u8>>,
    /// `--env`: (name, value) of the variables that are set here.
    pub env: Vec<(String, Vec<u8>)>,
}

impl Default for RemoteFiles {
    fn default() -> Self {
        RemoteFiles {
            cleanup: false,
            workdir: Workdir::Home,
            basefiles: Vec::new(),
            env: Vec::new(),
        }
    }
}

impl RemoteFiles {
    /// Whether any of it changes how a remote job runs.
    pub(crate) fn is_set(&self) -> bool {
        self.cleanup
            || self.workdir != Workdir::Home
            || !self.basefiles.is_empty()
            || !self.env.is_empty()
    }
}

/// `--transferfile`, `--return` and a `--workdir` with placeholders.
#[derive(Debug, Clone)]
pub(crate) struct FileTemplates {
    transfer: Vec<Template>,
    returns: Vec<Template>,
    workdir: Option<Template>,
}

impl FileTemplates {
    /// The names for one job with arguments `args`, number `number`, slot `slot`.
    /// A job of several arguments (`-X`, `-N`) gets one name per argument row, not
    /// one name made of them all.
    pub(crate) fn render(&self, args: &JobArgs<'_>, number: u64, slot: usize) -> JobFiles {
        let all = |ts: &[Template]| -> Vec<Vec<u8>> {
            let mut names: Vec<Vec<u8>> = Vec::new();
            for t in ts {
                let rows = match args.rows() {
                    0 | 1 => vec![t.render_args(args, number, slot)],
                    n => (0..n)
                        .map(|r| {
                            let one = encode(&[args.row(r)]);
                            t.render_args(&JobArgs::decode(&one), number, slot)
                        })
                        .collect(),
                };
                for name in rows {
                    if !names.contains(&name) {
                        names.push(name);
                    }
                }
            }
            names
        };
        JobFiles {
            transfer: all(&self.transfer),
            returns: all(&self.returns),
            workdir: self
                .workdir
                .as_ref()
                .map(|t| t.render_args(args, number, slot)),
        }
    }
}

/// `files` as a job on one host uses them: `{host}` and `{sshlogin}` in the names
/// become that host's values. The template renders them as the variables the
/// job's shell sets ([`HOST_VAR`], [`SSHLOGIN_VAR`]), but these names are read
/// here (the local tar) and by the remote tar, where no shell expands them.
pub(crate) fn on_host(files: &JobFiles, host: &str, login: &str) -> JobFiles {
    let name = |n: &Vec<u8>| {
        replace(
            &replace(n, HOST_VAR, host.as_bytes()),
            SSHLOGIN_VAR,
            login.as_bytes(),
        )
    };
    JobFiles {
        transfer: files.transfer.iter().map(name).collect(),
        returns: files.returns.iter().map(name).collect(),
        workdir: files.workdir.as_ref().map(name),
    }
}

/// `bytes` with every `from` replaced by `to`.
fn replace(bytes: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    let mut rest = bytes;
    while let Some(at) = rest.windows(from.len()).position(|w| w == from) {
        out.extend_from_slice(&rest[..at]);
        out.extend_from_slice(to);
        rest = &rest[at + from.len()..];
    }
    out.extend_from_slice(rest);
    out
}

/// The settings from the command line; `remote` says whether `-S` names a host
/// (the flags mean nothing without one, and saying so beats ignoring them).
///
/// # Errors
/// One line naming the flag at fault and what to write.
pub(crate) fn from_cli(
    cli: &Cli,
    remote: bool,
) -> Result<(Option<FileTemplates>, RemoteFiles), String> {
    let given = !cli.transferfile.is_empty()
        || cli.transfer
        || !cli.return_file.is_empty()
        || cli.cleanup
        || !cli.trc.is_empty()
        || !cli.basefile.is_empty()
        || cli.workdir.is_some()
        || !cli.env.is_empty();
    if !given {
        return Ok((None, RemoteFiles::default()));
    }
    if !remote {
        return Err(
            "--transfer, --transferfile, --return, --cleanup, --trc, --basefile, \
                    --workdir and --env are for jobs on -S hosts: add -S HOST"
                .into(),
        );
    }
    let options = TemplateOptions {
        replace: cli.replace.clone().map(String::into_bytes),
        ..TemplateOptions::default()
    };
    let template = |flag: &str, word: &[u8]| {
        Template::parse_path(word, &options).map_err(|e| format!("{flag}: {e}"))
    };
    let bytes = |p: &Path| p.as_os_str().as_bytes().to_vec();
    let mut transfer = Vec::new();
    let mut transfer_words: Vec<Vec<u8>> = cli.transferfile.iter().map(|p| bytes(p)).collect();
    if cli.transfer || !cli.trc.is_empty() {
        transfer_words.push(b"{}".to_vec());
    }
    transfer_words.dedup();
    for word in &transfer_words {
        transfer.push(template("--transferfile", word)?);
    }
    let mut returns = Vec::new();
    for path in cli.return_file.iter().chain(&cli.trc) {
        returns.push(template("--return", &bytes(path))?);
    }
    let (workdir, per_job) = match cli.workdir.as_deref().map(bytes) {
        None => (Workdir::Home, None),
        Some(dir) if dir == b"..." => (Workdir::Temporary, None),
        Some(dir) if dir == b"." => {
            let cwd = std::env::current_dir()
                .map_err(|e| format!("--workdir .: cannot read this directory: {e}"))?;
            let home = std::env::var_os("HOME").map(std::path::PathBuf::from);
            let home = home.and_then(|h| h.canonicalize().ok());
            let cwd = cwd.canonicalize().unwrap_or(cwd);
            match home.map_or_else(|| Some(bytes(&cwd)), |h| paths::relative_to_home(&cwd, &h)) {
                Some(dir) => (Workdir::Fixed(dir), None),
                None => (Workdir::Home, None),
            }
        }
        Some(dir) => {
            let t = template("--workdir", &dir)?;
            match t.has_placeholders() {
                true => (Workdir::PerJob, Some(t)),
                false => match paths::normalize_workdir(&dir) {
                    Some(dir) => (Workdir::Fixed(dir), None),
                    None => (Workdir::Home, None),
                },
            }
        }
    };
    let mut basefiles = Vec::new();
    for path in &cli.basefile {
        let name = bytes(path);
        let placed = paths::place("--basefile", &name)?;
        if !placed.absolute && matches!(workdir, Workdir::Temporary | Workdir::PerJob) {
            return Err(format!(
                "--basefile {}: a relative basefile needs one work directory per host, not \
                 '--workdir {}': give its absolute path",
                path.display(),
                cli.workdir.as_deref().unwrap_or(Path::new("")).display()
            ));
        }
        if !path.exists() {
            return Err(format!("--basefile {}: no such file", path.display()));
        }
        basefiles.push(name);
    }
    let env = env_vars(&cli.env, |name| std::env::var_os(name))?;
    let templates = FileTemplates {
        transfer,
        returns,
        workdir: per_job,
    };
    let files = RemoteFiles {
        cleanup: cli.cleanup || !cli.trc.is_empty(),
        workdir,
        basefiles,
        env,
    };
    Ok((Some(templates), files))
}

/// `--env` lists (`A,B`, repeatable) with the values `get` gives; unset ones
/// are left out (as GNU parallel does).
fn env_vars(
    lists: &[String],
    get: impl Fn(&str) -> Option<std::ffi::OsString>,
) -> Result<Vec<(String, Vec<u8>)>, String> {
    let mut vars: Vec<(String, Vec<u8>)> = Vec::new();
    for name in lists.iter().flat_map(|l| l.split(',')) {
        if name == "_" {
            return Err(
                "--env _ (GNU parallel's 'every variable not in --record-env') is \
                        not supported: name the variables, e.g. --env PATH,MYVAR"
                    .into(),
            );
        }
        let valid = name
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
            && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if !valid {
            return Err(format!(
                "--env '{name}' is not a variable name: write letters, digits and _ \
                 (not starting with a digit), several as A,B"
            ));
        }
        if vars.iter().any(|(n, _)| n == name) {
            continue;
        }
        if let Some(value) = get(name) {
            if value.as_bytes().contains(&0) {
                return Err(format!("--env {name}: its value holds a NUL byte"));
            }
            vars.push((name.to_owned(), OsStr::new(&value).as_bytes().to_vec()));
        }
    }
    Ok(vars)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsString;

    #[test]
    fn env_lists_split_dedupe_and_skip_unset_variables() {
        let get = |name: &str| match name {
            "A" => Some(OsString::from("x y")),
            "B_2" => Some(OsString::from("it's\n")),
            _ => None,
        };
        let vars = env_vars(&["A,B_2".into(), "A".into(), "UNSET".into()], get);
        assert_eq!(
            vars,
            Ok(vec![
                ("A".to_owned(), b"x y".to_vec()),
                ("B_2".to_owned(), b"it's\n".to_vec())
            ])
        );
    }

    #[test]
    fn env_rejects_bad_names_and_the_all_form() {
        let none = |_: &str| None;
        assert!(
            env_vars(&["_".into()], none)
                .unwrap_err()
                .contains("name the variables")
        );
        assert!(
            env_vars(&["1A".into()], none)
                .unwrap_err()
                .contains("not a variable name")
        );
        assert!(env_vars(&["A-B".into()], none).is_err());
        assert!(env_vars(&["A,".into()], none).is_err());
    }

    #[test]
    fn host_placeholders_in_names_become_the_hosts_values() -> Result<(), String> {
        let options = TemplateOptions::default();
        let t = |w: &str| Template::parse_path(w.as_bytes(), &options).map_err(|e| e.to_string());
        let files = FileTemplates {
            transfer: vec![t("in.{host}")?],
            returns: vec![t("{.}.{host}.out")?, t("{sshlogin}/{host}")?],
            workdir: Some(t("w-{host}")?),
        };
        let rendered = files.render(&JobArgs::single(b"a.txt"), 1, 1);
        let got = on_host(&rendered, "h1", "2/root@h1");
        assert_eq!(got.transfer, [b"in.h1".to_vec()]);
        assert_eq!(
            got.returns,
            [b"a.h1.out".to_vec(), b"2/root@h1/h1".to_vec()]
        );
        assert_eq!(got.workdir, Some(b"w-h1".to_vec()));
        Ok(())
    }

    #[test]
    fn file_templates_render_unquoted_per_job() -> Result<(), String> {
        let options = TemplateOptions::default();
        let t = |w: &str| Template::parse_path(w.as_bytes(), &options).map_err(|e| e.to_string());
        let files = FileTemplates {
            transfer: vec![t("{}")?, t("fixed.txt")?],
            returns: vec![t("{.}.out")?, t("out/{#}-{/}")?],
            workdir: Some(t("w/{/.}")?),
        };
        let got = files.render(&JobArgs::single(b"dir/a b's.txt"), 7, 1);
        assert_eq!(
            got.transfer,
            [b"dir/a b's.txt".to_vec(), b"fixed.txt".to_vec()]
        );
        assert_eq!(
            got.returns,
            [b"dir/a b's.out".to_vec(), b"out/7-a b's.txt".to_vec()]
        );
        assert_eq!(got.workdir, Some(b"w/a b's".to_vec()));
        // -X / -N: one name per argument, each once.
        let rows: [&[&[u8]]; 3] = [&[b"x.txt"], &[b"y z.txt"], &[b"x.txt"]];
        let encoded = encode(&rows);
        let got = files.render(&JobArgs::decode(&encoded), 2, 1);
        assert_eq!(
            got.transfer,
            [
                b"x.txt".to_vec(),
                b"y z.txt".to_vec(),
                b"fixed.txt".to_vec()
            ]
        );
        Ok(())
    }
}
