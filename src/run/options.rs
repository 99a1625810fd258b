//! [`Options`]: the validated settings of one `atp-run` invocation, built from the
//! parsed command line ([`Cli`]). Everything that can be wrong with the arguments is
//! found here, before any input is read or any job runs, and reported as a
//! [`UsageError`] naming the flag at fault (exit status 2).

use std::ffi::OsStr;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Duration;

use crate::cli::{Cli, ColorChoice, SlurmVia};
use crate::{BuildError, Builder, Config};

use crate::run::control::resume::Resume;
use crate::run::exec::launch::{Launch, check_niceness};
use crate::run::exec::slurm;
use crate::run::exec::ssh::{self, Login, Target};
use crate::run::input::pipeline::InputSettings;
use crate::run::input::settings::from_cli as input_settings;
use crate::run::input::template::Template;
use crate::run::report::joblog::JoblogTarget;
use crate::run::report::terminal;
use crate::run::values::halt_spec::HaltSpec;
use crate::run::values::termseq::TermSeq;

/// Settings of one run.
#[derive(Debug)]
pub struct Options {
    /// Where the input comes from and how it becomes jobs.
    pub(crate) input: InputSettings,
    /// The command template, in template mode.
    pub(crate) template: Option<Template>,
    /// The pool, as the command line sets it up (built once, here).
    pub(crate) pool_builder: Builder,
    /// Its validated settings.
    pub(crate) pool: Config,
    /// Jobs at once the user asked for explicitly (`-j N`, `--min-workers N`): a
    /// promise kept or warned about, never silently cut.
    pub(crate) jobs_requested: Option<usize>,
    /// `--repeat`: every command is a watchdog.
    pub(crate) repeat: bool,
    /// Pause between the runs of a watchdog.
    pub(crate) interval: Option<Duration>,
    /// Time between SIGTERM and SIGKILL when interrupted.
    pub(crate) grace: Duration,
    /// Status lines for failures only.
    pub(crate) quiet: bool,
    /// Show the progress display (only ever true when stderr is a terminal).
    pub(crate) progress: bool,
    /// Colour status lines.
    pub(crate) color: bool,
    /// Standard error is a terminal (status lines are fitted to it).
    pub(crate) stderr_terminal: bool,
    /// `-v` given.
    pub(crate) verbose: bool,
    /// Where job output is buffered.
    pub(crate) tmpdir: PathBuf,
    /// `--keep-order`, `--tag`, `--line-buffer`, `--ungroup`, `--json`.
    pub(crate) output: OutputOptions,
    /// Job control: `--joblog`, `--resume`, `--retries`, `--timeout`, `--halt`,
    /// `--dry-run`.
    pub(crate) control: ControlOptions,
    /// `-S`/`--slf`/`--slurm`: where jobs run (empty: this machine only).
    pub(crate) hosts: Vec<Login>,
    /// `--shell`, `--nice`: how each job's command is launched.
    pub(crate) launch: Launch,
    /// `--delay`: least time between two job starts.
    pub(crate) delay: Option<Duration>,
    /// `--shuf`: the jobs in a random order.
    pub(crate) shuffle: bool,
    /// `-t`, `-v`: each command echoed on stderr as it starts.
    pub(crate) echo_commands: bool,
    /// `--results DIR`.
    pub(crate) results: Option<PathBuf>,
    /// `--transferfile`, `--return`, `--workdir` with placeholders (per job).
    pub(crate) files: Option<ssh::FileTemplates>,
    /// `--cleanup`, `--basefile`, `--workdir`, `--env` (for the whole run).
    pub(crate) remote_files: ssh::RemoteFiles,
}

/// The job-control settings (see `control/`).
#[derive(Debug, Clone)]
pub(crate) struct ControlOptions {
    /// `--joblog [+]FILE`.
    pub(crate) joblog: Option<JoblogTarget>,
    /// `--resume` or `--resume-failed`.
    pub(crate) resume: Option<Resume>,
    /// Attempts per job (`--retries`, at least 1).
    pub(crate) attempts: u32,
    /// `--timeout`.
    pub(crate) timeout: Option<Duration>,
    /// `--termseq`.
    pub(crate) termseq: TermSeq,
    /// `--halt` (None: never).
    pub(crate) halt: Option<HaltSpec>,
    /// `--dry-run`.
    pub(crate) dry_run: bool,
}

