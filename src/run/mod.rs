//! The engine of `atp-run`: reading commands, running each as a task on the adaptive
//! pool, reporting what happened, and stopping cleanly.
//!
//! The flow, one directory per stage (the protocol between the threads and its
//! invariants is written down in `src/run/PROTOCOL.md`, beside this file: read it
//! before changing the feeder, the completion counting or the shutdown path):
//!
//! ```text
//! input/     sources (FILEs, :::, ::::) ─► rows (combine) ─► jobs (batch) ─► feeder ─► pool task per job
//! control/   attempts (--retries) ─► exec/ Executor::run(JobSpec, JobOutput) ─► JobEnd
//! report/    Reporter ─► tally │ status lines │ grouped │ ordered │ line-buffered │
//!                        ungrouped │ JSON │ joblog │ progress │ running list
//! coordinator ◄─ events (completion, input end, signals, stdout, halt) ─► shut_down
//! ```
//!
//! | file | owns |
//! |---|---|
//! | `options.rs` | validated settings of a run, the pool's builder |
//! | `usage.rs` | a command-line parse error shown on one line |
//! | `job.rs`, `events.rs`, `outcome.rs`, `error.rs`, `lock.rs` | shared leaf types: a job's key, spec and end; the coordinator's events; how a run ends; why it could not start; lock recovery |
//! | `values/` | values the command line and the runner share (durations, sizes, `--termseq`, `--halt` specs) |
//! | `input/` | sources (FILEs, stdin, `:::`, `::::`, `-a`), combining them (products, `--link`, `--colsep`, `--header`, `--csv`), several arguments per job, templates, `--shuf`, the feeder and its in-flight window |
//! | `exec/` | the executor boundary, the shell and niceness jobs launch with (`--shell`, `--nice`), the local process-group executor, capture files, the registry, timeouts |
//! | `control/` | attempts and `--retries`, `--delay`, `--halt`, `--resume` |
//! | `report/` | the reporter and one file per sink |
//! | `completion.rs`, `coordinator.rs`, `signals.rs` | counting jobs done, the one shutdown path, every signal |

mod completion;
mod control;
mod coordinator;
mod error;
mod events;
mod exec;
mod input;
mod job;
mod lock;
pub mod options;
mod outcome;
mod report;
mod signals;
pub mod unknown_flag;
pub mod usage;
pub(crate) mod values;

use std::io::IsTerminal;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use crossbeam_channel::Sender;

use crate::ThreadPool;

pub use error::RunError;
pub use input::pipe::command_words_after_pipe;
pub use outcome::Outcome;
pub use report::progress::init_logging;
pub use signals::catch_early as catch_signals_early;

use completion::Completion;
use control::attempts::Jobs;
use control::halt::HaltTracker;
use control::resume;
use coordinator::{Parts, coordinate, shut_down};
use events::Event;
use exec::capture::Capture;
use exec::executor::{Executor, SignalJob};
use exec::fdlimit;
use exec::late::LateExecutor;
use exec::local::LocalExecutor;
use exec::ssh::SshExecutor;
use exec::timeout::Timeouts;
use input::feeder::{Feeder, Shared, Window, in_flight_limit};
use options::{Mode, Options};
use report::grouped::Grouped;
use report::joblog::{self, Joblog};
use report::json_sink::Json;
use report::line_buffered::LineBuffered;
use report::ordered::{KEEP_ORDER_AHEAD, Ordered};
use report::progress::Progress;
use report::reporter::Reporter;
use report::results::ResultsDir;
use report::results_table::{ResultsTable, TableFormat};
use report::sink::OutputSink;
use report::status::StatusLines;
use report::tally::Tally;
use report::ungrouped::Ungrouped;

