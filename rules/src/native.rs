//! Our typed agent events as Sigma events (see [`NativeEvent`]).

use std::borrow::Cow;
use std::cell::OnceCell;

use haidang_proto::event::{
    AgentId, AgentLifecycle, DlpMatch, DlpVerdict, Event, EventBody, FileAction, FileEvent, Gap, Health, MalwareMatch,
    MountEvent, NtFileEvent, ProcessAction, ProcessEvent, WinEventRecord, WinProcessEvent,
};
use haidang_proto::text::Text;
use rsigma_eval::EventValue;
use rsigma_parser::LogSource;
use serde_json::{Map, Value};

/// One agent event as the rule engine sees it: Sigma taxonomy field names read straight from
/// the `proto` structs (no JSON tree per event), and the logsource the event belongs to.
///
/// | event                    | category             | main fields                                  |
/// |--------------------------|----------------------|----------------------------------------------|
/// | process start / exit     | process_creation / process_termination | Image, CommandLine, ParentImage, User, ProcessId, ParentProcessId, Hashes |
/// | … on Windows             | same                 | the above, and IntegrityLevel, UserSid, ParentCommandLine |
/// | file created             | file_event           | TargetFilename, Image, ProcessId, Hash, Critical |
/// | file modified, attributes| file_change          | same                                         |
/// | file deleted             | file_delete          | same                                         |
/// | file renamed             | file_rename          | TargetFilename (new), SourceFilename (old)   |
/// | DLP match                | dlp                  | Detector, Channel, Count, Confidence, MarkingLevel, TargetFilename |
/// | YARA match               | antivirus            | Signature, Filename, RuleName, Namespace, Tags |
/// | DLP verdict (what was done) | dlp          | Channel, TargetFilename, PolicyAction, Outcome, VaultId, Rules |
/// | removable/share mount, unmount | mount        | EventType, Channel, MountPoint, Source, FsType, Removable |
/// | heartbeat, spool gap, start/stop, clock jump | agent_status | EventType, …               |
/// | Windows record that is not JSON | win_event     | Channel, Provider_Name, EventID, EventRecordID |
///
/// `antivirus` is Sigma's category for malware detections, so community rules that name
/// malware families apply to our YARA matches too.
pub struct NativeEvent<'a> {
    event: &'a Event,
    agent_id: String,
    hostname: Option<&'a str>,
    /// Rendered on first use: keyword rules visit every string of every event, and
    /// formatting a time per visit would cost more than the matching.
    utc_time: OnceCell<String>,
    event_id: OnceCell<String>,
}

