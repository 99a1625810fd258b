//! What a one-shot [`Task`](crate::Task) runs: its body, the target and its success
//! stages, each built inline by the constructor that adds it — [`Target`]
//! ([`Task::new`](crate::Task::new)), [`Fallible`] ([`Task::fallible`](crate::Task::fallible)),
//! [`Then`] ([`Task::on_success`](crate::Task::on_success)) — or erased behind one
//! allocation ([`BoxedBody`], [`Task::boxed`](crate::Task::boxed)). Like
//! `std::iter::Map` or `futures::future::Then`, the types nest: a task's type says
//! what it runs, so building it allocates nothing and the pool stores it inline, in
//! the one allocation it shares with the task's handle.
//!
//! [`TaskBody`] is sealed: only these types implement it, and how a body runs is
//! crate-private.
//!
//! Invariant: a body catches the panics of the user code it calls, each as its own
//! [`FailureKind`] — the target's as `Panicked`, a success callback's as
//! `SuccessCallbackPanicked` — and an `Err` of a fallible target is `Errored`. The
//! failure callback is not part of the body: it is the task's (`job.rs` calls it).

use std::fmt;

use super::failure::{BoxError, Failure, FailureKind, caught};
use super::id::TaskId;

/// How a body runs; the sealed half of [`TaskBody`], which no other crate can name.
pub(crate) mod sealed {
    use super::super::failure::Failure;
    use super::super::id::TaskId;
    use super::BoxedBody;

    pub trait Run: Sized + Send + 'static {
        /// What a successful run returns.
        type Value;

        /// Runs the body once: the target, then the success stages in order, each
        /// panic caught as the failure of its stage.
        fn run(self, id: TaskId) -> Result<Self::Value, Failure>;

        /// The same body behind one allocation (without a second for a body that is
        /// boxed already).
        fn into_boxed(self) -> BoxedBody<Self::Value> {
            BoxedBody(Box::new(move |id| self.run(id)))
        }
    }
}

/// The body of a one-shot [`Task`](crate::Task): its target and success callbacks,
/// run once. `Output` is what a successful run returns, and what the task's
/// [`TaskHandle::join`](crate::TaskHandle::join) returns.
///
/// The implementations are this module's types, made by the task's constructors; the
/// trait is sealed. Name it to write a task's type without boxing it:
///
/// ```
/// use atp::task::TaskBody;
///
/// fn doubled(n: u32) -> atp::Task<u32, impl TaskBody<Output = u32>> {
///     atp::Task::new(move || n).on_success(|n| n * 2)
/// }
///
/// let pool = atp::ThreadPool::new()?;
/// assert_eq!(pool.run(doubled(21))?.join()?, 42);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub trait TaskBody: sealed::Run<Value = Self::Output> {
    /// What a successful run returns.
    type Output: Send + 'static;
}

/// Every body of this module: the sealed half says how it runs and what it returns.
impl<B> TaskBody for B
where
    B: sealed::Run,
    B::Value: Send + 'static,
{
    type Output = B::Value;
}

/// The body of [`Task::new`](crate::Task::new): the target, whose panic is a
/// [`FailureKind::Panicked`] failure.
pub struct Target<F>(F);

impl<F> Target<F> {
    pub(crate) fn new(target: F) -> Target<F> {
        Target(target)
    }
}

impl<F, T> sealed::Run for Target<F>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    type Value = T;

    fn run(self, id: TaskId) -> Result<T, Failure> {
        caught(id, FailureKind::Panicked, self.0)
    }
}

/// The body of [`Task::fallible`](crate::Task::fallible): the target, whose `Err` is
/// a [`FailureKind::Errored`] failure carrying the error, and whose panic is a
/// [`FailureKind::Panicked`] one.
pub struct Fallible<F>(F);

impl<F> Fallible<F> {
    pub(crate) fn new(target: F) -> Fallible<F> {
        Fallible(target)
    }
}

impl<F, T, E> sealed::Run for Fallible<F>
where
    F: FnOnce() -> Result<T, E> + Send + 'static,
    T: Send + 'static,
    E: Into<BoxError>,
{
    type Value = T;

    fn run(self, id: TaskId) -> Result<T, Failure> {
        caught(id, FailureKind::Panicked, self.0)?
            .map_err(|error| Failure::from_error(id, error.into()))
    }
}

/// The body of [`Task::on_success`](crate::Task::on_success): body `B`, then the
/// success callback `C` with its value (like `Result::map`). A panic of the callback
/// is a [`FailureKind::SuccessCallbackPanicked`] failure; if `B` fails, `C` is
/// dropped unrun.
pub struct Then<B, C> {
    body: B,
    callback: C,
}

