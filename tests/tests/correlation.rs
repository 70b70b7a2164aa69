//! Live correlation in a real collector: Sigma correlations over agent events with windows
//! that open, survive a SIGKILL of the collector, expire and slide; and rule directories that
//! reload (API and SIGHUP) without a restart while a broken rule file is skipped, not fatal.
//!
//! Events are sent by a raw agent so their timestamps are chosen by the test: windows are
//! computed on event time, which makes the test exact instead of timed.

use std::path::Path;
use std::time::Duration;

use haidang_proto::event::{Detection, FileAction, FileEvent, ProcessAction, ProcessEvent};
use haidang_proto::text::Text;
use haidang_proto::{Event, EventBody, SignedBatch, Timestamp};
use haidang_tests::raw::RawAgent;
use haidang_tests::{Collector, wait_until};
use serde_json::Value;

const WAIT: Duration = Duration::from_secs(30);

const SSH_BURST: &str = "11111111-2222-4333-8444-555555555501";
const SUDO_USERS: &str = "11111111-2222-4333-8444-555555555502";
const DROPPED_FILE_EXECUTED: &str = "5a9d2c6f-3e1b-4f8a-b7c4-1e0d6a3f9b35";

const RULES: &str = r#"
title: SSH Client Started
name: t_ssh
id: 11111111-2222-4333-8444-5555555555a1
logsource:
    product: linux
    category: process_creation
detection:
    selection:
        Image|endswith: '/ssh'
    condition: selection
level: informational
---
title: SSH Burst
id: 11111111-2222-4333-8444-555555555501
tags:
    - attack.lateral_movement
    - attack.t1021.004
correlation:
    type: event_count
    rules:
        - t_ssh
    group-by:
        - AgentId
    timespan: 60s
    condition:
        gte: 3
level: medium
---
title: Sudo Run
name: t_sudo
id: 11111111-2222-4333-8444-5555555555a2
logsource:
    product: linux
    category: process_creation
detection:
    selection:
        Image|endswith: '/sudo'
    condition: selection
level: informational
---
title: Sudo by Many Users
id: 11111111-2222-4333-8444-555555555502
tags:
    - attack.privilege_escalation
    - attack.t1548.003
correlation:
    type: value_count
    rules:
        - t_sudo
    group-by:
        - AgentId
    timespan: 5m
    condition:
        field: User
        gte: 3
level: high
"#;

struct Sender {
    agent: RawAgent,
    last: Option<SignedBatch>,
    seq: u64,
    base: i64,
}

impl Sender {
    /// Sends one batch of events at `base + offset` seconds and waits for its ack.
    fn send(&mut self, bodies: Vec<(i64, EventBody)>) {
        let events: Vec<Event> = bodies
            .into_iter()
            .map(|(offset, body)| {
                self.seq += 1;
                Event { seq: self.seq, time: Timestamp((self.base + offset) * 1_000_000_000), body }
            })
            .collect();
        let batch = self.agent.seal(self.last.as_ref(), &events);
        let mut conn = self.agent.connect().expect("connect");
        conn.send_batch(&batch).expect("send batch");
        let ack = conn.expect_ack();
        assert_eq!(ack.batch_no, batch.header.batch_no);
        self.last = Some(batch);
    }
}

fn process(image: &str, user: &str) -> EventBody {
    EventBody::Process(ProcessEvent {
        action: ProcessAction::Start,
        pid: 4000,
        ppid: 1,
        image: Text::from(image),
        command_line: Text::from(image),
        user: Text::from(user),
        parent_image: None,
        image_hash: None,
        exit_code: None,
    })
}

fn created(path: &str) -> EventBody {
    EventBody::File(FileEvent {
        action: FileAction::Created,
        path: Text::from(path),
        old_path: None,
        old: None,
        new: None,
        critical: false,
        detection: Detection::Realtime,
        actor: None,
    })
}

fn metric(collector: &Collector, name: &str) -> Option<f64> {
    collector.metrics().lines().find_map(|l| l.strip_prefix(name)?.trim().split(' ').next()?.parse().ok())
}

/// Waits until the correlate stage has run every stored event through the rules.
fn settled(collector: &Collector, events_since_start: u64) {
    wait_until(WAIT, "correlate stage to catch up", || {
        let done = metric(collector, "haidang_events_correlated_total")? as u64;
        let backlog = metric(collector, "haidang_correlate_backlog_batches")?;
        (done >= events_since_start && backlog == 0.0).then_some(())
    });
}

