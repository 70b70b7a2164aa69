//! The process table as the sensor knows it: one entry per live process, so that an exit can
//! be reported with the image and command line of the process that ended, and a start with
//! the image of its parent. Entries are removed when their process exits, so the table never
//! holds more than the machine's live processes.

use super::enrich::{self, Enricher, Snapshot};
use crate::process::Facts;
use haidang_proto::Text;
use haidang_proto::event::{ProcessAction, ProcessEvent};
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

#[derive(Clone, Debug)]
enum Entry {
    Process(Facts),
    /// Kernel threads are tracked only so that they are not read again on every poll;
    /// they never produce events.
    Kernel,
}

pub(crate) struct ProcessTable {
    proc_root: PathBuf,
    entries: HashMap<u32, Entry>,
    enricher: Enricher,
}

impl ProcessTable {
    pub(crate) fn new(proc_root: &Path) -> ProcessTable {
        ProcessTable { proc_root: proc_root.to_owned(), entries: HashMap::new(), enricher: Enricher::new() }
    }

    /// Records every process already running, without events: they started before the
    /// sensor did. Their images are not hashed, to keep the agent's start cheap.
    pub(crate) fn baseline(&mut self) -> std::io::Result<()> {
        for pid in live_pids(&self.proc_root)? {
            let mut snap = enrich::capture(&self.proc_root, pid);
            snap.exe = None;
            self.insert(snap);
        }
        Ok(())
    }

    /// A process began running a new image (an exec, or a pid first seen by a poll).
    /// Returns `None` for kernel threads.
    pub(crate) fn started(&mut self, snap: Snapshot) -> Option<ProcessEvent> {
        let pid = snap.pid;
        let info = self.insert(snap)?.clone();
        Some(info.event(ProcessAction::Start, pid, self.parent_image(info.ppid), None))
    }

    /// A process forked: until it execs (or exits) it runs its parent's image.
    pub(crate) fn forked(&mut self, parent: u32, child: u32) {
        if let Some(Entry::Process(info)) = self.entries.get(&parent) {
            let info = Facts { ppid: parent, ..info.clone() };
            self.entries.insert(child, Entry::Process(info));
        }
    }

    /// A process ended. Only processes the table knows produce an event: an unknown pid is a
    /// kernel thread, or a process whose start was lost, about which nothing can be said.
    pub(crate) fn exited(&mut self, pid: u32, exit_code: Option<i32>) -> Option<ProcessEvent> {
        let Entry::Process(info) = self.entries.remove(&pid)? else {
            return None;
        };
        Some(info.event(ProcessAction::Exit, pid, self.parent_image(info.ppid), exit_code))
    }

    /// Brings the table in line with `/proc`: a start for each new pid, an exit for each
    /// vanished one. This is the whole of the polling backend, and how the netlink backend
    /// recovers after the kernel dropped events. A pid that was reused between two calls
    /// goes unnoticed; only the netlink backend sees those.
    pub(crate) fn reconcile(&mut self) -> std::io::Result<Vec<ProcessEvent>> {
        let live: HashSet<u32> = live_pids(&self.proc_root)?.into_iter().collect();
        let gone: Vec<u32> = self.entries.keys().filter(|pid| !live.contains(pid)).copied().collect();
        let mut events: Vec<ProcessEvent> = gone.into_iter().filter_map(|pid| self.exited(pid, None)).collect();
        let new: Vec<u32> = live.into_iter().filter(|pid| !self.entries.contains_key(pid)).collect();
        for pid in new {
            let snap = enrich::capture(&self.proc_root, pid);
            events.extend(self.started(snap));
        }
        Ok(events)
    }

    /// How many processes (kernel threads included) the table holds.
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    fn insert(&mut self, snap: Snapshot) -> Option<&Facts> {
        if snap.kernel_thread {
            self.entries.insert(snap.pid, Entry::Kernel);
            return None;
        }
        // What an exec does not change (parent, owner) survives from the fork entry when the
        // process was gone before it could be read.
        let before = match self.entries.get(&snap.pid) {
            Some(Entry::Process(info)) => Some(info),
            _ => None,
        };
        let ppid = snap.ppid.or(before.map(|b| b.ppid)).unwrap_or(0);
        let user = match (snap.uid, before) {
            (Some(uid), _) => Text::from(self.enricher.user_name(uid)),
            (None, Some(before)) => before.user.clone(),
            (None, None) => Text::default(),
        };
        let info = Facts {
            ppid,
            image: snap.image.as_deref().map(Text::from_bytes).unwrap_or_default(),
            command_line: snap.command_line.as_deref().map(Text::from_bytes).unwrap_or_default(),
            user,
            image_hash: snap.exe.as_ref().and_then(|exe| self.enricher.image_hash(exe)),
        };
        self.entries.insert(snap.pid, Entry::Process(info));
        match self.entries.get(&snap.pid) {
            Some(Entry::Process(info)) => Some(info),
            _ => None,
        }
    }

