//! Canonicalisation of Vietnamese text (spec §3.4): NFKC, whitespace and invisible characters,
//! case folding, diacritic stripping, tone-mark placement and confusable letters.
//!
//! The canonical text keeps every line break of its source, so line numbers found in it are
//! the source's line numbers, and an [`OffsetMap`] leads offsets back to the source.

mod compose;

use super::wide::with_avx2;

use std::borrow::Cow;
use unicode_normalization::char::{canonical_combining_class, decompose_canonical};
use unicode_normalization::{IsNormalized, UnicodeNormalization, is_nfkc_quick};

/// Maps byte offsets of a derived text back to the text it was derived from.
///
/// It stores a checkpoint wherever the distance between the two texts changes, but at most one
/// per [`OffsetMap::SPACING`] bytes of derived text, so its size stays a fraction of the text
/// even for fully decomposed input; an offset is exact wherever the texts run in step (all of
/// NFC input) and otherwise off by at most the growth of one such stretch.
#[derive(Debug, Clone, Default)]
pub(crate) struct OffsetMap {
    points: Vec<(usize, usize)>,
    /// Points before this index were set with [`OffsetMap::pin`] and are never merged away.
    pinned: usize,
}

impl OffsetMap {
    const SPACING: usize = 32;

    /// Records that derived offset `derived` corresponds to source offset `source`.
    pub(crate) fn note(&mut self, derived: usize, source: usize) {
        let (last_derived, last_source) = self.points.last().copied().unwrap_or((0, 0));
        if derived.wrapping_sub(last_derived) == source.wrapping_sub(last_source) {
            return;
        }
        let mergeable = self.points.len() > self.pinned;
        match self.points.last_mut() {
            Some(last) if mergeable && derived < last.0 + Self::SPACING => *last = (derived, source),
            _ => self.points.push((derived, source)),
        }
    }

    /// Like [`OffsetMap::note`], but offsets from here on stay exact whatever is noted later
    /// (used at line starts, which markings report).
    pub(crate) fn pin(&mut self, derived: usize, source: usize) {
        let (last_derived, last_source) = self.points.last().copied().unwrap_or((0, 0));
        if derived.wrapping_sub(last_derived) != source.wrapping_sub(last_source) {
            if self.points.last().is_some_and(|&(d, _)| d == derived) && self.points.len() > self.pinned {
                self.points.pop();
            }
            self.points.push((derived, source));
        }
        self.pinned = self.points.len();
    }

    /// Forgets every point, keeping the memory for the next text mapped.
    pub(crate) fn clear(&mut self) {
        self.points.clear();
        self.pinned = 0;
    }

    pub(crate) fn to_source(&self, derived: usize) -> usize {
        let idx = self.points.partition_point(|&(d, _)| d <= derived);
        match idx.checked_sub(1).and_then(|i| self.points.get(i)) {
            Some(&(d, s)) => s + (derived - d),
            None => derived,
        }
    }
}

/// The canonical form of a text, with what was learnt of the text on the way.
#[derive(Debug, Default)]
pub(crate) struct Canonical {
    pub(crate) text: String,
    pub(crate) map: OffsetMap,
    /// Every character of the input outside ASCII is a precomposed Vietnamese letter, so the
    /// input holds no text in a legacy encoding read through Windows-1252 (see
    /// [`super::legacy::may_hold_seen`]).
    pub(crate) letters_only: bool,
}

impl Canonical {
    /// Bytes of memory held, used or not.
    pub(crate) fn capacity(&self) -> usize {
        self.text.capacity() + self.map.points.capacity() * size_of::<(usize, usize)>()
    }
}

/// The canonical form of `input` ([`canonical`]) and its offset map.
pub(crate) fn canonicalize(input: &str) -> (String, OffsetMap) {
    let Canonical { text, map, .. } = canonical(input);
    (text, map)
}

/// The canonical form of `input`: NFKC (fullwidth letters and digits become ASCII), every
/// space-like character a plain space, tabs and lone carriage returns mapped, zero-width
/// characters and soft hyphens deleted, other control characters blanked.
///
/// Runs of spaces are kept: a single space between letters or digits is how box digits and
/// letter-spaced stamps are recognised, and two spaces separate the words of a spaced stamp.
pub(crate) fn canonical(input: &str) -> Canonical {
    let mut canonical = Canonical::default();
    canonical_into(input, &mut canonical);
    canonical
}

/// [`canonical`] into the memory of `canonical`, whatever it held: a text scanned after
/// another reuses its memory rather than having it mapped and zeroed afresh.
pub(crate) fn canonical_into(input: &str, canonical: &mut Canonical) {
    canonical_after(input, unchanged_prefix(input), canonical);
}

/// How much of `input`, from its start, is its own canonical form: the blocks that hold only
/// ASCII without control characters and precomposed Vietnamese letters. Most texts are that
/// through and through, and need no canonical copy of their own.
pub(crate) fn unchanged_prefix(input: &str) -> usize {
    let bytes = input.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let block = block_end(bytes, i);
        if block == i || vietnamese_block(&bytes[i..block]) != Some(false) {
            break;
        }
        i = block;
    }
    i
}

