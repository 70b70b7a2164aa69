//! `haidang-collector serve`: wires the store, the CA, QUIC ingest and the HTTP API
//! together and runs them until Ctrl-C or SIGTERM.

use crate::api::{self, App};
use crate::backlog::BacklogClock;
use crate::ca::{CertificateAuthority, write_secret};
use crate::correlate::{self, Correlator, RuleSources, Wakeup};
use crate::fleet::{CLOSE_SHUTDOWN, Fleet};
use crate::gate::Gate;
use crate::ingest::{self, Ingest};
use crate::limits::Limits;
use crate::metrics::Metrics;
use crate::quic;
use crate::store::{self, writer};
use crate::throttle::EnrollThrottle;
use anyhow::{Context, Result};
use haidang_rules::Placeholders;
use ring::rand::SecureRandom;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

pub const API_TOKEN_FILE: &str = "api.token";

#[derive(Clone, Debug)]
pub struct ServeOptions {
    pub data: PathBuf,
    pub quic: SocketAddr,
    pub http: SocketAddr,
    /// Sigma rule directories, on top of the shipped rules.
    pub rules: Vec<PathBuf>,
    /// The values of `expand` placeholders (a pySigma pipeline file), if any.
    pub placeholders: Option<PathBuf>,
    /// The release directory agents' updates are served from (`release publish --repo`).
    pub release: PathBuf,
    /// How long a timestamp the collector re-signs with its online key stays valid.
    pub release_timestamp_ttl: std::time::Duration,
    pub limits: Limits,
}

/// A collector whose listeners are up.
pub struct Collector {
    pub quic_addr: SocketAddr,
    pub http_addr: SocketAddr,
    pub fingerprint: String,
    pub token_path: PathBuf,
    endpoint: quinn::Endpoint,
    fleet: Arc<Fleet>,
    http: tokio::task::JoinHandle<()>,
    http_stop: tokio::sync::oneshot::Sender<()>,
    pub correlator: Correlator,
}

