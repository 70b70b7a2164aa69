//! The correlation windows: Sigma correlation rules evaluated over the detections rsigma finds.
//!
//! Correlation Rules Specification v2.1, "Temporal Proximity": "All events defined by the rules
//! referred by the rule field must occur in the time frame defined by timespan." rsigma 0.23's
//! windows assume events arrive in time order, count an event once per referred rule it matches,
//! and feed a chained correlation only the child's own group-by values (reports 15–17 in
//! `rules/README.md`); none of that can be corrected from outside its engine, so the windows are
//! ours. Detection stays rsigma's.
//!
//! A window is the events of one correlation and one group, kept sorted by event time. An event
//! is judged on the window of one timespan ending at it; an event older than the newest one of
//! its group also on each window ending at a later event within a timespan of it, where it fires
//! only what it changes from not met to met (what evaluation in time order would have fired).
//!
//! Memory is bounded by [`MAX_WINDOW_ENTRIES`], [`MAX_ENTRIES`] and [`MAX_WINDOWS`]; what is
//! dropped beyond them can only make a correlation count less, never more.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;

use rsigma_eval::{CorrelationBody, EvaluationResult, Event, EventRef, EventValue, ResultBody, RuleHeader};
use rsigma_parser::{
    ConditionExpr, ConditionOperator, CorrelationCondition, CorrelationRule, CorrelationType, Level, WindowMode,
};
use serde::{Deserialize, Serialize};

use crate::correlation::Written;

/// Entries one window keeps; beyond it the oldest are dropped. A count threshold the cap would
/// keep out of reach is refused at load.
pub(crate) const MAX_WINDOW_ENTRIES: usize = 10_000;
/// Entries all windows keep together (about 100 bytes each); beyond it the windows whose newest
/// event is oldest are dropped, down to nine tenths.
pub(crate) const MAX_ENTRIES: usize = 1_000_000;
/// Windows (correlation and group) kept together; beyond it as [`MAX_ENTRIES`].
pub(crate) const MAX_WINDOWS: usize = 100_000;
/// How much older than the newest event of its group an event may arrive and still be counted
/// with every event it shares a window with: a timespan, at most this. A window keeps its events
/// that long past a timespan, so at most twice what a window in time order needs: the collector
/// saves every window after each round, and a one-minute window of a busy agent kept an hour
/// longer would be sixty times larger.
pub(crate) const LATE_SECS: i64 = 3600;
/// Events a firing names (the latest of its window), as rsigma's default.
const MAX_REFS: usize = 10;
/// Correlations chained on correlations are followed this deep (a cycle stops there).
const MAX_CHAIN_DEPTH: usize = 10;
/// Snapshot format; rsigma's own snapshots were version 1.
const SNAPSHOT_VERSION: u32 = 2;
/// Event fields that identify an event in a firing's references, in rsigma's order.
const EVENT_ID_FIELDS: [&str; 5] = ["id", "_id", "event_id", "EventRecordID", "event.id"];

/// A correlation rule, compiled.
struct Correlation {
    id: Option<String>,
    title: String,
    level: Option<Level>,
    tags: Vec<String>,
    custom_attributes: Arc<HashMap<String, serde_json::Value>>,
    kind: CorrelationType,
    /// The `rules` it refers to, as written.
    refs: Vec<String>,
    group_by: Vec<GroupField>,
    timespan: i64,
    predicates: Vec<(ConditionOperator, f64)>,
    /// `value_*`: the fields whose values are counted or added up.
    fields: Vec<String>,
    /// rsigma's string condition on temporal rules, over the names of the rules seen.
    expression: Option<ConditionExpr>,
    suppress: i64,
    /// rsigma's `rsigma.action: reset`: a window is emptied when it fires.
    reset: bool,
    /// What the saved windows of this correlation must match to be restored.
    fingerprint: String,
}

struct GroupField {
    name: String,
    /// Referred rule → the field it holds this value in (`aliases`).
    aliases: HashMap<String, String>,
}

/// What one event adds to a window besides its time.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
enum Value {
    None,
    /// `temporal*`: the referred rules it matched (indices into `refs`).
    Rules(Vec<u16>),
    /// `value_count`: the field values, joined.
    Text(Box<str>),
    /// `value_sum`, `value_avg`, `value_median`.
    Number(f64),
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct Entry {
    time: i64,
    value: Value,
    event: Option<Box<str>>,
}

/// Events of one correlation and group, sorted by time (equal times in arrival order).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct Window {
    entries: VecDeque<Entry>,
}

type WindowKey = (usize, Vec<String>);

