//! The typed events that agents record, and their JSON view for people and outputs.
//!
//! Events are encoded with postcard on the wire and in stores, so no serde attribute that
//! needs a self-describing format (`flatten`, `skip_serializing_if`, untagged enums) may
//! appear here. The JSON view is built by hand in [`Event::to_json`].

use crate::Hash32;
use crate::text::Text;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use std::fmt;
use std::str::FromStr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// An agent's stable identity, assigned by the collector at enrollment.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct AgentId(pub [u8; 16]);

impl AgentId {
    pub fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }
}

impl fmt::Display for AgentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl FromStr for AgentId {
    type Err = String;
    fn from_str(s: &str) -> Result<AgentId, String> {
        let mut id = [0u8; 16];
        hex::decode_to_slice(s.trim(), &mut id)
            .map_err(|_| format!("agent id must be 32 hexadecimal digits, got {s:?}"))?;
        Ok(AgentId(id))
    }
}

/// Nanoseconds since the Unix epoch, UTC.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Timestamp(pub i64);

impl Timestamp {
    pub fn now() -> Timestamp {
        Timestamp::from(SystemTime::now())
    }

    pub fn to_rfc3339(self) -> String {
        humantime::format_rfc3339_micros(self.to_system_time()).to_string()
    }

    pub fn parse_rfc3339(s: &str) -> Result<Timestamp, String> {
        humantime::parse_rfc3339_weak(s).map(Timestamp::from).map_err(|e| format!("not an RFC 3339 time ({e}): {s:?}"))
    }

    pub fn to_system_time(self) -> SystemTime {
        if self.0 >= 0 { UNIX_EPOCH + Duration::from_nanos(self.0 as u64) } else { UNIX_EPOCH }
    }
}

impl From<SystemTime> for Timestamp {
    fn from(t: SystemTime) -> Timestamp {
        match t.duration_since(UNIX_EPOCH) {
            Ok(d) => Timestamp(i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)),
            Err(_) => Timestamp(0),
        }
    }
}

/// One thing that happened on an endpoint.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Per-agent sequence number, assigned when the event enters the spool; never reused.
    pub seq: u64,
    pub time: Timestamp,
    pub body: EventBody,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum EventBody {
    File(FileEvent),
    Process(ProcessEvent),
    Health(Health),
    Gap(Gap),
    // New variants go last: postcard encodes the variant index, so stored batches keep decoding.
    Dlp(DlpMatch),
    Malware(MalwareMatch),
    Agent(AgentLifecycle),
    Mount(MountEvent),
    DlpVerdict(DlpVerdict),
}

/// What kind of event this is, as used in queries (`--kind file`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum EventKind {
    File,
    Process,
    Health,
    Gap,
    Dlp,
    Malware,
    Agent,
    Mount,
    DlpVerdict,
}

impl EventKind {
    pub const ALL: [EventKind; 9] = [
        EventKind::File,
        EventKind::Process,
        EventKind::Health,
        EventKind::Gap,
        EventKind::Dlp,
        EventKind::Malware,
        EventKind::Agent,
        EventKind::Mount,
        EventKind::DlpVerdict,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::File => "file",
            EventKind::Process => "process",
            EventKind::Health => "health",
            EventKind::Gap => "gap",
            EventKind::Dlp => "dlp",
            EventKind::Malware => "malware",
            EventKind::Agent => "agent",
            EventKind::Mount => "mount",
            EventKind::DlpVerdict => "dlp_verdict",
        }
    }
}

impl FromStr for EventKind {
    type Err = String;
    fn from_str(s: &str) -> Result<EventKind, String> {
        EventKind::ALL.into_iter().find(|k| k.as_str() == s).ok_or_else(|| {
            format!("unknown event kind {s:?} (expected file, process, health, gap, dlp, malware, agent, mount or dlp_verdict)")
        })
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum FileAction {
    Created,
    Modified,
    Deleted,
    Renamed,
    Attributes,
}

impl FileAction {
    pub fn as_str(self) -> &'static str {
        match self {
            FileAction::Created => "created",
            FileAction::Modified => "modified",
            FileAction::Deleted => "deleted",
            FileAction::Renamed => "renamed",
            FileAction::Attributes => "attributes",
        }
    }
}

/// How the agent learned of a file change.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Detection {
    /// A real-time notification (fanotify or inotify).
    Realtime,
    /// A full rescan that reconciled the tree against the baseline.
    Rescan,
}

