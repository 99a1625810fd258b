//! Running a job: its attempts (`--retries`), each started on the executor with the
//! output the reporter asks for, reported, and its final result fed to `--halt`.
//!
//! Owns: [`Jobs`], what every job's task shares (template, executor, reporter,
//! timer, halt tracker, the stopping flag), and each worker's capture files.
//!
//! Invariants:
//! - A job runs only through the [`Executor`], by [`JobKey`] (number, run, attempt):
//!   nothing here knows how or where it runs.
//! - A job queued before the run started stopping (a `--halt soon`) does not start;
//!   the reporter passes over it so `--keep-order` does not wait for it.
//! - Each attempt is reported once; a failed one is retried while
//!   [`retries::is_last`] says so; only the final result reaches `--halt`.
//! - `--halt` fires at most once; firing stops new jobs and tells the coordinator.
//! - Every attempt passes the `--delay` pacer (`pacing.rs`) just before the
//!   executor starts it, and is echoed (`-t`) once it has its turn; one cancelled
//!   while it waited (the run is stopping) is reported as never started.
//! - With `--results`, every attempt's output goes to its job's results files
//!   (whatever the output mode and the executor), and its end is recorded there.

use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use crossbeam_channel::Sender;

use crate::run::control::halt::{Halt, HaltTracker, JobResult, halt_status};
use crate::run::control::pacing::{Pacer, Turn};
use crate::run::control::retries;
use crate::run::events::Event;
use crate::run::exec::capture::Capture;
use crate::run::exec::executor::{Executor, JobOutput, JobWatch};
use crate::run::exec::ssh::FileTemplates;
use crate::run::exec::timeout::Timeouts;
use crate::run::input::job_args::JobArgs;
use crate::run::input::template::Template;
use crate::run::job::{JobEnd, JobError, JobFiles, JobKey, JobLabel, JobSpec, JobStdin};
use crate::run::lock::lock;
use crate::run::report::reporter::{AttemptEnded, Reporter};
use crate::run::report::results::{JobInput, ResultsDir};
use crate::run::report::results_table::{ResultsTable, TableRow};
use crate::run::report::sink::OutputKind;
use crate::run::report::status::halt_message;
use crate::run::values::halt_spec::HaltSpec;

thread_local! {
    /// Each worker's reusable output capture files (created on its first job).
    static CAPTURE: RefCell<Option<Capture>> = const { RefCell::new(None) };
}

/// Everything a job's task needs, shared by all tasks of a run.
#[derive(Debug)]
pub(crate) struct Jobs {
    /// The command template, in template mode.
    pub template: Option<Template>,
    /// Where jobs run.
    pub executor: Arc<dyn Executor>,
    /// Where their results go.
    pub reporter: Arc<Reporter>,
    /// Where capture files are created.
    pub tmpdir: PathBuf,
    /// `--timeout`.
    pub timeouts: Option<Timeouts>,
    /// Attempts a job gets (`--retries`, at least 1).
    pub attempts: u32,
    /// `--transferfile`, `--return`, `--workdir` with placeholders, rendered per job.
    pub files: Option<FileTemplates>,
    /// `--halt`.
    pub halt: Option<Mutex<HaltTracker>>,
    /// Set once the run is being stopped: no job starts any more.
    pub stopping: AtomicBool,
    /// The coordinator's channel.
    pub events: Sender<Event>,
    /// `--delay`: the gate every start passes.
    pub pacer: Option<Pacer>,
    /// `--results DIR`.
    pub results: Option<ResultsDir>,
    /// `--results FILE.csv`, `.tsv` or `.json`.
    pub results_table: Option<ResultsTable>,
    /// `--pipe`: a job's record is its standard input; the template is its
    /// command whole.
    pub pipe: bool,
}

