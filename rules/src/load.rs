//! Rule directories → one engine, with an account of every document: loaded, or skipped and why.
//!
//! A SOC drops community rule packs in unchanged, so a rule the engine cannot take must never
//! take the others down with it, and must never disappear without a line in the report.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::path::{Path, PathBuf};

use rsigma_eval::{CompiledRule, Engine};
use rsigma_parser::{FilterRule, SigmaCollection, SigmaRule, parse_sigma_yaml};
use serde::Serialize;

use crate::RuleSet;
use crate::correlation::{self, BuildingBlocks, Written};
use crate::correlator::{self, Correlator};
use crate::detection::Detection;
use crate::placeholders::Placeholders;
use crate::{conformance, presence};

/// Rule files larger than this are refused: SigmaHQ's largest is under 100 KiB, and a rule file
/// comes from outside the process.
pub const MAX_RULE_FILE_BYTES: u64 = 4 << 20;

/// How long a correlation that fired for a group (e.g. one agent) stays quiet for it.
pub(crate) const SUPPRESS_SECS: u64 = 300;

/// What a YAML document in a rule file is, as far as it parsed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DocumentKind {
    /// A Sigma detection rule: matches single events.
    Detection,
    /// A Sigma correlation rule: fires on counts or sequences of detections within a window.
    Correlation,
    /// A Sigma filter: excludes events from the detection rules it names.
    Filter,
    /// A file or YAML document that did not parse far enough to tell what it was.
    Unknown,
}

impl DocumentKind {
    /// The word the report's lines use (`document` for [`DocumentKind::Unknown`]).
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
    /// The rule file (or the in-memory document's name, `shipped:…` for shipped rules).
    pub file: PathBuf,
    /// What the document is.
    pub kind: DocumentKind,
    /// The rule's `id`, when it has one and it parsed.
    pub id: Option<String>,
    /// The rule's `title`, when it parsed.
    pub title: Option<String>,
    /// `None` when the document loaded; otherwise why it was skipped.
    pub skipped: Option<String>,
}

/// What happened to every rule document found under the rule directories.
#[derive(Clone, Debug, Default, Serialize)]
pub struct LoadReport {
    /// How many files (and in-memory documents) were read.
    pub files: usize,
    /// One entry per document found, loaded or not, in load order.
    pub entries: Vec<ReportEntry>,
}

impl LoadReport {
    /// How many documents loaded.
    pub fn loaded(&self) -> usize {
        self.entries.iter().filter(|e| e.skipped.is_none()).count()
    }

    /// How many documents were skipped.
    pub fn skipped(&self) -> usize {
        self.entries.iter().filter(|e| e.skipped.is_some()).count()
    }

    /// The skipped documents, each with its reason.
    pub fn skipped_entries(&self) -> impl Iterator<Item = &ReportEntry> {
        self.entries.iter().filter(|e| e.skipped.is_some())
    }

    /// Whether any document was skipped: what a rule check should fail on.
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
    correlations: Vec<Sourced<Written>>,
    filters: Vec<Sourced<FilterRule>>,
}

pub(crate) fn load<P: AsRef<Path>>(
    shipped: &[(&str, &str)],
    dirs: &[P],
    placeholders: &Placeholders,
) -> (RuleSet, LoadReport) {
    let mut report = LoadReport::default();
    let mut parsed = Parsed::default();
    report.files += shipped.len();
    for (name, text) in shipped {
        parse_text(Path::new(name), text, placeholders, &mut parsed, &mut report);
    }
    for dir in dirs {
        let mut files = Vec::new();
        collect_rule_files(dir.as_ref(), &mut files, &mut report);
        files.sort();
        report.files += files.len();
        parse_files(&files, placeholders, &mut parsed, &mut report);
    }
    let building_blocks = BuildingBlocks::new(
        &parsed.rules.iter().map(|r| &r.doc).collect::<Vec<_>>(),
        &parsed.correlations.iter().map(|c| &c.doc.rule).collect::<Vec<_>>(),
    );
    let (compiled, identities) = add_detections(parsed.rules, &mut report);
    let detections = compiled.len();
    let detection = if parsed.filters.is_empty() {
        Detection::families(compiled)
    } else {
        let rules = compiled.into_iter().map(|(rule, _)| rule).collect();
        Detection::one_engine(rules, |engine| add_filters(engine, parsed.filters, &mut report))
    };
    let correlation = add_correlations(parsed.correlations, &identities, &mut report);
    (RuleSet::new(detection, correlation, building_blocks, detections), report)
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

/// Reads and parses `files` on every core (YAML parsing is a third of loading SigmaHQ on one),
/// each thread a contiguous run of them, and appends the results in file order.
fn parse_files(files: &[PathBuf], placeholders: &Placeholders, parsed: &mut Parsed, report: &mut LoadReport) {
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
    let run = files.len().div_ceil(workers).max(1);
    let runs: Vec<(Parsed, LoadReport)> = std::thread::scope(|scope| {
        let threads: Vec<_> = files
            .chunks(run)
            .map(|run| {
                scope.spawn(move || {
                    let mut parsed = Parsed::default();
                    let mut report = LoadReport::default();
                    for file in run {
                        parse_file(file, placeholders, &mut parsed, &mut report);
                    }
                    (parsed, report)
                })
            })
            .collect();
        threads.into_iter().map(|t| t.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic))).collect()
    });
    for (run, run_report) in runs {
        parsed.rules.extend(run.rules);
        parsed.correlations.extend(run.correlations);
        parsed.filters.extend(run.filters);
        report.entries.extend(run_report.entries);
    }
}

