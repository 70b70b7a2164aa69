//! The DLP sensor of the running agent: its channels (shared/dlp-vn.md §7) — files written to
//! removable media (`usb`) and network shares (`share`), print jobs, and data at rest
//! (`at_rest`) — inspected by the DLP content engine ([`haidang_dlp`]) and decided by its policy.
//!
//! - [`MountTable`]: where mounts come from (Linux: `/proc/self/mountinfo`, polled for
//!   `POLLPRI`); each mount is classified ([`classify`]) as removable media (sysfs says the
//!   device is removable, or the mount point matches `removable_mounts`), a network share
//!   (its fstype is in `share_fstypes`), or neither (ignored). Mount and unmount of watched
//!   filesystems are `mount` events.
//! - [`WriteSource`]: files written on the watched mounts (Linux: fanotify mount marks,
//!   `FAN_CLOSE_WRITE`). Where it cannot be used — not root, or a mount refusing the mark —
//!   a [`Walker`] walks the mount every `walk_interval` and inspects what is new or changed
//!   since its first walk (files already on a medium when it arrives are not egress).
//! - [`inspect::Inspector`]: one file on one channel → `dlp` and `dlp_verdict` events;
//!   `block` moves the file into the [`vault`], and with `remount_readonly` remounts the
//!   removable device read-only.
//! - printing ([`print`], Linux): jobs in the CUPS spool are held, inspected on channel
//!   `print`, and released, or cancelled on `block`; on Windows (`print_windows.rs`) jobs of
//!   the print spooler are paused, read through the spooler, and resumed or deleted.
//! - at rest: every `at_rest_interval` (the first at start) the `at_rest_paths` are walked
//!   and each file inspected on channel `at_rest`; `haidang-agent discover` does one pass on
//!   demand.
//!
//! On Windows the mounts are the removable and mapped network drive letters (`windows.rs`),
//! walked for writes; the rest is shared.

pub mod config;
pub mod inspect;
#[cfg(target_os = "linux")]
mod linux;
pub mod mountinfo;
#[cfg(target_os = "linux")]
pub mod print;
#[cfg(windows)]
mod print_windows;
pub mod vault;
#[cfg(windows)]
mod windows;

pub use config::DlpConfig;

use crate::spool::{Observation, Recorder};
use anyhow::{Context, Result};
use haidang_dlp::Channel;
use haidang_proto::event::{MountAction, MountEvent};
use haidang_proto::{EventBody, Text};
use inspect::Inspector;
use mountinfo::MountEntry;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The mounted filesystems of the machine.
pub trait MountTable: Send {
    /// Every mount now.
    fn read(&mut self) -> std::io::Result<Vec<MountEntry>>;
    /// Whether the table may have changed since the last [`MountTable::read`] (no waiting).
    fn changed(&mut self) -> bool;
}

/// Files written on watched mounts.
pub trait WriteSource: Send {
    /// Starts reporting files written under the mount point `mount`, or says why it cannot.
    fn watch(&mut self, mount: &Path) -> Result<(), String>;
    /// Waits up to `timeout` for written files and appends their paths to `out`.
    fn written(&mut self, timeout: Duration, out: &mut Vec<PathBuf>);
}

/// Files waiting to be inspected; past this, reports are dropped and counted.
const QUEUE: usize = 4096;
/// How often the watcher looks at the mount table, the stop flag and the walk clock.
const TICK: Duration = Duration::from_millis(200);
/// The mount table is read again at least this often, in case a change notification is lost.
const REREAD: Duration = Duration::from_secs(30);
/// Files a walked mount remembers; a larger medium is walked only up to this many.
const WALK_FILES: usize = 200_000;

/// What `haidang-agent status` shows of the channels.
#[derive(Debug)]
pub struct ChannelStatus {
    inner: Mutex<(String, Vec<String>)>,
    print: Mutex<String>,
}

impl Default for ChannelStatus {
    fn default() -> ChannelStatus {
        ChannelStatus { inner: Mutex::new(("starting".to_owned(), Vec::new())), print: Mutex::new("off".to_owned()) }
    }
}

