//! QUIC ingest: enrollment connections and enrolled agents' batch streams.
//!
//! Each agent connection runs two tasks joined by a bounded queue: a reader that decodes,
//! verifies (signature, payload hash, sequence consistency) and hands batches to the store
//! writer, and an acker that waits for each commit in order and acknowledges it. A bad
//! frame or batch is refused, logged with the agent id, counted, and only that connection is
//! closed.

use crate::ca::CertificateAuthority;
use crate::clones;
use crate::fleet::{CLOSE_REFUSED, CLOSE_REVOKED, Fleet};
use crate::gate::{Gate, Permit};
use crate::limits::Limits;
use crate::metrics::Metrics;
use crate::quic;
use crate::store::records::AgentRecord;
use crate::store::writer::{IngestError, Stored, WriteOp};
use crate::throttle::{EnrollThrottle, Report};
use crate::tokens;
use haidang_proto::enroll::{EnrollRequest, EnrollResponse, Enrolled};
use haidang_proto::text::terminal_safe;
use haidang_proto::update::{ALPN_UPDATE, UpdateRequest, UpdateResponse};
use haidang_proto::wire::{
    ALPN_AGENT, ALPN_ENROLL, Ack, AgentFrame, CollectorFrame, FrameError, MAX_FRAME_BYTES, Refusal, decode_frame,
    encode_frame, frame_length,
};
use haidang_proto::{AgentId, BatchHeader, Timestamp, fingerprint};
use quinn::{Connection, RecvStream, SendStream};
use ring::rand::SecureRandom;
use rustls_pki_types::CertificateDer;
use serde::de::DeserializeOwned;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};

/// How many batches of one connection may be in the store pipeline at once.
const PIPELINE: usize = 64;
/// How long an enrollment connection may take.
const ENROLL_TIMEOUT: Duration = Duration::from_secs(30);
/// Within the enrollment's own timeout, the request must come promptly.
const ENROLL_DEADLINES: Deadlines = Deadlines { idle: Duration::from_secs(10), frame: Duration::from_secs(10) };
/// Largest update request (a package name and an offset, or a platform and a version).
const MAX_UPDATE_REQUEST_BYTES: usize = 1024;
/// How long an update connection may take in all: fetching the metadata and one package.
const UPDATE_TIMEOUT: Duration = Duration::from_secs(30 * 60);
/// How long a QUIC handshake may take (quinn's own limit is the 90 s idle timeout).
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

pub struct Ingest {
    pub ca: Arc<CertificateAuthority>,
    pub gate: Arc<Gate>,
    pub limits: Limits,
    pub store: Arc<crate::store::Store>,
    pub throttle: EnrollThrottle,
    pub fleet: Arc<Fleet>,
    pub writer: mpsc::Sender<WriteOp>,
    pub metrics: Arc<Metrics>,
    pub releases: Arc<crate::release::server::Releases>,
}

/// Accepts connections until the endpoint is closed. A connection is admitted only within
/// the caps on unauthenticated connections; under load, a source must first prove its
/// address with a QUIC Retry.
pub async fn serve(endpoint: quinn::Endpoint, ingest: Arc<Ingest>) {
    while let Some(incoming) = endpoint.accept().await {
        let under_load = ingest.gate.held() >= ingest.limits.quic_retry_above;
        if under_load && !incoming.remote_address_validated() && incoming.may_retry() {
            ingest.metrics.quic_retries.inc();
            if let Err(e) = incoming.retry() {
                tracing::debug!(error = %e, "cannot send a QUIC Retry");
            }
            continue;
        }
        let permit = match ingest.gate.admit(incoming.remote_address().ip()) {
            Ok(p) => p,
            Err(full) => {
                ingest.metrics.connection_refused(full.reason());
                incoming.refuse();
                continue;
            }
        };
        let ingest = ingest.clone();
        tokio::spawn(async move {
            match tokio::time::timeout(HANDSHAKE_TIMEOUT, incoming.into_future()).await {
                Ok(Ok(conn)) => ingest.connection(conn, permit).await,
                Ok(Err(e)) => {
                    ingest.metrics.connection_refused(handshake_failure(&e));
                    tracing::debug!(error = %e, "handshake failed");
                }
                Err(_) => {
                    ingest.metrics.connection_refused("handshake_timeout");
                    tracing::debug!("handshake timed out");
                }
            }
        });
    }
}