/// Open correlation windows, for persisting across a restart. Restored only into correlations
/// whose type, rules, groups and fields are unchanged.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct CorrelationSnapshot {
    version: u32,
    /// Not `windows`: an rsigma snapshot (its `windows` a map) decodes, and is refused by version.
    #[serde(default)]
    groups: Vec<SavedWindow>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct SavedWindow {
    correlation: String,
    fingerprint: String,
    group: Vec<String>,
    last_alert: Option<i64>,
    entries: VecDeque<Entry>,
}

/// The correlation rules and their windows.
#[derive(Default)]
pub(crate) struct Correlator {
    correlations: Vec<Correlation>,
    /// A result's rule id → the correlations referring to that rule, with which reference.
    referrers: HashMap<String, Vec<(usize, u16)>>,
    windows: HashMap<WindowKey, Window>,
    last_alert: HashMap<WindowKey, i64>,
    entries: usize,
}

/// Why a correlation cannot be evaluated by these windows, if it cannot.
pub(crate) fn unsupported(rule: &CorrelationRule, thresholds: &[(ConditionOperator, f64)]) -> Option<String> {
    if rule.window != WindowMode::Sliding {
        return Some(format!("rsigma's {:?} window is not supported: the specification's windows slide", rule.window));
    }
    if rule.rules.len() > usize::from(u16::MAX) {
        return Some("refers to more than 65535 rules".to_owned());
    }
    let known = ["rsigma.suppress", "rsigma.action"];
    if let Some(attribute) =
        rule.custom_attributes.keys().find(|k| k.starts_with("rsigma.") && !known.contains(&k.as_str()))
    {
        return Some(format!("{attribute} is not supported (only rsigma.suppress and rsigma.action are)"));
    }
    if let Some(action) = rule.custom_attributes.get("rsigma.action")
        && !matches!(action.as_str(), Some("alert" | "reset"))
    {
        return Some("rsigma.action must be alert or reset".to_owned());
    }
    if let Some(suppress) = rule.custom_attributes.get("rsigma.suppress")
        && suppress.as_str().and_then(|s| rsigma_parser::Timespan::parse(s).ok()).is_none()
    {
        return Some("rsigma.suppress is not a timespan".to_owned());
    }
    let counts = matches!(rule.correlation_type, CorrelationType::EventCount | CorrelationType::ValueCount);
    let beyond_a_window = |&(op, value): &(ConditionOperator, f64)| match op {
        ConditionOperator::Gt => value >= MAX_WINDOW_ENTRIES as f64,
        ConditionOperator::Gte | ConditionOperator::Eq => value > MAX_WINDOW_ENTRIES as f64,
        _ => false,
    };
    if counts && thresholds.iter().any(beyond_a_window) {
        return Some(format!("the condition asks for more than the {MAX_WINDOW_ENTRIES} events a window keeps"));
    }
    None
}

impl Correlator {
    /// Compiles `correlations` (each already checked with [`unsupported`]); `detections` are the
    /// id and name of every detection rule that loaded (results carry the id).
    pub(crate) fn new(correlations: &[Written], detections: &[(String, Option<String>)], suppress: u64) -> Self {
        let compiled: Vec<Correlation> = correlations.iter().map(|c| compile(c, suppress)).collect();
        let mut referrers: HashMap<String, Vec<(usize, u16)>> = HashMap::new();
        let identities = detections
            .iter()
            .map(|(id, name)| (id.as_str(), name.as_deref()))
            .chain(correlations.iter().filter_map(|c| Some((c.rule.id.as_deref()?, c.rule.name.as_deref()))));
        for (id, name) in identities {
            for (index, correlation) in compiled.iter().enumerate() {
                for (position, reference) in correlation.refs.iter().enumerate() {
                    if reference == id || Some(reference.as_str()) == name {
                        let position = u16::try_from(position).unwrap_or(u16::MAX);
                        let list = referrers.entry(id.to_owned()).or_default();
                        if !list.contains(&(index, position)) {
                            list.push((index, position));
                        }
                    }
                }
            }
        }
        Correlator { correlations: compiled, referrers, ..Correlator::default() }
    }

    pub(crate) fn len(&self) -> usize {
        self.correlations.len()
    }

    /// Feeds one event's detections at `time` (event time, Unix seconds); returns the
    /// correlations that fired, chained ones included.
    pub(crate) fn process<E: Event>(
        &mut self,
        event: &E,
        detections: &[EvaluationResult],
        time: i64,
    ) -> Vec<EvaluationResult> {
        let ids: Vec<&str> = detections.iter().filter_map(|d| d.header.rule_id.as_deref()).collect();
        let mut fired = Vec::new();
        let mut pending = self.feed(event, &ids, time, &mut fired);
        for _ in 0..MAX_CHAIN_DEPTH {
            if pending.is_empty() {
                break;
            }
            // The children feed their parents with this event, at the end of the window they
            // fired on: those that fired at one time together, one entry per parent.
            pending.sort_unstable_by_key(|&(_, at)| at);
            let mut next = Vec::new();
            for same_time in pending.chunk_by(|a, b| a.1 == b.1) {
                let ids: Vec<String> = same_time.iter().filter_map(|&(c, _)| self.correlations[c].id.clone()).collect();
                let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
                next.extend(self.feed(event, &ids, same_time[0].1, &mut fired));
            }
            pending = next;
        }
        fired
    }