/// Runs every command of the input as `options` say. Returns how the run ended;
/// errors found before any job ran (unreadable input, pool that cannot start) are
/// returned as `Err` and mean exit status 2.
///
/// # Errors
/// See [`RunError`].
pub fn run(options: Options, install_signal_handlers: bool) -> Result<Outcome, RunError> {
    let started = Instant::now();
    // Signals first: from here on an interrupt is never the default action, and
    // nothing below (starting the -S hosts' masters, opening input, --dry-run) can
    // leave one unheard. The handlers signal jobs through the executor, which is
    // chosen later (exec/late.rs): before it exists an interrupt ends the run at
    // once, with nothing started.
    let late = Arc::new(LateExecutor::new());
    let (events, inbox) = crossbeam_channel::unbounded();
    let listening = match install_signal_handlers {
        true => Some(signals::install(
            &events,
            Arc::clone(&late) as Arc<dyn Executor>,
        )?),
        false => None,
    };
    let mut options = options;
    let records = input::pipeline::open(&options.input, options.template.as_mut())?;
    let records = match options.shuffle {
        true => Box::new(input::shuffle::Shuffled::new(records)),
        false => records,
    };
    let skip = resume_skips(&options)?;
    if options.control.dry_run {
        // Prints the commands only: no host is connected to, no step started (as
        // GNU parallel's --dry-run -S prints the commands, not the ssh around them).
        let (template, tag) = (options.template.as_ref(), options.output.tag);
        let skipped = |n| skip.contains(&n);
        return Ok(report::dry_run::print(records, template, tag, skipped));
    }
    // With -S, the hosts' connections are opened here.
    let (executor, slots) = executor(&options)?;
    late.set(Arc::clone(&executor));
    // Job output is buffered in temporary files: find out now, not at every job,
    // if that cannot work.
    Capture::new(&options.tmpdir).map_err(RunError::TempDir)?;
    let results = results(&options)?;
    let (pool, max_workers) = build_pool(&options, slots)?;
    let pool = Arc::new(pool);
    let reporter = Arc::new(reporter(&options, events.clone())?);
    let window = match options.input.pipe {
        // Each task holds a block: few may wait for a worker.
        Some(_) => Window::with_queue(window_size(&options, max_workers), input::pipe::QUEUE),
        None => Window::new(window_size(&options, max_workers)),
    };
    let (repeat, interval, grace) = (options.repeat, options.interval, options.grace);
    let termseq = options.control.termseq.clone();
    let jobs = Arc::new(jobs(options, executor, reporter, results, events.clone())?);
    let completion = Completion::new(events.clone());
    let shared = Arc::new(Shared {
        jobs: Arc::clone(&jobs),
        completion,
        window,
    });
    start_ticker(&shared, &pool, repeat);
    let watchdogs = Arc::new(Mutex::new(Vec::new()));
    let feeder = Feeder {
        pool: Arc::clone(&pool),
        shared: Arc::clone(&shared),
        skip,
        repeat,
        interval,
        watchdogs: Arc::clone(&watchdogs),
        events,
    };
    // Jobs may start from now on: an interrupt is the coordinator's to handle.
    if let Some(listening) = &listening {
        listening.start();
    }
    if let Err(err) = spawn_feeder(feeder, records) {
        // The ticker would outlive the run (and keep the cursor hidden).
        jobs.reporter.progress().finish();
        return Err(err);
    }

    let completion = &shared.completion;
    let parts = Parts {
        jobs: &jobs,
        completion,
        pool: &pool,
        watchdogs: &watchdogs,
        repeat,
        grace,
        termseq: &termseq,
        started,
        inbox: &inbox,
    };
    let stop = coordinate(&inbox, &parts);
    Ok(shut_down(stop, &parts))
}

/// The `-S` hosts' slots in all: at first, and at most.
type HostSlotRange = (usize, usize);

/// The executor of the run: local, or over ssh to the `-S` hosts (connected and
/// probed now); with the jobs at once the hosts take at first and at most
/// (`None`: the pool decides). The most is the pool's maximum, or what the
/// open-file limit allows if that is less.
fn executor(options: &Options) -> Result<(Arc<dyn Executor>, Option<HostSlotRange>), RunError> {
    if options.hosts.is_empty() {
        let local = LocalExecutor::adopting_orphans().with_launch(options.launch.clone());
        return Ok((Arc::new(local), None));
    }
    let most = options.pool.max_workers();
    let cap = fdlimit::open_file_limit().map_or(most, |limit| {
        fdlimit::worker_cap(limit, options.output.keep_order).min(most)
    });
    let ssh = SshExecutor::connect(
        options.hosts.clone(),
        options.launch.clone(),
        options.pool.clone(),
        cap,
        options.remote_files.clone(),
    )
    .map_err(RunError::TempDir)?;
    let slots = ssh.total_slots().max(1);
    Ok((Arc::new(ssh), Some((slots, cap.max(slots)))))
}