impl<'a> NativeEvent<'a> {
    /// `agent` sent `event`; `hostname` is what the collector knows the agent's machine as, for
    /// rules naming `Hostname` or `Computer`.
    pub fn new(agent: &AgentId, event: &'a Event, hostname: Option<&'a str>) -> NativeEvent<'a> {
        NativeEvent {
            event,
            agent_id: agent.to_string(),
            hostname,
            utc_time: OnceCell::new(),
            event_id: OnceCell::new(),
        }
    }

    /// The event as recorded.
    pub fn event(&self) -> &Event {
        self.event
    }

    /// `product` is the agent's operating system (`linux`, `windows`): the same event type means
    /// the same category on both, and product-specific rules stay with their platform.
    pub fn logsource(&self, product: &str) -> LogSource {
        LogSource {
            product: Some(product.to_owned()),
            category: Some(category(&self.event.body).to_owned()),
            ..LogSource::default()
        }
    }

    /// Event time in Unix seconds, the clock correlation windows run on.
    pub fn time_secs(&self) -> i64 {
        self.event.time.0.div_euclid(1_000_000_000)
    }

    fn common(&self, name: &str) -> Option<EventValue<'_>> {
        Some(match name {
            "AgentId" => str_value(&self.agent_id),
            "Hostname" | "Computer" => str_value(self.hostname?),
            "EventSeq" => int(self.event.seq),
            "UtcTime" => str_value(self.utc_time.get_or_init(|| self.event.time.to_rfc3339())),
            "EventKind" => str_value(self.event.kind().as_str()),
            // rsigma keeps this (not the event) in correlation windows, so an alert can name
            // the events that fired it.
            "event_id" => str_value(self.event_id.get_or_init(|| format!("{}:{}", self.agent_id, self.event.seq))),
            _ => return None,
        })
    }

    fn body_field(&self, name: &str) -> Option<EventValue<'_>> {
        match &self.event.body {
            EventBody::Process(p) => lookup(PROCESS_FIELDS, p, name),
            EventBody::WinProcess(w) => lookup(WIN_PROCESS_FIELDS, w, name),
            EventBody::File(f) => lookup(FILE_FIELDS, f, name),
            EventBody::Dlp(d) => lookup(DLP_FIELDS, d, name),
            EventBody::Malware(m) => lookup(MALWARE_FIELDS, m, name),
            EventBody::Health(h) => lookup(HEALTH_FIELDS, h, name),
            EventBody::Gap(g) => lookup(GAP_FIELDS, g, name),
            EventBody::Agent(a) => lookup(AGENT_FIELDS, a, name),
            EventBody::Mount(x) => lookup(MOUNT_FIELDS, x, name),
            EventBody::DlpVerdict(v) => lookup(VERDICT_FIELDS, v, name),
            EventBody::WinEvent(w) => lookup(WIN_EVENT_FIELDS, w, name),
            EventBody::NtFile(n) => lookup(FILE_FIELDS, &n.file, name).or_else(|| lookup(NT_FILE_FIELDS, n, name)),
        }
    }

    fn visit_fields(&self, visit: &mut dyn FnMut(&'static str, EventValue<'_>)) {
        for name in COMMON_FIELDS {
            if let Some(v) = self.common(name) {
                visit(name, v);
            }
        }
        match &self.event.body {
            EventBody::Process(p) => each(PROCESS_FIELDS, p, visit),
            EventBody::WinProcess(w) => each(WIN_PROCESS_FIELDS, w, visit),
            EventBody::File(f) => each(FILE_FIELDS, f, visit),
            EventBody::Dlp(d) => each(DLP_FIELDS, d, visit),
            EventBody::Malware(m) => each(MALWARE_FIELDS, m, visit),
            EventBody::Health(h) => each(HEALTH_FIELDS, h, visit),
            EventBody::Gap(g) => each(GAP_FIELDS, g, visit),
            EventBody::Agent(a) => each(AGENT_FIELDS, a, visit),
            EventBody::Mount(x) => each(MOUNT_FIELDS, x, visit),
            EventBody::DlpVerdict(v) => each(VERDICT_FIELDS, v, visit),
            EventBody::WinEvent(w) => each(WIN_EVENT_FIELDS, w, visit),
            EventBody::NtFile(n) => {
                each(FILE_FIELDS, &n.file, visit);
                each(NT_FILE_FIELDS, n, visit);
            }
        }
    }
}

const COMMON_FIELDS: [&str; 6] = ["AgentId", "Hostname", "EventSeq", "UtcTime", "EventKind", "event_id"];

/// The Sigma logsource category of an event body.
pub(crate) fn category(body: &EventBody) -> &'static str {
    match body {
        EventBody::Process(ProcessEvent { action, .. })
        | EventBody::WinProcess(WinProcessEvent { process: ProcessEvent { action, .. }, .. }) => match action {
            ProcessAction::Start => "process_creation",
            ProcessAction::Exit => "process_termination",
        },
        EventBody::File(f) | EventBody::NtFile(NtFileEvent { file: f, .. }) => match f.action {
            FileAction::Created => "file_event",
            FileAction::Modified | FileAction::Attributes => "file_change",
            FileAction::Deleted => "file_delete",
            FileAction::Renamed => "file_rename",
        },
        EventBody::Dlp(_) | EventBody::DlpVerdict(_) => "dlp",
        EventBody::Mount(_) => "mount",
        EventBody::WinEvent(_) => "win_event",
        EventBody::Malware(_) => "antivirus",
        EventBody::Health(_) | EventBody::Gap(_) | EventBody::Agent(_) => "agent_status",
    }
}

