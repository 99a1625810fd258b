//! The monitor thread: wakes when a submission finds no idle worker, and every
//! `monitor_interval` while tasks wait; takes a [`Snapshot`] (and, once per decision
//! window, a load reading), asks the [`controller`](super::controller) what to do and
//! carries it out. It also joins workers that retired.
//!
//! It is not a worker slot (the original ATP's monitor took one), and a fixed-size
//! pool (`min == max`) has none: there is nothing for it to decide.
//!
//! Windows: a load reading's CPU figure covers the time since the previous reading.
//! After every change of size (growth, or a shrink target) the monitor starts a new
//! window, and the controller acts on load only with a reading over a window of at
//! least [`MIN_WINDOW`] that began after the change — so each step is judged by its
//! own effect, never by the calm before it.
//!
//! When the OS refuses a thread (EAGAIN, out of memory for stacks), the monitor lowers
//! the pool's ceiling to the workers it has instead of failing, as smol-rs/blocking
//! does, and logs a warning; the ceiling stays lowered for the pool's life.

use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::controller::{Decision, Limits, LoadView, Snapshot, decide};
use super::job::report;
use super::load::{LoadProbe, LoadReading, MIN_WINDOW, SystemProbe};
use super::logging::pool_log;
use super::memory_track::MemoryTrack;
use super::panic_capture;
use super::shared::{Phase, Shared, State, WorkerThread};
use super::sync::{self, thread};
use super::worker;

/// Starts the monitor thread, with the system probe unless `probe` replaces it.
pub(crate) fn start(
    shared: &Arc<Shared>,
    probe: Option<Box<dyn LoadProbe>>,
) -> io::Result<WorkerThread> {
    let monitor_shared = Arc::clone(shared);
    let mut state = shared.lock();
    state.threads_alive += 1;
    state.monitor_alive = true;
    drop(state);
    let spawned = thread::Builder::new()
        .name(format!("{}-monitor", shared.config.thread_name))
        .spawn(move || {
            let guard = Finished(monitor_shared);
            let probe = if guard.0.config.load_aware {
                Some(probe.unwrap_or_else(|| Box::new(SystemProbe::new())))
            } else {
                None
            };
            Monitor::new(probe).run(&guard.0)
        });
    match spawned {
        Ok(handle) => Ok(WorkerThread {
            serial: u64::MAX,
            handle,
        }),
        Err(err) => {
            let mut state = shared.lock();
            state.threads_alive -= 1;
            state.monitor_alive = false;
            shared.exited.notify_all();
            Err(err)
        }
    }
}

/// Counts the monitor out of `threads_alive` when its thread ends, however it ends.
struct Finished(Arc<Shared>);

impl Drop for Finished {
    fn drop(&mut self) {
        let mut state = self.0.lock();
        state.threads_alive -= 1;
        state.monitor_alive = false;
        self.0.exited.notify_all();
    }
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

/// The parts of a snapshot read under the pool's lock.
fn snapshot(
    state: &State,
    min: usize,
    load: LoadView,
    progress: &Progress,
    last_change: Instant,
    tree: &TreeRate,
) -> Snapshot {
    Snapshot {
        queued: state.queue.len(),
        busy: state.busy,
        live: state.live,
        min,
        ceiling: state.ceiling,
        since_progress: progress.at.elapsed(),
        since_change: last_change.elapsed(),
        our_cpu: tree.cores,
        our_runnable: tree.runnable,
        cpus: tree.cpus,
        load,
    }
}

/// The cores this process's tree (child processes included) used over the latest
/// window of at least [`MIN_WINDOW`], from the readings' `tree_cpu` — only for
/// windows that began with workers busy: one that began while the pool was idle says
/// nothing of what its tasks cost, and taking it for cheap would fan out tasks that
/// compute.
#[derive(Debug)]
struct TreeRate {
    /// Where the current measurement started: when, the tree's CPU time then, and
    /// whether workers were busy then.
    mark: Option<(Instant, Duration, bool)>,
    cores: Option<f64>,
    /// Runnable threads and processes of the tree, summed over the readings since
    /// the mark, and how many readings.
    runnable_sum: u64,
    samples: u32,
    /// Their mean over the latest window.
    runnable: Option<f64>,
    /// Cores available to us (the latest reading's).
    cpus: f64,
}

/// Shortest window for [`TreeRate`]. Shorter than [`MIN_WINDOW`]: a process's CPU
/// time is counted in 10 ms ticks too, but the question here is coarse (a fraction of
/// a core per worker, or a whole core), and a rounding error can only make waiting
/// tasks look costlier, never computing ones cheaper than they are.
const TREE_WINDOW: Duration = Duration::from_millis(30);

impl TreeRate {
    /// Whether the current measurement began with no worker busy.
    fn measuring_idle(&self) -> bool {
        matches!(self.mark, Some((_, _, false)))
    }

