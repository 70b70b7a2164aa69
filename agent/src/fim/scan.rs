//! Walking trees in parallel, hashing what changed, and reconciling what was found against
//! the baseline into events and baseline updates.
//!
//! The same reconciliation serves the first baseline (silently), rescans (which find what
//! happened while the agent was down or what real-time notification missed) and real-time
//! batches, so every path takes one route from "what is on disk" to "what is reported".

use super::FileChange;
use super::baseline::{Baseline, Update};
use super::filter::PathFilter;
use super::meta::{Kind, Links, Record};
use anyhow::Result;
use haidang_proto::Text;
use haidang_proto::event::{Detection, FileAction, FileEvent};
use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{SyncSender, sync_channel};
use std::sync::{Condvar, Mutex};
use std::time::Instant;

/// Entries per unit of hashing work: small enough to spread a large directory over all
/// threads, large enough to keep queue traffic low.
const CHUNK: usize = 128;
/// Baseline updates gathered before an intermediate commit during a long scan.
const FLUSH_UPDATES: usize = 8192;

/// What a scan saw, for progress and benchmarks.
#[derive(Clone, Debug, Default)]
pub struct BaselineStats {
    /// Paths recorded: files, directories, symbolic links and special files.
    pub entries: u64,
    /// Regular files among them.
    pub files: u64,
    /// Total size of the regular files.
    pub bytes: u64,
    /// Bytes actually read and hashed (unchanged files are not read again).
    pub hashed_bytes: u64,
    /// Wall-clock time of the scan.
    pub elapsed: std::time::Duration,
}

/// A path as found on disk, with its baseline entry from before.
pub(crate) struct Observed {
    pub path: PathBuf,
    pub rec: Record,
    pub old: Option<Record>,
}

/// Changes to report and the baseline updates that go with them. The events must be in the
/// spool before the updates are applied.
#[derive(Default)]
pub(crate) struct Delta {
    pub events: Vec<Change>,
    pub updates: Vec<Update>,
}

/// A change to report, with the inode (device, number) of the path's new state, by which the
/// writer that fanotify saw under another name (a temporary file renamed over the target) is
/// found.
pub(crate) struct Change {
    pub change: FileChange,
    pub inode: Option<(u64, u64)>,
}

/// Where a delta goes: recorded, then applied to the baseline. `durable` asks for a commit
/// that survives a crash (intermediate flushes of a long scan need not).
pub(crate) type Commit<'c> = dyn FnMut(Delta, bool) -> Result<()> + 'c;

/// What every scan needs.
pub(crate) struct Scanner<'a> {
    pub filter: &'a PathFilter,
    pub baseline: &'a Baseline,
    pub stop: &'a AtomicBool,
    pub threads: usize,
    pub progress: Option<&'a indicatif::ProgressBar>,
}

#[derive(Default)]
struct Counters {
    entries: AtomicU64,
    files: AtomicU64,
    bytes: AtomicU64,
    hashed: AtomicU64,
}

enum Work {
    Root(PathBuf),
    Dir(PathBuf),
    Hash(Vec<(PathBuf, Record)>),
}

#[derive(Default)]
struct QueueState {
    work: Vec<Work>,
    busy: usize,
    closed: bool,
    unreadable: Vec<PathBuf>,
}

/// The shared work list of a parallel walk. Work is taken last-in first-out, so the walk is
/// roughly depth-first and the list stays short.
#[derive(Default)]
struct Queue {
    state: Mutex<QueueState>,
    ready: Condvar,
}

impl Queue {
    fn lock(&self) -> std::sync::MutexGuard<'_, QueueState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn push(&self, w: Work) {
        self.lock().work.push(w);
        self.ready.notify_one();
    }

    fn close(&self) {
        self.lock().closed = true;
        self.ready.notify_all();
    }

    fn unreadable(&self, p: PathBuf) {
        self.lock().unreadable.push(p);
    }

    /// The next piece of work, or `None` when the walk is over.
    fn take(&self) -> Option<Work> {
        let mut s = self.lock();
        loop {
            if s.closed {
                return None;
            }
            if let Some(w) = s.work.pop() {
                s.busy += 1;
                return Some(w);
            }
            if s.busy == 0 {
                s.closed = true;
                self.ready.notify_all();
                return None;
            }
            s = self.ready.wait(s).unwrap_or_else(|e| e.into_inner());
        }
    }

    fn done(&self) {
        let mut s = self.lock();
        s.busy -= 1;
        if s.busy == 0 && s.work.is_empty() {
            s.closed = true;
            self.ready.notify_all();
        }
    }
}

