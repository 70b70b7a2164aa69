//! The offline side of releases: key generation, the repository's root, and publishing
//! packages. These run where the offline key is (an air-gapped machine, or the collector's host
//! with the key on removable media); they need no running collector.

use super::{METADATA_DIR, TARGETS_DIR, latest_root, latest_versioned};
use anyhow::{Context, Result, bail};
use haidang_proto::update::package_release;
use ring::signature::{Ed25519KeyPair, KeyPair};
use std::collections::HashMap;
use std::num::NonZeroU64;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tough::editor::RepositoryEditor;
use tough::editor::signed::{PathExists, SignedRole};
use tough::key_source::{KeySource, LocalKeySource};
use tough::schema::decoded::{Decoded, Hex};
use tough::schema::key::{Ed25519Key, Ed25519Scheme, Key};
use tough::schema::{Hashes, KeyHolder, RoleKeys, RoleType, Root, Target};
use tough::{ExpirationEnforcement, RepositoryLoader, TargetName};

const SPEC_VERSION: &str = "1.0.0";

/// Writes a new Ed25519 key (PKCS#8 DER, mode 0600) and, beside it as `<file>.pub`, its public
/// half as a TUF key (JSON). Refuses to overwrite a key.
pub fn keygen(out: &Path) -> Result<Key> {
    let pkcs8 = Ed25519KeyPair::generate_pkcs8(&ring::rand::SystemRandom::new())
        .map_err(|_| anyhow::anyhow!("cannot generate a key"))?;
    let pair = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).map_err(|_| anyhow::anyhow!("generated key unusable"))?;
    let key = tuf_key(pair.public_key().as_ref());
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    write_new(out, pkcs8.as_ref(), 0o600)?;
    write_new(&public_path(out), &serde_json::to_vec_pretty(&key)?, 0o644)?;
    Ok(key)
}

fn public_path(key: &Path) -> PathBuf {
    let mut name = key.as_os_str().to_owned();
    name.push(".pub");
    PathBuf::from(name)
}

fn tuf_key(public: &[u8]) -> Key {
    Key::Ed25519 {
        keyval: Ed25519Key { public: public.to_vec().into(), _extra: HashMap::new() },
        scheme: Ed25519Scheme::Ed25519,
        _extra: HashMap::new(),
    }
}

fn write_new(path: &Path, bytes: &[u8], mode: u32) -> Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, mode);
    #[cfg(not(unix))]
    let _ = mode;
    let mut file =
        options.open(path).with_context(|| format!("cannot create {} (is it there already?)", path.display()))?;
    file.write_all(bytes)?;
    file.sync_all()?;
    Ok(())
}

fn key_source(path: &Path) -> Box<dyn KeySource> {
    Box::new(LocalKeySource { path: path.to_path_buf() })
}

async fn public_key(path: &Path) -> Result<Key> {
    let signer =
        key_source(path).as_sign().await.map_err(|e| anyhow::anyhow!("cannot read the key {}: {e}", path.display()))?;
    Ok(signer.tuf_key())
}

fn expiry(after: Duration) -> Result<jiff::Timestamp> {
    let span = jiff::SignedDuration::try_from(after).context("expiry too far")?;
    jiff::Timestamp::now().checked_add(span).context("expiry too far")
}

fn role_keys(ids: Vec<Decoded<Hex>>) -> RoleKeys {
    RoleKeys { keyids: ids, threshold: NonZeroU64::MIN, _extra: HashMap::new() }
}

/// Creates the repository's first root in `repo/metadata`: the offline key for root, targets
/// and snapshot; for timestamp the offline key and, if given, the collector's online key.
pub async fn init_root(
    offline_key: &Path,
    timestamp_public: Option<&Path>,
    repo: &Path,
    expires: Duration,
) -> Result<()> {
    let metadata = repo.join(METADATA_DIR);
    if latest_root(&metadata)?.is_some() {
        bail!("{} already has a root; it is made once per repository", metadata.display());
    }
    let offline = public_key(offline_key).await?;
    let offline_id = offline.key_id()?;
    let mut keys = HashMap::from([(offline_id.clone(), offline)]);
    let mut timestamp_ids = vec![offline_id.clone()];
    if let Some(path) = timestamp_public {
        let text = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
        let online: Key =
            serde_json::from_slice(&text).with_context(|| format!("{} is not a TUF key", path.display()))?;
        let id = online.key_id()?;
        timestamp_ids.push(id.clone());
        keys.insert(id, online);
    }
    let roles = HashMap::from([
        (RoleType::Root, role_keys(vec![offline_id.clone()])),
        (RoleType::Targets, role_keys(vec![offline_id.clone()])),
        (RoleType::Snapshot, role_keys(vec![offline_id])),
        (RoleType::Timestamp, role_keys(timestamp_ids)),
    ]);
    let root = Root {
        spec_version: SPEC_VERSION.into(),
        consistent_snapshot: true,
        version: NonZeroU64::MIN,
        expires: expiry(expires)?,
        keys,
        roles,
        _extra: HashMap::new(),
    };
    let holder = KeyHolder::Root(root.clone());
    let rng = aws_lc_rs::rand::SystemRandom::new();
    let signed = SignedRole::new(root, &holder, &[key_source(offline_key)], &rng).await?;
    signed.write(&metadata, true).await?;
    Ok(())
}

