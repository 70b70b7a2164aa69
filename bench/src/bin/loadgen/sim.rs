//! Simulated agents. Each has its own Ed25519 key, enrolls through the real exchange (a
//! token over a connection that pins the CA, proof of possession, a client certificate in
//! return) and connects with mutual TLS, using the agent library's own TLS configuration
//! and framing, so the collector cannot tell them from real agents. Every agent gets a
//! fresh TLS configuration, hence a full handshake (no session resumption between agents).
//!
//! Many simulated agents share a few client endpoints (one UDP socket each).

use anyhow::{Context, Result, bail};
use haidang_agent::net::read_frame;
use haidang_agent::tls;
use haidang_proto::enroll::{EnrollRequest, EnrollResponse};
use haidang_proto::wire::{SERVER_NAME, encode_frame};
use haidang_proto::{AgentId, Timestamp};
use ring::signature::Ed25519KeyPair;
use std::collections::VecDeque;
use std::io::{BufRead, Write};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long one enrollment or connection may take before it counts as failed.
const TIMEOUT: Duration = Duration::from_secs(30);

/// An agent about to enroll: its key and its signed request, prepared before timing starts.
pub(crate) struct Applicant {
    key_pkcs8: Vec<u8>,
    request: EnrollRequest,
}

/// What an enrolled simulated agent keeps.
#[derive(Clone)]
pub(crate) struct Identity {
    pub agent_id: AgentId,
    pub key_pkcs8: Vec<u8>,
    pub cert: Vec<u8>,
    /// Fixes the time of the agent's first heartbeat, so it is the same on every run.
    pub enrolled_at: Timestamp,
}

impl Identity {
    pub(crate) fn key(&self) -> Result<Ed25519KeyPair> {
        Ed25519KeyPair::from_pkcs8(&self.key_pkcs8).map_err(|_| anyhow::anyhow!("stored agent key is invalid"))
    }
}

/// Generates keys and signed requests for `count` agents, on all cores.
pub(crate) fn applicants(count: usize, token: &str) -> Result<Vec<Applicant>> {
    let threads = std::thread::available_parallelism().map_or(2, usize::from);
    let per = count.div_ceil(threads.max(1)).max(1);
    let chunks: Vec<Result<Vec<Applicant>>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..count)
            .step_by(per)
            .map(|from| {
                s.spawn(move || {
                    let rng = ring::rand::SystemRandom::new();
                    (from..(from + per).min(count))
                        .map(|i| {
                            let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng)
                                .map_err(|_| anyhow::anyhow!("cannot generate a key"))?;
                            let key = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref())
                                .map_err(|_| anyhow::anyhow!("cannot load a new key"))?;
                            let host = format!("loadgen-{:06}.ubnd.khanhhoa.gov.vn", i);
                            let os = if i % 5 == 0 { "linux" } else { "windows" };
                            let request = EnrollRequest::new(&key, token, &host, os, "0.1.0-loadgen");
                            Ok(Applicant { key_pkcs8: pkcs8.as_ref().to_vec(), request })
                        })
                        .collect()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|_| Err(anyhow::anyhow!("key generation panicked"))))
            .collect()
    });
    let mut out = Vec::with_capacity(count);
    for chunk in chunks {
        out.extend(chunk?);
    }
    Ok(out)
}

/// `n` client endpoints (UDP sockets) for agents to share.
pub(crate) fn endpoints(n: usize, server: SocketAddr) -> Result<Vec<quinn::Endpoint>> {
    (0..n.max(1)).map(|_| tls::client_endpoint(server)).collect()
}

/// One enrollment, exactly as `haidang-agent enroll` performs it.
pub(crate) async fn enroll(
    endpoint: &quinn::Endpoint,
    server: SocketAddr,
    pin: &str,
    applicant: Applicant,
) -> Result<(Identity, Vec<u8>)> {
    let (config, _) = tls::enrollment(pin)?;
    let exchange = async {
        let conn = endpoint.connect_with(config, server, SERVER_NAME)?.await.context("enrollment handshake")?;
        let (mut send, mut recv) = conn.open_bi().await?;
        send.write_all(&encode_frame(&applicant.request)).await?;
        send.finish()?;
        let response = read_frame::<EnrollResponse>(&mut recv).await?.context("the collector closed the enrollment")?;
        conn.close(0u32.into(), b"enrolled");
        anyhow::Ok(response)
    };
    let response = tokio::time::timeout(TIMEOUT, exchange).await.context("enrollment timed out")??;
    let enrolled = match response {
        EnrollResponse::Enrolled(e) => e,
        EnrollResponse::Refused(r) => bail!("enrollment refused: {} ({})", r.message, r.code),
    };
    if haidang_proto::fingerprint(&enrolled.ca_certificate) != pin {
        bail!("the collector returned a CA that does not match the pinned fingerprint");
    }
    let identity = Identity {
        agent_id: enrolled.agent_id,
        key_pkcs8: applicant.key_pkcs8,
        cert: enrolled.certificate,
        enrolled_at: Timestamp::now(),
    };
    Ok((identity, enrolled.ca_certificate))
}

