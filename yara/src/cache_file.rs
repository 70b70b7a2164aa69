//! The frame of a compiled-rules cache file (see [`crate::RuleCache`]): a magic string, the BLAKE3
//! of the body, then the body: a length-prefixed header and the compiled rules. Reading it
//! back checks all of that before anything inside is decoded, so a torn, truncated or
//! altered file is refused with a reason.

use anyhow::{Context, Result};

const MAGIC: &[u8; 16] = b"haidang-yarac-v1";

/// What precedes the body: the magic string and the BLAKE3 of the body.
pub const PREFIX_LEN: usize = MAGIC.len() + blake3::OUT_LEN;

/// The file's bytes for `header` and `payload`.
pub(crate) fn encode(header: &[u8], payload: &[u8]) -> Result<Vec<u8>> {
    let header_len = u32::try_from(header.len()).context("header too large")?;
    let mut body = Vec::with_capacity(4 + header.len() + payload.len());
    body.extend_from_slice(&header_len.to_le_bytes());
    body.extend_from_slice(header);
    body.extend_from_slice(payload);
    let mut file = Vec::with_capacity(PREFIX_LEN + body.len());
    file.extend_from_slice(MAGIC);
    file.extend_from_slice(blake3::hash(&body).as_bytes());
    file.extend_from_slice(&body);
    Ok(file)
}

/// The header and the payload of a file written by `encode`; any other bytes are refused
/// with a reason.
pub fn decode(bytes: &[u8]) -> Result<(&[u8], &[u8])> {
    let body = bytes
        .strip_prefix(MAGIC.as_slice())
        .and_then(|rest| rest.split_at_checked(blake3::OUT_LEN))
        .filter(|(sum, body)| blake3::hash(body).as_bytes() == *sum)
        .map(|(_, body)| body)
        .context("not a compiled rule file of this agent, or damaged")?;
    let (header_len, rest) = body.split_at_checked(4).context("damaged: no header")?;
    let header_len = u32::from_le_bytes(header_len.try_into()?) as usize;
    rest.split_at_checked(header_len).context("damaged: header longer than the file")
}

/// A digest that changes with this frame's format, for naming cache files.
pub(crate) fn format_id() -> &'static [u8] {
    MAGIC
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_any_damage() {
        let file = encode(b"header", b"compiled rules").expect("encode");
        assert_eq!(decode(&file).expect("decode"), (&b"header"[..], &b"compiled rules"[..]));
        for at in [0, MAGIC.len(), PREFIX_LEN, PREFIX_LEN + 5, file.len() - 1] {
            let mut damaged = file.clone();
            damaged[at] ^= 1;
            assert!(decode(&damaged).is_err(), "a flipped bit at {at} went unnoticed");
        }
        for len in [0, PREFIX_LEN - 1, PREFIX_LEN + 3, file.len() - 1] {
            assert!(decode(&file[..len]).is_err(), "truncated to {len} bytes and accepted");
        }
    }
}
