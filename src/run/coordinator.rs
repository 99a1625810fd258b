//! The coordinator: the calling thread of a run, which waits on the one event
//! channel and owns the one shutdown path. See `PROTOCOL.md`.
//!
//! Owns: the decision of when the run ends ([`coordinate`] → [`Stop`]) and what
//! ending it takes ([`shut_down`] → [`Outcome`]).
//!
//! Invariants:
//! - Every way a run ends (all done, a signal, stdout closed or failing, `--halt`,
//!   an input error under `--repeat`) goes through [`shut_down`], which leaves
//!   nothing started by the run running: the executor is closed before the pool is
//!   shut down, and whatever jobs left behind is terminated.
//! - An interrupt is never ignored: while a finished run stops what jobs left
//!   behind, the inbox is still listened to, and an interrupt then ends those
//!   leftovers at once and makes the run an interrupted one (exit 130).
//! - The summary is printed once, after everything held was flushed.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use crossbeam_channel::Receiver;

use crate::ThreadPool;
use crate::run::completion::Completion;
use crate::run::control::attempts::Jobs;
use crate::run::events::Event;
use crate::run::input::feeder::Watchdog;
use crate::run::input::sources::InputError;
use crate::run::job::error_chain;
use crate::run::lock::lock;
use crate::run::outcome::Outcome;
use crate::run::report::progress::Stopping;
use crate::run::report::running_list;
use crate::run::report::status::{plural, repeat_table, stopping_message, summary};
use crate::run::values::halt_spec::When;
use crate::run::values::termseq::TermSeq;

/// Why the coordinator stopped waiting.
#[derive(Debug)]
pub(crate) enum Stop {
    /// Every job is done (or, halting soon, every job handed over).
    Finished {
        /// Reading the input failed part way.
        input_error: Option<InputError>,
    },
    /// A terminating signal (SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR2, SIGALRM).
    Interrupted,
    /// Stdout's reader went away.
    StdoutClosed,
    /// Writing stdout failed otherwise.
    StdoutFailed(String),
    /// `--repeat` and reading the input failed: the watchdogs are stopped too.
    RepeatInputFailed(InputError),
    /// `--halt now`.
    Halted,
}

/// The parts of a run the coordinator works with.
#[derive(Debug)]
pub(crate) struct Parts<'a> {
    /// The jobs' context (executor, reporter, halt).
    pub jobs: &'a Jobs,
    /// Counting jobs in and out.
    pub completion: &'a Completion,
    /// The pool.
    pub pool: &'a ThreadPool,
    /// `--repeat`'s watchdogs.
    pub watchdogs: &'a Mutex<Vec<Watchdog>>,
    /// `--repeat`.
    pub repeat: bool,
    /// Time between SIGTERM and SIGKILL when interrupted.
    pub grace: Duration,
    /// `--termseq`, for `--halt now`.
    pub termseq: &'a TermSeq,
    /// When the run started.
    pub started: Instant,
    /// The coordinator's inbox, still listened to while the run ends.
    pub inbox: &'a Receiver<Event>,
}

/// Waits for every job to be done (never, with `--repeat`), a signal, or a closed
/// stdout. After a `--halt soon`, every job handed to the pool being done is
/// enough (the input may never end); a `--halt now` stops at once.
pub(crate) fn coordinate(inbox: &Receiver<Event>, parts: &Parts<'_>) -> Stop {
    let reporter = &parts.jobs.reporter;
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
                if parts.repeat {
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
                if !parts.repeat {
                    reporter.progress().set_total(jobs);
                }
                parts
                    .jobs
                    .input_ended(jobs.saturating_sub(parts.completion.skipped()));
            }
            Event::Interrupt => return Stop::Interrupted,
            Event::ListRunning => {
                let mut running = parts.jobs.executor.running();
                reporter.message(&running_list::describe(&mut running, Instant::now()));
            }
            Event::StdoutClosed => return Stop::StdoutClosed,
            Event::StdoutFailed(err) => return Stop::StdoutFailed(err),
            Event::Halt => match parts.jobs.halted() {
                Some(h) if h.when == When::Now => return Stop::Halted,
                _ => halting = true,
            },
        }
        if !parts.repeat && input_ended && all_done {
            return Stop::Finished { input_error };
        }
        if halting && parts.completion.all_submitted_done() {
            return Stop::Finished { input_error };
        }
    }
}

