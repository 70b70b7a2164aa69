//! The uplink: streams sealed batches from the spool to the collector and forgets each one
//! only when the collector acknowledges it. Reconnects with exponential backoff and jitter.
//!
//! Each connection begins with a hello naming the machine the agent runs on; the collector
//! answers it before any batch is sent. A copy of this agent on another machine (a cloned VM)
//! is refused, or, when its group lets copies re-enroll, given a new identity, which the uplink
//! adopts and reconnects with.

use crate::net::{read_frame, resolve};
use crate::spool::Spool;
use crate::state::{Identity, State};
use crate::status::{CONNECTED, LinkState};
use anyhow::{Context, Result, bail};
use haidang_proto::enroll::Enrolled;
use haidang_proto::wire::{AgentFrame, CollectorFrame, SERVER_NAME, encode_frame};
use haidang_proto::{AgentId, Hello, MachineId, Timestamp};
use ring::rand::SecureRandom;
use ring::signature::Ed25519KeyPair;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::sync::mpsc;

/// Batches sent and not yet acknowledged, per connection.
const WINDOW: usize = 8;
/// Raw encoded bytes of events per batch (the compressed payload is far smaller).
const BATCH_BYTES: usize = 1024 * 1024;
const MIN_BACKOFF: Duration = Duration::from_millis(250);
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// How long the collector may take to answer the hello.
const HELLO_TIMEOUT: Duration = Duration::from_secs(15);
/// The collector's refusal code for a copy of an agent that may not re-enroll.
const CLONED: &str = "cloned_agent";

/// Who the uplink connects as; replaced when a copied agent is given a new identity.
#[derive(Clone)]
pub struct Session {
    pub agent_id: AgentId,
    pub key: Arc<Ed25519KeyPair>,
    pub config: quinn::ClientConfig,
}

/// The machine the agent runs on, for the hello.
pub struct Machine {
    pub id: MachineId,
    /// The machine the identity belongs to, as the state directory recorded it.
    pub enrolled_on: Option<MachineId>,
    pub hostname: String,
}

pub struct Uplink {
    pub server: String,
    pub session: Mutex<Session>,
    /// None when the machine has no identifiers to fingerprint: no hello is sent, as from
    /// agents before hellos.
    pub machine: Option<Mutex<Machine>>,
    pub state: Arc<State>,
    pub spool: Arc<Spool>,
    pub batch_max_events: usize,
    pub link: Arc<LinkState>,
}

/// How a connection ended besides a plain error.
#[derive(Debug, thiserror::Error)]
enum Ended {
    /// The collector refused this copy of the agent; retrying soon changes nothing.
    #[error("{0}")]
    Cloned(String),
    /// The uplink has a new identity to connect with at once.
    #[error("this machine runs a copy of agent {old}; re-enrolled as agent {new}, reconnecting")]
    Reenrolled { old: AgentId, new: AgentId },
}

