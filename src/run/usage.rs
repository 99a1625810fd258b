//! Usage errors on one line: how a clap parse error is shown.
//!
//! clap renders an error as a message, sometimes indented detail lines (the
//! possible values, the missing arguments, a tip), a usage block and a pointer to
//! `--help`. The README promises one line per error, so only the message and its
//! details are kept, joined on one line; the usage block and the pointer are
//! dropped (`--help` is one flag away).
//!
//! Invariant: the result never contains a newline and never starts with clap's
//! `error: ` prefix (the caller prefixes `atp-run: `).

/// `err` (a usage error, not `--help`/`--version`) as one line.
pub fn one_line(err: &clap::Error) -> String {
    render(&err.render().to_string())
}

/// The text of a rendered clap error, as one line.
fn render(text: &str) -> String {
    let mut line = String::new();
    for raw in text.lines() {
        let part = raw.trim();
        if part.starts_with("Usage:") || part.starts_with("For more information") {
            break;
        }
        if part.is_empty() {
            continue;
        }
        let part = part.strip_prefix("error: ").unwrap_or(part);
        if !line.is_empty() {
            line.push_str(if line.ends_with(':') { " " } else { "; " });
        }
        line.push_str(part);
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::Cli;
    use clap::Parser;

    fn error_of(args: &[&str]) -> String {
        let argv = std::iter::once("atp-run").chain(args.iter().copied());
        one_line(&Cli::try_parse_from(argv).unwrap_err())
    }

    #[test]
    fn details_are_kept_and_the_usage_block_is_dropped() {
        assert_eq!(
            error_of(&["--interval", "1s"]),
            "the following required arguments were not provided: --repeat"
        );
        assert_eq!(
            error_of(&["--color", "purple"]),
            "invalid value 'purple' for '--color <WHEN>'; [possible values: auto, always, never]"
        );
        for args in [&["--no-such-flag"][..], &["-j", "x"], &["--halt", "later"]] {
            let line = error_of(args);
            assert!(!line.contains('\n') && !line.contains("Usage"), "{line}");
            assert!(!line.starts_with("error:"), "{line}");
        }
    }
}
