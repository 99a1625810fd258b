//! Where jobs come from: the input sources, the templates that turn records into
//! commands, and the feeder that hands them to the pool.

pub(crate) mod feeder;
pub(crate) mod sources;
pub(crate) mod template;
