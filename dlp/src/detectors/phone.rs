//! Telephone numbers (spec §2.4): mobiles and landlines in national or `+84` form, validated
//! against libphonenumber's VN patterns, and pre-2018 11-digit mobiles mapped to their new
//! prefix so both spellings of one number count once.

use super::super::data::{FIXED, LEGACY_MOBILE, MOBILE, class};
use super::super::finding::{Confidence, DetectorId};
use super::{Pattern, Scan, Stretch, continues, digits, find_from, kind, mst_valid, regex, starts_word, stretches};
use regex::bytes::Regex;
use std::borrow::Cow;
use std::ops::Range;

pub(super) struct Phone {
    number: Pattern,
    legacy: Pattern,
    /// Whether a national number of nine digits (a mobile) or ten (a fixed line) is valid,
    /// by its first three digits. libphonenumber's patterns are a prefix of two or three
    /// digits followed by any digits, so the prefix decides; a list has a number on every
    /// row, and a look-up costs a fraction of matching the pattern.
    mobile: [bool; 1000],
    fixed: [bool; 1000],
}

const SEPARATORS: [u8; 3] = [b' ', b'.', b'-'];

impl Phone {
    pub(super) fn new() -> Result<Self, regex::Error> {
        Ok(Phone {
            number: Pattern::new(r"(?:(?:\+|\b00)84[ .\-]?\(?0?\)?|\b0)((?:[ .\-]?[0-9]){9,10})\b")?,
            legacy: Pattern::new(r"\b01(?:2[0-9]|6[2-9]|8[68]|99)[ .\-]?[0-9]{3}[ .\-]?[0-9]{4}\b")?,
            mobile: by_prefix(&regex(&format!("^(?:{MOBILE})$"))?, 9),
            fixed: by_prefix(&regex(&format!("^(?:{FIXED})$"))?, 10),
        })
    }

    pub(super) fn scan(&self, scan: &mut Scan<'_, '_>) {
        let text = scan.text;
        let bytes = text.as_bytes();
        let mut found = Vec::new();
        for whole in self.matches(bytes, &scan.stretches) {
            let number = &bytes[whole.clone()];
            let Some(group) = self.national_part(bytes, whole.clone()) else { continue };
            let international = !number.starts_with(b"0") || number.starts_with(b"00");
            let contiguous = group.iter().all(u8::is_ascii_digit);
            // The number in its national form `0…`: in a list, most are written so already.
            let value: Cow<'_, str> = if contiguous && !international {
                Cow::Borrowed(&text[whole.clone()])
            } else {
                let mut national = String::with_capacity(group.len() + 1);
                national.push('0');
                national.extend(group.iter().filter(|b| b.is_ascii_digit()).map(|&b| char::from(b)));
                Cow::Owned(national)
            };
            let national = &value.as_bytes()[1..];
            let valid = match (national.len(), prefix(national)) {
                (9, Some(prefix)) => self.mobile[prefix],
                (10, Some(prefix)) => self.fixed[prefix],
                _ => false,
            };
            if valid {
                found.push((whole.start, whole.end, value, international, contiguous));
            }
        }
        for (start, end, value, international, contiguous) in found {
            if continues(bytes, start, end, &SEPARATORS) {
                continue;
            }
            let context = scan.context(start, end);
            // A 10-digit string starting 0 may be a tax code too (spec §2.3): without context
            // neither reading is trusted; with tax-code context, written in groups or not, it
            // is the tax code (the number detector reports it).
            let valid_mst = !international && mst_valid(value.as_bytes());
            let doubles_as_mst = valid_mst && contiguous;
            let confidence = if context & class::PHONE != 0 {
                Confidence::High
            } else if valid_mst && context & class::MST != 0 {
                continue;
            } else if doubles_as_mst {
                Confidence::Low
            } else {
                Confidence::Medium
            };
            scan.emit(DetectorId::Phone, value, confidence, start);
        }
        // Eleven digits with separators.
        let mut legacy = Vec::new();
        for (start, haystack) in
            stretches(scan.bytes(), &scan.stretches, kind::DIGIT | kind::SPACE | kind::DOT | kind::DASH, 11, 0)
        {
            // Every old mobile number is a word that opens with `01`.
            let opens = |p: usize| haystack[p..].starts_with(b"01") && starts_word(haystack, p);
            if !(start..haystack.len()).any(opens) {
                continue;
            }
            find_from(&self.legacy, haystack, start, &mut legacy);
        }
        for range in legacy {
            let Some(value) = modern_number(&digits(&scan.bytes()[range.clone()])) else { continue };
            let confidence = if scan.context(range.start, range.end) & class::PHONE != 0 {
                Confidence::High
            } else {
                Confidence::Medium
            };
            scan.emit(DetectorId::Phone, value, confidence, range.start);
        }
    }
}

