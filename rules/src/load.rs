//! Rule directories → one engine, with an account of every document: loaded, or skipped and why.
//!
//! A SOC drops community rule packs in unchanged, so a rule the engine cannot take must never
//! take the others down with it, and must never disappear without a line in the report.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::path::{Path, PathBuf};

use rsigma_eval::{CompiledRule, CorrelationConfig, CorrelationEngine, CorrelationEventMode};
use rsigma_parser::{CorrelationRule, Detection, FilterRule, SigmaCollection, SigmaRule, parse_sigma_yaml};
use serde::Serialize;

use crate::RuleSet;

/// Rule files larger than this are refused: SigmaHQ's largest is under 100 KiB, and a rule file
/// comes from outside the process.
pub const MAX_RULE_FILE_BYTES: u64 = 4 << 20;

/// How long a correlation that fired for a group (e.g. one agent) stays quiet for it.
pub const SUPPRESS_SECS: u64 = 300;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DocumentKind {
    Detection,
    Correlation,
    Filter,
    /// A file or YAML document that did not parse far enough to tell what it was.
    Unknown,
}

impl DocumentKind {
    pub fn as_str(self) -> &'static str {
        match self {
            DocumentKind::Detection => "detection",
            DocumentKind::Correlation => "correlation",
            DocumentKind::Filter => "filter",
            DocumentKind::Unknown => "document",
        }
    }
}

/// One line of the load report.
#[derive(Clone, Debug, Serialize)]
pub struct ReportEntry {
    pub file: PathBuf,
    pub kind: DocumentKind,
    pub id: Option<String>,
    pub title: Option<String>,
    /// `None` when the document loaded; otherwise why it was skipped.
    pub skipped: Option<String>,
}

/// What happened to every rule document found under the rule directories.
#[derive(Clone, Debug, Default, Serialize)]
pub struct LoadReport {
    pub files: usize,
    pub entries: Vec<ReportEntry>,
}

impl LoadReport {
    pub fn loaded(&self) -> usize {
        self.entries.iter().filter(|e| e.skipped.is_none()).count()
    }

    pub fn skipped(&self) -> usize {
        self.entries.iter().filter(|e| e.skipped.is_some()).count()
    }

    pub fn skipped_entries(&self) -> impl Iterator<Item = &ReportEntry> {
        self.entries.iter().filter(|e| e.skipped.is_some())
    }

    pub fn has_errors(&self) -> bool {
        self.skipped() > 0
    }

    /// One line for logs: `3754 rules loaded, 2 skipped from 3751 files`.
    pub fn summary(&self) -> String {
        format!("{} rules loaded, {} skipped from {} files", self.loaded(), self.skipped(), self.files)
    }

    fn push(
        &mut self,
        file: &Path,
        kind: DocumentKind,
        id: Option<&str>,
        title: Option<&str>,
        skipped: Option<String>,
    ) {
        self.entries.push(ReportEntry {
            file: file.to_path_buf(),
            kind,
            id: id.map(str::to_owned),
            title: title.map(str::to_owned),
            skipped,
        });
    }
}

impl fmt::Display for ReportEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let status = if self.skipped.is_some() { "SKIP" } else { "ok" };
        write!(
            f,
            "{status:4} {} {}",
            self.kind.as_str(),
            haidang_proto::text::terminal_safe(&self.file.to_string_lossy())
        )?;
        if let Some(title) = &self.title {
            write!(f, " \"{}\"", haidang_proto::text::terminal_safe(title))?;
        }
        if let Some(id) = &self.id {
            write!(f, " ({})", haidang_proto::text::terminal_safe(id))?;
        }
        if let Some(reason) = &self.skipped {
            write!(f, ": {}", haidang_proto::text::terminal_safe(reason))?;
        }
        Ok(())
    }
}

struct Sourced<T> {
    file: PathBuf,
    doc: T,
}

