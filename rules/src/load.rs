//! Rule directories → one engine, with an account of every document: loaded, or skipped and why.
//!
//! A SOC drops community rule packs in unchanged, so a rule the engine cannot take must never
//! take the others down with it, and must never disappear without a line in the report.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::path::{Path, PathBuf};

use rsigma_eval::{CorrelationConfig, CorrelationEngine, CorrelationEventMode};
use rsigma_parser::{CorrelationRule, FilterRule, SigmaCollection, SigmaRule, parse_sigma_yaml};
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
    let mut engine = CorrelationEngine::new(config);
    let (detections, known) = add_detections(&mut engine, parsed.rules, &mut report);
    add_filters(&mut engine, parsed.filters, &mut report);
    let correlations = add_correlations(&mut engine, parsed.correlations, &known, &mut report);
    (RuleSet::new(engine, detections, correlations), report)
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

/// Adds the detection rules that compile; returns how many did and their identities.
fn add_detections(
    engine: &mut CorrelationEngine,
    rules: Vec<Sourced<SigmaRule>>,
    report: &mut LoadReport,
) -> (usize, Known) {
    let mut loaded = 0;
    let mut good = Vec::new();
    let mut first_seen: HashMap<String, PathBuf> = HashMap::new();
    let mut known = Known::new();
    for Sourced { file, doc } in rules {
        let id = doc.id.as_deref();
        if let Some(id) = id
            && let Some(first) = first_seen.get(id)
        {
            let reason = format!("duplicate rule id; first loaded from {}", first.display());
            report.push(&file, DocumentKind::Detection, Some(id), Some(&doc.title), Some(reason));
            continue;
        }
        // Each rule is compiled alone so a bad one is reported by itself; the good ones are
        // then added in one collection, because rsigma builds its candidate index once per
        // collection but folds single adds in only at doubling watermarks (rules added one by
        // one left 1,706 of SigmaHQ's 3,754 unindexed: 2.6x the CPU per event).
        match rsigma_eval::compile_rule(&doc) {
            Ok(_) => {
                loaded += 1;
                if let Some(id) = id {
                    first_seen.insert(id.to_owned(), file.clone());
                    known.insert(id.to_owned());
                }
                if let Some(name) = &doc.name {
                    known.insert(name.clone());
                }
                report.push(&file, DocumentKind::Detection, id, Some(&doc.title), None);
                good.push(doc);
            }
            Err(e) => report.push(&file, DocumentKind::Detection, id, Some(&doc.title), Some(e.to_string())),
        }
    }
    if let Err(e) = engine.add_collection(&SigmaCollection { rules: good, ..SigmaCollection::new() }) {
        // Every rule compiled alone above, so this is an engine fault, not a rule's: report it.
        report.push(Path::new("(engine)"), DocumentKind::Unknown, None, None, Some(format!("adding the rules: {e}")));
        loaded = 0;
        known.clear();
    }
    (loaded, known)
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