    fn parent_image(&self, ppid: u32) -> Option<Text> {
        match self.entries.get(&ppid) {
            Some(Entry::Process(parent)) if !parent.image.as_str().is_empty() => Some(parent.image.clone()),
            _ => enrich::read_image(&self.proc_root, ppid).map(|image| Text::from_bytes(&image)),
        }
    }
}

/// The pids (thread-group ids, so processes, not threads) listed in `proc_root`. Reading the
/// directory alone is what keeps polling cheap: no per-process file is opened for a process
/// already known.
pub(crate) fn live_pids(proc_root: &Path) -> std::io::Result<Vec<u32>> {
    let mut pids = Vec::with_capacity(512);
    for entry in std::fs::read_dir(proc_root)? {
        let Ok(entry) = entry else { continue };
        if let Some(pid) = entry.file_name().to_str().and_then(|name| name.parse().ok()) {
            pids.push(pid);
        }
    }
    Ok(pids)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snapshot(pid: u32, ppid: Option<u32>, image: &str, uid: Option<u32>) -> Snapshot {
        Snapshot {
            pid,
            ppid,
            uid,
            image: Some(image.as_bytes().to_vec()),
            command_line: Some(image.as_bytes().to_vec()),
            ..Snapshot::default()
        }
    }

    #[test]
    fn fork_exec_exit_reports_what_is_known_and_prunes() {
        let empty = tempfile::tempdir().expect("temp dir");
        let mut table = ProcessTable::new(empty.path());
        assert!(table.started(snapshot(10, Some(1), "/usr/bin/bash", Some(0))).is_some());
        table.forked(10, 11);

        // The child was gone before it could be read: parent and user come from the fork.
        let start = table.started(Snapshot { pid: 11, ..Snapshot::default() }).expect("start");
        assert_eq!((start.ppid, start.user.as_str(), start.image.as_str()), (10, "root", ""));
        assert_eq!(start.parent_image, Some(Text::from("/usr/bin/bash")));

        let exit = table.exited(11, Some(3)).expect("exit");
        assert_eq!((exit.action, exit.exit_code, exit.ppid), (ProcessAction::Exit, Some(3), 10));
        assert!(table.exited(11, None).is_none(), "an exit is reported once");
        assert!(table.exited(999, None).is_none(), "unknown pids say nothing");

        table.started(Snapshot { pid: 12, kernel_thread: true, ..Snapshot::default() });
        assert!(table.exited(12, None).is_none(), "kernel threads are silent");
        assert_eq!(table.len(), 1);
    }

    #[test]
    fn reconcile_against_a_fake_proc() {
        let root = tempfile::tempdir().expect("temp dir");
        let mut table = ProcessTable::new(root.path());
        std::fs::create_dir(root.path().join("7")).expect("mkdir");
        std::fs::write(root.path().join("7/status"), "PPid:\t1\nUid:\t1000\t1000\t1000\t1000\n").expect("write");
        std::fs::create_dir(root.path().join("self")).expect("mkdir");
        table.baseline().expect("baseline");
        assert!(table.reconcile().expect("reconcile").is_empty());

        std::fs::create_dir(root.path().join("8")).expect("mkdir");
        std::fs::write(root.path().join("8/status"), "PPid:\t7\n").expect("write");
        std::fs::remove_dir_all(root.path().join("7")).expect("rm");
        let events = table.reconcile().expect("reconcile");
        let summary: Vec<_> = events.iter().map(|e| (e.action, e.pid, e.ppid)).collect();
        assert_eq!(summary, [(ProcessAction::Exit, 7, 1), (ProcessAction::Start, 8, 7)]);
        assert_eq!(table.len(), 1);
    }
}
