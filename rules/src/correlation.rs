//! Correlation rules read as the Sigma Correlation Rules Specification v2.1 reads them, where
//! rsigma 0.23 reads them otherwise (the table, with the upstream reports, is in
//! `rules/README.md`).
//!
//! Here, the corrections made at load (a rule rewritten after rsigma parses it, a rule refused
//! with its reason) and in what is reported; the windows are `correlator`'s.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};

use rsigma_eval::EvaluationResult;
use rsigma_parser::{ConditionOperator, CorrelationCondition, CorrelationRule, CorrelationType, SigmaRule};

/// Gives every named rule without an `id` its `name` as id.
///
/// Spec, "Related rules": "A rule can be referred to by the `id` or `name` of a Sigma rule."
/// rsigma routes a detection, or a fired correlation, to the correlations that reference it
/// through the result's rule id alone, so a rule referenced by the name of an id-less rule
/// never fed its correlation.
pub(crate) fn name_stands_for_missing_id(rules: &mut [SigmaRule], correlations: &mut [CorrelationRule]) {
    for rule in rules.iter_mut().filter(|r| r.id.is_none()) {
        rule.id.clone_from(&rule.name);
    }
    for correlation in correlations.iter_mut().filter(|c| c.id.is_none()) {
        correlation.id.clone_from(&correlation.name);
    }
}

/// Makes a `temporal` correlation written without a `condition` require every referenced rule.
///
/// Spec, "Temporal Proximity (temporal)": "All events defined by the rules referred by the rule
/// field must occur in the time frame defined by timespan." and, "Condition": for temporal it
/// is "the count of different event types (Sigma rules matching) in the given time frame".
/// rsigma-parser 0.23 fills a missing temporal condition with `gte: 1`, which fires on the
/// first referenced rule to match. The condition becomes `gte: <number of referenced rules>`,
/// counted per `group-by` group as every condition is. (`temporal_ordered` needs no rewrite:
/// rsigma already requires all its rules, in order.)
///
/// The parsed rule cannot tell a missing condition from a written `gte: 1`, so `text` (the
/// file the rules came from) is read again for the temporal correlations that have none.
pub(crate) fn temporal_requires_all_rules(text: &str, correlations: &mut [CorrelationRule]) {
    if !correlations.iter().any(|c| c.correlation_type == CorrelationType::Temporal) {
        return;
    }
    let unconditioned = temporal_without_condition(text);
    for correlation in correlations.iter_mut() {
        let identity = Identity::of(correlation);
        if correlation.correlation_type == CorrelationType::Temporal
            && unconditioned.contains(&identity)
            && is_parser_default(&correlation.condition)
        {
            let all = u64::try_from(correlation.rules.len()).unwrap_or(u64::MAX);
            correlation.condition = CorrelationCondition::Threshold {
                predicates: vec![(ConditionOperator::Gte, all)],
                field: None,
                percentile: None,
            };
        }
    }
}

/// What tells one correlation document from the others in its file.
#[derive(PartialEq, Eq, Hash)]
pub(crate) struct Identity {
    title: String,
    id: Option<String>,
    name: Option<String>,
}

impl Identity {
    fn of(rule: &CorrelationRule) -> Identity {
        Identity { title: rule.title.clone(), id: rule.id.clone(), name: rule.name.clone() }
    }
}

fn is_parser_default(condition: &CorrelationCondition) -> bool {
    matches!(
        condition,
        CorrelationCondition::Threshold { predicates, field: None, percentile: None }
            if predicates.as_slice() == [(ConditionOperator::Gte, 1)]
    )
}

/// The temporal correlation documents in `text` that have no `condition`. A document that
/// does not parse is left to the rule parser to report.
fn temporal_without_condition(text: &str) -> HashSet<Identity> {
    use serde::Deserialize;
    use yaml_serde::Value;
    let mut found = HashSet::new();
    for document in yaml_serde::Deserializer::from_str(text) {
        let Ok(Value::Mapping(document)) = Value::deserialize(document) else { break };
        let text_of = |key: &str| document.get(key).and_then(Value::as_str).map(str::to_owned);
        let Some(Value::Mapping(correlation)) = document.get("correlation") else { continue };
        let temporal = correlation.get("type").and_then(Value::as_str) == Some("temporal");
        if temporal && !correlation.contains_key("condition") {
            found.insert(Identity {
                title: text_of("title").unwrap_or_default(),
                id: text_of("id").or_else(|| text_of("name")),
                name: text_of("name"),
            });
        }
    }
    found
}