    /// Adds the event to the windows of the correlations referring to any of `rules` (one entry
    /// per correlation, whatever the number of its rules the event matched), judges them, and
    /// returns the correlations that fired with the time they fired at.
    fn feed<E: Event>(
        &mut self,
        event: &E,
        rules: &[&str],
        time: i64,
        out: &mut Vec<EvaluationResult>,
    ) -> Vec<(usize, i64)> {
        let mut matched: Vec<(usize, u16)> =
            rules.iter().filter_map(|r| self.referrers.get(*r)).flatten().copied().collect();
        if matched.is_empty() {
            return Vec::new();
        }
        matched.sort_unstable();
        matched.dedup();
        let event_id = event_id(event);
        let mut fired = Vec::new();
        let mut start = 0;
        while start < matched.len() {
            let index = matched[start].0;
            let end = start + matched[start..].iter().take_while(|(c, _)| *c == index).count();
            let positions: Vec<u16> = matched[start..end].iter().map(|(_, p)| *p).collect();
            start = end;
            let Some(group) = group_of(&self.correlations[index], event, &positions) else { continue };
            let Some(value) = value_of(&self.correlations[index], event, positions) else { continue };
            let key = (index, group);
            let new_group = !self.windows.contains_key(&key);
            if (new_group && self.windows.len() >= MAX_WINDOWS) || self.last_alert.len() > MAX_WINDOWS {
                self.shed(MAX_WINDOWS * 9 / 10, MAX_ENTRIES);
            }
            let correlation = &self.correlations[index];
            let window = self.windows.entry(key.clone()).or_default();
            let before = window.entries.len();
            let at = window.insert(Entry { time, value, event: event_id.clone() }, correlation.timespan);
            let judged = window.judge(correlation, at);
            self.entries = (self.entries + window.entries.len()).saturating_sub(before);
            if let Some((end_time, aggregate, refs)) = judged {
                let last = self.last_alert.get(&key).copied();
                if last.is_none_or(|last| end_time.saturating_sub(last).saturating_abs() >= correlation.suppress) {
                    self.last_alert.insert(key.clone(), last.map_or(end_time, |l| l.max(end_time)));
                    out.push(result(correlation, &key.1, aggregate, refs));
                    fired.push((index, end_time));
                    if correlation.reset {
                        self.entries -= self.windows.get(&key).map_or(0, |w| w.entries.len()).min(self.entries);
                        self.windows.remove(&key);
                    }
                }
            }
            if self.entries > MAX_ENTRIES {
                self.shed(MAX_WINDOWS, MAX_ENTRIES * 9 / 10);
            }
        }
        fired
    }

    /// Drops the windows whose newest event is oldest until at most `windows` windows and
    /// `entries` entries are left.
    fn shed(&mut self, windows: usize, entries: usize) {
        let mut by_age: Vec<(i64, WindowKey)> = self
            .windows
            .iter()
            .map(|(key, window)| (window.entries.back().map_or(i64::MIN, |e| e.time), key.clone()))
            .collect();
        by_age.sort_unstable_by_key(|(newest, _)| *newest);
        for (_, key) in by_age {
            if self.windows.len() <= windows && self.entries <= entries {
                break;
            }
            if let Some(window) = self.windows.remove(&key) {
                self.entries -= window.entries.len().min(self.entries);
            }
        }
        // A group's suppression goes with its window, so that neither outgrows the bound.
        let windows = &self.windows;
        self.last_alert.retain(|key, _| windows.contains_key(key));
    }

    /// Drops what can no longer count at `now` (event time): entries older than [`kept_for`],
    /// and suppressions that have run out.
    pub(crate) fn evict_expired(&mut self, now: i64) {
        let correlations = &self.correlations;
        self.windows.retain(|(index, _), window| {
            let keep_from = now.saturating_sub(kept_for(correlations[*index].timespan));
            while window.entries.front().is_some_and(|e| e.time < keep_from) {
                window.entries.pop_front();
            }
            !window.entries.is_empty()
        });
        self.entries = self.windows.values().map(|w| w.entries.len()).sum();
        self.last_alert
            .retain(|(index, _), last| now.saturating_sub(*last).saturating_abs() < correlations[*index].suppress);
    }

