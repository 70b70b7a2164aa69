//! Context keywords around a candidate (spec §2: "context keywords ±window"), matched as whole
//! words in the diacritic-folded form of a window of characters on either side.
//!
//! In a view dense with candidates (a list of citizens, one identifier per column) the
//! windows overlap, and folding and searching each on its own would go over the same
//! characters many times. So the keywords of a view are found once, in spans of the view
//! that grow as the candidates are met in order ([`KeywordIndex`]), and a window that lies
//! in a span is answered from what was found there. The answer is the same, because folding
//! goes character by character: a window's folded text is a piece of the view's.

use super::super::canon;
use super::super::data::KEYWORDS;
use super::super::table::{ColumnContext, Layout};
use super::BuildError;
use super::keywords::{self, Keywords, Stop};
use std::cell::RefCell;

pub(crate) struct Context {
    /// Every keyword, found where they overlap too.
    keywords: Keywords,
    window: usize,
}

impl Context {
    pub(crate) fn new(window: usize) -> Result<Self, BuildError> {
        Ok(Context { keywords: Keywords::new(&KEYWORDS)?, window })
    }

    /// The context of one view's text laid out as `layout`, for looking up the windows
    /// around its candidates.
    pub(crate) fn of<'a>(&'a self, text: &'a str, layout: Layout<'a>) -> ViewContext<'a> {
        let columns = ColumnContext::new(text, layout, |header| self.header_classes(header));
        ViewContext { context: self, text, index: RefCell::new(KeywordIndex::default()), columns }
    }

    /// The classes of the keywords a column header holds, its words split at any character
    /// that is not a letter or digit (`ma_so_thue`, `So-CCCD`).
    fn header_classes(&self, header: &str) -> u16 {
        let mut folded = String::new();
        canon::strip_fold_into(header, &mut folded);
        let words: Vec<u8> = folded.bytes().map(|b| if b.is_ascii_alphanumeric() { b } else { b' ' }).collect();
        self.keyword_classes(&words)
    }

    /// The classes of the keywords that stand as whole words in `folded`.
    fn keyword_classes(&self, folded: &[u8]) -> u16 {
        let word = |b: Option<&u8>| b.is_some_and(u8::is_ascii_alphanumeric);
        let mut state = keywords::START;
        let mut classes = 0;
        for (at, &byte) in folded.iter().enumerate() {
            self.keywords.step(&mut state, byte, |len, class| {
                let start = at + 1 - len;
                if !word(start.checked_sub(1).and_then(|i| folded.get(i))) && !word(folded.get(at + 1)) {
                    classes |= class;
                }
            });
        }
        classes
    }
}

/// The keyword context of one view's text.
pub(crate) struct ViewContext<'a> {
    context: &'a Context,
    text: &'a str,
    index: RefCell<KeywordIndex>,
    columns: ColumnContext<'a>,
}

impl ViewContext<'_> {
    /// Keyword classes (bits of [`super::super::data::class`]) found within the window
    /// around `text[start..end]`.
    /// In a table cell whose column header names an identifier, the header's classes.
    pub(crate) fn around(&self, start: usize, end: usize) -> u16 {
        let column = self.columns.at(start);
        if column != 0 {
            return column;
        }
        // A character is four bytes at most, so the window lies within `reach` bytes; where
        // a span covers that and holds no keyword there, the window need not be measured.
        let reach = 4 * self.context.window;
        let (lo, hi) = (start.saturating_sub(reach), (end + reach).min(self.text.len()));
        let mut index = self.index.borrow_mut();
        if index.none_within(lo, hi) {
            return 0;
        }
        let (from, to) = window(self.text, start, end, self.context.window);
        index.classes(self.context, self.text, from, to)
    }
}

