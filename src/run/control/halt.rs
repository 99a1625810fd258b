//! Halt policies (`--halt`), with GNU parallel's meaning: `WHEN,WHY=N` or
//! `WHEN,WHY=P%`, WHEN being `soon` (start no new job, let the running ones
//! finish) or `now` (also kill the running ones with the termination sequence),
//! WHY being `fail`, `success` or `done` (a job ended, whatever its status).
//! `never` and GNU's legacy forms (`0`, `1`, `2`, `-1`, `-2`, `1-99%`) are
//! accepted too.
//!
//! Owns: parsing ([`HaltSpec`]) and the counting that decides when to halt
//! ([`HaltTracker`]), including the exit status of a halted run.
//!
//! Invariants: only a job's *final* result is recorded (the last attempt under
//! `--retries`); the tracker fires at most once; a percentage is decided only
//! once the total number of jobs is known (input is streamed, so that is when
//! the input ends), as a fraction of that total.

use std::fmt;
use std::str::FromStr;

/// When to stop once the condition is met.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum When {
    /// Start no new job; wait for the running ones.
    Soon,
    /// Kill the running jobs too (termination sequence).
    Now,
}

/// What is counted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Why {
    /// Jobs that failed (non-zero exit, signal, timeout, could not start).
    Fail,
    /// Jobs that succeeded.
    Success,
    /// Jobs that ended, whatever their status.
    Done,
}

/// How many.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Threshold {
    /// At least this many jobs (at least 1).
    Count(u64),
    /// At least this percentage of all jobs (0 < p <= 100).
    Percent(f64),
}

/// A parsed `--halt` value; `None` from [`HaltSpec::parse`] means `never`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct HaltSpec {
    /// Soon or now.
    pub when: When,
    /// What is counted.
    pub why: Why,
    /// How many of them.
    pub threshold: Threshold,
}

impl HaltSpec {
    /// Parses a `--halt` value: `Ok(None)` for `never`/`0`.
    pub fn parse(s: &str) -> Result<Option<HaltSpec>, String> {
        let s = s.trim();
        let legacy = |when, why| Ok(Some(HaltSpec::new(when, why, Threshold::Count(1))));
        match s {
            "never" | "0" => return Ok(None),
            "1" => return legacy(When::Soon, Why::Fail),
            "2" => return legacy(When::Now, Why::Fail),
            "-1" => return legacy(When::Soon, Why::Success),
            "-2" => return legacy(When::Now, Why::Success),
            _ => {}
        }
        let (when, why) = match s.split_once(',') {
            Some((when, why)) => {
                let when = match when.trim() {
                    "soon" => When::Soon,
                    "now" => When::Now,
                    other => {
                        return Err(format!("'{other}' must be soon or now (as in now,fail=1)"));
                    }
                };
                (when, why.trim())
            }
            // GNU's legacy `1-99%`: soon,fail=P%.
            None if s.ends_with('%') => (When::Soon, s),
            None => {
                return Err(format!(
                    "'{s}' is not never, soon,WHY=N or now,WHY=N (WHY: fail, success or done)"
                ));
            }
        };
        let (why, amount) = match why.split_once('=') {
            Some((w, n)) => (w.trim(), n.trim()),
            None if why.ends_with('%') => ("fail", why),
            None => return Err(format!("'{why}' must be fail=N, success=N or done=N")),
        };
        let why = match why {
            "fail" => Why::Fail,
            "success" => Why::Success,
            "done" => Why::Done,
            other => return Err(format!("'{other}' must be fail, success or done")),
        };
        let threshold = match amount.strip_suffix('%') {
            Some(p) => match p.trim().parse::<f64>() {
                Ok(p) if p > 0.0 && p <= 100.0 => Threshold::Percent(p),
                _ => return Err(format!("'{amount}' is not a percentage in (0%, 100%]")),
            },
            None => match amount.parse::<u64>() {
                Ok(n) if n >= 1 => Threshold::Count(n),
                _ => return Err(format!("'{amount}' is not a whole number of at least 1")),
            },
        };
        Ok(Some(HaltSpec::new(when, why, threshold)))
    }

    fn new(when: When, why: Why, threshold: Threshold) -> HaltSpec {
        HaltSpec {
            when,
            why,
            threshold,
        }
    }
}

