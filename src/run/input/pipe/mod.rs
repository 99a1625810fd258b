//! `--pipe`: the input is not a list of arguments but a stream cut into blocks,
//! each block one job's standard input (GNU parallel's `--pipe`).
//!
//! ```text
//! stdin / -a FILE ─► reader thread: Blocks (splitter.rs cuts, blocks.rs reads)
//!   ─► bounded channel (CHANNEL blocks) ─► feeder: one job per block, its stdin
//! ```
//!
//! | file | owns |
//! |---|---|
//! | `splitter.rs` | where a block ends (`--block`, `-N`, `--recend`, `--recstart`): pure, property-tested |
//! | `blocks.rs` | reading into blocks, the `--header` lines in front of each |
//! | `argv.rs` | GNU's word order: the first word that is not an option starts the command |
//! | `settings.rs` | the flags, validated |
//!
//! Invariants:
//! - Memory is bounded: the reader holds one block being filled, the channel at
//!   most [`CHANNEL`] more, the feeder's window at most [`QUEUE`] blocks waiting
//!   for a worker; the rest are the blocks of running jobs. So about `--block`
//!   times (running jobs, plus [`QUEUE`], plus [`CHANNEL`], plus 1), never the
//!   whole input: a slow job holds the reader back (back-pressure), it does not
//!   make the input pile up.
//! - Block `n` (1-based, in input order) is job `n`: `{#}`, the joblog's Seq and
//!   `--resume` count blocks.
//! - Every job of a block gets the same bytes on every attempt (`--retries`).

mod argv;
mod blocks;
pub(crate) mod settings;
mod splitter;

use std::fs::File;
use std::io::{self, IsTerminal, Read};
use std::os::fd::AsFd;
use std::path::PathBuf;

pub use argv::command_words_after_pipe;

use crate::run::input::pipeline::RecordStream;
use crate::run::input::sources::{InputError, Record};
use blocks::Blocks;
use splitter::Splitter;

/// Blocks read ahead of the feeder (cut, waiting in the channel).
pub(crate) const CHANNEL: usize = 1;

/// Blocks handed to the pool that may wait for a worker (so the adaptive pool sees
/// a backlog and grows, while no more than this waits in memory).
pub(crate) const QUEUE: usize = 2;

/// What `--pipe` and its flags say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PipeSettings {
    /// `--block`: about this many bytes per block.
    pub block: usize,
    /// `--recend` (escapes decoded): what a record ends with.
    pub recend: Vec<u8>,
    /// `--recstart` (escapes decoded): what a record starts with.
    pub recstart: Vec<u8>,
    /// `-N`: this many records per block instead of a size.
    pub records: Option<usize>,
    /// `--header`: the first this many lines start every block.
    pub header_lines: usize,
    /// `-a FILE` or `:::: FILE`: read it instead of standard input.
    pub input: Option<PathBuf>,
}

/// GNU parallel's default block: 1 MiB.
pub const DEFAULT_BLOCK: u64 = 1 << 20;

/// Decodes GNU parallel's escapes in `--recend`/`--recstart`: `\n`, `\t`, `\r`,
/// `\0`, `\\`, `\'`, `\"`; any other backslash stays as it is.
pub fn decode_escapes(text: &str) -> Vec<u8> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let decoded = match (bytes[i], bytes.get(i + 1)) {
            (b'\\', Some(b'n')) => Some(b'\n'),
            (b'\\', Some(b't')) => Some(b'\t'),
            (b'\\', Some(b'r')) => Some(b'\r'),
            (b'\\', Some(b'0')) => Some(0),
            (b'\\', Some(&c @ (b'\\' | b'\'' | b'"'))) => Some(c),
            _ => None,
        };
        match decoded {
            Some(b) => {
                out.push(b);
                i += 2;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    out
}

/// Opens the stream of `settings` and starts reading it into blocks on a thread of
/// its own; the records of the returned stream are the blocks.
///
/// # Errors
/// The input file cannot be opened, or the reader thread cannot start.
pub fn open(settings: &PipeSettings) -> Result<RecordStream, InputError> {
    let (input, name): (Box<dyn Read + Send>, String) = match &settings.input {
        Some(path) if path.as_os_str() != "-" => (
            Box::new(crate::run::input::sources::open_file(path)?),
            crate::run::input::sources::Source::File(path.clone()).display_name(),
        ),
        // Our own descriptor for fd 0: large reads go straight to it, past
        // std's line buffer.
        _ => {
            if io::stdin().is_terminal() {
                eprintln!(
                    "atp-run: reading the --pipe input from the terminal (standard input); \
                     end with Ctrl-D, or pipe it in"
                );
            }
            let fd = io::stdin().as_fd().try_clone_to_owned();
            let fd = fd.map_err(|error| InputError::PipeRead {
                source_name: "standard input".into(),
                block: 0,
                error,
            })?;
            (Box::new(File::from(fd)), "standard input".to_owned())
        }
    };
    let splitter = Splitter::new(
        &settings.recend,
        &settings.recstart,
        settings.block,
        settings.records,
    );
    let mut blocks = Blocks::new(input, splitter, settings.header_lines);
    let (tx, rx) = crossbeam_channel::bounded(CHANNEL);
    let spawned = std::thread::Builder::new()
        .name("atp-run-pipe".into())
        .spawn(move || {
            let mut number = 0u64;
            loop {
                number += 1;
                let next = match blocks.next_block() {
                    Ok(Some(bytes)) => Ok(Record {
                        bytes,
                        source_index: 0,
                        line: number,
                    }),
                    Ok(None) => return,
                    Err(error) => Err(InputError::PipeRead {
                        source_name: name.clone(),
                        block: number,
                        error,
                    }),
                };
                let failed = next.is_err();
                // The feeder stopped (the run is ending): stop reading.
                if tx.send(next).is_err() || failed {
                    return;
                }
            }
        });
    spawned.map_err(|error| InputError::PipeRead {
        source_name: "the --pipe reader thread".into(),
        block: 0,
        error,
    })?;
    Ok(Box::new(rx.into_iter()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_are_gnu_parallels() {
        assert_eq!(decode_escapes(r"\n"), b"\n");
        assert_eq!(decode_escapes(r"a\tb\0\r\\"), b"a\tb\0\r\\");
        assert_eq!(decode_escapes(r#"\'\""#), b"'\"");
        assert_eq!(decode_escapes(r"\x\"), b"\\x\\");
        assert_eq!(decode_escapes("</rec>"), b"</rec>");
    }
}
