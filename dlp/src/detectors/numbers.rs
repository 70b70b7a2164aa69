//! Bare digit identifiers — CCCD and 12-digit CMND (§2.1–2.2), driver's licence, 9-digit CMND,
//! MST (§2.3), BHXH (§2.5) — and the BHYT card code.
//!
//! The regexes of the spec (`\b[0-9]{12}\b`, `\b[0-9]{9}\b`, `\b[0-9]{10}…\b`) are all "a
//! maximal digit run of length n between non-word characters", so one pass over the digit
//! runs serves them all. The same pass joins box digits (spec §1): single digits separated by
//! single spaces or cell bars, when the run has the length of an identifier. Identifiers
//! written in groups (`056 090 123 456`, `056.090.123.456`, `0560-9012-3456`) are joined too:
//! the digit view of §1 collapses their separators before the patterns run.

use super::super::data::{BHYT_GROUPS, CCCD_PROVINCES, class};
use super::super::finding::{Confidence, DetectorId};
use super::super::wide::with_avx2;
use super::{Pattern, Scan, find_from, is_digit, is_word, kind, mst_valid, starts_word, stretches, walk};
use std::borrow::Cow;

pub(super) struct Numbers {
    bhyt: Pattern,
}

/// Lengths a box-digit run is joined for: CMND, MST/BHXH, CCCD.
const BOX_LENGTHS: [usize; 3] = [9, 10, 12];

/// Separators between box digits: a space (tabs are spaces in the view) or a cell bar.
const BOX_SEPARATORS: [u8; 2] = [b' ', b'|'];

/// Separators between the groups of a grouped identifier.
const GROUP_SEPARATORS: [u8; 3] = [b' ', b'.', b'-'];

/// Digits in one group of a grouped identifier: `056 090 123 456`, `0560 9012 3456`,
/// `056090 123456`. Groups of one digit are box digits; of two, lists of small numbers
/// (`01 02 03 04 05 06`) would read as identifiers.
const GROUP_DIGITS: std::ops::RangeInclusive<usize> = 3..=6;

/// How the digits of a candidate are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Form {
    /// One run of digits.
    Contiguous,
    /// One digit per box or cell.
    Boxed,
    /// Groups of digits between single separators of one kind.
    Grouped(u8),
}

impl Numbers {
    pub(super) fn new() -> Result<Self, regex::Error> {
        Ok(Numbers { bhyt: Pattern::new(r"\b([A-Z]{2}) ?([1-5]) ?([0-9]{2}) ?([0-9]{10})\b")? })
    }

    pub(super) fn scan(&self, scan: &mut Scan<'_, '_>) {
        runs(self, scan);
        self.grouped(scan);
        self.bhyt(scan);
    }

    fn candidate<'a>(&self, scan: &mut Scan<'a, '_>, number: Cow<'a, str>, start: usize, end: usize, form: Form) {
        match number.len() {
            12 => twelve(scan, number, start, end),
            // Dots group the thousands of amounts (`150.000.000` đồng), which have nine digits
            // as often as an old identity card has.
            9 if form != Form::Grouped(b'.') => nine(scan, number, start, end),
            10 => ten(scan, number, start, end, form),
            _ => {}
        }
    }

    /// Identifiers written in groups: in the stretches of the view that hold enough digits and
    /// a separator, maximal chains of digit runs linked by single separators, all of one kind,
    /// whose groups are of [`GROUP_DIGITS`] and whose digits make an identifier's length.
    /// A chain that is part of a longer grouped number (an account, a card) is not one.
    fn grouped(&self, scan: &mut Scan<'_, '_>) {
        let separators = kind::SPACE | kind::DOT | kind::DASH;
        // By index: candidates are reported through `scan`, which holds the stretches.
        for index in 0..scan.stretches.len() {
            let stretch = scan.stretches[index];
            if !stretch.holds(9) || stretch.kinds & separators == 0 {
                continue;
            }
            for (start, end, form) in chains(scan.bytes(), stretch.start, stretch.end) {
                let number = super::digits(&scan.bytes()[start..end]);
                self.candidate(scan, Cow::Owned(number), start, end, form);
            }
        }
    }

    fn bhyt(&self, scan: &mut Scan<'_, '_>) {
        let mut found = Vec::new();
        // Two capitals, then thirteen digits, with spaces.
        let class = kind::CAPITAL | kind::DIGIT | kind::SPACE;
        for (start, haystack) in stretches(scan.bytes(), &scan.stretches, class, 13, kind::CAPITAL) {
            find_from(&self.bhyt, haystack, start, &mut found);
        }
        for range in found {
            // The match is unambiguous: two capitals, a space or not, the benefit digit, a
            // space or not, the two province digits.
            let code = &scan.bytes()[range.clone()];
            let group = &code[..2];
            let at = 2 + usize::from(code[2] == b' ') + 1;
            let at = at + usize::from(code[at] == b' ');
            let province = u16::from(code[at] - b'0') * 10 + u16::from(code[at + 1] - b'0');
            if !CCCD_PROVINCES.contains(&province) {
                continue;
            }
            let known_group = BHYT_GROUPS.iter().any(|g| g.as_bytes() == group);
            let context = scan.context(range.start, range.end) & (class::BHYT | class::BHXH) != 0;
            let confidence = match (context, known_group) {
                (true, _) => Confidence::High,
                (false, true) => Confidence::Medium,
                (false, false) => Confidence::Low,
            };
            let mut value = String::with_capacity(range.len());
            value.extend(scan.text[range.clone()].chars().filter(|c| *c != ' '));
            scan.emit(DetectorId::Bhyt, value, confidence, range.start);
        }
    }
}

