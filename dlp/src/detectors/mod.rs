//! Identifier detectors (spec §2): each is regex → validator (structure, checksum) → context
//! keywords → confidence, run on a view's canonical text.
//!
//! Every pattern is ASCII-only and compiled without Unicode classes for `regex::bytes`, so
//! `[0-9]` never matches other scripts' digits (the view is NFKC, which turned fullwidth
//! digits into ASCII ones) and `\b` is the ASCII word boundary, which the lazy DFA handles at
//! full speed; the regex crate guarantees time linear in the input.
//!
//! | detector | without context | with context |
//! |---|---|---|
//! | cccd | medium (known province, year not in the future) | high |
//! | cmnd (9 digits) | — | medium |
//! | gplx (12 digits) | — | medium |
//! | mst | low (checksum), medium (branch form) | high |
//! | phone | medium (low when it is also a valid MST) | high |
//! | bhxh | — | medium |
//! | bhyt | medium (known group), low | high |
//! | passport | — | medium |
//! | mrz_td3, mrz_td1 | high (all check digits) | high |
//! | card | high (Luhn, known IIN), low (Luhn only) | medium (`9704`, no Luhn) |
//! | vietqr | high (CRC) | high |
//! | plate | low | medium |
//! | email | medium (low for role mailboxes) | medium |

mod context;
mod email;
mod keywords;
mod numbers;
mod payment;
mod phone;
mod plate;
mod travel;

use super::Config;
use super::finding::{Confidence, DetectorId, Instance, Instances, Sample, ViewKind};
use super::table::Layout;
use super::view::View;
use super::wide::position_from;
use context::{Context, ViewContext};
use regex::bytes::{Regex, RegexBuilder};
use std::borrow::Cow;

