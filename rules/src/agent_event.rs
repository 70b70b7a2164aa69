//! An event an agent sent, as the rules see it (see [`AgentEvent`]).

use std::borrow::Cow;

use haidang_proto::event::{AgentId, Event, EventBody};
use rsigma_eval::{EvaluationResult, EventValue};
use serde_json::Value;

use crate::{NativeEvent, RuleSet, WinEvent};

/// One stored agent event on its way through the rules: a Windows event log record
/// (`win_event`) in the shape of a saved log's record, so SigmaHQ's Windows rules fire on live
/// agents exactly as `hunt` fires them over EVTX files ([`WinEvent`]); every other kind through
/// its typed fields ([`NativeEvent`]).
///
/// Either way `event_id` names the stored event (`AGENT:SEQ`), which the correlation windows
/// keep so that an alert can name the events behind it.
pub enum AgentEvent<'a> {
    /// Our own event kinds.
    Native(NativeEvent<'a>),
    /// A Windows event log record.
    Windows {
        /// The record.
        record: WinEvent<'a>,
        /// `AGENT:SEQ`.
        event_id: String,
        /// The event's time in Unix seconds.
        time_secs: i64,
    },
}

impl<'a> AgentEvent<'a> {
    /// The JSON record of a `win_event`, for [`AgentEvent::new`] to borrow; `None` for other
    /// kinds. `Some(Err)` when the agent sent a record that is not JSON.
    pub fn parse_record(event: &Event) -> Option<Result<Value, serde_json::Error>> {
        match &event.body {
            EventBody::WinEvent(w) => Some(serde_json::from_str(&w.record)),
            _ => None,
        }
    }

    /// `agent` sent `event`; `hostname` is what the collector knows its machine as. `record` is
    /// the event's parsed record ([`AgentEvent::parse_record`]); without one a `win_event` is
    /// evaluated by its typed fields (channel, event ID) only.
    pub fn new(agent: &AgentId, event: &'a Event, hostname: Option<&'a str>, record: Option<&'a Value>) -> Self {
        match record {
            Some(record) if matches!(event.body, EventBody::WinEvent(_)) => AgentEvent::Windows {
                record: WinEvent::new(record),
                event_id: format!("{agent}:{}", event.seq),
                time_secs: event.time.0.div_euclid(1_000_000_000),
            },
            _ => AgentEvent::Native(NativeEvent::new(agent, event, hostname)),
        }
    }

    /// Every detection rule this event matches. `product` is the agent's operating system,
    /// which decides our own events' logsource; a Windows record routes itself by its channel
    /// and event ID.
    pub fn detect(&self, rules: &RuleSet, product: &str) -> Vec<EvaluationResult> {
        match self {
            AgentEvent::Native(native) => rules.detect(self, Some(&native.logsource(product))),
            AgentEvent::Windows { record, .. } => record.detect_as(rules, self),
        }
    }

    /// Event time in Unix seconds, the clock correlation windows run on.
    pub fn time_secs(&self) -> i64 {
        match self {
            AgentEvent::Native(native) => native.time_secs(),
            AgentEvent::Windows { time_secs, .. } => *time_secs,
        }
    }
}

impl rsigma_eval::Event for AgentEvent<'_> {
    fn get_field(&self, path: &str) -> Option<EventValue<'_>> {
        match self {
            AgentEvent::Native(native) => native.get_field(path),
            AgentEvent::Windows { event_id, .. } if path == "event_id" => {
                Some(EventValue::Str(Cow::Borrowed(event_id)))
            }
            AgentEvent::Windows { record, .. } => record.get_field(path),
        }
    }

    fn any_string_value(&self, pred: &dyn Fn(&str) -> bool) -> bool {
        match self {
            AgentEvent::Native(native) => native.any_string_value(pred),
            AgentEvent::Windows { record, .. } => record.any_string_value(pred),
        }
    }

    fn all_string_values(&self) -> Vec<Cow<'_, str>> {
        match self {
            AgentEvent::Native(native) => native.all_string_values(),
            AgentEvent::Windows { record, .. } => record.all_string_values(),
        }
    }

    fn visit_string_values(&self, visit: &mut dyn FnMut(&str)) {
        match self {
            AgentEvent::Native(native) => native.visit_string_values(visit),
            AgentEvent::Windows { record, .. } => record.visit_string_values(visit),
        }
    }

    fn to_json(&self) -> Value {
        match self {
            AgentEvent::Native(native) => native.to_json(),
            AgentEvent::Windows { record, .. } => record.to_json(),
        }
    }

    fn visit_top_level_keys(&self, visit: &mut dyn FnMut(&str)) -> bool {
        match self {
            AgentEvent::Native(native) => native.visit_top_level_keys(visit),
            AgentEvent::Windows { record, .. } => {
                let known = record.visit_top_level_keys(visit);
                if known {
                    visit("event_id");
                }
                known
            }
        }
    }

    fn field_keys(&self) -> Vec<Cow<'_, str>> {
        match self {
            AgentEvent::Native(native) => native.field_keys(),
            AgentEvent::Windows { record, .. } => record.field_keys(),
        }
    }
}
