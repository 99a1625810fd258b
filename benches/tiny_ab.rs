//! Same-process A/B of tiny-task throughput, interleaved so that a busy machine
//! slows every contender alike: rounds of N = 100 000 tasks that each bump an atomic,
//! waited for through [`common::Latch`], on 2 threads each. For every contender it
//! prints the median wall time and the median CPU time of the whole process per round
//! (getrusage, all threads: the cost of the work, whatever else the machine runs).
//!
//! Contenders:
//! - `execute`: atp's `execute` (no handle);
//! - `spawn`, `run`: atp's `spawn(f)` and `run(Task::new(f))`, keeping every handle
//!   and joining them all once the latch opened (inside the timing) — how a handle is
//!   used;
//! - `spawn-detached`, `run-detached`: the same, dropping each handle as soon as it
//!   is returned (detaching the task: what `execute` is for). The task's memory is
//!   then freed by the worker that ran it and allocated again by the submitting
//!   thread, which costs glibc's allocator more than a free on the thread that
//!   allocated;
//! - `threadpool`: the `threadpool` crate's `execute`.
//!
//! Each runs in two shapes:
//! - as users write it: the closure is handed to the pool as is
//!   (`pool.spawn(move || ..)`), and each pool stores it the way it stores closures
//!   (the `threadpool` crate boxes it; atp keeps it inline in the task's one
//!   allocation);
//! - `boxed`: every contender gets the same `Box<dyn FnOnce>`, an allocation of its
//!   own before the pool's (what a caller that already holds boxed closures pays).
//!
//! `cargo bench --bench tiny_ab -- execute spawn run threadpool` (`ROUNDS=15` by
//! default; with no names, every contender; a name suffixed `/boxed` or `/closure`
//! runs one shape only).

use std::cell::RefCell;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use nix::sys::resource::{UsageWho, getrusage};

mod common;
use common::Latch;

const TASKS: usize = 100_000;
const THREADS: usize = 2;

/// CPU time (user + system) of the whole process so far.
fn cpu() -> Duration {
    let usage = getrusage(UsageWho::RUSAGE_SELF).expect("getrusage");
    let micros = |tv: nix::sys::time::TimeVal| {
        Duration::from_secs(tv.tv_sec() as u64) + Duration::from_micros(tv.tv_usec() as u64)
    };
    micros(usage.user_time()) + micros(usage.system_time())
}

