//! Table structure as context: a value in a column headed "Mã số thuế" is a tax code, however
//! far the header is from it. Extractors say which lines of a part's text are cells under
//! which header ([`Columns`]: docx, odt, ods, pptx and xlsx tables); delimiter-separated
//! files (`.csv`, `.tsv`) carry their header on their first line. The context of a candidate
//! in such a cell is its column header's when that header names an identifier: the header
//! decides, where the cells of neighbouring columns, within the keyword window, would blur
//! it (a BHXH column beside a tax-code column).

use super::wide;
use serde::{Deserialize, Serialize};
use std::cell::Cell;

/// Which lines of a part's text are cells under a column header.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Columns {
    /// The header texts.
    pub headers: Vec<String>,
    /// (line of the part's text from 0, index into `headers`), in line order.
    pub lines: Vec<(u32, u32)>,
}

impl Columns {
    /// Whether no line has a header.
    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }
}

/// Where the cells of a part find their headers.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) enum Layout<'a> {
    /// Not a table, or one without headers.
    #[default]
    None,
    /// The lines [`Columns`] names.
    Lines(&'a Columns),
    /// Delimiter-separated values, the header on the first line.
    Delimited,
}

impl Layout<'_> {
    /// The layout of a part named `name` with no [`Columns`]: delimited for `.csv` and `.tsv`.
    pub(crate) fn of_name(name: &str) -> Layout<'static> {
        let lower = name.rsplit('/').next().unwrap_or(name).to_ascii_lowercase();
        if lower.ends_with(".csv") || lower.ends_with(".tsv") { Layout::Delimited } else { Layout::None }
    }
}

/// The keyword classes of the column header of any offset of one view's text.
pub(crate) enum ColumnContext<'a> {
    None,
    Lines {
        lines: &'a [(u32, u32)],
        /// Classes of each header.
        classes: Vec<u16>,
        /// Where each line of the text starts.
        starts: Vec<usize>,
    },
    Delimited {
        text: &'a str,
        delimiter: u8,
        /// Classes of each column's header.
        classes: Vec<u16>,
        /// Where the last look-up left off: candidates come in order, most on the line of
        /// the last, so the delimiters before one are counted on from there.
        cursor: Cell<Cursor>,
    },
}

/// A place in a delimited text and what is known there.
#[derive(Clone, Copy, Default)]
pub(crate) struct Cursor {
    line_start: usize,
    at: usize,
    column: usize,
    quoted: bool,
}

impl<'a> ColumnContext<'a> {
    /// The column context of `text` laid out as `layout`, with `classify` giving the keyword
    /// classes of a header. Nothing is kept when no header names an identifier.
    pub(crate) fn new(text: &'a str, layout: Layout<'a>, classify: impl Fn(&str) -> u16) -> ColumnContext<'a> {
        match layout {
            Layout::None => ColumnContext::None,
            Layout::Lines(columns) => {
                let classes: Vec<u16> = columns.headers.iter().map(|h| classify(h)).collect();
                if classes.iter().all(|&c| c == 0) {
                    return ColumnContext::None;
                }
                let starts =
                    std::iter::once(0).chain(memchr::memchr_iter(b'\n', text.as_bytes()).map(|p| p + 1)).collect();
                ColumnContext::Lines { lines: &columns.lines, classes, starts }
            }
            Layout::Delimited => {
                let first = text.split('\n').next().unwrap_or_default();
                let Some(delimiter) = delimiter(first) else { return ColumnContext::None };
                let cells = cells(first, delimiter);
                // A first line with numbers in it is data, not a header.
                if cells.len() < 2 || cells.iter().any(|c| c.bytes().any(|b| b.is_ascii_digit())) {
                    return ColumnContext::None;
                }
                let classes: Vec<u16> = cells.iter().map(|c| classify(c)).collect();
                if classes.iter().all(|&c| c == 0) {
                    return ColumnContext::None;
                }
                ColumnContext::Delimited { text, delimiter, classes, cursor: Cell::default() }
            }
        }
    }

    /// The classes of the header of the column `offset` lies in; 0 outside any.
    pub(crate) fn at(&self, offset: usize) -> u16 {
        match self {
            ColumnContext::None => 0,
            ColumnContext::Lines { lines, classes, starts } => {
                let line = starts.partition_point(|&s| s <= offset).saturating_sub(1);
                let Ok(line) = u32::try_from(line) else { return 0 };
                lines
                    .binary_search_by_key(&line, |&(l, _)| l)
                    .ok()
                    .and_then(|i| classes.get(usize::try_from(lines[i].1).ok()?))
                    .copied()
                    .unwrap_or(0)
            }
            ColumnContext::Delimited { text, delimiter, classes, cursor } => {
                let bytes = text.as_bytes();
                let offset = offset.min(bytes.len());
                let mut here = cursor.get();
                // The last line break before `offset`: looked for back to the cursor only,
                // when the cursor is behind `offset`.
                let line_start = if here.at <= offset {
                    memchr::memrchr(b'\n', &bytes[here.at..offset]).map(|p| here.at + p + 1)
                } else {
                    Some(memchr::memrchr(b'\n', &bytes[..offset]).map_or(0, |p| p + 1))
                };
                if let Some(line_start) = line_start {
                    here = Cursor { line_start, at: line_start, column: 0, quoted: false };
                }
                let cells = &bytes[here.at..offset];
                // Unquoted cells, most of them, have their delimiters counted a block at a time.
                if !here.quoted && memchr::memchr(b'"', cells).is_none() {
                    here.column += wide::count(cells, *delimiter);
                } else {
                    for &b in cells {
                        if b == b'"' {
                            here.quoted = !here.quoted;
                        } else if b == *delimiter && !here.quoted {
                            here.column += 1;
                        }
                    }
                }
                here.at = offset;
                cursor.set(here);
                // The header line is no cell of its own column.
                if here.line_start == 0 {
                    return 0;
                }
                classes.get(here.column).copied().unwrap_or(0)
            }
        }
    }
}

