//! State-secret and circulation markings (spec §3): the vocabulary of §3.2 matched line by
//! line with the position rules of §3.3 that plain text allows, the canonicalisation of §3.4
//! (letter-spaced stamps, look-alike letters, diacritic-free documents) and the false-positive
//! traps of §3.6.
//!
//! A level word counts as a stamp when it is upper case and stands on a short line (at most
//! four words, or the phrase itself), in brackets (`[MẬT]` in a subject line), or anywhere on
//! a line of a part the caller marked prominent (text box, header, red run); upper case inside
//! running prose is a mention (low); lower case is ordinary language and not reported.
//! Markings never carry text: only the level and the line.

use super::canon;
use super::finding::{Confidence, DetectorId, Instance, Instances, Sample, SecrecyLevel, ViewKind};
use super::legacy::{self, Encoding};
use super::view::View;
use super::wide::position_from;
use aho_corasick::{AhoCorasick, AhoCorasickKind, MatchKind};

/// How a phrase of the vocabulary is judged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rule {
    /// Upper case required; in stamp position it has `weight`, in prose it is a mention
    /// (reported low) when `mention` is set.
    Upper { weight: Confidence, mention: bool },
    /// MẬT alone: as `Upper`, and not part of a compound (mật khẩu, bảo mật, …).
    Alone,
    /// The "Độ mật:" field: any case, graded by the level after it.
    Field,
    /// A stamp written in sentence case (the envelope stamp of Form 07).
    AnyCase { weight: Confidence },
    /// A label that opens its line (the protection-period stamp of Form 04).
    LineStart { weight: Confidence },
}

struct Phrase {
    text: &'static str,
    detector: DetectorId,
    level: Option<SecrecyLevel>,
    rule: Rule,
}

const fn upper(text: &'static str, detector: DetectorId, weight: Confidence) -> Phrase {
    Phrase { text, detector, level: None, rule: Rule::Upper { weight, mention: true } }
}

/// The marking vocabulary of spec §3.2, lower case. Longer phrases win over the phrases they
/// contain (leftmost-longest matching), so `bí mật nhà nước` is M9, not M3.
const VOCABULARY: [Phrase; 17] = [
    Phrase {
        text: "tuyệt mật",
        detector: DetectorId::M1,
        level: Some(SecrecyLevel::TopSecret),
        rule: Rule::Upper { weight: Confidence::Critical, mention: true },
    },
    Phrase {
        text: "tối mật",
        detector: DetectorId::M2,
        level: Some(SecrecyLevel::Secret),
        rule: Rule::Upper { weight: Confidence::Critical, mention: true },
    },
    Phrase { text: "mật", detector: DetectorId::M3, level: Some(SecrecyLevel::Confidential), rule: Rule::Alone },
    Phrase { text: "độ mật", detector: DetectorId::M4, level: None, rule: Rule::Field },
    upper("tài liệu thu hồi", DetectorId::M5, Confidence::High),
    Phrase {
        text: "chỉ người có tên mới được bóc bì",
        detector: DetectorId::M6,
        level: None,
        rule: Rule::AnyCase { weight: Confidence::High },
    },
    upper("giải mật", DetectorId::M7, Confidence::Medium),
    upper("bản sao số", DetectorId::M8, Confidence::High),
    upper("bản sao bí mật nhà nước", DetectorId::M8, Confidence::High),
    upper("sao, chụp bí mật nhà nước", DetectorId::M8, Confidence::High),
    upper("sao chụp bí mật nhà nước", DetectorId::M8, Confidence::High),
    upper("bí mật nhà nước", DetectorId::M9, Confidence::High),
    Phrase {
        text: "thời hạn bảo vệ bí mật nhà nước",
        detector: DetectorId::M10,
        level: None,
        rule: Rule::LineStart { weight: Confidence::High },
    },
    Phrase {
        text: "gia hạn thời hạn bảo vệ",
        detector: DetectorId::M10,
        level: None,
        rule: Rule::LineStart { weight: Confidence::High },
    },
    Phrase {
        text: "lưu hành nội bộ",
        detector: DetectorId::C1,
        level: None,
        rule: Rule::Upper { weight: Confidence::Medium, mention: false },
    },
    Phrase {
        text: "xem xong trả lại",
        detector: DetectorId::C1,
        level: None,
        rule: Rule::Upper { weight: Confidence::Medium, mention: false },
    },
    Phrase {
        text: "không phổ biến",
        detector: DetectorId::C1,
        level: None,
        rule: Rule::Upper { weight: Confidence::Medium, mention: false },
    },
];

