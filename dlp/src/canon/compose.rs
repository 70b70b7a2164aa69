//! Decomposed (NFD) Vietnamese letters composed without the general normalisation algorithm.
//! Decomposed text holds a combining mark or two every few bytes, and the general algorithm
//! looks the class of each mark and each pair it composes up in tables of all of Unicode;
//! here the eight marks of Vietnamese are known by heart and their compositions with Latin
//! letters are taken from a table made once from those same tables, so the result is the
//! general algorithm's.

use super::{OffsetMap, is_precomposed_vietnamese, precomposed_len};
use std::sync::LazyLock;
use unicode_normalization::char::{compose, decompose_canonical};

/// The combining marks of Vietnamese: the tones (grave, acute, tilde, hook above, dot below)
/// and the marks of â ê ô (circumflex), ă (breve) and ơ ư (horn).
const MARKS: [char; 8] =
    ['\u{0300}', '\u{0301}', '\u{0302}', '\u{0303}', '\u{0306}', '\u{0309}', '\u{031B}', '\u{0323}'];

/// The canonical combining class of each of [`MARKS`].
const CLASSES: [u8; 8] = [230, 230, 230, 230, 230, 230, 216, 220];

/// Marks one letter may carry here, those of its own decomposition included; a letter with
/// more is left to the general algorithm.
const MAX_MARKS: usize = 8;

/// For each of U+0300–U+033F, its index in [`MARKS`], or `u8::MAX`.
static MARK_INDEX: [u8; 64] = {
    let mut table = [u8::MAX; 64];
    let mut m = 0;
    while m < MARKS.len() {
        table[MARKS[m] as usize - 0x0300] = m as u8;
        m += 1;
    }
    table
};

/// Index of `c` in [`MARKS`].
fn mark(c: char) -> Option<u8> {
    let offset = u32::from(c).checked_sub(0x0300)?;
    MARK_INDEX.get(usize::try_from(offset).ok()?).copied().filter(|&m| m != u8::MAX)
}

/// Code points below this, and those of Latin Extended Additional (U+1E00–U+1EFF), are in
/// [`COMPOSED`]: every letter an ASCII or Vietnamese letter composes to with [`MARKS`].
const LATIN_BELOW: u32 = 0x250;

fn latin_index(c: char) -> Option<usize> {
    let code = u32::from(c);
    let index = match code {
        0..LATIN_BELOW => code,
        0x1E00..0x1F00 => code - 0x1E00 + LATIN_BELOW,
        _ => return None,
    };
    usize::try_from(index).ok()
}

/// What each letter of [`latin_index`] composes to with each of [`MARKS`] (`'\0'`: nothing).
static COMPOSED: LazyLock<Vec<[char; 8]>> = LazyLock::new(|| {
    let letters = (0..LATIN_BELOW).chain(0x1E00..0x1F00).map(|code| char::from_u32(code).unwrap_or('\0'));
    letters.map(|letter| MARKS.map(|m| compose(letter, m).unwrap_or('\0'))).collect()
});

/// The primary composite of `letter` and `MARKS[mark]`, if there is one.
fn composed(letter: char, mark: u8) -> Option<char> {
    let mark = usize::from(mark);
    match latin_index(letter).and_then(|i| COMPOSED.get(i)) {
        Some(row) => Some(row[mark]).filter(|&c| c != '\0'),
        None => compose(letter, MARKS[mark]),
    }
}

/// Vietnamese marks (indices into [`MARKS`]) after one letter.
#[derive(Default)]
pub(super) struct Marks {
    list: [u8; MAX_MARKS],
    count: usize,
}

impl Marks {
    /// False when there is no room for another.
    fn push(&mut self, mark: u8) -> bool {
        let Some(slot) = self.list.get_mut(self.count) else { return false };
        *slot = mark;
        self.count += 1;
        true
    }
}