/// An error building the detectors: only possible if a built-in pattern is broken.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// A built-in pattern does not compile.
    #[error("DLP pattern: {0}")]
    Regex(#[from] regex::Error),
    /// A built-in keyword list does not build into an automaton.
    #[error("DLP keyword automaton: {0}")]
    Keywords(#[from] aho_corasick::BuildError),
    /// A keyword automaton cannot search from where the detectors start it.
    #[error("DLP keyword automaton: {0}")]
    KeywordStart(#[from] aho_corasick::MatchError),
    /// A keyword automaton has more states than its lookup table holds.
    #[error("DLP keyword automaton: {0} states are too many for its table")]
    KeywordTable(usize),
}

pub(crate) fn regex(pattern: &str) -> Result<Regex, regex::Error> {
    RegexBuilder::new(pattern).unicode(false).build()
}

/// The compiled identifier detectors.
pub(crate) struct Identifiers {
    config: Config,
    context: Context,
    numbers: numbers::Numbers,
    phone: phone::Phone,
    payment: payment::Payment,
    travel: travel::Travel,
    plate: plate::Plate,
    email: email::Email,
}

impl Identifiers {
    pub(crate) fn new(config: Config) -> Result<Self, BuildError> {
        Ok(Identifiers {
            context: Context::new(config.context_window)?,
            numbers: numbers::Numbers::new()?,
            phone: phone::Phone::new()?,
            payment: payment::Payment::new()?,
            travel: travel::Travel::new()?,
            plate: plate::Plate::new()?,
            email: email::Email::new()?,
            config,
        })
    }

    /// Scans `view`, finding its [`Stretch`]es in the memory of `stretches`, which it leaves
    /// holding them.
    pub(crate) fn scan(&self, view: &View, layout: Layout<'_>, out: &mut Instances<'_>, stretches: &mut Vec<Stretch>) {
        let text = view.text();
        stretches.clear();
        let mut scan = Scan {
            text,
            stretches: std::mem::take(stretches),
            context: self.context.of(text, layout),
            config: &self.config,
            kind: view.kind(),
            out,
        };
        // The digit identifiers go through every digit run, and find the stretches too.
        self.numbers.scan(&mut scan);
        self.phone.scan(&mut scan);
        self.payment.scan(&mut scan);
        self.travel.scan(&mut scan);
        self.plate.scan(&mut scan);
        self.email.scan(&mut scan);
        *stretches = scan.stretches;
    }
}

/// One view being scanned: its text, the shared context matcher, and where instances go.
pub(crate) struct Scan<'a, 'b> {
    text: &'a str,
    /// The text's [`Stretch`]es, which every pattern but the e-mail address needs: found once,
    /// along with the digit identifiers, rather than by each detector.
    stretches: Vec<Stretch>,
    context: ViewContext<'a>,
    config: &'a Config,
    kind: ViewKind,
    out: &'a mut Instances<'b>,
}

impl<'a> Scan<'a, '_> {
    fn bytes(&self) -> &[u8] {
        self.text.as_bytes()
    }

    /// Context keyword classes around `start..end`.
    fn context(&self, start: usize, end: usize) -> u16 {
        self.context.around(start, end)
    }

    /// Reports `value` at `offset`, sampled [`super::finding::mask`]ed.
    fn emit(&mut self, detector: DetectorId, value: impl Into<Cow<'a, str>>, confidence: Confidence, offset: usize) {
        self.emit_sampled(detector, value, confidence, offset, Sample::Masked);
    }

    fn emit_sampled(
        &mut self,
        detector: DetectorId,
        value: impl Into<Cow<'a, str>>,
        confidence: Confidence,
        offset: usize,
        sample: Sample,
    ) {
        self.out.push(Instance {
            detector,
            value: value.into(),
            confidence,
            level: None,
            sample,
            offset,
            view: self.kind,
        });
    }
}

/// An ASCII word character, as `\b` sees it.
fn is_word(b: Option<&u8>) -> bool {
    b.is_some_and(|&b| b.is_ascii_alphanumeric() || b == b'_')
}

/// Whether a word starts at `at`: no word character comes before it.
fn starts_word(bytes: &[u8], at: usize) -> bool {
    !is_word(at.checked_sub(1).and_then(|p| bytes.get(p)))
}

fn is_digit(b: Option<&u8>) -> bool {
    b.is_some_and(u8::is_ascii_digit)
}

/// Whether the digits at `start..end` continue, through one separator from `seps`, into more
/// digits on either side — then they are a piece of a longer grouped number (an account or
/// card number), not a number of their own.
fn continues(bytes: &[u8], start: usize, end: usize, seps: &[u8]) -> bool {
    let sep = |b: Option<&u8>| b.is_some_and(|b| seps.contains(b));
    let before = start >= 2 && sep(bytes.get(start - 1)) && is_digit(bytes.get(start - 2));
    let after = sep(bytes.get(end)) && is_digit(bytes.get(end + 1));
    before || after
}

/// Kinds of bytes, as bits, of which the stretches a pattern is searched in are made
/// ([`stretches`]): looked up in a table rather than tested by comparisons.
pub(crate) mod kind {
    pub(crate) const DIGIT: u8 = 1;
    pub(crate) const SPACE: u8 = 2;
    pub(crate) const DOT: u8 = 4;
    pub(crate) const DASH: u8 = 8;
    /// `+`, `(` and `)`, of international phone numbers.
    pub(crate) const SIGN: u8 = 16;
    pub(crate) const CAPITAL: u8 = 32;

    /// The kinds of every byte.
    pub(crate) const OF: [u8; 256] = {
        let mut table = [0; 256];
        let mut b = 0;
        while b < 256 {
            table[b] = match b as u8 {
                b'0'..=b'9' => DIGIT,
                b' ' => SPACE,
                b'.' => DOT,
                b'-' => DASH,
                b'+' | b'(' | b')' => SIGN,
                b'A'..=b'Z' => CAPITAL,
                _ => 0,
            };
            b += 1;
        }
        table
    };
}

/// A maximal run of bytes of any [`kind`] that holds [`MIN_DIGITS`] digits at least. Every
/// pattern but the e-mail address matches within one, so they are found once per view, and
/// each pattern's own [`stretches`] are taken from them.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Stretch {
    start: usize,
    end: usize,
    /// Its digits, up to `u32::MAX`, far above any count they are compared with: a list holds
    /// a few stretches a line, and 24 bytes each rather than 32 are fewer pages to fill.
    digits: u32,
    /// The kinds of its bytes, as [`kind`] bits.
    kinds: u8,
}

impl Stretch {
    fn new(start: usize, end: usize, digits: usize, kinds: u8) -> Stretch {
        Stretch { start, end, digits: u32::try_from(digits).unwrap_or(u32::MAX), kinds }
    }

    /// Whether it holds `min` digits at least.
    fn holds(&self, min: usize) -> bool {
        usize::try_from(self.digits).map_or(true, |digits| digits >= min)
    }
}

