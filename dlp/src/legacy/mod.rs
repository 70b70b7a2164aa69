//! Legacy Vietnamese encodings (spec §3.5): TCVN3 (ABC), VNI-Windows, Windows-1258, VISCII
//! and VIQR, decoded to Unicode; which encoding a font or a byte string is in; and the
//! "as seen" form, in which an extractor hands legacy bytes over as Windows-1252 characters.
//!
//! Decoders never fail: a byte an encoding leaves undefined decodes as its Windows-1252
//! character. Output may hold combining marks (VNI, Windows-1258, VIQR); the view built on it
//! composes them (NFC/NFKC), so decoded text is matched in its precomposed form.

mod tables;

use super::canon::{self, OffsetMap};
use aho_corasick::{AhoCorasick, MatchKind};
use serde::Serialize;
use std::borrow::Cow;
use std::sync::OnceLock;
use tables::Vni;
use unicode_normalization::char::decompose_canonical;

/// A legacy Vietnamese encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Encoding {
    /// TCVN 5712 "ABC" (fonts `.VnTime`, `.VnArial`, their upper-case `…H` companions).
    Tcvn3,
    /// VNI-Windows (fonts `VNI-Times`, `VNI-Helve`, …): base letter + mark byte.
    Vni,
    /// Windows code page 1258: base letter + combining tone mark.
    Windows1258,
    /// VISCII (RFC 1456).
    Viscii,
    /// VIQR (RFC 1456): ASCII with marks spelled `^ ( + ' \` ? ~ .`.
    Viqr,
}

/// The single-byte encodings, in the order ties are broken (TCVN3 dominates agency files of
/// the north and centre, VNI those of the south).
pub(crate) const SINGLE_BYTE: [Encoding; 4] = [Encoding::Tcvn3, Encoding::Vni, Encoding::Windows1258, Encoding::Viscii];

/// The encoding a font's text is stored in (spec §8.2), for extractors that know each run's
/// font (OOXML `w:rFonts`, the `.doc` font table, RTF `\f`, PDF `/BaseFont`): `.Vn…` fonts are
/// TCVN3, `VNI-…`/`VNI …` fonts are VNI; `None` means the run is Unicode (or unknown).
pub fn font_encoding(name: &str) -> Option<Encoding> {
    let name = name.trim().trim_start_matches('"');
    let lower = name.to_ascii_lowercase();
    if lower.starts_with(".vn") {
        Some(Encoding::Tcvn3)
    } else if lower.starts_with("vni-") || lower.starts_with("vni ") {
        Some(Encoding::Vni)
    } else {
        None
    }
}

/// Decodes legacy bytes to Unicode (not yet normalised; see the module documentation).
pub fn decode(bytes: &[u8], encoding: Encoding) -> String {
    decode_mapped(bytes, encoding).0
}

/// [`decode`] plus the map from offsets in the decoded text back to `bytes`.
pub(crate) fn decode_mapped(bytes: &[u8], encoding: Encoding) -> (String, OffsetMap) {
    if encoding == Encoding::Viqr {
        // VIQR is ASCII; its marks add characters, so offsets are exact at line starts only.
        let text = String::from_utf8_lossy(bytes);
        let mut out = String::with_capacity(bytes.len());
        let mut map = OffsetMap::default();
        let mut consumed = 0;
        for line in text.split_inclusive('\n') {
            out.push_str(&decode_viqr(line));
            consumed += line.len();
            map.pin(out.len(), consumed);
        }
        return (out, map);
    }
    decode_units(bytes.iter().enumerate().map(|(i, &b)| (b, i + 1)), encoding)
}

/// [`decode_mapped`] of the lines of `bytes` no longer than `max_line` bytes; longer lines are
/// left empty (their line breaks are kept, so line numbers stay those of `bytes`).
pub(crate) fn decode_short_lines(bytes: &[u8], encoding: Encoding, max_line: usize) -> (String, OffsetMap) {
    let mut offset = 0;
    let units = bytes.split_inclusive(|&b| b == b'\n').flat_map(move |line| {
        let start = offset;
        offset += line.len();
        let body = line.strip_suffix(b"\n").unwrap_or(line);
        let skip = if body.len() <= max_line { 0 } else { body.len() };
        line.iter().enumerate().skip(skip).map(move |(i, &b)| (b, start + i + 1))
    });
    decode_units(units, encoding)
}

