//! The adaptive slot count of one remote host: the pool's own decision
//! ([`crate::pool::controller::decide`], the same pure function and policy) fed by
//! the host's load instead of this machine's.
//!
//! Owns: [`HostController`], which turns each [`HostLoad`] of the host (one per
//! frame of its load monitor, `exec/ssh/load.rs`) and what the run's slots say of
//! the host ([`HostNow`]) into a new slot count, or none.
//!
//! The pool's terms, for a host: its slots are the live workers, the jobs running
//! on it the busy ones, the jobs waiting for any slot the queue; the host's CPUs
//! are its cores; what our jobs on it cost (CPU time and runnable processes, from
//! their `/proc/PID/stat`) is what the pool measures of its own process tree.
//! So jobs that wait (sleep, network) fan out past the host's cores, jobs that
//! compute hold at them (and back off when they oversubscribe them), and memory
//! gates growth — on each host by its own figures.
//!
//! Invariants: pure apart from the clock it is given (tests use a fake one); at
//! least one slot; never more than the ceiling; the slot count changes only at a
//! reading, so each reading's window began at or after the last change and
//! shows its effect (as the pool's monitor judges each step); shrinking only lowers the count (running jobs are
//! never stopped: they just get no successor until the host is under its count).

use std::time::{Duration, Instant};

use crate::Config;
use crate::pool::controller::{Decision, Limits, LoadView, Snapshot, decide};
use crate::pool::memory_track::MemoryTrack;
use crate::run::exec::ssh::HostLoad;

/// What the run's slots say of one host now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct HostNow {
    /// Its slot count.
    pub(crate) slots: usize,
    /// Jobs running on it.
    pub(crate) running: usize,
    /// Jobs waiting for a slot on any host.
    pub(crate) waiting: usize,
    /// Time since a job on it last ended (or since the run began).
    pub(crate) since_progress: Duration,
}

/// The controller of one host; see the module header.
#[derive(Debug)]
pub(crate) struct HostController {
    /// The host's probed cores.
    cores: usize,
    /// Most slots.
    ceiling: usize,
    /// The pool's settings, for its gates (`--cpu-threshold`, `--memory-reserve`,
    /// resolved against the host's memory).
    config: Config,
    /// When the slot count last changed.
    last_change: Instant,
    /// When the previous reading came (its window ends there).
    last_reading: Option<Instant>,
    /// Memory available while no job of ours ran on it, and its trend.
    memory: MemoryTrack,
    /// Cores one running job costs: the highest measured lately, decaying by a
    /// quarter per reading. One window can miss a computing job (one ended and the
    /// next has not started yet when the frame is taken: its processes are gone
    /// and the new ones have no time yet); the decay lets waiting jobs that follow
    /// computing ones fan out within seconds.
    cost: Option<f64>,
}

impl HostController {
    /// A controller for a host with `cores`, at most `ceiling` slots, starting now.
    pub(crate) fn new(
        cores: usize,
        ceiling: usize,
        config: Config,
        now: Instant,
    ) -> HostController {
        HostController {
            cores: cores.max(1),
            ceiling: ceiling.max(1),
            config,
            last_change: now,
            last_reading: None,
            memory: MemoryTrack::default(),
            cost: None,
        }
    }

