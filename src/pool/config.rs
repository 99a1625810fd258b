//! Pool settings: the [`Builder`], the validated [`Config`] it produces, and
//! [`BuildError`] for settings that cannot work.
//!
//! Invariants of a [`Config`] (checked once, in [`Builder::config`]):
//! `1 <= max_workers`, `min_workers <= max_workers`,
//! `stack_size_kib >= MIN_STACK_SIZE_KIB`, `monitor_interval > 0`,
//! `1 <= cpu_threshold_percent <= 100`, and a thread name prefix without NUL bytes.
//! Every other part of the pool relies on them.

use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::load::LoadProbe;

/// Default minimum number of workers, as in the original ATP.
pub const DEFAULT_MIN_WORKERS: usize = 2;
/// Default maximum number of workers. Like tokio's blocking pool (512) and smol's
/// (500), high enough for hundreds of tasks that wait on I/O, bounded so that a burst
/// can never spawn threads without limit.
pub const DEFAULT_MAX_WORKERS: usize = 512;
/// Default stack size of each worker thread in KiB, as in the original ATP.
pub const DEFAULT_STACK_SIZE_KIB: usize = 512;
/// Smallest stack size accepted, in KiB. Below this, formatting a panic message and
/// capturing a backtrace inside a task can overflow the stack.
pub const MIN_STACK_SIZE_KIB: usize = 64;
/// Default time a worker above the minimum may sit idle before it retires.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(5);
/// Default period of the monitor's check while tasks wait (an idle pool's monitor
/// sleeps until a submission finds no idle worker).
pub const DEFAULT_MONITOR_INTERVAL: Duration = Duration::from_millis(20);
/// Default CPU utilisation (percent of the capacity available to us) at and above
/// which the pool stops growing.
pub const DEFAULT_CPU_THRESHOLD_PERCENT: u32 = 90;
/// Default prefix of worker thread names (`atp-worker-3`).
pub const DEFAULT_THREAD_NAME: &str = "atp-worker";

/// The validated settings of a pool. Obtained from [`Builder::config`] or
/// [`ThreadPool::config`](crate::ThreadPool::config); compared by the global pool to
/// tell a repeated set-up from a conflicting one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    pub(crate) min_workers: usize,
    pub(crate) max_workers: usize,
    pub(crate) stack_size_kib: usize,
    pub(crate) idle_timeout: Duration,
    pub(crate) monitor_interval: Duration,
    pub(crate) thread_name: String,
    pub(crate) load_aware: bool,
    pub(crate) cpu_threshold_percent: u32,
    pub(crate) memory_reserve: Option<u64>,
}

impl Config {
    /// Workers the pool always keeps alive.
    pub fn min_workers(&self) -> usize {
        self.min_workers
    }
    /// Workers the pool never exceeds.
    pub fn max_workers(&self) -> usize {
        self.max_workers
    }
    /// Stack size of each worker thread, in KiB.
    pub fn stack_size_kib(&self) -> usize {
        self.stack_size_kib
    }
    /// How long a worker above the minimum may sit idle before it retires.
    pub fn idle_timeout(&self) -> Duration {
        self.idle_timeout
    }
    /// How often the monitor checks the pool when nothing wakes it earlier.
    pub fn monitor_interval(&self) -> Duration {
        self.monitor_interval
    }
    /// Prefix of the worker threads' names.
    pub fn thread_name(&self) -> &str {
        &self.thread_name
    }
    /// Whether growth is gated by CPU and memory load (see [`Builder::load_aware`]).
    pub fn load_aware(&self) -> bool {
        self.load_aware
    }
    /// CPU utilisation, in percent, at which growth stops.
    pub fn cpu_threshold_percent(&self) -> u32 {
        self.cpu_threshold_percent
    }
    /// Memory kept free, in bytes; `None` means automatic (5 % of the memory limit,
    /// between 64 MiB and 1 GiB).
    pub fn memory_reserve(&self) -> Option<u64> {
        self.memory_reserve
    }

    /// The memory reserve for a machine (or cgroup) with `total` bytes.
    pub(crate) fn memory_reserve_for(&self, total: Option<u64>) -> u64 {
        const MIB: u64 = 1 << 20;
        self.memory_reserve
            .unwrap_or_else(|| total.map_or(256 * MIB, |t| (t / 20).clamp(64 * MIB, 1024 * MIB)))
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            min_workers: DEFAULT_MIN_WORKERS,
            max_workers: DEFAULT_MAX_WORKERS,
            stack_size_kib: DEFAULT_STACK_SIZE_KIB,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            monitor_interval: DEFAULT_MONITOR_INTERVAL,
            thread_name: DEFAULT_THREAD_NAME.to_owned(),
            load_aware: true,
            cpu_threshold_percent: DEFAULT_CPU_THRESHOLD_PERCENT,
            memory_reserve: None,
        }
    }
}

