//! The growth decision, as a pure function of a [`Snapshot`] of the pool.
//!
//! The monitor takes a snapshot under the pool's lock, calls [`decide`] and carries
//! out the [`Decision`]; keeping the policy free of clocks, threads and locks lets the
//! table tests below cover it exhaustively. Shrinking is not decided here: each worker
//! above the minimum retires on its own after its idle timeout (see `worker.rs`).
//!
//! The rule: keep at least `min` workers; otherwise grow only while tasks wait that no
//! idle (or already woken) worker will take, by as many workers as there are such
//! tasks, never past the ceiling (`max_workers`, lowered after a spawn failure).

use std::fmt;
use std::time::Duration;

/// What the monitor saw of the pool.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Snapshot {
    /// Tasks in the queue.
    pub(crate) queued: usize,
    /// Idle workers nobody has woken yet.
    pub(crate) idle: usize,
    /// Workers woken for a task that have not yet taken it.
    pub(crate) waking: usize,
    /// Workers running a task.
    pub(crate) busy: usize,
    /// Live workers.
    pub(crate) live: usize,
    /// The configured minimum.
    pub(crate) min: usize,
    /// The current ceiling on live workers.
    pub(crate) ceiling: usize,
    /// Time since a task run last finished (as far as the monitor's checks can tell).
    pub(crate) since_progress: Duration,
}

/// What the monitor should do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Decision {
    /// Start this many workers.
    Grow { workers: usize, reason: Reason },
    /// Start none.
    Hold { reason: Reason },
}

/// Why, for the debug log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Reason {
    BelowMinimum,
    NothingQueued,
    IdleWorkersWillTakeIt,
    Backlog,
    AtCeiling,
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Reason::BelowMinimum => "fewer live workers than the minimum",
            Reason::NothingQueued => "no task is waiting",
            Reason::IdleWorkersWillTakeIt => "idle or woken workers will take the waiting tasks",
            Reason::Backlog => "tasks are waiting and no worker is free",
            Reason::AtCeiling => "tasks are waiting but the pool is at its maximum",
        })
    }
}

/// Decides whether to start workers. Pure: same snapshot, same decision.
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
    if s.queued == 0 {
        return Decision::Hold {
            reason: Reason::NothingQueued,
        };
    }
    let unclaimed = s.queued.saturating_sub(s.idle + s.waking);
    if unclaimed == 0 {
        return Decision::Hold {
            reason: Reason::IdleWorkersWillTakeIt,
        };
    }
    let room = s.ceiling.saturating_sub(s.live);
    if room == 0 {
        return Decision::Hold {
            reason: Reason::AtCeiling,
        };
    }
    Decision::Grow {
        workers: unclaimed.min(room),
        reason: Reason::Backlog,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snap(queued: usize, idle: usize, waking: usize, busy: usize, live: usize) -> Snapshot {
        Snapshot {
            queued,
            idle,
            waking,
            busy,
            live,
            min: 2,
            ceiling: 8,
            since_progress: Duration::ZERO,
        }
    }

    fn grow(workers: usize, reason: Reason) -> Decision {
        Decision::Grow { workers, reason }
    }

    fn hold(reason: Reason) -> Decision {
        Decision::Hold { reason }
    }

    #[test]
    fn table() {
        use Reason::*;
        let cases = [
            // queued idle waking busy live => decision
            (snap(0, 2, 0, 0, 2), hold(NothingQueued)),
            (snap(0, 0, 0, 0, 0), grow(2, BelowMinimum)),
            (snap(5, 0, 0, 0, 1), grow(1, BelowMinimum)),
            (snap(3, 0, 0, 2, 2), grow(3, Backlog)),
            (snap(3, 1, 0, 1, 2), grow(2, Backlog)),
            (snap(2, 0, 2, 0, 2), hold(IdleWorkersWillTakeIt)),
            (snap(1, 1, 0, 1, 2), hold(IdleWorkersWillTakeIt)),
            (snap(100, 0, 0, 2, 2), grow(6, Backlog)),
            (snap(100, 0, 0, 8, 8), hold(AtCeiling)),
            (snap(100, 0, 0, 7, 7), grow(1, Backlog)),
        ];
        for (snapshot, expected) in cases {
            assert_eq!(decide(&snapshot), expected, "{snapshot:?}");
        }
    }

    #[test]
    fn never_grows_past_the_ceiling() {
        for queued in 0..20 {
            for live in 0..=8 {
                for idle in 0..=live {
                    let s = snap(queued, idle, 0, live - idle, live);
                    if let Decision::Grow { workers, .. } = decide(&s) {
                        assert!(live + workers <= s.ceiling, "{s:?}");
                        assert!(workers > 0);
                    }
                }
            }
        }
    }

    #[test]
    fn a_lowered_ceiling_below_the_minimum_is_respected() {
        let s = Snapshot {
            ceiling: 1,
            ..snap(0, 0, 0, 0, 1)
        };
        assert_eq!(decide(&s), hold(Reason::NothingQueued));
    }
}
