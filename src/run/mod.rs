//! The engine of `atp-run`: reading commands, running each as a task on the adaptive
//! pool, reporting what happened, and stopping cleanly.
//!
//! | file | owns |
//! |---|---|
//! | `options.rs` | validated settings of a run |
//! | `input.rs` | streaming records from files and stdin |
//! | `template.rs` | `--` templates, placeholders and shell quoting |
//! | `exec.rs`, `capture.rs`, `registry.rs` | one job's process group, its captured output, and every running group for signalling |
//! | `report.rs`, `progress.rs` | status lines, grouped output, the progress display |
//! | `output.rs`, `order.rs`, `lines.rs`, `json.rs` | `--keep-order`, `--tag`, `--line-buffer`, `--ungroup`, `--json` |
//! | `signals.rs` | SIGINT/SIGTERM/SIGHUP |
//! | `control.rs`, `joblog.rs`, `halt.rs`, `timeout.rs`, `termseq.rs` | job control: `--joblog`/`--resume`, `--retries`, `--halt`, `--timeout`/`--termseq` |
//! | `status.rs`, `dryrun.rs` | SIGUSR1's list of running jobs, `--dry-run` |
//! | `duration.rs`, `size.rs` | `100ms`/`2s`/`1m` durations, `512M` sizes |
//!
//! The shape of a run ([`run`]): the calling thread is the *coordinator*. A *feeder*
//! thread reads records and submits one task per record, keeping at most
//! [`in_flight_limit`] tasks queued or running, so the first job starts as soon as its
//! line arrives and a million-line input never sits in memory. Each task runs its job
//! on the worker (blocking on the child), and reports it through the [`Reporter`].
//! Everything that concerns the coordinator arrives on one channel as an [`Event`]:
//! a job done, the input ended, a signal, stdout closed. On a signal or a closed
//! stdout the coordinator stops the feeder, closes the process registry (so no job
//! starts after), runs the termination sequence on every job's process group, and
//! shuts the pool down. Nothing started by the run outlives it.

pub mod control;
pub mod events;
pub mod exec;
pub mod input;
pub mod options;
pub mod outcome;
pub mod report;
pub mod signals;
pub mod values;

use std::cell::RefCell;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant, SystemTime};

use crossbeam_channel::{Receiver, Sender};

use crate::{StopToken, Task, TaskHandle, ThreadPool};
use control::halt;
use control::job_control::{self as control_mod, JobControl};
use events::Event;
use exec::capture::Capture;
use exec::registry::ProcessRegistry;
use exec::{fdlimit, local as exec_local};
use input::sources::{self as input_sources, InputError, Records};
use input::template::Template;
use options::Options;
use outcome::Outcome;
use report::grouped as output;
use report::progress::Progress;
use report::reporter::{JobLabel, Reporter, Tally};
use report::{dry_run, reporter as report_mod, running_list};
use values::duration;

/// Most tasks the feeder keeps queued or running at once (outside `--repeat`): enough
/// for the pool to see its backlog and grow to its maximum, small enough that memory
/// stays flat however long the input is.
pub fn in_flight_limit(max_workers: usize) -> usize {
    max_workers.saturating_mul(2).max(64)
}

/// Everything a job's task needs, shared by all tasks of a run.
struct JobContext {
    template: Option<Template>,
    registry: Arc<ProcessRegistry>,
    reporter: Arc<Reporter>,
    tmpdir: PathBuf,
    /// Set once the run is being stopped: the feeder submits nothing more.
    stopping: AtomicBool,
    completion: Completion,
    window: Window,
    /// `--joblog`, `--resume`, `--retries`, `--timeout`, `--halt`.
    control: JobControl,
}

/// Counts finished jobs and tells the coordinator, with one event, when all the
/// submitted ones are done — rather than waking it for every job.
struct Completion {
    done: AtomicU64,
    /// Jobs submitted in all; `u64::MAX` until the input has ended.
    total: AtomicU64,
    events: Sender<Event>,
}