impl rsigma_eval::Event for NativeEvent<'_> {
    fn get_field(&self, path: &str) -> Option<EventValue<'_>> {
        self.body_field(path).or_else(|| self.common(path))
    }

    fn any_string_value(&self, pred: &dyn Fn(&str) -> bool) -> bool {
        let mut found = false;
        self.visit_string_values(&mut |s| found = found || pred(s));
        found
    }

    fn all_string_values(&self) -> Vec<Cow<'_, str>> {
        let mut out = Vec::new();
        self.visit_fields(&mut |_, v| {
            if let EventValue::Str(s) = v {
                out.push(Cow::Owned(s.into_owned()));
            }
        });
        out
    }

    fn visit_string_values(&self, visit: &mut dyn FnMut(&str)) {
        self.visit_fields(&mut |_, v| {
            if let EventValue::Str(s) = &v {
                visit(s);
            }
        });
    }

    fn to_json(&self) -> Value {
        let mut map = Map::new();
        self.visit_fields(&mut |name, v| {
            map.insert(name.to_owned(), v.to_json());
        });
        Value::Object(map)
    }

    /// Naming the fields this event can have lets rsigma's candidate index probe only those,
    /// instead of every field any loaded rule mentions.
    fn visit_top_level_keys(&self, visit: &mut dyn FnMut(&str)) -> bool {
        COMMON_FIELDS.iter().for_each(|name| visit(name));
        let names: &mut dyn Iterator<Item = &str> = match &self.event.body {
            EventBody::Process(_) => &mut PROCESS_FIELDS.iter().map(|(n, _)| *n),
            EventBody::WinProcess(_) => &mut WIN_PROCESS_FIELDS.iter().map(|(n, _)| *n),
            EventBody::File(_) => &mut FILE_FIELDS.iter().map(|(n, _)| *n),
            EventBody::Dlp(_) => &mut DLP_FIELDS.iter().map(|(n, _)| *n),
            EventBody::Malware(_) => &mut MALWARE_FIELDS.iter().map(|(n, _)| *n),
            EventBody::Health(_) => &mut HEALTH_FIELDS.iter().map(|(n, _)| *n),
            EventBody::Gap(_) => &mut GAP_FIELDS.iter().map(|(n, _)| *n),
            EventBody::Agent(_) => &mut AGENT_FIELDS.iter().map(|(n, _)| *n),
            EventBody::Mount(_) => &mut MOUNT_FIELDS.iter().map(|(n, _)| *n),
            EventBody::DlpVerdict(_) => &mut VERDICT_FIELDS.iter().map(|(n, _)| *n),
            EventBody::WinEvent(_) => &mut WIN_EVENT_FIELDS.iter().map(|(n, _)| *n),
            EventBody::NtFile(_) => {
                &mut FILE_FIELDS.iter().map(|(n, _)| *n).chain(NT_FILE_FIELDS.iter().map(|(n, _)| *n))
            }
        };
        names.for_each(visit);
        true
    }

    fn field_keys(&self) -> Vec<Cow<'_, str>> {
        let mut keys = Vec::new();
        self.visit_fields(&mut |name, _| keys.push(Cow::Borrowed(name)));
        keys
    }
}

type Getter<T> = for<'a> fn(&'a T) -> Option<EventValue<'a>>;

fn lookup<'a, T>(fields: &[(&'static str, Getter<T>)], body: &'a T, name: &str) -> Option<EventValue<'a>> {
    fields.iter().find(|(n, _)| *n == name).and_then(|(_, get)| get(body))
}

