//! Waiting for a pool's threads at shutdown, from anywhere — including from one of
//! the pool's own tasks, and from several callers at once.
//!
//! Every pool thread (worker, reserved worker, monitor) is counted in
//! `State::threads_alive` until its very end, and each decrement notifies
//! `Shared::exited`. A shutdown then waits on that count instead of on a lock held
//! while joining — holding one deadlocked when a task called `shutdown` while another
//! caller was joining its worker, or when two tasks called it at once.
//!
//! - Called from outside the pool: join every thread handle (taking them out of
//!   `State::threads`, counted in `State::joining` meanwhile), until no thread is
//!   alive, none is left to join and no other caller is still joining. So every
//!   caller returns only once every thread has been joined.
//! - Called from a task on one of the pool's workers: that worker cannot wait for
//!   itself, nor for other workers whose task is also inside `shutdown` (they wait for
//!   it), nor for the monitor (which stays until the queue is drained, which may need
//!   this very worker). It waits until every other worker has finished, and returns
//!   without joining; its own thread ends once its task returns, and an outside
//!   caller (if any) joins it.
//!
//! - `shutdown_timeout` waits the same way on `State::threads_alive`, giving up at its
//!   deadline; from outside it joins the handles only once every thread has exited.
//!
//! Invariant: a caller blocks only on threads that are not themselves waiting for it.

use std::time::{Duration, Instant};

use super::shared::{Shared, State};
use super::sync::{self, thread};

/// Waits for the pool's threads as described in the module header. The shutdown must
/// have begun (the phase is no longer `Running`).
pub(crate) fn join_all(shared: &Shared) {
    let me = thread::current().id();
    let mut state = shared.lock();
    if state.worker_ids.contains(&me) {
        state.waiting_inside += 1;
        while state.threads_alive - usize::from(state.monitor_alive) > state.waiting_inside {
            state = sync::wait(&shared.exited, state);
        }
        state.waiting_inside -= 1;
        return;
    }
    loop {
        let threads = std::mem::take(&mut state.threads);
        if threads.is_empty() {
            if state.threads_alive == 0 && state.joining == 0 {
                return;
            }
            state = sync::wait(&shared.exited, state);
            continue;
        }
        let count = threads.len();
        state.joining += count;
        drop(state);
        for thread in threads {
            let _ = thread.handle.join();
        }
        state = shared.lock();
        state.joining -= count;
        shared.exited.notify_all();
    }
}

/// Like [`join_all`], giving up after `timeout`: returns whether every thread it
/// waits for has exited (and, called from outside the pool, been joined) in time.
pub(crate) fn join_all_timeout(shared: &Shared, timeout: Duration) -> bool {
    // `None`: a timeout too long to express as an instant: as long as it takes.
    let deadline = Instant::now().checked_add(timeout);
    let me = thread::current().id();
    let mut state = shared.lock();
    let inside = state.worker_ids.contains(&me);
    if inside {
        state.waiting_inside += 1;
    }
    let done = |state: &State| {
        if inside {
            state.threads_alive - usize::from(state.monitor_alive) <= state.waiting_inside
        } else {
            state.threads_alive == 0
        }
    };
    let mut in_time = true;
    while !done(&state) {
        let left = match deadline {
            Some(deadline) => match deadline.checked_duration_since(Instant::now()) {
                Some(left) if !left.is_zero() => Some(left),
                _ => {
                    in_time = false;
                    break;
                }
            },
            None => None,
        };
        state = match left {
            Some(left) => sync::wait_timeout(&shared.exited, state, left).0,
            None => sync::wait(&shared.exited, state),
        };
    }
    if inside {
        state.waiting_inside -= 1;
        return in_time;
    }
    drop(state);
    if in_time {
        // Every thread has exited: joining them returns at once.
        join_all(shared);
    }
    in_time
}
