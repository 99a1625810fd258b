//! `--retries`: whether a failed attempt is tried again, as a pure decision.
//!
//! Invariant: a job gets at most `attempts` attempts; a success is never retried;
//! nothing is retried once the run is stopping (that attempt is then the last).

/// Whether the attempt that just ended is the job's last one: it succeeded, it was
/// attempt `attempt` of `attempts`, or the run is stopping.
pub(crate) fn is_last(ok: bool, attempt: u32, attempts: u32, stopping: bool) -> bool {
    ok || attempt >= attempts || stopping
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_are_retried_until_the_last_attempt_or_a_stop() {
        assert!(!is_last(false, 1, 3, false));
        assert!(!is_last(false, 2, 3, false));
        assert!(is_last(false, 3, 3, false));
        assert!(is_last(true, 1, 3, false), "a success is final");
        assert!(is_last(false, 1, 3, true), "stopping: no retry");
        assert!(is_last(false, 1, 1, false), "no --retries");
    }
}