#[derive(Default)]
struct Parsed {
    rules: Vec<Sourced<SigmaRule>>,
    correlations: Vec<Sourced<CorrelationRule>>,
    filters: Vec<Sourced<FilterRule>>,
}

pub(crate) fn load<P: AsRef<Path>>(shipped: &[(&str, &str)], dirs: &[P]) -> (RuleSet, LoadReport) {
    let mut report = LoadReport::default();
    let mut parsed = Parsed::default();
    report.files += shipped.len();
    for (name, text) in shipped {
        parse_text(Path::new(name), text, &mut parsed, &mut report);
    }
    for dir in dirs {
        let mut files = Vec::new();
        collect_rule_files(dir.as_ref(), &mut files, &mut report);
        files.sort();
        report.files += files.len();
        for file in files {
            parse_file(&file, &mut parsed, &mut report);
        }
    }
    // Refs keep only (time, event id) per buffered event: enough for an alert to name its
    // triggering events, without holding event bodies in memory or in the saved state.
    // A correlation that fired for a group stays quiet for `SUPPRESS_SECS`: a wiper deleting
    // a hundred thousand files is one alert every few minutes, not one per file.
    let config = CorrelationConfig {
        correlation_event_mode: CorrelationEventMode::Refs,
        suppress: Some(SUPPRESS_SECS),
        ..CorrelationConfig::default()
    };
    let new_engine = || CorrelationEngine::new(config.clone());
    let mut engine = new_engine();
    // rsigma applies filters, `rsigma.*` attributes and correlation lookups by rule name only
    // to rules inside its engine: a rule any of them may need is never scanned on its own.
    let referenced: HashSet<&str> =
        parsed.correlations.iter().flat_map(|c| c.doc.rules.iter().map(String::as_str)).collect();
    let filtered = !parsed.filters.is_empty();
    let keep_in_engine = |rule: &SigmaRule| {
        filtered
            || rule.custom_attributes.keys().any(|k| k.starts_with("rsigma."))
            || [&rule.id, &rule.name].into_iter().flatten().any(|r| referenced.contains(r.as_str()))
    };
    let mut scanned = Vec::new();
    let (detections, known) =
        add_detections(&mut engine, &new_engine, parsed.rules, &keep_in_engine, &mut scanned, &mut report);
    add_filters(&mut engine, parsed.filters, &mut report);
    let correlations = add_correlations(&mut engine, parsed.correlations, &known, &mut report);
    (RuleSet::new(engine, scanned, detections, correlations), report)
}

fn collect_rule_files(path: &Path, out: &mut Vec<PathBuf>, report: &mut LoadReport) {
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) => {
            report.push(path, DocumentKind::Unknown, None, None, Some(format!("cannot read: {e}")));
            return;
        }
    };
    if meta.is_file() {
        out.push(path.to_path_buf());
        return;
    }
    let entries = match std::fs::read_dir(path) {
        Ok(entries) => entries,
        Err(e) => {
            report.push(path, DocumentKind::Unknown, None, None, Some(format!("cannot list directory: {e}")));
            return;
        }
    };
    for entry in entries.flatten() {
        let child = entry.path();
        // Not following symlinked directories keeps a link loop from hanging the load.
        let Ok(kind) = entry.file_type() else { continue };
        if kind.is_dir() {
            collect_rule_files(&child, out, report);
        } else if matches!(child.extension().and_then(|e| e.to_str()), Some("yml" | "yaml")) {
            out.push(child);
        }
    }
}

fn parse_file(file: &Path, parsed: &mut Parsed, report: &mut LoadReport) {
    let text = match read_bounded(file) {
        Ok(text) => text,
        Err(reason) => {
            report.push(file, DocumentKind::Unknown, None, None, Some(reason));
            return;
        }
    };
    parse_text(file, &text, parsed, report);
}

