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

/// The threads whose names start with `prefix`, each as its name, its scheduler
/// state and its kernel flags (fields 3 and 9 of `/proc/self/task/TID/stat`), for
/// failure messages: a thread whose flags include `PF_EXITING` (0x4) has left user
/// space for good and is on its way out of the kernel.
pub fn thread_states(prefix: &str) -> Vec<String> {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return Vec::new();
    };
    tasks
        .filter_map(|task| {
            let path = task.ok()?.path();
            let name = std::fs::read_to_string(path.join("comm")).ok()?;
            let name = name.trim_end();
            if !name.starts_with(prefix) {
                return None;
            }
            let stat = std::fs::read_to_string(path.join("stat")).unwrap_or_default();
            // After the name in parentheses: state, ppid, pgrp, session, tty_nr,
            // tpgid, flags.
            let fields: Vec<&str> = stat
                .rsplit_once(')')
                .map_or(Vec::new(), |(_, rest)| rest.split_whitespace().collect());
            let flags = fields.get(6).and_then(|f| f.parse::<u64>().ok());
            Some(format!(
                "{name} state {} flags {}",
                fields.first().unwrap_or(&"?"),
                flags.map_or("?".to_owned(), |f| format!("{f:#x}"))
            ))
        })
        .collect()
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
