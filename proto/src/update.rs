//! Agent updates over QUIC (ALPN [`ALPN_UPDATE`], client certificate required): the agent asks
//! what the collector offers it and fetches the signed metadata and one package.
//!
//! Nothing here is trusted by the agent: the metadata is TUF metadata that the agent verifies
//! against its pinned root, and a package is installed only if its length and hashes match
//! what the verified `targets` role says. These messages only carry bytes, within bounds.

use serde::{Deserialize, Serialize};

/// ALPN of an enrolled agent's update connection.
pub const ALPN_UPDATE: &[u8] = b"haidang-update/1";
/// Most metadata files one offer carries (root versions, timestamp, snapshot, targets).
pub const MAX_METADATA_FILES: usize = 64;
/// Largest metadata file, as the agent's TUF client also bounds it.
pub const MAX_METADATA_BYTES: usize = 1024 * 1024;
/// Largest piece of a package in one frame.
pub const MAX_CHUNK_BYTES: usize = 1024 * 1024;
/// Longest metadata file name or package name.
pub const MAX_NAME_BYTES: usize = 255;

/// What an agent asks on its update stream.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum UpdateRequest {
    /// Which release the collector stages for this agent, with the repository's metadata.
    Offer {
        /// The agent's platform, e.g. `linux-x86_64-deb` (see the collector's `release`).
        platform: String,
        /// The version the agent runs.
        running: String,
    },
    /// A piece of a package, from `offset`.
    Package {
        /// The target's name in the `targets` role.
        name: String,
        /// Where to start.
        offset: u64,
    },
}

/// What the collector answers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum UpdateResponse {
    /// The staged release (if any) and the metadata to verify it with.
    Offer(Offer),
    /// Up to [`MAX_CHUNK_BYTES`] of a package; empty at its end.
    Chunk(Vec<u8>),
    /// The request cannot be served; the text says why.
    Unavailable(String),
}

/// The collector's offer to one agent.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Offer {
    /// The version rolled out to this agent's group and bucket, if any. Unsigned: it only picks
    /// among the signed targets, and the agent refuses anything older than it runs.
    pub version: Option<String>,
    /// The repository's metadata files by name (`1.root.json`, `timestamp.json`, …).
    pub metadata: Vec<MetadataFile>,
}

/// One TUF metadata file as the repository serves it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MetadataFile {
    /// Its file name; a plain name, never a path.
    pub name: String,
    /// Its bytes.
    pub bytes: Vec<u8>,
}

/// Why an offer or a name cannot be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum OfferError {
    /// Over one of the bounds of this module.
    #[error("{0}")]
    OutOfBounds(String),
    /// A name that is not a plain file name.
    #[error("{0:?} is not a plain file name")]
    BadName(String),
}

/// Whether `name` is safe as a file name in a directory of ours: no separators, no `..`, no
/// control characters, bounded.
pub fn check_name(name: &str) -> Result<(), OfferError> {
    let plain = !name.is_empty()
        && name.len() <= MAX_NAME_BYTES
        && name != "."
        && name != ".."
        && !name.chars().any(|c| c == '/' || c == '\\' || c == ':' || c.is_control());
    if plain { Ok(()) } else { Err(OfferError::BadName(name.to_string())) }
}

impl Offer {
    /// Checks every bound of an offer received from the network before any of it is written.
    pub fn check(&self) -> Result<(), OfferError> {
        if self.metadata.len() > MAX_METADATA_FILES {
            return Err(OfferError::OutOfBounds(format!("{} metadata files", self.metadata.len())));
        }
        if let Some(v) = &self.version {
            check_name(v)?;
        }
        for file in &self.metadata {
            check_name(&file.name)?;
            if !file.name.ends_with(".json") {
                return Err(OfferError::BadName(file.name.clone()));
            }
            if file.bytes.len() > MAX_METADATA_BYTES {
                return Err(OfferError::OutOfBounds(format!("{} is {} bytes", file.name, file.bytes.len())));
            }
        }
        Ok(())
    }
}

/// The platform of a Debian package of the agent for x86-64 Linux.
pub const PLATFORM_DEB: &str = "linux-x86_64-deb";
/// The platform of a Windows Installer package of the agent for x86-64 Windows.
pub const PLATFORM_MSI: &str = "windows-x86_64-msi";

/// The platform and version of an agent package, from the file name `packaging/build.sh` gives
/// it: `haidang-agent_<version>_amd64.deb` or `haidang-agent-<version>-x64.msi`.
pub fn package_release(file_name: &str) -> Option<(&'static str, &str)> {
    let (platform, version) =
        if let Some(v) = file_name.strip_prefix("haidang-agent_").and_then(|r| r.strip_suffix("_amd64.deb")) {
            (PLATFORM_DEB, v)
        } else {
            (PLATFORM_MSI, file_name.strip_prefix("haidang-agent-")?.strip_suffix("-x64.msi")?)
        };
    let plain = !version.is_empty() && version.chars().all(|c| c.is_ascii_alphanumeric() || ".~+-".contains(c));
    plain.then_some((platform, version))
}

