//! Command templates with GNU parallel style placeholders.
//!
//! This module owns turning the words after `--` into a [`Template`] and
//! rendering that template once per job (its [`JobArgs`]) into the shell
//! command text that is run with `/bin/sh -c`.
//!
//! Placeholders (GNU parallel's meanings): `{}` every value of the job, `{.}`
//! without extension, `{/}` basename, `{//}` dirname, `{/.}` basename without
//! extension; `{N}` and `{N.}` `{N/}` `{N//}` `{N/.}` the N-th input source
//! (or `--colsep` column; with one source and `-n`/`-N`, the N-th argument of
//! the job); `{name}` a column named by `--header :`; `{#}` the job number and
//! `{%}` the worker slot; `{host}` and `{sshlogin}` the job's host (rendered as
//! GNU parallel renders them, `${PARALLEL_SSHHOST}` and `${PARALLEL_SSHLOGIN}`:
//! the host is chosen after rendering, and the executor sets those variables);
//! `-I STR` makes STR mean `{}`.
//!
//! What is a placeholder (the never-silent rule): brace text whose content
//! starts with a digit or one of `. / # % + =` (GNU parallel's replacement
//! string alphabet) and has no blank in it is meant as a placeholder, so one we
//! do not know (`{3}` with two sources, `{0}`, `{1x}`, `{..}`, `{+/}`,
//! `{=perl=}`) is a [`TemplateError`] naming it, never literal text. A `{name}`
//! (letters, digits, `_`) is a column name with `--header`, and an unknown one
//! is an error too; without `--header` it is left alone, as GNU parallel does,
//! because it is far more often shell or awk code (`awk '{print}'`,
//! `${HOME}`, `{next}`) than a mistyped placeholder, and refusing it would break
//! those commands. Anything else in braces (`{ }`, `{a,b}`) is shell code.
//!
//! Invariants:
//! - Template words are shell code: they are joined with single spaces and
//!   never quoted (except with `--quote`, which quotes them as GNU's `-q`).
//! - Every value derived from the input is shell-quoted with [`shell_quote`]
//!   when substituted, so a value is always a single shell word and never code.
//!   `{#}` and `{%}` are plain numbers.
//! - If no placeholder occurs at all, `{}` is appended after a space. `{#}` and
//!   `{%}` count as placeholders, as in GNU parallel (`parallel echo {#} ::: a`
//!   prints `1`): a template that names the job number or slot has said where its
//!   values go.
//! - With `-X` (context replace) each word holding a value placeholder is
//!   repeated once per argument row; otherwise `{}` stands for all the rows'
//!   values separated by spaces (`-m`).
//! - The template is parsed and bound (names and ranges checked) once, before
//!   any job runs; rendering is one pass of concatenation, no regex.

use std::borrow::Cow;
use std::ffi::OsString;
use std::fmt;
use std::ops::Range;
use std::os::unix::ffi::OsStrExt;

use crate::run::input::job_args::JobArgs;

/// Encoded arguments of a job that has none (a `--pipe` job): width 1, no value.
const EMPTY_ARGS: [u8; 4] = 1u32.to_le_bytes();

/// Error from [`Template::parse`] or [`Template::bind`]: a usage error.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TemplateError {
    /// No words after `--`, or only whitespace.
    Empty,
    /// Brace text shaped like a placeholder that is not one.
    Unknown(String),
    /// `{=perl expression=}`.
    Perl(String),
    /// `{0}`.
    Zero(String),
    /// `{N}` beyond the values a job has.
    OutOfRange {
        /// The placeholder as written.
        placeholder: String,
        /// How many values there are, and what they are.
        available: usize,
        /// "input source", "column" or "argument".
        what: &'static str,
        /// A hint for fixing it.
        hint: &'static str,
    },
    /// `{name}` with `--header`, naming no column.
    UnknownName {
        /// The placeholder as written.
        placeholder: String,
        /// The column names.
        names: Vec<String>,
    },
}

impl fmt::Display for TemplateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TemplateError::Empty => f.write_str("the command template after -- is empty"),
            TemplateError::Unknown(p) => write!(
                f,
                "unknown placeholder {p} in the command template: use {{}} {{.}} {{/}} {{//}} \
                 {{/.}} {{#}} {{%}}, or {{1}} {{1.}} {{1/}} {{1//}} {{1/.}} for input source \
                 or column 1"
            ),
            TemplateError::Perl(p) => write!(
                f,
                "perl expressions such as {p} are not supported: compute the value in the \
                 command (e.g. with sh or sed) or in the input"
            ),
            TemplateError::Zero(p) => {
                write!(
                    f,
                    "placeholder {p} is out of range: numbering starts at {{1}}"
                )
            }
            TemplateError::OutOfRange {
                placeholder,
                available,
                what,
                hint,
            } => write!(
                f,
                "placeholder {placeholder} is out of range: there {} only {available} \
                 {what}{}{hint}",
                if *available == 1 { "is" } else { "are" },
                if *available == 1 { "" } else { "s" },
            ),
            TemplateError::UnknownName { placeholder, names } => write!(
                f,
                "placeholder {placeholder} names no column of the --header: the columns are {}",
                names
                    .iter()
                    .map(|n| format!("{{{n}}}"))
                    .collect::<Vec<_>>()
                    .join(" ")
            ),
        }
    }
}

impl std::error::Error for TemplateError {}

/// What a value placeholder does to the value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Modifier {
    /// The value as it is.
    Whole,
    /// `.`: without its extension.
    NoExtension,
    /// `/`: its basename.
    Basename,
    /// `//`: its dirname.
    Dirname,
    /// `/.`: its basename without extension.
    BasenameNoExtension,
}

impl Modifier {
    fn from_suffix(suffix: &[u8]) -> Option<Modifier> {
        Some(match suffix {
            b"" => Modifier::Whole,
            b"." => Modifier::NoExtension,
            b"/" => Modifier::Basename,
            b"//" => Modifier::Dirname,
            b"/." => Modifier::BasenameNoExtension,
            _ => return None,
        })
    }

