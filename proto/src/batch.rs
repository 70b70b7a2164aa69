//! Signed event batches and the per-agent hash chain.
//!
//! An agent sends its events in batches. Each batch has a header naming the agent, the
//! batch number, the range of event sequence numbers, the BLAKE3 hash of the previous
//! batch's header and the hash of the compressed payload; the header is signed with the
//! agent's Ed25519 key. The collector stores each batch exactly as received, so the whole
//! chain can be re-verified later by anyone holding the agent's public key.

use crate::Hash32;
use crate::event::{AgentId, Event, Timestamp};
use ring::signature::{ED25519, Ed25519KeyPair, UnparsedPublicKey};
use serde::{Deserialize, Serialize};

/// Version of the header layout; a collector refuses versions it does not know.
pub const BATCH_VERSION: u8 = 1;
/// Most events one batch may carry.
pub const MAX_BATCH_EVENTS: u32 = 65_536;
/// Largest compressed payload accepted.
pub const MAX_PAYLOAD_BYTES: usize = 2 * 1024 * 1024;
/// Largest payload after decompression (bounds memory against zstd bombs).
pub const MAX_DECOMPRESSED_BYTES: usize = 32 * 1024 * 1024;

const SIGNATURE_CONTEXT: &[u8] = b"haidang batch v1\0";
const HASH_CONTEXT: &str = "haidang 2026-11 batch header hash v1";

/// What a batch claims about itself; this is what the agent signs and what the chain links.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchHeader {
    /// [`BATCH_VERSION`] when sealed.
    pub version: u8,
    /// The agent that sealed the batch.
    pub agent_id: AgentId,
    /// 1 for an agent's first batch, then consecutive.
    pub batch_no: u64,
    /// Sequence number of the first event in the payload.
    pub first_seq: u64,
    /// Sequence number of the last event; the next batch starts above it.
    pub last_seq: u64,
    /// Number of events in the payload.
    pub event_count: u32,
    /// Earliest event time, for the collector's time index.
    pub min_time: Timestamp,
    /// Latest event time.
    pub max_time: Timestamp,
    /// [`BatchHeader::hash`] of the previous batch; all zeros for batch 1.
    pub prev_hash: Hash32,
    /// BLAKE3 of the compressed payload.
    pub payload_hash: Hash32,
}

impl BatchHeader {
    /// The canonical bytes of the header: what is signed and hashed.
    pub fn encode(&self) -> Vec<u8> {
        // Serialising plain integers and arrays into a Vec cannot fail.
        postcard::to_stdvec(self).unwrap_or_default()
    }

    /// The chain link: what the next batch names as its `prev_hash`.
    pub fn hash(&self) -> Hash32 {
        let mut h = blake3::Hasher::new_derive_key(HASH_CONTEXT);
        h.update(&self.encode());
        *h.finalize().as_bytes()
    }

    fn signed_message(&self) -> Vec<u8> {
        let mut msg = SIGNATURE_CONTEXT.to_vec();
        msg.extend_from_slice(&self.encode());
        msg
    }
}

/// A batch as sent and as stored: header, compressed events, and the agent's signature. Stored
/// byte for byte, so the chain can be re-verified later.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedBatch {
    /// What the batch claims; signed.
    pub header: BatchHeader,
    /// zstd-compressed postcard `Vec<Event>`.
    pub payload: Vec<u8>,
    /// Ed25519 signature over the encoded header.
    pub signature: Vec<u8>,
}

