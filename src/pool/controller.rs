//! The growth decision, as a pure function of a [`Snapshot`] of the pool.
//!
//! The monitor takes a snapshot under the pool's lock (plus, once per decision window,
//! a [`LoadReading`]), calls [`decide`] and carries out the [`Decision`]. Keeping the
//! policy free of clocks, threads and files lets the table tests below cover it.
//!
//! # The policy
//!
//! - Never fewer than `min` workers.
//! - Grow only while tasks wait that no worker free of a task will take, and
//!   never past the ceiling (`max_workers`, lowered after a spawn failure).
//! - Without load information (disabled, or not Linux) that is all: grow by the
//!   backlog (the rule of the original ATP, bounded).
//! - With load information, growth is also gated by spare capacity, in the manner of
//!   TCP's slow start: before any window has been measured, grow only up to the core
//!   count; then, once per window (and only on a window that began after the last
//!   growth, so it shows that growth's effect), grow while whole-machine CPU
//!   utilisation is under the threshold and available memory is above the reserve —
//!   by at most twice the current size (so ~100 waiting tasks get ~100 workers in a
//!   few windows), and by no more than the spare CPU and memory can take at the
//!   per-worker usage measured so far. Once finished tasks have shown what a busy
//!   worker costs in CPU (its task's CPU time, child processes included, over its run
//!   time), the CPU gate compares our own footprint with the headroom the rest of the
//!   machine leaves — but always allows our workers a quarter of the cores — so that
//!   cheap waiting tasks fan out even on a machine others keep busy. Waiting tasks (sleep, network) use no CPU, so
//!   the pool fans out; computing tasks fill the CPU, so it holds near the cores;
//!   memory-hungry ones stop growth before the machine runs short.
//! - What busy workers cost is also measured live, before any task finishes: the CPU
//!   time of our process tree (child processes included) over the latest window, and
//!   how many of its threads and processes are runnable — a computing task keeps one
//!   runnable even when a busy machine gives it a sliver of a core. While the busy
//!   workers are measured nearly idle, the pool grows by the whole backlog at once
//!   (as tokio's blocking pool starts a thread per blocking task, up to its cap),
//!   still within the ceiling and the memory the measured jobs leave room for;
//!   otherwise it at most triples per window.
//! - Starvation: while tasks wait, none has finished for a second and the busy
//!   workers are blocked (they neither use the CPU nor are runnable), one more
//!   worker a second whatever the CPU reads (as the .NET thread pool injects
//!   threads), so tasks that wait on each other cannot deadlock the pool on a busy
//!   machine; memory gates still apply. Workers that compute get none: another
//!   would only oversubscribe the CPU.
//! - Backing off: when CPU is oversubscribed by us (utilisation at the threshold,
//!   tasks waiting for a CPU during at least half the window by the kernel's pressure
//!   stall information, more workers busy than there are cores, and our tree using
//!   or wanting a large part of the CPU — blocked workers do not count) or memory is
//!   short (under half the reserve), the decision is a
//!   [`Decision::Shrink`] to a target; workers above it retire after their current
//!   task. Idle workers above the minimum retire on their own after the idle timeout.

use std::fmt;
use std::time::Duration;

use super::load::LoadReading;

/// What the monitor saw of the pool.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Snapshot {
    /// Tasks in the queue.
    pub(crate) queued: usize,
    /// Workers running a task.
    pub(crate) busy: usize,
    /// Live workers. Every live worker that is not busy will look at the queue
    /// before it sleeps: idle ones were or will be woken, and the others are starting,
    /// just woken, or between two tasks (those take queued tasks without being woken).
    pub(crate) live: usize,
    /// The configured minimum.
    pub(crate) min: usize,
    /// The current ceiling on live workers.
    pub(crate) ceiling: usize,
    /// Time since a task run last finished (as far as the monitor's checks can tell).
    pub(crate) since_progress: Duration,
    /// Time since the monitor last started or retired workers (or since it started).
    pub(crate) since_change: Duration,
    /// Cores our process tree — worker threads and every child process — used over
    /// the latest measured window, when known. Tells busy workers that compute from
    /// busy workers that are blocked, before any task has finished.
    pub(crate) our_cpu: Option<f64>,
    /// How many of our threads and child processes were running or ready to run, on
    /// average over the same window: a computing task keeps one runnable even when a
    /// machine others keep busy gives it little CPU, a waiting one keeps none.
    pub(crate) our_runnable: Option<f64>,
    /// Cores available to us.
    pub(crate) cpus: f64,
    /// What is known of the machine's load.
    pub(crate) load: LoadView,
}

/// The load information a decision may use.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum LoadView {
    /// Load is not gated (disabled, or no readings on this system): backlog rule.
    Off,
    /// No window has been measured yet: growth only up to this many cores, and none
    /// if the first reading already showed memory at the reserve.
    Unmeasured { cpus: f64, memory_low: bool },
    /// The window that began after the last growth has not ended yet.
    Settling,
    /// A reading over a window that began after the last growth.
    Fresh {
        reading: LoadReading,
        /// Memory used per busy worker, when it could be measured.
        memory_per_job: Option<u64>,
        /// Memory available when no task ran: with `memory_per_job`, how many tasks
        /// can ever fit, whether or not the newest have allocated yet.
        idle_memory: Option<u64>,
        /// Available memory fell markedly since the previous reading: tasks are
        /// still allocating, and what they will take is not known yet.
        memory_falling: bool,
        /// Cores one busy worker uses (its task's CPU, child processes included),
        /// once measured from finished tasks.
        cost_per_worker: Option<f64>,
        limits: Limits,
    },
}

