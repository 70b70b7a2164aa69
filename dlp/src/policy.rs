//! DLP policies (shared/dlp-vn.md §6): which findings matter on which channel, and what to
//! do about them. Policies are YAML files (the shipped one is `dlp/policy/default.yml`); thresholds are configuration,
//! not code, and legal citations are metadata carried along, never interpreted.
//!
//! ```yaml
//! rules:
//!   - id: bulk-cccd-usb
//!     channels: [usb, share]        # usb, share, print, at_rest, web, email, or any
//!     detectors: [cccd]
//!     min_confidence: medium        # low (default), medium, high, critical
//!     min_count: 10                 # distinct values seen with at least min_confidence
//!     combined: false               # true: min_count counts the values of all its detectors together
//!     action: block                 # audit, alert, block
//!     citations: ["Law 91/2025/QH15"]
//! could_not_inspect:
//!   - id: unknown-usb
//!     channels: [usb]
//!     action: block
//! ```
//!
//! A file that does not parse, names an unknown key, detector, channel or action, or gives a
//! threshold out of range is refused with its path, line, column and the problem.

use super::extract::Reason;
use super::{Confidence, DetectorId, Finding};
use haidang_proto::event::DlpMatch;
use haidang_proto::{Hash32, Text};
use serde::{Deserialize, Deserializer, Serialize};
use std::path::{Path, PathBuf};

/// The name of the shipped policy in errors: its path in the source tree.
pub const DEFAULT_NAME: &str = "dlp/policy/default.yml";
/// The shipped policy, built in so that a host works without policy files of its own.
pub const DEFAULT: &str = include_str!("../policy/default.yml");

/// Where an object was going, or where it was found (spec §7). More channels come with more
/// sensors and gateways, so a `match` on it needs a `_` arm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Channel {
    /// Written to removable media (`usb`).
    Usb,
    /// Written to a network share (`share`).
    Share,
    /// Printed (`print`).
    Print,
    /// Stored on the endpoint, found by a discovery scan (`at_rest`).
    AtRest,
    /// Uploaded to the web, as a web proxy sees it (`web`).
    Web,
    /// Sent by e-mail, as a mail filter sees it (`email`).
    Email,
    /// In a policy: every channel (`any`).
    Any,
}

impl Channel {
    /// Every channel, [`Channel::Any`] last.
    pub const ALL: [Channel; 7] =
        [Channel::Usb, Channel::Share, Channel::Print, Channel::AtRest, Channel::Web, Channel::Email, Channel::Any];

    /// The name policy files and events use.
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Usb => "usb",
            Channel::Share => "share",
            Channel::Print => "print",
            Channel::AtRest => "at_rest",
            Channel::Web => "web",
            Channel::Email => "email",
            Channel::Any => "any",
        }
    }

    /// The channel of that name ([`Channel::as_str`]).
    pub fn parse(name: &str) -> Option<Channel> {
        Channel::ALL.into_iter().find(|c| c.as_str() == name)
    }
}

/// What policy does about a covered finding; ordered by strength, the strongest rule wins.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Record it only.
    Audit,
    /// Record it and raise an alert for the SOC.
    Alert,
    /// Stop the transfer (quarantine, cancel the print job) and alert.
    Block,
}

impl Action {
    /// The name policy files and events use.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Audit => "audit",
            Action::Alert => "alert",
            Action::Block => "block",
        }
    }
}

