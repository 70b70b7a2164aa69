//! The agent's background scanner: scans the files FIM reports created, modified or renamed,
//! and every `interval` sweeps all the paths FIM watches (the first sweep at start). Matches
//! are recorded as `EventBody::Malware`; a file is reported again only when its content (or
//! name) changed, or after the agent restarts, because repeat answers come from the cache.
//!
//! Scanning runs on a thread of its own, throttled to `cpu_share` of a core. FIM hands it
//! paths through a bounded queue without ever waiting: when the scanner is behind, paths are
//! dropped and counted, and the next sweep covers them.

use crate::scan::ScanConfig;
use crate::scan::throttle::Throttle;
use crate::spool::{Observation, Recorder};
use anyhow::{Context, Result};
use haidang_proto::EventBody;
use haidang_proto::event::{FileAction, FileEvent};
use haidang_yara::{Origin, RuleCache, Rules, Scan, ScanCache, ScanError, Scanner};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::time::{Duration, Instant};

/// Paths waiting to be scanned; past this, FIM's reports are dropped (and swept later).
const QUEUE: usize = 4096;
/// Results remembered; a clean file costs about 200 bytes, so this is about 20 MB at most.
const CACHE_ENTRIES: usize = 100_000;
/// How often the scanner thread looks at the stop flag and the sweep clock when idle.
const TICK: Duration = Duration::from_secs(1);

/// Where FIM reports files to scan. Cheap to clone; never blocks.
#[derive(Clone)]
pub(super) struct FileTap {
    tx: SyncSender<PathBuf>,
    dropped: Arc<AtomicU64>,
}

impl FileTap {
    /// Queues the file a FIM event leaves behind, if it is content that may need scanning.
    pub(super) fn offer(&self, event: &FileEvent) {
        let scannable = matches!(event.action, FileAction::Created | FileAction::Modified | FileAction::Renamed)
            && event.new.as_ref().is_some_and(|m| is_regular(m.mode));
        if !scannable {
            return;
        }
        match self.tx.try_send(path_of(&event.path)) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                self.dropped.fetch_add(1, Ordering::Relaxed);
            }
            // The scanner has stopped (and said why); FIM goes on without it.
            Err(TrySendError::Disconnected(_)) => {}
        }
    }
}

/// The receiving end, handed to [`run`].
pub(super) struct FileQueue {
    rx: Receiver<PathBuf>,
    dropped: Arc<AtomicU64>,
}

/// A tap for FIM and the queue it feeds.
pub(super) fn queue() -> (FileTap, FileQueue) {
    let (tx, rx) = std::sync::mpsc::sync_channel(QUEUE);
    let dropped = Arc::new(AtomicU64::new(0));
    (FileTap { tx, dropped: dropped.clone() }, FileQueue { rx, dropped })
}

/// Loads the rules, then scans until the returned future is dropped. `roots` are the paths
/// to sweep; nothing under `skip` (the agent's own state) is scanned.
pub(super) async fn run(
    cfg: ScanConfig,
    rule_cache: RuleCache,
    roots: Vec<PathBuf>,
    skip: Option<PathBuf>,
    queue: FileQueue,
    recorder: Recorder,
) -> Result<()> {
    let paths = cfg.yara_rules.clone();
    let (rules, origin) = tokio::task::spawn_blocking(move || rule_cache.load_compiling_apart(&paths))
        .await
        .context("loading YARA rules stopped unexpectedly")??;
    crate::heap::give_back();
    if let Origin::CompiledNotStored(why) = &origin {
        tracing::warn!(error = %why, "compiled YARA rules not kept; they will be compiled again at the next start");
    }
    for problem in &rules.report.problems {
        tracing::warn!(%problem, "YARA rule not loaded");
    }
    tracing::info!(
        files = rules.report.files,
        rules = rules.report.rules,
        problems = rules.report.problems.len(),
        from_cache = origin == Origin::Cached,
        "YARA rules loaded"
    );
    let stop = Arc::new(AtomicBool::new(false));
    let _stop = StopOnDrop(stop.clone());
    let (found_tx, mut found_rx) = tokio::sync::mpsc::channel::<Vec<Observation>>(16);
    let worker = Worker { cfg, roots, skip, queue, found: found_tx, stop };
    std::thread::Builder::new()
        .name("yara-scan".into())
        .spawn(move || worker.run(&rules))
        .context("cannot start the YARA scanner thread")?;
    while let Some(observations) = found_rx.recv().await {
        recorder.record(observations).await?;
    }
    anyhow::bail!("the YARA scanner thread stopped")
}