    pub(crate) fn export_state(&self) -> CorrelationSnapshot {
        let mut keys: HashSet<&WindowKey> = self.windows.keys().collect();
        keys.extend(self.last_alert.keys());
        let windows = keys
            .into_iter()
            .map(|key| {
                let correlation = &self.correlations[key.0];
                SavedWindow {
                    correlation: correlation.id.clone().unwrap_or_else(|| correlation.title.clone()),
                    fingerprint: correlation.fingerprint.clone(),
                    group: key.1.clone(),
                    last_alert: self.last_alert.get(key).copied(),
                    entries: self.windows.get(key).map(|w| w.entries.clone()).unwrap_or_default(),
                }
            })
            .collect();
        CorrelationSnapshot { version: SNAPSHOT_VERSION, groups: windows }
    }

    /// False, and nothing restored, if the snapshot is of another format.
    pub(crate) fn import_state(&mut self, snapshot: CorrelationSnapshot) -> bool {
        if snapshot.version != SNAPSHOT_VERSION {
            return false;
        }
        let by_id: HashMap<(&str, &str), usize> = self
            .correlations
            .iter()
            .enumerate()
            .map(|(index, c)| ((c.id.as_deref().unwrap_or(&c.title), c.fingerprint.as_str()), index))
            .collect();
        for saved in snapshot.groups {
            let Some(&index) = by_id.get(&(saved.correlation.as_str(), saved.fingerprint.as_str())) else { continue };
            let key = (index, saved.group);
            if let Some(last) = saved.last_alert {
                self.last_alert.insert(key.clone(), last);
            }
            let mut entries = saved.entries;
            entries.make_contiguous().sort_by_key(|e| e.time);
            while entries.len() > MAX_WINDOW_ENTRIES {
                entries.pop_front();
            }
            if !entries.is_empty() {
                self.windows.insert(key, Window { entries });
            }
        }
        self.entries = self.windows.values().map(|w| w.entries.len()).sum();
        if self.entries > MAX_ENTRIES || self.windows.len() > MAX_WINDOWS {
            self.shed(MAX_WINDOWS, MAX_ENTRIES);
        }
        true
    }
}

impl Window {
    /// Inserts `entry` after every entry not later than it, drops what is too old to share a
    /// window with any event still to come (or beyond the cap); returns the entry's position.
    fn insert(&mut self, entry: Entry, timespan: i64) -> usize {
        let time = entry.time;
        let mut at = self.entries.partition_point(|e| e.time <= time);
        self.entries.insert(at, entry);
        let newest = self.entries.back().map_or(time, |e| e.time);
        let keep_from = newest.saturating_sub(kept_for(timespan));
        while self.entries.len() > MAX_WINDOW_ENTRIES || self.entries.front().is_some_and(|e| e.time < keep_from) {
            self.entries.pop_front();
            at = at.saturating_sub(1);
        }
        at
    }

    /// Judges the windows the entry at `at` belongs to: the one ending at it, then those ending
    /// at each later entry within a timespan, where it must turn the condition from not met to
    /// met. The first that fires: its end time, value and event references.
    fn judge(&self, correlation: &Correlation, at: usize) -> Option<(i64, f64, Vec<EventRef>)> {
        let time = self.entries.get(at)?.time;
        let mut end = at;
        // The window ending at the entry includes the entries of its time that arrived before it.
        while end + 1 < self.entries.len() && self.entries[end + 1].time == time {
            end += 1;
        }
        let mut first = true;
        loop {
            let end_time = self.entries[end].time;
            if end_time.saturating_sub(time) > correlation.timespan {
                return None;
            }
            let start = self.entries.partition_point(|e| e.time < end_time.saturating_sub(correlation.timespan));
            let span = start..end + 1;
            if let Some(value) = aggregate(correlation, &self.entries, span.clone(), None)
                && (first || aggregate(correlation, &self.entries, span.clone(), Some(at)).is_none())
            {
                let refs = self.entries.range(span.clone()).rev().take(MAX_REFS).rev();
                let refs = refs.map(|e| EventRef { timestamp: e.time, id: e.event.as_deref().map(str::to_owned) });
                return Some((end_time, value, refs.collect()));
            }
            first = false;
            // The next window ends at the last entry of the next later time.
            end += 1;
            if end >= self.entries.len() {
                return None;
            }
            while end + 1 < self.entries.len() && self.entries[end + 1].time == self.entries[end].time {
                end += 1;
            }
        }
    }
}

/// How long a window keeps an event after the newest of its group: a timespan, and as long
/// again for events that arrive late (at most [`LATE_SECS`]).
fn kept_for(timespan: i64) -> i64 {
    timespan.saturating_add(timespan.min(LATE_SECS))
}

