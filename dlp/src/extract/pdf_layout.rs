//! Reading order of a PDF page from where its strings are drawn, as a text extractor such as
//! `pdftotext` rebuilds it: a PDF draws strings at positions, in any order and in any pieces
//! ("TUYỆT M" and "ẬT", or one glyph per text object), and says nothing of words or lines.
//! Strings on one baseline make a line, left to right; a gap wider than a space between two
//! of them is a word break, a gap of several characters a break between blocks (the two
//! columns of a letterhead); the lines go from the top of the page down. Baselines of two or
//! more blocks are table rows: the first of them, when it has no digits, is the header, and
//! each block below takes the header of the column it lies under, until a line of one block
//! ends the table.

use super::super::legacy::Encoding;
use super::xml::Paragraph;
use std::rc::Rc;

/// A string drawn on a page, in user space.
#[derive(Debug, Clone)]
pub(super) struct Piece {
    /// Where the string starts and ends on its baseline.
    pub(super) x0: f32,
    pub(super) x1: f32,
    /// The baseline.
    pub(super) y: f32,
    /// The font size as drawn.
    pub(super) size: f32,
    pub(super) text: String,
    /// The legacy encoding of its font (spec §3.5).
    pub(super) legacy: Option<Encoding>,
    /// Its width comes from the font's metrics, not from an estimate.
    pub(super) measured: bool,
}

/// A gap wider than this many font sizes is a word break, between strings whose widths the
/// font gives (a space is about a quarter; kerning within a word a tenth at most)…
const SPACE_MEASURED: f32 = 0.15;
/// …and between strings whose widths are estimated, which may be off by a fifth.
const SPACE_ESTIMATED: f32 = 0.3;
/// A gap wider than this many font sizes separates blocks on one baseline.
const BLOCK_GAP: f32 = 3.0;
/// Baselines closer than this many font sizes are one line (superscripts, jitter).
const SAME_LINE: f32 = 0.4;

/// The lines of a page in reading order.
pub(super) fn lines(mut pieces: Vec<Piece>) -> Vec<Paragraph> {
    pieces.retain(|p| p.x0.is_finite() && p.x1.is_finite() && p.y.is_finite() && p.size.is_finite());
    // Top of the page first (PDF space grows upwards); left to right within a baseline.
    pieces.sort_by(|a, b| b.y.total_cmp(&a.y).then(a.x0.total_cmp(&b.x0)));
    let mut rows: Vec<Vec<Piece>> = Vec::new();
    for piece in pieces {
        let same = rows.last().and_then(|row| row.first()).is_some_and(|first| {
            (first.y - piece.y).abs() <= SAME_LINE * first.size.abs().max(piece.size.abs()).max(1.0)
        });
        match rows.last_mut() {
            Some(row) if same => row.push(piece),
            _ => rows.push(vec![piece]),
        }
    }
    let mut out = Vec::new();
    // The table being read (a run of lines of two or more blocks), and its header, if its
    // first line had no digits: the header blocks' extents and texts.
    let mut table: Option<Option<Vec<Column>>> = None;
    for row in rows {
        let blocks = blocks(row);
        if blocks.len() < 2 {
            // A line of one block is prose: any table has ended.
            table = None;
        } else if table.is_none() {
            let texts: Vec<String> = blocks.iter().map(|(_, _, line)| line.plain()).collect();
            let header = !texts.iter().any(|t| t.bytes().any(|b| b.is_ascii_digit()));
            table =
                Some(header.then(|| {
                    blocks.iter().zip(&texts).map(|((x0, x1, _), t)| (*x0, *x1, Rc::from(t.as_str()))).collect()
                }));
        }
        for (index, (x0, x1, mut line)) in blocks.into_iter().enumerate() {
            if let Some(Some(columns)) = &table {
                line.header = column_of(columns, x0, x1);
            }
            line.joined = index > 0;
            out.push(line);
        }
    }
    out.retain(|line| !line.is_empty());
    out
}

