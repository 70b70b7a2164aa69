//! SigmaHQ's Windows process_creation rules, unmodified, fire on the Windows agent's process
//! events: `IntegrityLevel`, `User` (`DOMAIN\name`), `ParentImage` and `Image` carry what
//! Sysmon's event 1 carries, and rules that need a level or account do not fire without it.

use std::collections::BTreeSet;
use std::path::PathBuf;

use haidang_proto::event::{AgentId, Event, EventBody, ProcessAction, ProcessEvent, Timestamp, WinProcessEvent};
use haidang_proto::text::Text;
use haidang_rules::{NativeEvent, RuleSet};

/// tscon.exe run as SYSTEM (RDP session hijacking): `IntegrityLevel: System`.
const TSCON_AS_SYSTEM: &str = "224f140f-3553-4cd1-af78-13d81bf9f7cc";
/// Task manager run by an `NT AUTHORITY` account: `User|contains: AUTHORI`.
const TASKMGR_AS_SYSTEM: &str = "9fff585c-c33e-4a86-b3cd-39312079a65f";
/// ComputerDefaults.exe elevated (UAC bypass) unless its parent lives in System32:
/// `IntegrityLevel` and `ParentImage`.
const COMPUTERDEFAULTS_UAC_BYPASS: &str = "3c05e90d-7eba-4324-9972-5d7f711a60a8";

fn process_creation() -> PathBuf {
    haidang_testdata::sigma().join("rules/windows/process_creation")
}

struct Start<'a> {
    image: &'a str,
    user: &'a str,
    integrity: Option<&'a str>,
    parent: &'a str,
}

fn start(s: Start<'_>) -> EventBody {
    EventBody::WinProcess(WinProcessEvent {
        process: ProcessEvent {
            action: ProcessAction::Start,
            pid: 4242,
            ppid: 4200,
            image: Text::from(s.image),
            command_line: Text::from(format!("\"{}\"", s.image)),
            user: Text::from(s.user),
            parent_image: Some(Text::from(s.parent)),
            image_hash: None,
            exit_code: None,
        },
        user_sid: Some("S-1-5-21-1004336348-1177238915-682003330-1001".into()),
        integrity_level: s.integrity.map(String::from),
        parent_command_line: Some(Text::from(s.parent)),
    })
}

fn fired(rules: &RuleSet, body: EventBody) -> BTreeSet<String> {
    let event = Event { seq: 1, time: Timestamp(1_790_000_000_000_000_000), body };
    let native = NativeEvent::new(&AgentId([5; 16]), &event, Some("may-tram-07"));
    rules.detect(&native, Some(&native.logsource("windows"))).into_iter().filter_map(|r| r.header.rule_id).collect()
}

#[test]
fn sigmahq_windows_process_rules_fire_on_integrity_user_and_parent() {
    let (rules, report) = RuleSet::load(&[process_creation()]);
    assert!(report.loaded() > 800, "{}", report.summary());
    let shell = "C:\\Users\\nguyễn\\AppData\\Local\\Temp\\tải về.exe";

    let tscon = |integrity| Start {
        image: "C:\\Windows\\System32\\tscon.exe",
        user: "NT AUTHORITY\\SYSTEM",
        integrity,
        parent: shell,
    };
    assert!(fired(&rules, start(tscon(Some("System")))).contains(TSCON_AS_SYSTEM));
    assert!(!fired(&rules, start(tscon(Some("Medium")))).contains(TSCON_AS_SYSTEM));
    assert!(!fired(&rules, start(tscon(None))).contains(TSCON_AS_SYSTEM), "no level known, no match");

    let taskmgr = |user| Start { image: "C:\\Windows\\System32\\Taskmgr.exe", user, integrity: None, parent: shell };
    assert!(fired(&rules, start(taskmgr("NT AUTHORITY\\SYSTEM"))).contains(TASKMGR_AS_SYSTEM));
    assert!(!fired(&rules, start(taskmgr("MAY-TRAM-07\\nguyễn"))).contains(TASKMGR_AS_SYSTEM));

    let defaults = |integrity, parent| Start {
        image: "C:\\Windows\\System32\\ComputerDefaults.exe",
        user: "MAY-TRAM-07\\nguyễn",
        integrity,
        parent,
    };
    assert!(fired(&rules, start(defaults(Some("High"), shell))).contains(COMPUTERDEFAULTS_UAC_BYPASS));
    assert!(!fired(&rules, start(defaults(Some("Medium"), shell))).contains(COMPUTERDEFAULTS_UAC_BYPASS));
    let from_system32 = defaults(Some("High"), "C:\\Windows\\System32\\control.exe");
    assert!(!fired(&rules, start(from_system32)).contains(COMPUTERDEFAULTS_UAC_BYPASS), "filtered by ParentImage");
}

#[test]
fn windows_process_exits_are_not_process_creation() {
    let (rules, _) = RuleSet::load(&[process_creation()]);
    let mut body = start(Start {
        image: "C:\\Windows\\System32\\tscon.exe",
        user: "NT AUTHORITY\\SYSTEM",
        integrity: Some("System"),
        parent: "C:\\x.exe",
    });
    if let EventBody::WinProcess(w) = &mut body {
        w.process.action = ProcessAction::Exit;
    }
    assert!(fired(&rules, body).is_empty());
}
