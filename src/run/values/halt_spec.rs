//! Halt policies (`--halt`), with GNU parallel's meaning: `WHEN,WHY=N` or
//! `WHEN,WHY=P%`, WHEN being `soon` (start no new job, let the running ones
//! finish) or `now` (also kill the running ones with the termination sequence),
//! WHY being `fail`, `success` or `done` (a job ended, whatever its status).
//! `never` and GNU's legacy forms (`0`, `1`, `2`, `-1`, `-2`, `1-99%`) are
//! accepted too.
//!
//! Owns: the policy's value and its parsing ([`HaltSpec`], [`parse_halt_policy`] for
//! clap). A leaf module: the decision is `control/halt.rs`.

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
}