    fn observe(&mut self, reading: &LoadReading, busy: usize) {
        self.cpus = reading.cpus.max(1.0);
        let Some(cpu) = reading.tree_cpu else {
            return;
        };
        let now = Instant::now();
        let busy = busy > 0;
        if let Some(runnable) = reading.tree_runnable {
            self.runnable_sum += u64::from(runnable);
            self.samples += 1;
        }
        match self.mark {
            // Workers got busy since an idle mark: measure from now on.
            Some((_, _, false)) if busy => {
                self.mark = Some((now, cpu, busy));
                self.cores = None;
                self.runnable = None;
                (self.runnable_sum, self.samples) = (0, 0);
            }
            Some((at, before, was_busy)) => {
                let wall = now.duration_since(at);
                if wall >= TREE_WINDOW {
                    let used = cpu.saturating_sub(before).as_secs_f64();
                    self.cores = was_busy.then(|| used / wall.as_secs_f64());
                    self.runnable = (was_busy && self.samples > 0)
                        .then(|| self.runnable_sum as f64 / f64::from(self.samples));
                    (self.runnable_sum, self.samples) = (0, 0);
                    self.mark = Some((now, cpu, busy));
                }
            }
            None => self.mark = Some((now, cpu, busy)),
        }
    }
}

/// The monitor's own state: the probe and the current window.
struct Monitor {
    probe: Option<Box<dyn LoadProbe>>,
    /// When the current window started; `None` before the first reading.
    window_start: Option<Instant>,
    /// Whether any window has been measured yet.
    measured: bool,
    /// Cores, from the first reading.
    cpus: f64,
    /// The first reading showed available memory at or under the reserve.
    memory_low_at_start: bool,
    /// The memory available with no task running (taken when the monitor starts),
    /// and whether tasks are still allocating.
    memory: MemoryTrack,
    /// The largest memory per busy worker measured, decaying by 1/64 per reading (a
    /// half-life of a few seconds): a job started in the last window may not have
    /// allocated yet, so the average of one reading underestimates exactly when it
    /// matters, and a safety margin should shrink slowly.
    memory_per_job: Option<u64>,
    cost: CostEstimate,
    tree: TreeRate,
}

/// What one busy worker costs in CPU: the process's CPU time (its own threads and its
/// reaped child processes) over the wall time of the task runs that finished, each
/// smoothed with a half-life of one reading. Child processes are counted when reaped,
/// that is when their task finishes — which is also when the run's time is counted —
/// so both sides of the ratio cover the same tasks.
#[derive(Debug, Default)]
struct CostEstimate {
    last: Option<(Duration, Duration)>,
    cpu: f64,
    run: f64,
}

impl CostEstimate {
    /// Least smoothed run time (seconds) before the estimate is trusted.
    const EVIDENCE: f64 = 0.05;

