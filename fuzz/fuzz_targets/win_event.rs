//! Windows event records from outside the process, as `haidang-collector hunt` reads them
//! from JSON lines (EVTX renderings or flattened exports): any line must route to logsources,
//! expose its fields and go through the rule engine without panicking, and an event must
//! report each rule at most once however many logsources it belongs to.
#![no_main]

use haidang_rules::{Event, RuleSet, WinEvent};
use libfuzzer_sys::fuzz_target;
use std::collections::HashSet;
use std::sync::OnceLock;

/// Rules that reach every part of the mapping: a Sysmon registry change (two categories), a
/// category-less Sysmon rule (seen under each of them), Security 4688's renamed fields,
/// Defender names with spaces, classic PowerShell `Data` arrays, keywords, regexes, dot paths.
const RULES: &[(&str, &str)] = &[
    (
        "registry.yml",
        "title: run key\nid: 10000000-0000-0000-0000-000000000001\nlogsource: {product: windows, category: registry_set}\n\
         detection:\n  selection:\n    TargetObject|contains: '\\Run\\'\n  condition: selection\nlevel: high\n",
    ),
    (
        "registry_event.yml",
        "title: run key event\nid: 10000000-0000-0000-0000-000000000002\nlogsource: {product: windows, category: registry_event}\n\
         detection:\n  selection:\n    TargetObject|endswith: 'x'\n  condition: selection\nlevel: low\n",
    ),
    (
        "sysmon.yml",
        "title: any sysmon\nid: 10000000-0000-0000-0000-000000000003\nlogsource: {product: windows, service: sysmon}\n\
         detection:\n  selection:\n    Provider_Name|startswith: 'Microsoft'\n  condition: selection\nlevel: informational\n",
    ),
    (
        "process.yml",
        "title: whoami\nid: 10000000-0000-0000-0000-000000000004\nlogsource: {product: windows, category: process_creation}\n\
         detection:\n  selection:\n    Image|endswith: '\\whoami.exe'\n    User|contains: 'AUTHORI'\n    ProcessId|gt: 4\n  \
         condition: selection\nlevel: medium\n",
    ),
    (
        "defender.yml",
        "title: eicar\nid: 10000000-0000-0000-0000-000000000005\nlogsource: {product: windows, service: windefend}\n\
         detection:\n  selection:\n    ThreatName|contains: 'EICAR'\n  condition: selection\nlevel: low\n",
    ),
    (
        "classic.yml",
        "title: downgrade\nid: 10000000-0000-0000-0000-000000000006\nlogsource: {product: windows, category: ps_classic_start}\n\
         detection:\n  selection:\n    Data|re: 'EngineVersion=2\\.'\n  condition: selection\nlevel: medium\n",
    ),
    (
        "keywords.yml",
        "title: keyword\nid: 10000000-0000-0000-0000-000000000007\nlogsource: {product: windows}\n\
         detection:\n  keywords:\n    - 'mimikatz'\n  condition: keywords\nlevel: high\n",
    ),
    (
        "dotted.yml",
        "title: dotted\nid: 10000000-0000-0000-0000-000000000008\nlogsource: {product: windows, service: security}\n\
         detection:\n  selection:\n    Event.System.Computer|cidr: '10.0.0.0/8'\n    EventData.LogonType: 10\n  \
         condition: selection\nlevel: low\n",
    ),
];

fn rules() -> &'static RuleSet {
    static RULES_SET: OnceLock<RuleSet> = OnceLock::new();
    RULES_SET.get_or_init(|| {
        let (rules, report) = RuleSet::load_documents(RULES);
        assert_eq!(report.skipped(), 0, "fuzz rules must load: {report:?}");
        rules
    })
}

const FIELDS: &[&str] = &[
    "Image",
    "User",
    "ProcessId",
    "ParentProcessId",
    "EventID",
    "Channel",
    "Provider_Name",
    "TimeCreated_SystemTime",
    "ThreatName",
    "Signature",
    "Data",
    "Event.System.Channel",
    "EventData.Image",
    "a.b.c.d",
    "",
    "_",
    ".",
];

fuzz_target!(|data: &[u8]| {
    // One event per line, as in a `.jsonl` input.
    for line in data.split(|b| *b == b'\n') {
        let Ok(record) = serde_json::from_slice::<serde_json::Value>(line) else { continue };
        let event = WinEvent::new(&record);
        let _ = (event.logsources(), event.time(), event.record_id(), event.channel(), event.event_id());
        for name in FIELDS {
            let _ = event.get_field(name);
        }
        let mut keys = Vec::new();
        assert!(event.visit_top_level_keys(&mut |k| keys.push(k.to_owned())), "a Windows event names its keys");
        for key in &keys {
            let _ = event.get_field(key);
        }
        let _ = event.all_string_values();
        let mut reported = HashSet::new();
        for result in event.detect(rules()) {
            let rule = (result.header.rule_id, result.header.rule_title);
            assert!(reported.insert(rule.clone()), "{rule:?} reported twice for one event");
        }
    }
});
