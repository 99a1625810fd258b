//! Captures where a task panicked, in the panicking thread, before it unwinds.
//!
//! `catch_unwind` hands us only the payload; the location and the backtrace exist
//! only while the panic hook runs. So the pool installs, once per process, a hook that
//! chains to the hook that was there before:
//! - on a pool worker that is running user code (`IN_TASK` is set), it records the
//!   location and `Backtrace::capture()` (which honours `RUST_BACKTRACE`) in a
//!   thread-local and prints nothing: the panic becomes a [`Failure`](super::Failure)
//!   that goes to the failure callback or, unhandled, to the log;
//! - on every other thread it calls the previous hook unchanged.
//!
//! If the program later replaces the hook with `std::panic::set_hook`, failures simply
//! lose their location and backtrace; nothing else depends on the hook.

use std::backtrace::Backtrace;
use std::cell::{Cell, RefCell};
use std::panic::{self, PanicHookInfo};
use std::sync::Once;

/// What the hook saw of a panic on a worker thread.
#[derive(Debug)]
pub(crate) struct PanicRecord {
    pub(crate) location: Option<String>,
    pub(crate) backtrace: Option<Backtrace>,
}

thread_local! {
    static IN_TASK: Cell<bool> = const { Cell::new(false) };
    static LAST_PANIC: RefCell<Option<PanicRecord>> = const { RefCell::new(None) };
}

static INSTALL: Once = Once::new();

/// Installs the capturing hook (once per process; later calls do nothing).
pub(crate) fn install() {
    INSTALL.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info: &PanicHookInfo<'_>| {
            if IN_TASK.with(Cell::get) {
                let record = PanicRecord {
                    location: info.location().map(|l| l.to_string()),
                    backtrace: Some(Backtrace::capture()),
                };
                LAST_PANIC.with(|slot| *slot.borrow_mut() = Some(record));
            } else {
                previous(info);
            }
        }));
    });
}

/// Runs `f` (user code) with panics recorded rather than printed; returns its result
/// and the record of the panic it raised, if any.
pub(crate) fn catch<R>(f: impl FnOnce() -> R) -> (std::thread::Result<R>, Option<PanicRecord>) {
    IN_TASK.with(|flag| flag.set(true));
    let result = panic::catch_unwind(panic::AssertUnwindSafe(f));
    IN_TASK.with(|flag| flag.set(false));
    let record = if result.is_err() {
        LAST_PANIC.with(|slot| slot.borrow_mut().take())
    } else {
        None
    };
    (result, record)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_the_location_of_a_panic_inside_catch() {
        install();
        let (result, record) = catch(|| -> u8 { panic!("inside") });
        assert!(result.is_err());
        let record = record.expect("the hook records panics in tasks");
        let location = record.location.unwrap();
        assert!(location.contains("panic_capture.rs"), "{location}");
        assert!(record.backtrace.is_some());
    }

    #[test]
    fn a_successful_run_leaves_no_record() {
        install();
        let (result, record) = catch(|| 5);
        assert_eq!(result.unwrap(), 5);
        assert!(record.is_none());
    }
}
