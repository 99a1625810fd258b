//! How many heap allocations submitting a task costs: `run(Task::new(f))` no more
//! than `spawn(f)` (one: the cell the queue and the handle share), and building a
//! task with a success callback none at all — a task's body is stored inline.
//!
//! A counting global allocator counts the allocations of the thread that asks for
//! them (a thread-local counter), so the pool's workers and the tests running beside
//! each other in this binary do not disturb the counts. It needs `unsafe impl
//! GlobalAlloc`; the library forbids unsafe code, but this test binary is a crate of
//! its own, and it only forwards to the system allocator.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use atp::{Task, ThreadPool};

struct Counting;

thread_local! {
    // `const` and without `Drop`: using it never allocates, so the allocator may.
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

fn count_one() {
    let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
}

// SAFETY: every call is forwarded unchanged to the system allocator; counting
// touches only a thread-local `Cell`, which neither allocates nor panics.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count_one();
        // SAFETY: the caller's contract for `alloc`, passed on.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count_one();
        // SAFETY: the caller's contract for `alloc_zeroed`, passed on.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count_one();
        // SAFETY: the caller's contract for `realloc`, passed on.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller's contract for `dealloc`, passed on.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// The allocations this thread makes while `f` runs.
fn allocations_in(f: impl FnOnce()) -> usize {
    let before = ALLOCATIONS.with(Cell::get);
    f();
    ALLOCATIONS.with(Cell::get) - before
}

const TASKS: usize = 1000;

#[test]
fn run_of_a_task_allocates_no_more_than_spawn() {
    let pool = ThreadPool::builder().fixed_workers(1).build().unwrap();
    // The closures capture a value, as real ones do: a zero-sized closure would
    // need no allocation of its own even boxed.
    let spawn_some = |n: u64| drop(pool.spawn(move || n).unwrap());
    let run_some = |n: u64| {
        drop(
            pool.run(Task::new(move || n).on_success(|n| n + 1))
                .unwrap(),
        )
    };
    // Warm up: the queue reaches its size, lazily set-up state is set up.
    for _ in 0..2 {
        for n in 0..TASKS as u64 {
            spawn_some(n);
            run_some(n);
        }
        pool.wait_idle();
    }

    let spawn = allocations_in(|| (0..TASKS as u64).for_each(spawn_some));
    pool.wait_idle();
    let run = allocations_in(|| (0..TASKS as u64).for_each(run_some));
    pool.wait_idle();

    assert!(
        spawn >= TASKS,
        "spawn allocated {spawn} times for {TASKS} tasks"
    );
    // A second allocation per task would be TASKS more; the slack is for a queue
    // that allocates in blocks, whose boundaries may fall differently.
    assert!(
        run <= spawn + TASKS / 10,
        "run(Task::new(f).on_success(g)) allocated {run} times for {TASKS} tasks, \
         spawn(f) {spawn} times"
    );
    pool.shutdown();
}

#[test]
fn building_a_task_allocates_only_for_a_failure_callback_or_boxed() {
    // Capturing closures, which boxed would need an allocation.
    let (base, factor) = (20u64, 2u64);
    let mut task = None;
    let inline = allocations_in(|| {
        task = Some(
            Task::new(move || base)
                .on_success(|n| n + 1)
                .on_success(move |n| n * factor),
        );
    });
    assert_eq!(
        inline, 0,
        "Task::new(f).on_success(g).on_success(h) allocated"
    );

    let task = task.unwrap();
    let mut boxed = None;
    let boxing = allocations_in(|| boxed = Some(task.boxed()));
    assert_eq!(boxing, 1, "boxed() allocates the body once");
    let boxed = boxed.unwrap();
    let mut again = None;
    let reboxing = allocations_in(|| again = Some(boxed.boxed()));
    assert_eq!(reboxing, 0, "boxed() of a boxed task allocates again");

    let label = String::from("failed");
    let mut with_failure = None;
    let failure_callback = allocations_in(|| {
        with_failure = Some(Task::new(|| 1).on_failure(move |_| drop(label)));
    });
    assert_eq!(
        failure_callback, 1,
        "on_failure allocates its callback once"
    );

    let pool = ThreadPool::builder().fixed_workers(1).build().unwrap();
    assert_eq!(pool.run(again.unwrap()).unwrap().join().unwrap(), 42);
    assert_eq!(pool.run(with_failure.unwrap()).unwrap().join().unwrap(), 1);
    pool.shutdown();
}