impl fmt::Display for HaltSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let when = match self.when {
            When::Soon => "soon",
            When::Now => "now",
        };
        let why = match self.why {
            Why::Fail => "fail",
            Why::Success => "success",
            Why::Done => "done",
        };
        match self.threshold {
            Threshold::Count(n) => write!(f, "{when},{why}={n}"),
            Threshold::Percent(p) => write!(f, "{when},{why}={p}%"),
        }
    }
}

/// A `--halt` value as given: `never` is `HaltPolicy(None)`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct HaltPolicy(pub Option<HaltSpec>);

/// For clap: parses a `--halt` value.
pub fn parse_halt_policy(s: &str) -> Result<HaltPolicy, String> {
    HaltSpec::parse(s).map(HaltPolicy)
}

/// A job's final result, as far as halting is concerned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ended {
    /// The job's number.
    pub number: u64,
    /// Whether it succeeded.
    pub ok: bool,
    /// The exit status a `--halt …=1` run exits with when this job triggers it:
    /// the job's exit code, or 128 + the signal that killed it.
    pub status: u8,
}

/// The decision the tracker made (once).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Halt {
    /// Soon or now.
    pub when: When,
    /// The job whose end met the condition (none if it was met when the
    /// total became known).
    pub job: Option<u64>,
    /// The exit status of the run.
    pub exit_code: u8,
}

/// Counts final job results and decides when the run halts.
#[derive(Debug)]
pub struct HaltTracker {
    spec: HaltSpec,
    failed: u64,
    succeeded: u64,
    total: Option<u64>,
    fired: Option<Halt>,
}

impl HaltTracker {
    /// A tracker for `spec`.
    pub fn new(spec: HaltSpec) -> HaltTracker {
        HaltTracker {
            spec,
            failed: 0,
            succeeded: 0,
            total: None,
            fired: None,
        }
    }

    /// The policy.
    pub fn spec(&self) -> HaltSpec {
        self.spec
    }

    /// Records a job's final result; returns the decision if this made the run
    /// halt (only the first time).
    pub fn record(&mut self, ended: Ended) -> Option<Halt> {
        if ended.ok {
            self.succeeded += 1;
        } else {
            self.failed += 1;
        }
        self.check(Some(ended))
    }

    /// The total number of jobs became known (the input ended); percentages can
    /// now be decided.
    pub fn set_total(&mut self, total: u64) -> Option<Halt> {
        self.total = Some(total);
        self.check(None)
    }

    /// The decision, if the run halted.
    pub fn fired(&self) -> Option<Halt> {
        self.fired
    }

    /// `trigger` is the job just recorded, or `None` when the total became known.
    fn check(&mut self, trigger: Option<Ended>) -> Option<Halt> {
        if self.fired.is_some() {
            return None;
        }
        // The count this policy looks at; a job that is not of that kind cannot
        // be what meets the condition.
        let (count, relevant) = match self.spec.why {
            Why::Fail => (self.failed, trigger.is_none_or(|e| !e.ok)),
            Why::Success => (self.succeeded, trigger.is_none_or(|e| e.ok)),
            Why::Done => (self.failed + self.succeeded, true),
        };
        if !relevant {
            return None;
        }
        let met = match self.spec.threshold {
            Threshold::Count(n) => count >= n,
            Threshold::Percent(p) => match self.total {
                Some(total) if total > 0 => count as f64 >= total as f64 * p / 100.0,
                _ => false,
            },
        };
        if !met {
            return None;
        }
        let halt = Halt {
            when: self.spec.when,
            job: trigger.map(|e| e.number),
            exit_code: self.exit_code(trigger),
        };
        self.fired = Some(halt);
        Some(halt)
    }

    /// GNU parallel's rule (src/parallel, `should_we_halt`): success halts exit 0;
    /// `fail=1`/`done=1` exit with the triggering job's status (its exit code, or
    /// 128 + signal, "emulating Bash"). Other fail/done halts use atp-run's usual
    /// status: 1 if a job failed, else 0 (GNU would exit with the count of failed
    /// jobs, which atp-run never does).
    fn exit_code(&self, trigger: Option<Ended>) -> u8 {
        match (self.spec.why, self.spec.threshold, trigger) {
            (Why::Success, ..) => 0,
            (_, Threshold::Count(1), Some(job)) => job.status,
            _ => u8::from(self.failed > 0),
        }
    }
}

