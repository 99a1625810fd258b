//! A logger is user code too: one that panics while the pool reports a failure no
//! callback took must not turn that failure into something else or cost a worker.
//! (A file of its own: the logger is per process.)

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use atp::{FailureKind, TaskOutcome, ThreadPool};

/// Panics on every record it is given.
struct PanickingLogger;

static RECORDS: AtomicUsize = AtomicUsize::new(0);

impl log::Log for PanickingLogger {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }

    fn log(&self, record: &log::Record<'_>) {
        if self.enabled(record.metadata()) {
            RECORDS.fetch_add(1, Ordering::SeqCst);
            panic!("the logger failed");
        }
    }

    fn flush(&self) {}
}

static LOGGER: PanickingLogger = PanickingLogger;

#[test]
fn a_logger_that_panics_while_a_failure_is_reported_leaves_the_failure_as_it_was() {
    // Both tests share the process's logger: whichever runs first installs it.
    let _ = log::set_logger(&LOGGER);
    log::set_max_level(log::LevelFilter::Trace);
    let pool = ThreadPool::builder().fixed_workers(1).build().unwrap();

    let handle = pool.spawn(|| -> u32 { panic!("the task failed") }).unwrap();
    assert_eq!(
        handle.wait_timeout(Duration::from_secs(30)),
        Some(TaskOutcome::Failed),
        "the task ran and failed; it was not cancelled"
    );
    let failure = handle.join().unwrap_err();
    assert_eq!(failure.kind(), FailureKind::Panicked);
    assert_eq!(failure.message(), "the task failed");
    assert!(RECORDS.load(Ordering::SeqCst) >= 1, "the logger was asked");

    // A task with an error, and one with a failure callback-free `execute`: the
    // worker lives on and the next task runs.
    let failed = pool
        .run(atp::Task::fallible(|| -> Result<(), std::io::Error> {
            Err(std::io::Error::other("the task's error"))
        }))
        .unwrap();
    assert_eq!(failed.wait(), TaskOutcome::Failed);
    pool.execute(|| panic!("an executed task failed")).unwrap();
    assert_eq!(pool.spawn(|| 7).unwrap().join().unwrap(), 7);
}

#[test]
fn the_monitor_and_retiring_workers_outlive_a_logger_that_panics() {
    // Both tests share the process's logger: whichever runs first installs it.
    let _ = log::set_logger(&LOGGER);
    log::set_max_level(log::LevelFilter::Trace);
    let pool = ThreadPool::builder()
        .min_workers(1)
        .max_workers(4)
        .idle_timeout(Duration::from_millis(50))
        .build()
        .unwrap();
    // Four tasks that wait for one another: only growth (the monitor's decision,
    // which it logs) lets them all run.
    let barrier = Arc::new(Barrier::new(4));
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let barrier = Arc::clone(&barrier);
            pool.spawn(move || {
                barrier.wait();
            })
            .unwrap()
        })
        .collect();
    for handle in &handles {
        assert_eq!(
            handle.wait_timeout(Duration::from_secs(30)),
            Some(TaskOutcome::Succeeded),
            "the monitor grew the pool although the logger panicked"
        );
    }
    // Idle workers retire back to the minimum (each logs it) and the pool still runs.
    let deadline = Instant::now() + Duration::from_secs(30);
    while pool.stats().live > 1 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(pool.stats().live, 1, "surplus workers retired");
    assert_eq!(pool.spawn(|| 7).unwrap().join().unwrap(), 7);
}