/// The correlation's value over `entries[span]` (less the one at `skip`), if it meets the
/// condition.
fn aggregate(
    correlation: &Correlation,
    entries: &VecDeque<Entry>,
    span: std::ops::Range<usize>,
    skip: Option<usize>,
) -> Option<f64> {
    let skipped = skip.is_some_and(|s| span.contains(&s));
    let window = entries.range(span.clone()).enumerate().filter(|(i, _)| Some(span.start + i) != skip).map(|(_, e)| e);
    let value = match correlation.kind {
        CorrelationType::EventCount => (span.len() - usize::from(skipped)) as f64,
        CorrelationType::ValueCount => {
            let distinct: HashSet<&str> =
                window.filter_map(|e| if let Value::Text(t) = &e.value { Some(&**t) } else { None }).collect();
            distinct.len() as f64
        }
        CorrelationType::Temporal | CorrelationType::TemporalOrdered => {
            return temporal(correlation, window.map(|e| (e.time, &e.value)));
        }
        CorrelationType::ValueSum | CorrelationType::ValueAvg | CorrelationType::ValueMedian => {
            let mut numbers: Vec<f64> =
                window.filter_map(|e| if let Value::Number(n) = e.value { Some(n) } else { None }).collect();
            if numbers.is_empty() {
                return None;
            }
            let sum: f64 = numbers.iter().sum();
            match correlation.kind {
                CorrelationType::ValueSum => sum,
                CorrelationType::ValueAvg => sum / numbers.len() as f64,
                _ => {
                    numbers.sort_by(f64::total_cmp);
                    let mid = numbers.len() / 2;
                    if numbers.len().is_multiple_of(2) { (numbers[mid - 1] + numbers[mid]) / 2.0 } else { numbers[mid] }
                }
            }
        }
        CorrelationType::ValuePercentile => return None,
    };
    meets(&correlation.predicates, value).then_some(value)
}

/// `temporal`: the number of referred rules seen (or rsigma's string condition over them);
/// `temporal_ordered`: all of them, in order (equal times in any order), as rsigma counts it.
fn temporal<'a>(correlation: &Correlation, window: impl Iterator<Item = (i64, &'a Value)>) -> Option<f64> {
    let mut seen = vec![false; correlation.refs.len()];
    let mut next = 0;
    let mut tied: Vec<u16> = Vec::new();
    let mut tied_time = None;
    let ordered = correlation.kind == CorrelationType::TemporalOrdered;
    let advance = |tied: &[u16], next: &mut usize| {
        while *next < correlation.refs.len() && tied.iter().any(|&r| usize::from(r) == *next) {
            *next += 1;
        }
    };
    for (time, value) in window {
        let Value::Rules(rules) = value else { continue };
        for &rule in rules {
            if let Some(seen) = seen.get_mut(usize::from(rule)) {
                *seen = true;
            }
        }
        if ordered {
            if tied_time != Some(time) {
                advance(&tied, &mut next);
                tied.clear();
                tied_time = Some(time);
            }
            tied.extend(rules);
        }
    }
    advance(&tied, &mut next);
    if let Some(expression) = &correlation.expression {
        let holds = expression_holds(expression, &correlation.refs, &seen);
        if !holds || ordered && next < correlation.refs.len() {
            return None;
        }
        return Some(seen.iter().filter(|s| **s).count() as f64);
    }
    let value = if ordered {
        if next == correlation.refs.len() { correlation.refs.len() as f64 } else { 0.0 }
    } else {
        seen.iter().filter(|s| **s).count() as f64
    };
    meets(&correlation.predicates, value).then_some(value)
}

fn expression_holds(expression: &ConditionExpr, refs: &[String], seen: &[bool]) -> bool {
    match expression {
        ConditionExpr::Identifier(name) => refs.iter().zip(seen).any(|(r, s)| *s && r == name),
        ConditionExpr::And(all) => all.iter().all(|e| expression_holds(e, refs, seen)),
        ConditionExpr::Or(any) => any.iter().any(|e| expression_holds(e, refs, seen)),
        ConditionExpr::Not(inner) => !expression_holds(inner, refs, seen),
        ConditionExpr::Selector { .. } => false,
    }
}

/// Correlation "Condition": every criterion written holds ("To define a range, you can use the
/// conjunction 'AND' in the mapping").
fn meets(predicates: &[(ConditionOperator, f64)], value: f64) -> bool {
    predicates.iter().all(|&(op, threshold)| match op {
        ConditionOperator::Lt => value < threshold,
        ConditionOperator::Lte => value <= threshold,
        ConditionOperator::Gt => value > threshold,
        ConditionOperator::Gte => value >= threshold,
        ConditionOperator::Eq => value == threshold,
        ConditionOperator::Neq => value != threshold,
    })
}