/// What a walk could not see: directories it could not read (their baseline entries must not
/// be taken for deleted) and whether it was stopped early.
struct Walked {
    unreadable: Vec<PathBuf>,
    complete: bool,
}

impl Scanner<'_> {
    /// Reconciles everything at or under `scopes` against the baseline: reports what was
    /// created, modified, deleted, renamed or changed attributes, and updates the baseline.
    /// `silent` records the state without events (a first baseline).
    pub(crate) fn scan(&self, scopes: &[PathBuf], silent: bool, commit: &mut Commit<'_>) -> Result<BaselineStats> {
        let started = Instant::now();
        let counters = Counters::default();
        let mut rec = Reconciler::new(self.filter, Detection::Rescan, silent);
        let mut seen = HashSet::new();
        let walked = self.walk(scopes, &counters, &mut |chunk| {
            for o in chunk {
                seen.insert(path_id(&o.path));
                rec.observe(o);
            }
            if rec.delta.updates.len() >= FLUSH_UPDATES {
                commit(std::mem::take(&mut rec.delta), false)?;
            }
            Ok(())
        })?;
        if walked.complete {
            self.find_gone(scopes, &seen, &walked.unreadable, &mut rec)?;
        }
        rec.finish();
        commit(std::mem::take(&mut rec.delta), true)?;
        Ok(BaselineStats {
            entries: counters.entries.load(Ordering::Relaxed),
            files: counters.files.load(Ordering::Relaxed),
            bytes: counters.bytes.load(Ordering::Relaxed),
            hashed_bytes: counters.hashed.load(Ordering::Relaxed),
            elapsed: started.elapsed(),
        })
    }

    /// Reconciles a set of paths that real-time notification named. A path that is a new
    /// (or replaced, or vanished) directory is reconciled with its whole subtree, because
    /// what happened inside it may have preceded its watch.
    pub(crate) fn check_paths(&self, mut paths: Vec<PathBuf>) -> Result<Delta> {
        paths.sort();
        paths.dedup();
        let snap = self.baseline.snapshot()?;
        let mut rec = Reconciler::new(self.filter, Detection::Realtime, false);
        let mut scopes: Vec<PathBuf> = Vec::new();
        let mut singles = Vec::new();
        for p in paths {
            if !self.filter.covers(&p) || scopes.last().is_some_and(|s| p.starts_with(s)) {
                continue;
            }
            let old = snap.get(&p).unwrap_or_else(|e| {
                tracing::warn!(path = %p.display(), error = %e, "cannot read the FIM baseline");
                None
            });
            match std::fs::symlink_metadata(&p) {
                Ok(md) => {
                    let now = Record::from_metadata(&md);
                    let same_dir = |o: &Record| o.kind == Kind::Dir && o.ino == now.ino && o.dev == now.dev;
                    if now.kind == Kind::Dir && !old.as_ref().is_some_and(same_dir) {
                        scopes.push(p);
                    } else {
                        singles.push((p, now, old));
                    }
                }
                Err(e) if is_gone(&e) => match old {
                    Some(o) if o.kind == Kind::Dir => scopes.push(p),
                    Some(o) => rec.vanished(p, o),
                    None => {}
                },
                Err(e) => {
                    tracing::warn!(path = %p.display(), error = %e, "cannot inspect a changed path")
                }
            }
        }
        drop(snap);
        for o in self.hash_all(singles) {
            rec.observe(o);
        }
        if !scopes.is_empty() {
            let counters = Counters::default();
            let mut seen = HashSet::new();
            let walked = self.walk(&scopes, &counters, &mut |chunk| {
                for o in chunk {
                    seen.insert(path_id(&o.path));
                    rec.observe(o);
                }
                Ok(())
            })?;
            if walked.complete {
                self.find_gone(&scopes, &seen, &walked.unreadable, &mut rec)?;
            }
        }
        rec.finish();
        Ok(rec.delta)
    }

    /// Hashes what needs it among a few individually named paths, over all threads.
    fn hash_all(&self, items: Vec<(PathBuf, Record, Option<Record>)>) -> Vec<Observed> {
        let per_thread = items.len().div_ceil(self.threads.max(1)).max(16);
        let mut items = items;
        let mut parts = Vec::new();
        while items.len() > per_thread {
            let rest = items.split_off(per_thread);
            parts.push(std::mem::replace(&mut items, rest));
        }
        parts.push(items);
        std::thread::scope(|s| {
            let handles: Vec<_> = parts
                .into_iter()
                .map(|part| {
                    s.spawn(move || {
                        part.into_iter()
                            .filter_map(|(p, r, o)| {
                                let hash = self.filter.hashed(&p);
                                prepare(p, r, o, None, None, hash)
                            })
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            handles.into_iter().flat_map(|h| h.join().unwrap_or_default()).collect()
        })
    }

    fn walk(
        &self,
        scopes: &[PathBuf],
        counters: &Counters,
        sink: &mut dyn FnMut(Vec<Observed>) -> Result<()>,
    ) -> Result<Walked> {
        let queue = Queue::default();
        for s in scopes {
            queue.push(Work::Root(s.clone()));
        }
        let (tx, rx) = sync_channel::<Vec<Observed>>(self.threads * 4);
        let links = Links::default();
        let mut failure = None;
        std::thread::scope(|s| {
            for _ in 0..self.threads.max(1) {
                let tx = tx.clone();
                let queue = &queue;
                let links = &links;
                s.spawn(move || self.worker(queue, &tx, counters, links));
            }
            drop(tx);
            for chunk in rx.iter() {
                if let Some(pb) = self.progress {
                    pb.set_position(counters.entries.load(Ordering::Relaxed));
                    pb.set_message(format!("{} hashed", bytesize::ByteSize(counters.hashed.load(Ordering::Relaxed))));
                }
                if let Err(e) = sink(chunk) {
                    failure = Some(e);
                    queue.close();
                    break;
                }
            }
            // Unblocks workers waiting to send after a failure.
            drop(rx);
        });
        if let Some(e) = failure {
            return Err(e);
        }
        let stopped = self.stop.load(Ordering::Relaxed);
        let state = queue.state.into_inner().unwrap_or_else(|e| e.into_inner());
        Ok(Walked { unreadable: state.unreadable, complete: !stopped })
    }

    fn worker(&self, queue: &Queue, tx: &SyncSender<Vec<Observed>>, counters: &Counters, links: &Links) {
        while let Some(work) = queue.take() {
            if self.stop.load(Ordering::Relaxed) {
                queue.close();
            }
            let chunk = match work {
                Work::Root(p) => self.read_root(p, queue),
                Work::Dir(d) => self.read_dir(d, queue),
                Work::Hash(items) => items,
            };
            if !chunk.is_empty() {
                let observed = self.hash_chunk(chunk, counters, links);
                if tx.send(observed).is_err() {
                    queue.close();
                }
            }
            queue.done();
        }
    }

    fn read_root(&self, p: PathBuf, queue: &Queue) -> Vec<(PathBuf, Record)> {
        if self.filter.excluded(&p) {
            return Vec::new();
        }
        match std::fs::symlink_metadata(&p) {
            Ok(md) => {
                let rec = Record::from_metadata(&md);
                if rec.kind == Kind::Dir {
                    queue.push(Work::Dir(p.clone()));
                }
                vec![(p, rec)]
            }
            Err(e) if is_gone(&e) => Vec::new(),
            Err(e) => {
                tracing::warn!(path = %p.display(), error = %e, "cannot inspect a monitored path");
                queue.unreadable(p);
                Vec::new()
            }
        }
    }

    /// Lists one directory: subdirectories become work for any thread, entries are returned
    /// (and all but the last chunk handed to other threads) for hashing.
    fn read_dir(&self, dir: PathBuf, queue: &Queue) -> Vec<(PathBuf, Record)> {
        let entries = match std::fs::read_dir(&dir) {
            Ok(it) => it,
            Err(e) if is_gone(&e) => return Vec::new(),
            Err(e) => {
                tracing::warn!(path = %dir.display(), error = %e, "cannot list a monitored directory; its entries are kept as they were");
                queue.unreadable(dir);
                return Vec::new();
            }
        };
        let mut listed = Vec::new();
        for entry in entries {
            match entry {
                Ok(e) => listed.push(e),
                Err(e) => {
                    tracing::warn!(path = %dir.display(), error = %e, "cannot list a monitored directory fully; its entries are kept as they were");
                    queue.unreadable(dir.clone());
                    break;
                }
            }
        }
        // Inode order: inode numbers follow creation, and so roughly where inodes and data
        // lie on disk, while a large directory lists its entries in hash order. Inspecting
        // and reading in inode order makes a cold scan's reads nearly sequential (the idea
        // of e2fsprogs' spd_readdir).
        #[cfg(unix)]
        listed.sort_unstable_by_key(std::os::unix::fs::DirEntryExt::ino);
        let mut chunk = Vec::new();
        for entry in listed {
            let path = entry.path();
            if self.filter.excluded(&path) {
                continue;
            }
            // `DirEntry::metadata` does not follow symbolic links.
            match entry.metadata() {
                Ok(md) => {
                    let rec = Record::from_metadata(&md);
                    if rec.kind == Kind::Dir {
                        queue.push(Work::Dir(path.clone()));
                    }
                    chunk.push((path, rec));
                    if chunk.len() == CHUNK {
                        queue.push(Work::Hash(std::mem::take(&mut chunk)));
                    }
                }
                Err(e) if is_gone(&e) => {}
                Err(e) => {
                    tracing::warn!(path = %path.display(), error = %e, "cannot inspect a monitored path");
                    queue.unreadable(path);
                }
            }
        }
        chunk
    }

    fn hash_chunk(&self, chunk: Vec<(PathBuf, Record)>, counters: &Counters, links: &Links) -> Vec<Observed> {
        // A fresh snapshot per chunk keeps old pages from being pinned during a long scan.
        let snap = match self.baseline.snapshot() {
            Ok(s) => Some(s),
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the FIM baseline; files are hashed again");
                None
            }
        };
        let mut items: Vec<Option<(PathBuf, Record, Option<Record>)>> = chunk
            .into_iter()
            .map(|(p, r)| {
                let old = snap.as_ref().and_then(|s| {
                    s.get(&p).unwrap_or_else(|e| {
                        tracing::warn!(path = %p.display(), error = %e, "cannot read the FIM baseline");
                        None
                    })
                });
                Some((p, r, old))
            })
            .collect();
        drop(snap);
        let mut ahead = Readahead::new(items.len());
        let mut out = Vec::with_capacity(items.len());
        for i in 0..items.len() {
            ahead.advance(&items, i, self.filter);
            let Some((p, r, old)) = items[i].take() else { continue };
            let hash = self.filter.hashed(&p);
            let Some(o) = prepare(p, r, old, ahead.take(i), Some((counters, links)), hash) else { continue };
            counters.entries.fetch_add(1, Ordering::Relaxed);
            if o.rec.kind == Kind::File {
                counters.files.fetch_add(1, Ordering::Relaxed);
                counters.bytes.fetch_add(o.rec.meta.size, Ordering::Relaxed);
            }
            out.push(o);
        }
        out
    }

    /// Finds baseline entries under `scopes` that the walk did not see and that are really
    /// gone. Entries that are no longer covered (a new exclude glob) are dropped silently.
    fn find_gone(
        &self,
        scopes: &[PathBuf],
        seen: &HashSet<u128>,
        unreadable: &[PathBuf],
        rec: &mut Reconciler<'_>,
    ) -> Result<()> {
        let snap = self.baseline.snapshot()?;
        for scope in scopes {
            snap.for_each_in(scope, |p, r| {
                if seen.contains(&path_id(&p)) || unreadable.iter().any(|u| p.starts_with(u)) {
                    return;
                }
                if !self.filter.covers(&p) {
                    rec.delta.updates.push(Update::Remove(p));
                    return;
                }
                match std::fs::symlink_metadata(&p) {
                    Err(e) if is_gone(&e) => rec.vanished(p, r),
                    // It exists again (created after its directory was listed); the next
                    // notification or rescan will see it.
                    _ => {}
                }
            })?;
        }
        Ok(())
    }
}

/// Opens the files a worker is about to hash, a window ahead of the one being hashed, and
/// asks the kernel to start reading them. On a cold disk a tree of small files is otherwise
/// bound by the latency of one read at a time per thread; with the reads of the window in
/// flight together the device stays busy while the CPU hashes what has arrived.
struct Readahead {
    /// Index of the first item not yet looked at.
    next: usize,
    /// Bytes asked for and not yet hashed.
    in_flight: u64,
    /// Files opened ahead and not yet hashed.
    open: usize,
    /// By index: the file opened ahead, and what it counts in `in_flight`.
    opened: Vec<Option<(File, u64)>>,
}

impl Readahead {
    /// Bytes a worker keeps in flight ahead of its hashing.
    const WINDOW: u64 = 4 << 20;
    /// Files a worker keeps open ahead, which keeps all the workers' descriptors well under
    /// the usual limit of 1024.
    const MAX_OPEN: usize = 16;
    /// Bytes asked for at the start of one file; the kernel's own readahead takes over
    /// once the file is read sequentially.
    const PER_FILE: u64 = 1 << 20;

    fn new(len: usize) -> Readahead {
        Readahead { next: 0, in_flight: 0, open: 0, opened: (0..len).map(|_| None).collect() }
    }

    /// Called before item `current` is hashed: moves the window to start after it.
    fn advance(&mut self, items: &[Option<(PathBuf, Record, Option<Record>)>], current: usize, filter: &PathFilter) {
        self.next = self.next.max(current + 1);
        while self.next < items.len() && self.in_flight < Self::WINDOW && self.open < Self::MAX_OPEN {
            if let Some((path, rec, old)) = &items[self.next]
                && rec.kind == Kind::File
                && rec.meta.size > 0
                && !old.as_ref().is_some_and(|o| rec.same_content_as(o))
                && filter.hashed(path)
            {
                let len = rec.meta.size.min(Self::PER_FILE);
                if let Some(file) = super::meta::prefetch(path, len) {
                    self.opened[self.next] = Some((file, len));
                    self.in_flight += len;
                    self.open += 1;
                }
            }
            self.next += 1;
        }
    }

    /// The file of item `i` if it was opened ahead; it leaves the window.
    fn take(&mut self, i: usize) -> Option<File> {
        let (file, len) = self.opened.get_mut(i)?.take()?;
        self.in_flight -= len;
        self.open -= 1;
        Some(file)
    }
}

/// Completes `rec` with a hash, reusing the baseline's when the content cannot have changed
/// (none when `hash` is false: a `metadata_only` path), and with its owner and access control
/// list where `lstat` does not hold them. `None` when the path vanished meanwhile.
/// `opened` is the file if it was opened ahead; `scan` what the workers of a walk share.
fn prepare(
    path: PathBuf,
    mut rec: Record,
    old: Option<Record>,
    opened: Option<File>,
    scan: Option<(&Counters, &Links)>,
    hash: bool,
) -> Option<Observed> {
    match &old {
        _ if !hash => rec.meta.hash = None,
        Some(o) if rec.same_content_as(o) => rec.meta.hash = o.meta.hash,
        _ => match rec.hash_opened(&path, opened, scan.map(|(_, links)| links)) {
            Ok(read) => {
                if read && let Some((c, _)) = scan {
                    c.hashed.fetch_add(rec.meta.size, Ordering::Relaxed);
                }
            }
            Err(e) if is_gone(&e) => return None,
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "cannot hash; recorded without a hash");
                rec.meta.hash = None;
            }
        },
    }
    rec.read_security(&path);
    Some(Observed { path, rec, old })
}

