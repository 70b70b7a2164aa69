//! Cloned images: an enrolled agent's state directory copied to a second machine (here a
//! second state directory whose configuration names another machine id file, as a cloned VM
//! keeps the disk and gets another machine). Both run against a real collector: the copy is
//! refused and one alert names both machines, however often it reconnects; when its token was
//! created with `--allow-reenroll` the copy takes a new identity and both stream.

use haidang_tests::{Agent, Collector, fim_config, wait_until};
use serde_json::Value;
use std::path::Path;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(45);

/// The FIM configuration of `fim_config`, plus the machine id file the agent reads.
fn config(watched: &Path, machine_id: &Path) -> String {
    std::fs::create_dir_all(watched).expect("mkdir watched");
    format!("{}[machine]\nid_file = {:?}\n", fim_config(watched, false), machine_id.display().to_string())
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir copy");
    for entry in std::fs::read_dir(from).expect("read state dir") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy file");
        }
    }
}

fn clone_alerts(collector: &Collector) -> Vec<Value> {
    collector.alerts().into_iter().filter(|a| a["rule"] == "haidang-cloned-agent").collect()
}

/// Whether the collector stored, under `agent`, a file event for a path under `dir`.
fn has_file_event_under(collector: &Collector, agent: &str, dir: &Path) -> bool {
    let prefix = dir.display().to_string();
    collector.events(agent, Some("file")).iter().any(|e| e["path"].as_str().is_some_and(|p| p.starts_with(&prefix)))
}

struct Fleet {
    _dir: tempfile::TempDir,
    collector: Collector,
    original: Agent,
    copy: Agent,
    watched: (std::path::PathBuf, std::path::PathBuf),
}

/// Enrolls an agent with `token_args`, runs it once on machine A (so its state records A),
/// stops it, copies its state directory to a second agent on machine B, and starts both.
fn cloned_fleet(token_args: &[&str]) -> Fleet {
    let dir = tempfile::tempdir().expect("tempdir");
    let collector = Collector::start(&dir.path().join("collector"));
    let (machine_a, machine_b) = (dir.path().join("machine-id-a"), dir.path().join("machine-id-b"));
    std::fs::write(&machine_a, "0d5b3c6e9a7f4e21b8d1c2a3f4e5d6c7\n").expect("machine id a");
    std::fs::write(&machine_b, "7c6d5e4f3a2c1d8b12e4f7a9e6c3b5d0\n").expect("machine id b");
    let watched = (dir.path().join("watched-a"), dir.path().join("watched-b"));

    let mut args = vec!["token", "create", "--group", "e2e", "--uses", "1", "--ttl", "1h"];
    args.extend_from_slice(token_args);
    let token = collector.cli_ok(&args).trim().to_string();
    let (state_a, state_b) = (dir.path().join("agent-a"), dir.path().join("agent-b"));
    let mut original = Agent::enroll_with(&collector, &token, &state_a, &config(&watched.0, &machine_a));
    assert!(original.identity().get("machine").is_none(), "enrollment does not fingerprint the machine");
    original.start();
    wait_until(WAIT, "the original connected", || (original.status()["connection"] == "connected").then_some(()));
    let recorded = original.identity()["machine"].as_str().expect("the first run records the machine").to_string();
    assert_eq!(original.status()["machine"], recorded.as_str());
    original.stop();

    copy_dir(&state_a, &state_b);
    let mut copy = Agent::at(&state_b, &config(&watched.1, &machine_b));
    assert_eq!(copy.id, original.id, "the copy holds the original's identity");
    original.start();
    copy.start();
    Fleet { _dir: dir, collector, original, copy, watched }
}