/// The event's group: the value of every group-by field, read (through `aliases`) under the
/// first of the referred rules it matched; `None` if one has no value ("Temporal Proximity":
/// "The values of fields defined in group-by must all have the same value").
fn group_of<E: Event>(correlation: &Correlation, event: &E, positions: &[u16]) -> Option<Vec<String>> {
    let reference = positions.first().and_then(|&p| correlation.refs.get(usize::from(p)));
    correlation
        .group_by
        .iter()
        .map(|field| {
            let name = reference.and_then(|r| field.aliases.get(r)).unwrap_or(&field.name);
            text(&event.get_field(name)?)
        })
        .collect()
}

/// What the event adds to the correlation's window, or `None` if it has no value to add.
fn value_of<E: Event>(correlation: &Correlation, event: &E, positions: Vec<u16>) -> Option<Value> {
    Some(match correlation.kind {
        CorrelationType::EventCount => Value::None,
        CorrelationType::Temporal | CorrelationType::TemporalOrdered => Value::Rules(positions),
        CorrelationType::ValueCount => {
            let values: Option<Vec<String>> =
                correlation.fields.iter().map(|f| event.get_field(f).as_ref().and_then(text)).collect();
            Value::Text(values?.join("\u{1f}").into())
        }
        _ => Value::Number(event.get_field(correlation.fields.first()?)?.as_f64().filter(|n| n.is_finite())?),
    })
}

