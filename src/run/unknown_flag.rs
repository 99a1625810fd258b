//! The message for an option `atp-run` does not know.
//!
//! clap's own tip ("to pass '--frob' as a value, use '-- --frob'") is wrong for
//! us: after `--` a word becomes part of the command template. So an unknown
//! option gets one line naming it and what to write instead: the similar option
//! clap found, our spelling of a GNU parallel or xargs option, or how to give it
//! to the command.

/// GNU parallel and xargs options that are spelled differently here, or not
/// supported, and what to write instead.
const FOREIGN: &[(&str, &str)] = &[
    ("-P", "xargs -P N is -j N (or --max-workers N) here"),
    (
        "--max-procs",
        "xargs --max-procs N is -j N (or --max-workers N) here",
    ),
    (
        "--eta",
        "the progress display shows the ETA when standard error is a terminal",
    ),
    (
        "--bar",
        "the progress display is shown when standard error is a terminal",
    ),
    ("-r", "atp-run never runs a job for empty input: drop -r"),
    (
        "--no-run-if-empty",
        "atp-run never runs a job for empty input: drop it",
    ),
    (
        "-d",
        "xargs -d is not supported: use -0 for NUL-separated input, or --colsep",
    ),
];

/// GNU parallel's ways of spreading a stream that `--pipe` does not have yet.
const PIPE_FOREIGN: [(&str, &str); 7] = [
    (
        "--cat",
        "GNU parallel's --cat (the block in a temporary file) is not supported: with --pipe the block is the job's standard input",
    ),
    (
        "--fifo",
        "GNU parallel's --fifo is not supported: with --pipe the block is the job's standard input",
    ),
    (
        "--pipe-part",
        "GNU parallel's --pipe-part is not supported: use --pipe -a FILE",
    ),
    (
        "--round-robin",
        "GNU parallel's --round-robin is not supported: --pipe starts one job per block",
    ),
    (
        "--regexp",
        "GNU parallel's --regexp is not supported: --recend and --recstart are plain strings",
    ),
    (
        "--block-timeout",
        "GNU parallel's --block-timeout is not supported: a --pipe block is handed over when full or at the end of the input",
    ),
    (
        "--rrs",
        "GNU parallel's --rrs is not supported: the blocks keep their --recend and --recstart",
    ),
];

/// The one-line message (without the `atp-run: ` prefix) for the unknown
/// option `arg`; `similar` is an option clap found close to it.
pub fn message(arg: &str, similar: Option<&str>) -> String {
    let mut foreign = FOREIGN.iter().chain(&PIPE_FOREIGN);
    if let Some((_, instead)) = foreign.find(|(flag, _)| *flag == arg) {
        return format!("unknown option '{arg}': {instead}");
    }
    if let Some(similar) = similar {
        return format!("unknown option '{arg}': did you mean '{similar}'?");
    }
    format!(
        "unknown option '{arg}': if it is meant for the command, put the command after --, \
         as in: atp-run [OPTIONS] -- COMMAND {arg} {{}}"
    )
}

/// The message for a clap error of kind `UnknownArgument`.
pub fn from_clap(err: &clap::Error) -> String {
    use clap::error::{ContextKind, ContextValue};
    let text = |kind| match err.get(kind) {
        Some(ContextValue::String(s)) => Some(s.clone()),
        Some(ContextValue::Strings(v)) => v.first().cloned(),
        _ => None,
    };
    let arg = text(ContextKind::InvalidArg).unwrap_or_default();
    message(&arg, text(ContextKind::SuggestedArg).as_deref())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn parse_error(args: &[&str]) -> String {
        let err = crate::cli::Cli::try_parse_from(["atp-run"].iter().chain(args)).unwrap_err();
        assert_eq!(err.kind(), clap::error::ErrorKind::UnknownArgument);
        from_clap(&err)
    }

    #[test]
    fn an_unknown_option_says_how_to_give_it_to_the_command() {
        assert_eq!(
            parse_error(&["--frobnicate"]),
            "unknown option '--frobnicate': if it is meant for the command, put the command \
             after --, as in: atp-run [OPTIONS] -- COMMAND --frobnicate {}"
        );
    }

    #[test]
    fn gnu_and_xargs_options_get_our_spelling() {
        assert_eq!(
            parse_error(&["-P", "4"]),
            "unknown option '-P': xargs -P N is -j N (or --max-workers N) here"
        );
        assert!(parse_error(&["--eta"]).contains("shows the ETA"));
        assert!(
            parse_error(&["--pipe", "--cat"]).contains("--cat (the block in a temporary file)")
        );
        assert!(parse_error(&["--block-timeout"]).contains("--block-timeout is not supported"));
    }

    #[test]
    fn a_near_miss_names_the_option_meant() {
        assert_eq!(
            parse_error(&["--lnk"]),
            "unknown option '--lnk': did you mean '--link'?"
        );
    }
}
