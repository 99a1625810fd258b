//! The engine of `atp-run`: reading commands, running them as tasks on the pool,
//! and reporting what happened.
