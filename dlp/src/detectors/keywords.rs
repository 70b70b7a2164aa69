//! The context keywords as a dense automaton over the bytes of text, for the keyword search
//! of [`super::context`], which goes through nearly every byte of a view dense with
//! candidates.
//!
//! `aho_corasick` builds the automaton; its states are copied here into one table indexed by
//! state and byte class, in which upper and lower case are one class, every other ASCII byte
//! leads back to the start, and match states come last. A step is then one load and one
//! comparison, where stepping the library's DFA also takes a branch to tell letters from other
//! bytes, a lookup of the byte's class and a test for special states.

use super::super::wide::position_from;
use super::BuildError;
use aho_corasick::automaton::{Automaton, StateID};
use aho_corasick::dfa::DFA;
use aho_corasick::{Anchored, MatchKind};
use std::collections::{HashMap, HashSet};

/// Byte classes: 0 for bytes no keyword holds, 1–26 the letters of either case, then the space
/// and, in text, a byte outside ASCII.
const OTHER: u8 = 0;
const SPACE: u8 = 27;
const NON_ASCII: u8 = 28;
/// Row length of the table: room for every class.
const STRIDE: usize = 32;

/// The class of each byte of text: a byte outside ASCII stops the search ([`Keywords::run`]).
const TEXT_CLASSES: [u8; 256] = classes(NON_ASCII);
/// The class of each byte of folded text, where a byte outside ASCII is one of a character no
/// keyword holds.
const FOLDED_CLASSES: [u8; 256] = classes(OTHER);

const fn classes(non_ascii: u8) -> [u8; 256] {
    let mut table = [non_ascii; 256];
    let mut b = 0;
    while b < 128 {
        table[b] = match b as u8 {
            b'a'..=b'z' => b as u8 - b'a' + 1,
            b'A'..=b'Z' => b as u8 - b'A' + 1,
            b' ' => SPACE,
            _ => OTHER,
        };
        b += 1;
    }
    table
}

/// A state of [`Keywords`]: its row's offset in the table.
pub(super) type State = u16;

/// The start state, where no keyword has begun.
pub(super) const START: State = 0;

/// Where a search through text stopped.
pub(super) enum Stop {
    /// At the end of the bytes, in this state.
    End(State),
    /// Before the byte at this index, outside ASCII, in this state.
    NonAscii(usize, State),
}

pub(super) struct Keywords {
    /// `next[state + class]`, as long as a [`State`] can index, so that stepping needs no
    /// bounds check.
    next: Box<[State; 1 << State::BITS]>,
    /// States from here on are match states, or [`Keywords::EXIT`].
    first_match: State,
    /// For each match state in order, the range of `found` it reports.
    matches: Vec<(usize, usize)>,
    /// The keywords that end in match states, as their lengths and classes.
    found: Vec<(usize, u16)>,
}

impl Keywords {
    /// The pseudo-state a byte outside ASCII leads to in text.
    const EXIT: State = State::MAX;

    /// The automaton of `keywords` (lower-case ASCII letters and spaces), each with its class.
    pub(super) fn new(keywords: &[(&str, u16)]) -> Result<Keywords, BuildError> {
        let dfa =
            DFA::builder().match_kind(MatchKind::Standard).prefilter(false).build(keywords.iter().map(|(k, _)| *k))?;
        let start = dfa.start_state(Anchored::No)?;
        let alphabet: Vec<u8> = (b'a'..=b'z').chain([b' ']).collect();
        // Every state reachable from the start over the alphabet; other bytes lead back to it.
        let mut states = vec![start];
        let mut seen = HashSet::from([start]);
        let mut i = 0;
        while let Some(&state) = states.get(i) {
            for &byte in &alphabet {
                let next = dfa.next_state(Anchored::No, state, byte);
                if seen.insert(next) {
                    states.push(next);
                }
            }
            i += 1;
        }
        // The start first, and the match states last.
        states[1..].sort_by_key(|&state| dfa.is_match(state));
        if states.len() * STRIDE > usize::from(Self::EXIT) {
            return Err(BuildError::KeywordTable(states.len()));
        }
        let offset: HashMap<StateID, State> =
            states.iter().enumerate().map(|(i, &s)| (s, State::try_from(i * STRIDE).unwrap_or(Self::EXIT))).collect();
        let mut next = Box::new([START; 1 << State::BITS]);
        let mut matches = Vec::new();
        let mut found = Vec::new();
        for (row, &state) in next.chunks_exact_mut(STRIDE).zip(&states) {
            for &byte in &alphabet {
                let class = usize::from(TEXT_CLASSES[usize::from(byte)]);
                row[class] = offset[&dfa.next_state(Anchored::No, state, byte)];
            }
            row[usize::from(NON_ASCII)] = Self::EXIT;
            if dfa.is_match(state) {
                let from = found.len();
                for index in 0..dfa.match_len(state) {
                    let (keyword, class) = keywords[dfa.match_pattern(state, index).as_usize()];
                    found.push((keyword.len(), class));
                }
                matches.push((from, found.len()));
            }
        }
        let first_match = State::try_from((states.len() - matches.len()) * STRIDE).unwrap_or(Self::EXIT);
        Ok(Keywords { next, first_match, matches, found })
    }