/// [`canonical_into`] of `input`, whose first `prefix` bytes are [`unchanged_prefix`]: they are
/// copied as they stand, and run in step with the input, so the map needs no point for them.
pub(crate) fn canonical_after(input: &str, prefix: usize, canonical: &mut Canonical) {
    let Canonical { text: out, map, letters_only } = canonical;
    out.clear();
    // Exactly: the memory is kept for the next text, and room doubled for a text a few bytes
    // longer than the last would be twice the memory kept and never touched.
    out.reserve_exact(input.len());
    map.clear();
    *letters_only = true;
    out.push_str(&input[..prefix]);
    let bytes = input.as_bytes();
    let mut chunk = String::new();
    let mut i = prefix;
    while i < bytes.len() {
        // Most text is ASCII and precomposed Vietnamese letters, which are their own canonical
        // form but for ASCII control characters: it is tested and copied a block at a time.
        // A block ends after an ASCII byte, and ASCII characters never compose with what
        // precedes them, so what follows a block is normalised on its own.
        let block = block_end(bytes, i);
        if block > i
            && let Some(controls) = vietnamese_block(&bytes[i..block])
        {
            let from = out.len();
            out.push_str(&input[i..block]);
            let mut line_break = memchr::memchr(b'\n', &bytes[i..block]).is_some();
            if controls {
                line_break |= map_controls(out, from, bytes.get(block).copied());
            }
            if line_break {
                // The offsets run in step here: this only keeps the line starts exact.
                map.pin(out.len(), block);
            }
            i = block;
            continue;
        }
        // The block holds something else: it is gone through a stretch or a run at a time.
        let until = block.max(i + 1);
        while i < until {
            // Stretches of printable ASCII, line breaks and Vietnamese letters are copied
            // whole; one that ends inside a run of non-ASCII characters is cut back to the
            // start of that run, which is then normalised whole below.
            let (mut stop, line_break) = canonical_until(bytes, i);
            // Decomposed Vietnamese: the stretch ends with an ASCII letter, and the run of
            // non-ASCII characters after it with the letter's marks. This is what the run
            // below makes of them, without finding the run's end and kind first. Letters with
            // one mark or two, nearly all of them, are composed with the stretches like this
            // one that follow it, in a loop of their own; letters with more, here.
            if stop > i && bytes[stop - 1].is_ascii_alphabetic() && bytes.get(stop) == Some(&0xCC) {
                let composed = compose::compose_stretches(input, i, until, out, map);
                if composed > i {
                    i = composed;
                    *letters_only = false;
                    continue;
                }
            }
            if stop > i
                && bytes[stop - 1].is_ascii_alphabetic()
                && let Some((marks, len)) = compose::marks_ending_run(&bytes[stop..])
            {
                out.push_str(&input[i..stop - 1]);
                if line_break {
                    map.pin(out.len(), stop - 1);
                }
                compose::push_composed(char::from(bytes[stop - 1]), marks, out);
                i = stop + len;
                *letters_only = false;
                map.note(out.len(), i);
                continue;
            }
            if stop < bytes.len() && !bytes[stop].is_ascii() {
                stop = bytes[i..stop].iter().rposition(u8::is_ascii).map_or(i, |p| i + p + 1);
            }
            if stop > i {
                out.push_str(&input[i..stop]);
                // What the stretch was cut back by is not ASCII: its line breaks are before.
                if line_break {
                    map.pin(out.len(), stop);
                }
                i = stop;
                continue;
            }
            let b = bytes[i];
            if b.is_ascii() {
                let c = map_ascii(b, bytes.get(i + 1).copied());
                out.push(c);
                i += 1;
                if c == '\n' {
                    map.pin(out.len(), i);
                }
                continue;
            }
            // Every maximal run of non-ASCII characters can be normalised on its own — together
            // with the ASCII base letter before it when the run opens with a combining mark.
            let end = bytes[i..].iter().position(u8::is_ascii).map_or(bytes.len(), |p| i + p);
            if input[i..end].chars().all(is_precomposed_vietnamese) {
                out.push_str(&input[i..end]);
                map.note(out.len(), end);
                i = end;
                continue;
            }
            *letters_only = false;
            let mut start = i;
            // U+0300–U+033F (`CC 80`–`CC BF`), where the marks of Vietnamese are, all have a class.
            let opens_with_mark =
                bytes[i] == 0xCC || input[i..end].chars().next().is_some_and(|c| canonical_combining_class(c) != 0);
            if opens_with_mark
                && i > 0
                && bytes[i - 1].is_ascii_graphic()
                && out.as_bytes().last() == Some(&bytes[i - 1])
            {
                out.pop();
                start = i - 1;
            }
            let run = &input[start..end];
            // Decomposed Vietnamese is composed by its letters' marks, other runs as they are
            // or by NFKC.
            if !compose::compose_letters(run, out) {
                if !run.chars().any(is_special) && is_nfkc_quick(run.chars()) == IsNormalized::Yes {
                    out.push_str(run);
                } else {
                    chunk.clear();
                    chunk.extend(run.chars().filter_map(map_special));
                    out.extend(chunk.nfkc());
                }
            }
            map.note(out.len(), end);
            i = end;
        }
    }
}

/// Bytes tested together by the block-at-a-time passes.
const BLOCK: usize = 4096;

/// The end of the block of `bytes` that starts at `from`: at most [`BLOCK`] bytes on, just
/// after an ASCII byte (or at the end of `bytes`); `from` when the block holds no ASCII.
fn block_end(bytes: &[u8], from: usize) -> usize {
    let end = (from + BLOCK).min(bytes.len());
    if end == bytes.len() {
        return end;
    }
    bytes[from..end].iter().rposition(u8::is_ascii).map_or(from, |p| from + p + 1)
}

with_avx2! {
    /// Whether `block` (whole characters) is all ASCII and precomposed Vietnamese letters —
    /// then whether it holds ASCII control characters other than line breaks —, or `None`.
    fn vietnamese_block(block: &[u8]) -> Option<bool> = judge_block;
}

/// [`vietnamese_block`]. Each byte is judged with the two before it, without branches, which
/// compiles to vector instructions.
#[inline(always)]
fn judge_block(block: &[u8]) -> Option<bool> {
    // Logs, code and lists of numbers are ASCII through and through: only controls to find.
    if block.is_ascii() {
        return Some(block.iter().fold(false, |controls, &b| controls | is_control(b)));
    }
    // Decomposed text has a combining mark (`CC xx`) every few bytes: no block of it passes,
    // which the first mark tells sooner than judging every byte.
    if memchr::memchr(0xCC, block).is_some() {
        return None;
    }
    let head = match *block {
        [] => return Some(false),
        [a] => [(0, 0, a), (0, 0, b' ')],
        [a, b, ..] => [(0, 0, a), (0, a, b)],
    };
    let (mut other, mut controls) = (false, false);
    // A loop rather than a fold: the fold of the zipped slices is a function of its own, which
    // is not compiled anew where this one is compiled for AVX2.
    for (p2, p1, b) in head {
        let (o, c) = judge_vietnamese(p2, p1, b);
        (other, controls) = (other | o, controls | c);
    }
    for ((&p2, &p1), &b) in block.iter().zip(&block[1..]).zip(&block[2.min(block.len())..]) {
        let (o, c) = judge_vietnamese(p2, p1, b);
        (other, controls) = (other | o, controls | c);
    }
    (!other).then_some(controls)
}