/// The levels a "Độ mật:" field can hold, longest first.
const LEVELS: [(&str, SecrecyLevel); 3] =
    [("tuyệt mật", SecrecyLevel::TopSecret), ("tối mật", SecrecyLevel::Secret), ("mật", SecrecyLevel::Confidential)];

/// Words that make MẬT part of a compound when they precede it (bảo mật, bí mật, cơ mật).
const BEFORE_TRAPS: [&str; 3] = ["bảo", "bí", "cơ"];

/// Words that make MẬT part of a compound when they follow it (mật khẩu, mật mã, mật độ, …).
const AFTER_TRAPS: [&str; 20] = [
    "khẩu", "mã", "độ", "ong", "danh", "thư", "báo", "vụ", "thám", "lệnh", "ngữ", "hiệu", "ước", "đàm", "mía", "gấu",
    "thiết", "phục", "sứ", "kế",
];

/// Longest line (in words) a letter-spaced stamp is looked for on (spec §3.4.4).
const SPACED_TOKENS: usize = 12;

/// Longest line (in words) of a prominent part on which a level word counts as a stamp.
const PROMINENT_WORDS: usize = 12;

/// Longest line (in words) the VIQR view is tried on (spec §3.3).
const VIQR_WORDS: usize = 12;

/// Vocabulary phrases in one spelling, as an automaton.
struct Vocabulary {
    automaton: AhoCorasick,
    /// [`VOCABULARY`] index of each pattern.
    phrases: Vec<usize>,
}

impl Vocabulary {
    fn new(phrases: Vec<usize>, spell: impl Fn(&str) -> String) -> Result<Self, aho_corasick::BuildError> {
        // Searched only in the few lines that hold a phrase: a DFA would search them no
        // faster to notice, and building one took a sixth of the agent's start.
        let automaton = AhoCorasick::builder()
            .match_kind(MatchKind::LeftmostLongest)
            .kind(Some(AhoCorasickKind::ContiguousNFA))
            .build(phrases.iter().map(|&i| spell(VOCABULARY[i].text)))?;
        Ok(Vocabulary { automaton, phrases })
    }
}

pub(crate) struct Markings {
    /// The vocabulary with diacritics, matched in lower-cased text.
    unicode: Vocabulary,
    /// The vocabulary stripped of diacritics (bare `mat` left out: it is English too), matched
    /// in lower-cased ASCII lines, at most at medium (spec §3.4.8).
    ascii: Vocabulary,
    /// Each spelling's phrases that hold no other phrase of it, which find the lines the
    /// spelling may match in. A line holding a phrase holds every phrase within it, so the
    /// phrases that hold another (`bí mật nhà nước` holds `mật`) find no other lines and are
    /// left out: the fewer patterns, the faster the search.
    unicode_lines: AhoCorasick,
    ascii_lines: AhoCorasick,
}

impl Markings {
    pub(crate) fn new() -> Result<Self, aho_corasick::BuildError> {
        let all = (0..VOCABULARY.len()).collect();
        let words = (0..VOCABULARY.len()).filter(|&i| VOCABULARY[i].rule != Rule::Alone).collect();
        let unicode = Vocabulary::new(all, str::to_string)?;
        let ascii = Vocabulary::new(words, stripped)?;
        let unicode_lines = least_phrases(unicode.phrases.iter().map(|&i| VOCABULARY[i].text.to_string()).collect())?;
        let ascii_lines = least_phrases(ascii.phrases.iter().map(|&i| stripped(VOCABULARY[i].text)).collect())?;
        Ok(Markings { unicode, ascii, unicode_lines, ascii_lines })
    }

