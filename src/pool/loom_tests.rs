//! Loom models of the pool's claim/notify/shutdown protocol (see `shared.rs`), run on
//! the real pool code: under `--cfg loom`, `sync.rs` hands the pool loom's mutexes,
//! condition variables, atomics and threads, and loom explores the interleavings of
//! the pool's threads and the test's threads.
//!
//! Run them with (a separate target directory keeps the normal build intact):
//!
//! ```text
//! RUSTFLAGS="--cfg loom" CARGO_TARGET_DIR=target/loom \
//!     cargo test --release --lib loom
//! ```
//!
//! What the models can and cannot see:
//! - under loom an idle wait never times out (time is not modelled), so workers never
//!   retire and the monitor only wakes when it is kicked; a model that hangs is a
//!   lost wake-up that, with real time, would at best cost a timeout's worth of delay;
//! - a deadlock (every thread blocked) fails the model: that is how a lost wake-up
//!   shows;
//! - each model is kept to at most four threads and a bounded number of preemptions
//!   (`PREEMPTIONS` = 3; 2 for the four-thread model), the usual loom trade-off:
//!   bugs need few preemptions to show. The whole run takes about a minute on two
//!   cores; each model prints how many executions it explored (`--nocapture`);
//! - run counts are loom atomics read `Relaxed` after `shutdown`/`wait`, so a missing
//!   happens-before edge between a task's run and the caller would also fail a model;
//! - panics and worker slots are not modelled (the panic hook and the slot number
//!   are per OS thread, and loom runs its threads on one OS thread).

use std::sync::Arc;

use loom::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use super::job::SpawnCell;
use super::task_state::HandleState;
use super::{StopToken, SubmitError, Task, TaskHandle, TaskOutcome, ThreadPool};

/// Preemption bound for the models: enough for the races below, small enough that
/// each model finishes in seconds.
const PREEMPTIONS: usize = 3;

/// Checks `f` under every interleaving within the preemption bound, and prints how
/// many executions that took (with `--nocapture`), so that a model that explores
/// suspiciously little is noticed.
fn model(f: impl Fn() + Sync + Send + 'static) {
    model_with_bound(PREEMPTIONS, f);
}

/// [`model`] with another preemption bound, for the models with four busy threads.
fn model_with_bound(preemptions: usize, f: impl Fn() + Sync + Send + 'static) {
    let executions = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = Arc::clone(&executions);
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(preemptions);
    builder.check(move || {
        counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        f();
    });
    let name = std::thread::current().name().unwrap_or("?").to_owned();
    println!(
        "{name}: {} executions explored",
        executions.load(std::sync::atomic::Ordering::Relaxed)
    );
}

fn fixed_pool(workers: usize) -> ThreadPool {
    ThreadPool::builder()
        .fixed_workers(workers)
        .build()
        .expect("a fixed pool builds under loom")
}

/// A one-shot task that counts its runs in `runs`.
fn counting_task(runs: &Arc<AtomicUsize>) -> Task<()> {
    let runs = Arc::clone(runs);
    Task::new(move || {
        runs.fetch_add(1, Ordering::Relaxed);
    })
    .boxed()
}

/// After a shutdown: every thread of the pool is joined and the counters are exact.
fn assert_fully_shut_down(pool: &ThreadPool, completed: u64, cancelled: u64) {
    let stats = pool.stats();
    assert_eq!(stats.completed, completed, "{stats:?}");
    assert_eq!(stats.cancelled, cancelled, "{stats:?}");
    assert_eq!(stats.failed, 0, "{stats:?}");
    assert_eq!(
        (stats.live, stats.busy, stats.queued),
        (0, 0, 0),
        "{stats:?}"
    );
    let state = pool.shared.lock();
    assert!(state.threads.is_empty(), "every thread was joined");
    assert!(state.idle.is_empty() && state.waking == 0);
}

/// Submits two tasks and shuts down gracefully: both run exactly once, the stats
/// are exact and every worker is joined.
fn two_tasks_then_graceful_shutdown(workers: usize) {
    model(move || {
        let pool = fixed_pool(workers);
        let runs: Vec<Arc<AtomicUsize>> = (0..2).map(|_| Arc::new(AtomicUsize::new(0))).collect();
        let handles: Vec<TaskHandle> = runs
            .iter()
            .map(|r| pool.run(counting_task(r)).unwrap())
            .collect();
        let report = pool.shutdown();
        assert_eq!(report.cancelled, 0);
        for (handle, runs) in handles.iter().zip(&runs) {
            assert_eq!(handle.wait(), TaskOutcome::Succeeded);
            assert_eq!(runs.load(Ordering::Relaxed), 1);
        }
        assert_fully_shut_down(&pool, 2, 0);
    });
}