fn is_gone(e: &io::Error) -> bool {
    // ENOTDIR: a directory on the way was replaced by a file. ELOOP: with O_NOFOLLOW, the
    // file was replaced by a symbolic link; it is seen as such on the next look.
    matches!(e.kind(), io::ErrorKind::NotFound | io::ErrorKind::NotADirectory) || e.raw_os_error() == Some(libc_eloop())
}

#[cfg(unix)]
fn libc_eloop() -> i32 {
    libc::ELOOP
}

#[cfg(not(unix))]
fn libc_eloop() -> i32 {
    -1
}

/// A 128-bit fingerprint of a path, so the set of paths seen by a scan of millions of files
/// stays small.
fn path_id(p: &Path) -> u128 {
    let h = blake3::hash(p.as_os_str().as_encoded_bytes());
    let mut b = [0u8; 16];
    b.copy_from_slice(&h.as_bytes()[..16]);
    u128::from_le_bytes(b)
}

/// Turns observations into a [`Delta`]. New and vanished paths are held back until
/// [`Reconciler::finish`], which pairs them into renames by inode.
pub(crate) struct Reconciler<'a> {
    filter: &'a PathFilter,
    detection: Detection,
    silent: bool,
    appeared: Vec<(PathBuf, Record)>,
    gone: Vec<(PathBuf, Record)>,
    pub delta: Delta,
}

