//! Text of the XML parts of OOXML and ODF documents, paragraph by paragraph, with the font
//! of every run — so a `.VnTime` run is decoded as TCVN3 and a `VNI-Times` run as VNI
//! (spec §3.5, §8) — and whether a paragraph sits where stamps sit (spec §3.3).

use super::super::legacy::{Encoding, font_encoding};
use quick_xml::Reader;
use quick_xml::events::{BytesStart, Event};
use std::borrow::Cow;
use std::collections::HashMap;

/// Paragraphs at the top of a body that count as stamp position (spec §3.3: the first part
/// of page 1, where the secrecy stamp and the document number sit).
pub(super) const TOP_PARAGRAPHS: usize = 8;

/// One paragraph: runs of text by the legacy encoding of their font (`None`: Unicode).
#[derive(Debug, Default)]
pub(super) struct Paragraph {
    pub(super) segments: Vec<(Option<Encoding>, String)>,
    /// In a text box or shape, or with a red run.
    pub(super) prominent: bool,
    /// Bytes of text in all segments.
    length: usize,
}

impl Paragraph {
    pub(super) fn push(&mut self, encoding: Option<Encoding>, text: &str) {
        self.length += text.len();
        match self.segments.last_mut() {
            Some((last, run)) if *last == encoding => run.push_str(text),
            _ => self.segments.push((encoding, text.to_string())),
        }
    }

    /// Appends another paragraph's runs (a cell's paragraph to its row).
    fn merge(&mut self, other: Paragraph) {
        for (encoding, text) in &other.segments {
            self.push(*encoding, text);
        }
        self.prominent |= other.prominent;
    }

    /// Whether the text added since the row was `start` bytes long is one character.
    fn one_char_since(&self, start: usize) -> bool {
        let added = self.length.saturating_sub(start);
        let last = self.segments.last().and_then(|(_, text)| text.chars().next_back());
        added > 0 && last.is_some_and(|c| c.len_utf8() == added)
    }

    pub(super) fn is_empty(&self) -> bool {
        self.segments.iter().all(|(_, text)| text.trim().is_empty())
    }
}

/// Where text sits in a vocabulary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Vocabulary {
    /// WordprocessingML, DrawingML, SpreadsheetML strings: text only inside `t` elements.
    Ooxml,
    /// OpenDocument and other XML: any text inside a paragraph (or, outside one, anywhere).
    Odf,
}

/// Font names by style, from `word/styles.xml`, so runs that name no font inherit the one
/// their paragraph or character style (or the document default) gives them.
#[derive(Debug, Default)]
pub(super) struct Fonts {
    default: Option<String>,
    default_paragraph: Option<String>,
    styles: HashMap<String, Style>,
}

#[derive(Debug, Default)]
struct Style {
    based_on: Option<String>,
    font: Option<String>,
}

impl Fonts {
    /// Parses a styles part; a part that does not parse gives no style fonts (runs then fall
    /// back to the heuristic of spec §3.5, which the detector set applies).
    pub(super) fn parse(xml: &[u8]) -> Fonts {
        let text = decode(xml);
        let mut reader = Reader::from_str(&text);
        let mut fonts = Fonts::default();
        let mut current: Option<(String, Style)> = None;
        let mut in_defaults = false;
        let mut default_paragraph = false;
        loop {
            let (element, start) = match reader.read_event() {
                Ok(Event::Start(e)) => (e, true),
                Ok(Event::Empty(e)) => (e, false),
                Ok(Event::End(e)) => {
                    match e.local_name().as_ref() {
                        "style" => {
                            if let Some((id, style)) = current.take() {
                                if default_paragraph {
                                    fonts.default_paragraph.clone_from(&style.font);
                                }
                                fonts.styles.insert(id, style);
                            }
                        }
                        "docDefaults" => in_defaults = false,
                        _ => {}
                    }
                    continue;
                }
                Ok(Event::Eof) | Err(_) => break,
                Ok(_) => continue,
            };
            match element.local_name().as_ref() {
                "docDefaults" if start => in_defaults = true,
                "style" if start => {
                    let id = attribute(&element, "styleId").unwrap_or_default();
                    default_paragraph = attribute(&element, "type").as_deref() == Some("paragraph")
                        && matches!(attribute(&element, "default").as_deref(), Some("1" | "true"));
                    current = Some((id, Style::default()));
                }
                "basedOn" => {
                    if let Some((_, style)) = current.as_mut() {
                        style.based_on = attribute(&element, "val");
                    }
                }
                "rFonts" => {
                    let font = run_font(&element);
                    if let Some((_, style)) = current.as_mut() {
                        style.font = font;
                    } else if in_defaults {
                        fonts.default = font;
                    }
                }
                _ => {}
            }
        }
        fonts
    }

