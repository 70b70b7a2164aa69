//! Nothing is lost or duplicated when either side is killed.

use haidang_tests::{Agent, Collector, fim_config, wait_until};
use serde_json::Value;
use std::collections::{BTreeSet, HashSet};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(60);

fn paths_with(events: &[Value], action: &str) -> HashSet<String> {
    events.iter().filter(|e| e["action"] == action).filter_map(|e| e["path"].as_str().map(String::from)).collect()
}

/// Every sequence number from 1 to the highest is stored exactly once.
fn assert_exactly_once(events: &[Value]) {
    let seqs: Vec<u64> = events.iter().filter_map(|e| e["seq"].as_u64()).collect();
    let unique: BTreeSet<u64> = seqs.iter().copied().collect();
    assert_eq!(unique.len(), seqs.len(), "no event stored twice");
    let last = unique.last().copied().unwrap_or(0);
    assert_eq!(unique.len() as u64, last, "no sequence number missing below {last}");
}

fn verify(data: &Path) {
    let out = Command::new(haidang_tests::bin("haidang-collector"))
        .args(["verify", "--json", "--data"])
        .arg(data)
        .output()
        .expect("run verify");
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "verify failed: {report} {}", String::from_utf8_lossy(&out.stderr));
    assert!(report.lines().all(|l| l.contains("\"ok\":true")), "{report}");
}

#[test]
fn collector_killed_repeatedly_while_an_agent_streams_loses_and_duplicates_nothing() {
    const FILES: usize = 3000;
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("watched");
    std::fs::create_dir_all(&root).expect("mkdir");
    let data = dir.path().join("collector");
    let mut collector = Collector::start(&data);
    let (quic, http) = (collector.quic, collector.http);
    let mut agent = Agent::enroll(&collector, &dir.path().join("agent"), &fim_config(&root, false));
    agent.start();
    wait_until(WAIT, "agent connected", || (agent.status()["connection"] == "connected").then_some(()));

    let writer_root = root.clone();
    let writer = std::thread::spawn(move || {
        for i in 0..FILES {
            std::fs::write(writer_root.join(format!("f{i:05}.txt")), format!("content {i}")).expect("write");
            if i % 100 == 0 {
                std::thread::sleep(Duration::from_millis(30));
            }
        }
    });
    for _ in 0..6 {
        std::thread::sleep(Duration::from_millis(400));
        collector.kill();
        std::thread::sleep(Duration::from_millis(200));
        collector = Collector::start_on(&data, quic, http);
    }
    writer.join().expect("writer");

    let id = agent.id.clone();
    let events = wait_until(Duration::from_secs(120), "all files reported", || {
        let events = collector.events(&id, None);
        (paths_with(&events, "created").len() >= FILES).then_some(events)
    });
    let created = paths_with(&events, "created");
    for i in 0..FILES {
        let p = root.join(format!("f{i:05}.txt")).display().to_string();
        assert!(created.contains(&p), "{p} reported");
    }
    assert_exactly_once(&events);
    agent.stop();
    collector.stop();
    verify(&data);
}

#[test]
fn agent_killed_while_the_collector_is_down_loses_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("watched");
    std::fs::create_dir_all(&root).expect("mkdir");
    let data = dir.path().join("collector");
    let mut collector = Collector::start(&data);
    let (quic, http) = (collector.quic, collector.http);
    let mut agent = Agent::enroll(&collector, &dir.path().join("agent"), &fim_config(&root, false));
    let (a, b, c, d) = (root.join("a.txt"), root.join("b.txt"), root.join("c.txt"), root.join("đ.txt"));
    std::fs::write(&a, "a0").expect("a");
    std::fs::write(&b, "b0").expect("b");
    agent.start();
    wait_until(WAIT, "agent connected", || (agent.status()["connection"] == "connected").then_some(()));
    let id = agent.id.clone();

    let before = agent.status()["last_seq"].as_u64().unwrap_or(0);
    collector.kill();
    // Seen in real time while the collector is away: spooled.
    std::fs::write(&c, "c0").expect("c");
    std::fs::write(&a, "a1").expect("modify a");
    std::fs::remove_file(&b).expect("delete b");
    wait_until(WAIT, "agent spooled the changes", || {
        (agent.status()["last_seq"].as_u64().unwrap_or(0) >= before + 3).then_some(())
    });
    agent.kill();
    // Changed while nothing runs: only the agent's start-up rescan can find these.
    std::fs::write(&d, "d0").expect("d");
    std::fs::write(&c, "c1 changed offline").expect("modify c");

    collector = Collector::start_on(&data, quic, http);
    agent.start();
    let s = |p: &Path| p.display().to_string();
    let events = wait_until(Duration::from_secs(90), "every change reported", || {
        let events = collector.events(&id, Some("file"));
        let has = |action: &str, p: &Path| events.iter().any(|e| e["action"] == action && e["path"] == s(p).as_str());
        let c_final = events
            .iter()
            .any(|e| e["path"] == s(&c).as_str() && e["hash"] == blake3::hash(b"c1 changed offline").to_hex().as_str());
        (has("created", &c) && has("modified", &a) && has("deleted", &b) && has("created", &d) && c_final)
            .then_some(events)
    });
    let all = collector.events(&id, None);
    assert_exactly_once(&all);
    assert!(events.iter().any(|e| e["path"] == s(&d).as_str() && e["detection"] == "rescan"));
    agent.stop();
    collector.stop();
    verify(&data);
}
