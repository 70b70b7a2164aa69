//! E-mail addresses (spec §2.9): the pragmatic RFC 5322 subset of the spec (dot-atom local
//! part, ASCII or punycode domain).

use super::super::finding::{Confidence, DetectorId, Sample};
use super::{Pattern, Scan, find_from};
use std::borrow::Cow;

pub(super) struct Email {
    address: Pattern,
}

/// The pragmatic address of the spec: a dot-atom local part and a domain of labels.
const ADDRESS: &str = r"\b[A-Za-z0-9._%+\-]+@(?:[A-Za-z0-9](?:[A-Za-z0-9\-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}\b";

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
        Ok(Email { address: Pattern::new(ADDRESS)? })
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detectors::assert_finds_what_the_whole_text_search_finds;

    #[test]
    fn addresses_are_what_the_pattern_finds_in_the_whole_text() {
        let email = Email::new().expect("pattern");
        let texts = [
            "1,Phạm Gia Bình,hoang.lan46@example.vn,\"273 đường An\",x.y@khanhhoa.gov.vn;a@b.c@d.vn",
            ".lead@example.vn -dash@example.vn _under@example.vn a..b@x.vn @example.vn user@ user@host",
            "email=le.nam895@khanhhoa.gov.vn accepted a@b.cd@e.fg ü@x.vn xü@y.vn é.a@x.vn a@-x.vn a@x-.vn",
        ];
        assert_finds_what_the_whole_text_search_finds(&email.address, &texts, |bytes, _| email.addresses(bytes));
    }
}
