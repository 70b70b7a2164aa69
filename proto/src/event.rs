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
    /// The 16 raw bytes, as stored in keys and signed headers.
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
    /// The wall clock now; a clock before 1970 reads as the epoch.
    pub fn now() -> Timestamp {
        Timestamp::from(SystemTime::now())
    }

    /// RFC 3339 in UTC with microseconds (`2026-11-03T08:15:00.123456Z`), as JSON views show it.
    pub fn to_rfc3339(self) -> String {
        humantime::format_rfc3339_micros(self.to_system_time()).to_string()
    }

    /// Reads an RFC 3339 time (the `T` may be a space, the fraction is optional); the error names
    /// the input.
    pub fn parse_rfc3339(s: &str) -> Result<Timestamp, String> {
        humantime::parse_rfc3339_weak(s).map(Timestamp::from).map_err(|e| format!("not an RFC 3339 time ({e}): {s:?}"))
    }

    /// As a [`SystemTime`]; times before the epoch clamp to it.
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
    /// When it happened, by the agent's wall clock.
    pub time: Timestamp,
    /// What happened.
    pub body: EventBody,
}

/// What happened, one variant per kind of event (see [`EventKind`] for the names queries use).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum EventBody {
    /// A watched file changed (file integrity monitoring).
    File(FileEvent),
    /// A process started or exited.
    Process(ProcessEvent),
    /// The agent's periodic heartbeat.
    Health(Health),
    /// The agent dropped events; says which.
    Gap(Gap),
    // New variants go last: postcard encodes the variant index, so stored batches keep decoding.
    /// A DLP detector found sensitive content.
    Dlp(DlpMatch),
    /// A YARA rule matched a file.
    Malware(MalwareMatch),
    /// The agent started, stopped, or saw its clock jump.
    Agent(AgentLifecycle),
    /// A removable medium or network share was mounted or unmounted.
    Mount(MountEvent),
    /// What the DLP policy did about one object.
    DlpVerdict(DlpVerdict),
    /// A record of a Windows event log (Security, Sysmon, …).
    WinEvent(WinEventRecord),
    /// A change to a watched file on Windows, with the owner and access control list that
    /// [`FileMeta`] has no room for (kind `file`, as [`EventBody::File`]).
    NtFile(NtFileEvent),
    /// A process started or exited on Windows, with what only Windows tells (its kind is
    /// still `process`).
    WinProcess(WinProcessEvent),
}

impl EventBody {
    /// The file change this body reports, whichever platform's variant carries it.
    pub fn file_event(&self) -> Option<&FileEvent> {
        match self {
            EventBody::File(f) => Some(f),
            EventBody::NtFile(n) => Some(&n.file),
            _ => None,
        }
    }
}

/// What kind of event this is, as used in queries (`--kind file`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum EventKind {
    /// [`EventBody::File`]: `file`.
    File,
    /// [`EventBody::Process`]: `process`.
    Process,
    /// [`EventBody::Health`]: `health`.
    Health,
    /// [`EventBody::Gap`]: `gap`.
    Gap,
    /// [`EventBody::Dlp`]: `dlp`.
    Dlp,
    /// [`EventBody::Malware`]: `malware`.
    Malware,
    /// [`EventBody::Agent`]: `agent`.
    Agent,
    /// [`EventBody::Mount`]: `mount`.
    Mount,
    /// [`EventBody::DlpVerdict`]: `dlp_verdict`.
    DlpVerdict,
    /// [`EventBody::WinEvent`]: `win_event`.
    WinEvent,
}

impl EventKind {
    /// Every kind, in the order of [`EventBody`]'s first variant of each kind.
    pub const ALL: [EventKind; 10] = [
        EventKind::File,
        EventKind::Process,
        EventKind::Health,
        EventKind::Gap,
        EventKind::Dlp,
        EventKind::Malware,
        EventKind::Agent,
        EventKind::Mount,
        EventKind::DlpVerdict,
        EventKind::WinEvent,
    ];

    /// The name used in queries, JSON (`"kind"`) and the store; [`FromStr`] reads it back.
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
            EventKind::WinEvent => "win_event",
        }
    }
}

