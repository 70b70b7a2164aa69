//! The compiled detection rules, in one rsigma engine per logsource family, each built the
//! first time an event of that family needs it.
//!
//! A family is the rules naming the same `product`, `service` and `category` (absent ones
//! included: `product: windows` alone is a family). An event is evaluated by every family whose
//! logsource it matches (each field the family names present in the event's and equal), which
//! is rsigma's own routing rule, so a rule reaches exactly the events it did in one engine.
//!
//! rsigma builds its candidate index (a DFA per field over every needle) when rules are added;
//! for SigmaHQ's 3,754 rules that was most of the rule set's memory and load time. Per family,
//! a hunt over Windows logs never builds the Linux, macOS or cloud indexes, and each event meets
//! only its own family's candidates.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, OnceLock, PoisonError};

use rsigma_eval::{CompiledRule, Engine, EvaluationResult, Event};
use rsigma_parser::LogSource;

/// A rule matching against more values than this is kept out of rsigma's candidate index and
/// evaluated on its own, with its own matchers, for every event of its family. SigmaHQ has 89
/// such rules (hash, driver and domain lists, emoji sets, tool names). Their needles in rsigma's
/// per-field ASCII case-insensitive DFAs made them large and slow to build: Windows' 2,858
/// rules in one engine took 115 MiB of index, 44 MiB without the 14 rules of over 200 values.
/// Below 50, the hunt's CPU grows faster than its memory shrinks (see BENCHMARKS.md).
const SCAN_VALUES: usize = 50;

pub(crate) struct Detection {
    /// In key order.
    families: Vec<Family>,
    by_key: HashMap<Key, usize>,
}

struct Family {
    /// Built from `pending` on first use.
    engine: OnceLock<Engine>,
    pending: Mutex<Vec<CompiledRule>>,
    /// Rules with more than [`SCAN_VALUES`] values, evaluated one by one.
    scanned: Vec<CompiledRule>,
}

/// A rule's family: its logsource fields, lowercased (rsigma compares them ASCII
/// case-insensitively).
type Key = (Option<String>, Option<String>, Option<String>);

impl Detection {
    /// Families of `rules` (each with its number of detection values), engines built lazily.
    pub(crate) fn families(rules: Vec<(CompiledRule, usize)>) -> Detection {
        let mut families: BTreeMap<Key, (Vec<CompiledRule>, Vec<CompiledRule>)> = BTreeMap::new();
        for (rule, values) in rules {
            let field = |f: &Option<String>| f.as_deref().map(str::to_ascii_lowercase);
            let ls = &rule.logsource;
            let (indexed, scanned) =
                families.entry((field(&ls.product), field(&ls.service), field(&ls.category))).or_default();
            if values > SCAN_VALUES { scanned.push(rule) } else { indexed.push(rule) }
        }
        let by_key = families.keys().cloned().zip(0..).collect();
        let families = families
            .into_values()
            .map(|(indexed, scanned)| Family { engine: OnceLock::new(), pending: Mutex::new(indexed), scanned })
            .collect();
        Detection { families, by_key }
    }

    /// Every rule in one engine built now, for a rule set with filters: rsigma applies a
    /// filter to the rules in an engine, and `apply` is given that engine.
    pub(crate) fn one_engine(rules: Vec<CompiledRule>, apply: impl FnOnce(&mut Engine)) -> Detection {
        let mut engine = Engine::new();
        engine.extend_compiled_rules(rules);
        apply(&mut engine);
        let family = Family { engine: OnceLock::from(engine), pending: Mutex::default(), scanned: Vec::new() };
        Detection { families: vec![family], by_key: HashMap::from([((None, None, None), 0)]) }
    }

    /// The rules `event` matches under `logsource` (every rule when it has none), in family
    /// order, then rule order.
    pub(crate) fn detect<E: Event>(&self, event: &E, logsource: Option<&LogSource>) -> Vec<EvaluationResult> {
        let families: Vec<&Family> = match logsource {
            Some(ls) => self.families_of(ls),
            None => self.families.iter().collect(),
        };
        let mut results = Vec::new();
        for family in families {
            let engine = family.engine();
            results.extend(match logsource {
                Some(ls) => engine.evaluate_with_logsource(event, ls),
                None => engine.evaluate(event),
            });
            // A family's rules all name its logsource, which the event's matches.
            results.extend(family.scanned.iter().filter_map(|r| rsigma_eval::evaluate_rule(r, event)));
        }
        results
    }