/// The keyword classes of one window's text, folded and searched on its own.
fn window_classes(context: &Context, window: &str) -> u16 {
    thread_local! {
        static BUFFER: RefCell<String> = const { RefCell::new(String::new()) };
    }
    BUFFER.with_borrow_mut(|folded| {
        folded.clear();
        canon::strip_fold_into(window, folded);
        context.keyword_classes(folded.as_bytes())
    })
}

/// The keywords found in spans of a view's text, with what decides whether a window's
/// folded text holds each as a whole word.
///
/// The folded window is the piece of the folded text made by the window's characters. A
/// keyword lies in it when the characters that made its first and last bytes do. It stands
/// there as a whole word unless a letter or digit next to it lies in the window too: the
/// window's edges are no letters. So a keyword whose folded neighbour on the left is a
/// letter counts only in windows that start past that neighbour's character, and the same on
/// the right.
///
/// Windows come in the order of their candidates, one detector after another. A window that
/// starts in or shortly after the last span grows it (the text between is searched too, as
/// a dense view's windows nearly touch); one further on starts a new span. A window that
/// lies in no span and before the last one (a later detector's candidate in a sparse view)
/// is folded and searched on its own.
#[derive(Default)]
struct KeywordIndex {
    /// Disjoint, in the order of the text.
    spans: Vec<(usize, usize)>,
    /// The automaton's state at the end of the last span.
    state: keywords::State,
    /// Every keyword that lies in a span, in the order of their ends.
    occurrences: Vec<Occurrence>,
}

struct Occurrence {
    /// Where the characters that made the keyword's first and last bytes start and end.
    start: usize,
    end: usize,
    /// How early a window may start and how late it may end for the keyword to be a whole
    /// word in it: past the character of a letter or digit next to it.
    min_from: usize,
    max_to: usize,
    class: u16,
}

impl KeywordIndex {
    /// A gap between the last span and a window that is searched to join them: about as
    /// long as a window, so that searching it costs no more than the window would alone.
    const JOIN: usize = 256;

    /// The classes of the keywords that stand as whole words in the folded text of `from..to`.
    fn classes(&mut self, context: &Context, text: &str, from: usize, to: usize) -> u16 {
        let span = self.spans.partition_point(|&(start, _)| start <= from).checked_sub(1);
        let covered = span.is_some_and(|i| to <= self.spans[i].1);
        if !covered {
            match self.spans.last().copied() {
                Some((start, end)) if start <= from && from <= end + Self::JOIN => {
                    self.state = self.search(context, text, end, to, self.state);
                    if let Some(last) = self.spans.last_mut() {
                        last.1 = to;
                    }
                }
                last if last.is_none_or(|(_, end)| end < from) => {
                    self.state = self.search(context, text, from, to, keywords::START);
                    self.spans.push((from, to));
                }
                _ => return window_classes(context, &text[from..to]),
            }
        }
        let first = self.occurrences.partition_point(|o| o.end <= from);
        self.occurrences[first..]
            .iter()
            .take_while(|o| o.end <= to)
            .filter(|o| o.min_from <= from && from <= o.start && to <= o.max_to)
            .fold(0, |classes, o| classes | o.class)
    }

    /// Whether a span covers `lo..hi` and no keyword found there lies in it.
    fn none_within(&self, lo: usize, hi: usize) -> bool {
        let span = self.spans.partition_point(|&(start, _)| start <= lo).checked_sub(1);
        let covered = span.is_some_and(|i| hi <= self.spans[i].1);
        covered && self.occurrences.get(self.occurrences.partition_point(|o| o.end <= lo)).is_none_or(|o| o.end > hi)
    }