    /// Decides on one reading of the host, taken at `now`; returns the new slot
    /// count when it changes.
    pub(crate) fn on_reading(
        &mut self,
        now: Instant,
        load: &HostLoad,
        host: HostNow,
    ) -> Option<usize> {
        let reading = load.reading;
        // Changes are made at readings only, so every window but the first
        // began at or after the last change: each step is judged by its effect.
        let first = self.last_reading.replace(now).is_none();
        let reserve = self.config.memory_reserve_for(reading.memory_total);
        let memory_falling = self.memory.observe(&reading, host.running, reserve);
        let view = match first || reading.cpu_busy.is_none() {
            // --ignore-load: grow by the backlog alone, as the pool does.
            _ if !self.config.load_aware() => LoadView::Off,
            true => LoadView::Unmeasured {
                cpus: self.cores as f64,
                memory_low: reading.memory_available.is_some_and(|a| a <= reserve),
            },
            false => LoadView::Fresh {
                reading,
                memory_per_job: self.memory.per_job(&reading, host.running),
                idle_memory: self.memory.idle(),
                memory_falling,
                cost_per_worker: None,
                limits: Limits {
                    cpu_threshold: f64::from(self.config.cpu_threshold_percent()) / 100.0,
                    memory_reserve: reserve,
                },
            },
        };
        if host.running > 0
            && let Some(used) = load.our_cpu
        {
            let now = used.max(load.our_runnable.unwrap_or(0.0)) / host.running as f64;
            self.cost = Some(self.cost.map_or(now, |before| now.max(before * 0.75)));
        }
        let our_cpu = match (load.our_cpu, self.cost) {
            (Some(used), Some(cost)) => Some(used.max(cost * host.running as f64)),
            (used, _) => used,
        };
        // Slots lowered under the running jobs: those jobs are still the host's.
        let live = host.slots.max(host.running);
        let snapshot = Snapshot {
            queued: host.waiting,
            busy: host.running,
            live,
            min: 1,
            ceiling: self.ceiling.max(live),
            since_progress: host.since_progress,
            since_change: now.saturating_duration_since(self.last_change),
            our_cpu,
            our_runnable: load.our_runnable,
            cpus: self.cores as f64,
            load: view,
        };
        let slots = match decide(&snapshot) {
            Decision::Grow { workers, reason } => {
                let to = (live + workers).min(self.ceiling);
                log::debug!("host slots {} -> {to}: {reason} ({snapshot:?})", host.slots);
                to
            }
            Decision::Shrink { target, reason } => {
                let to = target.max(1);
                log::debug!("host slots {} -> {to}: {reason} ({snapshot:?})", host.slots);
                to
            }
            Decision::Hold { reason } => {
                log::trace!("host slots held at {}: {reason}", host.slots);
                return None;
            }
        };
        (slots != host.slots).then(|| {
            self.last_change = now;
            slots
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::LoadReading;

    const GIB: u64 = 1 << 30;

    fn config(reserve: u64) -> Config {
        crate::Builder::new()
            .memory_reserve(reserve)
            .config()
            .unwrap()
    }

    fn controller(cores: usize, now: Instant) -> HostController {
        HostController::new(cores, 64, config(GIB), now)
    }

    /// A reading of a host with `cpus`, CPU `busy` share, our jobs using
    /// `our_cpu` cores with `runnable` of their processes runnable.
    fn load(cpus: f64, busy: Option<f64>, our_cpu: f64, runnable: f64) -> HostLoad {
        HostLoad {
            reading: LoadReading::new(busy, Some(0.0), cpus, Some(20 * GIB), Some(24 * GIB)),
            our_cpu: busy.map(|_| our_cpu),
            our_runnable: Some(runnable),
        }
    }

    fn host(slots: usize, running: usize, waiting: usize) -> HostNow {
        HostNow {
            slots,
            running,
            waiting,
            since_progress: Duration::ZERO,
        }
    }

    const TICK: Duration = Duration::from_millis(500);

    #[test]
    fn waiting_jobs_fan_out_past_the_cores_even_on_a_cpu_others_keep_busy() {
        let t0 = Instant::now();
        let mut c = controller(1, t0);
        // First frame: no window yet; the host's one slot is its cores.
        assert_eq!(
            c.on_reading(t0, &load(1.0, None, 0.0, 0.0), host(1, 1, 29)),
            None
        );
        // A window: the CPU is busy (others), our sleeping job costs nothing.
        let quiet = load(1.0, Some(1.0), 0.01, 0.0);
        let grown = c.on_reading(t0 + TICK, &quiet, host(1, 1, 29));
        assert!(grown.is_some_and(|n| n >= 4), "{grown:?}");
        let n = grown.unwrap_or(1);
        // The next window began with that change, so shows its effect: growth
        // goes on.
        let more = c.on_reading(t0 + 2 * TICK, &quiet, host(n, n, 29 - n));
        assert!(more.is_some_and(|m| m > n), "{more:?}");
    }

    #[test]
    fn computing_jobs_hold_at_the_cores() {
        let t0 = Instant::now();
        let mut c = controller(1, t0);
        c.on_reading(t0, &load(1.0, None, 0.0, 0.0), host(1, 1, 7));
        // Our job computes: a whole core, or a sliver on a busy machine but runnable.
        for (i, (busy, ours)) in [(1.0, 1.0), (1.0, 0.2), (0.95, 0.9)]
            .into_iter()
            .enumerate()
        {
            let at = t0 + TICK * (i as u32 + 1);
            assert_eq!(
                c.on_reading(at, &load(1.0, Some(busy), ours, 1.0), host(1, 1, 7)),
                None
            );
        }
    }

    #[test]
    fn a_window_that_misses_a_computing_job_does_not_open_the_gate() {
        let t0 = Instant::now();
        let mut c = controller(1, t0);
        c.on_reading(t0, &load(1.0, None, 0.0, 0.0), host(1, 1, 7));
        assert_eq!(
            c.on_reading(t0 + TICK, &load(1.0, Some(1.0), 1.0, 1.0), host(1, 1, 7)),
            None
        );
        // One job just ended and the next has not started: nothing of ours seen,
        // the CPU still busy (the window's first part), a second without a job end.
        let gap = HostNow {
            since_progress: Duration::from_secs(2),
            ..host(1, 1, 7)
        };
        assert_eq!(
            c.on_reading(t0 + 2 * TICK, &load(1.0, Some(0.95), 0.0, 0.0), gap),
            None
        );
        assert_eq!(
            c.on_reading(t0 + 3 * TICK, &load(1.0, Some(1.0), 0.0, 0.0), gap),
            None
        );
    }

    #[test]
    fn oversubscribed_cpu_shrinks_to_the_cores_without_going_under_one() {
        let t0 = Instant::now();
        let mut c = controller(1, t0);
        c.on_reading(t0, &load(1.0, None, 0.0, 0.0), host(3, 3, 5));
        let mut hot = load(1.0, Some(1.0), 1.0, 3.0);
        hot.reading.cpu_stall = Some(0.9);
        assert_eq!(c.on_reading(t0 + TICK, &hot, host(3, 3, 5)), Some(1));
        // The jobs still run on it: slots 1, 3 running; nothing more to do.
        assert_eq!(c.on_reading(t0 + 2 * TICK, &hot, host(1, 3, 5)), None);
    }

    #[test]
    fn nothing_waiting_changes_nothing_and_the_ceiling_holds() {
        let t0 = Instant::now();
        let mut c = HostController::new(2, 5, config(GIB), t0);
        c.on_reading(t0, &load(2.0, None, 0.0, 0.0), host(2, 2, 0));
        let quiet = load(2.0, Some(0.0), 0.0, 0.0);
        assert_eq!(c.on_reading(t0 + TICK, &quiet, host(2, 2, 0)), None);
        assert_eq!(
            c.on_reading(t0 + 2 * TICK, &quiet, host(2, 2, 100)),
            Some(5)
        );
    }

    #[test]
    fn ignoring_load_grows_by_the_backlog() {
        let t0 = Instant::now();
        let config = crate::Builder::new().load_aware(false).config().unwrap();
        let mut c = HostController::new(1, 64, config, t0);
        let hot = load(1.0, Some(1.0), 1.0, 1.0);
        assert_eq!(c.on_reading(t0, &hot, host(1, 1, 10)), Some(11));
    }

    #[test]
    fn memory_at_the_reserve_stops_growth() {
        let t0 = Instant::now();
        let mut c = HostController::new(1, 64, config(30 * GIB), t0);
        c.on_reading(t0, &load(1.0, None, 0.0, 0.0), host(1, 1, 10));
        let quiet = load(1.0, Some(0.0), 0.0, 0.0);
        assert_eq!(c.on_reading(t0 + TICK, &quiet, host(1, 1, 10)), None);
    }
}