/// The fewest digits a pattern searched in stretches holds (a plate's); the many shorter
/// runs of digits in logs (addresses, times) are not kept.
const MIN_DIGITS: usize = 6;

/// Checks that `search`, given a text's bytes and [`Stretch`]es, finds in each of `texts`
/// what `pattern` finds in the whole text, and that it finds something.
#[cfg(test)]
fn assert_finds_what_the_whole_text_search_finds(
    pattern: &Pattern,
    texts: &[&str],
    search: impl Fn(&[u8], &[Stretch]) -> Vec<std::ops::Range<usize>>,
) {
    for text in texts {
        let bytes = text.as_bytes();
        let whole: Vec<_> = pattern.anywhere.find_iter(bytes).map(|m| m.range()).collect();
        assert!(!whole.is_empty(), "{text}");
        assert_eq!(search(bytes, &all_stretches(bytes)), whole, "{text}");
    }
}

/// The [`Stretch`]es of `bytes`, in order.
#[cfg(test)]
fn all_stretches(bytes: &[u8]) -> Vec<Stretch> {
    let mut all = Vec::new();
    walk(bytes, &mut all, |_, _| {});
    all
}

/// The maximal run around the digit at `digit` of bytes whose kinds `within` accepts, not
/// reaching back before `from`.
fn stretch_at(bytes: &[u8], from: usize, digit: usize, within: impl Fn(u8) -> bool) -> Stretch {
    let of = |b: &u8| kind::OF[usize::from(*b)];
    let start = bytes[from..digit].iter().rposition(|b| !within(of(b))).map_or(from, |p| from + p + 1);
    let mut kinds = bytes[start..digit].iter().fold(0, |kinds, b| kinds | of(b));
    let mut end = digit;
    let mut digits = 0;
    while let Some(kind) = bytes.get(end).map(of).filter(|&kind| within(kind)) {
        digits += usize::from(kind & kind::DIGIT);
        kinds |= kind;
        end += 1;
    }
    Stretch::new(start, end, digits, kinds)
}

/// Bytes looked at together by [`walk`]: one bit of a `u64` each.
const BLOCK: usize = 64;

/// Goes through the maximal runs of ASCII digits of `bytes`, handing each to `run` as its start
/// and end, in order, and returns the text's [`Stretch`]es.
///
/// Logs and tables hold a digit run every few bytes, mostly short (times, addresses, ports),
/// so the walk does not look at bytes one by one: it takes the digits and the bytes of any
/// [`kind`] of a [`BLOCK`] as bit masks, finds where runs and stretches start and end with
/// `trailing_zeros` and counts a stretch's digits with `count_ones`; a block without digits
/// and outside any stretch is passed over on its digit mask alone.
// Inlined into its one caller: about 1% fewer instructions on logs, as measured.
#[inline(always)]
fn walk(bytes: &[u8], all: &mut Vec<Stretch>, mut run: impl FnMut(usize, usize)) {
    // A digit run going on into the next block: its start.
    let mut open_run: Option<usize> = None;
    // A stretch going on into the next block: its start and digits so far.
    let mut open: Option<(usize, usize)> = None;
    // The end of the last stretch, which no later stretch reaches back over.
    let mut last_end = 0;
    let mut padded = [0; BLOCK];
    for base in (0..bytes.len()).step_by(BLOCK) {
        let block: &[u8; BLOCK] = match bytes.get(base..base + BLOCK) {
            Some(block) => block.try_into().expect("a block"),
            None => {
                // Past the end the text is zeros, which are no kind and end every run.
                let rest = &bytes[base..];
                padded[..rest.len()].copy_from_slice(rest);
                &padded
            }
        };
        let digits = mask(block, |b| b.is_ascii_digit());
        if digits == 0 && open.is_none() {
            continue;
        }
        let kinds = mask(block, of_any_kind);

        let mut left = digits;
        if let Some(start) = open_run {
            let len = (!digits).trailing_zeros();
            if len < u64::BITS {
                run(start, base + len as usize);
                open_run = None;
                left &= above(len);
            } else {
                left = 0;
            }
        }
        while left != 0 {
            let start = left.trailing_zeros();
            let len = (!(left >> start)).trailing_zeros();
            if start + len == u64::BITS {
                open_run = Some(base + start as usize);
                break;
            }
            run(base + start as usize, base + (start + len) as usize);
            // Adding the run's lowest bit carries through the run and clears it.
            left &= left.wrapping_add(1 << start);
        }

        let mut at = 0;
        loop {
            let (start, counted) = match open.take() {
                Some(open) => open,
                None => {
                    let ahead = digits & above(at);
                    if ahead == 0 {
                        break;
                    }
                    let first = ahead.trailing_zeros();
                    // After a stretch's end, `at` is the byte of no kind that ended it.
                    let breaks = !kinds & above(at) & !above(first);
                    let start = if breaks != 0 {
                        base + (u64::BITS - breaks.leading_zeros()) as usize
                    } else {
                        bytes[last_end..base]
                            .iter()
                            .rposition(|&b| !of_any_kind(b))
                            .map_or(last_end, |p| last_end + p + 1)
                    };
                    at = first;
                    (start, 0)
                }
            };
            let ends = !kinds & above(at);
            if ends == 0 {
                open = Some((start, counted + (digits & above(at)).count_ones() as usize));
                break;
            }
            let end = ends.trailing_zeros();
            let counted = counted + (digits & above(at) & !above(end)).count_ones() as usize;
            last_end = base + end as usize;
            push_stretch(bytes, start, last_end, counted, all);
            at = end;
        }
    }
    if let Some(start) = open_run {
        run(start, bytes.len());
    }
    if let Some((start, counted)) = open {
        push_stretch(bytes, start, bytes.len(), counted, all);
    }
}