pub async fn start(opts: &ServeOptions) -> Result<Collector> {
    haidang_private::secure_dir(&opts.data, "data directory")?;
    let metrics = Arc::new(Metrics::new());
    let store = Arc::new(store::Store::open(&opts.data, metrics.store_healthy.clone())?);
    let ca = Arc::new(CertificateAuthority::open_or_create(&opts.data)?);
    let token_path = opts.data.join(API_TOKEN_FILE);
    let api_token = api_token(&token_path)?;
    let fleet = Arc::new(Fleet::new(store::agents(&*store.db()?)?));
    let observer_fleet = fleet.clone();
    let wakeup = Arc::new(Wakeup::default());
    let backlog = Arc::new(BacklogClock::default());
    let (writer_wakeup, writer_backlog) = (wakeup.clone(), backlog.clone());
    let writer = writer::start(
        store.clone(),
        Box::new(move |changed| observer_fleet.update(changed)),
        Box::new(move |last| {
            writer_backlog.queued(last);
            writer_wakeup.wake();
        }),
        writer::WriterCounters {
            commits: metrics.store_commits.clone(),
            commit_failures: metrics.store_commit_failures.clone(),
            reopens: metrics.store_reopens.clone(),
        },
    )?;
    let placeholders = match &opts.placeholders {
        Some(file) => Placeholders::from_file(file).map_err(anyhow::Error::msg).context("--placeholders")?,
        None => Placeholders::default(),
    };
    let sources = RuleSources { dirs: opts.rules.clone(), placeholders };
    let correlator = correlate::start(store.clone(), writer.clone(), metrics.clone(), sources, wakeup, backlog)?;

    let endpoint = quic::endpoint(&ca, opts.quic)?;
    let quic_addr = endpoint.local_addr()?;
    let ingest = Arc::new(Ingest {
        ca: ca.clone(),
        gate: Gate::new(
            opts.limits.max_unauthenticated_connections,
            opts.limits.max_unauthenticated_per_source,
            metrics.unauthenticated_connections.clone(),
        ),
        limits: opts.limits.clone(),
        store: store.clone(),
        throttle: EnrollThrottle::default(),
        fleet: fleet.clone(),
        writer: writer.clone(),
        metrics: metrics.clone(),
        releases: Arc::new(crate::release::server::Releases::new(opts.release.clone(), opts.release_timestamp_ttl)),
    });
    tokio::spawn(ingest::serve(endpoint.clone(), ingest));

    let app = Arc::new(App {
        store,
        fleet: fleet.clone(),
        writer: writer.clone(),
        metrics: metrics.clone(),
        correlator: correlator.clone(),
        ca_fingerprint: ca.fingerprint(),
        api_token_hash: blake3::hash(api_token.as_bytes()),
        store_path: opts.data.join(store::DB_FILE),
    });
    let listener = tokio::net::TcpListener::bind(opts.http)
        .await
        .with_context(|| format!("cannot listen for HTTP on {}", opts.http))?;
    let http_addr = listener.local_addr()?;
    let (http_stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let http = tokio::spawn(crate::http::serve(listener, api::router(app), opts.limits.clone(), metrics, stopped));
    Ok(Collector {
        quic_addr,
        http_addr,
        fingerprint: ca.fingerprint(),
        token_path,
        endpoint,
        fleet,
        http,
        http_stop,
        correlator,
    })
}

impl Collector {
    pub fn print_banner(&self) {
        println!("Hải Đăng collector is running");
        println!("  QUIC (agents):     {}", self.quic_addr);
        println!("  HTTP (API, /metrics, /healthz): http://{}", self.http_addr);
        println!("  CA fingerprint:    {}", self.fingerprint);
        println!(
            "  API token:         {} (export HAIDANG_API_TOKEN=$(cat {}))",
            self.token_path.display(),
            self.token_path.display()
        );
    }

    pub async fn shutdown(self) {
        self.endpoint.close(CLOSE_SHUTDOWN.into(), b"collector shutting down");
        self.fleet.close_all();
        let _ = self.http_stop.send(());
        let _ = tokio::time::timeout(Duration::from_secs(5), self.endpoint.wait_idle()).await;
        let _ = tokio::time::timeout(Duration::from_secs(5), self.http).await;
    }
}

pub async fn run(opts: ServeOptions) -> Result<()> {
    let collector = start(&opts).await?;
    collector.print_banner();
    tokio::spawn(reload_on_hangup(collector.correlator.clone()));
    shutdown_signal().await;
    tracing::info!("shutting down");
    collector.shutdown().await;
    Ok(())
}

/// SIGHUP reloads the rule directories, as daemons conventionally reread their configuration.
async fn reload_on_hangup(correlator: Correlator) {
    #[cfg(unix)]
    {
        let Ok(mut hangups) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) else {
            tracing::warn!("cannot listen for SIGHUP; reload rules through the API instead");
            return;
        };
        while hangups.recv().await.is_some() {
            tracing::info!("SIGHUP: reloading rules");
            if let Err(e) = correlator.reload().await {
                tracing::error!(error = %e, "rule reload failed");
            }
        }
    }
    #[cfg(not(unix))]
    let _ = correlator;
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => {
                let _ = ctrl_c.await;
                return;
            }
        };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}

fn api_token(path: &Path) -> Result<String> {
    if let Ok(existing) = std::fs::read_to_string(path) {
        let token = existing.trim_ascii().to_string();
        if !token.is_empty() {
            return Ok(token);
        }
    }
    let mut secret = [0u8; 32];
    ring::rand::SystemRandom::new()
        .fill(&mut secret)
        .map_err(|_| anyhow::anyhow!("no randomness for the API token"))?;
    let token = hex::encode(secret);
    write_secret(path, format!("{token}\n").as_bytes())?;
    Ok(token)
}
