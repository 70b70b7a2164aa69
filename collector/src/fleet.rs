//! The fleet as the running collector sees it: enrolled agents by certificate fingerprint,
//! who is connected now, and when each agent was last heard from.

use crate::store::records::AgentRecord;
use haidang_proto::{AgentId, Timestamp};
use std::collections::HashMap;
use std::sync::{Mutex, RwLock};

/// Application close code: the agent's certificate is revoked or unknown.
pub const CLOSE_REVOKED: u32 = 1;
/// Application close code: the agent broke the protocol (bad frame, bad batch).
pub const CLOSE_REFUSED: u32 = 2;
/// Application close code: the collector is shutting down.
pub const CLOSE_SHUTDOWN: u32 = 3;

#[derive(Default)]
pub struct Fleet {
    agents: RwLock<HashMap<AgentId, AgentRecord>>,
    by_fingerprint: RwLock<HashMap<String, AgentId>>,
    connections: Mutex<HashMap<AgentId, (u64, quinn::Connection)>>,
    last_seen: Mutex<HashMap<AgentId, Timestamp>>,
}

impl Fleet {
    pub fn new(records: Vec<AgentRecord>) -> Fleet {
        let fleet = Fleet::default();
        fleet.update(&records);
        fleet
    }

    /// Applies changed records (after they are committed); closes revoked agents' connections.
    pub fn update(&self, records: &[AgentRecord]) {
        let mut agents = self.agents.write().unwrap_or_else(|p| p.into_inner());
        let mut by_fp = self.by_fingerprint.write().unwrap_or_else(|p| p.into_inner());
        for r in records {
            by_fp.insert(r.cert_fingerprint.clone(), r.id);
            agents.insert(r.id, r.clone());
            if r.revoked {
                let conn = self.connections.lock().unwrap_or_else(|p| p.into_inner()).remove(&r.id);
                if let Some((_, conn)) = conn {
                    conn.close(CLOSE_REVOKED.into(), b"agent certificate revoked");
                }
            }
        }
    }

    /// The enrolled, unrevoked agent presenting this certificate. A refusal names the
    /// agent when the certificate is one of ours (revoked), for the log.
    pub fn authenticate(&self, cert_fingerprint: &str) -> Result<AgentRecord, (Option<AgentId>, &'static str)> {
        let id = self
            .by_fingerprint
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(cert_fingerprint)
            .copied()
            .ok_or((None, "unknown agent certificate"))?;
        let agents = self.agents.read().unwrap_or_else(|p| p.into_inner());
        match agents.get(&id) {
            Some(r) if !r.revoked => Ok(r.clone()),
            Some(_) => Err((Some(id), "agent certificate revoked")),
            None => Err((None, "unknown agent certificate")),
        }
    }

    /// Registers a live connection; an older connection of the same agent is closed.
    pub fn connected(&self, id: AgentId, conn_id: u64, conn: quinn::Connection) {
        self.seen(id);
        let old = self.connections.lock().unwrap_or_else(|p| p.into_inner()).insert(id, (conn_id, conn));
        if let Some((_, old)) = old {
            old.close(CLOSE_REFUSED.into(), b"replaced by a newer connection of the same agent");
        }
    }

    pub fn disconnected(&self, id: AgentId, conn_id: u64) {
        self.seen(id);
        let mut conns = self.connections.lock().unwrap_or_else(|p| p.into_inner());
        if conns.get(&id).is_some_and(|(c, _)| *c == conn_id) {
            conns.remove(&id);
        }
    }

    pub fn seen(&self, id: AgentId) {
        self.last_seen.lock().unwrap_or_else(|p| p.into_inner()).insert(id, Timestamp::now());
    }

    pub fn connected_count(&self) -> usize {
        self.connections.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// Every agent with whether it is connected and when it was last seen.
    pub fn snapshot(&self) -> Vec<(AgentRecord, bool, Option<Timestamp>)> {
        let agents = self.agents.read().unwrap_or_else(|p| p.into_inner());
        let conns = self.connections.lock().unwrap_or_else(|p| p.into_inner());
        let seen = self.last_seen.lock().unwrap_or_else(|p| p.into_inner());
        let mut out: Vec<_> =
            agents.values().map(|r| (r.clone(), conns.contains_key(&r.id), seen.get(&r.id).copied())).collect();
        out.sort_by(|a, b| a.0.hostname.cmp(&b.0.hostname).then(a.0.id.cmp(&b.0.id)));
        out
    }

    pub fn get(&self, id: AgentId) -> Option<AgentRecord> {
        self.agents.read().unwrap_or_else(|p| p.into_inner()).get(&id).cloned()
    }

    /// Closes every connection (shutdown).
    pub fn close_all(&self) {
        for (_, (_, conn)) in self.connections.lock().unwrap_or_else(|p| p.into_inner()).drain() {
            conn.close(CLOSE_SHUTDOWN.into(), b"collector shutting down");
        }
    }
}
