//! Alerts raised directly from agent events, until the Sigma engine takes over: a change to
//! a path the agent's policy marks `critical`.

use crate::store::records::Alert;
use haidang_proto::event::FileEvent;
use haidang_proto::{AgentId, Event, EventBody, Timestamp};

pub const CRITICAL_CHANGE_RULE: &str = "haidang.fim.critical_change";

/// The alerts a batch of events raises (ids are assigned when stored).
pub fn raised_by(agent: AgentId, events: &[Event]) -> Vec<Alert> {
    events
        .iter()
        .filter_map(|e| match &e.body {
            EventBody::File(f) if f.critical => Some(critical_change(agent, e, f)),
            _ => None,
        })
        .collect()
}

fn critical_change(agent: AgentId, event: &Event, f: &FileEvent) -> Alert {
    let hash = |m: &Option<haidang_proto::event::FileMeta>| m.as_ref().and_then(|m| m.hash).map(hex::encode);
    Alert {
        id: 0,
        created: Timestamp::now(),
        time: event.time,
        agent_id: agent,
        rule: CRITICAL_CHANGE_RULE.into(),
        title: format!("Critical file {}: {}", f.action.as_str(), f.path.display_safe()),
        severity: "high".into(),
        path: Some(f.path.as_str().to_owned()),
        action: Some(f.action.as_str().to_owned()),
        old_hash: hash(&f.old),
        new_hash: hash(&f.new),
        event_seqs: vec![event.seq],
    }
}
