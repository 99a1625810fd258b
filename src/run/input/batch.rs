//! Several argument rows per job: `-n`/`-N`/`-L` (a count), `-X`/`-m`
//! (as many as fit), `-s` (a length) — and the kernel's limits they pack to.
//!
//! Owns: grouping the stream of argument rows into jobs, each encoded as one
//! record ([`job_args::encode`]), and the command-line length limit.
//!
//! The limit ([`command_limit`]): a job runs as `/bin/sh -c COMMAND`, so
//! COMMAND is one argument string, which Linux caps at MAX_ARG_STRLEN (32
//! pages, 128 KiB, counting its NUL); and the whole argv plus the environment
//! must fit in ARG_MAX (sysconf). The command the shell then runs gets the same
//! words, so packing COMMAND below both keeps every exec clear of E2BIG. A
//! margin is kept for what the shell adds.
//!
//! Invariants: rows keep their order; a job has at least one row; a row too
//! long for the limit on its own is a job of its own (it is not split); the
//! last job may be short, except that packed jobs share the rows left at the
//! end of the input over the job slots ([`Batches::spread_tail`]). Memory: one
//! job's rows at a time, or with `spread_tail(n)` n jobs' worth, packed.

use std::collections::VecDeque;

use crate::run::input::combine::{Row, Rows};
use crate::run::input::job_args;
use crate::run::input::sources::{InputError, Record};
use crate::run::input::template::Template;

/// Linux's MAX_ARG_STRLEN: the longest single argument string, with its NUL.
pub const MAX_ARG_STRLEN: usize = 32 * 4096;

/// Bytes kept free below the limits for what the shell and libc add.
const MARGIN: usize = 4096;

/// How many rows go into one job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BatchLimits {
    /// At most this many rows (`-n`, `-N`, `-L`); one without any batching flag.
    pub max_rows: Option<usize>,
    /// Fill jobs up to this command length (`-X`, `-m`, `-s`).
    pub max_len: Option<usize>,
}

/// Bytes of packed jobs (`-X`, `-m`, `-s`) the feeder may keep queued or
/// running: such a job holds up to ~128 KiB of arguments, so the in-flight
/// window, counted in jobs, is capped to keep memory flat.
const IN_FLIGHT_BYTES: usize = 1024 * 1024;

/// The feeder's window of `size` jobs, capped for packed jobs to
/// [`IN_FLIGHT_BYTES`] (and at least 4 jobs, so the pool still sees a backlog).
pub fn cap_window(size: usize, limits: BatchLimits) -> usize {
    match limits.max_len {
        Some(len) => size.min((IN_FLIGHT_BYTES / len.max(1)).max(4)),
        None => size,
    }
}

/// The longest command a job may have: the smaller of MAX_ARG_STRLEN and
/// ARG_MAX less the environment, less a margin.
pub fn command_limit() -> usize {
    let arg_max = nix::unistd::sysconf(nix::unistd::SysconfVar::ARG_MAX)
        .ok()
        .flatten()
        .and_then(|n| usize::try_from(n).ok())
        .unwrap_or(MAX_ARG_STRLEN);
    // Each variable costs its bytes, a NUL and a pointer.
    let environment: usize = std::env::vars_os()
        .map(|(k, v)| k.len() + v.len() + 2 + size_of::<usize>())
        .sum();
    let argv_overhead = "/bin/sh".len() + "-c".len() + 2 + 4 * size_of::<usize>();
    (MAX_ARG_STRLEN - 1)
        .min(arg_max.saturating_sub(environment + argv_overhead))
        .saturating_sub(MARGIN)
        .max(1)
}

/// Rows read ahead, packed: each row's values encoded back to back in one
/// buffer (as [`job_args`] encodes them), so that holding tens of thousands of
/// short arguments costs their bytes, not allocations per value.
#[derive(Debug, Default)]
struct Ahead {
    bytes: Vec<u8>,
    /// Where the first row still held starts in `bytes`.
    start: usize,
    /// Per row: its encoded length, its width and its cost.
    rows: VecDeque<(usize, usize, usize)>,
    /// The rows' total cost.
    cost: usize,
}

