//! An infinite task stopped with `stop()`: the counterpart of this example from the
//! original ATP README:
//!
//! ```python
//! result = [1]
//!
//! def increase(kill, arg):
//!     while not kill.is_set() and arg[-1] < 100:
//!         arg.append(arg[-1] + 1)
//!
//! task = atp.async_call(increase, result, infinite=True)
//! time.sleep(0.1) # 100ms
//! task.stop()
//! assert len(result) == 100
//! ```
//!
//! The kill event becomes a [`atp::StopToken`], passed to every run. Instead of
//! sleeping 100 ms and hoping the list is full by then, the task tells us when it
//! is (through a channel), and we wait for that and then for the task to end.
//!
//! Run it with `cargo run --example infinite_task`.

use std::sync::mpsc;
use std::sync::{Arc, Mutex};

fn increase(kill: &atp::StopToken, arg: &Mutex<Vec<u32>>) {
    let mut arg = arg.lock().unwrap();
    while !kill.is_stopped() && *arg.last().unwrap() < 100 {
        let next = arg.last().unwrap() + 1;
        arg.push(next);
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let result = Arc::new(Mutex::new(vec![1]));
    // Capacity 1 and `try_send`: the task reruns until stopped (that is what an
    // infinite task does), and must not fill an unbounded channel meanwhile.
    let (full_tx, full_rx) = mpsc::sync_channel(1);

    let arg = Arc::clone(&result);
    let task = atp::Task::infinite(move |kill: &atp::StopToken| {
        increase(kill, &arg);
        if arg.lock().unwrap().len() == 100 {
            let _ = full_tx.try_send(());
        }
    });
    let handle = atp::async_call(task, None)?;

    full_rx
        .recv()
        .expect("the task reports when the list is full");
    handle.stop();
    // After wait() the task will never run again.
    assert_eq!(handle.wait(), atp::TaskOutcome::Stopped);
    let len = result.lock().unwrap().len();
    assert_eq!(len, 100);
    println!("stopped after {} runs; len(result) == {len}", handle.runs());
    Ok(())
}
