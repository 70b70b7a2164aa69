//! Windows event log records as Sigma events (see [`WinEvent`]).

use std::borrow::Cow;

use haidang_proto::event::Timestamp;
use rsigma_eval::{EvaluationResult, Event, EventValue};
use rsigma_parser::LogSource;
use serde_json::{Map, Value};

use crate::RuleSet;

/// How deep string and dot-path walks go: a record from outside the process may nest without
/// bound, and the walks are recursive.
const MAX_DEPTH: usize = 64;

/// Windows event channel → Sigma `service`, after SigmaHQ's taxonomy appendix and pySigma's
/// `windows` pipeline. Where SigmaHQ rules spell a service two ways, both are listed. Compared
/// ASCII case-insensitively; the busiest channels come first.
const CHANNEL_SERVICES: &[(&str, &[&str])] = &[
    ("Microsoft-Windows-Sysmon/Operational", &["sysmon"]),
    ("Security", &["security"]),
    ("Microsoft-Windows-PowerShell/Operational", &["powershell"]),
    ("PowerShellCore/Operational", &["powershell"]),
    ("System", &["system"]),
    ("Application", &["application"]),
    ("Windows PowerShell", &["powershell-classic"]),
    ("Microsoft-Windows-Windows Defender/Operational", &["windefend"]),
    ("Microsoft-Windows-TaskScheduler/Operational", &["taskscheduler"]),
    ("Microsoft-Windows-WMI-Activity/Operational", &["wmi"]),
    ("Microsoft-Windows-Bits-Client/Operational", &["bits-client"]),
    ("Microsoft-Windows-CodeIntegrity/Operational", &["codeintegrity-operational"]),
    ("Microsoft-Windows-Windows Firewall With Advanced Security/Firewall", &["firewall-as"]),
    ("Microsoft-Windows-DNS Client Events/Operational", &["dns-client"]),
    ("Microsoft-Windows-DNS-Client/Operational", &["dns-client"]),
    ("Microsoft-Windows-NTLM/Operational", &["ntlm"]),
    ("Microsoft-Windows-AppLocker/EXE and DLL", &["applocker"]),
    ("Microsoft-Windows-AppLocker/MSI and Script", &["applocker"]),
    ("Microsoft-Windows-AppLocker/Packaged app-Deployment", &["applocker"]),
    ("Microsoft-Windows-AppLocker/Packaged app-Execution", &["applocker"]),
    ("Microsoft-Windows-AppXDeploymentServer/Operational", &["appxdeployment-server"]),
    ("Microsoft-Windows-AppxPackaging/Operational", &["appxpackaging-om"]),
    ("Microsoft-Windows-AppModel-Runtime/Admin", &["appmodel-runtime"]),
    ("Microsoft-Windows-Application-Experience/Program-Telemetry", &["application-experience"]),
    ("Microsoft-Windows-Application-Experience/Program-Compatibility-Assistant", &["application-experience"]),
    ("Microsoft-Windows-BitLocker/BitLocker Management", &["bitlocker"]),
    ("Microsoft-Windows-CAPI2/Operational", &["capi2"]),
    (
        "Microsoft-Windows-CertificateServicesClient-Lifecycle-System/Operational",
        &["certificateservicesclient-lifecycle-system"],
    ),
    ("Microsoft-Windows-DHCP-Server/Operational", &["dhcp"]),
    ("Microsoft-Windows-Diagnosis-Scripted/Operational", &["diagnosis-scripted"]),
    ("DNS Server", &["dns-server"]),
    ("Microsoft-Windows-DNS-Server/Analytical", &["dns-server-analytic"]),
    ("Microsoft-Windows-DNS-Server/Audit", &["dns-server-audit"]),
    ("Microsoft-Windows-DriverFrameworks-UserMode/Operational", &["driver-framework"]),
    ("Microsoft-Windows-Hyper-V-Worker-Admin", &["hyper-v-worker"]),
    ("Microsoft-Windows-Hyper-V-Worker", &["hyper-v-worker"]),
    ("Microsoft-Windows-Kernel-EventTracing/Admin", &["kernel-event-tracing"]),
    ("Microsoft-Windows-Kernel-ShimEngine/Operational", &["kernel-shimengine"]),
    ("Microsoft-Windows-Kernel-ShimEngine/Diagnostic", &["kernel-shimengine"]),
    ("Microsoft-Windows-LDAP-Client/Debug", &["ldap", "ldap_debug"]),
    ("Microsoft-Windows-LSA/Operational", &["lsa-server"]),
    ("MSExchange Management", &["msexchange-management"]),
    ("Microsoft-Windows-Ntfs/Operational", &["ntfs"]),
    ("OpenSSH/Operational", &["openssh"]),
    ("Microsoft-Windows-PrintService/Admin", &["printservice-admin"]),
    ("Microsoft-Windows-PrintService/Operational", &["printservice-operational"]),
    ("Microsoft-Windows-Security-Mitigations/Kernel Mode", &["security-mitigations"]),
    ("Microsoft-Windows-Security-Mitigations/User Mode", &["security-mitigations"]),
    ("Microsoft-Windows-SENSE/Operational", &["sense"]),
    ("Microsoft-ServiceBus-Client", &["servicebus-client", "microsoft-servicebus-client"]),
    ("Microsoft-ServiceBus-Client/Operational", &["servicebus-client", "microsoft-servicebus-client"]),
    ("Microsoft-ServiceBus-Client/Admin", &["servicebus-client", "microsoft-servicebus-client"]),
    ("Microsoft-Windows-Shell-Core/Operational", &["shell-core"]),
    ("Microsoft-Windows-SmbClient/Security", &["smbclient-security"]),
    ("Microsoft-Windows-SmbClient/Connectivity", &["smbclient-connectivity"]),
    ("Microsoft-Windows-SMBServer/Connectivity", &["smbserver-connectivity"]),
    ("Microsoft-Windows-TerminalServices-LocalSessionManager/Operational", &["terminalservices-localsessionmanager"]),
    ("Microsoft-Windows-VHDMP-Operational", &["vhdmp"]),
    ("Microsoft-Windows-VHDMP/Operational", &["vhdmp"]),
    ("Microsoft-Windows-IIS-Configuration/Operational", &["iis-configuration"]),
];