with_avx2! {
    /// Goes through the digit runs of the view: the identifiers of their lengths, box digits,
    /// and the stretches the other patterns are searched in.
    fn runs(numbers: &Numbers, scan: &mut Scan<'_, '_>) = walk_runs;
}

/// [`runs`]: bit masks of 64 bytes at a time.
#[inline(always)]
fn walk_runs(numbers: &Numbers, scan: &mut Scan<'_, '_>) {
    let mut boxed = Boxed::default();
    let text = scan.text;
    let bytes = text.as_bytes();
    let mut stretches = std::mem::take(&mut scan.stretches);
    walk(bytes, &mut stretches, |start, end| {
        // Only a bounded run of one digit or of an identifier's length counts; any other
        // only ends a run of box digits, which the next run that counts does as well,
        // as it cannot join one that ended before another run.
        if !matches!(end - start, 1 | 9 | 10 | 12) {
            return;
        }
        let bounded = starts_word(bytes, start) && !is_word(bytes.get(end));
        if !bounded {
            return;
        }
        if end - start == 1 {
            let joins = boxed.end.is_some_and(|e| e + 1 == start && BOX_SEPARATORS.contains(&bytes[e]));
            if !joins {
                boxed.flush(numbers, scan);
                // A single digit after a multi-digit group belongs to that group.
                let after_group =
                    start >= 2 && BOX_SEPARATORS.contains(&bytes[start - 1]) && is_digit(bytes.get(start - 2));
                boxed.start = (!after_group).then_some(start);
            }
            boxed.digits.push(char::from(bytes[start]));
            boxed.end = Some(end);
        } else {
            boxed.flush(numbers, scan);
            numbers.candidate(scan, Cow::Borrowed(&text[start..end]), start, end, Form::Contiguous);
        }
    });
    boxed.flush(numbers, scan);
    scan.stretches = stretches;
}

/// A run of box digits being joined.
#[derive(Default)]
struct Boxed {
    /// Where the run starts; `None` when it cannot be an identifier of its own.
    start: Option<usize>,
    end: Option<usize>,
    digits: String,
}

impl Boxed {
    fn flush(&mut self, numbers: &Numbers, scan: &mut Scan<'_, '_>) {
        if let (Some(start), Some(end)) = (self.start, self.end) {
            // A run that goes on into a multi-digit group is part of that group.
            let bytes = scan.bytes();
            let goes_on = bytes.get(end).is_some_and(|b| BOX_SEPARATORS.contains(b)) && is_digit(bytes.get(end + 1));
            if !goes_on && BOX_LENGTHS.contains(&self.digits.len()) {
                let number = std::mem::take(&mut self.digits);
                numbers.candidate(scan, Cow::Owned(number), start, end, Form::Boxed);
            }
        }
        *self = Boxed::default();
    }
}

/// CCCD (or 12-digit CMND, or driver's licence) — spec §2.1.
fn twelve<'a>(scan: &mut Scan<'a, '_>, number: Cow<'a, str>, start: usize, end: usize) {
    let context = scan.context(start, end);
    if context & class::GPLX != 0 && context & class::CCCD == 0 {
        scan.emit(DetectorId::Gplx, number, Confidence::Medium, start);
        return;
    }
    let d = number.as_bytes();
    if d[0] != b'0' {
        return;
    }
    let province = u16::from(d[1] - b'0') * 10 + u16::from(d[2] - b'0');
    let known = CCCD_PROVINCES.contains(&province);
    if !known && !scan.config.lenient_cccd_prefix {
        return;
    }
    // Century and sex digit: 0/1 = 20th century, 2/3 = 21st, … ; the year may not lie ahead.
    let year = 1900 + 100 * u16::from((d[3] - b'0') / 2) + u16::from(d[4] - b'0') * 10 + u16::from(d[5] - b'0');
    if year > scan.config.current_year {
        return;
    }
    let named = |c: Confidence| if known { c } else { Confidence::Medium.min(c) };
    // A 12-digit personal tax code is the personal ID (Circular 86/2024), so MST context names it too.
    let (detector, confidence) = if context & (class::CCCD | class::MST) != 0 {
        (DetectorId::Cccd, named(Confidence::High))
    } else if context & class::CMND != 0 {
        (DetectorId::Cmnd, named(Confidence::High))
    } else {
        (DetectorId::Cccd, if known { Confidence::Medium } else { Confidence::Low })
    };
    scan.emit(detector, number, confidence, start);
}

