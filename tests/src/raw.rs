//! A raw agent for adversarial tests: it enrolls like a real agent (Ed25519 key from ring,
//! `EnrollRequest` over the enrollment ALPN with the CA pinned) and then connects with its
//! client certificate, but lets the test put any bytes on the batch stream and observe
//! exactly what the collector answers and how it closes the connection.
//!
//! It reuses the agent library's TLS and frame reading, so it speaks the same protocol as
//! `haidang-agent`; only what it sends is up to the test. Its methods block (each owns a
//! small tokio runtime) so tests can mix them freely with the harness's blocking CLI calls.

use crate::Collector;
use anyhow::{Context, Result};
use haidang_agent::net::read_frame;
use haidang_agent::tls;
use haidang_proto::batch::{ChainTip, seal};
use haidang_proto::enroll::{EnrollRequest, EnrollResponse};
use haidang_proto::event::{Detection, FileAction, FileEvent};
use haidang_proto::wire::{Ack, AgentFrame, CollectorFrame, Refusal, SERVER_NAME, encode_frame};
use haidang_proto::{AgentId, Event, EventBody, SignedBatch, Text, Timestamp};
use ring::signature::Ed25519KeyPair;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::runtime::Runtime;

/// Longest the raw client waits for any one answer from the collector; every wait is
/// bounded so a collector that hangs fails the test instead of stalling it.
const TIMEOUT: Duration = Duration::from_secs(15);

/// An enrolled agent identity driven by the test.
pub struct RawAgent {
    rt: Arc<Runtime>,
    pub id: AgentId,
    key: Ed25519KeyPair,
    pkcs8: Vec<u8>,
    certificate: Vec<u8>,
    ca_certificate: Vec<u8>,
    server: SocketAddr,
}

/// How the collector ended a connection.
#[derive(Debug, PartialEq, Eq)]
pub enum Closed {
    /// The collector closed it on purpose, with an application code and reason.
    ByCollector { code: u64, reason: String },
    /// Anything else (timeout, reset, local close), described.
    Other(String),
}

impl RawAgent {
    /// Enrolls a new identity with a fresh single-use token; panics if the collector refuses.
    pub fn enroll(collector: &Collector, hostname: &str) -> RawAgent {
        RawAgent::try_enroll(collector, hostname)
            .unwrap_or_else(|r| panic!("raw enrollment of {hostname} refused: {} ({})", r.message, r.code))
    }

    /// Enrolls a new identity with a fresh single-use token, or says why the collector refused.
    pub fn try_enroll(collector: &Collector, hostname: &str) -> Result<RawAgent, Refusal> {
        RawAgent::try_enroll_with(collector, hostname, &collector.token(1, "1h"))
    }

    /// Enrolls a new identity presenting `token` exactly as given.
    pub fn try_enroll_with(collector: &Collector, hostname: &str, token: &str) -> Result<RawAgent, Refusal> {
        let rt = Arc::new(
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
                .expect("tokio runtime for the raw agent"),
        );
        let pin = collector.fingerprint();
        let rng = ring::rand::SystemRandom::new();
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng).expect("generate an Ed25519 key").as_ref().to_vec();
        let key = Ed25519KeyPair::from_pkcs8(&pkcs8).expect("load the generated key");
        let request = EnrollRequest::new(&key, token, hostname, "linux", "raw-test-agent");
        let response = rt
            .block_on(enroll_exchange(collector.quic, &pin, &request))
            .unwrap_or_else(|e| panic!("raw enrollment of {hostname} failed: {e:#}"));
        let enrolled = match response {
            EnrollResponse::Enrolled(e) => e,
            EnrollResponse::Refused(r) => return Err(r),
        };
        Ok(RawAgent {
            rt,
            id: enrolled.agent_id,
            key,
            pkcs8,
            certificate: enrolled.certificate,
            ca_certificate: enrolled.ca_certificate,
            server: collector.quic,
        })
    }

    /// The agent's signing key, to seal batches the helpers below do not cover.
    pub fn key(&self) -> &Ed25519KeyPair {
        &self.key
    }

    /// Seals the batch that follows `prev` (None: batch 1) for this agent.
    pub fn seal(&self, prev: Option<&SignedBatch>, events: &[Event]) -> SignedBatch {
        let tip = prev.map(|b| ChainTip::of(&b.header));
        seal(&self.key, self.id, tip.as_ref(), events)
    }

    /// Connects with the agent's client certificate and opens the batch stream. The
    /// handshake succeeds even for a revoked agent (its certificate is still signed by the
    /// CA); the collector then closes the connection, which [`RawConn::closed`] observes.
    pub fn connect(&self) -> Result<RawConn> {
        let config = tls::enrolled(&self.ca_certificate, &self.certificate, &self.pkcs8)?;
        self.connect_with(config, self.server)
    }

    /// Connects to `other`'s collector, trusting its CA, with this agent's identity (which
    /// that CA did not issue): the collector must refuse the certificate.
    pub fn connect_as_stranger_to(&self, other: &RawAgent) -> Result<RawConn> {
        let config = tls::enrolled(&other.ca_certificate, &self.certificate, &self.pkcs8)?;
        self.connect_with(config, other.server)
    }

    fn connect_with(&self, config: quinn::ClientConfig, server: SocketAddr) -> Result<RawConn> {
        let (endpoint, conn, send, recv) = self.rt.block_on(async move {
            let endpoint = tls::client_endpoint(server)?;
            let connecting = endpoint.connect_with(config, server, SERVER_NAME)?;
            let conn = tokio::time::timeout(TIMEOUT, connecting)
                .await
                .context("no QUIC handshake with the collector")?
                .context("QUIC handshake with the collector failed")?;
            let (send, recv) = conn.open_bi().await.context("cannot open the batch stream")?;
            anyhow::Ok((endpoint, conn, send, recv))
        })?;
        Ok(RawConn { rt: self.rt.clone(), _endpoint: endpoint, conn, send, recv })
    }
}

