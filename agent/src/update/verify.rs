//! Verifying what the collector offers against the pinned root, with tough (TUF): signatures
//! and thresholds of every role, expiry, versions never going back (tough's datastore keeps the
//! last timestamp and snapshot seen), and the package's length and SHA-256 against `targets`.

use anyhow::{Context, Result};
use haidang_proto::update::MetadataFile;
use std::path::{Path, PathBuf};
use tough::{Limits, Repository, RepositoryLoader, TargetName};

/// The tough limits: the collector bounds each metadata file by the same 1 MiB.
const LIMITS: Limits = Limits {
    max_root_size: haidang_proto::update::MAX_METADATA_BYTES as u64,
    max_targets_size: haidang_proto::update::MAX_METADATA_BYTES as u64,
    max_timestamp_size: haidang_proto::update::MAX_METADATA_BYTES as u64,
    max_snapshot_size: haidang_proto::update::MAX_METADATA_BYTES as u64,
    max_root_updates: 64,
};

/// A signed release of one platform, as the verified `targets` role describes it.
#[derive(Clone, Debug)]
pub struct Release {
    pub name: TargetName,
    pub version: String,
    pub length: u64,
    /// The name the repository stores it under (`<sha256>.<name>`, consistent snapshots).
    pub stored_as: String,
}

/// A verified repository, staged in a directory of the agent's own.
pub struct Verified {
    repo: Repository,
    targets_dir: PathBuf,
}

/// Writes the offered metadata into `staging/metadata` (emptied first) and loads it with
/// tough against `root`. `datastore` keeps what was seen last, across runs.
pub async fn load(root: &[u8], files: &[MetadataFile], staging: &Path, datastore: &Path) -> Result<Verified> {
    let metadata = staging.join("metadata");
    let targets_dir = staging.join("targets");
    for dir in [&metadata, &targets_dir] {
        if dir.exists() {
            std::fs::remove_dir_all(dir)?;
        }
        std::fs::create_dir_all(dir)?;
    }
    for file in files {
        // Names were checked as plain file names when the offer was received.
        std::fs::write(metadata.join(&file.name), &file.bytes)?;
    }
    std::fs::create_dir_all(datastore)?;
    let repo = RepositoryLoader::new(&root, dir_url(&metadata)?, dir_url(&targets_dir)?)
        .limits(LIMITS)
        .datastore(datastore)
        .load()
        .await?;
    Ok(Verified { repo, targets_dir })
}

impl Verified {
    /// The release of `version` for `platform`, if the targets role signs one.
    pub fn release(&self, platform: &str, version: &str) -> Option<Release> {
        self.repo.all_targets().find_map(|(name, target)| {
            let field = |k: &str| target.custom.get(k).and_then(|v| v.as_str());
            (field("platform") == Some(platform) && field("version") == Some(version)).then(|| Release {
                name: name.clone(),
                version: version.to_string(),
                length: target.length,
                stored_as: format!("{}.{}", hex::encode(&target.hashes.sha256), name.raw()),
            })
        })
    }

    /// Where the downloaded package must be put for [`Verified::copy_verified`].
    pub fn download_path(&self, release: &Release) -> PathBuf {
        self.targets_dir.join(&release.stored_as)
    }

    /// Copies the downloaded package to `out` through tough's reader, which fails on a length
    /// or SHA-256 that differs from the signed targets; `out` is removed then.
    pub async fn copy_verified(&self, release: &Release, out: &Path) -> Result<()> {
        use tokio::io::AsyncWriteExt;
        let stream = self.repo.read_target(&release.name).await?.context("the target vanished")?;
        let mut stream = std::pin::pin!(stream);
        let mut file = tokio::fs::File::create(out).await?;
        let copied = async {
            while let Some(chunk) = next(&mut stream).await {
                file.write_all(&chunk?).await?;
            }
            file.sync_all().await?;
            Ok::<_, anyhow::Error>(())
        }
        .await;
        if copied.is_err() {
            let _ = tokio::fs::remove_file(out).await;
        }
        copied
    }
}

/// `futures::StreamExt::next`, without that crate.
async fn next<S: futures_core::Stream + Unpin>(stream: &mut S) -> Option<S::Item> {
    std::future::poll_fn(|cx| std::pin::Pin::new(&mut *stream).poll_next(cx)).await
}

fn dir_url(dir: &Path) -> Result<url::Url> {
    let absolute = std::path::absolute(dir)?;
    url::Url::from_directory_path(&absolute).map_err(|()| anyhow::anyhow!("{} is not a usable path", dir.display()))
}
