//! The load-aware controller, end to end: the pool fans out for tasks that wait and
//! holds near the core count for tasks that compute, and its gates follow the load
//! readings. Assertions are on worker counts, never on times.
//!
//! The tests take turns (one lock): two at once would load the CPU for each other.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use atp::{LoadProbe, LoadReading, Task, ThreadPool};

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner())
}

/// A probe that always reports the same reading.
struct Fixed(LoadReading);

impl LoadProbe for Fixed {
    fn read(&mut self) -> LoadReading {
        self.0
    }
}

/// A probe for a machine whose CPU our own workers keep busy: a fixed reading whose
/// process-tree CPU time grows by `cores` seconds per second, as if the busy workers
/// computed (so the controller never takes them for blocked ones).
struct OursCompute {
    reading: LoadReading,
    cores: f64,
    since: Instant,
}

impl LoadProbe for OursCompute {
    fn read(&mut self) -> LoadReading {
        let mut reading = self.reading;
        reading.tree_cpu = Some(self.since.elapsed().mul_f64(self.cores));
        reading
    }
}

const GIB: u64 = 1 << 30;

/// Runs `tasks` tasks that each block until all have started or `hold` passes, and
/// returns the pool's peak worker count.
fn peak_with(builder: atp::Builder, tasks: usize, hold: Duration) -> usize {
    let pool = builder.build().unwrap();
    let started = Arc::new(AtomicUsize::new(0));
    let handles: Vec<_> = (0..tasks)
        .map(|_| {
            let started = Arc::clone(&started);
            pool.run(Task::new(move || {
                started.fetch_add(1, Ordering::SeqCst);
                let deadline = Instant::now() + hold;
                while started.load(Ordering::SeqCst) < tasks && Instant::now() < deadline {
                    std::thread::sleep(Duration::from_millis(5));
                }
            }))
            .unwrap()
        })
        .collect();
    for h in &handles {
        h.wait();
    }
    pool.stats().peak_workers
}

#[test]
fn an_idle_machine_lets_waiting_tasks_fan_out_to_the_backlog() {
    let _turn = serial();
    let idle = LoadReading::new(Some(0.02), Some(0.0), 2.0, Some(20 * GIB), Some(24 * GIB));
    let builder = ThreadPool::builder().min_workers(1).load_probe(Fixed(idle));
    // The tasks block until all 60 have started: that needs 60 workers.
    assert_eq!(peak_with(builder, 60, Duration::from_secs(60)), 60);
}

#[test]
fn a_saturated_cpu_stops_growth_at_the_cores() {
    let _turn = serial();
    let busy = LoadReading::new(Some(1.0), Some(0.0), 4.0, Some(20 * GIB), Some(24 * GIB));
    let probe = OursCompute {
        reading: busy,
        cores: 4.0,
        since: Instant::now(),
    };
    let builder = ThreadPool::builder().min_workers(1).load_probe(probe);
    // Up to the 4 cores before anything is measured, then no further. The probe
    // shows our workers computing, so however slowly the tasks end on a loaded
    // machine, starvation injection (for blocked workers only) cannot add one.
    assert_eq!(peak_with(builder, 20, Duration::from_millis(200)), 4);
}

#[test]
fn memory_at_the_reserve_stops_growth_from_the_start() {
    let _turn = serial();
    let short = LoadReading::new(Some(0.0), Some(0.0), 8.0, Some(GIB / 2), Some(24 * GIB));
    let builder = ThreadPool::builder()
        .min_workers(1)
        .memory_reserve(GIB)
        .load_probe(Fixed(short));
    assert_eq!(peak_with(builder, 20, Duration::from_millis(600)), 1);
}

#[test]
fn without_load_gates_the_pool_grows_by_its_backlog() {
    let _turn = serial();
    let busy = LoadReading::new(Some(1.0), Some(1.0), 1.0, Some(0), Some(GIB));
    let builder = ThreadPool::builder()
        .min_workers(1)
        .load_aware(false)
        .load_probe(Fixed(busy));
    assert_eq!(peak_with(builder, 40, Duration::from_secs(60)), 40);
}

