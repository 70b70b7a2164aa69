//! PDF (spec §3.3, §4): page text through `lopdf` (ToUnicode maps and simple encodings),
//! the text of annotations (stamp and free-text annotations carry stamps), the document
//! information (title, subject, keywords), and embedded files, which recurse. Pages whose
//! fonts are legacy Vietnamese fonts are decoded as those fonts store text.

use super::super::legacy::{Encoding, font_encoding};
use super::pdf_layout::{self as layout, Piece};
use super::xml::{self, Fonts, Paragraph, TOP_PARAGRAPHS, Vocabulary};
use super::{Reason, Walker};
use lopdf::content::Content;
use lopdf::{Document, LoadOptions, Object, ObjectId, decode_text_string};
use std::collections::BTreeMap;

pub(super) fn walk(w: &mut Walker, path: &str, bytes: &[u8], depth: u32) {
    let limit = usize::try_from(w.limits.max_part_bytes).unwrap_or(usize::MAX);
    let options = LoadOptions { max_decompressed_size: Some(limit), ..LoadOptions::default() };
    let document = match Document::load_mem_with_options(bytes, options) {
        Ok(document) => document,
        Err(lopdf::Error::Decryption(_)) | Err(lopdf::Error::InvalidPassword) => {
            return w.verdict(path, Reason::Encrypted);
        }
        Err(e) => return w.verdict(path, Reason::Corrupt(format!("pdf: {e}"))),
    };
    // lopdf opens documents encrypted with the empty user password (permissions only);
    // anything still encrypted needs a password we do not have.
    if document.is_encrypted() {
        return w.verdict(path, Reason::Encrypted);
    }
    info(w, path, &document);
    xmp(w, path, &document);
    let pages = document.get_pages();
    // lopdf repairs damaged files leniently and skips what it cannot find: pages fewer than
    // the page tree counts, or page content that is not there, is text lost.
    let declared = document
        .catalog()
        .and_then(|catalog| catalog.get_deref(b"Pages", &document))
        .and_then(Object::as_dict)
        .and_then(|tree| tree.get(b"Count"))
        .and_then(Object::as_i64)
        .unwrap_or(0);
    if pages.is_empty() || i64::try_from(pages.len()).unwrap_or(i64::MAX) < declared {
        let why = format!("pdf: {} of {declared} pages readable", pages.len());
        w.verdict(path, Reason::Corrupt(why));
    }
    for (number, page_id) in pages {
        if w.out_of_time(path) {
            return;
        }
        let page = format!("{path}/page[{number}]");
        if !w.count_entry(&page) {
            return;
        }
        let missing = |id: &ObjectId| !document.objects.contains_key(id);
        if missing(&page_id) || document.get_page_contents(page_id).iter().any(missing) {
            w.verdict(&page, Reason::Corrupt("pdf: page or its content missing".into()));
            continue;
        }
        let (lines, draws) = match page_text(&document, page_id, limit) {
            Ok(page) => page,
            Err(e) => {
                w.verdict(&page, Reason::Corrupt(format!("pdf page: {e}")));
                continue;
            }
        };
        // A scanned page is an image with no text: had it a stamp, it would be in the picture.
        if lines.is_empty() && draws {
            let why = "pdf page without a text layer, drawn from images or forms (OCR is not enabled, spec §3.7)";
            w.verdict(&page, Reason::Unsupported(why.into()));
        }
        let size = lines.iter().flat_map(|l| &l.segments).map(|(_, text)| text.len() as u64).sum();
        if !w.reserve(&page, size) {
            return;
        }
        // The top of page 1 is where the secrecy stamp sits (spec §3.3).
        w.paragraphs(&page, &lines, false, if number == 1 { TOP_PARAGRAPHS } else { 0 });
        annotations(w, &page, &document, page_id);
    }
    embedded(w, path, &document, depth);
}