/// The Vietnamese marks `bytes` starts with and their length in bytes, when there is at least
/// one and they end a run of non-ASCII characters: nothing but ASCII, if anything, follows.
pub(super) fn marks_ending_run(bytes: &[u8]) -> Option<(Marks, usize)> {
    let mut marks = Marks::default();
    let mut at = 0;
    // U+0300–U+033F are CC 80 to CC BF.
    while let [0xCC, second @ 0x80..=0xBF, ..] = bytes[at..] {
        let mark = MARK_INDEX[usize::from(second & 0x3F)];
        if mark == u8::MAX || !marks.push(mark) {
            return None;
        }
        at += 2;
    }
    (at > 0 && bytes.get(at).is_none_or(u8::is_ascii)).then_some((marks, at))
}

/// Writes the NFKC of `run` when it is letters of decomposed Vietnamese — an ASCII letter
/// (first only: the base of marks that open a run of non-ASCII characters) or a precomposed
/// Vietnamese letter, each followed by Vietnamese combining marks in any order — and returns
/// true; writes nothing and returns false otherwise.
///
/// Each letter is composed on its own: they all start with a character of class 0 that
/// composes with nothing before it, past which neither reordering nor composition reaches.
pub(super) fn compose_letters(run: &str, out: &mut String) -> bool {
    let from = out.len();
    let mut chars = run.chars().peekable();
    let mut first = true;
    while let Some(base) = chars.next() {
        let ascii = first && base.is_ascii_alphabetic();
        first = false;
        let mut marks = Marks::default();
        let mut starter = Some(base);
        if !ascii {
            // The marks of the letter's decomposition come first.
            starter = None;
            let mut known = is_precomposed_vietnamese(base);
            decompose_canonical(base, |d| match (starter, mark(d)) {
                (None, _) => starter = Some(d),
                (Some(_), Some(m)) => known &= marks.push(m),
                (Some(_), None) => known = false,
            });
            starter = starter.filter(|_| known);
        }
        while let Some(m) = chars.peek().copied().and_then(mark) {
            if !marks.push(m) {
                starter = None;
            }
            chars.next();
        }
        match starter {
            Some(starter) => push_composed(starter, marks, out),
            None => {
                out.truncate(from);
                return false;
            }
        }
    }
    true
}

/// Bytes of an entry of [`ASCII_COMPOSED`]: the UTF-8 of what a letter and its marks compose
/// to — at most a letter of three bytes and two marks left standing — and its length, last.
const ENTRY: usize = 8;

/// Index in an [`ASCII_COMPOSED`] row of the second of two marks; this one for no second mark.
const NO_SECOND: usize = MARKS.len();

/// What [`push_composed`] writes for each ASCII letter (by its distance from `A`, the few
/// signs between `Z` and `a` included) followed by one or two of [`MARKS`], in rows of the
/// first mark by the second: decomposed text is such letters, nearly all of it, and a look-up
/// costs a fraction of a composition.
static ASCII_COMPOSED: LazyLock<Vec<[u8; ENTRY]>> = LazyLock::new(|| {
    let mut table = Vec::new();
    for base in b'A'..=b'z' {
        for first in 0..MARKS.len() {
            for second in 0..=NO_SECOND {
                let mut marks = Marks::default();
                marks.list[0] = first as u8;
                marks.list[1] = second as u8;
                marks.count = if second == NO_SECOND { 1 } else { 2 };
                let mut letter = String::new();
                push_composed(char::from(base), marks, &mut letter);
                let mut entry = [0; ENTRY];
                entry[..letter.len()].copy_from_slice(letter.as_bytes());
                entry[ENTRY - 1] = letter.len() as u8;
                table.push(entry);
            }
        }
    }
    table
});