impl Completion {
    fn job_done(&self) {
        let done = self.done.fetch_add(1, Ordering::SeqCst) + 1;
        if done == self.total.load(Ordering::SeqCst) {
            let _ = self.events.send(Event::AllDone);
        }
    }

    /// With SeqCst on both sides, whichever of the last job and the end of input comes
    /// second sees the other and sends the event (both may: the coordinator
    /// takes the first).
    fn input_ended(&self, jobs: u64) {
        self.total.store(jobs, Ordering::SeqCst);
        if self.done.load(Ordering::SeqCst) == jobs {
            let _ = self.events.send(Event::AllDone);
        }
    }
}

/// Counts a one-shot job as done exactly once: explicitly where the job ends, or,
/// should running it ever unwind (a bug; the pool contains the panic), when the guard
/// drops — otherwise the coordinator would wait for that job for ever.
struct DoneGuard<'a> {
    completion: &'a Completion,
    armed: bool,
}

impl DoneGuard<'_> {
    fn fire(&mut self) {
        if std::mem::take(&mut self.armed) {
            self.completion.job_done();
        }
    }
}

impl Drop for DoneGuard<'_> {
    fn drop(&mut self) {
        self.fire();
    }
}

/// Frees a window slot when dropped, so that a job that unwinds still frees it.
struct WindowSlot<'a>(&'a Window);

impl Drop for WindowSlot<'_> {
    fn drop(&mut self) {
        self.0.release();
    }
}

/// Bounds the tasks queued or running (outside `--repeat`), so that a long input
/// never sits in memory. With hysteresis: a full window wakes the feeder only when
/// half of it has drained, not once per finished job.
struct Window {
    in_flight: Mutex<usize>,
    space: Condvar,
    limit: usize,
}

impl Window {
    fn new(limit: usize) -> Window {
        Window {
            in_flight: Mutex::new(0),
            space: Condvar::new(),
            limit: limit.max(2),
        }
    }

    fn acquire(&self) {
        let mut n = self.in_flight.lock().unwrap_or_else(|p| p.into_inner());
        while *n >= self.limit {
            n = self.space.wait(n).unwrap_or_else(|p| p.into_inner());
        }
        *n += 1;
    }

    fn release(&self) {
        let mut n = self.in_flight.lock().unwrap_or_else(|p| p.into_inner());
        *n -= 1;
        if *n == self.limit / 2 {
            self.space.notify_one();
        }
    }
}

/// A watchdog (`--repeat`): its command, its task, and its per-command counts.
struct Watchdog {
    command: Vec<u8>,
    handle: TaskHandle,
    counts: Arc<RunCounts>,
}

/// Runs of a watchdog that were reported (a run cancelled before its job started is
/// not one), and how many of them failed. Counted here rather than by the pool: a
/// failed job is not a failed task (the task itself always succeeds).
#[derive(Default)]
struct RunCounts {
    runs: AtomicU64,
    failures: AtomicU64,
}

thread_local! {
    /// Each worker's reusable output capture files (created on its first job).
    static CAPTURE: RefCell<Option<Capture>> = const { RefCell::new(None) };
}

impl JobContext {
    /// Runs one job (or one run of a watchdog) on the current worker and reports it.
    /// Returns whether it succeeded, or `None` if it was cancelled before it started.
    fn run_job(&self, number: u64, run: Option<u64>, record: &[u8]) -> Option<bool> {
        let mut done = DoneGuard {
            completion: &self.completion,
            armed: run.is_none(),
        };
        // After a `--halt soon`, a job queued before the halt does not start
        // (and --keep-order must not wait for it).
        let reported = if run.is_none() && self.stopping.load(Ordering::SeqCst) {
            self.reporter.job_skipped(number);
            None
        } else {
            self.run_attempts(number, run, record)
        };
        if run.is_none() {
            done.fire();
            if self.control.halted().is_some() {
                // Halting soon: the coordinator checks whether this was the last
                // running job (the input may never end).
                let _ = self.completion.events.send(Event::Halt);
            }
        }
        reported
    }