fn alerts_of(collector: &Collector, rule: &str) -> Vec<Value> {
    collector.alerts().into_iter().filter(|a| a["rule"] == rule).collect()
}

fn start(data: &Path, rules: &Path, on: Option<&Collector>) -> Collector {
    let any = "127.0.0.1:0".parse().expect("addr");
    let (quic, http) = on.map_or((any, any), |c| (c.quic, c.http));
    Collector::start_with(data, quic, http, &["--rules", rules.to_str().expect("utf-8 path")])
}

#[test]
fn correlation_windows_open_survive_a_crash_expire_and_slide() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (data, rules) = (dir.path().join("collector"), dir.path().join("rules"));
    std::fs::create_dir_all(&rules).expect("rules dir");
    std::fs::write(rules.join("test.yml"), RULES).expect("write rules");
    let mut collector = start(&data, &rules, None);
    let base = Timestamp::now().0 / 1_000_000_000 - 3600;
    let mut tx = Sender { agent: RawAgent::enroll(&collector, "may-tram-01"), last: None, seq: 0, base };

    // Two ssh runs open the window but stay below the threshold.
    tx.send(vec![(0, process("/usr/bin/ssh", "an")), (10, process("/usr/bin/ssh", "an"))]);
    settled(&collector, 2);
    assert!(alerts_of(&collector, SSH_BURST).is_empty(), "fired below the threshold");
    assert!(
        collector.alerts().iter().all(|a| a["rule"] != "11111111-2222-4333-8444-5555555555a1"),
        "a building-block rule raised an alert of its own"
    );

    // The collector dies; the open window must come back with it.
    collector.kill();
    let restarted = start(&data, &rules, Some(&collector));
    collector = restarted;
    tx.send(vec![(20, process("/usr/bin/ssh", "an"))]);
    settled(&collector, 1);
    let fired = wait_until(WAIT, "event_count alert after restart", || {
        let a = alerts_of(&collector, SSH_BURST);
        (!a.is_empty()).then_some(a)
    });
    assert_eq!(fired.len(), 1, "{fired:?}");
    let alert = &fired[0];
    assert_eq!(alert["kind"], "correlation");
    assert_eq!(alert["title"], "SSH Burst");
    assert_eq!(alert["level"], "medium");
    assert_eq!(alert["tags"], serde_json::json!(["attack.lateral_movement", "attack.t1021.004"]));
    assert_eq!(alert["group"]["AgentId"], tx.agent.id.to_string());
    let ids: Vec<String> = (1..=3).map(|s| format!("{}:{s}", tx.agent.id)).collect();
    assert_eq!(alert["events"], serde_json::json!(ids), "triggering events named");

    // Far later: the old runs have expired, and three runs spread over more than a minute
    // never share a window.
    tx.send(vec![(1000, process("/usr/bin/ssh", "an")), (1040, process("/usr/bin/ssh", "an"))]);
    tx.send(vec![(1090, process("/usr/bin/ssh", "an"))]);
    settled(&collector, 4);
    assert_eq!(alerts_of(&collector, SSH_BURST).len(), 1, "expired events still counted");
    // The window slides: at 1105 it holds 1090 and 1105 (1040 has left it); at 1110 it holds
    // 1090, 1105 and 1110.
    tx.send(vec![(1105, process("/usr/bin/ssh", "an")), (1110, process("/usr/bin/ssh", "an"))]);
    settled(&collector, 6);
    assert_eq!(alerts_of(&collector, SSH_BURST).len(), 2, "sliding window did not fire");

    // value_count counts distinct users, not events.
    tx.send(vec![(2000, process("/usr/bin/sudo", "an")), (2010, process("/usr/bin/sudo", "bình"))]);
    tx.send(vec![(2020, process("/usr/bin/sudo", "an")), (2030, process("/usr/bin/sudo", "bình"))]);
    settled(&collector, 10);
    assert!(alerts_of(&collector, SUDO_USERS).is_empty(), "value_count counted repeats");
    tx.send(vec![(2040, process("/usr/bin/sudo", "chi"))]);
    settled(&collector, 11);
    let sudo = wait_until(WAIT, "value_count alert", || alerts_of(&collector, SUDO_USERS).pop());
    assert_eq!(sudo["level"], "high");

    // temporal_ordered (shipped rule): executing a file dropped in /tmp fires, the reverse
    // order does not.
    tx.send(vec![(3000, process("/tmp/.x/run", "an")), (3010, created("/tmp/.x/run"))]);
    settled(&collector, 13);
    assert!(alerts_of(&collector, DROPPED_FILE_EXECUTED).is_empty(), "temporal_ordered ignored the order");
    tx.send(vec![(3100, created("/tmp/.y/payload")), (3130, process("/tmp/.y/payload", "an"))]);
    settled(&collector, 15);
    let dropped = wait_until(WAIT, "temporal_ordered alert", || alerts_of(&collector, DROPPED_FILE_EXECUTED).pop());
    assert_eq!(dropped["group"]["dropped_file"], "/tmp/.y/payload");
    assert_eq!(dropped["tags"][1], "attack.t1204.002");
}

