//! [`View`]: one part's text in canonical form (spec §1 "views", §3.4), ready for detectors.

use super::canon::{self, Canonical, OffsetMap};
use super::finding::{Location, ViewKind};
use super::legacy::{self, Encoding};
use super::wide;
use std::sync::{Mutex, PoisonError};

/// Canonical text of one part of an object, with what detectors need to know about it: the
/// part's name, the view (Unicode or a decoded legacy encoding), whether the text sits where
/// stamps sit, and how to map its offsets back to the input. Text that is its own canonical
/// form, as most is, is borrowed rather than copied.
#[derive(Debug)]
pub struct View<'t> {
    part: String,
    kind: ViewKind,
    prominent: bool,
    /// The canonical text when it is not `unchanged`.
    canonical: Canonical,
    /// The text the view was built from, when that is its canonical form.
    unchanged: Option<&'t str>,
    raw_to_input: Option<OffsetMap>,
    input_len: usize,
    ascii: bool,
    /// The offset last located and its line: the next line is counted from there, as the
    /// few offsets an object's findings are reported at are mostly located in order.
    last_line: Mutex<(usize, usize)>,
}

impl<'t> View<'t> {
    /// A view of Unicode text as an extractor returned it.
    pub fn unicode(part: &str, text: &'t str) -> View<'t> {
        View::build_in(Canonical::default(), part, ViewKind::Unicode, text, None, text.len())
    }

    /// A view of bytes in a legacy encoding.
    pub fn legacy(part: &str, bytes: &[u8], encoding: Encoding) -> View<'static> {
        let (raw, map) = legacy::decode_mapped(bytes, encoding);
        View::build_owned(part, ViewKind::Legacy(encoding), raw, map, bytes.len())
    }

    /// A view of a run in a legacy font ([`legacy::font_encoding`]) that the extractor
    /// returned as Windows-1252 characters; `None` if the text is not of that form.
    pub fn seen(part: &str, text: &str, encoding: Encoding) -> Option<View<'static>> {
        let (raw, map) = legacy::decode_seen_mapped(text, encoding)?;
        Some(View::build_owned(part, ViewKind::Legacy(encoding), raw, map, text.len()))
    }

    /// Marks the text as sitting where stamps sit — a text box, a header, a red run, the top
    /// of the first page — which a marking needs no short line to count as a stamp in.
    pub fn prominent(mut self, prominent: bool) -> View<'t> {
        self.prominent = prominent;
        self
    }

    /// The view of `raw`, text derived from an input of `input_len` bytes, to which
    /// `raw_to_input` maps offsets (`None`: `raw` is the input), built in the memory of
    /// `spare`, from a view [`View::recycle`]d before, unless `raw` is its own canonical form.
    pub(crate) fn build_in(
        mut spare: Canonical,
        part: &str,
        kind: ViewKind,
        raw: &'t str,
        raw_to_input: Option<OffsetMap>,
        input_len: usize,
    ) -> View<'t> {
        let prefix = canon::unchanged_prefix(raw);
        let unchanged = (prefix == raw.len()).then_some(raw);
        if unchanged.is_none() {
            canon::canonical_after(raw, prefix, &mut spare);
        }
        View::new(part, kind, spare, unchanged, raw_to_input, input_len)
    }

    /// [`View::build_in`] of text made for the view, which becomes its canonical text when it
    /// is its own canonical form.
    fn build_owned(
        part: &str,
        kind: ViewKind,
        raw: String,
        raw_to_input: OffsetMap,
        input_len: usize,
    ) -> View<'static> {
        let prefix = canon::unchanged_prefix(&raw);
        let canonical = if prefix == raw.len() {
            Canonical { text: raw, map: OffsetMap::default(), letters_only: true }
        } else {
            let mut canonical = Canonical::default();
            canon::canonical_after(&raw, prefix, &mut canonical);
            canonical
        };
        View::new(part, kind, canonical, None, Some(raw_to_input), input_len)
    }

    fn new(
        part: &str,
        kind: ViewKind,
        canonical: Canonical,
        unchanged: Option<&'t str>,
        raw_to_input: Option<OffsetMap>,
        input_len: usize,
    ) -> View<'t> {
        let ascii = unchanged.unwrap_or(&canonical.text).is_ascii();
        View {
            part: part.to_string(),
            kind,
            prominent: false,
            canonical,
            unchanged,
            raw_to_input,
            input_len,
            ascii,
            last_line: Mutex::new((0, 1)),
        }
    }

    /// The memory of the canonical text, for the next view to be built in.
    pub(crate) fn recycle(self) -> Canonical {
        self.canonical
    }

    /// The canonical text.
    pub fn text(&self) -> &str {
        self.unchanged.unwrap_or(&self.canonical.text)
    }

    /// Which reading of the input the view is.
    pub fn kind(&self) -> ViewKind {
        self.kind
    }

    /// The name of the part the view was built from, findings' [`Location::part`](crate::Location).
    pub fn part(&self) -> &str {
        &self.part
    }

    pub(crate) fn is_prominent(&self) -> bool {
        self.prominent
    }

    /// The whole text is ASCII: a document typed without diacritics (spec §3.4.8 b).
    pub(crate) fn is_ascii(&self) -> bool {
        self.ascii
    }

    /// Every character of the text the view was built from is ASCII or a precomposed
    /// Vietnamese letter: it holds no legacy text seen through Windows-1252.
    pub(crate) fn letters_only(&self) -> bool {
        self.unchanged.is_some() || self.canonical.letters_only
    }

    /// The line (from 1) canonical offset `offset` is on.
    fn line_of(&self, offset: usize) -> usize {
        let bytes = self.text().as_bytes();
        let offset = offset.min(bytes.len());
        let mut last = self.last_line.lock().unwrap_or_else(PoisonError::into_inner);
        let (at, line) = *last;
        let line = if offset >= at {
            line + wide::count(&bytes[at..offset], b'\n')
        } else {
            line - wide::count(&bytes[offset..at], b'\n')
        };
        *last = (offset, line);
        line
    }

    /// Location of canonical offset `offset`.
    pub(crate) fn locate(&self, offset: usize) -> Location {
        let line = self.line_of(offset);
        let raw = if self.unchanged.is_some() { offset } else { self.canonical.map.to_source(offset) };
        // Approximate mappings (see `OffsetMap`) must still point into the input.
        let input = self.raw_to_input.as_ref().map_or(raw, |m| m.to_source(raw)).min(self.input_len);
        Location {
            part: self.part.clone(),
            line: u32::try_from(line).unwrap_or(u32::MAX),
            offset: u64::try_from(input).unwrap_or(u64::MAX),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_that_is_its_own_canonical_form_is_borrowed_and_other_text_canonicalised() {
        // Longer than a block of the canonical pass, so that the unchanged blocks before a
        // change are copied.
        let plain = "Số CCCD: 056090123456, TUYỆT MẬT\n".repeat(300);
        let view = View::unicode("p", &plain);
        assert_eq!(view.text().as_ptr(), plain.as_ptr());
        assert!(view.letters_only());
        for text in [format!("{plain}a\tb"), format!("\u{1}{plain}"), format!("{plain}Me\u{0302}\u{0323}t")] {
            let view = View::unicode("p", &text);
            assert_ne!(view.text().as_ptr(), text.as_ptr());
            assert_eq!(view.text(), canon::canonical(&text).text);
        }
        let legacy = View::seen("p", "TUYÖT MËT", Encoding::Tcvn3).expect("seen legacy text");
        assert_eq!(legacy.text(), canon::canonical(legacy.text()).text);
    }
}