/// The gates' settings.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Limits {
    /// Grow only while CPU utilisation is below this share (0..=1).
    pub(crate) cpu_threshold: f64,
    /// Grow only while more memory than this is available, in bytes.
    pub(crate) memory_reserve: u64,
}

/// What the monitor should do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Decision {
    /// Start this many workers (and drop any shrink target).
    Grow { workers: usize, reason: Reason },
    /// Start none.
    Hold { reason: Reason },
    /// Workers above `target` retire after their current task.
    Shrink { target: usize, reason: Reason },
}

impl Decision {
    /// Whether more tasks could change this decision before the monitor's next
    /// periodic check: it grew (and a new burst may need more), or it held because
    /// workers were free. Decisions held by the load gates or the ceiling change only
    /// with a new reading or an exit, so the monitor need not be woken per task.
    pub(crate) fn wants_kicks(&self) -> bool {
        !matches!(
            self,
            Decision::Shrink { .. }
                | Decision::Hold {
                    reason: Reason::AtCeiling
                        | Reason::Settling
                        | Reason::CpuBusy
                        | Reason::MemoryLow
                        | Reason::MemoryRamping
                }
        )
    }
}

/// Why, for the debug log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Reason {
    BelowMinimum,
    NothingQueued,
    IdleWorkersWillTakeIt,
    Backlog,
    AtCeiling,
    FirstWindow,
    Settling,
    SpareCapacity,
    CpuBusy,
    CpuOversubscribed,
    MemoryLow,
    MemoryShort,
    MemoryRamping,
    Starvation,
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Reason::BelowMinimum => "fewer live workers than the minimum",
            Reason::NothingQueued => "no task is waiting",
            Reason::IdleWorkersWillTakeIt => "idle or woken workers will take the waiting tasks",
            Reason::Backlog => "tasks are waiting and no worker is free",
            Reason::AtCeiling => "tasks are waiting but the pool is at its maximum",
            Reason::FirstWindow => "tasks are waiting; nothing measured yet, so up to the cores",
            Reason::Settling => "waiting for a measurement that shows the last change",
            Reason::SpareCapacity => "tasks are waiting and the CPU and memory have room",
            Reason::CpuBusy => "tasks are waiting but the CPU is at the threshold",
            Reason::CpuOversubscribed => {
                "the CPU is oversubscribed: more runnable tasks than cores"
            }
            Reason::MemoryLow => "tasks are waiting but available memory is at the reserve",
            Reason::MemoryShort => "available memory is under half the reserve",
            Reason::MemoryRamping => "tasks are still taking memory: waiting to see how much",
            Reason::Starvation => "tasks are waiting and none has finished for a while",
        })
    }
}

/// Decides whether to start or retire workers. Pure: same snapshot, same decision.
pub(crate) fn decide(s: &Snapshot) -> Decision {
    if s.live < s.min {
        let workers = (s.min - s.live).min(s.ceiling.saturating_sub(s.live));
        if workers > 0 {
            return Decision::Grow {
                workers,
                reason: Reason::BelowMinimum,
            };
        }
    }
    if let LoadView::Fresh {
        reading,
        limits,
        cost_per_worker,
        ..
    } = &s.load
        && let Some(shrink) = back_off(s, reading, *cost_per_worker, limits)
    {
        return shrink;
    }
    if s.queued == 0 {
        return hold(Reason::NothingQueued);
    }
    // Workers not running a task take queued tasks before they sleep: idle, woken
    // and starting ones, but also those between two tasks, which no wake-up counts.
    let unclaimed = s.queued.saturating_sub(s.live - s.busy);
    if unclaimed == 0 {
        return hold(Reason::IdleWorkersWillTakeIt);
    }
    let room = s.ceiling.saturating_sub(s.live);
    if room == 0 {
        return hold(Reason::AtCeiling);
    }
    let wanted = unclaimed.min(room);
    let decision = gated_growth(s, wanted);
    // Starvation injection (as the .NET thread pool does): tasks that wait on each
    // other (a gate opened by a task still queued) make no progress and use no CPU,
    // and a machine kept busy by others would hold the load gates shut for ever. So
    // while tasks wait, nothing has finished for a second and the busy workers are
    // blocked rather than computing, one more worker a second, whatever the CPU says
    // — but never against the memory gates. Workers that compute (in their own
    // thread or through child processes) are not starving, only slow: another one
    // would just oversubscribe the CPU.
    match decision {
        Decision::Hold {
            reason: Reason::CpuBusy | Reason::Settling,
        } if starving(s) && workers_blocked(s) => grow(1, Reason::Starvation),
        other => other,
    }
}

/// How long without progress before starvation injection, and its pace.
const STARVATION: Duration = Duration::from_secs(1);

/// Busy workers that together use less than this share of the cores they could use
/// (one each, up to the cores) are blocked, not computing. A quarter leaves room for
/// computing workers slowed by others' load: with two other busy processes per core
/// they still get a third of a core each.
const BLOCKED_SHARE: f64 = 0.25;

/// Tasks wait, no run has finished for [`STARVATION`], nor has the pool changed.
fn starving(s: &Snapshot) -> bool {
    s.since_progress >= STARVATION && s.since_change >= STARVATION
}