impl ChannelStatus {
    /// How writes are watched, and one line per watched mount.
    pub fn snapshot(&self) -> (String, Vec<String>) {
        self.inner.lock().map(|g| g.clone()).unwrap_or_default()
    }

    /// What the print channel is doing: `off`, or watching which spool, or why it cannot.
    pub fn print(&self) -> String {
        self.print.lock().map(|g| g.clone()).unwrap_or_default()
    }

    fn set(&self, sensor: String, mounts: Vec<String>) {
        if let Ok(mut g) = self.inner.lock() {
            *g = (sensor, mounts);
        }
    }

    pub(crate) fn set_print(&self, state: String) {
        if let Ok(mut g) = self.print.lock() {
            *g = state;
        }
    }
}

/// How a mount is classified, or `None` when it is not a DLP channel.
pub fn classify(
    entry: &MountEntry,
    removable_mounts: &globset::GlobSet,
    share_fstypes: &[String],
    device_removable: impl Fn(u32, u32) -> bool,
) -> Option<(Channel, bool)> {
    if share_fstypes.contains(&entry.fstype) {
        return Some((Channel::Share, false));
    }
    let removable = device_removable(entry.major, entry.minor);
    (removable || removable_mounts.is_match(&entry.mount_point)).then_some((Channel::Usb, removable))
}

/// A file to inspect, and the watched mount it was written on.
struct Job {
    path: PathBuf,
    channel: Channel,
    mount: PathBuf,
}

/// A watched mount.
struct Watched {
    entry: MountEntry,
    channel: Channel,
    removable: bool,
    /// `fanotify`, or `walk (why)`.
    how: String,
    walker: Option<Walker>,
}

impl Watched {
    fn event(&self, action: MountAction) -> EventBody {
        EventBody::Mount(MountEvent {
            action,
            channel: self.channel.as_str().to_owned(),
            mount_point: Text::from(self.entry.mount_point.as_path()),
            source: Text::from(Path::new(&self.entry.source)),
            fstype: self.entry.fstype.clone(),
            removable: self.removable,
            watch: self.how.clone(),
        })
    }

    fn line(&self) -> String {
        format!(
            "{} {} {} ({}): {}",
            self.channel.as_str(),
            Text::from(self.entry.mount_point.as_path()).display_safe(),
            self.entry.fstype,
            Text::from(Path::new(&self.entry.source)).display_safe(),
            self.how
        )
    }
}

/// The periodic-walk fallback: remembers size, mtime and inode of every file under a mount
/// (on that filesystem only, symbolic links not followed) and reports what changed.
pub struct Walker {
    root: PathBuf,
    seen: HashMap<PathBuf, (u64, i64, u64)>,
    primed: bool,
}

impl Walker {
    pub fn new(root: &Path) -> Walker {
        Walker { root: root.to_path_buf(), seen: HashMap::new(), primed: false }
    }

    /// Walks once; the files new or changed since the previous walk (none on the first).
    pub fn walk(&mut self, out: &mut Vec<PathBuf>) {
        let Ok(root_md) = std::fs::symlink_metadata(&self.root) else { return };
        let mut now = HashMap::new();
        let mut pending = vec![self.root.clone()];
        while let Some(dir) = pending.pop() {
            let Ok(entries) = std::fs::read_dir(&dir) else { continue };
            for entry in entries.flatten() {
                let path = entry.path();
                let Ok(md) = std::fs::symlink_metadata(&path) else { continue };
                if device(&md) != device(&root_md) {
                    continue;
                }
                if md.is_dir() {
                    pending.push(path);
                } else if md.is_file() && now.len() < WALK_FILES {
                    let stamp = stamp(&md);
                    if self.primed && self.seen.get(&path) != Some(&stamp) {
                        out.push(path.clone());
                    }
                    now.insert(path, stamp);
                }
            }
        }
        self.seen = now;
        self.primed = true;
    }
}

#[cfg(unix)]
fn device(md: &std::fs::Metadata) -> u64 {
    std::os::unix::fs::MetadataExt::dev(md)
}

