//! The API a Rust user expects of a pool: handles that return the task's value or its
//! panic, `spawn`, one-shot callbacks that consume their captures, submission errors
//! that give the task back, waiting until idle without shutting down, a shutdown with
//! a time limit, infinite tasks that stop themselves, cheap clones of the pool and what
//! dropping them does, the global pool that no one user can shut down, and the
//! conventional traits. Conditions are polled with generous deadlines, never asserted
//! after a fixed sleep.

use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, mpsc};
use std::time::{Duration, Instant};

mod threads;

use atp::{Failure, FailureKind, StopToken, SubmitError, Task, TaskOutcome, ThreadPool};
use threads::threads_named;

const PATIENCE: Duration = Duration::from_secs(30);

/// Polls `condition` until it holds; panics with `what` after [`PATIENCE`].
fn eventually(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + PATIENCE;
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// A gate that blocked tasks wait on until it is opened.
#[derive(Clone, Default)]
struct Gate(Arc<(Mutex<bool>, Condvar)>);

impl Gate {
    fn wait(&self) {
        let (open, cv) = &*self.0;
        let mut open = open.lock().unwrap();
        while !*open {
            open = cv.wait(open).unwrap();
        }
    }
    fn open(&self) {
        let (open, cv) = &*self.0;
        *open.lock().unwrap() = true;
        cv.notify_all();
    }
}

fn fixed(n: usize, name: &str) -> ThreadPool {
    ThreadPool::builder()
        .fixed_workers(n)
        .thread_name(name)
        .build()
        .unwrap()
}

/// Silences the report of the failures these tests cause on purpose.
fn quiet() -> impl FnOnce(Failure) {
    drop
}

#[test]
fn spawn_joins_to_the_closures_value() {
    let pool = fixed(2, "P-spawn");
    let handles: Vec<_> = (0..20u64)
        .map(|n| pool.spawn(move || n * 3).unwrap())
        .collect();
    let values: Vec<u64> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    assert_eq!(values, (0..20u64).map(|n| n * 3).collect::<Vec<_>>());
}

#[test]
fn join_gives_back_the_panic_payload_for_resume_unwind() {
    #[derive(Debug, PartialEq)]
    struct Custom(u32);
    let pool = fixed(1, "P-payload");
    let failure = pool
        .spawn(|| -> u8 { std::panic::panic_any(Custom(7)) })
        .unwrap()
        .join()
        .unwrap_err();
    assert_eq!(failure.kind(), FailureKind::Panicked);
    assert!(failure.is_panic());
    let unwound = std::panic::catch_unwind(AssertUnwindSafe(|| failure.resume_unwind()));
    let payload = unwound.unwrap_err();
    assert_eq!(payload.downcast_ref::<Custom>(), Some(&Custom(7)));

    let payload = pool
        .run(Task::new(|| -> u8 { panic!("in a task") }))
        .unwrap()
        .join()
        .unwrap_err()
        .into_panic()
        .expect("a panic keeps its payload");
    assert_eq!(*payload.downcast::<&str>().unwrap(), "in a task");
}

#[test]
fn join_returns_the_error_of_a_fallible_task() {
    let pool = fixed(1, "P-fallible");
    let failure = pool
        .run(Task::fallible(|| "x1".parse::<u32>()))
        .unwrap()
        .join()
        .unwrap_err();
    assert_eq!(failure.kind(), FailureKind::Errored);
    assert!(!failure.is_panic());
    let error = failure.into_error().unwrap();
    assert!(error.downcast_ref::<std::num::ParseIntError>().is_some());
    let ok = pool.run(Task::fallible(|| "41".parse::<u32>())).unwrap();
    assert_eq!(ok.join().unwrap(), 41);
}

#[test]
fn join_of_a_task_stopped_while_queued_is_a_cancelled_failure() {
    let pool = fixed(1, "P-cancel");
    let gate = Gate::default();
    let blocker = {
        let gate = gate.clone();
        pool.spawn(move || gate.wait()).unwrap()
    };
    let queued = pool.spawn(|| 5).unwrap();
    queued.stop();
    gate.open();
    blocker.join().unwrap();
    assert_eq!(queued.wait(), TaskOutcome::Cancelled);
    let failure = queued.join().unwrap_err();
    assert_eq!(failure.kind(), FailureKind::Cancelled);
    assert!(!failure.is_panic());
}

#[test]
fn the_success_callback_is_fn_once_and_join_returns_what_it_returns() {
    let pool = fixed(1, "P-once");
    // A sender that is consumed (moved out and dropped): only an FnOnce can do that.
    let (tx, rx) = mpsc::sync_channel::<u32>(1);
    let task = Task::new(|| 20).on_success(move |n| {
        tx.send(n).unwrap();
        drop(tx);
        n + 1
    });
    let handle = pool.run(task).unwrap();
    assert_eq!(handle.join().unwrap(), 21);
    assert_eq!(rx.recv().unwrap(), 20);
    // The sender went with the callback: the channel is closed.
    assert!(rx.recv().is_err());

    // Stages chain, like `Result::map`.
    let task = Task::new(|| 2).on_success(|n| n * 10).on_success(|n| n + 1);
    assert_eq!(pool.run(task).unwrap().join().unwrap(), 21);
}

#[test]
fn the_failure_callback_is_fn_once_and_join_gets_a_copy_without_the_payload() {
    let pool = fixed(1, "P-fail-once");
    let (tx, rx) = mpsc::sync_channel::<Failure>(1);
    let task = Task::new(|| -> u32 { panic!("boom") }).on_failure(move |failure| {
        tx.send(failure).unwrap();
        drop(tx);
    });
    let copy = pool.run(task).unwrap().join().unwrap_err();
    let original = rx.recv().unwrap();
    assert!(rx.recv().is_err(), "the callback consumed its sender");
    assert!(original.is_panic(), "the callback got the payload");
    assert!(!copy.is_panic(), "the handle got a copy without it");
    assert_eq!(copy.kind(), FailureKind::Panicked);
    assert_eq!(copy.message(), "boom");
    assert_eq!(copy.task_id(), original.task_id());
    assert_eq!(copy.location(), original.location());
}

#[test]
fn a_refused_submission_gives_the_task_back() {
    let pool = fixed(1, "P-refused");
    pool.shutdown();
    let other = fixed(1, "P-refused-2");

    let task = Task::new(|| "ran elsewhere");
    let err = pool.run(task).unwrap_err();
    assert!(matches!(err, SubmitError::ShutDown(_)));
    assert_eq!(
        err.to_string(),
        "the pool is shut down and accepts no new tasks"
    );
    let task = err.into_task();
    assert_eq!(other.run(task).unwrap().join().unwrap(), "ran elsewhere");

    let infinite = Task::infinite(|stop: &StopToken| stop.stop());
    let infinite = pool.run(infinite).unwrap_err().into_task();
    assert_eq!(other.run(infinite).unwrap().wait(), TaskOutcome::Stopped);

    let closure = pool.spawn(|| 3).unwrap_err().into_task();
    assert_eq!(closure(), 3);
    let (tx, rx) = mpsc::channel();
    let closure = pool.execute(move || tx.send(4).unwrap()).unwrap_err();
    closure.into_task()();
    assert_eq!(rx.recv().unwrap(), 4);
}

#[test]
fn wait_idle_waits_for_queued_and_running_tasks_without_shutting_down() {
    let pool = fixed(2, "P-idle");
    let gate = Gate::default();
    let done = Arc::new(AtomicUsize::new(0));
    for _ in 0..6 {
        let (gate, done) = (gate.clone(), Arc::clone(&done));
        pool.execute(move || {
            gate.wait();
            done.fetch_add(1, Ordering::SeqCst);
        })
        .unwrap();
    }
    let returned = Arc::new(AtomicUsize::new(0));
    let waiter = {
        let (pool, returned) = (pool.clone(), Arc::clone(&returned));
        std::thread::spawn(move || {
            pool.wait_idle();
            returned.store(1, Ordering::SeqCst);
        })
    };
    // With every task blocked, wait_idle cannot have returned, however long we look.
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(returned.load(Ordering::SeqCst), 0);
    gate.open();
    waiter.join().unwrap();
    assert_eq!(done.load(Ordering::SeqCst), 6);
    assert_eq!(pool.stats().queued, 0);
    // Not shut down: it still runs tasks, and idle again returns at once.
    assert_eq!(pool.spawn(|| 1).unwrap().join().unwrap(), 1);
    pool.wait_idle();
}

#[test]
fn shutdown_timeout_gives_up_on_a_blocked_task_and_succeeds_once_it_ends() {
    let pool = fixed(1, "P-timeout");
    let gate = Gate::default();
    let blocked = {
        let gate = gate.clone();
        pool.spawn(move || gate.wait()).unwrap()
    };
    assert_eq!(pool.shutdown_timeout(Duration::from_millis(20)), None);
    assert!(pool.execute(|| ()).is_err(), "shutting down: no new tasks");
    gate.open();
    let report = pool.shutdown_timeout(PATIENCE).expect("every thread exits");
    assert_eq!(report.cancelled, 0);
    assert_eq!(blocked.wait(), TaskOutcome::Succeeded);
    assert_eq!(threads_named("P-timeout"), 0);
}

#[test]
fn shutdown_timeout_from_a_task_waits_for_the_other_workers_only() {
    let pool = fixed(2, "P-inside-tmo");
    let gate = Gate::default();
    let blocked = {
        let gate = gate.clone();
        pool.spawn(move || gate.wait()).unwrap()
    };
    eventually("the blocked task runs", || pool.stats().busy == 1);
    let inside = pool.clone();
    let (tx, rx) = mpsc::channel();
    pool.execute(move || {
        // The other worker is blocked: a short wait gives up...
        let first = inside.shutdown_timeout(Duration::from_millis(20));
        tx.send(first.is_none()).unwrap();
        // ...and a long one returns once it has finished, not waiting for itself.
        tx.send(inside.shutdown_timeout(PATIENCE).is_some())
            .unwrap();
    })
    .unwrap();
    assert!(
        rx.recv().unwrap(),
        "gave up while the other worker was blocked"
    );
    gate.open();
    assert!(
        rx.recv().unwrap(),
        "returned once the other worker had finished"
    );
    assert_eq!(blocked.wait(), TaskOutcome::Succeeded);
    assert!(pool.shutdown_timeout(PATIENCE).is_some());
    assert_eq!(threads_named("P-inside-tmo"), 0);
}

#[test]
fn an_infinite_task_stops_itself_through_its_token() {
    let pool = fixed(1, "P-self-stop");
    let runs = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&runs);
    let handle = pool
        .run(Task::infinite(move |stop: &StopToken| {
            if counted.fetch_add(1, Ordering::SeqCst) + 1 == 3 {
                stop.stop();
            }
        }))
        .unwrap();
    assert_eq!(handle.wait(), TaskOutcome::Stopped);
    assert_eq!(handle.runs(), 3);
    assert_eq!(runs.load(Ordering::SeqCst), 3);
    handle.join().unwrap();
}