/// Ends the run as `stop` requires; returns how it ended.
pub(crate) fn shut_down(stop: Stop, parts: &Parts<'_>) -> Outcome {
    let (jobs, reporter, executor) = (parts.jobs, &parts.jobs.reporter, &parts.jobs.executor);
    let skipped = parts.completion.skipped();
    if skipped > 0 && !reporter.is_quiet() {
        reporter.message(&format!(
            "atp-run: skipped {} already in the joblog",
            plural(skipped, "job")
        ));
    }
    match stop {
        Stop::Finished { input_error } => {
            parts.pool.shutdown();
            if stop_leftovers_unless_interrupted(parts) {
                finish(parts, Some(0));
                return Outcome::Interrupted;
            }
            finish(parts, None);
            if let Some(err) = input_error {
                reporter.message(&format!("atp-run: {}", error_chain(&err)));
                Outcome::InputFailed
            } else if let Some(halt) = jobs.halted() {
                Outcome::Halted(halt.exit_code)
            } else if reporter.joblog_failed() || jobs.results_failed() {
                Outcome::OutputFailed
            } else if reporter.tally().counts().failed > 0 {
                Outcome::JobsFailed
            } else {
                Outcome::Success
            }
        }
        Stop::Halted => {
            // --halt now: like an interrupt, with the --termseq sequence.
            stop_starting(parts);
            let report = executor.terminate_all(parts.termseq);
            log::debug!("halt termination: {report:?}");
            parts.pool.shutdown_now();
            executor.stop_leftovers(parts.grace);
            finish(parts, None);
            Outcome::Halted(jobs.halted().map_or(1, |h| h.exit_code))
        }
        stop => {
            stop_starting(parts);
            if matches!(stop, Stop::Interrupted) {
                announce_stopping(parts);
            }
            let report = executor.terminate_all(&TermSeq::term_then_kill(parts.grace));
            log::debug!("termination: {report:?}");
            let cancelled = parts.pool.shutdown_now().cancelled;
            executor.stop_leftovers(parts.grace);
            match stop {
                Stop::Interrupted => {
                    finish(parts, Some(cancelled));
                    Outcome::Interrupted
                }
                Stop::RepeatInputFailed(err) => {
                    finish(parts, None);
                    reporter.message(&format!("atp-run: {}", error_chain(&err)));
                    Outcome::InputFailed
                }
                Stop::StdoutFailed(err) => {
                    reporter.progress().finish();
                    reporter.message(&format!("atp-run: cannot write to standard output: {err}"));
                    Outcome::OutputFailed
                }
                _ => {
                    reporter.run_ended();
                    Outcome::StdoutClosed
                }
            }
        }
    }
}

/// Says plainly that the run is stopping, what happens next, and how to make it
/// happen now: as a line (kept in logs) and on the progress line, which counts the
/// grace period down.
fn announce_stopping(parts: &Parts<'_>) {
    let reporter = &parts.jobs.reporter;
    let running = parts.jobs.executor.running_count();
    reporter.message(&stopping_message(running, parts.grace));
    reporter.progress().stopping(Stopping {
        signalled: running,
        kill_at: Instant::now() + parts.grace,
    });
}

