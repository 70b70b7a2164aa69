//! The process sensor on Windows. [`Backend::Etw`] (`etw.rs`): a real-time ETW session on the
//! Microsoft-Windows-Kernel-Process provider, which an agent may open when it runs as a
//! service (LocalSystem) or an administrator; it sees every start and stop, with exit codes.
//! Otherwise [`Backend::Polling`] (`table.rs`): the process table compared every
//! `poll_interval`, missing processes shorter-lived than that, without exit codes.
//!
//! Both describe a process the same way: image, command line and image hash from the process,
//! account and integrity level from its token (`token.rs`).

mod etw;
mod table;
mod token;

use super::{Backend, Facts, ProcessConfig, Selection, command_line};
use crate::spool::Observation;
use haidang_proto::event::{ProcessAction, WinProcessEvent};
use haidang_proto::{EventBody, Text};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::thread::JoinHandle;
use std::time::SystemTime;
use sysinfo::Pid;
use tokio::sync::mpsc;

/// [`Backend::Etw`] when a real-time session on the kernel process provider can be started
/// and opened, else [`Backend::Polling`] with the reason.
pub(super) fn select_backend() -> Selection {
    match etw::probe() {
        Ok(()) => {
            tracing::info!("process sensor: ETW (Microsoft-Windows-Kernel-Process)");
            Selection { backend: Backend::Etw, why_not_realtime: None }
        }
        Err(e) => {
            let why = format!("ETW unavailable: {e:#}");
            tracing::info!("process sensor: polling the process table ({why})");
            Selection { backend: Backend::Polling, why_not_realtime: Some(why) }
        }
    }
}

/// Records the processes already running, then starts the backend's threads. They end when
/// `out` is closed.
pub(super) fn spawn(
    cfg: &ProcessConfig,
    backend: Backend,
    out: mpsc::Sender<Observation>,
) -> anyhow::Result<JoinHandle<anyhow::Result<()>>> {
    let mut table = table::Table::new();
    table.reconcile();
    tracing::debug!(processes = table.len(), "process table recorded");
    match backend {
        Backend::Etw => etw::spawn(table.into_known(), out),
        Backend::Polling => super::spawn_polling(cfg.poll_interval, out, move || Ok(table.reconcile())),
    }
}

/// What the sensor knows of a live Windows process.
#[derive(Clone, Debug)]
struct WinFacts {
    facts: Facts,
    user_sid: Option<String>,
    integrity_level: Option<String>,
}

impl WinFacts {
    fn event(&self, action: ProcessAction, pid: u32, parent: Option<&WinFacts>, exit_code: Option<i32>) -> EventBody {
        EventBody::WinProcess(WinProcessEvent {
            process: self.facts.event(action, pid, parent.map(|p| p.facts.image.clone()), exit_code),
            user_sid: self.user_sid.clone(),
            integrity_level: self.integrity_level.clone(),
            parent_command_line: parent.map(|p| p.facts.command_line.clone()),
        })
    }
}

/// Describes a process from what sysinfo read of it and what its token says.
fn describe(process: &sysinfo::Process, tokens: &mut token::Tokens, hashes: &mut ImageHashes) -> WinFacts {
    let pid = process.pid().as_u32();
    let image = process.exe().map(Path::to_path_buf);
    // The arguments NUL-separated, so that they are quoted as on Linux.
    let mut args = Vec::new();
    for arg in process.cmd() {
        args.extend_from_slice(arg.to_string_lossy().as_bytes());
        args.push(0);
    }
    let token = tokens.facts(pid);
    let facts = Facts {
        ppid: process.parent().map_or(0, Pid::as_u32),
        image_hash: image.as_deref().and_then(|path| hashes.hash(path)),
        image: match &image {
            Some(path) => Text::from(path.as_path()),
            None => Text::from(&*process.name().to_string_lossy()),
        },
        command_line: Text::from_bytes(&command_line::format(&args)),
        user: Text::from(user_name(&token)),
    };
    WinFacts {
        facts,
        user_sid: token.sid,
        integrity_level: token.integrity_rid.map(super::kernel_process::integrity_level),
    }
}

/// The account as `DOMAIN\name`, else its SID, else nothing.
fn user_name(token: &token::TokenFacts) -> String {
    token.account.clone().or_else(|| token.sid.clone()).unwrap_or_default()
}

/// Images larger than this are not hashed (as on Linux).
const MAX_HASH_BYTES: u64 = 1 << 30;
/// Image hashes remembered, by path and modification time; past it the cache starts over.
const MAX_CACHED_HASHES: usize = 4096;

/// BLAKE3 of images, each read once per version of the file.
#[derive(Default)]
struct ImageHashes(HashMap<PathBuf, (SystemTime, Option<[u8; 32]>)>);

impl ImageHashes {
    fn hash(&mut self, path: &Path) -> Option<[u8; 32]> {
        let meta = std::fs::metadata(path).ok()?;
        let modified = meta.modified().ok()?;
        if let Some((at, hash)) = self.0.get(path)
            && *at == modified
        {
            return *hash;
        }
        let hash = (meta.is_file() && meta.len() <= MAX_HASH_BYTES)
            .then(|| {
                let file = std::fs::File::open(path).ok()?;
                let mut hasher = blake3::Hasher::new();
                hasher.update_reader(std::io::Read::take(file, MAX_HASH_BYTES)).ok()?;
                Some(*hasher.finalize().as_bytes())
            })
            .flatten();
        if self.0.len() >= MAX_CACHED_HASHES {
            self.0.clear();
        }
        self.0.insert(path.to_path_buf(), (modified, hash));
        hash
    }
}