/// Starts the feeder thread on `records`.
fn spawn_feeder(feeder: Feeder, records: input::pipeline::RecordStream) -> Result<(), RunError> {
    std::thread::Builder::new()
        .name("atp-run-feeder".into())
        .spawn(move || feeder.feed(records))
        .map(drop)
        .map_err(|source| RunError::Thread {
            what: "input reader",
            source,
        })
}

/// What every job's task shares: the template, the executor, the reporter, the
/// `--timeout` timer, `--retries`, the `--halt` tracker and the `--results` files.
fn jobs(
    options: Options,
    executor: Arc<dyn Executor>,
    reporter: Arc<Reporter>,
    results: (Option<ResultsDir>, Option<ResultsTable>),
    events: Sender<Event>,
) -> Result<Jobs, RunError> {
    let pipe = options.input.pipe.is_some();
    let control = options.control;
    let timeouts = match control.timeout {
        Some(limit) => {
            let target = Arc::clone(&executor) as Arc<dyn SignalJob>;
            let timer = Timeouts::start(limit, control.termseq, target);
            Some(timer.map_err(|source| RunError::Thread {
                what: "--timeout timer",
                source,
            })?)
        }
        None => None,
    };
    Ok(Jobs {
        template: options.template,
        executor,
        reporter,
        tmpdir: options.tmpdir,
        timeouts,
        attempts: control.attempts.max(1),
        files: options.files,
        halt: control.halt.map(|spec| Mutex::new(HaltTracker::new(spec))),
        stopping: AtomicBool::new(false),
        events,
        pacer: options.delay.map(control::pacing::Pacer::new),
        results: results.0,
        results_table: results.1,
        pipe,
    })
}

/// The `--results` directory (made and checked) or table (created), before any
/// job runs.
fn results(options: &Options) -> Result<(Option<ResultsDir>, Option<ResultsTable>), RunError> {
    let Some(path) = &options.results else {
        return Ok((None, None));
    };
    let names = options
        .template
        .as_ref()
        .map_or_else(Vec::new, |t| t.column_names().to_vec());
    let opened = match TableFormat::of(path) {
        Some(format) => ResultsTable::open(path, format, names).map(|t| (None, Some(t))),
        None => ResultsDir::open(path, names).map(|d| (Some(d), None)),
    };
    opened.map_err(|source| RunError::Results {
        path: path.display().to_string(),
        source,
    })
}

/// Most jobs queued or running at once. With --keep-order, finished jobs wait for
/// their turn holding their files: half the hold budget in flight keeps held jobs
/// within the budget's 1.5x.
fn window_size(options: &Options, max_workers: usize) -> usize {
    let size = match options.output.keep_order {
        true => KEEP_ORDER_AHEAD / 2,
        false => in_flight_limit(max_workers),
    };
    input::batch::cap_window(size, options.input.batch)
}

/// Redraws the progress display (on a terminal) from the run's figures.
fn start_ticker(shared: &Arc<Shared>, pool: &Arc<ThreadPool>, repeat: bool) {
    let (run, pool) = (Arc::clone(shared), Arc::clone(pool));
    shared.jobs.reporter.progress().start_ticker(move || {
        let now = Instant::now();
        let running_ages = run
            .jobs
            .executor
            .running()
            .iter()
            .map(|job| now.saturating_duration_since(job.started))
            .collect();
        report::progress::Snapshot {
            read: run.completion.submitted(),
            failed: run.jobs.reporter.tally().counts().failed,
            live: pool.stats().live,
            hosts: run.jobs.executor.host_usage(),
            running_ages,
            repeat,
        }
    });
}

/// The jobs `--resume` skips (none without it).
fn resume_skips(options: &Options) -> Result<std::collections::HashSet<u64>, RunError> {
    match (&options.control.joblog, options.control.resume) {
        (Some(target), Some(mode)) => {
            resume::read_done(&target.path, mode).map_err(|source| RunError::Resume {
                path: joblog::display(&target.path),
                source,
            })
        }
        _ => Ok(Default::default()),
    }
}