/// Sysmon for Linux writes the same event IDs to this channel; SigmaHQ's Linux rules use the
/// categories with `product: linux`.
const LINUX_SYSMON_CHANNEL: &str = "Linux-Sysmon/Operational";

/// Sysmon event ID → categories (SigmaHQ taxonomy appendix; pySigma `sysmon` pipeline). Event 12
/// is refined by its `EventType` in [`sysmon_categories`].
fn sysmon_event_categories(event_id: i64) -> &'static [&'static str] {
    match event_id {
        1 => &["process_creation"],
        2 => &["file_change"],
        3 => &["network_connection"],
        4 | 16 => &["sysmon_status"],
        5 => &["process_termination"],
        6 => &["driver_load"],
        7 => &["image_load"],
        8 => &["create_remote_thread"],
        9 => &["raw_access_thread"],
        10 => &["process_access"],
        11 => &["file_event"],
        12 => &["registry_add", "registry_delete", "registry_event"],
        13 => &["registry_set", "registry_event"],
        14 => &["registry_rename", "registry_event"],
        15 => &["create_stream_hash"],
        17 | 18 => &["pipe_created"],
        19..=21 => &["wmi_event"],
        22 => &["dns_query"],
        23 => &["file_delete"],
        24 => &["clipboard_capture"],
        25 => &["process_tampering"],
        26 => &["file_delete", "file_delete_detected"],
        27 => &["file_block_executable"],
        28 => &["file_block_shredding"],
        29 => &["file_executable_detected"],
        255 => &["sysmon_error"],
        _ => &[],
    }
}

/// Sysmon event 12 covers key and value creation and deletion; its `EventType` says which, as in
/// pySigma's `registry_add` (`CreateKey`) and `registry_delete` (`DeleteKey`, `DeleteValue`).
fn sysmon_categories(event_id: i64, event_type: Option<&str>) -> &'static [&'static str] {
    if event_id == 12 {
        match event_type {
            Some(t) if t.eq_ignore_ascii_case("CreateKey") || t.eq_ignore_ascii_case("CreateValue") => {
                return &["registry_add", "registry_event"];
            }
            Some(t) if t.eq_ignore_ascii_case("DeleteKey") || t.eq_ignore_ascii_case("DeleteValue") => {
                return &["registry_delete", "registry_event"];
            }
            _ => {}
        }
    }
    sysmon_event_categories(event_id)
}

/// Security 4688 read with the Sysmon process-creation field names, as SigmaHQ's
/// `windows-audit` field mappings (and Hayabusa) do: rule field → audit event field.
/// `User` and the process ids are derived (see [`WinEvent::mapped`]).
pub(crate) const PROCESS_CREATION_4688: &[(&str, &str)] = &[
    ("Image", "NewProcessName"),
    ("ParentImage", "ParentProcessName"),
    ("ProcessId", "NewProcessId"),
    ("ParentProcessId", "ProcessId"),
    ("LogonId", "SubjectLogonId"),
    ("IntegrityLevel", "MandatoryLabel"),
    ("User", "TargetUserName"),
];

/// Defender detections read as Sigma's `antivirus` category, whose rules name the malware in
/// `Signature`.
const ANTIVIRUS_DEFENDER: &[(&str, &str)] = &[("Signature", "Threat Name")];

/// Which field-name mapping applies to an event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mapping {
    None,
    ProcessCreation4688,
    DefenderAntivirus,
}

impl Mapping {
    fn table(self) -> &'static [(&'static str, &'static str)] {
        match self {
            Mapping::None => &[],
            Mapping::ProcessCreation4688 => PROCESS_CREATION_4688,
            Mapping::DefenderAntivirus => ANTIVIRUS_DEFENDER,
        }
    }
}

/// Where an event belongs: `product`, `service`s and `category`s, all from static tables.
#[derive(Clone, Copy, Debug)]
struct Route {
    product: Option<&'static str>,
    services: &'static [&'static str],
    categories: &'static [&'static str],
    mapping: Mapping,
}

impl Route {
    const UNKNOWN: Route = Route { product: None, services: &[], categories: &[], mapping: Mapping::None };

    /// A Windows record without a channel (events captured from ETW sessions have none) is
    /// still `product: windows`; a record with neither is of unknown origin.
    fn of(windows: bool, channel: Option<&str>, event_id: Option<i64>, event_type: Option<&str>) -> Route {
        let Some(channel) = channel else {
            return if windows { Route { product: Some("windows"), ..Route::UNKNOWN } } else { Route::UNKNOWN };
        };
        if channel.eq_ignore_ascii_case(LINUX_SYSMON_CHANNEL) {
            let categories = event_id.map_or(&[][..], |id| sysmon_categories(id, event_type));
            return Route { product: Some("linux"), services: &["sysmon"], categories, mapping: Mapping::None };
        }
        let services = CHANNEL_SERVICES
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(channel))
            .map_or(&[][..], |(_, services)| *services);
        let (categories, mapping): (&'static [&'static str], Mapping) = match (services.first(), event_id) {
            (Some(&"sysmon"), Some(id)) => (sysmon_categories(id, event_type), Mapping::None),
            (Some(&"powershell"), Some(4103)) => (&["ps_module"], Mapping::None),
            (Some(&"powershell"), Some(4104)) => (&["ps_script"], Mapping::None),
            (Some(&"powershell-classic"), Some(400)) => (&["ps_classic_start"], Mapping::None),
            (Some(&"powershell-classic"), Some(600)) => (&["ps_classic_provider_start"], Mapping::None),
            (Some(&"powershell-classic"), Some(800)) => (&["ps_classic_script"], Mapping::None),
            (Some(&"security"), Some(4688)) => (&["process_creation"], Mapping::ProcessCreation4688),
            (Some(&"windefend"), Some(1006 | 1015 | 1116 | 1117)) => (&["antivirus"], Mapping::DefenderAntivirus),
            _ => (&[], Mapping::None),
        };
        Route { product: Some("windows"), services, categories, mapping }
    }
}

