//! Records kept by the collector besides event batches: agents, enrollment tokens, alerts,
//! the machines agents run on.
//!
//! Records are postcard, which has no field defaults: a field added later goes at the end, and
//! the record's `decode` reads what an older collector stored through its previous layout.

use haidang_proto::{AgentId, MachineId, Timestamp};
use serde::de::DeserializeOwned;
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
    /// A copy of this agent on another machine (a cloned VM) gets a new identity on its own:
    /// the token it enrolled with was created with `--allow-reenroll`.
    pub reenroll: bool,
}

/// [`AgentRecord`] as collectors before cloned-machine detection stored it.
#[derive(Deserialize)]
struct AgentRecordV1 {
    id: AgentId,
    hostname: String,
    os: String,
    agent_version: String,
    group: String,
    public_key: Vec<u8>,
    cert_fingerprint: String,
    enrolled_at: Timestamp,
    revoked: bool,
}

impl AgentRecord {
    pub fn decode(bytes: &[u8]) -> postcard::Result<AgentRecord> {
        decode_or_older(bytes, |r: AgentRecordV1| AgentRecord {
            id: r.id,
            hostname: r.hostname,
            os: r.os,
            agent_version: r.agent_version,
            group: r.group,
            public_key: r.public_key,
            cert_fingerprint: r.cert_fingerprint,
            enrolled_at: r.enrolled_at,
            revoked: r.revoked,
            reenroll: false,
        })
    }
}

/// An enrollment token. Only its BLAKE3 hash is stored, so a stolen database does not
/// hand out working tokens.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TokenRecord {
    pub group: String,
    pub created: Timestamp,
    pub expires: Timestamp,
    pub uses_left: u32,
    /// Agents enrolled with it re-enroll on their own when copied to another machine.
    pub allow_reenroll: bool,
}

/// [`TokenRecord`] as collectors before cloned-machine detection stored it.
#[derive(Deserialize)]
struct TokenRecordV1 {
    group: String,
    created: Timestamp,
    expires: Timestamp,
    uses_left: u32,
}

impl TokenRecord {
    pub fn decode(bytes: &[u8]) -> postcard::Result<TokenRecord> {
        decode_or_older(bytes, |r: TokenRecordV1| TokenRecord {
            group: r.group,
            created: r.created,
            expires: r.expires,
            uses_left: r.uses_left,
            allow_reenroll: false,
        })
    }
}

/// The record in its current layout or, if it is shorter, in the layout before it. Postcard
/// ignores bytes after a record, so an older collector still reads newer records.
fn decode_or_older<T: DeserializeOwned, Older: DeserializeOwned>(
    bytes: &[u8],
    upgrade: impl FnOnce(Older) -> T,
) -> postcard::Result<T> {
    match postcard::from_bytes::<T>(bytes) {
        Ok(record) => Ok(record),
        Err(postcard::Error::DeserializeUnexpectedEnd) => postcard::from_bytes::<Older>(bytes).map(upgrade),
        Err(e) => Err(e),
    }
}

/// The machine an agent identity belongs to: the first one it was seen on (or the one its
/// state directory says it was enrolled on).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MachineRecord {
    pub machine: MachineId,
    pub hostname: String,
    pub since: Timestamp,
}

/// Another machine seen using an agent's identity: recorded once, with the alert it raised,
/// so reconnects of the same copy raise nothing more.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CloneRecord {
    pub hostname: String,
    pub first_seen: Timestamp,
    pub alert: u64,
    /// The identity the copy was given, when its group lets copies re-enroll.
    pub reenrolled_as: Option<AgentId>,
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

/// The rule name of alerts about an agent identity used from two machines.
pub const CLONED_AGENT_RULE: &str = "haidang-cloned-agent";

impl Alert {
    /// The alert for `agent`'s identity used from `copy` while it belongs to `first`: it names
    /// both hosts and both machine fingerprints, and the copy's new identity if it got one.
    pub fn cloned_agent(
        agent: &AgentRecord,
        first: &MachineRecord,
        copy: &MachineRecord,
        reenrolled_as: Option<AgentId>,
    ) -> Alert {
        let outcome = match reenrolled_as {
            Some(id) => format!("the copy re-enrolled as agent {id}"),
            None => "the copy is refused".to_string(),
        };
        let title = format!(
            "Agent {} is used from two machines: {} (machine {}) and {} (machine {}); {outcome}",
            agent.id, first.hostname, first.machine, copy.hostname, copy.machine
        );
        Alert {
            id: 0,
            created: Timestamp::now(),
            time: copy.since,
            agent_id: agent.id,
            rule: CLONED_AGENT_RULE.to_string(),
            title,
            severity: if reenrolled_as.is_some() { "low" } else { "high" }.to_string(),
            tags: vec!["haidang.fleet".to_string()],
            kind: "cloned_agent".to_string(),
            group: vec![
                ("first_host".to_string(), first.hostname.clone()),
                ("first_machine".to_string(), first.machine.to_string()),
                ("copy_host".to_string(), copy.hostname.clone()),
                ("copy_machine".to_string(), copy.machine.to_string()),
            ],
            events: Vec::new(),
            path: None,
            action: None,
            old_hash: None,
            new_hash: None,
            event_seqs: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The layouts before cloned-machine detection, written as those collectors wrote them.
    #[derive(Serialize)]
    struct OldAgent<'a>(AgentId, &'a str, &'a str, &'a str, &'a str, Vec<u8>, &'a str, Timestamp, bool);
    #[derive(Serialize)]
    struct OldToken<'a>(&'a str, Timestamp, Timestamp, u32);

    #[test]
    fn records_stored_before_reenrollment_existed_still_read() {
        let at = Timestamp(1_700_000_000_000_000_000);
        let old = OldAgent(AgentId([3; 16]), "may-01", "linux", "0.1.0", "e2e", vec![9; 32], "sha256:ab", at, true);
        let agent = AgentRecord::decode(&postcard::to_stdvec(&old).expect("encode")).expect("old agent decodes");
        assert_eq!(
            (agent.id, agent.hostname.as_str(), agent.revoked, agent.reenroll),
            (AgentId([3; 16]), "may-01", true, false)
        );
        let token = TokenRecord::decode(&postcard::to_stdvec(&OldToken("e2e", at, at, 2)).expect("encode"))
            .expect("old token decodes");
        assert_eq!((token.uses_left, token.allow_reenroll), (2, false));

        let new = AgentRecord { reenroll: true, ..agent };
        assert_eq!(AgentRecord::decode(&postcard::to_stdvec(&new).expect("encode")).expect("decodes"), new);
        assert!(AgentRecord::decode(&[1, 2, 3]).is_err(), "garbage is not taken for an old record");
    }
}