/// Whether the busy workers are blocked rather than computing, by the CPU time our
/// process tree used in the latest window. When that is unknown (a probe without
/// `tree_cpu`), assume blocked: a deadlock is worse than a worker too many.
fn workers_blocked(s: &Snapshot) -> bool {
    let could_use = (s.busy as f64).min(s.cpus);
    s.our_cpu
        .is_none_or(|used| used < BLOCKED_SHARE * could_use)
        && s.our_runnable
            .is_none_or(|runnable| runnable < BLOCKED_SHARE * could_use)
}

/// Growth as the load view allows it (see the module docs).
fn gated_growth(s: &Snapshot, wanted: usize) -> Decision {
    match s.load {
        LoadView::Off => grow(wanted, Reason::Backlog),
        LoadView::Settling => hold(Reason::Settling),
        LoadView::Unmeasured {
            memory_low: true, ..
        } => hold(Reason::MemoryLow),
        LoadView::Unmeasured { cpus, .. } => match cores(cpus).saturating_sub(s.live).min(wanted) {
            0 => hold(Reason::Settling),
            n => grow(n, Reason::FirstWindow),
        },
        LoadView::Fresh {
            memory_falling: true,
            ..
        } => hold(Reason::MemoryRamping),
        LoadView::Fresh {
            reading,
            memory_per_job,
            idle_memory,
            cost_per_worker,
            limits,
            ..
        } => {
            let memory = MemoryFit {
                per_job: memory_per_job,
                idle: idle_memory,
            };
            grow_within_capacity(s, wanted, &reading, memory, cost_per_worker, &limits)
        }
    }
}

/// The shrink decisions: CPU oversubscribed, or memory short.
fn back_off(
    s: &Snapshot,
    reading: &LoadReading,
    cost_per_worker: Option<f64>,
    limits: &Limits,
) -> Option<Decision> {
    if let Some(available) = reading.memory_available
        && available < limits.memory_reserve / 2
        && s.busy > s.min.max(1)
    {
        return Some(Decision::Shrink {
            target: (s.busy - 1).max(s.min),
            reason: Reason::MemoryShort,
        });
    }
    // Our workers are a large part of the load: by the CPU time our process tree
    // used in the latest window when known (blocked workers use none); else by the
    // cost of finished tasks; else assumed — unless no task has finished for a
    // while, as when they wait on each other: then shrinking could deadlock them.
    let ours_load_the_cpu = match s.our_cpu {
        Some(used) => {
            // Runnable: more than the cores, and for at least half the busy workers
            // (a burst of jobs starting up is runnable for a moment too).
            used >= reading.cpus / 2.0
                || s.our_runnable
                    .is_some_and(|r| r >= reading.cpus.max(s.busy as f64 / 2.0))
        }
        None => {
            cost_per_worker.is_none_or(|r| r * s.busy as f64 >= reading.cpus / 2.0)
                && s.since_progress < STARVATION
        }
    };
    if let (Some(busy), Some(stall)) = (reading.cpu_busy, reading.cpu_stall)
        && busy >= limits.cpu_threshold
        && stall >= 0.5
        && s.busy > cores(reading.cpus)
        && ours_load_the_cpu
    {
        return Some(Decision::Shrink {
            target: cores(reading.cpus).max(s.min),
            reason: Reason::CpuOversubscribed,
        });
    }
    None
}

/// What the memory measurements say about room for more tasks.
struct MemoryFit {
    per_job: Option<u64>,
    idle: Option<u64>,
}

