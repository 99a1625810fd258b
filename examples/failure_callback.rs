//! Failure callbacks: the counterpart of this example from the original ATP README:
//!
//! ```python
//! logging.getLogger().addHandler(logging.StreamHandler())
//!
//! def will_fail():
//!     throw RuntimeError("fake error")
//!
//! def catch_fail(error):
//!     throw error.exception, error.message, error.traceback
//!
//! task = atp.async_call(will_fail, failure=catch_fail)
//! time.sleep(0.1) # 100ms
//! ```
//!
//! A panicking target is caught and wrapped in an [`atp::Failure`] — the task id, the
//! message, where it panicked and, with `RUST_BACKTRACE=1`, a backtrace captured at
//! the panic. The first task's failure callback prints those. The second task's
//! failure callback re-raises (panics), as `catch_fail` does; that panic is caught and
//! logged at error level, here through `env_logger` (the `logging` handler above).
//!
//! Run it with `cargo run --example failure_callback`, or
//! `RUST_BACKTRACE=1 cargo run --example failure_callback` to see the backtrace.

use std::backtrace::BacktraceStatus;

fn will_fail() {
    panic!("fake error");
}

fn print_failure(error: atp::Failure) {
    println!("task {} failed ({:?})", error.task_id(), error.kind());
    println!("  message:  {}", error.message());
    println!("  location: {}", error.location().unwrap_or("unknown"));
    match error.backtrace() {
        Some(backtrace) if backtrace.status() == BacktraceStatus::Captured => {
            println!("  backtrace:\n{backtrace}");
        }
        _ => println!("  backtrace: set RUST_BACKTRACE=1 to capture one"),
    }
}

fn catch_fail(error: atp::Failure) {
    // Re-raise, as the original's `catch_fail` does: the pool logs this panic.
    panic!("re-raised: {error}");
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Errors (the default level) go to stderr; RUST_LOG can change that.
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("error")).init();

    let handled = atp::async_call(atp::Task::new(will_fail).on_failure(print_failure), None)?;
    assert_eq!(handled.wait(), atp::TaskOutcome::Failed);

    let reraised = atp::async_call(atp::Task::new(will_fail).on_failure(catch_fail), None)?;
    // The callback's panic was contained: the task simply failed, and it was logged.
    assert_eq!(reraised.wait(), atp::TaskOutcome::Failed);
    Ok(())
}
