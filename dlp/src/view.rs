//! [`View`]: one part's text in canonical form (spec §1 "views", §3.4), ready for detectors.

use super::canon::{self, Canonical, OffsetMap};
use super::finding::{Location, ViewKind};
use super::legacy::{self, Encoding};
use std::sync::OnceLock;

/// Canonical text of one part of an object, with what detectors need to know about it: the
/// part's name, the view (Unicode or a decoded legacy encoding), whether the text sits where
/// stamps sit, and how to map its offsets back to the input.
#[derive(Debug)]
pub struct View {
    part: String,
    kind: ViewKind,
    prominent: bool,
    canonical: Canonical,
    raw_to_input: Option<OffsetMap>,
    input_len: usize,
    ascii: bool,
    line_starts: OnceLock<Vec<usize>>,
}

impl View {
    /// A view of Unicode text as an extractor returned it.
    pub fn unicode(part: &str, text: &str) -> View {
        View::build(part, ViewKind::Unicode, text, None, text.len())
    }

    /// A view of bytes in a legacy encoding.
    pub fn legacy(part: &str, bytes: &[u8], encoding: Encoding) -> View {
        let (raw, map) = legacy::decode_mapped(bytes, encoding);
        View::build(part, ViewKind::Legacy(encoding), &raw, Some(map), bytes.len())
    }

    /// A view of a run in a legacy font ([`legacy::font_encoding`]) that the extractor
    /// returned as Windows-1252 characters; `None` if the text is not of that form.
    pub fn seen(part: &str, text: &str, encoding: Encoding) -> Option<View> {
        let (raw, map) = legacy::decode_seen_mapped(text, encoding)?;
        Some(View::build(part, ViewKind::Legacy(encoding), &raw, Some(map), text.len()))
    }

    /// Marks the text as sitting where stamps sit — a text box, a header, a red run, the top
    /// of the first page — which a marking needs no short line to count as a stamp in.
    pub fn prominent(mut self, prominent: bool) -> View {
        self.prominent = prominent;
        self
    }

    /// The view of `raw`, text derived from an input of `input_len` bytes, to which
    /// `raw_to_input` maps offsets (`None`: `raw` is the input).
    pub(crate) fn build(
        part: &str,
        kind: ViewKind,
        raw: &str,
        raw_to_input: Option<OffsetMap>,
        input_len: usize,
    ) -> View {
        View::build_in(Canonical::default(), part, kind, raw, raw_to_input, input_len)
    }

    /// [`View::build`] in the memory of `spare`, from a view [`View::recycle`]d before.
    pub(crate) fn build_in(
        mut spare: Canonical,
        part: &str,
        kind: ViewKind,
        raw: &str,
        raw_to_input: Option<OffsetMap>,
        input_len: usize,
    ) -> View {
        canon::canonical_into(raw, &mut spare);
        let ascii = spare.text.is_ascii();
        View {
            part: part.to_string(),
            kind,
            prominent: false,
            canonical: spare,
            raw_to_input,
            input_len,
            ascii,
            line_starts: OnceLock::new(),
        }
    }

    /// The memory of the canonical text, for the next view to be built in.
    pub(crate) fn recycle(self) -> Canonical {
        self.canonical
    }

    /// The canonical text.
    pub fn text(&self) -> &str {
        &self.canonical.text
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
        self.canonical.letters_only
    }

    /// Location of canonical offset `offset`.
    pub(crate) fn locate(&self, offset: usize) -> Location {
        let starts = self.line_starts.get_or_init(|| {
            std::iter::once(0)
                .chain(memchr::memchr_iter(b'\n', self.canonical.text.as_bytes()).map(|i| i + 1))
                .collect()
        });
        let line = starts.partition_point(|&s| s <= offset);
        let raw = self.canonical.map.to_source(offset);
        // Approximate mappings (see `OffsetMap`) must still point into the input.
        let input = self.raw_to_input.as_ref().map_or(raw, |m| m.to_source(raw)).min(self.input_len);
        Location {
            part: self.part.clone(),
            line: u32::try_from(line).unwrap_or(u32::MAX),
            offset: u64::try_from(input).unwrap_or(u64::MAX),
        }
    }
}