impl Uplink {
    pub async fn run(self) {
        let mut backoff = MIN_BACKOFF;
        let mut last_error = String::new();
        loop {
            self.link.set_connection("connecting");
            let acked_before = self.link.acked_batches();
            let e = self.session().await;
            if self.link.acked_batches() != acked_before {
                backoff = MIN_BACKOFF;
            }
            let msg = format!("{e:#}");
            match e.downcast_ref::<Ended>() {
                Some(Ended::Reenrolled { .. }) => {
                    tracing::warn!("{msg}");
                    last_error.clear();
                    backoff = MIN_BACKOFF;
                    continue;
                }
                Some(Ended::Cloned(_)) => backoff = MAX_BACKOFF,
                None => {}
            }
            if msg != last_error {
                tracing::warn!(error = %msg, "collector connection lost; will retry");
                last_error = msg.clone();
            }
            self.link.set_connection(&format!("disconnected: {msg}"));
            tokio::time::sleep(jitter(backoff)).await;
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }

    /// One connection's life; returns why it ended.
    async fn session(&self) -> anyhow::Error {
        match self.connect_and_pump().await {
            Ok(never) => match never {},
            Err(e) => e,
        }
    }

    fn current(&self) -> Session {
        self.session.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    async fn connect_and_pump(&self) -> Result<std::convert::Infallible> {
        let session = self.current();
        let addr = resolve(&self.server).await?;
        let endpoint = crate::tls::client_endpoint(addr)?;
        let conn = tokio::time::timeout(
            Duration::from_secs(10),
            endpoint.connect_with(session.config.clone(), addr, SERVER_NAME)?,
        )
        .await
        .map_err(|_| anyhow::anyhow!("no answer from {} within 10 s", self.server))?
        .with_context(|| format!("cannot connect to {}", self.server))?;
        let (mut send, mut recv) = conn.open_bi().await?;

        let (ack_tx, mut acks) = mpsc::channel::<Result<CollectorFrame>>(WINDOW * 2);
        let reader = tokio::spawn(async move {
            loop {
                let frame = read_frame::<CollectorFrame>(&mut recv).await;
                let end = !matches!(frame, Ok(Some(_)));
                let item = match frame {
                    Ok(Some(f)) => Ok(f),
                    Ok(None) => Err(anyhow::anyhow!("the collector closed the stream")),
                    Err(e) => Err(e),
                };
                if ack_tx.send(item).await.is_err() || end {
                    break;
                }
            }
        });
        let e = match self.hello(&session, &mut send, &mut acks).await {
            Ok(()) => {
                self.link.set_connection(CONNECTED);
                tracing::info!(server = %self.server, "connected to the collector");
                match self.pump(&session, &mut send, &mut acks).await {
                    Ok(never) => match never {},
                    Err(e) => e,
                }
            }
            Err(e) => e,
        };
        reader.abort();
        let collector_said = match conn.close_reason() {
            Some(quinn::ConnectionError::ApplicationClosed(c)) => Some(String::from_utf8_lossy(&c.reason).into_owned()),
            _ => None,
        };
        conn.close(0u32.into(), b"agent reconnecting");
        match collector_said {
            Some(_) if e.is::<Ended>() => Err(e),
            Some(reason) => bail!("{e:#} (collector closed the connection: {reason})"),
            None => Err(e),
        }
    }

    /// Names the machine and waits for the collector to welcome it; a copy is refused or, when
    /// its group allows, re-enrolled here.
    async fn hello(
        &self,
        session: &Session,
        send: &mut quinn::SendStream,
        acks: &mut mpsc::Receiver<Result<CollectorFrame>>,
    ) -> Result<()> {
        let Some(machine) = &self.machine else { return Ok(()) };
        let rng = ring::rand::SystemRandom::new();
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng).map_err(|_| anyhow::anyhow!("cannot generate a key"))?;
        let standby =
            Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).map_err(|_| anyhow::anyhow!("cannot load the new key"))?;
        let hello = {
            let m = machine.lock().unwrap_or_else(PoisonError::into_inner);
            Hello::new(session.agent_id, m.id, m.enrolled_on, &m.hostname, &standby)
        };
        send.write_all(&encode_frame(&AgentFrame::Hello(hello))).await?;
        let answer = tokio::time::timeout(HELLO_TIMEOUT, acks.recv())
            .await
            .map_err(|_| {
                anyhow::anyhow!("the collector did not answer the hello within {} s", HELLO_TIMEOUT.as_secs())
            })?
            .context("connection lost")??;
        match answer {
            CollectorFrame::Welcome => Ok(()),
            CollectorFrame::Refused(r) if r.code == CLONED => {
                tracing::error!(code = %r.code, message = %r.message, "the collector refused this copy of the agent");
                Err(Ended::Cloned(format!("the collector refused this agent: {} ({})", r.message, r.code)).into())
            }
            CollectorFrame::Refused(r) => {
                tracing::error!(code = %r.code, message = %r.message, "the collector refused the hello");
                bail!("the collector refused this agent: {} ({})", r.message, r.code)
            }
            CollectorFrame::Reenrolled(enrolled) => {
                let old = session.agent_id;
                let new = enrolled.agent_id;
                self.adopt(enrolled, pkcs8.as_ref(), machine).await?;
                Err(Ended::Reenrolled { old, new }.into())
            }
            CollectorFrame::Ack(_) => bail!("the collector acknowledged a batch before answering the hello"),
        }
    }