/// An argument that cannot work, found before anything runs.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(String);

/// How a job's output reaches ours.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum Mode {
    /// Captured in files, printed as blocks when the job ends (the default).
    #[default]
    Grouped,
    /// Through pipes, printed line by line as it comes (`--line-buffer`).
    LineBuffered,
    /// Not captured: the job writes to our stdout and stderr (`--ungroup`).
    Ungrouped,
}

/// The output settings of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct OutputOptions {
    /// How output flows.
    pub mode: Mode,
    /// `--keep-order` (grouped mode only).
    pub keep_order: bool,
    /// `--tag`.
    pub tag: bool,
    /// `--json` (grouped mode only).
    pub json: bool,
}

impl Options {
    /// Validates the parsed command line.
    pub fn from_cli(mut cli: Cli) -> Result<Options, UsageError> {
        let (input, template) = input_settings(&mut cli).map_err(UsageError)?;
        let fixed_workers = match cli.jobs {
            Some(spec) => spec.workers(cores()).map_err(UsageError)?,
            None => None,
        };
        let builder = pool_builder(&cli, fixed_workers);
        let pool = builder
            .config()
            .map_err(|err| UsageError(pool_error(&err)))?;
        let stderr_is_terminal = std::io::stderr().is_terminal();
        let output = output_options(&cli);
        if cli.timeout == Some(Duration::ZERO) {
            return Err(UsageError("--timeout must be more than 0".to_owned()));
        }
        let hosts = hosts(&cli).map_err(UsageError)?;
        let env = |name: &str| std::env::var_os(name);
        let launch = Launch::new(cli.shell.as_deref(), env, cli.nice, template.is_some())
            .map_err(UsageError)?;
        if let Some(n) = cli.nice {
            check_niceness(n).map_err(UsageError)?;
        }
        let results = results_dir(cli.results.take(), cli.json).map_err(UsageError)?;
        let remote = hosts
            .iter()
            .any(|h| !matches!(h.target, Target::Slurm { .. }));
        let (files, remote_files) = ssh::files_from_cli(&cli, remote).map_err(UsageError)?;
        let control = ControlOptions {
            joblog: cli.joblog.map(JoblogTarget::parse),
            resume: if cli.resume {
                Some(Resume::Any)
            } else if cli.resume_failed {
                Some(Resume::Succeeded)
            } else {
                None
            },
            attempts: cli
                .retries
                .map_or(1, |n| u32::try_from(n).unwrap_or(u32::MAX)),
            timeout: cli.timeout,
            termseq: cli.termseq,
            halt: cli.halt.and_then(|h| h.0),
            dry_run: cli.dry_run,
        };
        Ok(Options {
            pool_builder: builder,
            input,
            template,
            pool,
            jobs_requested: fixed_workers.or(cli.min_workers),
            repeat: cli.repeat,
            interval: cli.interval,
            grace: cli.grace,
            quiet: cli.quiet,
            progress: !cli.no_progress && stderr_is_terminal && output.mode != Mode::Ungrouped,
            // TERM=dumb and non-UTF-8 locales get plain text unless --color=always.
            color: use_color(
                cli.color,
                stderr_is_terminal && terminal::glyphs() == terminal::UNICODE,
                std::env::var_os("NO_COLOR"),
            ),
            stderr_terminal: stderr_is_terminal,
            verbose: cli.verbose > 0,
            tmpdir: std::env::temp_dir(),
            control,
            output,
            hosts,
            launch,
            delay: cli.delay.filter(|d| !d.is_zero()),
            shuffle: cli.shuf,
            echo_commands: cli.verbose_commands || cli.verbose > 0,
            results,
            files,
            remote_files,
        })
    }
}

/// `--results DIR` (or GNU parallel's one-file forms `FILE.csv`, `.tsv`, `.json`);
/// a name with a replacement string is refused with what to write instead, and
/// `-.csv` (the table on standard output) with `--json`, which writes there too.
fn results_dir(dir: Option<PathBuf>, json: bool) -> Result<Option<PathBuf>, String> {
    let Some(dir) = dir else { return Ok(None) };
    let text = dir.to_string_lossy();
    if text.contains('{') && text.contains('}') {
        return Err(format!(
            "--results {text}: a replacement string in the name is not supported: give a \
             directory (--results DIR); each job's files go in DIR/1/VALUE/"
        ));
    }
    let stdout = crate::run::report::results_table::is_stdout(&dir);
    if text.starts_with('-') && !stdout {
        return Err(format!(
            "--results {text}: give a directory after --results (write ./{text} for a name \
             starting with -; -.csv, -.tsv and -.json mean standard output)"
        ));
    }
    if json && stdout {
        return Err(format!(
            "--results {text} writes its table to standard output, as --json does: use one \
             of them, or give the table a file name"
        ));
    }
    Ok(Some(dir))
}

