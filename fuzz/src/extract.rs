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

/// An EMR_HEADER record ([MS-EMF] 2.3.4.2) with the " EMF" signature: what makes bytes a
/// metafile, so the records after it reach the record reader.
pub fn emf_header() -> Vec<u8> {
    let mut out = vec![0u8; 88];
    out[0..4].copy_from_slice(&1u32.to_le_bytes());
    out[4..8].copy_from_slice(&88u32.to_le_bytes());
    out[40..44].copy_from_slice(b" EMF");
    out[44..48].copy_from_slice(&0x0001_0000u32.to_le_bytes());
    out
}

/// An EMR_EXTTEXTOUTW record ([MS-EMF] 2.3.5.8) drawing `text` at (x, y), 10 units a character.
pub fn emf_text_out(x: i32, y: i32, text: &str) -> Vec<u8> {
    let units: Vec<u8> = text.encode_utf16().flat_map(u16::to_le_bytes).collect();
    let chars = u32::try_from(units.len() / 2).unwrap_or(0);
    let dx_at = 76 + units.len().next_multiple_of(4);
    let size = dx_at + 4 * chars as usize;
    let mut out = Vec::new();
    for v in [84u32, u32::try_from(size).unwrap_or(0), 0, 0, 0, 0, 1, 0, 0] {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out.extend_from_slice(&x.to_le_bytes());
    out.extend_from_slice(&y.to_le_bytes());
    for v in [chars, 76, 0, 0, 0, 0, 0, u32::try_from(dx_at).unwrap_or(0)] {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out.extend_from_slice(&units);
    out.resize(dx_at, 0);
    for _ in 0..chars {
        out.extend_from_slice(&10i32.to_le_bytes());
    }
    out
}

/// An EMF spool file ([MS-EMFSPOOL] 2.2.2, 2.2.3.1): the header, then one EMRI_METAFILE_DATA
/// record a page.
pub fn emf_spool(pages: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::new();
    for v in [0x0001_0000u32, 16, 0, 0] {
        out.extend_from_slice(&v.to_le_bytes());
    }
    for page in pages {
        out.extend_from_slice(&0x0Cu32.to_le_bytes());
        out.extend_from_slice(&u32::try_from(page.len()).unwrap_or(0).to_le_bytes());
        out.extend_from_slice(page);
        out.resize(out.len().next_multiple_of(4), 0);
    }
    out
}
