//! A response body of JSON lines (one object a line) that a blocking producer, such as a store
//! reader, writes while the client reads: the channel between them holds a few chunks, so a
//! slow client slows the producer instead of letting the answer pile up in memory.

use anyhow::Result;
use axum::body::{Body, Bytes};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use futures_core::Stream;
use serde::Serialize;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::sync::mpsc;

/// The media type of JSON lines.
const CONTENT_TYPE: &str = "application/x-ndjson";
/// Bytes of lines gathered before they are handed to the connection.
const CHUNK_BYTES: usize = 64 * 1024;
/// Chunks that may wait for the client.
const CHUNKS_IN_FLIGHT: usize = 4;

type Chunk = Result<Bytes, io::Error>;

/// Where the producer writes its lines.
pub(super) struct Lines {
    pending: Vec<u8>,
    sender: mpsc::Sender<Chunk>,
}

impl Lines {
    /// Writes `item` as one line; waits while the client is behind.
    pub(super) fn push<T: Serialize>(&mut self, item: &T) -> Result<()> {
        serde_json::to_writer(&mut self.pending, item)?;
        self.pending.push(b'\n');
        if self.pending.len() >= CHUNK_BYTES {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::take(&mut self.pending));
        self.sender.blocking_send(Ok(chunk)).map_err(|_| anyhow::anyhow!("the client went away"))
    }
}

/// Runs `produce` on a blocking thread and answers with the lines it writes. The status (200)
/// is sent before the first line, so an error after it cuts the body short, which the client
/// sees as a broken answer rather than a complete one.
pub(super) fn respond(produce: impl FnOnce(&mut Lines) -> Result<()> + Send + 'static) -> Response {
    let (sender, receiver) = mpsc::channel(CHUNKS_IN_FLIGHT);
    tokio::task::spawn_blocking(move || {
        let mut lines = Lines { pending: Vec::new(), sender };
        let Err(e) = produce(&mut lines).and_then(|()| lines.flush()) else { return };
        if lines.sender.is_closed() {
            tracing::debug!(error = %e, "API client went away during a streamed answer");
        } else {
            tracing::error!(error = %e, "streamed API answer failed");
            let _ = lines.sender.blocking_send(Err(io::Error::other(e.to_string())));
        }
    });
    ([(header::CONTENT_TYPE, CONTENT_TYPE)], Body::from_stream(Chunks(receiver))).into_response()
}

/// The receiving end of the channel, as the body stream.
struct Chunks(mpsc::Receiver<Chunk>);

impl Stream for Chunks {
    type Item = Chunk;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Chunk>> {
        self.0.poll_recv(cx)
    }
}
