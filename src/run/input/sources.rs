//! Streaming reader for the records (commands or arguments) that `atp-run`
//! reads, one per line or one per NUL-terminated chunk.
//!
//! This module owns turning CLI input operands into opened sources
//! ([`open_sources`]) and turning those sources into a lazy stream of
//! [`Record`]s ([`Inputs::records`]).
//!
//! Invariants:
//! - Every file operand is checked (it exists, is not a directory, is readable)
//!   before any record is produced, so a bad operand is reported before any job
//!   runs; but a file is *opened* only when reading reaches it, one at a time. So
//!   `atp-run a.txt fifo`, where a job of a.txt feeds the FIFO, cannot deadlock
//!   in opening the FIFO, and 600 input files hold one descriptor, not 600.
//! - Standard input appears at most once among the sources.
//! - Sources are read strictly in operand order, each through a 64 KiB
//!   [`BufReader`]; nothing ever reads a whole source into memory, and no record
//!   holds more than [`MAX_RECORD`] bytes: a longer one is read past (up to its
//!   terminator, without keeping it) and yielded as
//!   [`InputError::RecordTooLong`], and reading goes on after it. So memory
//!   stays bounded even on `/dev/zero`.
//! - A record is yielded as soon as its terminator has been read: the reader
//!   never waits for a buffer to fill, so slow pipes are not delayed.
//! - Records are raw bytes; they need not be UTF-8.

use std::fmt;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

/// Capacity of the buffer placed in front of every source.
const READ_BUFFER_CAPACITY: usize = 64 * 1024;

/// Most bytes one record may hold (1 MiB, as a `--line-buffer` line). The kernel
/// runs no single argument over 128 KiB (`MAX_ARG_STRLEN`), so a command or
/// argument this long can never run as `sh -c`; the bound is well above that.
pub const MAX_RECORD: usize = 1 << 20;

/// Name used for standard input in error messages.
const STDIN_NAME: &str = "standard input";

/// How records are terminated in the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Separator {
    /// One record per line. A trailing `\r` is tolerated (CRLF input) and
    /// records that are empty or only ASCII whitespace are skipped.
    Newline,
    /// Records terminated by NUL bytes (as produced by `find -print0`).
    /// Only empty records are skipped; whitespace and newlines inside a record
    /// are kept because file names may contain them.
    Nul,
}

impl Separator {
    fn byte(self) -> u8 {
        match self {
            Separator::Newline => b'\n',
            Separator::Nul => b'\0',
        }
    }
}

/// Where records come from, as named by a CLI operand.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// Standard input (the operand `-`).
    Stdin,
    /// A file of records.
    File(PathBuf),
}

impl Source {
    /// Interprets a CLI operand: `-` is standard input, anything else a file.
    pub fn from_operand(operand: &Path) -> Source {
        if operand.as_os_str() == "-" {
            Source::Stdin
        } else {
            Source::File(operand.to_path_buf())
        }
    }

    /// The name used for this source in error messages: `standard input`
    /// for stdin, the path (in single quotes) for a file.
    pub fn display_name(&self) -> String {
        match self {
            Source::Stdin => STDIN_NAME.to_owned(),
            Source::File(path) => quote_path(path),
        }
    }
}