fn parse_text(file: &Path, text: &str, parsed: &mut Parsed, report: &mut LoadReport) {
    let collection = match parse_sigma_yaml(text) {
        Ok(c) => c,
        Err(e) => {
            report.push(file, DocumentKind::Unknown, None, None, Some(e.to_string()));
            return;
        }
    };
    let SigmaCollection { rules, correlations, filters, errors } = collection;
    for error in errors {
        report.push(file, DocumentKind::Unknown, None, None, Some(error));
    }
    parsed.rules.extend(rules.into_iter().map(|doc| Sourced { file: file.to_path_buf(), doc }));
    parsed.correlations.extend(correlations.into_iter().map(|doc| Sourced { file: file.to_path_buf(), doc }));
    parsed.filters.extend(filters.into_iter().map(|doc| Sourced { file: file.to_path_buf(), doc }));
}

fn read_bounded(file: &Path) -> Result<String, String> {
    let meta = std::fs::metadata(file).map_err(|e| format!("cannot read: {e}"))?;
    if meta.len() > MAX_RULE_FILE_BYTES {
        return Err(format!("file is {} bytes; rule files are limited to {MAX_RULE_FILE_BYTES}", meta.len()));
    }
    let bytes = std::fs::read(file).map_err(|e| format!("cannot read: {e}"))?;
    String::from_utf8(bytes).map_err(|e| format!("not UTF-8 (byte {})", e.utf8_error().valid_up_to()))
}

/// Identities (ids and names) of the detection rules that loaded, for correlation references.
type Known = HashSet<String>;

/// A rule matching against more values than this is kept out of rsigma's candidate index and
/// evaluated on its own (see [`Scanned`]). SigmaHQ has 14 such rules (hash and driver-name
/// lists, emoji sets, module names), with 200 to several thousand values each; the next
/// largest have about 150.
const SCAN_VALUES: usize = 200;

/// Adds the detection rules that compile to `engine`, or to `scanned` for the few with huge
/// value lists; returns how many loaded and their identities.
///
/// rsigma indexes every rule's needles in one ASCII case-insensitive DFA per field. A handful
/// of rules with hundreds or thousands of needles (hashes, emoji) make those automata most of
/// the rule set's memory and build time: on SigmaHQ they took the index from about 40 to 120
/// MiB and its build from 0.2 to 0.7 s. Evaluated on their own, each with its own automaton,
/// they cost a few microseconds per event of their logsource.
fn add_detections(
    engine: &mut CorrelationEngine,
    new_engine: &dyn Fn() -> CorrelationEngine,
    rules: Vec<Sourced<SigmaRule>>,
    keep_in_engine: &dyn Fn(&SigmaRule) -> bool,
    scanned: &mut Vec<CompiledRule>,
    report: &mut LoadReport,
) -> (usize, Known) {
    struct Outcome {
        file: PathBuf,
        id: Option<String>,
        name: Option<String>,
        title: String,
        /// `None` when the rule loaded; otherwise why it was skipped.
        skipped: Option<String>,
    }
    let mut first_seen: HashMap<String, PathBuf> = HashMap::new();
    // Outcomes in file order, reported once known.
    let mut outcomes = Vec::with_capacity(rules.len());
    // The rules for rsigma's engine, and where each one's outcome is.
    let mut indexed = SigmaCollection::new();
    let mut indexed_at = Vec::new();
    for Sourced { file, doc } in rules {
        let mut outcome =
            Outcome { file, id: doc.id.clone(), name: doc.name.clone(), title: doc.title.clone(), skipped: None };
        if let Some(id) = &outcome.id {
            if let Some(first) = first_seen.get(id) {
                outcome.skipped = Some(format!("duplicate rule id; first loaded from {}", first.display()));
                outcomes.push(outcome);
                continue;
            }
            first_seen.insert(id.clone(), outcome.file.clone());
        }
        if detection_values(&doc) > SCAN_VALUES && !keep_in_engine(&doc) {
            match rsigma_eval::compile_rule(&doc) {
                Ok(compiled) => scanned.push(compiled),
                Err(e) => outcome.skipped = Some(e.to_string()),
            }
        } else {
            indexed_at.push(outcomes.len());
            indexed.rules.push(doc);
        }
        outcomes.push(outcome);
    }
    // One collection, so rsigma builds its candidate index once (single adds are folded in
    // only at doubling watermarks: adding SigmaHQ's rules one by one left 1,706 unindexed,
    // 2.6x the CPU per event). It stops at the first rule that does not compile; only then is
    // each rule compiled alone, to report the bad ones and load the rest into a fresh engine.
    if engine.add_collection(&indexed).is_err() {
        let mut at = indexed_at.iter();
        indexed.rules.retain(|doc| {
            let error = rsigma_eval::compile_rule(doc).err().map(|e| e.to_string());
            let good = error.is_none();
            if let Some(i) = at.next() {
                outcomes[*i].skipped = error;
            }
            good
        });
        *engine = new_engine();
        if let Err(e) = engine.add_collection(&indexed) {
            // Every rule compiled alone, so this is an engine fault, not a rule's: report it.
            report.push(
                Path::new("(engine)"),
                DocumentKind::Unknown,
                None,
                None,
                Some(format!("adding the rules: {e}")),
            );
            for i in &indexed_at {
                outcomes[*i].skipped.get_or_insert_with(|| "not added: the engine failed".to_owned());
            }
        }
    }
    let mut loaded = 0;
    let mut known = Known::new();
    for Outcome { file, id, name, title, skipped } in outcomes {
        if skipped.is_none() {
            loaded += 1;
            known.extend(id.iter().cloned());
            known.extend(name);
        }
        report.push(&file, DocumentKind::Detection, id.as_deref(), Some(&title), skipped);
    }
    (loaded, known)
}

