//! [`TaskId`], the one type every part of the pool names a task by, and the counter
//! that hands ids out. A leaf module: it imports nothing from the pool.
//!
//! Invariant: ids are unique within the process and never reused.

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

/// Deliberately `std`'s atomic even under loom: ids only need to be unique, which a
/// process-wide counter guarantees whatever the interleaving, and keeping it out of
/// the model avoids a scheduling point per submission. (A loom thread-local counter
/// would hand the same id to tasks submitted from different model threads, and
/// `TaskHandle::stop` finds a queued task by its id.)
static NEXT_TASK_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

pub(crate) fn next_task_id() -> TaskId {
    TaskId(NEXT_TASK_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed))
}
