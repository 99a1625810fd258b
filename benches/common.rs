//! Shared by the benches: a countdown latch, so that every contender waits for its
//! tasks in exactly the same way (an atomic counter, and a mutex + condition variable
//! for the last task to wake the waiter).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex};

pub struct Latch {
    remaining: AtomicUsize,
    done: Mutex<bool>,
    cv: Condvar,
}

impl Latch {
    pub fn new(count: usize) -> Latch {
        Latch {
            remaining: AtomicUsize::new(count),
            done: Mutex::new(count == 0),
            cv: Condvar::new(),
        }
    }

    /// Called once by each task when it is done.
    pub fn count_down(&self) {
        if self.remaining.fetch_sub(1, Ordering::AcqRel) == 1 {
            *self.done.lock().unwrap() = true;
            self.cv.notify_all();
        }
    }

    /// Blocks until every task has counted down.
    pub fn wait(&self) {
        let mut done = self.done.lock().unwrap();
        while !*done {
            done = self.cv.wait(done).unwrap();
        }
    }
}
