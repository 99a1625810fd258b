//! Counting a pool's threads by name, and a gate for blocked tasks, for the pool's
//! test binaries (each includes this module with `mod threads;`).

#![allow(dead_code)] // each test binary uses a different subset

/// Names of this process's live threads (Linux keeps the first 15 bytes).
pub fn thread_names() -> Vec<String> {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return Vec::new();
    };
    tasks
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
        .map(|name| name.trim_end().to_owned())
        .collect()
}

/// Live threads (workers and monitor) of the pool whose thread names start with
/// `prefix`. Prefixes in these tests start with `P-` so that they never match the
/// test harness's threads, which are named after the tests.
pub fn threads_named(prefix: &str) -> usize {
    thread_names()
        .iter()
        .filter(|n| n.starts_with(prefix))
        .count()
}

/// Live worker threads of the pool named `prefix`: threads named `<prefix>-<slot>`
/// (the monitor is `<prefix>-monitor`).
pub fn workers_named(prefix: &str) -> usize {
    thread_names()
        .iter()
        .filter_map(|n| n.strip_prefix(prefix)?.strip_prefix('-'))
        .filter(|slot| slot.parse::<usize>().is_ok())
        .count()
}

/// A gate that blocked tasks wait on until it is opened.
#[derive(Clone, Default)]
pub struct Gate(std::sync::Arc<(std::sync::Mutex<bool>, std::sync::Condvar)>);

impl Gate {
    /// Blocks until the gate is opened.
    pub fn wait(&self) {
        let (open, cv) = &*self.0;
        let mut open = open.lock().unwrap();
        while !*open {
            open = cv.wait(open).unwrap();
        }
    }

    /// Opens the gate for every waiter, now and later.
    pub fn open(&self) {
        let (open, cv) = &*self.0;
        *open.lock().unwrap() = true;
        cv.notify_all();
    }
}