#[test]
fn a_stop_token_can_be_made_and_stopped_outside_a_pool() {
    let token = StopToken::new();
    assert!(!token.is_stopped());
    let clone = token.clone();
    let sleeper = std::thread::spawn(move || clone.sleep(PATIENCE));
    token.stop();
    assert!(sleeper.join().unwrap(), "stopping wakes a sleeping token");
    assert!(token.is_stopped());
    assert_ne!(StopToken::default().task_id(), token.task_id());
}

#[test]
fn a_clone_submits_to_the_same_pool_and_the_pool_lives_while_any_clone_does() {
    let pool = fixed(2, "P-clone");
    let clone = pool.clone();
    let (tx, rx) = mpsc::channel();
    let inner = clone.clone();
    pool.execute(move || {
        inner
            .execute(move || {
                let name = std::thread::current().name().map(str::to_owned);
                tx.send(name).unwrap();
            })
            .unwrap();
    })
    .unwrap();
    let name = rx.recv().unwrap().unwrap();
    assert!(name.starts_with("P-clone-"), "{name}");
    drop(pool);
    // Dropping one handle does not shut the pool down.
    assert_eq!(clone.spawn(|| 9).unwrap().join().unwrap(), 9);
    assert_eq!(clone.stats().live, 2);
    drop(clone);
    eventually("the last handle's drop shuts the pool down", || {
        threads_named("P-clone") == 0
    });
}