fn parse_file(file: &Path, placeholders: &Placeholders, parsed: &mut Parsed, report: &mut LoadReport) {
    let text = match read_bounded(file) {
        Ok(text) => text,
        Err(reason) => {
            report.push(file, DocumentKind::Unknown, None, None, Some(reason));
            return;
        }
    };
    parse_text(file, &text, placeholders, parsed, report);
}

fn parse_text(file: &Path, text: &str, placeholders: &Placeholders, parsed: &mut Parsed, report: &mut LoadReport) {
    let (text, thresholds) = correlation::written_thresholds(text);
    let text = text.as_ref();
    let collection = match parse_sigma_yaml(text) {
        Ok(c) => c,
        Err(e) => {
            report.push(file, DocumentKind::Unknown, None, None, Some(e.to_string()));
            return;
        }
    };
    let SigmaCollection { mut rules, mut correlations, filters, errors } = collection;
    correlation::name_stands_for_missing_id(&mut rules, &mut correlations);
    correlation::temporal_requires_all_rules(text, &mut correlations);
    for error in errors {
        report.push(file, DocumentKind::Unknown, None, None, Some(error));
    }
    let mut kept = Vec::with_capacity(rules.len());
    for mut rule in rules {
        if let Err(reason) = placeholders.expand(&mut rule) {
            report.push(file, DocumentKind::Detection, rule.id.as_deref(), Some(&rule.title), Some(reason));
            continue;
        }
        if let Err(reason) = conformance::rewrite(&mut rule, text) {
            report.push(file, DocumentKind::Detection, rule.id.as_deref(), Some(&rule.title), Some(reason));
            continue;
        }
        presence::rewrite(&mut rule);
        kept.push(rule);
    }
    let rules = kept;
    parsed.rules.extend(rules.into_iter().map(|doc| Sourced { file: file.to_path_buf(), doc }));
    parsed.correlations.extend(
        correlations.into_iter().map(|rule| Sourced { file: file.to_path_buf(), doc: Written::new(rule, &thresholds) }),
    );
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

/// The id, and name, of each detection rule that loaded with an id (a rule with a name has
/// one, see `name_stands_for_missing_id`), for correlation references.
type Identities = Vec<(String, Option<String>)>;

/// Compiles the detection rules on every core; returns those that compile, each with its
/// number of detection values, and their identities.
///
/// Each rule is compiled alone, so a bad one is reported by itself, and once: the compiled
/// rules go to rsigma's engines in batches, so each candidate index is built once (single adds
/// are folded in only at doubling watermarks: adding SigmaHQ's rules one by one left 1,706
/// unindexed, 2.6x the CPU per event). A rule's YAML is dropped once it is compiled, before any
/// index is built.
fn add_detections(rules: Vec<Sourced<SigmaRule>>, report: &mut LoadReport) -> (Vec<(CompiledRule, usize)>, Identities) {
    let mut first_seen: HashMap<String, PathBuf> = HashMap::new();
    let mut unique = Vec::with_capacity(rules.len());
    for Sourced { file, doc } in rules {
        if let Some(id) = &doc.id {
            if let Some(first) = first_seen.get(id) {
                let reason = format!("duplicate rule id; first loaded from {}", first.display());
                report.push(&file, DocumentKind::Detection, Some(id), Some(&doc.title), Some(reason));
                continue;
            }
            first_seen.insert(id.clone(), file.clone());
        }
        unique.push(Sourced { file, doc });
    }
    let mut loaded = Vec::with_capacity(unique.len());
    let mut identities = Identities::new();
    for compiled in compile_all(unique) {
        let Compiled { file, id, name, title, values, outcome } = compiled;
        let skipped = match outcome {
            Ok(rule) => {
                loaded.push((rule, values));
                if let Some(id) = &id {
                    identities.push((id.clone(), name));
                }
                None
            }
            Err(e) => Some(e),
        };
        report.push(&file, DocumentKind::Detection, id.as_deref(), Some(&title), skipped);
    }
    (loaded, identities)
}

/// A detection rule compiled, or why not, with what the load still needs of its YAML.
struct Compiled {
    file: PathBuf,
    id: Option<String>,
    name: Option<String>,
    title: String,
    /// How many values its detections match against.
    values: usize,
    outcome: Result<CompiledRule, String>,
}

/// Compiles `rules` on every core, each thread a contiguous run; results in input order.
fn compile_all(rules: Vec<Sourced<SigmaRule>>) -> Vec<Compiled> {
    let compile = |Sourced { file, doc }: Sourced<SigmaRule>| Compiled {
        outcome: rsigma_eval::compile_rule(&doc).map_err(|e| e.to_string()),
        values: detection_values(&doc),
        id: doc.id.clone(),
        name: doc.name.clone(),
        title: doc.title.clone(),
        file,
    };
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
    let run = rules.len().div_ceil(workers).max(1);
    let mut runs = Vec::new();
    let mut rules = rules.into_iter();
    loop {
        let next: Vec<_> = rules.by_ref().take(run).collect();
        if next.is_empty() {
            break;
        }
        runs.push(next);
    }
    std::thread::scope(|scope| {
        let threads: Vec<_> =
            runs.into_iter().map(|run| scope.spawn(move || run.into_iter().map(compile).collect::<Vec<_>>())).collect();
        threads.into_iter().flat_map(|t| t.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic))).collect()
    })
}