impl Jobs {
    /// Whether the run is being stopped.
    pub(crate) fn is_stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }

    /// Whether a `--results` file could not be written (the run must not end as
    /// a success).
    pub(crate) fn results_failed(&self) -> bool {
        self.results.as_ref().is_some_and(ResultsDir::failed)
            || self
                .results_table
                .as_ref()
                .is_some_and(ResultsTable::failed)
    }

    /// Runs job `number` (or run `run` of a `--repeat` job) from `record` and
    /// reports it. Returns whether it succeeded, or `None` if it did not run.
    pub(crate) fn run_job(&self, number: u64, run: Option<u64>, record: &[u8]) -> Option<bool> {
        if run.is_none() && self.is_stopping() {
            self.reporter.job_not_started(number);
            return None;
        }
        let input = record;
        // --pipe: the record is the job's block, so its files are named by its
        // number (GNU parallel writes every --pipe job into DIR itself).
        let results_dir = self.results.as_ref().map(|dir| match &self.template {
            _ if self.pipe => dir.job_dir(JobInput::Command(number.to_string().as_bytes())),
            Some(_) => dir.job_dir(JobInput::Args(&JobArgs::decode(record))),
            None => dir.job_dir(JobInput::Command(record)),
        });
        let rendered;
        let slot = crate::current_worker_slot().unwrap_or(1);
        let tag;
        let files: Option<JobFiles> = self.files.as_ref().map(|f| match &self.template {
            Some(_) => f.render(&JobArgs::decode(record), number, slot),
            None => f.render(&JobArgs::single(record), number, slot),
        });
        let (command, record): (&[u8], &[u8]) = match &self.template {
            Some(t) if self.pipe => {
                rendered = t.render_numbers(number, slot);
                (&rendered, &rendered)
            }
            Some(t) => {
                rendered = t.render(record, number, slot);
                // A job's input is its encoded arguments: --tag shows them
                // (made only then: with -X that is another ~128 KiB per job).
                tag = match self.reporter.tags() {
                    true => JobArgs::decode(record).tag(),
                    false => Vec::new(),
                };
                (&rendered, &tag)
            }
            None => (record, record),
        };
        let stdin = match self.pipe {
            true => JobStdin::Block(input),
            false => JobStdin::Null,
        };
        let attempts = if run.is_some() { 1 } else { self.attempts };
        let mut attempt = 1;
        loop {
            let job = JobLabel {
                number,
                run,
                attempt,
                slot,
                command,
                record,
                started: SystemTime::now(),
            };
            let (reported, result, last) = match &results_dir {
                Some(dir) => self.attempt_into_results(&job, stdin, attempts, dir, files.as_ref()),
                None => self.attempt(&job, stdin, attempts, input, files.as_ref()),
            };
            match reported {
                Some(false) if !last => attempt += 1,
                Some(ok) => {
                    self.job_ended(number, ok, &result);
                    return reported;
                }
                None => return None,
            }
        }
    }

    /// Runs one attempt of `job` on the executor, with its output captured in this
    /// worker's capture files if the reporter prints captured output or a
    /// `--results` table takes it, and reports it (`input`: the job's record, for
    /// the table). Returns what the reporter said, the result, and whether it was
    /// the last attempt.
    fn attempt(
        &self,
        job: &JobLabel<'_>,
        stdin: JobStdin<'_>,
        attempts: u32,
        input: &[u8],
        files: Option<&JobFiles>,
    ) -> (Option<bool>, Result<JobEnd, JobError>, bool) {
        let table = self.results_table.as_ref();
        let spec = spec_of(job, files, stdin);
        let turn = match self.take_turn(job) {
            Ok(turn) => turn,
            Err(cancelled) => return cancelled,
        };
        let watch = self.watch(turn.as_ref());
        CAPTURE.with(|cell| {
            let mut cell = cell.borrow_mut();
            let captured = table.is_some() || self.reporter.output_kind() == OutputKind::Captured;
            if captured && cell.is_none() {
                match Capture::new(&self.tmpdir) {
                    Ok(capture) => *cell = Some(capture),
                    Err(err) => {
                        let result = Err(JobError::Capture(err));
                        return (self.report(job, &result, true, None), result, true);
                    }
                }
            }
            let mut capture = if captured { cell.as_mut() } else { None };
            let result = match (table, capture.as_deref_mut()) {
                (Some(_), Some(capture)) => {
                    self.executor
                        .execute(&spec, JobOutput::Capture(capture), watch)
                }
                (_, capture) => self.reporter.with_job_output(job, capture, |output| {
                    self.executor.execute(&spec, output, watch)
                }),
            };
            let ok = result.as_ref().is_ok_and(JobEnd::success);
            let last = retries::is_last(ok, job.attempt, attempts, self.is_stopping());
            if let Some(table) = table
                && (ok || last)
            {
                self.table_row(table, job, input, &result, capture.as_deref_mut());
            }
            (self.report(job, &result, last, capture), result, last)
        })
    }

    /// Waits for `job`'s `--delay` turn (if the run is paced) and echoes its
    /// command (`-t`): the turn is the watch the executor gets, so the next start
    /// waits for this one. `Err` is the report of a job cancelled while it waited
    /// (the run is stopping): it never started.
    #[allow(clippy::type_complexity)]
    fn take_turn(
        &self,
        job: &JobLabel<'_>,
    ) -> Result<Option<Turn<'_>>, (Option<bool>, Result<JobEnd, JobError>, bool)> {
        let watch = self.timeouts.as_ref().map(|t| t as &dyn JobWatch);
        let stopping = || self.is_stopping() || self.executor.is_closed();
        let turn = match &self.pacer {
            Some(pacer) => match pacer.turn(watch, stopping) {
                Some(turn) => Some(turn),
                None => {
                    let result = Err(JobError::Cancelled);
                    return Err((self.report(job, &result, true, None), result, true));
                }
            },
            None => None,
        };
        self.reporter.command_starting(job.command);
        Ok(turn)
    }

    /// What watches a job started on `turn`: the turn (which holds the --delay
    /// gate until the job has started, and carries the timeouts on), or the
    /// timeouts alone without --delay.
    fn watch<'a>(&'a self, turn: Option<&'a Turn<'a>>) -> Option<&'a dyn JobWatch> {
        match turn {
            Some(turn) => Some(turn as &dyn JobWatch),
            None => self.timeouts.as_ref().map(|t| t as &dyn JobWatch),
        }
    }

    /// Runs one attempt of `job` with its output going to its `--results` files in
    /// `dir`, records its end there, and reports it; returns as [`Jobs::attempt`].
    fn attempt_into_results(
        &self,
        job: &JobLabel<'_>,
        stdin: JobStdin<'_>,
        attempts: u32,
        dir: &Path,
        files: Option<&JobFiles>,
    ) -> (Option<bool>, Result<JobEnd, JobError>, bool) {
        let Some(results) = &self.results else {
            return self.attempt(job, stdin, attempts, b"", files);
        };
        let spec = spec_of(job, files, stdin);
        let turn = match self.take_turn(job) {
            Ok(turn) => turn,
            Err(cancelled) => return cancelled,
        };
        let watch = self.watch(turn.as_ref());
        let mut capture = match results.start(dir, job.number, &self.tmpdir) {
            Ok(capture) => capture,
            Err(err) => {
                let result = Err(JobError::Capture(err));
                return (self.report(job, &result, true, None), result, true);
            }
        };
        let result = self
            .executor
            .execute(&spec, JobOutput::Capture(&mut capture), watch);
        if let Some(err) = results.finish(dir, &result) {
            self.reporter.message(&format!("atp-run: {err}"));
        }
        let ok = result.as_ref().is_ok_and(JobEnd::success);
        let last = retries::is_last(ok, job.attempt, attempts, self.is_stopping());
        (
            self.report(job, &result, last, Some(&mut capture)),
            result,
            last,
        )
    }

    /// Writes the counted attempt of `job` to the `--results` table.
    fn table_row(
        &self,
        table: &ResultsTable,
        job: &JobLabel<'_>,
        input: &[u8],
        result: &Result<JobEnd, JobError>,
        capture: Option<&mut Capture>,
    ) {
        let args;
        let values: Vec<&[u8]> = match &self.template {
            // --pipe: the record is the block, not a value (GNU has no V columns).
            _ if self.pipe => Vec::new(),
            Some(_) => {
                args = JobArgs::decode(input);
                args.values().to_vec()
            }
            None => vec![input],
        };
        let row = TableRow {
            seq: job.number,
            started: result.as_ref().map_or(job.started, |end| end.started),
            command: job.command,
            values: &values,
            result,
        };
        if let Some(err) = table.write(&row, capture) {
            self.reporter.message(&format!("atp-run: {err}"));
        }
    }

    fn report(
        &self,
        job: &JobLabel<'_>,
        result: &Result<JobEnd, JobError>,
        last: bool,
        capture: Option<&mut Capture>,
    ) -> Option<bool> {
        let ended = AttemptEnded {
            job,
            result,
            last,
            stopping: self.executor.is_closed(),
        };
        self.reporter.attempt_ended(&ended, capture)
    }

    /// A job's final result: feeds the halt policy.
    fn job_ended(&self, number: u64, ok: bool, result: &Result<JobEnd, JobError>) {
        let Some(tracker) = &self.halt else {
            return;
        };
        let counts = self.reporter.tally().counts();
        let ended = JobResult {
            number,
            ok,
            status: halt_status(result),
        };
        let fired = lock(tracker).record(counts, ended);
        if let Some(halt) = fired {
            self.halt(halt);
        }
    }

    /// The input ended with `total` jobs to run (skipped ones left out): a
    /// percentage policy can now be decided.
    pub(crate) fn input_ended(&self, total: u64) {
        let Some(tracker) = &self.halt else {
            return;
        };
        let fired = lock(tracker).set_total(self.reporter.tally().counts(), total);
        if let Some(halt) = fired {
            self.halt(halt);
        }
    }

    /// The halt decision, if the run halted.
    pub(crate) fn halted(&self) -> Option<Halt> {
        lock(self.halt.as_ref()?).fired()
    }

    fn halt_spec(&self) -> Option<HaltSpec> {
        Some(lock(self.halt.as_ref()?).spec())
    }

    /// The `--halt` policy was met: start no more jobs, say so, tell the
    /// coordinator (which kills the running jobs for `now`).
    fn halt(&self, halt: Halt) {
        self.stopping.store(true, Ordering::SeqCst);
        if let Some(spec) = self.halt_spec() {
            let running = self.executor.running_count();
            self.reporter.message(&halt_message(spec, halt, running));
        }
        let _ = self.events.send(Event::Halt);
    }
}