/// Why a batch is refused. Every variant is a batch the collector must not store.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BatchError {
    /// The header's version is not [`BATCH_VERSION`].
    #[error("unsupported batch version {0}")]
    Version(u8),
    /// The signature does not verify with the agent's key.
    #[error("bad signature")]
    Signature,
    /// The payload is not the one the signed header names.
    #[error("payload hash does not match the header")]
    PayloadHash,
    /// The compressed payload is over [`MAX_PAYLOAD_BYTES`].
    #[error("payload of {0} bytes exceeds the limit")]
    TooLarge(usize),
    /// The payload does not decompress or decode.
    #[error("payload does not decode: {0}")]
    Payload(String),
    /// The header's counts or sequence range disagree with the payload, or with themselves.
    #[error("header does not describe its payload: {0}")]
    Inconsistent(&'static str),
    /// Batches are missing between the stored tip and this one.
    #[error("batch {got} does not follow batch {tip} (gap in the chain)")]
    ChainGap {
        /// The newest stored batch number (0 when none is stored).
        tip: u64,
        /// The batch number received.
        got: u64,
    },
    /// The batch links to a different history than the one stored.
    #[error("batch {batch_no} names a previous hash that is not the stored batch's (fork)")]
    Fork {
        /// The batch number received.
        batch_no: u64,
    },
    /// The batch's events do not start above the last stored sequence number.
    #[error("batch {batch_no} repeats sequence numbers up to {last_seq}")]
    SequenceReuse {
        /// The batch number received.
        batch_no: u64,
        /// The last sequence number already stored.
        last_seq: u64,
    },
    /// An agent sent a batch sealed under another agent's identity.
    #[error("batch was signed for agent {claimed}, but the connection is agent {actual}")]
    WrongAgent {
        /// The agent the header names.
        claimed: AgentId,
        /// The agent the connection's certificate authenticates.
        actual: AgentId,
    },
}

impl BatchError {
    /// A short, stable label for metrics.
    pub fn reason(&self) -> &'static str {
        match self {
            BatchError::Version(_) => "version",
            BatchError::Signature => "signature",
            BatchError::PayloadHash => "payload_hash",
            BatchError::TooLarge(_) => "too_large",
            BatchError::Payload(_) => "payload",
            BatchError::Inconsistent(_) => "inconsistent",
            BatchError::ChainGap { .. } => "chain_gap",
            BatchError::Fork { .. } => "fork",
            BatchError::SequenceReuse { .. } => "sequence_reuse",
            BatchError::WrongAgent { .. } => "wrong_agent",
        }
    }
}

/// Compresses events into a payload.
pub fn encode_events(events: &[Event]) -> Vec<u8> {
    let raw = postcard::to_stdvec(events).unwrap_or_default();
    zstd::bulk::compress(&raw, 1).unwrap_or_default()
}

/// Decompresses and decodes a payload of at most `max_events` events, refusing anything
/// over the limits.
///
/// The event count is checked before any event is decoded: a tiny zstd frame can expand
/// to millions of minimal events, and decoding them all first would cost a signed-in but
/// hostile agent's collector gigabytes.
pub fn decode_events(payload: &[u8], max_events: u32) -> Result<Vec<Event>, BatchError> {
    if payload.len() > MAX_PAYLOAD_BYTES {
        return Err(BatchError::TooLarge(payload.len()));
    }
    // Size the buffer from the frame's declared size (our encoder always writes it); a frame
    // that lies about it fails to decompress instead of growing past the declaration.
    let declared = zstd::zstd_safe::get_frame_content_size(payload).ok().flatten();
    let capacity = declared
        .map_or(MAX_DECOMPRESSED_BYTES, |n| usize::try_from(n).unwrap_or(usize::MAX))
        .min(MAX_DECOMPRESSED_BYTES);
    let raw = zstd::bulk::decompress(payload, capacity).map_err(|e| BatchError::Payload(format!("zstd: {e}")))?;
    // postcard writes a sequence's length as a LEB128 varint, which is how it encodes a u64.
    let (count, _) =
        postcard::take_from_bytes::<u64>(&raw).map_err(|e| BatchError::Payload(format!("postcard: {e}")))?;
    if count > u64::from(max_events.min(MAX_BATCH_EVENTS)) {
        return Err(BatchError::Inconsistent("payload holds more events than the header declares"));
    }
    postcard::from_bytes(&raw).map_err(|e| BatchError::Payload(format!("postcard: {e}")))
}

/// Builds and signs the batch that follows `prev` (None for the agent's first batch).
///
/// `events` must be non-empty and in increasing sequence order.
pub fn seal(key: &Ed25519KeyPair, agent_id: AgentId, prev: Option<&ChainTip>, events: &[Event]) -> SignedBatch {
    let payload = encode_events(events);
    let header = BatchHeader {
        version: BATCH_VERSION,
        agent_id,
        batch_no: prev.map_or(1, |p| p.batch_no + 1),
        first_seq: events.first().map_or(0, |e| e.seq),
        last_seq: events.last().map_or(0, |e| e.seq),
        event_count: events.len() as u32,
        min_time: events.iter().map(|e| e.time).min().unwrap_or_default(),
        max_time: events.iter().map(|e| e.time).max().unwrap_or_default(),
        prev_hash: prev.map_or([0; 32], |p| p.hash),
        payload_hash: *blake3::hash(&payload).as_bytes(),
    };
    let signature = key.sign(&header.signed_message()).as_ref().to_vec();
    SignedBatch { header, payload, signature }
}

