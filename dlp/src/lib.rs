//! Hải Đăng's DLP content engine: finds Vietnamese personal data and state-secret markings in
//! documents (shared/dlp-vn.md) — identifiers (§2), state-secret markings (§3), the canonical
//! and legacy-encoded views they are found in (§3.4, §3.5), and findings that never carry
//! matched content (§9) — and decides what to do about them by policy (§6). It is a library
//! with no I/O runtime: the endpoint agent and network gateways embed it.
//!
//! The parts:
//! - [`DetectorSet`]: the detectors, built once and shared (it is `Sync`). An object — a file,
//!   a print job, an upload — is scanned through an [`ObjectScan`], which aggregates the
//!   findings of all its parts: a container walker adds each part's text
//!   ([`ObjectScan::add_text`]), bytes ([`ObjectScan::add_bytes`]: BOM, UTF-16, UTF-8 or a
//!   legacy encoding) or a ready [`View`] (a run in a legacy font, [`View::seen`] with
//!   [`font_encoding`]). [`DetectorSet::scan_text`] and [`DetectorSet::scan_bytes`] do the same
//!   for a one-part object.
//! - [`extract`]: the container walker (zip, OOXML, ODF, OLE, PDF, MIME) and the
//!   [`Extractor`](extract::Extractor), which parses untrusted documents in an isolated child
//!   process and caches results by content hash — for files ([`scan_document`]) and for
//!   objects held in memory ([`inspect_bytes`]).
//! - [`Columns`]: which lines of a part are table cells under which column header, so that
//!   the header is the context of the identifiers in them ([`ObjectScan::add_table_text`];
//!   `.csv` and `.tsv` parts take the header from their first line).
//! - [`policy`]: which findings matter on which [`Channel`], and the [`Action`] to take.
//! - [`legacy`]: the legacy Vietnamese encodings (TCVN3, VNI, Windows-1258, VISCII, VIQR).
//!
//! Work is linear in the input: the regexes are compiled by the `regex` crate (no
//! backtracking), keyword lists are Aho-Corasick automata, and each line is looked at a
//! bounded number of times.
//!
//! # Hosting the extraction child
//!
//! A parser bug or a decompression bomb must cost a child process, never the host, so an
//! [`Extractor`](extract::Extractor) parses in a child under memory, CPU and time limits. The
//! child is an executable that embeds this crate and answers [`extract::SUBCOMMAND`]: by
//! default the host's own (`Extractor::new` starts `current_exe`). A host therefore does one
//! of:
//! - call [`extract::run_child_if_requested`] first thing in `main` and return its exit code
//!   when it gives one (a gateway, a tool);
//! - declare a hidden subcommand named [`extract::SUBCOMMAND`] with one argument and call
//!   [`extract::run_child`] with it (the agent, whose command line is a `clap` parser);
//! - or point [`Isolation::Child`](extract::Isolation::Child) at the `haidang-dlp-extract`
//!   program this crate builds, which does only that.
//!
//! [`scan_document`]: extract::Extractor::scan_document
//! [`inspect_bytes`]: extract::Extractor::inspect_bytes

#![warn(missing_docs)]

mod canon;
mod data;
mod detectors;
pub mod extract;
mod finding;
pub mod legacy;
mod markings;
pub mod policy;
mod table;
#[cfg(test)]
mod tests;
mod view;
mod wide;

pub use detectors::BuildError;
pub use finding::{Confidence, ConfidenceCounts, DetectorId, Finding, Location, SecrecyLevel, ViewKind};
pub use legacy::{Encoding, font_encoding};
pub use policy::{Action, Channel, Policy, PolicyError};
pub use table::Columns;
pub use view::View;

use canon::{Canonical, OffsetMap};
use detectors::Identifiers;
use finding::{Aggregator, Instances};
use legacy::{SINGLE_BYTE, Scorer, Sniffed};
use markings::Markings;
use std::time::{SystemTime, UNIX_EPOCH};
use table::Layout;

/// Settings of the detectors.
#[derive(Debug, Clone)]
pub struct Config {
    /// Accept CCCD numbers whose province code is not in the table (post-2025 codes may
    /// exist, spec §2.1), at medium at most. Off: such numbers are rejected (the strict
    /// validation the spec's test vectors expect).
    pub lenient_cccd_prefix: bool,
    /// Birth years after this reject a CCCD (`…3 90…` is 2090).
    pub current_year: u16,
    /// Characters either side of a candidate searched for context keywords.
    pub context_window: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config { lenient_cccd_prefix: false, current_year: current_year(), context_window: 40 }
    }
}

