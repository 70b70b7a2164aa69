//! The server's records and the agents' events as the admin API shows them.

use super::types;
use crate::correlate::LoadSummary;
use crate::store::records::{AgentRecord, Alert};
use haidang_proto::event::{Detection, EventBody, FileEvent, FileSecurity, ProcessEvent};
use haidang_proto::text::Text;
use haidang_proto::{AgentId, Event, Hash32, Timestamp};

fn hex(hash: Option<Hash32>) -> Option<String> {
    hash.map(hex::encode)
}

fn text(t: &Text) -> String {
    t.as_str().to_string()
}

/// An agent as listed: its record, whether it is connected, when it was last heard from, and
/// its stored chain (batches, newest sequence number).
pub(super) fn agent(
    record: AgentRecord,
    connected: bool,
    last_seen: Option<Timestamp>,
    chain: (u64, u64),
) -> types::Agent {
    types::Agent {
        id: record.id.to_string(),
        hostname: record.hostname,
        os: record.os,
        agent_version: record.agent_version,
        group: record.group,
        cert_fingerprint: record.cert_fingerprint,
        enrolled_at: record.enrolled_at.to_rfc3339(),
        revoked: record.revoked,
        reenroll: record.reenroll,
        connected,
        last_seen: last_seen.map(Timestamp::to_rfc3339),
        batches: chain.0,
        last_seq: chain.1,
    }
}

pub(super) fn alert(a: &Alert) -> types::Alert {
    types::Alert {
        id: a.id,
        created: a.created.to_rfc3339(),
        time: a.time.to_rfc3339(),
        agent_id: a.agent_id.to_string(),
        rule: a.rule.clone(),
        title: a.title.clone(),
        severity: a.severity.clone(),
        level: a.severity.clone(),
        tags: a.tags.clone(),
        kind: a.kind.clone(),
        group: a.group.iter().cloned().collect(),
        events: a.events.clone(),
        path: a.path.clone(),
        action: a.action.clone(),
        old_hash: a.old_hash.clone(),
        new_hash: a.new_hash.clone(),
        event_seqs: a.event_seqs.clone(),
    }
}

pub(super) fn rule_summary(s: LoadSummary) -> types::RuleSummary {
    types::RuleSummary {
        files: s.files,
        loaded: s.loaded,
        skipped: s.skipped,
        detection_rules: s.detection_rules,
        correlation_rules: s.correlation_rules,
        problems: s.problems,
    }
}

pub(super) fn event(agent_id: &AgentId, e: &Event) -> types::Event {
    types::Event { agent_id: agent_id.to_string(), seq: e.seq, time: e.time.to_rfc3339(), detail: detail(&e.body) }
}

/// A file change; on Windows with the owner and access control list before and after.
fn file_detail(
    f: &FileEvent,
    old_security: Option<&FileSecurity>,
    new_security: Option<&FileSecurity>,
) -> types::FileDetail {
    let new = f.new.as_ref();
    types::FileDetail {
        action: f.action.as_str().into(),
        path: text(&f.path),
        old_path: f.old_path.as_ref().map(text),
        hash: hex(new.and_then(|n| n.hash)),
        old_hash: hex(f.old.as_ref().and_then(|o| o.hash)),
        size: new.map(|n| n.size),
        mode: new.map(|n| format!("{:o}", n.mode)),
        uid: new.map(|n| n.uid),
        gid: new.map(|n| n.gid),
        mtime: new.map(|n| n.mtime.to_rfc3339()),
        critical: f.critical,
        detection: match f.detection {
            Detection::Realtime => "realtime",
            Detection::Rescan => "rescan",
        }
        .into(),
        pid: f.actor.as_ref().map(|a| a.pid),
        image: f.actor.as_ref().map(|a| text(&a.image)),
        owner: new_security.map(|s| text(&s.owner)),
        dacl_hash: hex(new_security.and_then(|s| s.dacl)),
        old_owner: old_security.map(|s| text(&s.owner)),
        old_dacl_hash: hex(old_security.and_then(|s| s.dacl)),
    }
}

fn process_detail(p: &ProcessEvent) -> types::ProcessDetail {
    types::ProcessDetail {
        action: p.action.as_str().into(),
        pid: p.pid,
        ppid: p.ppid,
        image: text(&p.image),
        command_line: text(&p.command_line),
        user: text(&p.user),
        parent_image: p.parent_image.as_ref().map(text),
        image_hash: hex(p.image_hash),
        exit_code: p.exit_code,
        user_sid: None,
        integrity_level: None,
        parent_command_line: None,
    }
}