fn each<T>(fields: &[(&'static str, Getter<T>)], body: &T, visit: &mut dyn FnMut(&'static str, EventValue<'_>)) {
    for (name, get) in fields {
        if let Some(v) = get(body) {
            visit(name, v);
        }
    }
}

fn str_value(s: &str) -> EventValue<'_> {
    EventValue::Str(Cow::Borrowed(s))
}

fn text(t: &Text) -> EventValue<'_> {
    str_value(t.as_str())
}

fn int(n: impl Into<i128>) -> EventValue<'static> {
    EventValue::Int(i64::try_from(n.into()).unwrap_or(i64::MAX))
}

fn hex_value(h: &[u8; 32]) -> EventValue<'static> {
    EventValue::Str(Cow::Owned(hex::encode(h)))
}

/// The final path component, as Sigma's `Image|endswith: '/curl'` style rules expect it split.
fn file_name(t: &Text) -> EventValue<'_> {
    let s = t.as_str();
    str_value(s.rsplit('/').next().unwrap_or(s))
}

const PROCESS_FIELDS: &[(&str, Getter<ProcessEvent>)] = &[
    ("Image", |p| Some(text(&p.image))),
    ("CommandLine", |p| Some(text(&p.command_line))),
    ("User", |p| Some(text(&p.user))),
    ("ProcessId", |p| Some(int(p.pid))),
    ("ParentProcessId", |p| Some(int(p.ppid))),
    ("ParentImage", |p| p.parent_image.as_ref().map(text)),
    ("OriginalFileName", |p| Some(file_name(&p.image))),
    ("Hashes", |p| p.image_hash.map(|h| EventValue::Str(Cow::Owned(format!("BLAKE3={}", hex::encode(h)))))),
    ("ExitCode", |p| p.exit_code.map(int)),
];

/// Sysmon's process_creation fields (event 1) as SigmaHQ's Windows rules name them: paths with
/// `\\`, `User` as `DOMAIN\\name`, `IntegrityLevel` as `Medium`, `High`, `System`….
const WIN_PROCESS_FIELDS: &[(&str, Getter<WinProcessEvent>)] = &[
    ("Image", |w| Some(text(&w.process.image))),
    ("CommandLine", |w| Some(text(&w.process.command_line))),
    ("User", |w| Some(text(&w.process.user))),
    ("UserSid", |w| w.user_sid.as_deref().map(str_value)),
    ("IntegrityLevel", |w| w.integrity_level.as_deref().map(str_value)),
    ("ProcessId", |w| Some(int(w.process.pid))),
    ("ParentProcessId", |w| Some(int(w.process.ppid))),
    ("ParentImage", |w| w.process.parent_image.as_ref().map(text)),
    ("ParentCommandLine", |w| w.parent_command_line.as_ref().map(text)),
    ("OriginalFileName", |w| Some(windows_file_name(&w.process.image))),
    ("Hashes", |w| w.process.image_hash.map(|h| EventValue::Str(Cow::Owned(format!("BLAKE3={}", hex::encode(h)))))),
    ("ExitCode", |w| w.process.exit_code.map(int)),
];

/// The final component of a Windows path, which may be written with either separator.
fn windows_file_name(t: &Text) -> EventValue<'_> {
    let s = t.as_str();
    str_value(s.rsplit(['\\', '/']).next().unwrap_or(s))
}

const FILE_FIELDS: &[(&str, Getter<FileEvent>)] = &[
    ("TargetFilename", |f| Some(text(&f.path))),
    ("SourceFilename", |f| f.old_path.as_ref().map(text)),
    ("Image", |f| f.actor.as_ref().map(|a| text(&a.image))),
    ("ProcessId", |f| f.actor.as_ref().map(|a| int(a.pid))),
    ("Action", |f| Some(str_value(f.action.as_str()))),
    ("Hash", |f| f.new.as_ref().and_then(|m| m.hash.as_ref()).map(hex_value)),
    ("OldHash", |f| f.old.as_ref().and_then(|m| m.hash.as_ref()).map(hex_value)),
    ("Critical", |f| Some(EventValue::Bool(f.critical))),
    ("Size", |f| f.new.as_ref().map(|m| int(m.size))),
    ("Mode", |f| f.new.as_ref().map(|m| EventValue::Str(Cow::Owned(format!("{:o}", m.mode))))),
    ("OldMode", |f| f.old.as_ref().map(|m| EventValue::Str(Cow::Owned(format!("{:o}", m.mode))))),
    ("Uid", |f| f.new.as_ref().map(|m| int(m.uid))),
    ("Gid", |f| f.new.as_ref().map(|m| int(m.gid))),
    ("Detection", |f| {
        Some(str_value(match f.detection {
            haidang_proto::event::Detection::Realtime => "realtime",
            haidang_proto::event::Detection::Rescan => "rescan",
        }))
    }),
];