    fn update(&mut self, own_cpu: Option<Duration>, run_time: Duration) {
        let Some(own_cpu) = own_cpu else {
            return;
        };
        if let Some((cpu0, run0)) = self.last {
            self.cpu = self.cpu / 2.0 + own_cpu.saturating_sub(cpu0).as_secs_f64();
            self.run = self.run / 2.0 + run_time.saturating_sub(run0).as_secs_f64();
        }
        self.last = Some((own_cpu, run_time));
    }

    /// Cores used per busy worker, once enough task time has been seen.
    fn per_worker(&self) -> Option<f64> {
        (self.run >= Self::EVIDENCE).then(|| self.cpu / self.run)
    }
}

impl Monitor {
    fn new(probe: Option<Box<dyn LoadProbe>>) -> Monitor {
        Monitor {
            probe,
            window_start: None,
            measured: false,
            cpus: super::load::available_cpus(),
            memory_low_at_start: false,
            memory: MemoryTrack::default(),
            memory_per_job: None,
            cost: CostEstimate::default(),
            tree: TreeRate {
                mark: None,
                cores: None,
                runnable_sum: 0,
                samples: 0,
                runnable: None,
                cpus: super::load::available_cpus(),
            },
        }
    }

    fn run(mut self, shared: &Arc<Shared>) {
        let min = shared.config.min_workers;
        // The pool has just started: nothing runs yet, so this is the memory
        // baseline. (The CPU window starts with the first decision.)
        if let Some(reading) = self.read_probe(0) {
            self.memory.see(&reading, 0);
        }
        let mut state = shared.lock();
        let mut progress = Progress {
            completed: state.completed,
            at: Instant::now(),
        };
        let mut last_change = Instant::now();
        // Decide first, then wait: tasks submitted before the monitor first took the
        // lock did not kick it (it was not listening yet), so it must look at once.
        let mut first = true;
        loop {
            if !first && !state.monitor_kicked {
                state = if state.park_monitor(shared) {
                    // Nothing to decide until a submission finds no idle worker.
                    sync::wait(&shared.monitor_wakeup, state)
                } else {
                    // Look again after the interval, or as soon as the current load
                    // window is long enough to read, if that is sooner.
                    let window_left = self
                        .window_start
                        .map(|start| MIN_WINDOW.saturating_sub(start.elapsed()))
                        .filter(|left| !left.is_zero());
                    let interval = shared.config.monitor_interval;
                    let wait = window_left.map_or(interval, |left| left.min(interval));
                    sync::wait_timeout(&shared.monitor_wakeup, state, wait).0
                };
            }
            first = false;
            state.monitor_kicked = false;
            state.absorb(shared);
            state.sync_listen(shared);
            progress.observe(&state);
            let finished = take_exited(&mut state);
            if state.phase != Phase::Running && state.queue.is_empty() {
                drop(state);
                join(finished);
                return;
            }
            let (queued, busy, run_time) = (state.queue.len(), state.busy, state.run_time);
            drop(state);
            join(finished);

            let load = self.load_view(shared, queued, busy, run_time);
            let mut state_now = shared.lock();
            // The snapshot, the decision and the listen flag in one inbox critical
            // section (see `inbox.rs`): a job left after the snapshot finds the flag
            // as the decision set it, and kicks if it should.
            let (s, decision) = {
                let mut inbox = sync::lock(&shared.inbox.0);
                state_now.absorb_from(&mut inbox);
                let s = snapshot(&state_now, min, load, &progress, last_change, &self.tree);
                let decision = decide(&s);
                state_now.monitor_listening = decision.wants_kicks();
                inbox.listen = state_now.listening_for_kicks();
                (s, decision)
            };
            match decision {
                Decision::Grow { workers, reason } => {
                    state_now.target = None;
                    drop(state_now);
                    pool_log!(Debug, "growing by {workers}: {reason} ({s:?})");
                    grow(shared, workers);
                    last_change = Instant::now();
                    self.restart_window(shared);
                }
                Decision::Shrink { target, reason } => {
                    // The same target again changes nothing: it must not hold off
                    // starvation injection, which waits a second after a change.
                    let changed = state_now.target.replace(target) != Some(target);
                    drop(state_now);
                    if changed {
                        pool_log!(Debug, "backing off to {target} workers: {reason} ({s:?})");
                        last_change = Instant::now();
                    }
                    self.restart_window(shared);
                }
                Decision::Hold { reason } => {
                    drop(state_now);
                    pool_log!(Trace, "holding: {reason} ({s:?})");
                }
            }
            state = shared.lock();
        }
    }

