//! The agent's update connection to the collector (ALPN `haidang-update/1`, its enrolled
//! certificate): the offer, then one package in pieces. Everything received is bounded before
//! it is kept, and each answer has a deadline.

use crate::net::{read_frame, resolve};
use anyhow::{Context, Result, bail};
use haidang_proto::update::{MAX_CHUNK_BYTES, Offer, UpdateRequest, UpdateResponse};
use haidang_proto::wire::{SERVER_NAME, encode_frame};
use std::path::Path;
use std::time::Duration;
use tokio::io::AsyncWriteExt;

/// Longest wait for one answer (an offer, or one piece of a package).
const ANSWER_DEADLINE: Duration = Duration::from_secs(30);

pub struct UpdateLink {
    conn: quinn::Connection,
    send: quinn::SendStream,
    recv: quinn::RecvStream,
}

impl UpdateLink {
    pub async fn open(server: &str, config: quinn::ClientConfig) -> Result<UpdateLink> {
        let addr = resolve(server).await?;
        let endpoint = crate::tls::client_endpoint(addr)?;
        let conn = tokio::time::timeout(ANSWER_DEADLINE, endpoint.connect_with(config, addr, SERVER_NAME)?)
            .await
            .map_err(|_| anyhow::anyhow!("no answer from {server}"))?
            .with_context(|| format!("cannot connect to {server} for updates"))?;
        let (send, recv) = conn.open_bi().await?;
        Ok(UpdateLink { conn, send, recv })
    }

    async fn ask(&mut self, request: &UpdateRequest) -> Result<UpdateResponse> {
        self.send.write_all(&encode_frame(request)).await?;
        match tokio::time::timeout(ANSWER_DEADLINE, read_frame::<UpdateResponse>(&mut self.recv)).await {
            Err(_) => bail!("the collector did not answer within {} s", ANSWER_DEADLINE.as_secs()),
            Ok(answer) => answer?.context("the collector closed the update stream"),
        }
    }

    pub async fn offer(&mut self, platform: &str, running: &str) -> Result<Offer> {
        let request = UpdateRequest::Offer { platform: platform.into(), running: running.into() };
        match self.ask(&request).await? {
            UpdateResponse::Offer(offer) => {
                offer.check()?;
                Ok(offer)
            }
            UpdateResponse::Unavailable(why) => bail!("the collector has no offer: {why}"),
            UpdateResponse::Chunk(_) => bail!("the collector answered an offer request with package bytes"),
        }
    }

    /// Downloads the package stored as `name` into `out`, refusing more than `length` bytes:
    /// the signed length, checked again with the hash once it is all here.
    pub async fn package(&mut self, name: &str, length: u64, out: &Path) -> Result<()> {
        let mut file = tokio::fs::File::create(out).await?;
        let mut offset = 0u64;
        loop {
            let request = UpdateRequest::Package { name: name.into(), offset };
            let chunk = match self.ask(&request).await? {
                UpdateResponse::Chunk(c) => c,
                UpdateResponse::Unavailable(why) => bail!("the collector cannot serve {name}: {why}"),
                UpdateResponse::Offer(_) => bail!("the collector answered a package request with an offer"),
            };
            if chunk.is_empty() {
                break;
            }
            if chunk.len() > MAX_CHUNK_BYTES || offset + chunk.len() as u64 > length {
                bail!("the collector sent more of {name} than its signed {length} bytes");
            }
            file.write_all(&chunk).await?;
            offset += chunk.len() as u64;
            if offset == length {
                break;
            }
        }
        file.sync_all().await?;
        Ok(())
    }

    pub fn close(self) {
        self.conn.close(0u32.into(), b"done");
    }
}