    fn apply(self, value: &[u8]) -> &[u8] {
        match self {
            Modifier::Whole => value,
            Modifier::NoExtension => strip_extension(value),
            Modifier::Basename => basename(value),
            Modifier::Dirname => dirname(value),
            Modifier::BasenameNoExtension => strip_extension(basename(value)),
        }
    }
}

/// One piece of a parsed template.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    /// Shell code copied verbatim.
    Literal(Box<[u8]>),
    /// A value placeholder: every value (`index` None) or the 0-based column.
    Value {
        index: Option<usize>,
        modifier: Modifier,
        /// As written, for error messages.
        written: Box<str>,
    },
    /// `{name}` (with `--header`), until [`Template::bind`] resolves it.
    Named(Box<[u8]>),
    /// `{#}`: the job number.
    JobNumber,
    /// `{%}`: the worker slot.
    Slot,
    /// `{host}` or `{sshlogin}`: a reference to the variable the executor sets to
    /// the job's host once it has chosen one (`${PARALLEL_SSHHOST}`, as GNU
    /// parallel writes it), since the command is rendered before that.
    HostVar(&'static [u8]),
    /// `-X`: a word repeated once per argument row, separated by spaces.
    Context(Vec<Part>),
}

/// How the command line shapes the template.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TemplateOptions {
    /// `-I STR`: STR means `{}` (and `{}` is then plain text).
    pub replace: Option<Vec<u8>>,
    /// `--extensionreplace STR` and the like: STR means the placeholder whose
    /// brace content is given (`.`, `/`, `//`, `/.`, `#`, `%`), which is then
    /// plain text.
    pub renamed: Vec<(Vec<u8>, &'static [u8])>,
    /// `--quote`: the template words are quoted too (GNU parallel `-q`).
    pub quote: bool,
    /// `-X`: repeat the words holding a placeholder once per argument.
    pub context: bool,
    /// `--header`: `{name}` names a column.
    pub header: bool,
}

/// What the input gives each job, for [`Template::bind`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shape {
    /// Values per row, if known before reading (`None` with `--colsep`).
    pub width: Option<usize>,
    /// Most rows per job with `-n`/`-N`/`-L` (then, with one value per row,
    /// `{N}` is the N-th row).
    pub rows_per_job: Option<usize>,
}

/// A parsed command template, rendered once per job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    parts: Vec<Part>,
    /// Whether `{}` was appended because no value placeholder occurs.
    appended: bool,
    /// `{N}` means the N-th row (one value per row, several rows per job).
    positional_rows: bool,
    /// The `--header :` column names it was bound to (`--results` names its
    /// directories after them).
    names: Vec<Vec<u8>>,
    /// Values are written as they are, not shell-quoted: a file name
    /// (`--transferfile`, `--return`, `--workdir`), not a command.
    raw: bool,
}

impl Template {
    /// The `--header :` column names given to [`Template::bind`] (empty without).
    pub fn column_names(&self) -> &[Vec<u8>] {
        &self.names
    }

    /// Parses the words after `--` with the default options.
    #[cfg(test)]
    pub fn parse(words: &[OsString]) -> Result<Template, TemplateError> {
        Template::parse_with(words, &TemplateOptions::default())
    }

    /// Parses the words after `--` into a template.
    ///
    /// # Errors
    ///
    /// [`TemplateError::Empty`] if the words are empty or only whitespace; an
    /// unknown placeholder (see the module documentation).
    pub fn parse_with(
        words: &[OsString],
        options: &TemplateOptions,
    ) -> Result<Template, TemplateError> {
        if words
            .iter()
            .all(|w| w.as_bytes().iter().all(u8::is_ascii_whitespace))
        {
            return Err(TemplateError::Empty);
        }
        let mut parts = Vec::new();
        for (i, word) in words.iter().enumerate() {
            if i > 0 {
                parts.push(Part::Literal(Box::new(*b" ")));
            }
            if !options.context || options.quote {
                parts.extend(parse_word(word.as_bytes(), options)?);
                continue;
            }
            // -X: the shell words (split at blanks, also inside one argument
            // such as 'mv {} dir/') that hold a value are repeated per row.
            for piece in word
                .as_bytes()
                .chunk_by(|a, b| a.is_ascii_whitespace() == b.is_ascii_whitespace())
            {
                if piece[0].is_ascii_whitespace() {
                    parts.push(Part::Literal(piece.into()));
                    continue;
                }
                let word_parts = parse_word(piece, options)?;
                if word_parts.iter().any(Part::is_value) {
                    parts.push(Part::Context(word_parts));
                } else {
                    parts.extend(word_parts);
                }
            }
        }
        // Any placeholder, {#} and {%} included, means "no append" (GNU parallel).
        let uses_value = parts.iter().any(|part| !matches!(part, Part::Literal(_)));
        if !uses_value {
            parts.push(Part::Literal(Box::new(*b" ")));
            let all = Part::Value {
                index: None,
                modifier: Modifier::Whole,
                written: "{}".into(),
            };
            parts.push(match options.context {
                true => Part::Context(vec![all]),
                false => all,
            });
        }
        Ok(Template {
            parts,
            appended: !uses_value,
            positional_rows: false,
            names: Vec::new(),
            raw: false,
        })
    }

    /// Parses one file-name word (`--transferfile {}.in`, `--return {.}.out`):
    /// its values are rendered unquoted and nothing is appended (a word without
    /// placeholder is a fixed name, as in GNU parallel). `{name}` stays text.
    ///
    /// # Errors
    /// An unknown placeholder (see the module documentation).
    pub fn parse_path(word: &[u8], options: &TemplateOptions) -> Result<Template, TemplateError> {
        let options = TemplateOptions {
            quote: false,
            context: false,
            header: false,
            ..options.clone()
        };
        Ok(Template {
            parts: parse_word(word, &options)?,
            appended: false,
            positional_rows: false,
            names: Vec::new(),
            raw: true,
        })
    }