    /// What the controller may know of the load now; reads the probe when a window
    /// has ended.
    fn load_view(
        &mut self,
        shared: &Shared,
        queued: usize,
        busy: usize,
        run_time: Duration,
    ) -> LoadView {
        if self.probe.is_none() {
            return LoadView::Off;
        }
        let Some(start) = self.window_start else {
            let Some(reading) = self.read_probe(busy) else {
                return LoadView::Off;
            };
            self.cost.update(reading.own_cpu, run_time);
            self.window_start = Some(Instant::now());
            self.cpus = reading.cpus.max(1.0);
            self.memory.see(&reading, busy);
            let reserve = shared.config.memory_reserve_for(reading.memory_total);
            self.memory_low_at_start = reading.memory_available.is_some_and(|a| a <= reserve);
            return self.unmeasured();
        };
        if queued == 0 && busy > 0 || start.elapsed() < MIN_WINDOW {
            // Nothing to grow for, or the window is too short to trust. But if
            // workers just got busy, start measuring what they use now rather than
            // at the next reading.
            if busy > 0 && self.tree.measuring_idle() {
                let _ = self.read_probe(busy);
            }
            return if self.measured {
                LoadView::Settling
            } else {
                self.unmeasured()
            };
        }
        let Some(reading) = self.read_probe(busy) else {
            return LoadView::Off;
        };
        self.cost.update(reading.own_cpu, run_time);
        self.window_start = Some(Instant::now());
        if reading.cpu_busy.is_none() && reading.memory_available.is_none() {
            if !self.measured {
                pool_log!(Debug, "no load readings on this system: growing by backlog");
                self.probe = None;
            }
            return LoadView::Off;
        }
        self.measured = true;
        self.cpus = reading.cpus.max(1.0);
        let reserve = shared.config.memory_reserve_for(reading.memory_total);
        // Over a window of 50 ms or more (see `MemoryTrack::observe`).
        let memory_falling = self.memory.observe(&reading, busy, reserve);
        let measured = self.memory.per_job(&reading, busy);
        let decayed = self.memory_per_job.map(|peak| peak - peak / 64);
        self.memory_per_job = match (decayed, measured) {
            (Some(peak), Some(now)) => Some(now.max(peak)),
            (peak, now) => now.or(peak),
        };
        LoadView::Fresh {
            reading,
            memory_per_job: self.memory_per_job,
            idle_memory: self.memory.idle(),
            memory_falling,
            cost_per_worker: self.cost.per_worker(),
            limits: Limits {
                cpu_threshold: f64::from(shared.config.cpu_threshold_percent) / 100.0,
                memory_reserve: reserve,
            },
        }
    }

    /// A reading from the probe, if there is one. A probe is user code: if it panics,
    /// the panic is logged and the probe dropped, and the pool grows by its backlog
    /// from then on — a dead monitor would never grow the pool or restore its
    /// minimum again.
    /// `busy`: workers busy now, for the measure of what they use.
    fn read_probe(&mut self, busy: usize) -> Option<LoadReading> {
        let probe = self.probe.as_mut()?;
        match panic_capture::catch(|| probe.read()) {
            (Ok(reading), _) => {
                self.tree.observe(&reading, busy);
                Some(reading)
            }
            (Err(payload), record) => {
                let message = panic_capture::panic_message(payload.as_ref());
                let _ = panic_capture::drop_contained(payload);
                let at = record
                    .and_then(|r| r.location)
                    .map(|l| format!(" (at {l})"))
                    .unwrap_or_default();
                report(format_args!(
                    "the load probe panicked: {message}{at}; growing by backlog from now on"
                ));
                // Dropping it is user code too.
                let _ = panic_capture::drop_contained(self.probe.take());
                None
            }
        }
    }