    /// Takes the new identity the collector gave this copy: a new chain in the spool (the
    /// sealed batches are the original's), then the state directory, then the session.
    async fn adopt(&self, enrolled: Enrolled, pkcs8: &[u8], machine: &Mutex<Machine>) -> Result<()> {
        let old = self.state.identity()?;
        if haidang_proto::fingerprint(&enrolled.ca_certificate) != old.ca_fingerprint {
            bail!("the collector's new identity comes with a CA certificate that does not match the pinned one");
        }
        let key = Ed25519KeyPair::from_pkcs8(pkcs8).map_err(|_| anyhow::anyhow!("cannot load the new key"))?;
        let config = crate::tls::enrolled(&enrolled.ca_certificate, &enrolled.certificate, pkcs8)?;
        let machine_id = machine.lock().unwrap_or_else(PoisonError::into_inner).id;
        let identity = Identity {
            agent_id: enrolled.agent_id.to_string(),
            server: old.server,
            group: enrolled.group,
            ca_fingerprint: old.ca_fingerprint,
            enrolled_at: Timestamp::now().to_rfc3339(),
            machine: Some(machine_id.to_string()),
        };
        // In this order a crash leaves either the old identity (refused again as a copy, and
        // re-enrolled again) or the new one with a new chain, never the new one with the old
        // chain, which the collector would refuse for good.
        let spool = self.spool.clone();
        tokio::task::spawn_blocking(move || spool.begin_new_chain()).await??;
        self.state.save(&identity, pkcs8, &enrolled.certificate, &enrolled.ca_certificate)?;
        machine.lock().unwrap_or_else(PoisonError::into_inner).enrolled_on = Some(machine_id);
        *self.session.lock().unwrap_or_else(PoisonError::into_inner) =
            Session { agent_id: enrolled.agent_id, key: Arc::new(key), config };
        self.link.reenrolled(enrolled.agent_id.to_string());
        Ok(())
    }

    async fn pump(
        &self,
        session: &Session,
        send: &mut quinn::SendStream,
        acks: &mut mpsc::Receiver<Result<CollectorFrame>>,
    ) -> Result<std::convert::Infallible> {
        let mut in_flight: VecDeque<u64> = VecDeque::new();
        let spool = self.spool.clone();
        for batch in tokio::task::spawn_blocking(move || spool.unacked()).await?? {
            in_flight.push_back(batch.header.batch_no);
            send.write_all(&encode_frame(&AgentFrame::Batch(batch))).await?;
        }
        loop {
            while in_flight.len() < WINDOW {
                let spool = self.spool.clone();
                let key = session.key.clone();
                let (id, max) = (session.agent_id, self.batch_max_events);
                let Some(batch) = tokio::task::spawn_blocking(move || spool.seal(&key, id, max, BATCH_BYTES)).await??
                else {
                    break;
                };
                in_flight.push_back(batch.header.batch_no);
                send.write_all(&encode_frame(&AgentFrame::Batch(batch))).await?;
            }
            tokio::select! {
                frame = acks.recv() => {
                    let frame = frame.context("connection lost")??;
                    match frame {
                        CollectorFrame::Ack(ack) => {
                            if in_flight.front() != Some(&ack.batch_no) {
                                bail!("the collector acknowledged batch {} out of order", ack.batch_no);
                            }
                            in_flight.pop_front();
                            let spool = self.spool.clone();
                            tokio::task::spawn_blocking(move || spool.ack(ack.batch_no)).await??;
                            self.link.acked(ack.batch_no);
                        }
                        CollectorFrame::Refused(r) => {
                            tracing::error!(code = %r.code, message = %r.message, "the collector refused a batch");
                            bail!("the collector refused a batch: {} ({})", r.message, r.code);
                        }
                        CollectorFrame::Welcome | CollectorFrame::Reenrolled(_) => {
                            bail!("the collector answered a hello that was not sent");
                        }
                    }
                }
                _ = self.spool.new_events.notified(), if in_flight.len() < WINDOW => {}
                _ = tokio::time::sleep(Duration::from_secs(5)) => {}
            }
        }
    }
}

fn jitter(d: Duration) -> Duration {
    let mut b = [0u8; 2];
    let _ = ring::rand::SystemRandom::new().fill(&mut b);
    let factor = 0.5 + f64::from(u16::from_le_bytes(b)) / f64::from(u16::MAX);
    d.mul_f64(factor)
}
