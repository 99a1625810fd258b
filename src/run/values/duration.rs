//! Human-friendly durations for the command line and for status lines.
//!
//! This module owns parsing durations such as `100ms`, `1.5s` or `2h`
//! ([`parse_duration`], usable as a clap `value_parser`) and formatting
//! elapsed times compactly ([`format_duration`]).
//!
//! Invariants:
//! - Parsing is exact decimal arithmetic on integers (no floating point), so
//!   `0.1s` is exactly 100 ms; precision below one nanosecond is truncated.
//! - Parsing never panics and never wraps: negative, non-finite, malformed or
//!   out-of-range inputs are errors with a one-line message. Every duration flag
//!   (`--timeout`, `--interval`, `--grace`, `--idle-timeout`) goes through
//!   [`parse_duration`].
//! - A duration up to `u64::MAX` seconds is accepted. One too long to ever elapse
//!   (past what a monotonic clock reading can hold) saturates to "never" where it is
//!   used: no timeout, no retirement, no next run (`Instant::checked_add` giving `None`, in the pool
//!   and the `--timeout` timer), never a panic and never "at once".
//! - Formatting rounds half up at the precision shown, and a value that
//!   rounds up to the next unit is shown in that unit (`59.96s` → `1m00s`).

use std::time::Duration;

const NANOS_PER_SEC: u128 = 1_000_000_000;

/// The accepted units and their length in nanoseconds.
const UNITS: [(&str, u128); 5] = [
    ("us", 1_000),
    ("ms", 1_000_000),
    ("s", NANOS_PER_SEC),
    ("m", 60 * NANOS_PER_SEC),
    ("h", 3600 * NANOS_PER_SEC),
];

/// Fraction digits kept when parsing; more cannot matter below 1 ns even for
/// hours (3600 s · 10⁻¹⁸ ≪ 1 ns).
const MAX_FRACTION_DIGITS: usize = 18;

