//! Prometheus metrics served at `/metrics`.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Reason {
    pub reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Outcome {
    pub outcome: String,
}

pub struct Metrics {
    pub registry: Registry,
    pub events_received: Counter,
    pub batches_received: Counter,
    pub batches_duplicate: Counter,
    pub batches_refused: Family<Reason, Counter>,
    pub agents_connected: Gauge,
    pub ingest_latency: Histogram,
    pub store_bytes: Gauge,
    pub store_commits: Counter,
    pub store_healthy: Gauge,
    pub store_commit_failures: Counter,
    pub store_reopens: Counter,
    pub enrollments: Family<Outcome, Counter>,
    pub alerts_raised: Counter,
    pub alerts_by_level: Family<Level, Counter>,
    pub events_correlated: Counter,
    pub rules_loaded: Gauge,
    pub correlate_backlog: Gauge,
    pub correlate_backlog_age: Gauge,
    pub unauthenticated_connections: Gauge,
    pub connections_refused: Family<Reason, Counter>,
    pub quic_retries: Counter,
    pub http_refused: Family<Reason, Counter>,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Level {
    pub level: String,
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("haidang");
        let events_received = Counter::default();
        let batches_received = Counter::default();
        let batches_duplicate = Counter::default();
        let batches_refused = Family::<Reason, Counter>::default();
        let agents_connected = Gauge::default();
        let ingest_latency = Histogram::new(exponential_buckets(0.0005, 2.0, 16));
        let store_bytes = Gauge::default();
        let store_commits = Counter::default();
        let store_healthy = Gauge::default();
        let store_commit_failures = Counter::default();
        let store_reopens = Counter::default();
        let enrollments = Family::<Outcome, Counter>::default();
        let alerts_raised = Counter::default();
        let alerts_by_level = Family::<Level, Counter>::default();
        let events_correlated = Counter::default();
        let rules_loaded = Gauge::default();
        let correlate_backlog = Gauge::default();
        let correlate_backlog_age = Gauge::default();
        let unauthenticated_connections = Gauge::default();
        let connections_refused = Family::<Reason, Counter>::default();
        let quic_retries = Counter::default();
        let http_refused = Family::<Reason, Counter>::default();
        registry.register("events_received", "Events stored from agents", events_received.clone());
        registry.register("batches_received", "Batches stored from agents", batches_received.clone());
        registry.register(
            "batches_duplicate",
            "Replayed batches acknowledged again but not stored",
            batches_duplicate.clone(),
        );
        registry.register("batches_refused", "Batches or frames refused, by reason", batches_refused.clone());
        registry.register("agents_connected", "Agents connected now", agents_connected.clone());
        registry.register(
            "ingest_latency_seconds",
            "From a batch fully received to its acknowledgement (verify, store, commit)",
            ingest_latency.clone(),
        );
        registry.register("store_bytes", "Size of the collector's store file", store_bytes.clone());
        registry.register("store_commits", "Store transactions committed", store_commits.clone());
        registry.register(
            "store_healthy",
            "1 while the collector can store (and acknowledge) batches, 0 while it cannot",
            store_healthy.clone(),
        );
        registry.register(
            "store_commit_failures",
            "Store transactions that failed (nothing in them was acknowledged)",
            store_commit_failures.clone(),
        );
        registry.register("store_reopens", "Times the store was reopened after a failed commit", store_reopens.clone());
        registry.register("enrollments", "Enrollment attempts by outcome", enrollments.clone());
        registry.register("alerts_raised", "Alerts raised", alerts_raised.clone());
        registry.register("alerts", "Alerts raised, by rule level", alerts_by_level.clone());
        registry.register(
            "events_correlated",
            "Stored events run through the Sigma rules by the correlate stage",
            events_correlated.clone(),
        );
        registry.register(
            "correlate_backlog_batches",
            "Stored batches waiting for the correlate stage",
            correlate_backlog.clone(),
        );
        registry.register(
            "correlate_backlog_age_seconds",
            "How long the oldest batch waiting for the correlate stage has waited",
            correlate_backlog_age.clone(),
        );
        registry.register("rules_loaded", "Sigma rule documents loaded (shipped and configured)", rules_loaded.clone());
        registry.register(
            "unauthenticated_connections",
            "QUIC connections not yet authenticated (handshakes and enrollments)",
            unauthenticated_connections.clone(),
        );
        registry.register(
            "connections_refused",
            "QUIC connections refused before or during the handshake, by reason",
            connections_refused.clone(),
        );
        registry.register("quic_retries", "QUIC Retry packets sent to validate a source address", quic_retries.clone());
        registry.register(
            "http_refused",
            "HTTP connections or requests refused by the listener's limits, by reason",
            http_refused.clone(),
        );
        Metrics {
            registry,
            events_received,
            batches_received,
            batches_duplicate,
            batches_refused,
            agents_connected,
            ingest_latency,
            store_bytes,
            store_commits,
            store_healthy,
            store_commit_failures,
            store_reopens,
            enrollments,
            alerts_raised,
            alerts_by_level,
            events_correlated,
            rules_loaded,
            correlate_backlog,
            correlate_backlog_age,
            unauthenticated_connections,
            connections_refused,
            quic_retries,
            http_refused,
        }
    }

    pub fn refused(&self, reason: &str) {
        self.batches_refused.get_or_create(&Reason { reason: reason.to_string() }).inc();
    }

    pub fn connection_refused(&self, reason: &str) {
        self.connections_refused.get_or_create(&Reason { reason: reason.to_string() }).inc();
    }

    pub fn http_refused(&self, reason: &str) {
        self.http_refused.get_or_create(&Reason { reason: reason.to_string() }).inc();
    }

    pub fn enrollment(&self, outcome: &str) {
        self.enrollments.get_or_create(&Outcome { outcome: outcome.to_string() }).inc();
    }

    pub fn alert(&self, level: &str) {
        self.alerts_raised.inc();
        self.alerts_by_level.get_or_create(&Level { level: level.to_string() }).inc();
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        if let Err(e) = prometheus_client::encoding::text::encode(&mut out, &self.registry) {
            tracing::error!(error = %e, "cannot encode metrics");
        }
        out
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}
