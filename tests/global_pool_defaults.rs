//! The global pool set up implicitly: the first use of `global` (here raced by 16
//! threads) builds one pool with the default settings, and a later `init_global`
//! with other settings is an error rather than silently ignored.
//!
//! Its own test binary, because the global pool is per process.

use std::sync::{Arc, Barrier};

use atp::{Config, GlobalPoolError, ThreadPool};

#[test]
fn global_uses_the_defaults_on_first_use_and_a_later_set_up_with_others_errors() {
    let barrier = Arc::new(Barrier::new(16));
    let racers: Vec<_> = (0..16)
        .map(|_| {
            let barrier = Arc::clone(&barrier);
            std::thread::spawn(move || {
                barrier.wait();
                atp::global() as *const ThreadPool as usize
            })
        })
        .collect();
    let addresses: Vec<usize> = racers.into_iter().map(|r| r.join().unwrap()).collect();
    assert!(addresses.iter().all(|&a| a == addresses[0]));

    let pool = atp::global();
    assert_eq!(*pool.config(), Config::default());
    assert_eq!(pool.stats().peak_workers, atp::DEFAULT_MIN_WORKERS);

    let err = atp::init_global(ThreadPool::builder().min_workers(5)).unwrap_err();
    assert!(
        matches!(err, GlobalPoolError::AlreadyInitialized { .. }),
        "{err:?}"
    );
    assert!(
        err.to_string().contains("set it up once, before first use"),
        "{err}"
    );

    // Asking for exactly the defaults is not a conflict.
    let same = atp::init_global(ThreadPool::builder()).unwrap();
    assert_eq!(same as *const ThreadPool as usize, addresses[0]);
}