fn grow_within_capacity(
    s: &Snapshot,
    wanted: usize,
    reading: &LoadReading,
    memory: MemoryFit,
    cost_per_worker: Option<f64>,
    limits: &Limits,
) -> Decision {
    if let Some(available) = reading.memory_available
        && available <= limits.memory_reserve
    {
        return hold(Reason::MemoryLow);
    }
    // What one busy worker costs, measured live over the latest window (its child
    // processes included): known before any task has finished.
    // A worker whose task keeps a thread or process runnable computes, and costs a
    // core, however little of one a busy machine gives it.
    let live_cost = s.our_cpu.filter(|_| s.busy > 0).map(|used| {
        let runnable = s.our_runnable.unwrap_or(0.0);
        used.max(runnable) / s.busy as f64
    });
    // Slow start: at most triple per window. While the busy workers are measured
    // nearly idle (waiting on timers, the network or other processes), every waiting
    // task gets a worker at once, as in tokio's blocking pool: another window per
    // step would only add its length to every waiting task's wait (a hundred
    // sleeping jobs took two windows more). The ceiling and the memory gate below
    // still bound it; tasks that compute show their cost in the first window and
    // stay on the slow start, held by the CPU gate.
    let mut step = if live_cost.is_some_and(|r| r < CHEAP_WORKER) {
        wanted
    } else {
        wanted.min(s.live.max(cores(reading.cpus)).saturating_mul(2).max(1))
    };
    // The finished tasks' cost, or the live one, whichever is higher: on a machine
    // others keep busy, finished computing tasks got a sliver of a core each, but
    // the live measure sees them runnable.
    let cost = match (cost_per_worker, live_cost) {
        (Some(finished), Some(live)) => Some(finished.max(live)),
        (finished, live) => finished.or(live),
    };
    match (reading.cpu_busy, cost) {
        (Some(busy), Some(r)) => {
            // What our busy workers use, what the rest of the machine uses, and what
            // we may use: the headroom under the threshold, but never less than a
            // quarter of the cores, so that cheap waiting tasks still fan out on a
            // machine kept busy by others.
            let ours = r * s.busy as f64;
            let others = (busy * reading.cpus - ours).max(0.0);
            let allowed = (limits.cpu_threshold * reading.cpus - others).max(reading.cpus / 4.0);
            if r > 1e-6 {
                let fits = ((allowed - ours) / r).floor().max(0.0) as usize;
                // Costs do not simply add up (a worker waiting on its child leaves a
                // gap another can fill), so while the CPU has idle time under the
                // threshold, probe with one more worker (additive increase); the
                // next window shows whether it paid off. Not while our own threads
                // and processes keep (nearly) every core runnable: the idle time is
                // then the reading's granularity (a 50 ms window on 2 cores is ~10
                // clock ticks, one idle tick reads 0.89), and another worker could
                // only oversubscribe the CPU (12 CPU-bound jobs on 2 cores ran 3 at
                // once now and then).
                let cores_filled = s
                    .our_runnable
                    .is_some_and(|runnable| runnable >= FILLED_SHARE * reading.cpus);
                let probe = usize::from(busy < limits.cpu_threshold && !cores_filled);
                match fits.max(probe) {
                    0 => return hold(Reason::CpuBusy),
                    n => step = step.min(n),
                }
            }
        }
        (Some(busy), None) => {
            // No measured cost yet: hold at the threshold, and size the step as if
            // all the load were ours.
            if busy >= limits.cpu_threshold {
                return hold(Reason::CpuBusy);
            }
            if s.busy > 0 {
                let per_worker = busy * reading.cpus / s.busy as f64;
                if per_worker > 0.01 {
                    let spare = (limits.cpu_threshold - busy) * reading.cpus;
                    step = step.min(((spare / per_worker) as usize).max(1));
                }
            }
        }
        (None, _) => {}
    }
    if let (Some(available), Some(per_job)) = (reading.memory_available, memory.per_job)
        && per_job > 0
    {
        // Room now, and room ever: jobs that started in the last window may not
        // have allocated yet, so what is free now overstates the room; the memory
        // free when nothing ran, over the cost of a job, bounds the jobs at once.
        let now = (available - limits.memory_reserve) / per_job;
        let ever = memory.idle.map_or(u64::MAX, |idle| {
            (idle.saturating_sub(limits.memory_reserve) / per_job).saturating_sub(s.busy as u64)
        });
        match now.min(ever) as usize {
            0 => return hold(Reason::MemoryLow),
            fits => step = step.min(fits),
        }
    }
    grow(step, Reason::SpareCapacity)
}

/// Our runnable threads and processes, as a share of the cores, above which the
/// cores count as filled by our own work: no additive probe then.
const FILLED_SHARE: f64 = 0.9;

/// Cores a busy worker uses, at most, to count as nearly idle (waiting on a timer,
/// the network or another process) for the faster slow start.
const CHEAP_WORKER: f64 = 0.1;

/// Whole cores, at least one (a quota of 1.5 cores allows 2 workers to start with).
fn cores(cpus: f64) -> usize {
    (cpus.ceil() as usize).max(1)
}

fn grow(workers: usize, reason: Reason) -> Decision {
    Decision::Grow { workers, reason }
}

