//! The sensor's loop: coalesces real-time signals into batches, reconciles them, runs the
//! periodic rescans, and hands events to the spool before the baseline moves.

use super::FileChange;
use super::baseline::Baseline;
use super::filter::PathFilter;
use super::scan::{BaselineStats, Delta, Scanner};
use super::watch::{Signal, Watch};
use anyhow::Result;
use haidang_proto::Text;
use haidang_proto::event::Actor;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

/// A path is looked at once it has been quiet this long, so a burst of writes is one event.
const QUIET: Duration = Duration::from_millis(50);
/// ...but never later than this after its first signal, so a file written continuously is
/// still reported.
const MAX_DELAY: Duration = Duration::from_secs(1);
/// Events per call to the spool.
const BATCH: usize = 256;
/// Pending paths beyond this are dropped in favour of a rescan, which bounds memory.
const MAX_DIRTY: usize = 100_000;
/// How long a write seen by fanotify can name the actor of a change found under another
/// path with the same inode (a file written under a temporary name, then renamed).
const WRITER_MEMORY: Duration = Duration::from_secs(10);
/// How often the loop looks at the stop flag when nothing happens: every wake-up costs an
/// idle agent CPU, and stopping within a second is soon enough.
const TICK: Duration = Duration::from_secs(1);

/// Where events go. The call returns once they are durable.
pub(crate) trait EventSink {
    fn record(&mut self, changes: Vec<FileChange>) -> Result<()>;
}

pub(crate) struct Engine<'a> {
    pub filter: &'a PathFilter,
    pub baseline: &'a Baseline,
    pub stop: &'a AtomicBool,
    pub threads: usize,
    pub rescan_interval: Duration,
}

struct Pending {
    first: Instant,
    last: Instant,
    actor: Option<Actor>,
}

