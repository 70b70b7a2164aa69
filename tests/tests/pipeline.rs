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
    // Every batch stored so far has been correlated: no backlog, and no batch left waiting
    // on the clock (one left behind would show as a wait of a second or more by now).
    let health = wait_until(WAIT, "/healthz to show an empty correlation backlog", || {
        let health = haidang_tests::http_get(collector.http, "/healthz");
        health.contains("correlation backlog: 0 batches, the oldest waiting 0 s\n").then_some(health)
    });
    assert!(health.starts_with("HTTP/1.1 200") && health.contains("\r\n\r\nok\nstore: ok\n"), "{health}");
    let metrics = collector.metrics();
    assert!(metrics.contains("haidang_correlate_backlog_age_seconds 0\n"), "{metrics}");
}

/// The running agent's YARA scanner: a file planted in a watched directory reaches the
/// collector as a malware event. The rules are compiled once, by a child process, into the
/// state directory; a restarted agent reads them from there instead of compiling again.
#[test]
fn malware_found_by_the_running_agent_reaches_the_collector_and_its_rules_are_compiled_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("watched");
    std::fs::create_dir_all(&root).expect("mkdir");
    let planted = root.join("eicar.com");
    let eicar = [r"X5O!P%@AP[4\PZX54(P^)7CC)7}$", "EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"].concat();
    std::fs::write(&planted, eicar).expect("plant");
    let rules = Path::new(env!("CARGO_MANIFEST_DIR")).join("../rules/yara");
    let config = format!(
        "{}[scan]\nyara_rules = [{:?}]\ncpu_share = 1.0\n",
        fim_config(&root, false),
        rules.display().to_string()
    );
    let collector = Collector::start(&dir.path().join("collector"));
    let mut agent = Agent::enroll(&collector, &dir.path().join("agent"), &config);
    agent.start();
    let id = agent.id.clone();
    let found = wait_until(WAIT, "malware event", || {
        collector.events(&id, Some("malware")).into_iter().find(|e| e["path"] == planted.display().to_string().as_str())
    });
    assert_eq!(
        (found["rule"].as_str(), found["namespace"].as_str()),
        (Some("eicar_test_file"), Some("eicar")),
        "{found}"
    );

    let compiled: Vec<_> = std::fs::read_dir(agent.state.join("yara-rules"))
        .expect("compiled rules in the state directory")
        .map(|e| e.expect("entry").path())
        .collect();
    assert!(compiled.len() == 1 && compiled[0].extension().is_some_and(|e| e == "yarac"), "{compiled:?}");
    let log = || std::fs::read_to_string(dir.path().join("agent.log")).expect("agent log");
    assert_eq!(log().matches("YARA rules loaded").count(), 1, "{}", log());
    assert!(log().contains("from_cache=false"), "{}", log());

    agent.stop();
    agent.start();
    wait_until(WAIT, "rules loaded again", || (log().matches("YARA rules loaded").count() == 2).then_some(()));
    assert!(log().contains("from_cache=true"), "{}", log());
    assert!(!log().contains("compiling them here"), "the child compiled the rules: {}", log());
}
