//! The detection engine: Sigma rules, evaluated by rsigma, over Hải Đăng's own events and over
//! Windows event logs.
//!
//! rsigma does the matching; the correlation windows are this crate's own (`correlator`, where
//! rsigma's depart from the specification). This crate also decides which rules load (and
//! reports every one that does not), how our typed events look to a rule, and which logsource
//! each event belongs to.

#![warn(missing_docs)]

mod agent_event;
mod conformance;
mod correlation;
mod correlator;
mod detection;
mod load;
mod native;
mod placeholders;
mod presence;
mod shipped;
mod windows;
mod written;

use std::path::Path;

use correlation::BuildingBlocks;
use correlator::Correlator;
use detection::Detection;

pub use agent_event::AgentEvent;
pub use correlator::CorrelationSnapshot;
pub use load::{DocumentKind, LoadReport, MAX_RULE_FILE_BYTES, ReportEntry};
pub use native::NativeEvent;
pub use placeholders::Placeholders;
pub use rsigma_eval::{EvaluationResult, Event, ResultBody};
pub use rsigma_parser::LogSource;
pub use windows::WinEvent;

/// Access for this crate's own integration tests (`rules/tests/`), which check the shipped rule
/// content against the source tree. Not part of the engine's API: hosts load the shipped rules
/// with [`RuleSet::load_with_shipped`].
pub mod testing {
    pub use crate::shipped::RULES as SHIPPED_RULES;
}

/// Compiled detection and correlation rules, plus the correlation state (open windows).
///
/// Detection is stateless and may run on many threads through [`RuleSet::detect`]; correlation
/// updates state and runs on one ([`RuleSet::correlate`]).
pub struct RuleSet {
    detection: Detection,
    /// The correlation rules and their windows, fed the detections of `detection`.
    correlation: Correlator,
    /// Which results are reported.
    building_blocks: BuildingBlocks,
    detection_rules: usize,
}

impl RuleSet {
    /// Loads every `.yml`/`.yaml` under `dirs` (files may be named directly). Never fails: a
    /// rule that cannot load is skipped and reported, so one broken file cannot stop detection.
    ///
    /// A rule with an `expand` placeholder is skipped and reported, as no value is configured
    /// for it; see [`RuleSet::load_with_placeholders`].
    pub fn load<P: AsRef<Path>>(dirs: &[P]) -> (RuleSet, LoadReport) {
        load::load(&[], dirs, &Placeholders::default())
    }

    /// As [`RuleSet::load`] (after the shipped rules when `with_shipped`), with the values of
    /// `expand` placeholders: a rule using a placeholder without a value is skipped and
    /// reported with that reason.
    pub fn load_with_placeholders<P: AsRef<Path>>(
        dirs: &[P],
        with_shipped: bool,
        placeholders: &Placeholders,
    ) -> (RuleSet, LoadReport) {
        load::load(if with_shipped { shipped::RULES } else { &[] }, dirs, placeholders)
    }

    /// Rules from in-memory YAML documents, each named for the report (as a file would be).
    pub fn load_documents(documents: &[(&str, &str)]) -> (RuleSet, LoadReport) {
        load::load::<&Path>(documents, &[], &Placeholders::default())
    }

    /// The rules shipped inside the binary (`rules/sigma/` of the source tree: detections for
    /// what our agents report), followed by those under `dirs`.
    pub fn load_with_shipped<P: AsRef<Path>>(dirs: &[P]) -> (RuleSet, LoadReport) {
        load::load(shipped::RULES, dirs, &Placeholders::default())
    }

    fn new(
        detection: Detection,
        correlation: Correlator,
        building_blocks: BuildingBlocks,
        detection_rules: usize,
    ) -> RuleSet {
        RuleSet { detection, correlation, building_blocks, detection_rules }
    }

    /// How many detection rules loaded (correlation-only building blocks included).
    pub fn detection_rules(&self) -> usize {
        self.detection_rules
    }

    /// How many correlation rules loaded.
    pub fn correlation_rules(&self) -> usize {
        self.correlation.len()
    }

    /// Matches one event against the detection rules whose logsource it belongs to; with no
    /// logsource every rule is tried, as for a log whose origin is unknown.
    pub fn detect<E: Event>(&self, event: &E, logsource: Option<&LogSource>) -> Vec<EvaluationResult> {
        let mut results = self.detection.detect(&presence::Presented(event), logsource);
        for result in &mut results {
            if let ResultBody::Detection(body) = &mut result.body {
                for matched in &mut body.matched_fields {
                    if let Some(field) = presence::presence_of(&matched.field) {
                        matched.field = field.to_owned();
                    }
                }
            }
        }
        results
    }

    /// Feeds one event's detections into the correlation windows at `time_secs` (event time,
    /// Unix seconds; events may come in any order) and returns what should be reported: the
    /// detections, then the correlations that fired, less those of rules referenced by a
    /// correlation without `generate: true` (they only feed their correlations).
    pub fn correlate<E: Event>(
        &mut self,
        event: &E,
        detections: Vec<EvaluationResult>,
        time_secs: i64,
    ) -> Vec<EvaluationResult> {
        let fired = self.correlation.process(event, &detections, time_secs);
        let mut results = detections;
        results.extend(fired);
        results.retain(|result| self.building_blocks.reported(result));
        results
    }

    /// Open correlation windows, for persisting across a restart.
    pub fn export_state(&self) -> CorrelationSnapshot {
        self.correlation.export_state()
    }

    /// Restores windows exported earlier (possibly by a different rule set: windows of
    /// correlations that no longer exist, or changed their type, rules, groups or fields, are
    /// dropped). False if the snapshot's format is from an incompatible engine version.
    pub fn import_state(&mut self, snapshot: CorrelationSnapshot) -> bool {
        self.correlation.import_state(snapshot)
    }

    /// Drops window entries that can no longer count at `now_secs` (event time), bounding
    /// memory on quiet streams.
    pub fn evict_expired(&mut self, now_secs: i64) {
        self.correlation.evict_expired(now_secs);
    }
}