impl<'a> Reconciler<'a> {
    pub(crate) fn new(filter: &'a PathFilter, detection: Detection, silent: bool) -> Reconciler<'a> {
        Reconciler { filter, detection, silent, appeared: Vec::new(), gone: Vec::new(), delta: Delta::default() }
    }

    pub(crate) fn observe(&mut self, o: Observed) {
        let Some(old) = o.old else {
            if self.silent {
                self.delta.updates.push(Update::Put(o.path, o.rec));
            } else {
                self.appeared.push((o.path, o.rec));
            }
            return;
        };
        let action = compare(&old, &o.rec);
        if action.is_none() && old == o.rec {
            return;
        }
        if let Some(action) = action
            && !self.silent
        {
            self.event(action, &o.path, None, Some(old), Some(&o.rec));
        }
        self.delta.updates.push(Update::Put(o.path, o.rec));
    }

    pub(crate) fn vanished(&mut self, path: PathBuf, old: Record) {
        if self.silent {
            self.delta.updates.push(Update::Remove(path));
        } else {
            self.gone.push((path, old));
        }
    }

    /// Pairs vanished and new paths into renames, reports the rest as deleted and created.
    pub(crate) fn finish(&mut self) {
        let mut by_inode: HashMap<(u64, u64), Vec<usize>> = HashMap::new();
        for (i, (_, r)) in self.gone.iter().enumerate() {
            if r.ino != 0 {
                by_inode.entry((r.dev, r.ino)).or_default().push(i);
            }
        }
        let mut gone: Vec<Option<(PathBuf, Record)>> = std::mem::take(&mut self.gone).into_iter().map(Some).collect();
        let mut appeared = std::mem::take(&mut self.appeared);
        appeared.sort_by(|a, b| a.0.cmp(&b.0));
        let mut created = Vec::new();
        for (path, new) in appeared {
            let source = by_inode.get_mut(&(new.dev, new.ino)).and_then(|candidates| {
                let pos =
                    candidates.iter().position(|&i| gone[i].as_ref().is_some_and(|(_, old)| renamed(old, &new)))?;
                gone[candidates.swap_remove(pos)].take()
            });
            match source {
                Some((old_path, old)) => {
                    self.event(FileAction::Renamed, &path, Some(&old_path), Some(old), Some(&new));
                    self.delta.updates.push(Update::Remove(old_path));
                    self.delta.updates.push(Update::Put(path, new));
                }
                None => created.push((path, new)),
            }
        }
        for (path, new) in created {
            self.event(FileAction::Created, &path, None, None, Some(&new));
            self.delta.updates.push(Update::Put(path, new));
        }
        let mut gone: Vec<_> = gone.into_iter().flatten().collect();
        gone.sort_by(|a, b| a.0.cmp(&b.0));
        for (path, old) in gone {
            self.event(FileAction::Deleted, &path, None, Some(old), None);
            self.delta.updates.push(Update::Remove(path));
        }
    }

    fn event(
        &mut self,
        action: FileAction,
        path: &Path,
        old_path: Option<&Path>,
        old: Option<Record>,
        new: Option<&Record>,
    ) {
        let critical = self.filter.critical(path) || old_path.is_some_and(|p| self.filter.critical(p));
        let old_security = old.as_ref().and_then(|r| r.security.to_wire());
        let event = FileEvent {
            action,
            path: Text::from(path),
            old_path: old_path.map(Text::from),
            old: old.map(|r| r.meta),
            new: new.map(|r| r.meta.clone()),
            critical,
            detection: self.detection,
            actor: None,
        };
        let change = FileChange { event, old_security, new_security: new.and_then(|r| r.security.to_wire()) };
        let inode = new.map(|r| (r.dev, r.ino));
        self.delta.events.push(Change { change, inode });
    }
}

/// Whether `new` is `old` under another name: the same inode, and for anything but a
/// directory (whose mtime moves with its entries) the same size and mtime, which a rename
/// keeps and a new file reusing the inode number would not have.
fn renamed(old: &Record, new: &Record) -> bool {
    old.kind == new.kind
        && (new.kind == Kind::Dir || (old.meta.size == new.meta.size && old.meta.mtime == new.meta.mtime))
}

/// What changed between two records of the same path, as far as anyone needs telling.
fn compare(old: &Record, new: &Record) -> Option<FileAction> {
    if old.kind != new.kind || old.meta.hash != new.meta.hash || old.meta.size != new.meta.size {
        return Some(FileAction::Modified);
    }
    let owner_or_mode = old.meta.mode != new.meta.mode
        || old.meta.uid != new.meta.uid
        || old.meta.gid != new.meta.gid
        || old.security != new.security;
    // A directory's mtime moves whenever an entry is added or removed, which is reported for
    // the entry itself.
    let mtime = new.kind != Kind::Dir && old.meta.mtime != new.meta.mtime;
    (owner_or_mode || mtime).then_some(FileAction::Attributes)
}