/// One Windows event log record, borrowed, as the rule engine sees it: routed to logsources
/// the way SigmaHQ's processing pipelines (pySigma `windows` and `sysmon`) do.
///
/// A record comes in one of two shapes, and `WinEvent` reads both without copying it:
///
/// - nested, as the `evtx` crate renders it:
///   `{"Event": {"System": {...}, "EventData": {...}}}` (or `"UserData": {"<Child>": {...}}`);
/// - pre-flattened, with every field at the top level (`EventID`, `Channel`, `Provider_Name`,
///   `Image`, …), as other tools export records.
///
/// A rule's field name is looked up in `EventData`, then in the `UserData` child, then in
/// `System`. `System` element attributes are reachable as `Element_Attribute`
/// (`Provider_Name`, `TimeCreated_SystemTime`, `Security_UserID`), and names with spaces
/// without them (`ThreatName` for Defender's `Threat Name`), SigmaHQ's conventions; values
/// rendered as `{"#text": …, "#attributes": …}` read as their text; dot paths from the record's
/// root (`Event.System.Channel`) or from `Event` (`EventData.Image`) work too.
///
/// Routing: `Channel` gives the `service`, and for Sysmon, PowerShell and a few Security and
/// Defender events the `EventID` gives the `category` (see [`WinEvent::logsources`]). An event
/// can belong to more than one category (a Sysmon registry value change is `registry_set` and
/// `registry_event`); [`WinEvent::detect`] evaluates each once and reports every rule once.
///
/// Security 4688 (process creation without Sysmon) is also `process_creation`, with the Sysmon
/// field names that SigmaHQ's rules use mapped onto the audit event's own (`Image` is
/// `NewProcessName`, …; the table is `PROCESS_CREATION_4688` in `windows.rs`); the original
/// names stay reachable as `EventData.<Name>`.
#[derive(Clone, Copy, Debug)]
pub struct WinEvent<'a> {
    root: &'a Value,
    /// The `Event` element of a nested record; `None` for a flat one.
    event: Option<&'a Map<String, Value>>,
    system: Option<&'a Map<String, Value>>,
    /// `EventData` of a nested record, or the whole object of a flat one.
    data: Option<&'a Map<String, Value>>,
    /// The single child element of `UserData`, whose children are the fields.
    user_data: Option<&'a Map<String, Value>>,
    /// Whether a field name has spaces (Defender's `Threat Name`): rules name such fields
    /// with the spaces removed (`ThreatName`), SigmaHQ's convention.
    spaced_names: bool,
    route: Route,
}

impl<'a> WinEvent<'a> {
    /// Reads `record` in either shape. Anything else (an array, a scalar, an object with none of
    /// the Windows fields) is still an event: it has no logsource and every rule is tried.
    pub fn new(record: &'a Value) -> WinEvent<'a> {
        let root_map = record.as_object();
        let event = root_map.and_then(|m| m.get("Event")).and_then(Value::as_object);
        let (system, data, user_data) = match event {
            Some(event) => (
                event.get("System").and_then(Value::as_object),
                event.get("EventData").and_then(Value::as_object),
                event.get("UserData").and_then(Value::as_object).and_then(first_element),
            ),
            None => (None, root_map, None),
        };
        let spaced_names = [data, user_data].into_iter().flatten().flat_map(Map::keys).any(|k| k.contains(' '));
        let mut ev = WinEvent { root: record, event, system, data, user_data, spaced_names, route: Route::UNKNOWN };
        let channel = ev.header("Channel").and_then(Value::as_str);
        let event_id = ev.header("EventID").and_then(as_int);
        let event_type = ev.data.and_then(|d| d.get("EventType")).map(text).and_then(Value::as_str);
        // Nested records have a `System` element; flat ones are Windows records when they name
        // a provider or an event ID.
        let windows = system.is_some() || ["Provider_Name", "EventID"].iter().any(|k| ev.header(k).is_some());
        ev.route = Route::of(windows, channel, event_id, event_type);
        ev
    }

    /// The record as given.
    pub fn record(&self) -> &'a Value {
        self.root
    }