#[test]
fn loom_one_worker_two_tasks_graceful_shutdown() {
    two_tasks_then_graceful_shutdown(1);
}

#[test]
fn loom_two_workers_two_tasks_graceful_shutdown() {
    two_tasks_then_graceful_shutdown(2);
}

/// A cancelling shutdown races with a submission from another thread: each task is
/// either run once (`Succeeded`) or dropped unrun (`Cancelled`, counted in the
/// report) or refused (`ShutDown`); never lost, never run twice; every handle ends.
#[test]
fn loom_shutdown_now_races_with_a_submission() {
    model(|| {
        let pool = Arc::new(fixed_pool(1));
        let first_runs = Arc::new(AtomicUsize::new(0));
        let first = pool.run(counting_task(&first_runs)).unwrap();

        let second_runs = Arc::new(AtomicUsize::new(0));
        let submitter = {
            let pool = Arc::clone(&pool);
            let runs = Arc::clone(&second_runs);
            loom::thread::spawn(move || pool.run(counting_task(&runs)))
        };
        let report = pool.shutdown_now();
        let second = submitter.join().unwrap();

        let mut succeeded = 0;
        let mut cancelled = 0;
        let mut check = |handle: &TaskHandle, runs: &AtomicUsize| match handle.wait() {
            TaskOutcome::Succeeded => {
                assert_eq!(runs.load(Ordering::Relaxed), 1);
                succeeded += 1;
            }
            TaskOutcome::Cancelled => {
                assert_eq!(runs.load(Ordering::Relaxed), 0);
                cancelled += 1;
            }
            other => panic!("a one-shot task cannot end {other:?}"),
        };
        check(&first, &first_runs);
        match &second {
            Ok(handle) => check(handle, &second_runs),
            Err(SubmitError::ShutDown(_)) => assert_eq!(second_runs.load(Ordering::Relaxed), 0),
            Err(other) => panic!("unexpected {other}"),
        }
        assert_eq!(report.cancelled, cancelled);
        assert_fully_shut_down(&pool, succeeded, cancelled as u64);
    });
}

/// `stop` races with an infinite task's requeue (its first run returns at once, so
/// the stop can land before, during or after the requeue; later runs block in
/// `StopToken::sleep` until stopped). It ends `Stopped`, and no run starts after
/// `wait` returned.
fn stop_races_with_requeue(workers: usize) {
    model(move || {
        let pool = fixed_pool(workers);
        let runs = Arc::new(AtomicUsize::new(0));
        let waited = Arc::new(AtomicBool::new(false));
        let late_runs = Arc::new(AtomicUsize::new(0));
        let handle = {
            let (runs, waited, late_runs) = (
                Arc::clone(&runs),
                Arc::clone(&waited),
                Arc::clone(&late_runs),
            );
            pool.run(Task::infinite(move |stop| {
                if waited.load(Ordering::SeqCst) {
                    late_runs.fetch_add(1, Ordering::SeqCst);
                }
                if runs.fetch_add(1, Ordering::SeqCst) > 0 {
                    // Under loom this waits for the stop, however long it says.
                    stop.sleep(std::time::Duration::from_secs(3600));
                }
            }))
            .unwrap()
        };
        handle.stop();
        assert_eq!(handle.wait(), TaskOutcome::Stopped);
        waited.store(true, Ordering::SeqCst);
        let runs_at_wait = runs.load(Ordering::SeqCst);
        pool.shutdown();
        assert_eq!(
            late_runs.load(Ordering::SeqCst),
            0,
            "a run started after wait()"
        );
        assert_eq!(runs.load(Ordering::SeqCst), runs_at_wait);
        assert_eq!(handle.runs() as usize, runs_at_wait);
        // Every run is counted; a queued run that the stop removed (or that a worker
        // dropped because the stop came first) is counted as cancelled.
        let stats = pool.stats();
        assert_eq!(stats.completed, runs_at_wait as u64, "{stats:?}");
        assert!(stats.cancelled <= 1, "{stats:?}");
        if runs_at_wait == 0 {
            assert_eq!(stats.cancelled, 1, "a task that never ran was cancelled");
        }
        assert_eq!((stats.live, stats.queued), (0, 0));
    });
}

#[test]
fn loom_stop_races_with_requeue_one_worker() {
    stop_races_with_requeue(1);
}

#[test]
fn loom_stop_races_with_requeue_two_workers() {
    stop_races_with_requeue(2);
}

