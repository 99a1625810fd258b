//! A one-shot task with a success callback: the counterpart of this example from the
//! original ATP README:
//!
//! ```python
//! def print_string(string):
//!     print string
//!
//! def caps(string):
//!     return string.upper()
//!
//! task = atp.async_call(caps, 'hello world!', success=print_string)
//! time.sleep(0.1) # 100ms
//! ```
//!
//! The target's argument becomes a capture of the closure, and instead of sleeping
//! and hoping the task has run, we wait on its handle.
//!
//! Run it with `cargo run --example task_callbacks`; it prints `HELLO WORLD!`.

fn print_string(string: String) {
    println!("{string}");
}

fn caps(string: &str) -> String {
    string.to_uppercase()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let task = atp::Task::new(|| caps("hello world!")).on_success(print_string);
    let handle = atp::async_call(task, None)?;
    // Returns once the target *and* its success callback have run.
    assert_eq!(handle.wait(), atp::TaskOutcome::Succeeded);
    Ok(())
}
