//! The global pool: one per process, set up once — explicitly with
//! [`init_global`] or with default settings on first use of [`global`] — and
//! race-free under concurrent first use (a `OnceLock`, with set-up serialised by a
//! mutex so that exactly one pool is ever built).
//!
//! A second set-up with *different* settings is an error ([`GlobalPoolError`]), never
//! silently ignored; the same settings again return the existing pool.
//!
//! The global pool lives as long as the process: it is shared by every library that
//! uses it, so no one of them may shut it down (the shutdown methods do nothing on it
//! but log a warning), and it is never set up a second time.

use std::fmt;
use std::sync::{Mutex, OnceLock, PoisonError};

use super::config::{BuildError, Builder, Config};
use super::handle::TaskHandle;
use super::submit::Submit;
use super::{SubmitError, ThreadPool};

static GLOBAL: OnceLock<ThreadPool> = OnceLock::new();
static SETUP: Mutex<()> = Mutex::new(());

/// Why the global pool could not be set up.
#[derive(Debug)]
#[non_exhaustive]
pub enum GlobalPoolError {
    /// The global pool already exists with other settings.
    AlreadyInitialized {
        /// The settings it has.
        existing: Box<Config>,
        /// The settings that were asked for.
        requested: Box<Config>,
    },
    /// The settings were invalid, or its threads could not be started.
    Build(BuildError),
}

impl fmt::Display for GlobalPoolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GlobalPoolError::AlreadyInitialized {
                existing,
                requested,
            } => write!(
                f,
                "the global pool is already set up with other settings \
                 ({existing:?}; asked for {requested:?}): set it up once, before first use"
            ),
            GlobalPoolError::Build(err) => write!(f, "cannot set up the global pool: {err}"),
        }
    }
}

impl std::error::Error for GlobalPoolError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            GlobalPoolError::Build(err) => Some(err),
            GlobalPoolError::AlreadyInitialized { .. } => None,
        }
    }
}

/// Sets up the global pool with `builder`'s settings and returns it.
///
/// Succeeds again if the global pool already has exactly these settings; fails with
/// [`GlobalPoolError::AlreadyInitialized`] if it has others (including the defaults it
/// got from an earlier [`global`] call).
///
/// ```
/// let pool = atp::init_global(atp::ThreadPool::builder().min_workers(3))?;
/// assert_eq!(pool.config().min_workers(), 3);
/// // Same settings again: fine. Different settings: an error.
/// assert!(atp::init_global(atp::ThreadPool::builder().min_workers(3)).is_ok());
/// assert!(atp::init_global(atp::ThreadPool::builder().min_workers(4)).is_err());
/// # Ok::<(), atp::GlobalPoolError>(())
/// ```
pub fn init_global(builder: Builder) -> Result<&'static ThreadPool, GlobalPoolError> {
    let requested = builder.config().map_err(GlobalPoolError::Build)?;
    let _setup = SETUP.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(pool) = GLOBAL.get() {
        return if *pool.config() == requested {
            Ok(pool)
        } else {
            Err(GlobalPoolError::AlreadyInitialized {
                existing: Box::new(pool.config().clone()),
                requested: Box::new(requested),
            })
        };
    }
    // With the builder's probe, if it has one: the probe is not part of the settings.
    let pool =
        ThreadPool::with_probe(requested, builder.take_probe()).map_err(GlobalPoolError::Build)?;
    Ok(GLOBAL.get_or_init(|| pool.into_global()))
}

/// The global pool, set up with default settings if nothing set it up before.
///
/// Fails only if the operating system refuses to start its first threads.
pub fn try_global() -> Result<&'static ThreadPool, BuildError> {
    if let Some(pool) = GLOBAL.get() {
        return Ok(pool);
    }
    let _setup = SETUP.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(pool) = GLOBAL.get() {
        return Ok(pool);
    }
    let pool = ThreadPool::with_config(Config::default())?;
    Ok(GLOBAL.get_or_init(|| pool.into_global()))
}

/// The global pool, set up with default settings if nothing set it up before.
///
/// # Panics
/// If the operating system refuses to start the pool's first threads; use
/// [`try_global`] to handle that.
pub fn global() -> &'static ThreadPool {
    match try_global() {
        Ok(pool) => pool,
        Err(err) => panic!("atp: {err}"),
    }
}

/// Runs `task` on `pool`, or on the global pool when `pool` is `None` — the
/// counterpart of the original ATP's `async_call(..., pool=...)`.
///
/// ```
/// use std::sync::mpsc;
///
/// let (tx, rx) = mpsc::channel();
/// let task = atp::Task::new(|| "hello world!".to_uppercase())
///     .on_success(move |s: String| tx.send(s).unwrap());
/// atp::async_call(task, None)?;
/// assert_eq!(rx.recv().unwrap(), "HELLO WORLD!");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn async_call<S: Submit>(
    task: S,
    pool: Option<&ThreadPool>,
) -> Result<TaskHandle<S::Output>, SubmitError<S>> {
    match pool {
        Some(pool) => pool.run(task),
        None => match try_global() {
            Ok(pool) => pool.run(task),
            Err(err) => Err(SubmitError::GlobalPool(err, task)),
        },
    }
}