/// The lost-wake-up case: submissions race with a worker that is just starting or
/// just finishing a task and about to go idle. Each task runs (a lost wake-up would
/// leave `wait` blocked forever, which loom reports as a deadlock).
#[test]
fn loom_submission_races_with_a_worker_going_idle() {
    model(|| {
        let pool = fixed_pool(1);
        let runs = Arc::new(AtomicUsize::new(0));
        let first = pool.run(counting_task(&runs)).unwrap();
        let second = pool.run(counting_task(&runs)).unwrap();
        assert_eq!(first.wait(), TaskOutcome::Succeeded);
        assert_eq!(second.wait(), TaskOutcome::Succeeded);
        assert_eq!(runs.load(Ordering::Relaxed), 2);
        pool.shutdown();
        assert_fully_shut_down(&pool, 2, 0);
    });
}

/// Two submitters race with two workers going idle: the newest-first wake-up must
/// still give every task a worker.
#[test]
fn loom_two_submitters_two_idle_workers() {
    // Four threads: bound 3 takes millions of executions (ten minutes); 2 still
    // covers a submission landing between any two steps of a worker going idle.
    model_with_bound(2, || {
        let pool = Arc::new(fixed_pool(2));
        let runs = Arc::new(AtomicUsize::new(0));
        let other = {
            let (pool, runs) = (Arc::clone(&pool), Arc::clone(&runs));
            loom::thread::spawn(move || {
                let handle = pool.run(counting_task(&runs)).unwrap();
                assert_eq!(handle.wait(), TaskOutcome::Succeeded);
            })
        };
        let handle = pool.run(counting_task(&runs)).unwrap();
        assert_eq!(handle.wait(), TaskOutcome::Succeeded);
        other.join().unwrap();
        assert_eq!(runs.load(Ordering::Relaxed), 2);
        pool.shutdown();
        assert_fully_shut_down(&pool, 2, 0);
    });
}

/// An adaptive pool that starts empty: a submission finds no idle worker and kicks
/// the monitor, which must start a worker; a graceful shutdown with a task still
/// queued must let it run and then end the monitor too (under loom the monitor's
/// periodic check never fires, so only a kick can end its wait).
#[test]
fn loom_adaptive_pool_grows_from_zero_and_shuts_down() {
    model(|| {
        let pool = ThreadPool::builder()
            .min_workers(0)
            .max_workers(1)
            .build()
            .unwrap();
        let runs = Arc::new(AtomicUsize::new(0));
        let handles: Vec<TaskHandle> = (0..2)
            .map(|_| pool.run(counting_task(&runs)).unwrap())
            .collect();
        pool.shutdown();
        for handle in &handles {
            assert_eq!(handle.wait(), TaskOutcome::Succeeded);
        }
        assert_eq!(runs.load(Ordering::Relaxed), 2);
        assert_fully_shut_down(&pool, 2, 0);
    });
}

/// A graceful shutdown races with an infinite task's runs and requeues: the task ends
/// `Stopped`, the shutdown returns (so the stop reached the run blocked in
/// `StopToken::sleep`), and the worker is joined.
#[test]
fn loom_graceful_shutdown_stops_an_infinite_task() {
    model(|| {
        let pool = fixed_pool(1);
        let runs = Arc::new(AtomicUsize::new(0));
        let handle = {
            let runs = Arc::clone(&runs);
            pool.run(Task::infinite(move |stop| {
                if runs.fetch_add(1, Ordering::Relaxed) > 0 {
                    stop.sleep(std::time::Duration::from_secs(3600));
                }
            }))
            .unwrap()
        };
        let report = pool.shutdown();
        assert_eq!(handle.wait(), TaskOutcome::Stopped);
        // Queued between two runs when the shutdown began, it was dropped and
        // reported; running, it was stopped.
        assert!(report.cancelled <= 1);
        assert_eq!(report.cancelled as u64, pool.stats().cancelled);
        let runs = runs.load(Ordering::Relaxed);
        assert_eq!(handle.runs() as usize, runs);
        let stats = pool.stats();
        assert_eq!(stats.completed, runs as u64, "{stats:?}");
        assert_eq!((stats.live, stats.queued), (0, 0), "{stats:?}");
        assert!(pool.shared.lock().threads.is_empty());
    });
}

/// Two idle workers above a minimum of one time out together (a zero idle timeout
/// times out at once under loom): exactly one may retire. When the check against the
/// minimum and the decrement of `live` were two critical sections apart, both saw two
/// live workers and retired, and the task submitted then never ran.
#[test]
fn loom_workers_retiring_together_keep_the_minimum() {
    model(|| {
        let pool = ThreadPool::builder()
            .fixed_workers(1)
            .idle_timeout(std::time::Duration::ZERO)
            .build()
            .unwrap();
        // A second worker, above the minimum (a fixed pool has no monitor to retire
        // it or to replace a worker lost below the minimum).
        super::worker::start(&pool.shared).unwrap();
        let runs = Arc::new(AtomicUsize::new(0));
        let handle = pool.run(counting_task(&runs)).unwrap();
        assert_eq!(handle.wait(), TaskOutcome::Succeeded);
        assert!(pool.stats().live >= 1, "{:?}", pool.stats());
        pool.shutdown();
        assert_fully_shut_down(&pool, 1, 0);
    });
}