/// What the text of a page is drawn with: a font's encoding, legacy encoding and widths.
struct Font<'a> {
    encoding: lopdf::Encoding<'a>,
    legacy: Option<Encoding>,
    /// Codes are two bytes (a composite, `Type0`, font).
    two_byte: bool,
    widths: Widths,
}

/// Glyph widths of a font, in thousandths of its size.
enum Widths {
    /// `/FirstChar` and `/Widths` of a simple font.
    Simple { first: u32, widths: Vec<f32>, missing: f32 },
    /// `/W` ranges and `/DW` of a composite font's descendant.
    Cid { ranges: Vec<(u32, u32, f32)>, default: f32 },
    /// None given (the standard fonts): estimated from the characters.
    Unknown,
}

/// Entries of a `/W` array read; a hostile one is cut there (later glyphs get the default).
const MAX_WIDTH_RANGES: usize = 4096;

impl Widths {
    fn of(font: &lopdf::Dictionary, document: &Document) -> Widths {
        let number = |o: &Object| o.as_float().ok().or_else(|| o.as_i64().ok().map(|i| i as f32));
        fn array<'d>(d: &'d lopdf::Dictionary, key: &[u8], document: &'d Document) -> Option<&'d Vec<Object>> {
            d.get_deref(key, document).and_then(Object::as_array).ok()
        }
        if let Some(widths) = array(font, b"Widths", document) {
            let first = font.get(b"FirstChar").and_then(Object::as_i64).ok().and_then(|f| u32::try_from(f).ok());
            let missing = font
                .get_deref(b"FontDescriptor", document)
                .and_then(Object::as_dict)
                .and_then(|d| d.get(b"MissingWidth"))
                .ok()
                .and_then(number)
                .unwrap_or(0.0);
            let widths = widths
                .iter()
                .map(|w| document.dereference(w).ok().and_then(|(_, w)| number(w)).unwrap_or(missing))
                .collect();
            return Widths::Simple { first: first.unwrap_or(0), widths, missing };
        }
        let descendant = array(font, b"DescendantFonts", document)
            .and_then(|fonts| fonts.first())
            .and_then(|d| document.dereference(d).ok())
            .and_then(|(_, d)| d.as_dict().ok());
        let Some(descendant) = descendant else { return Widths::Unknown };
        let default = descendant.get(b"DW").ok().and_then(number).unwrap_or(1000.0);
        let mut ranges = Vec::new();
        let items = array(descendant, b"W", document).map(|w| w.as_slice()).unwrap_or_default();
        let mut at = 0;
        // `c [w1 w2 …]` or `c_first c_last w`.
        while at + 1 < items.len() && ranges.len() < MAX_WIDTH_RANGES {
            let Some(first) = items[at].as_i64().ok().and_then(|c| u32::try_from(c).ok()) else { break };
            match document.dereference(&items[at + 1]).map(|(_, o)| o) {
                Ok(Object::Array(list)) => {
                    for (i, w) in list.iter().take(MAX_WIDTH_RANGES).enumerate() {
                        let code = first.saturating_add(u32::try_from(i).unwrap_or(u32::MAX));
                        ranges.push((code, code, number(w).unwrap_or(default)));
                    }
                    at += 2;
                }
                Ok(last) => {
                    let (Some(last), Some(width)) =
                        (last.as_i64().ok().and_then(|c| u32::try_from(c).ok()), items.get(at + 2).and_then(number))
                    else {
                        break;
                    };
                    ranges.push((first, last, width));
                    at += 3;
                }
                Err(_) => break,
            }
        }
        ranges.sort_by_key(|&(first, _, _)| first);
        Widths::Cid { ranges, default }
    }

