//! The pool's promises at their edges: extreme settings, user code that panics where
//! nobody expects it, races between retiring workers and the minimum, shutdown from
//! inside a task. Each test here once failed. No test depends on how fast the machine
//! is: conditions are polled with generous deadlines, never asserted after a sleep.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::time::{Duration, Instant};

use atp::{Task, TaskOutcome, ThreadPool};

mod threads;

use threads::Gate;

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
fn outcome<T>(handle: &atp::TaskHandle<T>) -> TaskOutcome {
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

#[test]
fn workers_that_time_out_together_never_undercut_the_minimum() {
    let pool = ThreadPool::builder()
        .min_workers(2)
        .max_workers(64)
        .idle_timeout(Duration::from_millis(30))
        .load_aware(false)
        .build()
        .unwrap();
    let mut lowest = usize::MAX;
    // Forty bursts: the race needs several workers to time out in the same instant.
    for _ in 0..40 {
        // 40 tasks block until all have started, then end together: 40 workers go
        // idle at once and time out together 30 ms later.
        let gate = Gate::default();
        let started = Arc::new(AtomicUsize::new(0));
        let handles: Vec<_> = (0..40)
            .map(|_| {
                let (gate, started) = (gate.clone(), Arc::clone(&started));
                pool.run(Task::new(move || {
                    started.fetch_add(1, Ordering::SeqCst);
                    gate.wait();
                }))
                .unwrap()
            })
            .collect();
        eventually("all 40 tasks started", || {
            started.load(Ordering::SeqCst) == 40
        });
        gate.open();
        for handle in &handles {
            assert_eq!(outcome(handle), TaskOutcome::Succeeded);
        }
        // Watch the retirements until the pool is back at its minimum (and a little
        // longer: a worker the monitor starts to restore the minimum would show here).
        let mut at_minimum_since = None;
        let deadline = Instant::now() + PATIENCE;
        loop {
            let live = pool.stats().live;
            lowest = lowest.min(live);
            if live == 2 {
                let since = *at_minimum_since.get_or_insert_with(Instant::now);
                if since.elapsed() > Duration::from_millis(100) {
                    break;
                }
            } else {
                at_minimum_since = None;
            }
            assert!(Instant::now() < deadline, "the pool never shrank to 2");
        }
    }
    assert_eq!(lowest, 2, "live workers fell below the minimum of 2");
}

/// Runs `tasks` tasks that wait for each other (so `tasks` workers are needed at once)
/// right after `warm_up` short tasks were waited on, and returns the peak.
fn peak_for_blocked_burst(pool: &ThreadPool, warm_up: usize, tasks: usize) -> usize {
    let short: Vec<_> = (0..warm_up)
        .map(|_| pool.run(Task::new(|| ())).unwrap())
        .collect();
    for handle in &short {
        outcome(handle);
    }
    let barrier = Arc::new(Barrier::new(tasks));
    let handles: Vec<_> = (0..tasks)
        .map(|_| {
            let barrier = Arc::clone(&barrier);
            pool.run(Task::new(move || {
                barrier.wait();
            }))
            .unwrap()
        })
        .collect();
    for handle in &handles {
        assert_eq!(outcome(handle), TaskOutcome::Succeeded);
    }
    pool.stats().peak_workers
}

#[test]
fn the_pool_never_grows_past_its_backlog() {
    // Workers that just finished the short tasks have not gone idle yet when the
    // burst arrives: they take queued tasks without being woken, so they must count
    // as free, or the pool starts a worker for tasks they will take.
    for _ in 0..10 {
        let pool = ThreadPool::builder()
            .min_workers(4)
            .max_workers(64)
            .load_aware(false)
            .build()
            .unwrap();
        assert_eq!(peak_for_blocked_burst(&pool, 4, 20), 20);
    }
}

#[test]
fn a_submission_that_finds_no_free_worker_never_waits_a_monitor_interval() {
    // The monitor's periodic check is a minute away: only a kick can start the
    // workers in time. Right after it grew, the monitor once waited for its interval
    // without listening for kicks, so the third task waited the whole minute.
    let pool = ThreadPool::builder()
        .min_workers(1)
        .max_workers(8)
        .monitor_interval(Duration::from_secs(60))
        .load_aware(false)
        .build()
        .unwrap();
    let gate = Gate::default();
    let started = Arc::new(AtomicUsize::new(0));
    let mut handles = Vec::new();
    for n in 1..=4 {
        let (gate, count) = (gate.clone(), Arc::clone(&started));
        handles.push(
            pool.run(Task::new(move || {
                count.fetch_add(1, Ordering::SeqCst);
                gate.wait();
            }))
            .unwrap(),
        );
        eventually(&format!("task {n} started"), || {
            started.load(Ordering::SeqCst) == n
        });
    }
    gate.open();
    for handle in &handles {
        assert_eq!(outcome(handle), TaskOutcome::Succeeded);
    }
}

#[test]
fn a_worker_the_os_refuses_to_start_is_not_counted_in_the_peak() {
    // No thread can have a stack of a pebibyte: every spawn fails.
    let pool = ThreadPool::builder()
        .min_workers(0)
        .max_workers(4)
        .stack_size_kib(1 << 40)
        .build()
        .unwrap();
    let handle = pool.run(Task::new(|| ())).unwrap();
    eventually("the monitor tried to start a worker", || {
        pool.stats().ceiling < 4
    });
    let stats = pool.stats();
    assert_eq!((stats.live, stats.peak_workers), (0, 0), "{stats:?}");
    assert_eq!(pool.shutdown_now().cancelled, 1);
    assert_eq!(outcome(&handle), TaskOutcome::Cancelled);
}

/// User data whose `Drop` panics.
struct PanicsOnDrop;

impl Drop for PanicsOnDrop {
    fn drop(&mut self) {
        panic!("a Drop that panics");
    }
}

/// An error whose `Display` panics.
#[derive(Debug)]
struct PanicsOnDisplay;

impl std::fmt::Display for PanicsOnDisplay {
    fn fmt(&self, _: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        panic!("a Display that panics")
    }
}

impl std::error::Error for PanicsOnDisplay {}

/// After a task whose user code panicked outside its target, the only worker of a
/// fixed pool still runs the next task, and the counters are sane.
fn the_worker_survives(pool: &ThreadPool) {
    assert_eq!(
        outcome(&pool.run(Task::new(|| ())).unwrap()),
        TaskOutcome::Succeeded
    );
    eventually("the worker is idle again", || {
        let stats = pool.stats();
        (stats.live, stats.busy, stats.idle) == (1, 0, 1)
    });
}

#[test]
fn a_task_value_whose_drop_panics_does_not_kill_the_worker() {
    let pool = ThreadPool::builder().fixed_workers(1).build().unwrap();
    // A one-shot task's value is its handle's (`join`). With the handle gone before
    // the task ends, the worker drops the value, and survives its panic.
    let gate = Gate::default();
    let task_gate = gate.clone();
    drop(pool.spawn(move || {
        task_gate.wait();
        PanicsOnDrop
    }));
    gate.open();
    the_worker_survives(&pool);
    // With the handle, the value is the caller's.
    let value = pool.spawn(|| PanicsOnDrop).unwrap().join().unwrap();
    std::mem::forget(value);

    // An infinite task's value is dropped after each run: a panic there fails the run.
    let failures = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&failures);
    let task = Task::infinite(|stop: &atp::StopToken| {
        stop.stop();
        PanicsOnDrop
    })
    .on_failure(move |failure: atp::Failure| sink.lock().unwrap().push(failure));
    let handle = pool.run(task).unwrap();
    assert_eq!(outcome(&handle), TaskOutcome::Stopped);
    assert_eq!(handle.failures(), 1);
    assert_eq!(failures.lock().unwrap()[0].message(), "a Drop that panics");
    the_worker_survives(&pool);
}