    /// Searches the folded text of `text[from..to]` from state `state`, keeping the keywords
    /// found; returns the state at the end.
    fn search(
        &mut self,
        context: &Context,
        text: &str,
        from: usize,
        to: usize,
        state: keywords::State,
    ) -> keywords::State {
        let keywords = &context.keywords;
        let bytes = &text.as_bytes()[..to];
        let (mut at, mut state) = (from, state);
        loop {
            // ASCII folds to itself in lower case, which the automaton reads as it stands.
            let occurrences = &mut self.occurrences;
            let found = |i: usize, len, class| {
                let byte = bytes[at + i].to_ascii_lowercase();
                occurrences.push(occurrence(text, at + i, at + i + 1, &[byte], 0, len, class));
            };
            match keywords.run(state, &bytes[at..], found) {
                Stop::End(end) => return end,
                Stop::NonAscii(i, before) => (at, state) = (at + i, before),
            }
            let Some(c) = text[at..to].chars().next() else { return state };
            let end = at + c.len_utf8();
            let folded = Folded::of(c);
            for (k, &byte) in folded.bytes().iter().enumerate() {
                keywords.step(&mut state, byte, |len, class| {
                    self.occurrences.push(occurrence(text, at, end, folded.bytes(), k, len, class));
                });
            }
            at = end;
        }
    }
}

/// The keyword of `len` folded bytes whose last byte is byte `k` of `folded`, what the
/// character at `text[start..end]` folds to.
fn occurrence(text: &str, start: usize, end: usize, folded: &[u8], k: usize, len: usize, class: u16) -> Occurrence {
    let own = |bytes| made_by(bytes, start, end);
    let mut before = own(&folded[..k]).rev().chain(folded_before(text, start));
    // The DFA matched the whole keyword in the text searched, so its bytes are all there.
    let first = if len == 1 { Some((folded[k], start, end)) } else { before.nth(len - 2) };
    let min_from = match before.next() {
        Some((byte, _, end)) if byte.is_ascii_alphanumeric() => end,
        _ => 0,
    };
    let max_to = match own(&folded[k + 1..]).chain(folded_after(text, end)).next() {
        Some((byte, start, _)) if byte.is_ascii_alphanumeric() => start,
        _ => usize::MAX,
    };
    Occurrence { start: first.map_or(start, |(_, start, _)| start), end, min_from, max_to, class }
}

/// `bytes`, each as made by the character at `start..end`.
fn made_by(bytes: &[u8], start: usize, end: usize) -> impl DoubleEndedIterator<Item = (u8, usize, usize)> + '_ {
    bytes.iter().map(move |&byte| (byte, start, end))
}

/// The folded bytes of `text` before `at`, last first, each with the character that made it.
fn folded_before(text: &str, at: usize) -> impl Iterator<Item = (u8, usize, usize)> + '_ {
    text[..at].char_indices().rev().flat_map(|(start, c)| {
        let folded = Folded::of(c);
        (0..folded.len).rev().map(move |i| (folded.bytes[i], start, start + c.len_utf8()))
    })
}

/// The folded bytes of `text` from `at` on, each with the character that made it.
fn folded_after(text: &str, at: usize) -> impl Iterator<Item = (u8, usize, usize)> + '_ {
    text[at..].char_indices().flat_map(move |(offset, c)| {
        let folded = Folded::of(c);
        (0..folded.len).map(move |i| (folded.bytes[i], at + offset, at + offset + c.len_utf8()))
    })
}

/// What one character folds to ([`canon::strip_fold_char`]): its canonical decomposition
/// has at most four characters, of four bytes each.
#[derive(Clone, Copy)]
struct Folded {
    bytes: [u8; 16],
    len: usize,
}

impl Folded {
    fn of(c: char) -> Folded {
        let mut folded = Folded { bytes: [0; 16], len: 0 };
        if c.is_ascii() {
            folded.bytes[0] = c.to_ascii_lowercase() as u8;
            folded.len = 1;
            return folded;
        }
        canon::strip_fold_char(c, |f| {
            let mut buf = [0; 4];
            for &byte in f.encode_utf8(&mut buf).as_bytes() {
                if let Some(slot) = folded.bytes.get_mut(folded.len) {
                    *slot = byte;
                    folded.len += 1;
                }
            }
        });
        folded
    }

