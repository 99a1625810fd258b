//! The feeder: a thread that reads records and hands the pool one task per record,
//! keeping at most a window of tasks queued or running, so the first job starts as
//! soon as its line arrives and a million-line input never sits in memory. See
//! `PROTOCOL.md`, "Feeder".
//!
//! Owns: the in-flight [`Window`], the `--resume` skip set, and the `--repeat`
//! watchdogs (one infinite task per command).
//!
//! Invariants:
//! - Every record read gets a job number (its input position), skipped or not.
//! - Every job handed over is counted in [`Completion`] before it is handed over
//!   and done exactly once after; a skipped job is done at once.
//! - The feeder stops reading when the run is stopping, and always ends with one
//!   [`Event::InputEnded`].

use std::collections::HashSet;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use crossbeam_channel::Sender;

use crate::run::completion::{Completion, DoneGuard};
use crate::run::control::attempts::Jobs;
use crate::run::control::backoff::Backoff;
use crate::run::events::Event;
use crate::run::input::pipeline::RecordStream;
use crate::run::input::sources::InputError;
use crate::run::lock::{lock, wait};
use crate::{StopToken, Task, TaskHandle, ThreadPool};

/// Most tasks the feeder keeps queued or running at once (outside `--repeat`): enough
/// for the pool to see its backlog and grow to its maximum, small enough that memory
/// stays flat however long the input is.
pub(crate) fn in_flight_limit(max_workers: usize) -> usize {
    max_workers.saturating_mul(2).max(64)
}

/// Bounds the tasks queued or running (outside `--repeat`), so that a long input
/// never sits in memory. With hysteresis: a full window wakes the feeder only when
/// half of it has drained, not once per finished job.
///
/// With a queue limit (`--pipe`, where each task holds a block of input), at most
/// that many of them wait for a worker: the running ones are bounded by the pool.
#[derive(Debug)]
pub(crate) struct Window {
    /// Tasks in flight (queued or running), and of them those not started yet.
    in_flight: Mutex<(usize, usize)>,
    space: Condvar,
    limit: usize,
    /// Most tasks waiting for a worker (`usize::MAX`: no limit but `limit`).
    queue_limit: usize,
}

impl Window {
    /// A window of `limit` tasks (at least 2).
    pub(crate) fn new(limit: usize) -> Window {
        Window {
            in_flight: Mutex::new((0, 0)),
            space: Condvar::new(),
            limit: limit.max(2),
            queue_limit: usize::MAX,
        }
    }

    /// A window of `limit` tasks of which at most `queue` (at least 1) wait for a
    /// worker.
    pub(crate) fn with_queue(limit: usize, queue: usize) -> Window {
        Window {
            queue_limit: queue.max(1),
            ..Window::new(limit)
        }
    }

    fn acquire(&self) {
        let mut n = lock(&self.in_flight);
        while n.0 >= self.limit || n.1 >= self.queue_limit {
            n = wait(&self.space, n);
        }
        n.0 += 1;
        n.1 += 1;
    }

    /// A task began running: it no longer waits.
    fn started(&self) {
        let mut n = lock(&self.in_flight);
        n.1 -= 1;
        if self.queue_limit != usize::MAX {
            self.space.notify_one();
        }
    }

    fn release(&self) {
        let mut n = lock(&self.in_flight);
        n.0 -= 1;
        if n.0 == self.limit / 2 {
            self.space.notify_one();
        }
    }
}

/// Frees a window slot when dropped, so that a job that unwinds still frees it.
struct WindowSlot<'a>(&'a Window);

impl Drop for WindowSlot<'_> {
    fn drop(&mut self) {
        self.0.release();
    }
}

/// A watchdog (`--repeat`): its command and its task.
#[derive(Debug)]
pub(crate) struct Watchdog {
    /// Job number of its command.
    pub number: u64,
    /// The command, as its first run renders it (for the table).
    pub command: Vec<u8>,
    /// Its infinite task.
    pub handle: TaskHandle,
}

/// What the feeder and the one-shot tasks share.
#[derive(Debug)]
pub(crate) struct Shared {
    /// The jobs' context.
    pub jobs: Arc<Jobs>,
    /// Counting jobs in and out.
    pub completion: Completion,
    /// The in-flight window.
    pub window: Window,
}

/// Reads records and submits a task for each.
#[derive(Debug)]
pub(crate) struct Feeder {
    /// The pool tasks go to.
    pub pool: Arc<ThreadPool>,
    /// What tasks share.
    pub shared: Arc<Shared>,
    /// `--resume`: job numbers to skip.
    pub skip: HashSet<u64>,
    /// `--repeat`: every command is a watchdog.
    pub repeat: bool,
    /// `--interval`.
    pub interval: Option<Duration>,
    /// The watchdogs started, for stopping them and for the table.
    pub watchdogs: Arc<Mutex<Vec<Watchdog>>>,
    /// The coordinator's channel.
    pub events: Sender<Event>,
}

