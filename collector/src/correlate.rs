//! The correlate stage: every stored event through the Sigma rules, detections and fired
//! correlations into alerts.
//!
//! It runs behind the store, not in front of the ack: ingest stays as fast as the disk, and
//! the durable pending queue ([`store::PENDING`]) lets this stage lag under a burst and catch
//! up, across restarts, without losing a batch. Each round's alerts, the correlation windows
//! after the round and the removal of its batches from the queue commit in one transaction,
//! so a crash replays a round exactly: no alert is lost and none is raised twice.
//!
//! Detection is stateless and spread over the cores; correlation updates windows in commit
//! order on this stage's thread.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use crate::store::Store;
use anyhow::{Context, Result};
use haidang_proto::{AgentId, Event, Timestamp};
use haidang_rules::{AgentEvent, CorrelationSnapshot, EvaluationResult, LoadReport, Placeholders, ResultBody, RuleSet};
use serde_json::Value;
use tokio::sync::{mpsc, oneshot};

use crate::backlog::BacklogClock;
use crate::metrics::Metrics;
use crate::store::records::Alert;
use crate::store::writer::WriteOp;
use crate::store::{self, decode_batch};

/// Batches taken from the queue per round: large enough to spread detection over the cores
/// and to amortise the commit, small enough that alerts follow events within a second.
const ROUND_BATCHES: usize = 256;
/// Below this many events a round is evaluated on this thread alone; threads cost more.
const PARALLEL_MIN_EVENTS: usize = 512;
/// How long an idle stage sleeps before looking at the queue again without being woken.
const IDLE_POLL: Duration = Duration::from_secs(1);

/// Where the rules come from: the shipped set plus these directories.
#[derive(Clone, Debug, Default)]
pub struct RuleSources {
    pub dirs: Vec<PathBuf>,
    /// Values of `expand` placeholders.
    pub placeholders: Placeholders,
}

impl RuleSources {
    pub fn load(&self) -> (RuleSet, LoadReport) {
        RuleSet::load_with_placeholders(&self.dirs, true, &self.placeholders)
    }
}

/// Summary of a rule load, for the API and the logs.
#[derive(Clone, Debug)]
pub struct LoadSummary {
    pub files: usize,
    pub loaded: usize,
    pub skipped: usize,
    pub detection_rules: usize,
    pub correlation_rules: usize,
    /// One line per skipped document: file, rule and reason.
    pub problems: Vec<String>,
}

impl LoadSummary {
    fn of(rules: &RuleSet, report: &LoadReport) -> LoadSummary {
        LoadSummary {
            files: report.files,
            loaded: report.loaded(),
            skipped: report.skipped(),
            detection_rules: rules.detection_rules(),
            correlation_rules: rules.correlation_rules(),
            problems: report.skipped_entries().map(|e| e.to_string()).collect(),
        }
    }

    fn log(&self) {
        tracing::info!(
            files = self.files,
            loaded = self.loaded,
            skipped = self.skipped,
            detection_rules = self.detection_rules,
            correlation_rules = self.correlation_rules,
            "rules loaded"
        );
        for problem in &self.problems {
            tracing::warn!(problem = %problem, "rule skipped");
        }
    }
}

/// A wake-up flag the store writer sets after committing new batches.
#[derive(Default)]
pub struct Wakeup {
    pending: Mutex<bool>,
    signal: Condvar,
}

impl Wakeup {
    pub fn wake(&self) {
        if let Ok(mut pending) = self.pending.lock() {
            *pending = true;
            self.signal.notify_one();
        }
    }

    fn wait(&self, timeout: Duration) {
        let Ok(guard) = self.pending.lock() else { return };
        if let Ok((mut pending, _)) = self.signal.wait_timeout_while(guard, timeout, |p| !*p) {
            *pending = false;
        }
    }
}

type ReloadReply = oneshot::Sender<LoadSummary>;