/// What a Windows file change adds: the owner and access control list before and after.
const NT_FILE_FIELDS: &[(&str, Getter<NtFileEvent>)] = &[
    ("Owner", |n| n.new_security.as_ref().map(|s| text(&s.owner))),
    ("OldOwner", |n| n.old_security.as_ref().map(|s| text(&s.owner))),
    ("DaclHash", |n| n.new_security.as_ref().and_then(|s| s.dacl.as_ref()).map(hex_value)),
    ("OldDaclHash", |n| n.old_security.as_ref().and_then(|s| s.dacl.as_ref()).map(hex_value)),
];

const DLP_FIELDS: &[(&str, Getter<DlpMatch>)] = &[
    ("Detector", |d| Some(str_value(&d.detector))),
    ("Channel", |d| Some(str_value(&d.channel))),
    ("TargetFilename", |d| Some(text(&d.path))),
    ("ContainerPath", |d| d.container_path.as_ref().map(text)),
    ("Count", |d| Some(int(d.count))),
    ("Confidence", |d| Some(int(d.confidence))),
    ("MaskedSample", |d| d.masked_sample.as_deref().map(str_value)),
    ("MarkingLevel", |d| d.level.as_deref().map(str_value)),
    ("Sha256", |d| d.sha256.as_ref().map(hex_value)),
    ("PolicyAction", |d| Some(str_value(&d.action))),
];

const MALWARE_FIELDS: &[(&str, Getter<MalwareMatch>)] = &[
    ("Signature", |m| Some(str_value(&m.rule))),
    ("RuleName", |m| Some(str_value(&m.rule))),
    ("Namespace", |m| Some(str_value(&m.namespace))),
    ("Tags", |m| Some(EventValue::Array(m.tags.iter().map(|t| str_value(t)).collect()))),
    ("Filename", |m| Some(text(&m.path))),
    ("TargetFilename", |m| Some(text(&m.path))),
    ("Sha256", |m| m.sha256.as_ref().map(hex_value)),
];

const HEALTH_FIELDS: &[(&str, Getter<Health>)] = &[
    ("EventType", |_| Some(str_value("heartbeat"))),
    ("SpoolEvents", |h| Some(int(h.spool_events))),
    ("SpoolBytes", |h| Some(int(h.spool_bytes))),
    ("RssBytes", |h| Some(int(h.rss_bytes))),
    ("CpuPercent", |h| Some(EventValue::Float(f64::from(h.cpu_percent)))),
    ("UptimeSecs", |h| Some(int(h.uptime_secs))),
    ("FimSensor", |h| Some(str_value(&h.fim_sensor))),
    ("ProcessSensor", |h| Some(str_value(&h.process_sensor))),
    ("AgentVersion", |h| Some(str_value(&h.agent_version))),
];

const GAP_FIELDS: &[(&str, Getter<Gap>)] = &[
    ("EventType", |_| Some(str_value("spool_gap"))),
    ("LostEvents", |g| Some(int(g.lost))),
    ("FirstLostSeq", |g| Some(int(g.first_seq))),
    ("LastLostSeq", |g| Some(int(g.last_seq))),
    ("Reason", |g| Some(str_value(&g.reason))),
];

