//! `haidang-agent scan`: scans files and directories on demand, without enrollment.
//!
//! Two engines, alone or together: YARA (`--yara DIR`, cargo feature `yara`) and DLP
//! (`--dlp`: the container walker and the Vietnamese detectors, with the findings decided by
//! a policy for one channel, `at_rest` unless `--channel` says otherwise). Each turns a file
//! into [`Finding`]s; what an engine could not inspect — a file, or with DLP a part of a
//! document — is an [`Unscanned`] with the reason, never a silent pass.
//!
//! Output: findings on stdout (text, or with `--json` one object per line), files that could
//! not be scanned also on stdout with `--json` (on stderr otherwise), a summary on stderr, a
//! progress bar on stderr when it is a terminal. Exit code: 0 nothing found, 1 findings,
//! 2 error (including a file that could not be scanned and no findings).

use super::yara::{self, Malware};
use anyhow::{Context, Result};
use haidang_dlp::extract::{Extractor, Limits};
use haidang_dlp::{self as dlp, Action, Channel, DetectorSet, Policy};
use haidang_proto::Text;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::Instant;

/// What to scan and how to report it.
pub struct Options {
    /// A YARA rule file or a directory of them.
    pub yara: Option<PathBuf>,
    /// Keep the compiled YARA rules in the user's cache directory and use them next time.
    pub rule_cache: bool,
    /// Scan for sensitive data and state-secret markings.
    pub dlp: bool,
    /// A directory of DLP policy files; the shipped policy when absent.
    pub policy: Option<PathBuf>,
    /// The channel DLP findings are decided for.
    pub channel: Channel,
    /// One JSON object per line instead of text.
    pub json: bool,
    /// Files and directories (scanned recursively, symbolic links inside not followed).
    pub paths: Vec<PathBuf>,
    /// Files larger than this many bytes are reported as not scanned.
    pub max_file_size: u64,
    /// Draw a progress bar on stderr.
    pub progress: bool,
}

/// Something an engine found in a file.
#[derive(Debug)]
pub enum Finding {
    /// A YARA rule matched.
    Malware(Malware),
    /// A DLP detector found something (boxed: several times the size of a YARA match).
    Dlp(Box<DlpFinding>),
}

/// A DLP finding in a file, with what the policy decided for it.
#[derive(Debug)]
pub struct DlpFinding {
    pub path: PathBuf,
    pub sha256: [u8; 32],
    pub finding: dlp::Finding,
    pub channel: Channel,
    /// The action and the rule deciding it; none when no rule covers the finding.
    pub decided: Option<(Action, String)>,
}

/// A file, or a part of a document, that could not be inspected, and why.
#[derive(Debug)]
pub struct Unscanned {
    pub path: PathBuf,
    /// The part of a document (DLP), when the verdict is about a part.
    pub container_path: Option<String>,
    pub reason: String,
    /// What the DLP policy decided for it.
    pub decided: Option<(Action, String)>,
}

impl Unscanned {
    fn file(path: &Path, reason: String) -> Unscanned {
        Unscanned { path: path.to_path_buf(), container_path: None, reason, decided: None }
    }

    fn json(&self) -> Value {
        let mut v =
            json!({ "kind": "not_scanned", "path": Text::from(self.path.as_path()).as_str(), "reason": self.reason });
        if let Some(part) = &self.container_path {
            v["container_path"] = json!(part);
        }
        if let Some((action, rule)) = &self.decided {
            v["action"] = json!(action.as_str());
            v["policy"] = json!(rule);
        }
        v
    }

    fn text(&self) -> String {
        let part = self
            .container_path
            .as_ref()
            .map_or(String::new(), |p| format!(" ({})", Text::from(p.as_str()).display_safe()));
        let action =
            self.decided.as_ref().map_or(String::new(), |(a, rule)| format!(" action={} ({rule})", a.as_str()));
        format!("not scanned: {}{part}: {}{action}", Text::from(self.path.as_path()).display_safe(), self.reason)
    }
}

impl Finding {
    fn json(&self) -> Value {
        match self {
            Finding::Malware(m) => yara::malware_json(m),
            Finding::Dlp(d) => {
                let f = &d.finding;
                let (action, rule) = d.decided.as_ref().map(|(a, r)| (a.as_str(), r.as_str())).unzip();
                json!({
                    "kind": "dlp",
                    "path": Text::from(d.path.as_path()).as_str(),
                    "container_path": Text::from(f.location.part.as_str()).as_str(),
                    "line": f.location.line,
                    "detector": f.detector.as_str(),
                    "count": f.count,
                    "confidence": f.confidence,
                    "masked_sample": f.masked_sample,
                    "level": f.level.map(|l| l.as_str()),
                    "view": f.view,
                    "sha256": hex::encode(d.sha256),
                    "channel": d.channel.as_str(),
                    "action": action,
                    "policy": rule,
                })
            }
        }
    }

