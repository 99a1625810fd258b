//! Shell snippets that make jobs wait for each other (or for the test) by files,
//! so that the order in which jobs end never depends on one sleep finishing
//! before another on a busy machine.
//!
//! Invariant: every wait is bounded (about 60 s, polling every 50 ms), so a job
//! whose file never comes ends by itself within the run's time limit.

/// A shell snippet waiting (at most about 60 s) until `file` exists.
pub fn wait_for(file: &str) -> String {
    wait_for_all(&[file])
}

/// A shell snippet waiting (at most about 60 s) until every one of `files` exists.
pub fn wait_for_all(files: &[&str]) -> String {
    let missing = files
        .iter()
        .map(|f| format!("[ ! -e {f} ]"))
        .collect::<Vec<_>>()
        .join(" || ");
    format!("n=0; while {{ {missing}; }} && [ $n -lt 1200 ]; do sleep 0.05; n=$((n+1)); done")
}