/// A contender: how it submits a closure, and the handles it keeps.
enum Contender<'a> {
    Execute(&'a atp::ThreadPool),
    Spawn(&'a atp::ThreadPool, RefCell<Vec<atp::TaskHandle>>),
    SpawnDetached(&'a atp::ThreadPool),
    Run(&'a atp::ThreadPool, RefCell<Vec<atp::TaskHandle>>),
    RunDetached(&'a atp::ThreadPool),
    Threadpool(&'a threadpool::ThreadPool),
}

impl<'a> Contender<'a> {
    fn new(name: &str, pool: &'a atp::ThreadPool, other: &'a threadpool::ThreadPool) -> Self {
        match name {
            "execute" => Contender::Execute(pool),
            "spawn" => Contender::Spawn(pool, RefCell::new(Vec::with_capacity(TASKS))),
            "spawn-detached" => Contender::SpawnDetached(pool),
            "run" => Contender::Run(pool, RefCell::new(Vec::with_capacity(TASKS))),
            "run-detached" => Contender::RunDetached(pool),
            "threadpool" => Contender::Threadpool(other),
            other => panic!(
                "unknown contender {other}: write execute, spawn, spawn-detached, run, \
                 run-detached or threadpool"
            ),
        }
    }

    fn submit<F: FnOnce() + Send + 'static>(&self, f: F) {
        match self {
            Contender::Execute(pool) => pool.execute(f).unwrap(),
            Contender::Spawn(pool, handles) => handles.borrow_mut().push(pool.spawn(f).unwrap()),
            Contender::SpawnDetached(pool) => drop(pool.spawn(f).unwrap()),
            Contender::Run(pool, handles) => handles
                .borrow_mut()
                .push(pool.run(atp::Task::new(f)).unwrap()),
            Contender::RunDetached(pool) => drop(pool.run(atp::Task::new(f)).unwrap()),
            Contender::Threadpool(pool) => pool.execute(f),
        }
    }

    /// Joins the handles kept, if any.
    fn join(&self) {
        if let Contender::Spawn(_, handles) | Contender::Run(_, handles) = self {
            for handle in handles.borrow_mut().drain(..) {
                handle.join().unwrap();
            }
        }
    }
}

/// Submits `TASKS` tiny tasks through `pool`, boxed first or not, and waits for
/// them (and joins their handles); returns (wall, cpu).
fn round(pool: &Contender<'_>, boxed: bool) -> (Duration, Duration) {
    let counter = Arc::new(AtomicUsize::new(0));
    let latch = Arc::new(Latch::new(TASKS));
    let (wall, cpu0) = (Instant::now(), cpu());
    for _ in 0..TASKS {
        let (counter, latch) = (Arc::clone(&counter), Arc::clone(&latch));
        let task = move || {
            std::hint::black_box(counter.fetch_add(1, Ordering::Relaxed));
            latch.count_down();
        };
        if boxed {
            let task: Box<dyn FnOnce() + Send> = Box::new(task);
            pool.submit(task);
        } else {
            pool.submit(task);
        }
    }
    latch.wait();
    pool.join();
    (wall.elapsed(), cpu() - cpu0)
}

fn median(mut values: Vec<Duration>) -> Duration {
    values.sort();
    values[values.len() / 2]
}

fn main() {
    // `cargo bench` passes `--bench`; the rest are contender names.
    let mut names: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    if names.is_empty() {
        names = [
            "execute",
            "spawn",
            "spawn-detached",
            "run",
            "run-detached",
            "threadpool",
        ]
        .map(String::from)
        .to_vec();
    }
    let rows: Vec<(String, bool)> = names
        .iter()
        .flat_map(|name| match name.split_once('/') {
            Some((name, "boxed")) => vec![(name.to_string(), true)],
            Some((name, "closure")) => vec![(name.to_string(), false)],
            Some((_, shape)) => panic!("unknown shape {shape}: write boxed or closure"),
            None => vec![(name.clone(), false), (name.clone(), true)],
        })
        .collect();
    let rounds: usize = std::env::var("ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(15);
    let pool = atp::ThreadPool::builder()
        .fixed_workers(THREADS)
        .build()
        .unwrap();
    let other = threadpool::ThreadPool::new(THREADS);
    // Built once: a contender's vector of handles is allocated once, outside the
    // timing, and reused by every round.
    let contenders: Vec<Contender<'_>> = rows
        .iter()
        .map(|(name, _)| Contender::new(name, &pool, &other))
        .collect();
    let mut times: Vec<(Vec<Duration>, Vec<Duration>)> = vec![(Vec::new(), Vec::new()); rows.len()];
    for _ in 0..rounds {
        for (((_, boxed), contender), (walls, cpus)) in
            rows.iter().zip(&contenders).zip(times.iter_mut())
        {
            let (wall, cpu) = round(contender, *boxed);
            walls.push(wall);
            cpus.push(cpu);
        }
    }
    println!("{TASKS} tiny tasks on {THREADS} threads, median of {rounds} interleaved rounds:");
    for ((name, boxed), (walls, cpus)) in rows.iter().zip(times) {
        let name = format!("{name}{}", if *boxed { " (boxed)" } else { "" });
        println!(
            "{name:<25} wall {:>7.1} ms   cpu {:>7.1} ms",
            median(walls).as_secs_f64() * 1e3,
            median(cpus).as_secs_f64() * 1e3
        );
    }
}