    /// Runs a job until it succeeds or has had its `--retries` attempts; reports
    /// each attempt, and hands the final result to job control.
    fn run_attempts(&self, number: u64, run: Option<u64>, record: &[u8]) -> Option<bool> {
        let rendered;
        let slot = crate::current_worker_slot().unwrap_or(1);
        let command: &[u8] = match &self.template {
            Some(t) => {
                rendered = t.render(record, number, slot);
                &rendered
            }
            None => record,
        };
        let attempts = if run.is_some() {
            1
        } else {
            self.control.attempts()
        };
        let mut attempt = 1;
        loop {
            let label = JobLabel {
                number,
                run,
                attempt,
                slot,
                command,
                record,
            };
            let start = SystemTime::now();
            let last = || attempt >= attempts || self.stopping.load(Ordering::SeqCst);
            let (reported, result, last) = if self.reporter.shaper().options().captures() {
                self.attempt_captured(&label, last)
            } else {
                // --line-buffer, --ungroup: no capture file.
                let result = {
                    let _running = self.control.running().enter(number, command);
                    let timeouts = self.control.timeouts();
                    output::run_uncaptured(
                        command,
                        &label,
                        &self.registry,
                        timeouts,
                        &self.reporter,
                    )
                };
                let last = last();
                let reported = self.reporter.attempt_finished(&label, &result, None, last);
                (reported, result, last)
            };
            if reported == Some(false) && !last {
                attempt += 1;
                continue;
            }
            if reported.is_some() {
                let stopping = self.registry.is_closed();
                if let Some(halt) = self
                    .control
                    .job_ended(number, start, command, &result, stopping)
                {
                    self.halt(halt);
                }
            }
            return reported;
        }
    }

    /// Runs one attempt of a job with its output captured in this worker's
    /// capture files, and reports it; `last` says whether it is the job's last
    /// attempt. Returns what the reporter said, the result, and `last`.
    fn attempt_captured(
        &self,
        label: &JobLabel<'_>,
        last: impl FnOnce() -> bool,
    ) -> (
        Option<bool>,
        Result<exec_local::JobExit, exec_local::RunError>,
        bool,
    ) {
        let (number, command) = (label.number, label.command);
        CAPTURE.with(|cell| {
            let mut cell = cell.borrow_mut();
            if cell.is_none() {
                match Capture::new(&self.tmpdir) {
                    Ok(capture) => *cell = Some(capture),
                    Err(err) => {
                        let result = Err(exec_local::RunError::Capture(err));
                        let reported = self.reporter.attempt_finished(label, &result, None, true);
                        return (reported, result, true);
                    }
                }
            }
            let capture = cell.as_mut().expect("created above");
            let result = {
                let _running = self.control.running().enter(number, command);
                let timeouts = self.control.timeouts();
                exec_local::run_job_with(command, capture, &self.registry, timeouts)
            };
            let last = last();
            let reported = self
                .reporter
                .attempt_finished(label, &result, Some(capture), last);
            (reported, result, last)
        })
    }

    /// The `--halt` policy was met: start no more jobs, say so, tell the
    /// coordinator (which kills the running jobs for `now`).
    fn halt(&self, halt: halt::Halt) {
        self.stopping.store(true, Ordering::SeqCst);
        if let Some(spec) = self.control.halt_spec() {
            let running = self.registry.running_count();
            self.reporter
                .message(&control_mod::halt_message(spec, halt, running));
        }
        let _ = self.completion.events.send(Event::Halt);
    }
}

