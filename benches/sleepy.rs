//! Tasks that wait rather than compute: 1000 tasks that each sleep 10 ms. The
//! adaptive pool (default minimum of 2 workers, default maximum) should grow to
//! overlap the sleeps; a pool fixed at 2 workers needs 1000 × 10 ms / 2 = 5 s. The
//! goal (from the pool issue): adaptive at least 20× faster than fixed.
//!
//! Three contenders: `adaptive_warm` reuses one pool across iterations (its workers
//! are still there from the last round, up to the idle timeout), `adaptive_cold`
//! builds a fresh pool in each iteration (so growth from 2 workers is measured), and
//! `fixed_2`. Flat sampling with the minimum of 10 samples keeps the fixed case to
//! about a minute (criterion warns that it cannot finish 10 samples in the target
//! time; asking for 50 s would not make it run any less).
//!
//! `cargo bench --bench sleepy -- --noplot`

use std::sync::Arc;
use std::time::Duration;

use criterion::{Criterion, SamplingMode, criterion_group, criterion_main};

mod common;
use common::Latch;

const TASKS: usize = 1000;
const NAP: Duration = Duration::from_millis(10);

/// Submits `TASKS` sleeping tasks and waits for them.
fn round(pool: &atp::ThreadPool) {
    let latch = Arc::new(Latch::new(TASKS));
    for _ in 0..TASKS {
        let latch = Arc::clone(&latch);
        pool.execute(move || {
            std::thread::sleep(NAP);
            latch.count_down();
        })
        .unwrap();
    }
    latch.wait();
}

fn sleepy(c: &mut Criterion) {
    let mut group = c.benchmark_group("sleepy_1000x10ms");
    group.sampling_mode(SamplingMode::Flat);
    group.sample_size(10);
    group.warm_up_time(Duration::from_millis(1));
    group.measurement_time(Duration::from_secs(1));

    let adaptive = atp::ThreadPool::new().unwrap();
    group.bench_function("adaptive_warm", |b| b.iter(|| round(&adaptive)));
    adaptive.shutdown();

    group.bench_function("adaptive_cold", |b| {
        b.iter(|| {
            let pool = atp::ThreadPool::new().unwrap();
            round(&pool);
            pool.shutdown();
        })
    });

    let fixed = atp::ThreadPool::builder().fixed_workers(2).build().unwrap();
    group.bench_function("fixed_2", |b| b.iter(|| round(&fixed)));
    fixed.shutdown();

    group.finish();
}

criterion_group!(benches, sleepy);
criterion_main!(benches);