/// The year now (UTC), from the civil calendar of the Unix day count.
fn current_year() -> u16 {
    let days = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs() / 86_400);
    // Days since 0000-03-01 in the proleptic Gregorian calendar, split into 400-year eras.
    let z = days + 719_468;
    let era = z / 146_097;
    let day_of_era = z % 146_097;
    let year_of_era = (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let year = year_of_era + era * 400 + u64::from(month_index >= 10);
    u16::try_from(year).unwrap_or(u16::MAX)
}

/// What the caller knows about a part.
#[derive(Debug, Clone, Copy, Default)]
pub struct Hints {
    /// The part is in this legacy encoding (from its font, [`font_encoding`]): bytes are
    /// decoded with it, text is taken as that encoding seen through Windows-1252.
    pub encoding: Option<Encoding>,
    /// The part sits where stamps sit (see [`View::prominent`]).
    pub prominent: bool,
}

/// Lines longer than this are not searched for markings in the alternative legacy readings
/// of a part (stamps are short; the chosen reading is searched whole).
const SHORT_LINE: usize = 256;

/// The detectors, compiled once.
pub struct DetectorSet {
    identifiers: Identifiers,
    markings: Markings,
    scorer: Scorer,
}

impl DetectorSet {
    /// Compiles the detectors; fails only if a built-in pattern is broken.
    pub fn new(config: Config) -> Result<DetectorSet, BuildError> {
        Ok(DetectorSet { identifiers: Identifiers::new(config)?, markings: Markings::new()?, scorer: Scorer::new()? })
    }

    /// Starts aggregating the findings of one object.
    pub fn object(&self) -> ObjectScan<'_> {
        self.object_in(Buffers::default())
    }

    /// [`DetectorSet::object`], building its views in `buffers` ([`ObjectScan::finish_keeping`]).
    pub(crate) fn object_in(&self, buffers: Buffers) -> ObjectScan<'_> {
        ObjectScan { set: self, aggregator: Aggregator::default(), buffers }
    }

    /// Findings of one view.
    pub fn scan(&self, view: &View) -> Vec<Finding> {
        let mut object = self.object();
        object.add_view(view);
        object.finish()
    }

    /// Findings of an object that is one part of text.
    pub fn scan_text(&self, part: &str, text: &str, hints: Hints) -> Vec<Finding> {
        let mut object = self.object();
        object.add_text(part, text, hints);
        object.finish()
    }

    /// Findings of an object that is one part of bytes in an unknown encoding.
    pub fn scan_bytes(&self, part: &str, bytes: &[u8], hints: Hints) -> Vec<Finding> {
        let mut object = self.object();
        object.add_bytes(part, bytes, hints);
        object.finish()
    }
}

/// Which detectors a view is scanned with.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Scope {
    All,
    Markings,
}

/// Memory the views of an object are built in, passed from each view to the next and, for a
/// batch of objects scanned one after another, from object to object: the canonical text of a
/// large file takes megabytes, which the allocator maps afresh — a page fault and the zeroing
/// of a page for every 4 KiB — each time it is allocated anew (see `heap`).
#[derive(Debug, Default)]
pub(crate) struct Buffers {
    canonical: Canonical,
    /// A view's stretches of digits: in logs and tables, a few every line.
    stretches: Vec<detectors::Stretch>,
}

impl Buffers {
    /// Bytes of memory held.
    pub(crate) fn capacity(&self) -> usize {
        self.canonical.capacity() + self.stretches.capacity() * std::mem::size_of::<detectors::Stretch>()
    }
}

/// A part of an object being scanned: its name, the length of its input (which view offsets
/// are mapped back into), and what the caller knows of it.
#[derive(Clone, Copy)]
struct Part<'a> {
    name: &'a str,
    input_len: usize,
    hints: Hints,
    /// Where its table cells find their column headers.
    layout: Layout<'a>,
}

/// The findings of one object being gathered, part by part. Identifiers count once per
/// object however many parts and views repeat them.
pub struct ObjectScan<'a> {
    set: &'a DetectorSet,
    aggregator: Aggregator,
    buffers: Buffers,
}

