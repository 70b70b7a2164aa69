//! Enrollment: an agent proves it holds a one-time token and the private key whose public
//! half it wants certified, over a connection on which it has pinned the collector's CA.

use crate::event::AgentId;
use crate::wire::Refusal;
use ring::signature::{ED25519, Ed25519KeyPair, UnparsedPublicKey};
use serde::{Deserialize, Serialize};

const PROOF_CONTEXT: &[u8] = b"haidang enroll v1\0";

/// What an agent sends to enroll: the one-time token, the key to certify, and how the
/// collector's fleet view should describe the machine.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnrollRequest {
    /// The one-time enrollment token an administrator created on the collector.
    pub token: String,
    /// Raw 32-byte Ed25519 public key.
    pub public_key: Vec<u8>,
    /// The machine's host name.
    pub hostname: String,
    /// The agent's operating system, as Rust names it (`linux`, `windows`).
    pub os: String,
    /// The agent's version.
    pub agent_version: String,
    /// Signature over the token and public key: proof of possession of the private key.
    pub proof: Vec<u8>,
}

/// The collector's answer to an [`EnrollRequest`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum EnrollResponse {
    /// The agent is enrolled; the token has been spent.
    Enrolled(Enrolled),
    /// Enrollment was refused (bad or spent token, invalid request, …); nothing was recorded.
    Refused(Refusal),
}

/// What an agent needs to connect from now on: its identity and certificate, and the CA to
/// trust the collector by.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Enrolled {
    /// The identity the collector assigned; every batch the agent signs names it.
    pub agent_id: AgentId,
    /// The fleet group the token placed the agent in.
    pub group: String,
    /// DER client certificate for the agent's key, issued by the collector's CA.
    pub certificate: Vec<u8>,
    /// DER of the collector's CA certificate.
    pub ca_certificate: Vec<u8>,
}

/// Longest token, host name and similar strings accepted in a request.
pub const MAX_FIELD_BYTES: usize = 256;

impl EnrollRequest {
    /// A request for `key`'s public half, signed with `key` as proof of possession.
    pub fn new(key: &Ed25519KeyPair, token: &str, hostname: &str, os: &str, agent_version: &str) -> EnrollRequest {
        use ring::signature::KeyPair;
        let public_key = key.public_key().as_ref().to_vec();
        let proof = key.sign(&proof_message(token, &public_key)).as_ref().to_vec();
        EnrollRequest {
            token: token.to_owned(),
            public_key,
            hostname: hostname.to_owned(),
            os: os.to_owned(),
            agent_version: agent_version.to_owned(),
            proof,
        }
    }

    /// Checks field bounds and the proof of possession; the error says which check failed.
    pub fn validate(&self) -> Result<(), String> {
        for (name, v) in [
            ("token", &self.token),
            ("hostname", &self.hostname),
            ("os", &self.os),
            ("agent_version", &self.agent_version),
        ] {
            if v.len() > MAX_FIELD_BYTES {
                return Err(format!("{name} longer than {MAX_FIELD_BYTES} bytes"));
            }
        }
        if !is_host_name(&self.hostname) {
            return Err(format!("hostname must be 1 to {MAX_HOSTNAME_BYTES} letters, digits, '-', '_' or '.' (ASCII)"));
        }
        for (name, v) in [("os", &self.os), ("agent_version", &self.agent_version)] {
            if !is_label(v) {
                return Err(format!("{name} must be 1 to {MAX_LABEL_BYTES} ASCII letters, digits, or '.+-_~ '"));
            }
        }
        if self.public_key.len() != 32 {
            return Err("public key is not a 32-byte Ed25519 key".into());
        }
        UnparsedPublicKey::new(&ED25519, &self.public_key)
            .verify(&proof_message(&self.token, &self.public_key), &self.proof)
            .map_err(|_| "proof of possession does not verify".to_string())
    }
}

/// Longest host name (DNS allows 253 characters).
pub const MAX_HOSTNAME_BYTES: usize = 253;
/// Longest operating system name or agent version.
pub const MAX_LABEL_BYTES: usize = 64;

/// Host names are shown in the console, logs and alerts: only the characters of DNS names
/// (and NetBIOS's `_`), so an agent cannot smuggle terminal escapes or forged log lines in.
pub fn is_host_name(s: &str) -> bool {
    (1..=MAX_HOSTNAME_BYTES).contains(&s.len())
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// Letters, digits and the punctuation of OS names and Debian versions (`1.0.0~rc1`, the
/// package versions agents report).
fn is_label(s: &str) -> bool {
    (1..=MAX_LABEL_BYTES).contains(&s.len())
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'+' | b'-' | b'_' | b'~' | b' '))
}

fn proof_message(token: &str, public_key: &[u8]) -> Vec<u8> {
    let mut m = PROOF_CONTEXT.to_vec();
    m.extend_from_slice(&(token.len() as u32).to_be_bytes());
    m.extend_from_slice(token.as_bytes());
    m.extend_from_slice(public_key);
    m
}

#[cfg(test)]
mod tests {
    use super::*;
    use ring::rand::SystemRandom;

    #[test]
    fn proof_of_possession_binds_token_and_key() {
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).expect("keygen");
        let key = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).expect("key");
        let req = EnrollRequest::new(&key, "tok", "may-01", "linux", "0.1.0");
        assert_eq!(req.validate(), Ok(()));
        for bad in ["", "host\nINFO admin logged in", "esc\u{1b}[2K", "space host", "h\u{00e9}"] {
            assert!(EnrollRequest::new(&key, "tok", bad, "linux", "0.1.0").validate().is_err(), "{bad:?}");
        }
        assert!(EnrollRequest::new(&key, "tok", "may-01.corp_lan", "linux", "0.1.0+dev").validate().is_ok());
        assert!(EnrollRequest::new(&key, "tok", "may-01", "linux\r", "0.1.0").validate().is_err());
        let stolen = EnrollRequest { token: "other".into(), ..req.clone() };
        assert!(stolen.validate().is_err());
        let long = EnrollRequest { hostname: "x".repeat(300), ..req };
        assert!(long.validate().is_err());
    }
}
