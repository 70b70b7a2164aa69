//! The netlink backend's two threads. The reader takes each kernel message off the socket
//! and, for an exec, reads `/proc` at once, before a short-lived process can vanish. The
//! table thread then does the slow part (hashing images, naming users, keeping the pid map)
//! so that a cold hash of a large binary never delays the next read.

use super::enrich::{self, Snapshot};
use super::netlink::{self, Connector, ProcEvent, Received};
use super::table::ProcessTable;
use crate::spool::Observation;
use anyhow::Context;
use haidang_proto::event::ProcessEvent;
use haidang_proto::{EventBody, Timestamp};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc as std_mpsc;
use std::thread::JoinHandle;
use tokio::sync::mpsc;

/// Messages from the reader that wait for the table thread; beyond this the reader stops
/// reading and the kernel buffers, then drops (which is detected and repaired). Each queued
/// exec holds an open image file, so this also bounds the descriptors the sensor uses.
const QUEUE: usize = 256;

enum Message {
    Fork {
        parent: u32,
        child: u32,
    },
    Exec {
        snapshot: Snapshot,
        time: Timestamp,
    },
    Exit {
        pid: u32,
        exit_code: i32,
        time: Timestamp,
    },
    /// The kernel dropped messages: the table must be reconciled with `/proc`.
    Overrun,
}

/// Starts both threads on a subscribed connector. The returned thread (the table thread)
/// ends when `out` is closed, or with the error that stopped either thread.
pub(crate) fn spawn(
    connector: Connector,
    proc_root: &Path,
    out: mpsc::Sender<Observation>,
) -> anyhow::Result<JoinHandle<anyhow::Result<()>>> {
    // The subscription came first: while the table is recorded, the kernel buffers what
    // happens, so a process that starts meanwhile is still reported.
    let mut table = ProcessTable::new(proc_root);
    table.baseline().with_context(|| format!("cannot list processes in {}", proc_root.display()))?;
    tracing::debug!(processes = table.len(), "process table recorded");
    let (tx, rx) = std_mpsc::sync_channel(QUEUE);
    let stop = Arc::new(AtomicBool::new(false));
    let reader = {
        let (stop, root) = (stop.clone(), proc_root.to_owned());
        std::thread::Builder::new()
            .name("process-netlink".into())
            .spawn(move || read(connector, &root, &tx, &stop))
            .context("cannot start the process connector thread")?
    };
    std::thread::Builder::new()
        .name("process-table".into())
        .spawn(move || {
            let result = apply(&mut table, &rx, &out, reader);
            stop.store(true, Ordering::Relaxed);
            result
        })
        .context("cannot start the process table thread")
}

fn read(
    mut connector: Connector,
    proc_root: &Path,
    tx: &std_mpsc::SyncSender<Message>,
    stop: &AtomicBool,
) -> anyhow::Result<()> {
    while !stop.load(Ordering::Relaxed) {
        let events = match connector.receive().context("cannot read from the process connector")? {
            Received::Idle => continue,
            Received::Overrun => {
                tracing::warn!(
                    "process events arrived faster than they could be read; some were dropped by the kernel and the process table is being rescanned"
                );
                if tx.send(Message::Overrun).is_err() {
                    return Ok(());
                }
                continue;
            }
            Received::Events(events) => events,
        };
        for event in events {
            let message = match event {
                ProcEvent::Fork { parent, child, .. } => Message::Fork { parent, child },
                ProcEvent::Exec { pid, timestamp_ns } => {
                    Message::Exec { snapshot: enrich::capture(proc_root, pid), time: netlink::wall_time(timestamp_ns) }
                }
                ProcEvent::Exit { pid, exit_code, timestamp_ns } => {
                    Message::Exit { pid, exit_code, time: netlink::wall_time(timestamp_ns) }
                }
                ProcEvent::Ack { .. } => continue,
            };
            if tx.send(message).is_err() {
                return Ok(());
            }
        }
    }
    Ok(())
}

fn apply(
    table: &mut ProcessTable,
    rx: &std_mpsc::Receiver<Message>,
    out: &mpsc::Sender<Observation>,
    reader: JoinHandle<anyhow::Result<()>>,
) -> anyhow::Result<()> {
    let observe = |event: ProcessEvent, time: Timestamp| Observation { time, body: EventBody::Process(event) };
    loop {
        let message = match rx.recv_timeout(netlink::READ_TIMEOUT) {
            Ok(message) => message,
            Err(std_mpsc::RecvTimeoutError::Timeout) if out.is_closed() => return Ok(()),
            Err(std_mpsc::RecvTimeoutError::Timeout) => continue,
            Err(std_mpsc::RecvTimeoutError::Disconnected) => {
                return match reader.join() {
                    Ok(result) => result.and(Err(anyhow::anyhow!("the process connector thread stopped"))),
                    Err(_) => Err(anyhow::anyhow!("the process connector thread panicked")),
                };
            }
        };
        let observations: Vec<Observation> = match message {
            Message::Fork { parent, child } => {
                table.forked(parent, child);
                Vec::new()
            }
            Message::Exec { snapshot, time } => table.started(snapshot).map(|e| observe(e, time)).into_iter().collect(),
            Message::Exit { pid, exit_code, time } => {
                table.exited(pid, Some(exit_code)).map(|e| observe(e, time)).into_iter().collect()
            }
            Message::Overrun => {
                let events = table.reconcile().context("cannot list processes to recover from dropped events")?;
                events.into_iter().map(|e| Observation::now(EventBody::Process(e))).collect()
            }
        };
        for observation in observations {
            if out.blocking_send(observation).is_err() {
                return Ok(());
            }
        }
    }
}