impl Feeder {
    /// Feeds every record; ends with [`Event::InputEnded`].
    pub(crate) fn feed(self, records: RecordStream) {
        let (jobs_ctx, completion) = (&self.shared.jobs, &self.shared.completion);
        let mut jobs = 0u64;
        let mut error = None;
        for record in records {
            if jobs_ctx.is_stopping() {
                break;
            }
            let record = match record {
                Ok(record) => record.bytes,
                Err(err @ InputError::RecordTooLong { .. }) => {
                    // That record fails (it keeps its number, F1); reading goes on.
                    jobs += 1;
                    self.record_too_long(jobs, &err);
                    continue;
                }
                Err(err) => {
                    error = Some(err);
                    break;
                }
            };
            jobs += 1;
            completion.submitting();
            if self.skip.contains(&jobs) {
                // --resume: the job keeps its number, and counts as done;
                // --keep-order must not wait for it.
                jobs_ctx.reporter.job_skipped(jobs);
                completion.skipped_one();
                continue;
            }
            let submitted = if self.repeat {
                self.submit_watchdog(jobs, record)
            } else {
                self.submit_once(jobs, record)
            };
            if !submitted {
                completion.not_submitted();
                jobs -= 1;
                break;
            }
        }
        if !self.repeat {
            completion.input_ended(jobs);
        }
        let _ = self.events.send(Event::InputEnded { jobs, error });
    }

    /// Job `number`'s record was too long to keep (`err` says where): it fails
    /// without running, as a job that cannot start does, and is done at once.
    fn record_too_long(&self, number: u64, err: &InputError) {
        let (jobs, completion) = (&self.shared.jobs, &self.shared.completion);
        completion.submitting();
        jobs.reporter
            .message(&format!("atp-run: [{number}] failed: {err}"));
        jobs.reporter.tally().record(number, false, false);
        jobs.reporter.job_skipped(number);
        completion.job_done();
    }

    /// A one-shot job: one slot of the window, done once.
    fn submit_once(&self, number: u64, record: Vec<u8>) -> bool {
        self.shared.jobs.reporter.wait_for_room();
        if let Some(pacer) = &self.shared.jobs.pacer {
            // --delay: hand the job over when it may start, so the pool's backlog
            // stays short and it does not grow workers that would only wait.
            pacer.wait_due(|| self.shared.jobs.is_stopping());
        }
        self.shared.window.acquire();
        let shared = Arc::clone(&self.shared);
        self.pool
            .run(Task::new(move || {
                shared.window.started();
                let _slot = WindowSlot(&shared.window);
                let mut done = DoneGuard::new(&shared.completion);
                shared.jobs.run_job(number, None, &record);
                done.fire();
                if shared.jobs.halted().is_some() {
                    // Halting soon: the coordinator checks whether this was the last
                    // running job (the input may never end).
                    let _ = shared.jobs.events.send(Event::Halt);
                }
            }))
            .is_ok()
    }

    /// A `--repeat` job: an infinite task running it again after each end.
    fn submit_watchdog(&self, number: u64, record: Vec<u8>) -> bool {
        let jobs = Arc::clone(&self.shared.jobs);
        let interval = self.interval;
        let mut runs = 0u64;
        let command = match &jobs.template {
            Some(t) => t.render(&record, number, 0),
            None => record.clone(),
        };
        let mut backoff = Backoff::default();
        let task = Task::infinite(move |stop: &StopToken| {
            runs += 1;
            let ok = jobs.run_job(number, Some(runs), &record);
            // A run that could not be reported (stopping) counts as a success: no
            // backoff, the watchdog is being stopped anyway.
            let pause = backoff.after(ok.unwrap_or(true), interval);
            if !pause.is_zero() {
                stop.sleep(pause);
            }
        });
        match self.pool.run(task) {
            Ok(handle) => {
                lock(&self.watchdogs).push(Watchdog {
                    number,
                    command,
                    handle,
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

    #[test]
    fn the_window_wakes_a_full_feeder_only_at_half() {
        let window = Window::new(4);
        for _ in 0..4 {
            window.acquire();
        }
        {
            let _slot = WindowSlot(&window);
        }
        assert_eq!(window.in_flight.lock().unwrap().0, 3);
        window.release();
        assert_eq!(window.in_flight.lock().unwrap().0, 2);
    }

    #[test]
    fn a_queue_limit_bounds_the_tasks_not_started() {
        let window = Arc::new(Window::with_queue(100, 2));
        window.acquire();
        window.acquire();
        // A third waits until one of the two starts running.
        let third = {
            let window = Arc::clone(&window);
            std::thread::spawn(move || window.acquire())
        };
        std::thread::sleep(Duration::from_millis(50));
        assert_eq!(*window.in_flight.lock().unwrap(), (2, 2));
        window.started();
        third.join().unwrap();
        assert_eq!(*window.in_flight.lock().unwrap(), (3, 2));
    }

    #[test]
    fn the_window_grows_with_the_pool_but_never_below_64() {
        assert_eq!(in_flight_limit(1), 64);
        assert_eq!(in_flight_limit(100), 200);
        assert_eq!(in_flight_limit(usize::MAX), usize::MAX);
    }
}