/// How many values a rule's detections match against.
fn detection_values(rule: &SigmaRule) -> usize {
    use rsigma_parser::Detection;
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

fn add_filters(engine: &mut Engine, filters: Vec<Sourced<FilterRule>>, report: &mut LoadReport) {
    for Sourced { file, doc } in filters {
        // One at a time, so a bad filter does not reject the good ones.
        let outcome = engine.apply_filter(&doc).err().map(|e| e.to_string());
        report.push(&file, DocumentKind::Filter, doc.id.as_deref(), Some(&doc.title), outcome);
    }
}

fn add_correlations(
    correlations: Vec<Sourced<Written>>,
    detections: &Identities,
    report: &mut LoadReport,
) -> Correlator {
    // Correlations may reference other correlations, so every correlation identity is known
    // before any is checked; a refused one is not, so a chain over it is reported too.
    let identities: Vec<String> =
        correlations.iter().flat_map(|c| c.doc.rule.id.iter().chain(c.doc.rule.name.iter()).cloned()).collect();
    let chained: HashSet<&str> = identities.iter().map(String::as_str).collect();
    let why_not = |written: &Written| {
        correlation::refusal(&written.rule, &chained)
            .or_else(|| correlator::unsupported(&written.rule, &written.thresholds))
    };
    let mut known: HashSet<&str> =
        detections.iter().flat_map(|(id, name)| std::iter::once(id.as_str()).chain(name.as_deref())).collect();
    for c in correlations.iter().filter(|c| why_not(&c.doc).is_none()) {
        known.extend(c.doc.rule.id.as_deref());
        known.extend(c.doc.rule.name.as_deref());
    }
    let mut loaded = Vec::new();
    for Sourced { file, doc } in &correlations {
        let rule = &doc.rule;
        let missing: Vec<&str> = rule.rules.iter().map(String::as_str).filter(|r| !known.contains(*r)).collect();
        let outcome = if let Some(refused) = why_not(doc) {
            Some(refused)
        } else if missing.is_empty() {
            None
        } else {
            Some(format!("references rules that did not load: {}", missing.join(", ")))
        };
        if outcome.is_none() {
            loaded.push(doc.clone());
        }
        report.push(file, DocumentKind::Correlation, rule.id.as_deref(), Some(&rule.title), outcome);
    }
    Correlator::new(&loaded, detections, SUPPRESS_SECS)
}