/// Decodes bytes each given with the input offset just past it; every byte yields one
/// character (VNI mark bytes one or two combining marks).
fn decode_units(units: impl Iterator<Item = (u8, usize)>, encoding: Encoding) -> (String, OffsetMap) {
    let (low, _) = units.size_hint();
    let mut out = String::with_capacity(low + low / 2);
    let mut map = OffsetMap::default();
    for (b, end) in units {
        match encoding {
            Encoding::Tcvn3 if b >= 0x80 => out.push(tables::TCVN3_HIGH[usize::from(b - 0x80)]),
            Encoding::Viscii if b >= 0x80 => out.push(tables::VISCII_HIGH[usize::from(b - 0x80)]),
            Encoding::Viscii => out.push(tables::viscii_low(b)),
            Encoding::Windows1258 if b >= 0x80 => out.push(windows_1258()[usize::from(b - 0x80)]),
            Encoding::Vni => match tables::vni(b) {
                Vni::Letter(c) => out.push(c),
                Vni::Marks(marks) => out.push_str(marks),
            },
            _ => out.push(char::from(b)),
        }
        if b == b'\n' {
            map.pin(out.len(), end);
        } else {
            map.note(out.len(), end);
        }
    }
    (out, map)
}

/// Windows-1258 bytes 0x80–0xFF, taken from encoding_rs (which maps each to one character).
fn windows_1258() -> &'static [char; 128] {
    static TABLE: OnceLock<[char; 128]> = OnceLock::new();
    TABLE.get_or_init(|| {
        let high: Vec<u8> = (0x80..=0xFF).collect();
        let (decoded, _) = encoding_rs::WINDOWS_1258.decode_without_bom_handling(&high);
        let mut table = ['\u{FFFD}'; 128];
        table.iter_mut().zip(decoded.chars()).for_each(|(slot, c)| *slot = c);
        table
    })
}

/// The bytes behind text an extractor returned for a legacy-font run, which it read as
/// Windows-1252 (or Latin-1); `None` when a character has no such byte, i.e. the text is not
/// legacy text seen through Windows-1252.
pub fn seen_to_bytes(text: &str) -> Option<Vec<u8>> {
    text.chars().map(tables::cp1252_byte).collect()
}

/// Decodes text an extractor returned for a run in a legacy font (see [`seen_to_bytes`]).
/// The soft hyphen U+00AD must still be in `text`: in TCVN3 it is the letter ư.
pub fn decode_seen(text: &str, encoding: Encoding) -> Option<String> {
    decode_seen_mapped(text, encoding).map(|(decoded, _)| decoded)
}

/// [`decode_seen`] plus the map from offsets in the decoded text back to `text`.
pub(crate) fn decode_seen_mapped(text: &str, encoding: Encoding) -> Option<(String, OffsetMap)> {
    if encoding == Encoding::Viqr {
        return text.is_ascii().then(|| decode_mapped(text.as_bytes(), encoding));
    }
    let units: Option<Vec<(u8, usize)>> =
        text.char_indices().map(|(i, c)| tables::cp1252_byte(c).map(|b| (b, i + c.len_utf8()))).collect();
    Some(decode_units(units?.into_iter(), encoding))
}