    pub(crate) fn scan(&self, view: &View, out: &mut Instances<'_>) {
        let mut hits = self.hits(view.text()).into_iter().peekable();
        // Text of ASCII and Vietnamese letters alone has no Greek or Cyrillic look-alikes.
        let look_alikes = !view.letters_only();
        let mut folded = String::new();
        let text = view.text();
        let mut offset = 0;
        let line_ends = memchr::memchr_iter(b'\n', text.as_bytes()).chain([text.len()]);
        for (index, end) in line_ends.enumerate() {
            let line = &text[offset..end];
            let at = Line { view, number: index + 1, offset };
            offset = end + 1;
            let mut hit = false;
            while hits.next_if(|&h| h < offset).is_some() {
                hit = true;
            }
            if !line.trim().is_empty() && (hit || rereads(line, look_alikes)) {
                self.line(&at, line, &mut folded, out);
            }
        }
    }

    /// Where the folded text holds a phrase of either vocabulary, in order (at least one such
    /// place on every line that holds one). Phrases hold no line break, so a line read as it
    /// stands (not [`rereads`]) holds a phrase only if it holds one of these; folding and
    /// searching blocks of whole lines costs far less than doing it line by line, and a block
    /// at a time keeps the folded copy small.
    ///
    /// The ASCII spelling is read only in lines of ASCII alone ([`Markings::line`]), and the
    /// Unicode spelling, whose phrases hold letters outside ASCII, matches only in the others:
    /// each is searched only where it is read. In Vietnamese prose the short words of the
    /// ASCII spelling (`gia`, `chi`, `sao`) would stop the search every few words.
    fn hits(&self, text: &str) -> Vec<usize> {
        const BLOCK: usize = 64 * 1024;
        let mut hits = Vec::new();
        let mut folded = String::new();
        let mut start = 0;
        while start < text.len() {
            let cut = (start + BLOCK).min(text.len());
            let end = memchr::memchr(b'\n', &text.as_bytes()[cut..]).map_or(text.len(), |p| cut + p + 1);
            canon::fold_into(&text[start..end], &mut folded);
            let mut others = 0;
            for (lines_start, lines_end) in ascii_lines(folded.as_bytes()).chain([(folded.len(), folded.len())]) {
                for (automaton, range) in
                    [(&self.unicode_lines, others..lines_start), (&self.ascii_lines, lines_start..lines_end)]
                {
                    let lines = aho_corasick::Input::new(folded.as_str()).range(range);
                    hits.extend(automaton.find_iter(lines).map(|m| start + m.start()));
                }
                others = lines_end;
            }
            start = end;
        }
        hits
    }

    fn line(&self, at: &Line<'_>, line: &str, folded: &mut String, out: &mut Instances<'_>) {
        let spaced = letter_spaced(line);
        let line = spaced.as_deref().unwrap_or(line);
        let kind = at.view.kind();
        if line.is_ascii() {
            if let Some(decoded) = viqr(line) {
                let (decoded, _) = canon::canonicalize(&decoded);
                let viqr = ViewKind::Legacy(Encoding::Viqr);
                let reading =
                    Reading { vocabulary: &self.unicode, kind: viqr, cap: Confidence::Critical, fields_only: false };
                phrases(at, &decoded, &reading, folded, out);
            }
            // Diacritic-free text: only the field pattern, unless the whole part is ASCII.
            let fields_only = !at.view.is_ascii();
            let reading = Reading { vocabulary: &self.ascii, kind, cap: Confidence::Medium, fields_only };
            phrases(at, line, &reading, folded, out);
        } else {
            let line = canon::unconfuse(line);
            let reading = Reading { vocabulary: &self.unicode, kind, cap: Confidence::Critical, fields_only: false };
            phrases(at, &line, &reading, folded, out);
        }
    }
}