    fn unmeasured(&self) -> LoadView {
        LoadView::Unmeasured {
            cpus: self.cpus,
            memory_low: self.memory_low_at_start,
        }
    }

    /// Starts a new window now: the next decision on load sees only what follows.
    fn restart_window(&mut self, shared: &Shared) {
        let (busy, run_time) = {
            let state = shared.lock();
            (state.busy, state.run_time)
        };
        if let Some(reading) = self.read_probe(busy) {
            self.cost.update(reading.own_cpu, run_time);
            self.window_start = Some(Instant::now());
        }
    }
}

/// Starts `workers` workers; on the first refusal, lowers the ceiling and stops.
fn grow(shared: &Arc<Shared>, workers: usize) {
    for _ in 0..workers {
        if let Err(err) = worker::start(shared) {
            let mut state = shared.lock();
            state.ceiling = state.live.max(1);
            pool_log!(
                Warn,
                "could not start another worker ({err}); limiting the pool to {} workers",
                state.ceiling
            );
            return;
        }
    }
}

fn join(threads: Vec<WorkerThread>) {
    for thread in threads {
        let _ = thread.handle.join();
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cost_per_worker_is_cpu_time_over_finished_run_time_once_there_is_evidence() {
        let mut cost = CostEstimate::default();
        let ms = Duration::from_millis;
        cost.update(Some(ms(100)), ms(0));
        assert_eq!(cost.per_worker(), None, "no window yet");
        cost.update(Some(ms(101)), ms(10));
        assert_eq!(cost.per_worker(), None, "too little run time to judge");
        // Sleeping tasks: 2 ms of CPU per 400 ms of running.
        cost.update(Some(ms(103)), ms(410));
        let r = cost.per_worker().unwrap();
        assert!(r < 0.01, "{r}");
        // Then computing tasks: CPU time as long as run time; the estimate follows.
        let mut cost = CostEstimate::default();
        cost.update(Some(ms(0)), ms(0));
        cost.update(Some(ms(500)), ms(500));
        assert!((cost.per_worker().unwrap() - 1.0).abs() < 1e-9);
        cost.update(None, ms(900));
        assert!(
            (cost.per_worker().unwrap() - 1.0).abs() < 1e-9,
            "no reading, no change"
        );
    }

    #[test]
    fn the_tree_rate_covers_only_windows_that_began_with_busy_workers() {
        let mut tree = TreeRate {
            mark: None,
            cores: None,
            runnable_sum: 0,
            samples: 0,
            runnable: None,
            cpus: 2.0,
        };
        let mut reading = LoadReading::new(None, None, 2.0, None, None);
        let started = Instant::now();
        let at = |elapsed: Duration| Some(elapsed.mul_f64(1.5));
        // Idle pool, then busy workers: the idle part is not measured.
        reading.tree_cpu = Some(Duration::ZERO);
        tree.observe(&reading, 0);
        std::thread::sleep(MIN_WINDOW);
        reading.tree_cpu = Some(Duration::ZERO);
        tree.observe(&reading, 2);
        assert_eq!(tree.cores, None, "the window began idle");
        let busy_from = Instant::now();
        std::thread::sleep(MIN_WINDOW);
        // The tree used 1.5 cores since the workers got busy.
        reading.tree_cpu = at(busy_from.elapsed());
        tree.observe(&reading, 2);
        let cores = tree.cores.expect("a window that began busy");
        assert!((1.0..=1.5).contains(&cores), "{cores}");
        assert!(started.elapsed() >= 2 * MIN_WINDOW);
    }
}