/// For byte `b` after `p2` and `p1`: whether it makes its character other than ASCII or a
/// precomposed Vietnamese letter, and whether it is an ASCII control other than a line break.
#[inline(always)]
fn judge_vietnamese(p2: u8, p1: u8, b: u8) -> (bool, bool) {
    // Leads other than those of Vietnamese letters: Latin-1 and Latin Extended-A/B, and
    // U+1EA0–U+1EF9 (E1 BA A0 to E1 BB B9).
    let lead = (b >= 0xC0) & !(0xC3..=0xC6).contains(&b) & (b != 0xE1);
    // À–Ã È–Ê Ì Í Ò–Õ Ù Ú Ý and their small letters, 0x20 above.
    let x = b & 0xDF;
    let latin1 = (0x80..=0x83).contains(&x)
        | (0x88..=0x8A).contains(&x)
        | (x == 0x8C)
        | (x == 0x8D)
        | (0x92..=0x95).contains(&x)
        | (x == 0x99)
        | (x == 0x9A)
        | (x == 0x9D);
    // Ă ă Đ đ Ĩ ĩ, Ũ ũ, Ơ ơ Ư ư.
    let c4 = (b == 0x82) | (b == 0x83) | (b == 0x90) | (b == 0x91) | (b == 0xA8) | (b == 0xA9);
    let c5 = (b == 0xA8) | (b == 0xA9);
    let c6 = (b == 0xA0) | (b == 0xA1) | (b == 0xAF) | (b == 0xB0);
    let pair = ((p1 == 0xC3) & !latin1) | ((p1 == 0xC4) & !c4) | ((p1 == 0xC5) & !c5) | ((p1 == 0xC6) & !c6);
    let triple = ((p1 == 0xE1) & (b != 0xBA) & (b != 0xBB))
        | ((p2 == 0xE1) & (((p1 == 0xBA) & (b < 0xA0)) | ((p1 == 0xBB) & (b > 0xB9))));
    (lead | pair | triple, is_control(b))
}

/// An ASCII control character other than a line break.
#[inline(always)]
fn is_control(b: u8) -> bool {
    ((b < 0x20) & (b != b'\n')) | (b == 0x7F)
}

/// Maps the ASCII control characters of `out[from..]` as [`map_ascii`] does — all to a byte
/// each — given the input byte that follows; whether any became a line break.
fn map_controls(out: &mut String, from: usize, following: Option<u8>) -> bool {
    // SAFETY: ASCII bytes are replaced by ASCII bytes, so `out` stays UTF-8.
    let bytes = unsafe { out.as_mut_vec() };
    let mut line_break = false;
    for at in from..bytes.len() {
        let b = bytes[at];
        if (b < 0x20 && b != b'\n') || b == 0x7F {
            let next = bytes.get(at + 1).copied().or(following);
            let c = map_ascii(b, next);
            line_break |= c == '\n';
            bytes[at] = c as u8;
        }
    }
    line_break
}

/// The first offset at or after `from` where `bytes` (valid UTF-8) holds something other
/// than printable ASCII, line breaks and precomposed Vietnamese letters, and whether there
/// is a line break before it: decomposed text has a stretch every few bytes, too short to
/// search again.
fn canonical_until(bytes: &[u8], from: usize) -> (usize, bool) {
    const BLOCK: usize = 16;
    let printable = |b: u8| (0x20..0x7F).contains(&b);
    let mut i = from;
    let mut line_break = false;
    loop {
        // Blocks at a time through ASCII (a test the compiler turns into vector instructions).
        while let Some(block) = bytes.get(i..i + BLOCK) {
            let (plain, breaks) = block
                .iter()
                .fold((true, false), |(all, any), &b| (all & (printable(b) | (b == b'\n')), any | (b == b'\n')));
            if !plain {
                break;
            }
            line_break |= breaks;
            i += BLOCK;
        }
        // A character at a time through the block that holds something else, before blocks
        // are tried again: in text with a mark every few bytes, few blocks are all ASCII.
        let block_end = i + BLOCK;
        while i < block_end {
            let Some(&b) = bytes.get(i) else { return (i, line_break) };
            let width = match b {
                _ if printable(b) => 1,
                b'\n' => {
                    line_break = true;
                    1
                }
                _ => match precomposed_len(bytes, i) {
                    0 => return (i, line_break),
                    len => len,
                },
            };
            i += width;
        }
    }
}

/// The length of the precomposed Vietnamese letter at offset `at` of `bytes` (valid UTF-8),
/// or 0 when there is none.
#[inline(always)]
fn precomposed_len(bytes: &[u8], at: usize) -> usize {
    match bytes.get(at..) {
        Some(&[lead @ 0xC2..=0xC7, next, ..])
            if is_precomposed_below_0200((u32::from(lead & 0x1F) << 6) | u32::from(next & 0x3F)) =>
        {
            2
        }
        // U+1EA0–U+1EF9: E1 BA A0 to E1 BB B9.
        Some([0xE1, 0xBA, 0xA0..=0xBF, ..] | [0xE1, 0xBB, 0x80..=0xB9, ..]) => 3,
        _ => 0,
    }
}

/// [`is_precomposed_vietnamese`] for a code point below U+0200, by table.
fn is_precomposed_below_0200(code: u32) -> bool {
    const TABLE: [u64; 8] = {
        let mut table = [0; 8];
        let mut code = 0;
        while code < 0x200 {
            if let Some(c) = char::from_u32(code)
                && is_precomposed_vietnamese(c)
            {
                table[(code / 64) as usize] |= 1 << (code % 64);
            }
            code += 1;
        }
        table
    };
    code < 0x200 && TABLE[(code / 64) as usize] >> (code % 64) & 1 == 1
}

/// A precomposed letter of the Vietnamese alphabet: NFC and NFKC as it stands, no combining
/// class, nothing [`map_special`] changes — so a run of them needs no normalisation.
pub(crate) const fn is_precomposed_vietnamese(c: char) -> bool {
    matches!(c,
        'À'..='Ã' | 'È'..='Ê' | 'Ì' | 'Í' | 'Ò'..='Õ' | 'Ù' | 'Ú' | 'Ý'
        | 'à'..='ã' | 'è'..='ê' | 'ì' | 'í' | 'ò'..='õ' | 'ù' | 'ú' | 'ý'
        | 'Ă' | 'ă' | 'Đ' | 'đ' | 'Ĩ' | 'ĩ' | 'Ũ' | 'ũ' | 'Ơ' | 'ơ' | 'Ư' | 'ư'
        | '\u{1EA0}'..='\u{1EF9}')
}