/// The bits at `at` and above.
#[inline(always)]
fn above(at: u32) -> u64 {
    u64::MAX.checked_shl(at).unwrap_or(0)
}

/// Keeps the stretch at `start..end` if it has enough digits.
fn push_stretch(bytes: &[u8], start: usize, end: usize, digits: usize, all: &mut Vec<Stretch>) {
    if digits >= MIN_DIGITS {
        let kinds = bytes[start..end].iter().fold(0, |kinds, &b| kinds | kind::OF[usize::from(b)]);
        all.push(Stretch::new(start, end, digits, kinds));
    }
}

/// Whether `b` is of a [`kind`], by comparisons, which vectorise, where a table lookup does not.
#[inline(always)]
fn of_any_kind(b: u8) -> bool {
    b.is_ascii_digit() || b.is_ascii_uppercase() || matches!(b, b' ' | b'.' | b'-' | b'+' | b'(' | b')')
}

/// The bit mask of the bytes of `block` that `is` accepts. The tests compile to vector
/// compares; portable Rust has no movemask, so the flags are gathered eight at a time by a
/// multiplication that moves each byte's top bit into the top byte.
#[inline(always)]
fn mask(block: &[u8; BLOCK], is: impl Fn(u8) -> bool) -> u64 {
    let mut flags = [0u8; BLOCK];
    for (flag, &b) in flags.iter_mut().zip(block) {
        *flag = if is(b) { 0x80 } else { 0 };
    }
    let words: [u64; BLOCK / 8] =
        std::array::from_fn(|i| u64::from_le_bytes(flags[8 * i..8 * i + 8].try_into().expect("eight bytes")));
    // Most blocks of prose have no digit: they are told by an `or`, without the gathering.
    if words.iter().fold(0, |any, word| any | word) == 0 {
        return 0;
    }
    words
        .iter()
        .enumerate()
        .fold(0, |mask, (i, word)| mask | ((word.wrapping_mul(0x0002_0408_1020_4081) >> 56) << (8 * i)))
}