/// A rule over detector findings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// Stable name; events carry it as the policy id.
    pub id: String,
    /// What it is about, for people.
    #[serde(default)]
    pub description: String,
    /// Data class of spec §6 (S0–S4); metadata for reports.
    #[serde(default)]
    pub class: Option<String>,
    /// Channels it applies on.
    #[serde(deserialize_with = "non_empty")]
    pub channels: Vec<Channel>,
    /// Detectors whose findings it covers.
    #[serde(deserialize_with = "non_empty")]
    pub detectors: Vec<DetectorId>,
    /// Only instances seen with at least this confidence count.
    #[serde(default = "lowest")]
    pub min_confidence: Confidence,
    /// Distinct instances needed (spec §6: ≥ 10 distinct CCCD is bulk personal data).
    #[serde(default = "one", deserialize_with = "positive")]
    pub min_count: usize,
    /// `min_count` counts the distinct values of all of `detectors` together (spec §6 S2: ten
    /// identifiers of mixed kinds), rather than of each detector on its own; when reached, the
    /// rule covers every finding of those detectors.
    #[serde(default)]
    pub combined: bool,
    /// What to do about a finding it covers.
    pub action: Action,
    /// Legal basis, as text for reports (spec §0: citations change, detector ids do not).
    #[serde(default)]
    pub citations: Vec<String>,
}

/// A rule over parts of a document that could not be inspected (spec §6 class S4).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UnknownRule {
    /// Stable name; events carry it as the policy id.
    pub id: String,
    /// What it is about, for people.
    #[serde(default)]
    pub description: String,
    /// Channels it applies on.
    #[serde(deserialize_with = "non_empty")]
    pub channels: Vec<Channel>,
    /// What to do about a part that could not be inspected.
    pub action: Action,
    /// Legal basis, as text for reports.
    #[serde(default)]
    pub citations: Vec<String>,
}

/// One policy file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyFile {
    #[serde(default)]
    rules: Vec<Rule>,
    #[serde(default)]
    could_not_inspect: Vec<UnknownRule>,
}

fn lowest() -> Confidence {
    Confidence::Low
}

fn one() -> usize {
    1
}

/// A list that must say something: an empty one would be a rule that never applies. The
/// check runs inside the visitor so that the error carries the list's line.
fn non_empty<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Vec<T>, D::Error> {
    struct NonEmpty<T>(std::marker::PhantomData<T>);
    impl<'de, T: Deserialize<'de>> serde::de::Visitor<'de> for NonEmpty<T> {
        type Value = Vec<T>;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a non-empty list")
        }
        fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<T>, A::Error> {
            let mut list = Vec::new();
            while let Some(item) = seq.next_element()? {
                list.push(item);
            }
            if list.is_empty() {
                return Err(serde::de::Error::custom("must name at least one"));
            }
            Ok(list)
        }
    }
    d.deserialize_seq(NonEmpty(std::marker::PhantomData))
}

/// A count of at least 1, checked inside the visitor so that the error carries its line.
fn positive<'de, D: Deserializer<'de>>(d: D) -> Result<usize, D::Error> {
    struct Positive;
    impl serde::de::Visitor<'_> for Positive {
        type Value = usize;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a whole number of at least 1")
        }
        fn visit_u64<E: serde::de::Error>(self, n: u64) -> Result<usize, E> {
            match usize::try_from(n) {
                Ok(n) if n >= 1 => Ok(n),
                _ => Err(E::custom(format!("min_count must be at least 1, not {n}"))),
            }
        }
        fn visit_i64<E: serde::de::Error>(self, n: i64) -> Result<usize, E> {
            u64::try_from(n).map_or_else(
                |_| Err(E::custom(format!("min_count must be at least 1, not {n}"))),
                |n| self.visit_u64(n),
            )
        }
    }
    d.deserialize_u64(Positive)
}

/// A policy file that was refused.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// The file does not parse, or says something a policy may not.
    #[error("{}:{line}:{column}: {problem}", file.display())]
    Invalid {
        /// The file, as named to [`Policy::add`].
        file: PathBuf,
        /// 1-based line of the problem (0: unknown).
        line: usize,
        /// 1-based column of the problem (0: unknown).
        column: usize,
        /// What is wrong.
        problem: String,
    },
    /// The file or directory could not be read.
    #[error("{}: {source}", file.display())]
    Io {
        /// The file or directory.
        file: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The directory holds no policy file.
    #[error("{}: no policy files (*.yml, *.yaml)", dir.display())]
    Empty {
        /// The directory.
        dir: PathBuf,
    },
}