    fn text(&self) -> String {
        match self {
            Finding::Malware(m) => yara::malware_text(m),
            Finding::Dlp(d) => {
                let f = &d.finding;
                let what = match (&f.level, &f.masked_sample) {
                    (Some(level), _) => format!(" level={}", level.as_str()),
                    (None, Some(sample)) => format!(" sample={sample}"),
                    (None, None) => String::new(),
                };
                let action =
                    d.decided.as_ref().map_or("none".to_owned(), |(a, rule)| format!("{} ({rule})", a.as_str()));
                format!(
                    "{}: dlp {} count={} confidence={}{what} in {} line {} action[{}]={action} sha256:{}",
                    Text::from(d.path.as_path()).display_safe(),
                    f.detector,
                    f.count,
                    json!(f.confidence).as_str().unwrap_or_default(),
                    Text::from(f.location.part.as_str()).display_safe(),
                    f.location.line,
                    d.channel.as_str(),
                    hex::encode(d.sha256)
                )
            }
        }
    }
}

/// The DLP engine of a run.
struct Dlp {
    set: DetectorSet,
    extractor: Extractor,
    policy: Policy,
    channel: Channel,
}

impl Dlp {
    fn load(options: &Options) -> Result<Dlp> {
        let policy = match &options.policy {
            Some(dir) => Policy::load_dir(dir)?,
            None => Policy::shipped()?,
        };
        let set = DetectorSet::new(dlp::Config::default()).context("building the DLP detectors")?;
        // The size cap of the command holds for documents too: a larger one is not inspected.
        let limits = Limits { max_input_bytes: options.max_file_size, ..Limits::default() };
        let extractor =
            Extractor::new(limits).context("locating the agent executable for document extraction")?.keeping_buffers();
        Ok(Dlp { set, extractor, policy, channel: options.channel })
    }

    /// Scans one file into `outcome`.
    fn scan(&self, path: &Path, outcome: &mut Outcome) {
        let doc = match self.extractor.scan_document(&self.set, path) {
            Ok(doc) => doc,
            Err(e) => return outcome.unscanned.push(Unscanned::file(path, format!("cannot read: {e}"))),
        };
        if outcome.bytes.is_none() {
            outcome.bytes = Some(std::fs::metadata(path).map_or(0, |md| md.len()));
        }
        let decision = self.policy.decide(self.channel, &doc.findings, &doc.could_not_inspect);
        for finding in &doc.findings {
            // One finding per detector and document, so the detector names the decision.
            let decided = decision
                .findings
                .iter()
                .find(|c| c.item.detector == finding.detector)
                .map(|c| (c.action, c.rule.to_owned()));
            outcome.findings.push(Finding::Dlp(Box::new(DlpFinding {
                path: path.to_path_buf(),
                sha256: doc.sha256,
                finding: finding.clone(),
                channel: self.channel,
                decided,
            })));
        }
        for (container_path, reason) in &doc.could_not_inspect {
            let decided = decision
                .could_not_inspect
                .iter()
                .find(|c| c.item.0 == *container_path)
                .map(|c| (c.action, c.rule.to_owned()));
            outcome.unscanned.push(Unscanned {
                path: path.to_path_buf(),
                container_path: Some(container_path.clone()),
                reason: reason.to_string(),
                decided,
            });
        }
    }
}

/// What one file came to.
#[derive(Default)]
struct Outcome {
    findings: Vec<Finding>,
    unscanned: Vec<Unscanned>,
    /// Its size, once an engine has read it.
    bytes: Option<u64>,
}

fn scan_yara(scanner: &mut yara::Scanner, path: &Path, outcome: &mut Outcome) {
    match scanner.scan(path) {
        Ok((matches, size)) => {
            outcome.findings.extend(matches.into_iter().map(Finding::Malware));
            outcome.bytes = Some(size);
        }
        Err(reason) => outcome.unscanned.push(Unscanned::file(path, reason)),
    }
}