    /// Checks the placeholders against what the input gives each job and
    /// resolves `{name}`s against the `--header` names. Returns how many columns
    /// every row must have (for `--colsep`, where that is known only per line).
    ///
    /// # Errors
    ///
    /// An out-of-range `{N}` or an unknown `{name}`.
    pub fn bind(&mut self, shape: Shape, names: &[Vec<u8>]) -> Result<usize, TemplateError> {
        self.names = names.to_vec();
        self.positional_rows = shape.width == Some(1) && shape.rows_per_job.is_some_and(|n| n > 1);
        let mut needed = 0;
        let positional_rows = self.positional_rows;
        visit_values(&mut self.parts, &mut |part| {
            if let Part::Named(name) = part {
                let written = format!("{{{}}}", String::from_utf8_lossy(name));
                let index = names
                    .iter()
                    .position(|n| n[..] == name[..])
                    .ok_or_else(|| TemplateError::UnknownName {
                        placeholder: written.clone(),
                        names: names
                            .iter()
                            .map(|n| String::from_utf8_lossy(n).into_owned())
                            .collect(),
                    })?;
                *part = Part::Value {
                    index: Some(index),
                    modifier: Modifier::Whole,
                    written: written.into(),
                };
            }
            let Part::Value {
                index: Some(index),
                written,
                ..
            } = part
            else {
                return Ok(());
            };
            let (available, what, hint) = match (positional_rows, shape.width) {
                (true, _) => (shape.rows_per_job.unwrap_or(1), "argument", " per job"),
                (false, Some(1)) => (
                    1,
                    "input source",
                    ": give more with ::: or ::::, split lines into columns with --colsep, \
                     or take several lines per job with -N",
                ),
                (false, Some(width)) => (
                    width,
                    "input source",
                    ": give more with ::: or ::::, or split lines with --colsep",
                ),
                (false, None) => (usize::MAX, "column", ""),
            };
            if *index >= available {
                return Err(TemplateError::OutOfRange {
                    placeholder: written.to_string(),
                    available,
                    what,
                    hint,
                });
            }
            needed = needed.max(*index + 1);
            Ok(())
        })?;
        Ok(if positional_rows { 0 } else { needed })
    }

    /// Whether any placeholder occurs (`{#}` and `{%}` included).
    pub fn has_placeholders(&self) -> bool {
        self.parts.iter().any(|p| !matches!(p, Part::Literal(_)))
    }

    /// The template of a `--pipe` job, whose input is its standard input: nothing
    /// is appended, and only `{#}` and `{%}` may appear (GNU parallel renders a
    /// value placeholder as nothing there; we refuse it, as it is surely a mistake).
    ///
    /// # Errors
    /// A value placeholder, as a one-line usage error.
    pub fn for_pipe(mut self) -> Result<Template, String> {
        if self.appended {
            // The " " and the `{}` parse_with added.
            self.parts.truncate(self.parts.len() - 2);
            self.appended = false;
        }
        let value = self
            .parts
            .iter()
            .find(|p| !matches!(p, Part::Literal(_) | Part::JobNumber | Part::Slot));
        match value {
            None => Ok(self),
            Some(_) => Err(
                "--pipe gives each job its block on standard input: the command \
                            can use {#} and {%}, not {} or other value placeholders"
                    .into(),
            ),
        }
    }

    /// Renders the command of a `--pipe` job (a [`Template::for_pipe`] template).
    pub fn render_numbers(&self, job_number: u64, slot: usize) -> Vec<u8> {
        self.render_args(&JobArgs::decode(&EMPTY_ARGS), job_number, slot)
    }

    /// Whether `{}` is appended because the template has no value placeholder.
    #[cfg(test)]
    pub fn appends_record(&self) -> bool {
        self.appended
    }

    /// Renders the shell command for a job whose input is `encoded` (made by
    /// [`crate::run::input::job_args::encode`]).
    ///
    /// Values are shell-quoted; `job_number` (`{#}`, 1-based) and `slot` (`{%}`)
    /// are written as plain decimal numbers.
    pub fn render(&self, encoded: &[u8], job_number: u64, slot: usize) -> Vec<u8> {
        self.render_args(&JobArgs::decode(encoded), job_number, slot)
    }

    /// Renders the command for one plain value (a one-line job).
    #[cfg(test)]
    pub fn render_value(&self, value: &[u8], job_number: u64, slot: usize) -> Vec<u8> {
        self.render_args(&JobArgs::single(value), job_number, slot)
    }

    /// Renders the shell command for a job's arguments.
    pub fn render_args(&self, args: &JobArgs<'_>, job_number: u64, slot: usize) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.base_len() + self.cost_of(args.values()));
        let numbers = (job_number, slot as u64);
        self.render_parts(&self.parts, args, 0..args.rows(), numbers, &mut out);
        out
    }

    fn render_parts(
        &self,
        parts: &[Part],
        args: &JobArgs<'_>,
        rows: Range<usize>,
        numbers: (u64, u64),
        out: &mut Vec<u8>,
    ) {
        for part in parts {
            match part {
                Part::Literal(bytes) => out.extend_from_slice(bytes),
                Part::JobNumber => push_decimal(out, numbers.0),
                Part::Slot => push_decimal(out, numbers.1),
                Part::HostVar(text) => out.extend_from_slice(text),
                Part::Named(_) => unreachable!("bind resolves names before rendering"),
                Part::Value {
                    index, modifier, ..
                } => {
                    let mut first = true;
                    let mut push = |out: &mut Vec<u8>, value: &[u8]| {
                        if !first {
                            out.push(b' ');
                        }
                        first = false;
                        match self.raw {
                            true => out.extend_from_slice(modifier.apply(value)),
                            false => push_quoted(out, modifier.apply(value)),
                        }
                    };
                    match *index {
                        // A missing argument of the last job is nothing, not
                        // '' (GNU parallel -N).
                        Some(k) if self.positional_rows => {
                            if k < args.rows() {
                                push(out, args.row(k)[0]);
                            }
                        }
                        Some(k) => {
                            for r in rows.clone() {
                                push(out, args.row(r).get(k).copied().unwrap_or_default());
                            }
                        }
                        None => {
                            for r in rows.clone() {
                                for value in args.row(r) {
                                    push(out, value);
                                }
                            }
                        }
                    }
                }
                Part::Context(word) => {
                    for r in rows.clone() {
                        if r > rows.start {
                            out.push(b' ');
                        }
                        self.render_parts(word, args, r..r + 1, numbers, out);
                    }
                }
            }
        }
    }

