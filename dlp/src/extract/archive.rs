//! Zip archives and the document formats built on zip: OOXML (docx/xlsx/pptx) and ODF.
//! Entries are read under the caps of [`Limits`](super::Limits): declared and actual size,
//! compression ratio (zip bombs), entry count; nested archives recurse one level deeper.

use super::Reason;
use super::Walker;
use super::xml::{self, Fonts, TOP_PARAGRAPHS, Vocabulary};
use std::io::{Cursor, Read};
use zip::ZipArchive;
use zip::result::ZipError;

/// What a zip holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Ooxml,
    Odf,
    Plain,
}

pub(super) fn walk(w: &mut Walker, path: &str, bytes: &[u8], depth: u32) {
    let mut archive = match ZipArchive::new(Cursor::new(bytes)) {
        Ok(archive) => archive,
        Err(e) => return w.verdict(path, reason(&e)),
    };
    let names: Vec<String> = archive.file_names_raw().map(|n| String::from_utf8_lossy(n).into_owned()).collect();
    let format = if names.iter().any(|n| n == "[Content_Types].xml") {
        Format::Ooxml
    } else if names.iter().any(|n| n == "content.xml") && names.iter().any(|n| n == "META-INF/manifest.xml") {
        Format::Odf
    } else {
        Format::Plain
    };
    let mut fonts = Fonts::default();
    if format == Format::Ooxml
        && let Some(index) = archive.index_for_name("word/styles.xml")
        && let Some((_, styles)) = read_entry(w, &mut archive, path, index)
    {
        fonts = Fonts::parse(&styles);
    }
    // Worksheets hold shared strings by index: their header row names the columns.
    let mut shared = Vec::new();
    if format == Format::Ooxml
        && let Some(index) = archive.index_for_name("xl/sharedStrings.xml")
        && let Some((_, strings)) = read_entry(w, &mut archive, path, index)
    {
        shared = xml::shared_strings(&strings);
    }
    // An encrypted ODF document is a zip of encrypted streams that its manifest describes;
    // its XML would only read as corrupt.
    if format == Format::Odf
        && let Some(index) = archive.index_for_name("META-INF/manifest.xml")
        && let Some((_, manifest)) = read_entry(w, &mut archive, path, index)
        && memchr::memmem::find(&manifest, b"encryption-data").is_some()
    {
        return w.verdict(path, Reason::Encrypted);
    }
    for index in 0..archive.len() {
        if w.out_of_time(path) || w.entries > w.limits.max_entries {
            return;
        }
        let Some((name, data)) = read_entry(w, &mut archive, path, index) else { continue };
        let child = format!("{path}/{name}");
        match format {
            Format::Ooxml => ooxml_entry(w, &child, &name, &data, depth, &fonts, &shared),
            Format::Odf => odf_entry(w, &child, &name, &data, depth),
            Format::Plain => w.walk(&child, &data, depth + 1),
        }
    }
}

/// The verdict reason for a zip error.
fn reason(e: &ZipError) -> Reason {
    match e {
        ZipError::UnsupportedArchive(why) if why.contains("assword") => Reason::Encrypted,
        ZipError::InvalidPassword => Reason::Encrypted,
        ZipError::CompressionMethodNotSupported(method) => {
            Reason::Unsupported(format!("zip compression method {method}"))
        }
        ZipError::UnsupportedArchive(why) => Reason::Unsupported(format!("zip: {why}")),
        other => Reason::Corrupt(format!("zip: {other}")),
    }
}

/// An entry name as it appears in container paths: control characters of a hostile name
/// replaced, so they cannot forge lines in logs.
fn label(raw: &[u8]) -> String {
    String::from_utf8_lossy(raw).chars().map(|c| if c.is_control() { '?' } else { c }).collect()
}

/// Reads entry `index` within the caps; `None` (with a verdict where something was not
/// read) for directories and entries that cannot or may not be read.
fn read_entry(
    w: &mut Walker,
    archive: &mut ZipArchive<Cursor<&[u8]>>,
    path: &str,
    index: usize,
) -> Option<(String, Vec<u8>)> {
    let (name, size) = {
        let file = match archive.by_index_raw(index) {
            Ok(file) => file,
            Err(e) => {
                w.verdict(path, reason(&e));
                return None;
            }
        };
        if file.is_dir() {
            return None;
        }
        let name = label(file.name_raw());
        let child = format!("{path}/{name}");
        if !w.count_entry(&child) {
            return None;
        }
        if file.encrypted() {
            w.verdict(&child, Reason::Encrypted);
            return None;
        }
        let size = file.size();
        let ratio = size / file.compressed_size().max(1);
        if size > w.limits.ratio_floor && ratio > w.limits.max_ratio {
            let why = format!("compression ratio {ratio}:1 over {}:1 (decompression bomb)", w.limits.max_ratio);
            w.verdict(&child, Reason::OverLimit(why));
            return None;
        }
        if !w.reserve(&child, size) {
            return None;
        }
        (name, size)
    };
    let child = format!("{path}/{name}");
    let file = match archive.by_index(index) {
        Ok(file) => file,
        Err(e) => {
            w.verdict(&child, reason(&e));
            return None;
        }
    };
    // The declared size is untrusted: it only sizes the buffer (it is within the caps) and
    // bounds the read, so an entry that inflates past it is caught, not followed.
    let mut data = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
    if let Err(e) = file.take(size.saturating_add(1)).read_to_end(&mut data) {
        w.verdict(&child, Reason::Corrupt(format!("zip entry: {e}")));
        return None;
    }
    if data.len() as u64 > size {
        w.verdict(&child, Reason::OverLimit("entry inflates past its declared size".into()));
        return None;
    }
    Some((name, data))
}