/// Builds a [`ThreadPool`](crate::ThreadPool) with chosen settings.
///
/// ```
/// use std::time::Duration;
///
/// let pool = atp::ThreadPool::builder()
///     .min_workers(4)
///     .max_workers(64)
///     .stack_size_kib(256)
///     .idle_timeout(Duration::from_secs(2))
///     .build()?;
/// assert_eq!(pool.config().min_workers(), 4);
/// # Ok::<(), atp::BuildError>(())
/// ```
///
/// When only the minimum is raised above the default maximum, the maximum follows
/// it, so `min_workers(1000)` alone is valid; an explicit maximum below an explicit
/// minimum is an error.
#[derive(Clone, Debug, Default)]
pub struct Builder {
    load_aware: Option<bool>,
    cpu_threshold_percent: Option<u32>,
    memory_reserve: Option<u64>,
    probe: Option<ProbeSlot>,
    min_workers: Option<usize>,
    max_workers: Option<usize>,
    stack_size_kib: Option<usize>,
    idle_timeout: Option<Duration>,
    monitor_interval: Option<Duration>,
    thread_name: Option<String>,
}

impl Builder {
    /// A builder with every setting at its default.
    pub fn new() -> Builder {
        Builder::default()
    }
    /// Workers kept alive for the pool's whole life (default 2). Zero is allowed: the
    /// pool then starts empty and grows when tasks arrive.
    pub fn min_workers(mut self, n: usize) -> Builder {
        self.min_workers = Some(n);
        self
    }
    /// Upper bound on live workers (default 512, at least 1).
    pub fn max_workers(mut self, n: usize) -> Builder {
        self.max_workers = Some(n);
        self
    }
    /// Shorthand for a fixed-size pool: `min_workers(n).max_workers(n)`.
    pub fn fixed_workers(self, n: usize) -> Builder {
        self.min_workers(n).max_workers(n)
    }
    /// Stack size of each worker thread in KiB (default 512, at least 64). Applied to
    /// each worker thread when it is spawned; other threads are unaffected.
    pub fn stack_size_kib(mut self, kib: usize) -> Builder {
        self.stack_size_kib = Some(kib);
        self
    }
    /// How long a worker above the minimum may sit idle before it retires
    /// (default 5 s). Workers at or below the minimum never retire.
    pub fn idle_timeout(mut self, timeout: Duration) -> Builder {
        self.idle_timeout = Some(timeout);
        self
    }
    /// How often the monitor re-checks the pool when no submission wakes it
    /// (default 20 ms, must be above zero).
    pub fn monitor_interval(mut self, interval: Duration) -> Builder {
        self.monitor_interval = Some(interval);
        self
    }
    /// Prefix of worker thread names (default `atp-worker`); workers are named
    /// `<prefix>-<slot>`. Linux shows only the first 15 bytes of a thread's name.
    pub fn thread_name(mut self, prefix: impl Into<String>) -> Builder {
        self.thread_name = Some(prefix.into());
        self
    }

    /// Whether growth is gated by load (default: yes). When on, the pool grows only
    /// while CPU utilisation is under [`cpu_threshold_percent`](Self::cpu_threshold_percent)
    /// and available memory is above [`memory_reserve`](Self::memory_reserve), by at
    /// most what the spare capacity can take (see the crate docs). Where no load
    /// readings exist (not Linux), the pool falls back to growing by its backlog.
    /// Off, it always grows by its backlog, up to the maximum.
    pub fn load_aware(mut self, on: bool) -> Builder {
        self.load_aware = Some(on);
        self
    }
    /// CPU utilisation, in percent of the capacity available to the process (its
    /// cgroup's quota, or the whole machine), at and above which the pool stops
    /// growing (default 90, from 1 to 100).
    pub fn cpu_threshold_percent(mut self, percent: u32) -> Builder {
        self.cpu_threshold_percent = Some(percent);
        self
    }
    /// Memory to keep available, in bytes: the pool does not grow while less is
    /// available and backs off when under half of it (default: 5 % of the memory
    /// limit, between 64 MiB and 1 GiB).
    pub fn memory_reserve(mut self, bytes: u64) -> Builder {
        self.memory_reserve = Some(bytes);
        self
    }
    /// Replaces the system load probe with `probe` for the next pool built (tests use
    /// it to drive the controller with chosen readings).
    pub fn load_probe(mut self, probe: impl LoadProbe + 'static) -> Builder {
        self.probe = Some(ProbeSlot(Arc::new(Mutex::new(Some(Box::new(probe))))));
        self
    }