/// The rules of one or more policy files, in file order.
#[derive(Debug, Clone, Default)]
pub struct Policy {
    /// Rules over findings.
    pub rules: Vec<Rule>,
    /// Rules over parts that could not be inspected.
    pub could_not_inspect: Vec<UnknownRule>,
    /// Files the rules came from.
    pub files: usize,
}

/// A finding or unreadable part that a rule covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Covered<'a, T> {
    /// The finding or part.
    pub item: &'a T,
    /// The strongest action of the rules that cover it.
    pub action: Action,
    /// The first rule with that action.
    pub rule: &'a str,
}

/// What policy decided for one document on one channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision<'a> {
    /// Findings some rule covers; the others are none of the policy's concern.
    pub findings: Vec<Covered<'a, Finding>>,
    /// Unreadable parts some rule covers.
    pub could_not_inspect: Vec<Covered<'a, (String, Reason)>>,
}

impl Covered<'_, Finding> {
    /// The event for this finding of the document at `path` (SHA-256 `sha256`) on `channel`
    /// (spec §9.2): detector, count, confidence, location and masked sample — never content.
    pub fn to_event(&self, channel: Channel, path: &Path, sha256: Hash32) -> DlpMatch {
        let finding = self.item;
        // A part named as the file itself is the file, not a place inside a container.
        let nested = path.file_name().is_none_or(|name| name.to_string_lossy() != finding.location.part);
        DlpMatch {
            channel: channel.as_str().to_owned(),
            path: Text::from(path),
            container_path: nested.then(|| Text::from(finding.location.part.as_str())),
            detector: finding.detector.as_str().to_owned(),
            count: u32::try_from(finding.count).unwrap_or(u32::MAX),
            confidence: confidence_percent(finding.confidence),
            masked_sample: finding.masked_sample.clone(),
            level: finding.level.map(|l| l.as_str().to_owned()),
            sha256: Some(sha256),
            action: self.action.as_str().to_owned(),
        }
    }
}

/// The 0–100 scale of events for the four confidence steps.
pub fn confidence_percent(confidence: Confidence) -> u8 {
    match confidence {
        Confidence::Low => 25,
        Confidence::Medium => 50,
        Confidence::High => 75,
        Confidence::Critical => 100,
    }
}

impl Decision<'_> {
    /// The action for the document: the strongest of all it covers.
    pub fn action(&self) -> Option<Action> {
        let findings = self.findings.iter().map(|c| c.action);
        findings.chain(self.could_not_inspect.iter().map(|c| c.action)).max()
    }
}

impl Policy {
    /// The policy shipped with the agent.
    pub fn shipped() -> Result<Policy, PolicyError> {
        let mut policy = Policy::default();
        policy.add(Path::new(DEFAULT_NAME), DEFAULT)?;
        Ok(policy)
    }

    /// Every `*.yml` and `*.yaml` file of `dir`, in name order. One bad file refuses all:
    /// a half-loaded policy would let through what the missing rules were meant to stop.
    pub fn load_dir(dir: &Path) -> Result<Policy, PolicyError> {
        let io = |source| PolicyError::Io { file: dir.to_path_buf(), source };
        let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
            .map_err(io)?
            .map(|e| e.map(|e| e.path()))
            .collect::<std::io::Result<_>>()
            .map_err(io)?;
        files.retain(|p| p.is_file() && p.extension().is_some_and(|e| e == "yml" || e == "yaml"));
        files.sort();
        if files.is_empty() {
            return Err(PolicyError::Empty { dir: dir.to_path_buf() });
        }
        let mut policy = Policy::default();
        for file in files {
            let text =
                std::fs::read_to_string(&file).map_err(|source| PolicyError::Io { file: file.clone(), source })?;
            policy.add(&file, &text)?;
        }
        Ok(policy)
    }