/// A scalar as text; a null, a missing field or a structure has no value (row 12 of the README:
/// rsigma counted a null as the value `"null"`).
fn text(value: &EventValue) -> Option<String> {
    match value {
        EventValue::Str(s) => Some(s.to_string()),
        EventValue::Int(n) => Some(n.to_string()),
        EventValue::Float(f) => Some(f.to_string()),
        EventValue::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn event_id<E: Event>(event: &E) -> Option<Box<str>> {
    EVENT_ID_FIELDS.iter().find_map(|field| event.get_field(field).as_ref().and_then(text)).map(Into::into)
}

fn compile(Written { rule, thresholds }: &Written, suppress: u64) -> Correlation {
    let (fields, expression) = match &rule.condition {
        CorrelationCondition::Threshold { field, .. } => (field.clone().unwrap_or_default(), None),
        CorrelationCondition::Extended(expression) => (Vec::new(), Some(expression.clone())),
    };
    let predicates = thresholds.clone();
    let group_by: Vec<GroupField> = rule
        .group_by
        .iter()
        .map(|name| GroupField {
            name: name.clone(),
            aliases: rule.aliases.iter().find(|a| &a.alias == name).map(|a| a.mapping.clone()).unwrap_or_default(),
        })
        .collect();
    let attribute = |key: &str| rule.custom_attributes.get(key).and_then(|v| v.as_str());
    let suppress = attribute("rsigma.suppress")
        .and_then(|s| rsigma_parser::Timespan::parse(s).ok())
        .map_or(suppress, |t| t.seconds);
    let fingerprint = format!("{:?} {:?} {:?} {:?}", rule.correlation_type, rule.rules, rule.group_by, fields);
    let custom_attributes =
        rule.custom_attributes.iter().filter_map(|(k, v)| Some((k.clone(), serde_json::to_value(v).ok()?))).collect();
    Correlation {
        id: rule.id.clone(),
        title: rule.title.clone(),
        level: rule.level,
        tags: rule.tags.clone(),
        custom_attributes: Arc::new(custom_attributes),
        kind: rule.correlation_type,
        refs: rule.rules.clone(),
        group_by,
        timespan: i64::try_from(rule.timespan.seconds).unwrap_or(i64::MAX),
        predicates,
        fields,
        expression,
        suppress: i64::try_from(suppress).unwrap_or(i64::MAX),
        reset: attribute("rsigma.action") == Some("reset"),
        fingerprint,
    }
}

fn result(correlation: &Correlation, group: &[String], value: f64, refs: Vec<EventRef>) -> EvaluationResult {
    EvaluationResult {
        header: RuleHeader {
            rule_title: correlation.title.clone(),
            rule_id: correlation.id.clone(),
            level: correlation.level,
            tags: correlation.tags.clone(),
            custom_attributes: correlation.custom_attributes.clone(),
            enrichments: None,
        },
        body: ResultBody::Correlation(CorrelationBody {
            correlation_type: correlation.kind,
            group_key: correlation.group_by.iter().map(|f| f.name.clone()).zip(group.iter().cloned()).collect(),
            aggregated_value: value,
            timespan_secs: u64::try_from(correlation.timespan).unwrap_or(0),
            events: None,
            event_refs: Some(refs),
        }),
    }
}

#[cfg(test)]
mod tests {
    use rsigma_eval::JsonEvent;
    use serde_json::{Value, json};

    use super::{MAX_WINDOW_ENTRIES, Window};
    use crate::RuleSet;

    const RULES: &str = "
title: A
id: 00000000-0000-4000-8000-00000000000a
name: rule_a
logsource: {product: test}
detection: {selection: {Step: a}, condition: selection}
---
title: B
id: 00000000-0000-4000-8000-00000000000b
name: rule_b
logsource: {product: test}
detection: {selection: {Step: b}, condition: selection}
";
    const UNDER_TEST: &str = "00000000-0000-4000-8000-0000000c0001";

    fn load(correlation: &str) -> (RuleSet, Vec<String>) {
        let yaml = format!("{RULES}---\ntitle: Under test\nid: {UNDER_TEST}\n{correlation}\n");
        let (rules, report) = RuleSet::load_documents(&[("test.yml", &yaml)]);
        (rules, report.skipped_entries().map(|e| e.to_string()).collect())
    }

    fn fired(rules: &mut RuleSet, events: &[(i64, Value)]) -> Vec<bool> {
        events
            .iter()
            .map(|(time, event)| {
                let event = JsonEvent::borrow(event);
                let detections = rules.detect(&event, None);
                let results = rules.correlate(&event, detections, *time);
                results.iter().any(|r| r.header.rule_id.as_deref() == Some(UNDER_TEST))
            })
            .collect()
    }

    fn step(step: &str, host: &str) -> Value {
        json!({ "Step": step, "Host": host, "event_id": format!("{host}:{step}") })
    }

    #[test]
    fn windows_survive_an_export_and_import_into_the_same_correlation_only() {
        let correlation = "correlation:\n    type: event_count\n    rules: [rule_a]\n    group-by: [Host]\n    \
                           timespan: 1m\n    condition: {gte: 2}";
        let (mut before, skipped) = load(correlation);
        assert!(skipped.is_empty(), "{skipped:?}");
        assert_eq!(fired(&mut before, &[(0, step("a", "h1"))]), [false]);
        let saved = serde_json::to_vec(&before.export_state()).expect("serialises");
        let snapshot = || serde_json::from_slice(&saved).expect("deserialises");

        let (mut after, _) = load(correlation);
        assert!(after.import_state(snapshot()));
        assert_eq!(fired(&mut after, &[(10, step("a", "h1"))]), [true]);
        // A correlation grouped otherwise does not take the old windows.
        let (mut regrouped, _) = load(&correlation.replace("[Host]", "[Step]"));
        assert!(regrouped.import_state(snapshot()));
        assert_eq!(fired(&mut regrouped, &[(10, step("a", "h1"))]), [false]);
        // rsigma's snapshots (version 1) are of another format.
        let rsigma: crate::CorrelationSnapshot =
            serde_json::from_value(json!({"version": 1, "windows": {}, "last_alert": {}})).expect("decodes");
        assert!(!after.import_state(rsigma));
    }

    #[test]
    fn a_firing_names_its_window_s_events() {
        let (mut rules, _) = load(
            "correlation:\n    type: event_count\n    rules: [rule_a]\n    group-by: [Host]\n    timespan: 1m\n    \
             condition: {gte: 2}",
        );
        let events =
            [(100, step("a", "h1")), (0, step("a", "h2")), (45, json!({"Step": "a", "Host": "h1", "id": "late"}))];
        let mut refs = Vec::new();
        for (time, event) in &events {
            let event = JsonEvent::borrow(event);
            let detections = rules.detect(&event, None);
            for result in rules.correlate(&event, detections, *time) {
                if let rsigma_eval::ResultBody::Correlation(body) = result.body {
                    assert_eq!(body.group_key, [("Host".to_owned(), "h1".to_owned())]);
                    refs.extend(body.event_refs.into_iter().flatten().map(|r| (r.timestamp, r.id)));
                }
            }
        }
        assert_eq!(refs, [(45, Some("late".to_owned())), (100, Some("h1:a".to_owned()))]);
    }

    #[test]
    fn rsigma_extensions_load_as_rsigma_defines_them_or_are_refused() {
        // `rsigma.action: reset`: the window starts again after a firing.
        let (mut rules, _) = load(
            "rsigma.suppress: 0s\nrsigma.action: reset\ncorrelation:\n    type: event_count\n    rules: [rule_a]\n    \
             group-by: [Host]\n    timespan: 1m\n    condition: {gte: 2}",
        );
        let a = |t: i64| (t, step("a", "h1"));
        assert_eq!(fired(&mut rules, &[a(0), a(1), a(2), a(3)]), [false, true, false, true]);
        // A string condition on temporal rules.
        let (mut rules, _) = load(
            "correlation:\n    type: temporal\n    rules: [rule_a, rule_b]\n    group-by: [Host]\n    timespan: 1m\n    \
             condition: rule_a and not rule_b",
        );
        assert_eq!(fired(&mut rules, &[(0, step("b", "h1")), (1, step("a", "h1"))]), [false, false]);
        assert_eq!(fired(&mut rules, &[(100, step("a", "h2"))]), [true]);
        // value_median.
        let (mut rules, _) = load(
            "rsigma.suppress: 0s\ncorrelation:\n    type: value_median\n    rules: [rule_a]\n    group-by: [Host]\n    \
             timespan: 1m\n    condition: {field: Size, gte: 10}",
        );
        let size = |t: i64, n: i64| (t, json!({"Step": "a", "Host": "h1", "Size": n}));
        assert_eq!(fired(&mut rules, &[size(0, 1), size(1, 30), size(2, 20)]), [false, true, true]);
        // What these windows do not do is refused, with its reason.
        for (extra, reason) in [
            ("correlation:\n    window: tumbling\n", "window is not supported"),
            ("rsigma.correlation_event_mode: full\ncorrelation:\n", "rsigma.correlation_event_mode is not supported"),
            ("rsigma.action: explode\ncorrelation:\n", "rsigma.action must be alert or reset"),
        ] {
            let correlation = format!(
                "{extra}    type: event_count\n    rules: [rule_a]\n    group-by: [Host]\n    timespan: 1m\n    \
                 condition: {{gte: 2}}"
            );
            let (rules, skipped) = load(&correlation);
            assert_eq!(rules.correlation_rules(), 0, "{correlation}");
            assert!(skipped.iter().any(|s| s.contains(reason)), "{skipped:?}");
        }
        let (_, skipped) = load(&format!(
            "correlation:\n    type: event_count\n    rules: [rule_a]\n    group-by: [Host]\n    timespan: 1m\n    \
             condition: {{gt: {MAX_WINDOW_ENTRIES}}}"
        ));
        assert!(skipped.iter().any(|s| s.contains("events a window keeps")), "{skipped:?}");
    }

    /// Times and timespans at the ends of their ranges come from outside the process.
    #[test]
    fn extreme_times_and_timespans_do_not_overflow() {
        for timespan in ["1s", "9000000000000000000s", "100000000000y"] {
            let (mut rules, _) = load(&format!(
                "rsigma.suppress: 0s\ncorrelation:\n    type: event_count\n    rules: [rule_a]\n    group-by: [Host]\n    \
                 timespan: {timespan}\n    condition: {{gte: 2}}"
            ));
            assert_eq!(rules.correlation_rules(), 1, "{timespan}");
            let a = |t: i64| (t, step("a", "h1"));
            fired(&mut rules, &[a(i64::MAX), a(i64::MIN), a(0), a(i64::MAX), a(i64::MIN)]);
            rules.evict_expired(i64::MIN);
            rules.evict_expired(i64::MAX);
        }
    }

    #[test]
    fn beyond_the_bounds_the_windows_with_the_oldest_newest_event_go() {
        let (mut rules, _) = load(
            "correlation:\n    type: event_count\n    rules: [rule_a]\n    group-by: [Host]\n    timespan: 1h\n    \
             condition: {gte: 1}",
        );
        let events = [(30, step("a", "h1")), (10, step("a", "h2")), (20, step("a", "h3")), (40, step("a", "h2"))];
        assert_eq!(fired(&mut rules, &events), [true, true, true, false]);
        let correlator = &mut rules.correlation;
        assert_eq!((correlator.windows.len(), correlator.entries, correlator.last_alert.len()), (3, 4, 3));
        correlator.shed(2, usize::MAX);
        let mut left: Vec<&str> = correlator.windows.keys().map(|(_, group)| group[0].as_str()).collect();
        left.sort_unstable();
        assert_eq!(left, ["h1", "h2"]);
        assert_eq!((correlator.entries, correlator.last_alert.len()), (3, 2));
        correlator.shed(usize::MAX, 2);
        assert_eq!(correlator.windows.keys().map(|(_, group)| group[0].as_str()).collect::<Vec<_>>(), ["h2"]);
        assert_eq!(correlator.entries, 2);
    }

    #[test]
    fn a_window_keeps_at_most_its_cap_and_a_late_horizon() {
        let mut window = Window::default();
        let entry = |time| super::Entry { time, value: super::Value::None, event: None };
        for time in 0..(MAX_WINDOW_ENTRIES as i64 + 5) {
            window.insert(entry(time), 86_400);
        }
        assert_eq!(window.entries.len(), MAX_WINDOW_ENTRIES);
        assert_eq!(window.entries.front().map(|e| e.time), Some(5));
        // Far later: what is more than a timespan and the late horizon older goes.
        window.insert(entry(1_000_000), 60);
        assert_eq!(window.entries.len(), 1);
        // Out of order: inserted in time order.
        assert_eq!(window.insert(entry(999_990), 60), 0);
        assert_eq!(window.insert(entry(999_995), 60), 1);
    }
}