/// Goes through `input` from `from` a stretch at a time, as [`super::canonical_into`] does,
/// for as long as each stretch starts before `until` and is decomposed Vietnamese of the
/// commonest kind: printable ASCII, line breaks and precomposed Vietnamese letters, then an
/// ASCII letter with one or two of [`MARKS`], then ASCII or the end of `input`. Writes what
/// `canonical_into` writes for them, maps them as it does, and returns where it stopped.
///
/// Decomposed text is such stretches, a few bytes each, nearly all of it: this takes a
/// fraction of the work of finding and judging each in the general loop.
pub(super) fn compose_stretches(
    input: &str,
    from: usize,
    until: usize,
    out: &mut String,
    map: &mut OffsetMap,
) -> usize {
    let bytes = input.as_bytes();
    let table = &**ASCII_COMPOSED;
    // The text and the map are worked on out of their places, where nothing else can reach
    // them and their lengths stay in registers; the text meanwhile holds bytes written past
    // its characters (16 at a time, the length cut back after).
    let mut text = std::mem::take(out).into_bytes();
    let mut mapped = std::mem::take(map);
    // The text up to here is whole characters: those it held and those of whole stretches.
    let mut kept = text.len();
    let mut i = from;
    while i < until {
        // The stretch is copied as it is tested, 16 bytes at a time: stretches are a word or
        // two between marks.
        let mut stop = i;
        let mut line_break = false;
        loop {
            let word = match bytes[stop..].first_chunk::<16>() {
                Some(chunk) => *chunk,
                None => {
                    let mut padded = [0xFF; 16];
                    padded[..bytes.len() - stop].copy_from_slice(&bytes[stop..]);
                    padded
                }
            };
            text.truncate(kept + (stop - i));
            text.extend_from_slice(&word);
            let (others, line_feeds) = others_and_line_feeds(u128::from_le_bytes(word));
            line_break |= line_feeds.trailing_zeros() < others.trailing_zeros();
            if others == 0 {
                stop += 16;
                continue;
            }
            stop += others.trailing_zeros() as usize / 8;
            match bytes.get(stop) {
                Some(0xCC) | None => break,
                Some(_) => match precomposed_len(bytes, stop) {
                    0 => break,
                    // It may reach past the word copied.
                    len => {
                        text.truncate(kept + (stop - i));
                        text.extend_from_slice(&bytes[stop..stop + len]);
                        stop += len;
                    }
                },
            }
        }
        if stop == i || !bytes[stop - 1].is_ascii_alphabetic() {
            break;
        }
        // U+0300–U+033F are CC 80 to CC BF. One mark or two are told apart without a branch,
        // which would go either way in turn; the last few bytes of the input are left to the
        // general loop.
        let Some(&[0xCC, first, third, fourth, fifth]) = bytes[stop..].first_chunk::<5>() else { break };
        let two = third == 0xCC;
        let first = MARK_INDEX[usize::from(first & 0x3F)];
        let second = if two { MARK_INDEX[usize::from(fourth & 0x3F)] } else { NO_SECOND as u8 };
        let (len, next) = if two { (4, fifth) } else { (2, third) };
        if (first == u8::MAX) | (second == u8::MAX) | !next.is_ascii() {
            break;
        }
        let row = usize::from(bytes[stop - 1] - b'A') * MARKS.len() + usize::from(first);
        let Some(entry) = table.get(row * (NO_SECOND + 1) + usize::from(second)) else { break };
        // The stretch but its last letter, which the letter composed from its marks replaces.
        text.truncate(kept + (stop - 1 - i));
        if line_break {
            mapped.pin(text.len(), stop - 1);
        }
        kept = text.len() + usize::from(entry[ENTRY - 1]);
        text.extend_from_slice(entry);
        text.truncate(kept);
        i = stop + len;
        mapped.note(kept, i);
    }
    text.truncate(kept);
    // SAFETY: the text is cut back to whole characters: those it held, and for each stretch
    // composed here the stretch's own, up to an ASCII letter, and those of a table entry, as
    // many bytes as the entry says.
    *out = unsafe { String::from_utf8_unchecked(text) };
    *map = mapped;
    i
}