    /// A `System` field (nested records) or a top-level one (flat records), `#text` unwrapped.
    fn header(&self, name: &str) -> Option<&'a Value> {
        match (self.event, self.system) {
            (Some(_), Some(system)) => system.get(name).map(text),
            (Some(_), None) => None,
            (None, _) => self.data.and_then(|d| d.get(name)).map(text),
        }
    }

    /// The record's `Channel`, if it names one.
    pub fn channel(&self) -> Option<&'a str> {
        self.header("Channel").and_then(Value::as_str)
    }

    /// The Windows event ID.
    pub fn event_id(&self) -> Option<i64> {
        self.header("EventID").and_then(as_int)
    }

    /// `EventRecordID`, the record's number in its log.
    pub fn record_id(&self) -> Option<u64> {
        self.header("EventRecordID").and_then(as_int).and_then(|n| u64::try_from(n).ok())
    }

    /// When the event was logged: `System/TimeCreated/@SystemTime`, or in a flat record
    /// `TimeCreated_SystemTime`, `SystemTime`, `TimeCreated` or `@timestamp`.
    pub fn time(&self) -> Option<Timestamp> {
        let raw = match (self.event, self.system) {
            (Some(_), Some(system)) => attribute(system, "TimeCreated", "SystemTime"),
            (Some(_), None) => None,
            (None, _) => {
                let data = self.data?;
                ["TimeCreated_SystemTime", "SystemTime", "TimeCreated", "@timestamp"]
                    .iter()
                    .find_map(|k| data.get(*k).and_then(Value::as_str))
                    .or_else(|| attribute(data, "TimeCreated", "SystemTime"))
            }
        }?;
        Timestamp::parse_rfc3339(raw).ok()
    }

    /// The logsources this event belongs to: one per (service, category) pair its channel and
    /// event ID map to, all with the same `product`. Empty when the record is not recognisably
    /// a Windows event (no `System`, no channel, provider or event ID: origin unknown); then
    /// [`WinEvent::detect`] tries every rule.
    pub fn logsources(&self) -> Vec<LogSource> {
        let Some(product) = self.route.product else { return Vec::new() };
        let services: &[&str] = if self.route.services.is_empty() { &[""] } else { self.route.services };
        let categories: &[&str] = if self.route.categories.is_empty() { &[""] } else { self.route.categories };
        let some = |s: &str| (!s.is_empty()).then(|| s.to_owned());
        let mut out = Vec::with_capacity(services.len() * categories.len());
        for service in services {
            for category in categories {
                out.push(LogSource {
                    product: Some(product.to_owned()),
                    service: some(service),
                    category: some(category),
                    ..LogSource::default()
                });
            }
        }
        out
    }

    /// Every detection rule that matches this event under any of its logsources, each once.
    ///
    /// rsigma routes by subset: a rule runs only if each logsource field it names is present
    /// and equal in the event's one logsource. So an event in two categories is evaluated once
    /// per category (most events have one); a rule naming no category runs in each pass and is
    /// kept once. Evaluating once without a category and filtering afterwards would not do:
    /// results do not say which rule (or logsource) they came from, and every category's rules
    /// would run on every event.
    pub fn detect(&self, rules: &RuleSet) -> Vec<EvaluationResult> {
        self.detect_as(rules, self)
    }

    /// As [`WinEvent::detect`], with the rules reading the fields of `event`, which wraps this
    /// record (an agent's event adds the stored event's id).
    pub(crate) fn detect_as<E: Event>(&self, rules: &RuleSet, event: &E) -> Vec<EvaluationResult> {
        let logsources = self.logsources();
        let Some((first, rest)) = logsources.split_first() else { return rules.detect(event, None) };
        let mut results = rules.detect(event, Some(first));
        for logsource in rest {
            // A rule without a category (or service) matches under every logsource of the event;
            // report it once. Rule ids are unique in a RuleSet, titles stand in for missing ids.
            let seen = results.len();
            for result in rules.detect(event, Some(logsource)) {
                if !results[..seen].iter().any(|r| same_rule(r, &result)) {
                    results.push(result);
                }
            }
        }
        results
    }

    /// A field renamed by this event's mapping: `Some(value)` when `name` is mapped (the value
    /// may be absent), `None` when it is not, so a mapped name never falls through to an
    /// unrelated field of the same name (4688's `ProcessId` is the parent's).
    fn mapped(&self, name: &str) -> Option<Option<EventValue<'a>>> {
        let (_, source) = self.route.mapping.table().iter().find(|(rule_name, _)| *rule_name == name)?;
        let data = self.data;
        let get = |field: &str| data.and_then(|d| d.get(field)).map(text);
        Some(match (self.route.mapping, name) {
            (Mapping::ProcessCreation4688, "ProcessId" | "ParentProcessId") => get(source).map(process_id),
            (Mapping::ProcessCreation4688, "User") => account(get, "Target").or_else(|| account(get, "Subject")),
            _ => get(source).map(event_value),
        })
    }

    /// The field whose name, spaces removed, is `name` (`ThreatName` for `Threat Name`).
    fn unspaced(&self, name: &str) -> Option<&'a Value> {
        if !self.spaced_names {
            return None;
        }
        let same = |key: &str| key.contains(' ') && key.chars().filter(|c| *c != ' ').eq(name.chars());
        [self.data, self.user_data].into_iter().flatten().flatten().find(|(k, _)| same(k)).map(|(_, v)| v)
    }

    /// `Element_Attribute` of a `System` element (`Provider_Name`).
    fn system_attribute(&self, name: &str) -> Option<&'a Value> {
        let (element, attr) = name.split_once('_')?;
        self.system?.get(element)?.get("#attributes")?.get(attr)
    }

    /// A dot path from the record's root, or from its `Event` element.
    fn dotted(&self, path: &str) -> Option<EventValue<'a>> {
        if path.split('.').nth(MAX_DEPTH).is_some() {
            return None;
        }
        let walk = |start: &'a Value| path.split('.').try_fold(start, |v, key| v.as_object()?.get(key));
        let found = walk(self.root).or_else(|| self.root.get("Event").and_then(walk))?;
        Some(event_value(found))
    }

    fn visit_keys(map: Option<&'a Map<String, Value>>, visit: &mut dyn FnMut(&str)) {
        for key in map.into_iter().flat_map(Map::keys) {
            visit(key);
        }
    }
}

/// Whether two results come from the same rule.
fn same_rule(a: &EvaluationResult, b: &EvaluationResult) -> bool {
    a.header.rule_id == b.header.rule_id && a.header.rule_title == b.header.rule_title
}

/// `UserData` holds one element named after the event's schema; its children are the fields.
fn first_element(user_data: &Map<String, Value>) -> Option<&Map<String, Value>> {
    user_data.iter().filter(|(k, _)| !k.starts_with('#')).find_map(|(_, v)| v.as_object())
}

/// A field's value for the matchers: `#text` unwrapped, nesting bounded (a value nested deeper
/// than [`MAX_DEPTH`] reads as null there, rather than recursing without bound).
fn event_value(value: &Value) -> EventValue<'_> {
    bounded(text(value), MAX_DEPTH)
}

fn bounded(value: &Value, depth: usize) -> EventValue<'_> {
    match value {
        Value::Array(items) if depth > 0 => EventValue::Array(items.iter().map(|v| bounded(v, depth - 1)).collect()),
        Value::Object(map) if depth > 0 => {
            EventValue::Map(map.iter().map(|(k, v)| (Cow::Borrowed(k.as_str()), bounded(v, depth - 1))).collect())
        }
        Value::Array(_) | Value::Object(_) => EventValue::Null,
        scalar => EventValue::from(scalar),
    }
}

