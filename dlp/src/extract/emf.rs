//! Enhanced metafiles ([MS-EMF]) and the EMF spool files Windows keeps GDI print jobs in
//! ([MS-EMFSPOOL], spool data type `NT EMF 1.00x`): the text each page draws.
//!
//! A page's text is what its text records carry — `EMR_EXTTEXTOUTW`/`A`, `EMR_POLYTEXTOUTW`/`A`,
//! `EMR_SMALLTEXTOUT`, and the strings of EMF+ `DrawString` and `DrawDriverString` records
//! inside `EMR_COMMENT` — laid out again from where each run is drawn: runs on one baseline
//! that touch are joined, runs apart on it get a space, a new baseline a line break. So a
//! document drawn a word or a glyph at a time still reads "TỐI MẬT" and a twelve-digit number
//! stays one number.
//!
//! What is not text is said: runs drawn as font glyph indices (`ETO_GLYPH_INDEX`, common from
//! applications that shape text themselves) cannot be read without the embedded font, and
//! a page with bitmaps but no text is a scan or a picture (OCR would be needed); both are
//! verdicts. A malformed record ends the page with a verdict, keeping the text before it.
//!
//! Everything here reads untrusted bytes: every offset is checked against its record, records
//! are walked forward only, and the text kept is bounded by the input.

use super::xml::{Paragraph, TOP_PARAGRAPHS};
use super::{Reason, Walker};

const EMR_HEADER: u32 = 1;
const EMR_EOF: u32 = 14;
const EMR_COMMENT: u32 = 70;
const EMR_BITBLT: u32 = 76;
const EMR_STRETCHBLT: u32 = 77;
const EMR_SETDIBITSTODEVICE: u32 = 80;
const EMR_STRETCHDIBITS: u32 = 81;
const EMR_EXTTEXTOUTA: u32 = 83;
const EMR_EXTTEXTOUTW: u32 = 84;
const EMR_POLYTEXTOUTA: u32 = 96;
const EMR_POLYTEXTOUTW: u32 = 97;
const EMR_SMALLTEXTOUT: u32 = 108;

/// `ExtTextOut` options ([MS-EMF] 2.1.11).
const ETO_GLYPH_INDEX: u32 = 0x0010;
const ETO_NO_RECT: u32 = 0x0100;
const ETO_SMALL_CHARS: u32 = 0x0200;
const ETO_PDY: u32 = 0x2000;

/// The comment identifier of EMF+ records ("EMF+").
const EMF_PLUS: u32 = 0x2B46_4D45;
const EMF_PLUS_HEADER: u16 = 0x4001;
const EMF_PLUS_DRAW_STRING: u16 = 0x401C;
const EMF_PLUS_DRAW_DRIVER_STRING: u16 = 0x4036;
/// The header's flag for a dual metafile: its EMF records draw everything too.
const EMF_PLUS_DUAL: u16 = 0x0001;
/// `DriverStringOptionsCmapLookup`: the glyphs of a driver string are characters.
const DRIVER_STRING_CMAP_LOOKUP: u32 = 0x0001;

/// [MS-EMFSPOOL] 2.2.2: the version every spool file starts with.
const SPOOL_VERSION: u32 = 0x0001_0000;
/// Spool records holding a page's whole metafile ([MS-EMFSPOOL] 2.2.3.1).
const EMRI_METAFILE: u32 = 0x01;
const EMRI_FORM_METAFILE: u32 = 0x09;
const EMRI_BW_METAFILE: u32 = 0x0A;
const EMRI_BW_FORM_METAFILE: u32 = 0x0B;
const EMRI_METAFILE_DATA: u32 = 0x0C;

/// Whether `bytes` start an enhanced metafile: an `EMR_HEADER` with the " EMF" signature.
pub(super) fn is_metafile(bytes: &[u8]) -> bool {
    bytes.starts_with(&[0x01, 0, 0, 0]) && bytes.get(40..44) == Some(b" EMF")
}