    /// The font a style gives, through its `basedOn` chain.
    fn style_font(&self, id: &str) -> Option<&str> {
        let mut id = id;
        // Chains are short; the bound stops a cyclic chain in a hostile file.
        for _ in 0..16 {
            let style = self.styles.get(id)?;
            if let Some(font) = &style.font {
                return Some(font);
            }
            id = style.based_on.as_deref()?;
        }
        None
    }
}

/// The font a run-properties font element names: OOXML `w:rFonts` (`ascii`, then `hAnsi`,
/// the slots Latin and Windows-1252 characters are drawn from), DrawingML `a:latin
/// typeface`, SpreadsheetML `rFont val`.
fn run_font(element: &BytesStart) -> Option<String> {
    match element.local_name().as_ref() {
        "rFonts" => attribute(element, "ascii").or_else(|| attribute(element, "hAnsi")),
        "latin" => attribute(element, "typeface"),
        "rFont" => attribute(element, "val"),
        _ => None,
    }
}

/// The value of an attribute by local name, unescaped.
pub(super) fn attribute(element: &BytesStart, local: &str) -> Option<String> {
    element.attributes().with_checks(false).flatten().find_map(|a| {
        (a.key.local_name().as_ref() == local).then(|| {
            a.normalized_value(quick_xml::XmlVersion::Implicit1_0).map_or_else(|_| a.value.to_string(), Cow::into_owned)
        })
    })
}

/// XML bytes as text: UTF-16 by BOM, else UTF-8 with bad bytes replaced.
pub(super) fn decode(xml: &[u8]) -> Cow<'_, str> {
    match encoding_rs::Encoding::for_bom(xml) {
        Some((encoding, _)) if encoding != encoding_rs::UTF_8 => Cow::Owned(encoding.decode(xml).0.into_owned()),
        _ => String::from_utf8_lossy(xml.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(xml)),
    }
}

/// Whether a colour value (`FF0000`, `C00000`) is red, the colour of stamps.
fn is_red(value: &str) -> bool {
    let Ok(rgb) = u32::from_str_radix(value.trim_start_matches('#'), 16) else { return false };
    value.trim_start_matches('#').len() == 6 && (rgb >> 16) >= 0xA0 && (rgb >> 8 & 0xFF) <= 0x60 && (rgb & 0xFF) <= 0x60
}

/// Elements whose content is a text box or a shape: stamp position.
fn is_box(local: &str) -> bool {
    matches!(local, "txbxContent" | "txBody" | "text-box" | "header" | "footer" | "header-left" | "footer-left")
}

/// Elements whose content is not document text (field codes, the fallback copy of a
/// shape that the `mc:Choice` branch already holds, deleted-text markers aside).
fn is_skipped(local: &str) -> bool {
    matches!(local, "Fallback" | "instrText" | "rPh")
}

/// Elements that end a line inside a paragraph, or separate cells.
fn separator(local: &str) -> Option<&'static str> {
    match local {
        "br" | "cr" | "line-break" => Some("\n"),
        "tab" => Some("\t"),
        "s" => Some(" "),
        _ => None,
    }
}

/// What follows a table cell on its row's line. A form that prints
/// one digit per cell ("box digits", spec §1) must read as one spaced group, which the digit
/// view joins; other cells are separate values, and a bar keeps a number in one cell from
/// running into a number in the next.
fn cell_separator(one_char: bool) -> &'static str {
    if one_char { "\t" } else { " | " }
}

/// The run being read.
#[derive(Default)]
struct Run {
    font: Option<String>,
    style_font: Option<String>,
    red: bool,
}