/// Runs every command of the input as `options` say. Returns how the run ended;
/// errors found before any job ran (unreadable input, pool that cannot start) are
/// returned as `Err` and mean exit status 2.
pub fn run(options: Options, install_signal_handlers: bool) -> anyhow::Result<Outcome> {
    let started = Instant::now();
    let inputs = input_sources::open_sources(&options.inputs)?;
    if options.control.dry_run {
        let skip = control_mod::skip_set(&options.control)?;
        let records = inputs.records(options.separator);
        let template = options.template.as_ref();
        let tag = options.output.tag;
        return Ok(dry_run::print(records, template, tag, |n| {
            skip.contains(&n)
        }));
    }
    // Job output is buffered in temporary files: find out now, not at every job,
    // if that cannot work.
    Capture::new(&options.tmpdir)
        .map_err(|err| anyhow::anyhow!("{err} (set TMPDIR to a writable directory)"))?;
    let keep_order = options.output.keep_order;
    let max_workers = match fdlimit::open_file_limit() {
        Some(limit) if fdlimit::worker_cap(limit, keep_order) < options.pool.max_workers() => {
            let cap = fdlimit::worker_cap(limit, keep_order);
            log::info!(
                "at most {cap} workers: the open-file limit is {limit} (ulimit -n) and each \
                 worker holds up to 4 files"
            );
            cap
        }
        _ => options.pool.max_workers(),
    };
    let pool = ThreadPool::builder()
        .min_workers(options.pool.min_workers().min(max_workers))
        .max_workers(max_workers)
        .stack_size_kib(options.pool.stack_size_kib())
        .idle_timeout(options.pool.idle_timeout())
        .monitor_interval(options.pool.monitor_interval())
        .thread_name(options.pool.thread_name())
        .load_aware(options.pool.load_aware())
        .cpu_threshold_percent(options.pool.cpu_threshold_percent());
    let pool = match options.pool.memory_reserve() {
        Some(bytes) => pool.memory_reserve(bytes),
        None => pool,
    };
    let pool = Arc::new(
        pool.build()
            .map_err(|e| anyhow::anyhow!("cannot start the worker pool: {e}"))?,
    );
    let registry = Arc::new(ProcessRegistry::new());
    let control = JobControl::new(&options.control, &registry)?;
    let (events, inbox) = crossbeam_channel::unbounded();
    if install_signal_handlers {
        signals::install(events.clone(), Arc::clone(&registry))
            .map_err(|e| anyhow::anyhow!("cannot install the signal handlers: {e}"))?;
    }
    let reporter = Reporter::new(
        Progress::new(options.progress),
        options.quiet,
        options.color,
        events.clone(),
    )
    .with_max_attempts(options.control.attempts)
    .with_output(options.output, options.tmpdir.clone());
    let reporter = Arc::new(reporter);
    if install_signal_handlers {
        running_list::spawn_listener(Arc::clone(control.running()), Arc::clone(&reporter))
            .map_err(|e| anyhow::anyhow!("cannot start the SIGUSR1 listener thread: {e}"))?;
    }
    let (stats_pool, tally) = (Arc::clone(&pool), Arc::downgrade(&reporter));
    reporter.progress().start_ticker(move || {
        let failed = tally.upgrade().map_or(0, |r| r.tally().failed);
        let s = stats_pool.stats();
        format!("{failed} failed · {} workers ({} busy)", s.live, s.busy)
    });
    let context = Arc::new(JobContext {
        template: options.template,
        registry: Arc::clone(&registry),
        reporter: Arc::clone(&reporter),
        tmpdir: options.tmpdir,
        stopping: AtomicBool::new(false),
        completion: Completion {
            done: AtomicU64::new(0),
            total: AtomicU64::new(u64::MAX),
            events: events.clone(),
        },
        // With --keep-order, finished jobs wait for their turn holding their files:
        // half the hold budget in flight keeps held jobs within the budget's 1.5x.
        window: Window::new(if keep_order {
            output::KEEP_ORDER_AHEAD / 2
        } else {
            in_flight_limit(max_workers)
        }),
        control,
    });
    let watchdogs = Arc::new(Mutex::new(Vec::new()));
    let records = inputs.records(options.separator);
    let feeder = Feeder {
        pool: Arc::clone(&pool),
        context: Arc::clone(&context),
        repeat: options.repeat,
        interval: options.interval,
        watchdogs: Arc::clone(&watchdogs),
        events,
    };
    std::thread::Builder::new()
        .name("atp-run-feeder".into())
        .spawn(move || feeder.run(records))
        .map_err(|e| anyhow::anyhow!("cannot start the input reader thread: {e}"))?;

    let stop = coordinate(&inbox, &context, options.repeat);
    let skipped = context.control.skipped();
    if skipped > 0 && !reporter.is_quiet() {
        reporter.message(&format!(
            "atp-run: skipped {} already in the joblog",
            plural(skipped, "job")
        ));
    }
    let outcome = match stop {
        Stop::Finished { input_error } => {
            pool.shutdown();
            terminate_leftovers(&registry, options.grace);
            finish(&reporter, &pool, &watchdogs, started, None);
            if let Some(err) = input_error {
                reporter.message(&format!("atp-run: {err}"));
                Outcome::InputFailed
            } else if let Some(halt) = context.control.halted() {
                Outcome::Halted(halt.exit_code)
            } else if reporter.tally().failed > 0 {
                Outcome::JobsFailed
            } else {
                Outcome::Success
            }
        }
        Stop::Interrupted
        | Stop::StdoutClosed
        | Stop::StdoutFailed(_)
        | Stop::RepeatInputFailed(_) => {
            context.stopping.store(true, Ordering::SeqCst);
            registry.close();
            for watchdog in watchdogs.lock().unwrap_or_else(|p| p.into_inner()).iter() {
                watchdog.handle.stop();
            }
            let report = registry.terminate_all(options.grace);
            log::debug!("termination: {report:?}");
            let cancelled = pool.shutdown_now().cancelled;
            match stop {
                Stop::Interrupted => {
                    finish(&reporter, &pool, &watchdogs, started, Some(cancelled));
                    Outcome::Interrupted
                }
                Stop::RepeatInputFailed(err) => {
                    finish(&reporter, &pool, &watchdogs, started, None);
                    reporter.message(&format!("atp-run: {err}"));
                    Outcome::InputFailed
                }
                Stop::StdoutFailed(err) => {
                    reporter.progress().finish();
                    reporter.message(&format!("atp-run: cannot write to standard output: {err}"));
                    Outcome::OutputFailed
                }
                _ => {
                    reporter.flush_held();
                    reporter.progress().finish();
                    Outcome::StdoutClosed
                }
            }
        }
        Stop::Halted => {
            // --halt now: like an interrupt, with the --termseq sequence.
            context.stopping.store(true, Ordering::SeqCst);
            registry.close();
            let report = registry.terminate_all_seq(&options.control.termseq);
            log::debug!("halt termination: {report:?}");
            pool.shutdown_now();
            terminate_leftovers(&registry, options.grace);
            finish(&reporter, &pool, &watchdogs, started, None);
            let code = context.control.halted().map_or(1, |h| h.exit_code);
            Outcome::Halted(code)
        }
    };
    Ok(outcome)
}

