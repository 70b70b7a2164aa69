//! Shared by the DLP extraction targets: small limits, so a fuzzed bomb is refused quickly, and
//! the invariants every extraction keeps whatever the input.

use haidang_dlp::extract::{Content, Extraction, Limits, Verdict, extract};
use std::time::Duration;

pub fn limits() -> Limits {
    Limits {
        max_depth: 4,
        max_input_bytes: 4 << 20,
        max_part_bytes: 8 << 20,
        max_total_bytes: 16 << 20,
        max_entries: 256,
        time_budget: Duration::from_secs(10),
        ..Limits::default()
    }
}

/// Extracts `bytes` as `name` and checks that every part and verdict is named under it and
/// that the extracted text stays within the caps.
pub fn check(name: &str, bytes: &[u8]) -> Extraction {
    let limits = limits();
    let extraction = extract(name, bytes, &limits);
    let mut total = 0u64;
    for part in &extraction.parts {
        assert!(part.container_path.starts_with(name), "{}", part.container_path);
        total += match &part.content {
            Content::Text { text, .. } => text.len() as u64,
            Content::Bytes(bytes) => bytes.len() as u64,
        };
    }
    // Text is at most the decompressed bytes plus the input itself (plus line breaks and
    // cell separators that grouping adds, a few per source byte at most).
    assert!(total <= 4 * (limits.max_total_bytes + bytes.len() as u64), "{total} bytes extracted");
    for Verdict::CouldNotInspect { container_path, .. } in &extraction.verdicts {
        assert!(container_path.starts_with(name), "{container_path}");
    }
    extraction
}
