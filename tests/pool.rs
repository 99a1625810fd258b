//! Behaviour tests of the pool: growth, shrinking, the minimum and maximum, failures,
//! infinite tasks, shutdown, and leaks. No test depends on how fast the machine is:
//! conditions are polled with generous deadlines, never asserted after a fixed sleep.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, mpsc};
use std::time::{Duration, Instant};

mod threads;

use threads::{Gate, thread_names, thread_states, threads_named, workers_named};

use atp::{Failure, FailureKind, Task, TaskOutcome, ThreadPool};

const PATIENCE: Duration = Duration::from_secs(30);

/// Polls `condition` until it holds; panics with `what` after [`PATIENCE`].
fn eventually(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + PATIENCE;
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn the_minimum_stays_alive_across_several_idle_timeouts() {
    let pool = ThreadPool::builder()
        .min_workers(3)
        .max_workers(10)
        .idle_timeout(Duration::from_millis(20))
        .thread_name("P-min")
        .build()
        .unwrap();
    assert_eq!(pool.stats().live, 3);
    // Wait out many idle timeouts, checking the count all along.
    let start = Instant::now();
    while start.elapsed() < Duration::from_millis(300) {
        assert_eq!(pool.stats().live, 3);
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(
        workers_named("P-min"),
        3,
        "worker threads really exist: {:?}",
        thread_names()
    );
    // And they still run tasks.
    let (tx, rx) = mpsc::channel();
    pool.run(Task::new(|| 1).on_success(move |v| tx.send(v).unwrap()))
        .unwrap()
        .wait();
    assert_eq!(rx.recv().unwrap(), 1);
}

#[test]
fn blocked_tasks_make_the_pool_grow_and_it_shrinks_back_to_the_minimum() {
    let pool = ThreadPool::builder()
        .min_workers(2)
        .max_workers(300)
        .idle_timeout(Duration::from_millis(100))
        // The growth mechanics, not the load policy (tests/adaptive.rs has that):
        // blocked tasks finish nothing, so on a machine busy with other tests the
        // load gates would add only one worker a second.
        .load_aware(false)
        .thread_name("P-grow")
        .build()
        .unwrap();
    let gate = Gate::default();
    let started = Arc::new(AtomicUsize::new(0));
    let handles: Vec<_> = (0..200)
        .map(|_| {
            let gate = gate.clone();
            let started = Arc::clone(&started);
            pool.run(Task::new(move || {
                started.fetch_add(1, Ordering::SeqCst);
                gate.wait();
            }))
            .unwrap()
        })
        .collect();
    // All 200 can only be running at once if the pool grew to 200 workers.
    eventually("all 200 blocked tasks running", || {
        started.load(Ordering::SeqCst) == 200
    });
    let stats = pool.stats();
    assert!(stats.live >= 200, "{stats:?}");
    assert_eq!(stats.busy, 200);
    gate.open();
    for h in &handles {
        assert_eq!(h.wait(), TaskOutcome::Succeeded);
    }
    eventually("the pool shrinks back to the minimum", || {
        pool.stats().live == 2
    });
    eventually("retired threads exit", || workers_named("P-grow") == 2);
    assert!(pool.stats().peak_workers >= 200);
}

#[test]
fn the_maximum_is_never_exceeded() {
    let pool = ThreadPool::builder()
        .min_workers(1)
        .max_workers(4)
        .load_aware(false)
        .thread_name("P-max")
        .build()
        .unwrap();
    let running = Arc::new(AtomicUsize::new(0));
    let most = Arc::new(AtomicUsize::new(0));
    let handles: Vec<_> = (0..100)
        .map(|_| {
            let running = Arc::clone(&running);
            let most = Arc::clone(&most);
            pool.run(Task::new(move || {
                let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                most.fetch_max(now, Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(2));
                running.fetch_sub(1, Ordering::SeqCst);
            }))
            .unwrap()
        })
        .collect();
    for h in &handles {
        h.wait();
    }
    assert!(most.load(Ordering::SeqCst) <= 4);
    let stats = pool.stats();
    assert!(stats.peak_workers <= 4, "{stats:?}");
    assert!(workers_named("P-max") <= 4);
    assert_eq!(stats.completed, 100);
}

#[test]
fn a_panicking_target_goes_to_the_failure_callback_and_the_worker_survives() {
    let pool = ThreadPool::builder().fixed_workers(1).build().unwrap();
    let (tx, rx) = mpsc::channel();
    for i in 0..5 {
        let tx = tx.clone();
        let handle = pool
            .run(
                Task::new(move || -> u32 { panic!("boom {i}") }).on_failure(move |f| {
                    tx.send(f).unwrap();
                }),
            )
            .unwrap();
        assert_eq!(handle.wait(), TaskOutcome::Failed);
    }
    let failures: Vec<Failure> = rx.try_iter().collect();
    assert_eq!(failures.len(), 5);
    assert_eq!(failures[3].message(), "boom 3");
    assert_eq!(failures[3].kind(), FailureKind::Panicked);
    assert!(failures[3].location().unwrap().contains("tests/pool.rs"));
    // The single worker survived every panic and the counts are exact.
    let stats = pool.stats();
    assert_eq!(
        (stats.live, stats.busy, stats.completed, stats.failed),
        (1, 0, 5, 5)
    );
    assert_eq!(
        pool.run(Task::new(|| 7)).unwrap().wait(),
        TaskOutcome::Succeeded
    );
}

#[test]
fn a_panicking_success_callback_goes_to_the_failure_callback() {
    let pool = ThreadPool::new().unwrap();
    let (tx, rx) = mpsc::channel();
    let handle = pool
        .run(
            Task::new(|| 5)
                .on_success(|v| panic!("cannot handle {v}"))
                .on_failure(move |f| tx.send(f).unwrap()),
        )
        .unwrap();
    assert_eq!(handle.wait(), TaskOutcome::Failed);
    let failure = rx.recv().unwrap();
    assert_eq!(failure.kind(), FailureKind::SuccessCallbackPanicked);
    assert_eq!(failure.message(), "cannot handle 5");
    assert_eq!(pool.stats().failed, 1);
}

#[test]
fn a_panicking_failure_callback_is_contained() {
    let pool = ThreadPool::builder().fixed_workers(1).build().unwrap();
    let handle = pool
        .run(Task::new(|| -> () { panic!("first") }).on_failure(|f| panic!("again: {f}")))
        .unwrap();
    assert_eq!(handle.wait(), TaskOutcome::Failed);
    // The worker is still there and the counts are right.
    assert_eq!(
        pool.run(Task::new(|| ())).unwrap().wait(),
        TaskOutcome::Succeeded
    );
    let stats = pool.stats();
    assert_eq!((stats.live, stats.completed, stats.failed), (1, 2, 1));
}

#[test]
fn a_fallible_target_error_is_the_failure_source() {
    let pool = ThreadPool::new().unwrap();
    let (tx, rx) = mpsc::channel();
    pool.run(
        Task::fallible(|| std::fs::read("/nonexistent/atp-test")).on_failure(move |f| {
            tx.send(f).unwrap();
        }),
    )
    .unwrap()
    .wait();
    let failure = rx.recv().unwrap();
    assert_eq!(failure.kind(), FailureKind::Errored);
    let io = failure
        .error()
        .unwrap()
        .downcast_ref::<std::io::Error>()
        .unwrap();
    assert_eq!(io.kind(), std::io::ErrorKind::NotFound);
}

#[test]
fn an_infinite_task_reruns_until_stopped_and_never_starts_again() {
    let pool = ThreadPool::builder().fixed_workers(2).build().unwrap();
    let runs = Arc::new(AtomicUsize::new(0));
    let successes = Arc::new(AtomicUsize::new(0));
    let (saw_stop_tx, saw_stop_rx) = mpsc::channel();
    let counted = Arc::clone(&runs);
    let ok = Arc::clone(&successes);
    let handle = pool
        .run(
            Task::infinite(move |stop: &atp::StopToken| {
                let n = counted.fetch_add(1, Ordering::SeqCst) + 1;
                if n == 50 {
                    // Block this run until stop arrives: the running iteration must
                    // see the token.
                    while !stop.sleep(Duration::from_secs(60)) {}
                    saw_stop_tx.send(()).unwrap();
                }
                n
            })
            .on_success(move |_| {
                ok.fetch_add(1, Ordering::SeqCst);
            }),
        )
        .unwrap();
    eventually("50 runs", || runs.load(Ordering::SeqCst) >= 50);
    assert!(!handle.is_finished());
    handle.stop();
    saw_stop_rx
        .recv_timeout(PATIENCE)
        .expect("the running iteration saw the token");
    assert_eq!(handle.wait(), TaskOutcome::Stopped);
    let final_runs = runs.load(Ordering::SeqCst);
    assert_eq!(final_runs, 50, "no run starts after stop");
    assert_eq!(handle.runs(), 50);
    // The success callback fired once per run.
    assert_eq!(successes.load(Ordering::SeqCst), 50);
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(runs.load(Ordering::SeqCst), 50);
}

#[test]
fn infinite_tasks_share_workers_fairly_with_other_tasks() {
    // One worker, one infinite task: one-shot tasks submitted later still run.
    let pool = ThreadPool::builder().fixed_workers(1).build().unwrap();
    let infinite = pool
        .run(Task::infinite(|_: &atp::StopToken| {
            std::thread::yield_now()
        }))
        .unwrap();
    let handles: Vec<_> = (0..10)
        .map(|i| pool.run(Task::new(move || i)).unwrap())
        .collect();
    for h in &handles {
        assert_eq!(h.wait(), TaskOutcome::Succeeded);
    }
    infinite.stop();
    assert_eq!(infinite.wait(), TaskOutcome::Stopped);
}

#[test]
fn failures_of_infinite_runs_fire_per_run_and_the_loop_goes_on() {
    let pool = ThreadPool::builder().fixed_workers(1).build().unwrap();
    let failures = Arc::new(AtomicUsize::new(0));
    let f = Arc::clone(&failures);
    let handle = pool
        .run(
            Task::infinite_fallible(|_: &atp::StopToken| Err::<(), _>("flaky")).on_failure(
                move |_| {
                    f.fetch_add(1, Ordering::SeqCst);
                },
            ),
        )
        .unwrap();
    eventually("three failed runs", || failures.load(Ordering::SeqCst) >= 3);
    handle.stop();
    handle.wait();
    assert_eq!(handle.failures(), handle.runs());
}

#[test]
fn stopping_a_queued_task_cancels_it_without_running_it() {
    let pool = ThreadPool::builder().fixed_workers(1).build().unwrap();
    let gate = Gate::default();
    let g = gate.clone();
    let blocker = pool.run(Task::new(move || g.wait())).unwrap();
    let ran = Arc::new(AtomicUsize::new(0));
    let r = Arc::clone(&ran);
    let queued = pool
        .run(Task::new(move || {
            r.fetch_add(1, Ordering::SeqCst);
        }))
        .unwrap();
    queued.stop();
    assert_eq!(queued.wait(), TaskOutcome::Cancelled);
    gate.open();
    blocker.wait();
    assert_eq!(ran.load(Ordering::SeqCst), 0);
    assert_eq!(pool.stats().cancelled, 1);
}

#[test]
fn graceful_shutdown_runs_queued_tasks_stops_infinite_ones_and_joins_every_thread() {
    let pool = ThreadPool::builder()
        .min_workers(2)
        .max_workers(2)
        .thread_name("P-graceful")
        .build()
        .unwrap();
    let infinite = pool
        .run(Task::infinite(|stop: &atp::StopToken| {
            stop.sleep(Duration::from_millis(1));
        }))
        .unwrap();
    let done = Arc::new(AtomicUsize::new(0));
    let handles: Vec<_> = (0..50)
        .map(|_| {
            let done = Arc::clone(&done);
            pool.run(Task::new(move || {
                std::thread::sleep(Duration::from_millis(1));
                done.fetch_add(1, Ordering::SeqCst);
            }))
            .unwrap()
        })
        .collect();
    let report = pool.shutdown();
    // The infinite task is either stopped while running or, queued between two runs,
    // dropped unrun and reported; no one-shot task is cancelled.
    assert!(report.cancelled <= 1, "{report:?}");
    assert_eq!(report.cancelled as u64, pool.stats().cancelled);
    assert_eq!(done.load(Ordering::SeqCst), 50, "queued tasks all ran");
    assert!(handles.iter().all(|h| h.wait() == TaskOutcome::Succeeded));
    assert_eq!(infinite.wait(), TaskOutcome::Stopped);
    assert_eq!(threads_named("P-graceful"), 0, "every thread joined");
    assert_eq!(pool.stats().live, 0);
    assert!(matches!(
        pool.run(Task::new(|| ())),
        Err(atp::SubmitError::ShutDown(_))
    ));
}

#[test]
fn cancelling_shutdown_drops_queued_tasks_and_reports_them() {
    let pool = ThreadPool::builder()
        .fixed_workers(1)
        .thread_name("P-cancel")
        .build()
        .unwrap();
    let gate = Gate::default();
    let g = gate.clone();
    let (started_tx, started_rx) = mpsc::channel();
    let running = pool
        .run(Task::new(move || {
            started_tx.send(()).unwrap();
            g.wait();
        }))
        .unwrap();
    started_rx.recv().unwrap();
    let queued: Vec<_> = (0..10)
        .map(|i| pool.run(Task::new(move || i)).unwrap())
        .collect();
    let infinite = pool.run(Task::infinite(|_: &atp::StopToken| ())).unwrap();
    let opener = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(20));
        gate.open();
    });
    let report = pool.shutdown_now();
    opener.join().unwrap();
    assert_eq!(report.cancelled, 11);
    assert_eq!(
        running.wait(),
        TaskOutcome::Succeeded,
        "the running task finished"
    );
    assert!(queued.iter().all(|h| h.wait() == TaskOutcome::Cancelled));
    assert_eq!(infinite.wait(), TaskOutcome::Stopped);
    assert_eq!(threads_named("P-cancel"), 0);
}

