//! The command-line interface of `atp-run`: clap definitions only.
//!
//! Each flag's documentation lives next to its definition; [`command`] is what the
//! binary parses with and what the man page and shell completions are generated from
//! (`tests/generated_docs.rs` checks the committed ones are fresh). Turning these raw
//! arguments into validated settings is `run::options`'s job, not this file's.

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

use clap::{ArgAction, CommandFactory, Parser, ValueEnum};

use crate::run::values::duration::parse_duration;
use crate::run::values::halt_spec::{HaltPolicy, parse_halt_policy};
use crate::run::values::jobs_spec::{JobsSpec, parse_jobs};
use crate::run::values::size::{parse_gnu_size, parse_kib, parse_size};
use crate::run::values::termseq::{self, TermSeq, parse_termseq};

/// Examples, at the end of `--help` and in the man page's EXAMPLES section. These
/// section bodies are indented by two spaces; `--help` adds a heading line to each.
pub const EXAMPLES: &str = "  Run every line of jobs.txt as a shell command, at least 4 at a time:
    atp-run --min-workers 4 < jobs.txt

  Compress every log file, one job per file name (xargs style):
    find . -name '*.log' -print0 | atp-run -0 -- gzip -9 {}

  Convert images, naming outputs after inputs:
    ls *.png | atp-run -- convert {} {.}.jpg

  Watchdogs: rerun each command every 5 s until Ctrl-C:
    atp-run --repeat --interval 5s watchdogs.txt

  GNU parallel style: every combination of two input sources, then
  touch 20,000 files in as few jobs as the kernel's limits allow:
    atp-run -- convert -resize {2} {1} {1.}-{2}.png ::: *.jpg ::: 50% 200%
    seq -f 'f%g' 20000 | atp-run -X -- touch

  Count the lines of a stream in 10 MiB blocks, one wc per block:
    seq 50000000 | atp-run --pipe --block 10M wc -l

  Exactly 8 jobs at a time, like parallel -j8 or xargs -P8:
    atp-run -j 8 jobs.txt

  Count lines per file, printed in input order, each line tagged with its file:
    ls *.log | atp-run --keep-order --tag -- wc -l {}

  One JSON object per job; show the failures with jq:
    atp-run --json jobs.txt | jq -c 'select(.exit_code != 0)'

  Up to 3 attempts of at most 5 minutes per job, logged, output in input
  order; after an interruption, the same command with --resume finishes:
    atp-run --retries 3 --timeout 5m --joblog jobs.log -k jobs.txt";

