//! Vehicle licence plates (spec §2.8): locality code, series, 4- or 5-digit number — cars
//! `79A-123.45`, motorbikes `79-H1 234.56`. Low confidence without context; never a reason to
//! block on its own.

use super::super::data::{PLATE_GAPS, class};
use super::super::finding::{Confidence, DetectorId};
use super::{Pattern, Scan, Stretch, find_from, is_digit, kind, stretches};
use std::ops::Range;

pub(super) struct Plate {
    plate: Pattern,
}

impl Plate {
    pub(super) fn new() -> Result<Self, regex::Error> {
        Ok(Plate {
            plate: Pattern::new(r"\b([1-9][0-9])[ \-]?([A-Z]{1,2}[0-9]?)[ \-]?([0-9]{3}\.?[0-9]{2}|[0-9]{4})\b")?,
        })
    }

    pub(super) fn scan(&self, scan: &mut Scan<'_, '_>) {
        let found = self.plates(scan.bytes(), &scan.stretches);
        for range in found {
            // Every match opens with the two digits of its locality.
            let locality = &scan.bytes()[range.start..range.start + 2];
            let locality = (locality[0] - b'0') * 10 + (locality[1] - b'0');
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

    /// The plates in `bytes`, whose [`Stretch`]es are `all`: what the regex finds in the whole text.
    fn plates(&self, bytes: &[u8], all: &[Stretch]) -> Vec<Range<usize>> {
        let mut found = Vec::new();
        // Six digits at least, capitals, spaces, dashes and a dot.
        let class = kind::CAPITAL | kind::DIGIT | kind::SPACE | kind::DASH | kind::DOT;
        for (start, haystack) in stretches(bytes, all, class, 6, kind::CAPITAL) {
            // Every plate has two digits and then, past a space or dash perhaps, a capital or
            // two, and three digits past a digit and a separator at most: the capitals of most
            // stretches (order numbers, log levels) come first, and those of a log's time
            // stamps (`06-12T08:09`) are followed by two digits.
            let capital = |p: usize| haystack.get(p).is_some_and(u8::is_ascii_uppercase);
            let three_digits = |p: usize| (p..p + 3).all(|d| is_digit(haystack.get(d)));
            let series = |p: usize| {
                if !(is_digit(haystack.get(p)) && is_digit(haystack.get(p + 1))) {
                    return false;
                }
                let sep = haystack.get(p + 2).is_some_and(|b| b" -".contains(b));
                let first = match (capital(p + 2), sep && capital(p + 3)) {
                    (true, _) => p + 2,
                    (false, true) => p + 3,
                    (false, false) => return false,
                };
                let number = first + 1 + usize::from(capital(first + 1));
                (number..=number + 2).any(three_digits)
            };
            if !(start..haystack.len()).any(series) {
                continue;
            }
            find_from(&self.plate, haystack, start, &mut found);
        }
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detectors::assert_finds_what_the_whole_text_search_finds;

    #[test]
    fn plates_are_what_the_regex_finds_in_the_whole_text() {
        let plate = Plate::new().expect("patterns");
        let texts = [
            "Xe 79A-123.45 và 79-H1 234.56, 51F 12345, 51F1 2345, DH609928755207, 30 AB 1234 X",
            "INFO 2026 11 27 12 00 A 79A12345 9979A-123.45 79A-12345.6 12-A 123.45 0079A-123.45",
            "79 A 1234 79-A-1234 79 -A1234 79A 1 2345 79AB1-234.56 79aB-123.45 79A-123.4567",
            "2026-06-12T08:09:10.750Z 79A1-123 79AB 1234 79A12 34 79A-1 234.5 79AB-1-234 79ABC1234 29B1-12.345",
        ];
        assert_finds_what_the_whole_text_search_finds(&plate.plate, &texts, |bytes, all| plate.plates(bytes, all));
    }
}
