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
