//! The pace of `srun` step launches: a token bucket, so that many short jobs do
//! not flood slurmctld with step requests (each launch is a request to it and
//! costs ~50 ms; a loop of thousands of sruns is the classic way to slow a
//! cluster's controller down for everyone).
//!
//! Owns: [`TokenBucket`], a pure function of the time it is given (tests use a
//! fake clock).
//!
//! Invariants: at most `rate` launches in any second after a first burst of
//! `rate`; a launch's turn is reserved when it asks (`take` returns how long to
//! wait), so concurrent callers are served in the order they asked and none
//! waits longer than the launches before it need.

use std::time::{Duration, Instant};

/// A token bucket of `rate` tokens a second, holding at most `rate`.
#[derive(Debug, Clone)]
pub(crate) struct TokenBucket {
    /// Tokens per second (also the bucket's size).
    rate: f64,
    /// Tokens now; below zero when launches have reserved future tokens.
    tokens: f64,
    /// When `tokens` was last brought up to date.
    at: Instant,
}

impl TokenBucket {
    /// A full bucket of `rate` (at least 1) tokens a second, at `now`.
    pub(crate) fn new(rate: usize, now: Instant) -> TokenBucket {
        let rate = rate.max(1) as f64;
        TokenBucket {
            rate,
            tokens: rate,
            at: now,
        }
    }

    /// Takes a token at `now`; returns how long to wait before launching.
    pub(crate) fn take(&mut self, now: Instant) -> Duration {
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        self.at = self.at.max(now);
        self.tokens = (self.tokens + elapsed * self.rate).min(self.rate) - 1.0;
        match self.tokens {
            t if t >= 0.0 => Duration::ZERO,
            t => Duration::from_secs_f64(-t / self.rate),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn a_burst_of_rate_then_one_launch_per_tick() {
        let t0 = Instant::now();
        let mut bucket = TokenBucket::new(10, t0);
        for _ in 0..10 {
            assert_eq!(bucket.take(t0), Duration::ZERO);
        }
        // The 11th and 12th asked at once: their turns are 100 ms and 200 ms away.
        let eleventh = bucket.take(t0);
        let twelfth = bucket.take(t0);
        assert!(eleventh.abs_diff(ms(100)) < ms(1), "{eleventh:?}");
        assert!(twelfth.abs_diff(ms(200)) < ms(1), "{twelfth:?}");
        // At 200 ms both reserved tokens have come: the next waits 100 ms more.
        let next = bucket.take(t0 + ms(200));
        assert!(next.abs_diff(ms(100)) < ms(1), "{next:?}");
    }

    #[test]
    fn a_quiet_spell_refills_the_bucket_but_not_beyond_its_size() {
        let t0 = Instant::now();
        let mut bucket = TokenBucket::new(5, t0);
        for _ in 0..5 {
            bucket.take(t0);
        }
        let later = t0 + Duration::from_secs(60);
        let waits: Vec<Duration> = (0..6).map(|_| bucket.take(later)).collect();
        assert!(waits[..5].iter().all(|w| w.is_zero()), "{waits:?}");
        assert!(waits[5].abs_diff(ms(200)) < ms(1), "{waits:?}");
    }

    #[test]
    fn launches_over_a_long_run_keep_to_the_rate() {
        let t0 = Instant::now();
        let mut bucket = TokenBucket::new(20, t0);
        // 1000 callers, each launching as soon as it may.
        let mut now = t0;
        for _ in 0..1000 {
            now += bucket.take(now);
        }
        // 20 at once, then 980 at 20 a second.
        let took = now.duration_since(t0).as_secs_f64();
        assert!((took - 49.0).abs() < 0.01, "{took}");
    }
}