impl Phone {
    /// The matches of the number pattern in `bytes`, whose [`Stretch`]es are `all`: what the
    /// pattern finds in the whole text.
    fn matches(&self, bytes: &[u8], all: &[Stretch]) -> Vec<Range<usize>> {
        let mut found = Vec::new();
        // `0` and nine digits at least, with `+`, brackets and separators.
        let class = kind::DIGIT | kind::SPACE | kind::DOT | kind::DASH | kind::SIGN;
        for (start, haystack) in stretches(bytes, all, class, 10, 0) {
            // Every number opens with `+` or with a `0` that starts a word: most stretches of
            // logs and lists (dates, amounts, other identifiers) have neither.
            let opens = |p: usize| haystack[p] == b'+' || (haystack[p] == b'0' && starts_word(haystack, p));
            if !(start..haystack.len()).any(opens) {
                continue;
            }
            // In a stretch of digits alone the pattern can only match the whole: `0` and nine
            // or ten digits, or `0084`, perhaps `0`, and nine or ten digits. The identity and
            // tax numbers of a list are skipped so.
            let after = haystack.last().is_some_and(|&b| kind::OF[usize::from(b)] & class == 0);
            let run = &haystack[start..haystack.len() - usize::from(after)];
            if run.iter().all(u8::is_ascii_digit)
                && !(run.starts_with(b"0084") && (13..=15).contains(&run.len()))
                && !(run.starts_with(b"0") && (10..=11).contains(&run.len()))
            {
                continue;
            }
            find_from(&self.number, haystack, start, &mut found);
        }
        found
    }

    /// The national part (the pattern's group) of the match `whole` in `haystack`.
    /// A match that opens neither with `+` nor with `0084` can only be the `\b0` branch, whose
    /// group is all but the `0`; the others ask the regex engine for the group, which costs
    /// a second, slower search.
    fn national_part<'h>(&self, haystack: &'h [u8], whole: Range<usize>) -> Option<&'h [u8]> {
        let bytes = &haystack[whole.clone()];
        if !bytes.starts_with(b"+") && !bytes.starts_with(b"0084") {
            return bytes.get(1..);
        }
        self.number.anywhere.captures_at(haystack, whole.start)?.get(1).map(|g| g.as_bytes())
    }
}

/// For each three-digit prefix, whether `pattern` matches it followed by zeros to `len` digits.
fn by_prefix(pattern: &Regex, len: usize) -> [bool; 1000] {
    std::array::from_fn(|prefix| pattern.is_match(format!("{prefix:03}{:0>1$}", "", len - 3).as_bytes()))
}

/// The number the first three digits of `digits` make.
fn prefix(digits: &[u8]) -> Option<usize> {
    let [a, b, c, ..] = *digits else { return None };
    Some(usize::from(a - b'0') * 100 + usize::from(b - b'0') * 10 + usize::from(c - b'0'))
}

/// The 10-digit number an 11-digit pre-2018 mobile number became.
fn modern_number(old: &str) -> Option<String> {
    let prefix = old.get(..4)?;
    let (_, new) = LEGACY_MOBILE.iter().find(|(o, _)| *o == prefix)?;
    Some(format!("{new}{}", old.get(4..)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detectors::assert_finds_what_the_whole_text_search_finds;

    #[test]
    fn a_national_number_is_valid_as_its_pattern_says() {
        let phone = Phone::new().expect("patterns");
        let mobile = regex(&format!("^(?:{MOBILE})$")).expect("mobile");
        let fixed = regex(&format!("^(?:{FIXED})$")).expect("fixed");
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        let mut valid = 0;
        for prefix in 0..1000 {
            for len in [9, 10] {
                for _ in 0..8 {
                    let mut number = format!("{prefix:03}");
                    while number.len() < len {
                        seed ^= seed << 13;
                        seed ^= seed >> 7;
                        seed ^= seed << 17;
                        number.push(char::from(b'0' + (seed % 10) as u8));
                    }
                    let expected =
                        if len == 9 { mobile.is_match(number.as_bytes()) } else { fixed.is_match(number.as_bytes()) };
                    let table = if len == 9 { phone.mobile[prefix] } else { phone.fixed[prefix] };
                    assert_eq!(table, expected, "{number}");
                    valid += usize::from(expected);
                }
            }
        }
        assert!(valid > 1000, "{valid}");
    }

    #[test]
    fn national_part_is_the_pattern_group() {
        let phone = Phone::new().expect("patterns");
        let text = "0912 345 678, 0912.345.678, +84 912 345 678, +84 (0) 912345678, +840912345678, \
            0084 912 345 678, 0084912345678, 00849123456789, 028 3829 5555, (+84) 28-3829-5555, 0912-345-6789";
        let bytes = text.as_bytes();
        let mut from = 0;
        let mut seen = 0;
        while let Some(caps) = phone.number.anywhere.captures_at(bytes, from) {
            let (Some(whole), Some(group)) = (caps.get(0), caps.get(1)) else { break };
            assert_eq!(phone.national_part(bytes, whole.range()), Some(group.as_bytes()), "{:?}", whole.as_bytes());
            from = whole.end();
            seen += 1;
        }
        assert!(seen >= 10, "{seen} matches");
    }

    #[test]
    fn matches_are_what_the_pattern_finds_in_the_whole_text() {
        let phone = Phone::new().expect("patterns");
        let texts = [
            "0912345678,031062142467,0332680253,09123456789,0084912345678,00849123456789,0084123,4028735276067007",
            "SĐT 0912 345 678; 0912345678 0987654321; +84912345678, 1 0912345678 2, x0912345678 0912345678x",
            "084912345678 0840912345678 00840912345678 008409123456789 0123456789012 012345678",
        ];
        assert_finds_what_the_whole_text_search_finds(&phone.number, &texts, |bytes, all| phone.matches(bytes, all));
    }
}
