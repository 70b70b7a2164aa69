//! Enrollment tokens: random, expiring, limited in uses; stored only as a hash.

use crate::store;
use crate::store::records::TokenRecord;
use crate::store::writer::{EnrollError, WriteOp};
use anyhow::{Result, bail};
use haidang_proto::Timestamp;
use redb::Database;
use ring::rand::SecureRandom;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

pub struct NewToken {
    pub token: String,
    pub expires: Timestamp,
}

/// What a new token allows.
pub struct TokenSpec<'a> {
    pub group: &'a str,
    pub ttl: Duration,
    pub uses: u32,
    /// Agents it enrolls get a new identity on their own when copied to another machine.
    pub allow_reenroll: bool,
}

pub async fn create(writer: &mpsc::Sender<WriteOp>, spec: TokenSpec<'_>) -> Result<NewToken> {
    let TokenSpec { group, ttl, uses, allow_reenroll } = spec;
    if group.is_empty() || group.len() > 128 || group.chars().any(char::is_control) {
        bail!("group must be 1 to 128 printable characters");
    }
    if uses == 0 || ttl.is_zero() || ttl > Duration::from_secs(365 * 86_400) {
        bail!("uses must be at least 1 and the ttl between 1 s and 365 days");
    }
    let mut secret = [0u8; 24];
    ring::rand::SystemRandom::new().fill(&mut secret).map_err(|_| anyhow::anyhow!("no randomness"))?;
    let token = format!("hdt1-{}", hex::encode(secret));
    let now = Timestamp::now();
    let expires = Timestamp::from(now.to_system_time() + ttl);
    let record = TokenRecord { group: group.to_string(), created: now, expires, uses_left: uses, allow_reenroll };
    let (reply, done) = oneshot::channel();
    let token_hash = *blake3::hash(token.as_bytes()).as_bytes();
    writer
        .send(WriteOp::CreateToken { token_hash, record, reply })
        .await
        .map_err(|_| anyhow::anyhow!("the store writer has stopped"))?;
    done.await.map_err(|_| anyhow::anyhow!("the store writer has stopped"))?.map_err(anyhow::Error::msg)?;
    tracing::info!(group = %haidang_proto::text::terminal_safe(group), uses, allow_reenroll, expires = %expires.to_rfc3339(), "enrollment token created");
    Ok(NewToken { token, expires })
}

/// The store key of a presented enrollment token. Only ASCII whitespace (a token pasted with
/// its newline) is trimmed, as for the API token.
pub fn hash(presented: &str) -> [u8; 32] {
    *blake3::hash(presented.trim_ascii().as_bytes()).as_bytes()
}

/// Whether a presented token (by its hash) could enroll an agent now: checked with a read
/// before any certificate is signed or anything is written, so a bogus attempt costs one
/// lookup. The lookup is by the token's hash, so its timing says nothing about how close a
/// guess was to a real token. The store writer checks again when it uses the token.
pub fn usable(db: &Database, token_hash: &[u8; 32]) -> Result<(), EnrollError> {
    let record = store::token(db, token_hash).map_err(|e| EnrollError::Store(format!("{e:#}")))?;
    let record = record.ok_or(EnrollError::UnknownToken)?;
    if record.expires < Timestamp::now() {
        return Err(EnrollError::Expired);
    }
    if record.uses_left == 0 {
        return Err(EnrollError::UsedUp);
    }
    Ok(())
}