/// The blocks of a baseline, left to right, with their extents: its strings joined into
/// words, a gap of [`BLOCK_GAP`] starting a new block.
fn blocks(mut row: Vec<Piece>) -> Vec<(f32, f32, Paragraph)> {
    row.sort_by(|a, b| a.x0.total_cmp(&b.x0));
    let mut out: Vec<(f32, f32, Paragraph)> = Vec::new();
    let mut last: Option<Piece> = None;
    for piece in row {
        let mut new_block = last.is_none();
        if let Some(previous) = &last {
            let size = previous.size.abs().max(piece.size.abs()).max(1.0);
            // A string drawn again over itself (bold by overprinting) is said once.
            if piece.text == previous.text && (piece.x0 - previous.x0).abs() < 0.5 * size {
                continue;
            }
            let gap = piece.x0 - previous.x1;
            let space = if previous.measured && piece.measured { SPACE_MEASURED } else { SPACE_ESTIMATED };
            if gap > BLOCK_GAP * size {
                new_block = true;
            } else if let Some((_, _, line)) = out.last_mut()
                && gap > space * size
                && !ends_blank(line)
                && !piece.text.starts_with(char::is_whitespace)
            {
                line.push(previous.legacy, " ");
            }
        }
        if new_block {
            out.push((piece.x0, piece.x1, Paragraph::default()));
        }
        if let Some((_, x1, line)) = out.last_mut() {
            line.push(piece.legacy, &piece.text);
            *x1 = x1.max(piece.x1);
        }
        last = Some(piece);
    }
    out
}

/// A column of a table: where its header block starts and ends, and its text.
type Column = (f32, f32, Rc<str>);

/// The header of the column a block at `x0..x1` lies in: the header block it overlaps most,
/// else none.
fn column_of(columns: &[Column], x0: f32, x1: f32) -> Option<Rc<str>> {
    columns
        .iter()
        .map(|(h0, h1, text)| (x1.min(*h1) - x0.max(*h0), text))
        .filter(|(overlap, _)| *overlap > 0.0)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, text)| text.clone())
}

fn ends_blank(line: &Paragraph) -> bool {
    line.segments.last().is_none_or(|(_, text)| text.ends_with(char::is_whitespace))
}

/// An estimate of a character's width in font sizes, for fonts that give no widths (the
/// standard fonts): narrow, lower-case and wide letters, in the proportions of common fonts.
pub(super) fn estimated_width(c: char) -> f32 {
    match c {
        ' ' => 0.28,
        'i' | 'j' | 'l' | 'f' | 't' | 'r' | 'I' | '.' | ',' | ';' | ':' | '\'' | '|' | '!' => 0.3,
        'm' | 'w' | 'M' | 'W' => 0.85,
        c if c.is_uppercase() || c.is_ascii_digit() => 0.65,
        _ => 0.5,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn piece(x0: f32, x1: f32, y: f32, text: &str) -> Piece {
        Piece { x0, x1, y, size: 12.0, text: text.into(), legacy: None, measured: true }
    }

    fn texts(pieces: Vec<Piece>) -> Vec<String> {
        lines(pieces).iter().map(|l| l.segments.iter().map(|(_, t)| t.as_str()).collect()).collect()
    }

    #[test]
    fn pieces_make_words_and_lines_in_reading_order() {
        // Drawn bottom line first, the stamp in two pieces, the prose glyph by glyph.
        let mut pieces = vec![piece(72.0, 100.0, 700.0, "Số"), piece(104.0, 130.0, 700.0, "12")];
        pieces.push(piece(300.0, 340.0, 760.0, "ẬT"));
        pieces.push(piece(250.0, 300.0, 760.0, "TUYỆT M"));
        let mut x = 72.0;
        for c in "ab cd".chars() {
            if c != ' ' {
                pieces.push(piece(x, x + 6.0, 730.0, &c.to_string()));
            }
            x += if c == ' ' { 3.5 } else { 6.0 };
        }
        // Bold by overprinting, and a block far to the right on the same baseline.
        pieces.push(piece(72.0, 90.0, 650.0, "MẬT"));
        pieces.push(piece(72.4, 90.4, 650.0, "MẬT"));
        pieces.push(piece(400.0, 450.0, 650.0, "Hà Nội"));
        assert_eq!(texts(pieces), ["TUYỆT MẬT", "ab cd", "Số 12", "MẬT", "Hà Nội"]);
    }
}
