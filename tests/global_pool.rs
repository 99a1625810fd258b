//! The global pool, explicitly set up with `init_global`: a race of first set-ups
//! builds exactly one pool, a conflicting set-up is an error that says what to do,
//! and `async_call` runs on the global pool or on the pool it is given.
//!
//! Its own test binary, because the global pool is per process; everything that
//! depends on the order of set-ups is in one test function. (The "defaults on first
//! use" path is in `global_pool_defaults.rs`.)

use std::sync::{Arc, Barrier, mpsc};
use std::time::{Duration, Instant};

mod threads;

use atp::{GlobalPoolError, Task, TaskOutcome, ThreadPool};
use threads::{thread_names, threads_named};

const PATIENCE: Duration = Duration::from_secs(30);
const RACERS: usize = 16;

fn global_settings() -> atp::Builder {
    ThreadPool::builder()
        .min_workers(3)
        .max_workers(8)
        .thread_name("G-global")
}

/// Runs a task that reports the name of the thread it ran on and its worker slot.
fn where_it_ran(pool: Option<&ThreadPool>) -> (String, Option<usize>) {
    let (tx, rx) = mpsc::channel();
    let handle = atp::async_call(
        Task::new(|| {
            let name = std::thread::current().name().unwrap_or("").to_owned();
            (name, atp::current_worker_slot())
        })
        .on_success(move |place| tx.send(place).unwrap()),
        pool,
    )
    .expect("the pool accepts the task");
    assert_eq!(handle.wait(), TaskOutcome::Succeeded);
    rx.recv_timeout(PATIENCE).expect("the success callback ran")
}

#[test]
fn racing_set_ups_build_one_pool_and_a_conflicting_one_is_an_error() {
    // 16 threads set up the global pool at the same instant, with the same settings.
    let barrier = Arc::new(Barrier::new(RACERS));
    let racers: Vec<_> = (0..RACERS)
        .map(|_| {
            let barrier = Arc::clone(&barrier);
            std::thread::spawn(move || {
                barrier.wait();
                let pool = atp::init_global(global_settings()).expect("same settings: no error");
                pool as *const ThreadPool as usize
            })
        })
        .collect();
    let addresses: Vec<usize> = racers.into_iter().map(|r| r.join().unwrap()).collect();
    assert!(
        addresses.iter().all(|&a| a == addresses[0]),
        "every racer got the same pool: {addresses:x?}"
    );
    let pool = atp::global();
    assert_eq!(pool as *const ThreadPool as usize, addresses[0]);
    assert_eq!(pool.config().min_workers(), 3);
    assert_eq!(pool.config().max_workers(), 8);

    // Exactly one pool was started: 3 workers and one monitor, not 16 × that.
    let deadline = Instant::now() + PATIENCE;
    while threads_named("G-global-") != 4 {
        assert!(
            Instant::now() < deadline,
            "expected 3 workers and 1 monitor, saw {:?}",
            thread_names()
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(pool.stats().peak_workers, 3);

    // Other settings: an error that names both and says what to do.
    let err = atp::init_global(global_settings().min_workers(4)).unwrap_err();
    match &err {
        GlobalPoolError::AlreadyInitialized {
            existing,
            requested,
        } => {
            assert_eq!(existing.min_workers(), 3);
            assert_eq!(requested.min_workers(), 4);
        }
        other => panic!("expected AlreadyInitialized, got {other:?}"),
    }
    let message = err.to_string();
    assert!(
        message.contains("already set up with other settings")
            && message.contains("set it up once, before first use"),
        "{message}"
    );
    // The same settings again are still fine, and it is still the same pool.
    let again = atp::init_global(global_settings()).unwrap();
    assert_eq!(again as *const ThreadPool as usize, addresses[0]);
    assert_eq!(
        atp::try_global().unwrap() as *const ThreadPool as usize,
        addresses[0]
    );

    // async_call without a pool runs on the global pool's workers...
    let (name, slot) = where_it_ran(None);
    assert!(name.starts_with("G-global-"), "ran on {name:?}");
    assert!(matches!(slot, Some(1..=8)), "slot {slot:?}");

    // ...and with a pool, on that pool's workers.
    let local = ThreadPool::builder()
        .fixed_workers(1)
        .thread_name("G-local")
        .build()
        .unwrap();
    let (name, slot) = where_it_ran(Some(&local));
    assert_eq!(name, "G-local-1");
    assert_eq!(slot, Some(1));
    local.shutdown();
    assert_eq!(local.stats().completed, 1);
    assert!(pool.stats().completed >= 1);
}
