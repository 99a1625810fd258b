//! SIGUSR1's answer: the list of running jobs (number, how long each has run,
//! command), as the executor knows them.
//!
//! Owns: the wording of the list. The jobs come from [`Executor::running`]; the
//! signal arrives through `signals.rs` as an event to the coordinator.
//!
//! [`Executor::running`]: crate::run::exec::executor::Executor::running

use std::fmt::Write as _;
use std::time::Instant;

use crate::run::exec::executor::RunningJob;
use crate::run::report::status::push_printable;
use crate::run::values::duration::format_duration;

/// `atp-run: 2 jobs running:` then `  [3] 1.234s: cmd` lines, by job number.
pub(crate) fn describe(jobs: &mut [RunningJob], now: Instant) -> String {
    jobs.sort_by_key(|job| job.key);
    let mut out = match jobs.len() {
        0 => "atp-run: no job running".to_owned(),
        1 => "atp-run: 1 job running:".to_owned(),
        n => format!("atp-run: {n} jobs running:"),
    };
    for job in jobs.iter() {
        let ran = now.saturating_duration_since(job.started);
        let _ = write!(out, "\n  [{}] {}: ", job.key.number, format_duration(ran));
        push_printable(&mut out, &job.command);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run::job::JobKey;

    fn job(number: u64, command: &[u8]) -> RunningJob {
        RunningJob {
            key: JobKey {
                number,
                run: 0,
                attempt: 1,
            },
            started: Instant::now(),
            command: command.into(),
        }
    }

    #[test]
    fn the_list_shows_running_jobs_by_number() {
        assert_eq!(describe(&mut [], Instant::now()), "atp-run: no job running");
        let text = describe(
            &mut [job(12, b"sleep 2"), job(3, b"echo 'a\nb'")],
            Instant::now(),
        );
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "atp-run: 2 jobs running:");
        assert!(lines[1].starts_with("  [3] ") && lines[1].ends_with("s: echo 'a\\nb'"));
        assert!(lines[2].starts_with("  [12] ") && lines[2].ends_with(": sleep 2"));
        assert!(
            describe(&mut [job(12, b"x")], Instant::now())
                .starts_with("atp-run: 1 job running:\n  [12] ")
        );
    }
}