/// Formats a path for a one-line message: in single quotes, with control
/// characters (such as newlines) escaped and non-UTF-8 bytes replaced.
fn quote_path(path: &Path) -> String {
    let mut out = String::from("'");
    for c in path.to_string_lossy().chars() {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out.push('\'');
    out
}

/// An error opening or reading an input source.
///
/// Its [`Display`](fmt::Display) form is a single line suitable for showing
/// to the user after `atp-run: `, its cause (if any) is its source: show both,
/// joined by `": "`.
#[derive(Debug)]
#[non_exhaustive]
pub enum InputError {
    /// An input file operand does not exist.
    NotFound {
        /// The operand as given.
        path: PathBuf,
    },
    /// An input file operand is a directory.
    IsDirectory {
        /// The operand as given.
        path: PathBuf,
    },
    /// An input file operand cannot be opened for lack of permission.
    PermissionDenied {
        /// The operand as given.
        path: PathBuf,
    },
    /// An input file operand cannot be opened for another reason.
    Open {
        /// The operand as given.
        path: PathBuf,
        /// The underlying error.
        error: io::Error,
    },
    /// Standard input (`-`) was given more than once.
    StdinRepeated,
    /// A record longer than [`MAX_RECORD`]; it was read past, not kept.
    RecordTooLong {
        /// The source's display name (see [`Source::display_name`]).
        source_name: String,
        /// The 1-based record number within its source.
        line: u64,
    },
    /// A row has fewer `--colsep` columns than the template uses.
    TooFewColumns {
        /// The 1-based number of the argument row.
        row: u64,
        /// Its columns.
        found: usize,
        /// The highest `{N}` of the template.
        needed: usize,
    },
    /// The first FILE does not exist but names a command: the template was
    /// meant to come after `--`.
    LooksLikeCommand {
        /// The FILE operands, from the first one, as a template.
        words: String,
    },
    /// The template does not fit the input (found once `--header` was read).
    Template(crate::run::input::template::TemplateError),
    /// Reading a source failed part-way through.
    Read {
        /// The source's display name (see [`Source::display_name`]).
        source_name: String,
        /// The 1-based number of the record being read when the error occurred.
        line: u64,
        /// The underlying error.
        error: io::Error,
    },
    /// Reading a `--pipe` stream failed part-way through.
    PipeRead {
        /// The source's display name.
        source_name: String,
        /// The 1-based number of the block being read.
        block: u64,
        /// The underlying error.
        error: io::Error,
    },
}

impl InputError {
    /// Classifies an error from opening `path` into a user-facing error.
    fn from_open(path: &Path, error: io::Error) -> InputError {
        let path = path.to_path_buf();
        match error.kind() {
            io::ErrorKind::NotFound => InputError::NotFound { path },
            io::ErrorKind::PermissionDenied => InputError::PermissionDenied { path },
            io::ErrorKind::IsADirectory => InputError::IsDirectory { path },
            _ => InputError::Open { path, error },
        }
    }
}

impl InputError {
    /// Whether the error concerns one record only (one too long to keep): it fails
    /// that record's job, and the input goes on after it. Every other error ends
    /// the input.
    pub fn is_one_record(&self) -> bool {
        matches!(self, InputError::RecordTooLong { .. })
    }
}

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InputError::NotFound { path } => {
                write!(f, "input file {} does not exist", quote_path(path))
            }
            InputError::IsDirectory { path } => write!(
                f,
                "input {} is a directory, not a file of commands",
                quote_path(path)
            ),
            InputError::PermissionDenied { path } => write!(
                f,
                "cannot open input file {}: permission denied",
                quote_path(path)
            ),
            InputError::Open { path, .. } => {
                write!(f, "cannot open input file {}", quote_path(path))
            }
            InputError::StdinRepeated => f.write_str(
                "standard input ('-') is given more than once as an input; give it at most once",
            ),
            InputError::Read {
                source_name, line, ..
            } => write!(f, "error reading {source_name} (line {line})"),
            InputError::PipeRead {
                source_name, block, ..
            } => write!(f, "error reading {source_name} (--pipe block {block})"),
            InputError::RecordTooLong { source_name, line } => write!(
                f,
                "line {line} of {source_name} is longer than {} MiB, more than any \
                 command can hold: not run",
                MAX_RECORD >> 20
            ),
            InputError::TooFewColumns { row, found, needed } => write!(
                f,
                "input row {row} has {found} column{} but the template uses {{{needed}}}: \
                 check --colsep, or use {{{found}}} at most",
                if *found == 1 { "" } else { "s" }
            ),
            InputError::LooksLikeCommand { words } => write!(
                f,
                "input file '{}' does not exist; to run a command on each line, put it \
                 after --: atp-run -- {words}",
                words.split(' ').next().unwrap_or_default()
            ),
            InputError::Template(err) => write!(f, "{err}"),
        }
    }
}

impl std::error::Error for InputError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            InputError::Open { error, .. }
            | InputError::Read { error, .. }
            | InputError::PipeRead { error, .. } => Some(error),
            _ => None,
        }
    }
}

