//! Signed agent updates: a TUF repository (root, targets, snapshot, timestamp) of agent
//! packages, made by the offline `release` commands and served to agents by the collector.
//!
//! Keys: one offline key (kept off the collector, e.g. on removable media) signs root, targets
//! and snapshot; the timestamp role trusts that key and, optionally, an online timestamp key in
//! the collector's release directory, with which the collector re-signs `timestamp.json` before
//! it expires. A thief of the collector therefore holds at most the timestamp key: enough to
//! withhold updates (freeze), never to make an agent install anything the offline key did not
//! sign.
//!
//! The release directory (`<data>/release` for `serve`):
//! `metadata/` (`N.root.json`, `N.targets.json`, `N.snapshot.json`, `timestamp.json`),
//! `targets/` (`<sha256>.<package file name>`), `rollout.json` (which version goes to which
//! group, unsigned: it only chooses among signed releases) and `timestamp.key` (the online key).

pub mod offline;
pub mod rollout;
pub mod server;

use std::path::{Path, PathBuf};

pub const METADATA_DIR: &str = "metadata";
pub const TARGETS_DIR: &str = "targets";
pub const ROLLOUT_FILE: &str = "rollout.json";
pub const TIMESTAMP_KEY_FILE: &str = "timestamp.key";

/// The newest `N.root.json` in a metadata directory, with its version.
pub fn latest_root(metadata: &Path) -> std::io::Result<Option<(u64, PathBuf)>> {
    latest_versioned(metadata, "root")
}

/// The newest `N.<role>.json` in a metadata directory.
pub fn latest_versioned(metadata: &Path, role: &str) -> std::io::Result<Option<(u64, PathBuf)>> {
    let suffix = format!(".{role}.json");
    let mut best: Option<(u64, PathBuf)> = None;
    let entries = match std::fs::read_dir(metadata) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name();
        let Some(version) = name.to_str().and_then(|n| n.strip_suffix(&suffix)).and_then(|v| v.parse::<u64>().ok())
        else {
            continue;
        };
        if best.as_ref().is_none_or(|(b, _)| version > *b) {
            best = Some((version, entry.path()));
        }
    }
    Ok(best)
}
