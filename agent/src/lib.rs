//! The Hải Đăng endpoint agent: sensors record observations into a durable spool, and the
//! uplink streams signed batches of them to the collector over QUIC.

pub mod config;
pub mod dlp_sensor;
pub mod enroll;
#[cfg(target_os = "linux")]
mod fanotify_read;
pub mod fim;
pub mod health;
pub mod heap;
pub mod lifecycle;
pub mod machine;
pub mod net;
pub mod paths;
#[cfg(windows)]
mod plain_udp;
#[cfg(target_os = "linux")]
mod privilege;
pub mod process;
pub mod run;
pub mod scan;
#[cfg(windows)]
pub mod service;
pub mod spool;
pub mod state;
pub mod status;
pub mod tls;
pub mod update;
pub mod uplink;
pub mod version;
pub mod winlog;