enum Failure {
    /// The peer went away or the stream ended; nothing to report.
    Gone,
    /// The peer broke the protocol.
    Refuse { code: &'static str, message: String },
}

impl From<FrameError> for Failure {
    fn from(e: FrameError) -> Failure {
        Failure::Refuse { code: e.reason(), message: e.to_string() }
    }
}

/// How long a frame may take: to begin (`idle`) and, once begun, to arrive whole (`frame`).
#[derive(Clone, Copy)]
struct Deadlines {
    idle: Duration,
    frame: Duration,
}

/// Reads one frame of at most `limit` bytes (and at most the protocol's limit) within
/// `deadlines`, so a peer cannot hold a buffer open by sending a byte now and then.
async fn read_frame<T: DeserializeOwned>(
    recv: &mut RecvStream,
    limit: usize,
    deadlines: Deadlines,
) -> Result<(T, Vec<u8>), Failure> {
    let mut prefix = [0u8; 4];
    match tokio::time::timeout(deadlines.idle, recv.read_exact(&mut prefix[..1])).await {
        Err(_) => {
            let message = format!("no frame in {} s", deadlines.idle.as_secs());
            return Err(Failure::Refuse { code: "idle_timeout", message });
        }
        // The stream ended between frames: a clean end.
        Ok(Err(_)) => return Err(Failure::Gone),
        Ok(Ok(())) => {}
    }
    let rest = async {
        recv.read_exact(&mut prefix[1..]).await.map_err(ended_inside_frame)?;
        let len = frame_length(prefix)?;
        if len > limit {
            return Err(Failure::Refuse {
                code: "oversized_frame",
                message: format!("frame of {len} bytes exceeds the {limit}-byte limit"),
            });
        }
        let mut body = vec![0u8; len];
        recv.read_exact(&mut body).await.map_err(ended_inside_frame)?;
        Ok(body)
    };
    let body = tokio::time::timeout(deadlines.frame, rest).await.map_err(|_| Failure::Refuse {
        code: "frame_timeout",
        message: format!("frame not complete within {} s of its first byte", deadlines.frame.as_secs()),
    })??;
    let msg = decode_frame(&body)?;
    Ok((msg, body))
}

fn ended_inside_frame(e: quinn::ReadExactError) -> Failure {
    match e {
        quinn::ReadExactError::FinishedEarly(_) => {
            Failure::Refuse { code: "malformed_frame", message: "stream ended inside a frame".into() }
        }
        quinn::ReadExactError::ReadError(_) => Failure::Gone,
    }
}

/// Why a handshake failed, as a metric label: TLS alerts about certificates (an unknown
/// issuer, none where one is needed), no common ALPN, or anything else.
fn handshake_failure(e: &quinn::ConnectionError) -> &'static str {
    let code = match e {
        quinn::ConnectionError::TransportError(t) => t.code,
        quinn::ConnectionError::ConnectionClosed(c) => c.error_code,
        quinn::ConnectionError::TimedOut => return "handshake_timeout",
        _ => return "handshake_failed",
    };
    // TLS alerts travel as QUIC CRYPTO_ERROR codes 0x100 + alert (RFC 9001, 4.8).
    let alert = u64::from(code).checked_sub(0x100).filter(|a| *a <= 0xff);
    match alert {
        // bad_certificate .. access_denied, decrypt_error (a certificate whose issuer's name
        // matches our CA but whose signature does not), and certificate_required.
        Some(42..=49 | 51 | 116) => "bad_certificate",
        Some(120) => "no_application_protocol",
        _ => "handshake_failed",
    }
}