/// Decodes VIQR (RFC 1456): a vowel followed by `(` (breve), `^` (circumflex) or `+` (horn),
/// then by a tone `'` `` ` `` `?` `~` `.`; `dd` is đ; `\` makes the next character literal.
/// Marks come out as combining characters after their vowel.
pub fn decode_viqr(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    // The vowel marks may attach to, and whether it already has a modifier and a tone.
    let mut vowel: Option<(char, bool, bool)> = None;
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let Some(next) = chars.next() {
                    out.push(next);
                }
                vowel = None;
            }
            'd' | 'D' if matches!(chars.peek(), Some('d' | 'D')) => {
                chars.next();
                out.push(if c == 'D' { 'Đ' } else { 'đ' });
                vowel = None;
            }
            '(' | '^' | '+' => match vowel {
                Some((v, false, false)) if modifier_fits(c, v) => {
                    out.push(match c {
                        '(' => '\u{0306}',
                        '^' => '\u{0302}',
                        _ => '\u{031B}',
                    });
                    vowel = Some((v, true, false));
                }
                _ => {
                    out.push(c);
                    vowel = None;
                }
            },
            '\'' | '`' | '?' | '~' | '.' => match vowel {
                Some((v, modified, false)) => {
                    out.push(match c {
                        '\'' => '\u{0301}',
                        '`' => '\u{0300}',
                        '?' => '\u{0309}',
                        '~' => '\u{0303}',
                        _ => '\u{0323}',
                    });
                    vowel = Some((v, modified, true));
                }
                None | Some((_, _, true)) => {
                    out.push(c);
                    vowel = None;
                }
            },
            _ => {
                out.push(c);
                let lower = c.to_ascii_lowercase();
                vowel = matches!(lower, 'a' | 'e' | 'i' | 'o' | 'u' | 'y').then_some((lower, false, false));
            }
        }
    }
    out
}

fn modifier_fits(modifier: char, vowel: char) -> bool {
    match modifier {
        '(' => vowel == 'a',
        '^' => matches!(vowel, 'a' | 'e' | 'o'),
        _ => matches!(vowel, 'o' | 'u'),
    }
}

/// How a byte string is to be read, from its byte-order mark or its content.
pub(crate) enum Sniffed<'a> {
    /// Unicode text, and the map from its offsets back to the bytes.
    Text(Cow<'a, str>, OffsetMap),
    /// Not Unicode: a legacy single-byte encoding, chosen by [`Scorer::best`].
    Legacy,
}

/// Unicode in any of the forms files carry it: UTF-8 (with or without BOM), UTF-16 with BOM,
/// UTF-16 without BOM recognised by its zero bytes, and UTF-8 with a few broken sequences
/// (decoded lossily). Everything else is legacy.
pub(crate) fn sniff(bytes: &[u8]) -> Sniffed<'_> {
    if let Some(rest) = bytes.strip_prefix(b"\xEF\xBB\xBF") {
        let mut map = OffsetMap::default();
        map.pin(0, 3);
        return Sniffed::Text(String::from_utf8_lossy(rest), map);
    }
    if let Some(rest) = bytes.strip_prefix(b"\xFF\xFE") {
        return utf16(rest, true, 2);
    }
    if let Some(rest) = bytes.strip_prefix(b"\xFE\xFF") {
        return utf16(rest, false, 2);
    }
    if let Some(little_endian) = looks_utf16(bytes) {
        return utf16(bytes, little_endian, 0);
    }
    // Whole files are validated here; the SIMD validator is several times faster than std's
    // on Vietnamese text, and the error's details are not needed.
    match simdutf8::basic::from_utf8(bytes) {
        Ok(text) => Sniffed::Text(Cow::Borrowed(text), OffsetMap::default()),
        Err(_) if mostly_utf8(bytes) => Sniffed::Text(String::from_utf8_lossy(bytes), OffsetMap::default()),
        Err(_) => Sniffed::Legacy,
    }
}

