//! A vault sidecar (`ID.json`) read back from disk, where anyone with access to the vault
//! directory may have altered it: any bytes are refused with a message or give an entry whose
//! id, hashes and path are well formed, never a panic.
#![no_main]

use haidang_agent::dlp_sensor::vault::parse_sidecar;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    match parse_sidecar(data) {
        Ok(entry) => {
            assert!(entry.id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'), "{entry:?}");
            assert_eq!(entry.sha256.len(), 64);
            assert!(!entry.original_path().as_os_str().is_empty());
        }
        Err(message) => assert!(!message.is_empty()),
    }
});