/// For users of GNU parallel and xargs: what differs on purpose, for `--help`
/// (long) and the man page's COMING FROM GNU PARALLEL / XARGS section.
pub const COMING_FROM_GNU: &str =
    "  Input sources, placeholders and batching have GNU parallel's meanings:
  ::: ARGS, :::: FILES, -a FILE, :::+ and ::::+, --link, {1} {2.} {3/} ...,
  --colsep, --header, -n, -N, -L, -X, -m, -s, -I, {#}, {%}. What differs:
  -q         is --quiet here; GNU's -q (quote the command) is --quote
  -v         prints each command on standard error as it starts (as -t),
             GNU's -v on standard output; -vv and more: diagnostics
  --shell    default /bin/sh (or $ATP_SHELL, $PARALLEL_SHELL), not the
             calling shell or $SHELL: write --shell bash for bash idioms
  --shuf     reads up to 10,000 jobs ahead, not the whole input (see --shuf)
  -j         not given: the pool adapts to the load instead of one job per
             core; -j 0 is that adaptive pool, -j N, N%, +N, -N as in GNU
  -X, -m     fill each job up to the kernel's limits (128 KiB per argument,
             ARG_MAX less the environment); the last arguments are shared
             over the job slots (-j N, or the cores) as GNU does
  {foo}      left as it is without --header (shell and awk code use braces);
             an unknown {3}, {1x} or {=...=} is an error, not text
  FILE       operands are files of commands (or of arguments, with a
             TEMPLATE after --), not GNU's command; a command is a TEMPLATE
  -P N       (xargs) is -j N; -r is not needed: no input runs no job
  --pipe     as GNU's, with --block, --recend, --recstart, -N and --header
             N|: (the command's words come after the options, as in GNU);
             -0 means --recend '\\0' there. A job that leaves its block
             unread fails as killed by SIGPIPE, as GNU reports it. Not
             supported: --cat, --fifo, --pipe-part, --round-robin, --regexp,
             --rrs, --block-timeout, -L with --pipe, and -S/--slurm with
             --pipe";

/// Exit statuses, shown in `--help` and the man page.
pub const EXIT_STATUS: &str = "  0    every job succeeded (or there was no job)
  1    at least one job failed, was killed, or could not be started
  2    usage or input error (reported before any job runs), or reading
       the input, writing standard output or writing a --joblog row
       failed part way
  130  interrupted by SIGINT (Ctrl-C), SIGTERM, SIGHUP, SIGQUIT, SIGUSR2
       or SIGALRM
  141  standard output was closed by its reader (e.g. `| head -1`)
  N    with --halt: a fail=1 or done=1 halt exits with the status of the
       job that triggered it (its exit code, or 128 + the signal that
       killed it, as GNU parallel does); a success halt exits with 0;
       other halts with 1 if a job failed, else 0";

/// The template placeholders, in `-h`, `--help` and the man page.
pub const PLACEHOLDERS: &str =
    "  {}    the input line               {.}   the line without its extension
  {/}   its basename                 {//}  its directory
  {/.}  basename without extension   {#}   the job number
  {%}   the worker slot              {host} the job's host (-S; : here)
  Values are shell-quoted; with no placeholder the line is the last argument.";

/// What atp-run shows on a terminal, for `--help` and the man page.
pub const DISPLAY: &str = "  Status lines (standard error), one per job as it ends:
    [N] ok after 0.004s: COMMAND
    [N] failed with exit code C after 1.2s: COMMAND
    [N] killed by SIGNAL after 12.3s: COMMAND
    [N] timed out after 5m00s (killed by SIGTERM): COMMAND
    [N run R] ...  with --repeat;  (attempt K of M)  with --retries
  Durations read 0.004s, 12.3s, 1m05s, 2h03m everywhere. On a terminal a
  status line is shortened to the terminal's width with an ellipsis in the
  middle of the command; elsewhere a command longer than 4096 characters
  keeps its first and last 2048 and says how many were left out. The joblog
  and --json always have the full command.

  The progress line (on a terminal only, redrawn 10 times a second, fitted to
  the width: the least important fields are left out first, never wrapped):
    while reading input:  N done · N read · F failed · T elapsed · rate ·
                          R running, W workers
    total known:          bar · done/total · F failed · ETA T · T elapsed ·
                          rate · R running, W workers
    --repeat:             T elapsed · N runs · F failed · R running · W waiting
  The rate is jobs per second over the last 10 s, with 2 or 3 significant
  digits. The ETA is shown only once 3 jobs have finished and the total is
  known, from the recent rate and the ages of the running jobs; it is left
  out when the only jobs left have already run longer than jobs usually take.
  F failed appears once a job failed. TERM=dumb or a non-UTF-8 locale gets
  ASCII characters and, unless --color=always, no colour.

  After the first Ctrl-C the line says the run is stopping, how long until
  SIGKILL, and that a second Ctrl-C kills at once. On a terminal, jobs killed
  by the stop are counted in the summary (\"N stopped by the interrupt\")
  rather than given a status line each; with -v, or when standard error is not
  a terminal, each keeps its line. The summary counts apart the jobs that
  failed on their own, those stopped by the interrupt, and those never started.";

/// Signal handling, for the man page.
pub const SIGNALS: &str =
    "  The first SIGINT (Ctrl-C), SIGTERM, SIGHUP, SIGQUIT (Ctrl-\\), SIGUSR2 or
  SIGALRM stops starting jobs, sends SIGTERM to the process group of every
  running job (so pipelines and grandchildren too), waits up to --grace, then
  sends SIGKILL to whatever is left, prints the summary and exits with 130. A
  second one kills every job at once, and ends atp-run within a second even if
  it is blocked (writing to a standard output nobody reads). When standard
  output is closed by its reader, atp-run stops the same way, quietly, and
  exits with 141 (SIGPIPE itself is ignored). Nothing atp-run started is left
  running when it exits: as a child subreaper it also ends the processes jobs
  moved out of their process groups (setsid daemons).

  SIGTSTP (Ctrl-Z) stops every running job's process group (SIGSTOP), then
  atp-run itself; SIGCONT (fg, bg) continues the jobs and brings the progress
  line back. Job durations are wall-clock: time spent stopped is included.
  SIGWINCH makes the progress line and status lines fit the new width.

  SIGUSR1 prints the running jobs (number, how long they have been running,
  command) on standard error; nothing is stopped. Jobs themselves start with
  SIGUSR1's default action.";

/// Environment variables, for the man page.
pub const ENVIRONMENT: &str =
    "  RUST_LOG   log filter for atp-run's own diagnostics, e.g. RUST_LOG=atp=debug
             shows every pool growth decision (overrides -v)
  NO_COLOR   when set and not empty, --color auto uses no colour
  TMPDIR     where job output is buffered until the job ends (default /tmp)
  ATP_SHELL  the shell jobs run under when --shell is not given
  PARALLEL_SHELL  the same, when ATP_SHELL is not set (GNU parallel's)
  SHELL      not used: jobs run under /bin/sh -c unless told otherwise

  Set in every job's environment, as GNU parallel sets them (with -S on the
  hosts and in --slurm steps too):
  PARALLEL_SEQ      the job's number, as {#}; the same for all its retries
                    and, with --repeat, for every run of its command
  PARALLEL_JOBSLOT  its worker slot, as {%}: 1 to -j N (with no -j, to the
                    number of live workers), e.g. to pick a GPU:
                    CUDA_VISIBLE_DEVICES=$((PARALLEL_JOBSLOT - 1))
  PARALLEL_PID      the pid of atp-run
  PARALLEL_SSHHOST, PARALLEL_SSHLOGIN  the job's host and login, as {host}
                    and {sshlogin} (: on this machine)";

/// Whether to colour status lines.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    /// Colour when standard error is a terminal and NO_COLOR is not set.
    Auto,
    /// Always colour.
    Always,
    /// Never colour.
    Never,
}

/// How `--slurm` runs jobs on the allocation's nodes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum SlurmVia {
    /// Each job an srun step.
    Srun,
    /// Over ssh to each node (its CPUs / -c jobs at once), as -S would.
    Ssh,
}

/// Run shell commands in parallel on an adaptive thread pool.
///
/// Reads one shell command per line from the FILEs (or standard input) and runs each
/// with /bin/sh -c (or --shell) on a pool of workers that grows while jobs wait and shrinks when
/// they don't. Each job's output is printed as one block when it ends, followed by a
/// status line on standard error.
///
/// With a TEMPLATE after --, each input line is instead an argument for the
/// template, as with xargs or GNU parallel: {} is the line, {.} the line without
/// extension, {/} its basename, {//} its directory, {/.} the basename without
/// extension, {#} the job number, {%} the worker slot and {host} the host the job
/// runs on (with -S; {sshlogin} is its login as written). Values are shell-quoted;
/// with no placeholder the line is appended as the last argument. Arguments can
/// also come from the command line (::: ARGS) and from argument files (:::: FILES),
/// several sources combining as in GNU parallel, {1}, {2}, ... being the first,
/// second, ... source ({1.} {1/} {1//} {1/.} too).
#[derive(Debug, Parser)]
#[command(
    name = "atp-run",
    version,
    max_term_width = 100,
    override_usage = "atp-run [OPTIONS] [FILE]... [-- TEMPLATE...]",
    after_help = format!(
        "Placeholders:\n{PLACEHOLDERS}\n\nExamples:\n{EXAMPLES}\n\nExit status:\n{EXIT_STATUS}"
    ),
    after_long_help = format!(
        "Placeholders:\n{PLACEHOLDERS}\n\nExamples:\n{EXAMPLES}\n\nComing from GNU parallel / xargs:\n\
         {COMING_FROM_GNU}\n\nExit status:\n{EXIT_STATUS}\n\nProgress and status lines:\n{DISPLAY}\n\n\
         Signals:\n{SIGNALS}\n\nEnvironment:\n{ENVIRONMENT}"
    ),
)]
pub struct Cli {
    /// Files of commands (or of arguments, with a TEMPLATE), one per line; `-` is
    /// standard input, which is also read when no FILE is given.
    #[arg(value_name = "FILE")]
    pub files: Vec<PathBuf>,

