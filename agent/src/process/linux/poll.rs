//! The polling backend, for when the netlink connector may not be used: every interval, the
//! list of pids in `/proc` is compared with the previous one. Only a directory listing is read
//! per tick; per-process files are read once, for new pids. Processes shorter-lived than the
//! interval go unseen, which is why netlink is preferred.

use super::table::ProcessTable;
use crate::spool::Observation;
use anyhow::Context;
use std::path::Path;
use std::thread::JoinHandle;
use std::time::Duration;
use tokio::sync::mpsc;

/// Records the running processes, then starts the polling thread. The thread ends when `out`
/// is closed, or with the error that stopped it.
pub(crate) fn spawn(
    proc_root: &Path,
    interval: Duration,
    out: mpsc::Sender<Observation>,
) -> anyhow::Result<JoinHandle<anyhow::Result<()>>> {
    let mut table = ProcessTable::new(proc_root);
    table.baseline().with_context(|| format!("cannot list processes in {}", proc_root.display()))?;
    tracing::debug!(processes = table.len(), "process table recorded");
    let root = proc_root.to_owned();
    super::super::spawn_polling(interval, out, move || {
        let events = table.reconcile().with_context(|| format!("cannot list processes in {}", root.display()))?;
        Ok(events.into_iter().map(haidang_proto::EventBody::Process).collect())
    })
}
