//! A panic hook the program set before building a pool still sees task panics, and
//! the failure still carries the panic's location. (A file of its own: the panic hook
//! is per process.)

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use atp::{Task, TaskOutcome, ThreadPool};

static SEEN: AtomicUsize = AtomicUsize::new(0);

#[test]
fn the_hook_set_before_the_pool_sees_task_panics() {
    std::panic::set_hook(Box::new(|info| {
        if info.payload().downcast_ref::<&str>() == Some(&"task panic for the hook") {
            SEEN.fetch_add(1, Ordering::SeqCst);
        }
    }));
    let pool = ThreadPool::builder().fixed_workers(1).build().unwrap();
    let failures = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&failures);
    let task = Task::new(|| -> u8 { panic!("task panic for the hook") })
        .on_failure(move |failure: atp::Failure| sink.lock().unwrap().push(failure));
    let handle = pool.run(task).unwrap();
    assert_eq!(
        handle.wait_timeout(Duration::from_secs(30)),
        Some(TaskOutcome::Failed)
    );
    assert_eq!(
        SEEN.load(Ordering::SeqCst),
        1,
        "the program's hook saw the panic"
    );
    let failures = failures.lock().unwrap();
    let location = failures[0].location().expect("the pool's hook ran too");
    assert!(location.contains("panic_hook.rs"), "{location}");
}
