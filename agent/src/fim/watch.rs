//! Real-time notification through the `notify` crate (inotify on Linux): creations,
//! deletions, renames, writes and attribute changes, anywhere under the roots.

use super::filter::PathFilter;
use anyhow::{Context, Result};
use haidang_proto::event::Actor;
use notify::{Config, EventKind, RecommendedWatcher, RecursiveMode, Watcher};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::mpsc::Sender;

/// What the real-time sources tell the engine.
#[derive(Debug)]
pub(crate) enum Signal {
    /// Something happened to this path; look at it.
    Changed(PathBuf),
    /// This process wrote to this path, whose inode is (device, number) (fanotify).
    #[cfg_attr(not(target_os = "linux"), expect(dead_code, reason = "only fanotify names writers so far"))]
    Written(PathBuf, Option<(u64, u64)>, Actor),
    /// Events were lost; only a full rescan can tell what happened.
    Overflow(&'static str),
}

/// Recursive watches on the roots; dropped, they stop.
pub(crate) struct Watch {
    watcher: RecommendedWatcher,
    filter: Arc<PathFilter>,
    watched: Vec<PathBuf>,
}

impl Watch {
    pub(crate) fn start(filter: Arc<PathFilter>, tx: Sender<Signal>) -> Result<Watch> {
        let handler_filter = Arc::clone(&filter);
        let handler = move |res: notify::Result<notify::Event>| match res {
            Ok(ev) => {
                if ev.need_rescan() {
                    let _ = tx.send(Signal::Overflow("the inotify queue overflowed"));
                }
                if matches!(ev.kind, EventKind::Access(_)) && !is_close_write(&ev.kind) {
                    return;
                }
                for p in ev.paths {
                    if handler_filter.covers(&p) {
                        let _ = tx.send(Signal::Changed(p));
                    }
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "file notification error; a rescan will reconcile");
                let _ = tx.send(Signal::Overflow("a file notification error"));
            }
        };
        let watcher = RecommendedWatcher::new(handler, Config::default().with_follow_symlinks(false))
            .context("cannot start file notification (inotify)")?;
        let mut w = Watch { watcher, filter, watched: Vec::new() };
        w.watch_missing();
        Ok(w)
    }

    /// Adds a watch on every root that exists and is not watched yet; a root created after the
    /// agent started is picked up at the next rescan.
    pub(crate) fn watch_missing(&mut self) {
        for root in self.filter.roots() {
            if self.watched.contains(root) || !root.exists() {
                continue;
            }
            match self.watcher.watch(root, RecursiveMode::Recursive) {
                Ok(()) => self.watched.push(root.clone()),
                Err(e) => {
                    tracing::warn!(path = %root.display(), error = %e, "cannot watch; changes are found by rescans only")
                }
            }
        }
    }
}

fn is_close_write(k: &EventKind) -> bool {
    matches!(k, EventKind::Access(notify::event::AccessKind::Close(notify::event::AccessMode::Write)))
}