/// Handle to the running stage.
#[derive(Clone)]
pub struct Correlator {
    wakeup: Arc<Wakeup>,
    backlog: Arc<BacklogClock>,
    reloads: std::sync::mpsc::Sender<ReloadReply>,
    current: Arc<Mutex<LoadSummary>>,
}

impl Correlator {
    pub fn wakeup(&self) -> Arc<Wakeup> {
        self.wakeup.clone()
    }

    /// Reloads the rule directories, keeping open correlation windows; answers with the load
    /// report. A rule that does not load is skipped and reported, never fatal.
    pub async fn reload(&self) -> Result<LoadSummary> {
        let (reply, answer) = oneshot::channel();
        self.reloads.send(reply).context("the correlate stage has stopped")?;
        self.wakeup.wake();
        answer.await.context("the correlate stage stopped during the reload")
    }

    /// How long the oldest batch waiting to be correlated has waited.
    pub fn backlog_wait(&self) -> Duration {
        self.backlog.oldest_wait()
    }

    /// The report of the rules in use now.
    pub fn rules(&self) -> LoadSummary {
        match self.current.lock() {
            Ok(summary) => summary.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }
}

/// Loads the rules, restores the saved windows and starts the stage on its own thread.
pub fn start(
    store: Arc<Store>,
    writer: mpsc::Sender<WriteOp>,
    metrics: Arc<Metrics>,
    sources: RuleSources,
    wakeup: Arc<Wakeup>,
    backlog: Arc<BacklogClock>,
) -> Result<Correlator> {
    let (mut rules, report) = sources.load();
    let summary = LoadSummary::of(&rules, &report);
    summary.log();
    metrics.rules_loaded.set(i64::try_from(summary.loaded).unwrap_or(i64::MAX));
    if let Some(saved) = store::correlation_state(&*store.db()?)? {
        restore(&mut rules, &saved);
    }
    if store::pending_count(&*store.db()?)? > 0 {
        backlog.queued(store::next_pending_id(&*store.db()?)?.saturating_sub(1));
    }
    let (reloads, reload_requests) = std::sync::mpsc::channel();
    let current = Arc::new(Mutex::new(summary));
    let stage = Stage {
        store,
        writer,
        metrics,
        sources,
        rules,
        reload_requests,
        current: current.clone(),
        agents: HashMap::new(),
        backlog: backlog.clone(),
    };
    let thread_wakeup = wakeup.clone();
    std::thread::Builder::new().name("correlate".into()).spawn(move || stage.run(&thread_wakeup))?;
    Ok(Correlator { wakeup, backlog, reloads, current })
}

fn restore(rules: &mut RuleSet, saved: &[u8]) {
    match serde_json::from_slice::<CorrelationSnapshot>(saved) {
        Ok(snapshot) => {
            if !rules.import_state(snapshot) {
                tracing::warn!("saved correlation windows are from an incompatible engine version; starting empty");
            }
        }
        Err(e) => tracing::warn!(error = %e, "saved correlation windows do not decode; starting empty"),
    }
}

/// What the rules need to know about an agent besides its events.
struct AgentInfo {
    hostname: String,
    product: &'static str,
}

struct Stage {
    store: Arc<Store>,
    writer: mpsc::Sender<WriteOp>,
    metrics: Arc<Metrics>,
    sources: RuleSources,
    rules: RuleSet,
    reload_requests: std::sync::mpsc::Receiver<ReloadReply>,
    current: Arc<Mutex<LoadSummary>>,
    agents: HashMap<AgentId, AgentInfo>,
    backlog: Arc<BacklogClock>,
}

/// One stored event on its way through the rules.
struct Item {
    agent: AgentId,
    event: Event,
    /// A Windows record's JSON, parsed once for detection and correlation.
    record: Option<Value>,
}

impl Item {
    fn new(agent: AgentId, event: Event) -> Item {
        let record = match AgentEvent::parse_record(&event) {
            Some(Ok(record)) => Some(record),
            Some(Err(e)) => {
                tracing::warn!(agent = %agent, seq = event.seq, error = %e, "a Windows record is not JSON; only its header is evaluated");
                None
            }
            None => None,
        };
        Item { agent, event, record }
    }

