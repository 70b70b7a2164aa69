//! The collector's side of updates: what it offers an agent, the package bytes it serves, and
//! the re-signing of `timestamp.json` with the online timestamp key.
//!
//! The collector verifies nothing for the agents' sake (they verify against their pinned
//! root); it only refuses to serve names outside its release directory.

use super::rollout::Rollouts;
use super::{METADATA_DIR, TARGETS_DIR, TIMESTAMP_KEY_FILE, latest_root, latest_versioned};
use crate::store::records::AgentRecord;
use anyhow::{Context, Result};
use haidang_proto::update::{MAX_CHUNK_BYTES, MAX_METADATA_BYTES, MetadataFile, Offer, check_name};
use std::io::{Read, Seek, SeekFrom};
use std::num::NonZeroU64;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tough::editor::signed::SignedRole;
use tough::key_source::{KeySource, LocalKeySource};
use tough::schema::{KeyHolder, Root, Signed, Timestamp};

pub struct Releases {
    dir: PathBuf,
    /// How long a timestamp the collector signs stays valid; it re-signs at half of that.
    timestamp_ttl: Duration,
    /// One re-signing at a time.
    resign: tokio::sync::Mutex<()>,
}

impl Releases {
    pub fn new(dir: PathBuf, timestamp_ttl: Duration) -> Releases {
        Releases { dir, timestamp_ttl, resign: tokio::sync::Mutex::new(()) }
    }

    /// The offer to one agent: the version staged for its group and bucket, and the
    /// repository's current metadata (every root, so an agent can walk a key rotation).
    pub async fn offer(&self, agent: &AgentRecord) -> Result<Offer> {
        if let Err(e) = self.refresh_timestamp().await {
            tracing::warn!(error = %format!("{e:#}"), "cannot re-sign the release timestamp; serving the one there is");
        }
        let dir = self.dir.clone();
        let (id, group) = (agent.id, agent.group.clone());
        tokio::task::spawn_blocking(move || {
            let metadata = current_metadata(&dir.join(METADATA_DIR))?;
            let version = Rollouts::load(&dir)?.offered(&group, id).map(str::to_string);
            Ok(Offer { version, metadata })
        })
        .await?
    }

    /// Up to [`MAX_CHUNK_BYTES`] of the package stored as `name`, from `offset`.
    pub async fn chunk(&self, name: &str, offset: u64) -> Result<Vec<u8>> {
        check_name(name)?;
        let path = self.dir.join(TARGETS_DIR).join(name);
        tokio::task::spawn_blocking(move || {
            let mut file = std::fs::File::open(&path).with_context(|| format!("no package {}", path.display()))?;
            file.seek(SeekFrom::Start(offset))?;
            let mut buf = Vec::with_capacity(MAX_CHUNK_BYTES);
            file.take(MAX_CHUNK_BYTES as u64).read_to_end(&mut buf)?;
            Ok(buf)
        })
        .await?
    }

    /// Re-signs `timestamp.json` with the online key (if the release directory has one the root
    /// trusts) once less than half of its validity is left.
    async fn refresh_timestamp(&self) -> Result<()> {
        let key_path = self.dir.join(TIMESTAMP_KEY_FILE);
        let metadata = self.dir.join(METADATA_DIR);
        if !key_path.exists() {
            return Ok(());
        }
        let _one = self.resign.lock().await;
        let Some((_, root_path)) = latest_root(&metadata)? else { return Ok(()) };
        let timestamp_path = metadata.join("timestamp.json");
        let Ok(current) = std::fs::read(&timestamp_path) else { return Ok(()) };
        let current: Signed<Timestamp> = serde_json::from_slice(&current).context("timestamp.json is unreadable")?;
        let ttl = jiff::SignedDuration::try_from(self.timestamp_ttl)?;
        let now = jiff::Timestamp::now();
        if current.signed.expires.duration_since(now) > ttl / 2 {
            return Ok(());
        }
        let root: Signed<Root> = serde_json::from_slice(&std::fs::read(&root_path)?).context("root is unreadable")?;
        let mut next = current.signed;
        next.version = next.version.checked_add(1).context("timestamp version overflow")?;
        next.expires = now.checked_add(ttl)?;
        let keys: [Box<dyn KeySource>; 1] = [Box::new(LocalKeySource { path: key_path })];
        let rng = aws_lc_rs::rand::SystemRandom::new();
        let signed = SignedRole::new(next, &KeyHolder::Root(root.signed), &keys, &rng)
            .await
            .context("the root does not trust the collector's timestamp key")?;
        let tmp = metadata.join("timestamp.json.tmp");
        std::fs::write(&tmp, signed.buffer())?;
        std::fs::rename(&tmp, &timestamp_path)?;
        tracing::info!(version = signed.signed().signed.version.get(), "release timestamp re-signed");
        Ok(())
    }
}

/// Every root, the timestamp, and the newest snapshot and targets.
fn current_metadata(metadata: &Path) -> Result<Vec<MetadataFile>> {
    let mut names = Vec::new();
    if metadata.exists() {
        for entry in std::fs::read_dir(metadata)? {
            let name = entry?.file_name().to_string_lossy().into_owned();
            if name.ends_with(".root.json") && name.split('.').next().is_some_and(|v| v.parse::<NonZeroU64>().is_ok()) {
                names.push(name);
            }
        }
    }
    for role in ["snapshot", "targets"] {
        if let Some((_, path)) = latest_versioned(metadata, role)? {
            names.extend(path.file_name().map(|n| n.to_string_lossy().into_owned()));
        }
    }
    if metadata.join("timestamp.json").exists() {
        names.push("timestamp.json".into());
    }
    let mut files = Vec::with_capacity(names.len());
    for name in names {
        let bytes = std::fs::read(metadata.join(&name))?;
        if bytes.len() > MAX_METADATA_BYTES {
            anyhow::bail!("{name} is over {MAX_METADATA_BYTES} bytes");
        }
        files.push(MetadataFile { name, bytes });
    }
    Ok(files)
}