const AGENT_FIELDS: &[(&str, Getter<AgentLifecycle>)] = &[
    ("EventType", |a| Some(str_value(a.action.as_str()))),
    ("ClockJumpSecs", |a| a.clock_jump_secs.map(int)),
    ("Detail", |a| Some(str_value(&a.detail))),
    ("AgentVersion", |a| Some(str_value(&a.agent_version))),
];

const MOUNT_FIELDS: &[(&str, Getter<MountEvent>)] = &[
    ("EventType", |x| Some(str_value(x.action.as_str()))),
    ("Channel", |x| Some(str_value(&x.channel))),
    ("MountPoint", |x| Some(text(&x.mount_point))),
    ("Source", |x| Some(text(&x.source))),
    ("FsType", |x| Some(str_value(&x.fstype))),
    ("Removable", |x| Some(EventValue::Bool(x.removable))),
    ("Watch", |x| Some(str_value(&x.watch))),
];

const VERDICT_FIELDS: &[(&str, Getter<DlpVerdict>)] = &[
    ("EventType", |_| Some(str_value("dlp_verdict"))),
    ("Channel", |v| Some(str_value(&v.channel))),
    ("TargetFilename", |v| Some(text(&v.path))),
    ("Sha256", |v| v.sha256.as_ref().map(hex_value)),
    ("PolicyAction", |v| Some(str_value(&v.action))),
    ("Outcome", |v| Some(str_value(&v.outcome))),
    ("VaultId", |v| v.vault_id.as_deref().map(str_value)),
    ("Rules", |v| Some(EventValue::Array(v.rules.iter().map(|r| str_value(r)).collect()))),
    ("NotInspected", |v| Some(EventValue::Array(v.not_inspected.iter().map(|r| str_value(r)).collect()))),
    ("Detail", |v| Some(str_value(&v.detail))),
];

/// A Windows record whose JSON did not parse: only what the agent read from its header.
/// Records that parse are evaluated whole ([`crate::AgentEvent`]).
const WIN_EVENT_FIELDS: &[(&str, Getter<WinEventRecord>)] = &[
    ("Channel", |w| Some(str_value(&w.channel))),
    ("Provider_Name", |w| Some(str_value(&w.provider))),
    ("EventID", |w| Some(int(w.event_id))),
    ("EventRecordID", |w| Some(int(w.record_id))),
];

#[cfg(test)]
mod tests {
    use super::*;
    use haidang_proto::event::{Actor, Detection, FileMeta, Timestamp};
    use rsigma_eval::Event as _;

    fn process() -> Event {
        Event {
            seq: 7,
            time: Timestamp(1_700_000_000_500_000_000),
            body: EventBody::Process(ProcessEvent {
                action: ProcessAction::Start,
                pid: 4242,
                ppid: 1,
                image: Text::from("/usr/bin/curl"),
                command_line: Text::from("curl -o /tmp/tài-liệu http://x"),
                user: Text::from("root"),
                parent_image: Some(Text::from("/bin/bash")),
                image_hash: Some([0x11; 32]),
                exit_code: None,
            }),
        }
    }

    #[test]
    fn process_start_exposes_taxonomy_fields_and_routes_to_process_creation() {
        let e = process();
        let n = NativeEvent::new(&AgentId([1; 16]), &e, Some("pc-01"));
        assert_eq!(
            n.get_field("Image").and_then(|v| v.as_str().map(|s| s.into_owned())).as_deref(),
            Some("/usr/bin/curl")
        );
        assert_eq!(n.get_field("ProcessId"), Some(EventValue::Int(4242)));
        assert_eq!(n.get_field("ParentImage"), Some(str_value("/bin/bash")));
        assert_eq!(n.get_field("Hostname"), Some(str_value("pc-01")));
        assert_eq!(n.get_field("TargetFilename"), None);
        let ls = n.logsource("linux");
        assert_eq!(ls.category.as_deref(), Some("process_creation"));
        assert_eq!(ls.product.as_deref(), Some("linux"));
        assert_eq!(n.time_secs(), 1_700_000_000);
        assert!(n.any_string_value(&|s| s.contains("tài-liệu")));
        let json = n.to_json();
        assert_eq!(json["CommandLine"], "curl -o /tmp/tài-liệu http://x");
        assert_eq!(json["AgentId"], AgentId([1; 16]).to_string());
    }

