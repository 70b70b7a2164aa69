//! The process sensor on Linux: the netlink process connector when the agent may use it,
//! else polling `/proc`.

pub(super) mod enrich;
pub(super) mod netlink;
mod poll;
mod stream;
mod table;

use super::{Backend, ProcessConfig, Selection};
use crate::spool::Observation;
use anyhow::Context;
use std::path::Path;
use std::thread::JoinHandle;
use tokio::sync::mpsc;

/// [`Backend::Netlink`] when this process runs as root or holds CAP_NET_ADMIN and the kernel
/// acknowledges a subscription to the process connector (it does not in a network namespace
/// other than the initial one, e.g. in most containers), else [`Backend::Polling`].
pub(super) fn select_backend() -> Selection {
    let polling = |why: String| Selection { backend: Backend::Polling, why_not_realtime: Some(why) };
    if !has_privilege() {
        tracing::info!("process sensor: polling (netlink needs root or CAP_NET_ADMIN)");
        return polling("netlink needs root or CAP_NET_ADMIN".into());
    }
    match netlink::Connector::subscribe() {
        Ok(_) => {
            tracing::info!("process sensor: netlink process connector");
            Selection { backend: Backend::Netlink, why_not_realtime: None }
        }
        Err(e) => {
            tracing::info!(error = %e, "process sensor: polling (the netlink process connector is not usable)");
            polling(format!("the netlink process connector is not usable: {e}"))
        }
    }
}

/// Root, or CAP_NET_ADMIN in the effective set (an agent run by systemd with
/// `AmbientCapabilities=CAP_NET_ADMIN`).
pub(super) fn has_privilege() -> bool {
    crate::privilege::has_capability(crate::privilege::CAP_NET_ADMIN)
}

/// Records the processes already running, then starts the backend's threads.
pub(super) fn spawn(
    cfg: &ProcessConfig,
    backend: Backend,
    out: mpsc::Sender<Observation>,
) -> anyhow::Result<JoinHandle<anyhow::Result<()>>> {
    let proc_root = Path::new("/proc");
    match backend {
        Backend::Netlink => {
            let connector =
                netlink::Connector::subscribe().context("cannot subscribe to the netlink process connector")?;
            stream::spawn(connector, proc_root, out)
        }
        Backend::Polling => poll::spawn(proc_root, cfg.poll_interval, out),
    }
}
