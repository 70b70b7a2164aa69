//! The `[winlog]` section of the agent configuration.

use serde::Deserialize;

/// Most channels one agent subscribes to: each is a subscription and a thread.
const MAX_CHANNELS: usize = 64;
/// Longest XPath query accepted (Windows' own limit is far above what a filter needs).
const MAX_QUERY_CHARS: usize = 4096;

/// Settings of the Windows event log sensor (Windows only; elsewhere it reports itself off).
///
/// ```toml
/// [winlog]
/// enabled = true
/// start = "now"          # where a channel without a bookmark begins: "now" or "oldest"
/// [[winlog.channels]]
/// name = "Security"
/// query = "*[System[(EventID=4624 or EventID=4688)]]"   # XPath filter; default "*"
/// ```
///
/// Without `[[winlog.channels]]` the agent reads Security, System, Sysmon, PowerShell and
/// Defender. A channel that does not exist (Sysmon not installed) is retried every minute.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WinlogConfig {
    /// Whether the sensor runs. Default: true.
    pub enabled: bool,
    /// Where a channel read for the first time begins. Default: `now`, as a new agent on a
    /// machine with years of logs should not send them all; `oldest` reads what is there.
    pub start: Start,
    pub channels: Vec<ChannelConfig>,
}

/// Where a channel without a bookmark begins.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Start {
    /// Records logged from the start of the subscription on.
    Now,
    /// Every record the channel still holds.
    Oldest,
}

/// One channel and the records of it to read.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChannelConfig {
    /// The channel's name as Event Viewer shows it under "Full Name".
    pub name: String,
    /// An XPath filter (`*[System[(EventID=4688)]]`), or a whole `<QueryList>`. Default `*`.
    #[serde(default = "all_records")]
    pub query: String,
}

fn all_records() -> String {
    "*".to_owned()
}

/// The channels SigmaHQ's Windows rules read most.
const DEFAULT_CHANNELS: &[&str] = &[
    "Security",
    "System",
    "Microsoft-Windows-Sysmon/Operational",
    "Microsoft-Windows-PowerShell/Operational",
    "Microsoft-Windows-Windows Defender/Operational",
];

impl Default for WinlogConfig {
    fn default() -> WinlogConfig {
        let channels =
            DEFAULT_CHANNELS.iter().map(|name| ChannelConfig { name: (*name).to_owned(), query: all_records() });
        WinlogConfig { enabled: true, start: Start::Now, channels: channels.collect() }
    }
}

impl WinlogConfig {
    /// Refuses what Windows would refuse later, naming the key.
    pub fn validate(&self) -> Result<(), String> {
        if self.channels.len() > MAX_CHANNELS {
            return Err(format!("key \"winlog.channels\": at most {MAX_CHANNELS} channels"));
        }
        for (i, channel) in self.channels.iter().enumerate() {
            let name = channel.name.trim();
            if name.is_empty() || name.contains(['\0', '\n']) {
                return Err(format!("key \"winlog.channels[{i}].name\": must name a channel, like \"Security\""));
            }
            if channel.query.trim().is_empty() || channel.query.contains('\0') {
                return Err(format!("key \"winlog.channels[{i}].query\": must be an XPath filter such as \"*\""));
            }
            if channel.query.chars().count() > MAX_QUERY_CHARS {
                return Err(format!("key \"winlog.channels[{i}].query\": longer than {MAX_QUERY_CHARS} characters"));
            }
            if self.channels[..i].iter().any(|c| c.name.eq_ignore_ascii_case(&channel.name)) {
                return Err(format!("key \"winlog.channels[{i}].name\": {:?} is listed twice", channel.name));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    struct File {
        winlog: WinlogConfig,
    }

    fn parse(text: &str) -> Result<WinlogConfig, String> {
        let config = toml::from_str::<File>(text).map(|f| f.winlog).map_err(|e| e.to_string())?;
        config.validate()?;
        Ok(config)
    }

    #[test]
    fn defaults_read_the_channels_sigma_rules_need_from_now_on() {
        let config = parse("[winlog]\n").expect("empty section");
        assert!(config.enabled);
        assert_eq!(config.start, Start::Now);
        let names: Vec<&str> = config.channels.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, DEFAULT_CHANNELS);
        assert!(config.channels.iter().all(|c| c.query == "*"));
    }

    #[test]
    fn channels_and_filters_are_configurable() {
        let config = parse(
            "[winlog]\nstart = \"oldest\"\n[[winlog.channels]]\nname = \"Security\"\n\
             query = \"*[System[(EventID=4624 or EventID=4688)]]\"\n[[winlog.channels]]\nname = \"Application\"\n",
        )
        .expect("valid");
        assert_eq!(config.start, Start::Oldest);
        assert_eq!(
            config.channels,
            vec![
                ChannelConfig { name: "Security".into(), query: "*[System[(EventID=4624 or EventID=4688)]]".into() },
                ChannelConfig { name: "Application".into(), query: "*".into() },
            ]
        );
    }

    #[test]
    fn bad_channels_are_refused_with_the_key() {
        let err = parse("[winlog]\n[[winlog.channels]]\nname = \" \"\n").expect_err("blank");
        assert!(err.contains("winlog.channels[0].name"), "{err}");
        let twice = "[winlog]\n[[winlog.channels]]\nname = \"Security\"\n[[winlog.channels]]\nname = \"security\"\n";
        assert!(parse(twice).expect_err("twice").contains("listed twice"));
        let err = parse("[winlog]\n[[winlog.channels]]\nname = \"System\"\nquery = \"\"\n").expect_err("empty");
        assert!(err.contains("winlog.channels[0].query"), "{err}");
        let err = parse("[winlog]\nstart = \"yesterday\"\n").expect_err("bad start");
        assert!(err.contains("yesterday"), "{err}");
        let err = parse("[winlog]\n[[winlog.channels]]\nnme = \"System\"\n").expect_err("typo");
        assert!(err.contains("nme"), "{err}");
    }
}
