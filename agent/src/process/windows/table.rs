//! The polling backend: the process table, read through sysinfo, compared with the previous
//! reading. A process is known by its pid and start time, so a reused pid is a new process.
//!
//! sysinfo is built without its `user` feature: its user list (`Users::refresh`) calls
//! `LsaEnumerateLogonSessions`, which Wine stubs to succeed with no sessions and a null list,
//! and then builds a slice from that null pointer — undefined behaviour that debug builds
//! catch as a panic (sysinfo 0.37.2, `windows/users.rs:240`). Accounts come from each
//! process's token instead (`token.rs`).

use super::{ImageHashes, WinFacts, describe, token::Tokens};
use haidang_proto::EventBody;
use haidang_proto::event::ProcessAction;
use std::collections::HashMap;
use sysinfo::{ProcessRefreshKind, ProcessesToUpdate, System, UpdateKind};

#[derive(Clone, Debug)]
struct Known {
    /// With the pid, tells a process from a later one that reuses its pid.
    start_time: u64,
    facts: WinFacts,
}

pub(super) struct Table {
    system: System,
    tokens: Tokens,
    known: HashMap<u32, Known>,
    hashes: ImageHashes,
    /// Whether the processes running at the start have been recorded.
    recorded: bool,
}

impl Table {
    pub(super) fn new() -> Table {
        Table {
            system: System::new(),
            tokens: Tokens::default(),
            known: HashMap::new(),
            hashes: ImageHashes::default(),
            recorded: false,
        }
    }

    pub(super) fn len(&self) -> usize {
        self.known.len()
    }

    /// What is known of each running process, for a backend that takes over from here.
    pub(super) fn into_known(self) -> HashMap<u32, WinFacts> {
        self.known.into_iter().map(|(pid, known)| (pid, known.facts)).collect()
    }

    /// Reads the process table and returns what changed since the last reading; the first
    /// reading records what runs and returns nothing.
    pub(super) fn reconcile(&mut self) -> Vec<EventBody> {
        let kind = ProcessRefreshKind::nothing().with_exe(UpdateKind::OnlyIfNotSet).with_cmd(UpdateKind::OnlyIfNotSet);
        self.system.refresh_processes_specifics(ProcessesToUpdate::All, true, kind);
        let Table { system, tokens, known, hashes, recorded } = self;
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
                    let facts = describe(process, tokens, hashes);
                    known.insert(pid, Known { start_time: process.start_time(), facts });
                    started.push(pid);
                }
            }
        }
        for (pid, ended) in previous {
            events.push(ended.facts.event(ProcessAction::Exit, pid, None, None));
        }
        if *recorded {
            for pid in started {
                let process = &known[&pid].facts;
                let parent = known.get(&process.facts.ppid).map(|p| &p.facts);
                events.push(process.event(ProcessAction::Start, pid, parent, None));
            }
        }
        *recorded = true;
        events
    }
}
