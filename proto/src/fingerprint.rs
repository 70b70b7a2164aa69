//! The one name both sides give a certificate.

/// How both sides name a certificate: `sha256:` and the 64 lowercase hex digits of the SHA-256
/// of its DER encoding. Agents pin the collector's CA by it; the collector identifies agents'
/// client certificates by it.
pub fn fingerprint(der: &[u8]) -> String {
    format!("sha256:{}", hex::encode(ring::digest::digest(&ring::digest::SHA256, der).as_ref()))
}

#[cfg(test)]
mod tests {
    #[test]
    fn fingerprint_is_sha256_hex() {
        assert_eq!(
            super::fingerprint(b"abc"),
            "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
