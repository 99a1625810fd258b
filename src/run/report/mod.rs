//! What becomes of job results: the reporter and its sinks.

pub mod dry_run;
pub mod grouped;
pub mod joblog;
pub mod json;
pub mod progress;
pub mod reorder;
pub mod reporter;
pub mod running_list;