impl ObjectScan<'_> {
    /// Scans a view with every detector.
    pub fn add_view(&mut self, view: &View) {
        self.run(view, Scope::All, Layout::None);
    }

    /// Scans a part given as text. Runs of it that look like legacy text read through
    /// Windows-1252 (`TUYÖT MËT`) are also decoded and scanned (spec §3.5). A part named
    /// `.csv` or `.tsv` takes its first line as the header of its columns.
    pub fn add_text(&mut self, part: &str, text: &str, hints: Hints) {
        self.add_text_layout(part, text, hints, Layout::of_name(part));
    }

    /// [`ObjectScan::add_text`] for a part whose lines `columns` names are table cells under
    /// column headers, which are the context of the identifiers in them.
    pub fn add_table_text(&mut self, part: &str, text: &str, hints: Hints, columns: &Columns) {
        let layout = if columns.is_empty() { Layout::of_name(part) } else { Layout::Lines(columns) };
        self.add_text_layout(part, text, hints, layout);
    }

    fn add_text_layout(&mut self, part: &str, text: &str, hints: Hints, layout: Layout<'_>) {
        match hints.encoding.and_then(|encoding| View::seen(part, text, encoding)) {
            Some(view) => self.run(&view.prominent(hints.prominent), Scope::All, layout),
            None => self.text_views(Part { name: part, input_len: text.len(), hints, layout }, text, None),
        }
    }

    /// Scans a part given as bytes: Unicode by BOM or content, else the legacy encoding it
    /// reads best in — and, for markings, its short lines in the other legacy encodings too.
    pub fn add_bytes(&mut self, part: &str, bytes: &[u8], hints: Hints) {
        let part = Part { name: part, input_len: bytes.len(), hints, layout: Layout::of_name(part) };
        if let Some(encoding) = hints.encoding {
            let (raw, map) = legacy::decode_mapped(bytes, encoding);
            self.scan_built(part, ViewKind::Legacy(encoding), &raw, Some(map), Scope::All);
            return;
        }
        match legacy::sniff(bytes) {
            Sniffed::Text(text, map) => self.text_views(part, &text, Some(map)),
            Sniffed::Legacy => {
                let best = self.set.scorer.best(bytes);
                let (raw, map) = legacy::decode_mapped(bytes, best);
                self.scan_built(part, ViewKind::Legacy(best), &raw, Some(map), Scope::All);
                for encoding in SINGLE_BYTE.into_iter().filter(|&e| e != best) {
                    let (raw, map) = legacy::decode_short_lines(bytes, encoding, SHORT_LINE);
                    self.scan_built(part, ViewKind::Legacy(encoding), &raw, Some(map), Scope::Markings);
                }
            }
        }
    }

    /// The findings, one per detector, in detector order.
    pub fn finish(self) -> Vec<Finding> {
        self.finish_keeping().0
    }

    /// [`ObjectScan::finish`], and the memory its views were built in, for the next object.
    pub(crate) fn finish_keeping(self) -> (Vec<Finding>, Buffers) {
        (self.aggregator.finish(), self.buffers)
    }

    /// Builds the view of `raw`, text derived from `part` ([`View::build`]), in the memory the
    /// last view was built in, scans it, and keeps its memory for the next; returns whether
    /// `raw` holds only ASCII and precomposed Vietnamese letters.
    fn scan_built(
        &mut self,
        part: Part<'_>,
        kind: ViewKind,
        raw: &str,
        raw_to_input: Option<OffsetMap>,
        scope: Scope,
    ) -> bool {
        let spare = std::mem::take(&mut self.buffers.canonical);
        let view = View::build_in(spare, part.name, kind, raw, raw_to_input, part.input_len);
        let view = view.prominent(part.hints.prominent);
        self.run(&view, scope, part.layout);
        let letters_only = view.letters_only();
        self.buffers.canonical = view.recycle();
        letters_only
    }

    fn run(&mut self, view: &View, scope: Scope, layout: Layout<'_>) {
        let mut found = Instances::new(&mut self.aggregator, view);
        if scope == Scope::All {
            self.set.identifiers.scan(view, layout, &mut found, &mut self.buffers.stretches);
        }
        self.set.markings.scan(view, &mut found);
    }

    /// The Unicode view of `text`, then its runs of legacy text seen through Windows-1252:
    /// decoded in the encoding they read best in (all detectors when that reading looks like
    /// Vietnamese) and, for markings on short lines, in the others.
    fn text_views(&mut self, part: Part<'_>, text: &str, to_input: Option<OffsetMap>) {
        if self.scan_built(part, ViewKind::Unicode, text, to_input.clone(), Scope::All) {
            return;
        }
        let lines = seen_lines(text);
        if lines.is_empty() {
            return;
        }
        let (best, vietnamese) = self.best_reading(text, &lines);
        for encoding in SINGLE_BYTE {
            let max_line = if encoding == best { usize::MAX } else { SHORT_LINE };
            let (raw, map) = decode_seen_lines(text, &lines, encoding, max_line, to_input.as_ref());
            let scope = if encoding == best && vietnamese { Scope::All } else { Scope::Markings };
            self.scan_built(part, ViewKind::Legacy(encoding), &raw, Some(map), scope);
        }
    }

    /// The encoding the seen runs read best in, and whether that reading is Vietnamese:
    /// two signature words, or a better score than the runs as they stand (spec §3.5).
    fn best_reading(&self, text: &str, lines: &[SeenLine]) -> (Encoding, bool) {
        const SAMPLE: usize = 64 * 1024;
        let mut sample = String::new();
        for line in lines {
            for &(start, end) in &line.runs {
                sample.push_str(&text[start..end]);
                sample.push('\n');
            }
            if sample.len() > SAMPLE {
                break;
            }
        }
        let scorer = &self.set.scorer;
        let as_is = scorer.score(&sample).value();
        let mut best = (SINGLE_BYTE[0], i64::MIN, false);
        for encoding in SINGLE_BYTE {
            let Some(decoded) = legacy::decode_seen(&sample, encoding) else { continue };
            let score = scorer.score(&decoded);
            if score.value() > best.1 {
                best = (encoding, score.value(), score.signatures >= 2 || score.value() > as_is);
            }
        }
        (best.0, best.2)
    }
}

