//! Where jobs run: the executor boundary and the local process-group executor,
//! with its output capture, registry of running groups and timeouts.

pub mod capture;
pub mod fdlimit;
pub mod local;
pub mod pump;
pub mod registry;
pub mod timeout;