impl SignedBatch {
    /// Checks the signature and that the payload is the one the header names. Does not
    /// decompress; use [`SignedBatch::open`] to get the events.
    pub fn verify(&self, public_key: &[u8]) -> Result<(), BatchError> {
        if self.header.version != BATCH_VERSION {
            return Err(BatchError::Version(self.header.version));
        }
        if self.payload.len() > MAX_PAYLOAD_BYTES {
            return Err(BatchError::TooLarge(self.payload.len()));
        }
        UnparsedPublicKey::new(&ED25519, public_key)
            .verify(&self.header.signed_message(), &self.signature)
            .map_err(|_| BatchError::Signature)?;
        if blake3::hash(&self.payload).as_bytes() != &self.header.payload_hash {
            return Err(BatchError::PayloadHash);
        }
        let h = &self.header;
        if h.event_count == 0 || h.event_count > MAX_BATCH_EVENTS || h.first_seq > h.last_seq {
            return Err(BatchError::Inconsistent("event count or sequence range"));
        }
        if h.batch_no == 0 {
            return Err(BatchError::Inconsistent("batch number 0"));
        }
        Ok(())
    }

    /// Decodes the events and checks they are what the (verified) header says.
    pub fn open(&self) -> Result<Vec<Event>, BatchError> {
        let events = decode_events(&self.payload, self.header.event_count)?;
        let h = &self.header;
        if events.len() != h.event_count as usize {
            return Err(BatchError::Inconsistent("event count"));
        }
        if events.first().map(|e| e.seq) != Some(h.first_seq) || events.last().map(|e| e.seq) != Some(h.last_seq) {
            return Err(BatchError::Inconsistent("first or last sequence number"));
        }
        if events.windows(2).any(|w| w[0].seq >= w[1].seq) {
            return Err(BatchError::Inconsistent("sequence numbers not increasing"));
        }
        Ok(events)
    }
}

/// The newest batch of an agent's chain, as the collector (and the agent) remember it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainTip {
    /// Its batch number.
    pub batch_no: u64,
    /// Its [`BatchHeader::hash`], which the next batch must name as `prev_hash`.
    pub hash: Hash32,
    /// Its last event's sequence number; the next batch's events must start above it.
    pub last_seq: u64,
}

impl ChainTip {
    /// The tip a batch with this header makes once stored.
    pub fn of(header: &BatchHeader) -> ChainTip {
        ChainTip { batch_no: header.batch_no, hash: header.hash(), last_seq: header.last_seq }
    }
}

/// What the collector should do with a verified batch.
#[derive(Debug, PartialEq, Eq)]
pub enum ChainVerdict {
    /// The next link: store it.
    Append,
    /// A batch number already stored: compare with the stored header; equal means a
    /// replay to acknowledge again, different means a fork to refuse.
    AlreadyStored,
}