/// The pool as options.rs set it up, with at most as many workers as the open-file
/// limit allows (each holds up to 4 files); and that maximum. An explicit `-j N`
/// the soft limit cannot honour raises it first (see `exec/fdlimit.rs`), and one
/// the hard limit cannot honour is warned about, once.
/// `hosts`: the `-S` hosts' slots at first and at most. Their slot counts change
/// with their load, so the pool grows by its backlog alone (the hosts' slots gate
/// the jobs: a worker waits for one), from their first count up to that most.
fn build_pool(
    options: &Options,
    hosts: Option<HostSlotRange>,
) -> Result<(ThreadPool, usize), RunError> {
    if let Some((first, most)) = hosts {
        let builder = options
            .pool_builder
            .clone()
            .load_aware(false)
            .max_workers(most)
            .min_workers(first.min(most));
        return Ok((builder.build().map_err(RunError::Pool)?, most));
    }
    let (configured, keep_order) = (options.pool.max_workers(), options.output.keep_order);
    let limit = match options.jobs_requested {
        Some(n) => fdlimit::raise_open_file_limit(fdlimit::files_needed(n, keep_order)),
        None => fdlimit::open_file_limit(),
    };
    let builder = match limit {
        Some(limit) if fdlimit::worker_cap(limit, keep_order) < configured => {
            let cap = fdlimit::worker_cap(limit, keep_order);
            let why = format!(
                "the open-file limit is {limit} (ulimit -n) and each worker holds up to 4 files"
            );
            match options.jobs_requested.filter(|&n| n > cap) {
                Some(n) => eprintln!(
                    "atp-run: warning: running at most {cap} job{} at once, not {n}: {why}; \
                     raise it (ulimit -n) to run {n}",
                    if cap == 1 { "" } else { "s" }
                ),
                None => log::info!("at most {cap} workers: {why}"),
            }
            let min = options.pool.min_workers().min(cap);
            (
                options
                    .pool_builder
                    .clone()
                    .max_workers(cap)
                    .min_workers(min),
                cap,
            )
        }
        _ => (options.pool_builder.clone(), configured),
    };
    Ok((builder.0.build().map_err(RunError::Pool)?, builder.1))
}

/// The reporter of a run: the sink its output options choose, the status lines,
/// the progress display, the tally and the joblog.
fn reporter(
    options: &Options,
    events: crossbeam_channel::Sender<events::Event>,
) -> Result<Reporter, RunError> {
    let output = options.output;
    // --results: jobs' output goes to its files only (as in GNU parallel), so
    // only status lines are printed; --json's objects still carry it.
    let files_only = options.results.is_some() && !output.json;
    let sink: Box<dyn OutputSink> = match output.mode {
        _ if files_only => Box::new(Ungrouped),
        Mode::LineBuffered => Box::new(LineBuffered),
        Mode::Ungrouped => Box::new(Ungrouped),
        Mode::Grouped if output.json => Box::new(Json),
        Mode::Grouped => Box::new(Grouped { tag: output.tag }),
    };
    let sink = match output.keep_order && !files_only {
        true => Box::new(Ordered::new(sink, options.tmpdir.clone())),
        false => sink,
    };
    let status = StatusLines {
        quiet: options.quiet,
        color: options.color,
        max_attempts: options.control.attempts.max(1),
        terminal: options.stderr_terminal,
        verbose: options.verbose,
    };
    let joblog = match &options.control.joblog {
        // --resume appends to the log it resumes from (as GNU parallel does).
        Some(target) => Some(
            Joblog::open(
                &target.path,
                target.append || options.control.resume.is_some(),
            )
            .map_err(|source| RunError::Joblog {
                path: joblog::display(&target.path),
                source,
            })?,
        ),
        None => None,
    };
    report::terminal::refresh_width();
    report::grouped::COLOR.store(options.color, std::sync::atomic::Ordering::Relaxed);
    let progress = Progress::new(options.progress);
    let tally = Arc::new(Tally::new(options.repeat));
    let collapse = options.repeat && std::io::stderr().is_terminal();
    Ok(
        Reporter::new(sink, status, output.tag, progress, tally, events)
            .with_joblog(joblog)
            .collapsing_repeats(collapse)
            .echoing_commands(options.echo_commands),
    )
}
