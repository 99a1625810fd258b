//! Where jobs come from: the input sources, the templates that turn records into
//! commands, and the feeder that hands them to the pool.
//!
//! ```text
//! FILEs/stdin, :::, ::::, -a ─► arg_sources ─► combine (--colsep, --header,
//!   products, --link) ─► batch (-n, -X, -m…) ─► records ─► feeder ─► template
//! stdin, -a FILE ─► pipe (--pipe: blocks) ─► feeder ─► one job per block, on its stdin
//! ```

pub(crate) mod arg_sources;
pub(crate) mod batch;
pub(crate) mod combine;
pub(crate) mod csv_records;
pub(crate) mod feeder;
pub(crate) mod job_args;
pub(crate) mod pipe;
pub(crate) mod pipeline;
#[cfg(test)]
mod proptests;
pub(crate) mod settings;
pub(crate) mod shuffle;
pub(crate) mod sources;
pub(crate) mod template;