/// The paragraphs of an XML part. Unparsable XML is an error (the part is then corrupt);
/// the text read up to the error is returned with it.
pub(super) fn paragraphs(
    xml: &[u8],
    vocabulary: Vocabulary,
    fonts: &Fonts,
) -> Result<Vec<Paragraph>, (Vec<Paragraph>, String)> {
    let text = decode(xml);
    let mut reader = Reader::from_str(&text);
    let mut done = Vec::new();
    // Open paragraphs: a text box inside a paragraph holds paragraphs of its own.
    let mut open: Vec<(Paragraph, Option<String>)> = Vec::new();
    // Text outside any paragraph (ODF metadata, spreadsheet cells).
    let mut loose = Paragraph::default();
    // Open table rows: a row is one line, its cells separated by tabs, so a number printed
    // one digit per cell ("box digits", spec §1) reads as one group.
    let mut rows: Vec<Paragraph> = Vec::new();
    // Characters of the current row before the open cell.
    let mut cell_start = 0usize;
    let mut run: Option<Run> = None;
    let mut in_t = 0usize;
    let mut boxes = 0usize;
    let mut skipped = 0usize;
    loop {
        let event = match reader.read_event() {
            Ok(event) => event,
            Err(e) => {
                flush(&mut open, &mut rows, &mut loose, &mut done);
                return Err((done, e.to_string()));
            }
        };
        if skipped > 0 {
            match &event {
                Event::Start(e) if is_skipped(e.local_name().as_ref()) => skipped += 1,
                Event::End(e) if is_skipped(e.local_name().as_ref()) => skipped -= 1,
                // A part cut off inside a skipped element ends there.
                Event::Eof => break,
                _ => {}
            }
            continue;
        }
        match event {
            Event::Start(e) => {
                let local = e.local_name();
                let local = local.as_ref();
                if is_skipped(local) {
                    skipped += 1;
                } else if is_box(local) {
                    boxes += 1;
                } else if matches!(local, "p" | "h" | "si") {
                    let paragraph = Paragraph { prominent: boxes > 0, ..Paragraph::default() };
                    open.push((paragraph, None));
                } else if matches!(local, "tr" | "table-row") {
                    rows.push(Paragraph { prominent: boxes > 0, ..Paragraph::default() });
                } else if matches!(local, "tc" | "table-cell") {
                    cell_start = rows.last().map_or(0, |row| row.length);
                } else if local == "r" {
                    run = Some(Run::default());
                } else if local == "t" || local == "delText" {
                    in_t += 1;
                } else {
                    properties(&e, &mut open, run.as_mut());
                    separate(local, &mut open, &mut loose, run.as_ref(), fonts);
                }
            }
            Event::Empty(e) => {
                let local = e.local_name();
                properties(&e, &mut open, run.as_mut());
                separate(local.as_ref(), &mut open, &mut loose, run.as_ref(), fonts);
            }
            Event::End(e) => match e.local_name().as_ref() {
                "p" | "h" | "si" => {
                    if let Some((paragraph, _)) = open.pop() {
                        match rows.last_mut() {
                            Some(row) => row.merge(paragraph),
                            None if !paragraph.is_empty() => done.push(paragraph),
                            None => {}
                        }
                    }
                }
                "tc" | "table-cell" => {
                    if let Some(row) = rows.last_mut() {
                        let encoding = row.segments.last().and_then(|(encoding, _)| *encoding);
                        let separator = cell_separator(row.one_char_since(cell_start));
                        row.push(encoding, separator);
                    }
                }
                "tr" | "table-row" => {
                    if let Some(row) = rows.pop() {
                        match rows.last_mut() {
                            Some(outer) => outer.merge(row),
                            None if !row.is_empty() => done.push(row),
                            None => {}
                        }
                    }
                }
                "r" => run = None,
                "t" | "delText" => in_t = in_t.saturating_sub(1),
                local if is_box(local) => boxes = boxes.saturating_sub(1),
                _ => {}
            },
            Event::Text(e) if in_t > 0 || vocabulary == Vocabulary::Odf => {
                add_text(&e.xml10_content(), &mut open, &mut loose, run.as_ref(), fonts);
            }
            Event::CData(e) if in_t > 0 || vocabulary == Vocabulary::Odf => {
                add_text(&e.xml10_content(), &mut open, &mut loose, run.as_ref(), fonts);
            }
            Event::GeneralRef(e) if in_t > 0 || vocabulary == Vocabulary::Odf => {
                let resolved = match e.resolve_char_ref() {
                    Ok(Some(c)) => Some(c),
                    Ok(None) => match e.as_ref() {
                        "amp" => Some('&'),
                        "lt" => Some('<'),
                        "gt" => Some('>'),
                        "quot" => Some('"'),
                        "apos" => Some('\''),
                        _ => None,
                    },
                    Err(_) => None,
                };
                if let Some(c) = resolved {
                    add_text(c.encode_utf8(&mut [0; 4]), &mut open, &mut loose, run.as_ref(), fonts);
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    flush(&mut open, &mut rows, &mut loose, &mut done);
    Ok(done)
}

/// Keeps the paragraphs and rows still open at the end (a truncated part) and the loose text.
fn flush(
    open: &mut Vec<(Paragraph, Option<String>)>,
    rows: &mut Vec<Paragraph>,
    loose: &mut Paragraph,
    done: &mut Vec<Paragraph>,
) {
    for paragraph in open.drain(..).map(|(paragraph, _)| paragraph).chain(rows.drain(..)) {
        if !paragraph.is_empty() {
            done.push(paragraph);
        }
    }
    if !loose.is_empty() {
        done.push(std::mem::take(loose));
    }
}

/// Reads run and paragraph properties: fonts, styles, colour.
fn properties(element: &BytesStart, open: &mut [(Paragraph, Option<String>)], run: Option<&mut Run>) {
    let local = element.local_name();
    match (local.as_ref(), run) {
        ("rFonts" | "latin" | "rFont", Some(run)) => run.font = run_font(element).or(run.font.take()),
        ("rStyle", Some(run)) => run.style_font = attribute(element, "val"),
        ("color", Some(run)) => {
            let value = attribute(element, "val").or_else(|| attribute(element, "rgb"));
            run.red |= value.as_deref().is_some_and(|v| is_red(v.get(v.len().saturating_sub(6)..).unwrap_or(v)));
        }
        ("srgbClr", Some(run)) => run.red |= attribute(element, "val").as_deref().is_some_and(is_red),
        ("pStyle", None) => {
            if let Some((_, style)) = open.last_mut() {
                *style = attribute(element, "val");
            }
        }
        _ => {}
    }
}

fn separate(
    local: &str,
    open: &mut [(Paragraph, Option<String>)],
    loose: &mut Paragraph,
    run: Option<&Run>,
    fonts: &Fonts,
) {
    if let Some(separator) = separator(local) {
        add_text(separator, open, loose, run, fonts);
    }
}

fn add_text(
    text: &str,
    open: &mut [(Paragraph, Option<String>)],
    loose: &mut Paragraph,
    run: Option<&Run>,
    fonts: &Fonts,
) {
    let (paragraph, paragraph_style) = match open.last_mut() {
        Some((paragraph, style)) => (paragraph, style.as_deref()),
        None => (loose, None),
    };
    // Font precedence of WordprocessingML: direct formatting, character style, paragraph
    // style, the default paragraph style, the document defaults.
    let font = run
        .and_then(|r| r.font.as_deref().or_else(|| r.style_font.as_deref().and_then(|s| fonts.style_font(s))))
        .or_else(|| paragraph_style.and_then(|s| fonts.style_font(s)))
        .or(fonts.default_paragraph.as_deref())
        .or(fonts.default.as_deref());
    paragraph.push(font.and_then(font_encoding), text);
    if run.is_some_and(|r| r.red) {
        paragraph.prominent = true;
    }
}

/// Cell text of a worksheet: values and inline strings, cells by tabs and rows by lines.
/// Shared-string cells hold an index into `sharedStrings.xml`, which is read on its own.
pub(super) fn sheet_text(xml: &[u8]) -> Result<String, (String, String)> {
    let text = decode(xml);
    let mut reader = Reader::from_str(&text);
    let mut out = String::new();
    let mut shared = false;
    let mut in_value = false;
    let mut cell_start = 0;
    loop {
        match reader.read_event() {
            Ok(Event::Start(e)) => match e.local_name().as_ref() {
                "c" => {
                    shared = attribute(&e, "t").as_deref() == Some("s");
                    cell_start = out.len();
                }
                "v" | "t" => in_value = true,
                _ => {}
            },
            Ok(Event::End(e)) => match e.local_name().as_ref() {
                "c" => {
                    let cell = out.get(cell_start..).unwrap_or_default();
                    out.push_str(cell_separator(cell.chars().count() == 1));
                }
                "row" => out.push('\n'),
                "v" | "t" => in_value = false,
                _ => {}
            },
            Ok(Event::Text(e)) if in_value && !shared => out.push_str(&e.xml10_content()),
            Ok(Event::GeneralRef(e)) if in_value && !shared => {
                if let Ok(Some(c)) = e.resolve_char_ref() {
                    out.push(c);
                }
            }
            Ok(Event::Eof) => return Ok(out),
            Err(e) => return Err((out, e.to_string())),
            Ok(_) => {}
        }
    }
}