/// A line of a text with its runs of legacy text seen through Windows-1252.
struct SeenLine {
    start: usize,
    end: usize,
    /// Byte ranges in the text.
    runs: Vec<(usize, usize)>,
}

fn seen_lines(text: &str) -> Vec<SeenLine> {
    let mut lines = Vec::new();
    // Most texts, and most lines of the others, hold no legacy text: checking for it is
    // much cheaper than splitting them into runs.
    if !legacy::may_hold_seen(text) {
        return lines;
    }
    let mut start = 0;
    for line in text.split('\n') {
        if legacy::may_hold_seen(line) {
            let runs: Vec<(usize, usize)> =
                legacy::seen_runs(line).map(|(at, run)| (start + at, start + at + run.len())).collect();
            if !runs.is_empty() {
                lines.push(SeenLine { start, end: start + line.len(), runs });
            }
        }
        start += line.len() + 1;
    }
    lines
}

/// A text of as many lines as `text`, holding only the `lines` (of at most `max_line` bytes)
/// with their runs decoded; offsets map to the input through `to_input`.
fn decode_seen_lines(
    text: &str,
    lines: &[SeenLine],
    encoding: Encoding,
    max_line: usize,
    to_input: Option<&OffsetMap>,
) -> (String, OffsetMap) {
    let input = |offset: usize| to_input.map_or(offset, |m| m.to_source(offset));
    let mut raw = String::new();
    let mut map = OffsetMap::default();
    let mut consumed = 0;
    for line in lines.iter().filter(|l| l.end - l.start <= max_line) {
        // Skipped lines keep only their line breaks.
        raw.extend(text[consumed..line.start].matches('\n'));
        map.pin(raw.len(), input(line.start));
        let mut at = line.start;
        for &(start, end) in &line.runs {
            raw.push_str(&text[at..start]);
            map.note(raw.len(), input(start));
            if let Some((decoded, _)) = legacy::decode_seen_mapped(&text[start..end], encoding) {
                raw.push_str(&decoded);
            }
            map.note(raw.len(), input(end));
            at = end;
        }
        raw.push_str(&text[at..line.end]);
        map.note(raw.len(), input(line.end));
        consumed = line.end;
    }
    (raw, map)
}

/// What the tests of other crates need that is not the crate's API. Not stable: it changes
/// with the crate's internals, without notice.
pub mod testing {
    use crate::extract::{Limits, Request};

    /// The bytes a parent writes to the extraction child's stdin to have it extract the file
    /// named by its argument under `limits` (for a test that starts the child by hand).
    pub fn file_request(limits: &Limits) -> std::io::Result<Vec<u8>> {
        Request::file(limits).encode()
    }
}