    /// The width of a code, in thousandths; `None` when the font gives none.
    fn of_code(&self, code: u32) -> Option<f32> {
        match self {
            Widths::Simple { first, widths, missing } => {
                Some(code.checked_sub(*first).and_then(|i| widths.get(i as usize)).copied().unwrap_or(*missing))
            }
            Widths::Cid { ranges, default } => {
                let at = ranges.partition_point(|&(first, _, _)| first <= code);
                let width = at.checked_sub(1).map(|i| ranges[i]).filter(|&(_, last, _)| code <= last);
                Some(width.map_or(*default, |(_, _, w)| w))
            }
            Widths::Unknown => None,
        }
    }
}

/// A 2-D affine transform `[a b c d e f]`, as PDF writes them.
type Matrix = [f32; 6];

const IDENTITY: Matrix = [1.0, 0.0, 0.0, 1.0, 0.0, 0.0];

/// `m` then `n`: the matrix product m × n.
fn then(m: Matrix, n: Matrix) -> Matrix {
    [
        m[0] * n[0] + m[1] * n[2],
        m[0] * n[1] + m[1] * n[3],
        m[2] * n[0] + m[3] * n[2],
        m[2] * n[1] + m[3] * n[3],
        m[4] * n[0] + m[5] * n[2] + n[4],
        m[4] * n[1] + m[5] * n[3] + n[5],
    ]
}

fn translate(x: f32, y: f32) -> Matrix {
    [1.0, 0.0, 0.0, 1.0, x, y]
}

/// Graphics-state nesting kept (`q`); deeper saves are not followed.
const MAX_SAVED_STATES: usize = 64;

/// The text state of a page being read (PDF 32000-1 §9.3, §9.4).
struct TextState<'f> {
    ctm: Matrix,
    saved: Vec<Matrix>,
    tm: Matrix,
    tlm: Matrix,
    font: Option<&'f Font<'f>>,
    size: f32,
    char_spacing: f32,
    word_spacing: f32,
    scale: f32,
    leading: f32,
}

impl TextState<'_> {
    fn next_line(&mut self, tx: f32, ty: f32) {
        self.tlm = then(translate(tx, ty), self.tlm);
        self.tm = self.tlm;
    }

    /// Draws a string: a piece where the text matrix is, then the matrix moves past it.
    fn show(&mut self, bytes: &[u8], pieces: &mut Vec<Piece>) {
        let Some(font) = self.font else { return };
        let mut text = String::new();
        // A string its font's encoding cannot decode keeps what did decode: the page goes on.
        let _ = font.encoding.write_to_string(bytes, &mut text);
        let spacing = |is_space: bool| self.char_spacing + if is_space { self.word_spacing } else { 0.0 };
        let codes: Vec<u32> = if font.two_byte {
            bytes.chunks(2).map(|c| c.iter().fold(0, |code, &b| code << 8 | u32::from(b))).collect()
        } else {
            bytes.iter().map(|&b| u32::from(b)).collect()
        };
        let measured = codes.iter().all(|&code| font.widths.of_code(code).is_some());
        let unscaled: f32 = if measured {
            codes
                .iter()
                .map(|&code| {
                    let width = font.widths.of_code(code).unwrap_or(0.0) / 1000.0 * self.size;
                    width + spacing(code == 32 && !font.two_byte)
                })
                .sum::<f32>()
        } else {
            text.chars().map(|c| layout::estimated_width(c) * self.size + spacing(c == ' ')).sum::<f32>()
        };
        let advance = unscaled * self.scale;
        let start = then(self.tm, self.ctm);
        self.tm = then(translate(advance, 0.0), self.tm);
        let end = then(self.tm, self.ctm);
        if text.is_empty() {
            return;
        }
        let drawn = self.size * start[2].hypot(start[3]);
        pieces.push(Piece {
            x0: start[4],
            x1: end[4],
            y: start[5],
            size: if drawn.is_normal() { drawn } else { self.size },
            text,
            legacy: font.legacy,
            measured,
        });
    }
}

