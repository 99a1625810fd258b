//! GNU parallel's word order under `--pipe`: `seq 10 | atp-run --pipe wc -l`. The
//! first word that is neither an option nor an option's value starts the command,
//! and every word from there on is the command's, `-l` included.
//!
//! Owns: [`command_words_after_pipe`], which puts the `--` that our command line
//! needs before the command (clap would take `-l` for an option of ours).
//!
//! Invariant: the words are changed only when `--pipe` comes before the first
//! such word and no `--` does; then exactly one `--` is inserted, nothing else
//! moves. Which options take a value is read from the clap definition, so a new
//! option is handled without touching this file.

use std::ffi::OsString;
use std::os::unix::ffi::OsStrExt;

/// `args` (the program name first) with `--` inserted before the command, when
/// `--pipe` (or `--spreadstdin`) is given before it.
pub fn command_words_after_pipe(args: Vec<OsString>) -> Vec<OsString> {
    let pipe_given = args.iter().any(|a| a == "--pipe" || a == "--spreadstdin");
    if !pipe_given {
        return args;
    }
    let command = &crate::cli::command();
    let takes_value = |arg: &clap::Arg| arg.get_action().takes_values();
    let long = |name: &[u8]| {
        command.get_arguments().find(|arg| {
            arg.get_long_and_visible_aliases()
                .is_some_and(|names| names.iter().any(|n| n.as_bytes() == name))
        })
    };
    let short = |c: char| {
        command
            .get_arguments()
            .find(|arg| arg.get_short() == Some(c))
    };
    let mut pipe = false;
    let mut i = 1;
    while i < args.len() {
        let word = args[i].as_bytes();
        if word == b"--" {
            return args;
        }
        if let Some(name) = word.strip_prefix(b"--") {
            let (name, inline) = match name.iter().position(|&b| b == b'=') {
                Some(eq) => (&name[..eq], true),
                None => (name, false),
            };
            pipe |= name == b"pipe" || name == b"spreadstdin";
            if !inline && long(name).is_some_and(takes_value) {
                i += 1;
            }
        } else if word.len() > 1 && word[0] == b'-' {
            // A cluster of short options: the first that takes a value takes
            // the rest of the word, or the next word.
            let letters = String::from_utf8_lossy(&word[1..]).into_owned();
            for (at, c) in letters.char_indices() {
                if short(c).is_some_and(takes_value) {
                    if at + c.len_utf8() == letters.len() {
                        i += 1;
                    }
                    break;
                }
            }
        } else {
            if pipe {
                let mut out = args;
                out.insert(i, OsString::from("--"));
                return out;
            }
            return args;
        }
        i += 1;
    }
    args
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rewrite(words: &str) -> String {
        let args = std::iter::once("atp-run")
            .chain(words.split(' '))
            .map(OsString::from)
            .collect();
        let out = command_words_after_pipe(args);
        out[1..]
            .iter()
            .map(|w| w.to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join(" ")
    }

    #[test]
    fn the_command_starts_at_the_first_plain_word() {
        assert_eq!(rewrite("--pipe wc -l"), "--pipe -- wc -l");
        assert_eq!(
            rewrite("--pipe -j 2 --block 10M wc -l"),
            "--pipe -j 2 --block 10M -- wc -l"
        );
        assert_eq!(
            rewrite("-j2 --pipe -a in.txt sort -n"),
            "-j2 --pipe -a in.txt -- sort -n"
        );
        assert_eq!(
            rewrite("--pipe --recend=x -N 3 cat"),
            "--pipe --recend=x -N 3 -- cat"
        );
        assert_eq!(rewrite("--pipe -0N 2 cat -A"), "--pipe -0N 2 -- cat -A");
        assert_eq!(rewrite("--pipe -kN2 cat"), "--pipe -kN2 -- cat");
    }

    #[test]
    fn without_pipe_or_with_a_double_dash_nothing_changes() {
        assert_eq!(rewrite("jobs.txt -j 4"), "jobs.txt -j 4");
        assert_eq!(rewrite("--pipe -- wc -l"), "--pipe -- wc -l");
        assert_eq!(rewrite("wc --pipe"), "wc --pipe");
        assert_eq!(rewrite("--pipe"), "--pipe");
    }
}
