//! PDF (spec §3.3, §4): page text through `lopdf` (ToUnicode maps and simple encodings),
//! the text of annotations (stamp and free-text annotations carry stamps), the document
//! information (title, subject, keywords), and embedded files, which recurse. Pages whose
//! fonts are legacy Vietnamese fonts are decoded as those fonts store text.

use super::super::legacy::{Encoding, font_encoding};
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

/// The text of a page, line by line, each run tagged with the legacy encoding of its
/// font's `/BaseFont` (spec §8.1; subset prefixes such as `ABCDEF+.VnTime` dropped). A new
/// line starts where the text position moves down (`Td`/`TD` with a vertical offset, `T*`,
/// `'`, `"`, a new `Tm` row) or a text object ends, so a stamp keeps its own short line.
/// Also whether the page draws external objects (`Do`: images, forms), whose text is not read.
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
        fonts.insert(name, (encoding, legacy));
    }
    let content = Content::decode(&document.get_page_content_with_limit(page, limit)?)?;
    let mut lines = vec![Paragraph::default()];
    let mut font = None;
    let mut row: Option<f32> = None;
    let mut draws = false;
    for operation in &content.operations {
        let operands = operation.operands.as_slice();
        let new_line = match operation.operator.as_str() {
            "Td" | "TD" => operands.get(1).and_then(|y| y.as_float().ok()).is_some_and(|y| y != 0.0),
            "Tm" => {
                let y = operands.get(5).and_then(|y| y.as_float().ok());
                std::mem::replace(&mut row, y) != y
            }
            "T*" | "'" | "\"" | "ET" => true,
            _ => false,
        };
        if new_line && lines.last().is_some_and(|l| !l.is_empty()) {
            lines.push(Paragraph::default());
        }
        match operation.operator.as_str() {
            "Tf" => font = operands.first().and_then(|n| n.as_name().ok()).and_then(|n| fonts.get(n)),
            "Tj" | "TJ" | "'" => show(&mut lines, font, operands),
            "\"" => show(&mut lines, font, operands.get(2..).unwrap_or_default()),
            "Do" => draws = true,
            _ => {}
        }
    }
    lines.retain(|l| !l.is_empty());
    Ok((lines, draws))
}

/// Appends shown strings to the last line; a large negative kerning in a `TJ` array is a
/// word space.
fn show(lines: &mut [Paragraph], font: Option<&(lopdf::Encoding, Option<Encoding>)>, operands: &[Object]) {
    let (Some((encoding, legacy)), Some(line)) = (font, lines.last_mut()) else { return };
    let mut text = String::new();
    // A string its font's encoding cannot decode keeps what did decode: the page goes on.
    for operand in operands {
        match operand {
            Object::String(bytes, _) => {
                let _ = encoding.write_to_string(bytes, &mut text);
            }
            Object::Array(items) => {
                for item in items {
                    match item {
                        Object::String(bytes, _) => {
                            let _ = encoding.write_to_string(bytes, &mut text);
                        }
                        Object::Integer(i) if *i < -100 => text.push(' '),
                        Object::Real(r) if *r < -100.0 => text.push(' '),
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    line.push(*legacy, &text);
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
