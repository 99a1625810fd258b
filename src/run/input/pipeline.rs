//! The input pipeline of a run: sources ─► rows ─► jobs.
//!
//! Owns: deciding which sources are read (the FILE operands or standard input,
//! `:::`/`::::`/`-a` sources, as GNU parallel allows them to mix), binding the
//! template to what they give, and the two never-silent checks that belong to
//! the input: a first FILE that is really a command, and standard input being
//! a terminal.
//!
//! Invariants: every file is opened, every held source read and the template
//! checked before the first job exists, so each of these errors is exit status
//! 2 with nothing run; the records stream lazily (see `combine.rs` for what is
//! held in memory).

use std::ffi::OsStr;
use std::io::IsTerminal;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::run::input::arg_sources::{Operands, SourceKind, Values, open_files, open_values};
use crate::run::input::batch::{BatchLimits, Batches};
use crate::run::input::combine::Combine;
use crate::run::input::sources::{InputError, Record, Separator};
use crate::run::input::template::{Shape, Template};

/// The records (jobs) of a run, lazily.
pub type RecordStream = Box<dyn Iterator<Item = Result<Record, InputError>> + Send>;

/// What the command line says about the input.
#[derive(Debug, Clone, Default)]
pub struct InputSettings {
    /// FILE operands and sources (the template words already split off).
    pub operands: Operands,
    /// Record separator of files and standard input.
    pub separator: Option<Separator>,
    /// `--colsep`, `--header`, `--link`.
    pub combine: Combine,
    /// `-n`, `-X`, …
    pub batch: BatchLimits,
    /// Job slots the last packed jobs are shared out over (`-j`, or the cores).
    pub slots: usize,
    /// `--pipe`: the input is cut into blocks, each a job's stdin (the rest is unused).
    pub pipe: Option<crate::run::input::pipe::PipeSettings>,
}

/// Opens the input and binds `template` to it.
///
/// # Errors
/// An input that cannot be opened or read before the first job, a template
/// that does not fit the input.
pub fn open(
    settings: &InputSettings,
    template: Option<&mut Template>,
) -> Result<RecordStream, InputError> {
    if let Some(pipe) = &settings.pipe {
        return crate::run::input::pipe::open(pipe);
    }
    let sep = settings.separator.unwrap_or(Separator::Newline);
    let operands = &settings.operands;
    let stdin_uses = operands.files.iter().filter(|p| is_dash(p)).count()
        + operands
            .sources
            .iter()
            .filter(|s| matches!(&s.kind, SourceKind::File(p) if is_dash(p)))
            .count();
    if stdin_uses > 1 {
        return Err(InputError::StdinRepeated);
    }
    if operands.reads_stdin() && std::io::stdin().is_terminal() {
        let what = if template.is_some() {
            "arguments"
        } else {
            "commands"
        };
        eprintln!(
            "atp-run: reading {what} from the terminal (standard input), one per line; end \
             with Ctrl-D. To give them on the command line use ::: or ::::, or pipe them in"
        );
    }
    let mut sources: Vec<(Values, bool)> = Vec::new();
    if !operands.files.is_empty() || operands.sources.is_empty() {
        if let Some(first) = operands.files.first() {
            check_not_a_command(first, &operands.files)?;
        }
        sources.push((open_files(&operands.files, sep)?, false));
    }
    for source in &operands.sources {
        sources.push((open_values(source.kind.clone(), sep)?, source.linked));
    }
    let width = match (&settings.combine.colsep, settings.combine.csv) {
        (None, false) => Some(sources.len()),
        _ => None,
    };
    let (rows, names) = settings.combine.rows(sources)?;
    let mut needed = 0;
    let template = match template {
        Some(t) => {
            let shape = Shape {
                width,
                rows_per_job: settings.batch.max_rows,
            };
            needed = t.bind(shape, &names).map_err(InputError::Template)?;
            Some(t.clone())
        }
        None => None,
    };
    Ok(Box::new(
        Batches::new(rows, settings.batch, template, needed).spread_tail(settings.slots),
    ))
}

fn is_dash(path: &Path) -> bool {
    path.as_os_str() == "-"
}

/// Shell builtins a user may well put where a FILE goes.
const BUILTINS: [&str; 12] = [
    "cd", "echo", "eval", "exec", "exit", "export", "printf", "read", "set", "source", "test",
    "true",
];

/// A first FILE that does not exist but is a command (on PATH, or a shell
/// builtin) means the user wrote a template without `--`.
fn check_not_a_command(first: &Path, files: &[PathBuf]) -> Result<(), InputError> {
    if is_dash(first) || first.exists() || first.as_os_str().is_empty() {
        return Ok(());
    }
    let name = first.as_os_str();
    let is_builtin = BUILTINS.iter().any(|b| OsStr::new(b) == name);
    if is_builtin || (!name.as_encoded_bytes().contains(&b'/') && on_path(name)) {
        let words: Vec<String> = files
            .iter()
            .map(|p| p.to_string_lossy().into_owned())
            .collect();
        return Err(InputError::LooksLikeCommand {
            words: words.join(" "),
        });
    }
    Ok(())
}

/// Whether an executable file `name` is in a directory of PATH.
fn on_path(name: &OsStr) -> bool {
    let Some(path) = std::env::var_os("PATH") else {
        return false;
    };
    std::env::split_paths(&path).any(|dir| {
        std::fs::metadata(dir.join(name))
            .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_command_where_a_file_goes_is_named_with_the_fix() {
        let files = [PathBuf::from("echo"), PathBuf::from("{}")];
        let err = check_not_a_command(&files[0], &files).unwrap_err();
        assert_eq!(
            err.to_string(),
            "input file 'echo' does not exist; to run a command on each line, put it after --: \
             atp-run -- echo {}"
        );
        let files = [PathBuf::from("sh")];
        assert!(check_not_a_command(&files[0], &files).is_err());
    }

    #[test]
    fn a_missing_file_that_is_no_command_is_left_to_the_open() {
        for name in ["no-such-file.txt", "./echo", "-"] {
            let files = [PathBuf::from(name)];
            assert!(check_not_a_command(&files[0], &files).is_ok(), "{name}");
        }
    }
}