#[cfg(not(unix))]
fn device(_md: &std::fs::Metadata) -> u64 {
    0
}

/// Size, modification time (ns) and inode: a file rewritten in place changes one of them.
#[cfg(unix)]
fn stamp(md: &std::fs::Metadata) -> (u64, i64, u64) {
    use std::os::unix::fs::MetadataExt;
    (md.len(), md.mtime().saturating_mul(1_000_000_000).saturating_add(md.mtime_nsec()), md.ino())
}

#[cfg(not(unix))]
fn stamp(md: &std::fs::Metadata) -> (u64, i64, u64) {
    let mtime = md.modified().map_or(0, |t| haidang_proto::Timestamp::from(t).0);
    (md.len(), mtime, 0)
}

/// The channels, ready to run: vault and key in place, policy and detectors loaded.
pub struct Channels {
    cfg: DlpConfig,
    state_root: PathBuf,
    vault_dir: PathBuf,
    inspector: Arc<Inspector>,
}

impl Channels {
    /// Prepares the vault (directory 0700, key 0600) and loads the policy; a bad policy file
    /// is refused here, before the agent starts, with its path, line and problem.
    pub fn prepare(cfg: DlpConfig, state_root: &Path) -> Result<Channels> {
        let vault = vault::Vault::new(&cfg.vault_dir(state_root), &state_root.join("vault.key"));
        vault.prepare()?;
        let vault_dir = std::path::absolute(vault.dir()).unwrap_or_else(|_| vault.dir().to_path_buf());
        let inspector = Inspector::new(&cfg, vault).context("cannot start the DLP channels")?;
        tracing::info!(rules = inspector.policy().rules.len(), files = inspector.policy().files, "DLP policy loaded");
        Ok(Channels { cfg, state_root: state_root.to_path_buf(), vault_dir, inspector: Arc::new(inspector) })
    }