/// File metadata as recorded in the FIM baseline.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct FileMeta {
    pub size: u64,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub mtime: Timestamp,
    pub hash: Option<Hash32>,
}

/// The process that caused a change, when the sensor can tell (fanotify can).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Actor {
    pub pid: u32,
    pub image: Text,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FileEvent {
    pub action: FileAction,
    pub path: Text,
    /// For renames: where the file was before.
    pub old_path: Option<Text>,
    pub old: Option<FileMeta>,
    pub new: Option<FileMeta>,
    /// The path matched one of the agent's `critical` globs.
    pub critical: bool,
    pub detection: Detection,
    pub actor: Option<Actor>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ProcessAction {
    Start,
    Exit,
}

impl ProcessAction {
    pub fn as_str(self) -> &'static str {
        match self {
            ProcessAction::Start => "start",
            ProcessAction::Exit => "exit",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProcessEvent {
    pub action: ProcessAction,
    pub pid: u32,
    pub ppid: u32,
    pub image: Text,
    pub command_line: Text,
    pub user: Text,
    pub parent_image: Option<Text>,
    pub image_hash: Option<Hash32>,
    pub exit_code: Option<i32>,
}

/// The agent's own health, sent as a heartbeat.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Health {
    pub spool_events: u64,
    pub spool_bytes: u64,
    pub rss_bytes: u64,
    /// CPU used since the previous heartbeat, in percent of one core.
    pub cpu_percent: f32,
    pub uptime_secs: u64,
    pub fim_sensor: String,
    pub process_sensor: String,
    pub agent_version: String,
}

/// Events the agent had to drop (its spool was full); never silent.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Gap {
    pub lost: u64,
    pub first_seq: u64,
    pub last_seq: u64,
    pub reason: String,
}

/// Sensitive content found leaving (or resting on) an endpoint. Never carries the matched
/// content itself: a masked sample at most, and for state-secret markings only the level.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DlpMatch {
    /// Where the content was going or found: `usb`, `share`, `print`, `at_rest`, …
    pub channel: String,
    pub path: Text,
    /// Path inside a container (`report.zip/word/document.xml`), when the match is nested.
    pub container_path: Option<Text>,
    pub detector: String,
    /// Distinct instances found.
    pub count: u32,
    /// 0–100.
    pub confidence: u8,
    pub masked_sample: Option<String>,
    /// State-secret marking level (`mat`, `toi_mat`, `tuyet_mat`), for marking detectors.
    pub level: Option<String>,
    pub sha256: Option<Hash32>,
    /// What policy did: `audit`, `alert` or `block`.
    pub action: String,
}

/// A YARA rule matched a file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MalwareMatch {
    pub rule: String,
    pub namespace: String,
    pub tags: Vec<String>,
    pub path: Text,
    pub sha256: Option<Hash32>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum LifecycleAction {
    Started,
    /// A clean shutdown (signal or service stop); an agent that vanishes without this is
    /// noticed by the collector instead.
    Stopped,
    /// The wall clock moved against the monotonic clock by more than the agent tolerates.
    ClockJump,
}

impl LifecycleAction {
    pub fn as_str(self) -> &'static str {
        match self {
            LifecycleAction::Started => "started",
            LifecycleAction::Stopped => "stopped",
            LifecycleAction::ClockJump => "clock_jump",
        }
    }
}

/// The agent itself: start, stop, clock jumps — the raw material of tampering rules.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AgentLifecycle {
    pub action: LifecycleAction,
    /// Signed wall-clock jump in seconds, for `ClockJump`.
    pub clock_jump_secs: Option<i64>,
    /// Free text: the signal that stopped the agent, whether the previous run ended cleanly, …
    pub detail: String,
    pub agent_version: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum MountAction {
    Mounted,
    Unmounted,
    /// The agent remounted the filesystem read-only after blocking a file written to it.
    RemountedReadOnly,
}

impl MountAction {
    pub fn as_str(self) -> &'static str {
        match self {
            MountAction::Mounted => "mounted",
            MountAction::Unmounted => "unmounted",
            MountAction::RemountedReadOnly => "remounted_readonly",
        }
    }
}

/// A filesystem the DLP channels watch came or went: removable media (`usb`) or a network
/// share (`share`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MountEvent {
    pub action: MountAction,
    /// `usb` or `share`.
    pub channel: String,
    pub mount_point: Text,
    /// The mounted device or remote (`/dev/sdb1`, `//server/share`, `user@host:/dir`).
    pub source: Text,
    pub fstype: String,
    /// The kernel marks the block device removable (sysfs), as opposed to a mount point that
    /// matched a configured glob.
    pub removable: bool,
    /// How writes to it are noticed: `fanotify` or `walk` (periodic), with why.
    pub watch: String,
}