/// One record read from an input source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// The record's bytes, without its terminator (and without a trailing
    /// `\r` in newline mode). Not necessarily UTF-8.
    pub bytes: Vec<u8>,
    /// Index of the source it came from, in operand order (0-based).
    pub source_index: usize,
    /// 1-based line (or NUL-terminated record) number within its source,
    /// counting skipped blank records.
    pub line: u64,
}

/// A source plus the name used for it in error messages.
struct OpenSource {
    name: String,
    reader: Pending,
}

/// A source not read yet: a reader, or a checked file opened when reached.
enum Pending {
    Reader(Box<dyn Read + Send>),
    File(PathBuf),
}

/// The opened input sources, in order, ready to be read.
pub struct Inputs {
    sources: Vec<OpenSource>,
}

impl fmt::Debug for Inputs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Inputs")
            .field("sources", &self.source_names().collect::<Vec<_>>())
            .finish()
    }
}

/// Checks every input operand up front, in order.
///
/// `-` means standard input and may appear at most once; an empty operand
/// list means standard input alone. Files are checked now (they exist, are not
/// directories, are readable) so that a bad operand is reported before any job
/// runs, and opened only when reading reaches them.
///
/// # Errors
///
/// Returns an [`InputError`] naming the first operand that does not exist,
/// is a directory, cannot be opened, or is a repeated `-`.
pub fn open_sources(operands: &[PathBuf]) -> Result<Inputs, InputError> {
    if operands.is_empty() {
        return Ok(Inputs {
            sources: vec![stdin_source()],
        });
    }
    let mut sources = Vec::with_capacity(operands.len());
    let mut seen_stdin = false;
    for operand in operands {
        match Source::from_operand(operand) {
            Source::Stdin => {
                if seen_stdin {
                    return Err(InputError::StdinRepeated);
                }
                seen_stdin = true;
                sources.push(stdin_source());
            }
            Source::File(path) => {
                check_file(&path)?;
                sources.push(OpenSource {
                    name: Source::File(path.clone()).display_name(),
                    reader: Pending::File(path),
                });
            }
        }
    }
    Ok(Inputs { sources })
}

fn stdin_source() -> OpenSource {
    OpenSource {
        name: STDIN_NAME.to_owned(),
        reader: Pending::Reader(Box::new(io::stdin())),
    }
}

/// Checks, without opening it (opening a FIFO blocks until it has a writer),
/// that `path` exists, is not a directory, and is readable.
fn check_file(path: &Path) -> Result<(), InputError> {
    let metadata = std::fs::metadata(path).map_err(|e| InputError::from_open(path, e))?;
    if metadata.is_dir() {
        return Err(InputError::IsDirectory {
            path: path.to_path_buf(),
        });
    }
    nix::unistd::access(path, nix::unistd::AccessFlags::R_OK)
        .map_err(|errno| InputError::from_open(path, io::Error::from(errno)))
}

/// Opens `path` for reading, rejecting directories (which `File::open`
/// accepts on Linux).
pub(crate) fn open_file(path: &Path) -> Result<File, InputError> {
    let file = File::open(path).map_err(|e| InputError::from_open(path, e))?;
    let metadata = file
        .metadata()
        .map_err(|e| InputError::from_open(path, e))?;
    if metadata.is_dir() {
        return Err(InputError::IsDirectory {
            path: path.to_path_buf(),
        });
    }
    Ok(file)
}