    /// Length of the command without any argument (numbers at their longest).
    pub fn base_len(&self) -> usize {
        self.parts
            .iter()
            .map(|p| match p {
                Part::Literal(b) => b.len(),
                Part::HostVar(b) => b.len(),
                Part::JobNumber | Part::Slot => 20,
                _ => 0,
            })
            .sum()
    }

    /// At most how much one more argument row with these values lengthens the
    /// command (for packing jobs to the command-line limit).
    pub fn cost_of(&self, row: &[&[u8]]) -> usize {
        fn cost(parts: &[Part], row: &[&[u8]], in_context: bool) -> usize {
            let quoted: usize = row.iter().map(|v| quoted_len(v) + 1).sum();
            parts
                .iter()
                .map(|p| match p {
                    Part::Literal(b) if in_context => b.len(),
                    Part::HostVar(b) if in_context => b.len(),
                    Part::JobNumber | Part::Slot if in_context => 20,
                    Part::Value { .. } | Part::Named(_) => quoted,
                    Part::Context(word) => cost(word, row, true) + 1,
                    _ => 0,
                })
                .sum()
        }
        cost(&self.parts, row, false)
    }
}

/// Calls `f` on every value or name placeholder, also inside `-X` words.
fn visit_values(
    parts: &mut [Part],
    f: &mut impl FnMut(&mut Part) -> Result<(), TemplateError>,
) -> Result<(), TemplateError> {
    for part in parts {
        match part {
            Part::Context(word) => visit_values(word, f)?,
            Part::Value { .. } | Part::Named(_) => f(part)?,
            _ => {}
        }
    }
    Ok(())
}

/// Splits one template word into literal text and placeholders.
fn parse_word(word: &[u8], options: &TemplateOptions) -> Result<Vec<Part>, TemplateError> {
    let mut parts = Vec::new();
    let mut literal = Vec::new();
    let flush = |literal: &mut Vec<u8>, parts: &mut Vec<Part>| {
        if !literal.is_empty() {
            let text = match options.quote {
                true => {
                    let mut q = Vec::new();
                    push_quoted(&mut q, literal);
                    q
                }
                false => literal.clone(),
            };
            parts.push(Part::Literal(text.into()));
            literal.clear();
        }
    };
    let renames = renames(options);
    let mut i = 0;
    'scan: while i < word.len() {
        for (custom, builtin) in &renames {
            if word[i..].starts_with(custom) {
                flush(&mut literal, &mut parts);
                let mut part = classify(builtin, &TemplateOptions::default())?
                    .expect("a built-in placeholder");
                if let Part::Value { written, .. } = &mut part {
                    *written = String::from_utf8_lossy(custom).into();
                }
                parts.push(part);
                i += custom.len();
                continue 'scan;
            }
        }
        // `${NAME}` is the shell's.
        if word[i] == b'{'
            && (i == 0 || word[i - 1] != b'$')
            && let Some(len) = word[i + 1..].iter().position(|&b| b == b'{' || b == b'}')
            && word[i + 1 + len] == b'}'
        {
            let content = &word[i + 1..i + 1 + len];
            if let Some(part) = classify(content, options)? {
                flush(&mut literal, &mut parts);
                parts.push(part);
                i += len + 2;
                continue;
            }
        }
        literal.push(word[i]);
        i += 1;
    }
    flush(&mut literal, &mut parts);
    Ok(parts)
}

/// The custom replacement strings (longest first, so one that starts another
/// wins) and the built-in placeholder content each stands for.
fn renames(options: &TemplateOptions) -> Vec<(&[u8], &'static [u8])> {
    let mut all: Vec<(&[u8], &'static [u8])> = options
        .replace
        .iter()
        .map(|r| (r.as_slice(), &b""[..]))
        .chain(options.renamed.iter().map(|(c, b)| (c.as_slice(), *b)))
        .filter(|(custom, _)| !custom.is_empty())
        .collect();
    all.sort_by_key(|(custom, _)| std::cmp::Reverse(custom.len()));
    all
}

/// What `{host}` renders to: GNU parallel's variable for the host part of the
/// job's sshlogin (`:` for this machine), which the executor sets.
pub(crate) const HOST_VAR: &[u8] = b"${PARALLEL_SSHHOST}";
/// What `{sshlogin}` renders to: the variable for the job's whole sshlogin.
pub(crate) const SSHLOGIN_VAR: &[u8] = b"${PARALLEL_SSHLOGIN}";

/// What the brace text `{content}` is: a placeholder, an error, or (None)
/// shell code. See the module documentation for the rule.
fn classify(content: &[u8], options: &TemplateOptions) -> Result<Option<Part>, TemplateError> {
    let written = || format!("{{{}}}", String::from_utf8_lossy(content));
    let value = |index, modifier| Part::Value {
        index,
        modifier,
        written: written().into(),
    };
    // A placeholder given another name (-I, --extensionreplace…) is plain text.
    if (content.is_empty() && options.replace.is_some())
        || options
            .renamed
            .iter()
            .any(|(_, builtin)| *builtin == content)
    {
        return Ok(None);
    }
    if let Some(modifier) = Modifier::from_suffix(content) {
        return Ok(Some(value(None, modifier)));
    }
    match content {
        b"#" => return Ok(Some(Part::JobNumber)),
        b"%" => return Ok(Some(Part::Slot)),
        b"host" => return Ok(Some(Part::HostVar(HOST_VAR))),
        b"sshlogin" => return Ok(Some(Part::HostVar(SSHLOGIN_VAR))),
        _ => {}
    }
    let first = content[0];
    if first == b'=' {
        return Err(TemplateError::Perl(written()));
    }
    if first.is_ascii_digit() {
        let digits = content.iter().take_while(|b| b.is_ascii_digit()).count();
        let modifier = Modifier::from_suffix(&content[digits..]);
        let number = std::str::from_utf8(&content[..digits])
            .ok()
            .and_then(|d| d.parse::<usize>().ok());
        return match (number, modifier) {
            (Some(0), Some(_)) => Err(TemplateError::Zero(written())),
            (Some(n), Some(modifier)) => Ok(Some(value(Some(n - 1), modifier))),
            _ if content.iter().any(u8::is_ascii_whitespace) => Ok(None),
            _ => Err(TemplateError::Unknown(written())),
        };
    }
    if b"./#%+".contains(&first) && !content.iter().any(u8::is_ascii_whitespace) {
        return Err(TemplateError::Unknown(written()));
    }
    let identifier = (first.is_ascii_alphabetic() || first == b'_')
        && content
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || *b == b'_');
    if identifier && options.header {
        return Ok(Some(Part::Named(content.into())));
    }
    Ok(None)
}

