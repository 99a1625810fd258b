//! # atp — an adaptive thread pool
//!
//! A pool that keeps a configurable **minimum** of workers alive for the life of the
//! program, **grows** through a monitor thread when tasks arrive faster than they
//! finish (up to a **maximum**), and **retires** workers that sit idle above the
//! minimum. Tasks run with success and failure callbacks; **infinite tasks** run again
//! and again until stopped; every error or panic is wrapped in a [`Failure`] and is
//! either handed to your failure callback or logged — never swallowed.
//!
//! This is the Rust successor of the Python ATP library, with its faults fixed: the
//! minimum is a promise, there is a maximum, the idle timeout and monitor interval
//! are settings, the global pool is set up race-free, shutdown works, and unhandled
//! failures are reported.
//!
//! The crate also holds the engine of `atp-run`, a command-line parallel command
//! executor built on the pool (modules `run` and `cli`, behind the default cargo
//! feature `cli`). A program that wants only the pool depends on it without that
//! feature, and gets a crate whose only dependencies are `log` and `nix` (for
//! `getrusage`):
//!
//! ```toml
//! [dependencies]
//! atp = { version = "0.1", default-features = false }
//! ```
//!
//! ## A local pool
//!
//! ```
//! use std::time::Duration;
//!
//! // The defaults: 2 workers minimum (as the original), 512 maximum,
//! // 512 KiB stacks, 5 s idle timeout.
//! let pool = atp::ThreadPool::new()?;
//!
//! // Or choose the settings.
//! let pool = atp::ThreadPool::builder()
//!     .min_workers(2)
//!     .max_workers(32)
//!     .stack_size_kib(512)
//!     .idle_timeout(Duration::from_secs(1))
//!     .build()?;
//! # Ok::<(), atp::BuildError>(())
//! ```
//!
//! ## Tasks and callbacks
//!
//! A [`Task`] is a target closure (its captures play the role of the original's
//! `args` and `kwargs`) with optional callbacks. [`ThreadPool::run`] returns a
//! [`TaskHandle`] to wait for the task, ask whether it finished, or stop it.
//!
//! ```
//! use std::sync::mpsc;
//!
//! fn caps(s: &str) -> String {
//!     s.to_uppercase()
//! }
//!
//! let pool = atp::ThreadPool::new()?;
//! let (tx, rx) = mpsc::channel();
//! let handle = pool.run(
//!     atp::Task::new(|| caps("hello world!")).on_success(move |s| tx.send(s).unwrap()),
//! )?;
//! assert_eq!(handle.wait(), atp::TaskOutcome::Succeeded);
//! assert_eq!(rx.recv().unwrap(), "HELLO WORLD!");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## Failures
//!
//! A target that panics, or a [`Task::fallible`] target that returns `Err`, fails the
//! run: the failure callback receives a [`Failure`] with the task's id, the message,
//! the panic's location and — when `RUST_BACKTRACE` is set — a backtrace captured
//! where the panic happened. A success callback that panics sends its panic to the
//! failure callback (as in the original); a failure callback that panics is logged at
//! error level. Without a failure callback the failure is logged at error level (or
//! written to stderr when no logger is installed). A panicking task never kills a
//! worker.
//!
//! ```
//! let pool = atp::ThreadPool::new()?;
//! let task = atp::Task::fallible(|| "12x".parse::<u32>())
//!     .on_failure(|failure: atp::Failure| {
//!         assert_eq!(failure.kind(), atp::FailureKind::Errored);
//!         assert_eq!(failure.message(), "invalid digit found in string");
//!     });
//! assert_eq!(pool.run(task)?.wait(), atp::TaskOutcome::Failed);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## Infinite tasks
//!
//! An infinite task gets a [`StopToken`] (the original's kill event) on every run.
//! After each run its callbacks fire and it goes to the back of the queue, so it
//! shares the workers fairly with other tasks. [`TaskHandle::stop`] ends it: the
//! current run sees the token set, and the task never starts again.
//!
//! ```
//! use std::sync::{Arc, Mutex};
//!
//! let pool = atp::ThreadPool::new()?;
//! let result = Arc::new(Mutex::new(vec![1]));
//! let numbers = Arc::clone(&result);
//! let handle = pool.run(atp::Task::infinite(move |stop: &atp::StopToken| {
//!     let mut v = numbers.lock().unwrap();
//!     while !stop.is_stopped() && *v.last().unwrap() < 100 {
//!         let next = v.last().unwrap() + 1;
//!         v.push(next);
//!     }
//! }))?;
//! while result.lock().unwrap().len() < 100 {
//!     std::thread::yield_now();
//! }
//! handle.stop();
//! assert_eq!(handle.wait(), atp::TaskOutcome::Stopped);
//! assert_eq!(result.lock().unwrap().len(), 100);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## The global pool
//!
//! [`global`] returns a process-wide pool, created with default settings on first
//! use; [`init_global`] sets it up with your settings instead (once: a second set-up
//! with other settings is an error). [`async_call`] runs a task on the global pool
//! or on a pool you pass.
//!
//! ```
//! let handle = atp::async_call(atp::Task::new(|| 6 * 7), None)?;
//! assert_eq!(handle.join()?, 42);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## Growth, shrinking and the monitor
//!
//! The monitor wakes when a submission finds no idle worker, and every
//! `monitor_interval`. While tasks wait that no idle worker will take, it starts
//! workers — as many as there are such tasks, never past `max_workers`. Idle workers
//! are woken newest-first, so the workers that stay idle longest are the surplus
//! ones; they retire after `idle_timeout`, down to `min_workers` and never below.
//! Run with `RUST_LOG=atp=debug` to see every decision and its reason.
//!
//! ## Lifecycle and statistics
//!
//! [`ThreadPool::shutdown`] lets queued tasks finish, stops infinite tasks and joins
//! every thread; [`ThreadPool::shutdown_now`] drops queued tasks instead and reports
//! how many. Dropping a pool never blocks. [`ThreadPool::stats`] reads live, busy,
//! idle and queued counts, completed and failed runs and the peak worker count in one
//! short lock.
#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![warn(missing_debug_implementations)]

#[cfg(feature = "cli")]
pub mod cli;
mod pool;
// The runner's public types are being redesigned; they get `Debug` with that work.
#[cfg(feature = "cli")]
#[allow(missing_debug_implementations)]
pub mod run;

pub use pool::*;