/// A correlation condition's thresholds, as written: numbers of either sign, whole or not.
pub(crate) type Thresholds = Vec<(ConditionOperator, f64)>;

/// A parsed correlation rule, with its thresholds as written (its parsed condition holds them
/// as rsigma-parser read them).
#[derive(Clone)]
pub(crate) struct Written {
    pub(crate) rule: CorrelationRule,
    pub(crate) thresholds: Thresholds,
}

impl Written {
    /// `rule` with its thresholds from `written` (see [`written_thresholds`]).
    pub(crate) fn new(rule: CorrelationRule, written: &HashMap<Identity, Thresholds>) -> Written {
        let thresholds = written.get(&Identity::of(&rule)).cloned().unwrap_or_else(|| match &rule.condition {
            // Not read from the file (a parsed default): as parsed, and whole.
            CorrelationCondition::Threshold { predicates, .. } => {
                predicates.iter().map(|&(op, value)| (op, value as f64)).collect()
            }
            CorrelationCondition::Extended(_) => Vec::new(),
        });
        Written { rule, thresholds }
    }
}

const OPERATORS: [(&str, ConditionOperator); 6] = [
    ("lt", ConditionOperator::Lt),
    ("lte", ConditionOperator::Lte),
    ("gt", ConditionOperator::Gt),
    ("gte", ConditionOperator::Gte),
    ("eq", ConditionOperator::Eq),
    ("neq", ConditionOperator::Neq),
];

/// Every correlation's condition thresholds as written in `text`, and the text rsigma-parser is
/// to parse.
///
/// Spec, "Value Average": "compares it to an integer or float threshold"; "Condition": "The count
/// must be lesser than the given value", of a `value_sum` that may be negative. rsigma-parser
/// 0.23 refuses a float threshold ("requires a numeric value") and casts a negative one to a
/// number near 2^64. The thresholds are read here instead, and a correlation document with a
/// threshold that is not a whole number is handed to the parser with 0 in its place (the
/// parser's copy of a condition is not evaluated). Other documents reach it as written.
pub(crate) fn written_thresholds(text: &str) -> (Cow<'_, str>, HashMap<Identity, Thresholds>) {
    use yaml_serde::Value;
    let mut found = HashMap::new();
    // Most files hold detection rules only: they are not parsed a second time.
    if !text.contains("correlation") {
        return (Cow::Borrowed(text), found);
    }
    let mut rewritten: Option<String> = None;
    for (start, document) in documents(text) {
        let Ok(Value::Mapping(mut parsed)) = yaml_serde::from_str::<Value>(document) else {
            if let Some(rewritten) = rewritten.as_mut() {
                rewritten.push_str(document);
            }
            continue;
        };
        let text_of = |key: &str| parsed.get(key).and_then(Value::as_str).map(str::to_owned);
        let identity = Identity {
            title: text_of("title").unwrap_or_default(),
            id: text_of("id").or_else(|| text_of("name")),
            name: text_of("name"),
        };
        let condition = match parsed.get_mut("correlation") {
            Some(Value::Mapping(correlation)) => correlation.get_mut("condition"),
            _ => None,
        };
        let Some(Value::Mapping(condition)) = condition else {
            if let Some(rewritten) = rewritten.as_mut() {
                rewritten.push_str(document);
            }
            continue;
        };
        let mut thresholds = Vec::new();
        let mut fractional = false;
        for (key, operator) in OPERATORS {
            if let Some(value) = condition.get_mut(key)
                && let Some(number) = value.as_f64()
            {
                thresholds.push((operator, number));
                if value.as_i64().is_none() && value.as_u64().is_none() {
                    fractional = true;
                    *value = Value::Number(0.into());
                }
            }
        }
        found.insert(identity, thresholds);
        let replacement = if fractional { yaml_serde::to_string(&Value::Mapping(parsed)).ok() } else { None };
        match (replacement, &mut rewritten) {
            (Some(replacement), _) => {
                let rewritten = rewritten.get_or_insert_with(|| text[..start].to_owned());
                rewritten.push_str(if document.starts_with("---") { "---\n" } else { "" });
                rewritten.push_str(&replacement);
            }
            (None, Some(rewritten)) => rewritten.push_str(document),
            (None, None) => {}
        }
    }
    (rewritten.map_or(Cow::Borrowed(text), Cow::Owned), found)
}

