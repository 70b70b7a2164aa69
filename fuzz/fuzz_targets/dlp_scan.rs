//! The DLP content scanner on arbitrary bytes: encoding sniffing, every legacy decoder, the
//! views, column headers of delimited files and all detectors must never panic, and findings must stay well-formed (a count,
//! a line, an offset inside the input, a masked sample exactly for identifiers).
#![no_main]

use haidang_dlp::{Config, DetectorSet, Encoding, Finding, Hints, View};
use libfuzzer_sys::fuzz_target;
use std::sync::LazyLock;

static DETECTORS: LazyLock<DetectorSet> =
    LazyLock::new(|| DetectorSet::new(Config::default()).expect("built-in DLP patterns compile"));

const ENCODINGS: [Encoding; 5] =
    [Encoding::Tcvn3, Encoding::Vni, Encoding::Windows1258, Encoding::Viscii, Encoding::Viqr];

fn check(input_len: usize, findings: &[Finding]) {
    for f in findings {
        assert!(f.count >= 1 && f.counts.at_least(f.confidence) >= 1, "{f:?}");
        assert!(f.location.line >= 1, "{f:?}");
        assert!(f.location.offset <= input_len as u64, "{f:?} beyond {input_len}");
        assert_eq!(f.masked_sample.is_some(), !f.detector.is_marking(), "{f:?}");
    }
}

fuzz_target!(|data: &[u8]| {
    let set = &*DETECTORS;
    check(data.len(), &set.scan_bytes("fuzz", data, Hints::default()));
    // A delimited file's first line is read as the header of its columns.
    check(data.len(), &set.scan_bytes("fuzz.csv", data, Hints::default()));
    let text = String::from_utf8_lossy(data);
    check(text.len(), &set.scan_text("fuzz", &text, Hints { encoding: None, prominent: true }));
    for encoding in ENCODINGS {
        check(data.len(), &set.scan_bytes("fuzz", data, Hints { encoding: Some(encoding), prominent: false }));
        if let Some(view) = View::seen("fuzz", &text, encoding) {
            check(text.len(), &set.scan(&view));
        }
    }
});