/// The `spellings` that hold no other of them, as an automaton.
fn least_phrases(spellings: Vec<String>) -> Result<AhoCorasick, aho_corasick::BuildError> {
    let least = spellings.iter().filter(|s| !spellings.iter().any(|t| t != *s && s.contains(t.as_str())));
    AhoCorasick::builder().match_kind(MatchKind::LeftmostLongest).build(least)
}

/// The runs of whole lines of `text` that hold only ASCII, as byte ranges.
fn ascii_lines(text: &[u8]) -> impl Iterator<Item = (usize, usize)> + '_ {
    let mut at = 0;
    std::iter::from_fn(move || {
        while at < text.len() {
            let Some(other) = position_from(text, at, |b| !b.is_ascii()) else {
                let run = (at, text.len());
                at = text.len();
                return Some(run);
            };
            let run = (at, memchr::memrchr(b'\n', &text[at..other]).map_or(at, |p| at + p + 1));
            at = memchr::memchr(b'\n', &text[other..]).map_or(text.len(), |p| other + p + 1);
            if run.0 < run.1 {
                return Some(run);
            }
        }
        None
    })
}

/// Whether [`Markings::line`] reads `line` as something else than the line itself: joined
/// letters, VIQR, or (when the text may hold them) look-alike letters replaced.
fn rereads(line: &str, look_alikes: bool) -> bool {
    letter_spaced(line).is_some()
        || if line.is_ascii() { viqr(line).is_some() } else { look_alikes && canon::has_look_alikes(line) }
}

/// Finds the phrases of `reading` in `line`; `folded` is scratch space.
fn phrases(at: &Line<'_>, line: &str, reading: &Reading<'_>, folded: &mut String, out: &mut Instances<'_>) {
    canon::fold_into(line, folded);
    let mut consumed = 0;
    for m in reading.vocabulary.automaton.find_iter(folded.as_str()) {
        let (start, end) = (m.start(), m.end());
        if start < consumed || !is_boundary(folded, start, end) {
            continue;
        }
        let phrase = &VOCABULARY[reading.vocabulary.phrases[m.pattern().as_usize()]];
        if reading.fields_only && phrase.rule != Rule::Field {
            continue;
        }
        let text = Text { line, folded, start, end, prominent: at.view.is_prominent(), kind: reading.kind };
        let Some((confidence, level, until)) = judge(phrase, &text) else { continue };
        consumed = until;
        out.push(Instance {
            detector: phrase.detector,
            value: format!("{}\n{}", at.view.part(), at.number).into(),
            confidence: confidence.min(reading.cap),
            level,
            sample: Sample::None,
            offset: at.offset,
            view: reading.kind,
        });
    }
}

/// Where a line is.
struct Line<'a> {
    view: &'a View<'a>,
    number: usize,
    offset: usize,
}

/// How a line is read: which vocabulary, reported as which view, capped at which confidence,
/// and whether only the "Độ mật:" field counts.
struct Reading<'a> {
    vocabulary: &'a Vocabulary,
    kind: ViewKind,
    cap: Confidence,
    fields_only: bool,
}

/// A match in its line: `line` and its lower-case form `folded` share byte offsets.
struct Text<'a> {
    line: &'a str,
    folded: &'a str,
    start: usize,
    end: usize,
    prominent: bool,
    kind: ViewKind,
}

/// Confidence, level, and the end of what the match used up — or `None`.
fn judge(phrase: &Phrase, t: &Text<'_>) -> Option<(Confidence, Option<SecrecyLevel>, usize)> {
    // Counted only for a match that may stand: most in prose are lower case (`bí mật`).
    let stamp = || {
        let words = word_count(t.line);
        words <= phrase.text.split(' ').count().max(4) || bracketed(t) || (t.prominent && words <= PROMINENT_WORDS)
    };
    match phrase.rule {
        Rule::Field => field(t),
        Rule::Upper { weight, mention } => {
            if !is_upper(&t.line[t.start..t.end], t.kind) {
                return None;
            }
            match (stamp(), mention) {
                (true, _) => Some((weight, phrase.level, t.end)),
                (false, true) => Some((Confidence::Low, phrase.level, t.end)),
                (false, false) => None,
            }
        }
        Rule::Alone => {
            let before = word_before(t.folded, t.start);
            let after = word_after(t.folded, t.end);
            if !is_upper(&t.line[t.start..t.end], t.kind)
                || BEFORE_TRAPS.contains(&before)
                || AFTER_TRAPS.contains(&after)
            {
                return None;
            }
            Some((if stamp() { Confidence::Critical } else { Confidence::Low }, phrase.level, t.end))
        }
        Rule::AnyCase { weight } => Some((if stamp() { weight } else { Confidence::Low }, phrase.level, t.end)),
        Rule::LineStart { weight } => {
            let first_word = t.line.find(char::is_alphanumeric).unwrap_or(t.line.len());
            let opens = t.start <= first_word;
            Some((if opens { weight } else { Confidence::Low }, phrase.level, t.end))
        }
    }
}