impl FromStr for EventKind {
    type Err = String;
    fn from_str(s: &str) -> Result<EventKind, String> {
        EventKind::ALL.into_iter().find(|k| k.as_str() == s).ok_or_else(|| {
            format!("unknown event kind {s:?} (expected file, process, health, gap, dlp, malware, agent, mount, dlp_verdict or win_event)")
        })
    }
}

/// What happened to a watched file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum FileAction {
    /// It appeared.
    Created,
    /// Its content changed.
    Modified,
    /// It went away.
    Deleted,
    /// It moved; [`FileEvent::old_path`] says from where.
    Renamed,
    /// Only its metadata (mode, owner) changed.
    Attributes,
}

impl FileAction {
    /// The name in JSON views (`"action"`).
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
    /// Length in bytes.
    pub size: u64,
    /// Unix mode bits, file type included (`st_mode`).
    pub mode: u32,
    /// Owner's user id.
    pub uid: u32,
    /// Owner's group id.
    pub gid: u32,
    /// Last content modification.
    pub mtime: Timestamp,
    /// BLAKE3 of the content (of the target, for a symbolic link); `None` when not hashed
    /// (directories, special files, or unreadable).
    pub hash: Option<Hash32>,
}

/// The process that caused a change, when the sensor can tell (fanotify can).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Actor {
    /// Its process id.
    pub pid: u32,
    /// Its executable's path.
    pub image: Text,
}

/// A change to a watched file, with its metadata before and after.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FileEvent {
    /// What happened.
    pub action: FileAction,
    /// The file's path (its new path, for a rename).
    pub path: Text,
    /// For renames: where the file was before.
    pub old_path: Option<Text>,
    /// Metadata before the change, when the baseline knew the file.
    pub old: Option<FileMeta>,
    /// Metadata after the change; `None` once the file is gone.
    pub new: Option<FileMeta>,
    /// The path matched one of the agent's `critical` globs.
    pub critical: bool,
    /// Whether a notification or a rescan found the change.
    pub detection: Detection,
    /// Who made the change, when the sensor can tell.
    pub actor: Option<Actor>,
}

/// Who owns a file and who may use it, where the mode bits do not say (Windows security
/// descriptors).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileSecurity {
    /// `DOMAIN\name` of the owner, or its SID when no account name resolves; empty when the
    /// descriptor could not be read.
    pub owner: Text,
    /// BLAKE3 of the discretionary access control list in SDDL, its control flags included;
    /// `None` when it could not be read.
    pub dacl: Option<Hash32>,
}

/// A file change on Windows: the change, and the owner and access control list before and after.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NtFileEvent {
    /// The change, as on every platform.
    pub file: FileEvent,
    /// Owner and ACL before the change, when the baseline knew the file.
    pub old_security: Option<FileSecurity>,
    /// Owner and ACL after the change; `None` once the file is gone.
    pub new_security: Option<FileSecurity>,
}

/// Whether a process began or ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ProcessAction {
    /// It was started (exec).
    Start,
    /// It exited; [`ProcessEvent::exit_code`] has the status when known.
    Exit,
}

impl ProcessAction {
    /// The name in JSON views (`"action"`).
    pub fn as_str(self) -> &'static str {
        match self {
            ProcessAction::Start => "start",
            ProcessAction::Exit => "exit",
        }
    }
}

/// A process start or exit, with what rules need to judge it (Sigma's `process_creation`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProcessEvent {
    /// Start or exit.
    pub action: ProcessAction,
    /// Its process id.
    pub pid: u32,
    /// Its parent's process id.
    pub ppid: u32,
    /// Its executable's path.
    pub image: Text,
    /// Its arguments, separated by spaces; an argument that is empty or holds whitespace or a
    /// quote is double-quoted, so the arguments stay tellable apart.
    pub command_line: Text,
    /// The user it runs as: the account name, or the numeric id when no name resolves.
    pub user: Text,
    /// The parent's executable, when still known.
    pub parent_image: Option<Text>,
    /// BLAKE3 of the executable, when it could be read.
    pub image_hash: Option<Hash32>,
    /// Exit status, for exits the sensor saw the status of.
    pub exit_code: Option<i32>,
}

