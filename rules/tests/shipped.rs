//! Every shipped rule fires on its test events and stays quiet on its decoys.
//!
//! Each `rules/sigma/**/NAME.yml` has `rules/sigma/tests/NAME.json`: `events` must make the
//! file's last rule (the detection, or the correlation built on building blocks) fire; `not`
//! must not. Events are written with the Sigma field names a rule sees, and built here into
//! real `proto` events, so the test goes through the same field mapping as the collector.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use haidang_proto::event::{
    Actor, AgentId, AgentLifecycle, Detection, DlpMatch, DlpVerdict, Event, EventBody, FileAction, FileEvent, FileMeta,
    Gap, Health, LifecycleAction, MalwareMatch, ProcessAction, ProcessEvent, Timestamp,
};
use haidang_proto::text::Text;
use haidang_rules::{NativeEvent, RuleSet};
use serde_json::Value;

const BASE_TIME_SECS: i64 = 1_790_000_000;

fn sigma_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("sigma")
}

fn rule_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("list rules/sigma") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            if path.file_name().is_some_and(|n| n != "tests") {
                rule_files(&path, out);
            }
        } else if path.extension().is_some_and(|e| e == "yml") {
            out.push(path);
        }
    }
}

fn text(v: &Value, key: &str) -> Text {
    Text::from(v[key].as_str().unwrap_or_default())
}

fn opt_text(v: &Value, key: &str) -> Option<Text> {
    v[key].as_str().map(Text::from)
}

fn num(v: &Value, key: &str) -> u64 {
    v[key].as_u64().unwrap_or_default()
}

fn file_action(name: &str) -> FileAction {
    match name {
        "created" => FileAction::Created,
        "modified" => FileAction::Modified,
        "deleted" => FileAction::Deleted,
        "renamed" => FileAction::Renamed,
        "attributes" => FileAction::Attributes,
        other => panic!("fixture has unknown file action {other:?}"),
    }
}

fn lifecycle(name: &str) -> LifecycleAction {
    match name {
        "started" => LifecycleAction::Started,
        "stopped" => LifecycleAction::Stopped,
        "clock_jump" => LifecycleAction::ClockJump,
        other => panic!("fixture has unknown agent event type {other:?}"),
    }
}

fn event(seq: u64, v: &Value) -> Event {
    let body = match v["kind"].as_str().expect("fixture event has a kind") {
        "process" => EventBody::Process(ProcessEvent {
            action: ProcessAction::Start,
            pid: num(v, "ProcessId") as u32,
            ppid: num(v, "ParentProcessId") as u32,
            image: text(v, "Image"),
            command_line: text(v, "CommandLine"),
            user: text(v, "User"),
            parent_image: opt_text(v, "ParentImage"),
            image_hash: None,
            exit_code: None,
        }),
        "file" => EventBody::File(FileEvent {
            action: file_action(v["Action"].as_str().expect("file fixture has an Action")),
            path: text(v, "TargetFilename"),
            old_path: opt_text(v, "SourceFilename"),
            old: None,
            new: Some(FileMeta { hash: Some([7; 32]), mode: 0o644, ..FileMeta::default() }),
            critical: v["Critical"].as_bool().unwrap_or(false),
            detection: Detection::Realtime,
            actor: opt_text(v, "Image").map(|image| Actor { pid: 100, image }),
        }),
        "dlp" => EventBody::Dlp(DlpMatch {
            channel: v["Channel"].as_str().unwrap_or_default().to_owned(),
            path: text(v, "TargetFilename"),
            container_path: None,
            detector: v["Detector"].as_str().unwrap_or_default().to_owned(),
            count: num(v, "Count") as u32,
            confidence: 90,
            masked_sample: None,
            level: v["MarkingLevel"].as_str().map(str::to_owned),
            sha256: Some([9; 32]),
            action: "audit".into(),
        }),
        "dlp_verdict" => EventBody::DlpVerdict(DlpVerdict {
            channel: v["Channel"].as_str().unwrap_or_default().to_owned(),
            path: text(v, "TargetFilename"),
            sha256: Some([9; 32]),
            action: v["PolicyAction"].as_str().unwrap_or_default().to_owned(),
            outcome: v["Outcome"].as_str().unwrap_or_default().to_owned(),
            vault_id: None,
            rules: vec!["s0-level-egress".into()],
            not_inspected: Vec::new(),
            detail: String::new(),
        }),
        "malware" => EventBody::Malware(MalwareMatch {
            rule: v["Signature"].as_str().unwrap_or_default().to_owned(),
            namespace: v["Namespace"].as_str().unwrap_or_default().to_owned(),
            tags: Vec::new(),
            path: text(v, "TargetFilename"),
            sha256: Some([3; 32]),
        }),
        "agent" => EventBody::Agent(AgentLifecycle {
            action: lifecycle(v["EventType"].as_str().expect("agent fixture has an EventType")),
            clock_jump_secs: v["ClockJumpSecs"].as_i64(),
            detail: v["Detail"].as_str().unwrap_or_default().to_owned(),
            agent_version: "0.1.0".into(),
        }),
        "gap" => EventBody::Gap(Gap {
            lost: num(v, "LostEvents"),
            first_seq: 1,
            last_seq: num(v, "LostEvents"),
            reason: "spool limit".into(),
        }),
        "health" => EventBody::Health(Health::default()),
        other => panic!("fixture has unknown kind {other:?}"),
    };
    let t = BASE_TIME_SECS + v["t"].as_i64().unwrap_or(0);
    Event { seq, time: Timestamp(t * 1_000_000_000), body }
}