/// "Độ mật:" followed by a level is critical (M4 with the level); with a colon and nothing
/// after it, a blank template, medium; without either, not a field.
fn field(t: &Text<'_>) -> Option<(Confidence, Option<SecrecyLevel>, usize)> {
    let rest = &t.folded[t.end..];
    let after_space = rest.trim_start_matches(' ');
    let colon = after_space.starts_with(':');
    let value = if colon { after_space[1..].trim_start_matches(' ') } else { after_space };
    let value_at = t.folded.len() - value.len();
    for (text, level) in LEVELS {
        for form in [text.to_string(), stripped(text)] {
            if value.starts_with(&form) && is_boundary(t.folded, value_at, value_at + form.len()) {
                return Some((Confidence::Critical, Some(level), value_at + form.len()));
            }
        }
    }
    // Blank, or dotted/underlined for filling in.
    let blank = value.chars().next().is_none_or(|c| !c.is_alphanumeric());
    (colon && blank).then_some((Confidence::Medium, None, t.end))
}

/// Whether the letters of `s` are upper case. In the TCVN3 view only ASCII letters count:
/// upper-case (`…H`) fonts store capitals in the lower-case codes, so `TUYÖT MËT` decodes to
/// `TUYệT MậT` (spec §3.3).
fn is_upper(s: &str, kind: ViewKind) -> bool {
    if kind == ViewKind::Legacy(Encoding::Tcvn3) {
        s.chars().any(|c| c.is_ascii_alphabetic()) && !s.chars().any(|c| c.is_ascii_lowercase())
    } else {
        s.chars().any(char::is_alphabetic) && !s.chars().any(char::is_lowercase)
    }
}

fn is_boundary(folded: &str, start: usize, end: usize) -> bool {
    let before = folded[..start].chars().next_back();
    let after = folded[end..].chars().next();
    before.is_none_or(|c| !c.is_alphanumeric()) && after.is_none_or(|c| !c.is_alphanumeric())
}

/// The match is enclosed in brackets, as in an e-mail subject `[MẬT]`.
fn bracketed(t: &Text<'_>) -> bool {
    let before = t.line[..t.start].trim_end_matches(' ').chars().next_back();
    let after = t.line[t.end..].trim_start_matches(' ').chars().next();
    matches!((before, after), (Some('['), Some(']')) | (Some('('), Some(')')))
}

fn word_count(line: &str) -> usize {
    line.split_whitespace().filter(|w| w.chars().any(char::is_alphanumeric)).count()
}

/// The word just before `at` (after spaces), at most a syllable long.
fn word_before(folded: &str, at: usize) -> &str {
    let head = folded[..at].trim_end_matches(' ');
    let start = head.char_indices().rev().take_while(|(_, c)| c.is_alphabetic()).last().map_or(head.len(), |(i, _)| i);
    &head[start..]
}

/// The word just after `at` (after spaces).
fn word_after(folded: &str, at: usize) -> &str {
    let tail = folded[at..].trim_start_matches(' ');
    let end = tail.char_indices().find(|(_, c)| !c.is_alphabetic()).map_or(tail.len(), |(i, _)| i);
    &tail[..end]
}