/// The hosts of `-S` and `--slf`, in the order given (an empty `--slf` file is an
/// error: it would leave the run without a host).
fn hosts(cli: &Cli) -> Result<Vec<Login>, String> {
    let env = |name: &str| std::env::var_os(name);
    if cli.slurm == Some(SlurmVia::Ssh) {
        let command = ssh::ssh_command(cli.ssh.as_deref())?;
        let cpus = cli.cpus_per_job.unwrap_or(1);
        let nodes = slurm::ssh_nodes(env, cpus, slurm::scontrol_hostnames)?;
        return Ok(nodes
            .into_iter()
            .map(|(node, slots)| Login {
                label: node.clone(),
                slots,
                target: Target::Ssh {
                    command: command.clone(),
                    host: node,
                },
            })
            .collect());
    }
    if cli.slurm.is_some() {
        let cpus = cli.cpus_per_job.unwrap_or(1);
        let allocation = slurm::allocation(&env, cpus)?;
        return Ok(vec![Login {
            label: allocation.label,
            slots: Some(allocation.slots),
            target: Target::Slurm {
                cpus,
                rate: cli.slurm_rate.unwrap_or(slurm::DEFAULT_RATE),
            },
        }]);
    }
    if cli.sshlogin.is_empty() && cli.sshloginfile.is_empty() {
        return Ok(Vec::new());
    }
    let command = ssh::ssh_command(cli.ssh.as_deref())?;
    let mut hosts = Vec::new();
    for arg in &cli.sshlogin {
        hosts.extend(ssh::parse_list(arg, &command)?);
    }
    for file in &cli.sshloginfile {
        hosts.extend(ssh::read_file(file, &command)?);
    }
    if hosts.is_empty() {
        return Err("-S/--slf name no host: write -S [N/][user@]host or ':'".into());
    }
    Ok(hosts)
}

/// The cores `-j N%`, `-j +N` and `-j -N` count from: those this process may
/// run on (its affinity and cgroup quota), as GNU parallel counts cores.
fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

/// The pool as the command line sets it up: the one place its options are built.
/// `fixed_workers` is `-j` resolved against the cores (None: adaptive).
fn pool_builder(cli: &Cli, fixed_workers: Option<usize>) -> Builder {
    let mut builder = Builder::new().thread_name("atp-run");
    if let Some(n) = fixed_workers {
        builder = builder.fixed_workers(n);
    }
    if let Some(n) = cli.min_workers {
        builder = builder.min_workers(n);
    }
    if let Some(n) = cli.max_workers {
        builder = builder.max_workers(n);
    }
    if let Some(t) = cli.idle_timeout {
        builder = builder.idle_timeout(t);
    }
    if let Some(kib) = cli.stack_size {
        builder = builder.stack_size_kib(kib);
    }
    if let Some(percent) = cli.cpu_threshold {
        builder = builder.cpu_threshold_percent(percent);
    }
    if let Some(bytes) = cli.memory_reserve {
        builder = builder.memory_reserve(bytes);
    }
    if cli.ignore_load {
        builder = builder.load_aware(false);
    }
    builder
}

/// The output flags (clap refuses the combinations that cannot work).
fn output_options(cli: &Cli) -> OutputOptions {
    let mode = if cli.ungroup {
        Mode::Ungrouped
    } else if cli.line_buffer {
        Mode::LineBuffered
    } else {
        Mode::Grouped
    };
    OutputOptions {
        mode,
        keep_order: cli.keep_order,
        tag: cli.tag,
        json: cli.json,
    }
}

/// Names the flag behind a pool setting that cannot work.
fn pool_error(err: &BuildError) -> String {
    match err {
        BuildError::MinAboveMax { min, max } => format!(
            "--min-workers {min} is above --max-workers {max}: raise --max-workers or lower \
             --min-workers"
        ),
        BuildError::StackTooSmall { .. } | BuildError::StackTooLarge { .. } => {
            format!("invalid --stack-size: {err}")
        }
        _ => format!("invalid pool settings: {err}"),
    }
}

