//! Logging from the pool's own threads: the program's logger is user code, and a
//! logger that panics must not unwind a worker or the monitor, nor lose the record.
//!
//! Invariant: every record the pool writes from a worker or the monitor goes through
//! [`write`] (the [`pool_log!`] macro), which contains a panic of the logger (or of
//! a value formatted into the record) and then writes the record to stderr, once.

use std::fmt;

use super::panic_capture;

/// Writes one record through the program's logger, at `target` (the calling module,
/// as `log`'s own macros use); returns whether it was written (to the logger, or to
/// stderr because the logger panicked) rather than filtered out.
pub(crate) fn write(target: &str, level: log::Level, message: fmt::Arguments<'_>) -> bool {
    let (logged, _) = panic_capture::catch(|| {
        let enabled = log::log_enabled!(target: target, level);
        if enabled {
            log::log!(target: target, level, "{message}");
        }
        enabled
    });
    match logged {
        Ok(enabled) => enabled,
        Err(payload) => {
            let why = panic_capture::panic_message(payload.as_ref());
            let _ = panic_capture::drop_contained(payload);
            // A value in the message may be what panicked: then this panics again,
            // and a line without it is the best left to do.
            let (printed, _) = panic_capture::catch(|| {
                eprintln!("atp: {message} (the logger panicked on this record: {why})");
            });
            if let Err(payload) = printed {
                let _ = panic_capture::drop_contained(payload);
                eprintln!("atp: a log record was lost: formatting it panicked: {why}");
            }
            true
        }
    }
}

/// `log`'s macros for the pool's threads: `pool_log!(Debug, "...", args)`. See
/// [`write`].
macro_rules! pool_log {
    ($level:ident, $($arg:tt)+) => {
        $crate::pool::logging::write(
            module_path!(),
            log::Level::$level,
            format_args!($($arg)+),
        )
    };
}
pub(crate) use pool_log;

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    /// A value whose `Display` panics.
    struct Unprintable;

    impl fmt::Display for Unprintable {
        fn fmt(&self, _: &mut fmt::Formatter<'_>) -> fmt::Result {
            panic!("cannot print this")
        }
    }

    #[test]
    fn a_record_whose_value_panics_is_contained() {
        // Whether or not a logger is installed in this test binary, the panic of
        // formatting the value never escapes.
        let (result, _) = panic_capture::catch(|| {
            write(
                module_path!(),
                log::Level::Error,
                format_args!("{}", Unprintable),
            )
        });
        assert!(result.is_ok(), "the panic escaped write()");
    }
}
