//! The parts of `haidang-loadgen`, one concern a module.
//!
//! - [`collector`]: the collector under test, through its admin API, `/metrics` and `/proc`;
//! - [`events`]: realistic file and process events (Vietnamese paths and command lines);
//! - [`sim`]: simulated agents that enroll, connect and stream exactly as a real agent does;
//! - [`stats`]: percentiles and the figures a run reports.

pub(crate) mod collector;
pub(crate) mod events;
pub(crate) mod sim;
pub(crate) mod stats;
