//! E-mail addresses (spec §2.9): the pragmatic RFC 5322 subset of the spec (dot-atom local
//! part, ASCII or punycode domain).

use super::super::finding::{Confidence, DetectorId};
use super::{Scan, regex};
use regex::bytes::Regex;

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

    pub(super) fn scan(&self, scan: &mut Scan<'_>) {
        let found: Vec<_> = self.address.find_iter(scan.bytes()).map(|m| m.range()).collect();
        for range in found {
            let value = scan.text[range.clone()].to_ascii_lowercase();
            let Some((local, domain)) = value.split_once('@') else { continue };
            let confidence = if ROLES.contains(&local) { Confidence::Low } else { Confidence::Medium };
            let sample = format!("{}***@{domain}", local.chars().next().unwrap_or('*'));
            scan.emit(DetectorId::Email, value, confidence, range.start, sample);
        }
    }
}
