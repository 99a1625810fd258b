//! `-j`/`--jobs` in GNU parallel's forms: `N` (exactly N at a time), `0` (as
//! many as possible: here, as many as the adaptive pool's CPU and memory gates
//! allow), `N%` (that share of the cores), `+N` and `-N` (cores plus or minus
//! N).
//!
//! Invariant: [`JobsSpec::workers`] is never 0; a relative form that leaves no
//! worker is an error naming it, as GNU parallel's "Cannot run any jobs".

use std::fmt;

/// A parsed `-j` value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobsSpec {
    /// `N`: exactly N.
    Fixed(usize),
    /// `0`: the adaptive pool, as many as its gates allow.
    AsManyAsPossible,
    /// `N%`: N percent of the cores (rounded down, at least 1).
    Percent(usize),
    /// `+N` (positive) or `-N` (negative): the cores plus N.
    Relative(isize),
}

impl fmt::Display for JobsSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JobsSpec::Fixed(n) => write!(f, "{n}"),
            JobsSpec::AsManyAsPossible => f.write_str("0"),
            JobsSpec::Percent(p) => write!(f, "{p}%"),
            JobsSpec::Relative(n) => write!(f, "{n:+}"),
        }
    }
}

/// Parses a `-j` value.
///
/// # Errors
/// A message saying which forms are accepted.
pub fn parse_jobs(s: &str) -> Result<JobsSpec, String> {
    let bad = || {
        format!(
            "'{s}' is not a job count: write N, 0 (as many as possible), N% of the cores, +N or -N"
        )
    };
    let number = |t: &str| t.parse::<usize>().map_err(|_| bad());
    let s = s.trim();
    if let Some(p) = s.strip_suffix('%') {
        return match number(p)? {
            0 => Err(bad()),
            p => Ok(JobsSpec::Percent(p)),
        };
    }
    if let Some(n) = s.strip_prefix('+') {
        return Ok(JobsSpec::Relative(
            number(n)?.try_into().map_err(|_| bad())?,
        ));
    }
    if let Some(n) = s.strip_prefix('-') {
        let n: isize = number(n)?.try_into().map_err(|_| bad())?;
        return Ok(JobsSpec::Relative(-n));
    }
    Ok(match number(s)? {
        0 => JobsSpec::AsManyAsPossible,
        n => JobsSpec::Fixed(n),
    })
}

impl JobsSpec {
    /// The fixed number of workers on a machine with `cores` cores, or `None`
    /// for the adaptive pool (`-j 0`).
    ///
    /// # Errors
    /// A relative form that leaves no worker.
    pub fn workers(self, cores: usize) -> Result<Option<usize>, String> {
        Ok(Some(match self {
            JobsSpec::AsManyAsPossible => return Ok(None),
            JobsSpec::Fixed(n) => n,
            JobsSpec::Percent(p) => (cores.saturating_mul(p) / 100).max(1),
            JobsSpec::Relative(n) => match cores.checked_add_signed(n) {
                Some(w) if w > 0 => w,
                _ => {
                    return Err(format!(
                        "-j {self} leaves no job to run on {cores} core{}: use at most -j -{}",
                        if cores == 1 { "" } else { "s" },
                        cores.saturating_sub(1)
                    ));
                }
            },
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gnu_forms_resolve_as_gnu_parallel_does_on_two_cores() {
        // GNU parallel on 2 cores: 150% -> 3, 50% -> 1, +1 -> 3, -1 -> 1.
        let on_two = |s: &str| parse_jobs(s).unwrap().workers(2);
        assert_eq!(on_two("150%"), Ok(Some(3)));
        assert_eq!(on_two("50%"), Ok(Some(1)));
        assert_eq!(on_two("1%"), Ok(Some(1)));
        assert_eq!(on_two("+1"), Ok(Some(3)));
        assert_eq!(on_two("-1"), Ok(Some(1)));
        assert_eq!(on_two("7"), Ok(Some(7)));
        assert_eq!(on_two("0"), Ok(None));
        assert_eq!(
            on_two("-2"),
            Err("-j -2 leaves no job to run on 2 cores: use at most -j -1".to_owned())
        );
    }

    #[test]
    fn other_text_is_refused_with_the_forms() {
        for bad in ["", "x", "%", "0%", "+", "-", "1.5", "+-1", "--1"] {
            let err = parse_jobs(bad).unwrap_err();
            assert!(
                err.contains("write N, 0 (as many as possible)"),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn display_round_trips() {
        for s in ["4", "0", "50%", "+2", "-1"] {
            assert_eq!(parse_jobs(s).unwrap().to_string(), s);
        }
    }
}