#[test]
fn a_one_shot_task_holding_a_clone_lets_the_pool_go_after_it_ran() {
    let pool = fixed(1, "P-held");
    let gate = Gate::default();
    let held = pool.clone();
    let task_gate = gate.clone();
    pool.execute(move || {
        task_gate.wait();
        drop(held);
    })
    .unwrap();
    drop(pool);
    // The task's clone keeps the pool up while the task waits...
    eventually("the worker has started", || threads_named("P-held") == 1);
    std::thread::sleep(Duration::from_millis(20));
    assert_eq!(threads_named("P-held"), 1);
    gate.open();
    // ...and it is the last handle: once the task ran, the pool shuts down.
    eventually(
        "the pool shuts down after the task dropped its clone",
        || threads_named("P-held") == 0,
    );
}

#[test]
fn a_self_resubmitting_task_with_a_weak_handle_does_not_keep_the_pool_alive() {
    let pool = fixed(2, "P-weak");
    let runs = Arc::new(AtomicUsize::new(0));

    fn again(pool: atp::WeakThreadPool, runs: Arc<AtomicUsize>) {
        runs.fetch_add(1, Ordering::SeqCst);
        std::thread::sleep(Duration::from_millis(1));
        if let Some(strong) = pool.upgrade() {
            let weak = pool.clone();
            // Refused once the pool shuts down: the chain ends.
            let _ = strong.execute(move || again(weak, runs));
        }
    }
    let weak = pool.downgrade();
    let counted = Arc::clone(&runs);
    pool.execute(move || again(weak.clone(), counted)).unwrap();
    eventually("the chain runs", || runs.load(Ordering::SeqCst) > 5);
    let weak = pool.downgrade();
    drop(pool);
    eventually("the user's drop shuts the pool down", || {
        threads_named("P-weak") == 0
    });
    assert!(weak.upgrade().is_none());
}