async fn write_and_close(mut send: SendStream, frame: &[u8]) {
    if send.write_all(frame).await.is_ok() && send.finish().is_ok() {
        let _ = tokio::time::timeout(Duration::from_secs(2), send.stopped()).await;
    }
}

impl Ingest {
    async fn connection(&self, conn: Connection, permit: Permit) {
        let alpn = conn
            .handshake_data()
            .and_then(|d| d.downcast::<quinn::crypto::rustls::HandshakeData>().ok())
            .and_then(|d| d.protocol);
        match alpn.as_deref() {
            Some(p) if p == ALPN_ENROLL => {
                if tokio::time::timeout(ENROLL_TIMEOUT, self.enrollment(&conn)).await.is_err() {
                    self.metrics.enrollment("timeout");
                }
                conn.close(0u32.into(), b"done");
                drop(permit);
            }
            Some(p) if p == ALPN_AGENT => self.agent(conn, permit).await,
            Some(p) if p == ALPN_UPDATE => {
                let _ = tokio::time::timeout(UPDATE_TIMEOUT, self.updates(&conn, permit)).await;
                conn.close(0u32.into(), b"done");
            }
            _ => {
                self.metrics.connection_refused("no_application_protocol");
                conn.close(CLOSE_REFUSED.into(), b"unknown protocol")
            }
        }
    }

    async fn enrollment(&self, conn: &Connection) {
        let Ok((send, mut recv)) = conn.accept_bi().await else { return };
        let remote = conn.remote_address();
        if !self.throttle.admit(remote.ip()) {
            // Refused unread, and not logged one by one: the throttle summarises.
            self.metrics.enrollment("rate_limited");
            let message = "too many failed enrollment attempts from this address; try again later".to_string();
            let reply = EnrollResponse::Refused(Refusal { code: "rate_limited".into(), message });
            return write_and_close(send, &encode_frame(&reply)).await;
        }
        let request = match read_frame::<EnrollRequest>(
            &mut recv,
            self.limits.max_enroll_request_bytes,
            ENROLL_DEADLINES,
        )
        .await
        {
            Ok((r, _)) => r,
            Err(Failure::Gone) => return,
            Err(Failure::Refuse { code, message }) => {
                let refusal = Refusal { code: code.into(), message };
                self.enrollment_refused(remote, &refusal);
                return write_and_close(send, &encode_frame(&EnrollResponse::Refused(refusal))).await;
            }
        };
        let reply = match self.enroll(request).await {
            Ok(enrolled) => {
                self.metrics.enrollment("enrolled");
                tracing::info!(
                    agent = %enrolled.agent_id, group = %terminal_safe(&enrolled.group), %remote, "agent enrolled"
                );
                EnrollResponse::Enrolled(enrolled)
            }
            Err(refusal) => {
                self.enrollment_refused(remote, &refusal);
                EnrollResponse::Refused(refusal)
            }
        };
        write_and_close(send, &encode_frame(&reply)).await;
    }

    fn enrollment_refused(&self, remote: std::net::SocketAddr, refusal: &Refusal) {
        self.metrics.enrollment(&refusal.code);
        if self.throttle.failed(remote.ip()) == Report::Log {
            tracing::warn!(
                %remote, code = %refusal.code, detail = %terminal_safe(&refusal.message), "enrollment refused"
            );
        }
    }