    /// Command template: each input line becomes its argument (see above). The words
    /// are joined with spaces and run by /bin/sh (or --shell), so `-- 'tr a-z A-Z < {}'` works.
    #[arg(
        last = true,
        value_name = "TEMPLATE",
        value_parser = clap::value_parser!(OsString)
    )]
    pub template: Vec<OsString>,

    /// Input records are separated by NUL bytes instead of newlines (for
    /// `find -print0`); newlines and spaces inside records are kept. With
    /// --pipe: records end with NUL (--recend '\0').
    #[arg(short = '0', long = "null", help_heading = "Input")]
    pub null: bool,

    /// Read arguments from FILE, like `:::: FILE` (GNU parallel and xargs -a);
    /// may be repeated, each FILE is one more input source.
    #[arg(
        short = 'a',
        long = "arg-file",
        value_name = "FILE",
        help_heading = "Input"
    )]
    pub arg_files: Vec<PathBuf>,

    /// Pair the input sources up instead of combining every value of each with
    /// every value of the others: job i takes value i of each source, and the
    /// shorter sources are recycled (GNU parallel --link). `:::+` and `::::+` pair
    /// one source with the one before it and stop at the shorter.
    #[arg(long, help_heading = "Input")]
    pub link: bool,

    /// Split each input line into columns at this regular expression (e.g. '\t',
    /// ',', ' +'); the columns are {1}, {2}, … as if each were an input source.
    #[arg(long, value_name = "REGEX", help_heading = "Input")]
    pub colsep: Option<String>,

    /// Read each input line as CSV (RFC 4180), as GNU parallel --csv: its fields
    /// are the columns {1}, {2}, …; a quoted field may hold commas, "" for a quote,
    /// and newlines.
    #[arg(long, conflicts_with = "colsep", help_heading = "Input")]
    pub csv: bool,

    /// `:` — the first line of each input source names its columns, used as
    /// {name} in the template (with --colsep, one name per column); N — skip
    /// the first N lines of each source. With --pipe: the first line (`:`) or
    /// the first N lines of the input start every block.
    #[arg(long, value_name = ":|N", help_heading = "Input")]
    pub header: Option<String>,

    /// Cut standard input (or the -a FILE) into blocks of about --block bytes
    /// ending at record boundaries, and give each block to one job as its
    /// standard input (GNU parallel --pipe). The words after the options are the
    /// command, run once per block: `seq 10 | atp-run --pipe wc -l`; {#} and {%}
    /// work in it. A job that ends without reading all of its block fails as
    /// killed by SIGPIPE, as GNU parallel reports it. Memory stays about
    /// (running jobs + 4) x --block, whatever the input's size; --shuf (which GNU
    /// parallel refuses with --pipe) adds its window, at most 64 MiB of blocks.
    #[arg(
        long,
        visible_alias = "spreadstdin",
        conflicts_with_all = ["context_replace", "multiple", "max_chars", "max_lines", "replace", "colsep", "csv", "link", "repeat", "dry_run"],
        help_heading = "Pipe"
    )]
    pub pipe: bool,

    /// With --pipe, about this many bytes per block: as in GNU parallel, k, m, g
    /// are powers of 1000 and K, M, G powers of 1024; a block ends at the last
    /// record boundary within SIZE, or holds one whole record if a record is
    /// longer [default: 1M].
    #[arg(
        long,
        visible_alias = "block-size",
        value_name = "SIZE",
        value_parser = parse_gnu_size,
        requires = "pipe",
        help_heading = "Pipe"
    )]
    pub block: Option<u64>,

    /// With --pipe, records end with STR [default: \n; '' with --recstart
    /// alone]; -0 means --recend '\0'. \n, \t, \r, \0 and \\ are decoded.
    /// --recend '' alone cuts blocks at exactly --block bytes (binary data).
    #[arg(long, value_name = "STR", requires = "pipe", help_heading = "Pipe")]
    pub recend: Option<String>,

    /// With --pipe, records start with STR: blocks are cut only before it (and,
    /// with --recend too, only where a record end is followed by it).
    #[arg(long, value_name = "STR", requires = "pipe", help_heading = "Pipe")]
    pub recstart: Option<String>,

    /// Give each job up to N arguments (input lines, or combinations of input
    /// sources), separated by spaces where {} is (xargs -n, parallel -n). With
    /// --pipe: N records per block, as -N.
    #[arg(
        short = 'n',
        long = "max-args",
        value_name = "N",
        value_parser = parse_positive,
        conflicts_with_all = ["max_replace_args", "max_lines"],
        help_heading = "Arguments per job"
    )]
    pub max_args: Option<usize>,

    /// Give each job N arguments, {1} … {N} being the first … N-th (the last
    /// job may have fewer; the missing ones are empty), as parallel -N. With
    /// --pipe: N records per block (the last may have fewer), whatever --block.
    #[arg(
        short = 'N',
        value_name = "N",
        value_parser = parse_positive,
        conflicts_with = "max_lines",
        help_heading = "Arguments per job"
    )]
    pub max_replace_args: Option<usize>,

    /// Up to N input lines per job (xargs -L, parallel -L); a line is one
    /// argument (use --colsep to split it).
    #[arg(
        short = 'L',
        long = "max-lines",
        value_name = "N",
        value_parser = parse_positive,
        help_heading = "Arguments per job"
    )]
    pub max_lines: Option<usize>,

    /// As many arguments per job as fit the command-line limits, repeating the
    /// word around {} for each (context replace: `-X -- mv {} dir/` and
    /// `x{}y` → `xay xby`), as parallel -X. Jobs are filled up to the kernel's
    /// limits (128 KiB per argument, ARG_MAX less the environment).
    #[arg(
        short = 'X',
        conflicts_with = "multiple",
        help_heading = "Arguments per job"
    )]
    pub context_replace: bool,

    /// As many arguments per job as fit the command-line limits, {} standing
    /// for all of them separated by spaces, as parallel -m.
    #[arg(short = 'm', help_heading = "Arguments per job")]
    pub multiple: bool,

    /// Fill each job's command up to N bytes at most (xargs -s, parallel -s);
    /// never more than the kernel allows.
    #[arg(
        short = 's',
        long = "max-chars",
        value_name = "N",
        value_parser = parse_positive,
        help_heading = "Arguments per job"
    )]
    pub max_chars: Option<usize>,

    /// Use STR instead of {} as the placeholder for the arguments (xargs -I,
    /// parallel -I); {} is then plain text.
    #[arg(
        short = 'I',
        long = "replace",
        value_name = "STR",
        help_heading = "Arguments per job"
    )]
    pub replace: Option<String>,

    /// Use STR instead of {.} (the argument without extension), as parallel --er.
    #[arg(
        long,
        visible_alias = "er",
        value_name = "STR",
        help_heading = "Arguments per job"
    )]
    pub extensionreplace: Option<String>,

    /// Use STR instead of {/} (the basename), as parallel --bnr.
    #[arg(
        long,
        visible_alias = "bnr",
        value_name = "STR",
        help_heading = "Arguments per job"
    )]
    pub basenamereplace: Option<String>,

    /// Use STR instead of {//} (the dirname), as parallel --dnr.
    #[arg(
        long,
        visible_alias = "dnr",
        value_name = "STR",
        help_heading = "Arguments per job"
    )]
    pub dirnamereplace: Option<String>,

    /// Use STR instead of {/.} (basename without extension), as parallel --bner.
    #[arg(
        long,
        visible_alias = "bner",
        value_name = "STR",
        help_heading = "Arguments per job"
    )]
    pub basenameextensionreplace: Option<String>,

    /// Use STR instead of {#} (the job number), as parallel --seqreplace.
    #[arg(long, value_name = "STR", help_heading = "Arguments per job")]
    pub seqreplace: Option<String>,

    /// Use STR instead of {%} (the worker slot), as parallel --slotreplace.
    #[arg(long, value_name = "STR", help_heading = "Arguments per job")]
    pub slotreplace: Option<String>,

    /// Shell-quote the template words too, so a word like `'$x'` or `a|b`
    /// reaches the command as it is (GNU parallel's -q; our -q is --quiet).
    #[arg(long, help_heading = "Arguments per job")]
    pub quote: bool,

    /// Run exactly N jobs at a time: a fixed pool of N workers (like parallel -j N
    /// or xargs -P N). As in GNU parallel, N% is that share of the cores, +N and
    /// -N the cores plus or minus N; 0 means as many as possible: the adaptive
    /// pool, grown while CPU and memory allow (the default without -j). Cannot be
    /// combined with --min-workers or --max-workers.
    #[arg(
        short = 'j',
        long,
        value_name = "N",
        value_parser = parse_jobs,
        allow_hyphen_values = true,
        conflicts_with_all = ["min_workers", "max_workers"],
        help_heading = "Pool"
    )]
    pub jobs: Option<JobsSpec>,

    /// Run jobs on these hosts over ssh: a comma-separated list of LOGIN or N/LOGIN,
    /// repeatable. LOGIN is host or user@host, a whole ssh command whose last word is the host (e.g. "ssh -p
    /// 2222 user@host"), or ':' for this machine. N/ runs exactly N jobs at once
    /// there; otherwise a Linux host starts with its cores and adapts to its own
    /// load as the local pool does (jobs that wait fan out, jobs that compute hold
    /// at the cores; --cpu-threshold and --memory-reserve apply per host), and
    /// another system keeps its cores. One ControlMaster per host is held for
    /// the run; nothing needs to be installed on the hosts. A host that stops
    /// answering is left out and its jobs run elsewhere (at least once).
    #[arg(
        short = 'S',
        long = "sshlogin",
        value_name = "[N/]LOGIN",
        conflicts_with_all = ["jobs", "min_workers", "max_workers"],
        help_heading = "Remote"
    )]
    pub sshlogin: Vec<String>,

    /// Read -S logins from FILE, one list per line ('#' starts a comment line).
    #[arg(
        long = "slf",
        value_name = "FILE",
        conflicts_with_all = ["jobs", "min_workers", "max_workers"],
        help_heading = "Remote"
    )]
    pub sshloginfile: Vec<PathBuf>,

    /// Run each job as a step of the current Slurm allocation (inside salloc or
    /// sbatch): srun --exact -N1 -n1 -c N, as many at once as fit the allocation's
    /// nodes (see -c). A step's processes are stopped the way local jobs are, and
    /// nothing is left when atp-run ends, even by SIGKILL. The joblog's Host column
    /// names the node each job ran on. Launching a step costs ~50 ms and a request
    /// to slurmctld (paced by --slurm-rate; atp-run warns when jobs are that
    /// short): give each step more work, several arguments per job (-N, -m, -X).
    /// --slurm=ssh runs the jobs over ssh on the allocation's nodes (scontrol show
    /// hostnames), as -S would, each node's CPUs / -c at once: no step per job.
    #[arg(
        long,
        value_name = "VIA",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "srun",
        conflicts_with_all = ["jobs", "min_workers", "max_workers", "sshlogin", "sshloginfile"],
        help_heading = "Remote"
    )]
    pub slurm: Option<SlurmVia>,

    /// With --slurm: CPUs of each job's step (srun -c N). A step stays on one node,
    /// so a node with C CPUs runs C/N jobs at once [default: 1].
    #[arg(
        short = 'c',
        long = "cpus-per-job",
        visible_alias = "cpus-per-task",
        value_name = "N",
        value_parser = parse_positive,
        requires = "slurm",
        help_heading = "Remote"
    )]
    pub cpus_per_job: Option<usize>,

    /// With --slurm: most steps launched per second, after a first burst of as
    /// many, so that many short jobs do not flood slurmctld [default: 20].
    #[arg(
        long,
        value_name = "N",
        value_parser = parse_positive,
        requires = "slurm",
        help_heading = "Remote"
    )]
    pub slurm_rate: Option<usize>,

    /// The ssh command for -S logins, with its options [default: ssh].
    #[arg(long, value_name = "CMD", help_heading = "Remote")]
    pub ssh: Option<String>,

    /// Copy FILE to the -S host before the job (placeholders allowed: {} is the
    /// argument). A relative FILE goes to the same relative path under the host's
    /// work directory (--workdir; the home by default), an absolute one to the same
    /// absolute path; in dir/./sub/f only sub/f is kept (rsync's anchor). Files go
    /// as a tar stream inside the job's own ssh session. A missing FILE fails the
    /// job without running it. On ':' these flags do nothing. Repeatable.
    #[arg(
        long = "transferfile",
        visible_alias = "tf",
        value_name = "FILE",
        help_heading = "Remote"
    )]
    pub transferfile: Vec<PathBuf>,

    /// Same as --transferfile {}: copy each job's argument (a file) to its host.
    #[arg(long, help_heading = "Remote")]
    pub transfer: bool,

    /// After the job on a -S host (whether or not it failed), copy FILE back from
    /// the host's work directory to the same relative path here (an absolute FILE
    /// to the same absolute path). Placeholders allowed, e.g. --return {.}.out.
    /// Repeatable.
    #[arg(long = "return", value_name = "FILE", help_heading = "Remote")]
    pub return_file: Vec<PathBuf>,

    /// Remove the transferred and returned files (and --basefile files at the end)
    /// on the host, and the directories they made if left empty.
    #[arg(long, help_heading = "Remote")]
    pub cleanup: bool,

    /// Same as --transfer --return FILE --cleanup. Repeatable.
    #[arg(long, value_name = "FILE", help_heading = "Remote")]
    pub trc: Vec<PathBuf>,

    /// Copy FILE to every -S host once, before its first job (a fixed name,
    /// placed as --transferfile places it); removed at the end with --cleanup.
    /// Repeatable.
    #[arg(
        long = "basefile",
        visible_alias = "bf",
        value_name = "FILE",
        help_heading = "Remote"
    )]
    pub basefile: Vec<PathBuf>,

    /// Run jobs on -S hosts in DIR (made if missing), relative to the remote home
    /// unless absolute; transferred and returned files are relative to it. '...'
    /// is a new directory per job under ~/.atp-run/tmp, removed after the job;
    /// '.' is this directory's path relative to the home here (absolute if it is
    /// not under the home). Placeholders allowed. [default: the remote home]
    #[arg(
        long = "workdir",
        visible_alias = "wd",
        value_name = "DIR",
        help_heading = "Remote"
    )]
    pub workdir: Option<PathBuf>,

    /// Give jobs on -S hosts the variable VAR with its value here (several as
    /// VAR1,VAR2; repeatable). Any bytes in the value are kept. An unset VAR is
    /// left out. Exported shell functions and GNU's --env _ are not supported.
    #[arg(long = "env", value_name = "VAR", help_heading = "Remote")]
    pub env: Vec<String>,

    /// Workers kept alive at all times, even when idle [default: 2].
    #[arg(long, value_name = "N", help_heading = "Pool")]
    pub min_workers: Option<usize>,

    /// Most workers (so jobs) at once [default: 512].
    #[arg(long, value_name = "N", value_parser = parse_positive, help_heading = "Pool")]
    pub max_workers: Option<usize>,

    /// How long a worker above the minimum may sit idle before it retires, e.g.
    /// 500ms, 5s, 1m [default: 5s].
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, help_heading = "Pool")]
    pub idle_timeout: Option<Duration>,

    /// Stack size of each worker thread: KiB (at least 64), or a size such as 1M
    /// [default: 512].
    #[arg(long, value_name = "KIB", value_parser = parse_kib, help_heading = "Pool")]
    pub stack_size: Option<usize>,

    /// Grow only while CPU utilisation (of the machine, or of the cgroup's CPU quota)
    /// is below this percentage [default: 90].
    #[arg(
        long,
        value_name = "PERCENT",
        value_parser = clap::value_parser!(u32).range(1..=100),
        help_heading = "Pool"
    )]
    pub cpu_threshold: Option<u32>,

    /// Grow only while more memory than this is available (of the machine, or under
    /// the cgroup's limit), and back off under half of it, e.g. 512M, 2G
    /// [default: 5% of memory, between 64M and 1G].
    #[arg(long, value_name = "SIZE", value_parser = parse_size, help_heading = "Pool")]
    pub memory_reserve: Option<u64>,

    /// Grow by the backlog alone, up to --max-workers, ignoring CPU and memory load.
    #[arg(long, conflicts_with_all = ["cpu_threshold", "memory_reserve"], help_heading = "Pool")]
    pub ignore_load: bool,

    /// Turn every command into a watchdog: rerun it each time it ends, until
    /// Ctrl-C. Failed runs are reported and the loop goes on, backing off
    /// (consecutive failures wait 10 ms, doubling up to 1 s or --interval; a
    /// success resets it); the summary counts runs and failures per command.
    #[arg(long, help_heading = "Jobs")]
    pub repeat: bool,

    /// With --repeat, wait this long between the end of a run and the next.
    #[arg(
        long,
        value_name = "DURATION",
        value_parser = parse_duration,
        requires = "repeat",
        help_heading = "Jobs"
    )]
    pub interval: Option<Duration>,

    /// Run each command with this shell (SHELL -c COMMAND) instead of /bin/sh, e.g.
    /// --shell bash for `diff <(sort a) <(sort b)`. A bare name is looked up in PATH
    /// (with -S, on each host). Default: $ATP_SHELL, else $PARALLEL_SHELL (as GNU
    /// parallel), else /bin/sh. $SHELL is not followed (GNU parallel does): commands
    /// mean the same whoever runs them. fish, csh and tcsh do not read the POSIX
    /// quoting of template values: they run command lists only.
    #[arg(
        long,
        value_name = "SHELL",
        value_parser = clap::value_parser!(OsString),
        help_heading = "Jobs"
    )]
    pub shell: Option<OsString>,

    /// Start jobs at least DURATION apart (e.g. 0.5, 200ms, 1m), however many
    /// workers there are: retries and --repeat runs too (GNU parallel --delay; for
    /// rate-limited services). The first job starts at once.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, help_heading = "Jobs")]
    pub delay: Option<Duration>,

    /// Run the jobs in a random order (GNU parallel --shuf). An input of up to
    /// 10,000 jobs (64 MiB) is read whole, then shuffled; a longer one streams
    /// through a window of 10,000 jobs, each next job drawn at random from it. {#},
    /// the joblog's Seq and --keep-order follow the shuffled order, as in GNU
    /// parallel.
    #[arg(long, conflicts_with_all = ["resume", "resume_failed"], help_heading = "Jobs")]
    pub shuf: bool,

    /// Run jobs, and everything they start, at niceness N: from -20 (most CPU) to 19
    /// (least), as GNU parallel --nice (with -S, on the hosts too, through nice(1)).
    /// Only root may go below atp-run's own niceness: that is an error, not ignored.
    #[arg(
        long,
        value_name = "N",
        value_parser = clap::value_parser!(i32).range(-20..=19),
        allow_negative_numbers = true,
        help_heading = "Jobs"
    )]
    pub nice: Option<i32>,

    /// Print each command on standard error as its job starts, after placeholders
    /// (xargs -t, GNU parallel -t); -v does the same. Retries and --repeat runs are
    /// printed each time they start.
    #[arg(short = 't', long, help_heading = "Output")]
    pub verbose_commands: bool,

    /// On interruption, how long running jobs get between SIGTERM and SIGKILL.
    #[arg(
        long,
        value_name = "DURATION",
        value_parser = parse_duration,
        default_value = "2s",
        help_heading = "Jobs"
    )]
    pub grace: Duration,

    /// Log every finished job to FILE in GNU parallel's --joblog format (tab
    /// separated: Seq, Host, Starttime, JobRuntime, Send, Receive, Exitval, Signal,
    /// Command), one row written as each job ends; Send is the length of the
    /// job's --pipe block (0 without --pipe), Receive the bytes of its stdout (0
    /// with --ungroup). FILE is truncated first; with +FILE rows are appended
    /// (the header is written only into an empty file). A retried job gets one
    /// row, for its last attempt.
    #[arg(
        long,
        value_name = "FILE",
        value_parser = clap::value_parser!(OsString),
        conflicts_with = "repeat",
        help_heading = "Job control"
    )]
    pub joblog: Option<OsString>,

    /// Skip the jobs whose number (Seq) is already in the --joblog, whatever
    /// their status, and append to it: rerun the same input after an interruption
    /// to finish the rest. Reads joblogs written by GNU parallel too.
    #[arg(long, requires = "joblog", help_heading = "Job control")]
    pub resume: bool,

    /// Like --resume, but rerun the jobs the --joblog shows as failed (Exitval or
    /// Signal not 0); skip only the ones that succeeded.
    #[arg(
        long,
        requires = "joblog",
        conflicts_with = "resume",
        help_heading = "Job control"
    )]
    pub resume_failed: bool,

    /// Run a failing job up to N times in all; each attempt's status line says
    /// which it was, and only the last attempt counts in the summary, the exit
    /// status and the --joblog. With --keep-order or --json only the last
    /// attempt's output is printed (in the job's turn, or as its object).
    #[arg(
        long,
        value_name = "N",
        value_parser = parse_positive,
        conflicts_with = "repeat",
        help_heading = "Job control"
    )]
    pub retries: Option<usize>,

    /// Give each job at most DURATION (e.g. 30s, 5m, or seconds), then run the
    /// --termseq termination sequence on its whole process group. A timed-out job
    /// counts as failed (joblog Exitval -1, as in GNU parallel; --json
    /// "timed_out":true). Works with every output mode.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, help_heading = "Job control")]
    pub timeout: Option<Duration>,

    /// Termination sequence for --timeout and --halt now, in GNU parallel's
    /// syntax: signal names and milliseconds to wait for the job's process group
    /// to go before the next signal.
    #[arg(
        long,
        value_name = "SEQ",
        value_parser = parse_termseq,
        default_value = termseq::DEFAULT,
        help_heading = "Job control"
    )]
    pub termseq: TermSeq,

    /// Stop early, as GNU parallel's --halt: WHEN,WHY=N or WHEN,WHY=P%. WHEN is
    /// soon (start no new job, wait for the running ones) or now (also kill the
    /// running ones with --termseq); WHY is fail, success or done (any end); N
    /// jobs, or P% of all jobs (decided once the input has ended). never (the
    /// default) and GNU's 0, 1, 2, -1, -2 and P% forms work too. See EXIT STATUS.
    #[arg(
        long,
        value_name = "WHEN,WHY=N",
        value_parser = parse_halt_policy,
        allow_negative_numbers = true,
        conflicts_with = "repeat",
        help_heading = "Job control"
    )]
    pub halt: Option<HaltPolicy>,

    /// Print each command as it would run (after template substitution and
    /// quoting), one per line on standard output, in input order, and run
    /// nothing. With --resume, the jobs it would skip are left out; with --tag,
    /// each line is prefixed like a job's output. --keep-order, --line-buffer and
    /// --ungroup change nothing; --json (which reports finished jobs) and --repeat
    /// cannot be combined with it.
    #[arg(long, conflicts_with_all = ["repeat", "json"], help_heading = "Job control")]
    pub dry_run: bool,

    /// Print status lines only for jobs that did not succeed (and the summary only
    /// when something failed).
    #[arg(short, long, help_heading = "Output")]
    pub quiet: bool,

    /// Print each job's output in input order (job number order) instead of
    /// completion order, still as whole blocks, each followed by its status line.
    /// Streamed: a job's block is printed as soon as every earlier job's was; jobs
    /// that finished early wait in their temporary files (not in memory), and no
    /// new job starts while 256 wait. When interrupted, what waits is printed.
    /// Cannot be combined with --ungroup, --line-buffer or --repeat.
    #[arg(
        short = 'k',
        long,
        conflicts_with_all = ["ungroup", "line_buffer", "repeat"],
        help_heading = "Output"
    )]
    pub keep_order: bool,

    /// Prefix every line of a job's output (stdout and stderr) with its argument
    /// (the input line, with a TEMPLATE) or else its command, and a tab, like GNU
    /// parallel --tag. A last line without a newline is prefixed too, and no
    /// newline is added to it. Combines with --keep-order and --line-buffer.
    #[arg(long, conflicts_with_all = ["ungroup", "json"], help_heading = "Output")]
    pub tag: bool,

    /// Print jobs' output line by line as it is produced: lines of different jobs
    /// may interleave, but a line (up to 1 MiB) is never split or mixed with
    /// another. A last line without a newline is printed when the job ends, as
    /// is. The status line follows the job's last line. Cannot be combined with
    /// --keep-order, --ungroup or --json.
    #[arg(long, conflicts_with_all = ["ungroup", "json"], help_heading = "Output")]
    pub line_buffer: bool,

    /// Do not capture output: jobs write straight to atp-run's standard output
    /// and error, as they go (for long or interactive jobs). Output of different
    /// jobs may mix, even within a line. Status lines are still printed when jobs
    /// end; the progress display is off.
    #[arg(
        short = 'u',
        long,
        conflicts_with_all = ["line_buffer", "json"],
        help_heading = "Output"
    )]
    pub ungroup: bool,

    /// Print one JSON object per finished job on standard output, one per line
    /// (NDJSON), instead of its output and status line: seq, run, command, start
    /// (Unix time, seconds), duration (seconds), exit_code (null if killed),
    /// signal (name or null), timed_out (its --timeout ran out), attempt (the
    /// one that counted, with --retries), slot, error (why it could not run, or
    /// null), stdout and stderr (the job's whole output). Bytes that are not UTF-8
    /// are replaced by U+FFFD, and then command_lossy, stdout_lossy or
    /// stderr_lossy is true. The summary stays on standard error. Combines with
    /// --keep-order; not with --tag, --line-buffer or --ungroup.
    #[arg(long, help_heading = "Output")]
    pub json: bool,

    /// Keep each job's output in files under DIR, in GNU parallel's layout:
    /// DIR/1/VALUE/ for a job of one argument, DIR/1/A/2/B/ for two sources (the
    /// column name instead of its number with --header :), DIR/1/COMMAND/ for a
    /// plain command line. In it: seq (the job number), stdout and stderr
    /// (written by the job as it runs, not held in memory), and exitval (not in
    /// GNU parallel; written when the job ends: the exit code, the signal that
    /// killed it such as SIGTERM, or timeout; missing if the job never ended, e.g.
    /// atp-run was killed). In a name, / is written \_, \ is \\, a tab \t,
    /// NUL \0; an empty value is \e, . and .. are \. and \.\.; a name over 255
    /// bytes is cut and ends with \# and a hash. As in GNU parallel, the jobs'
    /// output is then not printed (status lines, the summary and --json are);
    /// with --retries the files hold the last attempt. DIR is created if needed.
    /// GNU parallel's one-file forms work too: --results FILE.csv, FILE.tsv or
    /// FILE.json write one row (or JSON object) per finished job, in GNU's columns
    /// (Seq, Host, Starttime, JobRuntime, Send, Receive, Exitval, Signal, Command,
    /// V1…, Stdout, Stderr); -.csv, -.tsv and -.json write it to standard output.
    #[arg(
        long,
        value_name = "DIR",
        allow_hyphen_values = true,
        help_heading = "Output"
    )]
    pub results: Option<PathBuf>,

    /// Do not show the progress display (it is shown only when standard error is a
    /// terminal).
    #[arg(long, help_heading = "Output")]
    pub no_progress: bool,

    /// Colour status lines: auto (when standard error is a terminal and NO_COLOR is
    /// unset), always or never.
    #[arg(
        long,
        value_enum,
        value_name = "WHEN",
        default_value_t = ColorChoice::Auto,
        help_heading = "Output"
    )]
    pub color: ColorChoice,

    /// Print each command on standard error as it starts, like -t (GNU parallel
    /// -v prints it on standard output instead). More diagnostics too: -vv info,
    /// -vvv debug (pool decisions), -vvvv trace. RUST_LOG overrides them.
    #[arg(short, long, action = ArgAction::Count, help_heading = "Output")]
    pub verbose: u8,
}

