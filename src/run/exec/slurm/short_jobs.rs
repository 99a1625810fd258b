//! The warning that jobs are too short to be worth an `srun` step each: a step's
//! launch costs ~50 ms (measured inside `salloc -n2`: 20 sequential
//! `srun --exact -N1 -n1 -c1 --quiet true` took 43 ms each on an idle 2-core VM,
//! 103 ms under load), and it is a request to slurmctld; jobs of a few
//! milliseconds then spend most of their time, and the controller's, launching.
//! Giving each step more work (several arguments per job: -N, -m, -X) is the cure.
//!
//! Owns: [`ShortJobs`], the heuristic, a pure function of the times it is given:
//! each step's launch (srun started → the step's shell began) and its job (the
//! shell began → srun ended), as the step reports them (`slurm/mod.rs`).
//!
//! Invariants: judged once, on the first [`SAMPLE`] steps (so a run of long jobs
//! pays nothing after that): when the median job is shorter than the median
//! launch, the warning is given, once per run; never otherwise. Both grow alike
//! on a loaded machine, so the judgement does not depend on the load.

use std::time::Duration;

/// Steps judged.
pub(crate) const SAMPLE: usize = 20;

/// Step times until the judgement; see the module header.
#[derive(Debug, Default)]
pub(crate) struct ShortJobs {
    launches: Vec<Duration>,
    jobs: Vec<Duration>,
    judged: bool,
}

impl ShortJobs {
    /// Nothing seen yet.
    pub(crate) fn new() -> ShortJobs {
        ShortJobs::default()
    }

    /// A step took `launch` to start and then `job` to end; returns the warning,
    /// once, if jobs are shorter than their launches.
    pub(crate) fn record(&mut self, launch: Duration, job: Duration) -> Option<String> {
        if self.judged {
            return None;
        }
        self.launches.push(launch);
        self.jobs.push(job);
        if self.jobs.len() < SAMPLE {
            return None;
        }
        self.judged = true;
        let launch = median(std::mem::take(&mut self.launches));
        let job = median(std::mem::take(&mut self.jobs));
        (job < launch).then(|| {
            format!(
                "jobs take ~{}ms, and each srun step costs ~{}ms to launch and a request to \
                 slurmctld: give each step more work, e.g. several arguments per job with \
                 -N 20, -m or -X",
                job.as_millis(),
                launch.as_millis(),
            )
        })
    }
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort_unstable();
    times.get(times.len() / 2).copied().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn short_jobs_are_warned_about_once_after_the_sample() {
        let mut short = ShortJobs::new();
        let said: Vec<Option<String>> = (0..SAMPLE * 2)
            .map(|_| short.record(ms(45), ms(8)))
            .collect();
        assert!(said[..SAMPLE - 1].iter().all(Option::is_none));
        let warning = said[SAMPLE - 1].clone().unwrap_or_default();
        assert!(
            warning.contains("~8ms") && warning.contains("~45ms") && warning.contains("-N"),
            "{warning}"
        );
        assert!(said[SAMPLE..].iter().all(Option::is_none), "said twice");
    }

    #[test]
    fn jobs_longer_than_their_launch_are_not_warned_about_even_under_load() {
        let mut long = ShortJobs::new();
        assert!((0..SAMPLE * 2).all(|_| long.record(ms(45), ms(310)).is_none()));
        // A loaded machine: launches of 250 ms, jobs of 0.3 s.
        let mut loaded = ShortJobs::new();
        assert!((0..SAMPLE).all(|_| loaded.record(ms(250), ms(330)).is_none()));
        // The same load with jobs of nothing: warned.
        let mut tiny = ShortJobs::new();
        assert!((0..SAMPLE).any(|_| tiny.record(ms(250), ms(40)).is_some()));
    }

    #[test]
    fn the_medians_decide_not_a_few_outliers() {
        // Mostly long jobs with a few quick ones, and a few slow launches.
        let mut mixed = ShortJobs::new();
        let warned = (0..SAMPLE).any(|i| {
            let job = if i % 3 == 0 { ms(5) } else { ms(900) };
            let launch = if i % 4 == 0 { ms(1200) } else { ms(50) };
            mixed.record(launch, job).is_some()
        });
        assert!(!warned);
        // Mostly tiny jobs with a few long ones: warned.
        let mut tiny = ShortJobs::new();
        let warned = (0..SAMPLE).any(|i| {
            let job = if i % 4 == 0 { ms(2000) } else { ms(5) };
            tiny.record(ms(50), job).is_some()
        });
        assert!(warned);
    }
}
