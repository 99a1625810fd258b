//! Where jobs come from: the input sources, and the templates that turn records
//! into commands.

pub mod sources;
pub mod template;
