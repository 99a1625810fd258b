//! Same-process A/B of tiny-task throughput, interleaved so that a busy machine
//! slows every contender alike: rounds of N = 100 000 tasks that each bump an atomic,
//! waited for through [`common::Latch`], on 2 threads each. For every contender it
//! prints the median wall time and the median CPU time of the whole process per round
//! (getrusage, all threads: the cost of the work, whatever else the machine runs).
//!
//! `cargo bench --bench tiny_ab -- execute spawn run threadpool` (`ROUNDS=15` by
//! default; contenders: `execute`, `spawn`, `run`, `threadpool`).

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

/// Submits `TASKS` tiny tasks with `submit`, waits for them; returns (wall, cpu).
fn round(mut submit: impl FnMut(Box<dyn FnOnce() + Send>)) -> (Duration, Duration) {
    let counter = Arc::new(AtomicUsize::new(0));
    let latch = Arc::new(Latch::new(TASKS));
    let (wall, cpu0) = (Instant::now(), cpu());
    for _ in 0..TASKS {
        let (counter, latch) = (Arc::clone(&counter), Arc::clone(&latch));
        submit(Box::new(move || {
            std::hint::black_box(counter.fetch_add(1, Ordering::Relaxed));
            latch.count_down();
        }));
    }
    latch.wait();
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
        names = ["execute", "spawn", "run", "threadpool"]
            .map(String::from)
            .to_vec();
    }
    let rounds: usize = std::env::var("ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(15);
    let pool = atp::ThreadPool::builder()
        .fixed_workers(THREADS)
        .build()
        .unwrap();
    let other = threadpool::ThreadPool::new(THREADS);
    let mut times: Vec<(Vec<Duration>, Vec<Duration>)> =
        vec![(Vec::new(), Vec::new()); names.len()];
    for _ in 0..rounds {
        for (name, (walls, cpus)) in names.iter().zip(times.iter_mut()) {
            let (wall, cpu) = match name.as_str() {
                "execute" => round(|job| pool.execute(job).unwrap()),
                "spawn" => round(|job| drop(pool.spawn(job).unwrap())),
                "run" => round(|job| drop(pool.run(atp::Task::new(job)).unwrap())),
                "threadpool" => round(|job| other.execute(job)),
                other => {
                    panic!("unknown contender {other}: write execute, spawn, run or threadpool")
                }
            };
            walls.push(wall);
            cpus.push(cpu);
        }
    }
    println!("{TASKS} tiny tasks on {THREADS} threads, median of {rounds} interleaved rounds:");
    for (name, (walls, cpus)) in names.iter().zip(times) {
        println!(
            "{name:<11} wall {:>7.1} ms   cpu {:>7.1} ms",
            median(walls).as_secs_f64() * 1e3,
            median(cpus).as_secs_f64() * 1e3
        );
    }
}
