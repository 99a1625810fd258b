//! Output shaping: `--keep-order`, `--tag`, `--line-buffer`, `--ungroup`, `--json`.
//!
//! Owns: the output settings of a run ([`OutputOptions`]), what a finished job
//! leaves to print once shaped ([`Rendered`]), the `--keep-order` state (the
//! [`Reorder`] buffer of held capture files and the spare captures handed to
//! workers in exchange), and the way a block is printed in each mode.
//!
//! Invariants:
//! - The default (no flag of this module) never comes here: the reporter keeps its
//!   own direct path, so a job costs no extra allocation or system call.
//! - Everything here that prints runs under the reporter's output lock with the
//!   progress bar suspended, so a block, a JSON line or a run of whole lines is
//!   never interleaved with anything else atp-run prints.
//! - `--keep-order`: a job whose turn has come is printed from its worker's
//!   capture at once; a job that finished ahead of its turn hands its capture
//!   files over to the reorder buffer and its worker takes a spare (a recycled
//!   capture, or new files). So held output stays on disk, memory grows only with
//!   the number of held jobs, and the feeder stops starting jobs while
//!   [`KEEP_ORDER_AHEAD`] are held ([`Shaper::has_room`]). At the end of a run
//!   whatever is held is flushed in order, past the gaps of cancelled jobs.
//!   The status line travels with its block (status lines follow output order).
//! - A job takes its `--keep-order` turn exactly once: with `--retries` only its
//!   final attempt reaches [`Shaper::emit`] (a retried attempt prints just its
//!   status line, see `Reporter::attempt_finished`), and a job never reported —
//!   skipped by `--resume`, not started after a `--halt`, cancelled — is passed
//!   over with [`Shaper::skip`], so later jobs are not held until the end.
//! - `--json`: one object per job, written to stdout as one line, with the job's
//!   output encoded while being copied from the capture files (see `json.rs`);
//!   nothing else goes to stdout.

use std::io::{self, BufWriter, Read, Write};
use std::path::PathBuf;
use std::time::UNIX_EPOCH;

use crate::run::exec::capture::Capture;
use crate::run::exec::local::{
    self as exec, ExitStatusKind, JobExit, RunError, Streams, signal_name,
};
use crate::run::exec::pump::{self as lines, Stream, Tagger};
use crate::run::exec::registry::ProcessRegistry;
use crate::run::exec::timeout::Timeouts;
use crate::run::report::json;
use crate::run::report::reorder::Reorder;
use crate::run::report::reporter::{JobLabel, Reporter};

/// Most jobs held by `--keep-order` (finished, waiting for an earlier job) before
/// the feeder stops starting new ones. Each holds two open files.
pub const KEEP_ORDER_AHEAD: usize = 256;

/// Most spare captures kept for reuse.
const MAX_SPARES: usize = 64;

/// How a job's output reaches ours.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// Captured in files, printed as blocks when the job ends (the default).
    #[default]
    Grouped,
    /// Through pipes, printed line by line as it comes (`--line-buffer`).
    LineBuffered,
    /// Not captured: the job writes to our stdout and stderr (`--ungroup`).
    Ungrouped,
}

/// The output settings of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct OutputOptions {
    /// How output flows.
    pub mode: Mode,
    /// `--keep-order` (grouped mode only).
    pub keep_order: bool,
    /// `--tag`.
    pub tag: bool,
    /// `--json` (grouped mode only).
    pub json: bool,
}

impl OutputOptions {
    /// Whether these are the defaults: the reporter's direct path applies.
    pub fn is_plain(&self) -> bool {
        *self == OutputOptions::default()
    }

    /// Whether jobs' output is captured in files (else [`run_uncaptured`] runs jobs).
    pub fn captures(&self) -> bool {
        self.mode == Mode::Grouped
    }
}

/// What a finished job prints besides its captured output, prepared before the
/// output lock is taken.
#[derive(Debug, Default)]
pub struct Rendered {
    /// `--tag`: the prefix of each output line (argument or command, then a tab).
    tag: Option<Vec<u8>>,
    /// The status line, if it is shown.
    status: Option<String>,
    /// `--json`: the object's fields before the output.
    json: Option<Vec<u8>>,
}

/// A job held by `--keep-order`.
#[derive(Debug)]
struct Held {
    rendered: Rendered,
    capture: Option<Capture>,
}

/// What the reporter needs to know about stdout while printing.
pub trait StdoutHealth {
    /// Whether stdout's reader went away (then nothing more is written to it).
    fn is_broken(&self) -> bool;
    /// Writing to stdout failed.
    fn failed(&self, err: &io::Error);
}

/// Mutable output state, kept under the reporter's output lock.
#[derive(Debug, Default)]
pub struct OutputState {
    reorder: Option<Reorder<Held>>,
    spares: Vec<Capture>,
    /// The run ended: nothing will be held any more.
    closed: bool,
}