struct Worker {
    cfg: ScanConfig,
    roots: Vec<PathBuf>,
    skip: Option<PathBuf>,
    queue: FileQueue,
    found: tokio::sync::mpsc::Sender<Vec<Observation>>,
    stop: Arc<AtomicBool>,
}

#[derive(Default)]
struct Tally {
    scanned: u64,
    cached: u64,
    not_scanned: u64,
    matches: u64,
}

impl Worker {
    fn run(self, rules: &Rules) {
        let cache = ScanCache::new(CACHE_ENTRIES);
        let mut scanner = Scanner::new(rules, &cache, self.cfg.max_file_size.as_u64());
        let mut throttle = Throttle::new(self.cfg.cpu_share);
        let mut next_sweep = Instant::now();
        while !self.stop.load(Ordering::Relaxed) {
            if Instant::now() >= next_sweep {
                if !self.sweep(&mut scanner, &mut throttle) {
                    return;
                }
                next_sweep = Instant::now() + self.cfg.interval;
            }
            match self.queue.rx.recv_timeout(TICK) {
                Ok(path) => {
                    let mut tally = Tally::default();
                    if !self.scan(&path, &mut scanner, &mut throttle, &mut tally) {
                        return;
                    }
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => {
                    // FIM is gone; sweeps still run on schedule.
                    std::thread::sleep(TICK);
                }
            }
            let dropped = self.queue.dropped.swap(0, Ordering::Relaxed);
            if dropped > 0 {
                tracing::warn!(dropped, "YARA scanner behind: files reported by FIM left for the next sweep");
            }
        }
    }

    fn skipped(&self, path: &Path) -> bool {
        self.skip.as_ref().is_some_and(|s| path.starts_with(s))
    }

    /// Scans everything under the roots; false when the agent is stopping.
    fn sweep(&self, scanner: &mut Scanner, throttle: &mut Throttle) -> bool {
        let started = Instant::now();
        let mut tally = Tally::default();
        let mut pending: Vec<PathBuf> = self.roots.clone();
        while let Some(path) = pending.pop() {
            if self.stop.load(Ordering::Relaxed) {
                return false;
            }
            // Files FIM reports meanwhile are scanned at once, not after the whole sweep.
            while let Ok(reported) = self.queue.rx.try_recv() {
                if !self.scan(&reported, scanner, throttle, &mut Tally::default()) {
                    return false;
                }
            }
            if self.skipped(&path) {
                continue;
            }
            let Ok(md) = std::fs::symlink_metadata(&path) else { continue };
            if md.is_dir() {
                match std::fs::read_dir(&path) {
                    Ok(entries) => pending.extend(entries.filter_map(|e| e.ok().map(|e| e.path()))),
                    Err(e) => tracing::info!(path = %path.display(), error = %e, "YARA sweep cannot list a directory"),
                }
            } else if md.is_file() && !self.scan(&path, scanner, throttle, &mut tally) {
                return false;
            }
        }
        tracing::info!(
            scanned = tally.scanned,
            unchanged = tally.cached,
            not_scanned = tally.not_scanned,
            matches = tally.matches,
            secs = started.elapsed().as_secs(),
            "YARA sweep finished"
        );
        true
    }

    /// Scans one file and hands new matches to the recorder; false when the agent is stopping.
    fn scan(&self, path: &Path, scanner: &mut Scanner, throttle: &mut Throttle, tally: &mut Tally) -> bool {
        if self.skipped(path) {
            return true;
        }
        match throttle.run(|| scanner.scan_file(path)) {
            Ok(Scan { cached: true, .. }) => tally.cached += 1,
            Ok(Scan { matches, .. }) => {
                tally.scanned += 1;
                if matches.is_empty() {
                    return true;
                }
                tally.matches += matches.len() as u64;
                for m in &matches {
                    tracing::warn!(path = %path.display(), rule = %m.rule, namespace = %m.namespace, "YARA match");
                }
                let observations = matches.iter().map(|m| Observation::now(EventBody::Malware(m.to_event()))).collect();
                return self.found.blocking_send(observations).is_ok();
            }
            // Gone between the report and the scan: nothing left to scan.
            Err(ScanError::Io(e)) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(ScanError::NotAFile) => {}
            Err(e) => {
                tally.not_scanned += 1;
                tracing::info!(path = %path.display(), reason = %e, "file not scanned for malware");
            }
        }
        true
    }
}

struct StopOnDrop(Arc<AtomicBool>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// A regular file, or a platform whose modes carry no file type (Windows), where the
/// scanner itself finds out.
fn is_regular(mode: u32) -> bool {
    matches!(mode & 0o170000, 0o100000 | 0)
}

#[cfg(unix)]
fn path_of(text: &haidang_proto::Text) -> PathBuf {
    use std::os::unix::ffi::OsStrExt;
    PathBuf::from(std::ffi::OsStr::from_bytes(&text.to_bytes()))
}

#[cfg(not(unix))]
fn path_of(text: &haidang_proto::Text) -> PathBuf {
    PathBuf::from(text.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::MAIN_SEPARATOR;

    /// Built at run time so that this source file is not itself the EICAR test file's content.
    fn eicar() -> Vec<u8> {
        [r"X5O!P%@AP[4\PZX54(P^)7CC)7}$", "EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"].concat().into_bytes()
    }

    fn shipped_rules() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../rules/yara")
    }

    /// The agent's wiring: FIM reports a new file, the background scanner scans it and records a
    /// malware event; a file already there at start is found by the first sweep.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_background_scanner_records_what_fim_reports_and_what_the_sweep_finds() {
        use crate::spool::{Recorder, Spool};
        use haidang_proto::EventBody;
        use std::time::{Duration, Instant};
        let watched_dir = tempfile::tempdir().expect("tempdir");
        let state = tempfile::tempdir().expect("tempdir");
        let watched = crate::paths::canonicalize(watched_dir.path()).expect("canonical");
        std::fs::write(watched.join("old.com"), eicar()).expect("write");
        let spool = Spool::open(&state.path().join("spool.redb"), 1 << 30).expect("spool");
        let recorder = Recorder::start(spool.clone());
        let (tap, queue) = queue();
        let cfg = ScanConfig { yara_rules: vec![shipped_rules()], cpu_share: 1.0, ..ScanConfig::default() };
        let skip = Some(state.path().to_path_buf());
        let rule_cache = RuleCache::new(state.path().join("yara-rules"));
        let scanner = tokio::spawn(run(cfg, rule_cache, vec![watched.clone()], skip, queue, recorder.clone()));
        let fim_cfg = crate::fim::FimConfig { paths: vec![watched.clone()], ..crate::fim::FimConfig::default() };
        let baseline = state.path().join("baseline.redb");
        let fim =
            tokio::spawn(crate::fim::run(fim_cfg, baseline, recorder, false, Some(Box::new(move |e| tap.offer(e)))));

        let pkcs8 = ring::signature::Ed25519KeyPair::generate_pkcs8(&ring::rand::SystemRandom::new()).expect("keygen");
        let key = ring::signature::Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).expect("key");
        let mut found: Vec<haidang_proto::event::MalwareMatch> = Vec::new();
        let mut wait_for = async |name: &str| {
            let deadline = Instant::now() + Duration::from_secs(60);
            while !found.iter().any(|m| m.path.as_str().ends_with(name)) {
                assert!(Instant::now() < deadline, "no malware event for {name}: {found:?}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                let batch = spool.seal(&key, haidang_proto::AgentId([1; 16]), 10_000, 1 << 26).expect("seal");
                for event in batch.map(|b| b.open().expect("open")).unwrap_or_default() {
                    if let EventBody::Malware(m) = event.body {
                        found.push(m);
                    }
                }
            }
        };
        let (old, new) = (format!("{MAIN_SEPARATOR}old.com"), format!("{MAIN_SEPARATOR}new.php"));
        wait_for(&old).await;
        // FIM is watching once the sweep has run (both start together); a new web shell is
        // reported by FIM and scanned at once.
        tokio::time::sleep(Duration::from_secs(1)).await;
        std::fs::write(watched.join("new.php"), "<?php eval($_GET['c']); ?>").expect("write");
        wait_for(&new).await;
        let shell = found.iter().find(|m| m.path.as_str().ends_with(&new)).expect("found");
        assert_eq!((shell.rule.as_str(), shell.namespace.as_str()), ("php_webshell_request_exec", "php_webshell"));
        assert_eq!(found.iter().filter(|m| m.path.as_str().ends_with(&old)).count(), 1, "reported once: {found:?}");
        assert!(!scanner.is_finished() && !fim.is_finished());
        scanner.abort();
        fim.abort();
    }
}
