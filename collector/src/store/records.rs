//! Records kept by the collector besides event batches: agents, enrollment tokens, alerts.

use haidang_proto::{AgentId, Timestamp};
use serde::{Deserialize, Serialize};

/// An enrolled agent in the fleet registry.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AgentRecord {
    pub id: AgentId,
    pub hostname: String,
    pub os: String,
    pub agent_version: String,
    pub group: String,
    /// Raw Ed25519 public key: verifies the agent's batches.
    pub public_key: Vec<u8>,
    /// `sha256:<hex>` of the agent's client certificate: identifies its connections.
    pub cert_fingerprint: String,
    pub enrolled_at: Timestamp,
    pub revoked: bool,
}

/// An enrollment token. Only its BLAKE3 hash is stored, so a stolen database does not
/// hand out working tokens.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TokenRecord {
    pub group: String,
    pub created: Timestamp,
    pub expires: Timestamp,
    pub uses_left: u32,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    pub id: u64,
    pub created: Timestamp,
    /// When the triggering event happened on the endpoint.
    pub time: Timestamp,
    /// The agent of the event that completed the match.
    pub agent_id: AgentId,
    /// Rule id (its title when the rule has none).
    pub rule: String,
    pub title: String,
    /// The rule's level: informational, low, medium, high or critical.
    pub severity: String,
    /// The rule's tags (ATT&CK tactics and techniques).
    pub tags: Vec<String>,
    /// `detection`, or `correlation` when a correlation window fired.
    pub kind: String,
    /// Correlation group (field, value) pairs, e.g. `AgentId`.
    pub group: Vec<(String, String)>,
    /// Triggering events as `agent:seq`, across agents for correlations.
    pub events: Vec<String>,
    pub path: Option<String>,
    pub action: Option<String>,
    pub old_hash: Option<String>,
    pub new_hash: Option<String>,
    /// Sequence numbers of the agent events that raised the alert.
    pub event_seqs: Vec<u64>,
}

impl Alert {
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "id": self.id,
            "created": self.created.to_rfc3339(),
            "time": self.time.to_rfc3339(),
            "agent_id": self.agent_id.to_string(),
            "rule": self.rule,
            "title": self.title,
            "severity": self.severity,
            "level": self.severity,
            "tags": self.tags,
            "kind": self.kind,
            "group": self.group.iter().map(|(k, v)| (k.clone(), serde_json::Value::from(v.as_str()))).collect::<serde_json::Map<_, _>>(),
            "events": self.events,
            "path": self.path,
            "action": self.action,
            "old_hash": self.old_hash,
            "new_hash": self.new_hash,
            "event_seqs": self.event_seqs,
        })
    }
}

impl AgentRecord {
    pub fn to_json(&self, connected: bool, last_seen: Option<Timestamp>) -> serde_json::Value {
        serde_json::json!({
            "id": self.id.to_string(),
            "hostname": self.hostname,
            "os": self.os,
            "agent_version": self.agent_version,
            "group": self.group,
            "cert_fingerprint": self.cert_fingerprint,
            "enrolled_at": self.enrolled_at.to_rfc3339(),
            "revoked": self.revoked,
            "connected": connected,
            "last_seen": last_seen.map(|t| t.to_rfc3339()),
        })
    }
}
