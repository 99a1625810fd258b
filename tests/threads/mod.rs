//! Counting a pool's threads by name, and a gate for blocked tasks, for the pool's
//! test binaries (each includes this module with `mod threads;`).

#![allow(dead_code)] // each test binary uses a different subset

/// Names of this process's live threads (Linux keeps the first 15 bytes).
///
/// A thread the kernel is taking down (`PF_EXITING`, see [`thread_states`]) is not
/// live: it has returned from its code for good, and `JoinHandle::join` may already
/// have returned for it while `/proc/self/task` still lists it — the kernel wakes
/// the joiner when it clears the thread's id (in `mm_release`), before it unhashes
/// the thread (in `exit_notify`). Counting those made "every thread is joined"
/// assertions fail now and then on a busy machine, after correct joins.
pub fn thread_names() -> Vec<String> {
    threads()
        .into_iter()
        .filter(|thread| !thread.exiting)
        .map(|thread| thread.name)
        .collect()
}

/// A thread as `/proc/self/task/TID` shows it.
struct ProcThread {
    name: String,
    /// Scheduler state (field 3 of `stat`).
    state: String,
    /// Kernel flags (field 9 of `stat`), if they could be read.
    flags: Option<u64>,
    /// `PF_EXITING` (0x4) is set: the thread is in the kernel's exit path.
    exiting: bool,
}

/// Every thread `/proc/self/task` lists, exiting ones included.
fn threads() -> Vec<ProcThread> {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return Vec::new();
    };
    tasks
        .filter_map(|task| {
            let path = task.ok()?.path();
            let name = std::fs::read_to_string(path.join("comm")).ok()?;
            // Gone between the listing and the read: not live either.
            let stat = std::fs::read_to_string(path.join("stat")).ok()?;
            // After the name in parentheses: state, ppid, pgrp, session, tty_nr,
            // tpgid, flags.
            let fields: Vec<&str> = stat
                .rsplit_once(')')
                .map_or(Vec::new(), |(_, rest)| rest.split_whitespace().collect());
            let flags = fields.get(6).and_then(|f| f.parse::<u64>().ok());
            Some(ProcThread {
                name: name.trim_end().to_owned(),
                state: fields.first().unwrap_or(&"?").to_string(),
                flags,
                exiting: flags.is_some_and(|f| f & PF_EXITING != 0),
            })
        })
        .collect()
}

/// The kernel's "this task is exiting" flag (`include/linux/sched.h`).
const PF_EXITING: u64 = 0x4;

/// Live threads (workers and monitor) of the pool whose thread names start with
/// `prefix`. Prefixes in these tests start with `P-` so that they never match the
/// test harness's threads, which are named after the tests.
pub fn threads_named(prefix: &str) -> usize {
    thread_names()
        .iter()
        .filter(|n| n.starts_with(prefix))
        .count()
}

/// The threads whose names start with `prefix`, exiting ones included, each as its
/// name, its scheduler state and its kernel flags, for failure messages.
pub fn thread_states(prefix: &str) -> Vec<String> {
    threads()
        .into_iter()
        .filter(|thread| thread.name.starts_with(prefix))
        .map(|thread| {
            format!(
                "{} state {} flags {}{}",
                thread.name,
                thread.state,
                thread.flags.map_or("?".to_owned(), |f| format!("{f:#x}")),
                if thread.exiting { " (exiting)" } else { "" }
            )
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