/// A whole number of at least 1.
fn parse_positive(s: &str) -> Result<usize, String> {
    match s.trim().parse::<usize>() {
        Ok(0) => Err("must be at least 1".to_owned()),
        Ok(n) => Ok(n),
        Err(_) => Err(format!("'{s}' is not a whole number")),
    }
}

/// The clap command, for parsing and for generating the man page and completions.
pub fn command() -> clap::Command {
    Cli::command()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_definition_is_consistent() {
        command().debug_assert();
    }

    #[test]
    fn files_and_template_are_split_at_the_double_dash() {
        let cli =
            Cli::try_parse_from(["atp-run", "-0", "a.txt", "-", "--", "gzip", "-9", "{}"]).unwrap();
        assert_eq!(cli.files, [PathBuf::from("a.txt"), PathBuf::from("-")]);
        assert_eq!(cli.template, ["gzip", "-9", "{}"]);
        assert!(cli.null);
    }

    #[test]
    fn jobs_conflicts_with_min_and_max() {
        let err = Cli::try_parse_from(["atp-run", "-j", "4", "--max-workers", "8"]).unwrap_err();
        assert_eq!(err.kind(), clap::error::ErrorKind::ArgumentConflict);
        assert!(Cli::try_parse_from(["atp-run", "-j", "x"]).is_err());
        let cli = Cli::try_parse_from(["atp-run", "-j", "-1", "f"]).unwrap();
        assert_eq!(cli.jobs, Some(JobsSpec::Relative(-1)));
    }

    #[test]
    fn job_control_flags_parse_and_resume_needs_a_joblog() {
        let cli = Cli::try_parse_from([
            "atp-run",
            "--joblog",
            "+log",
            "--resume-failed",
            "--retries",
            "3",
            "--timeout",
            "2s",
            "--termseq",
            "INT,100,KILL",
            "--halt",
            "now,fail=1",
            "--dry-run",
        ])
        .unwrap();
        assert_eq!(cli.joblog.as_deref(), Some(std::ffi::OsStr::new("+log")));
        assert!(cli.resume_failed && cli.dry_run && !cli.resume);
        assert_eq!(cli.retries, Some(3));
        assert_eq!(cli.timeout, Some(Duration::from_secs(2)));
        assert_eq!(cli.termseq.to_string(), "INT,100,KILL,0");
        assert_eq!(cli.halt.unwrap().0.unwrap().to_string(), "now,fail=1");
        assert!(Cli::try_parse_from(["atp-run", "--resume"]).is_err());
        assert!(Cli::try_parse_from(["atp-run", "--resume-failed"]).is_err());
        assert!(Cli::try_parse_from(["atp-run", "--halt", "later"]).is_err());
        // GNU's -1 and -2 (listed in --help) are values, not flags.
        for (gnu, ours) in [("-1", "soon,success=1"), ("-2", "now,success=1")] {
            let cli = Cli::try_parse_from(["atp-run", "--halt", gnu]).unwrap();
            assert_eq!(cli.halt.unwrap().0.unwrap().to_string(), ours, "{gnu}");
        }
        assert!(Cli::try_parse_from(["atp-run", "--termseq", "NOPE"]).is_err());
        assert!(Cli::try_parse_from(["atp-run", "--retries", "0"]).is_err());
        let cli = Cli::try_parse_from(["atp-run"]).unwrap();
        assert_eq!(cli.termseq, TermSeq::default());
        assert!(cli.halt.is_none());
    }

    #[test]
    fn output_modes_that_cannot_combine_are_refused() {
        for args in [
            &["--ungroup", "--keep-order"][..],
            &["-u", "--tag"],
            &["-u", "--line-buffer"],
            &["-u", "--json"],
            &["--line-buffer", "-k"],
            &["--line-buffer", "--json"],
            &["--json", "--tag"],
            &["--keep-order", "--repeat"],
        ] {
            let err = Cli::try_parse_from(["atp-run"].iter().chain(args)).unwrap_err();
            assert_eq!(
                err.kind(),
                clap::error::ErrorKind::ArgumentConflict,
                "{args:?}"
            );
        }
        for args in [
            &["-k", "--tag"][..],
            &["-k", "--json"],
            &["--line-buffer", "--tag"],
            &["--json", "--repeat"],
            &["-u", "--repeat"],
        ] {
            assert!(
                Cli::try_parse_from(["atp-run"].iter().chain(args)).is_ok(),
                "{args:?}"
            );
        }
    }

    #[test]
    fn interval_needs_repeat() {
        assert!(Cli::try_parse_from(["atp-run", "--interval", "1s"]).is_err());
        let cli = Cli::try_parse_from(["atp-run", "--repeat", "--interval", "1s"]).unwrap();
        assert_eq!(cli.interval, Some(Duration::from_secs(1)));
    }
}
