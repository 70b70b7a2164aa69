//! The admin API's request and response bodies under `/api/v1`, defined once: the server
//! ([`crate::api`]) serialises them, the CLI client ([`crate::admin`]) deserialises them, and
//! the OpenAPI description (`GET /api/v1/openapi.json`) is derived from them.
//!
//! Times are RFC 3339 strings in UTC; agent ids are 32 hexadecimal digits; hashes are
//! lowercase hexadecimal.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use utoipa::{IntoParams, ToSchema};

/// The body of every failed request.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ErrorBody {
    pub error: String,
}

/// The collector's certificate authority.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CaFingerprint {
    /// `sha256:<hex>` of the CA certificate, which agents pin at enrollment.
    pub fingerprint: String,
}

/// Asks for an enrollment token.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenRequest {
    /// The group the enrolled agents join.
    pub group: String,
    /// How long the token stays valid, in seconds.
    pub ttl_secs: u64,
    /// How many agents may enroll with it.
    pub uses: u32,
    /// Agents it enrolls, when found copied to another machine (a cloned VM), get a new
    /// identity on their own instead of being refused.
    #[serde(default)]
    pub allow_reenroll: bool,
}

/// A new enrollment token. It is shown this once: the collector keeps only its hash.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TokenCreated {
    pub token: String,
    pub group: String,
    pub uses: u32,
    pub expires: String,
    #[serde(default)]
    pub allow_reenroll: bool,
}

/// An enrolled agent.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Agent {
    pub id: String,
    pub hostname: String,
    pub os: String,
    pub agent_version: String,
    pub group: String,
    /// `sha256:<hex>` of the agent's client certificate.
    pub cert_fingerprint: String,
    pub enrolled_at: String,
    pub revoked: bool,
    /// Whether a copy of the agent on another machine re-enrolls on its own.
    #[serde(default)]
    pub reenroll: bool,
    /// Whether the agent has a live connection now.
    pub connected: bool,
    /// When this collector process last heard from the agent; null if not since it started.
    pub last_seen: Option<String>,
    /// Event batches stored from the agent.
    pub batches: u64,
    /// The sequence number of the agent's newest stored event.
    pub last_seq: u64,
}

/// Which stored events to list: the newest `limit` that match, oldest first.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct EventQuery {
    /// Only this agent's events.
    pub agent: Option<String>,
    /// Only events of this kind: file, process, health, gap, dlp, malware, agent, mount, dlp_verdict or win_event.
    pub kind: Option<String>,
    /// Only events at or after this RFC 3339 time.
    pub from: Option<String>,
    /// Only events at or before this RFC 3339 time.
    pub to: Option<String>,
    /// At most this many events (default 100).
    pub limit: Option<usize>,
}

impl EventQuery {
    /// The query string's pairs, for a client.
    pub fn pairs(&self) -> Vec<(&'static str, String)> {
        let mut pairs = Vec::new();
        for (name, value) in [("agent", &self.agent), ("kind", &self.kind), ("from", &self.from), ("to", &self.to)] {
            if let Some(value) = value {
                pairs.push((name, value.clone()));
            }
        }
        if let Some(limit) = self.limit {
            pairs.push(("limit", limit.to_string()));
        }
        pairs
    }
}

/// One stored event: where and when, then what (by `kind`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Event {
    pub agent_id: String,
    /// The agent's sequence number for the event.
    pub seq: u64,
    /// When it happened on the endpoint.
    pub time: String,
    #[serde(flatten)]
    pub detail: EventDetail,
}

/// What happened, by kind.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum EventDetail {
    File(FileDetail),
    Process(ProcessDetail),
    Health(HealthDetail),
    Gap(GapDetail),
    Dlp(DlpDetail),
    Malware(MalwareDetail),
    Agent(AgentDetail),
    Mount(MountDetail),
    DlpVerdict(DlpVerdictDetail),
    WinEvent(WinEventDetail),
}

/// A file changed under a watched path.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct FileDetail {
    /// created, modified, deleted, renamed or attributes.
    pub action: String,
    pub path: String,
    /// Where a renamed file was before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub old_path: Option<String>,
    /// BLAKE3 of the new content.
    pub hash: Option<String>,
    pub old_hash: Option<String>,
    /// The new metadata (absent for deletions): size in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    /// Permission bits, octal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gid: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mtime: Option<String>,
    /// The path matched one of the agent's `critical` globs.
    pub critical: bool,
    /// realtime or rescan.
    pub detection: String,
    /// The process that made the change, when the sensor can tell.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// Windows: the owner (`DOMAIN\\name`, or a SID) after the change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// Windows: BLAKE3 of the access control list (SDDL) after the change, when readable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dacl_hash: Option<String>,
    /// Windows: the owner before the change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub old_owner: Option<String>,
    /// Windows: the access control list's hash before the change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub old_dacl_hash: Option<String>,
}

