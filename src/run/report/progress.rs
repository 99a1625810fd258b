//! The progress display and the logger that keeps out of its way.
//!
//! Shown only when standard error is a terminal (and not `--no-progress`): an
//! indicatif bar with jobs done out of the total (a running count while the input
//! is still being read — the input is never read ahead to count it), failures, live
//! and busy workers from the pool's stats, the rate and the ETA. A ticker thread
//! refreshes the worker counts every 100 ms.
//!
//! Invariant: everything atp-run writes to the terminal while the bar is up — job
//! output, status lines, log records — goes through [`Progress::suspend`], so that the
//! bar is cleared first and redrawn after, and neither garbles the other.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::run::lock::lock;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// The visible bar, for the logger (set once, when a visible bar is created).
static ACTIVE_BAR: OnceLock<ProgressBar> = OnceLock::new();

const COUNTING: &str = "{spinner} {pos} done · {msg} · {per_sec}";
const KNOWN_TOTAL: &str =
    "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} · {msg} · {per_sec} · ETA {eta}";

/// The progress display (hidden when not wanted: then every call is a cheap no-op
/// and `suspend` just runs its closure).
#[derive(Debug)]
pub(crate) struct Progress {
    bar: ProgressBar,
    ticker: Mutex<Option<Ticker>>,
}

#[derive(Debug)]
struct Ticker {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<()>,
}

impl Progress {
    /// A visible bar on stderr when `visible`, otherwise a hidden one.
    pub(crate) fn new(visible: bool) -> Progress {
        let bar = if visible {
            let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
            bar.set_style(style(COUNTING));
            let _ = ACTIVE_BAR.set(bar.clone());
            bar
        } else {
            ProgressBar::hidden()
        };
        Progress {
            bar,
            ticker: Mutex::new(None),
        }
    }

    /// Whether the bar is drawn.
    pub(crate) fn is_visible(&self) -> bool {
        !self.bar.is_hidden()
    }

    /// Refreshes the message from `status` every 100 ms until [`finish`](Self::finish).
    pub(crate) fn start_ticker(&self, status: impl Fn() -> String + Send + 'static) {
        if !self.is_visible() {
            return;
        }
        let stop = Arc::new(AtomicBool::new(false));
        let (bar, flag) = (self.bar.clone(), Arc::clone(&stop));
        let thread = std::thread::Builder::new()
            .name("atp-run-progress".into())
            .spawn(move || {
                while !flag.load(Ordering::Relaxed) {
                    bar.set_message(status());
                    bar.tick();
                    std::thread::sleep(Duration::from_millis(100));
                }
            });
        match thread {
            Ok(thread) => *self.lock_ticker() = Some(Ticker { stop, thread }),
            Err(err) => log::warn!("no progress refresh: cannot start a thread: {err}"),
        }
    }

    /// The input has ended: `total` jobs in all.
    pub(crate) fn set_total(&self, total: u64) {
        self.bar.set_length(total);
        self.bar.set_style(style(KNOWN_TOTAL));
    }

    /// One more job done.
    pub(crate) fn inc(&self) {
        self.bar.inc(1);
    }

    /// Runs `f` with the bar cleared, redrawing it after.
    pub(crate) fn suspend<R>(&self, f: impl FnOnce() -> R) -> R {
        self.bar.suspend(f)
    }

    fn lock_ticker(&self) -> std::sync::MutexGuard<'_, Option<Ticker>> {
        lock(&self.ticker)
    }

    /// Stops the ticker and removes the bar. Idempotent.
    pub(crate) fn finish(&self) {
        let ticker = self.lock_ticker().take();
        if let Some(ticker) = ticker {
            ticker.stop.store(true, Ordering::Relaxed);
            let _ = ticker.thread.join();
        }
        self.bar.finish_and_clear();
    }
}

/// The ticker's message: failures so far and the pool's live and busy workers.
pub(crate) fn ticker_message(failed: u64, live: usize, busy: usize) -> String {
    format!("{failed} failed · {live} workers ({busy} busy)")
}

fn style(template: &str) -> ProgressStyle {
    ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_spinner())
}

/// env_logger's logger, writing through the progress bar when one is shown.
struct SuspendingLogger {
    inner: env_logger::Logger,
}

impl log::Log for SuspendingLogger {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        self.inner.enabled(metadata)
    }

    fn log(&self, record: &log::Record<'_>) {
        if !self.inner.matches(record) {
            return;
        }
        match ACTIVE_BAR.get() {
            Some(bar) => bar.suspend(|| self.inner.log(record)),
            None => self.inner.log(record),
        }
    }

    fn flush(&self) {
        self.inner.flush();
    }
}

/// Sets up logging on stderr: `verbosity` 0 shows warnings and errors, 1 info, 2
/// debug, 3 trace; `RUST_LOG` overrides it.
pub fn init_logging(verbosity: u8) {
    let level = match verbosity {
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    let logger = env_logger::Builder::new()
        .parse_filters(level)
        .parse_env("RUST_LOG")
        .format_timestamp(None)
        .build();
    let max_level = logger.filter();
    if log::set_boxed_logger(Box::new(SuspendingLogger { inner: logger })).is_ok() {
        log::set_max_level(max_level);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ticker_says_failures_and_workers() {
        assert_eq!(ticker_message(2, 5, 3), "2 failed · 5 workers (3 busy)");
    }

    #[test]
    fn both_bar_templates_are_valid() {
        for template in [COUNTING, KNOWN_TOTAL] {
            assert!(ProgressStyle::with_template(template).is_ok(), "{template}");
        }
    }

    #[test]
    fn a_hidden_bar_runs_what_it_suspends_and_finishes_twice() {
        let progress = Progress::new(false);
        assert!(!progress.is_visible());
        progress.start_ticker(|| unreachable!("no ticker for a hidden bar"));
        progress.set_total(3);
        progress.inc();
        assert_eq!(progress.suspend(|| 7), 7);
        progress.finish();
        progress.finish();
    }
}
