//! One file on one channel: extract and detect (the DLP content engine, cached by content
//! hash), decide with the policy, act (quarantine into the vault on `block`), and say so in
//! events: a `DlpMatch` per covered finding or unreadable part, and one `DlpVerdict` with the
//! action and what came of it. A file that cannot be inspected is a verdict policy acts on.

use super::config::DlpConfig;
use super::vault::Vault;
use anyhow::{Context, Result};
use haidang_dlp::extract::{DocumentResult, Extractor, Limits, Reason};
use haidang_dlp::{self as dlp, Action, Channel, DetectorSet, Policy};
use haidang_proto::EventBody;
use haidang_proto::Text;
use haidang_proto::event::{DlpMatch, DlpVerdict};
use std::path::Path;

/// The DLP engine of the running agent, shared by its channels.
pub struct Inspector {
    set: DetectorSet,
    extractor: Extractor,
    policy: Policy,
    vault: Vault,
    max_quarantine: u64,
}

/// What inspecting one file came to.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Events to record; empty when the policy covers nothing in the file.
    pub events: Vec<EventBody>,
    /// The policy said block (whatever came of it).
    pub blocked: bool,
}

impl Inspector {
    /// Loads the policy and the detectors; documents are parsed in child processes of the
    /// agent's own executable.
    pub fn new(cfg: &DlpConfig, vault: Vault) -> Result<Inspector> {
        let policy = match &cfg.policy {
            Some(dir) => Policy::load_dir(dir)?,
            None => Policy::shipped()?,
        };
        let set = DetectorSet::new(dlp::Config::default()).context("building the DLP detectors")?;
        let limits = Limits {
            max_input_bytes: cfg.max_file_size.as_u64(),
            time_budget: cfg.document_timeout,
            ..Limits::default()
        };
        let extractor = Extractor::new(limits).context("locating the agent executable for document extraction")?;
        Ok(Inspector { set, extractor, policy, vault, max_quarantine: cfg.max_quarantine_size.as_u64() })
    }

    /// An inspector that parses documents in this process: for tests, whose executable does not
    /// answer the extraction child's subcommand.
    #[cfg(all(test, windows))]
    pub fn in_process(cfg: &DlpConfig, vault: Vault) -> Result<Inspector> {
        let mut inspector = Inspector::new(cfg, vault)?;
        let limits = inspector.extractor.limits().clone();
        inspector.extractor = Extractor::with_isolation(limits, haidang_dlp::extract::Isolation::InProcess);
        Ok(inspector)
    }

    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// Inspects the file at `path` as going out (or resting) on `channel`. A file that is
    /// gone by now yields nothing: there is nothing left to leak.
    pub fn inspect(&self, path: &Path, channel: Channel) -> Outcome {
        let Some(Judged { mut events, mut verdict, action }) = self.judge(path, &Text::from(path), channel) else {
            return Outcome::default();
        };
        let mut outcome = Outcome { blocked: action == Action::Block, ..Outcome::default() };
        if outcome.blocked {
            match self.vault.quarantine(path, channel.as_str(), &verdict.rules, self.max_quarantine) {
                Ok(entry) => {
                    tracing::warn!(path = %path.display(), channel = channel.as_str(), vault_id = %entry.id, "DLP block: file quarantined");
                    verdict.outcome = "quarantined".to_owned();
                    verdict.vault_id = Some(entry.id);
                    verdict.sha256 = hex::decode(&entry.sha256).ok().and_then(|h| h.try_into().ok());
                }
                Err(e) => {
                    let e = format!("{e:#}");
                    tracing::error!(path = %path.display(), channel = channel.as_str(), error = %e, "DLP block: file could not be quarantined");
                    verdict.outcome = "quarantine_failed".to_owned();
                    verdict.detail = e;
                }
            }
        } else {
            tracing::info!(path = %path.display(), channel = channel.as_str(), action = action.as_str(), "DLP finding");
        }
        events.push(EventBody::DlpVerdict(verdict));
        outcome.events = events;
        outcome
    }