/// A process started or exited.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ProcessDetail {
    /// start or exit.
    pub action: String,
    pub pid: u32,
    pub ppid: u32,
    pub image: String,
    pub command_line: String,
    pub user: String,
    pub parent_image: Option<String>,
    /// BLAKE3 of the executable.
    pub image_hash: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    /// Windows: the account's security identifier, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_sid: Option<String>,
    /// Windows: the mandatory integrity level (`Low`, `Medium`, `High`, `System`), when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub integrity_level: Option<String>,
    /// Windows: the parent's command line, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_command_line: Option<String>,
}

/// The agent's heartbeat.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct HealthDetail {
    pub spool_events: u64,
    pub spool_bytes: u64,
    pub rss_bytes: u64,
    /// CPU used since the previous heartbeat, in percent of one core.
    pub cpu_percent: f64,
    pub uptime_secs: u64,
    pub fim_sensor: String,
    pub process_sensor: String,
    pub agent_version: String,
}

/// Events the agent had to drop.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct GapDetail {
    pub lost: u64,
    pub first_lost_seq: u64,
    pub last_lost_seq: u64,
    pub reason: String,
}

/// Sensitive content found on a DLP channel (never the content itself).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DlpDetail {
    /// usb, share, print, at_rest, …
    pub channel: String,
    pub path: String,
    /// The path inside a container, when the match is nested.
    pub container_path: Option<String>,
    pub detector: String,
    pub count: u32,
    /// 0–100.
    pub confidence: u8,
    pub masked_sample: Option<String>,
    /// State-secret marking level (mat, toi_mat, tuyet_mat), for marking detectors.
    pub level: Option<String>,
    pub sha256: Option<String>,
    /// audit, alert or block.
    pub action: String,
}

/// A YARA rule matched a file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct MalwareDetail {
    pub rule: String,
    pub namespace: String,
    pub tags: Vec<String>,
    pub path: String,
    pub sha256: Option<String>,
}

/// The agent started, stopped, or saw its clock jump.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AgentDetail {
    /// started, stopped or clock_jump.
    pub action: String,
    pub clock_jump_secs: Option<i64>,
    pub detail: String,
    pub agent_version: String,
}

/// A filesystem the DLP channels watch came or went.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct MountDetail {
    /// mounted, unmounted or remounted_readonly.
    pub action: String,
    /// usb or share.
    pub channel: String,
    pub mount_point: String,
    pub source: String,
    pub fstype: String,
    pub removable: bool,
    /// How writes to it are noticed: fanotify or walk, with why.
    pub watch: String,
}

/// What the agent did about one object on a DLP channel.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DlpVerdictDetail {
    pub channel: String,
    pub path: String,
    pub sha256: Option<String>,
    /// audit, alert or block.
    pub action: String,
    /// recorded, quarantined or quarantine_failed.
    pub outcome: String,
    pub vault_id: Option<String>,
    /// The policy rules that decided.
    pub rules: Vec<String>,
    /// `part: reason` for each part that could not be inspected.
    pub not_inspected: Vec<String>,
    pub detail: String,
}

/// Which alerts to list: the newest `limit`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AlertQuery {
    /// At most this many alerts (default 1000).
    pub limit: Option<usize>,
}

/// An alert raised by a Sigma rule.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Alert {
    pub id: u64,
    pub created: String,
    /// When the triggering event happened on the endpoint.
    pub time: String,
    /// The agent of the event that completed the match.
    pub agent_id: String,
    /// Rule id (its title when the rule has none).
    pub rule: String,
    pub title: String,
    /// informational, low, medium, high or critical.
    pub severity: String,
    /// The same as `severity`, under Sigma's name.
    pub level: String,
    /// The rule's tags (ATT&CK tactics and techniques).
    pub tags: Vec<String>,
    /// detection, or correlation when a correlation window fired.
    pub kind: String,
    /// Correlation group fields and their values, e.g. `AgentId`.
    pub group: BTreeMap<String, String>,
    /// Triggering events as `agent:seq`.
    pub events: Vec<String>,
    pub path: Option<String>,
    pub action: Option<String>,
    pub old_hash: Option<String>,
    pub new_hash: Option<String>,
    /// Sequence numbers of the agent events that raised the alert.
    pub event_seqs: Vec<u64>,
}

/// The Sigma rules a collector uses: what loaded and what was skipped, and why.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RuleSummary {
    pub files: usize,
    pub loaded: usize,
    pub skipped: usize,
    pub detection_rules: usize,
    pub correlation_rules: usize,
    /// One line per skipped document: file, rule and reason.
    pub problems: Vec<String>,
}

/// A record of a Windows event log.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct WinEventDetail {
    /// The log: Security, System, Microsoft-Windows-Sysmon/Operational, …
    pub channel: String,
    pub provider: String,
    pub event_id: u32,
    /// The record's number in its log (EventRecordID).
    pub record_id: u64,
    pub computer: String,
    /// The whole record, `{"Event": {"System": …, "EventData": …}}` as the evtx crate renders
    /// saved logs; a string when the agent sent something that is not JSON.
    #[schema(value_type = Object)]
    pub record: serde_json::Value,
}