/// Joins a letter-spaced stamp (`M Ậ T`, `T U Y Ệ T   M Ậ T`): on a line of at most
/// [`SPACED_TOKENS`] tokens that are all single letters, single spaces join letters and
/// longer gaps separate words (spec §3.4.4).
fn letter_spaced(line: &str) -> Option<String> {
    // Most lines open with a word of several letters, or no letter: told from the first two
    // characters, without splitting the line into words.
    let mut head = line.trim_start().chars();
    if !(head.next().is_some_and(char::is_alphabetic) && head.next().is_some_and(char::is_whitespace)) {
        return None;
    }
    let mut tokens = 0;
    for token in line.split_whitespace() {
        tokens += 1;
        let mut chars = token.chars();
        let single_letter = chars.next().is_some_and(char::is_alphabetic) && chars.next().is_none();
        if tokens > SPACED_TOKENS || !single_letter {
            return None;
        }
    }
    if tokens < 2 {
        return None;
    }
    let mut joined = String::with_capacity(line.len());
    let mut gap = false;
    for token in line.trim().split(' ') {
        if token.is_empty() {
            gap = true;
        } else {
            if gap {
                joined.push(' ');
            }
            joined.push_str(token);
            gap = false;
        }
    }
    Some(joined)
}

/// The VIQR reading of `line`, an ASCII line, when it is short, uses VIQR marks, and is upper
/// case or marks several words (spec §3.3: `.` is also a full stop, so prose is left alone).
fn viqr(line: &str) -> Option<String> {
    let bytes = line.as_bytes();
    // A marked word has a vowel followed by a mark: a line needs one such pair when upper
    // case, three when not. Most lines have too few — logs have `e.` in every host name —
    // and they are counted without branches (in vector instructions) before words are.
    let lower = bytes.iter().fold(false, |lower, b| lower | b.is_ascii_lowercase());
    // Words counted by bytes, where `split_whitespace` splits ASCII.
    let space = |b: &u8| b.is_ascii_whitespace() || *b == 0x0B;
    if vowel_marks(bytes) < if lower { 3 } else { 1 }
        || bytes.split(space).filter(|w| !w.is_empty()).nth(VIQR_WORDS).is_some()
    {
        return None;
    }
    let marked = line.split_whitespace().filter(|w| viqr_marked(w)).count();
    let upper = line.chars().any(|c| c.is_ascii_alphabetic()) && !line.chars().any(|c| c.is_ascii_lowercase());
    (marked > 0 && (upper || marked >= 3)).then(|| legacy::decode_viqr(line))
}

/// How many vowels of `bytes` a VIQR mark follows: counted a byte per lane of vector
/// instructions, in stretches too short for a byte to overflow.
fn vowel_marks(bytes: &[u8]) -> usize {
    const STRETCH: usize = u8::MAX as usize;
    let Some(next) = bytes.get(1..) else { return 0 };
    let count = |(at, next): (&[u8], &[u8])| {
        at.iter().zip(next).fold(0_u8, |n, (&v, &m)| n + u8::from(is_vowel(v) & is_viqr_mark(m)))
    };
    bytes.chunks(STRETCH).zip(next.chunks(STRETCH)).map(|pair| usize::from(count(pair))).sum()
}

/// A word with a VIQR mark after a vowel, followed by more of the word (a trailing `.` or
/// `?` alone is punctuation).
fn viqr_marked(word: &str) -> bool {
    let bytes = word.as_bytes();
    bytes.windows(2).enumerate().any(|(i, pair)| {
        let modifier = matches!(pair[1], b'^' | b'(' | b'+');
        let tone = matches!(pair[1], b'\'' | b'`' | b'?' | b'~' | b'.') && i + 2 < bytes.len();
        is_vowel(pair[0]) && (modifier || tone)
    })
}

/// Written as comparisons without branches, like [`is_viqr_mark`], so that lines are
/// searched for the two with vector instructions.
#[inline(always)]
fn is_vowel(b: u8) -> bool {
    // Only the letters have their lower case 0x20 above.
    let l = b | 0x20;
    (l == b'a') | (l == b'e') | (l == b'i') | (l == b'o') | (l == b'u') | (l == b'y')
}

