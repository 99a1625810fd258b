//! The inbox: where a one-shot submission leaves its job without taking the pool's
//! lock, and the flags that tell a submitter whether it must take the lock after all.
//!
//! Submitting used to take the pool's lock (`shared.rs`), which the workers also take
//! for every task they claim and record; with tiny tasks the submitter queued behind
//! them. The inbox has its own small lock, held only to push a job or to hand the
//! whole batch over, so a submission costs one uncontended lock and unlock in a burst.
//! (The idea is the injection queue of work-stealing schedulers, rayon's and tokio's:
//! submitters and workers meet at a cheap handover point instead of the scheduler's
//! state.) The pool's lock is then taken only while a worker is idle (to wake it),
//! while the monitor wants a kick (to give it one), and for infinite tasks.
//!
//! Invariants (lock order: the pool's lock, then the inbox's; never the reverse):
//! - a job in the inbox is a queued job: whoever holds the pool's lock moves the inbox
//!   into the queue ([`State::absorb`](super::shared::State::absorb)) before it reads
//!   the queue, so the inbox is, for everything else in the pool, the queue's tail;
//! - `closed` is set, under both locks, in the critical section that ends the pool's
//!   `Running` phase, which also absorbs the inbox: a job pushed before is queued,
//!   and no job is pushed after (the push checks `closed` under the inbox's lock);
//! - `idle` is true exactly while the pool's idle stack is not empty, and `listen`
//!   while the monitor listens for kicks and was not kicked yet; both are changed
//!   under both locks. Whoever raises a flag — a worker going idle, the monitor
//!   parking or listening again after a decision — looks for jobs in the same inbox
//!   critical section, and a submitter pushes and reads the flags in one: so either
//!   the sleeper sees the job, or the submitter sees the flag and wakes it — a
//!   wake-up is never lost (modelled in `loom_tests.rs`; the monitor's case is
//!   `loom_a_kick_right_after_a_growth_is_not_lost`, which deadlocked while the
//!   monitor raised `listen` after a decision without looking).

use super::job::Job;

/// See the module header.
#[derive(Default)]
pub(crate) struct Inbox {
    /// Jobs submitted since the queue last absorbed the inbox, oldest first.
    pub(crate) jobs: Vec<Job>,
    /// The pool has left its `Running` phase: no more jobs.
    pub(crate) closed: bool,
    /// Some worker is on the idle stack.
    pub(crate) idle: bool,
    /// The monitor listens for a kick and has none pending.
    pub(crate) listen: bool,
}

/// What a submitter must do after leaving a job in the inbox.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Attention {
    /// Nothing: every worker is busy or between tasks, and the monitor needs no kick.
    None,
    /// Take the pool's lock: a worker may be idle, or the monitor may need a kick.
    Needed,
}

impl Inbox {
    /// Leaves `job` for the workers; gives it back if the pool is closed.
    pub(crate) fn push(&mut self, job: Job) -> Result<Attention, Job> {
        if self.closed {
            return Err(job);
        }
        self.jobs.push(job);
        Ok(if self.idle || self.listen {
            Attention::Needed
        } else {
            Attention::None
        })
    }
}