/// Stops what jobs left behind, the way a finished run does (TERM, `--grace`,
/// KILL), while still listening to the inbox: an interrupt then kills what is
/// left at once (it has had its SIGTERM already) and the run counts as
/// interrupted. Returns whether it was.
fn stop_leftovers_unless_interrupted(parts: &Parts<'_>) -> bool {
    let (executor, grace) = (&parts.jobs.executor, parts.grace);
    let (done, stopped) = crossbeam_channel::bounded::<()>(1);
    std::thread::scope(|scope| {
        scope.spawn(move || {
            executor.stop_leftovers(grace);
            drop(done);
        });
        let mut interrupted = false;
        loop {
            crossbeam_channel::select! {
                recv(stopped) -> _ => return interrupted,
                recv(parts.inbox) -> event => match event {
                    Ok(Event::Interrupt) => {
                        interrupted = true;
                        executor.kill_now();
                    }
                    Ok(_) => {}
                    Err(_) => {
                        let _ = stopped.recv();
                        return interrupted;
                    }
                },
            }
        }
    })
}

/// Starts no job any more: the feeder stops, the executor refuses new jobs, the
/// watchdogs stop.
fn stop_starting(parts: &Parts<'_>) {
    parts
        .jobs
        .stopping
        .store(true, std::sync::atomic::Ordering::SeqCst);
    parts.jobs.executor.close();
    for watchdog in lock(parts.watchdogs).iter() {
        watchdog.handle.stop();
    }
}