/// `{"#text": v, "#attributes": …}` reads as `v`; anything else as itself.
fn text(value: &Value) -> &Value {
    match value {
        Value::Object(m) => m.get("#text").unwrap_or(value),
        _ => value,
    }
}

fn attribute<'v>(map: &'v Map<String, Value>, element: &str, attr: &str) -> Option<&'v str> {
    map.get(element)?.get("#attributes")?.get(attr)?.as_str()
}

/// An integer written as a JSON number, a decimal string or a `0x` hexadecimal string.
fn as_int(value: &Value) -> Option<i64> {
    match value {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => parse_int(s),
        _ => None,
    }
}

fn parse_int(s: &str) -> Option<i64> {
    let s = s.trim();
    match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(hex) => i64::from_str_radix(hex, 16).ok(),
        None => s.parse().ok(),
    }
}

/// Audit events write process ids in hexadecimal (`0x1a2c`), Sysmon in decimal; rules are
/// written against Sysmon, so a parseable id reads as its number.
fn process_id(value: &Value) -> EventValue<'_> {
    match as_int(value) {
        Some(n) => EventValue::Int(n),
        None => event_value(value),
    }
}

/// `DOMAIN\user` from `<prefix>DomainName` and `<prefix>UserName`, the form of Sysmon's `User`;
/// `None` when the user name is missing or `-` (4688 leaves the target empty when the new
/// process runs as its creator).
fn account<'v>(get: impl Fn(&str) -> Option<&'v Value>, prefix: &str) -> Option<EventValue<'v>> {
    let user = get(&format!("{prefix}UserName")).and_then(Value::as_str).filter(|u| !u.is_empty() && *u != "-")?;
    let domain = get(&format!("{prefix}DomainName")).and_then(Value::as_str).filter(|d| !d.is_empty() && *d != "-");
    Some(EventValue::Str(match domain {
        Some(domain) => Cow::Owned(format!("{domain}\\{user}")),
        None => Cow::Borrowed(user),
    }))
}

fn visit_strings(value: &Value, visit: &mut dyn FnMut(&str), depth: usize) {
    match value {
        Value::String(s) => visit(s),
        Value::Array(items) if depth > 0 => items.iter().for_each(|v| visit_strings(v, visit, depth - 1)),
        Value::Object(map) if depth > 0 => map.values().for_each(|v| visit_strings(v, visit, depth - 1)),
        _ => {}
    }
}

fn any_string(value: &Value, pred: &dyn Fn(&str) -> bool, depth: usize) -> bool {
    match value {
        Value::String(s) => pred(s),
        Value::Array(items) if depth > 0 => items.iter().any(|v| any_string(v, pred, depth - 1)),
        Value::Object(map) if depth > 0 => map.values().any(|v| any_string(v, pred, depth - 1)),
        _ => false,
    }
}