    fn as_rule_event<'a>(&'a self, hostname: &'a str) -> AgentEvent<'a> {
        AgentEvent::new(&self.agent, &self.event, Some(hostname), self.record.as_ref())
    }
}

impl Stage {
    fn run(mut self, wakeup: &Wakeup) {
        loop {
            while let Ok(reply) = self.reload_requests.try_recv() {
                let _ = reply.send(self.reload());
            }
            match self.round() {
                Ok(0) => wakeup.wait(IDLE_POLL),
                Ok(_) => {}
                Err(e) if self.writer.is_closed() => {
                    tracing::debug!(error = %e, "correlate stage stopping with the store");
                    return;
                }
                Err(e) => {
                    tracing::error!(error = %format!("{e:#}"), "correlate round failed; retrying");
                    wakeup.wait(IDLE_POLL);
                }
            }
        }
    }

    fn reload(&mut self) -> LoadSummary {
        let (mut rules, report) = self.sources.load();
        let summary = LoadSummary::of(&rules, &report);
        summary.log();
        rules.import_state(self.rules.export_state());
        self.rules = rules;
        self.metrics.rules_loaded.set(i64::try_from(summary.loaded).unwrap_or(i64::MAX));
        if let Ok(mut current) = self.current.lock() {
            *current = summary.clone();
        }
        summary
    }

    /// Runs one round; returns how many batches it took from the queue.
    fn round(&mut self) -> Result<usize> {
        let pending = store::pending_batches(&*self.store.db()?, ROUND_BATCHES)?;
        if pending.is_empty() {
            return Ok(0);
        }
        let mut done = Vec::with_capacity(pending.len());
        let mut items = Vec::new();
        for (id, agent, raw) in &pending {
            done.push(*id);
            // Stored batches were verified at ingest; a batch that no longer opens is logged
            // and leaves the queue rather than blocking every batch behind it.
            match decode_batch(raw).and_then(|b| b.open().map_err(anyhow::Error::from)) {
                Ok(events) => items.extend(events.into_iter().map(|event| Item::new(*agent, event))),
                Err(e) => tracing::error!(agent = %agent, error = %e, "stored batch does not open; not correlated"),
            }
        }
        self.learn_agents(&items)?;
        let detections = self.detect_all(&items)?;
        let mut alerts = Vec::new();
        for (item, found) in items.iter().zip(detections) {
            let info = &self.agents[&item.agent];
            let event = item.as_rule_event(&info.hostname);
            for result in self.rules.correlate(&event, found, event.time_secs()) {
                if let Some(alert) = alert_for(item, &result) {
                    alerts.push(alert);
                }
            }
        }
        let state = serde_json::to_vec(&self.rules.export_state())?;
        let events = items.len();
        let last_done = done.last().copied();
        let stored = self.commit(done, alerts, state)?;
        if let Some(last) = last_done {
            self.backlog.correlated(last);
        }
        self.metrics.events_correlated.inc_by(events as u64);
        self.metrics
            .correlate_backlog
            .set(i64::try_from(store::pending_count(&*self.store.db()?)?).unwrap_or(i64::MAX));
        for alert in &stored {
            self.metrics.alert(&alert.severity);
            tracing::info!(
                alert = alert.id,
                rule = %alert.rule,
                level = %alert.severity,
                agent = %alert.agent_id,
                title = %haidang_proto::text::terminal_safe(&alert.title),
                "alert raised"
            );
        }
        Ok(pending.len())
    }

    fn commit(&self, done: Vec<u64>, alerts: Vec<Alert>, state: Vec<u8>) -> Result<Vec<Alert>> {
        let (reply, answer) = oneshot::channel();
        self.writer
            .blocking_send(WriteOp::Correlated { done, alerts, state, reply })
            .map_err(|_| anyhow::anyhow!("the store writer has stopped"))?;
        answer.blocking_recv().context("the store writer stopped")?.map_err(anyhow::Error::msg)
    }