/// Whether `bytes` start an EMF spool file: its version, and a header size that fits.
pub(super) fn is_spool(bytes: &[u8]) -> bool {
    u32_at(bytes, 0) == Some(SPOOL_VERSION)
        && u32_at(bytes, 4).is_some_and(|size| size >= 16 && size.is_multiple_of(4) && size as usize <= bytes.len())
}

/// What one page (one metafile) draws.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct Page {
    /// The Unicode text, laid out in lines.
    pub(super) text: String,
    /// The 8-bit text (`…TEXTOUTA`), in the code page of the font it was drawn with.
    pub(super) ansi: Vec<u8>,
    /// Runs drawn as glyph indices, not read.
    pub(super) glyph_runs: u32,
    /// Bitmaps drawn.
    pub(super) images: u32,
    /// Why the records stopped being read before `EMR_EOF`, if they did.
    pub(super) malformed: Option<String>,
}

/// The text the metafile `bytes` draws. Never panics; reads every record at most once.
pub(super) fn page(bytes: &[u8]) -> Page {
    let mut page = Page::default();
    let mut wide = Layout::default();
    let mut narrow = Layout::default();
    let mut plus = PlusText::default();
    // Runs may point at the same string (POLYTEXTOUT has many to a record): the text read
    // is held to twice the bytes of the metafile (UTF-8 of UTF-16 without advances is at
    // most one and a half), so no input can make it larger.
    let mut budget = bytes.len().saturating_mul(2);
    let mut at = 0usize;
    while at < bytes.len() {
        let (Some(kind), Some(size)) = (u32_at(bytes, at), u32_at(bytes, at + 4)) else {
            page.malformed = Some(format!("record header cut short at byte {at}"));
            break;
        };
        let size = size as usize;
        let Some(record) = bytes.get(at..at.saturating_add(size)).filter(|_| size >= 8 && size.is_multiple_of(4))
        else {
            page.malformed = Some(format!("record of type {kind} at byte {at} has a bad size {size}"));
            break;
        };
        if at == 0 && kind != EMR_HEADER {
            page.malformed = Some("no EMR_HEADER".into());
            break;
        }
        match kind {
            EMR_EOF => break,
            EMR_EXTTEXTOUTW | EMR_EXTTEXTOUTA => {
                let run = emr_text(record, 36, kind == EMR_EXTTEXTOUTW);
                page.add(run, &mut wide, &mut narrow, &mut budget);
            }
            EMR_POLYTEXTOUTW | EMR_POLYTEXTOUTA => {
                let count = u32_at(record, 36).unwrap_or(0) as usize;
                // Each EMRTEXT is 40 bytes; a count past the record's end stops at it.
                for i in 0..count.min(record.len() / 40) {
                    let run = emr_text(record, 40 + 40 * i, kind == EMR_POLYTEXTOUTW);
                    page.add(run, &mut wide, &mut narrow, &mut budget);
                }
            }
            EMR_SMALLTEXTOUT => page.add(small_text(record), &mut wide, &mut narrow, &mut budget),
            EMR_COMMENT => plus.comment(record),
            EMR_SETDIBITSTODEVICE | EMR_STRETCHDIBITS => page.images += 1,
            // These carry a source bitmap only when its size is given; else they fill.
            EMR_BITBLT | EMR_STRETCHBLT if u32_at(record, 88).is_some_and(|n| n > 0) => page.images += 1,
            _ => {}
        }
        at += size;
    }
    // A dual metafile draws its EMF+ strings again in EMF records: they are read once.
    if !plus.dual {
        for run in plus.runs {
            page.add(Some(run), &mut wide, &mut narrow, &mut budget);
        }
    }
    page.text = wide.text;
    page.ansi = narrow.text;
    page
}

impl Page {
    fn add(&mut self, run: Option<Run>, wide: &mut Layout<String>, narrow: &mut Layout<Vec<u8>>, budget: &mut usize) {
        // A run's text, and the separator laid out before it.
        let size = match &run {
            Some(Run { text: Chars::Wide(text), .. }) => text.len() + 1,
            Some(Run { text: Chars::Narrow(text), .. }) => text.len() + 1,
            _ => 0,
        };
        if size > *budget {
            self.malformed.get_or_insert_with(|| "its text runs repeat more text than the metafile holds".into());
            return;
        }
        *budget -= size;
        match run {
            Some(Run { text: Chars::Wide(text), at }) => wide.add(&at, &text),
            Some(Run { text: Chars::Narrow(text), at }) => narrow.add(&at, &text),
            Some(Run { text: Chars::Glyphs, .. }) => self.glyph_runs += 1,
            None => {}
        }
    }
}