fn detail(body: &EventBody) -> types::EventDetail {
    use types::EventDetail as D;
    match body {
        EventBody::File(f) => D::File(file_detail(f, None, None)),
        EventBody::NtFile(n) => D::File(file_detail(&n.file, n.old_security.as_ref(), n.new_security.as_ref())),
        EventBody::Process(p) => D::Process(process_detail(p)),
        EventBody::WinProcess(w) => D::Process(types::ProcessDetail {
            user_sid: w.user_sid.clone(),
            integrity_level: w.integrity_level.clone(),
            parent_command_line: w.parent_command_line.as_ref().map(text),
            ..process_detail(&w.process)
        }),
        EventBody::Health(h) => D::Health(types::HealthDetail {
            spool_events: h.spool_events,
            spool_bytes: h.spool_bytes,
            rss_bytes: h.rss_bytes,
            cpu_percent: f64::from(h.cpu_percent),
            uptime_secs: h.uptime_secs,
            fim_sensor: h.fim_sensor.clone(),
            process_sensor: h.process_sensor.clone(),
            agent_version: h.agent_version.clone(),
        }),
        EventBody::Gap(g) => D::Gap(types::GapDetail {
            lost: g.lost,
            first_lost_seq: g.first_seq,
            last_lost_seq: g.last_seq,
            reason: g.reason.clone(),
        }),
        EventBody::Dlp(d) => D::Dlp(types::DlpDetail {
            channel: d.channel.clone(),
            path: text(&d.path),
            container_path: d.container_path.as_ref().map(text),
            detector: d.detector.clone(),
            count: d.count,
            confidence: d.confidence,
            masked_sample: d.masked_sample.clone(),
            level: d.level.clone(),
            sha256: hex(d.sha256),
            action: d.action.clone(),
        }),
        EventBody::Malware(m) => D::Malware(types::MalwareDetail {
            rule: m.rule.clone(),
            namespace: m.namespace.clone(),
            tags: m.tags.clone(),
            path: text(&m.path),
            sha256: hex(m.sha256),
        }),
        EventBody::Agent(a) => D::Agent(types::AgentDetail {
            action: a.action.as_str().into(),
            clock_jump_secs: a.clock_jump_secs,
            detail: a.detail.clone(),
            agent_version: a.agent_version.clone(),
        }),
        EventBody::Mount(m) => D::Mount(types::MountDetail {
            action: m.action.as_str().into(),
            channel: m.channel.clone(),
            mount_point: text(&m.mount_point),
            source: text(&m.source),
            fstype: m.fstype.clone(),
            removable: m.removable,
            watch: m.watch.clone(),
        }),
        EventBody::DlpVerdict(v) => D::DlpVerdict(types::DlpVerdictDetail {
            channel: v.channel.clone(),
            path: text(&v.path),
            sha256: hex(v.sha256),
            action: v.action.clone(),
            outcome: v.outcome.clone(),
            vault_id: v.vault_id.clone(),
            rules: v.rules.clone(),
            not_inspected: v.not_inspected.clone(),
            detail: v.detail.clone(),
        }),
        EventBody::WinEvent(w) => D::WinEvent(types::WinEventDetail {
            channel: w.channel.clone(),
            provider: w.provider.clone(),
            event_id: w.event_id,
            record_id: w.record_id,
            computer: w.computer.clone(),
            record: serde_json::from_str(&w.record).unwrap_or_else(|_| serde_json::Value::String(w.record.clone())),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use haidang_proto::event::{
        Actor, AgentLifecycle, DlpMatch, DlpVerdict, FileAction, FileEvent, FileMeta, Gap, Health, LifecycleAction,
        MalwareMatch, MountAction, MountEvent, NtFileEvent, ProcessAction, WinEventRecord, WinProcessEvent,
    };

    /// The typed view must stay the JSON that `events list --json` has always printed, which
    /// proto's `Event::to_json` still builds for the fuzz target.
    #[test]
    fn the_typed_event_view_is_the_documented_json() {
        let agent = AgentId([3; 16]);
        let meta = FileMeta { size: 5, mode: 0o640, uid: 1, gid: 2, mtime: Timestamp(7), hash: Some([0xab; 32]) };
        let bodies = [
            EventBody::File(FileEvent {
                action: FileAction::Renamed,
                path: Text::from("/srv/kế hoạch.txt"),
                old_path: Some(Text::from("/srv/a.txt")),
                old: Some(meta.clone()),
                new: Some(meta),
                critical: true,
                detection: Detection::Realtime,
                actor: Some(Actor { pid: 42, image: Text::from("/usr/bin/vim") }),
            }),
            EventBody::File(FileEvent {
                action: FileAction::Deleted,
                path: Text::from("/srv/b"),
                old_path: None,
                old: None,
                new: None,
                critical: false,
                detection: Detection::Rescan,
                actor: None,
            }),
            EventBody::Process(ProcessEvent {
                action: ProcessAction::Exit,
                pid: 9,
                ppid: 1,
                image: Text::from("/bin/sh"),
                command_line: Text::from("sh -c true"),
                user: Text::from("root"),
                parent_image: None,
                image_hash: Some([1; 32]),
                exit_code: Some(3),
            }),
            EventBody::WinProcess(WinProcessEvent {
                process: ProcessEvent {
                    action: ProcessAction::Start,
                    pid: 4242,
                    ppid: 600,
                    image: Text::from("C:\\Windows\\System32\\cmd.exe"),
                    command_line: Text::from("cmd.exe /c whoami"),
                    user: Text::from("NT AUTHORITY\\SYSTEM"),
                    parent_image: Some(Text::from("C:\\Windows\\explorer.exe")),
                    image_hash: None,
                    exit_code: None,
                },
                user_sid: Some("S-1-5-18".into()),
                integrity_level: Some("System".into()),
                parent_command_line: None,
            }),
            EventBody::Health(Health { cpu_percent: 0.1, agent_version: "0.1.0".into(), ..Health::default() }),
            EventBody::Gap(Gap { lost: 4, first_seq: 10, last_seq: 13, reason: "spool full".into() }),
            EventBody::Dlp(DlpMatch {
                channel: "usb".into(),
                path: Text::from("/media/x.docx"),
                container_path: None,
                detector: "cccd".into(),
                count: 2,
                confidence: 90,
                masked_sample: Some("0**".into()),
                level: None,
                sha256: None,
                action: "alert".into(),
            }),
            EventBody::Malware(MalwareMatch {
                rule: "EICAR".into(),
                namespace: "default".into(),
                tags: vec!["test".into()],
                path: Text::from("/tmp/e"),
                sha256: Some([2; 32]),
            }),
            EventBody::Agent(AgentLifecycle {
                action: LifecycleAction::ClockJump,
                clock_jump_secs: Some(-90),
                detail: "ntp".into(),
                agent_version: "0.1.0".into(),
            }),
            EventBody::Mount(MountEvent {
                action: MountAction::Mounted,
                channel: "usb".into(),
                mount_point: Text::from("/media/u"),
                source: Text::from("/dev/sdb1"),
                fstype: "vfat".into(),
                removable: true,
                watch: "fanotify".into(),
            }),
            EventBody::DlpVerdict(DlpVerdict {
                channel: "usb".into(),
                path: Text::from("/media/u/x"),
                sha256: None,
                action: "block".into(),
                outcome: "quarantined".into(),
                vault_id: Some("v1".into()),
                rules: vec!["r".into()],
                not_inspected: Vec::new(),
                detail: String::new(),
            }),
            EventBody::WinEvent(WinEventRecord {
                channel: "Security".into(),
                provider: "Microsoft-Windows-Security-Auditing".into(),
                event_id: 4688,
                record_id: 12,
                computer: "pc-01".into(),
                record: r#"{"Event":{"System":{"EventID":4688},"EventData":{"NewProcessName":"C:\\a.exe"}}}"#.into(),
            }),
            EventBody::WinEvent(WinEventRecord {
                channel: "System".into(),
                provider: String::new(),
                event_id: 0,
                record_id: 0,
                computer: String::new(),
                record: "not json".into(),
            }),
            EventBody::NtFile(NtFileEvent {
                file: FileEvent {
                    action: FileAction::Attributes,
                    path: Text::from(r"C:\Users\nguyễn\Tài liệu\Kế hoạch.docx"),
                    old_path: None,
                    old: Some(FileMeta { mode: 0x20, ..FileMeta::default() }),
                    new: Some(FileMeta { mode: 0x21, ..FileMeta::default() }),
                    critical: false,
                    detection: Detection::Rescan,
                    actor: None,
                },
                old_security: Some(FileSecurity { owner: Text::from(r"PC-01\nguyễn"), dacl: Some([1; 32]) }),
                new_security: Some(FileSecurity { owner: Text::from(r"BUILTIN\Administrators"), dacl: None }),
            }),
            EventBody::NtFile(NtFileEvent {
                file: FileEvent {
                    action: FileAction::Created,
                    path: Text::from(r"C:\a"),
                    old_path: None,
                    old: None,
                    new: Some(FileMeta::default()),
                    critical: true,
                    detection: Detection::Realtime,
                    actor: None,
                },
                old_security: None,
                new_security: Some(FileSecurity::default()),
            }),
        ];
        for (seq, body) in bodies.into_iter().enumerate() {
            let e = Event { seq: seq as u64, time: Timestamp(1_700_000_000_000_000_000), body };
            let typed = serde_json::to_value(event(&agent, &e)).expect("serialises");
            assert_eq!(typed, e.to_json(&agent), "{:?}", e.kind());
            let back: types::Event = serde_json::from_value(typed).expect("deserialises");
            assert_eq!(back, event(&agent, &e));
        }
    }
}
