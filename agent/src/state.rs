//! The agent's state directory: identity (key, certificates), spool, baseline, status, and
//! the clean-shutdown marker.

use anyhow::{Context, Result};
use haidang_proto::AgentId;
use ring::signature::Ed25519KeyPair;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

const IDENTITY: &str = "agent.json";
const KEY: &str = "agent.key";
const CERT: &str = "agent.crt.der";
const CA: &str = "ca.crt.der";

/// Who this agent is and where its collector is.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Identity {
    pub agent_id: String,
    pub server: String,
    pub group: String,
    pub ca_fingerprint: String,
    pub enrolled_at: String,
    /// The fingerprint (hex) of the machine this identity belongs to, recorded by the first
    /// `run` (see `machine`); absent in state from before fingerprints were recorded, until
    /// its next run. A copy of the directory on another machine keeps it, and so knows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub machine: Option<String>,
}

pub struct State {
    pub root: PathBuf,
}

/// Everything the agent needs to connect, loaded from the state directory.
pub struct Credentials {
    pub identity: Identity,
    pub agent_id: AgentId,
    /// PKCS#8 of the Ed25519 key (TLS client key and batch signing key).
    pub key_pkcs8: Vec<u8>,
    pub key: Ed25519KeyPair,
    pub cert: Vec<u8>,
    pub ca: Vec<u8>,
}

/// `%ProgramData%\\HaiDang`, where the MSI puts what the agent reads and writes (its state,
/// the shipped YARA rules).
#[cfg(windows)]
pub fn program_data() -> PathBuf {
    // An unset or relative ProgramData (a stripped environment) falls back to where Windows
    // puts it, rather than to a directory relative to wherever the agent started.
    let program_data = std::env::var_os("ProgramData")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .unwrap_or_else(|| PathBuf::from(r"C:\ProgramData"));
    program_data.join("HaiDang")
}

impl State {
    pub fn new(root: &Path) -> State {
        State { root: root.to_path_buf() }
    }

    /// Where a Windows agent keeps its state when `--state` is not given:
    /// `%ProgramData%\HaiDang\agent`, the machine-wide data folder a service running as
    /// LocalSystem owns. [`State::create_dir`] gives it the protected access control list of
    /// `haidang-private` (SYSTEM and Administrators only). On Linux `--state` is always
    /// given (packaging passes `/var/lib/haidang-agent`).
    #[cfg(windows)]
    pub fn default_root() -> PathBuf {
        program_data().join("agent")
    }

    pub fn spool_path(&self) -> PathBuf {
        self.root.join("spool.redb")
    }

    pub fn baseline_path(&self) -> PathBuf {
        self.root.join("baseline.redb")
    }

    /// Where the YARA rules, once compiled, are kept for the next start.
    pub fn yara_rules_cache(&self) -> PathBuf {
        self.root.join("yara-rules")
    }

    pub fn status_path(&self) -> PathBuf {
        self.root.join("status.json")
    }

    /// Present only between a clean shutdown and the next start (see `lifecycle`).
    pub fn clean_shutdown_path(&self) -> PathBuf {
        self.root.join("clean-shutdown")
    }

    pub fn is_enrolled(&self) -> bool {
        self.root.join(IDENTITY).exists()
    }

    /// Creates the state directory (0700) if it is missing, and tightens it and everything in
    /// it that group or others can access (directories to 0700, files to 0600), with a log
    /// line per path: it holds the agent's private key and its unsent events, and a directory
    /// made beforehand (`install -d`) is 0755. What cannot be tightened stops the agent.
    pub fn create_dir(&self) -> Result<()> {
        haidang_private::secure_dir(&self.root, "state directory")
    }

    pub fn save(&self, identity: &Identity, key_pkcs8: &[u8], cert: &[u8], ca: &[u8]) -> Result<()> {
        write_private(&self.root.join(KEY), key_pkcs8)?;
        write_private(&self.root.join(CERT), cert)?;
        write_private(&self.root.join(CA), ca)?;
        // Written last: its presence means enrollment completed.
        write_private(&self.root.join(IDENTITY), &serde_json::to_vec_pretty(identity)?)
    }

    /// Rewrites the identity alone (to record its machine).
    pub fn save_identity(&self, identity: &Identity) -> Result<()> {
        write_private(&self.root.join(IDENTITY), &serde_json::to_vec_pretty(identity)?)
    }

    pub fn identity(&self) -> Result<Identity> {
        let path = self.root.join(IDENTITY);
        let bytes = std::fs::read(&path).map_err(|_| {
            anyhow::anyhow!(
                "{} is not an enrolled agent's state directory: run `haidang-agent enroll --state {}` first",
                self.root.display(),
                self.root.display()
            )
        })?;
        serde_json::from_slice(&bytes).with_context(|| format!("{} is corrupt", path.display()))
    }

    pub fn credentials(&self) -> Result<Credentials> {
        let identity = self.identity()?;
        let agent_id = identity.agent_id.parse().map_err(anyhow::Error::msg)?;
        let read = |name: &str| {
            std::fs::read(self.root.join(name))
                .with_context(|| format!("cannot read {}", self.root.join(name).display()))
        };
        let key_pkcs8 = read(KEY)?;
        let key = Ed25519KeyPair::from_pkcs8(&key_pkcs8)
            .map_err(|_| anyhow::anyhow!("the agent key in {} is corrupt", self.root.display()))?;
        Ok(Credentials { identity, agent_id, key_pkcs8, key, cert: read(CERT)?, ca: read(CA)? })
    }
}

/// Writes a file only the agent's user can read, durably.
pub fn write_private(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let tmp = path.with_extension("tmp");
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(&tmp).with_context(|| format!("cannot write {}", tmp.display()))?;
    f.write_all(bytes)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))
}