/// The text of a page in reading order ([`layout::lines`]), each run tagged with the legacy
/// encoding of its font's `/BaseFont` (spec §8.1; subset prefixes such as `ABCDEF+.VnTime`
/// dropped): strings are placed where the text and graphics matrices draw them, with the
/// widths the font gives, so strings split into pieces or drawn glyph by glyph read as the
/// words they make. Also whether the page draws external objects (`Do`: images, forms),
/// whose text is not read.
fn page_text(document: &Document, page: ObjectId, limit: usize) -> Result<(Vec<Paragraph>, bool), lopdf::Error> {
    let mut fonts = BTreeMap::new();
    for (name, font) in document.get_page_fonts(page)? {
        let Ok(encoding) = font.get_font_encoding_with_limit(document, limit) else { continue };
        let legacy = match font.get(b"BaseFont") {
            Ok(Object::Name(base)) => {
                let base = String::from_utf8_lossy(base);
                font_encoding(base.split_once('+').map_or(&*base, |(_, n)| n))
            }
            _ => None,
        };
        let two_byte = matches!(font.get(b"Subtype"), Ok(Object::Name(subtype)) if subtype == b"Type0");
        fonts.insert(name, Font { encoding, legacy, two_byte, widths: Widths::of(font, document) });
    }
    let content = Content::decode(&document.get_page_content_with_limit(page, limit)?)?;
    let mut state = TextState {
        ctm: IDENTITY,
        saved: Vec::new(),
        tm: IDENTITY,
        tlm: IDENTITY,
        font: None,
        size: 1.0,
        char_spacing: 0.0,
        word_spacing: 0.0,
        scale: 1.0,
        leading: 0.0,
    };
    let mut pieces = Vec::new();
    let mut draws = false;
    for operation in &content.operations {
        let operands = operation.operands.as_slice();
        let number = |i: usize| {
            operands.get(i).and_then(|o| o.as_float().ok().or_else(|| o.as_i64().ok().map(|i| i as f32))).unwrap_or(0.0)
        };
        let matrix = || std::array::from_fn::<f32, 6, _>(number);
        match operation.operator.as_str() {
            "q" if state.saved.len() < MAX_SAVED_STATES => state.saved.push(state.ctm),
            "Q" => state.ctm = state.saved.pop().unwrap_or(state.ctm),
            "cm" => state.ctm = then(matrix(), state.ctm),
            "BT" => (state.tm, state.tlm) = (IDENTITY, IDENTITY),
            "Tf" => {
                state.font = operands.first().and_then(|n| n.as_name().ok()).and_then(|n| fonts.get(n));
                state.size = number(1);
            }
            "Tc" => state.char_spacing = number(0),
            "Tw" => state.word_spacing = number(0),
            "Tz" => state.scale = number(0) / 100.0,
            "TL" => state.leading = number(0),
            "Td" => state.next_line(number(0), number(1)),
            "TD" => {
                state.leading = -number(1);
                state.next_line(number(0), number(1));
            }
            "Tm" => (state.tm, state.tlm) = (matrix(), matrix()),
            "T*" => state.next_line(0.0, -state.leading),
            "Tj" | "'" => {
                if operation.operator == "'" {
                    state.next_line(0.0, -state.leading);
                }
                if let Some(Object::String(bytes, _)) = operands.first() {
                    state.show(bytes, &mut pieces);
                }
            }
            "\"" => {
                state.word_spacing = number(0);
                state.char_spacing = number(1);
                state.next_line(0.0, -state.leading);
                if let Some(Object::String(bytes, _)) = operands.get(2) {
                    state.show(bytes, &mut pieces);
                }
            }
            "TJ" => {
                for item in operands.first().and_then(|a| a.as_array().ok()).map(Vec::as_slice).unwrap_or_default() {
                    match item {
                        Object::String(bytes, _) => state.show(bytes, &mut pieces),
                        Object::Integer(_) | Object::Real(_) => {
                            let adjust = item.as_float().ok().or_else(|| item.as_i64().ok().map(|i| i as f32));
                            let shift = -adjust.unwrap_or(0.0) / 1000.0 * state.size * state.scale;
                            state.tm = then(translate(shift, 0.0), state.tm);
                        }
                        _ => {}
                    }
                }
            }
            "Do" => draws = true,
            _ => {}
        }
    }
    Ok((layout::lines(pieces), draws))
}

