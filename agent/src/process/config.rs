//! The `[process]` section of the agent configuration.

use serde::{Deserialize, Deserializer};
use std::time::Duration;

/// Settings of the process sensor.
///
/// ```toml
/// [process]
/// enabled = true        # watch process starts and exits
/// poll_interval = "1s"  # how often the polling backend diffs the process table
/// ```
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProcessConfig {
    /// Whether the process sensor runs at all. Default: true.
    pub enabled: bool,
    /// How often the polling backend (used when the netlink connector is unavailable)
    /// compares the process table with the previous one; processes that live shorter than
    /// this may go unseen. Default: 1 s. Written like "1s" or "500ms".
    #[serde(deserialize_with = "positive_duration")]
    pub poll_interval: Duration,
}

impl Default for ProcessConfig {
    fn default() -> ProcessConfig {
        ProcessConfig { enabled: true, poll_interval: Duration::from_secs(1) }
    }
}

fn positive_duration<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
    use serde::de::Error;
    let text = String::deserialize(deserializer)?;
    let duration = humantime::parse_duration(&text)
        .map_err(|e| D::Error::custom(format!("{text:?} is not a duration like \"1s\" or \"500ms\" ({e})")))?;
    if duration.is_zero() {
        return Err(D::Error::custom("must be longer than zero, e.g. \"1s\""));
    }
    Ok(duration)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    struct File {
        process: ProcessConfig,
    }

    fn parse(text: &str) -> Result<ProcessConfig, String> {
        toml::from_str::<File>(text).map(|f| f.process).map_err(|e| e.to_string())
    }

    #[test]
    fn defaults_and_overrides() {
        let default = parse("[process]\n").expect("empty section");
        assert!(default.enabled);
        assert_eq!(default.poll_interval, Duration::from_secs(1));
        let set = parse("[process]\nenabled = false\npoll_interval = \"250ms\"\n").expect("valid");
        assert!(!set.enabled);
        assert_eq!(set.poll_interval, Duration::from_millis(250));
    }

    #[test]
    fn bad_values_name_the_key_and_line() {
        let err = parse("[process]\n\npoll_interval = \"soon\"\n").expect_err("bad duration");
        assert!(err.contains("line 3") && err.contains("poll_interval") && err.contains("soon"), "{err}");
        let err = parse("[process]\npoll_interval = \"0s\"\n").expect_err("zero");
        assert!(err.contains("longer than zero"), "{err}");
        let err = parse("[process]\nenable = true\n").expect_err("typo");
        assert!(err.contains("unknown field `enable`"), "{err}");
    }
}