/// Rule ids fired by feeding `events` in order into a fresh copy of the shipped rules.
fn fired(events: &[Value]) -> BTreeSet<String> {
    let (mut rules, _) = RuleSet::load_with_shipped::<&Path>(&[]);
    let agent = AgentId([0x42; 16]);
    let mut out = BTreeSet::new();
    for (i, v) in events.iter().enumerate() {
        let e = event(i as u64 + 1, v);
        let native = NativeEvent::new(&agent, &e, Some("may-tram-01"));
        let detections = rules.detect(&native, Some(&native.logsource("linux")));
        for result in rules.correlate(&native, detections, native.time_secs()) {
            out.extend(result.header.rule_id.clone());
        }
    }
    out
}

fn last_rule_id(rule_file: &Path) -> String {
    let yaml = std::fs::read_to_string(rule_file).expect("read rule");
    let id = yaml.lines().filter_map(|l| l.strip_prefix("id: ")).next_back();
    id.expect("rule has an id").trim().to_owned()
}

#[test]
fn shipped_rules_all_load_with_tags_and_levels() {
    let (rules, report) = RuleSet::load_with_shipped::<&Path>(&[]);
    let skipped: Vec<String> = report.skipped_entries().map(|e| e.to_string()).collect();
    assert!(skipped.is_empty(), "shipped rules skipped:\n{}", skipped.join("\n"));
    assert!(rules.detection_rules() >= 20, "{}", report.summary());
    assert_eq!(rules.correlation_rules(), 3, "{}", report.summary());
    for (name, yaml) in haidang_rules::testing::SHIPPED_RULES {
        let last_doc = yaml.rsplit("\n---\n").next().unwrap_or(yaml);
        assert!(last_doc.contains("\n    - attack.t"), "{name}: no ATT&CK technique tag");
        assert!(last_doc.contains("\nlevel: "), "{name}: no level");
    }
}

#[test]
fn embedded_list_matches_the_rules_directory() {
    let mut on_disk = Vec::new();
    rule_files(&sigma_dir(), &mut on_disk);
    let on_disk: BTreeSet<String> = on_disk
        .iter()
        .map(|p| format!("shipped:sigma/{}", p.strip_prefix(sigma_dir()).expect("under sigma").display()))
        .collect();
    let embedded: BTreeSet<String> = haidang_rules::testing::SHIPPED_RULES.iter().map(|(n, _)| n.to_string()).collect();
    assert_eq!(on_disk, embedded, "rules/src/shipped.rs must list every file under rules/sigma/");
}

#[test]
fn every_shipped_rule_fires_on_its_test_events_and_not_on_its_decoys() {
    let mut files = Vec::new();
    rule_files(&sigma_dir(), &mut files);
    files.sort();
    let mut failures = Vec::new();
    for file in &files {
        let stem = file.file_stem().and_then(|s| s.to_str()).expect("file name");
        let fixture = sigma_dir().join("tests").join(format!("{stem}.json"));
        let Ok(raw) = std::fs::read_to_string(&fixture) else {
            failures.push(format!("{stem}: no test events in {}", fixture.display()));
            continue;
        };
        let fixture: Value = serde_json::from_str(&raw).expect("fixture is JSON");
        let id = last_rule_id(file);
        let events = fixture["events"].as_array().expect("fixture has events");
        assert!(!events.is_empty(), "{stem}: fixture has no events");
        if !fired(events).contains(&id) {
            failures.push(format!("{stem}: rule {id} did not fire on its test events"));
        }
        let decoys = fixture["not"].as_array().cloned().unwrap_or_default();
        if !decoys.is_empty() && fired(&decoys).contains(&id) {
            failures.push(format!("{stem}: rule {id} fired on a decoy"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