    /// Steps from `state` through `bytes` of text, calling `found` with the index of each byte
    /// a keyword ends at, the keyword's length and its class; stops before a byte outside
    /// ASCII, whose character the caller folds.
    #[inline]
    pub(super) fn run(&self, state: State, bytes: &[u8], mut found: impl FnMut(usize, usize, u16)) -> Stop {
        let mut state = state;
        let mut i = 0;
        loop {
            if state == START {
                // Every keyword opens with a letter: the digits and signs before the next one
                // (half of a list or a log) are passed over a block at a time.
                match position_from(bytes, i, |b| b.is_ascii_alphabetic() || !b.is_ascii()) {
                    Some(letter) => i = letter,
                    None => return Stop::End(START),
                }
            }
            let Some(&byte) = bytes.get(i) else { return Stop::End(state) };
            let next = self.next[usize::from(state + State::from(TEXT_CLASSES[usize::from(byte)]))];
            if next >= self.first_match {
                if next == Self::EXIT {
                    return Stop::NonAscii(i, state);
                }
                self.report(next, |len, class| found(i, len, class));
            }
            state = next;
            i += 1;
        }
    }

    /// Steps from `state` over one byte of folded text, calling `found` with the length and
    /// class of each keyword that ends there.
    #[inline]
    pub(super) fn step(&self, state: &mut State, byte: u8, found: impl FnMut(usize, u16)) {
        let next = self.next[usize::from(*state + State::from(FOLDED_CLASSES[usize::from(byte)]))];
        if next >= self.first_match {
            self.report(next, found);
        }
        *state = next;
    }

    fn report(&self, state: State, mut found: impl FnMut(usize, u16)) {
        let (from, to) = self.matches[usize::from(state - self.first_match) / STRIDE];
        for &(len, class) in &self.found[from..to] {
            found(len, class);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::KEYWORDS;
    use aho_corasick::AhoCorasick;

    /// Every keyword found overlapping in `text` (ASCII): the `run` of the table against the
    /// library's own search of the text lower-cased with every other byte made a break.
    #[test]
    fn the_table_finds_what_the_library_finds() {
        let keywords = Keywords::new(&KEYWORDS).expect("keywords");
        let reference = AhoCorasick::builder()
            .match_kind(MatchKind::Standard)
            .build(KEYWORDS.iter().map(|(k, _)| *k))
            .expect("keywords");
        let mut texts: Vec<String> = KEYWORDS
            .iter()
            .map(|(k, _)| format!("x{k} {k}, {}-{k}so dinh danh ca nhan", k.to_ascii_uppercase()))
            .collect();
        texts.push("SĐT: 0912, so cccd/cmnd: 0561 ma so thue;tax id DD dd d.d".into());
        for text in &texts {
            let mut from_table = Vec::new();
            let mut state = START;
            let mut at = 0;
            let bytes = text.as_bytes();
            while at < bytes.len() {
                match keywords.run(state, &bytes[at..], |i, len, class| from_table.push((at + i + 1 - len, class))) {
                    Stop::End(_) => break,
                    Stop::NonAscii(i, _) => {
                        // A character no keyword holds: back to the start, past its bytes.
                        at += i;
                        state = START;
                        at += text[at..].chars().next().map_or(1, char::len_utf8);
                    }
                }
            }
            let plain: String = text
                .chars()
                .map(|c| if c.is_ascii_alphabetic() || c == ' ' { c.to_ascii_lowercase() } else { '#' })
                .collect();
            // Offsets differ once a character of several bytes is met: compare the plain form.
            let expected: Vec<(usize, u16)> = reference
                .find_overlapping_iter(plain.as_str())
                .map(|m| (m.start(), KEYWORDS[m.pattern().as_usize()].1))
                .collect();
            let table_plain: Vec<(usize, u16)> =
                from_table.iter().map(|&(start, class)| (text[..start].chars().count(), class)).collect();
            let expected_chars: Vec<(usize, u16)> =
                expected.iter().map(|&(start, class)| (plain[..start].chars().count(), class)).collect();
            let mut table_sorted = table_plain.clone();
            table_sorted.sort_unstable();
            let mut expected_sorted = expected_chars.clone();
            expected_sorted.sort_unstable();
            assert!(!expected_sorted.is_empty(), "{text}");
            assert_eq!(table_sorted, expected_sorted, "{text}");
        }
    }

    #[test]
    fn folded_bytes_outside_ascii_lead_back_to_the_start() {
        let keywords = Keywords::new(&KEYWORDS).expect("keywords");
        let mut state = START;
        let mut found = Vec::new();
        for &byte in "cc\u{00e9}cd cccd".as_bytes() {
            keywords.step(&mut state, byte, |len, class| found.push((len, class)));
        }
        assert_eq!(found, [(4, crate::data::class::CCCD)]);
    }
}