/// The bytes of `word` (read little-endian) other than printable ASCII and line feeds, and
/// its line feeds, each by its highest bit.
fn others_and_line_feeds(word: u128) -> (u128, u128) {
    const ONES: u128 = u128::from_le_bytes([1; 16]);
    const HIGH: u128 = ONES * 0x80;
    // Each byte of `low` is at most 0x7F, so no sum below carries into the next byte.
    let low = word & !HIGH;
    let ascii = !word & HIGH;
    // At least 0x20, and not 0x7F.
    let printable = (low + ONES * 0x60) & !(low + ONES) & HIGH;
    let line_feeds = !((low ^ (ONES * u128::from(b'\n'))) + ONES * 0x7F) & HIGH & ascii;
    (!(printable & ascii | line_feeds) & HIGH, line_feeds)
}

/// Writes the NFC of `starter` (a letter with no decomposition) followed by `marks`, as
/// Unicode's canonical composition makes it.
pub(super) fn push_composed(starter: char, marks: Marks, out: &mut String) {
    // Most letters: each mark composes with what the ones before made (ố is o, ô, ố). The
    // letter so made is equivalent to the input and a composite, so it is the input's NFC
    // whatever the order of the marks; otherwise order and blocking decide.
    let mut letter = starter;
    for &m in &marks.list[..marks.count] {
        match composed(letter, m) {
            Some(c) => letter = c,
            None => return push_sorted(starter, marks, out),
        }
    }
    out.push(letter);
}

/// [`push_composed`] by the rules: the marks sorted by class (stably), each composed into the
/// letter unless an earlier mark left standing has its class.
fn push_sorted(starter: char, mut marks: Marks, out: &mut String) {
    let all = &mut marks.list[..marks.count];
    // An insertion sort: there are one or two.
    for i in 1..all.len() {
        let mut j = i;
        while j > 0 && CLASSES[usize::from(all[j - 1])] > CLASSES[usize::from(all[j])] {
            all.swap(j - 1, j);
            j -= 1;
        }
    }
    // Being sorted, the last mark left standing has the highest class of them, and a mark is
    // blocked from the letter by one of a class at least its own.
    let mut letter = starter;
    let mut standing = Marks::default();
    for &m in all.iter() {
        let blocked =
            standing.count > 0 && CLASSES[usize::from(standing.list[standing.count - 1])] >= CLASSES[usize::from(m)];
        match composed(letter, m).filter(|_| !blocked) {
            Some(c) => letter = c,
            None => {
                standing.push(m);
            }
        }
    }
    out.push(letter);
    out.extend(standing.list[..standing.count].iter().map(|&m| MARKS[usize::from(m)]));
}

#[cfg(test)]
mod tests {
    use super::*;
    use unicode_normalization::UnicodeNormalization;
    use unicode_normalization::char::canonical_combining_class;

    #[test]
    fn marks_have_their_classes() {
        for (m, class) in MARKS.into_iter().zip(CLASSES) {
            assert_eq!(canonical_combining_class(m), class, "{m:?}");
            assert_eq!(mark(m).map(|i| MARKS[usize::from(i)]), Some(m));
        }
        let others = ('\0'..'\u{0400}').filter(|c| !MARKS.contains(c));
        assert!(others.into_iter().all(|c| mark(c).is_none()));
    }

    #[test]
    fn every_vietnamese_letter_composes_from_its_marks_in_every_order() {
        for c in ('\u{80}'..='\u{1EFF}').filter(|&c| is_precomposed_vietnamese(c)) {
            let nfd: Vec<char> = c.to_string().nfd().collect();
            let (base, marks) = nfd.split_first().unwrap_or((&c, &[]));
            let mut orders = vec![marks.to_vec()];
            if let [a, b] = marks {
                orders.push(vec![*b, *a]);
            }
            for order in orders {
                let run: String = std::iter::once(*base).chain(order).collect();
                let mut out = String::new();
                assert!(compose_letters(&run, &mut out), "{run:?}");
                assert_eq!(out, run.nfkc().collect::<String>(), "{run:?}");
            }
        }
    }