#[derive(Debug)]
enum Stop {
    Finished {
        input_error: Option<InputError>,
    },
    Interrupted,
    StdoutClosed,
    StdoutFailed(String),
    /// `--repeat` and reading the input failed: the watchdogs are stopped too.
    RepeatInputFailed(InputError),
    /// `--halt now`.
    Halted,
}

/// Waits for every job to be done (never, with `--repeat`), a signal, or a closed
/// stdout. After a `--halt soon`, every job handed to the pool being done is
/// enough (the input may never end); a `--halt now` stops at once.
fn coordinate(inbox: &Receiver<Event>, context: &JobContext, repeat: bool) -> Stop {
    let reporter = &context.reporter;
    let mut all_done = false;
    let mut input_ended = false;
    let mut input_error = None;
    let mut halting = false;
    loop {
        let Ok(event) = inbox.recv() else {
            // Every sender is gone: nothing more can happen.
            return Stop::Finished { input_error };
        };
        match event {
            Event::AllDone => all_done = true,
            Event::InputEnded { jobs, error } => {
                input_ended = true;
                if repeat {
                    // Watchdogs run until Ctrl-C, but a read error must not wait for
                    // it to be reported, and no watchdog at all means nothing to do.
                    if let Some(err) = error {
                        return Stop::RepeatInputFailed(err);
                    }
                    if jobs == 0 {
                        return Stop::Finished { input_error: None };
                    }
                }
                input_error = error;
                if !repeat {
                    reporter.progress().set_total(jobs);
                }
                if let Some(halt) = context.control.input_ended(jobs) {
                    context.halt(halt);
                }
            }
            Event::Interrupt => return Stop::Interrupted,
            Event::StdoutClosed => return Stop::StdoutClosed,
            Event::StdoutFailed(err) => return Stop::StdoutFailed(err),
            Event::Halt => match context.control.halted() {
                Some(h) if h.when == halt::When::Now => return Stop::Halted,
                _ => halting = true,
            },
        }
        if !repeat && input_ended && all_done {
            return Stop::Finished { input_error };
        }
        if halting
            && context.completion.done.load(Ordering::SeqCst)
                >= context.control.submitted().load(Ordering::SeqCst)
        {
            return Stop::Finished { input_error };
        }
    }
}

