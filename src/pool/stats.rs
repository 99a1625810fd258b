//! [`Stats`]: a consistent snapshot of a pool's counters, cheap enough to read on
//! every refresh of a progress display (one short lock, no allocation).

/// Counters of a pool at one instant (all read under one lock, so they agree).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Live workers (at least `min_workers` while the pool runs).
    pub live: usize,
    /// Workers running a task.
    pub busy: usize,
    /// Workers waiting for a task (`live - busy`, including workers just woken).
    pub idle: usize,
    /// Tasks waiting in the queue.
    pub queued: usize,
    /// Task runs that have finished, failed ones included (an infinite task counts
    /// once per run).
    pub completed: u64,
    /// Task runs that failed.
    pub failed: u64,
    /// Queued tasks that were dropped without running (stopped while queued, or by a
    /// cancelling shutdown).
    pub cancelled: u64,
    /// The most workers that were ever live at once.
    pub peak_workers: usize,
    /// The current bound on live workers: `max_workers`, or lower after the OS
    /// refused to start a thread.
    pub ceiling: usize,
}