/// OOXML parts without document text: relationships, formatting, themes, settings.
fn ooxml_is_formatting(name: &str) -> bool {
    const NAMES: [&str; 12] = [
        "settings.xml",
        "fontTable.xml",
        "webSettings.xml",
        "styles.xml",
        "stylesWithEffects.xml",
        "numbering.xml",
        "presProps.xml",
        "viewProps.xml",
        "tableStyles.xml",
        "calcChain.xml",
        "app.xml",
        "[Content_Types].xml",
    ];
    const FOLDERS: [&str; 6] = ["theme/", "slideLayouts/", "printerSettings/", "itemProps", "_rels/", "fonts/"];
    let file = name.rsplit('/').next().unwrap_or(name);
    NAMES.contains(&file) || FOLDERS.iter().any(|f| name.contains(f)) || name.ends_with(".rels")
}

/// A page thumbnail: a picture of page 1, whose text is read from the document itself.
fn is_thumbnail(name: &str) -> bool {
    name.starts_with("docProps/thumbnail") || name.starts_with("Thumbnails/")
}

fn ooxml_entry(
    w: &mut Walker,
    child: &str,
    name: &str,
    data: &[u8],
    depth: u32,
    fonts: &Fonts,
    shared: &[xml::Paragraph],
) {
    if ooxml_is_formatting(name) || is_thumbnail(name) {
        return;
    }
    if !name.ends_with(".xml") {
        // Embedded objects (word/embeddings/*.docx, oleObject*.bin), media, macros.
        return w.walk(child, data, depth + 1);
    }
    if name.starts_with("xl/worksheets/") {
        match xml::sheet_lines(data, shared) {
            Ok(lines) => w.paragraphs(child, &lines, false, 0),
            Err((lines, why)) => {
                w.paragraphs(child, &lines, false, 0);
                w.verdict(child, Reason::Corrupt(format!("xml: {why}")));
            }
        }
        return;
    }
    if name == "xl/workbook.xml" {
        return w.paragraphs(child, &xml::sheet_names(data), true, 0);
    }
    // Metadata (title, keywords, category, custom properties) is element text, not runs.
    let metadata = name.starts_with("docProps/") || name.starts_with("customXml/");
    // Legacy PowerPoint comments hold their text in `p:text`, not in runs.
    let loose_text = metadata || name.starts_with("ppt/comments/");
    let vocabulary = if loose_text { Vocabulary::Odf } else { Vocabulary::Ooxml };
    let header = name.starts_with("word/header") || name.starts_with("word/footer");
    let body = name == "word/document.xml" || name.starts_with("ppt/slides/slide");
    let top = if body { TOP_PARAGRAPHS } else { 0 };
    paragraphs(w, child, data, vocabulary, fonts, header || metadata, top);
}

fn odf_entry(w: &mut Walker, child: &str, name: &str, data: &[u8], depth: u32) {
    match name {
        "mimetype" | "settings.xml" | "manifest.rdf" | "META-INF/manifest.xml" => {}
        _ if is_thumbnail(name) => {}
        "content.xml" => paragraphs(w, child, data, Vocabulary::Odf, &Fonts::default(), false, TOP_PARAGRAPHS),
        // styles.xml holds the page headers and footers; meta.xml the title and keywords.
        "styles.xml" | "meta.xml" => paragraphs(w, child, data, Vocabulary::Odf, &Fonts::default(), true, 0),
        _ if name.ends_with(".xml") => paragraphs(w, child, data, Vocabulary::Odf, &Fonts::default(), false, 0),
        _ => w.walk(child, data, depth + 1),
    }
}

/// Emits the paragraphs of an XML part; a part that stops parsing keeps what was read and
/// is reported as corrupt.
fn paragraphs(
    w: &mut Walker,
    child: &str,
    data: &[u8],
    vocabulary: Vocabulary,
    fonts: &Fonts,
    all_prominent: bool,
    top: usize,
) {
    match xml::paragraphs(data, vocabulary, fonts) {
        Ok(paragraphs) => w.paragraphs(child, &paragraphs, all_prominent, top),
        Err((paragraphs, why)) => {
            w.paragraphs(child, &paragraphs, all_prominent, top);
            w.verdict(child, Reason::Corrupt(format!("xml: {why}")));
        }
    }
}
