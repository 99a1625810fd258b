//! The open-file budget: how many workers the descriptor limit allows.
//!
//! Every worker holds two capture files and briefly two more descriptors while it
//! spawns a job; `--keep-order` also keeps the capture files of jobs that finished
//! ahead of their turn. At the common soft limit of 1024 open files, 512 workers
//! would fail jobs with EMFILE, so the worker maximum is capped to what the limit
//! allows.
//!
//! The soft limit is raised only for an explicit `-j N` (or `--min-workers N`)
//! that it cannot honour, and only as far as those workers need (at most the hard
//! limit): that is a promise the user made explicitly. It is not raised for the
//! adaptive default. Jobs inherit the raised soft limit: restoring the original
//! one in each child would need `setrlimit` between fork and exec (`pre_exec`,
//! which is unsafe code and loses std's `posix_spawn` fast path), and the raise
//! is bounded by what the requested jobs need, so a job sees more than 1024 (where
//! programs that still use `select()` break) only when more than ~240 jobs at
//! once were asked for. When even the hard limit cannot honour the request, the
//! run says so in one warning line and runs as many as the limit allows.

use nix::sys::resource::{Resource, getrlimit, setrlimit};

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

/// The open files `workers` workers need (the inverse of [`worker_cap`]).
pub fn files_needed(workers: usize, keep_order: bool) -> u64 {
    let held = if keep_order {
        2 * KEEP_ORDER_HELD_MAX
    } else {
        0
    };
    (workers as u64)
        .saturating_mul(PER_WORKER)
        .saturating_add(RESERVED + held)
}

/// Raises the soft open-file limit towards `wanted`, up to the hard limit;
/// returns the soft limit now in force (None if it cannot be read).
pub fn raise_open_file_limit(wanted: u64) -> Option<u64> {
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).ok()?;
    let target = wanted.min(hard);
    if target <= soft {
        return Some(soft);
    }
    match setrlimit(Resource::RLIMIT_NOFILE, target, hard) {
        Ok(()) => {
            log::info!("raised the open-file limit from {soft} to {target} (hard limit {hard})");
            Some(target)
        }
        Err(err) => {
            log::info!("cannot raise the open-file limit from {soft} to {target}: {err}");
            Some(soft)
        }
    }
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
        for (workers, keep_order) in [(1, false), (240, false), (48, true), (4984, false)] {
            let needed = files_needed(workers, keep_order);
            assert_eq!(worker_cap(needed, keep_order), workers, "{workers}");
        }
        assert!(open_file_limit().is_some_and(|n| n > 0));
    }
}
