//! Malware scanning with YARA rules (yara-x), for the agent's background scanner and for
//! `haidang-agent scan`.
//!
//! - [`rules`]: compiling rule files one by one into one rule set, with a report of every
//!   file or rule that could not be used;
//! - [`rule_cache`]: compiled rules kept on disk, so they are compiled once, not at every start,
//!   in the frame of [`cache_file`];
//! - [`externals`]: the per-file external variables public rule sets test (`filename`,
//!   `filepath`, `extension`, `filetype`, `owner`);
//! - [`scanner`]: scanning one file or buffer, with a size cap and a timeout;
//! - [`cache`]: results by content hash, so unchanged content is not scanned again;
//! - [`throttle`]: keeping a background scan (this one, or DLP's at-rest scan) to a share of
//!   one core;
//! - [`background`]: the agent's task, scanning what FIM reports new or modified and, on a
//!   schedule, everything FIM watches, recording matches as `EventBody::Malware`;
//! - [`cli`]: `haidang-agent scan`.
//!
//! YARA is the cargo feature `yara` (on by default). Without it everything but the
//! configuration and the command line is left out, and both say YARA is not built in.

#[cfg(feature = "yara")]
pub mod background;
#[cfg(feature = "yara")]
pub mod cache;
pub mod cache_file;
pub mod cli;
mod config;
#[cfg(feature = "yara")]
pub mod externals;
#[cfg(feature = "yara")]
pub mod rule_cache;
#[cfg(feature = "yara")]
pub mod rules;
#[cfg(feature = "yara")]
pub mod scanner;
pub mod throttle;

pub use config::ScanConfig;
#[cfg(feature = "yara")]
pub use {
    cache::ScanCache,
    rule_cache::{Origin, RuleCache},
    rules::{LoadReport, RuleProblem, RuleSources, Rules},
    scanner::{Scan, ScanError, Scanner},
};

/// Said wherever YARA is asked for in an agent built without it.
#[cfg(not(feature = "yara"))]
pub const NOT_BUILT_IN: &str = "this haidang-agent was built without YARA support (cargo feature \"yara\"); install a build with it to scan for malware";

/// One rule matching one file.
#[cfg(feature = "yara")]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Match {
    pub rule: String,
    pub namespace: String,
    pub tags: Vec<String>,
    pub path: std::path::PathBuf,
    /// SHA-256 of the content that matched.
    pub sha256: haidang_proto::Hash32,
}

#[cfg(feature = "yara")]
impl Match {
    /// The event the agent records for this match.
    pub fn to_event(&self) -> haidang_proto::event::MalwareMatch {
        haidang_proto::event::MalwareMatch {
            rule: self.rule.clone(),
            namespace: self.namespace.clone(),
            tags: self.tags.clone(),
            path: haidang_proto::Text::from(self.path.as_path()),
            sha256: Some(self.sha256),
        }
    }
}

#[cfg(all(test, feature = "yara"))]
mod tests;