    /// Checks the settings and returns them as a [`Config`], without starting threads.
    pub fn config(&self) -> Result<Config, BuildError> {
        let defaults = Config::default();
        let min_workers = self.min_workers.unwrap_or(defaults.min_workers);
        let max_workers = match self.max_workers {
            Some(max) => max,
            None => defaults.max_workers.max(min_workers),
        };
        if max_workers == 0 {
            return Err(BuildError::ZeroMaximum);
        }
        if min_workers > max_workers {
            return Err(BuildError::MinAboveMax {
                min: min_workers,
                max: max_workers,
            });
        }
        let stack_size_kib = self.stack_size_kib.unwrap_or(defaults.stack_size_kib);
        if stack_size_kib < MIN_STACK_SIZE_KIB {
            return Err(BuildError::StackTooSmall {
                kib: stack_size_kib,
            });
        }
        if stack_size_kib.checked_mul(1024).is_none() {
            return Err(BuildError::StackTooLarge {
                kib: stack_size_kib,
            });
        }
        let monitor_interval = self.monitor_interval.unwrap_or(defaults.monitor_interval);
        if monitor_interval.is_zero() {
            return Err(BuildError::ZeroMonitorInterval);
        }
        let cpu_threshold_percent = self
            .cpu_threshold_percent
            .unwrap_or(defaults.cpu_threshold_percent);
        if !(1..=100).contains(&cpu_threshold_percent) {
            return Err(BuildError::BadCpuThreshold {
                percent: cpu_threshold_percent,
            });
        }
        let thread_name = self.thread_name.clone().unwrap_or(defaults.thread_name);
        if thread_name.contains('\0') {
            return Err(BuildError::BadThreadName);
        }
        Ok(Config {
            min_workers,
            max_workers,
            stack_size_kib,
            idle_timeout: self.idle_timeout.unwrap_or(defaults.idle_timeout),
            monitor_interval,
            thread_name,
            load_aware: self.load_aware.unwrap_or(defaults.load_aware),
            cpu_threshold_percent,
            memory_reserve: self.memory_reserve.or(defaults.memory_reserve),
        })
    }

    /// Checks the settings and starts the pool: the minimum number of workers and the
    /// monitor thread.
    ///
    /// The first pool built in a process installs a panic hook that wraps the one
    /// already set: for a panic in a task it records the location and backtrace for
    /// the [`Failure`](crate::Failure), then — for every panic — calls the previous
    /// hook, so a hook set before sees task panics too (the default hook prints them,
    /// as it does for any thread). A hook set later replaces ours: failures then lose
    /// their location and backtrace, nothing else.
    pub fn build(&self) -> Result<crate::ThreadPool, BuildError> {
        let config = self.config()?;
        crate::ThreadPool::with_probe(config, self.take_probe())
    }

    /// The custom probe given with [`load_probe`](Self::load_probe), taken out (it goes
    /// to exactly one pool).
    pub(crate) fn take_probe(&self) -> Option<Box<dyn LoadProbe>> {
        self.probe.as_ref().and_then(ProbeSlot::take)
    }
}

/// A custom probe waiting in a builder for the pool it will be given to.
#[derive(Clone)]
struct ProbeSlot(Arc<Mutex<Option<Box<dyn LoadProbe>>>>);

impl ProbeSlot {
    fn take(&self) -> Option<Box<dyn LoadProbe>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).take()
    }
}

impl fmt::Debug for ProbeSlot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ProbeSlot(..)")
    }
}

/// Why a pool could not be built.
#[derive(Debug)]
#[non_exhaustive]
pub enum BuildError {
    /// `max_workers` was 0: a pool that can never run a task.
    ZeroMaximum,
    /// `min_workers` was above `max_workers`.
    MinAboveMax {
        /// The requested minimum.
        min: usize,
        /// The requested maximum.
        max: usize,
    },
    /// The stack size is below [`MIN_STACK_SIZE_KIB`].
    StackTooSmall {
        /// The requested size in KiB.
        kib: usize,
    },
    /// The stack size in bytes does not fit in `usize`.
    StackTooLarge {
        /// The requested size in KiB.
        kib: usize,
    },
    /// The monitor interval was zero.
    ZeroMonitorInterval,
    /// The thread name prefix contained a NUL byte.
    BadThreadName,
    /// The CPU threshold was not between 1 and 100 percent.
    BadCpuThreshold {
        /// The requested percentage.
        percent: u32,
    },
    /// The operating system refused to start one of the minimum workers or the
    /// monitor thread (too many threads, or not enough memory for the stacks).
    Spawn(std::io::Error),
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BuildError::ZeroMaximum => {
                write!(f, "the maximum number of workers must be at least 1")
            }
            BuildError::MinAboveMax { min, max } => write!(
                f,
                "the minimum number of workers ({min}) is above the maximum ({max}): \
                 raise the maximum or lower the minimum"
            ),
            BuildError::StackTooSmall { kib } => write!(
                f,
                "a worker stack of {kib} KiB is too small to run tasks: use at least \
                 {MIN_STACK_SIZE_KIB} KiB"
            ),
            BuildError::StackTooLarge { kib } => {
                write!(
                    f,
                    "a worker stack of {kib} KiB is larger than memory can address"
                )
            }
            BuildError::ZeroMonitorInterval => {
                write!(f, "the monitor interval must be longer than zero")
            }
            BuildError::BadThreadName => {
                write!(f, "the worker thread name must not contain a NUL byte")
            }
            BuildError::BadCpuThreshold { percent } => write!(
                f,
                "a CPU threshold of {percent}% is outside 1 to 100 percent"
            ),
            BuildError::Spawn(err) => write!(f, "could not start a pool thread: {err}"),
        }
    }
}