#[test]
fn a_copied_agent_is_refused_and_one_alert_names_both_machines() {
    let Fleet { _dir, collector, original, mut copy, watched } = cloned_fleet(&[]);
    let refused = wait_until(WAIT, "the copy refused", || {
        let status = copy.status();
        status["connection"].as_str().is_some_and(|c| c.contains("(cloned_agent)")).then_some(status)
    });
    let reason = refused["connection"].as_str().expect("connection");
    assert!(reason.contains("haidang-agent enroll") && reason.contains("--allow-reenroll"), "{reason}");
    wait_until(WAIT, "the original connected", || (original.status()["connection"] == "connected").then_some(()));

    // Exactly one streams: a change on each machine, and only the original's arrives.
    std::fs::write(watched.0.join("a.txt"), "from the original").expect("write a");
    std::fs::write(watched.1.join("b.txt"), "from the copy").expect("write b");
    wait_until(WAIT, "the original's file event", || {
        has_file_event_under(&collector, &original.id, &watched.0).then_some(())
    });
    std::thread::sleep(Duration::from_secs(3));
    assert!(!has_file_event_under(&collector, &original.id, &watched.1), "the copy's events were stored");
    assert_eq!(original.status()["connection"], "connected", "the copy did not displace the original");

    let (machine_a, machine_b) = (original.status()["machine"].clone(), copy.status()["machine"].clone());
    assert_ne!(machine_a, machine_b);
    let alerts = clone_alerts(&collector);
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    let alert = &alerts[0];
    assert_eq!(alert["agent_id"], original.id.as_str());
    assert_eq!(alert["severity"], "high");
    let title = alert["title"].as_str().expect("title");
    let host = sysinfo_hostname();
    for named in [machine_a.as_str().expect("a"), machine_b.as_str().expect("b"), host.as_str(), "refused"] {
        assert!(title.contains(named), "{named} not in {title}");
    }
    let group = &alert["group"];
    assert_eq!(group["first_machine"], machine_a, "{group}");
    assert_eq!(group["copy_machine"], machine_b, "{group}");
    assert_eq!(group["first_host"], host.as_str(), "{group}");
    assert_eq!(group["copy_host"], host.as_str(), "{group}");

    // Reconnects of the same copy raise nothing more.
    for _ in 0..2 {
        copy.kill();
        copy.start();
        wait_until(WAIT, "the restarted copy refused", || {
            let status = copy.status();
            (status["running"] == true && status["connection"].as_str().is_some_and(|c| c.contains("(cloned_agent)")))
                .then_some(())
        });
    }
    assert_eq!(clone_alerts(&collector).len(), 1, "one alert per copy, not per reconnect");
    assert_eq!(collector.agents().len(), 1, "no identity was given to the copy");
}

#[test]
fn a_copy_of_an_agent_allowed_to_reenroll_takes_a_new_identity_and_both_stream() {
    let Fleet { _dir, collector, original, mut copy, watched } = cloned_fleet(&["--allow-reenroll"]);
    let old_id = original.id.clone();
    let new_id = wait_until(WAIT, "the copy re-enrolled and connected", || {
        let status = copy.status();
        let id = status["agent_id"].as_str().filter(|id| *id != old_id)?.to_string();
        (status["connection"] == "connected").then_some(id)
    });
    let identity = copy.identity();
    assert_eq!(identity["agent_id"], new_id.as_str(), "the new identity is saved");
    assert_eq!(identity["machine"], copy.status()["machine"], "and belongs to the copy's machine");
    assert_eq!(original.identity()["agent_id"], old_id.as_str());

    std::fs::write(watched.0.join("a.txt"), "from the original").expect("write a");
    std::fs::write(watched.1.join("b.txt"), "from the copy").expect("write b");
    wait_until(WAIT, "the original's file event", || {
        has_file_event_under(&collector, &old_id, &watched.0).then_some(())
    });
    wait_until(WAIT, "the copy's file event under its new identity", || {
        has_file_event_under(&collector, &new_id, &watched.1).then_some(())
    });
    assert!(!has_file_event_under(&collector, &old_id, &watched.1), "the copy streamed as the original");

    let agents = collector.agents();
    assert_eq!(agents.len(), 2, "{agents:?}");
    let new = agents.iter().find(|a| a["id"] == new_id.as_str()).expect("the new agent is listed");
    assert_eq!(new["group"], "e2e");
    assert_eq!(new["revoked"], false);
    assert_eq!(new["reenroll"], true, "a copy of the copy may re-enroll too");
    let alerts = clone_alerts(&collector);
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    let title = alerts[0]["title"].as_str().expect("title");
    assert!(title.contains(&format!("re-enrolled as agent {new_id}")), "{title}");

    // The copy keeps its new identity across a restart, and nothing new is raised.
    copy.stop();
    copy.start();
    wait_until(WAIT, "the copy reconnected", || {
        let status = copy.status();
        (status["running"] == true && status["connection"] == "connected").then_some(())
    });
    assert_eq!(copy.identity()["agent_id"], new_id.as_str());
    assert_eq!(collector.agents().len(), 2);
    assert_eq!(clone_alerts(&collector).len(), 1);
    assert_eq!(original.status()["connection"], "connected");
}

/// The host name the agents report (both run on this host): the kernel's.
fn sysinfo_hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname").expect("host name").trim().to_string()
}
