//! Throughput of tiny tasks: submit N = 100 000 tasks that each increment an atomic,
//! and wait for all of them, on contenders with the same thread count (2): atp with
//! `execute` (no handle), `spawn` (a handle per task, dropped at once) and
//! `run(Task::new(..))` (a handle and the callback slots), the `threadpool` crate's
//! `execute`, and a rayon pool with `spawn`. Every contender waits through the same
//! [`common::Latch`]. The pools are built once, outside the measurement.
//!
//! `cargo bench --bench throughput -- --noplot`

use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};

mod common;
use common::Latch;

const TASKS: usize = 100_000;
const THREADS: usize = 2;

/// One tiny task: bump the counter, count down the latch.
fn tiny(counter: &AtomicUsize, latch: &Latch) {
    black_box(counter.fetch_add(1, Ordering::Relaxed));
    latch.count_down();
}

/// Submits `TASKS` tiny tasks with `submit` and waits for them.
fn round(counter: &Arc<AtomicUsize>, mut submit: impl FnMut(Box<dyn FnOnce() + Send>)) {
    let latch = Arc::new(Latch::new(TASKS));
    for _ in 0..TASKS {
        let (counter, latch) = (Arc::clone(counter), Arc::clone(&latch));
        submit(Box::new(move || tiny(&counter, &latch)));
    }
    latch.wait();
}

fn throughput(c: &mut Criterion) {
    let mut group = c.benchmark_group("throughput_100k_tiny_tasks");
    group.throughput(Throughput::Elements(TASKS as u64));
    group.sample_size(10);
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(5));
    let counter = Arc::new(AtomicUsize::new(0));

    let pool = atp::ThreadPool::builder()
        .fixed_workers(THREADS)
        .build()
        .unwrap();
    group.bench_function("atp_execute", |b| {
        b.iter(|| round(&counter, |job| pool.execute(job).unwrap()))
    });
    group.bench_function("atp_spawn", |b| {
        b.iter(|| {
            round(&counter, |job| {
                drop(pool.spawn(job).unwrap());
            })
        })
    });
    group.bench_function("atp_run_task", |b| {
        b.iter(|| {
            round(&counter, |job| {
                drop(pool.run(atp::Task::new(job)).unwrap());
            })
        })
    });
    pool.shutdown();

    let pool = threadpool::ThreadPool::new(THREADS);
    group.bench_function("threadpool", |b| {
        b.iter(|| round(&counter, |job| pool.execute(job)))
    });
    pool.join();

    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(THREADS)
        .build()
        .unwrap();
    group.bench_function("rayon_spawn", |b| {
        b.iter(|| round(&counter, |job| pool.spawn(job)))
    });
    drop(pool);

    group.finish();
}

criterion_group!(benches, throughput);
criterion_main!(benches);
