//! `--repeat`: the pause between a watchdog's runs, backing off while it fails.
//!
//! A watchdog whose command fails at once (a missing program, a refused
//! connection) would otherwise be rerun hundreds of times a second. So
//! consecutive failed runs wait [`FIRST`], then twice as long each time, up to
//! [`CEILING`] (or `--interval`, if longer); a successful run resets the backoff.
//! The pause is never shorter than `--interval`. A pure state machine.
//!
//! Invariant: a success always pauses exactly `--interval` (or not at all), and
//! the n-th failure in a row pauses `max(interval, min(FIRST · 2ⁿ⁻¹, CEILING))`.

use std::time::Duration;

/// The pause after the first failure in a row.
pub(crate) const FIRST: Duration = Duration::from_millis(10);
/// The longest backoff (a longer `--interval` still applies).
pub(crate) const CEILING: Duration = Duration::from_secs(1);

/// The backoff of one watchdog.
#[derive(Debug, Clone, Default)]
pub(crate) struct Backoff {
    /// The backoff after the last failure; zero after a success.
    current: Duration,
}

impl Backoff {
    /// The pause after a run that ended `ok` (or not), given `--interval`.
    pub(crate) fn after(&mut self, ok: bool, interval: Option<Duration>) -> Duration {
        let interval = interval.unwrap_or(Duration::ZERO);
        self.current = match ok {
            true => Duration::ZERO,
            false if self.current.is_zero() => FIRST,
            false => self.current.saturating_mul(2).min(CEILING),
        };
        interval.max(self.current)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn failures_double_the_pause_up_to_the_ceiling_and_a_success_resets_it() {
        let mut b = Backoff::default();
        let pauses: Vec<_> = (0..9).map(|_| b.after(false, None)).collect();
        assert_eq!(
            pauses,
            [
                ms(10),
                ms(20),
                ms(40),
                ms(80),
                ms(160),
                ms(320),
                ms(640),
                CEILING,
                CEILING
            ]
        );
        assert_eq!(b.after(true, None), Duration::ZERO);
        assert_eq!(b.after(false, None), FIRST, "reset by the success");
    }

    #[test]
    fn the_interval_is_a_floor() {
        let mut b = Backoff::default();
        assert_eq!(b.after(true, Some(ms(50))), ms(50));
        assert_eq!(b.after(false, Some(ms(50))), ms(50));
        for _ in 0..3 {
            b.after(false, Some(ms(50)));
        }
        assert_eq!(b.after(false, Some(ms(50))), ms(160));
        assert_eq!(b.after(false, Some(ms(5000))), ms(5000));
    }
}
