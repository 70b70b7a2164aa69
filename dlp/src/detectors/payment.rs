//! Payment cards (Luhn, NAPAS `9704` BINs) and VietQR payloads (EMVCo TLV, CRC-16) — spec §2.7.

use super::super::data::class;
use super::super::finding::{Confidence, DetectorId};
use super::{Pattern, Scan, continues, digits_of, find_from, kind, stretches};

pub(super) struct Payment {
    card: Pattern,
    /// The opening of a VietQR payload: its format indicator, `00` `02` `01`.
    qr_start: memchr::memmem::Finder<'static>,
}

const CARD_SEPARATORS: [u8; 2] = [b' ', b'-'];

impl Payment {
    pub(super) fn new() -> Result<Self, regex::Error> {
        Ok(Payment {
            card: Pattern::new(r"\b(?:[0-9][ \-]?){15,18}[0-9]\b")?,
            qr_start: memchr::memmem::Finder::new(b"000201"),
        })
    }

    pub(super) fn scan(&self, scan: &mut Scan<'_, '_>) {
        let mut found = Vec::new();
        // 16 to 19 digits, with spaces or dashes between them.
        let class = kind::DIGIT | kind::SPACE | kind::DASH;
        for (start, haystack) in stretches(scan.bytes(), &scan.stretches, class, 16, 0) {
            find_from(&self.card, haystack, start, &mut found);
        }
        for range in found {
            if continues(scan.bytes(), range.start, range.end, &CARD_SEPARATORS) {
                continue;
            }
            let number = digits_of(&scan.text[range.clone()]);
            if number.len() != 16 && number.len() != 19 {
                continue;
            }
            let confidence = match (luhn(number.as_bytes()), known_issuer(&number)) {
                (true, true) => Confidence::High,
                (true, false) => Confidence::Low,
                // Whether every NAPAS issuer uses a Luhn digit is unconfirmed (spec §2.7).
                (false, _) if number.starts_with("9704") && scan.context(range.start, range.end) & class::CARD != 0 => {
                    Confidence::Medium
                }
                (false, _) => continue,
            };
            scan.emit(DetectorId::Card, number, confidence, range.start);
        }
        // The payload opens with six digits, which lie in a stretch: only those are searched.
        let mut starts = Vec::new();
        for stretch in scan.stretches.iter() {
            let within = &scan.bytes()[stretch.start..stretch.end];
            starts.extend(self.qr_start.find_iter(within).map(|at| stretch.start + at));
        }
        let mut covered = 0;
        for start in starts {
            if start < covered {
                continue;
            }
            let Some(qr) = vietqr(&scan.bytes()[start..]) else { continue };
            covered = start + qr.len;
            let value = format!("{}{}", qr.bin, qr.account);
            scan.emit(DetectorId::VietQr, value, Confidence::High, start);
        }
    }
}

/// Luhn (ISO/IEC 7812) check over all digits, the last being the check digit.
pub(crate) fn luhn(number: &[u8]) -> bool {
    let sum: u32 = number
        .iter()
        .rev()
        .enumerate()
        .map(|(i, d)| {
            let d = u32::from(d - b'0');
            if i % 2 == 1 { if d > 4 { d * 2 - 9 } else { d * 2 } } else { d }
        })
        .sum();
    sum.is_multiple_of(10)
}

/// NAPAS (`9704`) and the international brands of spec §2.7.
fn known_issuer(number: &str) -> bool {
    let prefix = |n: usize| number.get(..n).and_then(|p| p.parse::<u32>().ok()).unwrap_or(0);
    number.starts_with("9704")
        || number.starts_with('4')
        || (51..=55).contains(&prefix(2))
        || (2221..=2720).contains(&prefix(4))
        || number.starts_with("35")
        || number.starts_with("62")
        || number.starts_with("6011")
        || number.starts_with("65")
        || (644..=649).contains(&prefix(3))
}

/// A VietQR payload's account: the BIN and account number of its NAPAS merchant field.
struct VietQr {
    len: usize,
    bin: String,
    account: String,
}