    /// Extracts, detects and decides, without acting: the `dlp` events and the verdict (its
    /// outcome `recorded`) for the file at `path`, named `shown` in the events; `None` when
    /// the policy covers nothing in it or the file is gone. The caller acts on `block`.
    pub fn judge(&self, path: &Path, shown: &Text, channel: Channel) -> Option<Judged> {
        let scanned = match self.extractor.scan_document(&self.set, path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
            scanned => scanned,
        };
        self.decide(path, scanned, shown, channel)
    }

    /// [`Inspector::judge`] for a document held in memory (a print job read from the spooler),
    /// named `name` in container paths; `read` is how reading it went, an error being a
    /// document that could not be inspected.
    #[cfg_attr(not(windows), allow(dead_code))]
    pub fn judge_bytes(
        &self,
        name: &str,
        read: std::io::Result<&[u8]>,
        shown: &Text,
        channel: Channel,
    ) -> Option<Judged> {
        let scanned = read.and_then(|bytes| self.extractor.inspect_bytes(&self.set, name, bytes));
        self.decide(Path::new(name), scanned, shown, channel)
    }

    /// Decides on a scanned document, or one that could not be read (`Err`).
    fn decide(
        &self,
        path: &Path,
        scanned: std::io::Result<DocumentResult>,
        shown: &Text,
        channel: Channel,
    ) -> Option<Judged> {
        let (doc, sha256) = match scanned {
            Ok(doc) => {
                let sha256 = Some(doc.sha256);
                (doc, sha256)
            }
            Err(e) => {
                let unreadable = vec![(name(path), Reason::Unreadable(e.to_string()))];
                (
                    DocumentResult {
                        findings: Vec::new(),
                        could_not_inspect: unreadable,
                        sha256: [0; 32],
                        cached: false,
                    },
                    None,
                )
            }
        };
        let decision = self.policy.decide(channel, &doc.findings, &doc.could_not_inspect);
        let action = decision.action()?;
        let mut events = Vec::new();
        let mut rules: Vec<String> = Vec::new();
        for covered in &decision.findings {
            let mut event = covered.to_event(channel, path, doc.sha256);
            event.path = shown.clone();
            event.sha256 = sha256;
            events.push(EventBody::Dlp(event));
            push_unique(&mut rules, covered.rule);
        }
        for covered in &decision.could_not_inspect {
            let (part, _) = covered.item;
            events.push(EventBody::Dlp(DlpMatch {
                channel: channel.as_str().to_owned(),
                path: shown.clone(),
                container_path: Some(Text::from(part.as_str())),
                detector: "could_not_inspect".to_owned(),
                count: 1,
                confidence: 0,
                masked_sample: None,
                level: None,
                sha256,
                action: covered.action.as_str().to_owned(),
            }));
            push_unique(&mut rules, covered.rule);
        }
        let not_inspected = doc.could_not_inspect.iter().map(|(part, reason)| format!("{part}: {reason}")).collect();
        let verdict = DlpVerdict {
            channel: channel.as_str().to_owned(),
            path: shown.clone(),
            sha256,
            action: action.as_str().to_owned(),
            outcome: "recorded".to_owned(),
            vault_id: None,
            rules,
            not_inspected,
            detail: String::new(),
        };
        Some(Judged { events, verdict, action })
    }
}

/// What the policy said of one file, before anything is done about it.
#[derive(Debug)]
pub struct Judged {
    /// The `dlp` events, one per covered finding or unreadable part.
    pub events: Vec<EventBody>,
    /// The verdict, outcome `recorded` until the caller acts.
    pub verdict: DlpVerdict,
    pub action: Action,
}

fn push_unique(list: &mut Vec<String>, item: &str) {
    if !list.iter().any(|r| r == item) {
        list.push(item.to_owned());
    }
}

fn name(path: &Path) -> String {
    path.file_name().map_or_else(|| path.to_string_lossy().into_owned(), |n| n.to_string_lossy().into_owned())
}