/// UTF-16 text of `bytes`, which start `shift` bytes into the input (after a BOM); unpaired
/// surrogates become U+FFFD, an odd last byte is dropped.
fn utf16(bytes: &[u8], little_endian: bool, shift: usize) -> Sniffed<'static> {
    let units = bytes.chunks_exact(2).map(|pair| {
        let pair = [pair[0], pair[1]];
        if little_endian { u16::from_le_bytes(pair) } else { u16::from_be_bytes(pair) }
    });
    let mut text = String::with_capacity(bytes.len());
    let mut map = OffsetMap::default();
    map.pin(0, shift);
    let mut source = shift;
    for unit in char::decode_utf16(units) {
        let c = match unit {
            Ok(c) => {
                source += c.len_utf16() * 2;
                c
            }
            Err(_) => {
                source += 2;
                char::REPLACEMENT_CHARACTER
            }
        };
        text.push(c);
        if c == '\n' {
            map.pin(text.len(), source);
        } else {
            map.note(text.len(), source);
        }
    }
    Sniffed::Text(Cow::Owned(text), map)
}

/// UTF-16 without a BOM: a zero byte in most odd (little-endian) or even (big-endian)
/// positions of the first kilobytes, and hardly any in the others.
fn looks_utf16(bytes: &[u8]) -> Option<bool> {
    let sample = &bytes[..bytes.len().min(4096)];
    if sample.len() < 4 {
        return None;
    }
    let pairs = sample.len() / 2;
    let zero_even = sample.iter().step_by(2).filter(|&&b| b == 0).count();
    let zero_odd = sample.iter().skip(1).step_by(2).filter(|&&b| b == 0).count();
    if zero_odd * 10 >= pairs * 4 && zero_even * 20 <= pairs {
        Some(true)
    } else if zero_even * 10 >= pairs * 4 && zero_odd * 20 <= pairs {
        Some(false)
    } else {
        None
    }
}

/// UTF-8 with at most one broken sequence per 64 good multi-byte ones (a truncated or
/// spliced file), as opposed to legacy text, where almost every high byte is invalid UTF-8.
fn mostly_utf8(bytes: &[u8]) -> bool {
    let mut good = 0usize;
    let mut bad = 0usize;
    let mut rest = bytes;
    loop {
        match std::str::from_utf8(rest) {
            Ok(valid) => {
                good += valid.chars().filter(|c| !c.is_ascii()).count();
                break;
            }
            Err(e) => {
                let (valid, after) = rest.split_at(e.valid_up_to());
                good += std::str::from_utf8(valid).map_or(0, |v| v.chars().filter(|c| !c.is_ascii()).count());
                bad += 1;
                let skip = e.error_len().unwrap_or(after.len()).max(1);
                rest = after.get(skip..).unwrap_or_default();
                if bad > 1 + good / 64 {
                    return false;
                }
            }
        }
    }
    bad <= good / 64
}

/// Letters of the Vietnamese alphabet outside ASCII, lower case.
const VIETNAMESE_LETTERS: &str = "àáảãạăằắẳẵặâầấẩẫậđèéẻẽẹêềếểễệìíỉĩịòóỏõọôồốổỗộơờớởỡợùúủũụưừứửữựỳýỷỹỵ";

/// Latin-1 characters that are letters of Unicode Vietnamese text too: a run of Windows-1252
/// characters is only taken for legacy text when it holds some other high character.
fn is_latin1_vietnamese(c: char) -> bool {
    c <= '\u{FF}' && canon::is_precomposed_vietnamese(c)
}

fn is_vietnamese_letter(c: char) -> bool {
    c.is_ascii_alphabetic() || VIETNAMESE_LETTERS.contains(canon::fold_char(c))
}

fn has_tone(c: char) -> bool {
    let mut tone = false;
    decompose_canonical(c, |d| tone |= matches!(d, '\u{0300}' | '\u{0301}' | '\u{0303}' | '\u{0309}' | '\u{0323}'));
    tone
}

/// Whether a run of characters could be legacy text read through Windows-1252: all have a
/// Windows-1252 byte, and one is a high character that Unicode Vietnamese does not use.
pub(crate) fn looks_seen(run: &str) -> bool {
    run.chars().any(|c| !c.is_ascii() && !is_latin1_vietnamese(c))
        && run.chars().all(|c| tables::cp1252_byte(c).is_some())
}