/// A kick after a growth: the first task holds the only worker until the second has
/// run, so the second needs a worker the monitor starts when kicked. Right after a
/// growth the monitor waits for its interval (which never passes under loom); a
/// kick that only reached a parked monitor was lost there, and the model deadlocked.
#[test]
fn loom_a_kick_right_after_a_growth_is_not_lost() {
    // Four threads (the monitor, two workers, the test): bound 3 explores 1.5
    // million executions; 2 still puts the kick between any two steps of the monitor.
    model_with_bound(2, || {
        let pool = ThreadPool::builder()
            .min_workers(0)
            .max_workers(2)
            .load_aware(false)
            .build()
            .unwrap();
        let done = Arc::new((loom::sync::Mutex::new(false), loom::sync::Condvar::new()));
        let first = {
            let done = Arc::clone(&done);
            pool.run(Task::new(move || {
                let (flag, cv) = &*done;
                let mut flag = flag.lock().unwrap();
                while !*flag {
                    flag = cv.wait(flag).unwrap();
                }
            }))
            .unwrap()
        };
        let second = {
            let done = Arc::clone(&done);
            pool.run(Task::new(move || {
                let (flag, cv) = &*done;
                *flag.lock().unwrap() = true;
                cv.notify_all();
            }))
            .unwrap()
        };
        assert_eq!(second.wait(), TaskOutcome::Succeeded);
        assert_eq!(first.wait(), TaskOutcome::Succeeded);
        pool.shutdown();
        assert_fully_shut_down(&pool, 2, 0);
    });
}

/// Two tasks call `shutdown` on their own pool while the main thread does too: every
/// call returns and every thread is joined. A shutdown once held a lock while joining,
/// and a task's shutdown waited for that lock inside the very worker being joined.
#[test]
fn loom_tasks_and_the_main_thread_shut_down_at_once() {
    model(|| {
        let pool = Arc::new(fixed_pool(2));
        // The first task may shut the pool down before the second is submitted.
        let handles: Vec<TaskHandle> = (0..2)
            .map_while(|_| {
                let inside = Arc::clone(&pool);
                pool.run(Task::new(move || {
                    inside.shutdown();
                }))
                .ok()
            })
            .collect();
        pool.shutdown();
        for handle in &handles {
            assert_eq!(handle.wait(), TaskOutcome::Succeeded);
        }
        assert_fully_shut_down(&pool, handles.len() as u64, 0);
    });
}

/// A task's end takes no lock while nobody waits (see `TaskState`): the finisher
/// stores the end and only then looks for waiters, the waiter counts itself and only
/// then looks for the end. A join racing with the run and the finish of a spawned
/// task (its result stored in its cell's slot, see `SpawnCell`) must still return,
/// with the value (a lost wake-up deadlocks the model), and so must a `wait` from a
/// second thread.
#[test]
fn loom_a_lock_free_finish_racing_with_joins_is_never_lost() {
    model(|| {
        let (mut job, state) = SpawnCell::new(|| 7u32).into_job();
        let handle = |state: &Arc<dyn HandleState<u32>>| TaskHandle {
            inner: Arc::clone(state),
            pool: std::sync::Weak::new(),
        };
        let (joiner, waiter) = (handle(&state), handle(&state));
        drop(state);
        let waiting = loom::thread::spawn(move || waiter.wait());
        let finishing = loom::thread::spawn(move || {
            assert!(!job.run_once().failed, "it ran");
            job.end();
        });
        assert_eq!(joiner.join().unwrap(), 7);
        assert_eq!(waiting.join().unwrap(), TaskOutcome::Succeeded);
        finishing.join().unwrap();
    });
}

/// `StopToken::stop` wakes a run sleeping in `StopToken::sleep` through the same
/// handshake: the sleep (whose timeout loom does not model: a plain wait) must
/// return, saying it was stopped.
#[test]
fn loom_a_stop_racing_with_a_sleep_wakes_it() {
    model(|| {
        let token = StopToken::new();
        let sleeper = token.clone();
        let sleeping =
            loom::thread::spawn(move || sleeper.sleep(std::time::Duration::from_secs(3600)));
        token.stop();
        assert!(sleeping.join().unwrap(), "the sleep saw the stop");
    });
}