fn hold(reason: Reason) -> Decision {
    Decision::Hold { reason }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Reason::*;

    const GIB: u64 = 1 << 30;
    const LIMITS: Limits = Limits {
        cpu_threshold: 0.9,
        memory_reserve: GIB,
    };

    /// `_idle` only documents the case: the controller counts every live worker
    /// that is not busy as free, idle or not.
    fn snap(queued: usize, _idle: usize, busy: usize, live: usize, load: LoadView) -> Snapshot {
        Snapshot {
            queued,
            busy,
            live,
            min: 2,
            ceiling: 512,
            since_progress: Duration::ZERO,
            since_change: Duration::ZERO,
            our_cpu: None,
            our_runnable: None,
            cpus: 2.0,
            load,
        }
    }

    /// A fresh reading on a 2-core, 24 GiB machine.
    fn fresh(cpu: f64, runnable: f64, mem_available: u64, per_job: Option<u64>) -> LoadView {
        LoadView::Fresh {
            reading: LoadReading::new(
                Some(cpu),
                Some(runnable),
                2.0,
                Some(mem_available),
                Some(24 * GIB),
            ),
            memory_per_job: per_job,
            idle_memory: None,
            memory_falling: false,
            cost_per_worker: None,
            limits: LIMITS,
        }
    }

    /// The same, with a measured cost per busy worker.
    fn costed(cpu: f64, stall: f64, cost: f64) -> LoadView {
        match fresh(cpu, stall, 20 * GIB, None) {
            LoadView::Fresh {
                reading,
                memory_per_job,
                idle_memory,
                limits,
                ..
            } => LoadView::Fresh {
                reading,
                memory_per_job,
                idle_memory,
                memory_falling: false,
                cost_per_worker: Some(cost),
                limits,
            },
            other => other,
        }
    }

    fn grow(workers: usize, reason: Reason) -> Decision {
        Decision::Grow { workers, reason }
    }

    fn hold(reason: Reason) -> Decision {
        Decision::Hold { reason }
    }

    fn check(cases: &[(Snapshot, Decision)]) {
        for (snapshot, expected) in cases {
            assert_eq!(decide(snapshot), *expected, "{snapshot:?}");
        }
    }

    #[test]
    fn backlog_rule_without_load_information() {
        let off = LoadView::Off;
        check(&[
            (snap(0, 2, 0, 2, off), hold(NothingQueued)),
            (snap(0, 0, 0, 0, off), grow(2, BelowMinimum)),
            (snap(5, 0, 0, 1, off), grow(1, BelowMinimum)),
            (snap(3, 0, 2, 2, off), grow(3, Backlog)),
            (snap(3, 1, 1, 2, off), grow(2, Backlog)),
            (snap(1, 1, 1, 2, off), hold(IdleWorkersWillTakeIt)),
            (snap(600, 0, 2, 2, off), grow(510, Backlog)),
            (snap(100, 0, 512, 512, off), hold(AtCeiling)),
        ]);
        // Woken, starting and between-tasks workers are not busy and not on the idle
        // stack, but will take queued tasks too: no worker is started for them.
        let free = |queued, busy, live| Snapshot {
            queued,
            busy,
            live,
            ..snap(0, 0, 0, 0, off)
        };
        assert_eq!(decide(&free(2, 0, 2)), hold(IdleWorkersWillTakeIt));
        assert_eq!(decide(&free(5, 2, 5)), grow(2, Backlog));
        // Four workers that just finished short tasks and have not gone idle yet,
        // 20 new tasks: 16 more workers, not 20 (the pool once reached 24).
        assert_eq!(decide(&free(20, 0, 4)), grow(16, Backlog));
    }

    #[test]
    fn before_any_measurement_growth_stops_at_the_cores() {
        let unmeasured = LoadView::Unmeasured {
            cpus: 4.0,
            memory_low: false,
        };
        let short = LoadView::Unmeasured {
            cpus: 4.0,
            memory_low: true,
        };
        check(&[
            (snap(100, 0, 2, 2, unmeasured), grow(2, FirstWindow)),
            (snap(1, 0, 2, 2, unmeasured), grow(1, FirstWindow)),
            (snap(100, 0, 4, 4, unmeasured), hold(Settling)),
            (snap(100, 0, 2, 2, short), hold(MemoryLow)),
            (snap(100, 0, 2, 2, LoadView::Settling), hold(Settling)),
        ]);
    }

    #[test]
    fn waiting_only_tasks_fan_out_multiplicatively() {
        // Sleeping jobs: the CPU is nearly idle, memory plentiful.
        check(&[
            (
                snap(98, 0, 2, 2, fresh(0.02, 0.0, 20 * GIB, None)),
                grow(4, SpareCapacity),
            ),
            (
                snap(92, 0, 8, 8, fresh(0.03, 0.0, 20 * GIB, None)),
                grow(16, SpareCapacity),
            ),
            (
                snap(68, 0, 32, 32, fresh(0.05, 0.0, 20 * GIB, None)),
                grow(64, SpareCapacity),
            ),
            (
                snap(4, 0, 96, 96, fresh(0.05, 0.0, 20 * GIB, None)),
                grow(4, SpareCapacity),
            ),
        ]);
    }

    #[test]
    fn cpu_saturated_holds_and_oversubscribed_shrinks_to_the_cores() {
        check(&[
            // Computing jobs on both cores: no growth.
            (
                snap(10, 0, 2, 2, fresh(1.0, 1.0, 20 * GIB, None)),
                hold(CpuBusy),
            ),
            (
                snap(10, 0, 2, 2, fresh(0.93, 1.0, 20 * GIB, None)),
                hold(CpuBusy),
            ),
            // Grew during a quiet window, then the jobs turned out to compute.
            (
                snap(10, 0, 8, 8, fresh(1.0, 4.0, 20 * GIB, None)),
                Decision::Shrink {
                    target: 2,
                    reason: CpuOversubscribed,
                },
            ),
            // Busy, but by something else: our few workers are not shrunk.
            (
                snap(10, 0, 2, 2, fresh(1.0, 6.0, 20 * GIB, None)),
                hold(CpuBusy),
            ),
        ]);
    }

    #[test]
    fn spare_cpu_limits_the_step_by_the_measured_cost_per_worker() {
        // Each busy worker uses 0.3 cores (0.3 × 2 cores / 2 busy); 1.2 cores spare
        // under the 90 % threshold take 4 more.
        check(&[(
            snap(50, 0, 2, 2, fresh(0.3, 0.5, 20 * GIB, None)),
            grow(4, SpareCapacity),
        )]);
        // Nearly busy: at least one more, additive rather than multiplicative.
        check(&[(
            snap(50, 0, 2, 2, fresh(0.85, 1.0, 20 * GIB, None)),
            grow(1, SpareCapacity),
        )]);
    }

    #[test]
    fn no_additive_probe_while_our_own_work_keeps_every_core_runnable() {
        // 12 CPU-bound jobs on 2 cores: both busy workers cost a core each, and a
        // window of ~10 clock ticks with one idle tick reads 0.89, under the
        // threshold. Our two jobs keep both cores runnable: no third one.
        let computing = |runnable| Snapshot {
            our_cpu: Some(1.95),
            our_runnable: Some(runnable),
            ..snap(5, 0, 2, 2, costed(0.889, 0.0, 1.0))
        };
        check(&[
            (computing(2.0), hold(CpuBusy)),
            // Workers that wait on their children part of the time leave a gap
            // another can fill: the probe stays.
            (
                Snapshot {
                    our_cpu: Some(1.2),
                    ..computing(1.2)
                },
                grow(1, SpareCapacity),
            ),
        ]);
    }

    #[test]
    fn cheap_tasks_fan_out_even_when_others_keep_the_cpu_busy() {
        // The machine is saturated by someone else; our 2 workers cost 0.01 core each.
        // We may use a quarter of the cores (0.5): 48 more fit, slow start allows 4.
        check(&[(
            snap(98, 0, 2, 2, costed(1.0, 0.9, 0.01)),
            grow(4, SpareCapacity),
        )]);
        check(&[(
            snap(90, 0, 18, 18, costed(1.0, 0.9, 0.01)),
            grow(32, SpareCapacity),
        )]);
        // Oversubscribed, but not by us: no shrinking of our cheap workers.
        check(&[(
            snap(50, 0, 30, 30, costed(1.0, 0.9, 0.01)),
            grow(20, SpareCapacity),
        )]);
    }

    #[test]
    fn costly_tasks_hold_at_the_headroom_measured_by_their_own_cost() {
        // Each busy worker uses a whole core; 2 on 2 cores: nothing more fits.
        check(&[(snap(10, 0, 2, 2, costed(1.0, 0.0, 1.0)), hold(CpuBusy))]);
        // 1 computing worker on 2 cores: only 0.8 of a core is free under the
        // threshold, but the CPU is half idle: probe with one more.
        check(&[(
            snap(10, 0, 1, 2, costed(0.5, 0.0, 1.0)),
            grow(1, SpareCapacity),
        )]);
        // Spawn-bound jobs leave gaps: 85 % used, cost 0.85 per worker: probe +1.
        check(&[(
            snap(10, 0, 2, 2, costed(0.85, 0.0, 0.85)),
            grow(1, SpareCapacity),
        )]);
        // A 4-core share free for half-core tasks: 1.8 - 1.0 = 0.8 / 0.5 = 1 more.
        check(&[(
            snap(10, 0, 2, 2, costed(0.5, 0.0, 0.5)),
            grow(1, SpareCapacity),
        )]);
        // And ours oversubscribing: back off to the cores.
        check(&[(
            snap(10, 0, 6, 6, costed(1.0, 0.8, 0.9)),
            Decision::Shrink {
                target: 2,
                reason: CpuOversubscribed,
            },
        )]);
    }

    #[test]
    fn memory_short_holds_or_shrinks() {
        check(&[
            // Available memory at the reserve: no growth.
            (
                snap(10, 0, 4, 4, fresh(0.1, 0.1, GIB, None)),
                hold(MemoryLow),
            ),
            // Each job takes 3 GiB; 7 GiB over the reserve take 2 more.
            (
                snap(10, 0, 4, 4, fresh(0.1, 0.1, 8 * GIB, Some(3 * GIB))),
                grow(2, SpareCapacity),
            ),
            // Not one more fits.
            (
                snap(10, 0, 4, 4, fresh(0.1, 0.1, 3 * GIB, Some(3 * GIB))),
                hold(MemoryLow),
            ),
            // Under half the reserve: back off by one worker per window.
            (
                snap(10, 0, 6, 6, fresh(0.1, 0.1, GIB / 4, None)),
                Decision::Shrink {
                    target: 5,
                    reason: MemoryShort,
                },
            ),
        ]);
        // 3 jobs of 400 MiB busy in a 1.5 GiB cgroup (76 MiB reserve), the newest
        // still allocating: 474 MiB look free, but only 3 jobs ever fit.
        const MIB: u64 = 1 << 20;
        let ramping = LoadView::Fresh {
            reading: LoadReading::new(Some(0.6), Some(0.0), 2.0, Some(474 * MIB), Some(1536 * MIB)),
            memory_per_job: Some(400 * MIB),
            idle_memory: Some(1530 * MIB),
            memory_falling: false,
            cost_per_worker: None,
            limits: Limits {
                cpu_threshold: 0.9,
                memory_reserve: 76 * MIB,
            },
        };
        assert_eq!(decide(&snap(30, 0, 3, 3, ramping)), hold(MemoryLow));
        // While memory is still falling, no growth at all.
        let falling = match fresh(0.1, 0.0, 20 * GIB, None) {
            LoadView::Fresh {
                reading, limits, ..
            } => LoadView::Fresh {
                reading,
                memory_per_job: None,
                idle_memory: None,
                memory_falling: true,
                cost_per_worker: None,
                limits,
            },
            other => other,
        };
        assert_eq!(decide(&snap(30, 0, 2, 2, falling)), hold(MemoryRamping));
        // Never below the minimum.
        let at_min = snap(10, 0, 2, 2, fresh(0.1, 0.1, GIB / 4, None));
        assert_eq!(decide(&at_min), hold(MemoryLow));
    }

    #[test]
    fn a_cgroup_limited_reading_gates_like_a_small_machine() {
        // A 1.5-core quota and 512 MiB limit with 100 MiB left and a 64 MiB reserve.
        let reading = LoadReading::new(Some(0.4), Some(0.3), 1.5, Some(100 << 20), Some(512 << 20));
        let load = LoadView::Fresh {
            reading,
            memory_per_job: Some(30 << 20),
            idle_memory: None,
            memory_falling: false,
            cost_per_worker: None,
            limits: Limits {
                cpu_threshold: 0.9,
                memory_reserve: 64 << 20,
            },
        };
        // CPU would allow 1 more (0.75 cores spare / 0.3 per worker = 2, slow start 4),
        // memory allows (100 - 64) / 30 = 1.
        assert_eq!(decide(&snap(10, 0, 2, 2, load)), grow(1, SpareCapacity));
    }

    #[test]
    fn starving_tasks_get_one_more_worker_a_second_whatever_the_cpu() {
        let starving = |since: u64, load| Snapshot {
            since_progress: Duration::from_secs(since),
            since_change: Duration::from_secs(since),
            ..snap(50, 0, 4, 4, load)
        };
        // The CPU is busy (others) and no cost is known: normally a hold...
        assert_eq!(
            decide(&starving(0, fresh(1.0, 0.1, 20 * GIB, None))),
            hold(CpuBusy)
        );
        // ...but after a second with no task finishing, one more worker.
        assert_eq!(
            decide(&starving(2, fresh(1.0, 0.1, 20 * GIB, None))),
            grow(1, Starvation)
        );
        assert_eq!(
            decide(&starving(2, LoadView::Settling)),
            grow(1, Starvation)
        );
        // Never against the memory gate.
        assert_eq!(
            decide(&starving(2, fresh(0.1, 0.0, GIB / 2 + 1, None))),
            hold(MemoryLow)
        );
        // Not while our own workers oversubscribe the CPU.
        let oversubscribed = Snapshot {
            since_progress: Duration::from_secs(5),
            since_change: Duration::from_secs(5),
            our_cpu: Some(2.0),
            ..snap(50, 0, 8, 8, fresh(1.0, 0.9, 20 * GIB, None))
        };
        assert!(matches!(decide(&oversubscribed), Decision::Shrink { .. }));
        // Paced: not again within a second of the last change.
        let paced = Snapshot {
            since_progress: Duration::from_secs(5),
            since_change: Duration::from_millis(300),
            ..snap(50, 0, 4, 4, fresh(1.0, 0.1, 20 * GIB, None))
        };
        assert_eq!(decide(&paced), hold(CpuBusy));
    }

    /// No progress for five seconds, and our tree used `our_cpu` cores lately.
    fn stuck(queued: usize, busy: usize, our_cpu: Option<f64>, load: LoadView) -> Snapshot {
        Snapshot {
            since_progress: Duration::from_secs(5),
            since_change: Duration::from_secs(5),
            our_cpu,
            ..snap(queued, 0, busy, busy, load)
        }
    }

    #[test]
    fn tasks_waiting_on_each_other_get_workers_even_when_the_cpu_is_oversubscribed() {
        // Six tasks wait on a barrier; three hold workers and use no CPU, while others
        // keep the CPU busy and stalled. Once the oversubscription rule shrank the
        // pool to the cores here, overriding starvation injection: a deadlock.
        let stalled = fresh(1.0, 0.9, 20 * GIB, None);
        check(&[
            // Measured blocked, they cost nothing: room for all three waiting.
            (stuck(3, 3, Some(0.0), stalled), grow(3, SpareCapacity)),
            // A probe that cannot tell (no tree CPU time): liveness first.
            (stuck(3, 3, None, stalled), grow(1, Starvation)),
            // Our workers really compute: they are the oversubscription.
            (
                stuck(3, 3, Some(2.0), stalled),
                Decision::Shrink {
                    target: 2,
                    reason: CpuOversubscribed,
                },
            ),
        ]);
        // Right after an injection (the pool just changed), no new one yet, but no
        // shrinking either: a shrink now would undo the injection.
        let just_grew = Snapshot {
            since_change: Duration::from_millis(100),
            ..stuck(3, 3, None, stalled)
        };
        assert_eq!(decide(&just_grew), hold(CpuBusy));
        // Eight blocked workers on a stalled machine are not shrunk either.
        assert!(matches!(
            decide(&stuck(3, 8, Some(0.1), stalled)),
            Decision::Grow { .. }
        ));
    }

    #[test]
    fn workers_that_compute_get_no_starvation_worker() {
        // Two tasks of 1.3 s computing on both cores (through child processes):
        // nothing finishes for over a second, but another worker would only
        // oversubscribe the CPU. It once got one.
        let busy = fresh(1.0, 0.2, 20 * GIB, None);
        check(&[
            (stuck(10, 2, Some(1.95), busy), hold(CpuBusy)),
            // Slowed by two other busy processes per core, still computing.
            (stuck(10, 2, Some(0.7), busy), hold(CpuBusy)),
            (stuck(10, 2, Some(1.95), LoadView::Settling), hold(Settling)),
            // Blocked ones are cheap: they fan out.
            (stuck(10, 2, Some(0.01), busy), grow(10, SpareCapacity)),
        ]);
        // Finished tasks cost a core each but the busy ones now wait: starvation.
        let costly = match fresh(1.0, 0.2, 20 * GIB, None) {
            LoadView::Fresh {
                reading, limits, ..
            } => LoadView::Fresh {
                reading,
                memory_per_job: None,
                idle_memory: None,
                memory_falling: false,
                cost_per_worker: Some(1.0),
                limits,
            },
            other => other,
        };
        check(&[
            (stuck(10, 2, Some(0.01), costly), grow(1, Starvation)),
            (stuck(10, 2, Some(1.95), costly), hold(CpuBusy)),
        ]);
    }

    #[test]
    fn nearly_idle_workers_measured_live_get_the_whole_backlog_at_once() {
        let cheap = |queued, busy, used| Snapshot {
            our_cpu: Some(used),
            ..snap(queued, 0, busy, busy, fresh(0.05, 0.0, 20 * GIB, None))
        };
        check(&[
            // 98 sleeping jobs wait, 2 workers use 0.02 cores: 98 more at once (the
            // slow start gave 16, then 82 a window later).
            (cheap(98, 2, 0.02), grow(98, SpareCapacity)),
            // Still within the ceiling.
            (
                Snapshot {
                    ceiling: 40,
                    ..cheap(98, 2, 0.02)
                },
                grow(38, SpareCapacity),
            ),
            // And within the memory the jobs measured leave room for: 2 GiB each,
            // 20 GiB available over a 1 GiB reserve: 9 more.
            (
                Snapshot {
                    our_cpu: Some(0.02),
                    ..snap(98, 0, 2, 2, fresh(0.05, 0.0, 20 * GIB, Some(2 * GIB)))
                },
                grow(9, SpareCapacity),
            ),
            // Workers that compute are not cheap: the slow start stays at triple.
            (cheap(98, 2, 0.5), grow(4, SpareCapacity)),
        ]);
        // On a machine others keep busy, before any task has finished: the live
        // measurement shows the workers cheap, so they fan out (they once held until
        // tasks finished).
        let loaded = Snapshot {
            our_cpu: Some(0.02),
            ..snap(98, 0, 2, 2, fresh(1.0, 0.9, 20 * GIB, None))
        };
        // (At most what a quarter of the cores, the share our workers always get,
        // takes at the measured 0.01 cores each: 48.)
        assert_eq!(decide(&loaded), grow(48, SpareCapacity));
        // And jobs that compute from the start hold at the cores.
        let computing = Snapshot {
            our_cpu: Some(1.9),
            ..snap(98, 0, 2, 2, fresh(0.97, 0.1, 20 * GIB, None))
        };
        assert_eq!(decide(&computing), hold(CpuBusy));
    }

    #[test]
    fn computing_workers_given_a_sliver_of_a_busy_machine_are_not_cheap() {
        // Two jobs computing on a machine others keep very busy: each gets a
        // twentieth of a core, but keeps a process runnable. They once looked as
        // cheap as sleeping jobs and fanned out to 12 workers on 2 cores.
        let sliver = |runnable| Snapshot {
            our_cpu: Some(0.1),
            our_runnable: runnable,
            since_progress: Duration::from_secs(5),
            since_change: Duration::from_secs(5),
            ..snap(10, 0, 2, 2, fresh(1.0, 1.0, 20 * GIB, None))
        };
        assert_eq!(decide(&sliver(Some(2.3))), hold(CpuBusy));
        // Even when finished tasks measured a sliver of a core each.
        let finished_cheap = match fresh(1.0, 1.0, 20 * GIB, None) {
            LoadView::Fresh {
                reading, limits, ..
            } => LoadView::Fresh {
                reading,
                memory_per_job: None,
                idle_memory: None,
                memory_falling: false,
                cost_per_worker: Some(0.1),
                limits,
            },
            other => other,
        };
        let spinning = Snapshot {
            load: finished_cheap,
            ..sliver(Some(2.0))
        };
        assert_eq!(decide(&spinning), hold(CpuBusy));
        // Sleeping jobs on the same machine: nothing runnable, they fan out.
        assert_eq!(decide(&sliver(Some(0.1))), grow(8, SpareCapacity));
        // Eighteen sleeping jobs, a few of them still starting (runnable): no
        // back-off.
        let starting = Snapshot {
            our_cpu: Some(0.08),
            our_runnable: Some(2.5),
            ..snap(82, 0, 18, 18, fresh(1.0, 1.0, 20 * GIB, None))
        };
        assert!(!matches!(decide(&starting), Decision::Shrink { .. }));
        // Four computing workers on 2 cores, each given a sliver: still ours to
        // shrink.
        let four = Snapshot {
            our_cpu: Some(0.2),
            our_runnable: Some(4.5),
            ..snap(10, 0, 4, 4, fresh(1.0, 1.0, 20 * GIB, None))
        };
        assert_eq!(
            decide(&four),
            Decision::Shrink {
                target: 2,
                reason: CpuOversubscribed
            }
        );
    }

    #[test]
    fn a_lowered_ceiling_after_a_spawn_failure_is_respected() {
        let s = Snapshot {
            ceiling: 3,
            ..snap(100, 0, 3, 3, fresh(0.0, 0.0, 20 * GIB, None))
        };
        assert_eq!(decide(&s), hold(AtCeiling));
        let below_min = Snapshot {
            ceiling: 1,
            ..snap(0, 0, 0, 1, LoadView::Off)
        };
        assert_eq!(decide(&below_min), hold(NothingQueued));
    }

    #[test]
    fn never_grows_past_the_ceiling_nor_shrinks_below_the_minimum() {
        let views = [
            LoadView::Off,
            LoadView::Settling,
            LoadView::Unmeasured {
                cpus: 2.0,
                memory_low: false,
            },
            fresh(0.0, 0.0, 20 * GIB, None),
            fresh(1.0, 0.9, 20 * GIB, None),
            fresh(0.5, 0.5, GIB / 8, Some(GIB)),
            costed(1.0, 0.9, 0.01),
            costed(0.2, 0.0, 1.0),
        ];
        for load in views {
            for queued in [0, 1, 7, 100] {
                for live in 0..=12 {
                    for busy in 0..=live {
                        let s = Snapshot {
                            ceiling: 12,
                            ..snap(queued, live - busy, busy, live, load)
                        };
                        match decide(&s) {
                            Decision::Grow { workers, .. } => {
                                assert!(workers > 0 && live + workers <= 12, "{s:?}")
                            }
                            Decision::Shrink { target, .. } => {
                                assert!(target >= s.min && target < live, "{s:?}")
                            }
                            Decision::Hold { .. } => {}
                        }
                    }
                }
            }
        }
    }
}
