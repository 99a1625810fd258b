//! Local and global pools, and the two ways of submitting a task: the counterpart of
//! these examples from the original ATP README:
//!
//! ```python
//! # Initialize the global thread pool
//! atp.GlobalThreadPool(min_workers = 2, stack_size = 512)
//!
//! # Or initialize a local thread pool
//! tp = atp.ThreadPool(min_workers = 2, stack_size = 512)
//!
//! # Create a task manually.
//! task = atp.Task(target=<callable>, success=<callable>, args=(1,2,3,),
//!         kwargs={'a':1, 'b':2})
//! atp.GlobalThreadPool().run(task)
//!
//! # Run a task through helpers. Note that you can pass your own local thread-pool
//! # to the helper function through the ``pool`` argument.
//! task = atp.async_call(<callable>, success=<callable>, args=(1,2,3,),
//!         kwargs={'a':1, 'b':2}, pool=atp.GlobalThreadPool())
//! ```
//!
//! `args` and `kwargs` become the captures of the target closure. Each task reports
//! which worker thread ran it.
//!
//! Run it with `cargo run --example local_and_global`.

use std::sync::mpsc;

/// The `<callable>`: takes positional and keyword-like arguments.
fn target(args: (i32, i32, i32), a: i32, b: i32) -> String {
    let sum = args.0 + args.1 + args.2 + a + b;
    let thread = std::thread::current();
    format!(
        "sum = {sum}, computed on {}",
        thread.name().unwrap_or("an unnamed thread")
    )
}

/// A task running `target(args=(1,2,3), a=1, b=2)` whose success callback sends the
/// result to `results`, labelled with how it was submitted.
fn task(label: &'static str, results: &mpsc::Sender<String>) -> atp::Task<()> {
    let results = results.clone();
    atp::Task::new(|| target((1, 2, 3), 1, 2))
        .on_success(move |s| results.send(format!("{label:<28} {s}")).unwrap())
        // `Task<()>` is the boxed form; `boxed` turns the inline task into it.
        .boxed()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // The global pool: set up once, before first use.
    let global = atp::init_global(
        atp::ThreadPool::builder()
            .min_workers(2)
            .stack_size_kib(512)
            .thread_name("global"),
    )?;
    // A local pool with the same settings.
    let local = atp::ThreadPool::builder()
        .min_workers(2)
        .stack_size_kib(512)
        .thread_name("local")
        .build()?;

    let (tx, rx) = mpsc::channel();
    let handles = vec![
        // A task created manually and run on the global pool.
        global.run(task("global pool, run():", &tx))?,
        // Through the helper: `None` means the global pool...
        atp::async_call(task("async_call(task, None):", &tx), None)?,
        // ...or pass a pool.
        atp::async_call(task("async_call(task, local):", &tx), Some(&local))?,
    ];
    drop(tx);
    for handle in &handles {
        assert_eq!(handle.wait(), atp::TaskOutcome::Succeeded);
    }
    for line in rx {
        println!("{line}");
    }

    // A local pool can be shut down (the global one lives as long as the process).
    local.shutdown();
    println!("local pool after shutdown: {:?}", local.stats());
    Ok(())
}