    /// Adds the rules of one file, named `file` in errors.
    pub fn add(&mut self, file: &Path, text: &str) -> Result<(), PolicyError> {
        let invalid = |line: usize, column: usize, problem: String| PolicyError::Invalid {
            file: file.to_path_buf(),
            line,
            column,
            problem,
        };
        let parsed: PolicyFile = yaml_serde::from_str(text).map_err(|e| {
            let (line, column) = e.location().map_or((0, 0), |l| (l.line(), l.column()));
            // The parser's message ends with the location, which the error already leads with.
            let message = e.to_string();
            let problem = message.split_once(" at line ").map_or(message.as_str(), |(problem, _)| problem);
            invalid(line, column, problem.to_owned())
        })?;
        // Ids name the rule in events, so two rules may not share one (in any file).
        let known: Vec<&str> = self
            .rules
            .iter()
            .map(|r| r.id.as_str())
            .chain(self.could_not_inspect.iter().map(|r| r.id.as_str()))
            .collect();
        let mut seen = known.clone();
        let ids = parsed.rules.iter().map(|r| &r.id).chain(parsed.could_not_inspect.iter().map(|r| &r.id));
        for id in ids {
            if seen.contains(&id.as_str()) {
                let line = id_line(text, id, known.contains(&id.as_str()));
                return Err(invalid(line, 0, format!("duplicate rule id `{id}`")));
            }
            seen.push(id);
        }
        self.rules.extend(parsed.rules);
        self.could_not_inspect.extend(parsed.could_not_inspect);
        self.files += 1;
        Ok(())
    }

    /// Decides for one document's findings and unreadable parts on `channel`.
    pub fn decide<'a>(
        &'a self,
        channel: Channel,
        findings: &'a [Finding],
        could_not_inspect: &'a [(String, Reason)],
    ) -> Decision<'a> {
        let applies = |channels: &[Channel]| channels.iter().any(|&c| c == channel || c == Channel::Any);
        let all = findings;
        let count = |r: &Rule, finding: &Finding| {
            if r.combined {
                all.iter()
                    .filter(|f| r.detectors.contains(&f.detector))
                    .map(|f| f.counts.at_least(r.min_confidence))
                    .sum()
            } else {
                finding.counts.at_least(r.min_confidence)
            }
        };
        let findings = findings
            .iter()
            .filter_map(|finding| {
                let rules = self.rules.iter().filter(|r| {
                    applies(&r.channels)
                        && r.detectors.contains(&finding.detector)
                        && finding.counts.at_least(r.min_confidence) > 0
                        && count(r, finding) >= r.min_count
                });
                strongest(rules.map(|r| (r.action, r.id.as_str()))).map(|(action, rule)| Covered {
                    item: finding,
                    action,
                    rule,
                })
            })
            .collect();
        let unknown = strongest(
            self.could_not_inspect.iter().filter(|r| applies(&r.channels)).map(|r| (r.action, r.id.as_str())),
        );
        let could_not_inspect = match unknown {
            Some((action, rule)) => could_not_inspect.iter().map(|item| Covered { item, action, rule }).collect(),
            None => Vec::new(),
        };
        Decision { findings, could_not_inspect }
    }
}

/// The strongest action and the first rule giving it.
fn strongest<'a>(rules: impl Iterator<Item = (Action, &'a str)>) -> Option<(Action, &'a str)> {
    rules.fold(None, |best, (action, id)| match best {
        Some((strongest, _)) if strongest >= action => best,
        _ => Some((action, id)),
    })
}