/// What the agent did about one object on a DLP channel: the policy's strongest action and its
/// outcome (`recorded`, `quarantined`, `quarantine_failed`), with the parts that could not be
/// inspected. Each covered finding is also a [`DlpMatch`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DlpVerdict {
    pub channel: String,
    pub path: Text,
    pub sha256: Option<Hash32>,
    /// `audit`, `alert` or `block`.
    pub action: String,
    pub outcome: String,
    /// Where the file went in the agent's vault, when quarantined.
    pub vault_id: Option<String>,
    /// The policy rules that decided.
    pub rules: Vec<String>,
    /// `part: reason` for each part that could not be inspected.
    pub not_inspected: Vec<String>,
    /// Free text: why a quarantine failed, a read-only remount, …
    pub detail: String,
}

impl Event {
    pub fn kind(&self) -> EventKind {
        match self.body {
            EventBody::File(_) => EventKind::File,
            EventBody::Process(_) => EventKind::Process,
            EventBody::Health(_) => EventKind::Health,
            EventBody::Gap(_) => EventKind::Gap,
            EventBody::Dlp(_) => EventKind::Dlp,
            EventBody::Malware(_) => EventKind::Malware,
            EventBody::Agent(_) => EventKind::Agent,
            EventBody::Mount(_) => EventKind::Mount,
            EventBody::DlpVerdict(_) => EventKind::DlpVerdict,
        }
    }

    /// The JSON view used by `events list --json` and outputs.
    pub fn to_json(&self, agent_id: &AgentId) -> Value {
        let mut m = Map::new();
        m.insert("agent_id".into(), json!(agent_id.to_string()));
        m.insert("seq".into(), json!(self.seq));
        m.insert("time".into(), json!(self.time.to_rfc3339()));
        m.insert("kind".into(), json!(self.kind().as_str()));
        match &self.body {
            EventBody::File(f) => {
                m.insert("action".into(), json!(f.action.as_str()));
                m.insert("path".into(), json!(f.path.as_str()));
                if let Some(old) = &f.old_path {
                    m.insert("old_path".into(), json!(old.as_str()));
                }
                let new_hash = f.new.as_ref().and_then(|n| n.hash);
                let old_hash = f.old.as_ref().and_then(|o| o.hash);
                m.insert("hash".into(), opt_hex(new_hash));
                m.insert("old_hash".into(), opt_hex(old_hash));
                if let Some(n) = &f.new {
                    m.insert("size".into(), json!(n.size));
                    m.insert("mode".into(), json!(format!("{:o}", n.mode)));
                    m.insert("uid".into(), json!(n.uid));
                    m.insert("gid".into(), json!(n.gid));
                    m.insert("mtime".into(), json!(n.mtime.to_rfc3339()));
                }
                m.insert("critical".into(), json!(f.critical));
                m.insert(
                    "detection".into(),
                    json!(match f.detection {
                        Detection::Realtime => "realtime",
                        Detection::Rescan => "rescan",
                    }),
                );
                if let Some(a) = &f.actor {
                    m.insert("pid".into(), json!(a.pid));
                    m.insert("image".into(), json!(a.image.as_str()));
                }
            }
            EventBody::Process(p) => {
                m.insert("action".into(), json!(p.action.as_str()));
                m.insert("pid".into(), json!(p.pid));
                m.insert("ppid".into(), json!(p.ppid));
                m.insert("image".into(), json!(p.image.as_str()));
                m.insert("command_line".into(), json!(p.command_line.as_str()));
                m.insert("user".into(), json!(p.user.as_str()));
                m.insert("parent_image".into(), json!(p.parent_image.as_ref().map(Text::as_str)));
                m.insert("image_hash".into(), opt_hex(p.image_hash));
                if let Some(code) = p.exit_code {
                    m.insert("exit_code".into(), json!(code));
                }
            }
            EventBody::Health(h) => {
                m.insert("spool_events".into(), json!(h.spool_events));
                m.insert("spool_bytes".into(), json!(h.spool_bytes));
                m.insert("rss_bytes".into(), json!(h.rss_bytes));
                m.insert("cpu_percent".into(), json!(h.cpu_percent));
                m.insert("uptime_secs".into(), json!(h.uptime_secs));
                m.insert("fim_sensor".into(), json!(h.fim_sensor));
                m.insert("process_sensor".into(), json!(h.process_sensor));
                m.insert("agent_version".into(), json!(h.agent_version));
            }
            EventBody::Gap(g) => {
                m.insert("lost".into(), json!(g.lost));
                m.insert("first_lost_seq".into(), json!(g.first_seq));
                m.insert("last_lost_seq".into(), json!(g.last_seq));
                m.insert("reason".into(), json!(g.reason));
            }
            EventBody::Dlp(d) => {
                m.insert("channel".into(), json!(d.channel));
                m.insert("path".into(), json!(d.path.as_str()));
                m.insert("container_path".into(), json!(d.container_path.as_ref().map(Text::as_str)));
                m.insert("detector".into(), json!(d.detector));
                m.insert("count".into(), json!(d.count));
                m.insert("confidence".into(), json!(d.confidence));
                m.insert("masked_sample".into(), json!(d.masked_sample));
                m.insert("level".into(), json!(d.level));
                m.insert("sha256".into(), opt_hex(d.sha256));
                m.insert("action".into(), json!(d.action));
            }
            EventBody::Malware(x) => {
                m.insert("rule".into(), json!(x.rule));
                m.insert("namespace".into(), json!(x.namespace));
                m.insert("tags".into(), json!(x.tags));
                m.insert("path".into(), json!(x.path.as_str()));
                m.insert("sha256".into(), opt_hex(x.sha256));
            }
            EventBody::Agent(a) => {
                m.insert("action".into(), json!(a.action.as_str()));
                m.insert("clock_jump_secs".into(), json!(a.clock_jump_secs));
                m.insert("detail".into(), json!(a.detail));
                m.insert("agent_version".into(), json!(a.agent_version));
            }
            EventBody::Mount(x) => {
                m.insert("action".into(), json!(x.action.as_str()));
                m.insert("channel".into(), json!(x.channel));
                m.insert("mount_point".into(), json!(x.mount_point.as_str()));
                m.insert("source".into(), json!(x.source.as_str()));
                m.insert("fstype".into(), json!(x.fstype));
                m.insert("removable".into(), json!(x.removable));
                m.insert("watch".into(), json!(x.watch));
            }
            EventBody::DlpVerdict(v) => {
                m.insert("channel".into(), json!(v.channel));
                m.insert("path".into(), json!(v.path.as_str()));
                m.insert("sha256".into(), opt_hex(v.sha256));
                m.insert("action".into(), json!(v.action));
                m.insert("outcome".into(), json!(v.outcome));
                m.insert("vault_id".into(), json!(v.vault_id));
                m.insert("rules".into(), json!(v.rules));
                m.insert("not_inspected".into(), json!(v.not_inspected));
                m.insert("detail".into(), json!(v.detail));
            }
        }
        Value::Object(m)
    }
}

