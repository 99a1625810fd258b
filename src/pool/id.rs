//! [`TaskId`], the one type every part of the pool names a task by, and the counter
//! that hands ids out. A leaf module: it imports nothing from the pool.
//!
//! Invariant: ids are unique within the process and never reused; on each thread
//! they increase.

use std::cell::Cell;
use std::fmt;

/// Identifies a task within the process (ids are never reused).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TaskId(pub(crate) u64);

impl TaskId {
    /// The id as a number.
    pub fn get(self) -> u64 {
        self.0
    }
}

impl fmt::Display for TaskId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// The next block of ids to hand out. Deliberately `std`'s atomic even under loom:
/// ids only need to be unique, which a process-wide counter guarantees whatever the
/// interleaving, and keeping it out of the model avoids a scheduling point per
/// submission. (A loom thread-local counter would hand the same id to tasks
/// submitted from different model threads, and `TaskHandle::stop` finds a queued
/// task by its id.)
static NEXT_BLOCK: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

/// Ids a thread takes from [`NEXT_BLOCK`] at a time.
///
/// A submitting thread hands ids out of its own block and touches the shared
/// counter once per block: an atomic add per task on a process-wide word was a
/// read-modify-write the submitter paid for every task, and it bounced the word's
/// cache line (shared with other statics the workers read) between cores.
const BLOCK: u64 = 1024;

thread_local! {
    /// This thread's current block: the next id and the end of the block.
    static LOCAL_BLOCK: Cell<(u64, u64)> = const { Cell::new((0, 0)) };
}

/// A fresh id: unique in the process, increasing on each thread (not across
/// threads: each thread takes its ids from its own block).
pub(crate) fn next_task_id() -> TaskId {
    LOCAL_BLOCK.with(|block| {
        let (mut next, mut end) = block.get();
        if next == end {
            next = NEXT_BLOCK.fetch_add(BLOCK, std::sync::atomic::Ordering::Relaxed);
            end = next + BLOCK;
        }
        block.set((next + 1, end));
        TaskId(next)
    })
}

#[cfg(all(test, not(loom)))]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn ids_are_unique_across_threads_and_increase_on_each() {
        let per_thread = 3 * BLOCK as usize + 7;
        let threads: Vec<_> = (0..4)
            .map(|_| {
                std::thread::spawn(move || {
                    (0..per_thread)
                        .map(|_| next_task_id().get())
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let mut all = HashSet::new();
        for thread in threads {
            let ids = thread.join().unwrap();
            assert!(
                ids.windows(2).all(|pair| pair[0] < pair[1]),
                "not increasing on a thread"
            );
            for id in ids {
                assert!(id > 0, "0 is never an id");
                assert!(all.insert(id), "id {id} handed out twice");
            }
        }
        assert_eq!(all.len(), 4 * per_thread);
    }
}
