//! The uplink: streams sealed batches from the spool to the collector and forgets each one
//! only when the collector acknowledges it. Reconnects with exponential backoff and jitter.

use crate::net::{read_frame, resolve};
use crate::spool::Spool;
use crate::status::{CONNECTED, LinkState};
use anyhow::{Context, Result, bail};
use haidang_proto::AgentId;
use haidang_proto::wire::{AgentFrame, CollectorFrame, SERVER_NAME, encode_frame};
use ring::rand::SecureRandom;
use ring::signature::Ed25519KeyPair;
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

/// Batches sent and not yet acknowledged, per connection.
const WINDOW: usize = 8;
/// Raw encoded bytes of events per batch (the compressed payload is far smaller).
const BATCH_BYTES: usize = 1024 * 1024;
const MIN_BACKOFF: Duration = Duration::from_millis(250);
const MAX_BACKOFF: Duration = Duration::from_secs(30);

pub struct Uplink {
    pub server: String,
    pub agent_id: AgentId,
    pub key: Arc<Ed25519KeyPair>,
    pub config: quinn::ClientConfig,
    pub spool: Arc<Spool>,
    pub batch_max_events: usize,
    pub link: Arc<LinkState>,
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

    async fn connect_and_pump(&self) -> Result<std::convert::Infallible> {
        let addr = resolve(&self.server).await?;
        let endpoint = crate::tls::client_endpoint(addr)?;
        let conn = tokio::time::timeout(
            Duration::from_secs(10),
            endpoint.connect_with(self.config.clone(), addr, SERVER_NAME)?,
        )
        .await
        .map_err(|_| anyhow::anyhow!("no answer from {} within 10 s", self.server))?
        .with_context(|| format!("cannot connect to {}", self.server))?;
        let (mut send, mut recv) = conn.open_bi().await?;
        self.link.set_connection(CONNECTED);
        tracing::info!(server = %self.server, "connected to the collector");

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
        let e = match self.pump(&mut send, &mut acks).await {
            Ok(never) => match never {},
            Err(e) => e,
        };
        reader.abort();
        let collector_said = match conn.close_reason() {
            Some(quinn::ConnectionError::ApplicationClosed(c)) => Some(String::from_utf8_lossy(&c.reason).into_owned()),
            _ => None,
        };
        conn.close(0u32.into(), b"agent reconnecting");
        match collector_said {
            Some(reason) => bail!("{e:#} (collector closed the connection: {reason})"),
            None => Err(e),
        }
    }

    async fn pump(
        &self,
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
                let key = self.key.clone();
                let (id, max) = (self.agent_id, self.batch_max_events);
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