/// The shaping half of the reporter: settings plus behaviour.
#[derive(Debug, Default)]
pub struct Shaper {
    options: OutputOptions,
    tmpdir: PathBuf,
}

impl Shaper {
    /// Shaping as `options` say; `--keep-order`'s spare captures are created in
    /// `tmpdir`. Returns the initial output state to keep under the lock.
    pub fn new(options: OutputOptions, tmpdir: PathBuf) -> (Shaper, OutputState) {
        let state = OutputState {
            reorder: options.keep_order.then(|| Reorder::new(1)),
            ..OutputState::default()
        };
        (Shaper { options, tmpdir }, state)
    }

    /// The settings.
    pub fn options(&self) -> &OutputOptions {
        &self.options
    }

    /// Prepares what job `job` prints besides its output; `status` is its status
    /// line if shown.
    pub fn render(
        &self,
        job: &JobLabel<'_>,
        result: &Result<JobExit, RunError>,
        status: Option<String>,
    ) -> Rendered {
        if self.options.json {
            let mut head = Vec::with_capacity(256 + job.command.len());
            // Writing to a Vec cannot fail.
            let _ = json::job_head(&mut head, &json_fields(job, result, &mut String::new()));
            return Rendered {
                json: Some(head),
                ..Rendered::default()
            };
        }
        Rendered {
            tag: self.options.tag.then(|| tag_of(job)),
            status,
            json: None,
        }
    }

    /// Prints job `number`'s output (from `capture`) and status now, or — with
    /// `--keep-order`, if earlier jobs have not all been printed — hands the
    /// capture files over to be printed in turn, replacing them with a spare.
    /// Returns whether held jobs were released (the feeder may have room again).
    pub fn emit(
        &self,
        state: &mut OutputState,
        number: u64,
        rendered: Rendered,
        capture: Option<&mut Capture>,
        stdout: &dyn StdoutHealth,
    ) -> bool {
        let OutputState {
            reorder, spares, ..
        } = state;
        let Some(reorder) = reorder else {
            print_block(&rendered, capture, stdout);
            return false;
        };
        if reorder.is_next(number) {
            print_block(&rendered, capture, stdout);
            let mut released = false;
            reorder.complete(number, None, |held| {
                released = true;
                print_held(held, spares, stdout);
            });
            return released;
        }
        let held_capture = match capture {
            None => None,
            Some(capture) => match self.spare(spares) {
                Ok(spare) => Some(std::mem::replace(capture, spare)),
                Err(err) => {
                    log::warn!("--keep-order: printing job {number} out of turn: {err}");
                    print_block(&rendered, Some(capture), stdout);
                    reorder.complete(number, None, |_| {});
                    return false;
                }
            },
        };
        let held = Held {
            rendered,
            capture: held_capture,
        };
        reorder.complete(number, Some(held), |_| {
            unreachable!("job {number} is not next")
        });
        false
    }

    /// Job `number` will never be reported (cancelled before it ran, or skipped):
    /// with `--keep-order`, later jobs must not wait for it.
    pub fn skip(&self, state: &mut OutputState, number: u64, stdout: &dyn StdoutHealth) -> bool {
        let OutputState {
            reorder, spares, ..
        } = state;
        let Some(reorder) = reorder else {
            return false;
        };
        let mut released = false;
        reorder.complete(number, None, |held| {
            released = true;
            print_held(held, spares, stdout);
        });
        released
    }

    /// The run ended: prints everything held, in order (jobs cancelled by an
    /// interruption leave gaps that are skipped), and holds nothing any more.
    pub fn flush(&self, state: &mut OutputState, stdout: &dyn StdoutHealth) {
        state.closed = true;
        let OutputState {
            reorder, spares, ..
        } = state;
        if let Some(reorder) = reorder {
            reorder.drain(|held| print_held(held, spares, stdout));
        }
    }

    /// Whether the feeder may start another job: with `--keep-order`, fewer than
    /// [`KEEP_ORDER_AHEAD`] jobs are held (or the run ended).
    pub fn has_room(&self, state: &OutputState) -> bool {
        state.closed
            || state
                .reorder
                .as_ref()
                .is_none_or(|r| r.len() < KEEP_ORDER_AHEAD)
    }

    /// A clean capture for a worker that handed its own over.
    fn spare(&self, spares: &mut Vec<Capture>) -> io::Result<Capture> {
        match spares.pop() {
            Some(capture) => Ok(capture),
            None => Capture::new(&self.tmpdir),
        }
    }
}

/// `--tag`'s prefix: the input record (the argument, with a template; the command
/// otherwise) and a tab.
fn tag_of(job: &JobLabel<'_>) -> Vec<u8> {
    let mut tag = Vec::with_capacity(job.record.len() + 1);
    tag.extend_from_slice(job.record);
    tag.push(b'\t');
    tag
}

