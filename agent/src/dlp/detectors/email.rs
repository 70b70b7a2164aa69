//! E-mail addresses (spec §2.9): the pragmatic RFC 5322 subset of the spec (dot-atom local
//! part, ASCII or punycode domain).

use super::super::finding::{Confidence, DetectorId, Sample};
use super::{Scan, find_from, regex};
use regex::bytes::Regex;
use std::borrow::Cow;

pub(super) struct Email {
    address: Regex,
}

/// Local parts of role mailboxes, which name an office rather than a person.
const ROLES: [&str; 14] = [
    "admin",
    "contact",
    "hotro",
    "info",
    "lienhe",
    "mail",
    "no-reply",
    "noreply",
    "office",
    "postmaster",
    "support",
    "vanphong",
    "vanthu",
    "webmaster",
];

impl Email {
    pub(super) fn new() -> Result<Self, regex::Error> {
        Ok(Email {
            address: regex(
                r"\b[A-Za-z0-9._%+\-]+@(?:[A-Za-z0-9](?:[A-Za-z0-9\-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}\b",
            )?,
        })
    }

    pub(super) fn scan(&self, scan: &mut Scan<'_, '_>) {
        let found = self.addresses(scan.bytes());
        for range in found {
            let address = &scan.text[range.clone()];
            let value = if address.bytes().any(|b| b.is_ascii_uppercase()) {
                Cow::Owned(address.to_ascii_lowercase())
            } else {
                Cow::Borrowed(address)
            };
            let Some((local, _)) = value.split_once('@') else { continue };
            let confidence = if ROLES.contains(&local) { Confidence::Low } else { Confidence::Medium };
            scan.emit_sampled(DetectorId::Email, value, confidence, range.start, Sample::Address);
        }
    }

    /// The matches of the address pattern, found without running it over the whole text: every
    /// address lies in a stretch of address characters around an `@`, and the pattern finds
    /// the same matches searched stretch by stretch as over the whole text. Each search sees
    /// the text before its stretch and the byte after it, so `\b` reads as it would there.
    fn addresses(&self, bytes: &[u8]) -> Vec<std::ops::Range<usize>> {
        let mut found = Vec::new();
        let mut searched = 0;
        for at in memchr::memchr_iter(b'@', bytes) {
            if at < searched {
                continue;
            }
            let start = bytes[..at].iter().rposition(|&b| !is_address_byte(b)).map_or(0, |p| p + 1);
            let end = bytes[at..].iter().position(|&b| !is_address_byte(b)).map_or(bytes.len(), |p| at + p);
            let haystack = &bytes[..(end + 1).min(bytes.len())];
            find_from(&self.address, haystack, start, &mut found);
            searched = end;
        }
        found
    }
}

/// A byte the address pattern can match: letters, digits, `._%+-` and `@`.
fn is_address_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'%' | b'+' | b'-' | b'@')
}