fn map_ascii(b: u8, next: Option<u8>) -> char {
    match b {
        b'\n' => '\n',
        b'\r' if next == Some(b'\n') => ' ',
        b'\r' | 0x0B | 0x0C => '\n',
        0x00..=0x1F | 0x7F => ' ',
        _ => char::from(b),
    }
}

fn is_special(c: char) -> bool {
    map_special(c) != Some(c)
}

fn map_special(c: char) -> Option<char> {
    match c {
        '\u{00AD}' | '\u{200B}'..='\u{200D}' | '\u{2060}'..='\u{2064}' | '\u{FEFF}' => None,
        '\u{00A0}' | '\u{1680}' | '\u{2000}'..='\u{200A}' | '\u{202F}' | '\u{205F}' | '\u{3000}' => Some(' '),
        '\u{0085}' | '\u{2028}' | '\u{2029}' => Some('\n'),
        '\u{0080}'..='\u{009F}' => Some(' '),
        _ => Some(c),
    }
}

/// Lower-case of `c` when it has the same UTF-8 length (true of every Vietnamese letter,
/// Đ included), else `c` itself, so folded text keeps the byte offsets of its source.
pub(crate) fn fold_char(c: char) -> char {
    let code = u32::from(c);
    // Vietnamese capitals first: they are most of the non-ASCII letters scanned, and the
    // general case-mapping tables cost a search per character.
    let vietnamese = match c {
        'A'..='Z' => Some(c.to_ascii_lowercase()),
        '\0'..='\x7F' => Some(c),
        'À'..='Þ' if c != '×' => char::from_u32(code + 0x20),
        // Lower case already (or no letter): `ß`–`ÿ` and the Vietnamese letters outside Latin-1.
        'ß'..='ÿ' | 'ă' | 'đ' | 'ĩ' | 'ũ' | 'ơ' | 'ư' => Some(c),
        '\u{1EA0}'..='\u{1EF9}' => char::from_u32(code | 1),
        'Ă' | 'Đ' | 'Ĩ' | 'Ũ' | 'Ơ' | 'Ư' => char::from_u32(code + 1),
        _ => None,
    };
    if let Some(lower) = vietnamese {
        return lower;
    }
    let mut lower = c.to_lowercase();
    match (lower.next(), lower.next()) {
        (Some(l), None) if l.len_utf8() == c.len_utf8() => l,
        _ => c,
    }
}

/// Lower-cases `text` into `out` with [`fold_char`].
pub(crate) fn fold_into(text: &str, out: &mut String) {
    out.clear();
    out.push_str(text);
    // SAFETY: every character's bytes are replaced by those of its `fold_char`, which has the
    // same length, so `out` stays UTF-8.
    let folded = unsafe { out.as_mut_vec() };
    let bytes = text.as_bytes();
    let mut start = 0;
    while start < bytes.len() {
        let end = block_end(bytes, start).max(start + 1);
        let end = (end..=bytes.len()).find(|&e| text.is_char_boundary(e)).unwrap_or(bytes.len());
        // Blocks of ASCII, Vietnamese letters and common punctuation are folded by their
        // bytes (ASCII alone more cheaply); others character by character.
        if bytes[start..end].is_ascii() {
            folded[start..end].make_ascii_lowercase();
        } else if !fold_vietnamese_block(&bytes[start..end], &mut folded[start..end]) {
            for (at, c) in text[start..end].char_indices() {
                fold_char(c).encode_utf8(&mut folded[start + at..start + at + c.len_utf8()]);
            }
        }
        start = end;
    }
}

with_avx2! {
    /// Folds `block` (whole characters) into `folded`, of the same length, by bytes; false
    /// when some character is not ASCII, a Vietnamese letter, another Latin-1 letter or a sign
    /// of U+2000–U+207F (which have no case), and the block must be folded character by
    /// character.
    fn fold_vietnamese_block(block: &[u8], folded: &mut [u8]) -> bool = fold_block;
}

/// [`fold_vietnamese_block`]. Each byte is folded with the two before it, without branches,
/// which compiles to vector instructions.
#[inline(always)]
fn fold_block(block: &[u8], folded: &mut [u8]) -> bool {
    let mut other = false;
    for (at, out) in folded.iter_mut().enumerate().take(2) {
        let p1 = if at == 1 { block[0] } else { 0 };
        let (byte, unknown) = fold_byte(0, p1, block[at]);
        *out = byte;
        other |= unknown;
    }
    if block.len() > 2 {
        let windows = block.iter().zip(&block[1..]).zip(&block[2..]);
        for (out, ((&p2, &p1), &b)) in folded[2..].iter_mut().zip(windows) {
            let (byte, unknown) = fold_byte(p2, p1, b);
            *out = byte;
            other |= unknown;
        }
    }
    !other
}

/// Byte `b` (after `p2` and `p1`) of folded text, and whether it belongs to a character
/// [`fold_vietnamese_block`] does not know.
#[inline(always)]
fn fold_byte(p2: u8, p1: u8, b: u8) -> (u8, bool) {
    // Capitals 0x20 below their small letters: ASCII, and À–Þ but × (C3 80 to C3 9E).
    let by_32 = b.is_ascii_uppercase() | ((p1 == 0xC3) & (0x80..=0x9E).contains(&b) & (b != 0x97));
    // Ă Đ Ĩ, Ũ, Ơ Ư: one below.
    let by_one = ((p1 == 0xC4) & ((b == 0x82) | (b == 0x90) | (b == 0xA8)))
        | ((p1 == 0xC5) & (b == 0xA8))
        | ((p1 == 0xC6) & ((b == 0xA0) | (b == 0xAF)));
    // U+1EA0–U+1EF9 (E1 BA A0 to E1 BB B9): capitals at even code points.
    let odd = (p2 == 0xE1) & (((p1 == 0xBA) & (b >= 0xA0)) | ((p1 == 0xBB) & (b <= 0xB9)));
    let byte = b.wrapping_add(u8::from(by_32) << 5).wrapping_add(u8::from(by_one)) | u8::from(odd);
    let lead = (b >= 0xC0) & (b != 0xC3) & !(0xC4..=0xC6).contains(&b) & (b != 0xE1) & (b != 0xE2);
    let c4 = (b == 0x82) | (b == 0x83) | (b == 0x90) | (b == 0x91) | (b == 0xA8) | (b == 0xA9);
    let c5 = (b == 0xA8) | (b == 0xA9);
    let c6 = (b == 0xA0) | (b == 0xA1) | (b == 0xAF) | (b == 0xB0);
    let pair = ((p1 == 0xC4) & !c4) | ((p1 == 0xC5) & !c5) | ((p1 == 0xC6) & !c6);
    let triple = ((p1 == 0xE1) & (b != 0xBA) & (b != 0xBB))
        | ((p2 == 0xE1) & (((p1 == 0xBA) & (b < 0xA0)) | ((p1 == 0xBB) & (b > 0xB9))))
        | ((p1 == 0xE2) & (b != 0x80) & (b != 0x81));
    (byte, lead | pair | triple)
}

