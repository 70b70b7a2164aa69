//! Vehicle licence plates (spec §2.8): locality code, series, 4- or 5-digit number — cars
//! `79A-123.45`, motorbikes `79-H1 234.56`. Low confidence without context; never a reason to
//! block on its own.

use super::super::data::{PLATE_GAPS, class};
use super::super::finding::{Confidence, DetectorId};
use super::{Scan, kind, regex, stretches};
use regex::bytes::Regex;

pub(super) struct Plate {
    plate: Regex,
}

impl Plate {
    pub(super) fn new() -> Result<Self, regex::Error> {
        Ok(Plate { plate: regex(r"\b([1-9][0-9])[ \-]?([A-Z]{1,2}[0-9]?)[ \-]?([0-9]{3}\.?[0-9]{2}|[0-9]{4})\b")? })
    }

    pub(super) fn scan(&self, scan: &mut Scan<'_, '_>) {
        let mut found = Vec::new();
        // Six digits at least, capitals, spaces, dashes and a dot.
        let class = kind::CAPITAL | kind::DIGIT | kind::SPACE | kind::DASH | kind::DOT;
        for (start, haystack) in stretches(scan.bytes(), scan.stretches, class, 6, kind::CAPITAL) {
            let mut from = start;
            while let Some(m) = self.plate.find_at(haystack, from) {
                from = m.end();
                // Every match opens with the two digits of its locality.
                let locality = m.as_bytes();
                found.push((m.range(), (locality[0] - b'0') * 10 + (locality[1] - b'0')));
            }
        }
        for (range, locality) in found {
            if locality < 11 || PLATE_GAPS.contains(&locality) {
                continue;
            }
            // A decimal point after the number makes it an amount or a measurement.
            let bytes = scan.bytes();
            if bytes.get(range.end) == Some(&b'.') && bytes.get(range.end + 1).is_some_and(u8::is_ascii_digit) {
                continue;
            }
            let confidence = if scan.context(range.start, range.end) & class::PLATE != 0 {
                Confidence::Medium
            } else {
                Confidence::Low
            };
            let value: String = scan.text[range.clone()].chars().filter(char::is_ascii_alphanumeric).collect();
            scan.emit(DetectorId::Plate, value, confidence, range.start);
        }
    }
}