impl Inputs {
    /// Number of sources.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.sources.len()
    }

    /// Whether there are no sources at all (only possible via
    /// [`Inputs::from_readers`]).
    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.sources.is_empty()
    }

    /// Wraps arbitrary readers as sources, in order. They are named
    /// `input #1`, `input #2`, … in error messages.
    #[cfg(test)]
    pub fn from_readers(readers: Vec<Box<dyn Read + Send>>) -> Inputs {
        let sources = readers
            .into_iter()
            .enumerate()
            .map(|(i, reader)| OpenSource {
                name: format!("input #{}", i + 1),
                reader: Pending::Reader(reader),
            })
            .collect();
        Inputs { sources }
    }

    /// The display names of the sources, in order (indexable by
    /// [`Record::source_index`]).
    pub fn source_names(&self) -> impl Iterator<Item = &str> {
        self.sources.iter().map(|s| s.name.as_str())
    }

    /// Turns the sources into a lazy stream of records separated by `sep`,
    /// reading each source in turn.
    pub fn records(self, sep: Separator) -> Records {
        let mut names = Vec::with_capacity(self.sources.len());
        let mut readers = Vec::with_capacity(self.sources.len());
        for source in self.sources {
            names.push(source.name);
            readers.push(source.reader);
        }
        Records {
            names,
            pending: readers.into_iter(),
            current: None,
            sep,
        }
    }
}

/// The source currently being read.
struct Current {
    reader: BufReader<Box<dyn Read + Send>>,
    index: usize,
    line: u64,
}

/// Lazy iterator over the records of all sources, in order.
///
/// After a read error the error is yielded and the rest of that source is
/// abandoned; iteration continues with the next source. The iterator is
/// fused: once it returns `None` it keeps returning `None`.
pub struct Records {
    names: Vec<String>,
    pending: std::vec::IntoIter<Pending>,
    current: Option<Current>,
    sep: Separator,
}

impl fmt::Debug for Records {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Records")
            .field("names", &self.names)
            .field("separator", &self.sep)
            .field("current_source", &self.current.as_ref().map(|c| c.index))
            .finish_non_exhaustive()
    }
}

impl Records {
    /// The display name of the source with the given index.
    #[cfg(test)]
    pub fn source_name(&self, source_index: usize) -> Option<&str> {
        self.names.get(source_index).map(String::as_str)
    }

    /// Whether a freshly read record (terminator already stripped) is to be
    /// skipped, after normalising it in place.
    fn normalise(&self, bytes: &mut Vec<u8>) -> bool {
        match self.sep {
            Separator::Newline => {
                if bytes.last() == Some(&b'\r') {
                    bytes.pop();
                }
                bytes.iter().all(u8::is_ascii_whitespace)
            }
            Separator::Nul => bytes.is_empty(),
        }
    }
}

impl Iterator for Records {
    type Item = Result<Record, InputError>;

    fn next(&mut self) -> Option<Self::Item> {
        let terminator = self.sep.byte();
        loop {
            if self.current.is_none() {
                let pending = self.pending.next()?;
                let index = self.names.len() - self.pending.len() - 1;
                let reader = match pending {
                    Pending::Reader(reader) => reader,
                    Pending::File(path) => match open_file(&path) {
                        Ok(file) => Box::new(file) as Box<dyn Read + Send>,
                        // Checked before the run, gone or changed since.
                        Err(err) => return Some(Err(err)),
                    },
                };
                self.current = Some(Current {
                    reader: BufReader::with_capacity(READ_BUFFER_CAPACITY, reader),
                    index,
                    line: 0,
                });
            }
            let current = self.current.as_mut()?;
            let mut bytes = Vec::new();
            match read_record(&mut current.reader, terminator, &mut bytes) {
                Ok(RecordRead::End) => {
                    self.current = None;
                }
                Ok(RecordRead::TooLong) => {
                    current.line += 1;
                    return Some(Err(InputError::RecordTooLong {
                        source_name: self.names[current.index].clone(),
                        line: current.line,
                    }));
                }
                Ok(RecordRead::Record) => {
                    current.line += 1;
                    let (index, line) = (current.index, current.line);
                    if bytes.last() == Some(&terminator) {
                        bytes.pop();
                    }
                    if !self.normalise(&mut bytes) {
                        return Some(Ok(Record {
                            bytes,
                            source_index: index,
                            line,
                        }));
                    }
                }
                Err(error) => {
                    let err = InputError::Read {
                        source_name: self.names[current.index].clone(),
                        line: current.line + 1,
                        error,
                    };
                    self.current = None;
                    return Some(Err(err));
                }
            }
        }
    }
}

impl std::iter::FusedIterator for Records {}

