//! The first frame of an enrolled agent's stream: which machine it runs on, so the collector
//! can tell when one identity is used from two machines (a VM cloned after enrollment).
//!
//! A machine is named by a fingerprint: a BLAKE3 hash of identifiers the machine's operating
//! system and firmware hold (the agent's `machine` module says which); the identifiers
//! themselves never leave the machine. The hello also carries a fresh key, so that a clone the
//! collector may give a new identity gets it in the same exchange.

use crate::event::AgentId;
use ring::signature::{ED25519, Ed25519KeyPair, KeyPair, UnparsedPublicKey};
use serde::{Deserialize, Serialize};
use std::fmt;

const STANDBY_CONTEXT: &[u8] = b"haidang reenroll v1\0";

/// A machine's fingerprint (BLAKE3 of its identifiers).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct MachineId(pub [u8; 32]);

impl fmt::Display for MachineId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for MachineId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MachineId({self})")
    }
}

impl std::str::FromStr for MachineId {
    type Err = String;
    fn from_str(s: &str) -> Result<MachineId, String> {
        let mut out = [0u8; 32];
        hex::decode_to_slice(s, &mut out).map_err(|_| format!("{s:?} is not a 64-digit hex machine fingerprint"))?;
        Ok(MachineId(out))
    }
}

/// What an agent says first on its stream.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hello {
    /// The machine the agent runs on now.
    pub machine: MachineId,
    /// The machine its identity was enrolled on, as its state directory recorded it (none for
    /// state from before fingerprints were recorded).
    pub enrolled_on: Option<MachineId>,
    /// The machine's host name now.
    pub hostname: String,
    /// A fresh Ed25519 public key (32 bytes) for a new identity, should the collector find
    /// this agent to be a copy that may re-enroll.
    pub standby_key: Vec<u8>,
    /// The standby key's signature over the agent's id, the machine and the key itself.
    pub standby_proof: Vec<u8>,
}

impl Hello {
    /// A hello from `agent`, offering `standby`'s public half for a new identity.
    pub fn new(
        agent: AgentId,
        machine: MachineId,
        enrolled_on: Option<MachineId>,
        hostname: &str,
        standby: &Ed25519KeyPair,
    ) -> Hello {
        let standby_key = standby.public_key().as_ref().to_vec();
        let standby_proof = standby.sign(&standby_message(agent, machine, &standby_key)).as_ref().to_vec();
        Hello { machine, enrolled_on, hostname: hostname.to_owned(), standby_key, standby_proof }
    }

    /// Checks the host name and that the sender holds the standby key, for the agent whose
    /// certificate the connection presented; the error says which check failed.
    pub fn validate(&self, agent: AgentId) -> Result<(), String> {
        if !crate::enroll::is_host_name(&self.hostname) {
            return Err("hello: the host name is not a DNS name".into());
        }
        if self.standby_key.len() != 32 {
            return Err("hello: the standby key is not a 32-byte Ed25519 key".into());
        }
        UnparsedPublicKey::new(&ED25519, &self.standby_key)
            .verify(&standby_message(agent, self.machine, &self.standby_key), &self.standby_proof)
            .map_err(|_| "hello: the standby key's proof does not verify".to_string())
    }
}

fn standby_message(agent: AgentId, machine: MachineId, key: &[u8]) -> Vec<u8> {
    let mut m = STANDBY_CONTEXT.to_vec();
    m.extend_from_slice(&agent.0);
    m.extend_from_slice(&machine.0);
    m.extend_from_slice(key);
    m
}

#[cfg(test)]
mod tests {
    use super::*;
    use ring::rand::SystemRandom;

    fn key() -> Ed25519KeyPair {
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).expect("keygen");
        Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).expect("key")
    }

    #[test]
    fn the_standby_proof_binds_agent_machine_and_key() {
        let (agent, other) = (AgentId([1; 16]), AgentId([2; 16]));
        let hello = Hello::new(agent, MachineId([7; 32]), None, "vm-02", &key());
        assert_eq!(hello.validate(agent), Ok(()));
        assert!(hello.validate(other).is_err(), "replayed by another agent");
        let moved = Hello { machine: MachineId([8; 32]), ..hello.clone() };
        assert!(moved.validate(agent).is_err(), "machine changed after signing");
        let swapped = Hello { standby_key: key().public_key().as_ref().to_vec(), ..hello.clone() };
        assert!(swapped.validate(agent).is_err(), "key not held");
        let forged = Hello { hostname: "vm\n02".into(), ..hello };
        assert!(forged.validate(agent).is_err());
    }

    #[test]
    fn machine_ids_print_and_parse_as_hex() {
        let id = MachineId([0xab; 32]);
        assert_eq!(id.to_string().parse::<MachineId>(), Ok(id));
        assert!("ab".parse::<MachineId>().is_err());
    }
}
