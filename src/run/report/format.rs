//! Pure formatting for the terminal: rates, coarse durations, the ETA, fitting
//! fields into a width, and shortening text in the middle.
//!
//! Owns: every number format of the progress line, and the rules that keep a
//! line within a width.
//!
//! Invariants: every function here is pure (no clock, no terminal), so each is
//! table-tested; widths are counted in `char`s (atp-run's own text uses only
//! single-column characters; a command with wide characters may come out a few
//! columns short or long, never several lines long); one duration notation is
//! used throughout (`0.004s`, `12.3s`, `1m05s`, `2h03m` in status lines and the
//! summary; the same notation in whole seconds on the progress line: `5s`,
//! `1m05s`, `2h03m`).

use std::time::Duration;

/// `0.52/s`, `5.3/s`, `28/s`, `283/s`, `2.8k/s`: two or three significant digits,
/// so the width hardly changes from one redraw to the next.
pub(crate) fn rate(per_sec: f64) -> String {
    if !per_sec.is_finite() || per_sec <= 0.0 {
        return "0/s".to_owned();
    }
    if per_sec >= 1000.0 {
        let k = per_sec / 1000.0;
        return if k >= 10.0 {
            format!("{k:.0}k/s")
        } else {
            format!("{k:.1}k/s")
        };
    }
    if per_sec >= 10.0 {
        format!("{per_sec:.0}/s")
    } else if per_sec >= 1.0 {
        format!("{per_sec:.1}/s")
    } else if per_sec >= 0.01 {
        format!("{per_sec:.2}/s")
    } else {
        "<0.01/s".to_owned()
    }
}

/// Whole seconds in the status lines' notation: `0s`, `59s`, `1m05s`, `2h03m`.
pub(crate) fn coarse_duration(d: Duration) -> String {
    let secs = d.as_secs() + u64::from(d.subsec_millis() >= 500);
    if secs < 60 {
        format!("{secs}s")
    } else if secs < 3600 {
        format!("{}m{:02}s", secs / 60, secs % 60)
    } else {
        let minutes = (secs + 30) / 60;
        format!("{}h{:02}m", minutes / 60, minutes % 60)
    }
}

/// Jobs that must have finished before an ETA is shown.
pub(crate) const ETA_MIN_FINISHED: u64 = 3;

/// What the ETA is computed from.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct EtaInput<'a> {
    /// Jobs in all (the input has ended).
    pub total: u64,
    /// Jobs finished.
    pub done: u64,
    /// Jobs finished per second, recently (over the last seconds, not since the
    /// start).
    pub recent_rate: f64,
    /// The mean duration of finished jobs.
    pub mean_job: Duration,
    /// How long each running job has run.
    pub running_ages: &'a [Duration],
}

/// The time left, or `None` when it would mean nothing: too few jobs finished,
/// no recent rate, nothing left, or only jobs left that already ran longer than
/// jobs usually take (then any figure would be a guess, and `0s` a lie).
///
/// Jobs not started yet take `queued / recent_rate`; each running job is expected
/// to need the mean duration minus its age; the ETA is the larger of the two.
pub(crate) fn eta(input: &EtaInput<'_>) -> Option<Duration> {
    if input.done < ETA_MIN_FINISHED || input.done >= input.total {
        return None;
    }
    if !input.recent_rate.is_finite() || input.recent_rate <= 0.0 {
        return None;
    }
    let remaining = input.total - input.done;
    let running = input.running_ages.len() as u64;
    let queued = remaining.saturating_sub(running);
    let running_left = input
        .running_ages
        .iter()
        .map(|age| input.mean_job.saturating_sub(*age))
        .max()
        .unwrap_or(Duration::ZERO);
    if queued == 0 && running_left < Duration::from_secs(1) {
        return None;
    }
    let queued_time = Duration::from_secs_f64(queued as f64 / input.recent_rate);
    Some(queued_time.max(running_left))
}

/// A field of a line, and how much it matters (higher: kept longer).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Field {
    /// Kept over fields of lower priority when the line is too wide.
    pub priority: u8,
    /// The text.
    pub text: String,
}