impl Ahead {
    fn push(&mut self, row: &Row, cost: usize) {
        let before = self.bytes.len();
        for value in row {
            job_args::push_value(&mut self.bytes, value);
        }
        self.rows
            .push_back((self.bytes.len() - before, row.len(), cost));
        self.cost += cost;
    }

    /// Takes the first `n` rows: one encoded job if they have the same width,
    /// else the rows themselves (to be padded).
    fn take_encoded(&mut self, n: usize) -> Result<Vec<u8>, Vec<Row>> {
        let taken: Vec<(usize, usize, usize)> = self.rows.drain(..n).collect();
        let len: usize = taken.iter().map(|r| r.0).sum();
        self.cost -= taken.iter().map(|r| r.2).sum::<usize>();
        let end = self.start + len;
        let width = taken[0].1;
        let result = if taken.iter().all(|r| r.1 == width) {
            Ok(job_args::encode_packed(width, &self.bytes[self.start..end]))
        } else {
            let mut at = self.start;
            Err(taken
                .iter()
                .map(|&(len, width, _)| {
                    let row = job_args::encode_packed(width, &self.bytes[at..at + len]);
                    at += len;
                    rows_of(&row).remove(0)
                })
                .collect())
        };
        self.start = end;
        if self.start * 2 > self.bytes.len() {
            self.bytes.drain(..self.start);
            self.start = 0;
        }
        result
    }
}

/// The rows of an encoded job.
fn rows_of(encoded: &[u8]) -> Vec<Row> {
    let args = job_args::JobArgs::decode(encoded);
    (0..args.rows())
        .map(|r| args.row(r).iter().map(|v| v.to_vec()).collect())
        .collect()
}

/// Groups rows into jobs.
pub struct Batches {
    rows: Rows,
    limits: BatchLimits,
    template: Option<Template>,
    /// Columns every row must have (`{N}` with `--colsep`).
    needed_columns: usize,
    /// A row read but not yet placed.
    pending: Option<Row>,
    /// A record too long to keep, met while a job was being packed: it is the
    /// next item, after that job.
    pending_err: Option<InputError>,
    rows_read: u64,
    done: bool,
    /// Packed jobs: the rows read ahead (with their cost), so that when the
    /// input ends the last rows can be shared out over `spread` jobs.
    ahead: Ahead,
    /// Job slots to share the last rows over (1: no read-ahead).
    spread: usize,
    /// Once the input has ended: the cost each of the last jobs aims at.
    tail_target: Option<usize>,
}

impl std::fmt::Debug for Batches {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Batches")
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

impl Batches {
    /// Jobs of `rows` for `template` (None: the rows are commands, a job's
    /// values are joined by spaces).
    pub fn new(
        rows: Rows,
        limits: BatchLimits,
        template: Option<Template>,
        needed_columns: usize,
    ) -> Batches {
        Batches {
            rows,
            limits,
            template,
            needed_columns,
            pending: None,
            pending_err: None,
            rows_read: 0,
            done: false,
            ahead: Ahead::default(),
            spread: 1,
            tail_target: None,
        }
    }

    /// With packing (`-X`, `-m`, `-s`), share the last rows of the input out
    /// over `slots` jobs instead of leaving one full job and one short one, as
    /// GNU parallel does, so that every job slot has work at the end. Costs a
    /// read-ahead of `slots` full jobs.
    pub fn spread_tail(mut self, slots: usize) -> Batches {
        self.spread = slots.max(1);
        self
    }