#[test]
fn tasks_waiting_on_each_other_never_starve_on_a_busy_machine() {
    let _turn = serial();
    // The CPU always reads as saturated by others, and no task can finish before
    // all six have started: only starvation injection lets the pool grow past 2.
    let busy = LoadReading::new(Some(1.0), Some(0.0), 2.0, Some(20 * GIB), Some(24 * GIB));
    let pool = ThreadPool::builder()
        .min_workers(2)
        .load_probe(Fixed(busy))
        .build()
        .unwrap();
    let barrier = Arc::new(std::sync::Barrier::new(6));
    let handles: Vec<_> = (0..6)
        .map(|_| {
            let barrier = Arc::clone(&barrier);
            pool.run(Task::new(move || {
                barrier.wait();
            }))
            .unwrap()
        })
        .collect();
    for h in &handles {
        assert_eq!(h.wait(), atp::TaskOutcome::Succeeded);
    }
    assert_eq!(pool.stats().peak_workers, 6);
}

#[test]
fn tasks_waiting_on_each_other_never_starve_on_a_stalled_machine() {
    let _turn = serial();
    // Saturated and stalled by others (90 % of the time some task waits for a CPU),
    // with more of our workers busy than there are cores: once the rule that shrinks
    // an oversubscribed pool counted our blocked workers as CPU users and overrode
    // starvation injection, and the pool stayed at 3 workers for good.
    let stalled = LoadReading::new(Some(1.0), Some(0.9), 2.0, Some(20 * GIB), Some(24 * GIB));
    let pool = ThreadPool::builder()
        .min_workers(2)
        .load_probe(Fixed(stalled))
        .build()
        .unwrap();
    let barrier = Arc::new(std::sync::Barrier::new(6));
    let handles: Vec<_> = (0..6)
        .map(|_| {
            let barrier = Arc::clone(&barrier);
            pool.run(Task::new(move || {
                barrier.wait();
            }))
            .unwrap()
        })
        .collect();
    for h in &handles {
        assert_eq!(
            h.wait_timeout(Duration::from_secs(30)),
            Some(atp::TaskOutcome::Succeeded),
            "deadlocked at {:?}",
            pool.stats()
        );
    }
    assert_eq!(pool.stats().peak_workers, 6);
}

fn cpus() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

#[test]
fn the_real_probe_fans_out_for_sleeping_tasks() {
    let _turn = serial();
    let pool = ThreadPool::builder().min_workers(1).build().unwrap();
    // Enough tasks to need more workers than cores on any machine.
    let handles: Vec<_> = (0..4 * cpus() + 8)
        .map(|_| {
            pool.run(Task::new(|| std::thread::sleep(Duration::from_millis(300))))
                .unwrap()
        })
        .collect();
    for h in &handles {
        h.wait();
    }
    let peak = pool.stats().peak_workers;
    assert!(
        peak > cpus(),
        "peak {peak} workers for sleeping tasks on {} cpus",
        cpus()
    );
}

#[test]
fn the_real_probe_holds_spinning_tasks_near_the_cores() {
    let _turn = serial();
    let pool = ThreadPool::builder().min_workers(1).build().unwrap();
    let handles: Vec<_> = (0..3 * cpus() + 4)
        .map(|_| {
            pool.run(Task::new(|| {
                let end = Instant::now() + Duration::from_millis(150);
                let mut x = 0u64;
                while Instant::now() < end {
                    x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
                }
            }))
            .unwrap()
        })
        .collect();
    for h in &handles {
        h.wait();
    }
    let peak = pool.stats().peak_workers;
    assert!(
        peak <= cpus() + 1,
        "peak {peak} workers for spinning tasks on {} cpus",
        cpus()
    );
}
