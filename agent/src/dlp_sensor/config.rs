//! The `[dlp]` section of the agent's configuration file: the DLP channels of `haidang-agent
//! run` (removable media, network shares, printing, at rest) and the vault blocked files go to.

use bytesize::ByteSize;
use serde::{Deserialize, Deserializer};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How the running agent applies DLP to the ways data leaves the machine.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DlpConfig {
    /// Turns the channels on.
    pub enabled: bool,
    /// A directory of policy files (`*.yml`); the policy shipped in `dlp/policy` when absent.
    pub policy: Option<PathBuf>,
    /// Mount points that count as removable media whatever the device says (globs on the
    /// whole path; `**` crosses directories). Devices sysfs marks removable count anyway.
    pub removable_mounts: Vec<String>,
    /// Filesystem types that are network shares (as `/proc/self/mountinfo` names them).
    pub share_fstypes: Vec<String>,
    /// Folders scanned on a schedule for data at rest (channel `at_rest`); none by default.
    pub at_rest_paths: Vec<PathBuf>,
    /// Time between at-rest scans (the first one at start). At least 1m.
    #[serde(deserialize_with = "duration")]
    pub at_rest_interval: Duration,
    /// Share of one CPU core the at-rest scan may use, in (0, 1]: after inspecting a file for
    /// `t` (extraction child included), it rests `t * (1 - share) / share`, so a discovery
    /// scan of a whole home directory leaves the desktop usable.
    pub at_rest_cpu_share: f64,
    /// How often mounts that cannot be watched with fanotify (agent not root) are walked for
    /// new and changed files. At least 1s.
    #[serde(deserialize_with = "duration")]
    pub walk_interval: Duration,
    /// Where blocked files are kept, encrypted; `STATE/vault` when absent.
    pub vault: Option<PathBuf>,
    /// After blocking a file on removable media, remount that device read-only.
    pub remount_readonly: bool,
    /// Files larger than this are not inspected ("could not inspect", which policy can block).
    pub max_file_size: ByteSize,
    /// Wall-clock time one document may take to extract.
    #[serde(deserialize_with = "duration")]
    pub document_timeout: Duration,
    /// Largest file the vault takes; a larger blocked file is reported as not quarantined.
    pub max_quarantine_size: ByteSize,
    /// Inspects print jobs (channel `print`): on Linux those in the CUPS spool, when it exists;
    /// on Windows those of the print spooler, on every local printer and printer connection.
    pub print: bool,
    /// The CUPS spool directory (`d<job>-<doc>` data files); not used on Windows.
    pub cups_spool: PathBuf,
}

impl Default for DlpConfig {
    fn default() -> DlpConfig {
        DlpConfig {
            enabled: false,
            policy: None,
            removable_mounts: vec!["/media/**".into(), "/run/media/**".into()],
            // `remote`: a mapped network drive on Windows.
            share_fstypes: ["cifs", "smb3", "nfs", "nfs4", "fuse.sshfs", "fuse.smbnetfs", "remote"]
                .map(String::from)
                .to_vec(),
            at_rest_paths: Vec::new(),
            at_rest_interval: Duration::from_secs(24 * 3600),
            at_rest_cpu_share: 0.25,
            walk_interval: Duration::from_secs(10),
            vault: None,
            remount_readonly: false,
            max_file_size: ByteSize::mib(64),
            document_timeout: Duration::from_secs(30),
            max_quarantine_size: ByteSize::gib(4),
            print: true,
            cups_spool: PathBuf::from("/var/spool/cups"),
        }
    }
}

impl DlpConfig {
    /// Checks what serde cannot express; the message names the key.
    pub fn validate(&self) -> Result<(), String> {
        if self.at_rest_interval < Duration::from_secs(60) {
            return Err("key \"dlp.at_rest_interval\": must be at least 1m".into());
        }
        if !(self.at_rest_cpu_share > 0.0 && self.at_rest_cpu_share <= 1.0) {
            return Err(format!(
                "key \"dlp.at_rest_cpu_share\": {} is not a share of one core: must be more than 0 and at most 1 (0.25 = a quarter of a core)",
                self.at_rest_cpu_share
            ));
        }
        if self.walk_interval < Duration::from_secs(1) {
            return Err("key \"dlp.walk_interval\": must be at least 1s".into());
        }
        if self.document_timeout < Duration::from_secs(1) {
            return Err("key \"dlp.document_timeout\": must be at least 1s".into());
        }
        if self.max_file_size.as_u64() == 0 || self.max_file_size > ByteSize::gib(4) {
            return Err("key \"dlp.max_file_size\": must be between 1B and 4GiB".into());
        }
        if self.max_quarantine_size.as_u64() == 0 {
            return Err("key \"dlp.max_quarantine_size\": must be at least 1B".into());
        }
        if let Err(e) = self.removable_globs() {
            return Err(format!("key \"dlp.removable_mounts\": {e}"));
        }
        // The CUPS spool is a Linux path; a Windows agent has no CUPS, and `/var/spool/cups`
        // is not absolute there (no drive), which would refuse every configuration file.
        if cfg!(unix) && !self.cups_spool.is_absolute() {
            return Err("key \"dlp.cups_spool\": must be an absolute path".into());
        }
        for path in &self.at_rest_paths {
            if !path.is_absolute() {
                return Err(format!("key \"dlp.at_rest_paths\": {} is not an absolute path", path.display()));
            }
        }
        Ok(())
    }

    /// The removable-mount globs, compiled.
    pub fn removable_globs(&self) -> Result<globset::GlobSet, String> {
        let mut set = globset::GlobSetBuilder::new();
        for glob in &self.removable_mounts {
            let glob = globset::GlobBuilder::new(glob)
                .literal_separator(true)
                .build()
                .map_err(|e| format!("{glob:?} is not a glob: {e}"))?;
            set.add(glob);
        }
        set.build().map_err(|e| e.to_string())
    }

    /// The vault directory for an agent whose state directory is `state`.
    pub fn vault_dir(&self, state: &Path) -> PathBuf {
        self.vault.clone().unwrap_or_else(|| state.join("vault"))
    }
}

fn duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let text = String::deserialize(d)?;
    humantime::parse_duration(&text)
        .map_err(|e| serde::de::Error::custom(format!("{text:?} is not a duration such as \"10s\" ({e})")))
}
