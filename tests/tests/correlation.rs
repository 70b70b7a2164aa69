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

// The Sigma Correlation Rules Specification v2.1, point by point, through a live collector
// (issue 24). Every base rule here is `medium`, so the collector's own silence about
// informational detections cannot hide a building block that alerts.

const SPEC_BASE: &str = r#"
title: Curl Run
name: spec_curl
id: 22222222-3333-4444-8555-6666666666b1
logsource: {product: linux, category: process_creation}
detection: {selection: {Image|endswith: '/curl'}, condition: selection}
level: medium
---
title: Wget Run
name: spec_wget
id: 22222222-3333-4444-8555-6666666666b2
logsource: {product: linux, category: process_creation}
detection: {selection: {Image|endswith: '/wget'}, condition: selection}
level: medium
"#;

/// Sends `images` as process starts, one per `(offset, image)`, and waits for the correlate
/// stage to take them.
fn run(collector: &Collector, tx: &mut Sender, images: &[(i64, &str)], sent_so_far: &mut u64) {
    tx.send(images.iter().map(|(offset, image)| (*offset, process(image, "an"))).collect());
    *sent_so_far += images.len() as u64;
    settled(collector, *sent_so_far);
}

fn spec_collector(dir: &Path, rules: &str) -> Collector {
    let (data, rules_dir) = (dir.join("collector"), dir.join("rules"));
    std::fs::create_dir_all(&rules_dir).expect("rules dir");
    std::fs::write(rules_dir.join("spec.yml"), rules).expect("write rules");
    start(&data, &rules_dir, None)
}

