//! The monitor thread: wakes when a submission finds no idle worker, and every
//! `monitor_interval`, takes a [`Snapshot`], asks the [`controller`](super::controller)
//! what to do and starts workers accordingly. It also joins workers that retired.
//!
//! It is not a worker slot (the original ATP's monitor took one), and a fixed-size
//! pool (`min == max`) has none: there is nothing for it to decide.
//!
//! When the OS refuses a thread (EAGAIN, out of memory for stacks), the monitor lowers
//! the pool's ceiling to the workers it has instead of failing, as smol-rs/blocking
//! does, and logs a warning; the ceiling stays lowered for the pool's life.

use std::io;
use std::sync::Arc;
use std::time::Instant;

use super::controller::{Decision, Snapshot, decide};
use super::shared::{Phase, Shared, State, WorkerThread};
use super::sync::{self, thread};
use super::worker;

/// Starts the monitor thread.
pub(crate) fn start(shared: &Arc<Shared>) -> io::Result<WorkerThread> {
    let monitor_shared = Arc::clone(shared);
    let handle = thread::Builder::new()
        .name(format!("{}-monitor", shared.config.thread_name))
        .spawn(move || run(&monitor_shared))?;
    Ok(WorkerThread {
        serial: u64::MAX,
        handle,
    })
}

/// Tracks when the pool last made progress (finished a run), by watching the
/// `completed` counter at each check: this keeps the clock off the workers' hot path.
struct Progress {
    completed: u64,
    at: Instant,
}

impl Progress {
    fn observe(&mut self, state: &State) {
        if state.completed != self.completed {
            self.completed = state.completed;
            self.at = Instant::now();
        }
    }
}

fn snapshot(state: &State, min: usize, progress: &Progress) -> Snapshot {
    Snapshot {
        queued: state.queue.len(),
        idle: state.idle.len(),
        waking: state.waking,
        busy: state.busy,
        live: state.live,
        min,
        ceiling: state.ceiling,
        since_progress: progress.at.elapsed(),
    }
}

fn run(shared: &Arc<Shared>) {
    let min = shared.config.min_workers;
    let mut state = shared.lock();
    let mut progress = Progress {
        completed: state.completed,
        at: Instant::now(),
    };
    loop {
        if !state.monitor_kicked {
            state = sync::wait_timeout(
                &shared.monitor_wakeup,
                state,
                shared.config.monitor_interval,
            )
            .0;
        }
        state.monitor_kicked = false;
        progress.observe(&state);
        let finished = take_exited(&mut state);
        let stop = state.phase != Phase::Running && state.queue.is_empty();
        let decision = if stop {
            None
        } else {
            Some(decide(&snapshot(&state, min, &progress)))
        };
        drop(state);

        for thread in finished {
            let _ = thread.handle.join();
        }
        match decision {
            None => return,
            Some(Decision::Grow { workers, reason }) => {
                let s = snapshot(&shared.lock(), min, &progress);
                log::debug!("growing by {workers}: {reason} ({s:?})");
                grow(shared, workers);
            }
            Some(Decision::Hold { reason }) => {
                log::trace!("holding: {reason}");
            }
        }
        state = shared.lock();
    }
}

/// Starts `workers` workers; on the first refusal, lowers the ceiling and stops.
fn grow(shared: &Arc<Shared>, workers: usize) {
    let started = Instant::now();
    for _ in 0..workers {
        if let Err(err) = worker::start(shared) {
            let mut state = shared.lock();
            state.ceiling = state.live.max(1);
            log::warn!(
                "could not start another worker ({err}); limiting the pool to {} workers",
                state.ceiling
            );
            return;
        }
    }
    log::trace!("started {workers} workers in {:?}", started.elapsed());
}

/// Takes the handles of workers that have exited, to be joined outside the lock.
fn take_exited(state: &mut State) -> Vec<WorkerThread> {
    if state.exited.is_empty() {
        return Vec::new();
    }
    let exited = std::mem::take(&mut state.exited);
    let mut finished = Vec::new();
    let mut index = 0;
    while index < state.threads.len() {
        if exited.contains(&state.threads[index].serial) {
            finished.push(state.threads.swap_remove(index));
        } else {
            index += 1;
        }
    }
    // A worker can exit before its starter has recorded its handle; keep those
    // serials for the next round.
    state.exited.extend(
        exited
            .into_iter()
            .filter(|s| !finished.iter().any(|t| t.serial == *s)),
    );
    finished
}
