//! Text of the XML parts of OOXML and ODF documents, paragraph by paragraph, with the font
//! of every run — so a `.VnTime` run is decoded as TCVN3 and a `VNI-Times` run as VNI
//! (spec §3.5, §8) — and whether a paragraph sits where stamps sit (spec §3.3).

use super::super::legacy::{Encoding, font_encoding};
use quick_xml::Reader;
use quick_xml::events::{BytesStart, Event};
use std::borrow::Cow;
use std::collections::HashMap;
use std::rc::Rc;

/// Paragraphs at the top of a body that count as stamp position (spec §3.3: the first part
/// of page 1, where the secrecy stamp and the document number sit).
pub(super) const TOP_PARAGRAPHS: usize = 8;

/// Columns of a table row that are kept apart; a spreadsheet row's repeated empty cells
/// beyond them are one.
const MAX_COLUMNS: usize = 1024;

/// One paragraph: runs of text by the legacy encoding of their font (`None`: Unicode).
#[derive(Debug, Default, Clone)]
pub(super) struct Paragraph {
    pub(super) segments: Vec<(Option<Encoding>, String)>,
    /// In a text box or shape, or with a red run.
    pub(super) prominent: bool,
    /// A table cell's paragraph: the header of its column, if its table has one.
    pub(super) header: Option<Rc<str>>,
    /// Goes on the table row of the paragraph before it: it does not count as one more
    /// paragraph of the top of a body ([`TOP_PARAGRAPHS`]).
    pub(super) joined: bool,
}

impl Paragraph {
    pub(super) fn push(&mut self, encoding: Option<Encoding>, text: &str) {
        match self.segments.last_mut() {
            Some((last, run)) if *last == encoding => run.push_str(text),
            _ => self.segments.push((encoding, text.to_string())),
        }
    }

    /// Appends another paragraph's runs (a box-digit cell to its row's line).
    fn merge(&mut self, other: &Paragraph) {
        for (encoding, text) in &other.segments {
            self.push(*encoding, text);
        }
        self.prominent |= other.prominent;
    }

    /// The text of all segments, trimmed.
    pub(super) fn plain(&self) -> String {
        self.segments.iter().map(|(_, text)| text.as_str()).collect::<String>().trim().to_string()
    }

    pub(super) fn is_empty(&self) -> bool {
        self.segments.iter().all(|(_, text)| text.trim().is_empty())
    }

    /// Ends the current line, unless it is empty.
    fn end_line(&mut self) {
        if let Some((_, text)) = self.segments.last_mut()
            && !text.trim_end_matches([' ', '\t']).ends_with('\n')
            && !text.trim().is_empty()
        {
            text.push('\n');
        }
    }
}

/// A table being read: the header of its columns once its first row of two or more cells
/// is seen (a row without digits: "Họ tên | Số CCCD | Mã số thuế"), and the open row.
#[derive(Default)]
struct Table {
    header: Option<Vec<Rc<str>>>,
    header_decided: bool,
    /// The open row's cells, each its paragraphs.
    row: Vec<Vec<Paragraph>>,
}

impl Table {
    /// The lines of the open row, which it clears. A cell's paragraphs are lines of their own
    /// (a stamp in a cell stands alone on its line, as on the page) under the column's
    /// header; a run of cells of one character each is one line, tab-separated, so a form
    /// that prints one digit per cell ("box digits", spec §1) reads as one spaced group.
    fn row_lines(&mut self) -> Vec<Paragraph> {
        let cells = std::mem::take(&mut self.row);
        let texts: Vec<String> =
            cells.iter().map(|cell| cell.iter().map(Paragraph::plain).collect::<Vec<_>>().join(" ")).collect();
        if !self.header_decided && texts.iter().filter(|t| !t.is_empty()).count() >= 2 {
            self.header_decided = true;
            if !texts.iter().any(|t| t.bytes().any(|b| b.is_ascii_digit())) {
                self.header = Some(texts.iter().map(|t| Rc::from(t.as_str())).collect());
            }
        }
        let mut lines: Vec<Paragraph> = Vec::new();
        let mut boxed: Option<Paragraph> = None;
        for (index, cell) in cells.into_iter().enumerate() {
            if cell.len() == 1 && texts[index].chars().count() == 1 {
                let line = boxed.get_or_insert_with(Paragraph::default);
                line.merge(&cell[0]);
                let encoding = line.segments.last().and_then(|(encoding, _)| *encoding);
                line.push(encoding, "\t");
                continue;
            }
            lines.extend(boxed.take());
            let header = self.header.as_ref().and_then(|h| h.get(index)).filter(|h| !h.is_empty());
            for mut paragraph in cell.into_iter().filter(|p| !p.is_empty()) {
                paragraph.header = header.cloned();
                lines.push(paragraph);
            }
        }
        lines.extend(boxed);
        for line in lines.iter_mut().skip(1) {
            line.joined = true;
        }
        lines
    }
}