/// The pages of the EMF spool file `bytes`: the metafile of each page record, in order, and why
/// the records stopped being read early, if they did. Font, device and other records are
/// passed over.
pub(super) fn spool_pages(bytes: &[u8]) -> (Vec<&[u8]>, Option<String>) {
    let mut pages = Vec::new();
    let Some(header) = u32_at(bytes, 4) else { return (pages, Some("header cut short".into())) };
    let mut at = header as usize;
    while at < bytes.len() {
        let (Some(kind), Some(size)) = (u32_at(bytes, at), u32_at(bytes, at + 4)) else {
            return (pages, Some(format!("record header cut short at byte {at}")));
        };
        let start = at + 8;
        let Some(data) = start.checked_add(size as usize).and_then(|end| bytes.get(start..end)) else {
            return (pages, Some(format!("record of type {kind} at byte {at} runs past the end")));
        };
        if matches!(
            kind,
            EMRI_METAFILE | EMRI_FORM_METAFILE | EMRI_BW_METAFILE | EMRI_BW_FORM_METAFILE | EMRI_METAFILE_DATA
        ) {
            pages.push(data);
        }
        // Records are padded to a multiple of four bytes.
        at = start + data.len().next_multiple_of(4);
    }
    (pages, None)
}

/// Extracts a metafile, or each page of a spool file, into parts named `PATH/page[N]`.
pub(super) fn walk(w: &mut Walker, path: &str, bytes: &[u8], spool: bool) {
    let (pages, malformed) = if spool { spool_pages(bytes) } else { (vec![bytes], None) };
    if let Some(why) = malformed {
        w.verdict(path, Reason::Corrupt(format!("EMF spool: {why}")));
    }
    for (i, metafile) in pages.into_iter().enumerate() {
        let name = if spool { format!("{path}/page[{}]", i + 1) } else { path.to_owned() };
        if w.out_of_time(&name) || !w.count_entry(&name) {
            return;
        }
        if !is_metafile(metafile) {
            w.verdict(&name, Reason::Corrupt("the page is not an enhanced metafile".into()));
            continue;
        }
        let page = page(metafile);
        if let Some(why) = page.malformed {
            w.verdict(&name, Reason::Corrupt(format!("metafile: {why}")));
        }
        if page.glyph_runs > 0 {
            let why = format!("{} text runs drawn as font glyph indices (not characters)", page.glyph_runs);
            w.verdict(&name, Reason::Unsupported(why));
        }
        let no_text = page.text.trim().is_empty() && page.ansi.iter().all(u8::is_ascii_whitespace);
        if page.images > 0 && no_text {
            w.verdict(&name, Reason::Unsupported("page drawn as images (text in images needs OCR)".into()));
        }
        if !w.reserve(&name, (page.text.len() + page.ansi.len()) as u64) {
            return;
        }
        // The top of page 1 is where the secrecy stamp sits (spec §3.3), as in a PDF.
        let lines: Vec<Paragraph> = page
            .text
            .lines()
            .map(|line| Paragraph {
                segments: vec![(None, line.to_owned())],
                prominent: false,
                header: None,
                joined: false,
            })
            .collect();
        w.paragraphs(&name, &lines, false, if i == 0 { TOP_PARAGRAPHS } else { 0 });
        w.bytes(&name, &page.ansi, false);
    }
}

/// The characters of one run.
enum Chars {
    Wide(String),
    Narrow(Vec<u8>),
    /// Glyph indices of the font: not characters.
    Glyphs,
}

/// Where a run is drawn: its reference point, and where it ends when its character advances
/// are known.
#[derive(Clone, Copy)]
struct At {
    x: i64,
    y: i64,
    end: Option<i64>,
    /// The run's mean advance per character (0 when unknown).
    advance: i64,
}

