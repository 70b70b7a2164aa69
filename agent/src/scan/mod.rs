//! Malware scanning with YARA rules, for the agent's background scanner and for
//! `haidang-agent scan`. The engine (rule loading, the compiled-rule cache, the scanner) is the
//! `haidang-yara` crate; this module is the agent's use of it:
//!
//! - [`throttle`]: keeping a background scan (this one, or DLP's at-rest scan) to a share of
//!   one core;
//! - `yara`: what the rest of the agent asks of YARA — the background task, scanning what FIM
//!   reports new or modified and, on a schedule, everything FIM watches, recording matches as
//!   `EventBody::Malware`; and the YARA engine of the `scan` command;
//! - [`cli`]: `haidang-agent scan`, with YARA, DLP or both.
//!
//! YARA is the cargo feature `yara` (on by default). Without it `yara` is
//! `not_built_in.rs`: the same functions, saying YARA is not built in wherever it is asked
//! for; the configuration and the command line are the same either way.

pub mod cli;
mod config;
pub mod throttle;
#[cfg_attr(not(feature = "yara"), path = "not_built_in.rs")]
mod yara;

pub use config::{ScanConfig, default_rules};
pub use yara::start_background;