/// The JSON fields of a job; `error` is storage for the error message.
fn json_fields<'a>(
    job: &JobLabel<'a>,
    result: &Result<JobExit, RunError>,
    error: &'a mut String,
) -> json::JobFields<'a> {
    let mut fields = json::JobFields {
        seq: job.number,
        run: job.run,
        command: job.command,
        start: None,
        duration: None,
        exit_code: None,
        signal: None,
        timed_out: false,
        attempt: job.attempt,
        slot: job.slot,
        error: None,
    };
    match result {
        Ok(exit) => {
            fields.start = exit
                .started
                .duration_since(UNIX_EPOCH)
                .ok()
                .map(|d| d.as_secs_f64());
            fields.duration = Some(exit.duration.as_secs_f64());
            fields.timed_out = exit.timed_out;
            match exit.status {
                ExitStatusKind::Exited(code) => fields.exit_code = Some(code),
                ExitStatusKind::Signaled { signal } => fields.signal = Some(signal_name(signal)),
            }
        }
        Err(err) => {
            *error = err.to_string();
            fields.error = Some(error.as_str());
        }
    }
    fields
}

/// Prints a held job, then recycles its capture.
fn print_held(held: Held, spares: &mut Vec<Capture>, stdout: &dyn StdoutHealth) {
    let Held {
        rendered,
        mut capture,
    } = held;
    print_block(&rendered, capture.as_mut(), stdout);
    if let Some(mut capture) = capture
        && spares.len() < MAX_SPARES
        && capture.reset().is_ok()
    {
        spares.push(capture);
    }
}

/// Prints one job: its JSON line, or its (tagged) output blocks and status line.
fn print_block(rendered: &Rendered, capture: Option<&mut Capture>, stdout: &dyn StdoutHealth) {
    if let Some(head) = &rendered.json {
        if stdout.is_broken() {
            return;
        }
        let mut out = BufWriter::with_capacity(64 * 1024, io::stdout().lock());
        let written = out
            .write_all(head)
            .and_then(|()| match capture {
                Some(capture) => json::job_output(
                    &mut out,
                    &mut capture.stdout_block()?,
                    &mut capture.stderr_block()?,
                ),
                None => json::job_output(&mut out, &mut io::empty(), &mut io::empty()),
            })
            .and_then(|()| out.flush());
        if let Err(err) = written {
            stdout.failed(&err);
        }
        return;
    }
    if let Some(capture) = capture {
        if capture.stdout_len() > 0 && !stdout.is_broken() {
            let mut out = io::stdout().lock();
            let copied = match &rendered.tag {
                Some(tag) => copy_tagged(tag, capture.stdout_block(), &mut out),
                None => capture.write_stdout_to(&mut out).map(drop),
            };
            if let Err(err) = copied.and_then(|()| out.flush()) {
                stdout.failed(&err);
            }
        }
        if capture.stderr_len() > 0 {
            let mut err = io::stderr().lock();
            let copied = match &rendered.tag {
                Some(tag) => copy_tagged(tag, capture.stderr_block(), &mut err),
                None => capture.write_stderr_to(&mut err).map(drop),
            };
            if let Err(e) = copied.and_then(|()| err.flush()) {
                log::warn!("cannot write a job's error output: {e}");
            }
        }
    }
    if let Some(status) = &rendered.status {
        let mut err = io::stderr().lock();
        let _ = err.write_all(status.as_bytes());
        let _ = err.flush();
    }
}

/// Copies a block with `tag` before every line, buffered.
fn copy_tagged<R: Read, W: Write>(tag: &[u8], block: io::Result<R>, w: &mut W) -> io::Result<()> {
    let mut block = block?;
    let mut out = BufWriter::with_capacity(64 * 1024, w);
    Tagger::new(tag.to_vec()).copy(&mut block, &mut out)?;
    out.flush()
}

/// Runs a job whose output is not captured (`--line-buffer`, `--ungroup`): with
/// line buffering, whole lines are printed through `reporter` as they come
/// (tagged with `--tag`), and each stream's partial last line when it ends.
/// The job's `--timeout` is armed on `timeouts`.
pub fn run_uncaptured(
    command: &[u8],
    job: &JobLabel<'_>,
    registry: &ProcessRegistry,
    timeouts: Option<&Timeouts>,
    reporter: &Reporter,
) -> Result<JobExit, RunError> {
    let options = reporter.shaper().options();
    if options.mode == Mode::Ungrouped {
        return exec::run_job_streamed(command, Streams::Inherited, registry, timeouts, |_| Ok(()));
    }
    let mut taggers = options.tag.then(|| {
        let tag = tag_of(job);
        (Tagger::new(tag.clone()), Tagger::new(tag))
    });
    exec::run_job_streamed(command, Streams::Piped, registry, timeouts, |child| {
        lines::pump(child, &mut |stream, bytes| {
            let tagger = taggers.as_mut().map(|(out, err)| match stream {
                Stream::Stdout => out,
                Stream::Stderr => err,
            });
            reporter.write_lines(stream, bytes, tagger);
        })
    })
}
