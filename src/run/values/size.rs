//! Human byte sizes for flags like `--memory-reserve 512M` and `--stack-size 1M`:
//! the one parser every size flag goes through.
//!
//! Invariants: parsing never panics and never wraps; a size that does not fit in
//! a `u64` of bytes is an error, never a smaller value.

/// Parses `4096`, `512K`, `512M`, `2G`, `1T` (binary multiples: K = 1024 bytes; an
/// optional trailing `B` or `iB` is accepted, as in `512MiB`). Errors read as one line
/// for clap.
pub fn parse_size(s: &str) -> Result<u64, String> {
    let text = s.trim();
    let digits_end = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(digits_end);
    let invalid = || {
        format!(
            "invalid size '{s}': expected a whole number of bytes, or with K, M, G or T (e.g. 512M, 2G)"
        )
    };
    let value: u64 = number.parse().map_err(|_| invalid())?;
    let unit = unit.trim();
    let unit = unit
        .strip_suffix("iB")
        .or_else(|| unit.strip_suffix('B'))
        .unwrap_or(unit);
    let shift = match unit.to_ascii_uppercase().as_str() {
        "" => 0,
        "K" => 10,
        "M" => 20,
        "G" => 30,
        "T" => 40,
        _ => return Err(invalid()),
    };
    value
        .checked_mul(1u64 << shift)
        .ok_or_else(|| format!("invalid size '{s}': too large"))
}

/// Parses a size as GNU parallel does (`--block`): a lowercase `k`, `m`, `g`, `t`
/// is a power of 1000 (`10k` is 10000 bytes), an uppercase one (or `Ki`, `MiB`...)
/// a power of 1024, as in [`parse_size`].
pub fn parse_gnu_size(s: &str) -> Result<u64, String> {
    let text = s.trim();
    let shift = match text.as_bytes().last() {
        Some(b'k') => 1,
        Some(b'm') => 2,
        Some(b'g') => 3,
        Some(b't') => 4,
        _ => return parse_size(s),
    };
    let number = &text[..text.len() - 1];
    let invalid = || {
        format!(
            "invalid size '{s}': expected a whole number of bytes, or with k, m, g (powers of \
             1000) or K, M, G (powers of 1024), e.g. 10k, 1M"
        )
    };
    if number.is_empty() || !number.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid());
    }
    let value: u64 = number.parse().map_err(|_| invalid())?;
    value
        .checked_mul(1000u64.pow(shift))
        .ok_or_else(|| format!("invalid size '{s}': too large"))
}

/// Parses a size in KiB: a bare number is KiB (`512`), a number with a unit is
/// bytes as in [`parse_size`] and must be whole KiB (`1M` is 1024).
pub fn parse_kib(s: &str) -> Result<usize, String> {
    let text = s.trim();
    if text.bytes().all(|b| b.is_ascii_digit()) {
        let kib = parse_size(text)?;
        return usize::try_from(kib).map_err(|_| format!("invalid size '{s}': too large"));
    }
    let bytes = parse_size(text)?;
    if bytes % 1024 != 0 {
        return Err(format!("invalid size '{s}': not a whole number of KiB"));
    }
    usize::try_from(bytes / 1024).map_err(|_| format!("invalid size '{s}': too large"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gnu_sizes_are_decimal_in_lowercase_and_binary_in_uppercase() {
        assert_eq!(parse_gnu_size("10k"), Ok(10_000));
        assert_eq!(parse_gnu_size("10K"), Ok(10 << 10));
        assert_eq!(parse_gnu_size("1m"), Ok(1_000_000));
        assert_eq!(parse_gnu_size("1M"), Ok(1 << 20));
        assert_eq!(parse_gnu_size("2g"), Ok(2_000_000_000));
        assert_eq!(parse_gnu_size("1MiB"), Ok(1 << 20));
        assert_eq!(parse_gnu_size("4096"), Ok(4096));
        for bad in ["k", "1.5m", "-1k", "x"] {
            let err = parse_gnu_size(bad).unwrap_err();
            assert!(err.starts_with("invalid size"), "{bad}: {err}");
        }
        assert!(parse_gnu_size("99999999999t").is_err());
    }

    #[test]
    fn kib_sizes_bare_or_with_units() {
        assert_eq!(parse_kib("512"), Ok(512));
        assert_eq!(parse_kib("1M"), Ok(1024));
        assert_eq!(parse_kib("64KiB"), Ok(64));
        for bad in ["", "x", "1.5M", "1500B", "-1", "99999999999T"] {
            let err = parse_kib(bad).unwrap_err();
            assert!(err.starts_with("invalid size"), "{bad}: {err}");
            assert_eq!(err.lines().count(), 1);
        }
    }

    #[test]
    fn sizes_with_and_without_units() {
        assert_eq!(parse_size("4096"), Ok(4096));
        assert_eq!(parse_size("512K"), Ok(512 << 10));
        assert_eq!(parse_size("512M"), Ok(512 << 20));
        assert_eq!(parse_size("2G"), Ok(2 << 30));
        assert_eq!(parse_size("2g"), Ok(2 << 30));
        assert_eq!(parse_size("1TiB"), Ok(1 << 40));
        assert_eq!(parse_size(" 64MB "), Ok(64 << 20));
    }

    #[test]
    fn bad_sizes_say_what_is_expected() {
        for bad in ["", "M", "12Q", "-5M", "1.5G", "99999999999T"] {
            let err = parse_size(bad).unwrap_err();
            assert!(err.starts_with("invalid size"), "{bad}: {err}");
        }
    }
}