/// What the executor is given to start an attempt of `job`.
fn spec_of<'a>(
    job: &JobLabel<'a>,
    files: Option<&'a JobFiles>,
    stdin: JobStdin<'a>,
) -> JobSpec<'a> {
    JobSpec {
        key: JobKey {
            number: job.number,
            run: job.run.unwrap_or(0),
            attempt: job.attempt,
        },
        slot: job.slot,
        command: job.command,
        stdin,
        files,
    }
}

#[cfg(test)]
impl Jobs {
    /// Jobs of a test run: no template, no timer.
    pub(crate) fn for_test(
        executor: Arc<dyn Executor>,
        reporter: Reporter,
        attempts: u32,
        halt: Option<&str>,
        events: Sender<Event>,
    ) -> Jobs {
        Jobs {
            template: None,
            executor,
            reporter: Arc::new(reporter),
            tmpdir: std::env::temp_dir(),
            timeouts: None,
            attempts,
            files: None,
            halt: halt.map(|spec| Mutex::new(HaltTracker::new(spec.parse().expect("halt spec")))),
            stopping: AtomicBool::new(false),
            events,
            pacer: None,
            results: None,
            results_table: None,
            pipe: false,
        }
    }
}

#[cfg(test)]
mod tests {
    //! Retries, `--halt`, `--keep-order`, `--json` and the joblog, through the
    //! executor boundary with the mock executor: no process is started.