struct Run {
    text: Chars,
    at: At,
}

/// The EMRTEXT at `at` in `record` ([MS-EMF] 2.2.5): reference point, character count,
/// string offset, options, rectangle, advances offset. Offsets count from the record's start.
fn emr_text(record: &[u8], at: usize, wide: bool) -> Option<Run> {
    let x = i32_at(record, at)?;
    let y = i32_at(record, at + 4)?;
    let chars = u32_at(record, at + 8)? as usize;
    let offset = u32_at(record, at + 12)? as usize;
    let options = u32_at(record, at + 16)?;
    let advances = u32_at(record, at + 36)? as usize;
    if options & ETO_GLYPH_INDEX != 0 {
        return Some(Run { text: Chars::Glyphs, at: At { x: 0, y: 0, end: None, advance: 0 } });
    }
    let bytes = record.get(offset..offset.checked_add(chars.checked_mul(if wide { 2 } else { 1 })?)?)?;
    // With ETO_PDY each character has an x and a y advance.
    let step = if options & ETO_PDY != 0 { 8 } else { 4 };
    let dx = (advances != 0)
        .then(|| record.get(advances..advances.checked_add(chars.checked_mul(step)?)?))
        .flatten()
        .map(|dx| dx.chunks_exact(step).map(|c| i64::from(i32::from_le_bytes([c[0], c[1], c[2], c[3]]))).sum::<i64>());
    let advance = dx.map_or(0, |sum| sum / i64::try_from(chars.max(1)).unwrap_or(1));
    let at = At { x: x.into(), y: y.into(), end: dx.map(|sum| i64::from(x).saturating_add(sum)), advance };
    let text = if wide { Chars::Wide(utf16(bytes)) } else { Chars::Narrow(bytes.to_vec()) };
    Some(Run { text, at })
}

/// `EMR_SMALLTEXTOUT` ([MS-EMF] 2.3.5.37): x, y, count, options, graphics mode, scales, the
/// bounds unless `ETO_NO_RECT`, then the characters — one byte each (the low byte of
/// the UTF-16 unit) with `ETO_SMALL_CHARS`, else UTF-16.
fn small_text(record: &[u8]) -> Option<Run> {
    let x = i32_at(record, 8)?;
    let y = i32_at(record, 12)?;
    let chars = u32_at(record, 16)? as usize;
    let options = u32_at(record, 20)?;
    let at = At { x: x.into(), y: y.into(), end: None, advance: 0 };
    if options & ETO_GLYPH_INDEX != 0 {
        return Some(Run { text: Chars::Glyphs, at });
    }
    let start: usize = if options & ETO_NO_RECT != 0 { 36 } else { 52 };
    let text = if options & ETO_SMALL_CHARS != 0 {
        record.get(start..start.checked_add(chars)?)?.iter().map(|&b| char::from(b)).collect()
    } else {
        utf16(record.get(start..start.checked_add(chars.checked_mul(2)?)?)?)
    };
    Some(Run { text: Chars::Wide(text), at })
}

/// The strings of EMF+ records found in comments, kept aside: a dual metafile draws them
/// again in EMF records.
#[derive(Default)]
struct PlusText {
    dual: bool,
    runs: Vec<Run>,
}

impl PlusText {
    /// An `EMR_COMMENT` ([MS-EMF] 2.3.3): size of its data, then the identifier; EMF+ records
    /// ([MS-EMFPLUS] 2.3) follow "EMF+": type, flags, size (header included), data size.
    fn comment(&mut self, record: &[u8]) {
        if u32_at(record, 12) != Some(EMF_PLUS) {
            return;
        }
        let Some(data_size) = u32_at(record, 8) else { return };
        let end = (12usize.saturating_add(data_size as usize)).min(record.len());
        let mut at = 16;
        while at + 12 <= end {
            let (Some(kind), Some(flags), Some(size), Some(data_size)) =
                (u16_at(record, at), u16_at(record, at + 2), u32_at(record, at + 4), u32_at(record, at + 8))
            else {
                return;
            };
            let size = size as usize;
            if size < 12 || size > end - at {
                return;
            }
            let data = &record[at + 12..at + 12 + (data_size as usize).min(size - 12)];
            match kind {
                EMF_PLUS_HEADER => self.dual = flags & EMF_PLUS_DUAL != 0,
                EMF_PLUS_DRAW_STRING => self.runs.extend(draw_string(data)),
                EMF_PLUS_DRAW_DRIVER_STRING => self.runs.extend(draw_driver_string(data)),
                _ => {}
            }
            at += size;
        }
    }
}