    /// The families whose logsource `ls` matches: each of its fields either unnamed by the
    /// family or equal, so at most eight keys to look up.
    fn families_of(&self, ls: &LogSource) -> Vec<&Family> {
        let options = |field: &Option<String>| {
            let named = field.as_deref().map(str::to_ascii_lowercase);
            [None].into_iter().chain(named.map(Some)).collect::<Vec<_>>()
        };
        let (services, categories) = (options(&ls.service), options(&ls.category));
        let mut found = Vec::new();
        for product in options(&ls.product) {
            for service in &services {
                for category in &categories {
                    let key = (product.clone(), service.clone(), category.clone());
                    found.extend(self.by_key.get(&key).copied());
                }
            }
        }
        found.sort_unstable();
        found.into_iter().map(|i| &self.families[i]).collect()
    }
}

impl Family {
    fn engine(&self) -> &Engine {
        self.engine.get_or_init(|| {
            let rules = std::mem::take(&mut *self.pending.lock().unwrap_or_else(PoisonError::into_inner));
            let mut engine = Engine::new();
            engine.extend_compiled_rules(rules);
            engine
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::RuleSet;
    use rsigma_eval::JsonEvent;
    use rsigma_parser::LogSource;
    use serde_json::json;

    fn rule(id: &str, logsource: &str, values: usize) -> String {
        let mut needles = vec!["whoami".to_owned()];
        needles.extend((1..values).map(|i| format!("needle{i}")));
        let needles: String = needles.iter().map(|n| format!("\n            - '{n}'")).collect();
        format!(
            "title: {id}\nid: {id}\nlogsource:\n{logsource}\ndetection:\n    sel:\n        CommandLine|contains:{needles}\n    condition: sel\n"
        )
    }

    fn fired(rules: &RuleSet, logsource: Option<&LogSource>) -> Vec<String> {
        let event = json!({"CommandLine": "cmd /c whoami", "User": "svc"});
        let mut ids: Vec<String> =
            rules.detect(&JsonEvent::borrow(&event), logsource).into_iter().filter_map(|r| r.header.rule_id).collect();
        ids.sort();
        ids
    }

    fn documents(extra: &[(&str, String)]) -> Vec<(String, String)> {
        let mut docs = vec![
            ("product.yml".to_owned(), rule("product-only", "    product: windows", 1)),
            ("category.yml".to_owned(), rule("category-only", "    category: process_creation", 1)),
            ("full.yml".to_owned(), rule("full", "    product: windows\n    category: process_creation", 2)),
            ("scanned.yml".to_owned(), rule("scanned", "    product: windows\n    category: process_creation", 60)),
            ("service.yml".to_owned(), rule("service", "    product: windows\n    service: security", 1)),
            ("linux.yml".to_owned(), rule("linux", "    product: linux\n    category: process_creation", 1)),
        ];
        docs.extend(extra.iter().map(|(name, text)| (name.to_string(), text.clone())));
        docs
    }

    fn sysmon_process_creation() -> LogSource {
        LogSource {
            product: Some("windows".into()),
            service: Some("sysmon".into()),
            category: Some("process_creation".into()),
            ..LogSource::default()
        }
    }

    #[test]
    fn every_family_a_logsource_matches_is_evaluated() {
        let docs = documents(&[]);
        let docs: Vec<(&str, &str)> = docs.iter().map(|(n, t)| (n.as_str(), t.as_str())).collect();
        let (rules, report) = RuleSet::load_documents(&docs);
        assert_eq!(rules.detection_rules(), 6, "{}", report.summary());
        assert_eq!(
            fired(&rules, Some(&sysmon_process_creation())),
            ["category-only", "full", "product-only", "scanned"]
        );
        // Logsource values are compared ASCII case-insensitively, as rsigma does.
        let upper = LogSource { product: Some("Windows".into()), ..sysmon_process_creation() };
        assert_eq!(fired(&rules, Some(&upper)), ["category-only", "full", "product-only", "scanned"]);
        let security =
            LogSource { product: Some("windows".into()), service: Some("security".into()), ..LogSource::default() };
        assert_eq!(fired(&rules, Some(&security)), ["product-only", "service"]);
        assert_eq!(fired(&rules, None), ["category-only", "full", "linux", "product-only", "scanned", "service"]);
    }

    #[test]
    fn filters_reach_every_rule_including_those_with_many_values() {
        let filter =
            "title: Not for svc\nfilter:\n    rules: []\n    svc:\n        User: svc\n    condition: not svc\n";
        let docs = documents(&[("filter.yml", filter.to_owned())]);
        let docs: Vec<(&str, &str)> = docs.iter().map(|(n, t)| (n.as_str(), t.as_str())).collect();
        let (rules, report) = RuleSet::load_documents(&docs);
        assert!(!report.has_errors(), "{:?}", report.skipped_entries().collect::<Vec<_>>());
        assert!(fired(&rules, Some(&sysmon_process_creation())).is_empty());
        assert!(fired(&rules, None).is_empty());
    }
}