    /// The next packed job, reading `spread` jobs ahead (see [`Self::spread_tail`]).
    fn next_spread(
        &mut self,
        max_len: usize,
        max_rows: usize,
    ) -> Option<Result<Record, InputError>> {
        let base = self.template.as_ref().map_or(0, Template::base_len);
        let room = max_len.saturating_sub(base).max(1);
        while self.tail_target.is_none() && self.ahead.cost < self.spread.saturating_mul(room) {
            match self.next_row() {
                Some(Ok(row)) => {
                    let cost = self.cost(&row);
                    self.ahead.push(&row, cost);
                }
                Some(Err(err)) => {
                    self.done = !err.is_one_record();
                    return Some(Err(err));
                }
                None => {
                    // The input ended: what is left goes into at least `spread`
                    // jobs of about equal cost (each still within the limit).
                    let jobs = self.spread.max(self.ahead.cost.div_ceil(room));
                    self.tail_target = Some(self.ahead.cost.div_ceil(jobs).max(1));
                }
            }
        }
        let target = self.tail_target.unwrap_or(room);
        let (mut n, mut cost) = (0, 0);
        while let Some(&(_, _, next)) = self.ahead.rows.get(n) {
            if n > 0 && (cost + next > room || cost >= target || n >= max_rows) {
                break;
            }
            cost += next;
            n += 1;
        }
        if n == 0 {
            self.done = true;
            return None;
        }
        let bytes = match (&self.template, self.ahead.take_encoded(n)) {
            (Some(_), Ok(encoded)) => encoded,
            (_, Ok(encoded)) => self.record(rows_of(&encoded)),
            (_, Err(rows)) => self.record(rows),
        };
        Some(Ok(Record {
            bytes,
            source_index: 0,
            line: self.rows_read,
        }))
    }

    fn next_row(&mut self) -> Option<Result<Row, InputError>> {
        if let Some(row) = self.pending.take() {
            return Some(Ok(row));
        }
        let row = self.rows.next()?;
        self.rows_read += 1;
        Some(row.and_then(|row| {
            if row.len() < self.needed_columns {
                return Err(InputError::TooFewColumns {
                    row: self.rows_read,
                    found: row.len(),
                    needed: self.needed_columns,
                });
            }
            Ok(row)
        }))
    }

    /// What a row adds to the command's length.
    fn cost(&self, row: &Row) -> usize {
        match &self.template {
            Some(t) => {
                let values: Vec<&[u8]> = row.iter().map(Vec::as_slice).collect();
                t.cost_of(&values)
            }
            None => row.iter().map(|v| v.len() + 1).sum(),
        }
    }

    fn record(&self, mut job: Vec<Row>) -> Vec<u8> {
        match &self.template {
            Some(_) => {
                let width = job.iter().map(Vec::len).max().unwrap_or(0);
                for row in &mut job {
                    row.resize(width, Vec::new());
                }
                job_args::encode(&job)
            }
            None => {
                let mut command = Vec::new();
                for value in job.iter().flatten() {
                    if !command.is_empty() {
                        command.push(b' ');
                    }
                    command.extend_from_slice(value);
                }
                command
            }
        }
    }
}

impl Iterator for Batches {
    type Item = Result<Record, InputError>;