/// A character only legacy text seen through Windows-1252 holds: a high character with a
/// Windows-1252 byte that Unicode Vietnamese does not use (the letters of the Vietnamese
/// block have no such byte).
fn is_seen_marker(c: char) -> bool {
    !c.is_ascii()
        && !is_latin1_vietnamese(c)
        && !('\u{1EA0}'..='\u{1EF9}').contains(&c)
        && tables::cp1252_byte(c).is_some()
}

/// Whether `b` is the first byte of the UTF-8 of some [`is_seen_marker`] character: U+00A0–
/// U+00FF (C2, C3), the Windows-1252 letters and signs of U+0152–U+02DC (C5, C6, CB) and
/// U+2013–U+2122 (E2), and U+F000–U+F0FF (EF). Written as comparisons, without branches, so
/// that a block of bytes is tested with vector instructions.
#[inline(always)]
fn is_marker_lead(b: u8) -> bool {
    (b.wrapping_sub(0xC2) < 2) | (b.wrapping_sub(0xC5) < 2) | (b == 0xCB) | (b == 0xE2) | (b == 0xEF)
}

/// Whether `text` may hold a run that [`looks_seen`]: text without an [`is_seen_marker`]
/// character holds none, and most text is that, so its ASCII stretches are skipped in bulk.
pub(crate) fn may_hold_seen(text: &str) -> bool {
    let bytes = text.as_bytes();
    let mut i = 0;
    while let Some(at) = next_marker_lead(bytes, i) {
        let Some(c) = text[at..].chars().next() else { break };
        if is_seen_marker(c) {
            return true;
        }
        i = at + c.len_utf8();
    }
    false
}

/// The offset of the first [`is_marker_lead`] byte of `bytes` at or after `from`. Text that
/// holds none — decomposed Vietnamese, whose letters are ASCII, `đ` and marks — is tested a
/// block at a time.
fn next_marker_lead(bytes: &[u8], from: usize) -> Option<usize> {
    const BLOCK: usize = 32;
    let mut at = from;
    while let Some(block) = bytes.get(at..at + BLOCK) {
        if block.iter().fold(0_u8, |found, &b| found | u8::from(is_marker_lead(b))) != 0 {
            break;
        }
        at += BLOCK;
    }
    bytes.get(at..)?.iter().position(|&b| is_marker_lead(b)).map(|p| at + p)
}

/// Splits `line` into maximal runs of characters that have a Windows-1252 byte, keeping those
/// that [`looks_seen`].
pub(crate) fn seen_runs(line: &str) -> impl Iterator<Item = (usize, &str)> {
    let mut runs = Vec::new();
    let mut start = None;
    for (i, c) in line.char_indices() {
        match (tables::cp1252_byte(c).is_some(), start) {
            (true, None) => start = Some(i),
            (false, Some(s)) => {
                runs.push((s, &line[s..i]));
                start = None;
            }
            _ => {}
        }
    }
    if let Some(s) = start {
        runs.push((s, &line[s..]));
    }
    runs.into_iter().filter(|(_, run)| looks_seen(run))
}

/// How Vietnamese a text reads (spec §3.5 "Choosing the legacy view"): signature words of
/// administrative documents count most; words spelled with Vietnamese letters and at most one
/// tone count for, other non-ASCII words (stray marks, symbols) against.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Score {
    pub(crate) signatures: u32,
    plausible: u32,
    implausible: u32,
}

impl Score {
    pub(crate) fn value(self) -> i64 {
        10 * i64::from(self.signatures) + i64::from(self.plausible) - 2 * i64::from(self.implausible)
    }
}

/// Scores candidate decodings; built once.
pub(crate) struct Scorer {
    signatures: AhoCorasick,
}

/// Signature words (lower case, tone placement normalised like the text they are matched in).
const SIGNATURES: [&str; 24] = [
    "cộng hòa",
    "xã hội chủ nghĩa",
    "việt nam",
    "độc lập",
    "tự do",
    "hạnh phúc",
    "của",
    "được",
    "người",
    "những",
    "trong",
    "không",
    "các",
    "với",
    "theo",
    "quyết định",
    "ủy ban",
    "nhân dân",
    "tỉnh",
    "ngày",
    "tháng",
    "năm",
    "này",
    "một",
];