/// `text` lower-cased with [`fold_char`]; byte offsets are those of `text`.
pub(crate) fn fold(text: &str) -> String {
    text.chars().map(fold_char).collect()
}

/// Appends `text` lower-cased and stripped of Vietnamese diacritics (`Đ`/`đ` become `d`) —
/// the form context keywords are matched in (spec §2.1: "match on the diacritic-folded view").
pub(crate) fn strip_fold_into(text: &str, out: &mut String) {
    // Context windows are mostly ASCII (digits, punctuation, unaccented labels).
    if text.is_ascii() {
        let start = out.len();
        out.push_str(text);
        out[start..].make_ascii_lowercase();
        return;
    }
    out.reserve(text.len());
    let mut rest = text;
    while !rest.is_empty() {
        // ASCII a stretch at a time, the rest a character at a time.
        let ascii = rest.bytes().position(|b| !b.is_ascii()).unwrap_or(rest.len());
        let start = out.len();
        out.push_str(&rest[..ascii]);
        out[start..].make_ascii_lowercase();
        rest = &rest[ascii..];
        let mut chars = rest.chars();
        if let Some(c) = chars.next() {
            strip_fold_char(c, |folded| out.push(folded));
            rest = chars.as_str();
        }
    }
}

/// Passes the characters `c` folds to ([`strip_fold_into`]) to `push`: none for a combining
/// diacritic.
pub(crate) fn strip_fold_char(c: char, mut push: impl FnMut(char)) {
    match vietnamese_base(c) {
        Some(base) => push(base),
        None => decompose_canonical(c, |d| {
            if !('\u{0300}'..='\u{036F}').contains(&d) {
                push(fold_char(d));
            }
        }),
    }
}

/// The lower-case base letter of a precomposed Vietnamese letter (`d` for `Đ` and `đ`), from
/// the order of the Unicode blocks: context windows are full of them, and a decomposition
/// costs a table search each.
fn vietnamese_base(c: char) -> Option<char> {
    let lower = u32::from(c) | 0x20;
    let base = match u32::from(c) {
        // Latin-1 (the capitals are 0x20 below their small letters).
        0xC0..=0xFF => match lower {
            0xE0..=0xE3 => 'a',
            0xE8..=0xEA => 'e',
            0xEC | 0xED => 'i',
            0xF2..=0xF5 => 'o',
            0xF9 | 0xFA => 'u',
            0xFD => 'y',
            _ => return None,
        },
        0x102 | 0x103 => 'a',
        0x110 | 0x111 => 'd',
        0x128 | 0x129 => 'i',
        0x168 | 0x169 => 'u',
        0x1A0 | 0x1A1 => 'o',
        0x1AF | 0x1B0 => 'u',
        // Latin Extended Additional, letter by letter.
        0x1EA0..=0x1EB7 => 'a',
        0x1EB8..=0x1EC7 => 'e',
        0x1EC8..=0x1ECB => 'i',
        0x1ECC..=0x1EE3 => 'o',
        0x1EE4..=0x1EF1 => 'u',
        0x1EF2..=0x1EF9 => 'y',
        _ => return None,
    };
    Some(base)
}

/// Tone mark placement (spec §3.4.3): old-style `hoà`, `khoẻ`, `thuỷ` and new-style `hòa`,
/// `khỏe`, `thủy` both occur. In lower-case text, moves the tone of an open syllable ending in
/// `oa`, `oe` or `uy` onto its first vowel, where doing so keeps the byte length (it does for
/// every case but `oẽ`, `uỳ`, `uỹ`), so offsets into the text stay valid.
pub(crate) fn normalize_tone_placement(text: &mut String) {
    const TONED_A: [char; 5] = ['à', 'á', 'ả', 'ã', 'ạ'];
    const TONED_E: [char; 5] = ['è', 'é', 'ẻ', 'ẽ', 'ẹ'];
    const TONED_Y: [char; 5] = ['ỳ', 'ý', 'ỷ', 'ỹ', 'ỵ'];
    const TONED_O: [char; 5] = ['ò', 'ó', 'ỏ', 'õ', 'ọ'];
    const TONED_U: [char; 5] = ['ù', 'ú', 'ủ', 'ũ', 'ụ'];
    if !text.contains(['o', 'u']) {
        return;
    }
    let mut edits: Vec<(usize, String)> = Vec::new();
    let mut chars = text.char_indices().peekable();
    let mut before: Option<char> = None;
    while let Some((at, first)) = chars.next() {
        let Some(&(_, second)) = chars.peek() else { break };
        let toned = match (first, second) {
            ('o', s) => TONED_A.iter().chain(TONED_E.iter()).position(|&t| t == s).map(|p| TONED_O[p % 5]),
            // "qu" is a consonant: in "quý" the tone already sits on the vowel.
            ('u', s) if before != Some('q') => TONED_Y.iter().position(|&t| t == s).map(|p| TONED_U[p]),
            _ => None,
        };
        before = Some(first);
        let Some(new_first) = toned else { continue };
        let open = text[at + first.len_utf8() + second.len_utf8()..].chars().next().is_none_or(|c| !c.is_alphabetic());
        let plain_second = match second {
            s if TONED_A.contains(&s) => 'a',
            s if TONED_E.contains(&s) => 'e',
            _ => 'y',
        };
        if open && new_first.len_utf8() + plain_second.len_utf8() == first.len_utf8() + second.len_utf8() {
            edits.push((at, format!("{new_first}{plain_second}")));
        }
    }
    for (at, replacement) in edits.into_iter().rev() {
        text.replace_range(at..at + replacement.len(), &replacement);
    }
}

