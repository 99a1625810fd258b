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
//! ## Values, panics and the handle
//!
//! [`ThreadPool::spawn`] runs a closure and returns a [`TaskHandle`] whose
//! [`join`](TaskHandle::join) gives its value, or a [`Failure`] holding the panic
//! payload (so `resume_unwind` re-raises it where you join), as `std::thread` does.
//! [`TaskHandle::wait`] reports only how the task ended ([`TaskOutcome`]).
//!
//! ```
//! let pool = atp::ThreadPool::new()?;
//! let sum = pool.spawn(|| (1..=10u32).sum::<u32>())?;
//! assert_eq!(sum.join()?, 55);
//!
//! let failed = pool.spawn(|| -> u32 { panic!("no value today") })?;
//! let failure = failed.join().unwrap_err();
//! assert_eq!(failure.kind(), atp::FailureKind::Panicked);
//! assert_eq!(failure.message(), "no value today");
//! // failure.resume_unwind() would re-raise the original panic here.
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## Coming from threadpool, rayon or tokio
//!
//! | you wrote | with atp |
//! |---|---|
//! | `threadpool::ThreadPool::new(n)` | [`ThreadPool::builder()`](ThreadPool::builder)`.fixed_workers(n).build()?` — or let it adapt: [`ThreadPool::new`] |
//! | `pool.execute(f)` (threadpool) | [`pool.execute(f)?`](ThreadPool::execute): same, and an error (giving `f` back) once the pool is shut down |
//! | `pool.join()` (threadpool) | [`pool.wait_idle()`](ThreadPool::wait_idle): named apart from [`TaskHandle::join`] |
//! | `rayon::spawn(f)`, `pool.spawn(f)` | [`pool.spawn(f)?`](ThreadPool::spawn), whose handle also joins to `f`'s value |
//! | `std::thread::spawn(f).join()` | `pool.spawn(f)?.join()`: `Err` holds the panic payload ([`Failure::into_panic`], [`Failure::resume_unwind`]) |
//! | `tokio::task::spawn_blocking(f).await` | `pool.spawn(f)?.join()` — the pool grows for blocking work the way tokio's blocking pool does, but only while the CPU and memory have room, and it shrinks |
//! | `JoinHandle::abort()` (tokio) | [`TaskHandle::stop`]: a queued task never runs; a running infinite task stops after its current run; a running one-shot task runs to its end |
//! | `Runtime::shutdown_timeout(d)` (tokio) | [`ThreadPool::shutdown_timeout`]; [`shutdown`](ThreadPool::shutdown) waits for good, [`shutdown_now`](ThreadPool::shutdown_now) drops the queue |
//! | `Arc<ThreadPool>` to share it | [`ThreadPool`] is `Clone` (a cheap handle); tasks that submit to their own pool hold a [`WeakThreadPool`] |
//! | `rayon::ThreadPoolBuilder::build_global()` | [`init_global`] (an error if already set up otherwise), [`global`] |
//!
//! What atp adds: callbacks ([`Task::on_success`], [`Task::on_failure`]), infinite
//! tasks that share the workers fairly ([`Task::infinite`], [`StopToken`]), a
//! minimum and a maximum, and growth gated on the machine's load. What it does not
//! do: work stealing and parallel iterators (use rayon for computing over data),
//! `async` (use tokio for I/O-bound futures).
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
//! A task keeps its target and success callbacks inline, in a body type its own type
//! names (as iterator adapters do: see [`task`]), so building it allocates nothing
//! and `run` allocates once, as [`ThreadPool::spawn`] does. `Task<T>` is the boxed
//! form ([`Task::boxed`]), for tasks of different closures in one `Vec`.
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
//! how many; [`ThreadPool::shutdown_timeout`] waits at most so long;
//! [`ThreadPool::wait_idle`] waits for the queue to drain without shutting down.
//! Clones of a [`ThreadPool`] share one pool; dropping the last one shuts it down
//! without blocking. The global pool is never shut down. [`ThreadPool::stats`] reads
//! live, busy, idle and queued counts, completed and failed runs and the peak worker
//! count in one short lock.
//!
//! ## The original ATP's examples
//!
//! Each example of the Python library's README, and its counterpart (`examples/` has
//! them as programs: `cargo run --example infinite_task`, …).
//!
//! ```python
//! atp.GlobalThreadPool(min_workers = 2, stack_size = 512)
//! tp = atp.ThreadPool(min_workers = 2, stack_size = 512)
//! ```
//! ```
//! let builder = || atp::ThreadPool::builder().min_workers(2).stack_size_kib(512);
//! atp::init_global(builder())?;
//! let tp = builder().build()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//! ```python
//! task = atp.Task(target=<callable>, success=<callable>, args=(1,2,3,), kwargs={'a':1, 'b':2})
//! atp.GlobalThreadPool().run(task)
//! task = atp.async_call(<callable>, success=<callable>, args=(1,2,3,),
//!         kwargs={'a':1, 'b':2}, pool=atp.GlobalThreadPool())
//! ```
//! ```
//! fn target(args: (i32, i32, i32), a: i32, b: i32) -> i32 {
//!     args.0 + args.1 + args.2 + a + b
//! }
//! let (tx, rx) = std::sync::mpsc::channel();
//! let success = move |sum: i32| tx.send(sum).unwrap();
//! // args and kwargs become the closure's captures.
//! let task = atp::Task::new(|| target((1, 2, 3), 1, 2)).on_success(success.clone());
//! atp::global().run(task)?;
//! let task = atp::Task::new(|| target((1, 2, 3), 1, 2)).on_success(success);
//! atp::async_call(task, Some(atp::global()))?;
//! assert_eq!((rx.recv()?, rx.recv()?), (9, 9));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//! ```python
//! def print_string(string):
//!     print string
//! def caps(string):
//!     return string.upper()
//! task = atp.async_call(caps, 'hello world!', success=print_string)
//! time.sleep(0.1) # 100ms
//! ```
//! ```
//! fn print_string(string: String) {
//!     println!("{string}");
//! }
//! fn caps(string: &str) -> String {
//!     string.to_uppercase()
//! }
//! let task = atp::async_call(atp::Task::new(|| caps("hello world!")).on_success(print_string), None)?;
//! task.wait(); // instead of sleeping and hoping
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//! ```python
//! result = [1]
//! def increase(kill, arg):
//!     while not kill.is_set() and arg[-1] < 100:
//!         arg.append(arg[-1] + 1)
//! task = atp.async_call(increase, result, infinite=True)
//! time.sleep(0.1) # 100ms
//! task.stop()
//! assert len(result) == 100
//! ```
//! ```
//! use std::sync::{Arc, Mutex};
//!
//! fn increase(kill: &atp::StopToken, arg: &Mutex<Vec<u32>>) {
//!     let mut arg = arg.lock().unwrap();
//!     while !kill.is_stopped() && *arg.last().unwrap() < 100 {
//!         let next = arg.last().unwrap() + 1;
//!         arg.push(next);
//!     }
//!     if arg.len() == 100 {
//!         kill.stop(); // full: no need to run again (the original could set its event)
//!     }
//! }
//! let result = Arc::new(Mutex::new(vec![1]));
//! let arg = Arc::clone(&result);
//! let task = atp::async_call(atp::Task::infinite(move |kill: &atp::StopToken| increase(kill, &arg)), None)?;
//! task.wait(); // instead of sleeping: it stopped itself (task.stop() stops it from outside)
//! assert_eq!(result.lock().unwrap().len(), 100);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//! ```python
//! def will_fail():
//!     throw RuntimeError("fake error")
//! def catch_fail(error):
//!     throw error.exception, error.message, error.traceback
//! task = atp.async_call(will_fail, failure=catch_fail)
//! ```
//! ```
//! fn will_fail() {
//!     panic!("fake error");
//! }
//! fn catch_fail(error: atp::Failure) {
//!     error.resume_unwind(); // re-raise: the pool catches it and logs it at error level
//! }
//! let task = atp::async_call(atp::Task::new(will_fail).on_failure(catch_fail), None)?;
//! assert_eq!(task.wait(), atp::TaskOutcome::Failed);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![warn(missing_debug_implementations)]

#[cfg(feature = "cli")]
pub mod cli;
mod pool;
#[cfg(feature = "cli")]
pub mod run;

pub use pool::*;