/// The YAML documents of `text` with their offsets, each from its `---` line (the first from
/// the start): concatenated, the text.
fn documents(text: &str) -> Vec<(usize, &str)> {
    let mut starts = vec![0];
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let separator =
            line.strip_prefix("---").is_some_and(|rest| rest.is_empty() || rest.starts_with(char::is_whitespace));
        if separator && offset > 0 {
            starts.push(offset);
        }
        offset += line.len();
    }
    starts.push(text.len());
    starts.windows(2).map(|w| (w[0], &text[w[0]..w[1]])).collect()
}

/// Why a correlation rule is refused at load, if it is. `correlations` holds the identities (ids
/// and names) of every correlation rule parsed.
///
/// Compatibility: "An error must be raised by the conversion backend if it would generate a
/// query from a rule which contains a feature that is not supported". Each refusal below
/// answers a rule rsigma 0.23 would load and then evaluate otherwise than the specification.
///
/// `value_count`, `value_sum`, `value_avg` (and rsigma's `value_median`) over another
/// correlation: "Related rules" lets any correlation refer to correlations, but the
/// specification defines no field value of a correlation's firing to count or add up (rsigma
/// 0.23 loaded such a rule and never fired it).
///
/// `value_percentile`: the specification says only "Check when a certain percentage of
/// observed values occur. Hint: median is a percentile 50", with an example that compares a
/// string field (`image`) to `lte: 1`: it does not say what is compared with the condition, so
/// there is nothing to evaluate to the letter. (rsigma 0.23 computes a numeric percentile at a
/// rank given by a `percentile:` key the specification does not have, and fires without
/// testing the condition.)
pub(crate) fn refusal(rule: &CorrelationRule, correlations: &HashSet<&str>) -> Option<String> {
    if rule.correlation_type == CorrelationType::ValuePercentile {
        return Some(
            "value_percentile is not supported: the specification's \"percentage of observed values\" does not say \
             what the condition is compared with (rsigma 0.23 fires it on every event with a numeric field without \
             testing its condition)"
                .to_owned(),
        );
    }
    let counts_events_or_rules = matches!(
        rule.correlation_type,
        CorrelationType::EventCount | CorrelationType::Temporal | CorrelationType::TemporalOrdered
    );
    let chained: Vec<&str> =
        rule.rules.iter().map(String::as_str).filter(|reference| correlations.contains(reference)).collect();
    if !counts_events_or_rules && !chained.is_empty() {
        return Some(format!(
            "{:?} over a correlation ({}) is not supported: the specification defines no field value of a \
             correlation's firing to count or add up",
            rule.correlation_type,
            chained.join(", ")
        ));
    }
    None
}

/// The rules, detection or correlation, whose own results are not reported: those referenced
/// by a correlation, unless a correlation referencing them says `generate: true`.
///
/// Spec, "Generate": "defines if the rules referred from the correlation rule should be
/// converted as stand-alone rules or if only the correlation query should be generated
/// (default)." A correlation is a rule too ("Related rules": "Refers to one or multiple Sigma
/// or Correlations rules"), so a correlation that another one chains stays quiet the same way.
/// Their results still feed the correlations; only the report leaves them out.
///
/// rsigma 0.23 reports them all by default; its `emit_detections: false` leaves out detections
/// only, only when referenced by id, and whenever any one referencing correlation lacks
/// `generate: true`, so it is not used.
#[derive(Default)]
pub(crate) struct BuildingBlocks {
    /// Rule ids, as results carry them.
    quiet: HashSet<String>,
}

