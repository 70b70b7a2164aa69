//! Context keywords around a candidate (spec §2: "context keywords ±window"), matched as whole
//! words in the diacritic-folded form of a window of characters on either side.

use super::super::canon;
use super::super::data::KEYWORDS;
use aho_corasick::automaton::Automaton;
use aho_corasick::dfa::DFA;
use aho_corasick::{Anchored, MatchKind};
use std::cell::RefCell;

pub(crate) struct Context {
    /// Every keyword, found where they overlap too. Windows are short and searched by the
    /// million, so the DFA is stepped here directly, with no prefilter to start and no call
    /// through the `AhoCorasick` wrapper's trait object per byte.
    keywords: DFA,
    window: usize,
}

impl Context {
    pub(crate) fn new(window: usize) -> Result<Self, aho_corasick::BuildError> {
        let keywords =
            DFA::builder().match_kind(MatchKind::Standard).prefilter(false).build(KEYWORDS.iter().map(|(k, _)| *k))?;
        Ok(Context { keywords, window })
    }

    /// Keyword classes (bits of [`super::super::data::class`]) found within the window
    /// around `text[start..end]`.
    pub(crate) fn around(&self, text: &str, start: usize, end: usize) -> u16 {
        thread_local! {
            static BUFFER: RefCell<String> = const { RefCell::new(String::new()) };
        }
        let (from, to) = window(text, start, end, self.window);
        BUFFER.with_borrow_mut(|folded| {
            folded.clear();
            canon::strip_fold_into(&text[from..to], folded);
            self.keyword_classes(folded.as_bytes())
        })
    }

    /// The classes of the keywords that stand as whole words in `folded`.
    fn keyword_classes(&self, folded: &[u8]) -> u16 {
        let dfa = &self.keywords;
        let Ok(mut state) = dfa.start_state(Anchored::No) else { return 0 };
        let word = |b: Option<&u8>| b.is_some_and(u8::is_ascii_alphanumeric);
        let mut classes = 0;
        for (at, &b) in folded.iter().enumerate() {
            state = dfa.next_state(Anchored::No, state, b);
            if !dfa.is_special(state) || !dfa.is_match(state) {
                continue;
            }
            let end = at + 1;
            for index in 0..dfa.match_len(state) {
                let pattern = dfa.match_pattern(state, index);
                let start = end - dfa.pattern_len(pattern);
                if !word(start.checked_sub(1).and_then(|i| folded.get(i))) && !word(folded.get(end)) {
                    classes |= KEYWORDS[pattern.as_usize()].1;
                }
            }
        }
        classes
    }
}

/// The byte range of `text` from `chars` characters before `start` to `chars` characters
/// after `end` (or the text's ends). Characters are counted by their first bytes (all but
/// 0x80–0xBF), without decoding them.
fn window(text: &str, start: usize, end: usize, chars: usize) -> (usize, usize) {
    let bytes = text.as_bytes();
    let first = |b: &u8| !(0x80..0xC0).contains(b);
    let before = bytes[..start].iter().rev().enumerate().filter(|(_, b)| first(b)).nth(chars.saturating_sub(1));
    let after = bytes[end..].iter().enumerate().filter(|(_, b)| first(b)).nth(chars);
    (before.map_or(0, |(back, _)| start - back - 1), after.map_or(text.len(), |(at, _)| end + at))
}

#[cfg(test)]
mod tests {
    use super::*;
    use aho_corasick::AhoCorasick;

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
