//! Passport numbers and ICAO 9303 machine-readable zones: TD3 (passport, spec §2.6) and TD1
//! (the chip CCCD's `IDVNM…` zone, spec §2.1).

use super::super::data::class;
use super::super::finding::{Confidence, DetectorId};
use super::{Pattern, Scan, Stretch, find_from, is_digit, kind, regex, starts_word, stretches};
use regex::bytes::Regex;
use std::ops::Range;

pub(super) struct Travel {
    passport: Pattern,
    td3: Regex,
    td1: Regex,
}

impl Travel {
    pub(super) fn new() -> Result<Self, regex::Error> {
        Ok(Travel {
            passport: Pattern::new(r"\b[A-Z][0-9]{7}\b")?,
            td3: regex(r"[A-Z0-9<]{9}[0-9]VNM[0-9]{6}[0-9][MF<][0-9]{6}[0-9][A-Z0-9<]{14}[0-9<][0-9]")?,
            td1: regex(
                r"I[A-Z<]VNM[A-Z0-9<]{9}[0-9<][A-Z0-9<]{15} *\n *[0-9]{6}[0-9][MF<][0-9]{6}[0-9][A-Z<]{3}[A-Z0-9<]{11}[0-9]",
            )?,
        })
    }

    /// The passport numbers in `bytes`, whose [`Stretch`]es are `all`: what the regex finds in
    /// the whole text.
    fn passports(&self, bytes: &[u8], all: &[Stretch]) -> Vec<Range<usize>> {
        let mut found = Vec::new();
        // A capital and seven digits.
        let class = kind::CAPITAL | kind::DIGIT;
        for (start, haystack) in stretches(bytes, all, class, 7, kind::CAPITAL) {
            // A number is a capital that starts a word and a digit: not an order number's `DH…`.
            let opens = |p: usize| {
                haystack[p].is_ascii_uppercase() && starts_word(haystack, p) && is_digit(haystack.get(p + 1))
            };
            if !(start..haystack.len()).any(opens) {
                continue;
            }
            find_from(&self.passport, haystack, start, &mut found);
        }
        found
    }

    pub(super) fn scan(&self, scan: &mut Scan<'_, '_>) {
        let passports = self.passports(scan.bytes(), &scan.stretches);
        for range in passports {
            if scan.context(range.start, range.end) & class::PASSPORT != 0 {
                let value = &scan.text[range.clone()];
                scan.emit(DetectorId::Passport, value, Confidence::Medium, range.start);
            }
        }
        // Both zones name the issuing state: without `VNM` there is nothing to search.
        if memchr::memmem::find(scan.bytes(), b"VNM").is_none() {
            return;
        }
        let zones: Vec<_> = self
            .td3
            .find_iter(scan.bytes())
            .filter(|m| stands_alone(scan.bytes(), m.start(), m.end()))
            .filter_map(|m| Some((m.start(), td3(m.as_bytes())?)))
            .chain(
                self.td1
                    .find_iter(scan.bytes())
                    .filter(|m| stands_alone(scan.bytes(), m.start(), m.end()))
                    .filter_map(|m| Some((m.start(), td1(m.as_bytes())?))),
            )
            .collect();
        for (start, (detector, number)) in zones {
            scan.emit(detector, number, Confidence::High, start);
        }
    }
}

/// Not part of a longer run of MRZ characters.
fn stands_alone(bytes: &[u8], start: usize, end: usize) -> bool {
    let mrz = |b: Option<&u8>| b.is_some_and(|&b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'<');
    !mrz(start.checked_sub(1).and_then(|s| bytes.get(s))) && !mrz(bytes.get(end))
}

/// ICAO 9303 check digit: digits are their value, letters 10–35, `<` zero; weights 7, 3, 1.
pub(crate) fn check_digit(field: &[u8]) -> u8 {
    let value = |c: u8| match c {
        b'0'..=b'9' => u32::from(c - b'0'),
        b'A'..=b'Z' => u32::from(c - b'A') + 10,
        _ => 0,
    };
    let sum: u32 = field.iter().zip([7, 3, 1].iter().cycle()).map(|(&c, w)| value(c) * w).sum();
    b'0' + u8::try_from(sum % 10).unwrap_or(0)
}

fn checks(field: &[u8], digit: u8) -> bool {
    check_digit(field) == digit
}

/// Validates TD3 line 2 (44 characters); returns the document number.
fn td3(line: &[u8]) -> Option<(DetectorId, String)> {
    let number = &line[0..9];
    let optional = &line[28..42];
    // An empty optional field may carry `<` instead of its check digit.
    let optional_ok = checks(optional, line[42]) || (line[42] == b'<' && optional.iter().all(|&c| c == b'<'));
    let composite: Vec<u8> = [&line[0..10], &line[13..20], &line[21..43]].concat();
    let valid = checks(number, line[9])
        && checks(&line[13..19], line[19])
        && checks(&line[21..27], line[27])
        && optional_ok
        && checks(&composite, line[43]);
    valid.then(|| (DetectorId::MrzTd3, document_number(number)))
}

/// Validates TD1 lines 1 and 2 (30 characters each, joined by a line break); returns the
/// document number. A number longer than nine characters continues in the optional data,
/// with `<` in the check position and its check digit after it (ICAO 9303 part 5).
fn td1(zone: &[u8]) -> Option<(DetectorId, String)> {
    let line1 = zone.get(..30)?;
    let line2_start = zone.len().checked_sub(30)?;
    let line2 = &zone[line2_start..];
    let (number, number_ok) = if line1[14] == b'<' {
        let rest = &line1[15..30];
        let len = rest.iter().position(|&c| c == b'<').unwrap_or(rest.len());
        let (extension, digit) = rest[..len].split_at(len.checked_sub(1)?);
        let number = [&line1[5..14], extension].concat();
        let ok = checks(&number, digit[0]);
        (number, ok)
    } else {
        (line1[5..14].to_vec(), checks(&line1[5..14], line1[14]))
    };
    let composite: Vec<u8> = [&line1[5..30], &line2[0..7], &line2[8..15], &line2[18..29]].concat();
    let valid = number_ok
        && checks(&line2[0..6], line2[6])
        && checks(&line2[8..14], line2[14])
        && checks(&composite, line2[29]);
    valid.then(|| (DetectorId::MrzTd1, document_number(&number)))
}

fn document_number(field: &[u8]) -> String {
    String::from_utf8_lossy(field).trim_end_matches('<').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detectors::assert_finds_what_the_whole_text_search_finds;

    #[test]
    fn passports_are_what_the_regex_finds_in_the_whole_text() {
        let travel = Travel::new().expect("patterns");
        let texts = [
            "Hộ chiếu B1234567, C 1234567, DH609928755207, xB1234567 B12345678 B1234567X (N7654321)",
            "ORDER K0000001-K0000002 AB1234567 A1234567.5 Z9999999",
        ];
        assert_finds_what_the_whole_text_search_finds(&travel.passport, &texts, |bytes, all| {
            travel.passports(bytes, all)
        });
    }
}