async fn enroll_exchange(server: SocketAddr, pin: &str, request: &EnrollRequest) -> Result<EnrollResponse> {
    let (config, _) = tls::enrollment(pin)?;
    let endpoint = tls::client_endpoint(server)?;
    let conn = tokio::time::timeout(TIMEOUT, endpoint.connect_with(config, server, SERVER_NAME)?)
        .await
        .context("no enrollment handshake")??;
    let (mut send, mut recv) = conn.open_bi().await?;
    send.write_all(&encode_frame(request)).await?;
    send.finish()?;
    let response = tokio::time::timeout(TIMEOUT, read_frame::<EnrollResponse>(&mut recv))
        .await
        .context("no enrollment answer")??
        .context("the collector closed the enrollment stream without answering")?;
    conn.close(0u32.into(), b"enrolled");
    endpoint.wait_idle().await;
    Ok(response)
}

/// One connection of a [`RawAgent`] with its single bidirectional batch stream.
pub struct RawConn {
    rt: Arc<Runtime>,
    // Kept so the UDP socket outlives the connection.
    _endpoint: quinn::Endpoint,
    conn: quinn::Connection,
    send: quinn::SendStream,
    recv: quinn::RecvStream,
}

impl RawConn {
    /// Writes bytes on the batch stream exactly as given (no framing added).
    pub fn send_raw(&mut self, bytes: &[u8]) -> Result<()> {
        let send = &mut self.send;
        self.rt.block_on(async { tokio::time::timeout(TIMEOUT, send.write_all(bytes)).await })??;
        Ok(())
    }

    /// Sends one batch frame.
    pub fn send_batch(&mut self, batch: &SignedBatch) -> Result<()> {
        self.send_raw(&encode_frame(&AgentFrame::Batch(batch.clone())))
    }

    /// Ends the batch stream (as an agent would after its last frame).
    pub fn finish(&mut self) -> Result<()> {
        self.send.finish()?;
        Ok(())
    }

    /// The collector's next frame; `Ok(None)` if it finished the stream.
    pub fn next_frame(&mut self) -> Result<Option<CollectorFrame>> {
        let recv = &mut self.recv;
        self.rt
            .block_on(async { tokio::time::timeout(TIMEOUT, read_frame::<CollectorFrame>(recv)).await })
            .context("no answer from the collector")?
    }

    /// The next frame, which must be an ack.
    pub fn expect_ack(&mut self) -> Ack {
        match self.next_frame() {
            Ok(Some(CollectorFrame::Ack(ack))) => ack,
            other => panic!("expected an ack from the collector, got {other:?}"),
        }
    }

    /// The next frame, which must be a refusal.
    pub fn expect_refusal(&mut self) -> Refusal {
        match self.next_frame() {
            Ok(Some(CollectorFrame::Refused(r))) => r,
            other => panic!("expected a refusal from the collector, got {other:?}"),
        }
    }