    /// An enrolled agent's update connection: requests for the offer and package pieces, one
    /// answer each, on one stream.
    async fn updates(&self, conn: &Connection, permit: Permit) {
        let cert = conn
            .peer_identity()
            .and_then(|i| i.downcast::<Vec<CertificateDer<'static>>>().ok())
            .and_then(|chain| chain.first().map(|c| fingerprint(c.as_ref())));
        let Some(agent) = cert.and_then(|cert| self.fleet.authenticate(&cert).ok()) else {
            self.metrics.refused("update_unauthenticated");
            tracing::warn!(remote = %conn.remote_address(), "update connection without an enrolled agent's certificate refused");
            return conn.close(CLOSE_REVOKED.into(), b"enrolled agent certificate required");
        };
        drop(permit);
        let Ok((mut send, mut recv)) = conn.accept_bi().await else { return };
        loop {
            let request = match read_frame::<UpdateRequest>(&mut recv, MAX_UPDATE_REQUEST_BYTES, self.agent_deadlines())
                .await
            {
                Ok((r, _)) => r,
                Err(Failure::Gone) => return,
                Err(Failure::Refuse { code, message }) => {
                    self.metrics.refused(code);
                    tracing::warn!(agent = %agent.id, reason = code, detail = %terminal_safe(&message), "update request refused");
                    return;
                }
            };
            let answer = match request {
                UpdateRequest::Offer { platform, running } => {
                    tracing::debug!(agent = %agent.id, platform = %terminal_safe(&platform), running = %terminal_safe(&running), "update check");
                    self.releases.offer(&agent).await.map(UpdateResponse::Offer)
                }
                UpdateRequest::Package { name, offset } => {
                    self.releases.chunk(&name, offset).await.map(UpdateResponse::Chunk)
                }
            };
            let answer = answer.unwrap_or_else(|e| UpdateResponse::Unavailable(format!("{e:#}")));
            if send.write_all(&encode_frame(&answer)).await.is_err() {
                return;
            }
        }
    }

    fn agent_deadlines(&self) -> Deadlines {
        Deadlines { idle: self.limits.agent_idle_timeout(), frame: self.limits.agent_frame_timeout() }
    }

    async fn enroll(&self, request: EnrollRequest) -> Result<Enrolled, Refusal> {
        let refuse = |code: &str, message: String| Refusal { code: code.into(), message };
        request.validate().map_err(|m| refuse("bad_request", m))?;
        let token_hash = tokens::hash(&request.token);
        let db = self.store.db().map_err(|e| refuse("internal", format!("{e:#}")))?;
        tokens::usable(&db, &token_hash).map_err(|e| refuse(e.code(), e.to_string()))?;
        drop(db);
        let mut id = [0u8; 16];
        ring::rand::SystemRandom::new().fill(&mut id).map_err(|_| refuse("internal", "no randomness".into()))?;
        let agent_id = AgentId(id);
        let certificate = self
            .ca
            .issue_agent_certificate(agent_id, &request.public_key)
            .map_err(|e| refuse("internal", format!("cannot issue a certificate: {e}")))?;
        let record = AgentRecord {
            id: agent_id,
            hostname: request.hostname.clone(),
            os: request.os.clone(),
            agent_version: request.agent_version.clone(),
            group: String::new(),
            public_key: request.public_key.clone(),
            cert_fingerprint: fingerprint(&certificate),
            enrolled_at: Timestamp::now(),
            revoked: false,
            reenroll: false,
        };
        let (reply, answer) = oneshot::channel();
        self.writer
            .send(WriteOp::Enroll { token_hash, agent: record, reply })
            .await
            .map_err(|_| refuse("internal", "collector is shutting down".into()))?;
        match answer.await {
            Ok(Ok(record)) => {
                Ok(Enrolled { agent_id, group: record.group, certificate, ca_certificate: self.ca.cert_der().to_vec() })
            }
            Ok(Err(e)) => Err(refuse(e.code(), e.to_string())),
            Err(_) => Err(refuse("internal", "collector is shutting down".into())),
        }
    }

    async fn agent(&self, conn: Connection, permit: Permit) {
        let cert = conn
            .peer_identity()
            .and_then(|i| i.downcast::<Vec<CertificateDer<'static>>>().ok())
            .and_then(|chain| chain.first().map(|c| fingerprint(c.as_ref())));
        let Some(cert) = cert else {
            self.metrics.refused("no_certificate");
            tracing::warn!(remote = %conn.remote_address(), "agent connection without a client certificate refused");
            return conn.close(CLOSE_REVOKED.into(), b"client certificate required");
        };
        let agent = match self.fleet.authenticate(&cert) {
            Ok(a) => a,
            Err((id, why)) => {
                self.metrics.refused(if id.is_some() { "revoked" } else { "unknown_agent" });
                let agent = id.map_or_else(|| "unknown".to_string(), |id| id.to_string());
                tracing::warn!(%agent, remote = %conn.remote_address(), %cert, why, "agent connection refused");
                return conn.close(CLOSE_REVOKED.into(), why.as_bytes());
            }
        };
        drop(permit);
        conn.set_receive_window(quic::AGENT_RECEIVE_WINDOW.into());
        conn.set_max_concurrent_bi_streams(quic::AGENT_STREAMS.into());
        // The first frame says which machine the agent runs on (agents from before hellos send
        // a batch at once): a copy on another machine is answered before it is registered, so
        // it never replaces the original's connection.
        let Ok((mut send, mut recv)) = conn.accept_bi().await else { return };
        let first = match read_frame::<AgentFrame>(&mut recv, MAX_FRAME_BYTES, self.agent_deadlines()).await {
            Ok((AgentFrame::Hello(hello), _)) => match clones::answer(self, &agent, &hello).await {
                CollectorFrame::Welcome => {
                    if send.write_all(&encode_frame(&CollectorFrame::Welcome)).await.is_err() {
                        return;
                    }
                    None
                }
                answer => {
                    let reason = match &answer {
                        CollectorFrame::Refused(r) => r.code.clone(),
                        _ => "re-enrolled as a new agent".to_string(),
                    };
                    write_and_close(send, &encode_frame(&answer)).await;
                    return conn.close(CLOSE_REFUSED.into(), reason.as_bytes());
                }
            },
            Ok((frame, raw)) => Some((frame, raw)),
            Err(Failure::Gone) => return,
            Err(Failure::Refuse { code, message }) => {
                self.metrics.refused(code);
                tracing::warn!(agent = %agent.id, reason = code, detail = %terminal_safe(&message), "first frame refused");
                let refusal = CollectorFrame::Refused(Refusal { code: code.into(), message });
                write_and_close(send, &encode_frame(&refusal)).await;
                return conn.close(CLOSE_REFUSED.into(), code.as_bytes());
            }
        };
        let conn_id = conn.stable_id() as u64;
        self.fleet.connected(agent.id, conn_id, conn.clone());
        self.metrics.agents_connected.set(self.fleet.connected_count() as i64);
        tracing::info!(agent = %agent.id, host = %terminal_safe(&agent.hostname), remote = %conn.remote_address(), "agent connected");
        if self.stream(&conn, &agent, send, recv, first).await {
            while let Ok((send, recv)) = conn.accept_bi().await {
                if !self.stream(&conn, &agent, send, recv, None).await {
                    break;
                }
            }
        }
        self.fleet.disconnected(agent.id, conn_id);
        self.metrics.agents_connected.set(self.fleet.connected_count() as i64);
        tracing::info!(agent = %agent.id, "agent disconnected");
    }

    /// Serves one batch stream, beginning with `first` if its first frame was read already.
    /// Returns false when the connection was refused.
    async fn stream(
        &self,
        conn: &Connection,
        agent: &AgentRecord,
        send: SendStream,
        mut recv: RecvStream,
        mut first: Option<(AgentFrame, Vec<u8>)>,
    ) -> bool {
        let (queue, pending) = mpsc::channel::<Pending>(PIPELINE);
        let acker = tokio::spawn(acknowledge(conn.clone(), agent.id, send, pending, self.metrics.clone()));
        loop {
            let frame = match first.take() {
                Some(frame) => Ok(frame),
                None => read_frame::<AgentFrame>(&mut recv, MAX_FRAME_BYTES, self.agent_deadlines()).await,
            };
            let item = match frame {
                Ok(frame) => self.batch(agent, frame).await,
                Err(e) => Err(e),
            };
            let item = match item {
                Ok(p) => p,
                Err(Failure::Gone) => break,
                Err(Failure::Refuse { code, message }) => Pending::Refuse { code, message },
            };
            let refusing = matches!(item, Pending::Refuse { .. });
            if queue.send(item).await.is_err() || refusing {
                break;
            }
        }
        drop(queue);
        acker.await.unwrap_or(false)
    }

    async fn batch(&self, agent: &AgentRecord, (frame, raw): (AgentFrame, Vec<u8>)) -> Result<Pending, Failure> {
        let received = Instant::now();
        let batch = match frame {
            AgentFrame::Batch(batch) => batch,
            AgentFrame::Hello(_) => {
                let message = "a hello is only the first frame of a connection".to_string();
                return Err(Failure::Refuse { code: "unexpected_hello", message });
            }
        };
        let refuse = |e: haidang_proto::BatchError| Failure::Refuse { code: e.reason(), message: e.to_string() };
        if batch.header.agent_id != agent.id {
            return Err(refuse(haidang_proto::BatchError::WrongAgent {
                claimed: batch.header.agent_id,
                actual: agent.id,
            }));
        }
        // Signature checks and decompression are CPU work: keep them off the async workers.
        let public_key = agent.public_key.clone();
        // The payload is opened only to refuse one that does not decode before it is stored
        // and acked; the correlate stage reads the events back from the store.
        let batch = tokio::task::spawn_blocking(move || {
            batch.verify(&public_key)?;
            batch.open()?;
            Ok::<_, haidang_proto::BatchError>(batch)
        })
        .await
        .map_err(|_| Failure::Gone)?
        .map_err(refuse)?;
        let (reply, stored) = oneshot::channel();
        let op = WriteOp::Ingest { header: batch.header.clone(), raw, reply };
        self.writer.send(op).await.map_err(|_| Failure::Gone)?;
        Ok(Pending::Batch { header: batch.header, received, stored })
    }
}

enum Pending {
    Batch { header: BatchHeader, received: Instant, stored: oneshot::Receiver<Result<Stored, IngestError>> },
    Refuse { code: &'static str, message: String },
}

/// Acknowledges batches in order as their commits complete. Returns false if the
/// connection was refused.
async fn acknowledge(
    conn: Connection,
    agent: AgentId,
    mut send: SendStream,
    mut pending: mpsc::Receiver<Pending>,
    metrics: Arc<Metrics>,
) -> bool {
    while let Some(item) = pending.recv().await {
        let (code, message) = match item {
            Pending::Refuse { code, message } => (code, message),
            Pending::Batch { header, received, stored } => match stored.await {
                Ok(Ok(outcome)) => {
                    let duplicate = outcome == Stored::Duplicate;
                    if duplicate {
                        metrics.batches_duplicate.inc();
                        tracing::info!(%agent, batch = header.batch_no, "replayed batch acknowledged, not stored again");
                    } else {
                        metrics.batches_received.inc();
                        metrics.events_received.inc_by(u64::from(header.event_count));
                    }
                    let ack =
                        CollectorFrame::Ack(Ack { batch_no: header.batch_no, last_seq: header.last_seq, duplicate });
                    if send.write_all(&encode_frame(&ack)).await.is_err() {
                        return true;
                    }
                    metrics.ingest_latency.observe(received.elapsed().as_secs_f64());
                    continue;
                }
                Ok(Err(IngestError::Chain(e))) => (e.reason(), e.to_string()),
                Ok(Err(IngestError::Store(e))) => {
                    tracing::error!(%agent, error = %e, "cannot store batch; the agent will resend it");
                    conn.close(CLOSE_REFUSED.into(), b"collector store failure");
                    return false;
                }
                Err(_) => return true,
            },
        };
        metrics.refused(code);
        tracing::warn!(
            %agent, reason = code, detail = %terminal_safe(&message), "batch refused; closing the agent's connection"
        );
        let refusal = CollectorFrame::Refused(Refusal { code: code.into(), message });
        write_and_close(send, &encode_frame(&refusal)).await;
        conn.close(CLOSE_REFUSED.into(), code.as_bytes());
        return false;
    }
    true
}