    use super::*;
    use std::io::Read;
    use std::path::Path;

    use crossbeam_channel::Receiver;

    use crate::run::exec::mock::MockExecutor;
    use crate::run::report::grouped::Grouped;
    use crate::run::report::joblog::Joblog;
    use crate::run::report::json_sink::Json;
    use crate::run::report::ordered::Ordered;
    use crate::run::report::progress::Progress;
    use crate::run::report::sink::{OutputSink, Rendered};
    use crate::run::report::status::StatusLines;
    use crate::run::report::stdout::StdoutHealth;
    use crate::run::report::tally::{Counts, Tally};
    use crate::run::values::halt_spec::When;

    /// What a recording sink saw printed: the status line (or JSON head), and the
    /// job's captured stdout.
    type Printed = Arc<Mutex<Vec<(String, String)>>>;

    /// Records what `inner` would print instead of printing it.
    #[derive(Debug)]
    struct Recording {
        inner: Box<dyn OutputSink>,
        printed: Printed,
    }

    impl OutputSink for Recording {
        fn once_per_job(&self) -> bool {
            self.inner.once_per_job()
        }

        fn render(
            &self,
            job: &JobLabel<'_>,
            result: &Result<JobEnd, JobError>,
            status: Option<String>,
        ) -> Rendered {
            self.inner.render(job, result, status)
        }