impl Event for WinEvent<'_> {
    fn get_field(&self, path: &str) -> Option<EventValue<'_>> {
        if let Some(mapped) = self.mapped(path) {
            return mapped;
        }
        let direct = self
            .data
            .and_then(|d| d.get(path))
            .or_else(|| self.user_data.and_then(|u| u.get(path)))
            .or_else(|| self.system.and_then(|s| s.get(path)));
        if let Some(v) = direct.or_else(|| self.system_attribute(path)).or_else(|| self.unspaced(path)) {
            return Some(event_value(v));
        }
        if path.contains('.') {
            return self.dotted(path);
        }
        None
    }

    fn any_string_value(&self, pred: &dyn Fn(&str) -> bool) -> bool {
        any_string(self.root, pred, MAX_DEPTH)
    }

    fn all_string_values(&self) -> Vec<Cow<'_, str>> {
        let mut out = Vec::new();
        visit_strings(self.root, &mut |s| out.push(Cow::Owned(s.to_owned())), MAX_DEPTH);
        out
    }

    fn visit_string_values(&self, visit: &mut dyn FnMut(&str)) {
        visit_strings(self.root, visit, MAX_DEPTH);
    }

    fn to_json(&self) -> Value {
        self.root.clone()
    }

    /// Every name [`Event::get_field`] can resolve at the top: the rule engine's candidate index
    /// probes only fields under these, so a name missing here would silently hide a match.
    fn visit_top_level_keys(&self, visit: &mut dyn FnMut(&str)) -> bool {
        for (name, _) in self.route.mapping.table() {
            visit(name);
        }
        WinEvent::visit_keys(self.data, visit);
        WinEvent::visit_keys(self.user_data, visit);
        if self.spaced_names {
            for key in [self.data, self.user_data].into_iter().flatten().flat_map(Map::keys) {
                if key.contains(' ') {
                    visit(&key.replace(' ', ""));
                }
            }
        }
        if let Some(system) = self.system {
            let mut name = String::new();
            for (element, value) in system {
                visit(element);
                let attributes = value.get("#attributes").and_then(Value::as_object);
                for attr in attributes.into_iter().flat_map(Map::keys) {
                    name.clear();
                    name.push_str(element);
                    name.push('_');
                    name.push_str(attr);
                    visit(&name);
                }
            }
        }
        // Roots of dot paths, from the record's root and from `Event` (a flat record's root keys
        // were visited as its data).
        if self.event.is_some() {
            WinEvent::visit_keys(self.root.as_object(), visit);
            WinEvent::visit_keys(self.event, visit);
        }
        true
    }

    fn top_level_keys(&self) -> Option<Vec<Cow<'_, str>>> {
        let mut keys = Vec::new();
        self.visit_top_level_keys(&mut |k| keys.push(Cow::Owned(k.to_owned())));
        Some(keys)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sysmon(event_id: i64, data: Value) -> Value {
        json!({"Event": {
            "#attributes": {"xmlns": "http://schemas.microsoft.com/win/2004/08/events/event"},
            "System": {
                "Provider": {"#attributes": {"Name": "Microsoft-Windows-Sysmon", "Guid": "5770385F"}},
                "EventID": event_id,
                "Level": 4,
                "TimeCreated": {"#attributes": {"SystemTime": "2025-11-27T07:40:10.165324Z"}},
                "EventRecordID": 571146,
                "Channel": "Microsoft-Windows-Sysmon/Operational",
                "Computer": "pc-01",
                "Security": {"#attributes": {"UserID": "S-1-5-18"}}
            },
            "EventData": data
        }})
    }

    fn str_field(ev: &WinEvent<'_>, name: &str) -> Option<String> {
        ev.get_field(name).and_then(|v| v.as_str().map(|s| s.into_owned()))
    }

    fn pairs(ev: &WinEvent<'_>) -> Vec<(Option<String>, Option<String>, Option<String>)> {
        ev.logsources().into_iter().map(|l| (l.product, l.service, l.category)).collect()
    }

    fn ls(product: &str, service: &str, category: Option<&str>) -> (Option<String>, Option<String>, Option<String>) {
        (Some(product.into()), Some(service.into()), category.map(Into::into))
    }

    #[test]
    fn nested_record_fields_come_from_event_data_then_system() {
        let record = sysmon(1, json!({"Image": "C:\\Windows\\System32\\cmd.exe", "ProcessId": 4460}));
        let ev = WinEvent::new(&record);
        assert_eq!(str_field(&ev, "Image").as_deref(), Some("C:\\Windows\\System32\\cmd.exe"));
        assert_eq!(ev.get_field("ProcessId"), Some(EventValue::Int(4460)));
        assert_eq!(ev.get_field("EventID"), Some(EventValue::Int(1)));
        assert_eq!(str_field(&ev, "Channel").as_deref(), Some("Microsoft-Windows-Sysmon/Operational"));
        assert_eq!(str_field(&ev, "Computer").as_deref(), Some("pc-01"));
        assert_eq!(str_field(&ev, "Provider_Name").as_deref(), Some("Microsoft-Windows-Sysmon"));
        assert_eq!(str_field(&ev, "Security_UserID").as_deref(), Some("S-1-5-18"));
        assert_eq!(str_field(&ev, "Event.System.Computer").as_deref(), Some("pc-01"));
        assert_eq!(str_field(&ev, "EventData.Image").as_deref(), Some("C:\\Windows\\System32\\cmd.exe"));
        assert_eq!(ev.get_field("CommandLine"), None);
        assert_eq!(ev.get_field("Provider_Nope"), None);
        assert_eq!(ev.get_field("No.Such.Path"), None);
        assert_eq!(ev.record_id(), Some(571146));
        assert_eq!(ev.time(), Some(Timestamp::parse_rfc3339("2025-11-27T07:40:10.165324Z").expect("time")));
        assert_eq!(pairs(&ev), vec![ls("windows", "sysmon", Some("process_creation"))]);
    }

    #[test]
    fn text_wrapped_values_read_as_their_text() {
        let record = json!({"Event": {
            "System": {
                "EventID": {"#attributes": {"Qualifiers": 16384}, "#text": 7045},
                "Channel": "System",
                "Provider": {"#attributes": {"Name": "Service Control Manager"}}
            },
            "EventData": {"ServiceName": "evil", "ImagePath": {"#text": "C:\\evil.exe"}}
        }});
        let ev = WinEvent::new(&record);
        assert_eq!(ev.get_field("EventID"), Some(EventValue::Int(7045)));
        assert_eq!(ev.event_id(), Some(7045));
        assert_eq!(str_field(&ev, "ImagePath").as_deref(), Some("C:\\evil.exe"));
        assert_eq!(pairs(&ev), vec![ls("windows", "system", None)]);
    }

    #[test]
    fn names_with_spaces_read_without_them() {
        let record = json!({"Event": {
            "System": {"EventID": 1116, "Channel": "Microsoft-Windows-Windows Defender/Operational"},
            "EventData": {"Threat Name": "Virus:DOS/EICAR_Test_File", "Source Name": "Real-Time Protection"}
        }});
        let ev = WinEvent::new(&record);
        assert_eq!(str_field(&ev, "ThreatName").as_deref(), Some("Virus:DOS/EICAR_Test_File"));
        assert_eq!(str_field(&ev, "Threat Name").as_deref(), Some("Virus:DOS/EICAR_Test_File"));
        assert_eq!(str_field(&ev, "Signature").as_deref(), Some("Virus:DOS/EICAR_Test_File"));
        assert_eq!(ev.get_field("Threat"), None);
        let mut keys = Vec::new();
        ev.visit_top_level_keys(&mut |k| keys.push(k.to_owned()));
        assert!(keys.iter().any(|k| k == "SourceName"), "{keys:?}");
        assert_eq!(pairs(&ev), vec![ls("windows", "windefend", Some("antivirus"))]);
    }

    #[test]
    fn unnamed_data_reads_as_an_array() {
        let record = json!({"Event": {
            "System": {"EventID": 400, "Channel": "Windows PowerShell"},
            "EventData": {"Data": {"#text": ["Available", "None", "HostName=ConsoleHost\r\nEngineVersion=2.0"]}}
        }});
        let ev = WinEvent::new(&record);
        let Some(EventValue::Array(items)) = ev.get_field("Data") else { panic!("Data is not an array") };
        assert_eq!(items.len(), 3);
        assert_eq!(pairs(&ev), vec![ls("windows", "powershell-classic", Some("ps_classic_start"))]);
    }

    #[test]
    fn user_data_child_fields_are_fields() {
        let record = json!({"Event": {
            "System": {"EventID": 5858, "Channel": "Microsoft-Windows-WMI-Activity/Operational"},
            "UserData": {"Operation_ClientFailure": {
                "#attributes": {"xmlns": "http://manifests.microsoft.com/win/2006/windows/WMI"},
                "Operation": "ExecMethod cleareventlog",
                "ClientProcessId": 25920
            }}
        }});
        let ev = WinEvent::new(&record);
        assert_eq!(str_field(&ev, "Operation").as_deref(), Some("ExecMethod cleareventlog"));
        assert_eq!(ev.get_field("ClientProcessId"), Some(EventValue::Int(25920)));
        assert_eq!(pairs(&ev), vec![ls("windows", "wmi", None)]);
    }

    #[test]
    fn flat_records_read_top_level_fields() {
        let record = json!({
            "EventID": "13",
            "Channel": "Microsoft-Windows-Sysmon/Operational",
            "Provider_Name": "Microsoft-Windows-Sysmon",
            "EventRecordID": 42,
            "TimeCreated_SystemTime": "2024-01-02T03:04:05Z",
            "TargetObject": "HKLM\\Software\\Run\\x",
            "EventType": "SetValue"
        });
        let ev = WinEvent::new(&record);
        assert_eq!(str_field(&ev, "TargetObject").as_deref(), Some("HKLM\\Software\\Run\\x"));
        assert_eq!(str_field(&ev, "Provider_Name").as_deref(), Some("Microsoft-Windows-Sysmon"));
        assert_eq!(ev.record_id(), Some(42));
        assert_eq!(ev.time(), Some(Timestamp::parse_rfc3339("2024-01-02T03:04:05Z").expect("time")));
        assert_eq!(
            pairs(&ev),
            vec![ls("windows", "sysmon", Some("registry_set")), ls("windows", "sysmon", Some("registry_event"))]
        );
    }

    #[test]
    fn sysmon_registry_events_refine_by_event_type() {
        let add = sysmon(12, json!({"EventType": "CreateKey"}));
        let delete = sysmon(12, json!({"EventType": "DeleteValue"}));
        let unknown = sysmon(12, json!({}));
        let cats = |r: &Value| pairs(&WinEvent::new(r)).into_iter().filter_map(|p| p.2).collect::<Vec<_>>();
        assert_eq!(cats(&add), ["registry_add", "registry_event"]);
        assert_eq!(cats(&delete), ["registry_delete", "registry_event"]);
        assert_eq!(cats(&unknown), ["registry_add", "registry_delete", "registry_event"]);
        assert_eq!(cats(&sysmon(26, json!({}))), ["file_delete", "file_delete_detected"]);
        assert_eq!(cats(&sysmon(22, json!({}))), ["dns_query"]);
        assert!(cats(&sysmon(9999, json!({}))).is_empty());
    }

    #[test]
    fn channels_map_case_insensitively_and_unknown_ones_keep_the_product() {
        let route = |channel: &str, id: i64| {
            let record = json!({"Event": {"System": {"EventID": id, "Channel": channel}}});
            pairs(&WinEvent::new(&record))
        };
        assert_eq!(route("security", 4624), vec![ls("windows", "security", None)]);
        assert_eq!(
            route("Microsoft-Windows-PowerShell/Operational", 4104),
            vec![ls("windows", "powershell", Some("ps_script"))]
        );
        assert_eq!(route("PowerShellCore/Operational", 4103), vec![ls("windows", "powershell", Some("ps_module"))]);
        assert_eq!(route("Microsoft-Windows-AppLocker/MSI and Script", 8004), vec![ls("windows", "applocker", None)]);
        assert_eq!(route("Linux-Sysmon/Operational", 3), vec![ls("linux", "sysmon", Some("network_connection"))]);
        assert_eq!(
            route("Microsoft-ServiceBus-Client", 1),
            vec![ls("windows", "servicebus-client", None), ls("windows", "microsoft-servicebus-client", None)]
        );
        assert_eq!(route("Some-Vendor/Operational", 1), vec![(Some("windows".into()), None, None)]);
        let etw =
            json!({"Event": {"System": {"EventID": 6, "Channel": null, "Provider": {"#attributes": {"Name": "RPC"}}}}});
        assert_eq!(pairs(&WinEvent::new(&etw)), vec![(Some("windows".into()), None, None)]);
        let flat = json!({"EventID": 4624, "LogonType": 3});
        assert_eq!(pairs(&WinEvent::new(&flat)), vec![(Some("windows".into()), None, None)]);
        assert!(WinEvent::new(&json!({"CommandLine": "whoami"})).logsources().is_empty());
        assert!(WinEvent::new(&json!(["not", "an", "object"])).logsources().is_empty());
    }

    #[test]
    fn security_4688_reads_with_sysmon_names_and_keeps_its_own() {
        let record = json!({"Event": {
            "System": {"EventID": 4688, "Channel": "Security"},
            "EventData": {
                "SubjectUserName": "alice",
                "SubjectDomainName": "CORP",
                "SubjectLogonId": "0x3e7",
                "NewProcessId": "0x1a2c",
                "NewProcessName": "C:\\Windows\\System32\\whoami.exe",
                "ProcessId": "0x378",
                "CommandLine": "whoami /all",
                "TargetUserName": "-",
                "TargetDomainName": "-",
                "ParentProcessName": "C:\\Windows\\System32\\cmd.exe",
                "MandatoryLabel": "S-1-16-12288"
            }
        }});
        let ev = WinEvent::new(&record);
        assert_eq!(pairs(&ev), vec![ls("windows", "security", Some("process_creation"))]);
        assert_eq!(str_field(&ev, "Image").as_deref(), Some("C:\\Windows\\System32\\whoami.exe"));
        assert_eq!(str_field(&ev, "ParentImage").as_deref(), Some("C:\\Windows\\System32\\cmd.exe"));
        assert_eq!(ev.get_field("ProcessId"), Some(EventValue::Int(0x1a2c)));
        assert_eq!(ev.get_field("ParentProcessId"), Some(EventValue::Int(0x378)));
        assert_eq!(str_field(&ev, "User").as_deref(), Some("CORP\\alice"));
        assert_eq!(str_field(&ev, "LogonId").as_deref(), Some("0x3e7"));
        assert_eq!(str_field(&ev, "IntegrityLevel").as_deref(), Some("S-1-16-12288"));
        assert_eq!(str_field(&ev, "CommandLine").as_deref(), Some("whoami /all"));
        assert_eq!(str_field(&ev, "NewProcessName").as_deref(), Some("C:\\Windows\\System32\\whoami.exe"));
        assert_eq!(str_field(&ev, "EventData.ProcessId").as_deref(), Some("0x378"));
        let mut keys = Vec::new();
        ev.visit_top_level_keys(&mut |k| keys.push(k.to_owned()));
        for name in ["Image", "ParentImage", "User", "NewProcessName", "EventID", "EventData", "Event"] {
            assert!(keys.iter().any(|k| k == name), "{name} not among the top-level keys {keys:?}");
        }

        // The new process's own account, when the audit names one, is the `User`.
        let mut other = record.clone();
        other["Event"]["EventData"]["TargetUserName"] = json!("bob");
        other["Event"]["EventData"]["TargetDomainName"] = json!("CORP");
        assert_eq!(str_field(&WinEvent::new(&other), "User").as_deref(), Some("CORP\\bob"));
    }

    #[test]
    fn keywords_see_every_string_and_hostile_nesting_is_bounded() {
        let record = sysmon(1, json!({"CommandLine": "mimikatz sekurlsa::logonpasswords"}));
        let ev = WinEvent::new(&record);
        assert!(ev.any_string_value(&|s| s.contains("sekurlsa")));
        assert!(!ev.any_string_value(&|s| s.contains("absent")));
        assert!(ev.all_string_values().iter().any(|s| s == "pc-01"));

        let mut deep = json!("bottom");
        for _ in 0..10_000 {
            let mut parent = Map::new();
            parent.insert("a".into(), deep);
            deep = Value::Object(parent);
        }
        let ev = WinEvent::new(&deep);
        assert!(!ev.any_string_value(&|s| s == "bottom"));
        assert_eq!(ev.get_field(&vec!["a"; 100].join(".")), None);
        assert_eq!(
            ev.get_field(&vec!["a"; 64].join(".")),
            Some(EventValue::Map(vec![(Cow::Borrowed("a"), {
                let mut v = EventValue::Null;
                for _ in 0..MAX_DEPTH - 1 {
                    v = EventValue::Map(vec![(Cow::Borrowed("a"), v)]);
                }
                v
            })]))
        );
        assert!(matches!(ev.get_field("a"), Some(EventValue::Map(_))));
        // `deep` drops recursively in serde_json; leak it instead of overflowing the test stack.
        std::mem::forget(deep);
    }

    fn rules(yaml: &[(&str, &str)]) -> RuleSet {
        let dir = tempfile::tempdir().expect("tempdir");
        for (name, text) in yaml {
            std::fs::write(dir.path().join(name), text).expect("write rule");
        }
        let (rules, report) = RuleSet::load(&[dir.path()]);
        assert_eq!(report.skipped(), 0, "{report:?}");
        rules
    }

    fn rule(id: &str, logsource: &str, detection: &str) -> String {
        format!(
            "title: rule {id}\nid: {id}\nlogsource:\n{logsource}\ndetection:\n{detection}\n    condition: selection\nlevel: high\n"
        )
    }

    fn fired(ev: &WinEvent<'_>, rules: &RuleSet) -> Vec<String> {
        let mut ids: Vec<String> = ev.detect(rules).into_iter().filter_map(|r| r.header.rule_id).collect();
        ids.sort();
        ids
    }

    #[test]
    fn detect_tries_every_category_of_an_event_and_reports_each_rule_once() {
        let run_key = "    selection:\n        TargetObject|contains: '\\Run\\'";
        let set =
            rule("00000000-0000-0000-0000-000000000001", "    product: windows\n    category: registry_set", run_key);
        let event =
            rule("00000000-0000-0000-0000-000000000002", "    product: windows\n    category: registry_event", run_key);
        let any = rule("00000000-0000-0000-0000-000000000003", "    product: windows\n    service: sysmon", run_key);
        let proc = rule(
            "00000000-0000-0000-0000-000000000004",
            "    product: windows\n    category: process_creation",
            run_key,
        );
        let sec = rule("00000000-0000-0000-0000-000000000005", "    product: windows\n    service: security", run_key);
        let rules = rules(&[("a.yml", &set), ("b.yml", &event), ("c.yml", &any), ("d.yml", &proc), ("e.yml", &sec)]);

        let record = sysmon(
            13,
            json!({"EventType": "SetValue", "TargetObject": "HKCU\\Software\\Microsoft\\Windows\\CurrentVersion\\Run\\x"}),
        );
        assert_eq!(
            fired(&WinEvent::new(&record), &rules),
            [
                "00000000-0000-0000-0000-000000000001",
                "00000000-0000-0000-0000-000000000002",
                "00000000-0000-0000-0000-000000000003"
            ]
        );

        // A record of unknown origin is tried against every rule.
        let flat = json!({"TargetObject": "HKLM\\Software\\Microsoft\\Windows\\CurrentVersion\\Run\\y"});
        assert_eq!(fired(&WinEvent::new(&flat), &rules).len(), 5);
    }

    #[test]
    fn detect_matches_4688_with_sysmon_rules() {
        let whoami = rule(
            "00000000-0000-0000-0000-000000000010",
            "    product: windows\n    category: process_creation",
            "    selection:\n        Image|endswith: '\\whoami.exe'\n        User|contains: 'AUTHORI'",
        );
        let rules = rules(&[("w.yml", &whoami)]);
        let record = json!({"Event": {
            "System": {"EventID": 4688, "Channel": "Security"},
            "EventData": {
                "NewProcessName": "C:\\Windows\\System32\\whoami.exe",
                "SubjectUserName": "SYSTEM",
                "SubjectDomainName": "NT AUTHORITY",
                "TargetUserName": "-"
            }
        }});
        assert_eq!(fired(&WinEvent::new(&record), &rules), ["00000000-0000-0000-0000-000000000010"]);
    }
}