#[test]
fn dropping_a_pool_with_infinite_and_queued_tasks_never_hangs_and_leaks_no_thread() {
    let pool = ThreadPool::builder()
        .min_workers(2)
        .max_workers(8)
        .thread_name("P-dropped")
        .build()
        .unwrap();
    let infinite: Vec<_> = (0..3)
        .map(|_| {
            pool.run(Task::infinite(|stop: &atp::StopToken| {
                stop.sleep(Duration::from_millis(5));
            }))
            .unwrap()
        })
        .collect();
    let ran = Arc::new(AtomicUsize::new(0));
    let queued: Vec<_> = (0..20)
        .map(|_| {
            let ran = Arc::clone(&ran);
            pool.run(Task::new(move || {
                ran.fetch_add(1, Ordering::SeqCst);
            }))
            .unwrap()
        })
        .collect();
    drop(pool);
    for h in &infinite {
        assert_eq!(h.wait(), TaskOutcome::Stopped);
    }
    for h in &queued {
        assert_eq!(h.wait(), TaskOutcome::Succeeded);
    }
    assert_eq!(ran.load(Ordering::SeqCst), 20);
    eventually("every thread of the dropped pool exits", || {
        threads_named("P-dropped") == 0
    });
}

#[test]
fn a_million_tiny_tasks_all_complete_with_exact_counts() {
    let n: usize = if cfg!(debug_assertions) {
        200_000
    } else {
        1_000_000
    };
    let n = std::env::var("ATP_STRESS_TASKS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(n);
    let pool = ThreadPool::builder()
        .min_workers(2)
        .max_workers(4)
        .build()
        .unwrap();
    let sum = Arc::new(AtomicUsize::new(0));
    std::thread::scope(|scope| {
        for t in 0..4 {
            let per = n / 4 + usize::from(t < n % 4);
            let (pool, sum) = (&pool, &sum);
            scope.spawn(move || {
                for _ in 0..per {
                    let sum = Arc::clone(sum);
                    pool.execute(move || {
                        sum.fetch_add(1, Ordering::Relaxed);
                    })
                    .unwrap();
                }
            });
        }
    });
    pool.shutdown();
    assert_eq!(sum.load(Ordering::Relaxed), n);
    let stats = pool.stats();
    assert_eq!(stats.completed, n as u64);
    assert_eq!(stats.failed, 0);
    assert_eq!(stats.queued, 0);
}

#[test]
fn tasks_know_their_worker_slot() {
    let pool = ThreadPool::builder().fixed_workers(3).build().unwrap();
    let barrier = Arc::new(Barrier::new(3));
    let (tx, rx) = mpsc::channel();
    for _ in 0..3 {
        let barrier = Arc::clone(&barrier);
        let tx = tx.clone();
        pool.execute(move || {
            barrier.wait();
            tx.send(atp::current_worker_slot()).unwrap();
        })
        .unwrap();
    }
    let mut slots: Vec<_> = rx.iter().take(3).map(Option::unwrap).collect();
    slots.sort_unstable();
    assert_eq!(slots, vec![1, 2, 3]);
    assert_eq!(atp::current_worker_slot(), None);
}

/// Regression (found by the loom model `loom_adaptive_pool_grows_from_zero_and_shuts_down`):
/// the monitor of an adaptive pool that saw the shutdown while tasks were still
/// queued went back to sleep for a whole `monitor_interval` after the queue drained,
/// and `shutdown` waited for it. Workers now kick the monitor as they exit.
#[test]
fn graceful_shutdown_of_an_adaptive_pool_does_not_wait_for_the_monitor_interval() {
    let pool = Arc::new(
        ThreadPool::builder()
            .min_workers(0)
            .max_workers(1)
            .monitor_interval(Duration::from_secs(3600))
            .thread_name("P-monkick")
            .build()
            .unwrap(),
    );
    let gate = Gate::default();
    let g = gate.clone();
    let (started_tx, started_rx) = mpsc::channel();
    let blocked = pool
        .run(Task::new(move || {
            started_tx.send(()).unwrap();
            g.wait();
        }))
        .unwrap();
    started_rx.recv_timeout(PATIENCE).expect("the pool grew");
    // Queued behind the blocked task, at the ceiling: the monitor holds.
    let queued = pool.run(Task::new(|| ())).unwrap();
    let (done_tx, done_rx) = mpsc::channel();
    // A detached thread, so that a regression fails this test instead of hanging it.
    let shutting_down = Arc::clone(&pool);
    std::thread::spawn(move || {
        shutting_down.shutdown();
        done_tx.send(()).unwrap();
    });
    eventually("the shutdown begins", || pool.execute(|| ()).is_err());
    // Not needed for correctness: gives the monitor time to see the shutdown while a
    // task is still queued, which is what used to put it back to sleep.
    std::thread::sleep(Duration::from_millis(100));
    gate.open();
    done_rx
        .recv_timeout(PATIENCE)
        .expect("shutdown returned without waiting for the monitor's interval");
    assert_eq!(blocked.wait(), TaskOutcome::Succeeded);
    assert_eq!(queued.wait(), TaskOutcome::Succeeded);
    assert_eq!(threads_named("P-monkick"), 0);
}

/// An infinite task still queued when a graceful shutdown begins never starts, ends
/// `Stopped`, and is counted as cancelled in the stats (like a queued task removed by
/// `TaskHandle::stop`) and in the shutdown's report.
#[test]
fn a_queued_infinite_task_never_starts_once_shutdown_begins_and_is_counted() {
    let pool = ThreadPool::builder().fixed_workers(1).build().unwrap();
    let gate = Gate::default();
    let g = gate.clone();
    let (started_tx, started_rx) = mpsc::channel();
    pool.run(Task::new(move || {
        started_tx.send(()).unwrap();
        g.wait();
    }))
    .unwrap();
    started_rx.recv_timeout(PATIENCE).unwrap();
    let infinite = pool.run(Task::infinite(|_: &atp::StopToken| ())).unwrap();
    // Probing with `execute` queues no-op tasks until the shutdown begins; they run.
    let mut probes = 0;
    std::thread::scope(|scope| {
        let pool = &pool;
        let shutdown = scope.spawn(move || pool.shutdown());
        eventually("the shutdown begins", || {
            let refused = pool.execute(|| ()).is_err();
            probes += u64::from(!refused);
            refused
        });
        gate.open();
        // The report and the stats agree: the infinite task was dropped unrun.
        assert_eq!(shutdown.join().unwrap().cancelled, 1);
    });
    assert_eq!(infinite.wait(), TaskOutcome::Stopped);
    assert_eq!(infinite.runs(), 0, "it never started");
    let stats = pool.stats();
    assert_eq!(
        (stats.completed, stats.cancelled),
        (1 + probes, 1),
        "{stats:?}"
    );
}

#[test]
fn concurrent_shutdowns_both_return_only_after_every_thread_is_joined() {
    let pool = ThreadPool::builder()
        .min_workers(3)
        .max_workers(6)
        .thread_name("P-twoshut")
        .build()
        .unwrap();
    for _ in 0..20 {
        pool.execute(|| std::thread::sleep(Duration::from_millis(5)))
            .unwrap();
    }
    let barrier = Barrier::new(2);
    std::thread::scope(|scope| {
        for _ in 0..2 {
            scope.spawn(|| {
                barrier.wait();
                pool.shutdown();
                assert_eq!(
                    threads_named("P-twoshut"),
                    0,
                    "returned before the joins: {:?}",
                    thread_states("P-twoshut")
                );
            });
        }
    });
}