/// What [`read_record`] read.
enum RecordRead {
    /// A record (with its terminator, unless it ended the source).
    Record,
    /// A record longer than [`MAX_RECORD`], read past up to its terminator.
    TooLong,
    /// The end of the source.
    End,
}

/// Reads one record into `bytes` like `read_until`, but keeps at most
/// [`MAX_RECORD`] bytes (plus the terminator): past that, the rest of the record
/// is consumed without being kept, and `TooLong` is returned.
fn read_record(
    reader: &mut impl BufRead,
    terminator: u8,
    bytes: &mut Vec<u8>,
) -> io::Result<RecordRead> {
    let mut read_any = false;
    let mut too_long = false;
    loop {
        let buf = match reader.fill_buf() {
            Ok(buf) => buf,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if buf.is_empty() {
            break;
        }
        read_any = true;
        let (chunk, done) = match buf.iter().position(|&b| b == terminator) {
            Some(end) => (&buf[..=end], true),
            None => (buf, false),
        };
        let used = chunk.len();
        if !too_long {
            if bytes.len() + used > MAX_RECORD + usize::from(done) {
                too_long = true;
                *bytes = Vec::new();
            } else {
                bytes.extend_from_slice(chunk);
            }
        }
        reader.consume(used);
        if done {
            break;
        }
    }
    Ok(match (read_any, too_long) {
        (false, _) => RecordRead::End,
        (true, true) => RecordRead::TooLong,
        (true, false) => RecordRead::Record,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run::job::error_chain;
    use std::io::Cursor;
    use std::process::{Command, Stdio};
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};
    use std::time::{Duration, Instant};

    fn reader(bytes: &[u8]) -> Box<dyn Read + Send> {
        Box::new(Cursor::new(bytes.to_vec()))
    }

    fn collect(inputs: Inputs, sep: Separator) -> Vec<Record> {
        inputs
            .records(sep)
            .collect::<Result<Vec<_>, _>>()
            .expect("no read errors")
    }

    fn bytes_of(records: &[Record]) -> Vec<&[u8]> {
        records.iter().map(|r| r.bytes.as_slice()).collect()
    }

    /// A unique temporary directory, removed on drop.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new(tag: &str) -> TempDir {
            static COUNTER: AtomicUsize = AtomicUsize::new(0);
            let n = COUNTER.fetch_add(1, Ordering::Relaxed);
            let dir = std::env::temp_dir()
                .join(format!("atp-input-test-{}-{tag}-{n}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).expect("create temp dir");
            TempDir(dir)
        }

        fn file(&self, name: &str, contents: &[u8]) -> PathBuf {
            let path = self.0.join(name);
            std::fs::write(&path, contents).expect("write temp file");
            path
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn newline_mode_strips_terminator_and_crlf() {
        let inputs = Inputs::from_readers(vec![reader(b"echo a\r\necho b\nc\r\r\n")]);
        let records = collect(inputs, Separator::Newline);
        // Only one trailing \r is removed.
        assert_eq!(bytes_of(&records), vec![&b"echo a"[..], b"echo b", b"c\r"]);
    }

    #[test]
    fn newline_mode_skips_blank_records_but_counts_lines() {
        let inputs = Inputs::from_readers(vec![reader(b"\n  \t\n\r\na\n \x0c\nb  \n")]);
        let records = collect(inputs, Separator::Newline);
        assert_eq!(bytes_of(&records), vec![&b"a"[..], b"b  "]);
        assert_eq!(records[0].line, 4);
        assert_eq!(records[1].line, 6);
    }

    #[test]
    fn newline_mode_keeps_inner_and_leading_whitespace() {
        let inputs = Inputs::from_readers(vec![reader(b"  x  y\n")]);
        let records = collect(inputs, Separator::Newline);
        assert_eq!(bytes_of(&records), vec![&b"  x  y"[..]]);
    }

    #[test]
    fn final_record_without_terminator_is_returned() {
        let inputs = Inputs::from_readers(vec![reader(b"a\nlast")]);
        assert_eq!(
            bytes_of(&collect(inputs, Separator::Newline)),
            vec![&b"a"[..], b"last"]
        );
        let inputs = Inputs::from_readers(vec![reader(b"a\0last")]);
        assert_eq!(
            bytes_of(&collect(inputs, Separator::Nul)),
            vec![&b"a"[..], b"last"]
        );
    }

    #[test]
    fn nul_mode_keeps_whitespace_and_newlines_and_skips_empty() {
        let inputs = Inputs::from_readers(vec![reader(b"a b\n\0\0  \0line1\nline2\r\n\0\0")]);
        let records = collect(inputs, Separator::Nul);
        assert_eq!(
            bytes_of(&records),
            vec![&b"a b\n"[..], b"  ", b"line1\nline2\r\n"]
        );
        assert_eq!(
            records.iter().map(|r| r.line).collect::<Vec<_>>(),
            vec![1, 3, 4]
        );
    }

    #[test]
    fn records_are_raw_bytes() {
        let inputs = Inputs::from_readers(vec![reader(b"\xff\xfe.txt\n\x80\0x\n")]);
        let records = collect(inputs, Separator::Newline);
        assert_eq!(bytes_of(&records), vec![&b"\xff\xfe.txt"[..], b"\x80\0x"]);
    }

    #[test]
    fn sources_are_read_in_order_with_per_source_lines() {
        let inputs = Inputs::from_readers(vec![reader(b"a1\na2\n"), reader(b""), reader(b"\nc2")]);
        let records = collect(inputs, Separator::Newline);
        let summary: Vec<(&[u8], usize, u64)> = records
            .iter()
            .map(|r| (r.bytes.as_slice(), r.source_index, r.line))
            .collect();
        assert_eq!(
            summary,
            vec![(&b"a1"[..], 0, 1), (&b"a2"[..], 0, 2), (&b"c2"[..], 2, 2)]
        );
    }

    #[test]
    fn empty_reader_list_yields_nothing() {
        let inputs = Inputs::from_readers(Vec::new());
        assert!(inputs.is_empty());
        let mut records = inputs.records(Separator::Newline);
        assert!(records.next().is_none());
        assert!(records.next().is_none());
    }

    /// An endless reader of `x\n` lines that records the buffer sizes it is
    /// asked to fill.
    struct Endless {
        requested: Arc<Mutex<Vec<usize>>>,
    }

    impl Read for Endless {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            self.requested.lock().expect("lock").push(buf.len());
            for pair in buf.chunks_exact_mut(2) {
                pair.copy_from_slice(b"x\n");
            }
            Ok(buf.len() / 2 * 2)
        }
    }

    #[test]
    fn streams_without_reading_whole_source() {
        // An endless source: reading it to the end would never finish.
        let requested = Arc::new(Mutex::new(Vec::new()));
        let inputs = Inputs::from_readers(vec![Box::new(Endless {
            requested: Arc::clone(&requested),
        })]);
        let mut records = inputs.records(Separator::Newline);
        let mut count = 0u64;
        for record in records.by_ref().take(1_000_000) {
            let record = record.expect("no error");
            assert_eq!(record.bytes, b"x");
            count += 1;
        }
        assert_eq!(count, 1_000_000);
        let requested = requested.lock().expect("lock");
        // 2 bytes per record, 64 KiB per read: ~31 reads, never unbounded.
        assert!(requested.len() < 40, "{} reads", requested.len());
        assert!(
            requested.iter().all(|&n| n == READ_BUFFER_CAPACITY),
            "{requested:?}"
        );
    }

    #[test]
    fn first_record_arrives_before_slow_pipe_finishes() {
        let mut child = Command::new("sh")
            .arg("-c")
            .arg("printf 'a\\n'; sleep 5; printf 'b\\n'")
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn sh");
        let stdout = child.stdout.take().expect("piped stdout");
        let inputs = Inputs::from_readers(vec![Box::new(stdout)]);
        let mut records = inputs.records(Separator::Newline);
        let start = Instant::now();
        let first = records.next();
        let elapsed = start.elapsed();
        let _ = child.kill();
        let _ = child.wait();
        let first = first.expect("a record").expect("no error");
        assert_eq!(first.bytes, b"a");
        assert!(
            elapsed < Duration::from_secs(4),
            "first record took {elapsed:?}"
        );
    }

    /// Yields its data, then fails.
    struct FailsAfter {
        data: Cursor<Vec<u8>>,
    }

    impl Read for FailsAfter {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = self.data.read(buf)?;
            if n == 0 {
                Err(io::Error::other("disk on fire"))
            } else {
                Ok(n)
            }
        }
    }

    #[test]
    fn read_error_names_source_and_line_then_moves_on() {
        let inputs = Inputs::from_readers(vec![
            Box::new(FailsAfter {
                data: Cursor::new(b"a\nb\npartial".to_vec()),
            }),
            reader(b"next\n"),
        ]);
        let mut records = inputs.records(Separator::Newline);
        assert_eq!(records.next().unwrap().unwrap().bytes, b"a");
        assert_eq!(records.next().unwrap().unwrap().bytes, b"b");
        let err = records.next().unwrap().unwrap_err();
        assert_eq!(
            error_chain(&err),
            "error reading input #1 (line 3): disk on fire"
        );
        assert!(std::error::Error::source(&err).is_some());
        let next = records.next().unwrap().unwrap();
        assert_eq!(
            (next.bytes.as_slice(), next.source_index),
            (&b"next"[..], 1)
        );
        assert!(records.next().is_none());
    }

    #[test]
    fn read_error_on_a_file_uses_quoted_path_and_stdin_its_name() {
        let err = InputError::Read {
            source_name: Source::File(PathBuf::from("jobs.txt")).display_name(),
            line: 7,
            error: io::Error::other("boom"),
        };
        assert_eq!(error_chain(&err), "error reading 'jobs.txt' (line 7): boom");
        let err = InputError::Read {
            source_name: Source::Stdin.display_name(),
            line: 1,
            error: io::Error::other("boom"),
        };
        assert_eq!(
            error_chain(&err),
            "error reading standard input (line 1): boom"
        );
    }

    #[test]
    fn records_is_send() {
        fn assert_send<T: Send>() {}
        assert_send::<Records>();
        assert_send::<Inputs>();
        assert_send::<InputError>();
    }

    #[test]
    fn operand_dash_is_stdin() {
        assert_eq!(Source::from_operand(Path::new("-")), Source::Stdin);
        assert_eq!(
            Source::from_operand(Path::new("./-")),
            Source::File(PathBuf::from("./-"))
        );
    }

    #[test]
    fn no_operands_means_stdin() {
        let inputs = open_sources(&[]).expect("stdin");
        assert_eq!(inputs.source_names().collect::<Vec<_>>(), vec![STDIN_NAME]);
    }

    #[test]
    fn files_are_opened_and_read_in_order() {
        let dir = TempDir::new("order");
        let a = dir.file("a.txt", b"one\ntwo\n");
        let b = dir.file("b.txt", b"three");
        let inputs = open_sources(&[a.clone(), b]).expect("open");
        assert_eq!(inputs.len(), 2);
        assert_eq!(
            inputs.source_names().next(),
            Some(format!("'{}'", a.display()).as_str())
        );
        let records = inputs.records(Separator::Newline);
        assert_eq!(
            records.source_name(1).map(|s| s.ends_with("b.txt'")),
            Some(true)
        );
        let all: Vec<Vec<u8>> = records.map(|r| r.expect("ok").bytes).collect();
        assert_eq!(
            all,
            vec![b"one".to_vec(), b"two".to_vec(), b"three".to_vec()]
        );
    }

    #[test]
    fn stdin_mixed_with_files_is_allowed_once() {
        let dir = TempDir::new("stdin-once");
        let a = dir.file("a.txt", b"x\n");
        let inputs = open_sources(&[a, PathBuf::from("-")]).expect("open");
        assert_eq!(inputs.source_names().nth(1), Some(STDIN_NAME));
    }

    #[test]
    fn stdin_twice_is_an_error() {
        let err = open_sources(&[PathBuf::from("-"), PathBuf::from("-")]).unwrap_err();
        assert!(matches!(err, InputError::StdinRepeated));
        assert_eq!(
            error_chain(&err),
            "standard input ('-') is given more than once as an input; give it at most once"
        );
    }

    #[test]
    fn missing_file_is_reported_before_reading_anything() {
        let dir = TempDir::new("missing");
        let good = dir.file("good.txt", b"x\n");
        let missing = dir.0.join("jobs.txt");
        let err = open_sources(&[good, missing.clone()]).unwrap_err();
        assert_eq!(
            error_chain(&err),
            format!("input file '{}' does not exist", missing.display())
        );
    }

    #[test]
    fn directory_operand_is_rejected() {
        let dir = TempDir::new("dir");
        let err = open_sources(std::slice::from_ref(&dir.0)).unwrap_err();
        assert!(matches!(err, InputError::IsDirectory { .. }));
        assert_eq!(
            error_chain(&err),
            format!(
                "input '{}' is a directory, not a file of commands",
                dir.0.display()
            )
        );
    }

    #[test]
    fn open_errors_are_classified() {
        let path = Path::new("x");
        let err = InputError::from_open(path, io::Error::from(io::ErrorKind::PermissionDenied));
        assert_eq!(
            error_chain(&err),
            "cannot open input file 'x': permission denied"
        );
        let err = InputError::from_open(path, io::Error::from(io::ErrorKind::NotFound));
        assert_eq!(error_chain(&err), "input file 'x' does not exist");
        let err = InputError::from_open(path, io::Error::from(io::ErrorKind::IsADirectory));
        assert_eq!(
            error_chain(&err),
            "input 'x' is a directory, not a file of commands"
        );
        let err = InputError::from_open(path, io::Error::other("weird"));
        assert_eq!(error_chain(&err), "cannot open input file 'x': weird");
        assert!(std::error::Error::source(&err).is_some());
    }

    #[test]
    fn unreadable_file_reports_permission_denied() {
        use std::os::unix::fs::PermissionsExt;
        let dir = TempDir::new("perm");
        let path = dir.file("secret.txt", b"x\n");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o000)).expect("chmod");
        if File::open(&path).is_ok() {
            // Running as root (or with CAP_DAC_OVERRIDE): permissions are not
            // enforced, so this cannot be observed; the classification itself
            // is covered by `open_errors_are_classified`.
            return;
        }
        let err = open_sources(std::slice::from_ref(&path)).unwrap_err();
        assert_eq!(
            error_chain(&err),
            format!(
                "cannot open input file '{}': permission denied",
                path.display()
            )
        );
    }

    #[test]
    fn records_over_the_cap_fail_alone_and_reading_goes_on() {
        let mut input = vec![b'a'; MAX_RECORD];
        input.push(b'\n');
        input.extend(vec![b'b'; MAX_RECORD + 1]);
        input.extend(b"\nc\n");
        let mut records = Inputs::from_readers(vec![reader(&input)]).records(Separator::Newline);
        assert_eq!(records.next().unwrap().unwrap().bytes.len(), MAX_RECORD);
        let err = records.next().unwrap().unwrap_err();
        assert!(
            matches!(err, InputError::RecordTooLong { line: 2, .. }),
            "{err:?}"
        );
        let last = records.next().unwrap().unwrap();
        assert_eq!((last.bytes, last.line), (b"c".to_vec(), 3));
        assert!(records.next().is_none());
    }

    #[test]
    fn a_fifo_operand_is_checked_not_opened() {
        let dir = TempDir::new("fifo");
        let fifo = dir.0.join("fifo");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
        // Opening it would block: nobody writes to it.
        let inputs = open_sources(&[fifo]).expect("a FIFO is a readable file");
        assert_eq!(inputs.len(), 1);
    }

    #[test]
    fn paths_in_messages_are_escaped_onto_one_line() {
        use std::ffi::OsStr;
        use std::os::unix::ffi::OsStrExt;
        let err = InputError::NotFound {
            path: PathBuf::from(OsStr::from_bytes(b"a\nb\xff\t.txt")),
        };
        assert_eq!(
            error_chain(&err),
            "input file 'a\\nb\u{fffd}\\t.txt' does not exist"
        );
        assert_eq!(error_chain(&err).lines().count(), 1);
    }
}
