//! Leaf modules: the values the command line and the runner share, and their
//! parsers (clap calls them; the runner uses the parsed types). They import
//! nothing from the runner.

pub(crate) mod duration;
pub(crate) mod halt_spec;
pub(crate) mod jobs_spec;
pub(crate) mod size;
pub(crate) mod termseq;