/// The 1-based line of the `id:` that repeats `id`: the first in the text when an earlier
/// file already had it, else the second. 0 when not found (an id written in flow style).
fn id_line(text: &str, id: &str, earlier_file: bool) -> usize {
    let mut hits = text.lines().enumerate().filter(|(_, line)| {
        line.split_once("id:").is_some_and(|(_, rest)| rest.trim().trim_matches(['"', '\'']) == id)
    });
    let hit = if earlier_file { hits.next() } else { hits.nth(1) };
    hit.map_or(0, |(n, _)| n + 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ConfidenceCounts, Location, ViewKind};

    /// A finding of `detector` with `n` distinct instances, all of `confidence`.
    fn finding(detector: DetectorId, n: usize, confidence: Confidence) -> Finding {
        let mut counts = ConfidenceCounts::default();
        match confidence {
            Confidence::Low => counts.low = n,
            Confidence::Medium => counts.medium = n,
            Confidence::High => counts.high = n,
            Confidence::Critical => counts.critical = n,
        }
        Finding {
            detector,
            count: n,
            counts,
            confidence,
            level: None,
            view: ViewKind::Unicode,
            location: Location { part: "doc.docx/word/document.xml".into(), line: 1, offset: 0 },
            masked_sample: None,
        }
    }

    fn decided(policy: &Policy, channel: Channel, findings: &[Finding]) -> Vec<(DetectorId, Action, String)> {
        let decision = policy.decide(channel, findings, &[]);
        decision.findings.iter().map(|c| (c.item.detector, c.action, c.rule.to_owned())).collect()
    }

    fn refused(text: &str) -> (usize, String) {
        match Policy::default().add(Path::new("policy/bad.yml"), text) {
            Err(PolicyError::Invalid { file, line, problem, .. }) => {
                assert_eq!(file, Path::new("policy/bad.yml"));
                (line, problem)
            }
            other => panic!("not refused with a location: {other:?}"),
        }
    }

    #[test]
    fn the_shipped_policy_loads_with_citations() {
        let policy = Policy::shipped().expect("shipped policy");
        assert!(policy.rules.len() >= 8 && policy.could_not_inspect.len() == 2, "{policy:?}");
        assert!(policy.rules.iter().filter(|r| r.class.as_deref() == Some("S0")).all(|r| !r.citations.is_empty()));
        // The file in the tree is the one built in.
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("policy");
        assert_eq!(Policy::load_dir(&dir).expect("dlp/policy").rules.len(), policy.rules.len());
    }

    #[test]
    fn state_secret_stamps_are_blocked_on_egress_and_alerted_at_rest() {
        let policy = Policy::shipped().expect("shipped policy");
        let stamp = [finding(DetectorId::M2, 1, Confidence::Critical)];
        for channel in [Channel::Usb, Channel::Share, Channel::Print] {
            assert_eq!(decided(&policy, channel, &stamp), [(DetectorId::M2, Action::Block, "s0-level-egress".into())]);
        }
        assert_eq!(
            decided(&policy, Channel::AtRest, &stamp),
            [(DetectorId::M2, Action::Alert, "s0-level-at-rest".into())]
        );
        // "tối mật" in running text is a mention, not a stamp.
        let mention = [finding(DetectorId::M2, 1, Confidence::Low)];
        assert_eq!(decided(&policy, Channel::Usb, &mention), [(DetectorId::M2, Action::Audit, "s0-mention".into())]);
    }

    #[test]
    fn web_and_email_are_decided_as_shares_are() {
        let policy = Policy::shipped().expect("shipped policy");
        let findings = [
            finding(DetectorId::M2, 1, Confidence::Critical),
            finding(DetectorId::M5, 1, Confidence::High),
            finding(DetectorId::Cccd, 12, Confidence::High),
            finding(DetectorId::MrzTd3, 1, Confidence::High),
            finding(DetectorId::Phone, 60, Confidence::Medium),
            finding(DetectorId::C1, 1, Confidence::Medium),
        ];
        let unknown = [("a.zip".to_owned(), Reason::Encrypted)];
        let share = policy.decide(Channel::Share, &findings, &unknown);
        assert_eq!(share.action(), Some(Action::Block));
        for channel in [Channel::Web, Channel::Email] {
            assert_eq!(policy.decide(channel, &findings, &unknown), share, "{channel:?}");
        }
    }

    #[test]
    fn channels_are_named_in_policy_files_as_in_events() {
        for channel in Channel::ALL {
            assert_eq!(Channel::parse(channel.as_str()), Some(channel));
            let parsed: Channel = yaml_serde::from_str(channel.as_str()).expect("channel name");
            assert_eq!(parsed, channel);
        }
        assert_eq!(Channel::parse("fax"), None);
        let mut policy = Policy::default();
        let text = "rules:\n  - id: r\n    channels: [web, email]\n    detectors: [cccd]\n    action: alert\n";
        policy.add(Path::new("gateway.yml"), text).expect("web and email rules");
        assert_eq!(policy.rules[0].channels, [Channel::Web, Channel::Email]);
    }

    #[test]
    fn ten_distinct_cccd_are_bulk_and_fewer_are_audited() {
        let policy = Policy::shipped().expect("shipped policy");
        let bulk = [finding(DetectorId::Cccd, 12, Confidence::High), finding(DetectorId::Phone, 3, Confidence::Medium)];
        assert_eq!(
            decided(&policy, Channel::Usb, &bulk),
            [
                (DetectorId::Cccd, Action::Block, "s1-bulk-identifiers-egress".into()),
                (DetectorId::Phone, Action::Audit, "single-identifier".into())
            ]
        );
        assert_eq!(policy.decide(Channel::Usb, &bulk, &[]).action(), Some(Action::Block));
        let few = [finding(DetectorId::Cccd, 9, Confidence::High)];
        assert_eq!(
            decided(&policy, Channel::Usb, &few),
            [(DetectorId::Cccd, Action::Audit, "single-identifier".into())]
        );
        // Ten low-confidence candidates are not ten identifiers.
        let weak = [finding(DetectorId::Cccd, 10, Confidence::Low)];
        assert!(decided(&policy, Channel::Usb, &weak).is_empty());
    }

    /// Issue 25 class 7: §6 counts 12-digit personal tax codes (found as `cccd`) towards S1,
    /// not 10-digit enterprise codes; identifiers of mixed kinds count together for S2.
    #[test]
    fn enterprise_tax_codes_are_not_bulk_personal_data_and_mixed_kinds_add_up() {
        let policy = Policy::shipped().expect("shipped policy");
        let enterprises = [finding(DetectorId::Mst, 40, Confidence::High)];
        assert_eq!(
            decided(&policy, Channel::Usb, &enterprises),
            [(DetectorId::Mst, Action::Audit, "single-identifier".into())]
        );
        let persons = [finding(DetectorId::Cccd, 10, Confidence::High)];
        assert_eq!(policy.decide(Channel::Usb, &persons, &[]).action(), Some(Action::Block));
        // Six CCCD and five BHXH numbers: no kind reaches ten, together they are eleven.
        let mixed = [
            finding(DetectorId::Cccd, 6, Confidence::High),
            finding(DetectorId::Bhxh, 5, Confidence::Medium),
            finding(DetectorId::Mst, 9, Confidence::High),
        ];
        assert_eq!(
            decided(&policy, Channel::Usb, &mixed),
            [
                (DetectorId::Cccd, Action::Alert, "s2-mixed-identifiers-egress".into()),
                (DetectorId::Bhxh, Action::Alert, "s2-mixed-identifiers-egress".into()),
                (DetectorId::Mst, Action::Audit, "single-identifier".into()),
            ]
        );
        // Enterprise codes do not make up the ten, and at rest mixed kinds are only recorded.
        let short = [finding(DetectorId::Cccd, 6, Confidence::High), finding(DetectorId::Mst, 9, Confidence::High)];
        assert_eq!(policy.decide(Channel::Usb, &short, &[]).action(), Some(Action::Audit));
        assert_eq!(policy.decide(Channel::AtRest, &mixed, &[]).action(), Some(Action::Audit));
    }

    #[test]
    fn what_could_not_be_inspected_is_blocked_on_usb_only() {
        let policy = Policy::shipped().expect("shipped policy");
        let unknown = [("plan.docx".to_owned(), Reason::Encrypted)];
        let usb = policy.decide(Channel::Usb, &[], &unknown);
        assert_eq!((usb.action(), usb.could_not_inspect[0].rule), (Some(Action::Block), "s4-unknown-usb"));
        assert_eq!(policy.decide(Channel::AtRest, &[], &unknown).action(), Some(Action::Audit));
        let mut none = Policy::default();
        none.add(Path::new("p.yml"), "rules: []\n").expect("empty policy");
        assert_eq!(none.decide(Channel::Usb, &[], &unknown).action(), None);
    }

    #[test]
    fn a_decided_finding_becomes_an_event_without_content() {
        let policy = Policy::shipped().expect("shipped policy");
        let mut stamp = finding(DetectorId::M2, 1, Confidence::Critical);
        stamp.level = Some(crate::SecrecyLevel::Secret);
        let mut cccd = finding(DetectorId::Cccd, 12, Confidence::High);
        cccd.location.part = "ids.txt".into();
        cccd.masked_sample = Some("056******123".into());
        let findings = [cccd, stamp];
        let decision = policy.decide(Channel::Usb, &findings, &[]);
        let events: Vec<DlpMatch> = decision
            .findings
            .iter()
            .map(|c| c.to_event(Channel::Usb, Path::new("/media/k/ids.txt"), [7; 32]))
            .collect();
        assert_eq!(
            events[0],
            DlpMatch {
                channel: "usb".into(),
                path: Text::from("/media/k/ids.txt"),
                container_path: None,
                detector: "cccd".into(),
                count: 12,
                confidence: 75,
                masked_sample: Some("056******123".into()),
                level: None,
                sha256: Some([7; 32]),
                action: "block".into(),
            }
        );
        let marking = &events[1];
        assert_eq!(marking.container_path, Some(Text::from("doc.docx/word/document.xml")));
        assert_eq!((marking.detector.as_str(), marking.level.as_deref()), ("M2", Some("toi_mat")));
        assert_eq!(
            (marking.confidence, marking.masked_sample.as_deref(), marking.action.as_str()),
            (100, None, "block")
        );
    }

    #[test]
    fn bad_policy_files_are_refused_with_line_and_problem() {
        let rule = "rules:\n  - id: r\n    channels: [usb]\n    detectors: [cccd]\n";
        let (line, problem) = refused(&format!("{rule}    action: block\n    colour: red\n"));
        assert_eq!(line, 6, "{problem}");
        assert!(problem.contains("unknown field `colour`"), "{problem}");
        let (line, problem) = refused(&format!("{rule}    action: quarantine\n"));
        assert_eq!(line, 5, "{problem}");
        assert!(problem.contains("unknown variant `quarantine`"), "{problem}");
        let (line, problem) = refused(&format!("{rule}    action: block\n    min_count: 0\n"));
        assert_eq!(line, 6, "{problem}");
        assert!(problem.contains("at least 1"), "{problem}");
        let (line, problem) = refused(&format!("{rule}    action: block\n    min_count: -3\n"));
        assert_eq!(line, 6, "{problem}");
        let (line, problem) = refused(&format!("{rule}    action: block\n    min_confidence: sure\n"));
        assert_eq!(line, 6, "{problem}");
        assert!(problem.contains("unknown variant `sure`"), "{problem}");
        let (line, problem) =
            refused("rules:\n  - id: r\n    channels: [usb]\n    detectors: [cccd, ssn]\n    action: audit\n");
        assert_eq!(line, 4, "{problem}");
        assert!(problem.contains("unknown detector `ssn`"), "{problem}");
        let (line, problem) =
            refused("rules:\n  - id: r\n    channels: [fax]\n    detectors: [cccd]\n    action: audit\n");
        assert_eq!(line, 3, "{problem}");
        let (line, problem) =
            refused("rules:\n  - id: r\n    channels: []\n    detectors: [cccd]\n    action: audit\n");
        assert_eq!(line, 3, "{problem}");
        let (line, problem) = refused("polices: []\n");
        assert_eq!(line, 1, "{problem}");
        let (line, problem) = refused(&format!(
            "{rule}    action: audit\n  - id: r\n    channels: [usb]\n    detectors: [mst]\n    action: audit\n"
        ));
        assert_eq!(line, 6, "{problem}");
        assert!(problem.contains("duplicate rule id `r`"), "{problem}");
        // The error names the file and the line.
        let e = Policy::default().add(Path::new("policy/x.yml"), "rules:\n  - id: [\n").expect_err("refused");
        assert!(e.to_string().starts_with("policy/x.yml:2:9: ") && !e.to_string().contains(" at line "), "{e}");
    }
}