    fn bytes(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

/// The byte range of `text` from `chars` characters before `start` to `chars` characters
/// after `end` (or the text's ends). Characters are counted by their first bytes (all but
/// 0x80–0xBF), without decoding them, as many bytes at a time as characters are still
/// wanted: there are at most that many in them, and in ASCII exactly that many.
fn window(text: &str, start: usize, end: usize, chars: usize) -> (usize, usize) {
    let bytes = text.as_bytes();
    // Counted a byte per lane (a count in `usize` would take eight), in stretches too short
    // for a byte to overflow.
    let firsts = |range: &[u8]| -> usize {
        let count = |chunk: &[u8]| chunk.iter().fold(0_u8, |n, &b| n + u8::from(!(0x80..0xC0).contains(&b)));
        range.chunks(usize::from(u8::MAX)).map(|chunk| usize::from(count(chunk))).sum()
    };
    let (mut from, mut wanted) = (start, chars.max(1));
    let from = loop {
        let lo = from.saturating_sub(wanted);
        let found = firsts(&bytes[lo..from]);
        if found == wanted {
            break lo;
        }
        if lo == 0 {
            break 0;
        }
        (from, wanted) = (lo, wanted - found);
    };
    // The character after the last one wanted starts the end.
    let (mut to, mut wanted) = (end, chars + 1);
    let to = loop {
        let hi = (to + wanted).min(bytes.len());
        let found = firsts(&bytes[to..hi]);
        if found == wanted {
            break hi - 1;
        }
        if hi == bytes.len() {
            break bytes.len();
        }
        (to, wanted) = (hi, wanted - found);
    };
    (from, to)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::class;
    use aho_corasick::{AhoCorasick, MatchKind};

    #[test]
    fn windows_count_characters() {
        let text = "Số CCCD: 056012345678, điện thoại 0912 345 678 — Nguyễn Văn Ánh";
        let offsets: Vec<usize> = text.char_indices().map(|(i, _)| i).chain([text.len()]).collect();
        for &start in &offsets {
            for &end in offsets.iter().filter(|&&e| e >= start) {
                for chars in [0_usize, 1, 3, 40] {
                    let from = text[..start].char_indices().rev().nth(chars.saturating_sub(1)).map_or(0, |(i, _)| i);
                    let to = text[end..].char_indices().nth(chars).map_or(text.len(), |(i, _)| end + i);
                    assert_eq!(window(text, start, end, chars), (from, to), "{start}..{end} ±{chars}");
                }
            }
        }
    }

    #[test]
    fn the_index_answers_every_window_as_folding_the_window_does() {
        let texts = [
            "Số CCCD: 056012345678, điện thoại 0912 345 678 — Nguyễn Văn Ánh, mst0312345678 bhyt",
            // Keywords glued to letters and digits, at the text's ends, overlapping.
            "cccdx xcccd 9sdt sdt9 dinh danh ca nhan so dinh danh_ca nhan cccd",
            // Decomposed letters: the marks fold to nothing, between and around keywords.
            "Đie\u{0323}\u{0302}n thoa\u{0323}i\u{0301}\u{0301} So\u{0302}\u{0301} ddcn\u{0301}x \u{0301}tel\u{0301} ma\u{0303} so\u{0302}\u{0301} thue\u{0302}\u{0301}",
            // Characters that fold to more than one byte or to a non-ASCII one.
            "ŁÆ cmnd Ωzalo ßfax ﬁ bks™ ｃｃｃｄ bhxh",
        ];
        let context = Context::new(40).expect("keywords");
        for text in texts {
            let offsets: Vec<usize> = text.char_indices().map(|(i, _)| i).chain([text.len()]).collect();
            let mut index = KeywordIndex::default();
            index.classes(&context, text, 0, text.len());
            assert_eq!(index.spans, [(0, text.len())]);
            assert!(!index.occurrences.is_empty(), "{text}");
            let mut found = 0;
            for &start in &offsets {
                for &end in offsets.iter().filter(|&&e| e >= start) {
                    for chars in [0_usize, 1, 2, 4, 7, 40] {
                        let (from, to) = window(text, start, end, chars);
                        let expected = window_classes(&context, &text[from..to]);
                        let indexed = index.classes(&context, text, from, to);
                        assert_eq!(indexed, expected, "{text:?} {from}..{to}");
                        found |= expected;
                    }
                }
            }
            assert_ne!(found, 0, "{text}");
        }
    }

    #[test]
    fn a_dense_view_is_searched_in_one_span_and_a_sparse_one_window_by_window() {
        let context = Context::new(40).expect("keywords");
        let row = "1,Nguyễn Văn An,cccd 056012345678,sdt 0912345678,mst 0312345678\n";
        let dense = row.repeat(50);
        let filler = " Văn bản hành chính không có số nào ở đây cả.".repeat(20);
        let sparse = format!("{filler} sdt 0912345678{filler}{filler} 0312345678 mst{filler} cccd: 056012345678");
        for (text, spans) in [(&dense, 1), (&sparse, 3)] {
            let view = context.of(text, crate::table::Layout::None);
            let mut answers = Vec::new();
            // Two passes, as two detectors would make.
            for _ in 0..2 {
                for (at, _) in text.match_indices('0') {
                    let (from, to) = window(text, at, at + 1, 40);
                    answers.push((view.around(at, at + 1), window_classes(&context, &text[from..to])));
                }
            }
            assert_eq!(view.index.borrow().spans.len(), spans, "{text}");
            assert!(answers.iter().all(|(indexed, windowed)| indexed == windowed), "{text}");
            for class in [class::CCCD, class::PHONE, class::MST] {
                assert!(answers.iter().any(|&(indexed, _)| indexed & class != 0), "{text}");
            }
        }
        // Rows with no keyword but in their header: most windows are answered unmeasured.
        let text = format!("so cccd,sdt\n{}", "1,Nguyễn Văn An,056012345678,0912345678\n".repeat(50));
        let view = context.of(&text, crate::table::Layout::None);
        for _ in 0..2 {
            for (at, _) in text.match_indices('0') {
                let (from, to) = window(&text, at, at + 1, 40);
                assert_eq!(view.around(at, at + 1), window_classes(&context, &text[from..to]), "{at}");
            }
        }
        assert!(view.index.borrow().none_within(1000, 1300));
    }

    #[test]
    fn keywords_are_letters_and_spaces_as_the_search_assumes() {
        for (keyword, _) in KEYWORDS {
            assert!(keyword.bytes().all(|b| b.is_ascii_lowercase() || b == b' '), "{keyword}");
        }
    }

    #[test]
    fn stepping_the_dfa_finds_what_an_overlapping_search_finds() {
        let context = Context::new(40).expect("keywords");
        let keywords = KEYWORDS.iter().map(|(k, _)| *k);
        let reference = AhoCorasick::builder().match_kind(MatchKind::Standard).build(keywords).expect("keywords");
        let mut folded = String::new();
        for (keyword, _) in KEYWORDS {
            for text in [keyword.to_string(), format!("x{keyword} so dinh danh ca nhan"), format!("{keyword}9 mst: 1")]
            {
                folded.clear();
                canon::strip_fold_into(&text, &mut folded);
                let bytes = folded.as_bytes();
                let word = |b: Option<&u8>| b.is_some_and(u8::is_ascii_alphanumeric);
                let expected = reference
                    .find_overlapping_iter(folded.as_str())
                    .filter(|m| !word(m.start().checked_sub(1).and_then(|i| bytes.get(i))) && !word(bytes.get(m.end())))
                    .fold(0, |classes, m| classes | KEYWORDS[m.pattern().as_usize()].1);
                assert_eq!(context.keyword_classes(bytes), expected, "{text}");
            }
        }
    }
}