/// The stretches of `bytes` a pattern's matches can lie in: maximal runs of bytes of the
/// kinds `class` names ([`kind`], digits among them) holding at least `min_digits` digits and
/// a byte of each kind `needs` names, each as its start and the haystack to search from
/// there — `bytes` up to and including the byte after the run. `all` are the stretches of
/// bytes of any kind ([`walk`]), and `min_digits` is [`MIN_DIGITS`] at least: most
/// are the pattern's own stretch or too short to hold one, and only the others are split
/// where a byte of another kind lies.
///
/// For a pattern whose every match is made of such bytes and holds that many digits and
/// those kinds (a plate's series letter: most stretches are numbers alone), the
/// matches found by searching each stretch from its start (`find_at`, `captures_at`) are
/// exactly those of a search of the whole text: no match crosses a run's ends, and each
/// search sees the text on both sides of its run, so `\b` reads as it would there. Going from
/// stretch to stretch costs much less than a regex pass, whose prefilter stops at each digit.
fn stretches<'t>(
    bytes: &'t [u8],
    all: &'t [Stretch],
    class: u8,
    min_digits: usize,
    needs: u8,
) -> impl Iterator<Item = (usize, &'t [u8])> {
    debug_assert!(min_digits >= MIN_DIGITS, "shorter stretches are not kept");
    let haystack = move |end: usize| &bytes[..(end + 1).min(bytes.len())];
    let qualifies = move |stretch: &Stretch| stretch.holds(min_digits) && stretch.kinds & needs == needs;
    let mut all = all.iter().filter(move |stretch| qualifies(stretch));
    // A stretch being split, and where in it to go on.
    let mut splitting: Option<(Stretch, usize)> = None;
    std::iter::from_fn(move || {
        loop {
            if let Some((outer, from)) = splitting.as_mut() {
                let within = &bytes[..outer.end];
                while let Some(digit) = position_from(within, *from, |b| b.is_ascii_digit()) {
                    let stretch = stretch_at(within, *from, digit, |kind| kind & class != 0);
                    *from = stretch.end + 1;
                    if qualifies(&stretch) {
                        return Some((stretch.start, haystack(stretch.end)));
                    }
                }
                splitting = None;
            }
            let stretch = *all.next()?;
            if stretch.kinds & !class == 0 {
                return Some((stretch.start, haystack(stretch.end)));
            }
            splitting = Some((stretch, stretch.start));
        }
    })
}

/// A pattern searched for in stretches: as it is, and anchored at the start of a haystack.
pub(crate) struct Pattern {
    anywhere: Regex,
    at_start: Regex,
}

impl Pattern {
    fn new(pattern: &str) -> Result<Pattern, regex::Error> {
        Ok(Pattern { anywhere: regex(pattern)?, at_start: regex(&format!("^(?:{pattern})"))? })
    }
}

/// Adds every match of `pattern` in `haystack` from `start` on to `found`. The patterns
/// searched so never match empty text.
fn find_from(pattern: &Pattern, haystack: &[u8], start: usize, found: &mut Vec<std::ops::Range<usize>>) {
    let mut from = start;
    // Most stretches of a list are a match from their first byte. Matched there, that costs a
    // pass forward, where a search may also go back from a literal within; it is the first
    // match, since none starts before. Past a byte that is no word character, `\b` reads the
    // start of the haystack cut there as it reads it in the whole.
    if starts_word(haystack, start)
        && let Some(m) = pattern.at_start.find(&haystack[start..])
    {
        found.push(start + m.start()..start + m.end());
        from = start + m.end();
    }
    while let Some(m) = pattern.anywhere.find_at(haystack, from) {
        found.push(m.range());
        from = m.end();
    }
}

fn digits(bytes: &[u8]) -> String {
    // Allocated once: grown a character at a time, most numbers took three allocations.
    let mut digits = String::with_capacity(bytes.len());
    digits.extend(bytes.iter().filter(|b| b.is_ascii_digit()).map(|&b| char::from(b)));
    digits
}

/// The digits of `text`: `text` itself when it has nothing else, as most matches have.
fn digits_of(text: &str) -> Cow<'_, str> {
    if text.bytes().all(|b| b.is_ascii_digit()) { Cow::Borrowed(text) } else { Cow::Owned(digits(text.as_bytes())) }
}

/// MST check digit of the first nine digits (spec §2.3; python-stdnum `vn.mst`), `None` when
/// the weighted sum is divisible by 11 and no check digit exists.
pub(crate) fn mst_check_digit(first9: &[u8]) -> Option<u8> {
    const WEIGHTS: [u32; 9] = [31, 29, 23, 19, 17, 13, 7, 5, 3];
    let sum: u32 = first9.iter().zip(WEIGHTS).map(|(d, w)| u32::from(d - b'0') * w).sum();
    let c = 10 - sum % 11;
    u8::try_from(c).ok().filter(|&c| c < 10)
}