/// Latin letter a Cyrillic or Greek look-alike stands for (spec §3.4.6, the TR39 skeleton
/// restricted to letters of the marking vocabulary).
fn confusable(c: char) -> Option<char> {
    Some(match c {
        'А' | 'Α' => 'A',
        'В' | 'Β' => 'B',
        'С' | 'Ϲ' => 'C',
        'Е' | 'Ε' => 'E',
        'Н' | 'Η' => 'H',
        'І' | 'Ι' => 'I',
        'К' | 'Κ' => 'K',
        'М' | 'Μ' => 'M',
        'Ν' => 'N',
        'О' | 'Ο' => 'O',
        'Р' | 'Ρ' => 'P',
        'Т' | 'Τ' => 'T',
        'Х' | 'Χ' => 'X',
        'У' | 'Υ' => 'Y',
        'а' => 'a',
        'е' => 'e',
        'о' | 'ο' => 'o',
        'р' => 'p',
        'с' => 'c',
        'х' => 'x',
        'у' => 'y',
        'і' => 'i',
        _ => return None,
    })
}

/// Whether `line` holds Greek or Cyrillic letters, which [`unconfuse`] may replace.
pub(crate) fn has_look_alikes(line: &str) -> bool {
    // U+0370–U+04FF are the characters whose UTF-8 starts with 0xCD–0xD3 (with U+0340–U+036F).
    line.bytes().any(|b| (0xCD..=0xD3).contains(&b)) && line.chars().any(|c| ('\u{0370}'..='\u{04FF}').contains(&c))
}