/// How many values a rule's detections match against.
fn detection_values(rule: &SigmaRule) -> usize {
    fn values(detection: &Detection) -> usize {
        match detection {
            Detection::AllOf(items) => items.iter().map(|i| i.values.len()).sum(),
            Detection::AnyOf(parts) | Detection::And(parts) => parts.iter().map(values).sum(),
            Detection::Keywords(keywords) => keywords.len(),
            Detection::ArrayMatch { body, .. } => values(body),
            Detection::Conditional { named, .. } => named.values().map(values).sum(),
        }
    }
    rule.detection.named.values().map(values).sum()
}

fn add_filters(engine: &mut CorrelationEngine, filters: Vec<Sourced<FilterRule>>, report: &mut LoadReport) {
    for Sourced { file, doc } in filters {
        let (id, title) = (doc.id.clone(), doc.title.clone());
        // The correlation engine applies filters only through a collection; one filter per
        // collection keeps a bad filter from rejecting the good ones.
        let one = SigmaCollection { filters: vec![doc], ..SigmaCollection::new() };
        let outcome = engine.add_collection(&one).err().map(|e| e.to_string());
        report.push(&file, DocumentKind::Filter, id.as_deref(), Some(&title), outcome);
    }
}

fn add_correlations(
    engine: &mut CorrelationEngine,
    correlations: Vec<Sourced<CorrelationRule>>,
    detections: &Known,
    report: &mut LoadReport,
) -> usize {
    // Correlations may reference other correlations, so every correlation identity is known
    // before any is checked.
    let mut known = detections.clone();
    for c in &correlations {
        known.extend(c.doc.id.iter().cloned());
        known.extend(c.doc.name.iter().cloned());
    }
    let mut loaded = 0;
    for Sourced { file, doc } in correlations {
        let id = doc.id.as_deref();
        let missing: Vec<&str> = doc.rules.iter().map(String::as_str).filter(|r| !known.contains(*r)).collect();
        let outcome = if missing.is_empty() {
            engine.add_correlation(&doc).err().map(|e| e.to_string())
        } else {
            Some(format!("references rules that did not load: {}", missing.join(", ")))
        };
        if outcome.is_none() {
            loaded += 1;
        }
        report.push(&file, DocumentKind::Correlation, id, Some(&doc.title), outcome);
    }
    loaded
}