/// How long each role signed by `publish` stays valid.
pub struct Expiries {
    pub targets: Duration,
    pub snapshot: Duration,
    pub timestamp: Duration,
}

/// A package recorded by `publish`.
pub struct Published {
    pub name: String,
    pub platform: &'static str,
    pub version: String,
    pub length: u64,
    pub sha256: String,
    pub blake3: String,
}

/// Adds packages to the repository's targets and re-signs targets, snapshot and timestamp
/// with the offline key, each with a version one above the last.
pub async fn publish(
    offline_key: &Path,
    repo: &Path,
    packages: &[PathBuf],
    expiries: &Expiries,
) -> Result<Vec<Published>> {
    let metadata = repo.join(METADATA_DIR);
    let targets_dir = repo.join(TARGETS_DIR);
    let (_, root_path) = latest_root(&metadata)?
        .with_context(|| format!("{} has no root: run `release init` first", metadata.display()))?;
    let mut editor = match latest_versioned(&metadata, "targets")? {
        None => RepositoryEditor::new(&root_path).await?,
        Some(_) => {
            let root = std::fs::read(&root_path)?;
            // The previous timestamp may well have expired: it is replaced here.
            let current = RepositoryLoader::new(&root, dir_url(&metadata)?, dir_url(&targets_dir)?)
                .expiration_enforcement(ExpirationEnforcement::Unsafe)
                .load()
                .await
                .context("cannot load the repository's current metadata")?;
            let versions = (
                current.targets().signed.version.get(),
                current.snapshot().signed.version.get(),
                current.timestamp().signed.version.get(),
            );
            let mut editor = RepositoryEditor::from_repo(&root_path, current).await?;
            editor
                .targets_version(next(versions.0)?)?
                .snapshot_version(next(versions.1)?)
                .timestamp_version(next(versions.2)?);
            editor
        }
    };
    if latest_versioned(&metadata, "targets")?.is_none() {
        editor.targets_version(NonZeroU64::MIN)?.snapshot_version(NonZeroU64::MIN).timestamp_version(NonZeroU64::MIN);
    }
    editor
        .targets_expires(expiry(expiries.targets)?)?
        .snapshot_expires(expiry(expiries.snapshot)?)
        .timestamp_expires(expiry(expiries.timestamp)?);
    let mut published = Vec::new();
    for path in packages {
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .with_context(|| format!("{} has no usable file name", path.display()))?;
        let (platform, version) = package_release(name).with_context(|| {
            format!("{name} is not an agent package name (haidang-agent_<version>_amd64.deb or haidang-agent-<version>-x64.msi)")
        })?;
        let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
        let sha256 = ring::digest::digest(&ring::digest::SHA256, &bytes);
        let blake3 = blake3::hash(&bytes).to_hex().to_string();
        let custom = HashMap::from([
            ("platform".to_string(), serde_json::Value::from(platform)),
            ("version".to_string(), serde_json::Value::from(version)),
            ("blake3".to_string(), serde_json::Value::from(blake3.clone())),
        ]);
        let target = Target {
            length: bytes.len() as u64,
            hashes: Hashes { sha256: sha256.as_ref().to_vec().into(), _extra: HashMap::new() },
            custom,
            _extra: HashMap::new(),
        };
        editor.add_target(TargetName::new(name)?, target)?;
        published.push(Published {
            name: name.to_string(),
            platform,
            version: version.to_string(),
            length: bytes.len() as u64,
            sha256: hex::encode(sha256.as_ref()),
            blake3,
        });
    }
    let signed = editor.sign(&[key_source(offline_key)]).await.context("cannot sign with the offline key")?;
    std::fs::create_dir_all(&targets_dir)?;
    for path in packages {
        signed.copy_target(path, &targets_dir, PathExists::Replace, None).await?;
    }
    signed.write(&metadata).await?;
    Ok(published)
}

fn next(version: u64) -> Result<NonZeroU64> {
    version.checked_add(1).and_then(NonZeroU64::new).context("metadata version overflow")
}

/// A `file://` URL of a directory, for tough's loader.
pub fn dir_url(dir: &Path) -> Result<url::Url> {
    let absolute = std::path::absolute(dir)?;
    url::Url::from_directory_path(&absolute).map_err(|()| anyhow::anyhow!("{} is not a usable path", dir.display()))
}

/// Fails unless `version` is published (for some platform) in the repository's newest targets.
pub fn require_version(repo: &Path, version: &str) -> Result<()> {
    let metadata = repo.join(METADATA_DIR);
    let (_, path) = latest_versioned(&metadata, "targets")?
        .with_context(|| format!("{} has no release: run `release publish` first", repo.display()))?;
    let targets: tough::schema::Signed<tough::schema::Targets> = serde_json::from_slice(&std::fs::read(&path)?)?;
    let published =
        targets.signed.targets.values().any(|t| t.custom.get("version").and_then(|v| v.as_str()) == Some(version));
    if !published {
        bail!("version {version} is not published in {}", repo.display());
    }
    Ok(())
}