/// `--color` resolved: `auto` colours only a terminal, and NO_COLOR (set and not
/// empty, per no-color.org) turns it off.
fn use_color(choice: ColorChoice, terminal: bool, no_color: Option<std::ffi::OsString>) -> bool {
    match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => terminal && no_color.as_deref().is_none_or(OsStr::is_empty),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn options(args: &[&str]) -> Result<Options, UsageError> {
        let mut argv = vec!["atp-run"];
        argv.extend_from_slice(args);
        Options::from_cli(Cli::try_parse_from(argv).unwrap())
    }

    #[test]
    fn jobs_means_a_fixed_pool() {
        let o = options(&["-j", "3"]).unwrap();
        assert_eq!((o.pool.min_workers(), o.pool.max_workers()), (3, 3));
    }

    #[test]
    fn gnu_relative_jobs_count_from_the_cores_and_zero_is_adaptive() {
        let n = cores();
        let o = options(&["-j", "+1"]).unwrap();
        assert_eq!(o.pool.max_workers(), n + 1);
        let o = options(&["-j", "200%"]).unwrap();
        assert_eq!((o.pool.min_workers(), o.pool.max_workers()), (2 * n, 2 * n));
        let default = options(&[]).unwrap();
        let o = options(&["-j", "0"]).unwrap();
        assert_eq!(o.pool.max_workers(), default.pool.max_workers());
        assert_eq!(o.pool.min_workers(), default.pool.min_workers());
        let minus = format!("-{n}");
        let err = options(&["-j", &minus]).unwrap_err();
        assert!(err.to_string().contains("leaves no job to run"), "{err}");
    }

    #[test]
    fn min_above_max_names_both_flags() {
        let err = options(&["--min-workers", "9", "--max-workers", "3"]).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("--min-workers 9 is above --max-workers 3")
        );
    }

    #[test]
    fn a_tiny_stack_names_the_flag() {
        let err = options(&["--stack-size", "4"]).unwrap_err();
        assert!(err.to_string().starts_with("invalid --stack-size"), "{err}");
    }

    #[test]
    fn results_takes_a_directory_or_a_table_and_refuses_replacement_strings() {
        let o = options(&["--results", "out/"]).unwrap();
        assert_eq!(o.results, Some(PathBuf::from("out/")));
        let o = options(&["--results", "r.csv"]).unwrap();
        assert_eq!(o.results, Some(PathBuf::from("r.csv")));
        for (args, says) in [
            (&["--results", "my_{}"][..], "replacement string"),
            (&["--json", "--results", "-.json"], "use one of them"),
            (&["--results", "--json"], "give a directory after --results"),
        ] {
            let err = options(args).unwrap_err().to_string();
            assert!(err.contains(says), "{args:?}: {err}");
        }
        assert!(options(&["--json", "--results", "r.json"]).is_ok());
    }

    #[test]
    fn an_empty_template_is_an_error() {
        let err = options(&["--", " "]).unwrap_err();
        assert!(err.to_string().contains("empty"), "{err}");
    }

    #[test]
    fn job_control_settings() {
        let o = options(&["--joblog", "+j", "--resume", "--retries", "2"]).unwrap();
        let c = o.control;
        assert_eq!(
            c.joblog.map(|j| (j.path, j.append)),
            Some(("j".into(), true))
        );
        assert_eq!((c.resume, c.attempts), (Some(Resume::Any), 2));
        assert!(c.halt.is_none() && !c.dry_run && c.timeout.is_none());
        let o = options(&["--halt", "never"]).unwrap();
        assert!(o.control.halt.is_none());
        let err = options(&["--timeout", "0"]).unwrap_err();
        assert_eq!(err.to_string(), "--timeout must be more than 0");
    }

    #[test]
    fn color_follows_the_choice_the_terminal_and_no_color() {
        use ColorChoice::*;
        assert!(use_color(Always, false, None));
        assert!(!use_color(Never, true, None));
        assert!(use_color(Auto, true, None));
        assert!(!use_color(Auto, false, None));
        assert!(!use_color(Auto, true, Some("1".into())));
        assert!(use_color(Auto, true, Some("".into())));
    }
}
