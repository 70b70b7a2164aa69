//! Signed updates: the agent asks the collector what it offers, verifies the TUF metadata
//! against its pinned root, downloads and verifies the package and the one of the version it
//! runs (to roll back to), and hands both to the watchdog, a separate process that installs,
//! checks that the new version runs and reaches the collector, and reinstalls the old one if
//! not.
//!
//! The root is pinned on the first update check, over the connection authenticated by the CA
//! pinned at enrollment (so it is trusted exactly as far as enrollment trusts the collector),
//! and kept in `STATE/updates/root.json`; from then on a collector serving metadata of another
//! key, or any metadata the offline key did not sign, is refused. Every refusal is recorded as
//! an `update_refused` event once per distinct reason.

pub mod fetch;
pub mod verify;
pub mod watchdog;

use crate::lifecycle::record_update;
use crate::spool::Recorder;
use crate::state::{State, write_private};
use anyhow::{Context, Result};
use fetch::UpdateLink;
use haidang_proto::event::LifecycleAction;
use haidang_proto::update::{MetadataFile, compare_versions};
use serde::Deserialize;
use std::cmp::Ordering;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// How often the agent looks for the watchdog's verdict on an update.
const RESULT_POLL: Duration = Duration::from_secs(2);
/// Beyond the health deadline, how long an installer may take before its watchdog counts as
/// gone.
const ABANDONED_ATTEMPT: Duration = Duration::from_secs(30 * 60);

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct UpdateConfig {
    /// Whether the agent takes updates the collector offers.
    pub enabled: bool,
    /// How often it asks.
    #[serde(deserialize_with = "crate::config::duration")]
    pub check_interval: Duration,
    /// How long a new version has to start and reach the collector before it is rolled back.
    #[serde(deserialize_with = "crate::config::duration")]
    pub health_deadline: Duration,
    /// The install command, to which the package's path is appended; empty for the platform's
    /// (`dpkg -i` for a DEB, `msiexec /i … /qn` for an MSI).
    pub installer: Vec<String>,
}

impl Default for UpdateConfig {
    fn default() -> Self {
        UpdateConfig {
            enabled: true,
            check_interval: Duration::from_secs(3600),
            health_deadline: Duration::from_secs(120),
            installer: Vec::new(),
        }
    }
}

/// The package platform this agent installs.
pub fn platform() -> Option<&'static str> {
    if cfg!(all(target_os = "linux", target_arch = "x86_64")) {
        Some(haidang_proto::update::PLATFORM_DEB)
    } else if cfg!(all(windows, target_arch = "x86_64")) {
        Some(haidang_proto::update::PLATFORM_MSI)
    } else {
        None
    }
}

/// The files of the update cycle in the state directory.
pub struct UpdateDir(pub PathBuf);

impl UpdateDir {
    pub fn of(state: &State) -> UpdateDir {
        UpdateDir(state.root.join("updates"))
    }
    fn pinned_root(&self) -> PathBuf {
        self.0.join("root.json")
    }
    fn datastore(&self) -> PathBuf {
        self.0.join("tuf")
    }
    fn staging(&self) -> PathBuf {
        self.0.join("staging")
    }
    fn packages(&self) -> PathBuf {
        self.0.join("packages")
    }
    pub fn attempt(&self) -> PathBuf {
        self.0.join("attempt.json")
    }
    pub fn result(&self) -> PathBuf {
        self.0.join("result.json")
    }
    /// Versions whose install was rolled back: not tried again.
    fn failed(&self, version: &str) -> PathBuf {
        self.0.join("failed").join(version)
    }
}

/// Why a check ended without an install.
enum Stop {
    /// Nothing to do.
    Idle,
    /// The collector could not be asked; tried again next time.
    Transient(anyhow::Error),
    /// Something offered is not to be trusted or not to be installed: reported.
    Refused(String),
}

impl<E: Into<anyhow::Error>> From<E> for Stop {
    fn from(e: E) -> Stop {
        Stop::Transient(e.into())
    }
}

pub struct Updater {
    pub state: Arc<State>,
    pub server: String,
    pub tls: quinn::ClientConfig,
    pub config: UpdateConfig,
    pub recorder: Recorder,
}

impl Updater {
    pub async fn run(self) {
        let dir = UpdateDir::of(&self.state);
        let Some(platform) = platform() else { return };
        let mut last_refusal = String::new();
        let mut next_check = tokio::time::Instant::now() + RESULT_POLL;
        loop {
            if let Err(e) = self.report_result(&dir).await {
                tracing::warn!(error = %format!("{e:#}"), "cannot report the outcome of the last update");
            }
            if tokio::time::Instant::now() >= next_check && !self.attempt_pending(&dir) {
                next_check = tokio::time::Instant::now() + self.config.check_interval;
                match self.check(&dir, platform).await {
                    Ok(()) | Err(Stop::Idle) => {}
                    Err(Stop::Transient(e)) => {
                        tracing::info!(error = %format!("{e:#}"), "update check failed; will retry")
                    }
                    Err(Stop::Refused(why)) if why != last_refusal => {
                        tracing::error!(reason = %why, "update refused");
                        let _ = record_update(&self.recorder, LifecycleAction::UpdateRefused, why.clone()).await;
                        last_refusal = why;
                    }
                    Err(Stop::Refused(_)) => {}
                }
            }
            tokio::time::sleep(RESULT_POLL).await;
        }
    }

