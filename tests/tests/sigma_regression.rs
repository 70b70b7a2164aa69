//! SigmaHQ's own regression data, run through our Windows mapping: the three SigmaHQ rule
//! folders load (every document loads or is reported with a reason), and for each of the 202
//! rule/log pairs under `regression_data`, hunting the pair's `.evtx` the way
//! `haidang-collector hunt` does fires the pair's rule, at least as often as the pair's
//! `match_count` says, and never twice on one record.
//!
//! A pair that cannot fire must be listed in [`KNOWN_MISSES`] with its reason; the test fails
//! both when an unlisted pair misses and when a listed one starts firing.

use haidang_collector::hunt::input::read_evtx;
use haidang_rules::{LoadReport, RuleSet, WinEvent};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

const RULE_FOLDERS: [&str; 3] = ["rules", "rules-emerging-threats", "rules-threat-hunting"];

/// Pairs whose rule cannot fire on its log with our mapping: (rule id, why).
const KNOWN_MISSES: &[(&str, &str)] = &[];

fn sigma() -> &'static (RuleSet, LoadReport) {
    static LOADED: OnceLock<(RuleSet, LoadReport)> = OnceLock::new();
    LOADED.get_or_init(|| {
        let dirs: Vec<PathBuf> = RULE_FOLDERS.iter().map(|f| haidang_testdata::sigma().join(f)).collect();
        RuleSet::load(&dirs)
    })
}

fn walk(dir: &Path, keep: &dyn Fn(&Path) -> bool, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            walk(&path, keep, out);
        } else if keep(&path) {
            out.push(path);
        }
    }
}

/// YAML documents in a file: `---`-separated parts holding more than comments.
fn documents(text: &str) -> usize {
    let mut count = 0;
    let mut content = false;
    for line in text.lines().chain(std::iter::once("---")) {
        if line.trim_end() == "---" {
            count += usize::from(content);
            content = false;
        } else if !line.trim().is_empty() && !line.trim_start().starts_with('#') {
            content = true;
        }
    }
    count
}

#[test]
fn every_sigmahq_rule_document_loads_or_is_reported() {
    let (rules, report) = sigma();
    let mut files = Vec::new();
    for folder in RULE_FOLDERS {
        let is_rule = |p: &Path| matches!(p.extension().and_then(|e| e.to_str()), Some("yml" | "yaml"));
        walk(&haidang_testdata::sigma().join(folder), &is_rule, &mut files);
    }
    let docs: usize = files.iter().map(|f| documents(&std::fs::read_to_string(f).expect("rule file"))).sum();
    assert_eq!(report.files, files.len(), "rule files seen by the loader");
    assert_eq!(report.entries.len(), docs, "one report entry per YAML document");
    assert_eq!(report.loaded() + report.skipped(), docs);
    assert!(report.entries.iter().all(|e| e.skipped.as_deref().is_none_or(|r| !r.trim().is_empty())));
    assert!(rules.detection_rules() > 3000, "{}", report.summary());
    // Kept in the test output: what was skipped, by reason (the part before any detail).
    let mut reasons: BTreeMap<String, usize> = BTreeMap::new();
    for entry in report.skipped_entries() {
        let reason = entry.skipped.as_deref().unwrap_or_default();
        *reasons.entry(reason.split([':', '(']).next().unwrap_or(reason).trim().to_owned()).or_default() += 1;
    }
    println!("{}; skipped by reason: {reasons:#?}", report.summary());
}

/// One regression pair: the rule that must fire, and the log.
struct Pair {
    rule_id: String,
    evtx: PathBuf,
    match_count: Option<usize>,
}

