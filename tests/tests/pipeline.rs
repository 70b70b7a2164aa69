//! The vertical slice: a real agent watching a directory and the process table streams
//! signed events over QUIC to a real collector; they reach `events list` with the
//! documented fields, and a change under a `critical` glob reaches `alerts list`.

use haidang_tests::{Agent, Collector, fim_config, wait_until};
use serde_json::Value;
use std::path::Path;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(30);

fn file_event<'a>(events: &'a [Value], action: &str, path: &Path) -> Option<&'a Value> {
    let path = path.display().to_string();
    events.iter().find(|e| e["action"] == action && e["path"] == path.as_str())
}

fn hash(content: &[u8]) -> String {
    blake3::hash(content).to_hex().to_string()
}

#[test]
fn file_and_process_events_reach_the_collector_with_their_fields() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("watched");
    std::fs::create_dir_all(root.join("secret")).expect("mkdir");
    let collector = Collector::start(&dir.path().join("collector"));
    let mut agent = Agent::enroll(&collector, &dir.path().join("agent"), &fim_config(&root, true));
    agent.start();
    wait_until(WAIT, "agent connected", || (agent.status()["connection"] == "connected").then_some(()));
    let id = agent.id.clone();
    let events = |kind| collector.events(&id, Some(kind));

    // Each step waits for its event so that the agent's coalescing of bursts cannot merge them.
    let a = root.join("tài liệu mật.txt");
    std::fs::write(&a, "một").expect("create");
    let created = wait_until(WAIT, "created event", || file_event(&events("file"), "created", &a).cloned());
    assert_eq!(created["hash"], hash("một".as_bytes()));
    assert_eq!(created["kind"], "file");
    assert_eq!(created["agent_id"], id.as_str());
    assert!(created["seq"].as_u64().is_some_and(|s| s > 0));
    assert!(created["time"].as_str().is_some_and(|t| t.ends_with('Z') && t.contains('T')), "{created}");

    std::fs::write(&a, "hai").expect("modify");
    let modified = wait_until(WAIT, "modified event", || file_event(&events("file"), "modified", &a).cloned());
    assert_eq!(modified["hash"], hash(b"hai"));
    assert_eq!(modified["old_hash"], hash("một".as_bytes()));

    let b = root.join("renamed.txt");
    std::fs::rename(&a, &b).expect("rename");
    let renamed = wait_until(WAIT, "renamed event", || file_event(&events("file"), "renamed", &b).cloned());
    assert_eq!(renamed["old_path"], a.display().to_string());

    std::fs::remove_file(&b).expect("delete");
    wait_until(WAIT, "deleted event", || file_event(&events("file"), "deleted", &b).cloned());

    let plan = root.join("secret/plan.txt");
    std::fs::write(&plan, "kế hoạch").expect("critical change");
    wait_until(WAIT, "critical created event", || file_event(&events("file"), "created", &plan).cloned());
    let alert = wait_until(WAIT, "critical-change alert", || {
        collector.alerts().into_iter().find(|a| a["path"] == plan.display().to_string())
    });
    assert_eq!(alert["severity"], "high");
    assert_eq!(alert["agent_id"], id.as_str());
    assert_eq!(alert["new_hash"], hash("kế hoạch".as_bytes()));

    let marker = format!("haidang-e2e-{}", std::process::id());
    let status =
        std::process::Command::new("/bin/sh").args(["-c", "sleep 1", &marker]).status().expect("run a process");
    assert!(status.success());
    let start = wait_until(WAIT, "process start event", || {
        events("process")
            .into_iter()
            .find(|e| e["action"] == "start" && e["command_line"].as_str().is_some_and(|c| c.contains(&marker)))
    });
    for field in ["pid", "ppid", "image", "user"] {
        assert!(!start[field].is_null(), "process event has {field}: {start}");
    }
    assert!(start["image"].as_str().is_some_and(|i| i.starts_with('/')), "{start}");

    let metrics = collector.metrics();
    assert!(metrics.contains("haidang_events_received_total"), "{metrics}");
    assert!(metrics.contains("haidang_agents_connected 1"), "{metrics}");
    assert!(haidang_tests::http_get(collector.http, "/healthz").ends_with("ok\n"));
}
