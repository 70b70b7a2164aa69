//! File-integrity monitoring: a baseline of every monitored path (attributes and BLAKE3 of
//! the content) in redb, real-time notification (fanotify with the writer's identity when
//! running as root on Linux, inotify for everything else), and periodic rescans that
//! reconcile whatever notification missed, including changes made while the agent was down.
//!
//! Every change is recorded in the spool before the baseline moves, so a crash can repeat a
//! report but never lose one.

mod baseline;
mod config;
mod engine;
#[cfg(target_os = "linux")]
mod fanotify;
mod filter;
mod meta;
mod scan;
mod security;
#[cfg(test)]
mod tests;
mod watch;
#[cfg(windows)]
mod windows_defaults;

pub use config::FimConfig;
pub use scan::BaselineStats;
#[cfg(windows)]
pub use security::attribute_names;

use crate::spool::{Observation, Recorder};
use anyhow::{Context, Result};
use baseline::Baseline;
use engine::{Engine, EventSink};
use filter::PathFilter;
use haidang_proto::EventBody;
use haidang_proto::event::{FileEvent, FileSecurity, NtFileEvent};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use tokio::sync::{mpsc, oneshot};

const SENSOR_UNKNOWN: u8 = 0;
const SENSOR_FANOTIFY: u8 = 1;
const SENSOR_INOTIFY: u8 = 2;
const SENSOR_RESCAN: u8 = 3;
/// What the notify crate's watcher is on this platform.
const NOTIFY: &str = if cfg!(windows) { "ReadDirectoryChangesW" } else { "inotify" };
static SENSOR: AtomicU8 = AtomicU8::new(SENSOR_UNKNOWN);

/// The real-time backend of the running sensor: `"fanotify"` (with inotify beside it for
/// creations, deletions and renames), `"inotify"` (`"ReadDirectoryChangesW"` on Windows, the
/// same notify watcher), or `"rescan"` when no notification could
/// be set up. Before [`run`] has chosen, the backend it would choose.
pub fn sensor_name() -> &'static str {
    match SENSOR.load(Ordering::Relaxed) {
        SENSOR_FANOTIFY => "fanotify",
        SENSOR_INOTIFY => NOTIFY,
        SENSOR_RESCAN => "rescan",
        _ => probe(),
    }
}

#[cfg(target_os = "linux")]
fn probe() -> &'static str {
    match fanotify::Fanotify::new(&[PathBuf::from("/")]) {
        Ok(_) => "fanotify",
        Err(_) => NOTIFY,
    }
}

#[cfg(not(target_os = "linux"))]
fn probe() -> &'static str {
    NOTIFY
}

/// Builds (or refreshes) the baseline of `cfg.paths` in `baseline_db` without reporting
/// anything. A refresh hashes only files whose attributes changed. `progress` draws a
/// progress indicator on stderr.
pub fn build_baseline(cfg: &FimConfig, baseline_db: &Path, progress: bool) -> Result<BaselineStats> {
    with_engine(cfg, baseline_db, |engine| engine.baseline_silently(engine.filter.roots(), progress))
}

/// Runs `work` on an engine over `cfg` and the baseline in `baseline_db`, for the one-shot
/// operations that have no real-time sensor to stop.
fn with_engine<T>(cfg: &FimConfig, baseline_db: &Path, work: impl FnOnce(&Engine) -> Result<T>) -> Result<T> {
    let filter = PathFilter::new(cfg, &own_state(baseline_db)?)?;
    let baseline = Baseline::open(baseline_db)?;
    let stop = AtomicBool::new(false);
    let engine = Engine {
        filter: &filter,
        baseline: &baseline,
        stop: &stop,
        threads: threads(),
        rescan_interval: cfg.rescan_interval,
    };
    work(&engine)
}