/// Old 9-digit CMND, never without context — spec §2.2.
fn nine<'a>(scan: &mut Scan<'a, '_>, number: Cow<'a, str>, start: usize, end: usize) {
    if scan.context(start, end) & class::CMND != 0 {
        scan.emit(DetectorId::Cmnd, number, Confidence::Medium, start);
    }
}

/// The grouped numbers in `bytes[start..end]`, as their start, end and form: chains of two
/// or more digit runs linked by one separator byte each, the same one throughout, every run
/// of [`GROUP_DIGITS`], the digits [`BOX_LENGTHS`] in all, standing as a word and not going on
/// through a separator into more digits (but for a tax code's `-NNN` branch).
fn chains(bytes: &[u8], start: usize, end: usize) -> Vec<(usize, usize, Form)> {
    let run_end = |from: usize| bytes[from..end].iter().position(|b| !b.is_ascii_digit()).map_or(end, |p| from + p);
    let linked = |at: usize| at + 1 < end && GROUP_SEPARATORS.contains(&bytes[at]) && bytes[at + 1].is_ascii_digit();
    let mut found = Vec::new();
    let mut at = start;
    while let Some(first) = bytes[at..end].iter().position(u8::is_ascii_digit).map(|p| at + p) {
        let mut last = run_end(first);
        // The chain's digits, and whether every run of it is a group.
        let mut digits = last - first;
        let mut groups = GROUP_DIGITS.contains(&digits);
        let separator = bytes.get(last).copied().filter(|_| linked(last));
        if let Some(separator) = separator {
            while linked(last) && bytes[last] == separator {
                let next = run_end(last + 1);
                digits += next - (last + 1);
                groups &= GROUP_DIGITS.contains(&(next - (last + 1)));
                last = next;
            }
        }
        at = last;
        let Some(separator) = separator else { continue };
        let before = first >= 2 && GROUP_SEPARATORS.contains(&bytes[first - 1]) && is_digit(bytes.get(first - 2));
        let branch = digits == 10 && branch_suffix(bytes, last).is_some();
        let word = starts_word(bytes, first) && !is_word(bytes.get(last)) && !before && (!linked(last) || branch);
        if groups && word && BOX_LENGTHS.contains(&digits) {
            found.push((first, last, Form::Grouped(separator)));
        }
    }
    found
}

/// MST (with its branch suffix) and BHXH — spec §2.3, §2.5. A grouped ten-digit number is
/// as often a phone number written `0912 345 678`: it is a tax code only where context says so.
fn ten<'a>(scan: &mut Scan<'a, '_>, number: Cow<'a, str>, start: usize, end: usize, form: Form) {
    let branch = match form {
        Form::Contiguous | Form::Grouped(b' ' | b'.') => branch_suffix(scan.bytes(), end),
        Form::Boxed | Form::Grouped(_) => None,
    };
    let number_end = branch.as_ref().map_or(end, |(_, e)| *e);
    let context = scan.context(start, number_end);
    if context & class::BHXH != 0 && context & class::MST == 0 {
        scan.emit(DetectorId::Bhxh, number, Confidence::Medium, start);
        return;
    }
    if !mst_valid(number.as_bytes()) {
        return;
    }
    let branch = branch.map(|(b, _)| b);
    if branch.as_deref() == Some("000") {
        return;
    }
    let confidence = if context & class::MST != 0 {
        Confidence::High
    } else if matches!(form, Form::Grouped(_)) || context & (class::PHONE | class::CARD | class::BHYT) != 0 {
        return;
    } else if branch.is_some() {
        Confidence::Medium
    } else {
        Confidence::Low
    };
    let value = match branch {
        Some(b) => Cow::Owned(format!("{number}-{b}")),
        None => number,
    };
    scan.emit(DetectorId::Mst, value, confidence, start);
}

/// The branch suffix after a 10-digit MST: `[ ]?[-–][ ]?[0-9]{3}` then a non-word character.
fn branch_suffix(bytes: &[u8], end: usize) -> Option<(String, usize)> {
    let mut i = end;
    if bytes.get(i) == Some(&b' ') {
        i += 1;
    }
    if bytes.get(i) == Some(&b'-') {
        i += 1;
    } else if bytes.get(i..i + 3) == Some("–".as_bytes()) {
        i += 3;
    } else {
        return None;
    }
    if bytes.get(i) == Some(&b' ') {
        i += 1;
    }
    let branch = bytes.get(i..i + 3)?;
    if !branch.iter().all(u8::is_ascii_digit) || is_word(bytes.get(i + 3)) {
        return None;
    }
    Some((String::from_utf8_lossy(branch).into_owned(), i + 3))
}
