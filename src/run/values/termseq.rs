//! Termination sequences (`--termseq`), in GNU parallel's `--termseq` syntax:
//! `SIGNAL,MILLISECONDS,SIGNAL,MILLISECONDS,...` — send the signal to the job's
//! whole process group, wait up to that many milliseconds for the group to go,
//! then go on with the next step.
//!
//! Owns: parsing and displaying a sequence ([`TermSeq`]). Sending the signals is
//! the registry's job (`registry.rs`) and the timer's (`timeout.rs`).
//!
//! Invariants: a parsed sequence has at least one step; signal names are real
//! signals (`TERM`, `SIGTERM` or a number such as `15`); a trailing wait may be
//! left out (it is then 0).

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use nix::sys::signal::Signal;

/// The default sequence: SIGTERM, 200 ms to go, then SIGKILL.
pub const DEFAULT: &str = "TERM,200,KILL,25";

/// One step: a signal, then how long to wait for the group to disappear.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Step {
    /// The signal sent to the process group.
    pub signal: Signal,
    /// How long to wait after it before the next step.
    pub wait: Duration,
}

/// A validated termination sequence.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TermSeq {
    steps: Vec<Step>,
}

impl TermSeq {
    /// SIGTERM, `grace` for the jobs to go, then SIGKILL.
    pub fn term_then_kill(grace: Duration) -> TermSeq {
        TermSeq {
            steps: vec![
                Step {
                    signal: Signal::SIGTERM,
                    wait: grace,
                },
                Step {
                    signal: Signal::SIGKILL,
                    wait: Duration::ZERO,
                },
            ],
        }
    }

    /// The steps, in order; never empty.
    pub fn steps(&self) -> &[Step] {
        &self.steps
    }
}

impl Default for TermSeq {
    fn default() -> Self {
        DEFAULT
            .parse()
            .expect("the default termination sequence is valid")
    }
}

impl FromStr for TermSeq {
    type Err = String;

    /// Parses `TERM,200,KILL,25`; the error is a phrase for "invalid --termseq: …".
    fn from_str(s: &str) -> Result<Self, String> {
        let parts: Vec<&str> = s.split(',').map(str::trim).collect();
        if s.trim().is_empty() {
            return Err("it is empty; expected e.g. TERM,200,KILL,25".to_owned());
        }
        let mut steps = Vec::new();
        for pair in parts.chunks(2) {
            let signal = parse_signal(pair[0])?;
            let wait = match pair.get(1) {
                Some(ms) => Duration::from_millis(ms.parse::<u64>().map_err(|_| {
                    format!(
                        "'{ms}' is not a whole number of milliseconds (after {})",
                        pair[0]
                    )
                })?),
                None => Duration::ZERO,
            };
            steps.push(Step { signal, wait });
        }
        Ok(TermSeq { steps })
    }
}

impl fmt::Display for TermSeq {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, step) in self.steps.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            let name = step.signal.as_str();
            write!(
                f,
                "{},{}",
                name.strip_prefix("SIG").unwrap_or(name),
                step.wait.as_millis()
            )?;
        }
        Ok(())
    }
}

/// `TERM`, `SIGTERM`, `term` or `15`.
fn parse_signal(s: &str) -> Result<Signal, String> {
    if let Ok(n) = s.parse::<i32>() {
        return Signal::try_from(n).map_err(|_| format!("{n} is not a signal number"));
    }
    let upper = s.to_ascii_uppercase();
    let name = if upper.starts_with("SIG") {
        upper
    } else {
        format!("SIG{upper}")
    };
    name.parse::<Signal>()
        .map_err(|_| format!("'{s}' is not a signal name (e.g. TERM, INT, KILL)"))
}

/// For clap: parses a `--termseq` value.
pub fn parse_termseq(s: &str) -> Result<TermSeq, String> {
    s.parse()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn steps(s: &str) -> Vec<(Signal, u64)> {
        s.parse::<TermSeq>()
            .unwrap()
            .steps()
            .iter()
            .map(|s| (s.signal, s.wait.as_millis() as u64))
            .collect()
    }

    #[test]
    fn the_default_is_term_then_kill() {
        assert_eq!(
            steps(DEFAULT),
            [(Signal::SIGTERM, 200), (Signal::SIGKILL, 25)]
        );
        assert_eq!(TermSeq::default().to_string(), DEFAULT);
    }

    #[test]
    fn gnu_parallels_own_default_parses() {
        assert_eq!(
            steps("TERM,200,TERM,100,TERM,50,KILL,25"),
            [
                (Signal::SIGTERM, 200),
                (Signal::SIGTERM, 100),
                (Signal::SIGTERM, 50),
                (Signal::SIGKILL, 25)
            ]
        );
    }

    #[test]
    fn names_prefixes_numbers_and_a_missing_last_wait() {
        assert_eq!(
            steps("sigint, 1000, 9"),
            [(Signal::SIGINT, 1000), (Signal::SIGKILL, 0)]
        );
        assert_eq!(steps("HUP"), [(Signal::SIGHUP, 0)]);
    }

    #[test]
    fn bad_sequences_say_what_is_wrong() {
        assert!("".parse::<TermSeq>().unwrap_err().contains("empty"));
        assert!(
            "TERM,soon"
                .parse::<TermSeq>()
                .unwrap_err()
                .contains("'soon' is not a whole number")
        );
        assert!(
            "BOGUS,10"
                .parse::<TermSeq>()
                .unwrap_err()
                .contains("'BOGUS' is not a signal")
        );
        assert!("99,10".parse::<TermSeq>().unwrap_err().contains("99"));
        assert!("TERM,-5".parse::<TermSeq>().is_err());
    }
}