/// Bytes of a legacy file scored to choose its encoding.
const SAMPLE: usize = 64 * 1024;

impl Scorer {
    pub(crate) fn new() -> Result<Self, aho_corasick::BuildError> {
        let patterns = SIGNATURES.iter().map(|s| {
            let mut s = s.to_string();
            canon::normalize_tone_placement(&mut s);
            s
        });
        Ok(Scorer { signatures: AhoCorasick::builder().match_kind(MatchKind::LeftmostLongest).build(patterns)? })
    }

    /// Scores decoded (not yet canonical) text.
    pub(crate) fn score(&self, decoded: &str) -> Score {
        let (canonical, _) = canon::canonicalize(decoded);
        let mut folded = canon::fold(&canonical);
        canon::normalize_tone_placement(&mut folded);
        let mut score = Score::default();
        for m in self.signatures.find_iter(&folded) {
            let before = folded[..m.start()].chars().next_back();
            let after = folded[m.end()..].chars().next();
            if before.is_none_or(|c| !c.is_alphanumeric()) && after.is_none_or(|c| !c.is_alphanumeric()) {
                score.signatures += 1;
            }
        }
        for word in folded.split(|c: char| !(c.is_alphabetic() || ('\u{0300}'..='\u{036F}').contains(&c))) {
            if word.is_ascii() {
                continue;
            }
            let tones = word.chars().filter(|&c| has_tone(c)).count();
            if tones <= 1 && word.chars().all(is_vietnamese_letter) {
                score.plausible += 1;
            } else {
                score.implausible += 1;
            }
        }
        score
    }