/// Background processes that jobs left in their process groups are not allowed to
/// outlive the run.
fn terminate_leftovers(registry: &ProcessRegistry, grace: Duration) {
    let lingering = registry.lingering_count();
    if lingering > 0 {
        log::warn!("terminating {lingering} background process group(s) left behind by jobs");
        registry.terminate_all(grace);
    }
}

/// Stops the progress display and prints the summary.
fn finish(
    reporter: &Reporter,
    pool: &ThreadPool,
    watchdogs: &Mutex<Vec<Watchdog>>,
    started: Instant,
    not_started: Option<usize>,
) {
    reporter.flush_held();
    reporter.progress().finish();
    let tally = reporter.tally();
    let stats = pool.stats();
    let watchdogs = watchdogs.lock().unwrap_or_else(|p| p.into_inner());
    if !watchdogs.is_empty() {
        let mut table = String::from("runs  failed  command\n");
        for w in watchdogs.iter() {
            let runs = w.counts.runs.load(Ordering::Relaxed);
            let failures = w.counts.failures.load(Ordering::Relaxed);
            let mut line = format!("{runs:>4}  {failures:>6}  ");
            report_mod::push_printable(&mut line, &w.command);
            table.push_str(&line);
            table.push('\n');
        }
        reporter.message(table.trim_end());
    }
    if reporter.is_quiet() && tally.failed == 0 && not_started.is_none() {
        return;
    }
    reporter.message(&summary(
        &tally,
        not_started,
        stats.peak_workers,
        started.elapsed(),
    ));
}

fn summary(tally: &Tally, not_started: Option<usize>, peak: usize, wall: Duration) -> String {
    let what = if not_started.is_some() {
        "interrupted: "
    } else {
        ""
    };
    let mut s = format!(
        "atp-run: {what}{} ran, {} succeeded, {} failed",
        plural(tally.finished(), "job"),
        tally.succeeded,
        tally.failed
    );
    if tally.killed > 0 {
        s.push_str(&format!(" ({} killed by a signal)", tally.killed));
    }
    if let Some(n) = not_started.filter(|n| *n > 0) {
        s.push_str(&format!(", {n} not started"));
    }
    s.push_str(&format!(
        " in {} (at most {} at once)",
        duration::format_duration(wall),
        plural(peak as u64, "worker")
    ));
    s
}