/// Flushes what is held, removes the progress display and prints the `--repeat`
/// table and the summary.
fn finish(parts: &Parts<'_>, not_started: Option<usize>) {
    parts.jobs.executor.disconnect();
    let reporter = &parts.jobs.reporter;
    reporter.run_ended();
    let tally = reporter.tally();
    let watchdogs = lock(parts.watchdogs);
    if !watchdogs.is_empty() {
        let rows = watchdogs
            .iter()
            .map(|w| (tally.of_command(w.number), w.command.as_slice()));
        reporter.message(&repeat_table(rows));
    }
    let counts = tally.counts();
    if reporter.is_quiet() && counts.failed == 0 && not_started.is_none() {
        return;
    }
    let peak = parts.pool.stats().peak_workers;
    reporter.message(&summary(
        &counts,
        not_started.map(|queued| queued + counts.not_started as usize),
        peak,
        parts.started.elapsed(),
    ));
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    use crossbeam_channel::Sender;

    use crate::run::exec::executor::Executor;
    use crate::run::exec::mock::MockExecutor;
    use crate::run::report::grouped::Grouped;
    use crate::run::report::progress::Progress;
    use crate::run::report::reporter::Reporter;
    use crate::run::report::status::StatusLines;
    use crate::run::report::tally::Tally;

    struct Fixture {
        jobs: Jobs,
        executor: Arc<MockExecutor>,
        completion: Completion,
        pool: ThreadPool,
        watchdogs: Mutex<Vec<Watchdog>>,
        termseq: TermSeq,
        events: Sender<Event>,
        inbox: Receiver<Event>,
    }

    fn fixture(halt: Option<&str>) -> Fixture {
        let (events, inbox) = crossbeam_channel::unbounded();
        let status = StatusLines {
            quiet: true,
            color: false,
            max_attempts: 1,
            ..StatusLines::default()
        };
        let reporter = Reporter::new(
            Box::new(Grouped::default()),
            status,
            false,
            Progress::new(false),
            Arc::new(Tally::new(false)),
            events.clone(),
        );
        let executor = Arc::new(MockExecutor::default());
        let executor_dyn = Arc::clone(&executor) as Arc<dyn Executor>;
        let jobs = Jobs::for_test(executor_dyn, reporter, 1, halt, events.clone());
        Fixture {
            jobs,
            executor,
            completion: Completion::new(events.clone()),
            pool: ThreadPool::builder().min_workers(1).build().unwrap(),
            watchdogs: Mutex::new(Vec::new()),
            termseq: TermSeq::default(),
            events,
            inbox,
        }
    }

    impl Fixture {
        fn parts(&self, repeat: bool) -> Parts<'_> {
            Parts {
                jobs: &self.jobs,
                completion: &self.completion,
                pool: &self.pool,
                watchdogs: &self.watchdogs,
                repeat,
                grace: Duration::from_secs(1),
                termseq: &self.termseq,
                started: Instant::now(),
                inbox: &self.inbox,
            }
        }

        fn send(&self, event: Event) {
            self.events.send(event).unwrap();
        }

        /// Runs job `number` as the feeder's task would, counting it in and out.
        fn job(&self, number: u64, command: &[u8]) {
            self.completion.submitting();
            self.jobs.run_job(number, None, command);
            self.completion.job_done();
        }
    }

    #[test]
    fn the_run_ends_when_the_input_ended_and_every_job_is_done() {
        let f = fixture(None);
        f.job(1, b"exit 0");
        f.job(2, b"exit 3");
        f.send(Event::ListRunning);
        f.send(Event::InputEnded {
            jobs: 2,
            error: None,
        });
        f.completion.input_ended(2);
        let stop = coordinate(&f.inbox, &f.parts(false));
        assert!(
            matches!(stop, Stop::Finished { input_error: None }),
            "{stop:?}"
        );
        assert_eq!(shut_down(stop, &f.parts(false)), Outcome::JobsFailed);
    }

    #[test]
    fn all_done_before_the_input_ended_is_not_the_end() {
        let f = fixture(None);
        f.send(Event::AllDone);
        f.send(Event::Interrupt);
        let stop = coordinate(&f.inbox, &f.parts(false));
        assert!(matches!(stop, Stop::Interrupted), "{stop:?}");
        assert_eq!(shut_down(stop, &f.parts(false)), Outcome::Interrupted);
        assert!(f.executor.is_closed(), "no job starts after an interrupt");
        assert!(f.jobs.is_stopping());
    }

    #[test]
    fn halt_now_stops_at_once_with_the_jobs_status() {
        let f = fixture(Some("now,fail=1"));
        f.job(1, b"exit 4");
        let stop = coordinate(&f.inbox, &f.parts(false));
        assert!(matches!(stop, Stop::Halted), "{stop:?}");
        assert_eq!(shut_down(stop, &f.parts(false)), Outcome::Halted(4));
        assert!(f.executor.is_closed());
    }

    #[test]
    fn halting_soon_ends_when_every_job_handed_over_is_done() {
        let f = fixture(Some("soon,fail=1"));
        f.completion.submitting();
        // The input never ends; the halt comes with one job still running.
        f.job(2, b"exit 5");
        let stop = coordinate_after(&f, || f.completion.job_done());
        assert!(matches!(stop, Stop::Finished { .. }), "{stop:?}");
        assert_eq!(shut_down(stop, &f.parts(false)), Outcome::Halted(5));
    }

    /// Sends a second `Halt` (as the last job's task does) after `end_job`.
    fn coordinate_after(f: &Fixture, end_job: impl FnOnce()) -> Stop {
        assert!(!f.completion.all_submitted_done());
        end_job();
        f.send(Event::Halt);
        coordinate(&f.inbox, &f.parts(false))
    }

    #[test]
    fn stdout_closing_or_failing_ends_the_run_with_its_own_status() {
        let f = fixture(None);
        f.send(Event::StdoutClosed);
        let stop = coordinate(&f.inbox, &f.parts(false));
        assert_eq!(shut_down(stop, &f.parts(false)), Outcome::StdoutClosed);
        let f = fixture(None);
        f.send(Event::StdoutFailed("disk full".into()));
        let stop = coordinate(&f.inbox, &f.parts(false));
        assert_eq!(shut_down(stop, &f.parts(false)), Outcome::OutputFailed);
    }

    #[test]
    fn with_repeat_an_input_error_or_no_command_ends_the_run() {
        let f = fixture(None);
        f.send(Event::InputEnded {
            jobs: 1,
            error: Some(InputError::StdinRepeated),
        });
        let stop = coordinate(&f.inbox, &f.parts(true));
        assert!(matches!(stop, Stop::RepeatInputFailed(_)), "{stop:?}");
        assert_eq!(shut_down(stop, &f.parts(true)), Outcome::InputFailed);
        let f = fixture(None);
        f.send(Event::InputEnded {
            jobs: 0,
            error: None,
        });
        let stop = coordinate(&f.inbox, &f.parts(true));
        assert_eq!(shut_down(stop, &f.parts(true)), Outcome::Success);
    }
}