    #[test]
    fn windows_process_exposes_sysmon_fields_and_routes_by_action() {
        let mut e = Event {
            seq: 8,
            time: Timestamp(0),
            body: EventBody::WinProcess(WinProcessEvent {
                process: ProcessEvent {
                    action: ProcessAction::Start,
                    pid: 4242,
                    ppid: 600,
                    image: Text::from("C:\\Windows\\System32\\cmd.exe"),
                    command_line: Text::from("cmd.exe /c whoami"),
                    user: Text::from("NT AUTHORITY\\SYSTEM"),
                    parent_image: Some(Text::from("C:\\Windows\\System32\\services.exe")),
                    image_hash: Some([0x22; 32]),
                    exit_code: None,
                },
                user_sid: Some("S-1-5-18".into()),
                integrity_level: Some("System".into()),
                parent_command_line: None,
            }),
        };
        let n = NativeEvent::new(&AgentId([1; 16]), &e, None);
        assert_eq!(n.get_field("IntegrityLevel"), Some(str_value("System")));
        assert_eq!(n.get_field("User"), Some(str_value("NT AUTHORITY\\SYSTEM")));
        assert_eq!(n.get_field("UserSid"), Some(str_value("S-1-5-18")));
        assert_eq!(n.get_field("ParentImage"), Some(str_value("C:\\Windows\\System32\\services.exe")));
        assert_eq!(n.get_field("OriginalFileName"), Some(str_value("cmd.exe")));
        assert_eq!(n.get_field("Hashes"), Some(EventValue::Str(Cow::Owned(format!("BLAKE3={}", "22".repeat(32))))));
        assert_eq!(n.get_field("ParentCommandLine"), None);
        assert_eq!(n.get_field("EventKind"), Some(str_value("process")));
        assert_eq!(n.logsource("windows").category.as_deref(), Some("process_creation"));
        let json = n.to_json();
        assert_eq!(json["IntegrityLevel"], "System");
        if let EventBody::WinProcess(w) = &mut e.body {
            w.process.action = ProcessAction::Exit;
        }
        let n = NativeEvent::new(&AgentId([1; 16]), &e, None);
        assert_eq!(n.logsource("windows").category.as_deref(), Some("process_termination"));
    }

    #[test]
    fn file_actions_map_to_sigma_file_categories() {
        let file = |action| Event {
            seq: 1,
            time: Timestamp(0),
            body: EventBody::File(FileEvent {
                action,
                path: Text::from("/etc/shadow"),
                old_path: None,
                old: None,
                new: Some(FileMeta { hash: Some([0xab; 32]), mode: 0o640, ..FileMeta::default() }),
                critical: true,
                detection: Detection::Realtime,
                actor: Some(Actor { pid: 9, image: Text::from("/usr/bin/vi") }),
            }),
        };
        for (action, cat) in [
            (FileAction::Created, "file_event"),
            (FileAction::Modified, "file_change"),
            (FileAction::Attributes, "file_change"),
            (FileAction::Deleted, "file_delete"),
            (FileAction::Renamed, "file_rename"),
        ] {
            let e = file(action);
            let n = NativeEvent::new(&AgentId([1; 16]), &e, None);
            assert_eq!(n.logsource("linux").category.as_deref(), Some(cat));
            assert_eq!(n.get_field("Hash"), Some(hex_value(&[0xab; 32])));
            assert_eq!(n.get_field("Mode"), Some(EventValue::Str(Cow::Owned("640".into()))));
            assert_eq!(n.get_field("Critical"), Some(EventValue::Bool(true)));
            assert_eq!(n.get_field("Image"), Some(str_value("/usr/bin/vi")));
            assert_eq!(n.get_field("Hostname"), None);
        }
    }