impl Engine<'_> {
    fn scanner<'s>(&'s self, progress: Option<&'s indicatif::ProgressBar>) -> Scanner<'s> {
        Scanner { filter: self.filter, baseline: self.baseline, stop: self.stop, threads: self.threads, progress }
    }

    /// Records the events, then applies the baseline updates: a change is never in the
    /// baseline without being in the spool.
    fn commit(&self, sink: &mut dyn EventSink, delta: Delta, durable: bool) -> Result<()> {
        let mut events: Vec<FileChange> = delta.events.into_iter().map(|c| c.change).collect();
        while !events.is_empty() {
            let rest = events.split_off(events.len().min(BATCH));
            sink.record(std::mem::replace(&mut events, rest))?;
        }
        if !delta.updates.is_empty() {
            self.baseline.apply(&delta.updates, durable)?;
        }
        Ok(())
    }

    /// Records the state of `roots` without reporting anything (the first baseline, or a
    /// refresh), and marks them baselined.
    pub(crate) fn baseline_silently(&self, roots: &[PathBuf], progress: bool) -> Result<BaselineStats> {
        let pb = progress.then(|| progress_bar("FIM baseline"));
        let mut no_events = |delta: Delta, durable: bool| self.baseline.apply(&delta.updates, durable);
        let stats = self.scanner(pb.as_ref()).scan(roots, true, &mut no_events)?;
        if let Some(pb) = pb {
            pb.finish_and_clear();
        }
        if !self.stop.load(Ordering::Relaxed) {
            let existing: Vec<PathBuf> =
                roots.iter().filter(|r| std::fs::symlink_metadata(r).is_ok()).cloned().collect();
            self.baseline.set_roots(&existing, self.filter.roots())?;
        }
        Ok(stats)
    }

    /// Reconciles every root: roots never baselined get their first baseline silently, the
    /// others report what changed since the baseline (e.g. while the agent was down).
    pub(crate) fn rescan(&self, sink: &mut dyn EventSink, progress: bool) -> Result<()> {
        let mut known = Vec::new();
        let mut new = Vec::new();
        for r in self.filter.roots() {
            if self.baseline.has_root(r)? { known.push(r.clone()) } else { new.push(r.clone()) }
        }
        if !new.is_empty() {
            let stats = self.baseline_silently(&new, progress)?;
            tracing::info!(entries = stats.entries, bytes = stats.bytes, elapsed = ?stats.elapsed, "FIM first baseline done");
        }
        if !known.is_empty() {
            let started = Instant::now();
            let mut commit = |delta: Delta, durable: bool| self.commit(sink, delta, durable);
            let stats = self.scanner(None).scan(&known, false, &mut commit)?;
            tracing::debug!(entries = stats.entries, hashed = stats.hashed_bytes, elapsed = ?started.elapsed(), "FIM rescan done");
        }
        Ok(())
    }

    /// Reconciles every root like a rescan and returns what changed, without recording it or
    /// moving the baseline: an operator's check, which can be repeated with the same result.
    /// Every root must have its first baseline.
    pub(crate) fn check(&self, progress: bool) -> Result<(Vec<FileChange>, BaselineStats)> {
        for r in self.filter.roots() {
            anyhow::ensure!(
                self.baseline.has_root(r)?,
                "{} has no baseline yet: run `haidang-agent fim baseline` with the same paths first",
                r.display()
            );
        }
        let pb = progress.then(|| progress_bar("FIM check"));
        let mut events = Vec::new();
        let mut keep_events = |delta: Delta, _durable: bool| {
            events.extend(delta.events.into_iter().map(|c| c.change));
            Ok(())
        };
        let stats = self.scanner(pb.as_ref()).scan(self.filter.roots(), false, &mut keep_events)?;
        if let Some(pb) = pb {
            pb.finish_and_clear();
        }
        Ok((events, stats))
    }

    /// Runs until the stop flag is set or the sink fails: an initial reconciliation, then
    /// real-time batches and a full rescan every `rescan_interval` or after lost events.
    pub(crate) fn run(
        &self,
        rx: &Receiver<Signal>,
        sink: &mut dyn EventSink,
        mut watch: Option<&mut Watch>,
        progress: bool,
    ) -> Result<()> {
        self.rescan(sink, progress)?;
        let mut next_rescan = Instant::now() + self.rescan_interval;
        let mut overflow: Option<&'static str> = None;
        let mut pending: HashMap<PathBuf, Pending> = HashMap::new();
        let mut writers: HashMap<(u64, u64), (Actor, Instant)> = HashMap::new();
        let mut connected = true;
        while !self.stop.load(Ordering::Relaxed) {
            let now = Instant::now();
            let due = pending.values().map(|p| (p.last + QUIET).min(p.first + MAX_DELAY)).min();
            let wake = due.unwrap_or(next_rescan).min(next_rescan).min(now + TICK);
            let wait = wake.saturating_duration_since(now);
            if connected {
                match rx.recv_timeout(wait) {
                    Ok(s) => {
                        self.absorb(s, &mut pending, &mut writers, &mut overflow);
                        while let Ok(s) = rx.try_recv() {
                            self.absorb(s, &mut pending, &mut writers, &mut overflow);
                        }
                    }
                    Err(RecvTimeoutError::Timeout) => {}
                    Err(RecvTimeoutError::Disconnected) => connected = false,
                }
            } else {
                std::thread::sleep(wait);
            }
            if pending.len() > MAX_DIRTY {
                pending.clear();
                overflow.get_or_insert("too many pending changes");
            }
            let now = Instant::now();
            if overflow.is_some() || now >= next_rescan {
                if let Some(why) = overflow.take() {
                    tracing::warn!(reason = why, "real-time events were lost; rescanning");
                }
                if let Some(w) = watch.as_deref_mut() {
                    w.watch_missing();
                }
                self.rescan(sink, false)?;
                next_rescan = Instant::now() + self.rescan_interval;
            }
            let now = Instant::now();
            let ready: Vec<PathBuf> = pending
                .iter()
                .filter(|(_, p)| now >= p.last + QUIET || now >= p.first + MAX_DELAY)
                .map(|(k, _)| k.clone())
                .collect();
            if ready.is_empty() {
                continue;
            }
            let mut actors = HashMap::new();
            for p in &ready {
                if let Some(Pending { actor: Some(a), .. }) = pending.remove(p) {
                    actors.insert(Text::from(p.as_path()), a);
                }
            }
            let mut delta = self.scanner(None).check_paths(ready)?;
            for c in &mut delta.events {
                let by_inode = || c.inode.and_then(|i| writers.get(&i)).map(|(a, _)| a);
                let event = &mut c.change.event;
                event.actor = actors.get(&event.path).or_else(by_inode).cloned();
            }
            writers.retain(|_, (_, seen)| seen.elapsed() < WRITER_MEMORY);
            self.commit(sink, delta, true)?;
        }
        Ok(())
    }

    fn absorb(
        &self,
        s: Signal,
        pending: &mut HashMap<PathBuf, Pending>,
        writers: &mut HashMap<(u64, u64), (Actor, Instant)>,
        overflow: &mut Option<&'static str>,
    ) {
        let now = Instant::now();
        let (path, actor) = match s {
            Signal::Changed(p) => (p, None),
            Signal::Written(p, inode, a) => {
                if let Some(i) = inode {
                    writers.insert(i, (a.clone(), now));
                }
                (p, Some(a))
            }
            Signal::Overflow(why) => {
                overflow.get_or_insert(why);
                return;
            }
        };
        let entry = pending.entry(path).or_insert(Pending { first: now, last: now, actor: None });
        entry.last = now;
        if actor.is_some() {
            entry.actor = actor;
        }
    }
}

fn progress_bar(what: &str) -> indicatif::ProgressBar {
    let pb = indicatif::ProgressBar::new_spinner();
    let template = format!("{{spinner}} {what}: {{human_pos}} paths, {{msg}} ({{elapsed}})");
    let style = indicatif::ProgressStyle::with_template(&template)
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner());
    pb.set_style(style);
    pb.enable_steady_tick(Duration::from_millis(120));
    pb
}