/// Spec "Generate": "defines if the rules referred from the correlation rule should be
/// converted as stand-alone rules or if only the correlation query should be generated
/// (default)."
#[test]
fn generate_decides_whether_referenced_rules_alert_on_their_own() {
    const CURL_BURST: &str = "22222222-3333-4444-8555-6666666666c1";
    const WGET_BURST: &str = "22222222-3333-4444-8555-6666666666c2";
    let rules = format!(
        "{SPEC_BASE}---
title: Curl Burst
id: {CURL_BURST}
correlation: {{type: event_count, rules: [spec_curl], group-by: [AgentId], timespan: 60s, condition: {{gte: 2}}}}
level: high
---
title: Wget Burst
id: {WGET_BURST}
generate: true
correlation:
    type: event_count
    rules: [22222222-3333-4444-8555-6666666666b2]
    group-by: [AgentId]
    timespan: 60s
    condition: {{gte: 2}}
level: high
"
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let collector = spec_collector(dir.path(), &rules);
    let base = Timestamp::now().0 / 1_000_000_000 - 3600;
    let mut tx = Sender { agent: RawAgent::enroll(&collector, "may-tram-11"), last: None, seq: 0, base };
    let mut sent = 0;

    run(&collector, &mut tx, &[(0, "/usr/bin/curl"), (10, "/usr/bin/curl")], &mut sent);
    assert_eq!(alerts_of(&collector, CURL_BURST).len(), 1, "the correlation alerts");
    assert!(
        alerts_of(&collector, "22222222-3333-4444-8555-6666666666b1").is_empty(),
        "a rule referenced without generate: true raised alerts of its own"
    );

    run(&collector, &mut tx, &[(100, "/usr/bin/wget"), (110, "/usr/bin/wget")], &mut sent);
    assert_eq!(alerts_of(&collector, WGET_BURST).len(), 1, "the correlation alerts");
    let wget = alerts_of(&collector, "22222222-3333-4444-8555-6666666666b2");
    assert_eq!(wget.len(), 2, "generate: true keeps the referenced rule a stand-alone rule: {wget:?}");
    assert!(wget.iter().all(|a| a["kind"] == "detection"));
}

/// Spec "Temporal Proximity (temporal)": "All events defined by the rules referred by the rule
/// field must occur in the time frame defined by timespan." A temporal rule may omit
/// `condition` (its "Requires" lists rules, group-by and timespan only).
#[test]
fn temporal_without_condition_requires_every_rule_within_the_timespan() {
    const RECON: &str = "22222222-3333-4444-8555-6666666666c3";
    let rules = format!(
        "{SPEC_BASE}---
title: Id Run
name: spec_id
id: 22222222-3333-4444-8555-6666666666b3
logsource: {{product: linux, category: process_creation}}
detection: {{selection: {{Image|endswith: '/id'}}, condition: selection}}
level: medium
---
title: Recon Trio
id: {RECON}
correlation:
    type: temporal
    rules: [spec_curl, spec_wget, spec_id]
    group-by: [AgentId]
    timespan: 60s
level: high
"
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let collector = spec_collector(dir.path(), &rules);
    let base = Timestamp::now().0 / 1_000_000_000 - 3600;
    let mut tx = Sender { agent: RawAgent::enroll(&collector, "may-tram-12"), last: None, seq: 0, base };
    let mut sent = 0;

    // Two of the three rules: no alert (rsigma's default `gte: 1` fired on the first).
    run(&collector, &mut tx, &[(0, "/usr/bin/curl"), (10, "/usr/bin/wget"), (20, "/usr/bin/wget")], &mut sent);
    assert!(alerts_of(&collector, RECON).is_empty(), "fired with two of three rules");
    // All three, but spread over more than the 60 s timespan: no alert.
    run(&collector, &mut tx, &[(1000, "/usr/bin/curl"), (1040, "/usr/bin/wget"), (1070, "/usr/bin/id")], &mut sent);
    assert!(alerts_of(&collector, RECON).is_empty(), "fired on rules further apart than the timespan");
    // All three within the timespan, in any order: one alert.
    run(&collector, &mut tx, &[(2000, "/usr/bin/id"), (2010, "/usr/bin/wget"), (2020, "/usr/bin/curl")], &mut sent);
    let fired = alerts_of(&collector, RECON);
    assert_eq!(fired.len(), 1, "{fired:?}");
    assert_eq!(fired[0]["kind"], "correlation");
    assert_eq!(fired[0]["group"]["AgentId"], tx.agent.id.to_string());
    let referenced = ["6666666666b1", "6666666666b2", "6666666666b3"].map(|s| format!("22222222-3333-4444-8555-{s}"));
    assert!(
        referenced.iter().all(|id| alerts_of(&collector, id).is_empty()),
        "the referenced rules raised alerts of their own"
    );
}

/// Spec "Related rules": "Refers to one or multiple Sigma or Correlations rules. Allowing the
/// user to chain multiple correlations together." A referenced correlation is a referenced
/// rule, so "Generate" applies to it: quiet by default, an alert with `generate: true`.
#[test]
fn a_chained_correlation_alerts_only_when_the_chain_generates_it() {
    const CURL_BURST: &str = "22222222-3333-4444-8555-6666666666c4";
    const CURL_THEN_ID: &str = "22222222-3333-4444-8555-6666666666c5";
    const WGET_BURST: &str = "22222222-3333-4444-8555-6666666666c6";
    const WGET_THEN_ID: &str = "22222222-3333-4444-8555-6666666666c7";
    let rules = format!(
        "{SPEC_BASE}---
title: Id Run
name: spec_id
id: 22222222-3333-4444-8555-6666666666b3
logsource: {{product: linux, category: process_creation}}
detection: {{selection: {{Image|endswith: '/id'}}, condition: selection}}
level: medium
---
title: Whoami Run
name: spec_whoami
id: 22222222-3333-4444-8555-6666666666b4
logsource: {{product: linux, category: process_creation}}
detection: {{selection: {{Image|endswith: '/whoami'}}, condition: selection}}
level: medium
---
title: Curl Burst
name: spec_curl_burst
id: {CURL_BURST}
correlation: {{type: event_count, rules: [spec_curl], group-by: [AgentId], timespan: 60s, condition: {{gte: 2}}}}
level: medium
---
title: Curl Burst Then Id
id: {CURL_THEN_ID}
correlation: {{type: temporal_ordered, rules: [spec_curl_burst, spec_id], group-by: [AgentId], timespan: 60s}}
level: high
---
title: Wget Burst
name: spec_wget_burst
id: {WGET_BURST}
correlation: {{type: event_count, rules: [spec_wget], group-by: [AgentId], timespan: 60s, condition: {{gte: 2}}}}
level: medium
---
title: Wget Burst Then Whoami
id: {WGET_THEN_ID}
generate: true
correlation: {{type: temporal_ordered, rules: [spec_wget_burst, spec_whoami], group-by: [AgentId], timespan: 60s}}
level: high
"
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let collector = spec_collector(dir.path(), &rules);
    let base = Timestamp::now().0 / 1_000_000_000 - 3600;
    let mut tx = Sender { agent: RawAgent::enroll(&collector, "may-tram-13"), last: None, seq: 0, base };
    let mut sent = 0;

    // The chained correlation fires (it feeds its parent) but raises no alert of its own.
    run(&collector, &mut tx, &[(0, "/usr/bin/curl"), (10, "/usr/bin/curl"), (20, "/usr/bin/id")], &mut sent);
    assert_eq!(alerts_of(&collector, CURL_THEN_ID).len(), 1, "the chain alerts");
    assert!(alerts_of(&collector, CURL_BURST).is_empty(), "a chained correlation alerted without generate: true");

    // With `generate: true` on the chain, the chained correlation alerts too.
    run(&collector, &mut tx, &[(1000, "/usr/bin/wget"), (1010, "/usr/bin/wget"), (1020, "/usr/bin/whoami")], &mut sent);
    assert_eq!(alerts_of(&collector, WGET_THEN_ID).len(), 1, "the chain alerts");
    assert_eq!(alerts_of(&collector, WGET_BURST).len(), 1, "generate: true keeps the chained correlation's alert");
    // The base rules stay quiet in both chains: their own correlations do not generate them.
    for id in ["6666666666b1", "6666666666b2"] {
        assert!(alerts_of(&collector, &format!("22222222-3333-4444-8555-{id}")).is_empty());
    }
}

/// Spec "Value Percentile (value_percentile)": "Check when a certain percentage of observed
/// values occur." rsigma 0.23 fires it on every event carrying a number in the field, without
/// testing the condition; the rule is refused at load, with that reason, instead.
#[test]
fn value_percentile_is_refused_at_load_and_never_fires() {
    const PERCENTILE: &str = "22222222-3333-4444-8555-6666666666c8";
    let rules = format!(
        "{SPEC_BASE}---
title: Unusual Process Ids
id: {PERCENTILE}
correlation:
    type: value_percentile
    rules: [spec_curl]
    group-by: [AgentId]
    timespan: 60s
    condition: {{field: ProcessId, gte: 100000}}
level: high
"
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let collector = spec_collector(dir.path(), &rules);
    let status = rules_status(&collector);
    assert_eq!(status["skipped"], 1, "{status}");
    let problem = status["problems"][0].as_str().unwrap_or_default();
    assert!(problem.contains(PERCENTILE) && problem.contains("value_percentile is not supported"), "{status}");

    let base = Timestamp::now().0 / 1_000_000_000 - 3600;
    let mut tx = Sender { agent: RawAgent::enroll(&collector, "may-tram-14"), last: None, seq: 0, base };
    let mut sent = 0;
    // Process id 4000, far below the condition's 100000: rsigma would have alerted on each.
    run(&collector, &mut tx, &[(0, "/usr/bin/curl"), (10, "/usr/bin/curl"), (20, "/usr/bin/curl")], &mut sent);
    assert!(alerts_of(&collector, PERCENTILE).is_empty());
}