/// Where a finished paragraph goes: the open cell of the innermost table, else the output.
fn deliver(paragraph: Paragraph, tables: &mut [Table], done: &mut Vec<Paragraph>) {
    match tables.last_mut().and_then(|table| table.row.last_mut()) {
        Some(cell) => cell.push(paragraph),
        None if !paragraph.is_empty() => done.push(paragraph),
        None => {}
    }
}

/// Ends the open row of the innermost table: its lines go to the cell of the table around it,
/// or to the output.
fn end_row(tables: &mut [Table], done: &mut Vec<Paragraph>) {
    let Some((table, outer)) = tables.split_last_mut() else { return };
    let lines = table.row_lines();
    for line in lines {
        deliver(line, outer, done);
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
    // Open tables, innermost last: a table in a cell gives its lines to that cell.
    let mut tables: Vec<Table> = Vec::new();
    let mut run: Option<Run> = None;
    let mut in_t = 0usize;
    let mut boxes = 0usize;
    let mut skipped = 0usize;
    loop {
        let event = match reader.read_event() {
            Ok(event) => event,
            Err(e) => {
                flush(&mut open, &mut tables, &mut loose, &mut done);
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
                } else if matches!(local, "tbl" | "table") {
                    // A sheet's name is on its tab, as a heading is on a page (`table:name`).
                    if let Some(name) = attribute(&e, "name") {
                        let mut heading = Paragraph { prominent: true, ..Paragraph::default() };
                        heading.push(None, &name);
                        deliver(heading, &mut tables, &mut done);
                    }
                    tables.push(Table::default());
                } else if matches!(local, "tr" | "table-row") {
                    if tables.is_empty() {
                        tables.push(Table::default());
                    }
                    end_row(&mut tables, &mut done);
                } else if matches!(local, "tc" | "table-cell" | "covered-table-cell") {
                    if let Some(table) = tables.last_mut() {
                        table.row.push(Vec::new());
                    }
                } else if local == "r" {
                    run = Some(Run::default());
                } else if local == "t" || local == "delText" {
                    in_t += 1;
                } else {
                    // A custom document property is a field: its name labels its value, so
                    // a property "Độ mật" holding "Mật" reads as the field it is.
                    if vocabulary == Vocabulary::Odf
                        && matches!(local, "property" | "user-defined")
                        && let Some(name) = attribute(&e, "name")
                    {
                        add_text(&format!("{name}: "), &mut open, &mut loose, run.as_ref(), fonts);
                    }
                    properties(&e, &mut open, run.as_mut());
                    separate(local, &mut open, &mut loose, run.as_ref(), fonts);
                }
            }
            Event::Empty(e) => {
                let local = e.local_name();
                // An empty cell still holds its column's place.
                if matches!(local.as_ref(), "tc" | "table-cell" | "covered-table-cell")
                    && let Some(table) = tables.last_mut()
                {
                    let repeated = attribute(&e, "number-columns-repeated").and_then(|n| n.parse::<usize>().ok());
                    // Spreadsheets repeat empty cells to the last column: only the columns a
                    // header can have matter.
                    let room = MAX_COLUMNS.saturating_sub(table.row.len());
                    for _ in 0..repeated.unwrap_or(1).clamp(1, MAX_COLUMNS).min(room) {
                        table.row.push(Vec::new());
                    }
                }
                properties(&e, &mut open, run.as_mut());
                separate(local.as_ref(), &mut open, &mut loose, run.as_ref(), fonts);
            }
            Event::End(e) => match e.local_name().as_ref() {
                "p" | "h" | "si" => {
                    if let Some((paragraph, _)) = open.pop() {
                        deliver(paragraph, &mut tables, &mut done);
                    }
                }
                "tr" | "table-row" => end_row(&mut tables, &mut done),
                "tbl" | "table" => {
                    end_row(&mut tables, &mut done);
                    tables.pop();
                }
                "r" => run = None,
                "t" | "delText" => in_t = in_t.saturating_sub(1),
                local if is_box(local) => boxes = boxes.saturating_sub(1),
                // Text outside paragraphs is metadata, an element per field (title,
                // keywords, subject): each ends its line, as a field stands on its own.
                _ if open.is_empty() => loose.end_line(),
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
    flush(&mut open, &mut tables, &mut loose, &mut done);
    Ok(done)
}

/// Keeps the paragraphs and rows still open at the end (a truncated part) and the loose text.
fn flush(
    open: &mut Vec<(Paragraph, Option<String>)>,
    tables: &mut Vec<Table>,
    loose: &mut Paragraph,
    done: &mut Vec<Paragraph>,
) {
    for (paragraph, _) in open.drain(..) {
        deliver(paragraph, tables, done);
    }
    while !tables.is_empty() {
        end_row(tables, done);
        tables.pop();
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

/// The strings of a shared-strings part, by index (empty ones too), each with the legacy
/// encoding of its rich runs' fonts; phonetic readings left out.
pub(super) fn shared_strings(xml: &[u8]) -> Vec<Paragraph> {
    let text = decode(xml);
    let mut reader = Reader::from_str(&text);
    let mut strings: Vec<Paragraph> = Vec::new();
    let mut font = None;
    let mut in_t = false;
    let mut phonetic = 0usize;
    loop {
        match reader.read_event() {
            Ok(Event::Start(e)) => match e.local_name().as_ref() {
                "si" => strings.push(Paragraph::default()),
                "r" => font = None,
                "t" => in_t = true,
                "rPh" => phonetic += 1,
                _ => {}
            },
            Ok(Event::Empty(e)) if e.local_name().as_ref() == "rFont" => {
                font = run_font(&e).as_deref().and_then(font_encoding);
            }
            Ok(Event::End(e)) => match e.local_name().as_ref() {
                "t" => in_t = false,
                "rPh" => phonetic = phonetic.saturating_sub(1),
                _ => {}
            },
            Ok(Event::Text(e)) if in_t && phonetic == 0 => {
                if let Some(string) = strings.last_mut() {
                    string.push(font, &e.xml10_content());
                }
            }
            Ok(Event::GeneralRef(e)) if in_t && phonetic == 0 => {
                if let (Ok(Some(c)), Some(string)) = (e.resolve_char_ref(), strings.last_mut()) {
                    string.push(font, c.encode_utf8(&mut [0; 4]));
                }
            }
            Ok(Event::Eof) | Err(_) => return strings,
            Ok(_) => {}
        }
    }
}

/// The column of a cell reference (`C7` is 2), from its letters.
fn column_of(reference: &str) -> Option<usize> {
    let letters = reference.bytes().take_while(u8::is_ascii_alphabetic);
    let mut column = 0usize;
    let mut any = false;
    for letter in letters {
        any = true;
        column = column.checked_mul(26)?.checked_add(usize::from(letter.to_ascii_uppercase() - b'A') + 1)?;
    }
    any.then(|| column - 1)
}

/// The rows of a worksheet as table lines ([`Table::row_lines`]): values, inline strings and
/// shared strings (resolved from `shared`), each cell in its column, under the header row.
pub(super) fn sheet_lines(xml: &[u8], shared: &[Paragraph]) -> Result<Vec<Paragraph>, (Vec<Paragraph>, String)> {
    let text = decode(xml);
    let mut reader = Reader::from_str(&text);
    let mut tables = vec![Table::default()];
    let mut done = Vec::new();
    let mut shared_cell = false;
    let mut in_value = false;
    let mut cell = Paragraph::default();
    // The text of a page header or footer being read.
    let mut furniture: Option<String> = None;
    loop {
        let event = match reader.read_event() {
            Ok(event) => event,
            Err(e) => {
                end_row(&mut tables, &mut done);
                return Err((done, e.to_string()));
            }
        };
        match event {
            Event::Start(e) | Event::Empty(e) if e.local_name().as_ref() == "c" => {
                shared_cell = attribute(&e, "t").as_deref() == Some("s");
                cell = Paragraph::default();
                let row = &mut tables[0].row;
                let column = attribute(&e, "r").as_deref().and_then(column_of).unwrap_or(row.len());
                // Only the columns a header can have are kept apart.
                while row.len() < column.min(MAX_COLUMNS) {
                    row.push(Vec::new());
                }
                row.push(Vec::new());
            }
            Event::Start(e) if matches!(e.local_name().as_ref(), "v" | "t") => in_value = true,
            Event::Start(e) if is_page_furniture(e.local_name().as_ref()) => furniture = Some(String::new()),
            Event::End(e) if is_page_furniture(e.local_name().as_ref()) => {
                let text = furniture.take().map(|codes| header_footer_text(&codes)).unwrap_or_default();
                let mut paragraph = Paragraph { prominent: true, ..Paragraph::default() };
                paragraph.push(None, &text);
                if !paragraph.is_empty() {
                    done.push(paragraph);
                }
            }
            Event::Text(e) if furniture.is_some() => {
                if let Some(codes) = furniture.as_mut() {
                    codes.push_str(&e.xml10_content());
                }
            }
            Event::GeneralRef(e) if furniture.is_some() => {
                let resolved = match e.resolve_char_ref() {
                    Ok(Some(c)) => Some(c),
                    _ if e.as_ref() == "amp" => Some('&'),
                    _ if e.as_ref() == "quot" => Some('"'),
                    _ => None,
                };
                if let (Some(c), Some(codes)) = (resolved, furniture.as_mut()) {
                    codes.push(c);
                }
            }
            Event::End(e) => match e.local_name().as_ref() {
                "c" => {
                    if let Some(slot) = tables[0].row.last_mut() {
                        slot.push(std::mem::take(&mut cell));
                    }
                }
                "row" => end_row(&mut tables, &mut done),
                "v" | "t" => in_value = false,
                _ => {}
            },
            Event::Text(e) if in_value => {
                let value = e.xml10_content();
                match shared_cell {
                    true => {
                        let string = value.trim().parse::<usize>().ok().and_then(|i| shared.get(i));
                        if let Some(string) = string {
                            cell.merge(string);
                        }
                    }
                    false => cell.push(None, &value),
                }
            }
            Event::GeneralRef(e) if in_value && !shared_cell => {
                if let Ok(Some(c)) = e.resolve_char_ref() {
                    cell.push(None, c.encode_utf8(&mut [0; 4]));
                }
            }
            Event::Eof => {
                end_row(&mut tables, &mut done);
                return Ok(done);
            }
            _ => {}
        }
    }
}

/// Elements of a worksheet's page header and footer (printed on every page: stamp position).
fn is_page_furniture(local: &str) -> bool {
    matches!(local, "oddHeader" | "oddFooter" | "evenHeader" | "evenFooter" | "firstHeader" | "firstFooter")
}

/// The text of a SpreadsheetML header or footer, its formatting codes taken out: `&L`, `&C`
/// and `&R` start the left, centre and right sections (lines of their own), `&"font,style"`,
/// `&12` (size) and `&KFF0000` (colour) format, other `&x` codes are fields (page number,
/// date, file name), and `&&` is an ampersand.
fn header_footer_text(codes: &str) -> String {
    let mut out = String::new();
    let mut chars = codes.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '&' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('&') => out.push('&'),
            Some('"') => {
                for c in chars.by_ref() {
                    if c == '"' {
                        break;
                    }
                }
            }
            Some('L' | 'C' | 'R') => out.push('\n'),
            Some('K') => {
                for _ in 0..6 {
                    chars.next_if(|c| c.is_ascii_alphanumeric() || *c == '+' || *c == '-');
                }
            }
            Some(d) if d.is_ascii_digit() => while chars.next_if(char::is_ascii_digit).is_some() {},
            _ => {}
        }
    }
    out
}

/// The names of a workbook's sheets (`xl/workbook.xml`), a line each: a sheet's name is on its
/// tab, as a heading is on a page, so it sits where stamps sit.
pub(super) fn sheet_names(xml: &[u8]) -> Vec<Paragraph> {
    let text = decode(xml);
    let mut reader = Reader::from_str(&text);
    let mut names = Vec::new();
    loop {
        match reader.read_event() {
            Ok(Event::Start(e) | Event::Empty(e)) if e.local_name().as_ref() == "sheet" => {
                if let Some(name) = attribute(&e, "name") {
                    let mut line = Paragraph { prominent: true, ..Paragraph::default() };
                    line.push(None, &name);
                    names.push(line);
                }
            }
            Ok(Event::Eof) | Err(_) => return names,
            Ok(_) => {}
        }
    }
}
