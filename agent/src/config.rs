//! The agent's TOML configuration. Every key has a default; unknown keys and bad values are
//! refused with the file, line and key named.

use crate::dlp_sensor::DlpConfig;
use crate::fim::FimConfig;
use crate::machine::MachineConfig;
use crate::process::ProcessConfig;
use crate::scan::ScanConfig;
use crate::winlog::WinlogConfig;
use anyhow::Result;
use bytesize::ByteSize;
use serde::Deserialize;
use std::path::Path;
use std::time::Duration;

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AgentConfig {
    pub fim: FimConfig,
    pub process: ProcessConfig,
    pub spool: SpoolConfig,
    pub uplink: UplinkConfig,
    pub health: HealthConfig,
    pub scan: ScanConfig,
    pub dlp: DlpConfig,
    pub winlog: WinlogConfig,
    pub machine: MachineConfig,
    pub update: crate::update::UpdateConfig,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SpoolConfig {
    /// Largest the spool may grow while the collector is away; past it the oldest unsent
    /// events are dropped and a gap event records how many.
    pub max_bytes: ByteSize,
}

impl Default for SpoolConfig {
    fn default() -> Self {
        SpoolConfig { max_bytes: ByteSize::mib(512) }
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct UplinkConfig {
    /// Most events in one batch.
    pub batch_max_events: usize,
    /// How often the agent reports its health.
    #[serde(deserialize_with = "duration")]
    pub heartbeat_interval: Duration,
}

impl Default for UplinkConfig {
    fn default() -> Self {
        UplinkConfig { batch_max_events: 2000, heartbeat_interval: Duration::from_secs(30) }
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HealthConfig {
    /// How far the wall clock may move against the monotonic clock between two checks before a
    /// clock-jump event is recorded. NTP steps a drifted clock by seconds; someone backdating
    /// the machine to hide activity moves it by minutes to days.
    #[serde(deserialize_with = "duration")]
    pub clock_jump_tolerance: Duration,
}

impl Default for HealthConfig {
    fn default() -> Self {
        HealthConfig { clock_jump_tolerance: Duration::from_secs(120) }
    }
}

pub(crate) fn duration<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let s = String::deserialize(d)?;
    humantime::parse_duration(&s)
        .map_err(|e| serde::de::Error::custom(format!("{s:?} is not a duration like \"30s\" ({e})")))
}

impl AgentConfig {
    /// Reads and validates a config file.
    pub fn load(path: &Path) -> Result<AgentConfig> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("cannot read config file {}: {e}", path.display()))?;
        AgentConfig::parse(&text).map_err(|e| anyhow::anyhow!("bad config file {}, {e}", path.display()))
    }

    /// Parses config text; errors name the line and key.
    pub fn parse(text: &str) -> Result<AgentConfig, String> {
        let config: AgentConfig = toml::from_str(text).map_err(|e| describe(text, &e))?;
        if config.uplink.batch_max_events == 0 || config.uplink.batch_max_events > 65_536 {
            return Err("key \"uplink.batch_max_events\": must be between 1 and 65536".into());
        }
        if config.spool.max_bytes.as_u64() < 1024 * 1024 {
            return Err("key \"spool.max_bytes\": must be at least 1MiB".into());
        }
        // Below a second, scheduling delay between reading the two clocks would pass for a jump.
        if config.health.clock_jump_tolerance < Duration::from_secs(1) {
            return Err("key \"health.clock_jump_tolerance\": must be at least 1s".into());
        }
        config.scan.validate()?;
        config.dlp.validate()?;
        config.winlog.validate()?;
        Ok(config)
    }
}

fn describe(text: &str, e: &toml::de::Error) -> String {
    let message = e.message().trim().to_string();
    let Some(span) = e.span() else { return message };
    let start = span.start.min(text.len());
    let line_no = text[..start].matches('\n').count() + 1;
    let line = text.lines().nth(line_no - 1).unwrap_or("");
    let table = text[..start]
        .lines()
        .rev()
        .find_map(|l| l.trim().strip_prefix('[').and_then(|l| l.strip_suffix(']')))
        .map(|t| format!("{}.", t.trim()));
    match line.split_once('=') {
        Some((key, _)) if !line.trim_start().starts_with('[') => {
            format!("line {line_no}, key \"{}{}\": {message}", table.unwrap_or_default(), key.trim())
        }
        _ => format!("line {line_no}: {message}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documented_example_parses() {
        let c = AgentConfig::parse(
            "[fim]\npaths = [\"/srv\"]\nexclude = [\"**/*.tmp\"]\ncritical = [\"/srv/secret/**\"]\nrescan_interval = \"10m\"\n\
             [process]\nenabled = true\n[spool]\nmax_bytes = \"512MiB\"\n[health]\nclock_jump_tolerance = \"5m\"\n",
        )
        .expect("parses");
        assert_eq!(c.spool.max_bytes, ByteSize::mib(512));
        assert_eq!(c.fim.rescan_interval, Duration::from_secs(600));
        assert_eq!(c.health.clock_jump_tolerance, Duration::from_secs(300));
        assert_eq!(AgentConfig::parse("").expect("empty").health.clock_jump_tolerance, Duration::from_secs(120));
    }

    #[test]
    fn the_machine_id_file_is_optional() {
        assert_eq!(AgentConfig::parse("").expect("empty").machine.id_file, None);
        let c = AgentConfig::parse("[machine]\nid_file = \"/etc/image/machine-id\"\n").expect("parses");
        assert_eq!(c.machine.id_file.as_deref(), Some(std::path::Path::new("/etc/image/machine-id")));
        assert!(AgentConfig::parse("[machine]\nid = \"x\"\n").is_err(), "unknown key");
    }

    #[test]
    fn clock_jump_tolerance_is_validated() {
        let e = AgentConfig::parse("[health]\nclock_jump_tolerance = \"500ms\"\n").expect_err("refused");
        assert!(e.contains("health.clock_jump_tolerance") && e.contains("at least 1s"), "{e}");
        let e = AgentConfig::parse("[health]\nclock_jump_tolerance = \"often\"\n").expect_err("refused");
        assert!(e.starts_with("line 2, key \"health.clock_jump_tolerance\""), "{e}");
        let e = AgentConfig::parse("[health]\nclock_jump = \"1m\"\n").expect_err("refused");
        assert!(e.contains("unknown field"), "{e}");
    }

    #[test]
    fn the_scan_section_parses_and_defaults() {
        let c = AgentConfig::parse(
            "[scan]\nyara_rules = [\"/opt/rules\"]\nmax_file_size = \"16MiB\"\ncpu_share = 0.5\ninterval = \"12h\"\n",
        )
        .expect("parses");
        assert_eq!(c.scan.yara_rules, vec![std::path::PathBuf::from("/opt/rules")]);
        assert_eq!(c.scan.max_file_size, ByteSize::mib(16));
        assert_eq!((c.scan.cpu_share, c.scan.interval), (0.5, Duration::from_secs(12 * 3600)));
        let d = AgentConfig::parse("").expect("empty").scan;
        assert_eq!(d.yara_rules, vec![crate::scan::default_rules()]);
        #[cfg(not(windows))]
        assert_eq!(d.yara_rules, vec![std::path::PathBuf::from("/etc/haidang/yara")]);
        assert_eq!((d.max_file_size, d.cpu_share, d.interval), (ByteSize::mib(64), 0.25, Duration::from_secs(86_400)));
    }

    #[test]
    fn bad_scan_values_are_refused_with_the_key() {
        for (text, key, why) in [
            ("[scan]\ncpu_share = 0.0\n", "scan.cpu_share", "more than 0"),
            ("[scan]\ncpu_share = 1.5\n", "scan.cpu_share", "at most 1"),
            ("[scan]\ncpu_share = \"half\"\n", "scan.cpu_share", ""),
            ("[scan]\ninterval = \"10s\"\n", "scan.interval", "at least 1m"),
            ("[scan]\ninterval = \"daily\"\n", "scan.interval", "not a duration"),
            ("[scan]\nmax_file_size = \"2GiB\"\n", "scan.max_file_size", "between"),
            ("[scan]\nmax_file_size = \"0B\"\n", "scan.max_file_size", "between"),
            ("[scan]\nyara = []\n", "scan.yara", "unknown field"),
        ] {
            let e = AgentConfig::parse(text).expect_err(text);
            assert!(e.contains(key) && e.contains(why), "{text}: {e}");
        }
    }

    #[test]
    fn the_dlp_section_parses_and_defaults() {
        // Written as `C:/home` on Windows, where a path needs its drive to be absolute.
        let home = crate::paths::native_glob("/home");
        let c = AgentConfig::parse(&format!(
            "[dlp]\nenabled = true\npolicy = \"/etc/haidang/dlp\"\nremovable_mounts = [\"/mnt/usb*\"]\n\
             share_fstypes = [\"cifs\"]\nat_rest_paths = [\"{home}\"]\nat_rest_interval = \"12h\"\nat_rest_cpu_share = 0.5\n\
             walk_interval = \"5s\"\nvault = \"/var/lib/haidang/vault\"\nremount_readonly = true\n\
             max_file_size = \"32MiB\"\ndocument_timeout = \"10s\"\nmax_quarantine_size = \"1GiB\"\n\
             print = false\ncups_spool = \"/srv/cups\"\n",
        ))
        .expect("parses")
        .dlp;
        assert!(c.enabled && c.remount_readonly && !c.print);
        assert_eq!(c.cups_spool, std::path::PathBuf::from("/srv/cups"));
        assert_eq!(c.policy.as_deref(), Some(std::path::Path::new("/etc/haidang/dlp")));
        assert_eq!((c.removable_mounts.len(), c.share_fstypes.len()), (1, 1));
        assert_eq!((c.at_rest_interval, c.walk_interval), (Duration::from_secs(12 * 3600), Duration::from_secs(5)));
        assert_eq!(c.at_rest_cpu_share, 0.5);
        assert_eq!(c.vault_dir(std::path::Path::new("/s")), std::path::PathBuf::from("/var/lib/haidang/vault"));
        let d = AgentConfig::parse("").expect("empty").dlp;
        assert!(!d.enabled && !d.remount_readonly && d.policy.is_none() && d.at_rest_paths.is_empty());
        assert_eq!(d.removable_mounts, vec!["/media/**".to_string(), "/run/media/**".to_string()]);
        assert_eq!(d.share_fstypes, ["cifs", "smb3", "nfs", "nfs4", "fuse.sshfs", "fuse.smbnetfs", "remote"]);
        assert_eq!(d.vault_dir(std::path::Path::new("/s")), std::path::PathBuf::from("/s/vault"));
        assert!(d.print && d.cups_spool == std::path::Path::new("/var/spool/cups"));
        assert_eq!(d.at_rest_cpu_share, 0.25);
    }

    #[test]
    fn bad_dlp_values_are_refused_with_the_key() {
        for (text, start, why) in [
            ("[dlp]\nenabled = \"yes\"\n", "line 2, key \"dlp.enabled\"", "invalid type"),
            ("[dlp]\n\nwalk_interval = \"often\"\n", "line 3, key \"dlp.walk_interval\"", "not a duration"),
            ("[dlp]\nremovable = []\n", "line 2, key \"dlp.removable\"", "unknown field"),
            ("[dlp]\nat_rest_interval = \"10s\"\n", "key \"dlp.at_rest_interval\"", "at least 1m"),
            ("[dlp]\nwalk_interval = \"100ms\"\n", "key \"dlp.walk_interval\"", "at least 1s"),
            ("[dlp]\nat_rest_cpu_share = 0.0\n", "key \"dlp.at_rest_cpu_share\"", "more than 0"),
            ("[dlp]\nat_rest_cpu_share = 1.5\n", "key \"dlp.at_rest_cpu_share\"", "at most 1"),
            ("[dlp]\nremovable_mounts = [\"/media/[\"]\n", "key \"dlp.removable_mounts\"", "not a glob"),
            ("[dlp]\nat_rest_paths = [\"home\"]\n", "key \"dlp.at_rest_paths\"", "not an absolute path"),
            ("[dlp]\ncups_spool = \"spool\"\n", "key \"dlp.cups_spool\"", "absolute path"),
            ("[dlp]\nmax_file_size = \"0B\"\n", "key \"dlp.max_file_size\"", "between"),
        ] {
            // CUPS exists only on Unix; Windows ignores the key.
            if cfg!(windows) && start.contains("cups_spool") {
                continue;
            }
            let e = AgentConfig::parse(text).expect_err(text);
            assert!(e.starts_with(start) && e.contains(why), "{text}: {e}");
        }
    }

    #[test]
    fn errors_name_line_and_key() {
        let e =
            AgentConfig::parse("[fim]\npaths = [\"/srv\"]\n\n[spool]\nmax_bytes = \"lots\"\n").expect_err("refused");
        assert!(e.starts_with("line 5, key \"spool.max_bytes\""), "{e}");
        let e = AgentConfig::parse("[fim]\npathz = []\n").expect_err("refused");
        assert!(e.contains("line 2") && e.contains("fim.pathz") && e.contains("unknown field"), "{e}");
    }
}