/// The outcome of enrolling many agents.
pub(crate) struct EnrollRun {
    pub identities: Identities,
    pub elapsed: Duration,
    /// Per enrollment, from connect to certificate.
    pub latencies: Vec<Duration>,
    pub failures: usize,
    pub first_error: Option<String>,
}

/// Enrolls every applicant, `concurrency` at a time, spread over `endpoints`.
pub(crate) async fn enroll_many(
    endpoints: &[quinn::Endpoint],
    server: SocketAddr,
    pin: &str,
    applicants: Vec<Applicant>,
    concurrency: usize,
) -> EnrollRun {
    let queue = Arc::new(Mutex::new(applicants.into_iter().enumerate().collect::<VecDeque<_>>()));
    let started = Instant::now();
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..concurrency.max(1) {
        let (queue, endpoints, pin) = (queue.clone(), endpoints.to_vec(), pin.to_string());
        workers.spawn(async move {
            let mut done = Vec::new();
            loop {
                let next = queue.lock().unwrap_or_else(|p| p.into_inner()).pop_front();
                let Some((i, applicant)) = next else { break };
                let t = Instant::now();
                let result = enroll(&endpoints[i % endpoints.len()], server, &pin, applicant).await;
                done.push((result, t.elapsed()));
            }
            done
        });
    }
    let mut run = EnrollRun {
        identities: Identities { ca: Vec::new(), agents: Vec::new() },
        elapsed: Duration::ZERO,
        latencies: Vec::new(),
        failures: 0,
        first_error: None,
    };
    while let Some(joined) = workers.join_next().await {
        let done = match joined {
            Ok(done) => done,
            Err(e) => {
                run.failures += 1;
                run.first_error.get_or_insert_with(|| format!("an enrollment worker failed: {e}"));
                continue;
            }
        };
        for (result, took) in done {
            match result {
                Ok((identity, ca)) => {
                    run.identities.ca = ca;
                    run.identities.agents.push(identity);
                    run.latencies.push(took);
                }
                Err(e) => {
                    run.failures += 1;
                    run.first_error.get_or_insert_with(|| format!("{e:#}"));
                }
            }
        }
    }
    run.elapsed = started.elapsed();
    run
}

/// Connects an enrolled agent with its client certificate (mutual TLS).
pub(crate) async fn connect(
    endpoint: &quinn::Endpoint,
    server: SocketAddr,
    ca: &[u8],
    id: &Identity,
) -> Result<quinn::Connection> {
    let config = tls::enrolled(ca, &id.cert, &id.key_pkcs8)?;
    let connecting = endpoint.connect_with(config, server, SERVER_NAME)?;
    tokio::time::timeout(TIMEOUT, connecting).await.context("connection timed out")?.context("agent handshake")
}

/// Enrolled agents saved between runs (`enroll --save`, `idle --identities`), so memory can
/// be measured on a freshly started collector that already knows them. One JSON object a
/// line: first the CA, then one per agent.
pub(crate) struct Identities {
    pub ca: Vec<u8>,
    pub agents: Vec<Identity>,
}

impl Identities {
    pub(crate) fn save(&self, path: &Path) -> Result<()> {
        let file = std::fs::File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
        let mut out = std::io::BufWriter::new(file);
        writeln!(out, "{}", serde_json::json!({ "ca": hex::encode(&self.ca) }))?;
        for a in &self.agents {
            let line = serde_json::json!({
                "agent_id": a.agent_id.to_string(),
                "key": hex::encode(&a.key_pkcs8),
                "cert": hex::encode(&a.cert),
                "enrolled_at": a.enrolled_at.0,
            });
            writeln!(out, "{line}")?;
        }
        out.flush()?;
        Ok(())
    }

    pub(crate) fn load(path: &Path) -> Result<Identities> {
        let file = std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
        let mut lines = std::io::BufReader::new(file).lines();
        let bad = || format!("{} is not an identities file written by `haidang-loadgen enroll --save`", path.display());
        let first: serde_json::Value = serde_json::from_str(&lines.next().with_context(bad)??).with_context(bad)?;
        let ca = hex::decode(first["ca"].as_str().with_context(bad)?).with_context(bad)?;
        let mut agents = Vec::new();
        for line in lines {
            let v: serde_json::Value = serde_json::from_str(&line?).with_context(bad)?;
            let field =
                |k: &str| -> Result<Vec<u8>> { hex::decode(v[k].as_str().with_context(bad)?).with_context(bad) };
            agents.push(Identity {
                agent_id: v["agent_id"].as_str().with_context(bad)?.parse().map_err(anyhow::Error::msg)?,
                key_pkcs8: field("key")?,
                cert: field("cert")?,
                enrolled_at: Timestamp(v["enrolled_at"].as_i64().with_context(bad)?),
            });
        }
        Ok(Identities { ca, agents })
    }
}