impl std::error::Error for BuildError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            BuildError::Spawn(err) => Some(err),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_the_original_atp() {
        let config = Builder::new().config().unwrap();
        assert_eq!(config.min_workers(), 2);
        assert_eq!(config.stack_size_kib(), 512);
        assert_eq!(config.max_workers(), DEFAULT_MAX_WORKERS);
        assert_eq!(config, Config::default());
    }

    #[test]
    fn impossible_settings_are_errors_with_clear_messages() {
        let cases: Vec<(Builder, &str)> = vec![
            (Builder::new().max_workers(0), "at least 1"),
            (
                Builder::new().min_workers(5).max_workers(3),
                "minimum number of workers (5) is above the maximum (3)",
            ),
            (Builder::new().stack_size_kib(8), "too small"),
            (
                Builder::new().stack_size_kib(usize::MAX),
                "larger than memory",
            ),
            (
                Builder::new().monitor_interval(Duration::ZERO),
                "longer than zero",
            ),
            (Builder::new().thread_name("a\0b"), "NUL"),
            (Builder::new().cpu_threshold_percent(0), "outside 1 to 100"),
            (
                Builder::new().cpu_threshold_percent(101),
                "outside 1 to 100",
            ),
        ];
        for (builder, expected) in cases {
            let err = builder.config().unwrap_err().to_string();
            assert!(
                err.contains(expected),
                "{err:?} should mention {expected:?}"
            );
        }
    }

    #[test]
    fn a_large_minimum_alone_raises_the_default_maximum() {
        let config = Builder::new().min_workers(1000).config().unwrap();
        assert_eq!(config.max_workers(), 1000);
        let config = Builder::new().fixed_workers(3).config().unwrap();
        assert_eq!((config.min_workers(), config.max_workers()), (3, 3));
    }

    #[test]
    fn the_automatic_memory_reserve_is_five_percent_within_bounds() {
        const MIB: u64 = 1 << 20;
        let config = Config::default();
        assert_eq!(config.memory_reserve_for(Some(24 * 1024 * MIB)), 1024 * MIB);
        assert_eq!(config.memory_reserve_for(Some(512 * MIB)), 64 * MIB);
        assert_eq!(config.memory_reserve_for(Some(4096 * MIB)), 4096 * MIB / 20);
        let fixed = Builder::new().memory_reserve(5).config().unwrap();
        assert_eq!(fixed.memory_reserve_for(Some(1 << 40)), 5);
    }

    /// The builder's docs state each default in words; they must say what the
    /// constants are (the monitor interval's once said 50 ms while it was 20 ms).
    #[test]
    fn the_builder_docs_state_the_real_defaults() {
        let source = include_str!("config.rs");
        let documented = [
            format!("(default {})", DEFAULT_MIN_WORKERS),
            format!("(default {}, at least 1)", DEFAULT_MAX_WORKERS),
            format!(
                "(default {}, at least {MIN_STACK_SIZE_KIB})",
                DEFAULT_STACK_SIZE_KIB
            ),
            format!("(default {} s)", DEFAULT_IDLE_TIMEOUT.as_secs()),
            format!("(default {} ms,", DEFAULT_MONITOR_INTERVAL.as_millis()),
            format!("(default {},", DEFAULT_CPU_THRESHOLD_PERCENT),
        ];
        for text in documented {
            assert!(
                source.contains(&text),
                "the Builder docs should say {text:?}"
            );
        }
    }

    #[test]
    fn zero_minimum_and_zero_idle_timeout_are_allowed() {
        let config = Builder::new()
            .min_workers(0)
            .idle_timeout(Duration::ZERO)
            .config()
            .unwrap();
        assert_eq!(config.min_workers(), 0);
        assert_eq!(config.idle_timeout(), Duration::ZERO);
    }
}