/// A process start or exit on Windows: the [`ProcessEvent`] every platform has, and what the
/// Windows token adds. `process.user` is the account as `DOMAIN\\name`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WinProcessEvent {
    /// What every platform reports.
    pub process: ProcessEvent,
    /// The security identifier of the account it runs as (`S-1-5-18`), when its token could be
    /// read.
    pub user_sid: Option<String>,
    /// Its mandatory integrity level, named as Sysmon names it (`Low`, `Medium`, `High`,
    /// `System`), or the label's SID (`S-1-16-8448`) for a level without a name.
    pub integrity_level: Option<String>,
    /// The parent's command line, when the parent is still known.
    pub parent_command_line: Option<Text>,
}

/// The agent's own health, sent as a heartbeat.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Health {
    /// Events in the spool not yet acknowledged by the collector.
    pub spool_events: u64,
    /// Bytes those events take in the spool.
    pub spool_bytes: u64,
    /// The agent's resident memory.
    pub rss_bytes: u64,
    /// CPU used since the previous heartbeat, in percent of one core.
    pub cpu_percent: f32,
    /// Seconds since the agent started.
    pub uptime_secs: u64,
    /// The file sensor's backend (`fanotify`, `inotify`, `rescan`), or `off`.
    pub fim_sensor: String,
    /// The process sensor's backend, or `off`.
    pub process_sensor: String,
    /// The agent's version (its package version).
    pub agent_version: String,
}

/// Events the agent had to drop (its spool was full); never silent.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Gap {
    /// How many events were dropped.
    pub lost: u64,
    /// Lowest sequence number among them.
    pub first_seq: u64,
    /// Highest sequence number among them.
    pub last_seq: u64,
    /// Why, for people (e.g. the spool's size limit).
    pub reason: String,
}

/// Sensitive content found leaving (or resting on) an endpoint. Never carries the matched
/// content itself: a masked sample at most, and for state-secret markings only the level.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DlpMatch {
    /// Where the content was going or found: `usb`, `share`, `print`, `at_rest`, …
    pub channel: String,
    /// The file (or object) the content is in.
    pub path: Text,
    /// Path inside a container (`report.zip/word/document.xml`), when the match is nested.
    pub container_path: Option<Text>,
    /// The detector that matched (`cccd`, `phone`, `card`, a marking detector, …), or
    /// `could_not_inspect` for a part that could not be read (named in `container_path`).
    pub detector: String,
    /// Distinct instances found.
    pub count: u32,
    /// 0–100.
    pub confidence: u8,
    /// One instance with most of it masked, so an analyst can judge it without seeing it.
    pub masked_sample: Option<String>,
    /// State-secret marking level (`mat`, `toi_mat`, `tuyet_mat`), for marking detectors.
    pub level: Option<String>,
    /// SHA-256 of the whole object; `None` when it could not be read.
    pub sha256: Option<Hash32>,
    /// What policy did: `audit`, `alert` or `block`.
    pub action: String,
}

/// A YARA rule matched a file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MalwareMatch {
    /// The YARA rule's identifier.
    pub rule: String,
    /// The rule's namespace: its file's path under the rule directory, without extension.
    pub namespace: String,
    /// The rule's tags.
    pub tags: Vec<String>,
    /// The file that matched.
    pub path: Text,
    /// SHA-256 of the file, when known.
    pub sha256: Option<Hash32>,
}

/// What happened to the agent itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum LifecycleAction {
    /// The agent started (the detail says whether the previous run ended cleanly).
    Started,
    /// A clean shutdown (signal or service stop); an agent that vanishes without this is
    /// noticed by the collector instead.
    Stopped,
    /// The wall clock moved against the monotonic clock by more than the agent tolerates.
    ClockJump,
    /// A signed update was verified and handed to the installer (the detail names both versions).
    UpdateStarted,
    /// An update was installed and the new version runs and reached the collector.
    Updated,
    /// An update was installed but the new version did not start or connect in time (or the
    /// installer failed): the previous version was reinstalled.
    UpdateFailed,
    /// An offered update was refused before anything was installed: expired, replayed,
    /// downgraded, tampered or wrongly signed metadata or package (the detail says which).
    UpdateRefused,
}

