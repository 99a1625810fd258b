//! GNU parallel's input sources on the command line: `::: ARGS…`,
//! `:::: FILES…`, their linked forms `:::+` and `::::+`, and `-a FILE`.
//!
//! Owns: splitting the operands before `--` (FILEs) and the words after it
//! (the template) at the first source marker, and reading one source as a
//! stream of values.
//!
//! Invariants:
//! - A marker starts a source only as a whole word; everything after the first
//!   marker belongs to sources, so `{}` or `-x` after `:::` are values.
//! - Each FILE after `::::` (or `-a`) is its own source, as in GNU parallel;
//!   `-` is standard input, which may be read once at most.
//! - `-a` sources come first, then those after the FILEs, then those after the
//!   template, in the order written.
//! - `-0` separates the records of `::::` files and standard input; `:::`
//!   values are whole words whatever the separator.

use std::ffi::OsString;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::PathBuf;

use crate::run::input::sources::{InputError, Separator, open_sources};

/// Where one source's values come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceKind {
    /// `::: ARGS…`: the words themselves.
    Args(Vec<Vec<u8>>),
    /// `:::: FILE` or `-a FILE`: its records (`-` is standard input).
    File(PathBuf),
}

/// One input source as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceArg {
    /// Its values.
    pub kind: SourceKind,
    /// Written with `:::+` or `::::+`: paired with the source before it
    /// instead of combined with it.
    pub linked: bool,
}

/// The words of the command line, split into FILEs, template and sources.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Operands {
    /// FILE operands before the first marker.
    pub files: Vec<PathBuf>,
    /// Template words before the first marker.
    pub template: Vec<OsString>,
    /// The sources, in order.
    pub sources: Vec<SourceArg>,
}

/// A source marker: (is a file source, is linked).
fn marker(word: &[u8]) -> Option<(bool, bool)> {
    match word {
        b":::" => Some((false, false)),
        b":::+" => Some((false, true)),
        b"::::" => Some((true, false)),
        b"::::+" => Some((true, true)),
        _ => None,
    }
}

/// Splits `words` at the first marker: the words before it, and the sources.
fn split_words(words: Vec<OsString>) -> (Vec<OsString>, Vec<SourceArg>) {
    let mut before = Vec::new();
    let mut sources: Vec<SourceArg> = Vec::new();
    // (file source, linked) of the marker being filled; files pending.
    let mut current: Option<(bool, bool)> = None;
    let mut first_file_of_marker = false;
    for word in words {
        if let Some(m) = marker(word.as_bytes()) {
            if !m.0 {
                sources.push(SourceArg {
                    kind: SourceKind::Args(Vec::new()),
                    linked: m.1,
                });
            }
            current = Some(m);
            first_file_of_marker = true;
            continue;
        }
        match current {
            None => before.push(word),
            Some((false, _)) => {
                if let Some(SourceArg {
                    kind: SourceKind::Args(values),
                    ..
                }) = sources.last_mut()
                {
                    values.push(word.into_vec());
                }
            }
            Some((true, linked)) => {
                sources.push(SourceArg {
                    kind: SourceKind::File(PathBuf::from(word)),
                    // Only the first file after `::::+` is linked to what is before.
                    linked: linked && first_file_of_marker,
                });
                first_file_of_marker = false;
            }
        }
    }
    (before, sources)
}

impl Operands {
    /// Splits the FILE operands and the template words at their first source
    /// marker; `arg_files` are the `-a` files.
    pub fn split(files: Vec<PathBuf>, template: Vec<OsString>, arg_files: Vec<PathBuf>) -> Self {
        let (files, from_files) =
            split_words(files.into_iter().map(PathBuf::into_os_string).collect());
        let (template, from_template) = split_words(template);
        let mut sources: Vec<SourceArg> = arg_files
            .into_iter()
            .map(|path| SourceArg {
                kind: SourceKind::File(path),
                linked: false,
            })
            .collect();
        sources.extend(from_files);
        sources.extend(from_template);
        Operands {
            files: files.into_iter().map(PathBuf::from).collect(),
            template,
            sources,
        }
    }