/// Runs the command; the exit code says what was found.
pub fn run(options: &Options) -> Result<ExitCode> {
    anyhow::ensure!(options.dlp || options.yara.is_some(), "nothing to scan for: give --dlp or --yara DIR");
    anyhow::ensure!(!options.paths.is_empty(), "nothing to scan: give one or more paths");
    let started = Instant::now();
    let yara_engine = options.yara.as_deref().map(|dir| yara::Engine::load(dir, options.rule_cache)).transpose()?;
    let dlp = options.dlp.then(|| Dlp::load(options)).transpose()?;
    let mut engines = Vec::new();
    engines.extend(yara_engine.as_ref().map(yara::Engine::describe));
    engines.extend(dlp.as_ref().map(|d| {
        format!(
            "a DLP policy of {} rules from {} files for {}",
            d.policy.rules.len(),
            d.policy.files,
            d.channel.as_str()
        )
    }));

    let (files, walk_errors) = walk(&options.paths);
    let pb = options.progress.then(|| progress_bar(files.len() as u64));
    let next = AtomicUsize::new(0);
    let (tx, rx) = mpsc::channel::<Outcome>();
    let mut tally = Tally::default();
    let mut out = Output { json: options.json, pb: pb.clone() };
    for error in walk_errors {
        out.report(&Outcome { unscanned: vec![error], ..Outcome::default() }, &mut tally);
    }
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(files.len().max(1));
    std::thread::scope(|s| {
        for _ in 0..threads {
            let tx = tx.clone();
            let (files, next, yara_engine, dlp) = (&files, &next, yara_engine.as_ref(), dlp.as_ref());
            s.spawn(move || {
                // A YARA scanner is not Send: each thread builds its own.
                let mut scanner = yara_engine.map(|y| y.scanner(options.max_file_size));
                while let Some(path) = files.get(next.fetch_add(1, Ordering::Relaxed)) {
                    let mut outcome = Outcome::default();
                    if let Some(scanner) = scanner.as_mut() {
                        scan_yara(scanner, path, &mut outcome);
                    }
                    if let Some(dlp) = dlp {
                        dlp.scan(path, &mut outcome);
                    }
                    if tx.send(outcome).is_err() {
                        return;
                    }
                }
            });
        }
        drop(tx);
        for outcome in rx {
            out.report(&outcome, &mut tally);
            if let Some(pb) = &pb {
                pb.inc(1);
            }
        }
    });
    if let Some(pb) = pb {
        pb.finish_and_clear();
    }
    eprintln!(
        "scanned {} files ({}) in {:.2} s with {}: {} findings in {} files, {} not scanned",
        tally.scanned,
        bytesize::ByteSize(tally.bytes),
        started.elapsed().as_secs_f64(),
        engines.join(" and "),
        tally.findings,
        tally.files_with_findings,
        tally.unscanned,
    );
    Ok(if tally.findings > 0 {
        ExitCode::from(1)
    } else if tally.unscanned > 0 {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    })
}

#[derive(Default)]
struct Tally {
    scanned: u64,
    bytes: u64,
    findings: u64,
    files_with_findings: u64,
    unscanned: u64,
}

struct Output {
    json: bool,
    pb: Option<indicatif::ProgressBar>,
}

impl Output {
    fn report(&mut self, outcome: &Outcome, tally: &mut Tally) {
        if let Some(bytes) = outcome.bytes {
            tally.scanned += 1;
            tally.bytes += bytes;
        }
        tally.findings += outcome.findings.len() as u64;
        tally.files_with_findings += u64::from(!outcome.findings.is_empty());
        tally.unscanned += outcome.unscanned.len() as u64;
        for f in &outcome.findings {
            let line = if self.json { f.json().to_string() } else { f.text() };
            self.print(|| println!("{line}"));
        }
        for u in &outcome.unscanned {
            if self.json {
                let line = u.json().to_string();
                self.print(|| println!("{line}"));
            } else {
                let line = u.text();
                self.print(|| eprintln!("{line}"));
            }
        }
    }

    /// Prints without tearing the progress bar.
    fn print(&self, f: impl FnOnce()) {
        match &self.pb {
            Some(pb) => pb.suspend(f),
            None => f(),
        }
    }
}

/// The regular files under `roots`, in name order, and the paths that could not be read.
/// A root that is a symbolic link is followed (it was named on purpose); links inside
/// directories are not, so a link loop cannot trap the walk.
fn walk(roots: &[PathBuf]) -> (Vec<PathBuf>, Vec<Unscanned>) {
    let mut files = Vec::new();
    let mut errors = Vec::new();
    for root in roots {
        let root = match std::fs::symlink_metadata(root) {
            Ok(md) if md.file_type().is_symlink() => crate::paths::canonicalize(root).unwrap_or_else(|_| root.clone()),
            _ => root.clone(),
        };
        walk_into(root, &mut files, &mut errors);
    }
    (files, errors)
}

fn walk_into(path: PathBuf, files: &mut Vec<PathBuf>, errors: &mut Vec<Unscanned>) {
    let md = match std::fs::symlink_metadata(&path) {
        Ok(md) => md,
        Err(e) => return errors.push(Unscanned::file(&path, format!("cannot read: {e}"))),
    };
    if md.is_file() {
        files.push(path);
    } else if md.is_dir() {
        let entries = std::fs::read_dir(&path)
            .and_then(|dir| dir.map(|e| e.map(|e| e.path())).collect::<std::io::Result<Vec<_>>>());
        match entries {
            Ok(mut entries) => {
                entries.sort();
                for entry in entries {
                    walk_into(entry, files, errors);
                }
            }
            Err(e) => errors.push(Unscanned::file(&path, format!("cannot list directory: {e}"))),
        }
    }
}

fn progress_bar(files: u64) -> indicatif::ProgressBar {
    let pb = indicatif::ProgressBar::new(files);
    let style =
        indicatif::ProgressStyle::with_template("{bar:40} {human_pos}/{human_len} files ({elapsed}, {eta} left)")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
    pb.set_style(style);
    pb
}