/// Reads the pairs from `info.yml`: `rule_metadata[].id` and `regression_tests_info[].path`
/// (commented-out entries are not pairs).
fn pairs() -> Vec<Pair> {
    let mut infos = Vec::new();
    walk(
        &haidang_testdata::sigma().join("regression_data"),
        &|p| p.file_name().is_some_and(|n| n == "info.yml"),
        &mut infos,
    );
    infos.sort();
    let mut pairs = Vec::new();
    for info in infos {
        let text = std::fs::read_to_string(&info).expect("info.yml");
        let mut section = "";
        let (mut ids, mut paths, mut counts) = (Vec::new(), Vec::new(), Vec::new());
        for line in text.lines() {
            if !line.starts_with([' ', '-', '#']) {
                section = line.trim_end_matches(':');
                continue;
            }
            let item = line.trim().trim_start_matches("- ");
            match (section, item.split_once(": ")) {
                ("rule_metadata", Some(("id", id))) => ids.push(id.trim().to_owned()),
                ("regression_tests_info", Some(("path", path))) => {
                    paths.push(haidang_testdata::sigma().join(path.trim()))
                }
                ("regression_tests_info", Some(("match_count", n))) => counts.push(n.trim().parse().expect("count")),
                _ => {}
            }
        }
        for evtx in paths {
            for rule_id in &ids {
                let match_count = if counts.len() == 1 { counts.first().copied() } else { None };
                pairs.push(Pair { rule_id: rule_id.clone(), evtx: evtx.clone(), match_count });
            }
        }
    }
    pairs
}

/// How many records of `evtx` fire each rule; no rule may fire twice on one record (an event
/// evaluated under several logsources reports each rule once).
fn fired(rules: &RuleSet, evtx: &Path) -> BTreeMap<String, usize> {
    let mut fired = BTreeMap::new();
    let stats = read_evtx(evtx, None, None, &mut |record_id, record| {
        let mut once = std::collections::BTreeSet::new();
        for result in WinEvent::new(&record).detect(rules) {
            let rule = result.header.rule_id.unwrap_or(result.header.rule_title);
            assert!(once.insert(rule.clone()), "{rule} fired twice on record {record_id} of {}", evtx.display());
            *fired.entry(rule).or_insert(0) += 1;
        }
    })
    .unwrap_or_else(|e| panic!("{}: {e}", evtx.display()));
    assert_eq!(stats.errors, 0, "{}: {:?}", evtx.display(), stats.first_error);
    fired
}

#[test]
fn every_regression_log_fires_its_rule() {
    let (rules, _) = sigma();
    let pairs = pairs();
    assert_eq!(pairs.len(), 202, "SigmaHQ regression pairs");
    let mut misses = Vec::new();
    let mut count_mismatches = Vec::new();
    for pair in &pairs {
        let fired = fired(rules, &pair.evtx);
        match fired.get(&pair.rule_id) {
            None => misses.push(pair.rule_id.clone()),
            // info.yml's count is a floor: some logs hold more matching events than it says
            // (three distinct Sysmon 13 records for registry_set_change_security_zones).
            Some(&n) if pair.match_count.is_some_and(|want| n < want) => {
                count_mismatches.push(format!("{} fired {n} times, info.yml says {:?}", pair.rule_id, pair.match_count))
            }
            Some(_) => {}
        }
    }
    let listed: Vec<&str> = KNOWN_MISSES.iter().map(|(id, _)| *id).collect();
    let unexpected: Vec<String> = misses.iter().filter(|m| !listed.contains(&m.as_str())).cloned().collect();
    let now_firing: Vec<&str> = listed.iter().filter(|id| !misses.iter().any(|m| m == *id)).copied().collect();
    println!("regression pairs fired: {}/{}", pairs.len() - misses.len(), pairs.len());
    assert!(unexpected.is_empty(), "rules that did not fire on their regression log: {unexpected:#?}");
    assert!(now_firing.is_empty(), "listed as known misses but fire now (remove them): {now_firing:#?}");
    assert!(count_mismatches.is_empty(), "fewer matches than info.yml's match_count: {count_mismatches:#?}");
}