impl Field {
    /// A field of priority `priority`.
    pub(crate) fn new(priority: u8, text: impl Into<String>) -> Field {
        Field {
            priority,
            text: text.into(),
        }
    }
}

/// Joins `fields` with `sep`, leaving out the lowest-priority fields (the last
/// of equal ones first) until the line fits in `width`; if even the most
/// important field does not fit, it is cut to `width`. Order is kept.
pub(crate) fn fit(fields: &[Field], sep: &str, width: usize) -> String {
    let mut kept: Vec<&Field> = fields.iter().filter(|f| !f.text.is_empty()).collect();
    loop {
        let len: usize = kept.iter().map(|f| chars(&f.text)).sum::<usize>()
            + chars(sep) * kept.len().saturating_sub(1);
        if len <= width || kept.len() <= 1 {
            break;
        }
        let drop = (0..kept.len())
            .rev()
            .min_by_key(|&i| kept[i].priority)
            .unwrap_or(0);
        kept.remove(drop);
    }
    let line = kept
        .iter()
        .map(|f| f.text.as_str())
        .collect::<Vec<_>>()
        .join(sep);
    cut(&line, width)
}

/// The first `width` characters of `text`.
pub(crate) fn cut(text: &str, width: usize) -> String {
    text.chars().take(width).collect()
}

/// `text` in at most `width` characters, the middle replaced by `ellipsis` when
/// it is longer (the start and the end of a command say most about it).
pub(crate) fn middle_ellipsis(text: &str, width: usize, ellipsis: &str) -> String {
    let len = chars(text);
    if len <= width {
        return text.to_owned();
    }
    let room = width.saturating_sub(chars(ellipsis));
    if room == 0 {
        return cut(ellipsis, width);
    }
    let head = room.div_ceil(2);
    let tail = room - head;
    let mut out: String = text.chars().take(head).collect();
    out.push_str(ellipsis);
    out.extend(text.chars().skip(len - tail));
    out
}

/// A bar of `width` cells, `done` of `total` filled, from `full` and `empty`.
pub(crate) fn bar(done: u64, total: u64, width: usize, full: char, empty: char) -> String {
    let filled = if total == 0 {
        width
    } else {
        ((done.min(total) as u128 * width as u128) / total as u128) as usize
    };
    let mut s = String::with_capacity(width * 3);
    s.extend(std::iter::repeat_n(full, filled));
    s.extend(std::iter::repeat_n(empty, width - filled));
    s
}