/// The delimiter of a header line: the most frequent of comma, semicolon and tab in it.
fn delimiter(line: &str) -> Option<u8> {
    [b',', b';', b'\t']
        .into_iter()
        .map(|d| (line.bytes().filter(|&b| b == d).count(), d))
        .filter(|&(n, _)| n > 0)
        .max_by_key(|&(n, _)| n)
        .map(|(_, d)| d)
}

/// The cells of a delimited line, quotes taken off.
fn cells(line: &str, delimiter: u8) -> Vec<String> {
    let (mut out, mut cell) = (Vec::new(), String::new());
    let mut quoted = false;
    for c in line.trim_end_matches('\r').chars() {
        match c {
            '"' => quoted = !quoted,
            c if !quoted && c.is_ascii() && c as u8 == delimiter => out.push(std::mem::take(&mut cell)),
            c => cell.push(c),
        }
    }
    out.push(cell);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn classify(header: &str) -> u16 {
        match header.trim() {
            "ma_so_thue" | "MST" => 1,
            "so_cccd" => 2,
            _ => 0,
        }
    }

    #[test]
    fn delimited_cells_take_their_column_header() {
        let text = "stt,so_cccd,\"ghi chu, khac\",ma_so_thue\n1,056090000123,\"a, b\",0311638525\n";
        let columns = ColumnContext::new(text, Layout::Delimited, classify);
        let at = |needle: &str| columns.at(text.find(needle).expect("in the text"));
        assert_eq!(at("056090000123"), 2);
        assert_eq!(at("0311638525"), 1);
        assert_eq!(at("b\""), 0);
        assert_eq!(at("so_cccd"), 0, "the header line is no cell");
        // Looked up out of order, and again in order.
        assert_eq!(at("0311638525"), 1);
        assert_eq!(at("056090000123"), 2);
        let data = "1,056090000123\n2,056090000124\n";
        assert!(matches!(ColumnContext::new(data, Layout::Delimited, classify), ColumnContext::None));
    }

    #[test]
    fn labelled_lines_take_their_header() {
        let columns = Columns { headers: vec!["MST".into(), "Họ tên".into()], lines: vec![(1, 0), (2, 1)] };
        let text = "Bảng\n0311638525\nNguyễn Văn A\n0311638525";
        let context = ColumnContext::new(text, Layout::Lines(&columns), classify);
        assert_eq!(context.at(text.find('0').expect("a digit")), 1);
        assert_eq!(context.at(text.find("Nguy").expect("a name")), 0);
        assert_eq!(context.at(text.rfind('0').expect("a digit") - 1), 0);
        assert!(matches!(Layout::of_name("a.zip/DanhSach.CSV"), Layout::Delimited));
        assert!(matches!(Layout::of_name("notes.txt"), Layout::None));
    }
}
