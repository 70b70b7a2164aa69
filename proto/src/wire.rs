//! Frames on a QUIC stream: a 4-byte big-endian length, then a postcard body.
//!
//! Every frame is bounded by [`MAX_FRAME_BYTES`] before a single byte of its body is read,
//! so a peer cannot make the other side allocate more than that.

use crate::batch::SignedBatch;
use crate::enroll::Enrolled;
use crate::hello::Hello;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// Largest frame either side accepts.
pub const MAX_FRAME_BYTES: usize = 4 * 1024 * 1024;
/// ALPN of enrolled agents' connections (client certificate required).
pub const ALPN_AGENT: &[u8] = b"haidang/1";
/// ALPN of enrollment connections (server-authenticated only).
pub const ALPN_ENROLL: &[u8] = b"haidang-enroll/1";
/// The name in the collector's certificate. Agents trust the collector by its pinned CA,
/// not by DNS, so one fixed name serves every address the collector is reached on.
pub const SERVER_NAME: &str = "haidang-collector";

/// What an enrolled agent sends.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum AgentFrame {
    /// The next batch of the agent's chain (or a resend of one not yet acknowledged).
    Batch(SignedBatch),
    /// The machine the agent runs on; first on the stream, and answered before any batch is
    /// sent. Agents from before it send batches at once.
    Hello(Hello),
}

/// What the collector answers on an agent's stream.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum CollectorFrame {
    /// The batch is durably stored (or was already); the agent may forget it.
    Ack(Ack),
    /// The batch was refused; the collector closes the connection after this.
    Refused(Refusal),
    /// The hello is accepted: this agent may send its batches.
    Welcome,
    /// The agent is a copy of another machine's agent and its group lets copies re-enroll:
    /// here is a new identity for the hello's standby key. The connection closes after this;
    /// the agent reconnects as the new identity.
    Reenrolled(Enrolled),
}

/// The collector has the batch: every event up to `last_seq` is stored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ack {
    /// The batch acknowledged.
    pub batch_no: u64,
    /// Its last event's sequence number: the agent may drop every event up to it.
    pub last_seq: u64,
    /// The batch had been stored before (a replay after a lost ack).
    pub duplicate: bool,
}

/// Why the collector will not take what it was sent.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refusal {
    /// Stable machine-readable reason, e.g. `signature`, `token_expired`.
    pub code: String,
    /// One line for people, naming what to fix.
    pub message: String,
}

/// A frame that cannot be read; the connection it came on is not trusted further.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FrameError {
    /// The length prefix (or body) is over [`MAX_FRAME_BYTES`].
    #[error("frame of {0} bytes exceeds the {MAX_FRAME_BYTES}-byte limit")]
    TooLarge(usize),
    /// The length prefix is zero.
    #[error("empty frame")]
    Empty,
    /// The body does not decode as the expected message, or has bytes left over.
    #[error("malformed frame: {0}")]
    Malformed(String),
}

impl FrameError {
    /// A short, stable label for metrics.
    pub fn reason(&self) -> &'static str {
        match self {
            FrameError::TooLarge(_) => "oversized_frame",
            FrameError::Empty | FrameError::Malformed(_) => "malformed_frame",
        }
    }
}

/// Encodes a message as one length-prefixed frame.
pub fn encode_frame<T: Serialize>(msg: &T) -> Vec<u8> {
    let body = postcard::to_stdvec(msg).unwrap_or_default();
    let mut out = Vec::with_capacity(4 + body.len());
    out.extend_from_slice(&(body.len() as u32).to_be_bytes());
    out.extend_from_slice(&body);
    out
}

/// Reads the length prefix and checks it against the limit.
pub fn frame_length(prefix: [u8; 4]) -> Result<usize, FrameError> {
    let len = u32::from_be_bytes(prefix) as usize;
    match len {
        0 => Err(FrameError::Empty),
        n if n > MAX_FRAME_BYTES => Err(FrameError::TooLarge(n)),
        n => Ok(n),
    }
}

/// Decodes a frame body (without its prefix). Trailing bytes are an error.
pub fn decode_frame<T: DeserializeOwned>(body: &[u8]) -> Result<T, FrameError> {
    if body.len() > MAX_FRAME_BYTES {
        return Err(FrameError::TooLarge(body.len()));
    }
    let (msg, rest) = postcard::take_from_bytes(body).map_err(|e| FrameError::Malformed(e.to_string()))?;
    if !rest.is_empty() {
        return Err(FrameError::Malformed(format!("{} trailing bytes", rest.len())));
    }
    Ok(msg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip() {
        let ack = CollectorFrame::Ack(Ack { batch_no: 7, last_seq: 700, duplicate: false });
        let bytes = encode_frame(&ack);
        let len = frame_length(bytes[..4].try_into().expect("prefix")).expect("length");
        assert_eq!(len, bytes.len() - 4);
        assert_eq!(decode_frame::<CollectorFrame>(&bytes[4..]), Ok(ack));
    }

    #[test]
    fn oversized_and_garbage_frames_are_refused() {
        assert!(matches!(frame_length(u32::MAX.to_be_bytes()), Err(FrameError::TooLarge(_))));
        assert_eq!(frame_length([0; 4]), Err(FrameError::Empty));
        assert!(decode_frame::<AgentFrame>(&[0xff, 0xff, 0xff, 0xff, 0x0f, 1, 2]).is_err());
        let mut ok = encode_frame(&CollectorFrame::Refused(Refusal { code: "x".into(), message: "y".into() }));
        ok.push(0);
        assert!(decode_frame::<CollectorFrame>(&ok[4..]).is_err());
    }
}