impl FromStr for HaltSpec {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        HaltSpec::parse(s)?.ok_or_else(|| "never is not a halt condition".to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(s: &str) -> HaltSpec {
        s.parse().unwrap()
    }

    fn ended(number: u64, ok: bool, status: u8) -> Ended {
        Ended { number, ok, status }
    }

    #[test]
    fn parses_gnu_forms() {
        assert_eq!(HaltSpec::parse("never"), Ok(None));
        assert_eq!(HaltSpec::parse("0"), Ok(None));
        assert_eq!(
            spec("now,fail=1"),
            HaltSpec::new(When::Now, Why::Fail, Threshold::Count(1))
        );
        assert_eq!(
            spec("soon,success=3"),
            HaltSpec::new(When::Soon, Why::Success, Threshold::Count(3))
        );
        assert_eq!(
            spec("now,done=30%"),
            HaltSpec::new(When::Now, Why::Done, Threshold::Percent(30.0))
        );
        assert_eq!(spec("1"), spec("soon,fail=1"));
        assert_eq!(spec("2"), spec("now,fail=1"));
        assert_eq!(spec("-1"), spec("soon,success=1"));
        assert_eq!(spec("-2"), spec("now,success=1"));
        assert_eq!(spec("20%"), spec("soon,fail=20%"));
        assert_eq!(spec("now,fail=1").to_string(), "now,fail=1");
        assert_eq!(spec("soon,done=2.5%").to_string(), "soon,done=2.5%");
    }

    #[test]
    fn rejects_nonsense_with_a_reason() {
        for (bad, why) in [
            ("later,fail=1", "soon or now"),
            ("now,crash=1", "fail, success or done"),
            ("now,fail=0", "at least 1"),
            ("now,fail=x", "at least 1"),
            ("now,fail=0%", "percentage"),
            ("now,fail=101%", "percentage"),
            ("now,fail", "fail=N"),
            ("sometimes", "never"),
        ] {
            let err = HaltSpec::parse(bad).unwrap_err();
            assert!(err.contains(why), "{bad}: {err}");
        }
    }

    #[test]
    fn fail_one_exits_with_the_failing_jobs_status() {
        let mut t = HaltTracker::new(spec("now,fail=1"));
        assert_eq!(t.record(ended(1, true, 0)), None);
        let halt = t.record(ended(2, false, 4)).unwrap();
        assert_eq!(
            halt,
            Halt {
                when: When::Now,
                job: Some(2),
                exit_code: 4
            }
        );
        // Fires once.
        assert_eq!(t.record(ended(3, false, 9)), None);
        assert_eq!(t.fired(), Some(halt));
    }

    #[test]
    fn counts_and_success() {
        let mut t = HaltTracker::new(spec("soon,fail=2"));
        assert_eq!(t.record(ended(1, false, 3)), None);
        assert_eq!(t.record(ended(2, true, 0)), None);
        let halt = t.record(ended(3, false, 5)).unwrap();
        assert_eq!((halt.when, halt.exit_code), (When::Soon, 1));

        let mut t = HaltTracker::new(spec("now,success=1"));
        assert_eq!(t.record(ended(1, false, 3)), None);
        assert_eq!(t.record(ended(2, true, 0)).unwrap().exit_code, 0);

        let mut t = HaltTracker::new(spec("soon,done=2"));
        assert_eq!(t.record(ended(1, true, 0)), None);
        assert_eq!(t.record(ended(2, true, 0)).unwrap().exit_code, 0);
    }

    #[test]
    fn percentages_wait_for_the_total() {
        let mut t = HaltTracker::new(spec("now,fail=50%"));
        assert_eq!(t.record(ended(1, false, 1)), None);
        assert_eq!(t.record(ended(2, true, 0)), None);
        // 1 of 2 failed: 50%.
        let halt = t.set_total(2).unwrap();
        assert_eq!((halt.job, halt.exit_code), (None, 1));

        let mut t = HaltTracker::new(spec("now,fail=50%"));
        assert_eq!(t.set_total(4), None);
        assert_eq!(t.record(ended(1, false, 1)), None);
        assert!(t.record(ended(2, false, 1)).is_some());
    }
}