impl Part {
    fn is_value(&self) -> bool {
        match self {
            Part::Value { .. } | Part::Named(_) => true,
            Part::Context(word) => word.iter().any(Part::is_value),
            _ => false,
        }
    }
}

/// Length of `value` once quoted (an upper bound: quoting may not be needed).
fn quoted_len(value: &[u8]) -> usize {
    value.len() + 2 + 3 * value.iter().filter(|&&b| b == b'\'').count()
}

/// Whether `byte` never needs quoting for the shell.
fn is_safe(byte: u8) -> bool {
    byte.is_ascii_alphanumeric()
        || matches!(
            byte,
            b'_' | b'@' | b'%' | b'+' | b'=' | b':' | b',' | b'.' | b'/' | b'-'
        )
}

/// Quotes `value` so that `/bin/sh` reads it back as exactly one word with
/// exactly these bytes.
///
/// Non-empty values made only of `[A-Za-z0-9_@%+=:,./-]` are returned as-is;
/// anything else is wrapped in single quotes with each `'` written as `'\''`;
/// the empty value becomes `''`. Non-UTF-8 bytes and newlines are kept as they
/// are inside the quotes. (A NUL byte cannot be passed to a shell at all.)
pub fn shell_quote(value: &[u8]) -> Cow<'_, [u8]> {
    if !value.is_empty() && value.iter().copied().all(is_safe) {
        return Cow::Borrowed(value);
    }
    let mut out = Vec::with_capacity(value.len() + 2);
    push_quoted(&mut out, value);
    Cow::Owned(out)
}

/// Appends the quoted form of `value` (see [`shell_quote`]) to `out`.
fn push_quoted(out: &mut Vec<u8>, value: &[u8]) {
    if !value.is_empty() && value.iter().copied().all(is_safe) {
        out.extend_from_slice(value);
        return;
    }
    out.push(b'\'');
    for chunk in value.split_inclusive(|&b| b == b'\'') {
        match chunk.split_last() {
            Some((b'\'', rest)) => {
                out.extend_from_slice(rest);
                out.extend_from_slice(b"'\\''");
            }
            _ => out.extend_from_slice(chunk),
        }
    }
    out.push(b'\'');
}

/// Appends `n` in decimal without allocating.
fn push_decimal(out: &mut Vec<u8>, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut start = digits.len();
    loop {
        start -= 1;
        digits[start] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[start..]);
}

/// `{.}`: removes the last `.` and what follows it, provided no `/` follows
/// it (GNU parallel's `s:\.[^/.]*$::`).
fn strip_extension(path: &[u8]) -> &[u8] {
    match path.iter().rposition(|&b| b == b'.') {
        Some(dot) if !path[dot + 1..].contains(&b'/') => &path[..dot],
        _ => path,
    }
}

/// `{/}`: everything after the last `/` (GNU parallel's `s:^.*/::`).
fn basename(path: &[u8]) -> &[u8] {
    match path.iter().rposition(|&b| b == b'/') {
        Some(slash) => &path[slash + 1..],
        None => path,
    }
}

/// Perl's `File::Basename::fileparse` on Unix, without suffixes: the
/// directory part (including its trailing `/`, or `./` if there is none) and
/// the rest.
fn fileparse(path: &[u8]) -> (&[u8], &[u8]) {
    match path.iter().rposition(|&b| b == b'/') {
        Some(slash) => (&path[..=slash], &path[slash + 1..]),
        None => (b"./", path),
    }
}

/// Removes trailing `/`s but keeps the first byte (Perl's
/// `s{(.)/*\z}{$1}s`).
fn strip_trailing_slashes(path: &[u8]) -> &[u8] {
    let mut end = path.len();
    while end > 1 && path[end - 1] == b'/' {
        end -= 1;
    }
    &path[..end]
}