/// `line` with Cyrillic and Greek look-alikes replaced by Latin letters and recomposed, so
/// `МẬТ` written with U+041C and U+0422 reads `MẬT`; borrowed when there are none.
pub(crate) fn unconfuse(line: &str) -> Cow<'_, str> {
    if !has_look_alikes(line) {
        return Cow::Borrowed(line);
    }
    Cow::Owned(line.nfd().map(|c| confusable(c).unwrap_or(c)).nfc().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nfd_input_is_composed_and_mapped_back() {
        let nfd = "T\u{4F}\u{302}\u{301}I M\u{41}\u{323}\u{302}T";
        let (text, map) = canonicalize(nfd);
        assert_eq!(text, "TỐI MẬT");
        // Inside a stretch of composed characters the offset is close, past it exact.
        let m = map.to_source(text.find('M').unwrap_or_default());
        assert!(m.abs_diff(nfd.find('M').unwrap_or_default()) <= OffsetMap::SPACING, "{m}");
        assert_eq!(map.to_source(text.len()), nfd.len());
    }

    #[test]
    fn precomposed_vietnamese_letters_are_canonical() {
        let letters: Vec<char> = ('\0'..='\u{1EFF}').filter(|&c| is_precomposed_vietnamese(c)).collect();
        // 67 letters, each in two cases.
        assert_eq!(letters.len(), 134);
        for c in letters {
            let s = c.to_string();
            assert_eq!(canonical_combining_class(c), 0, "{c}");
            assert_eq!(is_nfkc_quick(s.chars()), IsNormalized::Yes, "{c}");
            assert_eq!(s.nfkc().collect::<String>(), s, "{c}");
            assert!(!is_special(c), "{c}");
        }
    }

    /// A piece picked by a linear congruential generator: the same texts on every run.
    fn pick<'a>(seed: &mut u64, pieces: &[&'a str]) -> &'a str {
        *seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        pieces[(*seed >> 33) as usize % pieces.len()]
    }

    #[test]
    fn copied_stretches_and_normalised_runs_make_nfkc() {
        // Pieces that take each path: copied ASCII and precomposed letters, runs that open
        // with a combining mark (after an ASCII or a precomposed letter), letters from
        // outside Vietnamese, fullwidth forms and compatibility characters.
        let pieces = [
            "Số ",
            "ĐỘ MẬT",
            "\u{0301}",
            "a\u{0323}\u{0302}",
            "ậ\u{0323}",
            "Ö",
            "ＭẬＴ",
            "ﬁ",
            "\n",
            "0912 345 678",
            "ǅ",
            "ẞ",
            "Ā",
            "ĳ",
            "x",
        ];
        let mut seed = 7_u64;
        for _ in 0..2000 {
            let mut text = String::new();
            for _ in 0..12 {
                text.push_str(pick(&mut seed, &pieces));
            }
            let canonical = canonical(&text);
            assert_eq!(canonical.text, text.nfkc().collect::<String>(), "{text:?}");
            let letters = text.chars().all(|c| c.is_ascii() || is_precomposed_vietnamese(c));
            assert_eq!(canonical.letters_only, letters, "{text:?}");
            assert_eq!(canonical.map.to_source(canonical.text.len()), text.len(), "{text:?}");
        }
    }

    #[test]
    fn long_text_is_canonical_across_blocks() {
        // Texts of many blocks, in which every kind of piece falls on a block's edge somewhere.
        let pieces = [
            "Số định danh 056012345678 ",
            "TỐI MẬT\n",
            "\t",
            "\r\n",
            "\r",
            "a\u{0323}\u{0302}",
            "ậ\u{0323}",
            "Ö",
            "ＭẬＴ",
            "x",
            "ươ",
            "\u{7}",
        ];
        let mut seed = 11_u64;
        for round in 0..20 {
            let mut text = String::new();
            while text.len() < 3 * BLOCK + round * 97 {
                text.push_str(pick(&mut seed, &pieces));
            }
            let canonical = assert_nfkc_of_mapped(&text, round);
            let bytes = text.as_bytes();
            // Every line of the canonical text starts where its line starts in the input.
            let input_lines =
                text.match_indices(['\n', '\r']).filter(|&(at, m)| m == "\n" || bytes.get(at + 1) != Some(&b'\n'));
            let canonical_lines = canonical.text.match_indices('\n');
            for ((input, _), (output, _)) in input_lines.zip(canonical_lines) {
                assert_eq!(canonical.map.to_source(output + 1), input + 1, "round {round}");
            }
        }
    }

    /// Checks that the canonical form of `text` is the NFKC of `text` with its ASCII
    /// controls mapped, and that its map reaches the end of `text`.
    fn assert_nfkc_of_mapped(text: &str, round: usize) -> Canonical {
        let bytes = text.as_bytes();
        let mapped: String = text
            .char_indices()
            .map(|(at, c)| if c.is_ascii() { map_ascii(c as u8, bytes.get(at + 1).copied()) } else { c })
            .collect();
        let canonical = canonical(text);
        assert_eq!(canonical.text, mapped.nfkc().collect::<String>(), "round {round}");
        assert_eq!(canonical.map.to_source(canonical.text.len()), text.len());
        canonical
    }

    #[test]
    fn decomposed_vietnamese_letters_compose_without_the_general_algorithm() {
        for c in ('\u{80}'..='\u{1EFF}').filter(|&c| is_precomposed_vietnamese(c) && !matches!(c, 'đ' | 'Đ')) {
            let nfd: String = c.to_string().nfd().collect();
            assert_eq!(canonical(&format!("x{nfd}y")).text, format!("x{c}y"), "{c}");
        }
        // Marks out of canonical order, stacked, after a precomposed letter, or after no letter.
        assert_eq!(canonical("a\u{0302}\u{0323}").text, "ậ");
        assert_eq!(canonical("a\u{0301}\u{0302}").text, "á\u{0302}");
        assert_eq!(canonical("ê\u{0323}ơ\u{0301}").text, "ệớ");
        assert_eq!(canonical(" \u{0301}1\u{0301}").text, " \u{0301}1\u{0301}");
        for c in '\u{0300}'..='\u{033F}' {
            assert_ne!(canonical_combining_class(c), 0, "{c:?}");
        }
    }

    #[test]
    fn decomposed_text_is_canonical_across_blocks() {
        // Letters of decomposed Vietnamese among other characters, over several blocks, so that
        // every kind falls on a block's edge somewhere.
        let pieces = [
            "Vo\u{0302}\u{0301}n ",
            "qua\u{0309}n ly\u{0301}",
            "nghie\u{0323}\u{0302}p",
            "nghie\u{0302}\u{0323}p",
            "tru\u{031B}o\u{031B}\u{0300}ng",
            "Đa\u{0300}",
            "ê\u{0301}",
            "a\u{0301}\u{0301}",
            "n\u{0303}\u{0308}",
            "\u{0301}",
            " ",
            "\n",
            "\r\n",
            "Số 0912",
        ];
        let mut seed = 5_u64;
        for round in 0..20 {
            let mut text = String::new();
            while text.len() < 3 * BLOCK + round * 89 {
                text.push_str(pick(&mut seed, &pieces));
            }
            assert_nfkc_of_mapped(&text, round);
        }
    }

    #[test]
    fn decomposed_stretches_are_mapped_as_letter_by_letter() {
        // Stretches of printable ASCII, line breaks and precomposed letters, each ending with
        // an ASCII letter (of either case) and one or two marks in any order, whether they
        // compose or not, over several blocks: the map must be the one a note after each
        // letter and a pin at each stretch with a line break make, as the general loop does.
        // (A letter's marks followed by a letter that is not ASCII are a run of their own.)
        let fillers = [
            "",
            "",
            " ",
            "ng ",
            "\n",
            " đ",
            "nĐ",
            "tươ",
            "mộ",
            " 0912 345 678 and some longer words\n",
            // Letters across the end of the bytes tested at once.
            "a stretch then đ",
            "a stretch the đ",
            "stretches, then đ",
        ];
        let bases = ['a', 'o', 'u', 'e', 'y', 'A', 'O', 'U', 'E', 'q', 'Z', 'n'];
        let marks = ['\u{0300}', '\u{0301}', '\u{0302}', '\u{0303}', '\u{0306}', '\u{0309}', '\u{031B}', '\u{0323}'];
        let mut seed = 13_u64;
        let mut next = |below: usize| {
            seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            (seed >> 33) as usize % below
        };
        for round in 0..10 {
            let mut text = String::new();
            let mut expected = OffsetMap::default();
            let mut derived = 0;
            while text.len() < 3 * BLOCK + round * 83 {
                let filler = fillers[next(fillers.len())];
                let base = bases[next(bases.len())];
                let mut letter: String = [base, marks[next(marks.len())]].into_iter().collect();
                if next(2) == 0 {
                    letter.push(marks[next(marks.len())]);
                }
                text.push_str(filler);
                derived += filler.len();
                if filler.contains('\n') {
                    expected.pin(derived, text.len());
                }
                text.push_str(&letter);
                derived += letter.nfc().map(char::len_utf8).sum::<usize>();
                expected.note(derived, text.len());
            }
            let canonical = canonical(&text);
            assert_eq!(canonical.text, text.nfkc().collect::<String>(), "round {round}");
            assert!(!canonical.letters_only);
            assert_eq!(canonical.map.points, expected.points, "round {round}");
            assert_eq!(canonical.map.pinned, expected.pinned, "round {round}");
        }
    }

    #[test]
    fn decomposed_letters_next_to_controls_and_other_marks_are_canonical() {
        // Pieces the decomposed stretches stop at: line ends of every kind, controls, a third
        // mark or another kind of mark, a precomposed letter with marks, and marks at the end
        // of the input, where fewer bytes than a letter's are left.
        let pieces = [
            "Vo\u{0302}\u{0301}n ",
            "A\u{0323}\u{0302}",
            "to\u{031B}\u{0301}i\r\n",
            "\r\n",
            "\r",
            "\t",
            "\u{7}",
            "a\u{0301}\u{0302}\u{0323}",
            "o\u{0301}\u{0308}",
            "ê\u{0301}",
            "đa\u{0300}",
            "y\u{0309}\u{0009}",
            "x\u{0301}\u{7F}",
            "\n",
            "q\u{0303}",
        ];
        let mut seed = 17_u64;
        for round in 0..200 {
            let mut text = String::new();
            let length = if round % 20 == 0 { 2 * BLOCK + round } else { round };
            while text.len() < length {
                text.push_str(pick(&mut seed, &pieces));
            }
            let canonical = assert_nfkc_of_mapped(&text, round);
            let bytes = text.as_bytes();
            let input_lines =
                text.match_indices(['\n', '\r']).filter(|&(at, m)| m == "\n" || bytes.get(at + 1) != Some(&b'\n'));
            for ((input, _), (output, _)) in input_lines.zip(canonical.text.match_indices('\n')) {
                assert_eq!(canonical.map.to_source(output + 1), input + 1, "{text:?}");
            }
        }
        for end in ["a\u{0301}", "a\u{0301}\u{0323}", "a\u{0301}b", "xa\u{0301}\u{0323}b"] {
            assert_eq!(canonical(end).text, end.nfkc().collect::<String>(), "{end:?}");
        }
    }

    #[test]
    fn ascii_blocks_have_their_controls_mapped() {
        let text = "GET /a\tb\r\nc\u{7}d\re\u{7F}\n".repeat(1000);
        let canonical = canonical(&text);
        assert_eq!(canonical.text, "GET /a b \nc d\ne \n".repeat(1000));
        assert!(canonical.letters_only);
    }

    #[test]
    fn control_characters_end_a_copied_stretch() {
        let canonical = canonical("Độ mật\tTỐI MẬT\r\nsố\u{7}1");
        assert_eq!(canonical.text, "Độ mật TỐI MẬT \nsố 1");
        assert!(canonical.letters_only);
    }

    #[test]
    fn precomposed_base_with_dot_below_composes() {
        let (text, _) = canonicalize("M\u{C2}\u{323}T");
        assert_eq!(text, "MẬT");
    }

    #[test]
    fn whitespace_and_invisibles() {
        let (text, map) = canonicalize("a\u{00A0}b\u{200B}c\u{00AD}d\te\r\nf\rg\u{2028}h");
        assert_eq!(text, "a bcd e \nf\ng\nh");
        assert_eq!(map.to_source(text.len()), "a\u{00A0}b\u{200B}c\u{00AD}d\te\r\nf\rg\u{2028}h".len());
    }

    #[test]
    fn fullwidth_becomes_ascii() {
        assert_eq!(canonicalize("ＭẬＴ ０９１２").0, "MẬT 0912");
    }

    #[test]
    fn folding_keeps_offsets_and_handles_d_stroke() {
        assert_eq!(fold("ĐỘ MẬT"), "độ mật");
        assert_eq!(fold("ĐỘ MẬT").len(), "ĐỘ MẬT".len());
        let upper = "ÀÁẢÃẠĂẰẮẲẴẶÂẦẤẨẪẬĐÈÉẺẼẸÊỀẾỂỄỆÌÍỈĨỊÒÓỎÕỌÔỒỐỔỖỘƠỜỚỞỠỢÙÚỦŨỤƯỪỨỬỮỰỲÝỶỸỴ";
        let general: String = upper.chars().flat_map(char::to_lowercase).collect();
        assert_eq!(fold(upper), general);
        let mixed = "Số ĐDCN: 0123 MẬT, tối mật; ΜΑΤ Ǆ ẞ x";
        let mut folded = String::new();
        fold_into(mixed, &mut folded);
        assert_eq!(folded, mixed.chars().map(fold_char).collect::<String>());
        for c in ('\0'..='\u{1EFF}').chain(['\u{1E9E}', '\u{2126}', '\u{212A}', '\u{212B}']) {
            let mut lower = c.to_lowercase();
            let expected = match (lower.next(), lower.next()) {
                (Some(l), None) if l.len_utf8() == c.len_utf8() => l,
                _ => c,
            };
            assert_eq!(fold_char(c), expected, "{c:?}");
        }
        let mut out = String::new();
        strip_fold_into("Số định danh ĐDCN", &mut out);
        assert_eq!(out, "so dinh danh ddcn");
    }

    #[test]
    fn folding_by_bytes_is_folding_by_characters() {
        let all: String = ('\0'..='\u{20FF}').chain(['\u{1E9E}', '\u{2126}', '\u{212A}', '\u{212B}', 'Ａ']).collect();
        let mut folded = String::new();
        fold_into(&all, &mut folded);
        assert_eq!(folded, fold(&all));
        // Blocks of Vietnamese letters in both cases, ASCII and punctuation, folded by bytes.
        let letters: String = ('\0'..='\u{1EFF}').filter(|&c| is_precomposed_vietnamese(c)).collect();
        let vietnamese = format!("{letters} ĐỘ MẬT – “Tối mật” ÀÉ×÷ÿ\tTCVN\n").repeat(200);
        fold_into(&vietnamese, &mut folded);
        assert_eq!(folded, fold(&vietnamese));
        // Blocks of ASCII alone, and one that ends on a Vietnamese letter.
        let ascii = format!("{}ĐỘ MẬT", "GET /Index.HTML?Q=1 TCVN\t\u{7}\n".repeat(500));
        fold_into(&ascii, &mut folded);
        assert_eq!(folded, fold(&ascii));
    }

    #[test]
    fn stripping_by_block_order_is_stripping_by_decomposition() {
        let others = ('\u{80}'..='\u{1EFF}').filter(|&c| !is_precomposed_vietnamese(c));
        assert!(others.into_iter().all(|c| vietnamese_base(c).is_none()));
        for c in ('\u{80}'..='\u{1EFF}').filter(|&c| is_precomposed_vietnamese(c)) {
            let mut by_table = String::new();
            strip_fold_into(&c.to_string(), &mut by_table);
            let mut by_decomposition = String::new();
            decompose_canonical(c, |d| {
                if !('\u{0300}'..='\u{036F}').contains(&d) {
                    by_decomposition.push(fold_char(d));
                }
            });
            let expected = if matches!(c, 'đ' | 'Đ') { "d".to_string() } else { by_decomposition };
            assert_eq!(by_table, expected, "{c}");
            assert!(by_table.len() == 1 && by_table.is_ascii(), "{c}");
        }
    }

    #[test]
    fn tone_placement_variants_meet() {
        for (old, new) in [("hoà", "hòa"), ("hoả tốc", "hỏa tốc"), ("khoẻ", "khỏe"), ("thuỷ", "thủy")]
        {
            let mut a = old.to_string();
            let mut b = new.to_string();
            normalize_tone_placement(&mut a);
            normalize_tone_placement(&mut b);
            assert_eq!(a, b, "{old} vs {new}");
            assert_eq!(a.len(), old.len());
        }
        let mut closed = "hoàn quý".to_string();
        normalize_tone_placement(&mut closed);
        assert_eq!(closed, "hoàn quý");
    }

    #[test]
    fn cyrillic_look_alikes_become_latin() {
        assert_eq!(unconfuse("\u{41C}Ậ\u{422}"), "MẬT");
        assert!(matches!(unconfuse("MẬT"), Cow::Borrowed(_)));
    }
}