impl BuildingBlocks {
    /// `rules` and `correlations` are every parsed document: a rule written as a building
    /// block stays one even when the correlation over it could not be loaded (the load report
    /// names that correlation).
    pub(crate) fn new(rules: &[&SigmaRule], correlations: &[&CorrelationRule]) -> BuildingBlocks {
        // Referenced rule (by id or name) → whether some referencing correlation generates it.
        let mut referenced: HashMap<&str, bool> = HashMap::new();
        for correlation in correlations {
            for reference in &correlation.rules {
                *referenced.entry(reference.as_str()).or_default() |= correlation.generate;
            }
        }
        let identities = rules.iter().map(|r| (&r.id, &r.name)).chain(correlations.iter().map(|c| (&c.id, &c.name)));
        let mut generated = HashSet::new();
        let mut quiet = HashSet::new();
        for (id, name) in identities {
            let Some(id) = id else { continue };
            for reference in [Some(id), name.as_ref()].into_iter().flatten() {
                match referenced.get(reference.as_str()) {
                    Some(true) => {
                        generated.insert(id.clone());
                    }
                    Some(false) => {
                        quiet.insert(id.clone());
                    }
                    None => {}
                }
            }
        }
        quiet.retain(|id| !generated.contains(id));
        BuildingBlocks { quiet }
    }

    /// Whether `result` is reported (raises an alert), rather than only feeding correlations.
    pub(crate) fn reported(&self, result: &EvaluationResult) -> bool {
        result.header.rule_id.as_ref().is_none_or(|id| !self.quiet.contains(id))
    }
}

#[cfg(test)]
mod tests {
    use rsigma_eval::{EvaluationResult, JsonEvent, ResultBody};

    use crate::RuleSet;

    fn fired(rules: &mut RuleSet, events: &[(i64, serde_json::Value)]) -> Vec<Vec<String>> {
        events
            .iter()
            .map(|(time, event)| {
                let event = JsonEvent::borrow(event);
                let detections = rules.detect(&event, None);
                let results = rules.correlate(&event, detections, *time);
                results.iter().map(label).collect()
            })
            .collect()
    }

    fn label(result: &EvaluationResult) -> String {
        let kind = match result.body {
            ResultBody::Detection(_) => "detection",
            ResultBody::Correlation(_) => "correlation",
        };
        format!("{kind} {}", result.header.rule_id.as_deref().unwrap_or(&result.header.rule_title))
    }

    fn load(yaml: &str) -> RuleSet {
        let (rules, report) = RuleSet::load_documents(&[("test.yml", yaml)]);
        let skipped: Vec<String> = report.skipped_entries().map(|e| e.to_string()).collect();
        assert!(skipped.is_empty(), "{skipped:?}");
        rules
    }

    const BASE: &str = r#"
title: A
name: rule_a
id: 00000000-0000-4000-8000-00000000000a
logsource: {product: test}
detection: {selection: {Step: a}, condition: selection}
level: medium
---
title: B
name: rule_b
id: 00000000-0000-4000-8000-00000000000b
logsource: {product: test}
detection: {selection: {Step: b}, condition: selection}
level: medium
---
title: C
name: rule_c
logsource: {product: test}
detection: {selection: {Step: c}, condition: selection}
level: medium
"#;

    fn step(s: &str) -> serde_json::Value {
        serde_json::json!({ "Step": s, "Host": "h1" })
    }