        fn print(
            &self,
            _number: u64,
            rendered: Rendered,
            capture: Option<&mut Capture>,
            _stdout: &StdoutHealth,
        ) -> bool {
            let text = match rendered.json {
                Some(head) => String::from_utf8_lossy(&head).into_owned(),
                None => rendered.status.unwrap_or_default(),
            };
            let mut out = String::new();
            if let Some(capture) = capture {
                capture
                    .stdout_block()
                    .and_then(|mut block| block.read_to_string(&mut out))
                    .expect("captured output");
            }
            lock(&self.printed).push((text, out));
            false
        }
    }

    struct Harness {
        jobs: Jobs,
        executor: Arc<MockExecutor>,
        printed: Printed,
        inbox: Receiver<Event>,
    }

    #[derive(Default)]
    struct Settings<'a> {
        attempts: u32,
        keep_order: bool,
        json: bool,
        halt: Option<&'a str>,
        joblog: Option<&'a Path>,
    }

    fn harness(settings: Settings<'_>) -> Harness {
        let (events, inbox) = crossbeam_channel::unbounded();
        let printed = Printed::default();
        let inner: Box<dyn OutputSink> = match settings.json {
            true => Box::new(Json),
            false => Box::new(Grouped::default()),
        };
        let recording = Box::new(Recording {
            inner,
            printed: Arc::clone(&printed),
        });
        let sink: Box<dyn OutputSink> = match settings.keep_order {
            true => Box::new(Ordered::new(recording, std::env::temp_dir())),
            false => recording,
        };
        let attempts = settings.attempts.max(1);
        let status = StatusLines {
            quiet: false,
            color: false,
            max_attempts: attempts,
            ..StatusLines::default()
        };
        let joblog = settings
            .joblog
            .map(|path| Joblog::open(path, false).expect("joblog"));
        let reporter = Reporter::new(
            sink,
            status,
            false,
            Progress::new(false),
            Arc::new(Tally::new(false)),
            events.clone(),
        )
        .with_joblog(joblog);
        let executor = Arc::new(MockExecutor::default());
        let jobs = Jobs::for_test(
            Arc::clone(&executor) as Arc<dyn Executor>,
            reporter,
            attempts,
            settings.halt,
            events,
        );
        Harness {
            jobs,
            executor,
            printed,
            inbox,
        }
    }

    fn started(h: &Harness) -> Vec<(u64, u64, u32)> {
        lock(&h.executor.started)
            .iter()
            .map(|k| (k.number, k.run, k.attempt))
            .collect()
    }

    fn printed(h: &Harness) -> Vec<(String, String)> {
        lock(&h.printed).clone()
    }

    /// `(Seq, Exitval, Signal)` of each joblog row.
    fn rows(path: &Path) -> Vec<(String, String, String)> {
        let text = std::fs::read_to_string(path).expect("joblog");
        text.lines()
            .skip(1)
            .map(|line| {
                let f: Vec<&str> = line.split('\t').collect();
                (f[0].to_owned(), f[6].to_owned(), f[7].to_owned())
            })
            .collect()
    }

    #[test]
    fn failed_attempts_are_retried_under_new_keys_and_counted_once() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("joblog");
        let h = harness(Settings {
            attempts: 3,
            joblog: Some(&log),
            ..Settings::default()
        });
        assert_eq!(h.jobs.run_job(1, None, b"fail 3"), Some(true));
        assert_eq!(h.jobs.run_job(2, None, b"exit 2"), Some(false));
        assert_eq!(
            started(&h),
            [
                (1, 0, 1),
                (1, 0, 2),
                (1, 0, 3),
                (2, 0, 1),
                (2, 0, 2),
                (2, 0, 3)
            ]
        );
        assert_eq!(
            h.jobs.reporter.tally().counts(),
            Counts {
                succeeded: 1,
                failed: 1,
                killed: 0,
                stopped: 0,
                not_started: 0,
            }
        );
        // Every attempt prints its status line; the joblog has the final ones only.
        let lines: Vec<String> = printed(&h).into_iter().map(|(line, _)| line).collect();
        assert_eq!(lines.len(), 6);
        assert!(
            lines[0].starts_with("[1] failed with exit code 1")
                && lines[0].contains("(attempt 1 of 3)")
        );
        assert!(lines[2].starts_with("[1] ok") && lines[2].contains("(attempt 3 of 3)"));
        assert_eq!(
            rows(&log),
            [
                ("1".into(), "0".into(), "0".into()),
                ("2".into(), "2".into(), "0".into())
            ]
        );
    }

    #[test]
    fn results_files_survive_a_keep_order_hold_and_feed_json() {
        let dir = tempfile::tempdir().unwrap();
        let mut h = harness(Settings {
            keep_order: true,
            json: true,
            ..Settings::default()
        });
        let results = ResultsDir::open(&dir.path().join("out"), Vec::new()).unwrap();
        h.jobs.results = Some(results);
        // Job 2 ends first and is held (its capture handed over, later reset).
        assert_eq!(h.jobs.run_job(2, None, b"print two"), Some(true));
        assert_eq!(h.jobs.run_job(1, None, b"print one"), Some(true));
        let outputs: Vec<String> = printed(&h).into_iter().map(|(_, out)| out).collect();
        assert_eq!(outputs, ["one", "two"]);
        let read = |job: &str, file: &str| {
            std::fs::read_to_string(dir.path().join("out/1").join(job).join(file)).unwrap()
        };
        assert_eq!(
            read("print two", "stdout"),
            "two",
            "the hold emptied the file"
        );
        assert_eq!(read("print two", "seq"), "2");
        assert_eq!(read("print one", "exitval"), "0");
    }

    #[test]
    fn repeat_runs_get_one_attempt_each_keyed_by_run() {
        let h = harness(Settings {
            attempts: 3,
            ..Settings::default()
        });
        assert_eq!(h.jobs.run_job(4, Some(1), b"exit 1"), Some(false));
        assert_eq!(h.jobs.run_job(4, Some(2), b"exit 0"), Some(true));
        assert_eq!(started(&h), [(4, 1, 1), (4, 2, 1)]);
    }

    #[test]
    fn halt_now_starts_no_more_jobs_and_tells_the_coordinator() {
        let h = harness(Settings {
            halt: Some("now,fail=1"),
            ..Settings::default()
        });
        assert_eq!(h.jobs.run_job(1, None, b"exit 0"), Some(true));
        assert!(h.inbox.try_recv().is_err(), "a success does not halt");
        assert_eq!(h.jobs.run_job(2, None, b"exit 4"), Some(false));
        assert!(matches!(h.inbox.try_recv(), Ok(Event::Halt)));
        let halt = h.jobs.halted().expect("halted");
        assert_eq!(
            (halt.when, halt.job, halt.exit_code),
            (When::Now, Some(2), 4)
        );
        assert!(h.jobs.is_stopping());
        assert_eq!(
            h.jobs.run_job(3, None, b"exit 0"),
            None,
            "queued before the halt"
        );
        assert_eq!(started(&h), [(1, 0, 1), (2, 0, 1)]);
    }

    #[test]
    fn a_percentage_halt_is_decided_when_the_input_ends() {
        let h = harness(Settings {
            halt: Some("soon,fail=50%"),
            ..Settings::default()
        });
        h.jobs.run_job(1, None, b"exit 1");
        h.jobs.run_job(2, None, b"exit 0");
        assert!(h.jobs.halted().is_none(), "the total is not known yet");
        h.jobs.input_ended(2);
        let halt = h.jobs.halted().expect("1 of 2 failed");
        assert_eq!((halt.when, halt.job, halt.exit_code), (When::Soon, None, 1));
        assert!(matches!(h.inbox.try_recv(), Ok(Event::Halt)));
    }

    #[test]
    fn keep_order_prints_jobs_in_input_order_with_their_own_output() {
        let h = harness(Settings {
            keep_order: true,
            ..Settings::default()
        });
        // Jobs 2 and 3 end first: their capture files are held, the worker's
        // capture is replaced, and job 1's output is its own.
        h.jobs.run_job(2, None, b"print two");
        h.jobs.run_job(3, None, b"print three");
        assert!(printed(&h).is_empty());
        h.jobs.run_job(1, None, b"print one");
        let printed = printed(&h);
        let order: Vec<(&str, &str)> = printed
            .iter()
            .map(|(line, out)| (&line[..4], out.as_str()))
            .collect();
        assert_eq!(order, [("[1] ", "one"), ("[2] ", "two"), ("[3] ", "three")]);
    }

    #[test]
    fn keep_order_does_not_wait_for_a_job_that_never_started() {
        let h = harness(Settings {
            keep_order: true,
            halt: Some("soon,fail=1"),
            ..Settings::default()
        });
        h.jobs.run_job(2, None, b"print two");
        h.jobs.run_job(4, None, b"print four");
        h.jobs.run_job(1, None, b"exit 3");
        // Job 3 was queued before the halt: it does not start, and job 4, held
        // behind it, is printed at once rather than at the end of the run.
        assert_eq!(h.jobs.run_job(3, None, b"print three"), None);
        let numbers: Vec<String> = printed(&h).iter().map(|(l, _)| l[..3].to_owned()).collect();
        assert_eq!(numbers, ["[1]", "[2]", "[4]"]);
    }

    #[test]
    fn json_has_one_object_per_job_for_its_final_attempt() {
        let h = harness(Settings {
            attempts: 2,
            json: true,
            ..Settings::default()
        });
        assert_eq!(h.jobs.run_job(1, None, b"fail 2"), Some(true));
        assert_eq!(h.jobs.run_job(2, None, b"kill 9"), Some(false));
        let objects = printed(&h);
        assert_eq!(objects.len(), 2, "{objects:?}");
        assert!(objects[0].0.starts_with("{\"seq\":1,"), "{}", objects[0].0);
        assert!(
            objects[0]
                .0
                .contains("\"exit_code\":0,\"signal\":null,\"timed_out\":false,\"attempt\":2,")
        );
        assert!(
            objects[1]
                .0
                .contains("\"exit_code\":null,\"signal\":\"SIGKILL\"")
        );
    }

    #[test]
    fn the_joblog_leaves_out_jobs_killed_because_the_run_was_stopping() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("joblog");
        let h = harness(Settings {
            joblog: Some(&log),
            ..Settings::default()
        });
        assert_eq!(h.jobs.run_job(1, None, b"kill 9"), Some(false));
        assert_eq!(h.jobs.run_job(2, None, b"stopped"), Some(false));
        assert_eq!(rows(&log), [("1".into(), "0".into(), "9".into())]);
        let counts = h.jobs.reporter.tally().counts();
        assert_eq!((counts.killed, counts.stopped), (1, 1), "{counts:?}");
        assert_eq!(
            h.jobs.run_job(3, None, b"exit 0"),
            None,
            "the executor is closed"
        );
    }

    #[test]
    fn the_joblog_leaves_out_jobs_that_handled_the_stop_and_exited() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("joblog");
        let h = harness(Settings {
            joblog: Some(&log),
            ..Settings::default()
        });
        assert_eq!(h.jobs.run_job(1, None, b"exit 0"), Some(true));
        // Its `trap 'exit 7' TERM` ran: it was stopped by us all the same.
        assert_eq!(h.jobs.run_job(2, None, b"stopped 7"), Some(false));
        assert_eq!(rows(&log), [("1".into(), "0".into(), "0".into())]);
    }

    #[test]
    fn a_timeout_signals_the_running_job_by_key_through_the_executor() {
        use crate::run::exec::executor::SignalJob;
        use nix::sys::signal::Signal;
        use std::time::{Duration, Instant};

        let mut h = harness(Settings::default());
        let target = Arc::clone(&h.executor) as Arc<dyn SignalJob>;
        let seq = "TERM,1,KILL,1".parse().unwrap();
        h.jobs.timeouts = Some(Timeouts::start(Duration::ZERO, seq, target).unwrap());
        let (jobs, executor) = (Arc::new(h.jobs), Arc::clone(&h.executor));
        let worker = {
            let jobs = Arc::clone(&jobs);
            std::thread::spawn(move || jobs.run_job(1, None, b"hold"))
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while lock(&executor.signals).len() < 2 {
            assert!(Instant::now() < deadline, "the timer never signalled");
            std::thread::sleep(Duration::from_millis(5));
        }
        let running = executor.running();
        assert_eq!(running.len(), 1, "listed while it runs");
        assert_eq!(&*running[0].command, b"hold");
        executor.release(1);
        assert_eq!(
            worker.join().unwrap(),
            Some(false),
            "a timed-out job failed"
        );
        let key = JobKey {
            number: 1,
            run: 0,
            attempt: 1,
        };
        assert_eq!(
            *lock(&executor.signals),
            [(key, Signal::SIGTERM), (key, Signal::SIGKILL)]
        );
        assert!(lock(&h.printed)[0].0.starts_with("[1] timed out"));
    }
}