    fn next(&mut self) -> Option<Self::Item> {
        if let Some(err) = self.pending_err.take() {
            return Some(Err(err));
        }
        if self.done {
            return None;
        }
        let max_rows = match self.limits {
            BatchLimits {
                max_rows: None,
                max_len: None,
            } => 1,
            BatchLimits { max_rows, .. } => max_rows.unwrap_or(usize::MAX),
        };
        if let Some(max_len) = self.limits.max_len
            && self.spread > 1
        {
            return self.next_spread(max_len, max_rows);
        }
        let base = self.template.as_ref().map_or(0, Template::base_len);
        let mut job = Vec::new();
        let mut len = base;
        while job.len() < max_rows {
            let row = match self.next_row() {
                None => break,
                Some(Ok(row)) => row,
                // A record too long to keep fails alone, after the job packed so far.
                Some(Err(err)) if err.is_one_record() && !job.is_empty() => {
                    self.pending_err = Some(err);
                    break;
                }
                Some(Err(err)) => {
                    self.done = !err.is_one_record();
                    return Some(Err(err));
                }
            };
            let cost = self.cost(&row);
            if let Some(max_len) = self.limits.max_len
                && !job.is_empty()
                && len + cost > max_len
            {
                self.pending = Some(row);
                break;
            }
            len += cost;
            job.push(row);
        }
        if job.is_empty() {
            self.done = true;
            return None;
        }
        Some(Ok(Record {
            bytes: self.record(job),
            source_index: 0,
            line: self.rows_read,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run::input::job_args::JobArgs;
    use crate::run::input::template::{Shape, TemplateOptions};
    use std::ffi::OsString;

    fn rows(values: &[&str]) -> Rows {
        let rows: Vec<Row> = values.iter().map(|v| vec![v.as_bytes().to_vec()]).collect();
        Box::new(rows.into_iter().map(Ok))
    }

    fn template(words: &[&str], context: bool) -> Template {
        let words: Vec<OsString> = words.iter().map(OsString::from).collect();
        let options = TemplateOptions {
            context,
            ..TemplateOptions::default()
        };
        let mut t = Template::parse_with(&words, &options).unwrap();
        t.bind(
            Shape {
                width: Some(1),
                rows_per_job: None,
            },
            &[],
        )
        .unwrap();
        t
    }

    fn commands(batches: Batches, t: &Template) -> Vec<String> {
        batches
            .map(|r| String::from_utf8(t.render(&r.unwrap().bytes, 1, 1)).unwrap())
            .collect()
    }

    #[test]
    fn max_rows_groups_and_the_last_job_is_short() {
        let t = template(&["echo"], false);
        let limits = BatchLimits {
            max_rows: Some(2),
            max_len: None,
        };
        let b = Batches::new(rows(&["a", "b", "c", "d", "e"]), limits, Some(t.clone()), 0);
        assert_eq!(commands(b, &t), ["echo a b", "echo c d", "echo e"]);
    }

    #[test]
    fn without_limits_one_row_per_job() {
        let t = template(&["echo"], false);
        let b = Batches::new(
            rows(&["a", "b"]),
            BatchLimits::default(),
            Some(t.clone()),
            0,
        );
        assert_eq!(commands(b, &t), ["echo a", "echo b"]);
    }

    #[test]
    fn jobs_are_packed_to_the_length_and_never_exceed_it() {
        let t = template(&["touch", "x{}y"], true);
        let names: Vec<String> = (0..1000).map(|i| format!("file-{i:04}")).collect();
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        let limits = BatchLimits {
            max_rows: None,
            max_len: Some(200),
        };
        let b = Batches::new(rows(&names), limits, Some(t.clone()), 0);
        let jobs = commands(b, &t);
        assert!(
            jobs.iter().all(|c| c.len() <= 200),
            "{:?}",
            jobs.iter().map(String::len).max()
        );
        // Packed: each job would have overflowed with one more name.
        assert!(
            jobs[..jobs.len() - 1]
                .iter()
                .all(|c| c.len() + " xfile-0000y".len() > 200 - 40)
        );
        let all: Vec<&str> = jobs.iter().flat_map(|c| c.split(' ').skip(1)).collect();
        assert_eq!(all.len(), 1000);
        assert_eq!(all[999], "xfile-0999y");
    }

    #[test]
    fn the_last_rows_are_shared_out_over_the_slots() {
        let t = template(&["touch"], true);
        let names: Vec<String> = (0..100).map(|i| format!("f{i:03}")).collect();
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        // Room for 40 names a job: without spreading 40, 40, 20.
        let each = t.cost_of(&[b"f000"]);
        let limits = BatchLimits {
            max_rows: None,
            max_len: Some(t.base_len() + 40 * each),
        };
        let plain = Batches::new(rows(&names), limits, Some(t.clone()), 0);
        let sizes = |b: Batches| -> Vec<usize> {
            b.map(|r| JobArgs::decode(&r.unwrap().bytes).rows())
                .collect()
        };
        assert_eq!(sizes(plain), [40, 40, 20]);
        let spread = Batches::new(rows(&names), limits, Some(t.clone()), 0).spread_tail(2);
        assert_eq!(sizes(spread), [40, 30, 30]);
        // Little input: one job per slot, not one job.
        let spread = Batches::new(rows(&names[..10]), limits, Some(t.clone()), 0).spread_tail(2);
        assert_eq!(sizes(spread), [5, 5]);
        let spread = Batches::new(rows(&names[..1]), limits, Some(t.clone()), 0).spread_tail(4);
        assert_eq!(sizes(spread), [1]);
        // Every name once, in order, and no job over the limit.
        let spread = Batches::new(rows(&names), limits, Some(t.clone()), 0).spread_tail(3);
        let all: Vec<String> = spread
            .map(|r| String::from_utf8(t.render(&r.unwrap().bytes, 1, 1)).unwrap())
            .inspect(|c| assert!(c.len() <= limits.max_len.unwrap(), "{c}"))
            .flat_map(|c| c.split(' ').skip(1).map(str::to_owned).collect::<Vec<_>>())
            .collect();
        assert_eq!(all, names);
    }

    #[test]
    fn a_row_longer_than_the_limit_is_a_job_of_its_own() {
        let t = template(&["echo"], false);
        let long = "z".repeat(300);
        let limits = BatchLimits {
            max_rows: None,
            max_len: Some(100),
        };
        let b = Batches::new(rows(&["a", &long, "b"]), limits, Some(t.clone()), 0);
        let jobs = commands(b, &t);
        assert_eq!(jobs.len(), 3);
        assert_eq!(jobs[1], format!("echo {long}"));
    }

    #[test]
    fn commands_without_a_template_are_joined() {
        let limits = BatchLimits {
            max_rows: Some(3),
            max_len: None,
        };
        let b = Batches::new(rows(&["echo", "a", "b", "echo c"]), limits, None, 0);
        let jobs: Vec<Vec<u8>> = b.map(|r| r.unwrap().bytes).collect();
        assert_eq!(jobs, [b"echo a b".to_vec(), b"echo c".to_vec()]);
    }

    #[test]
    fn rows_with_too_few_columns_are_an_error() {
        let b = Batches::new(rows(&["a"]), BatchLimits::default(), None, 2);
        let err = b.into_iter().next().unwrap().unwrap_err();
        assert!(err.to_string().contains("has 1 column"), "{err}");
    }

    #[test]
    fn packed_jobs_get_a_window_bounded_in_bytes() {
        let packed = BatchLimits {
            max_rows: None,
            max_len: Some(128 * 1024),
        };
        assert_eq!(cap_window(1024, packed), 8);
        assert_eq!(cap_window(8, packed), 8);
        let tiny = BatchLimits {
            max_rows: None,
            max_len: Some(100),
        };
        assert_eq!(cap_window(64, tiny), 64);
        assert_eq!(cap_window(1024, BatchLimits::default()), 1024);
        let huge = BatchLimits {
            max_rows: None,
            max_len: Some(usize::MAX),
        };
        assert_eq!(cap_window(64, huge), 4);
    }

    #[test]
    fn the_limit_is_below_max_arg_strlen() {
        let limit = command_limit();
        assert!(limit < MAX_ARG_STRLEN && limit > 64 * 1024, "{limit}");
    }

    #[test]
    fn decoding_a_batch_gives_its_rows() {
        let limits = BatchLimits {
            max_rows: Some(2),
            max_len: None,
        };
        let t = template(&["echo"], false);
        let mut b = Batches::new(rows(&["a", "b"]), limits, Some(t), 0);
        let record = b.next().unwrap().unwrap();
        assert_eq!(JobArgs::decode(&record.bytes).rows(), 2);
    }
}
