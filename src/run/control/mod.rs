//! Job control: `--halt`, `--resume`, `--retries`.

pub mod halt;
pub mod job_control;