/// Text strings of the document information dictionary.
fn info(w: &mut Walker, path: &str, document: &Document) {
    let Ok(info) = document.trailer.get_deref(b"Info", document).and_then(Object::as_dict) else { return };
    let mut text = String::new();
    for key in [&b"Title"[..], b"Subject", b"Keywords", b"Author"] {
        if let Ok(value) = info.get_deref(key, document).and_then(decode_text_string) {
            text.push_str(&value);
            text.push('\n');
        }
    }
    w.text(&format!("{path}/info"), text, None, true);
}

/// The document's XMP metadata (the catalog's `/Metadata` stream): title, subject, keywords,
/// rights, each field on its line, where the document information dictionary may say nothing.
fn xmp(w: &mut Walker, path: &str, document: &Document) {
    let limit = usize::try_from(w.limits.max_part_bytes).unwrap_or(usize::MAX);
    let metadata =
        document.catalog().and_then(|catalog| catalog.get_deref(b"Metadata", document)).and_then(Object::as_stream);
    let Ok(stream) = metadata else { return };
    let child = format!("{path}/metadata");
    let content = if stream.dict.has(b"Filter") {
        stream.decompressed_content_with_limit(limit)
    } else {
        Ok(stream.content.clone())
    };
    match content {
        Ok(xml) => {
            if w.reserve(&child, xml.len() as u64) {
                match xml::paragraphs(&xml, Vocabulary::Odf, &Fonts::default()) {
                    Ok(paragraphs) => w.paragraphs(&child, &paragraphs, true, 0),
                    Err((paragraphs, why)) => {
                        w.paragraphs(&child, &paragraphs, true, 0);
                        w.verdict(&child, Reason::Corrupt(format!("xmp: {why}")));
                    }
                }
            }
        }
        Err(e) => w.verdict(&child, Reason::Corrupt(format!("pdf metadata: {e}"))),
    }
}

/// Text of a page's annotations (`/Contents`, and `/RC` rich text of free-text ones).
fn annotations(w: &mut Walker, page: &str, document: &Document, page_id: ObjectId) {
    let Ok(annotations) = document.get_page_annotations(page_id) else { return };
    let mut text = String::new();
    for annotation in annotations {
        for key in [&b"Contents"[..], b"RC", b"T"] {
            if let Ok(value) = annotation.get_deref(key, document).and_then(decode_text_string) {
                text.push_str(&value);
                text.push('\n');
            }
        }
    }
    w.text(&format!("{page}/annotations"), text, None, true);
}

/// Files embedded in the PDF (`/Type /EmbeddedFile` streams), walked as documents.
fn embedded(w: &mut Walker, path: &str, document: &Document, depth: u32) {
    let limit = usize::try_from(w.limits.max_part_bytes).unwrap_or(usize::MAX);
    let mut index = 0;
    for object in document.objects.values() {
        let Object::Stream(stream) = object else { continue };
        if !stream.dict.has_type(b"EmbeddedFile") {
            continue;
        }
        index += 1;
        let child = format!("{path}/embedded[{index}]");
        if !w.count_entry(&child) {
            return;
        }
        // A stream without a filter is already plain.
        let content = if stream.dict.has(b"Filter") {
            stream.decompressed_content_with_limit(limit)
        } else {
            Ok(stream.content.clone())
        };
        match content {
            Ok(content) => {
                if w.reserve(&child, content.len() as u64) {
                    w.walk(&child, &content, depth + 1);
                }
            }
            Err(e) => w.verdict(&child, Reason::Corrupt(format!("pdf embedded file: {e}"))),
        }
    }
}
