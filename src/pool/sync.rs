//! One import point for the synchronisation primitives the pool is built on.
//!
//! Under `--cfg loom` these are loom's model-checked versions, so the loom models in
//! `loom_tests.rs` explore every interleaving of the real pool code; otherwise they are
//! `std`'s. Nothing else in the pool may import locks, condition variables, atomics or
//! threads from `std` directly — except the task-id counter in `id.rs`, which is not
//! part of the protocol (ids only need to be unique) and says why. Reference counting (`std::sync::Arc`) is not part of
//! the protocol being checked and stays `std`'s, which also gives us `Weak`.

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{AtomicU8, AtomicU64, AtomicUsize, Ordering};
#[cfg(loom)]
pub(crate) use loom::sync::{Condvar, Mutex, MutexGuard};
#[cfg(loom)]
pub(crate) use loom::thread;

#[cfg(not(loom))]
pub(crate) use std::sync::atomic::{AtomicU8, AtomicU64, AtomicUsize, Ordering};
#[cfg(not(loom))]
pub(crate) use std::sync::{Condvar, Mutex, MutexGuard};
#[cfg(not(loom))]
pub(crate) use std::thread;

use std::time::Duration;

/// Locks `mutex`, ignoring poisoning.
///
/// User code runs inside `catch_unwind`, and with the pool's locks released — except
/// a one-shot task's own cell lock, which its run holds (see `SpawnCell`), and whose
/// slot is left empty if a panic ever escaped: so a poisoned lock can only come from
/// a bug in the pool itself; carrying on with the data is then better than cascading
/// panics through every worker.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Waits on `cv`, ignoring poisoning (see [`lock`]).
pub(crate) fn wait<'a, T>(cv: &Condvar, guard: MutexGuard<'a, T>) -> MutexGuard<'a, T> {
    cv.wait(guard)
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Waits on `cv` for at most `timeout`; returns the guard and whether the wait timed out.
///
/// Under loom, time is not modelled: a wait for a zero timeout times out at once (so a
/// model can make workers retire with `idle_timeout(ZERO)`); any other wait is a
/// plain wait that never times out, and the loom models are built so that every
/// waiter is eventually notified.
pub(crate) fn wait_timeout<'a, T>(
    cv: &Condvar,
    guard: MutexGuard<'a, T>,
    timeout: Duration,
) -> (MutexGuard<'a, T>, bool) {
    #[cfg(loom)]
    {
        if timeout.is_zero() {
            return (guard, true);
        }
        (wait(cv, guard), false)
    }
    #[cfg(not(loom))]
    {
        let (guard, result) = cv
            .wait_timeout(guard, timeout)
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        (guard, result.timed_out())
    }
}