/// A valid 10-digit MST: check digit right and N3–N9 not all zero.
pub(crate) fn mst_valid(number: &[u8]) -> bool {
    number.len() == 10
        && number.iter().all(u8::is_ascii_digit)
        && number[2..9].iter().any(|&d| d != b'0')
        && mst_check_digit(&number[..9]) == Some(number[9] - b'0')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stretches_find_what_a_whole_text_search_finds() {
        let text = "Thẻ 4111 1111 1111 1111, _4111111111111111 x 4111-1111-1111-1111X; SĐT 0912 345 678 (+84) \
            912-345-678 0084 912345678 HS4010123456789, HS 4 01 0123456789 79A-123.45 51F1 2345 B1234567 \
            0123.456.7890 a0912345678 9 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6";
        use kind::{CAPITAL, DASH, DIGIT, DOT, SIGN, SPACE};
        let cases: [(&str, u8, usize, u8); 5] = [
            (r"\b(?:[0-9][ \-]?){15,18}[0-9]\b", DIGIT | SPACE | DASH, 16, 0),
            (
                r"(?:(?:\+|\b00)84[ .\-]?\(?0?\)?|\b0)((?:[ .\-]?[0-9]){9,10})\b",
                DIGIT | SPACE | DOT | DASH | SIGN,
                10,
                0,
            ),
            (r"\b([A-Z]{2}) ?([1-5]) ?([0-9]{2}) ?([0-9]{10})\b", CAPITAL | DIGIT | SPACE, 13, CAPITAL),
            (
                r"\b([1-9][0-9])[ \-]?([A-Z]{1,2}[0-9]?)[ \-]?([0-9]{3}\.?[0-9]{2}|[0-9]{4})\b",
                CAPITAL | DIGIT | SPACE | DASH | DOT,
                6,
                CAPITAL,
            ),
            (r"\b[A-Z][0-9]{7}\b", CAPITAL | DIGIT, 7, CAPITAL),
        ];
        for (pattern, class, min_digits, needs) in cases {
            let re = regex(pattern).unwrap_or_else(|e| panic!("{pattern}: {e}"));
            let whole: Vec<_> = re.find_iter(text.as_bytes()).map(|m| m.range()).collect();
            let mut stretched = Vec::new();
            for (start, haystack) in
                stretches(text.as_bytes(), &all_stretches(text.as_bytes()), class, min_digits, needs)
            {
                let mut from = start;
                while let Some(m) = re.find_at(haystack, from) {
                    stretched.push(m.range());
                    from = m.end();
                }
            }
            assert!(!whole.is_empty(), "{pattern}");
            assert_eq!(stretched, whole, "{pattern}");
        }
    }

    #[test]
    fn stretches_are_the_maximal_runs_of_a_class_that_qualify() {
        use kind::{CAPITAL, DASH, DIGIT, DOT, SIGN, SPACE};
        let text = "Lô 12-A 79A-123.45 (+84) 912.345.678, 4111 1111-1111 1111; HS4010123456789 B1234567 \
            10.0.0.1 - - [27/Nov/2026:10:00:00 +0700] \"GET /a?id=0912345678 HTTP/1.1\" 200 5120 9 1 2 3 AB CD 12";
        let bytes = text.as_bytes();
        let all = all_stretches(bytes);
        // Every byte of a kind next to a digit, walked one class at a time.
        let reference = |class: u8, min_digits: usize, needs: u8| {
            let mut found = Vec::new();
            let mut at = 0;
            while at < bytes.len() {
                let end = at + bytes[at..].iter().take_while(|&&b| kind::OF[usize::from(b)] & class != 0).count();
                let kinds = bytes[at..end].iter().fold(0, |kinds, &b| kinds | kind::OF[usize::from(b)]);
                let digits = bytes[at..end].iter().filter(|b| b.is_ascii_digit()).count();
                if digits > 0 && digits >= min_digits && kinds & needs == needs {
                    found.push((at, (end + 1).min(bytes.len())));
                }
                at = end + 1;
            }
            found
        };
        let classes = [DIGIT, DIGIT | SPACE | DASH, DIGIT | SPACE | DOT | DASH | SIGN, CAPITAL | DIGIT, !0];
        for class in classes.into_iter().chain(classes.map(|c| c | CAPITAL)) {
            for min_digits in [MIN_DIGITS, 10, 16] {
                for needs in [0, CAPITAL, DOT, SPACE | DASH] {
                    let found: Vec<_> =
                        stretches(bytes, &all, class, min_digits, needs).map(|(at, h)| (at, h.len())).collect();
                    assert_eq!(found, reference(class, min_digits, needs), "{class:#b} {min_digits} {needs:#b}");
                }
            }
        }
        let mut runs = Vec::new();
        walk(bytes, &mut Vec::new(), |start, end| runs.push(&text[start..end]));
        let expected: Vec<_> = text.split(|c: char| !c.is_ascii_digit()).filter(|r| !r.is_empty()).collect();
        assert_eq!(runs, expected);
    }

    /// The digit runs and stretches of `bytes` found a byte at a time.
    fn walk_bytewise(bytes: &[u8]) -> (Vec<(usize, usize)>, Vec<Stretch>) {
        let maximal_runs = |is: fn(u8) -> bool| {
            let mut runs = Vec::new();
            let mut at = 0;
            while at < bytes.len() {
                let len = bytes[at..].iter().take_while(|&&b| is(b)).count();
                if len > 0 {
                    runs.push((at, at + len));
                }
                at += len.max(1);
            }
            runs
        };
        let stretches = maximal_runs(|b| kind::OF[usize::from(b)] != 0)
            .into_iter()
            .map(|(start, end)| {
                let run = &bytes[start..end];
                let kinds = run.iter().fold(0, |kinds, &b| kinds | kind::OF[usize::from(b)]);
                Stretch::new(start, end, run.iter().filter(|b| b.is_ascii_digit()).count(), kinds)
            })
            .filter(|stretch| stretch.holds(MIN_DIGITS))
            .collect();
        (maximal_runs(|b| b.is_ascii_digit()), stretches)
    }

    #[test]
    fn the_walk_finds_what_a_walk_byte_by_byte_finds() {
        // Pieces that make runs and stretches of every length, across blocks and at the ends
        // of the text, among bytes of no kind, non-ASCII ones among them.
        let pieces: [&[u8]; 16] = [
            b"0",
            b"7",
            b"12",
            b"345",
            b"20261127",
            b"0912345678",
            b" ",
            b".",
            b"-",
            b"(+",
            b"Z",
            b"x",
            b"|",
            b":",
            "\u{1ea0}".as_bytes(),
            b"\xff\x80",
        ];
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = move |below: usize| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            usize::try_from(state % below as u64).expect("small")
        };
        for case in 0..3000 {
            let mut bytes = Vec::new();
            let len = next(3 * BLOCK + 2);
            while bytes.len() < len {
                match next(20) {
                    // Long runs of one piece, which cross blocks.
                    0 => {
                        let piece = pieces[next(pieces.len())];
                        for _ in 0..next(2 * BLOCK) {
                            bytes.extend_from_slice(piece);
                        }
                    }
                    1 => bytes.push(u8::try_from(next(256)).expect("a byte")),
                    _ => bytes.extend_from_slice(pieces[next(pieces.len())]),
                }
            }
            let mut runs = Vec::new();
            let mut stretches = Vec::new();
            walk(&bytes, &mut stretches, |start, end| runs.push((start, end)));
            assert_eq!((runs, stretches), walk_bytewise(&bytes), "case {case}: {bytes:?}");
        }
    }

    #[test]
    fn bytes_of_a_kind_are_told_apart_by_comparisons_as_by_the_table() {
        for b in 0..=u8::MAX {
            assert_eq!(of_any_kind(b), kind::OF[usize::from(b)] != 0, "{b}");
        }
        // Space to underscore: punctuation, digits and capitals.
        let block: [u8; BLOCK] = std::array::from_fn(|i| b' ' + u8::try_from(i).expect("a byte"));
        let expected = block.iter().enumerate().fold(0, |m, (i, &b)| m | u64::from(kind::OF[usize::from(b)] != 0) << i);
        assert_eq!(mask(&block, of_any_kind), expected);
    }

    #[test]
    fn mst_check_digits_of_the_spec() {
        // Spec §10.1 "Checksum helper values".
        for (base, check) in [
            ("420000001", Some(1)),
            ("420000002", Some(9)),
            ("420000003", Some(6)),
            ("420000005", Some(0)),
            ("420000009", None),
            ("010000012", Some(3)),
            ("010000000", Some(3)),
            ("010023348", Some(8)),
        ] {
            assert_eq!(mst_check_digit(base.as_bytes()), check, "{base}");
        }
        assert!(!mst_valid(b"0100000003"), "N3-N9 all zero is never issued");
        assert!(mst_valid(b"4200000011"));
    }
}
