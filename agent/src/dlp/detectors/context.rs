//! Context keywords around a candidate (spec §2: "context keywords ±window"), matched as whole
//! words in the diacritic-folded form of a window of characters on either side.

use super::super::canon;
use super::super::data::KEYWORDS;
use aho_corasick::{AhoCorasick, AhoCorasickKind, MatchKind};
use std::cell::RefCell;

pub(crate) struct Context {
    keywords: AhoCorasick,
    window: usize,
}

impl Context {
    pub(crate) fn new(window: usize) -> Result<Self, aho_corasick::BuildError> {
        // Windows are short and searched by the million: a full DFA (a few hundred KiB for
        // these keywords) with no prefilter start-up beats the default's per-call set-up.
        let keywords = AhoCorasick::builder()
            .match_kind(MatchKind::Standard)
            .kind(Some(AhoCorasickKind::DFA))
            .prefilter(false)
            .build(KEYWORDS.iter().map(|(k, _)| *k))?;
        Ok(Context { keywords, window })
    }

    /// Keyword classes (bits of [`super::super::data::class`]) found within the window
    /// around `text[start..end]`.
    pub(crate) fn around(&self, text: &str, start: usize, end: usize) -> u16 {
        thread_local! {
            static BUFFER: RefCell<String> = const { RefCell::new(String::new()) };
        }
        let from = text[..start].char_indices().rev().nth(self.window.saturating_sub(1)).map_or(0, |(i, _)| i);
        let to = text[end..].char_indices().nth(self.window).map_or(text.len(), |(i, _)| end + i);
        BUFFER.with_borrow_mut(|folded| {
            folded.clear();
            canon::strip_fold_into(&text[from..to], folded);
            let bytes = folded.as_bytes();
            let word = |b: Option<&u8>| b.is_some_and(u8::is_ascii_alphanumeric);
            self.keywords
                .find_overlapping_iter(folded.as_str())
                .filter(|m| !word(m.start().checked_sub(1).and_then(|i| bytes.get(i))) && !word(bytes.get(m.end())))
                .fold(0, |classes, m| classes | KEYWORDS[m.pattern().as_usize()].1)
        })
    }
}