/// `EmfPlusDrawString` ([MS-EMFPLUS] 2.3.4.14): brush, format, length, layout rectangle (four
/// floats), then the UTF-16 string.
fn draw_string(data: &[u8]) -> Option<Run> {
    let chars = u32_at(data, 8)? as usize;
    let x = f32_at(data, 12)?;
    let y = f32_at(data, 16)?;
    let text = utf16(data.get(28..28usize.checked_add(chars.checked_mul(2)?)?)?);
    Some(Run { text: Chars::Wide(text), at: At { x, y, end: None, advance: 0 } })
}

/// `EmfPlusDrawDriverString` ([MS-EMFPLUS] 2.3.4.13): brush, options, matrix present, glyph
/// count, then the glyphs — characters only with `DriverStringOptionsCmapLookup` — and their
/// positions (two floats each; the first places the run).
fn draw_driver_string(data: &[u8]) -> Option<Run> {
    let options = u32_at(data, 4)?;
    let count = u32_at(data, 12)? as usize;
    let glyphs = data.get(16..16usize.checked_add(count.checked_mul(2)?)?)?;
    let positions = 16 + glyphs.len();
    let at = At {
        x: f32_at(data, positions).unwrap_or(0),
        y: f32_at(data, positions + 4).unwrap_or(0),
        end: None,
        advance: 0,
    };
    let text = if options & DRIVER_STRING_CMAP_LOOKUP != 0 { Chars::Wide(utf16(glyphs)) } else { Chars::Glyphs };
    Some(Run { text, at })
}

/// Text laid out again from where its runs are drawn.
#[derive(Default)]
struct Layout<T> {
    text: T,
    last: Option<At>,
}

trait Sink {
    fn put(&mut self, separator: Option<char>, text: &Self);
}

impl Sink for String {
    fn put(&mut self, separator: Option<char>, text: &String) {
        self.extend(separator);
        self.push_str(text);
    }
}

impl Sink for Vec<u8> {
    fn put(&mut self, separator: Option<char>, text: &Vec<u8>) {
        if let Some(c) = separator {
            self.push(if c == '\n' { b'\n' } else { b' ' });
        }
        self.extend_from_slice(text);
    }
}

impl<T: Sink> Layout<T> {
    fn add(&mut self, at: &At, text: &T) {
        let separator = match self.last {
            None => None,
            Some(last) if last.y == at.y => match last.end {
                // Touching (within a third of a character): one word drawn in pieces.
                Some(end) if (at.x - end).abs() <= (last.advance / 3).max(1) => None,
                _ => Some(' '),
            },
            Some(_) => Some('\n'),
        };
        self.text.put(separator, text);
        self.last = Some(*at);
    }
}

fn utf16(bytes: &[u8]) -> String {
    let units = bytes.chunks_exact(2).map(|c| u16::from_le_bytes([c[0], c[1]]));
    char::decode_utf16(units).map(|c| c.unwrap_or(char::REPLACEMENT_CHARACTER)).filter(|&c| c != '\0').collect()
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    b.get(at..at.checked_add(2)?).map(|v| u16::from_le_bytes([v[0], v[1]]))
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    b.get(at..at.checked_add(4)?).map(|v| u32::from_le_bytes([v[0], v[1], v[2], v[3]]))
}

fn i32_at(b: &[u8], at: usize) -> Option<i32> {
    u32_at(b, at).map(|v| v as i32)
}

/// A float coordinate as a whole number (saturating; NaN is 0).
fn f32_at(b: &[u8], at: usize) -> Option<i64> {
    u32_at(b, at).map(|v| f32::from_bits(v) as i64)
}

#[cfg(test)]
mod tests;
