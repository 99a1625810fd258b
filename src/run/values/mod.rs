//! Leaf modules: the values the command line and the runner share, and their
//! parsers (clap calls them; the runner uses the parsed types). They import
//! nothing from the runner.

pub mod duration;
pub mod size;
pub mod termseq;