    /// The single-byte encoding `bytes` reads best in, judged on their first [`SAMPLE`] bytes.
    pub(crate) fn best(&self, bytes: &[u8]) -> Encoding {
        let sample = &bytes[..bytes.len().min(SAMPLE)];
        let mut best = (Encoding::Tcvn3, i64::MIN);
        for encoding in SINGLE_BYTE {
            let value = self.score(&decode(sample, encoding)).value();
            if value > best.1 {
                best = (encoding, value);
            }
        }
        best.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nfc(s: &str) -> String {
        canon::canonicalize(s).0
    }

    #[test]
    fn marking_words_decode_in_every_encoding() {
        // Rows of the spec's §3.5 table "Marking words in every encoding".
        // Unicode, then the bytes in TCVN3, VNI, Windows-1258 and VISCII.
        type Row = (&'static str, &'static [u8], &'static [u8], &'static [u8], &'static [u8]);
        let rows: [Row; 5] = [
            ("MẬT", b"\x4D\xCB\x54", b"\x4D\x41\xC4\x54", b"\x4D\xC2\xF2\x54", b"\x4D\x87\x54"),
            ("mật", b"\x6D\xCB\x74", b"\x6D\x61\xE4\x74", b"\x6D\xE2\xF2\x74", b"\x6D\xA7\x74"),
            (
                "TỐI MẬT",
                b"\x54\xE8\x49 \x4D\xCB\x54",
                b"\x54\x4F\xC1\x49 \x4D\x41\xC4\x54",
                b"\x54\xD4\xEC\x49 \x4D\xC2\xF2\x54",
                b"\x54\x8F\x49 \x4D\x87\x54",
            ),
            (
                "ĐỘ MẬT",
                b"\xA7\xE9 \x4D\xCB\x54",
                b"\xD1\x4F\xC4 \x4D\x41\xC4\x54",
                b"\xD0\xD4\xF2 \x4D\xC2\xF2\x54",
                b"\xD0\x93 \x4D\x87\x54",
            ),
            (
                "TÀI LIỆU THU HỒI",
                b"\x54\xB5\x49 \x4C\x49\xD6\x55 THU \x48\xE5\x49",
                b"\x54\x41\xD8\x49 \x4C\x49\x45\xC4\x55 THU \x48\x4F\xC0\x49",
                b"\x54\xC0\x49 \x4C\x49\xCA\xF2\x55 THU \x48\xD4\xCC\x49",
                b"\x54\xC0\x49 \x4C\x49\x8E\x55 THU \x48\x90\x49",
            ),
        ];
        for (unicode, tcvn3, vni, cp1258, viscii) in rows {
            let expected = unicode.to_string();
            // TCVN3 stores capitals as lower-case codes (H fonts), so compare case-folded.
            assert_eq!(canon::fold(&nfc(&decode(tcvn3, Encoding::Tcvn3))), canon::fold(&expected), "tcvn3 {unicode}");
            assert_eq!(nfc(&decode(vni, Encoding::Vni)), expected, "vni {unicode}");
            assert_eq!(nfc(&decode(cp1258, Encoding::Windows1258)), expected, "cp1258 {unicode}");
            assert_eq!(nfc(&decode(viscii, Encoding::Viscii)), expected, "viscii {unicode}");
        }
        assert_eq!(nfc(&decode_viqr("TUYE^.T MA^.T")), "TUYỆT MẬT");
        assert_eq!(nfc(&decode_viqr("DDO^. MA^.T")), "ĐỘ MẬT");
        assert_eq!(
            nfc(&decode_viqr("Chi? ngu+o+`i co' te^n mo+'i ddu+o+.c bo'c bi`")),
            "Chỉ người có tên mới được bóc bì"
        );
        assert_eq!(nfc(&decode_viqr("GIA?I MA^.T")), "GIẢI MẬT");
    }

    #[test]
    fn named_recipient_stamp_in_every_encoding() {
        let expected = "Chỉ người có tên mới được bóc bì";
        let tcvn3 = b"\x43\x68\xD8 \x6E\x67\xAD\xEA\x69 \x63\xE3 \x74\xAA\x6E \x6D\xED\x69 \xAE\xAD\xEE\x63 \x62\xE3\x63 \x62\xD7";
        let vni = b"\x43\x68\xE6 \x6E\x67\xF6\xF4\xF8\x69 \x63\x6F\xF9 \x74\x65\xE2\x6E \x6D\xF4\xF9\x69 \xF1\xF6\xF4\xEF\x63 \x62\x6F\xF9\x63 \x62\xEC";
        let cp1258 = b"\x43\x68\x69\xD2 \x6E\x67\xFD\xF5\xCC\x69 \x63\xF3 \x74\xEA\x6E \x6D\xF5\xEC\x69 \xF0\xFD\xF5\xF2\x63 \x62\xF3\x63 \x62\x69\xCC";
        assert_eq!(nfc(&decode(tcvn3, Encoding::Tcvn3)), expected);
        assert_eq!(nfc(&decode(vni, Encoding::Vni)), expected);
        assert_eq!(nfc(&decode(cp1258, Encoding::Windows1258)), expected);
        // As an extractor returns the TCVN3 run: the soft hyphens are the letter ư.
        let seen = "ChØ ng\u{AD}êi cã tªn míi ®\u{AD}îc bãc b×";
        assert_eq!(decode_seen(seen, Encoding::Tcvn3).map(|s| nfc(&s)), Some(expected.to_string()));
        assert_eq!(decode_seen("Chæ ngöôøi coù teân", Encoding::Vni).map(|s| nfc(&s)), Some("Chỉ người có tên".into()));
        assert_eq!(decode_seen("MẬT", Encoding::Tcvn3), None);
    }

    #[test]
    fn seen_markers_are_what_seen_runs_need() {
        assert!(
            (0..=0xFF)
                .filter_map(char::from_u32)
                .filter(|&c| is_latin1_vietnamese(c))
                .eq("ÀÁÂÃÈÉÊÌÍÒÓÔÕÙÚÝàáâãèéêìíòóôõùúý".chars())
        );
        // Every run seen_runs keeps holds a marker, so a line without one has no runs.
        for c in (0..=0x10FFFF).filter_map(char::from_u32) {
            let s = c.to_string();
            assert_eq!(looks_seen(&s), is_seen_marker(c), "{c:?}");
            assert!(!is_seen_marker(c) || is_marker_lead(s.as_bytes()[0]), "{c:?}");
        }
        assert!(!may_hold_seen("Độ mật: Tối mật, số 0912 345 678"));
        assert!(may_hold_seen("Độ mật: TUYÖT MËT"));
        // Markers before, inside and after whole blocks of text without one.
        let plain = "Đo\u{0302}\u{0323} ma\u{0323}\u{0302}t ".repeat(7);
        for (at, _) in plain.char_indices() {
            assert!(may_hold_seen(&format!("{}Ö{}", &plain[..at], &plain[at..])), "{at}");
        }
        assert!(!may_hold_seen(&plain));
        let leads: Vec<u8> = (0..=0xFF).filter(|&b| is_marker_lead(b)).collect();
        assert_eq!(leads, [0xC2, 0xC3, 0xC5, 0xC6, 0xCB, 0xE2, 0xEF]);
        assert_eq!(seen_runs("abc TUYÖT MËT").count(), 1);
    }

    #[test]
    fn windows_1252_table_matches_encoding_rs() {
        let all: Vec<u8> = (0..=255).collect();
        let (reference, _) = encoding_rs::WINDOWS_1252.decode_without_bom_handling(&all);
        for (b, c) in all.iter().zip(reference.chars()) {
            assert_eq!(tables::cp1252(*b), c, "byte {b:#04X}");
            assert_eq!(tables::cp1252_byte(c), Some(*b), "char {c:?}");
        }
    }

    #[test]
    fn fonts_name_their_encoding() {
        assert_eq!(font_encoding(".VnTime"), Some(Encoding::Tcvn3));
        assert_eq!(font_encoding(".VnTimeH"), Some(Encoding::Tcvn3));
        assert_eq!(font_encoding(".VnArial NarrowH"), Some(Encoding::Tcvn3));
        assert_eq!(font_encoding("VNI-Times"), Some(Encoding::Vni));
        assert_eq!(font_encoding("VNI Helve"), Some(Encoding::Vni));
        assert_eq!(font_encoding("Times New Roman"), None);
        assert_eq!(font_encoding("Vnexpress"), None);
    }

    #[test]
    fn byte_strings_are_sniffed() {
        assert!(matches!(sniff("Độ mật".as_bytes()), Sniffed::Text(t, _) if t == "Độ mật"));
        let mut le = vec![0xFF, 0xFE];
        le.extend("MẬT".encode_utf16().flat_map(u16::to_le_bytes));
        assert!(matches!(sniff(&le), Sniffed::Text(t, _) if t == "MẬT"));
        let be: Vec<u8> = "TUYỆT MẬT 0912".encode_utf16().flat_map(u16::to_be_bytes).collect();
        assert!(matches!(sniff(&be), Sniffed::Text(t, _) if t == "TUYỆT MẬT 0912"));
        assert!(matches!(sniff(b"\x54\x55\x59\xD6\x54 \x4D\xCB\x54"), Sniffed::Legacy));
    }

    #[test]
    fn scorer_picks_the_encoding_of_an_administrative_header() {
        let scorer = match Scorer::new() {
            Ok(s) => s,
            Err(e) => panic!("signature automaton: {e}"),
        };
        let tcvn3 =
            "CéNG HßA X· HéI CHñ NGHÜA VIÖT NAM\n§éc lËp - Tù do - H¹nh phóc\nQuyÕt ®Þnh cña ñy ban nh©n d©n tØnh";
        let vni = "COÄNG HOØA XAÕ HOÄI CHUÛ NGHÓA VIEÄT NAM\nÑoäc laäp - Töï do - Haïnh phuùc\nQuyeát ñònh cuûa UÛy ban nhaân daân tænh";
        assert_eq!(scorer.best(&seen_to_bytes(tcvn3).unwrap_or_default()), Encoding::Tcvn3);
        assert_eq!(scorer.best(&seen_to_bytes(vni).unwrap_or_default()), Encoding::Vni);
    }
}