/// Parses a duration such as `100ms`, `2s`, `1.5s`, `1m`, `2h`, `500us`, or a
/// bare number of seconds (`3`, `0.25`). Surrounding whitespace is ignored.
///
/// # Errors
///
/// A one-line message naming the input (suitable for clap) if it is empty,
/// malformed, negative, has an unknown unit, or exceeds [`Duration::MAX`].
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let text = s.trim();
    let invalid = || {
        format!(
            "invalid duration '{}': expected a number followed by us, ms, s, m or h \
             (e.g. 100ms, 2s, 1m)",
            one_line(text)
        )
    };
    if text.starts_with('-') {
        return Err(format!(
            "invalid duration '{}': a duration cannot be negative",
            one_line(text)
        ));
    }

    let number_len = text
        .bytes()
        .position(|b| !(b.is_ascii_digit() || b == b'.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(number_len);
    let (int_part, frac_part) = match number.split_once('.') {
        Some((int_part, frac_part)) => (int_part, frac_part),
        None => (number, ""),
    };
    if (int_part.is_empty() && frac_part.is_empty()) || frac_part.contains('.') {
        return Err(invalid());
    }
    let unit_nanos = if unit.is_empty() {
        NANOS_PER_SEC
    } else {
        match UNITS.iter().find(|(name, _)| *name == unit) {
            Some(&(_, nanos)) => nanos,
            None => return Err(invalid()),
        }
    };

    let too_large = || {
        format!(
            "invalid duration '{}': too large (at most {} seconds)",
            one_line(text),
            u64::MAX
        )
    };
    // Integer part, checked against overflow digit by digit.
    let mut whole: u128 = 0;
    for digit in int_part.bytes() {
        whole = whole
            .checked_mul(10)
            .and_then(|w| w.checked_add(u128::from(digit - b'0')))
            .ok_or_else(too_large)?;
    }
    let mut total = whole.checked_mul(unit_nanos).ok_or_else(too_large)?;

    // Fractional part: (digits / 10^len) * unit, truncated to whole nanos.
    let frac_digits = &frac_part.as_bytes()[..frac_part.len().min(MAX_FRACTION_DIGITS)];
    let mut frac: u128 = 0;
    let mut scale: u128 = 1;
    for &digit in frac_digits {
        frac = frac * 10 + u128::from(digit - b'0');
        scale *= 10;
    }
    // frac < 10^18 and unit_nanos < 4·10^12, so this cannot overflow u128.
    total = total
        .checked_add(frac * unit_nanos / scale)
        .ok_or_else(too_large)?;

    let secs = u64::try_from(total / NANOS_PER_SEC).map_err(|_| too_large())?;
    // Always below 10^9, so it fits in u32.
    let nanos = (total % NANOS_PER_SEC) as u32;
    Ok(Duration::new(secs, nanos))
}

/// `text` with control characters (such as newlines) escaped, so an error
/// message stays on one line.
fn one_line(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// Divides rounding half up.
fn div_round(n: u128, d: u128) -> u128 {
    // n is at most Duration::MAX in nanoseconds (< 2^65): no overflow.
    (n + d / 2) / d
}

/// Formats a duration for status lines: `0.004s` and `1.234s` below 10 s,
/// `59.9s` below a minute, `1m02s` below an hour, `1h03m` above.
pub fn format_duration(d: Duration) -> String {
    let nanos = d.as_nanos();
    let millis = div_round(nanos, 1_000_000);
    if millis < 10_000 {
        return format!("{}.{:03}s", millis / 1000, millis % 1000);
    }
    let tenths = div_round(nanos, 100_000_000);
    if tenths < 600 {
        return format!("{}.{}s", tenths / 10, tenths % 10);
    }
    let secs = div_round(nanos, NANOS_PER_SEC);
    if secs < 3600 {
        return format!("{}m{:02}s", secs / 60, secs % 60);
    }
    let minutes = div_round(secs, 60);
    format!("{}h{:02}m", minutes / 60, minutes % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_units_and_bare_seconds() {
        let cases: &[(&str, Duration)] = &[
            ("100ms", Duration::from_millis(100)),
            ("2s", Duration::from_secs(2)),
            ("1.5s", Duration::from_millis(1500)),
            ("1m", Duration::from_secs(60)),
            ("2h", Duration::from_secs(7200)),
            ("500us", Duration::from_micros(500)),
            ("3", Duration::from_secs(3)),
            ("0.25", Duration::from_millis(250)),
            ("0.1s", Duration::from_millis(100)),
            ("0.1", Duration::from_millis(100)),
            ("1.5m", Duration::from_secs(90)),
            ("0.5h", Duration::from_secs(1800)),
            ("1.5ms", Duration::from_micros(1500)),
            ("1.5us", Duration::from_nanos(1500)),
            ("0", Duration::ZERO),
            ("0ms", Duration::ZERO),
            (".5s", Duration::from_millis(500)),
            ("2.s", Duration::from_secs(2)),
            ("007s", Duration::from_secs(7)),
            ("  2s\t", Duration::from_secs(2)),
            ("\n100ms ", Duration::from_millis(100)),
            // Sub-nanosecond precision is truncated.
            ("1.0000000009", Duration::from_nanos(1_000_000_000)),
            (
                "0.1234567891234567891234s",
                Duration::from_nanos(123_456_789),
            ),
            ("18446744073709551615", Duration::from_secs(u64::MAX)),
            (
                "18446744073709551615.999999999",
                Duration::new(u64::MAX, 999_999_999),
            ),
        ];
        for &(input, expected) in cases {
            assert_eq!(parse_duration(input), Ok(expected), "input {input:?}");
        }
    }

    #[test]
    fn rejects_malformed_input() {
        let cases = [
            "", "   ", "5x", "s", "ms", ".", "..5", "1.2.3", "1e3", "nan", "NaN", "inf",
            "infinity", "+1s", "1 s", "1S", "1sec", "1ms2", "1h30m", "0x10", "١s", "1_000",
        ];
        for input in cases {
            let err = parse_duration(input).expect_err(input);
            assert!(
                err.contains("expected a number followed by"),
                "{input:?}: {err}"
            );
            assert_eq!(err.lines().count(), 1, "{input:?}: {err}");
        }
    }

    #[test]
    fn malformed_message_names_input() {
        assert_eq!(
            parse_duration(" 5x ").unwrap_err(),
            "invalid duration '5x': expected a number followed by us, ms, s, m or h \
             (e.g. 100ms, 2s, 1m)"
        );
        assert_eq!(
            parse_duration("").unwrap_err(),
            "invalid duration '': expected a number followed by us, ms, s, m or h \
             (e.g. 100ms, 2s, 1m)"
        );
        // Control characters are escaped to keep the message on one line;
        // other characters are shown as typed.
        assert!(
            parse_duration("5秒")
                .unwrap_err()
                .starts_with("invalid duration '5秒'")
        );
        assert!(
            parse_duration("1\nx")
                .unwrap_err()
                .starts_with("invalid duration '1\\nx'")
        );
    }

    #[test]
    fn rejects_negative() {
        for input in ["-1s", "-0", " -2.5ms", "-inf"] {
            let err = parse_duration(input).expect_err(input);
            assert!(
                err.ends_with("a duration cannot be negative"),
                "{input:?}: {err}"
            );
        }
    }

    #[test]
    fn rejects_overflow() {
        let cases = [
            "18446744073709551616",
            "18446744073709551615.9999999999h",
            "5124095576030432h",
            "307445734561825861m",
            "99999999999999999999999999999999999999999999999999s",
            "18446744073709551616000ms",
        ];
        for input in cases {
            let err = parse_duration(input).expect_err(input);
            assert!(err.contains("too large"), "{input:?}: {err}");
        }
        // The largest whole number of hours that fits is accepted.
        let hours = u64::MAX / 3600;
        assert_eq!(
            parse_duration(&format!("{hours}h")),
            Ok(Duration::from_secs(hours * 3600))
        );
    }

    #[test]
    fn formats_table() {
        let ms = Duration::from_millis;
        let cases: &[(Duration, &str)] = &[
            (Duration::ZERO, "0.000s"),
            (ms(4), "0.004s"),
            (Duration::from_micros(4499), "0.004s"),
            (Duration::from_micros(4500), "0.005s"),
            (ms(1234), "1.234s"),
            (ms(9999), "9.999s"),
            (Duration::from_micros(9_999_500), "10.0s"),
            (ms(10_000), "10.0s"),
            (ms(10_049), "10.0s"),
            (ms(10_050), "10.1s"),
            (ms(59_900), "59.9s"),
            (ms(59_949), "59.9s"),
            (ms(59_950), "1m00s"),
            (ms(60_000), "1m00s"),
            (ms(62_000), "1m02s"),
            (ms(62_499), "1m02s"),
            (ms(62_500), "1m03s"),
            (Duration::from_secs(3599), "59m59s"),
            (ms(3_599_500), "1h00m"),
            (Duration::from_secs(3600), "1h00m"),
            (Duration::from_secs(3600 + 3 * 60), "1h03m"),
            (Duration::from_secs(3600 + 3 * 60 + 29), "1h03m"),
            (Duration::from_secs(3600 + 3 * 60 + 30), "1h04m"),
            (Duration::from_secs(100 * 3600 + 59 * 60 + 45), "101h00m"),
        ];
        for &(d, expected) in cases {
            assert_eq!(format_duration(d), expected, "{d:?}");
        }
    }

    #[test]
    fn formats_extremes_without_panicking() {
        let max = format_duration(Duration::MAX);
        assert!(max.ends_with('m') && max.contains('h'), "{max}");
        assert_eq!(format_duration(Duration::from_nanos(1)), "0.000s");
    }

    #[test]
    fn round_trips_formatted_short_values() {
        for input in ["0.004s", "1.234s", "59.9s"] {
            assert_eq!(format_duration(parse_duration(input).unwrap()), input);
        }
    }
}