impl<B, C> Then<B, C> {
    pub(crate) fn new(body: B, callback: C) -> Then<B, C> {
        Then { body, callback }
    }
}

impl<B, C, R> sealed::Run for Then<B, C>
where
    B: TaskBody,
    C: FnOnce(B::Output) -> R + Send + 'static,
    R: Send + 'static,
{
    type Value = R;

    fn run(self, id: TaskId) -> Result<R, Failure> {
        let Then { body, callback } = self;
        let value = body.run(id)?;
        caught(id, FailureKind::SuccessCallbackPanicked, move || {
            callback(value)
        })
    }
}

/// A type-erased body, behind one allocation: what [`Task<T>`](crate::Task) (its
/// default body type) holds, made by [`Task::boxed`](crate::Task::boxed). Tasks of
/// different closures have one type once boxed, so they fit in one `Vec`.
pub struct BoxedBody<T>(Box<dyn FnOnce(TaskId) -> Result<T, Failure> + Send>);

impl<T: Send + 'static> sealed::Run for BoxedBody<T> {
    type Value = T;

    fn run(self, id: TaskId) -> Result<T, Failure> {
        (self.0)(id)
    }

    fn into_boxed(self) -> BoxedBody<T> {
        self
    }
}

impl<F> fmt::Debug for Target<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Target").finish_non_exhaustive()
    }
}

impl<F> fmt::Debug for Fallible<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Fallible").finish_non_exhaustive()
    }
}

impl<B: fmt::Debug, C> fmt::Debug for Then<B, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Then")
            .field("body", &self.body)
            .finish_non_exhaustive()
    }
}

impl<T> fmt::Debug for BoxedBody<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BoxedBody").finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    use super::sealed::Run;
    use super::*;

    const ID: TaskId = TaskId(7);

    /// Runs `body` inline and boxed; both runs must end alike (the body is built
    /// twice, as running consumes it).
    fn run_both<B: TaskBody>(make: impl Fn() -> B) -> [Result<B::Output, Failure>; 2] {
        [make().run(ID), make().into_boxed().run(ID)]
    }

    fn kind<T>(result: Result<T, Failure>) -> FailureKind {
        match result {
            Ok(_) => panic!("the body succeeded"),
            Err(failure) => {
                assert_eq!(failure.task_id(), ID);
                failure.kind()
            }
        }
    }

    #[test]
    fn a_target_returns_its_value_and_its_panic_is_panicked() {
        for result in run_both(|| Target::new(|| 5)) {
            assert_eq!(result.unwrap(), 5);
        }
        for result in run_both(|| Target::new(|| -> u8 { panic!("target") })) {
            assert_eq!(kind(result), FailureKind::Panicked);
        }
    }

    #[test]
    fn a_fallible_err_is_errored_and_its_panic_is_panicked() {
        for result in run_both(|| Fallible::new(|| "41".parse::<u32>())) {
            assert_eq!(result.unwrap(), 41);
        }
        for result in run_both(|| Fallible::new(|| "x".parse::<u32>())) {
            let failure = result.unwrap_err();
            assert_eq!(failure.kind(), FailureKind::Errored);
            assert_eq!(failure.message(), "invalid digit found in string");
        }
        for result in run_both(|| Fallible::new(|| -> Result<u8, String> { panic!("f") })) {
            assert_eq!(kind(result), FailureKind::Panicked);
        }
    }

    #[test]
    fn then_maps_in_order_and_its_panic_is_success_callback_panicked() {
        let make = || Then::new(Then::new(Target::new(|| 2), |n| n * 10), |n| n + 1);
        for result in run_both(make) {
            assert_eq!(result.unwrap(), 21);
        }
        let make = || Then::new(Target::new(|| 2), |_: i32| -> i32 { panic!("callback") });
        for result in run_both(make) {
            assert_eq!(kind(result), FailureKind::SuccessCallbackPanicked);
        }
    }

    #[test]
    fn then_after_a_failed_body_drops_its_callback_unrun() {
        let ran = Arc::new(AtomicBool::new(false));
        let make = || {
            let ran = Arc::clone(&ran);
            Then::new(Target::new(|| -> u8 { panic!("target") }), move |n| {
                ran.store(true, Ordering::Relaxed);
                n
            })
        };
        for result in run_both(make) {
            assert_eq!(kind(result), FailureKind::Panicked);
        }
        assert!(!ran.load(Ordering::Relaxed));
        assert_eq!(Arc::strong_count(&ran), 1, "the callback was not dropped");
    }
}