/// A change as the sensor reports it: the event every platform has, and where the platform
/// keeps them apart from the mode bits (Windows) the owner and access control list before and
/// after.
#[derive(Clone, Debug)]
pub struct FileChange {
    /// The change.
    pub event: FileEvent,
    /// Owner and ACL before the change (Windows, when the baseline knew the file).
    pub old_security: Option<FileSecurity>,
    /// Owner and ACL after the change (Windows, unless the file is gone).
    pub new_security: Option<FileSecurity>,
}

impl FileChange {
    /// The recorded body: a plain file event, or one with its owners and ACLs.
    fn into_body(self) -> EventBody {
        match (self.old_security, self.new_security) {
            (None, None) => EventBody::File(self.event),
            (old_security, new_security) => {
                EventBody::NtFile(NtFileEvent { file: self.event, old_security, new_security })
            }
        }
    }
}

/// What [`check`] found.
#[derive(Debug)]
pub struct CheckReport {
    /// The differences between the disk and the baseline, sorted by path.
    pub changes: Vec<FileChange>,
    /// What the check walked and hashed.
    pub stats: BaselineStats,
}

/// Compares `cfg.paths` with the baseline in `baseline_db` exactly as a rescan does, and
/// returns the differences without recording them or updating the baseline (like
/// `aide --check`), so a second check reports the same. Fails when there is no baseline or a
/// root was never baselined. `progress` draws a progress indicator on stderr.
pub fn check(cfg: &FimConfig, baseline_db: &Path, progress: bool) -> Result<CheckReport> {
    anyhow::ensure!(
        baseline_db.is_file(),
        "no FIM baseline at {}: create it with `haidang-agent fim baseline` first",
        baseline_db.display()
    );
    let (mut changes, stats) = with_engine(cfg, baseline_db, |engine| engine.check(progress))?;
    changes.sort_by(|a, b| a.event.path.as_str().cmp(b.event.path.as_str()));
    Ok(CheckReport { changes, stats })
}

/// Sees every event once it is durable in the spool; must not block (the malware scanner
/// queues the files it names).
pub type EventTap = Box<dyn Fn(&FileEvent) + Send>;

/// Runs the sensor until the returned future is dropped or recording fails: watches
/// `cfg.paths` in real time, reconciles offline changes at start and rescans every
/// `cfg.rescan_interval`. Roots never baselined are baselined first, silently (with progress
/// on stderr when `progress`). Recorded events are shown to `tap`.
pub async fn run(
    cfg: FimConfig,
    baseline_db: PathBuf,
    recorder: Recorder,
    progress: bool,
    tap: Option<EventTap>,
) -> Result<()> {
    let filter = Arc::new(PathFilter::new(&cfg, &own_state(&baseline_db)?)?);
    let stop = Arc::new(AtomicBool::new(false));
    let _stop = StopOnDrop(Arc::clone(&stop));
    let (req_tx, mut req_rx) = mpsc::channel::<Request>(2);
    let engine_stop = Arc::clone(&stop);
    let engine = tokio::task::spawn_blocking(move || {
        let result = run_blocking(&cfg, &baseline_db, filter, &engine_stop, &mut ChannelSink(req_tx), progress, true);
        // Whatever ended the engine ends the fanotify reader too.
        engine_stop.store(true, Ordering::Relaxed);
        result
    });
    while let Some(req) = req_rx.recv().await {
        let tapped = tap.as_ref().map(|_| req.events.iter().map(|c| c.event.clone()).collect::<Vec<_>>());
        let obs = req.events.into_iter().map(|c| Observation::now(c.into_body())).collect();
        let recorded = recorder.record(obs).await;
        if let (Ok(()), Some(tap), Some(events)) = (&recorded, &tap, tapped) {
            events.iter().for_each(tap);
        }
        let _ = req.done.send(recorded);
    }
    engine.await.context("the FIM sensor stopped unexpectedly")?
}

