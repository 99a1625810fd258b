//! Job control: running a job's attempts (`--retries`), the `--halt` decision,
//! and `--resume`'s skip set; the decisions are pure functions or state machines.

pub(crate) mod attempts;
pub(crate) mod backoff;
pub(crate) mod halt;
pub(crate) mod pacing;
pub(crate) mod resume;
pub(crate) mod retries;