/// A VIQR modifier (`^ ( +`) or tone (`' \` ? ~ .`) mark.
#[inline(always)]
fn is_viqr_mark(b: u8) -> bool {
    (b == b'^') | (b == b'(') | (b == b'+') | (b == b'\'') | (b == b'`') | (b == b'?') | (b == b'~') | (b == b'.')
}

/// `text` without diacritics, lower case.
fn stripped(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    canon::strip_fold_into(text, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn letter_spaced_stamps_are_joined_and_other_lines_left() {
        assert_eq!(letter_spaced("M Ậ T").as_deref(), Some("MẬT"));
        assert_eq!(letter_spaced("  T U Y Ệ T   M Ậ T ").as_deref(), Some("TUYỆT MẬT"));
        assert_eq!(letter_spaced("\tM\tẬ T").as_deref(), Some("M\tẬT"));
        for line in ["MẬT", "M", " M ", "2026-06-12T08:09:10.750Z INFO", "M ẬT", "1 2 3", "", "M Ậ T 1"] {
            assert_eq!(letter_spaced(line), None, "{line:?}");
        }
    }

    #[test]
    fn ascii_lines_are_the_runs_of_lines_without_other_bytes() {
        let long_ascii = "x".repeat(70);
        let texts = [
            String::new(),
            "TAI LIEU THU HOI\n".into(),
            "TÀI LIỆU\nTAI LIEU\nmật\n\nKHONG PHO BIEN".into(),
            format!("{long_ascii}\n{long_ascii}é\n{long_ascii}\n{long_ascii}\né{long_ascii}"),
            "\n\né\n\n".into(),
        ];
        for text in &texts {
            // Line by line: the ASCII lines, those next to each other joined, each with its
            // line break.
            let mut expected: Vec<(usize, usize)> = Vec::new();
            let mut start = 0;
            for line in text.split_inclusive('\n') {
                let end = start + line.len();
                if line.is_ascii() {
                    match expected.last_mut() {
                        Some(last) if last.1 == start => last.1 = end,
                        _ => expected.push((start, end)),
                    }
                }
                start = end;
            }
            assert_eq!(ascii_lines(text.as_bytes()).collect::<Vec<_>>(), expected, "{text:?}");
        }
    }

    #[test]
    fn each_spelling_is_looked_for_in_the_lines_it_is_read_in() {
        let markings = Markings::new().expect("vocabulary");
        let text = "Kính gửi: chi nhánh, gia đình, tại sao\nTAI LIEU THU HOI\nTÀI LIỆU THU HỒI, tai lieu thu hoi";
        let lines: Vec<usize> = markings.hits(text).iter().map(|&hit| text[..hit].matches('\n').count() + 1).collect();
        assert_eq!(lines, [2, 3]);
    }

    #[test]
    fn viqr_lines_need_one_marked_word_in_capitals_three_in_small_letters() {
        assert!(viqr("TUYE^.T MA^.T").is_some());
        assert!(viqr("ME^.T").is_some());
        assert!(viqr("tuye^.t ma^.t").is_none());
        assert!(viqr("ta`i lie^.u tuye^.t ma^.t").is_some());
        // Host names and file names are full of `e.`, and only the stops at words' ends.
        assert!(viqr("GET /index.php?id=1 le.nam@khanhhoa.gov.vn").is_none());
        assert!(viqr("le. na. ho.").is_none());
        assert!(viqr("").is_none());
        assert!(viqr("e").is_none());
        let long = format!("{} TUYE^.T", "X ".repeat(VIQR_WORDS));
        assert!(viqr(&long).is_none());
        // Counted across stretches, past what a byte holds.
        let marks = "e.".repeat(1000);
        assert_eq!(vowel_marks(marks.as_bytes()), 1000);
        assert_eq!(vowel_marks(&marks.as_bytes()[1..]), 999);
        assert_eq!(vowel_marks(format!("{}a^", "x".repeat(2 * 255 - 1)).as_bytes()), 1);
    }
}
