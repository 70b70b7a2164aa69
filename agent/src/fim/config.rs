//! The `[fim]` section of the agent's configuration file.

use serde::{Deserialize, Deserializer};
use std::path::PathBuf;
use std::time::Duration;

/// How often a full rescan runs when the configuration does not say.
pub(super) const DEFAULT_RESCAN: Duration = Duration::from_secs(10 * 60);

/// What the file-integrity monitor watches and how.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FimConfig {
    /// Directories (or single files) watched recursively. Symbolic links inside them are
    /// recorded but never followed.
    pub paths: Vec<PathBuf>,
    /// Globs of paths to ignore, for events and for the baseline. A glob is matched against
    /// the full path; one without a `/` (such as `*.tmp`) matches a file name anywhere.
    pub exclude: Vec<String>,
    /// Globs of paths whose changes are marked critical (and so raise an alert at the
    /// collector). Matched like `exclude`.
    pub critical: Vec<String>,
    /// Globs of covered paths whose content is never read: they are reported when they
    /// appear, go, or change size, times, attributes or owner, but not hashed. For files the
    /// system keeps open and rewrites all the time (the registry hives under
    /// `System32\config`). Matched like `exclude`.
    pub metadata_only: Vec<String>,
    /// Time between full rescans, which reconcile anything real-time notification missed;
    /// written like `"10m"` or `"1h 30m"`.
    #[serde(deserialize_with = "human_duration")]
    pub rescan_interval: Duration,
}

impl Default for FimConfig {
    /// On Linux nothing is watched unless configured. On Windows the endpoint's usual
    /// persistence and tampering points are (see `windows_defaults.rs`).
    fn default() -> FimConfig {
        #[cfg(windows)]
        let default = super::windows_defaults::endpoint();
        #[cfg(not(windows))]
        let default = FimConfig {
            paths: Vec::new(),
            exclude: Vec::new(),
            critical: Vec::new(),
            metadata_only: Vec::new(),
            rescan_interval: DEFAULT_RESCAN,
        };
        default
    }
}

fn human_duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let text = String::deserialize(d)?;
    let interval = humantime::parse_duration(&text)
        .map_err(|e| serde::de::Error::custom(format!("{text:?} is not a duration such as \"10m\" ({e})")))?;
    if interval.is_zero() {
        return Err(serde::de::Error::custom("rescan_interval must be longer than zero"));
    }
    Ok(interval)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    struct File {
        fim: FimConfig,
    }

    #[test]
    fn parses_the_documented_keys() {
        let f: File = toml::from_str(
            "[fim]\npaths = [\"/srv\"]\nexclude = [\"**/*.tmp\"]\ncritical = [\"/srv/secret/**\"]\nrescan_interval = \"90s\"\n",
        )
        .expect("valid config");
        assert_eq!(f.fim.paths, vec![PathBuf::from("/srv")]);
        assert_eq!(f.fim.exclude, vec!["**/*.tmp".to_owned()]);
        assert_eq!(f.fim.rescan_interval, Duration::from_secs(90));
    }

    #[test]
    fn defaults_to_a_ten_minute_rescan() {
        let f: File = toml::from_str("[fim]\npaths = [\"/srv\"]\n").expect("valid config");
        assert_eq!(f.fim.rescan_interval, Duration::from_secs(600));
        assert_eq!(f.fim.exclude, FimConfig::default().exclude);
    }

    #[test]
    fn refuses_bad_durations_and_unknown_keys() {
        let err = toml::from_str::<File>("[fim]\nrescan_interval = \"soon\"\n").err().map(|e| e.to_string());
        assert!(err.is_some_and(|e| e.contains("rescan_interval") || e.contains("soon")));
        assert!(toml::from_str::<File>("[fim]\nrescan_interval = \"0s\"\n").is_err());
        assert!(toml::from_str::<File>("[fim]\npath = [\"/srv\"]\n").is_err());
    }
}