fn run_blocking(
    cfg: &FimConfig,
    baseline_db: &Path,
    filter: Arc<PathFilter>,
    stop: &Arc<AtomicBool>,
    sink: &mut dyn EventSink,
    progress: bool,
    fanotify: bool,
) -> Result<()> {
    let baseline = Baseline::open(baseline_db)?;
    let (tx, rx) = std::sync::mpsc::channel();
    // Notification starts before the first reconciliation so nothing falls between them.
    let _fanotify = if fanotify {
        start_fanotify(&filter, &tx, stop)
    } else {
        SENSOR.store(SENSOR_INOTIFY, Ordering::Relaxed);
        None
    };
    let mut watch = match watch::Watch::start(Arc::clone(&filter), tx) {
        Ok(w) => Some(w),
        Err(e) => {
            tracing::warn!(error = %format!("{e:#}"), "no real-time file notification; changes are found by rescans only");
            SENSOR.store(SENSOR_RESCAN, Ordering::Relaxed);
            None
        }
    };
    let engine =
        Engine { filter: &filter, baseline: &baseline, stop, threads: threads(), rescan_interval: cfg.rescan_interval };
    tracing::info!(sensor = sensor_name(), roots = ?filter.roots(), "FIM sensor started");
    engine.run(&rx, sink, watch.as_mut(), progress)
}

#[cfg(target_os = "linux")]
fn start_fanotify(
    filter: &Arc<PathFilter>,
    tx: &std::sync::mpsc::Sender<watch::Signal>,
    stop: &Arc<AtomicBool>,
) -> Option<std::thread::JoinHandle<()>> {
    let fan = match fanotify::Fanotify::new(filter.roots()) {
        Ok(f) => f,
        Err(why) => {
            tracing::info!(reason = %why, "fanotify not used; inotify alone cannot name the process behind a change");
            SENSOR.store(SENSOR_INOTIFY, Ordering::Relaxed);
            return None;
        }
    };
    match fan.spawn(Arc::clone(filter), tx.clone(), Arc::clone(stop)) {
        Ok(h) => {
            SENSOR.store(SENSOR_FANOTIFY, Ordering::Relaxed);
            Some(h)
        }
        Err(e) => {
            tracing::warn!(error = %e, "cannot start the fanotify reader");
            SENSOR.store(SENSOR_INOTIFY, Ordering::Relaxed);
            None
        }
    }
}

#[cfg(not(target_os = "linux"))]
fn start_fanotify(
    _filter: &Arc<PathFilter>,
    _tx: &std::sync::mpsc::Sender<watch::Signal>,
    _stop: &Arc<AtomicBool>,
) -> Option<std::thread::JoinHandle<()>> {
    SENSOR.store(SENSOR_INOTIFY, Ordering::Relaxed);
    None
}

/// The directory holding the baseline (and the rest of the agent's state), which must never
/// be monitored: the agent's own writes there would report themselves forever.
fn own_state(baseline_db: &Path) -> Result<Vec<PathBuf>> {
    let dir = match baseline_db.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create the state directory {}", dir.display()))?;
    Ok(vec![dir])
}

/// Worker threads for scans: many more than the cores, because a cold tree is bound by the
/// latency of synchronous metadata reads (listing directories, reading inodes), which only
/// more threads overlap; file contents are also read ahead (see `scan::Readahead`). On a
/// 2-core VM a cold baseline of /usr took 11–15 s with 8 threads and 9–10 s with 32
/// (bench/fim.md). The threads mostly wait; each holds a 256 KiB read buffer.
fn threads() -> usize {
    std::thread::available_parallelism().map_or(32, |n| n.get()).clamp(32, 64)
}

struct StopOnDrop(Arc<AtomicBool>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

struct Request {
    events: Vec<FileChange>,
    done: oneshot::Sender<Result<()>>,
}

/// Hands events from the engine's thread to the async recorder and waits for durability.
struct ChannelSink(mpsc::Sender<Request>);

impl EventSink for ChannelSink {
    fn record(&mut self, events: Vec<FileChange>) -> Result<()> {
        let (done, wait) = oneshot::channel();
        self.0.blocking_send(Request { events, done }).map_err(|_| anyhow::anyhow!("the agent is stopping"))?;
        wait.blocking_recv().map_err(|_| anyhow::anyhow!("the agent is stopping"))?
    }
}