#[test]
fn the_global_pool_cannot_be_shut_down_by_one_user() {
    let global = atp::global();
    assert_eq!(global.shutdown().cancelled, 0);
    assert_eq!(global.shutdown_now().cancelled, 0);
    assert_eq!(global.shutdown_timeout(Duration::ZERO), None);
    // Dropping clones of it does nothing either.
    drop(global.clone());
    let handle = atp::async_call(Task::new(|| "still running"), None).unwrap();
    assert_eq!(handle.join().unwrap(), "still running");
    assert_eq!(global.spawn(|| 1).unwrap().join().unwrap(), 1);
}

#[test]
fn outcomes_and_failure_kinds_display_in_words() {
    let words: Vec<String> = [
        TaskOutcome::Succeeded,
        TaskOutcome::Failed,
        TaskOutcome::Stopped,
        TaskOutcome::Cancelled,
    ]
    .iter()
    .map(ToString::to_string)
    .collect();
    assert_eq!(words, ["succeeded", "failed", "stopped", "cancelled"]);
    assert_eq!(FailureKind::Panicked.to_string(), "panicked");
    assert_eq!(FailureKind::Errored.to_string(), "failed");
    assert_eq!(
        FailureKind::Cancelled.to_string(),
        "was cancelled before it ran"
    );
    let pool = fixed(1, "P-display");
    let task = Task::new(|| -> u8 { panic!("odd") }).on_failure(quiet());
    let failure = pool.run(task).unwrap().join().unwrap_err();
    assert!(failure.to_string().contains(" panicked: odd"), "{failure}");
}

#[test]
fn every_public_type_has_a_debug_form() {
    let pool = fixed(1, "P-debug");
    let handle = pool.spawn(|| 1).unwrap();
    let task = Task::new(|| 1);
    let infinite = Task::infinite(|_: &StopToken| ());
    let texts = [
        format!("{pool:?}"),
        format!("{:?}", pool.downgrade()),
        format!("{handle:?}"),
        format!("{task:?}"),
        format!("{infinite:?}"),
        format!("{:?}", StopToken::new()),
        format!("{:?}", ThreadPool::builder()),
        format!("{:?}", pool.config()),
        format!("{:?}", pool.stats()),
        format!("{:?}", pool.run(Task::new(|| 1)).unwrap()),
    ];
    for (text, prefix) in texts.iter().zip([
        "ThreadPool",
        "WeakThreadPool",
        "TaskHandle",
        "Task",
        "InfiniteTask",
        "StopToken",
        "Builder",
        "Config",
        "Stats",
        "TaskHandle",
    ]) {
        assert!(text.starts_with(prefix), "{text}");
    }
    pool.shutdown();
    let refused = pool.run(Task::new(|| 1)).unwrap_err();
    assert_eq!(format!("{refused:?}"), "ShutDown(..)");
}