    /// Spec "Temporal Proximity (temporal)": "All events defined by the rules referred by the
    /// rule field must occur in the time frame defined by timespan."
    #[test]
    fn temporal_without_condition_needs_every_rule_within_the_timespan() {
        let yaml = format!(
            "{BASE}---\ntitle: All Three\nid: 00000000-0000-4000-8000-0000000000f1\ncorrelation:\n    type: temporal\n    \
             rules: [rule_a, rule_b, rule_c]\n    group-by: [Host]\n    timespan: 60s\nlevel: high\n"
        );
        let corr = "correlation 00000000-0000-4000-8000-0000000000f1";
        // Two of three: nothing.
        let mut rules = load(&yaml);
        let out = fired(&mut rules, &[(100, step("a")), (110, step("b"))]);
        assert!(out.iter().flatten().all(|r| r != corr), "{out:?}");
        // All three, the last referenced by the name of an id-less rule: fires on the third.
        let out = fired(&mut rules, &[(120, step("c"))]);
        assert_eq!(out, [vec![corr.to_owned()]]);
        // Spread over more than the timespan: nothing.
        let mut rules = load(&yaml);
        let out = fired(&mut rules, &[(0, step("a")), (40, step("b")), (100, step("c"))]);
        assert!(out.iter().flatten().all(|r| r != corr), "{out:?}");
    }

    /// A written condition is the author's: `gte: 1` on temporal stays "any one of them".
    #[test]
    fn temporal_with_a_written_condition_is_left_as_written() {
        let yaml = format!(
            "{BASE}---\ntitle: Any\nid: 00000000-0000-4000-8000-0000000000f2\ncorrelation:\n    type: temporal\n    \
             rules: [rule_a, rule_b]\n    group-by: [Host]\n    timespan: 60s\n    condition:\n        gte: 1\n"
        );
        let mut rules = load(&yaml);
        let out = fired(&mut rules, &[(100, step("a"))]);
        assert_eq!(out, [vec!["correlation 00000000-0000-4000-8000-0000000000f2".to_owned()]]);
    }

    /// Spec "Generate": only the correlation is generated by default; `generate: true` keeps
    /// the referenced rules as stand-alone rules. A correlation chained by another is quiet the
    /// same way.
    #[test]
    fn referenced_rules_report_only_when_a_correlation_generates_them() {
        let yaml = format!(
            "{BASE}---\ntitle: Two A\nname: two_a\nid: 00000000-0000-4000-8000-0000000000f3\ncorrelation:\n    \
             type: event_count\n    rules: [rule_a]\n    group-by: [Host]\n    timespan: 60s\n    condition: {{gte: 2}}\n\
             ---\ntitle: B generated\nid: 00000000-0000-4000-8000-0000000000f4\ngenerate: true\ncorrelation:\n    \
             type: event_count\n    rules: [00000000-0000-4000-8000-00000000000b]\n    group-by: [Host]\n    timespan: 60s\n    \
             condition: {{gte: 5}}\n\
             ---\ntitle: Chain\nid: 00000000-0000-4000-8000-0000000000f5\ncorrelation:\n    type: temporal\n    \
             rules: [two_a, rule_c]\n    group-by: [Host]\n    timespan: 60s\n"
        );
        let mut rules = load(&yaml);
        let out = fired(&mut rules, &[(100, step("a")), (101, step("a")), (102, step("b")), (103, step("c"))]);
        assert_eq!(
            out,
            [
                vec![],
                vec![],
                vec!["detection 00000000-0000-4000-8000-00000000000b".to_owned()],
                vec!["correlation 00000000-0000-4000-8000-0000000000f5".to_owned()],
            ],
            "rule_a, rule_c and the chained two_a stay quiet; B is generated"
        );
    }

