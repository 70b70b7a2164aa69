//! The Hải Đăng collector: authenticates agents, verifies and stores their signed event
//! batches exactly once, correlates them against Sigma rules into alerts, and serves the admin API and metrics.

pub mod admin;
pub mod api;
pub mod backlog;
pub mod ca;
pub mod clones;
pub mod correlate;
pub mod fleet;
pub mod gate;
pub mod http;
pub mod hunt;
pub mod ingest;
pub mod limits;
pub mod logging;
pub mod metrics;
pub mod quic;
pub mod release;
pub mod rulecheck;
pub mod serve;
pub mod store;
pub mod throttle;
pub mod tokens;
pub mod verify;