    /// Whether standard input is read: no source on the command line and no
    /// FILE (or a FILE or source file that is `-`).
    pub fn reads_stdin(&self) -> bool {
        let dash = |p: &PathBuf| p.as_os_str() == "-";
        let any_file_dash = self.files.iter().any(dash)
            || self
                .sources
                .iter()
                .any(|s| matches!(&s.kind, SourceKind::File(p) if dash(p)));
        any_file_dash || (self.files.is_empty() && self.sources.is_empty())
    }
}

/// One argument row: a value per source (or per column).
pub type Row = Vec<Vec<u8>>;

/// A stream of one source's values.
pub type Values = Box<dyn Iterator<Item = Result<Vec<u8>, InputError>> + Send>;

/// Opens one source (files now, so that a missing one is reported before any
/// job runs).
pub fn open_values(kind: SourceKind, sep: Separator) -> Result<Values, InputError> {
    match kind {
        SourceKind::Args(values) => Ok(Box::new(values.into_iter().map(Ok))),
        SourceKind::File(path) => Ok(Box::new(
            open_sources(&[path])?
                .records(sep)
                .map(|r| r.map(|r| r.bytes)),
        )),
    }
}

/// Opens the FILE operands (or standard input) as one source.
pub fn open_files(files: &[PathBuf], sep: Separator) -> Result<Values, InputError> {
    Ok(Box::new(
        open_sources(files)?
            .records(sep)
            .map(|r| r.map(|r| r.bytes)),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(words: &[&str]) -> Vec<OsString> {
        words.iter().map(OsString::from).collect()
    }

    fn args(values: &[&str], linked: bool) -> SourceArg {
        SourceArg {
            kind: SourceKind::Args(values.iter().map(|v| v.as_bytes().to_vec()).collect()),
            linked,
        }
    }

    fn file(path: &str, linked: bool) -> SourceArg {
        SourceArg {
            kind: SourceKind::File(path.into()),
            linked,
        }
    }

    #[test]
    fn the_template_is_split_at_the_first_marker() {
        let o = Operands::split(
            vec![],
            os(&[
                "echo", "{}", ":::", "a", "{}", "-x", ":::+", "1", "::::", "f", "g", "::::+", "h",
                "i",
            ]),
            vec![],
        );
        assert_eq!(o.template, os(&["echo", "{}"]));
        assert_eq!(
            o.sources,
            [
                args(&["a", "{}", "-x"], false),
                args(&["1"], true),
                file("f", false),
                file("g", false),
                file("h", true),
                file("i", false),
            ]
        );
        assert!(!o.reads_stdin());
    }

    #[test]
    fn arg_files_come_first_then_sources_after_files_then_after_the_template() {
        let o = Operands::split(
            vec!["in.txt".into(), ":::".into(), "x".into()],
            os(&["echo", ":::", "y", ":::"]),
            vec!["-".into()],
        );
        assert_eq!(o.files, [PathBuf::from("in.txt")]);
        assert_eq!(
            o.sources,
            [
                file("-", false),
                args(&["x"], false),
                args(&["y"], false),
                args(&[], false)
            ]
        );
        assert!(o.reads_stdin());
    }

    #[test]
    fn without_sources_or_files_stdin_is_read() {
        let o = Operands::split(vec![], os(&["echo"]), vec![]);
        assert!(o.reads_stdin() && o.sources.is_empty());
        let o = Operands::split(vec!["f".into()], os(&[]), vec![]);
        assert!(!o.reads_stdin());
    }

    #[test]
    fn marker_lookalikes_are_plain_words() {
        let o = Operands::split(vec![], os(&["echo", "::", ":::::", "a:::"]), vec![]);
        assert!(o.sources.is_empty());
        assert_eq!(o.template.len(), 4);
    }
}