#[test]
fn an_error_whose_display_panics_is_still_a_failure() {
    let pool = ThreadPool::builder().fixed_workers(1).build().unwrap();
    let failures = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&failures);
    let task = Task::fallible(|| Err::<(), _>(PanicsOnDisplay))
        .on_failure(move |failure: atp::Failure| sink.lock().unwrap().push(failure));
    assert_eq!(outcome(&pool.run(task).unwrap()), TaskOutcome::Failed);
    let message = failures.lock().unwrap()[0].message().to_owned();
    assert!(message.contains("a Display that panics"), "{message}");
    // Without a failure callback the failure is reported (and dropped) by the pool.
    let unhandled = Task::fallible(|| Err::<(), _>(PanicsOnDisplay));
    assert_eq!(outcome(&pool.run(unhandled).unwrap()), TaskOutcome::Failed);
    the_worker_survives(&pool);
}

#[test]
fn callback_captures_whose_drop_panics_do_not_kill_the_worker() {
    let pool = ThreadPool::builder().fixed_workers(1).build().unwrap();
    let capture = PanicsOnDrop;
    let task = Task::new(|| ())
        .on_success(move |()| {
            let _keep = &capture;
        })
        .on_failure(drop);
    // A one-shot callback is `FnOnce`: its captures are dropped as it returns, inside
    // its run, so the panic fails the task (and only the task).
    assert_eq!(outcome(&pool.run(task).unwrap()), TaskOutcome::Failed);
    the_worker_survives(&pool);
    // An infinite task's callbacks are dropped after its last run.
    let capture = PanicsOnDrop;
    let task = Task::infinite(|stop: &atp::StopToken| stop.stop()).on_success(move |()| {
        let _keep = &capture;
    });
    assert_eq!(outcome(&pool.run(task).unwrap()), TaskOutcome::Stopped);
    the_worker_survives(&pool);
    // A task dropped unrun (cancelled) is dropped safely too.
    let gate = Gate::default();
    let blocker = {
        let gate = gate.clone();
        pool.run(Task::new(move || gate.wait())).unwrap()
    };
    let capture = PanicsOnDrop;
    let queued = pool
        .run(Task::new(move || {
            let _keep = &capture;
        }))
        .unwrap();
    queued.stop();
    assert_eq!(outcome(&queued), TaskOutcome::Cancelled);
    gate.open();
    assert_eq!(outcome(&blocker), TaskOutcome::Succeeded);
    the_worker_survives(&pool);
}

