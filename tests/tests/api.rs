//! The admin API of a real collector: its OpenAPI description is served without a token and
//! names every route, and every answer deserialises into the type both sides share.

use haidang_collector::admin::Client;
use haidang_collector::api::types::{EventDetail, EventQuery, RuleSummary};
use haidang_proto::Timestamp;
use haidang_proto::wire::Ack;
use haidang_tests::raw::{RawAgent, events};
use haidang_tests::{Agent, Collector, fim_config, wait_until};
use serde_json::Value;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(30);

fn http() -> ureq::Agent {
    ureq::Agent::config_builder().http_status_as_error(false).build().into()
}

/// GET `path` (with the API token when given): status and body.
fn get(collector: &Collector, path: &str, token: Option<&str>) -> (u16, String) {
    let mut request = http().get(format!("http://{}{path}", collector.http));
    if let Some(token) = token {
        request = request.header("Authorization", &format!("Bearer {token}"));
    }
    let mut response = request.call().expect("HTTP request");
    (response.status().as_u16(), response.body_mut().read_to_string().expect("body"))
}

#[test]
fn the_openapi_description_needs_no_token_and_every_documented_route_is_served() {
    let dir = tempfile::tempdir().expect("tempdir");
    let collector = Collector::start(&dir.path().join("c"));
    let token = collector.api_token();

    let (status, body) = get(&collector, "/api/v1/openapi.json", None);
    assert_eq!(status, 200, "{body}");
    let doc: Value = serde_json::from_str(&body).expect("the description is JSON");
    assert!(doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.")), "{}", doc["openapi"]);
    let paths = doc["paths"].as_object().expect("paths");
    for expected in ["/healthz", "/metrics", "/api/v1/ca", "/api/v1/events", "/api/v1/alerts", "/api/v1/rules/reload"] {
        assert!(paths.contains_key(expected), "{expected} is not described");
    }

    // Each documented GET route answers; the guarded ones only with the token.
    for (path, item) in paths {
        let Some(operation) = item.get("get") else { continue };
        let guarded = operation.get("security").is_some();
        let (status, body) = get(&collector, path, Some(&token));
        assert_eq!(status, 200, "GET {path}: {body}");
        if guarded {
            let (status, body) = get(&collector, path, None);
            assert_eq!(status, 401, "GET {path} without a token: {body}");
            let error: haidang_collector::api::types::ErrorBody = serde_json::from_str(&body).expect("error body");
            assert!(error.error.contains("HAIDANG_API_TOKEN"), "{}", error.error);
        }
    }
}

#[test]
fn every_answer_deserialises_into_its_type() {
    let dir = tempfile::tempdir().expect("tempdir");
    let collector = Collector::start(&dir.path().join("c"));
    let root = dir.path().join("watched");
    std::fs::create_dir_all(root.join("secret")).expect("mkdir");
    let mut agent = Agent::enroll(&collector, &dir.path().join("agent"), &fim_config(&root, true));
    agent.start();
    wait_until(WAIT, "agent connected", || (agent.status()["connection"] == "connected").then_some(()));
    let client = Client::new(&format!("http://{}", collector.http), Some(collector.api_token()));

    assert_eq!(client.ca().expect("GET /ca").fingerprint, collector.fingerprint());
    let plan = root.join("secret/plan.txt");
    std::fs::write(&plan, "kế hoạch").expect("critical change");
    let plan = plan.display().to_string();
    let alert = wait_until(WAIT, "the critical-change alert", || {
        client.alerts(1000).expect("GET /alerts").into_iter().find(|a| a.path.as_deref() == Some(plan.as_str()))
    });
    assert_eq!(alert.title, "Critical File Changed");
    assert_eq!(alert.agent_id, agent.id);
    assert_eq!(alert.level, alert.severity);

    let events = client
        .events(&EventQuery { agent: Some(agent.id.clone()), kind: Some("file".into()), ..EventQuery::default() })
        .expect("GET /events")
        .collect::<anyhow::Result<Vec<_>>>()
        .expect("every event line");
    let file = events
        .iter()
        .find_map(|e| match &e.detail {
            EventDetail::File(f) if f.path == plan => Some(f),
            _ => None,
        })
        .expect("the file event");
    assert!(file.critical);
    assert!(file.hash.is_some());
    // Every kind the agent sent deserialises, not only file events.
    let all = client
        .events(&EventQuery { limit: Some(1_000_000), ..EventQuery::default() })
        .expect("GET /events")
        .collect::<anyhow::Result<Vec<_>>>()
        .expect("every event line");
    assert!(all.iter().any(|e| matches!(&e.detail, EventDetail::File(f) if f.path == plan)));
    assert!(all.iter().any(|e| !matches!(e.detail, EventDetail::File(_))), "other kinds are listed too");

    let agents = client.agents().expect("GET /agents");
    let listed = agents.iter().find(|a| a.id == agent.id).expect("the agent is listed");
    assert!(listed.connected && !listed.revoked && listed.batches > 0 && listed.last_seq > 0, "{listed:?}");

    let rules: RuleSummary = client.rules().expect("GET /rules");
    assert!(rules.loaded > 0 && rules.detection_rules > 0 && rules.skipped == 0, "{rules:?}");
    assert_eq!(client.reload_rules().expect("POST /rules/reload").loaded, rules.loaded);

    let revoked = client.revoke(&agent.id).expect("POST /agents/{id}/revoke");
    assert!(revoked.revoked && revoked.batches >= listed.batches, "{revoked:?}");
    let missing = client.revoke(&"0".repeat(32)).expect_err("an unknown agent");
    assert!(missing.to_string().contains("404") && missing.to_string().contains("no agent"), "{missing}");
}

/// The event list is streamed (JSON lines read as they come), across many of the store
/// reader's chunks: every event arrives, oldest first, and the limit keeps the newest.
#[test]
fn events_list_streams_thousands_of_events_in_order_and_honours_the_limit() {
    const BATCHES: u64 = 7;
    const PER_BATCH: u64 = 500;
    let dir = tempfile::tempdir().expect("tempdir");
    let collector = Collector::start(&dir.path().join("c"));
    let raw = RawAgent::enroll(&collector, "many-events");
    let mut conn = raw.connect().expect("connect");
    let start = Timestamp::now().0;
    let mut previous = None;
    for b in 0..BATCHES {
        let mut batch_events = events(b * PER_BATCH + 1, PER_BATCH, "stream");
        for e in &mut batch_events {
            e.time = Timestamp(start + e.seq as i64 * 1_000);
        }
        let batch = raw.seal(previous.as_ref(), &batch_events);
        conn.send_batch(&batch).expect("send batch");
        let last_seq = (b + 1) * PER_BATCH;
        assert_eq!(conn.expect_ack(), Ack { batch_no: b + 1, last_seq, duplicate: false });
        previous = Some(batch);
    }
    let total = BATCHES * PER_BATCH;
    let id = raw.id.to_string();
    let seqs = |lines: Vec<Value>| -> Vec<u64> { lines.iter().map(|e| e["seq"].as_u64().expect("seq")).collect() };

    let all = collector.events(&id, None);
    assert_eq!(seqs(all), (1..=total).collect::<Vec<_>>(), "every event, oldest first");

    let newest = collector.json_lines(&["events", "list", "--json", "--limit", "1234", "--agent", &id]);
    assert_eq!(seqs(newest), (total - 1233..=total).collect::<Vec<_>>(), "the newest 1234 by agent");
    let newest = collector.json_lines(&["events", "list", "--json", "--limit", "2345"]);
    assert_eq!(seqs(newest), (total - 2344..=total).collect::<Vec<_>>(), "the newest 2345 by time");

    let table = collector.cli_ok(&["events", "list", "--limit", "1500", "--agent", &id]);
    assert_eq!(table.lines().count(), 1 + 1500, "a header and one row an event");
}