/// Orders versions as Debian does for the forms we publish (`1.2.10` after `1.2.9`, `1.0.0~rc1`
/// before `1.0.0`): runs of digits compare as numbers, `~` sorts before anything, even the end.
pub fn compare_versions(a: &str, b: &str) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    fn weight(c: Option<char>) -> i32 {
        match c {
            Some('~') => -1,
            None => 0,
            Some(c) if c.is_ascii_alphabetic() => c as i32,
            Some(c) => c as i32 + 256,
        }
    }
    let (mut a, mut b) = (a, b);
    loop {
        let a_text = a.find(|c: char| c.is_ascii_digit()).unwrap_or(a.len());
        let b_text = b.find(|c: char| c.is_ascii_digit()).unwrap_or(b.len());
        let (mut at, mut bt) = (a[..a_text].chars(), b[..b_text].chars());
        loop {
            let (x, y) = (at.next(), bt.next());
            if x.is_none() && y.is_none() {
                break;
            }
            match weight(x).cmp(&weight(y)) {
                Ordering::Equal => {}
                other => return other,
            }
        }
        a = &a[a_text..];
        b = &b[b_text..];
        let a_num = a.find(|c: char| !c.is_ascii_digit()).unwrap_or(a.len());
        let b_num = b.find(|c: char| !c.is_ascii_digit()).unwrap_or(b.len());
        let (x, y) = (a[..a_num].trim_start_matches('0'), b[..b_num].trim_start_matches('0'));
        match x.len().cmp(&y.len()).then_with(|| x.cmp(y)) {
            Ordering::Equal => {}
            other => return other,
        }
        a = &a[a_num..];
        b = &b[b_num..];
        if a.is_empty() && b.is_empty() {
            return Ordering::Equal;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{decode_frame, encode_frame};

    #[test]
    fn names_that_could_leave_the_directory_are_refused() {
        for bad in ["", ".", "..", "../root.json", "a/b", "a\\b", "c:x", "x\n", &"a".repeat(256)] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
        assert_eq!(check_name("3.targets.json"), Ok(()));
    }

    #[test]
    fn versions_order_as_debian_orders_them() {
        use std::cmp::Ordering::*;
        // Pairs checked against `dpkg --compare-versions`.
        for (a, b, want) in [
            ("1.0.1", "1.0.0", Greater),
            ("1.0.10", "1.0.9", Greater),
            ("1.0.0~rc1", "1.0.0", Less),
            ("1.0.1~test", "1.0.0~test", Greater),
            ("0.9.9~test", "1.0.0~test", Less),
            ("1.0.0", "1.0.0", Equal),
            ("1.0.0a", "1.0.0", Greater),
            ("1.0.0+b1", "1.0.0a", Greater),
        ] {
            assert_eq!(compare_versions(a, b), want, "{a} vs {b}");
            assert_eq!(compare_versions(b, a), want.reverse(), "{b} vs {a}");
        }
    }

    #[test]
    fn package_names_give_platform_and_version() {
        assert_eq!(package_release("haidang-agent_1.0.1~test_amd64.deb"), Some((PLATFORM_DEB, "1.0.1~test")));
        assert_eq!(package_release("haidang-agent-1.0.1-x64.msi"), Some((PLATFORM_MSI, "1.0.1")));
        assert_eq!(package_release("haidang-collector_1.0.1_amd64.deb"), None);
        assert_eq!(package_release("haidang-agent_1 0_amd64.deb"), None);
    }

    #[test]
    fn offers_round_trip_and_are_bounded() {
        let offer = Offer {
            version: Some("1.2.3".into()),
            metadata: vec![MetadataFile { name: "1.root.json".into(), bytes: b"{}".to_vec() }],
        };
        let bytes = encode_frame(&UpdateResponse::Offer(offer.clone()));
        assert_eq!(decode_frame::<UpdateResponse>(&bytes[4..]), Ok(UpdateResponse::Offer(offer.clone())));
        assert_eq!(offer.check(), Ok(()));
        let mut big = offer.clone();
        big.metadata[0].bytes = vec![0; MAX_METADATA_BYTES + 1];
        assert!(big.check().is_err());
        let mut many = offer.clone();
        many.metadata = vec![offer.metadata[0].clone(); MAX_METADATA_FILES + 1];
        assert!(many.check().is_err());
        let mut not_json = offer;
        not_json.metadata[0].name = "agent.deb".into();
        assert!(not_json.check().is_err());
    }
}