/// Parses an EMVCo merchant-presented payload at the start of `s`: `00 02 01`, point of
/// initiation `01` = 11/12, merchant account field `38` with the NAPAS GUID `A000000727`, and
/// the closing `63 04` CRC-16/CCITT-FALSE over everything before it, which must verify.
fn vietqr(s: &[u8]) -> Option<VietQr> {
    // EMVCo payloads are at most 512 characters, so a field count bounds the walk.
    const MAX_FIELDS: usize = 64;
    let mut pos = 0;
    let mut initiation = false;
    let mut merchant = None;
    for _ in 0..MAX_FIELDS {
        let (tag, value, next) = tlv(s, pos)?;
        match tag {
            b"00" if pos != 0 || value != b"01" => return None,
            b"01" => initiation = value == b"11" || value == b"12",
            b"38" => merchant = Some(value),
            b"63" => {
                if value.len() != 4 || !initiation {
                    return None;
                }
                let crc = format!("{:04X}", crc16_ccitt_false(&s[..pos + 4]));
                if !crc.as_bytes().eq_ignore_ascii_case(value) {
                    return None;
                }
                let (bin, account) = napas_account(merchant?)?;
                return Some(VietQr { len: next, bin, account });
            }
            _ => {}
        }
        pos = next;
    }
    None
}

/// The tag, value and end of the TLV field at `pos`: two-digit tag, two-digit length.
fn tlv(s: &[u8], pos: usize) -> Option<(&[u8], &[u8], usize)> {
    let tag = s.get(pos..pos + 2)?;
    let len = s.get(pos + 2..pos + 4)?;
    if !tag.iter().chain(len).all(u8::is_ascii_digit) {
        return None;
    }
    let len = usize::from(len[0] - b'0') * 10 + usize::from(len[1] - b'0');
    let value = s.get(pos + 4..pos + 4 + len)?;
    Some((tag, value, pos + 4 + len))
}

/// BIN and account number in a merchant account field: sub-field `00` the NAPAS GUID,
/// sub-field `01` holding `00` BIN and `01` account.
fn napas_account(field: &[u8]) -> Option<(String, String)> {
    let mut guid = false;
    let mut beneficiary = None;
    let mut pos = 0;
    while pos < field.len() {
        let (tag, value, next) = tlv(field, pos)?;
        match tag {
            b"00" => guid = value == b"A000000727",
            b"01" => beneficiary = Some(value),
            _ => {}
        }
        pos = next;
    }
    let beneficiary = beneficiary.filter(|_| guid)?;
    let (mut bin, mut account) = (None, None);
    let mut pos = 0;
    while pos < beneficiary.len() {
        let (tag, value, next) = tlv(beneficiary, pos)?;
        match tag {
            b"00" => bin = Some(String::from_utf8_lossy(value).into_owned()),
            b"01" => account = Some(String::from_utf8_lossy(value).into_owned()),
            _ => {}
        }
        pos = next;
    }
    Some((bin?, account?))
}

/// CRC-16/CCITT-FALSE: polynomial 0x1021, initial value 0xFFFF, no reflection, no final XOR.
pub(crate) fn crc16_ccitt_false(data: &[u8]) -> u16 {
    data.iter().fold(0xFFFF_u16, |crc, &b| {
        (0..8).fold(crc ^ (u16::from(b) << 8), |crc, _| if crc & 0x8000 != 0 { (crc << 1) ^ 0x1021 } else { crc << 1 })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn luhn_completions_of_the_spec() {
        for (base, check) in [
            ("970436000000000", b'8'),
            ("970415000000001", b'1'),
            ("970418123456789012", b'8'),
            ("970405987654321098", b'4'),
        ] {
            let mut number = base.as_bytes().to_vec();
            number.push(check);
            assert!(luhn(&number), "{base}");
            number.pop();
            number.push(if check == b'9' { b'0' } else { check + 1 });
            assert!(!luhn(&number), "{base} with a wrong check digit");
        }
    }

    #[test]
    fn crc_of_the_public_vietqr_test_string() {
        let payload = b"00020101021238600010A00000072701300006970403011697040311012345670208QRIBFTTC530370454061800005802VN62340107NPS68690819thanh toan don hang6304";
        assert_eq!(crc16_ccitt_false(payload), 0xA203);
        let full = [payload.as_slice(), b"A203"].concat();
        let qr = vietqr(&full);
        assert_eq!(
            qr.as_ref().map(|q| (q.bin.as_str(), q.account.as_str(), q.len)),
            Some(("970403", "9704031101234567", full.len()))
        );
    }
}
