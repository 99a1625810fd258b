//! The pool's promises at their edges: extreme settings, user code that panics where
//! nobody expects it, races between retiring workers and the minimum, shutdown from
//! inside a task. Each test here once failed. No test depends on how fast the machine
//! is: conditions are polled with generous deadlines, never asserted after a sleep.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::time::{Duration, Instant};

use atp::{Task, TaskOutcome, ThreadPool};

const PATIENCE: Duration = Duration::from_secs(30);

/// Polls `condition` until it holds; panics with `what` after [`PATIENCE`].
fn eventually(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + PATIENCE;
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Waits for `handle` with [`PATIENCE`], so a lost task fails the test instead of
/// hanging it.
fn outcome(handle: &atp::TaskHandle) -> TaskOutcome {
    handle
        .wait_timeout(PATIENCE)
        .expect("the task should have ended long ago")
}

#[test]
fn an_idle_timeout_of_duration_max_never_kills_the_workers() {
    let pool = ThreadPool::builder()
        .fixed_workers(1)
        .idle_timeout(Duration::MAX)
        .build()
        .unwrap();
    // The worker goes idle between the two tasks: it once panicked there.
    assert_eq!(
        outcome(&pool.run(Task::new(|| ())).unwrap()),
        TaskOutcome::Succeeded
    );
    eventually("the worker is idle", || pool.stats().idle == 1);
    assert_eq!(
        outcome(&pool.run(Task::new(|| ())).unwrap()),
        TaskOutcome::Succeeded
    );
    assert_eq!(pool.stats().live, 1);
    // Above the minimum too: the surplus worker waits for ever, it does not panic.
    let adaptive = ThreadPool::builder()
        .min_workers(0)
        .max_workers(2)
        .idle_timeout(Duration::MAX)
        .build()
        .unwrap();
    assert_eq!(
        outcome(&adaptive.run(Task::new(|| ())).unwrap()),
        TaskOutcome::Succeeded
    );
    eventually("the worker is idle", || adaptive.stats().idle == 1);
    assert_eq!(
        outcome(&adaptive.run(Task::new(|| ())).unwrap()),
        TaskOutcome::Succeeded
    );
    assert_eq!(adaptive.stats().failed, 0);
}

#[test]
fn waiting_duration_max_on_a_task_returns_its_outcome() {
    let pool = ThreadPool::builder().fixed_workers(1).build().unwrap();
    let handle = pool.run(Task::new(|| 7)).unwrap();
    assert_eq!(
        handle.wait_timeout(Duration::MAX),
        Some(TaskOutcome::Succeeded)
    );
    assert_eq!(
        handle.wait_timeout(Duration::MAX),
        Some(TaskOutcome::Succeeded)
    );
}

#[test]
fn a_stop_token_sleeping_duration_max_wakes_when_stopped() {
    let pool = ThreadPool::builder().fixed_workers(1).build().unwrap();
    let asleep = Arc::new(AtomicUsize::new(0));
    let handle = {
        let asleep = Arc::clone(&asleep);
        pool.run(Task::infinite(move |stop| {
            asleep.fetch_add(1, Ordering::SeqCst);
            stop.sleep(Duration::MAX)
        }))
        .unwrap()
    };
    eventually("the run is asleep", || asleep.load(Ordering::SeqCst) == 1);
    handle.stop();
    assert_eq!(outcome(&handle), TaskOutcome::Stopped);
    assert_eq!((handle.runs(), handle.failures()), (1, 0));
}