impl LifecycleAction {
    /// The name in JSON views and Sigma's `EventType`.
    pub fn as_str(self) -> &'static str {
        match self {
            LifecycleAction::Started => "started",
            LifecycleAction::Stopped => "stopped",
            LifecycleAction::ClockJump => "clock_jump",
            LifecycleAction::UpdateStarted => "update_started",
            LifecycleAction::Updated => "updated",
            LifecycleAction::UpdateFailed => "update_failed",
            LifecycleAction::UpdateRefused => "update_refused",
        }
    }
}

/// The agent itself: start, stop, clock jumps — the raw material of tampering rules.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AgentLifecycle {
    /// Started, stopped, or clock jump.
    pub action: LifecycleAction,
    /// Signed wall-clock jump in seconds, for `ClockJump`.
    pub clock_jump_secs: Option<i64>,
    /// Free text: the signal that stopped the agent, whether the previous run ended cleanly, …
    pub detail: String,
    /// The agent's version.
    pub agent_version: String,
}

/// What happened to a watched filesystem.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum MountAction {
    /// It appeared and is now watched.
    Mounted,
    /// It went away.
    Unmounted,
    /// The agent remounted the filesystem read-only after blocking a file written to it.
    RemountedReadOnly,
}

impl MountAction {
    /// The name in JSON views and Sigma's `EventType`.
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
    /// Mounted, unmounted, or remounted read-only.
    pub action: MountAction,
    /// `usb` or `share`.
    pub channel: String,
    /// Where it is mounted.
    pub mount_point: Text,
    /// The mounted device or remote (`/dev/sdb1`, `//server/share`, `user@host:/dir`).
    pub source: Text,
    /// The filesystem type as the kernel names it (`vfat`, `cifs`, …).
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
    /// Where the object was going: `usb`, `share`, `print`, …
    pub channel: String,
    /// The object, as shown to people (a file path, or a print job's description).
    pub path: Text,
    /// SHA-256 of the whole object; `None` when it could not be read.
    pub sha256: Option<Hash32>,
    /// `audit`, `alert` or `block`.
    pub action: String,
    /// What came of the action: `recorded`, `quarantined` or `quarantine_failed`.
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

/// One record of a Windows event log, as the agent read it from the Event Log service.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WinEventRecord {
    /// The log it was written to (`Security`, `Microsoft-Windows-Sysmon/Operational`, …).
    pub channel: String,
    /// The provider that wrote it.
    pub provider: String,
    /// The Windows event ID (4688, …).
    pub event_id: u32,
    /// The record's number in its log (`EventRecordID`).
    pub record_id: u64,
    /// The computer that logged it.
    pub computer: String,
    /// The whole record as JSON text, in the shape the `evtx` crate gives saved logs
    /// (`{"Event": {"System": …, "EventData": …}}`), which the rules evaluate.
    pub record: String,
}

