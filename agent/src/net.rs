//! Resolving the collector's address and reading frames from a QUIC stream.

use anyhow::{Context, Result};
use haidang_proto::wire::{decode_frame, frame_length};
use serde::de::DeserializeOwned;
use std::net::SocketAddr;

pub async fn resolve(server: &str) -> Result<SocketAddr> {
    tokio::net::lookup_host(server)
        .await
        .with_context(|| format!("cannot resolve collector address {server:?} (expected HOST:PORT)"))?
        .next()
        .with_context(|| format!("collector address {server:?} resolves to nothing"))
}

/// Reads one frame; `Ok(None)` when the peer finished the stream cleanly.
pub async fn read_frame<T: DeserializeOwned>(recv: &mut quinn::RecvStream) -> Result<Option<T>> {
    let mut prefix = [0u8; 4];
    match recv.read_exact(&mut prefix).await {
        Ok(()) => {}
        Err(quinn::ReadExactError::FinishedEarly(0)) => return Ok(None),
        Err(e) => return Err(e.into()),
    }
    let mut body = vec![0u8; frame_length(prefix)?];
    recv.read_exact(&mut body).await?;
    Ok(Some(decode_frame(&body)?))
}
