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
    pub enrollments: Family<Outcome, Counter>,
    pub alerts_raised: Counter,
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
        let enrollments = Family::<Outcome, Counter>::default();
        let alerts_raised = Counter::default();
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
        registry.register("enrollments", "Enrollment attempts by outcome", enrollments.clone());
        registry.register("alerts_raised", "Alerts raised", alerts_raised.clone());
        Metrics {
            registry,
            events_received,
            batches_received,
            batches_duplicate,
            batches_refused,
            agents_connected,
            ingest_latency,
            store_bytes,
            enrollments,
            alerts_raised,
        }
    }

    pub fn refused(&self, reason: &str) {
        self.batches_refused.get_or_create(&Reason { reason: reason.to_string() }).inc();
    }

    pub fn enrollment(&self, outcome: &str) {
        self.enrollments.get_or_create(&Outcome { outcome: outcome.to_string() }).inc();
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