impl Event {
    /// Which kind of event this is.
    pub fn kind(&self) -> EventKind {
        match self.body {
            EventBody::File(_) => EventKind::File,
            EventBody::Process(_) | EventBody::WinProcess(_) => EventKind::Process,
            EventBody::Health(_) => EventKind::Health,
            EventBody::Gap(_) => EventKind::Gap,
            EventBody::Dlp(_) => EventKind::Dlp,
            EventBody::Malware(_) => EventKind::Malware,
            EventBody::Agent(_) => EventKind::Agent,
            EventBody::Mount(_) => EventKind::Mount,
            EventBody::DlpVerdict(_) => EventKind::DlpVerdict,
            EventBody::WinEvent(_) => EventKind::WinEvent,
            EventBody::NtFile(_) => EventKind::File,
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
            EventBody::File(f) => file_json(&mut m, f),
            EventBody::NtFile(n) => {
                file_json(&mut m, &n.file);
                for (key, security) in [("", &n.new_security), ("old_", &n.old_security)] {
                    if let Some(s) = security {
                        m.insert(format!("{key}owner"), json!(s.owner.as_str()));
                        if let Some(dacl) = s.dacl {
                            m.insert(format!("{key}dacl_hash"), json!(hex::encode(dacl)));
                        }
                    }
                }
            }
            EventBody::Process(p) => process_json(&mut m, p),
            EventBody::WinProcess(w) => {
                process_json(&mut m, &w.process);
                // Present when known, so that Linux and Windows processes differ only there.
                if let Some(sid) = &w.user_sid {
                    m.insert("user_sid".into(), json!(sid));
                }
                if let Some(level) = &w.integrity_level {
                    m.insert("integrity_level".into(), json!(level));
                }
                if let Some(line) = &w.parent_command_line {
                    m.insert("parent_command_line".into(), json!(line.as_str()));
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
            EventBody::WinEvent(w) => {
                m.insert("channel".into(), json!(w.channel));
                m.insert("provider".into(), json!(w.provider));
                m.insert("event_id".into(), json!(w.event_id));
                m.insert("record_id".into(), json!(w.record_id));
                m.insert("computer".into(), json!(w.computer));
                // The record as the agent sent it; text that is not JSON stays text.
                let record = serde_json::from_str(&w.record).unwrap_or_else(|_| json!(w.record));
                m.insert("record".into(), record);
            }
        }
        Value::Object(m)
    }
}

/// The fields every file change shows in the JSON view.
fn file_json(m: &mut Map<String, Value>, f: &FileEvent) {
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

/// The fields every process start or exit shows in the JSON view.
fn process_json(m: &mut Map<String, Value>, p: &ProcessEvent) {
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

    fn windows_start() -> WinProcessEvent {
        WinProcessEvent {
            process: ProcessEvent {
                action: ProcessAction::Start,
                pid: 4242,
                ppid: 600,
                image: Text::from("C:\\Windows\\System32\\cmd.exe"),
                command_line: Text::from("cmd.exe /c whoami"),
                user: Text::from("NT AUTHORITY\\SYSTEM"),
                parent_image: Some(Text::from("C:\\Windows\\explorer.exe")),
                image_hash: Some([0xcd; 32]),
                exit_code: None,
            },
            user_sid: Some("S-1-5-18".into()),
            integrity_level: Some("System".into()),
            parent_command_line: Some(Text::from("C:\\Windows\\Explorer.EXE")),
        }
    }

    #[test]
    fn windows_process_events_are_of_kind_process_with_the_token_fields_in_json() {
        let e = Event { seq: 3, time: Timestamp(0), body: EventBody::WinProcess(windows_start()) };
        assert_eq!(e.kind(), EventKind::Process);
        let j = e.to_json(&AgentId([1; 16]));
        assert_eq!(j["kind"], "process");
        assert_eq!(j["image"], "C:\\Windows\\System32\\cmd.exe");
        assert_eq!(j["user"], "NT AUTHORITY\\SYSTEM");
        assert_eq!(j["user_sid"], "S-1-5-18");
        assert_eq!(j["integrity_level"], "System");
        assert_eq!(j["parent_command_line"], "C:\\Windows\\Explorer.EXE");
        assert_eq!(j["image_hash"], "cd".repeat(32));
    }

    /// Postcard writes the variant's index first: stored batches keep decoding only while
    /// earlier variants keep their places.
    #[test]
    fn windows_process_variant_is_appended_after_every_earlier_one() {
        let body = EventBody::WinProcess(windows_start());
        let bytes = postcard::to_allocvec(&body).expect("encode");
        assert_eq!(bytes[0], 11, "the twelfth variant, after NtFile");
        assert_eq!(postcard::from_bytes::<EventBody>(&bytes).expect("decode"), body);
        let linux = EventBody::Process(windows_start().process);
        assert_eq!(postcard::to_allocvec(&linux).expect("encode")[0], 1);
        let file = FileEvent {
            action: FileAction::Created,
            path: Text::from(r"C:\a"),
            old_path: None,
            old: None,
            new: None,
            critical: false,
            detection: Detection::Rescan,
            actor: None,
        };
        let nt_file = EventBody::NtFile(NtFileEvent { file, old_security: None, new_security: None });
        assert_eq!(postcard::to_allocvec(&nt_file).expect("encode")[0], 10);
    }
}
