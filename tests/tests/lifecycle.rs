//! The agent reports its own lifecycle: `started` saying how the previous run ended, and
//! `stopped` naming the signal, delivered before a clean stop exits.
//!
//! Clock jumps cannot be caused here without moving the system clock under every other test;
//! the detector is unit-tested in agent/src/lifecycle.rs instead.

use haidang_tests::{Agent, Collector, wait_until};
use serde_json::Value;
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(30);

/// The agent's lifecycle events, oldest first.
fn lifecycle(collector: &Collector, agent: &str) -> Vec<Value> {
    let mut events = collector.events(agent, Some("agent"));
    events.sort_by_key(|e| e["seq"].as_u64());
    events
}

fn with_action<'a>(events: &'a [Value], action: &str) -> Vec<&'a Value> {
    events.iter().filter(|e| e["action"] == action).collect()
}

/// Waits until the collector holds `n` `started` events and returns all lifecycle events.
fn wait_for_starts(collector: &Collector, agent: &str, n: usize) -> Vec<Value> {
    wait_until(WAIT, &format!("{n} started events"), || {
        let events = lifecycle(collector, agent);
        (with_action(&events, "started").len() >= n).then_some(events)
    })
}

#[test]
fn starts_and_stops_are_reported_with_how_the_previous_run_ended() {
    let dir = tempfile::tempdir().expect("tempdir");
    let collector = Collector::start(&dir.path().join("collector"));
    let mut agent = Agent::enroll(&collector, &dir.path().join("agent"), "[process]\nenabled = false\n");
    let id = agent.id.clone();

    agent.start();
    let events = wait_for_starts(&collector, &id, 1);
    let first = with_action(&events, "started")[0];
    assert_eq!(first["detail"], "first run of this agent", "{first}");
    assert_eq!(first["kind"], "agent");
    assert!(first["clock_jump_secs"].is_null(), "{first}");
    assert!(first["agent_version"].as_str().is_some_and(|v| !v.is_empty()), "{first}");

    // A clean stop delivers `stopped` before the process exits: nothing runs to send it later.
    wait_until(WAIT, "agent connected", || (agent.status()["connection"] == "connected").then_some(()));
    agent.stop();
    let stopped = wait_until(Duration::from_secs(5), "stopped event delivered at shutdown", || {
        with_action(&lifecycle(&collector, &id), "stopped").first().map(|e| (*e).clone())
    });
    assert_eq!(stopped["detail"], "stopped by SIGTERM", "{stopped}");
    assert!(stopped["clock_jump_secs"].is_null(), "{stopped}");

    agent.start();
    let events = wait_for_starts(&collector, &id, 2);
    let second = with_action(&events, "started")[1];
    assert_eq!(second["detail"], "previous run ended cleanly", "{second}");
    assert!(second["seq"].as_u64() > stopped["seq"].as_u64(), "{stopped} then {second}");

    agent.kill();
    agent.start();
    let events = wait_for_starts(&collector, &id, 3);
    let third = with_action(&events, "started")[2];
    assert_eq!(third["detail"], "previous run did not shut down cleanly (killed, crashed or power loss)", "{third}");
    assert_eq!(with_action(&events, "stopped").len(), 1, "a killed agent records no stop: {events:?}");

    agent.stop();
    let events = wait_until(WAIT, "second stopped event", || {
        let events = lifecycle(&collector, &id);
        (with_action(&events, "stopped").len() == 2).then_some(events)
    });
    // The run's `stopped` comes after everything else it recorded.
    let last = collector.events(&id, None).into_iter().filter_map(|e| e["seq"].as_u64()).max();
    assert_eq!(with_action(&events, "stopped")[1]["seq"].as_u64(), last, "{events:?}");
}

#[test]
fn a_stop_while_the_collector_is_away_is_quick_and_delivered_later() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("collector");
    let mut collector = Collector::start(&data);
    let (quic, http) = (collector.quic, collector.http);
    let mut agent = Agent::enroll(&collector, &dir.path().join("agent"), "[process]\nenabled = false\n");
    let id = agent.id.clone();
    agent.start();
    wait_for_starts(&collector, &id, 1);

    collector.kill();
    let stopping = Instant::now();
    agent.stop();
    // Waiting for an absent collector is bounded (2 s), so service managers are not held up.
    assert!(stopping.elapsed() < Duration::from_secs(10), "stop took {:?}", stopping.elapsed());

    // `stopped` was durably spooled: the next run delivers it.
    collector = Collector::start_on(&data, quic, http);
    agent.start();
    let events = wait_for_starts(&collector, &id, 2);
    let stopped = with_action(&events, "stopped");
    assert_eq!(stopped.len(), 1, "{events:?}");
    assert_eq!(stopped[0]["detail"], "stopped by SIGTERM");
    assert_eq!(with_action(&events, "started")[1]["detail"], "previous run ended cleanly");
}
