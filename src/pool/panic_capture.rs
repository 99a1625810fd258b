//! Captures where a task panicked, in the panicking thread, before it unwinds.
//!
//! `catch_unwind` hands us only the payload; the location and the backtrace exist
//! only while the panic hook runs. So the pool installs, once per process (when the
//! first pool is built), a hook that wraps the hook that was there before:
//! - on a pool worker that is running user code (`IN_TASK` is set), it records the
//!   location and `Backtrace::capture()` (which honours `RUST_BACKTRACE`) in a
//!   thread-local, from which the panic becomes a [`Failure`](super::Failure) that
//!   goes to the failure callback or, unhandled, to the log;
//! - on every thread, task or not, it then calls the previous hook unchanged: a hook
//!   the program set before building a pool sees task panics too, and the default
//!   hook prints them as it prints any thread's panic (as with `std::thread`, rayon
//!   or tokio's `spawn_blocking`).
//!
//! If the program later replaces the hook with `std::panic::set_hook`, failures simply
//! lose their location and backtrace; nothing else depends on the hook.

use std::any::Any;
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
            }
            previous(info);
        }));
    });
}

/// Runs `f` (user code) with panics recorded rather than printed; returns its result
/// and the record of the panic it raised, if any.
pub(crate) fn catch<R>(f: impl FnOnce() -> R) -> (std::thread::Result<R>, Option<PanicRecord>) {
    // Catches nest (a value dropped inside a callback's catch): restore, not clear.
    let outer = IN_TASK.with(|flag| flag.replace(true));
    let result = panic::catch_unwind(panic::AssertUnwindSafe(f));
    IN_TASK.with(|flag| flag.set(outer));
    let record = if result.is_err() {
        LAST_PANIC.with(|slot| slot.borrow_mut().take())
    } else {
        None
    };
    (result, record)
}

/// Drops `value` — user data: a task's value, error, captures or panic payload, any of
/// whose `Drop` may panic — without letting a panic escape into the pool's code.
/// Returns the message of the panic, if there was one.
pub(crate) fn drop_contained<T>(value: T) -> Result<(), String> {
    match catch(move || drop(value)) {
        (Ok(()), _) => Ok(()),
        (Err(payload), _) => {
            let message = panic_message(payload.as_ref());
            // The payload is user data too, and dropping it might panic again:
            // leaking one box is the lesser harm.
            std::mem::forget(payload);
            Err(message)
        }
    }
}

/// The text of a panic payload: `panic!("...")` gives `&str` or `String`; anything
/// else (`panic_any`) has no text we can show.
pub(crate) fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "panic with a non-string payload".to_owned()
    }
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
    fn a_panicking_drop_is_contained_and_a_nested_catch_keeps_the_outer_one_recording() {
        install();
        struct Bomb;
        impl Drop for Bomb {
            fn drop(&mut self) {
                panic!("drop bomb");
            }
        }
        let (result, record) = catch(|| {
            assert_eq!(drop_contained(Bomb), Err("drop bomb".to_owned()));
            panic!("after");
        });
        assert!(result.is_err());
        assert!(record.is_some(), "the outer catch still records its panic");
        assert_eq!(drop_contained(5), Ok(()));
    }

    #[test]
    fn a_successful_run_leaves_no_record() {
        install();
        let (result, record) = catch(|| 5);
        assert_eq!(result.unwrap(), 5);
        assert!(record.is_none());
    }
}
