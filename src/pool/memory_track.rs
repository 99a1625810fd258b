//! [`MemoryTrack`]: what successive memory readings say about the jobs running —
//! the memory available with none running (the baseline their use is measured
//! against), whether they are still allocating, and what each one takes. One piece
//! for the pool's monitor and for atp-run's per-host controller, which judge memory
//! the same way.
//!
//! Invariant: the baseline only rises, except when a reading is taken with no job
//! running, which resets it.

use super::load::LoadReading;

/// See the module header.
#[derive(Debug, Default, Clone)]
pub(crate) struct MemoryTrack {
    /// Memory available when no job was running (or the most seen since).
    idle: Option<u64>,
    /// Memory available at the previous reading given to [`observe`](Self::observe).
    last_available: Option<u64>,
}

impl MemoryTrack {
    /// Takes `reading`, made while `busy` jobs run, into the baseline.
    pub(crate) fn see(&mut self, reading: &LoadReading, busy: usize) {
        if busy == 0 || reading.memory_available > self.idle {
            self.idle = reading.memory_available;
        }
    }

    /// [`see`](Self::see), and whether available memory fell markedly since the
    /// previous reading: more than a quarter of `reserve`, at least 16 MiB (the jobs
    /// are still allocating).
    pub(crate) fn observe(&mut self, reading: &LoadReading, busy: usize, reserve: u64) -> bool {
        self.see(reading, busy);
        let falling = match (self.last_available, reading.memory_available) {
            (Some(before), Some(now)) => before.saturating_sub(now) > (reserve / 4).max(16 << 20),
            _ => false,
        };
        self.last_available = reading.memory_available;
        falling
    }

    /// The baseline: memory available with no job running.
    pub(crate) fn idle(&self) -> Option<u64> {
        self.idle
    }

    /// Memory taken per busy job since the baseline, when measurable.
    pub(crate) fn per_job(&self, reading: &LoadReading, busy: usize) -> Option<u64> {
        let used = self.idle?.checked_sub(reading.memory_available?)?;
        (busy > 0 && used > 0).then(|| used / busy as u64)
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    const MIB: u64 = 1 << 20;

    fn available(bytes: u64) -> LoadReading {
        LoadReading::new(None, None, 2.0, Some(bytes), Some(4096 * MIB))
    }

    #[test]
    fn per_job_is_the_drop_since_idle_over_busy_jobs() {
        let mut track = MemoryTrack::default();
        assert_eq!(track.per_job(&available(600), 4), None, "no baseline yet");
        track.see(&available(1000), 0);
        assert_eq!(track.per_job(&available(600), 4), Some(100));
        assert_eq!(
            track.per_job(&available(1500), 4),
            None,
            "more free than idle"
        );
        assert_eq!(track.per_job(&available(600), 0), None);
    }

    #[test]
    fn the_baseline_rises_while_busy_and_resets_when_idle() {
        let mut track = MemoryTrack::default();
        track.see(&available(1000), 0);
        track.see(&available(800), 2);
        assert_eq!(track.idle(), Some(1000), "a busy reading never lowers it");
        track.see(&available(1200), 2);
        assert_eq!(track.idle(), Some(1200));
        track.see(&available(900), 0);
        assert_eq!(track.idle(), Some(900), "an idle reading resets it");
    }

    #[test]
    fn falling_means_more_than_a_quarter_of_the_reserve_and_16_mib() {
        let reserve = 400 * MIB;
        let mut track = MemoryTrack::default();
        assert!(
            !track.observe(&available(2000 * MIB), 1, reserve),
            "first reading"
        );
        assert!(
            !track.observe(&available(1900 * MIB), 1, reserve),
            "100 MiB"
        );
        assert!(track.observe(&available(1790 * MIB), 1, reserve), "110 MiB");
        let small = 8 * MIB;
        assert!(
            !track.observe(&available(1780 * MIB), 1, small),
            "10 MiB < 16"
        );
        assert!(track.observe(&available(1760 * MIB), 1, small), "20 MiB");
    }
}
