//! The open-file budget: how many workers the descriptor limit allows.
//!
//! Every worker holds two capture files and briefly two more descriptors while it
//! spawns a job; `--keep-order` also keeps the capture files of jobs that finished
//! ahead of their turn. At the common soft limit of 1024 open files, 512 workers
//! would fail jobs with EMFILE, so the worker maximum is capped to what the limit
//! allows. The soft limit is not raised: jobs would inherit it, and programs that
//! still use `select()` break above 1024 descriptors.

use nix::sys::resource::{Resource, getrlimit};

use crate::run::report::ordered::KEEP_ORDER_AHEAD;

/// Descriptors a worker may hold at once.
const PER_WORKER: u64 = 4;
/// Descriptors kept for atp-run itself (stdio, input files, joblog, pipes, logging).
const RESERVED: u64 = 64;

/// Most finished jobs `--keep-order` can hold: its hold budget, plus the jobs in
/// flight when the budget was checked (the in-flight window is half the budget).
pub const KEEP_ORDER_HELD_MAX: u64 = (KEEP_ORDER_AHEAD + KEEP_ORDER_AHEAD / 2) as u64;

/// The soft limit on open files, if it can be read.
pub fn open_file_limit() -> Option<u64> {
    getrlimit(Resource::RLIMIT_NOFILE)
        .ok()
        .map(|(soft, _)| soft)
}

/// The most workers `limit` open files allow (at least 1).
pub fn worker_cap(limit: u64, keep_order: bool) -> usize {
    let held = if keep_order {
        2 * KEEP_ORDER_HELD_MAX
    } else {
        0
    };
    let cap = limit.saturating_sub(RESERVED + held) / PER_WORKER;
    usize::try_from(cap).unwrap_or(usize::MAX).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cap_leaves_room_for_captures_and_held_jobs() {
        assert_eq!(worker_cap(1024, false), 240);
        assert_eq!(worker_cap(1024, true), 48);
        assert_eq!(worker_cap(20000, false), 4984);
        assert_eq!(worker_cap(10, false), 1, "never zero");
        assert!(open_file_limit().is_some_and(|n| n > 0));
    }
}
