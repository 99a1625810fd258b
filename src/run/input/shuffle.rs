//! `--shuf`: the jobs in a random order, with memory still bounded.
//!
//! GNU parallel reads its whole input, then shuffles it (Fisher–Yates). Here the
//! jobs pass through a window of at most [`WINDOW_JOBS`] jobs and [`WINDOW_BYTES`]
//! bytes: the window is filled first, then each job handed on is drawn uniformly
//! at random from the window, and its place taken by the next job read (the
//! shuffle buffer of streaming data pipelines). So:
//! - an input that fits the window (at most 10,000 jobs, 64 MiB) is read whole
//!   before the first job starts, then run in a uniformly random order, exactly
//!   like GNU parallel's;
//! - a longer input is never held whole: each job is drawn from the 10,000 read
//!   and not yet started, so no job starts before the 10,000 jobs before it
//!   (in input order) were read.
//!
//! Numbering happens after the shuffle (in the feeder), as in GNU parallel: `{#}`,
//! the joblog's Seq and `--keep-order` follow the order jobs run in.
//!
//! Invariants: every item read is handed on exactly once; an error is handed on
//! after every job read before it (so the jobs before a read error still run).

use std::collections::VecDeque;

use crate::run::input::sources::{InputError, Record};

/// Most jobs the window holds.
pub(crate) const WINDOW_JOBS: usize = 10_000;
/// Most bytes of jobs the window holds.
pub(crate) const WINDOW_BYTES: usize = 64 << 20;

type Item = Result<Record, InputError>;

/// The jobs of `inner` in a random order; see the module header.
pub(crate) struct Shuffled<I> {
    inner: I,
    window: Vec<Record>,
    bytes: usize,
    /// Items to hand on before reading more (an error after the window's jobs).
    draining: VecDeque<Item>,
    ended: bool,
    rng: fastrand::Rng,
    limits: (usize, usize),
}

impl<I: Iterator<Item = Item>> Shuffled<I> {
    /// `inner`'s items shuffled with a fresh random seed.
    pub(crate) fn new(inner: I) -> Shuffled<I> {
        Shuffled::with(inner, fastrand::Rng::new(), (WINDOW_JOBS, WINDOW_BYTES))
    }

    /// With this generator and window (jobs, bytes).
    fn with(inner: I, rng: fastrand::Rng, limits: (usize, usize)) -> Shuffled<I> {
        Shuffled {
            inner,
            window: Vec::new(),
            bytes: 0,
            draining: VecDeque::new(),
            ended: false,
            rng,
            limits,
        }
    }

    fn full(&self) -> bool {
        self.window.len() >= self.limits.0 || self.bytes >= self.limits.1
    }

    /// A job drawn at random from the window.
    fn draw(&mut self) -> Option<Item> {
        if self.window.is_empty() {
            return None;
        }
        let i = self.rng.usize(..self.window.len());
        let record = self.window.swap_remove(i);
        self.bytes -= record.bytes.len();
        Some(Ok(record))
    }
}

impl<I: Iterator<Item = Item>> Iterator for Shuffled<I> {
    type Item = Item;

    fn next(&mut self) -> Option<Item> {
        loop {
            if let Some(item) = self.draining.pop_front() {
                return Some(item);
            }
            if self.ended || self.full() {
                return self.draw();
            }
            match self.inner.next() {
                Some(Ok(record)) => {
                    self.bytes += record.bytes.len();
                    self.window.push(record);
                }
                Some(Err(err)) => {
                    while let Some(job) = self.draw() {
                        self.draining.push_back(job);
                    }
                    self.draining.push_back(Err(err));
                }
                None => self.ended = true,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(n: usize) -> Item {
        Ok(Record {
            bytes: n.to_string().into_bytes(),
            source_index: 0,
            line: n as u64,
        })
    }

    fn numbers(items: impl Iterator<Item = Item>) -> Vec<usize> {
        items
            .map(|r| {
                String::from_utf8(r.unwrap().bytes)
                    .unwrap()
                    .parse()
                    .unwrap()
            })
            .collect()
    }

    #[test]
    fn a_small_input_is_a_permutation_of_all_of_it() {
        let out = numbers(Shuffled::with(
            (0..200).map(record),
            fastrand::Rng::with_seed(7),
            (WINDOW_JOBS, WINDOW_BYTES),
        ));
        let mut sorted = out.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..200).collect::<Vec<_>>());
        assert_ne!(out, sorted, "not shuffled");
        // The last input line can come first: the whole input was in the window.
        let firsts: std::collections::HashSet<usize> = (0..400)
            .map(|seed| {
                let mut s = Shuffled::with(
                    (0..5).map(record),
                    fastrand::Rng::with_seed(seed),
                    (WINDOW_JOBS, WINDOW_BYTES),
                );
                numbers(s.by_ref().take(1)).remove(0)
            })
            .collect();
        assert_eq!(firsts.len(), 5, "{firsts:?}");
    }

    #[test]
    fn a_long_input_is_held_a_window_at_a_time() {
        let read = std::cell::Cell::new(0);
        let input = (0..1000).map(|n| {
            read.set(read.get() + 1);
            record(n)
        });
        let mut s = Shuffled::with(input, fastrand::Rng::with_seed(1), (10, usize::MAX));
        let first = numbers(s.by_ref().take(1))[0];
        assert!(first < 10, "{first}");
        assert_eq!(read.get(), 10);
        let mut rest = numbers(s);
        rest.push(first);
        rest.sort_unstable();
        assert_eq!(rest, (0..1000).collect::<Vec<_>>());
        // The byte limit bounds the window too.
        let mut s = Shuffled::with((0..100).map(record), fastrand::Rng::new(), (1000, 5));
        assert!(numbers(s.by_ref().take(1))[0] < 5);
    }

    #[test]
    fn an_error_comes_after_the_jobs_read_before_it() {
        let input = (0..5)
            .map(record)
            .chain(std::iter::once(Err(InputError::StdinRepeated)))
            .chain((5..8).map(record));
        let out: Vec<Item> = Shuffled::new(input).collect();
        assert_eq!(out.len(), 9);
        assert!(out[..5].iter().all(Result::is_ok));
        assert!(out[5].is_err());
        assert!(out[6..].iter().all(Result::is_ok));
    }
}