    /// Runs the channels until the returned future is dropped.
    pub async fn run(self, recorder: Recorder, status: Arc<ChannelStatus>) -> Result<()> {
        let Channels { cfg, state_root, vault_dir, inspector } = self;
        let stop = Arc::new(AtomicBool::new(false));
        let _stop = StopOnDrop(stop.clone());
        let (found_tx, mut found_rx) = tokio::sync::mpsc::channel::<Vec<Observation>>(64);
        let (job_tx, job_rx) = std::sync::mpsc::sync_channel::<Job>(QUEUE);
        let dropped = Arc::new(AtomicU64::new(0));

        let worker = Worker { inspector: inspector.clone(), found: found_tx.clone(), remount: cfg.remount_readonly };
        let stop_w = stop.clone();
        std::thread::Builder::new()
            .name("dlp-inspect".into())
            .spawn(move || worker.run(job_rx, &stop_w))
            .context("cannot start the DLP inspection thread")?;

        #[cfg(any(target_os = "linux", windows))]
        let watcher = Watcher {
            globs: cfg.removable_globs().map_err(anyhow::Error::msg)?,
            shares: cfg.share_fstypes.clone(),
            walk_interval: cfg.walk_interval,
            found: found_tx.clone(),
            jobs: job_tx,
            dropped,
            status: status.clone(),
        };
        #[cfg(target_os = "linux")]
        {
            let table = linux::ProcMountInfo::open().context("cannot open /proc/self/mountinfo")?;
            let writes = linux::FanotifyWrites::new();
            let stop_m = stop.clone();
            std::thread::Builder::new()
                .name("dlp-mounts".into())
                .spawn(move || match writes {
                    Ok(writes) => watcher.run(table, Some(writes), &stop_m, "fanotify mount marks".into()),
                    Err(why) => {
                        watcher.run::<linux::FanotifyWrites>(table, None, &stop_m, format!("periodic walk ({why})"))
                    }
                })
                .context("cannot start the DLP mount watcher")?;
        }
        #[cfg(windows)]
        {
            let stop_m = stop.clone();
            let why = "periodic walk (Windows reports no file closed after writing without a filter driver)";
            std::thread::Builder::new()
                .name("dlp-drives".into())
                .spawn(move || {
                    watcher.run::<windows::NoWriteSource>(windows::DriveTable::new(), None, &stop_m, why.into())
                })
                .context("cannot start the DLP drive watcher")?;
        }
        #[cfg(not(any(target_os = "linux", windows)))]
        {
            let _ = (job_tx, dropped);
            status.set("no mount watcher on this platform yet".into(), Vec::new());
        }

        #[cfg(target_os = "linux")]
        if cfg.print {
            match cfg.cups_spool.is_dir() {
                true => {
                    let cups = print::Cups::locate();
                    let watcher = print::PrintWatcher {
                        spool: cfg.cups_spool.clone(),
                        cups,
                        inspector: inspector.clone(),
                        found: found_tx.clone(),
                        status: status.clone(),
                    };
                    let stop_p = stop.clone();
                    std::thread::Builder::new()
                        .name("dlp-print".into())
                        .spawn(move || watcher.run(&stop_p))
                        .context("cannot start the DLP print watcher")?;
                    tracing::info!(spool = %cfg.cups_spool.display(), "DLP: watching print jobs");
                }
                false => {
                    status.set_print(format!("off: no CUPS spool at {}", cfg.cups_spool.display()));
                    tracing::info!(spool = %cfg.cups_spool.display(), "DLP print channel off: no CUPS spool");
                }
            }
        }
        #[cfg(windows)]
        if cfg.print {
            let watcher = print_windows::PrintWatcher {
                inspector: inspector.clone(),
                found: found_tx.clone(),
                status: status.clone(),
                max_job: cfg.max_file_size.as_u64(),
            };
            let stop_p = stop.clone();
            std::thread::Builder::new()
                .name("dlp-print".into())
                .spawn(move || watcher.run(&stop_p))
                .context("cannot start the DLP print watcher")?;
            tracing::info!("DLP: watching print spooler jobs");
        }
        #[cfg(not(any(target_os = "linux", windows)))]
        if cfg.print {
            status.set_print("off: no print channel on this platform".into());
        }
        if !cfg.at_rest_paths.is_empty() {
            let at_rest = AtRest {
                inspector,
                paths: cfg.at_rest_paths.clone(),
                interval: cfg.at_rest_interval,
                cpu_share: cfg.at_rest_cpu_share,
                skip: vec![vault_dir, std::path::absolute(&state_root).unwrap_or(state_root)],
                found: found_tx.clone(),
            };
            let stop_a = stop.clone();
            std::thread::Builder::new()
                .name("dlp-at-rest".into())
                .spawn(move || at_rest.run(&stop_a))
                .context("cannot start the DLP at-rest scanner")?;
        }
        drop(found_tx);
        while let Some(observations) = found_rx.recv().await {
            recorder.record(observations).await?;
        }
        anyhow::bail!("the DLP channel threads stopped")
    }
}