fn opt_hex(h: Option<Hash32>) -> Value {
    h.map_or(Value::Null, |h| json!(hex::encode(h)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agent_id_round_trips_through_hex() {
        let id = AgentId([7; 16]);
        assert_eq!(id.to_string().parse::<AgentId>(), Ok(id));
        assert!("zz".parse::<AgentId>().is_err());
    }

    #[test]
    fn timestamps_render_as_utc_rfc3339() {
        let t = Timestamp(1_700_000_000_123_456_000);
        assert_eq!(t.to_rfc3339(), "2023-11-14T22:13:20.123456Z");
        assert_eq!(Timestamp::parse_rfc3339("2023-11-14T22:13:20.123456Z"), Ok(t));
    }

    #[test]
    fn file_event_json_has_the_documented_fields() {
        let e = Event {
            seq: 9,
            time: Timestamp(0),
            body: EventBody::File(FileEvent {
                action: FileAction::Modified,
                path: Text::from("/srv/tài liệu/kế hoạch.txt"),
                old_path: None,
                old: None,
                new: Some(FileMeta { hash: Some([0xab; 32]), ..FileMeta::default() }),
                critical: true,
                detection: Detection::Realtime,
                actor: Some(Actor { pid: 42, image: Text::from("/usr/bin/vim") }),
            }),
        };
        let j = e.to_json(&AgentId([1; 16]));
        assert_eq!(j["kind"], "file");
        assert_eq!(j["action"], "modified");
        assert_eq!(j["path"], "/srv/tài liệu/kế hoạch.txt");
        assert_eq!(j["hash"], "ab".repeat(32));
        assert_eq!(j["pid"], 42);
        assert_eq!(j["seq"], 9);
    }
}