/// Characters in `text`.
pub(crate) fn chars(text: &str) -> usize {
    text.chars().count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_have_two_or_three_significant_digits() {
        let cases: &[(f64, &str)] = &[
            (0.0, "0/s"),
            (-1.0, "0/s"),
            (f64::NAN, "0/s"),
            (0.004, "<0.01/s"),
            (0.5173, "0.52/s"),
            (2.0173, "2.0/s"),
            (9.96, "10.0/s"),
            (26.7011, "27/s"),
            (283.4, "283/s"),
            (999.4, "999/s"),
            (2_817.0, "2.8k/s"),
            (45_000.0, "45k/s"),
        ];
        for (r, want) in cases {
            assert_eq!(rate(*r), *want, "rate({r})");
        }
    }

    #[test]
    fn coarse_durations_use_the_status_line_notation() {
        let cases: &[(u64, &str)] = &[
            (0, "0s"),
            (499, "0s"),
            (500, "1s"),
            (59_000, "59s"),
            (60_000, "1m00s"),
            (88_000, "1m28s"),
            (3_599_000, "59m59s"),
            (3_600_000, "1h00m"),
            (7_380_000, "2h03m"),
        ];
        for (ms, want) in cases {
            assert_eq!(
                coarse_duration(Duration::from_millis(*ms)),
                *want,
                "{ms} ms"
            );
        }
    }

    fn eta_of(total: u64, done: u64, rate: f64, mean_s: u64, ages_s: &[u64]) -> Option<u64> {
        let ages: Vec<Duration> = ages_s.iter().map(|s| Duration::from_secs(*s)).collect();
        eta(&EtaInput {
            total,
            done,
            recent_rate: rate,
            mean_job: Duration::from_secs(mean_s),
            running_ages: &ages,
        })
        .map(|d| d.as_secs())
    }

    #[test]
    fn the_eta_is_omitted_when_it_would_mean_nothing() {
        // Nothing known yet: not "ETA 0s".
        assert_eq!(eta_of(200, 0, 0.0, 0, &[]), None);
        assert_eq!(eta_of(200, 2, 1.0, 1, &[]), None, "too few finished");
        assert_eq!(eta_of(200, 50, 0.0, 1, &[1]), None, "no recent rate");
        assert_eq!(eta_of(10, 10, 5.0, 1, &[]), None, "all done");
        // Only overdue jobs left: any figure would be a guess.
        assert_eq!(eta_of(12, 9, 5.0, 2, &[3, 4, 9]), None);
        // One job queued behind them: that one is known.
        assert_eq!(eta_of(13, 9, 0.5, 2, &[3, 4, 9]), Some(2));
    }

    #[test]
    fn the_eta_counts_queued_jobs_and_running_jobs_ages() {
        // 100 left, 10 running: 90 queued at 10/s.
        assert_eq!(eta_of(200, 100, 10.0, 1, &[0; 10]), Some(9));
        // 11 long jobs still busy, none queued: the youngest needs 30 s more,
        // not 0 s.
        let ages = [10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 0];
        assert_eq!(eta_of(111, 100, 20.0, 30, &ages), Some(30));
        // The slower of the two wins.
        assert_eq!(eta_of(50, 10, 1.0, 100, &[90]), Some(39));
    }

    fn fields() -> Vec<Field> {
        vec![
            Field::new(9, "105/200"),
            Field::new(3, "93 busy"),
            Field::new(5, "28/s"),
            Field::new(8, "ETA 3s"),
        ]
    }

    #[test]
    fn fields_are_dropped_by_priority_and_never_wrap() {
        let cases: &[(usize, &str)] = &[
            (80, "105/200 · 93 busy · 28/s · ETA 3s"),
            (33, "105/200 · 93 busy · 28/s · ETA 3s"),
            (32, "105/200 · 28/s · ETA 3s"),
            (22, "105/200 · ETA 3s"),
            (15, "105/200"),
            (4, "105/"),
            (0, ""),
        ];
        for (width, want) in cases {
            let line = fit(&fields(), " · ", *width);
            assert_eq!(line, *want, "width {width}");
            assert!(chars(&line) <= *width);
        }
    }

    #[test]
    fn equal_priorities_drop_the_last_first_and_empty_fields_vanish() {
        let f = [
            Field::new(1, "aaa"),
            Field::new(0, ""),
            Field::new(1, "bbb"),
        ];
        assert_eq!(fit(&f, "|", 7), "aaa|bbb");
        assert_eq!(fit(&f, "|", 6), "aaa");
    }

    #[test]
    fn middle_ellipsis_keeps_both_ends() {
        let cases: &[(&str, usize, &str)] = &[
            ("echo hi", 10, "echo hi"),
            ("echo hi", 7, "echo hi"),
            ("abcdefghij", 7, "abc…hij"),
            ("abcdefghij", 6, "abc…ij"),
            ("abcdefghij", 2, "a…"),
            ("abcdefghij", 1, "…"),
            ("abcdefghij", 0, ""),
            ("ééééééé", 5, "éé…éé"),
        ];
        for (text, width, want) in cases {
            assert_eq!(
                middle_ellipsis(text, *width, "…"),
                *want,
                "{text} in {width}"
            );
        }
        assert_eq!(middle_ellipsis("abcdefghij", 7, "..."), "ab...ij");
    }

    #[test]
    fn bars_fill_in_proportion() {
        let cases: &[(u64, u64, usize, &str)] = &[
            (0, 10, 5, "-----"),
            (5, 10, 4, "##--"),
            (10, 10, 3, "###"),
            (12, 10, 3, "###"),
            (0, 0, 2, "##"),
        ];
        for (done, total, width, want) in cases {
            assert_eq!(bar(*done, *total, *width, '#', '-'), *want);
        }
    }
}
