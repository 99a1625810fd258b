//! The global pool set up with a custom load probe uses that probe. (A file of its
//! own: the global pool is set up once per process.)

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use atp::{LoadProbe, LoadReading, Task, ThreadPool};

/// A probe that counts its readings.
struct Counting(Arc<AtomicUsize>);

impl LoadProbe for Counting {
    fn read(&mut self) -> LoadReading {
        self.0.fetch_add(1, Ordering::SeqCst);
        LoadReading::new(Some(0.0), Some(0.0), 2.0, Some(1 << 34), Some(1 << 35))
    }
}

#[test]
fn init_global_keeps_the_builders_load_probe() {
    let reads = Arc::new(AtomicUsize::new(0));
    let pool = atp::init_global(
        ThreadPool::builder()
            .min_workers(0)
            .load_probe(Counting(Arc::clone(&reads))),
    )
    .unwrap();
    // A submission finds no worker: the monitor reads the load before it grows.
    let handle = pool.run(Task::new(|| ())).unwrap();
    assert_eq!(
        handle.wait_timeout(Duration::from_secs(30)),
        Some(atp::TaskOutcome::Succeeded)
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    while reads.load(Ordering::SeqCst) == 0 {
        assert!(Instant::now() < deadline, "the custom probe was never read");
        std::thread::sleep(Duration::from_millis(5));
    }
}