    #[test]
    fn a_windows_file_change_exposes_its_owner_and_acl_beside_the_file_fields() {
        use haidang_proto::event::FileSecurity;
        let file = FileEvent {
            action: FileAction::Attributes,
            path: Text::from(r"C:\Windows\System32\drivers\etc\hosts"),
            old_path: None,
            old: Some(FileMeta::default()),
            new: Some(FileMeta::default()),
            critical: true,
            detection: Detection::Rescan,
            actor: None,
        };
        let e = Event {
            seq: 3,
            time: Timestamp(0),
            body: EventBody::NtFile(NtFileEvent {
                file,
                old_security: Some(FileSecurity { owner: Text::from(r"NT AUTHORITY\SYSTEM"), dacl: Some([1; 32]) }),
                new_security: Some(FileSecurity { owner: Text::from(r"PC-01\khách"), dacl: None }),
            }),
        };
        let n = NativeEvent::new(&AgentId([1; 16]), &e, None);
        assert_eq!(n.logsource("windows").category.as_deref(), Some("file_change"));
        assert_eq!(n.get_field("TargetFilename"), Some(str_value(r"C:\Windows\System32\drivers\etc\hosts")));
        assert_eq!(n.get_field("Owner"), Some(str_value(r"PC-01\khách")));
        assert_eq!(n.get_field("OldOwner"), Some(str_value(r"NT AUTHORITY\SYSTEM")));
        assert_eq!(n.get_field("DaclHash"), None);
        assert_eq!(n.get_field("OldDaclHash"), Some(hex_value(&[1; 32])));
        let mut keys = Vec::new();
        assert!(n.visit_top_level_keys(&mut |k| keys.push(k.to_owned())));
        assert!(keys.iter().any(|k| k == "Owner") && keys.iter().any(|k| k == "TargetFilename"), "{keys:?}");
        assert_eq!(n.to_json()["Owner"], r"PC-01\khách");
    }

    #[test]
    fn mounts_and_dlp_verdicts_route_to_their_categories() {
        use haidang_proto::event::MountAction;
        let mount = Event {
            seq: 2,
            time: Timestamp(0),
            body: EventBody::Mount(MountEvent {
                action: MountAction::Mounted,
                channel: "usb".into(),
                mount_point: Text::from("/media/usb0"),
                source: Text::from("/dev/sdb1"),
                fstype: "vfat".into(),
                removable: true,
                watch: "fanotify".into(),
            }),
        };
        let n = NativeEvent::new(&AgentId([1; 16]), &mount, None);
        assert_eq!(n.logsource("linux").category.as_deref(), Some("mount"));
        assert_eq!(n.get_field("EventType"), Some(str_value("mounted")));
        assert_eq!(n.get_field("MountPoint"), Some(str_value("/media/usb0")));
        assert_eq!(n.get_field("Removable"), Some(EventValue::Bool(true)));
        let verdict = Event {
            seq: 3,
            time: Timestamp(0),
            body: EventBody::DlpVerdict(DlpVerdict {
                channel: "usb".into(),
                path: Text::from("/media/usb0/baocao.docx"),
                sha256: Some([0xcd; 32]),
                action: "block".into(),
                outcome: "quarantined".into(),
                vault_id: Some("v1".into()),
                rules: vec!["s0-level-egress".into()],
                not_inspected: Vec::new(),
                detail: String::new(),
            }),
        };
        let n = NativeEvent::new(&AgentId([1; 16]), &verdict, None);
        assert_eq!(n.logsource("linux").category.as_deref(), Some("dlp"));
        assert_eq!(n.get_field("Outcome"), Some(str_value("quarantined")));
        assert_eq!(n.get_field("TargetFilename"), Some(str_value("/media/usb0/baocao.docx")));
        assert_eq!(n.get_field("PolicyAction"), Some(str_value("block")));
    }
}
