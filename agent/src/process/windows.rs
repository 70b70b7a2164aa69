//! The process sensor on Windows: the process table (through sysinfo) compared every
//! `poll_interval`, a start event for each process that appeared and an exit event for each
//! that ended. A process is known by its pid and start time, so a reused pid is a new
//! process. Processes shorter-lived than the interval go unseen; exit codes are not known.

use super::{Backend, Facts, ProcessConfig, command_line};
use crate::spool::Observation;
use haidang_proto::Text;
use haidang_proto::event::{ProcessAction, ProcessEvent};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::thread::JoinHandle;
use std::time::SystemTime;
use sysinfo::{Pid, ProcessRefreshKind, ProcessesToUpdate, System, UpdateKind, Users};
use tokio::sync::mpsc;

pub(super) fn select_backend() -> Backend {
    tracing::info!("process sensor: polling the process table");
    Backend::Polling
}

/// Records the processes already running, then starts the polling thread. The thread ends
/// when `out` is closed.
pub(super) fn spawn(
    cfg: &ProcessConfig,
    _backend: Backend,
    out: mpsc::Sender<Observation>,
) -> anyhow::Result<JoinHandle<anyhow::Result<()>>> {
    let mut table = Table::new();
    table.reconcile();
    tracing::debug!(processes = table.known.len(), "process table recorded");
    super::spawn_polling(cfg.poll_interval, out, move || Ok(table.reconcile()))
}

/// Images larger than this are not hashed (as on Linux).
const MAX_HASH_BYTES: u64 = 1 << 30;
/// Image hashes remembered, by path and modification time; past it the cache starts over.
const MAX_CACHED_HASHES: usize = 4096;

#[derive(Clone, Debug)]
struct Known {
    /// With the pid, tells a process from a later one that reuses its pid.
    start_time: u64,
    facts: Facts,
}

type HashCache = HashMap<PathBuf, (SystemTime, Option<[u8; 32]>)>;

struct Table {
    system: System,
    users: Users,
    known: HashMap<u32, Known>,
    hashes: HashCache,
    /// Whether the processes running at the start have been recorded.
    recorded: bool,
}

impl Table {
    fn new() -> Table {
        Table {
            system: System::new(),
            users: Users::new(),
            known: HashMap::new(),
            hashes: HashMap::new(),
            recorded: false,
        }
    }

    /// Reads the process table and returns what changed since the last reading; the first
    /// reading records what runs and returns nothing.
    fn reconcile(&mut self) -> Vec<ProcessEvent> {
        let kind = ProcessRefreshKind::nothing()
            .with_exe(UpdateKind::OnlyIfNotSet)
            .with_cmd(UpdateKind::OnlyIfNotSet)
            .with_user(UpdateKind::OnlyIfNotSet);
        self.system.refresh_processes_specifics(ProcessesToUpdate::All, true, kind);
        if self.users.list().is_empty() {
            self.users.refresh();
        }
        let Table { system, users, known, hashes, recorded } = self;
        let mut previous = std::mem::take(known);
        let mut events = Vec::new();
        let mut started = Vec::new();
        for (pid, process) in system.processes() {
            let pid = pid.as_u32();
            match previous.remove(&pid) {
                Some(same) if same.start_time == process.start_time() => {
                    known.insert(pid, same);
                }
                earlier => {
                    if let Some(ended) = earlier {
                        events.push(ended.facts.event(ProcessAction::Exit, pid, None, None));
                    }
                    known.insert(pid, describe(process, users, hashes));
                    started.push(pid);
                }
            }
        }
        for (pid, ended) in previous {
            events.push(ended.facts.event(ProcessAction::Exit, pid, None, None));
        }
        if *recorded {
            for pid in started {
                let process = &known[&pid];
                let parent = known.get(&process.facts.ppid).map(|p| p.facts.image.clone());
                events.push(process.facts.event(ProcessAction::Start, pid, parent, None));
            }
        }
        *recorded = true;
        events
    }
}

fn describe(process: &sysinfo::Process, users: &Users, hashes: &mut HashCache) -> Known {
    let image = process.exe().map(Path::to_path_buf);
    // The arguments NUL-separated, so that they are quoted as on Linux.
    let mut args = Vec::new();
    for arg in process.cmd() {
        args.extend_from_slice(arg.to_string_lossy().as_bytes());
        args.push(0);
    }
    let user = match process.user_id() {
        Some(uid) => users.get_user_by_id(uid).map_or_else(|| uid.to_string(), |u| u.name().to_string()),
        None => String::new(),
    };
    let facts = Facts {
        ppid: process.parent().map_or(0, Pid::as_u32),
        image_hash: image.as_deref().and_then(|path| hash_image(path, hashes)),
        image: match &image {
            Some(path) => Text::from(path.as_path()),
            None => Text::from(&*process.name().to_string_lossy()),
        },
        command_line: Text::from_bytes(&command_line::format(&args)),
        user: Text::from(user),
    };
    Known { start_time: process.start_time(), facts }
}

/// BLAKE3 of an image, read once per version of the file.
fn hash_image(path: &Path, hashes: &mut HashCache) -> Option<[u8; 32]> {
    let meta = std::fs::metadata(path).ok()?;
    let modified = meta.modified().ok()?;
    if let Some((at, hash)) = hashes.get(path)
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
    if hashes.len() >= MAX_CACHED_HASHES {
        hashes.clear();
    }
    hashes.insert(path.to_path_buf(), (modified, hash));
    hash
}