/// `{//}`: Perl's `File::Basename::dirname` on Unix, which GNU parallel uses:
/// `a/b/c` → `a/b`, `c` → `.`, `/c` → `/`, `a/b/` → `a`.
fn dirname(path: &[u8]) -> &[u8] {
    let (dir, base) = fileparse(path);
    let dir = strip_trailing_slashes(dir);
    if !base.is_empty() {
        return dir;
    }
    let (dir, _) = fileparse(dir);
    strip_trailing_slashes(dir)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsStr;
    use std::path::PathBuf;
    use std::process::Command;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn words(ws: &[&str]) -> Vec<OsString> {
        ws.iter().map(OsString::from).collect()
    }

    fn render(template: &str, record: &[u8]) -> Vec<u8> {
        Template::parse(&words(&[template]))
            .expect("valid template")
            .render_value(record, 7, 3)
    }

    /// Shows bytes readably in assertion failures.
    fn s(bytes: &[u8]) -> String {
        String::from_utf8_lossy(bytes).into_owned()
    }

    #[test]
    fn empty_template_is_rejected() {
        for ws in [&[][..], &[""][..], &["  ", "\t"][..], &["\n"][..]] {
            let err = Template::parse(&words(ws)).unwrap_err();
            assert_eq!(err, TemplateError::Empty);
            assert_eq!(err.to_string(), "the command template after -- is empty");
        }
    }

    #[test]
    fn words_are_joined_with_single_spaces_unquoted() {
        let t = Template::parse(&words(&["echo {}", "|", "wc", "-c"])).unwrap();
        assert_eq!(s(&t.render_value(b"a b", 1, 1)), "echo 'a b' | wc -c");
    }

    #[test]
    fn non_utf8_words_are_kept() {
        use std::os::unix::ffi::OsStringExt;
        let t = Template::parse(&[OsString::from_vec(b"echo \xff".to_vec())]).unwrap();
        assert_eq!(t.render_value(b"x", 1, 1), b"echo \xff x");
    }

    #[test]
    fn placeholders_table() {
        let cases: &[(&str, &[u8], &str)] = &[
            ("{}", b"dir/sub/file.tar.gz", "dir/sub/file.tar.gz"),
            // {.}: strip from the last dot if no slash follows it.
            ("{.}", b"dir/sub/file.tar.gz", "dir/sub/file.tar"),
            ("{.}", b"file", "file"),
            ("{.}", b"a.b/c", "a.b/c"),
            ("{.}", b"a.b/c.d", "a.b/c"),
            ("{.}", b"file.", "file"),
            ("{.}", b".bashrc", "''"),
            ("{.}", b"dir/.bashrc", "dir/"),
            // {/}: everything after the last slash.
            ("{/}", b"dir/sub/file.txt", "file.txt"),
            ("{/}", b"file.txt", "file.txt"),
            ("{/}", b"/file", "file"),
            ("{/}", b"dir/", "''"),
            // {//}: Perl File::Basename::dirname.
            ("{//}", b"a/b/c", "a/b"),
            ("{//}", b"c", "."),
            ("{//}", b"/c", "/"),
            ("{//}", b"a/b/", "a"),
            ("{//}", b"a/", "."),
            ("{//}", b"/", "/"),
            ("{//}", b"//", "/"),
            ("{//}", b"", "."),
            ("{//}", b"a//b", "a"),
            ("{//}", b"a/b//", "a"),
            ("{//}", b"/a", "/"),
            // {/.}: basename without extension.
            ("{/.}", b"dir/sub/file.tar.gz", "file.tar"),
            ("{/.}", b"a.b/c", "c"),
            ("{/.}", b"noext", "noext"),
            // Numbers are plain.
            ("{#}", b"x", "7"),
            ("{%}", b"x", "3"),
            ("{#}-{%}:{}", b"x", "7-3:x"),
        ];
        for &(template, record, expected) in cases {
            assert_eq!(
                s(&render(template, record)),
                expected,
                "template {template:?} record {:?}",
                s(record)
            );
        }
    }

    #[test]
    fn derived_values_are_quoted() {
        assert_eq!(s(&render("{.}", b"my file.txt")), "'my file'");
        assert_eq!(s(&render("{/}", b"d/it's")), "'it'\\''s'");
        assert_eq!(s(&render("{//}", b"my dir/f")), "'my dir'");
        assert_eq!(s(&render("{/.}", b"d/$x.y")), "'$x'");
    }

    #[test]
    fn placeholders_can_repeat_and_mix() {
        assert_eq!(
            s(&render("mv {} {//}/{/.}.bak # {#}", b"a b/c.txt")),
            "mv 'a b/c.txt' 'a b'/c.bak # 7"
        );
        assert_eq!(s(&render("{{}}", b"x")), "{x}");
        assert_eq!(s(&render("{}{}", b"x y")), "'x y''x y'");
    }

    #[test]
    fn unknown_braces_are_left_literally() {
        let cases = [
            "echo ${HOME}",
            "awk '{print}'",
            "echo {foo}",
            "echo { }",
            "echo {",
            "echo }",
            "echo {/",
            "echo {//",
            "f() { :; }",
        ];
        for template in cases {
            let t = Template::parse(&words(&[template])).unwrap();
            assert!(t.appends_record(), "{template}");
            assert_eq!(
                s(&t.render_value(b"r", 1, 1)),
                format!("{template} r"),
                "{template}"
            );
        }
    }

    #[test]
    fn host_placeholders_render_as_gnu_parallel_variables() {
        // The host is chosen after rendering: {host} and {sshlogin} become the
        // variables the executor sets, as GNU parallel --plus writes them; like
        // {#}, they are placeholders, so the record is not appended.
        let t = Template::parse(&words(&["echo", "{host}:{sshlogin}"])).unwrap();
        assert!(!t.appends_record());
        assert_eq!(
            s(&t.render_value(b"r", 1, 1)),
            "echo ${PARALLEL_SSHHOST}:${PARALLEL_SSHLOGIN}"
        );
        let t = Template::parse(&words(&["echo", "{host}", "{}"])).unwrap();
        assert_eq!(
            s(&t.render_value(b"a b", 1, 1)),
            "echo ${PARALLEL_SSHHOST} 'a b'"
        );
    }

    #[test]
    fn a_pipe_template_appends_nothing_and_takes_only_numbers() {
        let t = Template::parse(&words(&["wc -l"]))
            .unwrap()
            .for_pipe()
            .unwrap();
        assert_eq!(t.render_numbers(3, 2), b"wc -l");
        let t = Template::parse(&words(&["cat > out.{#}.{%}"]))
            .unwrap()
            .for_pipe()
            .unwrap();
        assert_eq!(t.render_numbers(12, 3), b"cat > out.12.3");
        for bad in ["echo {}", "echo {1}", "echo {.}"] {
            let err = Template::parse(&words(&[bad]))
                .unwrap()
                .for_pipe()
                .unwrap_err();
            assert!(err.starts_with("--pipe gives each job"), "{bad}: {err}");
        }
    }

    #[test]
    fn record_is_appended_only_without_record_placeholders() {
        let t = Template::parse(&words(&["gzip", "-9"])).unwrap();
        assert!(t.appends_record());
        assert_eq!(s(&t.render_value(b"a b.log", 1, 1)), "gzip -9 'a b.log'");

        // {#} and {%} alone are placeholders too: nothing is appended, as in GNU
        // parallel (`parallel echo {#} ::: a` prints `1`).
        let t = Template::parse(&words(&["echo", "{#}", "{%}"])).unwrap();
        assert!(!t.appends_record());
        assert_eq!(s(&t.render_value(b"r", 12, 2)), "echo 12 2");

        for placeholder in ["{}", "{.}", "{/}", "{//}", "{/.}", "{#}", "{%}"] {
            let t = Template::parse(&words(&["echo", placeholder])).unwrap();
            assert!(!t.appends_record(), "{placeholder}");
            assert!(
                !s(&t.render_value(b"r", 1, 1)).ends_with(" r r"),
                "{placeholder}"
            );
        }
    }

    #[test]
    fn numbers_render_fully() {
        let t = Template::parse(&words(&["{#}", "{%}"])).unwrap();
        assert_eq!(
            s(&t.render_value(b"r", u64::MAX, 0)),
            format!("{} 0", u64::MAX)
        );
        assert_eq!(s(&t.render_value(b"r", 0, 10)), "0 10");
    }

    #[test]
    fn shell_quote_table() {
        let cases: &[(&[u8], &[u8])] = &[
            (b"plain", b"plain"),
            (b"A-Za-z0-9_@%+=:,./-", b"A-Za-z0-9_@%+=:,./-"),
            (b"-n", b"-n"),
            (b"", b"''"),
            (b"with space", b"'with space'"),
            (b"it's", b"'it'\\''s'"),
            (b"''", b"''\\'''\\'''"),
            (b"$(x)", b"'$(x)'"),
            (b"a\nb", b"'a\nb'"),
            (b"\xff", b"'\xff'"),
            (b"*", b"'*'"),
            (b"~", b"'~'"),
        ];
        for &(value, expected) in cases {
            assert_eq!(&*shell_quote(value), expected, "value {:?}", s(value));
        }
        assert!(matches!(shell_quote(b"safe"), Cow::Borrowed(_)));
        assert!(matches!(shell_quote(b"not safe"), Cow::Owned(_)));
    }

    fn bound(
        words_: &[&str],
        options: &TemplateOptions,
        shape: Shape,
    ) -> Result<Template, TemplateError> {
        let mut t = Template::parse_with(&words(words_), options)?;
        t.bind(shape, &[b"name".to_vec(), b"size".to_vec()])?;
        Ok(t)
    }

    fn rows(rows: &[&[&str]]) -> Vec<u8> {
        let rows: Vec<Vec<Vec<u8>>> = rows
            .iter()
            .map(|r| r.iter().map(|v| v.as_bytes().to_vec()).collect())
            .collect();
        crate::run::input::job_args::encode(&rows)
    }

    const TWO: Shape = Shape {
        width: Some(2),
        rows_per_job: None,
    };

    #[test]
    fn positional_placeholders_take_one_source_each() {
        let t = bound(
            &["echo {2} {1} {1.} {2/} {2//} {2/.} {}"],
            &TemplateOptions::default(),
            TWO,
        )
        .unwrap();
        let out = t.render(&rows(&[&["a.txt", "d/b.c"]]), 1, 1);
        assert_eq!(s(&out), "echo d/b.c a.txt a b.c d b a.txt d/b.c");
    }

    #[test]
    fn out_of_range_and_unknown_placeholders_are_errors_naming_them() {
        let opts = TemplateOptions::default();
        let err = bound(&["echo {3}"], &opts, TWO).unwrap_err();
        assert_eq!(
            err.to_string(),
            "placeholder {3} is out of range: there are only 2 input sources: give more with \
             ::: or ::::, or split lines with --colsep"
        );
        assert!(
            bound(&["echo {0}"], &opts, TWO)
                .unwrap_err()
                .to_string()
                .contains("starts at {1}")
        );
        for bad in ["{1x}", "{..}", "{+/}", "{/x}", "{#x}", "{%%}", "{1//.}"] {
            let err = Template::parse_with(&words(&["echo", bad]), &opts).unwrap_err();
            assert_eq!(err, TemplateError::Unknown(bad.to_owned()), "{bad}");
        }
        let err = Template::parse_with(&words(&["echo {=uc=}"]), &opts).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("perl expressions such as {=uc=}"),
            "{err}"
        );
        // Plainly not placeholders: shell and awk code.
        for fine in [
            "{foo}",
            "${HOME}",
            "{a,b}",
            "{ }",
            "awk '{print $1}'",
            "{1 2}",
        ] {
            assert!(
                Template::parse_with(&words(&[fine]), &opts).is_ok(),
                "{fine}"
            );
        }
    }

    #[test]
    fn header_names_are_columns_and_unknown_ones_are_errors() {
        let opts = TemplateOptions {
            header: true,
            ..TemplateOptions::default()
        };
        let t = bound(&["echo {size} {name} ${HOME}"], &opts, TWO).unwrap();
        assert_eq!(
            s(&t.render(&rows(&[&["f", "9"]]), 1, 1)),
            "echo 9 f ${HOME}"
        );
        let err = bound(&["echo {nmae}"], &opts, TWO).unwrap_err();
        assert_eq!(
            err.to_string(),
            "placeholder {nmae} names no column of the --header: the columns are {name} {size}"
        );
    }

    #[test]
    fn several_rows_context_replace_and_multiple() {
        let job = rows(&[&["a"], &["b c"]]);
        let one = Shape {
            width: Some(1),
            rows_per_job: None,
        };
        let x = TemplateOptions {
            context: true,
            ..TemplateOptions::default()
        };
        let t = bound(&["mv x{}y {#} dir/"], &x, one).unwrap();
        assert_eq!(s(&t.render(&job, 3, 1)), "mv xay x'b c'y 3 dir/");
        let t = bound(&["echo", "x{}y"], &TemplateOptions::default(), one).unwrap();
        assert_eq!(s(&t.render(&job, 1, 1)), "echo xa 'b c'y");
        let t = bound(&["touch"], &x, one).unwrap();
        assert_eq!(s(&t.render(&job, 1, 1)), "touch a 'b c'");
        // -N 2: {1} {2} are the job's arguments; a missing one is nothing.
        let n2 = Shape {
            width: Some(1),
            rows_per_job: Some(2),
        };
        let t = bound(&["echo {2}-{1}"], &TemplateOptions::default(), n2).unwrap();
        assert_eq!(s(&t.render(&job, 1, 1)), "echo 'b c'-a");
        assert_eq!(s(&t.render(&rows(&[&["e"]]), 1, 1)), "echo -e");
        assert!(bound(&["echo {3}"], &TemplateOptions::default(), n2).is_err());
    }

    #[test]
    fn every_placeholder_can_be_renamed() {
        let options = TemplateOptions {
            replace: Some(b"%%".to_vec()),
            renamed: vec![
                (b"EXT".to_vec(), b"."),
                (b"BASE".to_vec(), b"/"),
                (b"DIR".to_vec(), b"//"),
                (b"BASEEXT".to_vec(), b"/."),
                (b"SEQ".to_vec(), b"#"),
                (b"SLOT".to_vec(), b"%"),
            ],
            ..TemplateOptions::default()
        };
        let t = Template::parse_with(
            &words(&["%% EXT BASE DIR BASEEXT SEQ SLOT {.} {#}"]),
            &options,
        )
        .unwrap();
        assert_eq!(
            s(&t.render_value(b"d/f.c", 4, 2)),
            "d/f.c d/f f.c d f 4 2 {.} {#}"
        );
    }

    #[test]
    fn replace_string_and_quote() {
        let i = TemplateOptions {
            replace: Some(b"%".to_vec()),
            ..TemplateOptions::default()
        };
        let t = Template::parse_with(&words(&["mv % %.bak {}"]), &i).unwrap();
        assert_eq!(s(&t.render_value(b"a b", 1, 1)), "mv 'a b' 'a b'.bak {}");
        let q = TemplateOptions {
            quote: true,
            ..TemplateOptions::default()
        };
        let t =
            Template::parse_with(&words(&["perl", "-e", "print \"$ARGV[0]\"", "x{}"]), &q).unwrap();
        assert_eq!(
            s(&t.render_value(b"v", 1, 1)),
            "perl -e 'print \"$ARGV[0]\"' xv"
        );
    }

    #[test]
    fn cost_bounds_what_a_row_adds() {
        let one = Shape {
            width: Some(1),
            rows_per_job: None,
        };
        let x = TemplateOptions {
            context: true,
            ..TemplateOptions::default()
        };
        let t = bound(&["cp x{}y {//} /d"], &x, one).unwrap();
        let job1 = rows(&[&["it's"]]);
        let job2 = rows(&[&["it's"], &["a b"]]);
        let added = t.render(&job2, 1, 1).len() - t.render(&job1, 1, 1).len();
        assert!(t.cost_of(&[b"a b"]) >= added);
        assert!(t.base_len() + t.cost_of(&[b"it's"]) >= t.render(&job1, 1, 1).len());
    }

    /// A unique temporary directory, removed on drop.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new(tag: &str) -> TempDir {
            static COUNTER: AtomicUsize = AtomicUsize::new(0);
            let n = COUNTER.fetch_add(1, Ordering::Relaxed);
            let dir = std::env::temp_dir().join(format!(
                "atp-template-test-{}-{tag}-{n}",
                std::process::id()
            ));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).expect("create temp dir");
            TempDir(dir)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn run_sh(dir: &TempDir, command: &[u8]) -> Vec<u8> {
        let output = Command::new("/bin/sh")
            .arg("-c")
            .arg(OsStr::from_bytes(command))
            .current_dir(&dir.0)
            .output()
            .expect("run /bin/sh");
        assert!(
            output.status.success(),
            "sh failed for {:?}: {}",
            s(command),
            s(&output.stderr)
        );
        output.stdout
    }

    const HOSTILE: &[&[u8]] = &[
        b"$(touch PWNED)",
        b"`touch PWNED`",
        b"a;touch PWNED",
        b"a && touch PWNED",
        b"a | touch PWNED",
        b"a\ntouch PWNED",
        b"'; touch PWNED; '",
        b"it's \"quoted\"",
        b"with space",
        b"-n",
        b"line1\nline2",
        b"\xff\xfe.txt",
        b"*",
        b"~",
        b"$HOME",
        b"'",
        b"\\",
        b"",
    ];

    #[test]
    fn hostile_records_are_arguments_not_code() {
        let dir = TempDir::new("hostile");
        // A file for `*` to expand to if it were unquoted.
        std::fs::write(dir.0.join("zzz"), b"").expect("write");
        let explicit = Template::parse(&words(&["printf", "'%s\\n'", "{}"])).unwrap();
        let appended = Template::parse(&words(&["printf '%s\\n'"])).unwrap();
        for &record in HOSTILE {
            for template in [&explicit, &appended] {
                let command = template.render_value(record, 1, 1);
                let out = run_sh(&dir, &command);
                let mut expected = record.to_vec();
                expected.push(b'\n');
                assert_eq!(s(&out), s(&expected), "command {:?}", s(&command));
                assert_eq!(out, expected, "command {:?}", s(&command));
                assert!(
                    !dir.0.join("PWNED").exists(),
                    "record {:?} ran code",
                    s(record)
                );
            }
        }
    }

    #[test]
    fn hostile_records_through_derived_placeholders_stay_arguments() {
        let dir = TempDir::new("derived");
        let t = Template::parse(&words(&["printf '%s|%s|%s|%s\\n' {.} {/} {//} {/.}"])).unwrap();
        let record: &[u8] = b"$(touch PWNED)/`touch PWNED`;x.$(touch PWNED)";
        let out = run_sh(&dir, &t.render_value(record, 1, 1));
        let expected = [
            strip_extension(record),
            basename(record),
            dirname(record),
            strip_extension(basename(record)),
        ]
        .join(&b'|');
        assert_eq!(s(&out), format!("{}\n", s(&expected)));
        assert!(!dir.0.join("PWNED").exists());
    }
}