/// A probe that gives one reading, then panics on every later one.
struct PanicsAfterOneReading(usize);

impl atp::LoadProbe for PanicsAfterOneReading {
    fn read(&mut self) -> atp::LoadReading {
        self.0 += 1;
        assert!(self.0 < 2, "a probe that panics");
        atp::LoadReading::new(Some(0.0), Some(0.0), 2.0, Some(1 << 34), Some(1 << 35))
    }
}

#[test]
fn a_load_probe_that_panics_does_not_stop_the_pool_growing() {
    let pool = ThreadPool::builder()
        .min_workers(1)
        .max_workers(8)
        .load_probe(PanicsAfterOneReading(0))
        .build()
        .unwrap();
    // Six tasks that wait for each other need five more workers than the minimum.
    let barrier = Arc::new(Barrier::new(6));
    let handles: Vec<_> = (0..6)
        .map(|_| {
            let barrier = Arc::clone(&barrier);
            pool.run(Task::new(move || {
                barrier.wait();
            }))
            .unwrap()
        })
        .collect();
    for handle in &handles {
        assert_eq!(outcome(handle), TaskOutcome::Succeeded);
    }
    assert_eq!(pool.stats().peak_workers, 6);
}

/// Runs `f` on another thread and returns its result, or fails the test if it takes
/// longer than [`PATIENCE`] (a deadlock would otherwise hang the test run).
fn within_patience<R: Send + 'static>(what: &str, f: impl FnOnce() -> R + Send + 'static) -> R {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || tx.send(f()).unwrap());
    rx.recv_timeout(PATIENCE)
        .unwrap_or_else(|_| panic!("deadlock: {what} never returned"))
}

#[test]
fn a_task_and_the_main_thread_can_both_shut_the_pool_down() {
    for _ in 0..20 {
        let pool = Arc::new(ThreadPool::builder().fixed_workers(2).build().unwrap());
        let barrier = Arc::new(Barrier::new(2));
        let inside = {
            let (pool_in_task, barrier) = (Arc::clone(&pool), Arc::clone(&barrier));
            pool.run(Task::new(move || {
                barrier.wait();
                pool_in_task.shutdown();
            }))
            .unwrap()
        };
        barrier.wait();
        let outside = Arc::clone(&pool);
        within_patience("shutdown from outside and from a task", move || {
            outside.shutdown()
        });
        assert_eq!(outcome(&inside), TaskOutcome::Succeeded);
        assert_eq!(pool.stats().live, 0);
    }
}

#[test]
fn two_tasks_can_shut_their_pool_down_at_once() {
    for _ in 0..20 {
        let pool = Arc::new(ThreadPool::builder().fixed_workers(2).build().unwrap());
        let barrier = Arc::new(Barrier::new(2));
        let handles: Vec<_> = (0..2)
            .map(|_| {
                let (pool_in_task, barrier) = (Arc::clone(&pool), Arc::clone(&barrier));
                pool.run(Task::new(move || {
                    barrier.wait();
                    pool_in_task.shutdown();
                }))
                .unwrap()
            })
            .collect();
        let outside = Arc::clone(&pool);
        within_patience("two shutdowns from tasks", move || {
            for handle in &handles {
                assert_eq!(outcome(handle), TaskOutcome::Succeeded);
            }
            outside.shutdown()
        });
        assert_eq!(pool.stats().live, 0);
    }
}