    #[test]
    fn value_percentile_is_refused_with_its_reason() {
        let yaml = format!(
            "{BASE}---\ntitle: Pct\nid: 00000000-0000-4000-8000-0000000000f6\ncorrelation:\n    type: value_percentile\n    \
             rules: [rule_a]\n    group-by: [Host]\n    timespan: 60s\n    condition: {{field: Size, gte: 1000}}\n"
        );
        let (rules, report) = RuleSet::load_documents(&[("test.yml", &yaml)]);
        assert_eq!(rules.correlation_rules(), 0);
        let skipped: Vec<String> = report.skipped_entries().map(|e| e.to_string()).collect();
        assert_eq!(skipped.len(), 1, "{skipped:?}");
        assert!(skipped[0].contains("value_percentile is not supported"), "{skipped:?}");
    }
    /// The upstream behaviour the refusal answers, pinned: when this fails, rsigma tests the
    /// condition of value_percentile, and `refusal` should be revisited.
    #[test]
    fn rsigma_fires_value_percentile_without_testing_its_condition() {
        let yaml = format!(
            "{BASE}---\ntitle: Pct\nid: 00000000-0000-4000-8000-0000000000f7\ncorrelation:\n    type: value_percentile\n    \
             rules: [rule_a]\n    group-by: [Host]\n    timespan: 60s\n    condition: {{field: Size, gte: 1000}}\n"
        );
        let collection = rsigma_parser::parse_sigma_yaml(&yaml).expect("parses");
        let mut engine = rsigma_eval::CorrelationEngine::new(rsigma_eval::CorrelationConfig::default());
        engine.add_collection(&collection).expect("rsigma accepts it");
        let event = serde_json::json!({ "Step": "a", "Host": "h1", "Size": 5 });
        let results = engine.process_event_at(&JsonEvent::borrow(&event), 100);
        assert!(results.iter().any(|r| r.header.rule_id.as_deref() == Some("00000000-0000-4000-8000-0000000000f7")));
    }
    /// A document re-written for the parser (its float threshold) leaves the others of its file
    /// as written: a detection's unquoted float is still the string written (`1.50`).
    #[test]
    fn a_float_threshold_leaves_the_other_documents_as_written() {
        let yaml = "title: Avg\nid: 00000000-0000-4000-8000-0000000000f9\ncorrelation:\n    type: value_avg\n    \
                    rules: [rule_v]\n    group-by: [Host]\n    timespan: 60s\n    condition: {field: Size, gt: 1.25}\n\
                    --- \ntitle: V\nname: rule_v\nlogsource: {product: test}\ndetection: {selection: {Version: 1.50}, \
                    condition: selection}\n";
        let (written, thresholds) = super::written_thresholds(yaml);
        assert!(written.ends_with("--- \ntitle: V\nname: rule_v\nlogsource: {product: test}\ndetection: {selection: {Version: 1.50}, condition: selection}\n"), "{written}");
        assert_eq!(thresholds.values().collect::<Vec<_>>(), [&vec![(rsigma_parser::ConditionOperator::Gt, 1.25)]]);
        let mut rules = load(yaml);
        let event = |version: &str, size: f64| serde_json::json!({ "Version": version, "Host": "h1", "Size": size });
        let out = fired(&mut rules, &[(0, event("1.5", 2.0)), (1, event("1.50", 1.0)), (2, event("1.50", 2.0))]);
        let avg = "correlation 00000000-0000-4000-8000-0000000000f9";
        assert_eq!(out, [vec![], vec![], vec![avg.to_owned()]]);
    }
    /// The upstream behaviour `name_stands_for_missing_id` answers, pinned: when this fails,
    /// rsigma routes id-less rules by name itself.
    #[test]
    fn rsigma_does_not_feed_a_correlation_from_a_rule_without_id() {
        let yaml = format!(
            "{BASE}---\ntitle: Two C\nid: 00000000-0000-4000-8000-0000000000f8\ncorrelation:\n    type: event_count\n    \
             rules: [rule_c]\n    group-by: [Host]\n    timespan: 60s\n    condition: {{gte: 1}}\n"
        );
        let collection = rsigma_parser::parse_sigma_yaml(&yaml).expect("parses");
        let mut engine = rsigma_eval::CorrelationEngine::new(rsigma_eval::CorrelationConfig::default());
        engine.add_collection(&collection).expect("rsigma accepts it");
        let results = engine.process_event_at(&JsonEvent::borrow(&step("c")), 100);
        assert_eq!(results.iter().map(label).collect::<Vec<_>>(), ["detection C"]);
        // Ours: the name stands for the id, and the correlation is fed.
        let mut rules = load(&yaml);
        let out = fired(&mut rules, &[(100, step("c"))]);
        assert_eq!(out, [vec!["correlation 00000000-0000-4000-8000-0000000000f8".to_owned()]]);
    }
}
