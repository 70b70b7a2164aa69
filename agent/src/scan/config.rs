//! The `[scan]` section of the agent's configuration file: YARA malware scanning.

use bytesize::ByteSize;
use serde::{Deserialize, Deserializer};
use std::path::PathBuf;
use std::time::Duration;

/// Largest accepted `max_file_size`: a file is read whole into memory to be scanned, and the
/// agent must stay small on a desktop.
pub(super) const MAX_FILE_SIZE_LIMIT: ByteSize = ByteSize::gib(1);

/// How the agent scans the files it watches with YARA rules.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ScanConfig {
    /// Rule files (`*.yar`, `*.yara`) or directories of them, read recursively. An empty list
    /// turns scanning off.
    pub yara_rules: Vec<PathBuf>,
    /// Files larger than this are not scanned (and that is reported, never silent).
    pub max_file_size: ByteSize,
    /// Share of one CPU core the background scanner may use, in (0, 1]: after a scan that took
    /// `t`, it rests `t * (1 - share) / share`.
    #[serde(deserialize_with = "cpu_share")]
    pub cpu_share: f64,
    /// Time between full scans of the FIM paths; new and modified files are scanned as FIM
    /// reports them. Written like `"24h"`.
    #[serde(deserialize_with = "interval")]
    pub interval: Duration,
}

impl Default for ScanConfig {
    fn default() -> ScanConfig {
        ScanConfig {
            yara_rules: vec![default_rules()],
            max_file_size: ByteSize::mib(64),
            cpu_share: 0.25,
            interval: Duration::from_secs(24 * 3600),
        }
    }
}

/// Where the packages put the shipped rules: `/etc/haidang/yara` (DEB),
/// `%ProgramData%\\HaiDang\\yara` (MSI).
#[cfg(windows)]
pub fn default_rules() -> PathBuf {
    crate::state::program_data().join("yara")
}

/// Where the packages put the shipped rules: `/etc/haidang/yara` (DEB),
/// `%ProgramData%\\HaiDang\\yara` (MSI).
#[cfg(not(windows))]
pub fn default_rules() -> PathBuf {
    PathBuf::from("/etc/haidang/yara")
}

impl ScanConfig {
    /// Whether the rules are the default ones and not there: an agent run without its
    /// package, with nothing to scan for, rather than a configuration to correct.
    pub fn default_rules_missing(&self) -> bool {
        self.yara_rules == [default_rules()] && !self.yara_rules[0].exists()
    }

    /// Checks what serde cannot express; the message names the key.
    pub fn validate(&self) -> Result<(), String> {
        if self.max_file_size.as_u64() == 0 || self.max_file_size > MAX_FILE_SIZE_LIMIT {
            return Err(format!("key \"scan.max_file_size\": must be between 1B and {MAX_FILE_SIZE_LIMIT}"));
        }
        Ok(())
    }
}

fn cpu_share<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    let share = f64::deserialize(d)?;
    if !(share > 0.0 && share <= 1.0) {
        return Err(serde::de::Error::custom(format!(
            "{share} is not a share of one core: must be more than 0 and at most 1 (0.25 = a quarter of a core)"
        )));
    }
    Ok(share)
}

fn interval<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let text = String::deserialize(d)?;
    let interval = humantime::parse_duration(&text)
        .map_err(|e| serde::de::Error::custom(format!("{text:?} is not a duration such as \"24h\" ({e})")))?;
    // Shorter than this, the full scan would never rest on a tree of any size.
    if interval < Duration::from_secs(60) {
        return Err(serde::de::Error::custom("interval must be at least 1m"));
    }
    Ok(interval)
}