    #[test]
    fn ascii_letters_with_one_or_two_marks_compose_by_table_as_nfc() {
        for base in ('A'..='Z').chain('a'..='z') {
            for first in MARKS {
                for second in MARKS.map(Some).into_iter().chain([None]) {
                    let letter: String = [Some(base), Some(first), second].into_iter().flatten().collect();
                    let column = second.and_then(mark).map_or(NO_SECOND, usize::from);
                    let row = usize::from(base as u8 - b'A') * MARKS.len() + usize::from(mark(first).unwrap_or(0));
                    let entry = ASCII_COMPOSED[row * (NO_SECOND + 1) + column];
                    let composed = &entry[..usize::from(entry[ENTRY - 1])];
                    assert_eq!(composed, letter.nfc().collect::<String>().as_bytes(), "{letter:?}");
                }
            }
        }
    }

    #[test]
    fn words_tell_printable_ascii_and_line_feeds_from_other_bytes() {
        for b in 0..=u8::MAX {
            for at in 0..16 {
                let mut word = [b'a'; 16];
                word[at] = b;
                let (others, line_feeds) = others_and_line_feeds(u128::from_le_bytes(word));
                let other = !((0x20..0x7F).contains(&b) || b == b'\n');
                assert_eq!(others, u128::from(other) << (8 * at + 7), "{b:#x} at {at}");
                assert_eq!(line_feeds, u128::from(b == b'\n') << (8 * at + 7), "{b:#x} at {at}");
            }
        }
    }

    #[test]
    fn marks_end_a_run_only_before_ascii() {
        let len = |s: &str| marks_ending_run(s.as_bytes()).map(|(_, len)| len);
        assert_eq!(len("\u{0302}\u{0301}n"), Some(4));
        assert_eq!(len("\u{0323}"), Some(2));
        assert_eq!(len("\u{0301}ê"), None);
        assert_eq!(len("\u{0301}\u{0308}"), None);
        assert_eq!(len("n\u{0301}"), None);
        assert_eq!(len(&"\u{0301}".repeat(MAX_MARKS + 1)), None);
    }

    /// A number picked by a linear congruential generator: the same runs on every test.
    fn pick(seed: &mut u64, below: usize) -> usize {
        *seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        (*seed >> 33) as usize % below
    }

    #[test]
    fn runs_compose_as_the_general_algorithm_composes_them() {
        // Bases: ASCII letters that take Vietnamese marks and some that take others, precomposed
        // letters (toned or not, đ), non-Vietnamese letters and a digit. Marks: the eight of
        // Vietnamese, stacked and in any order, and a few others.
        let bases =
            ['a', 'A', 'e', 'i', 'o', 'O', 'u', 'y', 'n', 'g', 'c', 'z', '1', 'â', 'Ê', 'ơ', 'ư', 'ă', 'ạ', 'ế'];
        let more_bases = ['đ', 'Đ', 'ñ', 'ṇ', 'ö', 'ß', 'ǅ', 'ο'];
        let others = ['\u{0308}', '\u{0327}', '\u{0307}', '\u{0340}', '\u{0345}'];
        let mut seed = 3_u64;
        let mut fast = 0;
        for _ in 0..20_000 {
            let mut run = String::new();
            for letter in 0..=pick(&mut seed, 3) {
                let base = match pick(&mut seed, 4) {
                    0 => more_bases[pick(&mut seed, more_bases.len())],
                    _ => bases[pick(&mut seed, bases.len())],
                };
                // Only the first letter of a run may be ASCII: a run is of non-ASCII characters.
                run.push(if letter > 0 && base.is_ascii() { 'ê' } else { base });
                for _ in 0..pick(&mut seed, 5) {
                    let m = match pick(&mut seed, 12) {
                        0 => others[pick(&mut seed, others.len())],
                        _ => MARKS[pick(&mut seed, MARKS.len())],
                    };
                    run.push(m);
                }
            }
            let mut out = String::from("x");
            if compose_letters(&run, &mut out) {
                fast += 1;
                assert_eq!(out[1..], run.nfkc().collect::<String>(), "{run:?}");
            } else {
                assert_eq!(out, "x", "{run:?}");
            }
        }
        // Many runs are all Vietnamese letters and marks, and take the fast path.
        assert!(fast > 5_000, "{fast}");
    }
}