    /// Waits (bounded) until the connection ends and says how.
    pub fn closed(&self) -> Closed {
        let conn = self.conn.clone();
        let ended = self.rt.block_on(async move { tokio::time::timeout(TIMEOUT, conn.closed()).await });
        match ended {
            Err(_) => Closed::Other(format!("still open after {TIMEOUT:?}")),
            Ok(quinn::ConnectionError::ApplicationClosed(c)) => Closed::ByCollector {
                code: c.error_code.into_inner(),
                reason: String::from_utf8_lossy(&c.reason).into_owned(),
            },
            Ok(e) => Closed::Other(e.to_string()),
        }
    }

    /// Whether the connection is still open (the collector has not closed it).
    pub fn is_open(&self) -> bool {
        self.conn.close_reason().is_none()
    }
}

impl Drop for RawConn {
    fn drop(&mut self) {
        self.conn.close(0u32.into(), b"test done");
    }
}

/// `n` file events from `first_seq` on, with paths `/hostile/{marker}/{seq}` so a test can
/// tell whether anything of a given batch reached the store.
pub fn events(first_seq: u64, n: u64, marker: &str) -> Vec<Event> {
    (first_seq..first_seq + n)
        .map(|seq| Event {
            seq,
            time: Timestamp::now(),
            body: EventBody::File(FileEvent {
                action: FileAction::Created,
                path: Text::from(format!("/hostile/{marker}/{seq}")),
                old_path: None,
                old: None,
                new: None,
                critical: false,
                detection: Detection::Rescan,
                actor: None,
            }),
        })
        .collect()
}

/// Checks the `/hostile/{marker}/...` path form written by [`events`].
pub fn has_marker(event: &serde_json::Value, marker: &str) -> bool {
    event["path"].as_str().is_some_and(|p| p.starts_with(&format!("/hostile/{marker}/")))
}

/// A connection on the enrollment protocol from a chosen source address, without a token
/// or certificate, driven byte by byte: what an unauthenticated peer can make the collector
/// hold.
pub struct RawEnrollConn {
    rt: Arc<Runtime>,
    _endpoint: quinn::Endpoint,
    conn: quinn::Connection,
    streams: Vec<(quinn::SendStream, quinn::RecvStream)>,
}

impl RawEnrollConn {
    /// Completes the handshake from `source` (any loopback address works on Linux), or says
    /// why the collector refused it.
    pub fn connect(collector: &Collector, source: std::net::IpAddr) -> Result<RawEnrollConn> {
        let rt = Arc::new(tokio::runtime::Builder::new_current_thread().enable_all().build()?);
        let (config, _) = tls::enrollment(&collector.fingerprint())?;
        let server = collector.quic;
        let (endpoint, conn) = rt.block_on(async move {
            let endpoint = quinn::Endpoint::client(SocketAddr::new(source, 0))?;
            let conn = tokio::time::timeout(TIMEOUT, endpoint.connect_with(config, server, SERVER_NAME)?)
                .await
                .context("no enrollment handshake")??;
            anyhow::Ok((endpoint, conn))
        })?;
        Ok(RawEnrollConn { rt, _endpoint: endpoint, conn, streams: Vec::new() })
    }

    /// Opens a stream and writes `bytes` on it, if the collector allows another stream
    /// within `wait`.
    pub fn open_stream(&mut self, bytes: &[u8], wait: Duration) -> bool {
        let conn = self.conn.clone();
        let opened = self.rt.block_on(async move {
            let (mut send, recv) = tokio::time::timeout(wait, conn.open_bi()).await.ok()?.ok()?;
            send.write_all(bytes).await.ok()?;
            Some((send, recv))
        });
        opened.map(|s| self.streams.push(s)).is_some()
    }

    /// The collector's answer on the first stream.
    pub fn response(&mut self) -> Result<Option<EnrollResponse>> {
        let (_, recv) = self.streams.first_mut().context("no stream opened")?;
        self.rt
            .block_on(async { tokio::time::timeout(TIMEOUT, read_frame::<EnrollResponse>(recv)).await })
            .context("no answer from the collector")?
    }
}

impl Drop for RawEnrollConn {
    fn drop(&mut self) {
        self.conn.close(0u32.into(), b"test done");
    }
}