    fn learn_agents(&mut self, items: &[Item]) -> Result<()> {
        if items.iter().all(|i| self.agents.contains_key(&i.agent)) {
            return Ok(());
        }
        for record in store::agents(&*self.store.db()?)? {
            let product = match record.os.as_str() {
                "windows" => "windows",
                "macos" => "macos",
                _ => "linux",
            };
            self.agents.insert(record.id, AgentInfo { hostname: record.hostname, product });
        }
        for item in items {
            self.agents.entry(item.agent).or_insert_with(|| AgentInfo { hostname: String::new(), product: "linux" });
        }
        Ok(())
    }

    /// One result list per item, in item order; every round's alerts pair results with items
    /// by position, so a worker that fails fails the round rather than shifting the pairing.
    fn detect_all(&self, items: &[Item]) -> Result<Vec<Vec<EvaluationResult>>> {
        let (rules, agents) = (&self.rules, &self.agents);
        let detect = |item: &Item| {
            let info = &agents[&item.agent];
            item.as_rule_event(&info.hostname).detect(rules, info.product)
        };
        let threads = std::thread::available_parallelism().map_or(1, usize::from);
        if threads < 2 || items.len() < PARALLEL_MIN_EVENTS {
            return Ok(items.iter().map(detect).collect());
        }
        let chunk = items.len().div_ceil(threads);
        std::thread::scope(|scope| {
            let workers: Vec<_> = items
                .chunks(chunk)
                .map(|part| scope.spawn(move || part.iter().map(detect).collect::<Vec<_>>()))
                .collect();
            let mut all = Vec::with_capacity(items.len());
            for worker in workers {
                all.extend(worker.join().map_err(|_| anyhow::anyhow!("a detection thread panicked"))?);
            }
            Ok(all)
        })
    }
}

/// The alert for one engine result, or none for an informational detection (building blocks
/// and enrichment rules are for correlations and hunting, not for the SOC queue).
fn alert_for(item: &Item, result: &EvaluationResult) -> Option<Alert> {
    let header = &result.header;
    let level = header.level.map_or("medium", |l| l.as_str());
    let (kind, group, events) = match &result.body {
        ResultBody::Detection(_) => {
            if level == "informational" {
                return None;
            }
            ("detection", Vec::new(), vec![format!("{}:{}", item.agent, item.event.seq)])
        }
        ResultBody::Correlation(c) => {
            let refs = c.event_refs.iter().flatten().filter_map(|r| r.id.clone()).collect();
            ("correlation", c.group_key.clone(), refs)
        }
    };
    let own_prefix = format!("{}:", item.agent);
    let mut event_seqs: Vec<u64> =
        events.iter().filter_map(|id| id.strip_prefix(&own_prefix)).filter_map(|s| s.parse().ok()).collect();
    if event_seqs.is_empty() {
        event_seqs.push(item.event.seq);
    }
    let file = item.event.body.file_event();
    let hash = |m: &Option<haidang_proto::event::FileMeta>| m.as_ref().and_then(|m| m.hash).map(hex::encode);
    Some(Alert {
        id: 0,
        created: Timestamp::now(),
        time: item.event.time,
        agent_id: item.agent,
        rule: header.rule_id.clone().unwrap_or_else(|| header.rule_title.clone()),
        title: header.rule_title.clone(),
        severity: level.to_owned(),
        tags: header.tags.clone(),
        kind: kind.to_owned(),
        group,
        events,
        path: file.map(|f| f.path.as_str().to_owned()),
        action: file.map(|f| f.action.as_str().to_owned()),
        old_hash: file.and_then(|f| hash(&f.old)),
        new_hash: file.and_then(|f| hash(&f.new)),
        event_seqs,
    })
}