fn plural(n: u64, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// Reads records and submits a task for each.
struct Feeder {
    pool: Arc<ThreadPool>,
    context: Arc<JobContext>,
    repeat: bool,
    interval: Option<Duration>,
    watchdogs: Arc<Mutex<Vec<Watchdog>>>,
    events: Sender<Event>,
}

impl Feeder {
    fn run(self, records: Records) {
        let mut jobs = 0u64;
        let mut error = None;
        for record in records {
            if self.context.stopping.load(Ordering::SeqCst) {
                break;
            }
            let record = match record {
                Ok(record) => record.bytes,
                Err(err) => {
                    error = Some(err);
                    break;
                }
            };
            jobs += 1;
            if self.context.control.skips(jobs) {
                // --resume: the job keeps its number, and counts as done;
                // --keep-order must not wait for it.
                self.context
                    .control
                    .submitted()
                    .fetch_add(1, Ordering::SeqCst);
                self.context.reporter.job_skipped(jobs);
                self.context.completion.job_done();
                continue;
            }
            self.context
                .control
                .submitted()
                .fetch_add(1, Ordering::SeqCst);
            let submitted = if self.repeat {
                self.submit_watchdog(jobs, record)
            } else {
                self.context.reporter.wait_for_room();
                self.context.window.acquire();
                let context = Arc::clone(&self.context);
                self.pool
                    .run(Task::new(move || {
                        let _slot = WindowSlot(&context.window);
                        context.run_job(jobs, None, &record);
                    }))
                    .is_ok()
            };
            if !submitted {
                self.context
                    .control
                    .submitted()
                    .fetch_sub(1, Ordering::SeqCst);
                jobs -= 1;
                break;
            }
        }
        if !self.repeat {
            self.context.completion.input_ended(jobs);
        }
        let _ = self.events.send(Event::InputEnded { jobs, error });
    }

    fn submit_watchdog(&self, number: u64, record: Vec<u8>) -> bool {
        let context = Arc::clone(&self.context);
        let interval = self.interval;
        let runs = AtomicU64::new(0);
        let command = match &self.context.template {
            Some(t) => t.render(&record, number, 0),
            None => record.clone(),
        };
        let counts = Arc::new(RunCounts::default());
        let task_counts = Arc::clone(&counts);
        let task = Task::infinite(move |stop: &StopToken| {
            let run = runs.fetch_add(1, Ordering::Relaxed) + 1;
            if let Some(ok) = context.run_job(number, Some(run), &record) {
                task_counts.runs.fetch_add(1, Ordering::Relaxed);
                if !ok {
                    task_counts.failures.fetch_add(1, Ordering::Relaxed);
                }
            }
            if let Some(interval) = interval {
                stop.sleep(interval);
            }
        });
        match self.pool.run(task) {
            Ok(handle) => {
                self.watchdogs
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push(Watchdog {
                        command,
                        handle,
                        counts,
                    });
                true
            }
            Err(_) => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn new_completion() -> (Completion, Receiver<Event>) {
        let (events, inbox) = crossbeam_channel::unbounded();
        let completion = Completion {
            done: AtomicU64::new(0),
            total: AtomicU64::new(1),
            events,
        };
        (completion, inbox)
    }

    #[test]
    fn a_job_is_counted_done_once_whether_it_ends_or_unwinds() {
        let (completion, inbox) = new_completion();
        {
            let mut guard = DoneGuard {
                completion: &completion,
                armed: true,
            };
            guard.fire();
        }
        assert_eq!(
            completion.done.load(Ordering::SeqCst),
            1,
            "fired, not again on drop"
        );
        assert!(matches!(inbox.try_recv(), Ok(Event::AllDone)));

        let (completion, inbox) = new_completion();
        let unwound = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let _guard = DoneGuard {
                completion: &completion,
                armed: true,
            };
            panic!("a bug while running a job");
        }));
        assert!(unwound.is_err());
        assert_eq!(
            completion.done.load(Ordering::SeqCst),
            1,
            "counted while unwinding"
        );
        assert!(matches!(inbox.try_recv(), Ok(Event::AllDone)));
    }

    #[test]
    fn the_window_wakes_a_full_feeder_only_at_half() {
        let window = Window::new(4);
        for _ in 0..4 {
            window.acquire();
        }
        {
            let _slot = WindowSlot(&window);
        }
        assert_eq!(*window.in_flight.lock().unwrap(), 3);
        window.release();
        assert_eq!(*window.in_flight.lock().unwrap(), 2);
    }
}
