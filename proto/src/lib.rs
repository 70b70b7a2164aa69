//! Shared types of Hải Đăng: what the agent and the collector say to each other.
//!
//! Everything here is a pure function over bytes: encoding and decoding of events and
//! wire frames, batch signing and verification, and the per-agent hash chain. There is
//! no I/O, so every rule of the protocol can be tested (and fuzzed) without sockets.

#![warn(missing_docs)]

pub mod batch;
pub mod enroll;
pub mod event;
mod fingerprint;
pub mod hello;
pub mod text;
pub mod update;
pub mod wire;

pub use batch::{BatchError, BatchHeader, ChainTip, ChainVerdict, SignedBatch};
pub use event::{AgentId, Event, EventBody, Timestamp};
pub use fingerprint::fingerprint;
pub use hello::{Hello, MachineId};
pub use text::Text;

/// A BLAKE3 (or SHA-256) digest.
pub type Hash32 = [u8; 32];