/// Decides where `header` falls relative to the agent's stored chain tip.
pub fn check_chain(tip: Option<&ChainTip>, header: &BatchHeader) -> Result<ChainVerdict, BatchError> {
    let Some(tip) = tip else {
        return if header.batch_no == 1 && header.prev_hash == [0; 32] {
            Ok(ChainVerdict::Append)
        } else if header.batch_no == 1 {
            Err(BatchError::Fork { batch_no: 1 })
        } else {
            Err(BatchError::ChainGap { tip: 0, got: header.batch_no })
        };
    };
    if header.batch_no <= tip.batch_no {
        return Ok(ChainVerdict::AlreadyStored);
    }
    if header.batch_no != tip.batch_no + 1 {
        return Err(BatchError::ChainGap { tip: tip.batch_no, got: header.batch_no });
    }
    if header.prev_hash != tip.hash {
        return Err(BatchError::Fork { batch_no: header.batch_no });
    }
    if header.first_seq <= tip.last_seq {
        return Err(BatchError::SequenceReuse { batch_no: header.batch_no, last_seq: tip.last_seq });
    }
    Ok(ChainVerdict::Append)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{EventBody, Gap};
    use ring::rand::SystemRandom;

    fn key() -> Ed25519KeyPair {
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).expect("keygen");
        Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).expect("key")
    }

    fn events(from: u64, n: u64) -> Vec<Event> {
        (from..from + n)
            .map(|seq| Event {
                seq,
                time: Timestamp(seq as i64 * 1000),
                body: EventBody::Gap(Gap { lost: 0, first_seq: 0, last_seq: 0, reason: "t".into() }),
            })
            .collect()
    }

    fn public(k: &Ed25519KeyPair) -> Vec<u8> {
        use ring::signature::KeyPair;
        k.public_key().as_ref().to_vec()
    }

    #[test]
    fn sealed_batches_verify_and_chain() {
        let k = key();
        let id = AgentId([3; 16]);
        let b1 = seal(&k, id, None, &events(1, 10));
        b1.verify(&public(&k)).expect("b1 verifies");
        assert_eq!(b1.open().expect("opens").len(), 10);
        assert_eq!(check_chain(None, &b1.header), Ok(ChainVerdict::Append));
        let tip = ChainTip::of(&b1.header);
        let b2 = seal(&k, id, Some(&tip), &events(11, 5));
        assert_eq!(check_chain(Some(&tip), &b2.header), Ok(ChainVerdict::Append));
        assert_eq!(check_chain(Some(&ChainTip::of(&b2.header)), &b1.header), Ok(ChainVerdict::AlreadyStored));
    }

    #[test]
    fn tampering_is_detected() {
        let k = key();
        let mut b = seal(&k, AgentId([3; 16]), None, &events(1, 3));
        b.header.last_seq += 1;
        assert_eq!(b.verify(&public(&k)), Err(BatchError::Signature));
        let mut b = seal(&k, AgentId([3; 16]), None, &events(1, 3));
        b.payload.push(0);
        assert_eq!(b.verify(&public(&k)), Err(BatchError::PayloadHash));
        let b = seal(&k, AgentId([3; 16]), None, &events(1, 3));
        assert_eq!(b.verify(&public(&key())), Err(BatchError::Signature));
    }

    #[test]
    fn chain_breaks_are_refused() {
        let k = key();
        let id = AgentId([3; 16]);
        let b1 = seal(&k, id, None, &events(1, 3));
        let tip = ChainTip::of(&b1.header);
        let b2 = seal(&k, id, Some(&tip), &events(4, 3));
        let skipped = seal(&k, id, Some(&ChainTip::of(&b2.header)), &events(7, 3));
        assert!(matches!(check_chain(Some(&tip), &skipped.header), Err(BatchError::ChainGap { .. })));
        let forged_tip = ChainTip { hash: [9; 32], ..tip };
        let fork = seal(&k, id, Some(&forged_tip), &events(4, 3));
        assert!(matches!(check_chain(Some(&tip), &fork.header), Err(BatchError::Fork { .. })));
        let reuse = seal(&k, id, Some(&tip), &events(2, 3));
        assert!(matches!(check_chain(Some(&tip), &reuse.header), Err(BatchError::SequenceReuse { .. })));
    }

    #[test]
    fn decompression_bomb_is_bounded() {
        let bomb = zstd::bulk::compress(&vec![0u8; MAX_DECOMPRESSED_BYTES + 1], 19).expect("compress");
        assert!(bomb.len() < MAX_PAYLOAD_BYTES);
        assert!(matches!(decode_events(&bomb, MAX_BATCH_EVENTS), Err(BatchError::Payload(_))));
    }

    #[test]
    fn more_events_than_declared_are_refused_before_decoding() {
        let k = key();
        let mut b = seal(&k, AgentId([3; 16]), None, &events(1, 10));
        b.header.event_count = 3;
        assert_eq!(
            decode_events(&b.payload, 3),
            Err(BatchError::Inconsistent("payload holds more events than the header declares"))
        );
        assert_eq!(decode_events(&b.payload, 10).map(|e| e.len()), Ok(10));
    }
}