struct StopOnDrop(Arc<AtomicBool>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

fn observations(events: Vec<EventBody>) -> Vec<Observation> {
    events.into_iter().map(Observation::now).collect()
}

/// Follows the mount table and the writes on watched mounts, handing files to the worker.
#[cfg_attr(not(any(target_os = "linux", windows, test)), allow(dead_code))]
struct Watcher {
    globs: globset::GlobSet,
    shares: Vec<String>,
    walk_interval: Duration,
    found: tokio::sync::mpsc::Sender<Vec<Observation>>,
    jobs: SyncSender<Job>,
    dropped: Arc<AtomicU64>,
    status: Arc<ChannelStatus>,
}

#[cfg_attr(not(any(target_os = "linux", windows, test)), allow(dead_code))]
impl Watcher {
    fn run<W: WriteSource>(self, mut table: impl MountTable, mut writes: Option<W>, stop: &AtomicBool, sensor: String) {
        let mut watched: HashMap<u32, Watched> = HashMap::new();
        let mut last_read: Option<Instant> = None;
        let mut next_walk = Instant::now() + self.walk_interval;
        let mut written = Vec::new();
        while !stop.load(Ordering::Relaxed) {
            if last_read.is_none_or(|t| t.elapsed() >= REREAD) || table.changed() {
                match table.read() {
                    Ok(entries) => {
                        if !self.update(&mut watched, entries, writes.as_mut(), &sensor) {
                            return;
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "cannot read the mount table"),
                }
                last_read = Some(Instant::now());
            }
            match writes.as_mut() {
                Some(w) => w.written(TICK, &mut written),
                None => std::thread::sleep(TICK),
            }
            if Instant::now() >= next_walk {
                for w in watched.values_mut() {
                    if let Some(walker) = w.walker.as_mut() {
                        let before = written.len();
                        walker.walk(&mut written);
                        tracing::debug!(mount = %w.entry.mount_point.display(), changed = written.len() - before, "DLP walk");
                    }
                }
                next_walk = Instant::now() + self.walk_interval;
            }
            for path in written.drain(..) {
                let Some(w) = watched
                    .values()
                    .filter(|w| crate::paths::is_within(&path, &w.entry.mount_point))
                    .max_by_key(|w| w.entry.mount_point.as_os_str().len())
                else {
                    continue;
                };
                let job = Job { path, channel: w.channel, mount: w.entry.mount_point.clone() };
                match self.jobs.try_send(job) {
                    Ok(()) => {}
                    Err(TrySendError::Full(_)) => {
                        self.dropped.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(TrySendError::Disconnected(_)) => return,
                }
            }
            let dropped = self.dropped.swap(0, Ordering::Relaxed);
            if dropped > 0 {
                tracing::warn!(dropped, "DLP inspection behind: files written to watched mounts were not inspected");
            }
        }
    }

    /// Applies a new reading of the mount table; false when the agent is stopping.
    fn update<W: WriteSource>(
        &self,
        watched: &mut HashMap<u32, Watched>,
        entries: Vec<MountEntry>,
        mut writes: Option<&mut W>,
        sensor: &str,
    ) -> bool {
        let mut events = Vec::new();
        let current: HashMap<u32, &MountEntry> = entries.iter().map(|e| (e.id, e)).collect();
        let gone: Vec<u32> = watched.keys().filter(|id| !current.contains_key(id)).copied().collect();
        for id in gone {
            if let Some(w) = watched.remove(&id) {
                tracing::info!(mount = %w.entry.mount_point.display(), channel = w.channel.as_str(), "DLP: watched mount gone");
                events.push(w.event(MountAction::Unmounted));
            }
        }
        for entry in &entries {
            if watched.contains_key(&entry.id) {
                continue;
            }
            #[cfg(target_os = "linux")]
            let device_removable = linux::removable;
            #[cfg(windows)]
            let device_removable = windows::removable;
            #[cfg(not(any(target_os = "linux", windows)))]
            let device_removable = |_, _| false;
            let Some((channel, removable)) = classify(entry, &self.globs, &self.shares, device_removable) else {
                continue;
            };
            let (how, walker) = match writes.as_deref_mut().map(|w| w.watch(&entry.mount_point)) {
                Some(Ok(())) => ("fanotify".to_owned(), None),
                Some(Err(why)) => {
                    (format!("walk every {:?} ({why})", self.walk_interval), Some(Walker::new(&entry.mount_point)))
                }
                None => {
                    (format!("walk every {:?} ({sensor})", self.walk_interval), Some(Walker::new(&entry.mount_point)))
                }
            };
            let mut w = Watched { entry: entry.clone(), channel, removable, how, walker };
            if let Some(walker) = w.walker.as_mut() {
                walker.walk(&mut Vec::new());
            }
            tracing::info!(mount = %entry.mount_point.display(), channel = channel.as_str(), fstype = %entry.fstype, watch = %w.how, "DLP: watching mount");
            events.push(w.event(MountAction::Mounted));
            watched.insert(entry.id, w);
        }
        let mut lines: Vec<String> = watched.values().map(Watched::line).collect();
        lines.sort();
        self.status.set(sensor.to_owned(), lines);
        events.is_empty() || self.found.blocking_send(observations(events)).is_ok()
    }
}

/// Inspects the files the watcher hands over.
struct Worker {
    inspector: Arc<Inspector>,
    found: tokio::sync::mpsc::Sender<Vec<Observation>>,
    remount: bool,
}

impl Worker {
    fn run(self, jobs: Receiver<Job>, stop: &AtomicBool) {
        while !stop.load(Ordering::Relaxed) {
            let job = match jobs.recv_timeout(Duration::from_secs(1)) {
                Ok(job) => job,
                Err(RecvTimeoutError::Timeout) => continue,
                Err(RecvTimeoutError::Disconnected) => return,
            };
            let mut outcome = self.inspector.inspect(&job.path, job.channel);
            if outcome.blocked && self.remount && job.channel == Channel::Usb {
                let remounted = self.remount_readonly(&job.mount, &mut outcome.events);
                outcome.events.extend(remounted);
            }
            if !outcome.events.is_empty() && self.found.blocking_send(observations(outcome.events)).is_err() {
                return;
            }
        }
    }

    /// Remounts the medium read-only; the mount event to record when it worked, and the
    /// verdict's detail says either way.
    #[cfg(target_os = "linux")]
    fn remount_readonly(&self, mount: &Path, events: &mut [EventBody]) -> Option<EventBody> {
        let result = linux::remount_readonly(mount);
        let note = match &result {
            Ok(()) => format!("{} remounted read-only", mount.display()),
            Err(e) => format!("{} not remounted read-only: {e}", mount.display()),
        };
        tracing::warn!(mount = %mount.display(), "{note}");
        for event in events.iter_mut() {
            if let EventBody::DlpVerdict(v) = event {
                v.detail = if v.detail.is_empty() { note.clone() } else { format!("{}; {note}", v.detail) };
            }
        }
        result.ok().map(|()| {
            EventBody::Mount(MountEvent {
                action: MountAction::RemountedReadOnly,
                channel: Channel::Usb.as_str().to_owned(),
                mount_point: Text::from(mount),
                source: Text::default(),
                fstype: String::new(),
                removable: false,
                watch: String::new(),
            })
        })
    }

    #[cfg(not(target_os = "linux"))]
    fn remount_readonly(&self, _mount: &Path, _events: &mut [EventBody]) -> Option<EventBody> {
        None
    }
}

/// The scheduled discovery scan of data at rest.
struct AtRest {
    inspector: Arc<Inspector>,
    paths: Vec<PathBuf>,
    interval: Duration,
    cpu_share: f64,
    /// The agent's own state and vault: never inspected.
    skip: Vec<PathBuf>,
    found: tokio::sync::mpsc::Sender<Vec<Observation>>,
}

impl AtRest {
    fn run(self, stop: &AtomicBool) {
        let mut throttle = crate::scan::throttle::Throttle::new(self.cpu_share);
        loop {
            let started = Instant::now();
            let (mut files, mut reported) = (0u64, 0u64);
            let mut pending = self.paths.clone();
            while let Some(path) = pending.pop() {
                if stop.load(Ordering::Relaxed) {
                    return;
                }
                if self.skip.iter().any(|s| crate::paths::is_within(&path, s)) {
                    continue;
                }
                let Ok(md) = std::fs::symlink_metadata(&path) else { continue };
                if md.is_dir() {
                    match std::fs::read_dir(&path) {
                        Ok(entries) => pending.extend(entries.flatten().map(|e| e.path())),
                        Err(e) => {
                            tracing::info!(path = %path.display(), error = %e, "DLP at-rest scan cannot list a directory")
                        }
                    }
                } else if md.is_file() {
                    files += 1;
                    let outcome = throttle.run(|| self.inspector.inspect(&path, Channel::AtRest));
                    if !outcome.events.is_empty() {
                        reported += 1;
                        if self.found.blocking_send(observations(outcome.events)).is_err() {
                            return;
                        }
                    }
                }
            }
            tracing::info!(files, reported, secs = started.elapsed().as_secs(), "DLP at-rest scan finished");
            let next = started + self.interval;
            while Instant::now() < next {
                if stop.load(Ordering::Relaxed) {
                    return;
                }
                std::thread::sleep(Duration::from_secs(1));
            }
        }
    }
}

#[cfg(test)]
mod tests;
