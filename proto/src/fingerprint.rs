//! How both sides name a certificate: `sha256:<64 hex>` of its DER. Agents pin the
//! collector's CA by it; the collector identifies agents' client certificates by it.

/// The `sha256:<hex>` fingerprint of a DER certificate.
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