    /// Whether a watchdog is still at work. An attempt left for far longer than the watchdog
    /// needs (its process died with the machine, say) is dropped, so updates do not stop.
    fn attempt_pending(&self, dir: &UpdateDir) -> bool {
        let Ok(meta) = std::fs::metadata(dir.attempt()) else { return false };
        let age = meta.modified().ok().and_then(|m| m.elapsed().ok()).unwrap_or_default();
        if age > self.config.health_deadline * 2 + ABANDONED_ATTEMPT {
            tracing::warn!("an update attempt was abandoned by its watchdog; checking again");
            return std::fs::remove_file(dir.attempt()).is_err();
        }
        true
    }

    /// Records the watchdog's verdict on the last update, once.
    async fn report_result(&self, dir: &UpdateDir) -> Result<()> {
        let Ok(bytes) = std::fs::read(dir.result()) else { return Ok(()) };
        let result: watchdog::Outcome = serde_json::from_slice(&bytes).context("unreadable update result")?;
        let action = if result.updated { LifecycleAction::Updated } else { LifecycleAction::UpdateFailed };
        if !result.updated {
            let marker = dir.failed(&result.to);
            std::fs::create_dir_all(marker.parent().unwrap_or(&dir.0))?;
            write_private(&marker, result.detail.as_bytes())?;
        }
        record_update(&self.recorder, action, result.detail).await?;
        std::fs::remove_file(dir.result())?;
        Ok(())
    }

    async fn check(&self, dir: &UpdateDir, platform: &str) -> Result<(), Stop> {
        let running = crate::version::running();
        let mut link = UpdateLink::open(&self.server, self.tls.clone()).await?;
        let result = self.check_on(&mut link, dir, platform, running).await;
        link.close();
        result
    }

    async fn check_on(
        &self,
        link: &mut UpdateLink,
        dir: &UpdateDir,
        platform: &str,
        running: &str,
    ) -> Result<(), Stop> {
        let offer = link.offer(platform, running).await?;
        if offer.metadata.is_empty() {
            return Err(Stop::Idle);
        }
        let offered = offer.version.clone().unwrap_or_default();
        let refuse = |what: String| Stop::Refused(format!("update to {offered} refused: {what}"));
        std::fs::create_dir_all(&dir.0)?;
        let root = pinned_root(dir, &offer.metadata).map_err(|e| refuse(format!("{e:#}")))?;
        let verified = verify::load(&root, &offer.metadata, &dir.staging(), &dir.datastore())
            .await
            .map_err(|e| refuse(format!("metadata not trusted: {e:#}")))?;
        let Some(version) = offer.version else { return Err(Stop::Idle) };
        match compare_versions(&version, running) {
            Ordering::Equal => return Err(Stop::Idle),
            Ordering::Less => return Err(refuse(format!("{version} is older than the running {running} (downgrade)"))),
            Ordering::Greater => {}
        }
        if dir.failed(&version).exists() {
            return Err(refuse(format!("{version} was installed before and rolled back; waiting for a newer release")));
        }
        let release = verified
            .release(platform, &version)
            .ok_or_else(|| refuse(format!("no {platform} package of {version} is signed by the targets role")))?;
        let previous = verified
            .release(platform, running)
            .ok_or_else(|| refuse(format!("no signed {platform} package of the running {running} to roll back to")))?;
        std::fs::create_dir_all(dir.packages())?;
        let mut installable = Vec::new();
        for r in [&release, &previous] {
            let download = verified.download_path(r);
            link.package(&r.stored_as, r.length, &download).await.map_err(|e| refuse(format!("{e:#}")))?;
            let out = dir.packages().join(r.name.raw());
            // tough's chain repeats the URL at each level; its root cause says what differs.
            verified.copy_verified(r, &out).await.map_err(|e| {
                let name = r.name.raw();
                refuse(format!("package {name} does not match its signed length and hash: {}", e.root_cause()))
            })?;
            installable.push(out);
        }
        let attempt = watchdog::Attempt {
            from: running.to_string(),
            to: version.clone(),
            package: installable[0].clone(),
            rollback: installable[1].clone(),
            installer: self.config.installer.clone(),
            deadline_secs: self.config.health_deadline.as_secs(),
            old_pid: std::process::id(),
            started: haidang_proto::Timestamp::now().to_rfc3339(),
        };
        write_private(&dir.attempt(), &serde_json::to_vec_pretty(&attempt).map_err(anyhow::Error::from)?)?;
        let detail = format!("installing {version} over {running} ({})", release.name.raw());
        // Recorded before the watchdog may stop this process.
        let _ = record_update(&self.recorder, LifecycleAction::UpdateStarted, detail).await;
        if let Err(e) = watchdog::spawn(&self.state.root) {
            let _ = std::fs::remove_file(dir.attempt());
            return Err(Stop::Transient(e));
        }
        tracing::info!(from = running, to = %version, "update handed to the watchdog");
        Ok(())
    }
}

/// The pinned root; on the first check, the offered `1.root.json` becomes it.
fn pinned_root(dir: &UpdateDir, offered: &[MetadataFile]) -> Result<Vec<u8>> {
    if let Ok(root) = std::fs::read(dir.pinned_root()) {
        return Ok(root);
    }
    let first = offered
        .iter()
        .find(|f| f.name == "1.root.json")
        .context("no root pinned and the collector offers no 1.root.json to pin")?;
    write_private(&dir.pinned_root(), &first.bytes)?;
    tracing::info!("pinned the release root offered by the collector");
    Ok(first.bytes.clone())
}