fn rules_status(collector: &Collector) -> Value {
    let out = collector.cli(&["rules", "status", "--json"]);
    serde_json::from_slice(&out.stdout).expect("rules status JSON")
}

#[test]
fn rules_reload_through_the_api_and_sighup_and_a_broken_rule_is_skipped() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (data, rules) = (dir.path().join("collector"), dir.path().join("rules"));
    std::fs::create_dir_all(&rules).expect("rules dir");
    std::fs::write(rules.join("broken.yml"), "title: [unclosed\ndetection: {").expect("write broken rule");
    let collector = start(&data, &rules, None);

    let status = rules_status(&collector);
    assert_eq!(status["skipped"], 1, "{status}");
    assert!(status["problems"][0].as_str().is_some_and(|p| p.contains("broken.yml")), "{status}");
    let shipped_only = status["loaded"].as_u64().expect("loaded");

    let rule = r#"
title: Netcat Listener
id: 11111111-2222-4333-8444-555555555503
tags:
    - attack.command_and_control
    - attack.t1095
logsource:
    product: linux
    category: process_creation
detection:
    selection:
        Image|endswith: '/nc'
        CommandLine|contains: ' -l'
    condition: selection
level: high
"#;
    std::fs::write(rules.join("nc.yml"), rule).expect("write rule");
    let reload = collector.cli(&["rules", "reload", "--json"]);
    assert_eq!(reload.status.code(), Some(1), "a skipped rule makes reload exit 1");
    let summary: Value = serde_json::from_slice(&reload.stdout).expect("reload JSON");
    assert_eq!(summary["loaded"].as_u64(), Some(shipped_only + 1), "{summary}");

    let base = Timestamp::now().0 / 1_000_000_000;
    let mut tx = Sender { agent: RawAgent::enroll(&collector, "may-tram-02"), last: None, seq: 0, base };
    let mut nc = process("/usr/bin/nc", "an");
    if let EventBody::Process(p) = &mut nc {
        p.command_line = Text::from("nc -lvp 4444");
    }
    tx.send(vec![(0, nc)]);
    let alert = wait_until(WAIT, "alert from the reloaded rule", || {
        alerts_of(&collector, "11111111-2222-4333-8444-555555555503").pop()
    });
    assert_eq!(alert["kind"], "detection");
    assert_eq!(alert["events"][0], format!("{}:1", tx.agent.id));

    std::fs::remove_file(rules.join("broken.yml")).expect("remove broken rule");
    let pid = collector_pid(&data);
    // SAFETY: kill(2) with SIGHUP on the collector this test started.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGHUP) }, 0);
    wait_until(WAIT, "SIGHUP reload", || (rules_status(&collector)["skipped"] == 0).then_some(()));
    let ok = collector.cli(&["rules", "status"]);
    assert!(ok.status.success());
    let healthz = haidang_tests::http_get(collector.http, "/healthz");
    assert!(healthz.contains("ok"), "collector still serving after reloads");
}

/// The pid of the collector serving `data`, found through /proc (the harness owns the child).
fn collector_pid(data: &Path) -> i32 {
    let want = data.to_str().expect("utf-8 path");
    for entry in std::fs::read_dir("/proc").expect("/proc").flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else { continue };
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else { continue };
        let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
        if args.iter().any(|a| a.ends_with(b"haidang-collector"))
            && args.contains(&b"serve".as_slice())
            && args.contains(&want.as_bytes())
        {
            return pid;
        }
    }
    panic!("no running collector for {want}");
}
