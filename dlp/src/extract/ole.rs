//! OLE compound files (CFB): Word 97–2003 `.doc` through the piece table of its
//! WordDocument stream (spec §3.5 "inside binary containers", §8), Excel 97–2003 `.xls`
//! through its shared-string table, OOXML packages embedded as OLE objects, and encrypted
//! OOXML (an OLE file holding `EncryptedPackage`).

use super::super::legacy::{Encoding, font_encoding};
use super::xml::{Paragraph, TOP_PARAGRAPHS};
use super::{Reason, Walker};
use std::io::{Cursor, Read};

type Ole<'a> = cfb::CompoundFile<Cursor<&'a [u8]>>;

pub(super) fn walk(w: &mut Walker, path: &str, bytes: &[u8], depth: u32) {
    let mut file = match cfb::CompoundFile::open(Cursor::new(bytes)) {
        Ok(file) => file,
        Err(e) => return w.verdict(path, Reason::Corrupt(format!("OLE: {e}"))),
    };
    let streams: Vec<(String, u64)> = file
        .walk()
        .filter(|entry| entry.is_stream())
        .map(|entry| (entry.path().to_string_lossy().into_owned(), entry.len()))
        .collect();
    let has = |name: &str| streams.iter().any(|(n, _)| n == name);
    if has("/EncryptedPackage") || has("/EncryptionInfo") {
        w.verdict(path, Reason::Encrypted);
    } else if has("/WordDocument") {
        doc(w, &mut file, path);
    } else if has("/Workbook") || has("/Book") {
        let name = if has("/Workbook") { "/Workbook" } else { "/Book" };
        xls(w, &mut file, path, name);
    } else if has("/Package") {
        // An embedded OOXML document (docx inside a doc or an xlsx inside a pptx).
        if let Some(package) = read_stream(w, &mut file, path, "/Package") {
            w.walk(&format!("{path}/Package"), &package, depth + 1);
        }
    } else {
        // PowerPoint, Outlook .msg, OLE objects: no structured reader. Their streams are
        // scanned as raw bytes, and the document is reported as only partly inspected.
        for (name, _) in &streams {
            if let Some(data) = read_stream(w, &mut file, path, name) {
                w.bytes(&format!("{path}{name}"), &data, false);
            }
        }
        w.verdict(path, Reason::Unsupported("OLE document without a text extractor (raw streams scanned)".into()));
    }
}

/// Reads one stream under the caps.
fn read_stream(w: &mut Walker, file: &mut Ole, path: &str, name: &str) -> Option<Vec<u8>> {
    let child = format!("{path}{name}");
    if !w.count_entry(&child) {
        return None;
    }
    let stream = match file.open_stream(name) {
        Ok(stream) => stream,
        Err(e) => {
            w.verdict(&child, Reason::Corrupt(format!("OLE stream: {e}")));
            return None;
        }
    };
    let size = stream.len();
    if !w.reserve(&child, size) {
        return None;
    }
    let mut data = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
    match stream.take(size).read_to_end(&mut data) {
        Ok(_) => Some(data),
        Err(e) => {
            w.verdict(&child, Reason::Corrupt(format!("OLE stream: {e}")));
            None
        }
    }
}

fn u16_at(bytes: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(bytes.get(at..at.checked_add(2)?)?.try_into().ok()?))
}

fn u32_at(bytes: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(bytes.get(at..at.checked_add(4)?)?.try_into().ok()?))
}

fn usize_at(bytes: &[u8], at: usize) -> Option<usize> {
    u32_at(bytes, at).and_then(|v| usize::try_from(v).ok())
}

/// The parts of the File Information Block this reader needs ([MS-DOC] 2.5).
struct Fib {
    n_fib: u16,
    encrypted: bool,
    table: &'static str,
    /// Character counts of the main text and the subdocuments that follow it in CP order:
    /// footnotes, headers, comments, endnotes, text boxes, header text boxes.
    ccp: [usize; 7],
    clx: (usize, usize),
    fonts: (usize, usize),
    /// PlcBteChpx: where the character formatting pages are.
    chpx: (usize, usize),
    /// Word 6/95: the text is the bytes between these offsets.
    fc_min_mac: (usize, usize),
}

impl Fib {
    fn parse(word: &[u8]) -> Option<Fib> {
        if u16_at(word, 0)? != 0xA5EC {
            return None;
        }
        let n_fib = u16_at(word, 2)?;
        let flags = u16_at(word, 0x0A)?;
        let csw = usize::from(u16_at(word, 0x20)?);
        let lw = 0x22 + csw * 2;
        let cslw = usize::from(u16_at(word, lw)?);
        let lw = lw + 2;
        let rg_lw = |i: usize| if i < cslw { usize_at(word, lw + 4 * i) } else { Some(0) };
        let fc_lcb = lw + cslw * 4 + 2;
        let pair = |i: usize| Some((usize_at(word, fc_lcb + 8 * i)?, usize_at(word, fc_lcb + 8 * i + 4)?));
        let ccp = [rg_lw(3)?, rg_lw(4)?, rg_lw(5)?, rg_lw(7)?, rg_lw(8)?, rg_lw(9)?, rg_lw(10)?];
        Some(Fib {
            n_fib,
            // fEncrypted, and fObfuscated (XOR obfuscation, also unreadable without a key).
            encrypted: flags & 0x0100 != 0 || flags & 0x8000 != 0,
            table: if flags & 0x0200 != 0 { "/1Table" } else { "/0Table" },
            ccp,
            clx: pair(33).unwrap_or((0, 0)),
            fonts: pair(15).unwrap_or((0, 0)),
            chpx: pair(12).unwrap_or((0, 0)),
            fc_min_mac: (usize_at(word, 0x18).unwrap_or(0), usize_at(word, 0x1C).unwrap_or(0)),
        })
    }
}

/// A `.doc`: the text of its main document and subdocuments, each run in the legacy
/// encoding of its font (spec §8.1–8.2: the CHPX font index into the font table).
fn doc(w: &mut Walker, file: &mut Ole, path: &str) {
    let child = format!("{path}/WordDocument");
    let Some(word) = read_stream(w, file, path, "/WordDocument") else { return };
    let Some(fib) = Fib::parse(&word) else {
        return w.verdict(&child, Reason::Corrupt("Word file information block".into()));
    };
    if fib.encrypted {
        return w.verdict(path, Reason::Encrypted);
    }
    // Word 6/95 (nFib below 193) keeps its text as 8-bit bytes in one range of the stream.
    if fib.n_fib < 0x00C1 {
        let (min, mac) = fib.fc_min_mac;
        match word.get(min..mac) {
            Some(text) => {
                let units: Vec<u16> = text.iter().map(|&b| cp1252(b)).collect();
                w.paragraphs(&child, &paragraphs_of(&units, |_| None), false, TOP_PARAGRAPHS);
            }
            None => w.verdict(&child, Reason::Corrupt("Word 6 text range".into())),
        }
        return;
    }
    let Some(table) = read_stream(w, file, path, fib.table) else { return };
    let names = font_names(&table, fib.fonts);
    let runs = font_runs(&word, &table, fib.chpx);
    // Text whose run names no font takes its font from a style, which this reader does not
    // resolve: it gets the encoding of the document's legacy fonts when they agree.
    let mut legacy = names.iter().filter_map(|name| font_encoding(name));
    let default = legacy.next().filter(|first| legacy.all(|other| other == *first));
    let Some(clx) = fib.clx.0.checked_add(fib.clx.1).and_then(|end| table.get(fib.clx.0..end)) else {
        return w.verdict(&child, Reason::Corrupt("Word piece table out of range".into()));
    };
    let (units, offsets) = match pieces(w, &child, &word, clx) {
        Ok(pieces) => pieces,
        Err(why) => return w.verdict(&child, Reason::Corrupt(why)),
    };
    let encoding_at = |index: usize| {
        let offset = offsets.get(index).copied().unwrap_or(0);
        let run = runs.partition_point(|&(start, _, _)| start <= offset).checked_sub(1).map(|i| runs[i]);
        match run {
            Some((_, end, font)) if offset < end => names.get(usize::from(font)).and_then(|n| font_encoding(n)),
            _ => default,
        }
    };
    // Subdocuments follow the main text in CP order; headers and text boxes are where
    // stamps sit (spec §3.3), as is the top of the main text.
    let prominent = [false, false, true, false, false, true, true];
    let mut start = 0usize;
    for (index, (&count, &prominent)) in fib.ccp.iter().zip(&prominent).enumerate() {
        let end = start.saturating_add(count).min(units.len());
        let from = start.min(end);
        let paragraphs = paragraphs_of(&units[from..end], |i| encoding_at(from + i));
        let top = if index == 0 { TOP_PARAGRAPHS } else { 0 };
        w.paragraphs(&child, &paragraphs, prominent, top);
        start = end;
    }
}

/// Character runs with a font of their own: (start, end) byte offsets in the WordDocument
/// stream and the font's index in the font table, sorted, from the CHPX pages of the
/// PlcBteChpx ([MS-DOC] 2.8.6, 2.9.36: sprmCRgFtc0, the font of ASCII and Latin text).
fn font_runs(word: &[u8], table: &[u8], (fc, lcb): (usize, usize)) -> Vec<(u32, u32, u16)> {
    let Some(plc) = fc.checked_add(lcb).and_then(|end| table.get(fc..end)) else { return Vec::new() };
    let count = plc.len().saturating_sub(4) / 8;
    let mut runs = Vec::new();
    for i in 0..count {
        let Some(pn) = usize_at(plc, 4 * (count + 1) + 4 * i) else { break };
        let at = (pn & 0x003F_FFFF).saturating_mul(512);
        let Some(page) = word.get(at..at.saturating_add(512)) else { continue };
        let crun = usize::from(page[511]);
        for r in 0..crun {
            let (Some(start), Some(end), Some(&offset)) =
                (u32_at(page, 4 * r), u32_at(page, 4 * (r + 1)), page.get(4 * (crun + 1) + r))
            else {
                break;
            };
            if let Some(font) = chpx_font(page, usize::from(offset) * 2).filter(|_| offset != 0) {
                runs.push((start, end, font));
            }
        }
    }
    runs.sort_unstable();
    runs
}

/// The sprmCRgFtc0 operand of the CHPX at `at` in an FKP page.
fn chpx_font(page: &[u8], at: usize) -> Option<u16> {
    let size = usize::from(*page.get(at)?);
    let grpprl = page.get(at + 1..at + 1 + size)?;
    let mut i = 0;
    while i + 2 <= grpprl.len() {
        let sprm = u16_at(grpprl, i)?;
        i += 2;
        // The operand size is in the sprm's top three bits ([MS-DOC] 2.2.5.1).
        let operand = match sprm >> 13 {
            0 | 1 => 1,
            2 | 4 | 5 => 2,
            3 => 4,
            7 => 3,
            _ => {
                let size = usize::from(*grpprl.get(i)?);
                i += 1;
                size
            }
        };
        if sprm == 0x4A4F {
            return u16_at(grpprl, i);
        }
        i += operand;
    }
    None
}

/// The names in the font table (SttbfFfn, [MS-DOC] 2.9.284), by font index.
fn font_names(table: &[u8], (fc, lcb): (usize, usize)) -> Vec<String> {
    let mut names = Vec::new();
    let Some(sttb) = fc.checked_add(lcb).and_then(|end| table.get(fc..end)) else { return names };
    let (count, mut at) = match u16_at(sttb, 0) {
        Some(0xFFFF) => (u16_at(sttb, 2).map_or(0, usize::from), 6),
        Some(count) => (usize::from(count), 4),
        None => return names,
    };
    for _ in 0..count {
        let Some(&length) = sttb.get(at) else { break };
        let Some(ffn) = sttb.get(at + 1..at + 1 + usize::from(length)) else { break };
        at += 1 + usize::from(length);
        // FFN: 39 bytes of metrics, then the name as NUL-terminated UTF-16.
        let name: Vec<u16> = ffn
            .get(39..)
            .unwrap_or_default()
            .chunks_exact(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]))
            .take_while(|&c| c != 0)
            .collect();
        names.push(String::from_utf16_lossy(&name));
    }
    names
}

/// The characters of the document in CP order, through the piece table ([MS-DOC] 2.9.38
/// Clx): 8-bit pieces are Windows-1252 bytes (legacy-font text stays as those bytes read in
/// Windows-1252, as spec §3.5 expects), 16-bit pieces UTF-16LE.
/// Each unit comes with its byte offset in the WordDocument stream, where character
/// formatting (fonts) is keyed.
fn pieces(w: &mut Walker, child: &str, word: &[u8], clx: &[u8]) -> Result<(Vec<u16>, Vec<u32>), String> {
    let mut at = 0;
    let plc = loop {
        match clx.get(at) {
            Some(1) => {
                let size = usize::from(u16_at(clx, at + 1).ok_or("Word Prc truncated")?);
                at += 3 + size;
            }
            Some(2) => {
                let size = usize_at(clx, at + 1).ok_or("Word Pcdt truncated")?;
                break clx.get(at + 5..at + 5 + size).ok_or("Word Pcdt truncated")?;
            }
            _ => return Err("Word piece table has no Pcdt".into()),
        }
    };
    let count = plc.len().saturating_sub(4) / 12;
    let total: usize = (0..count)
        .map(|i| {
            let start = usize_at(plc, 4 * i).unwrap_or(0);
            usize_at(plc, 4 * (i + 1)).unwrap_or(0).saturating_sub(start)
        })
        .fold(0usize, usize::saturating_add);
    if !w.reserve(child, u64::try_from(total).unwrap_or(u64::MAX).saturating_mul(2)) {
        return Ok((Vec::new(), Vec::new()));
    }
    let mut chars = Vec::with_capacity(total);
    let mut offsets = Vec::with_capacity(total);
    for i in 0..count {
        let (Some(start), Some(end)) = (usize_at(plc, 4 * i), usize_at(plc, 4 * (i + 1))) else { break };
        let length = end.saturating_sub(start);
        let pcd = 4 * (count + 1) + 8 * i;
        let fc = u32_at(plc, pcd + 2).ok_or("Word piece descriptor truncated")?;
        let fc_value = usize::try_from(fc & 0x3FFF_FFFF).map_err(|_| "Word piece offset")?;
        if fc & 0x4000_0000 != 0 {
            let offset = fc_value / 2;
            let bytes = word.get(offset..offset.saturating_add(length)).ok_or("Word 8-bit piece out of range")?;
            chars.extend(bytes.iter().map(|&b| cp1252(b)));
            offsets.extend((offset..offset + bytes.len()).map(|o| u32::try_from(o).unwrap_or(u32::MAX)));
        } else {
            let bytes = word
                .get(fc_value..fc_value.saturating_add(length.saturating_mul(2)))
                .ok_or("Word piece out of range")?;
            chars.extend(bytes.chunks_exact(2).map(|c| u16::from_le_bytes([c[0], c[1]])));
            offsets.extend((0..bytes.len() / 2).map(|k| u32::try_from(fc_value + 2 * k).unwrap_or(u32::MAX)));
        }
    }
    Ok((chars, offsets))
}

/// A Windows-1252 byte as a UTF-16 unit (the five unassigned bytes map to C1 controls).
fn cp1252(byte: u8) -> u16 {
    let bytes = [byte];
    let (text, _, _) = encoding_rs::WINDOWS_1252.decode(&bytes);
    text.encode_utf16().next().unwrap_or(u16::from(byte))
}

/// Word's special characters: paragraph and cell ends, breaks, field marks, anchors.
fn word_char(unit: u16) -> Option<char> {
    match unit {
        0x0B..=0x0E => Some('\n'),
        0x07 | 0x09 => Some('\t'),
        0x1E => Some('-'),
        0x00..=0x1F => None,
        _ => char::from_u32(u32::from(unit)),
    }
}

/// Paragraphs of CP-ordered units, each character in the encoding its font gives
/// (`encoding(i)` for unit `i`): special characters mapped, field codes (between the field
/// begin 0x13 and separator 0x14) dropped, surrogate pairs joined.
fn paragraphs_of(units: &[u16], encoding: impl Fn(usize) -> Option<Encoding>) -> Vec<Paragraph> {
    let mut done = Vec::new();
    let mut paragraph = Paragraph::default();
    let mut field_code = 0usize;
    let mut pending: Vec<u16> = Vec::new();
    let mut buffer = [0; 4];
    for (index, &unit) in units.iter().enumerate() {
        let c = match unit {
            0x13 => {
                field_code += 1;
                None
            }
            0x14 | 0x15 => {
                field_code = field_code.saturating_sub(1);
                None
            }
            _ if field_code > 0 => None,
            0xD800..=0xDFFF => {
                pending.push(unit);
                if pending.len() < 2 {
                    continue;
                }
                char::decode_utf16(pending.drain(..)).flatten().next()
            }
            _ => {
                pending.clear();
                word_char(unit)
            }
        };
        match c {
            Some('\n') if !paragraph.is_empty() => done.push(std::mem::take(&mut paragraph)),
            Some('\n') | None => {}
            Some(c) => paragraph.push(encoding(index), c.encode_utf8(&mut buffer)),
        }
    }
    if !paragraph.is_empty() {
        done.push(paragraph);
    }
    done
}

/// An `.xls` (BIFF8): strings of the shared-string table and of LABEL cells. Numbers in
/// cells are not read (identifiers kept as numbers lose their leading zeros anyway).
fn xls(w: &mut Walker, file: &mut Ole, path: &str, name: &str) {
    let child = format!("{path}{name}");
    let Some(book) = read_stream(w, file, path, name) else { return };
    let mut records = Vec::new();
    let mut at = 0;
    while let (Some(kind), Some(size)) = (u16_at(&book, at), u16_at(&book, at + 2)) {
        let Some(body) = book.get(at + 4..at + 4 + usize::from(size)) else { break };
        records.push((kind, body));
        at += 4 + usize::from(size);
    }
    if records.iter().any(|&(kind, _)| kind == 0x002F) {
        return w.verdict(path, Reason::Encrypted);
    }
    let mut text = String::new();
    for (index, &(kind, body)) in records.iter().enumerate() {
        match kind {
            0x00FC => {
                let continues = records[index + 1..].iter().take_while(|&&(k, _)| k == 0x003C).map(|&(_, b)| b);
                let mut reader = Biff { chunks: std::iter::once(body).chain(continues).collect(), chunk: 0, at: 8 };
                let unique = u32_at(body, 4).unwrap_or(0);
                for _ in 0..unique {
                    match reader.string() {
                        Some(s) => {
                            text.push_str(&s);
                            text.push('\n');
                        }
                        None => break,
                    }
                }
            }
            0x0204 => {
                let mut reader = Biff { chunks: vec![body], chunk: 0, at: 6 };
                if let Some(s) = reader.string() {
                    text.push_str(&s);
                    text.push('\n');
                }
            }
            _ => {}
        }
    }
    w.text(&child, text, None, false);
}

/// A reader of BIFF8 strings across a record and its CONTINUE records ([MS-XLS] 2.5.293).
struct Biff<'a> {
    chunks: Vec<&'a [u8]>,
    chunk: usize,
    at: usize,
}

impl Biff<'_> {
    fn byte(&mut self) -> Option<u8> {
        loop {
            let chunk = self.chunks.get(self.chunk)?;
            if let Some(&b) = chunk.get(self.at) {
                self.at += 1;
                return Some(b);
            }
            self.chunk += 1;
            self.at = 0;
        }
    }

    fn u16(&mut self) -> Option<u16> {
        Some(u16::from_le_bytes([self.byte()?, self.byte()?]))
    }

    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes([self.byte()?, self.byte()?, self.byte()?, self.byte()?]))
    }

    fn skip(&mut self, count: usize) -> Option<()> {
        for _ in 0..count {
            self.byte()?;
        }
        Some(())
    }

    /// An XLUnicodeRichExtendedString. Characters continued in the next record start with
    /// a fresh flags byte saying whether they are 8- or 16-bit.
    fn string(&mut self) -> Option<String> {
        let count = usize::from(self.u16()?);
        let flags = self.byte()?;
        let mut wide = flags & 0x01 != 0;
        let runs = if flags & 0x08 != 0 { usize::from(self.u16()?) } else { 0 };
        let ext = if flags & 0x04 != 0 { usize::try_from(self.u32()?).ok()? } else { 0 };
        let mut units = Vec::with_capacity(count);
        for _ in 0..count {
            if self.chunks.get(self.chunk).is_some_and(|c| self.at >= c.len()) {
                self.chunk += 1;
                self.at = 0;
                wide = self.byte()? & 0x01 != 0;
            }
            units.push(if wide { self.u16()? } else { u16::from(self.byte()?) });
        }
        self.skip(runs * 4)?;
        self.skip(ext)?;
        Some(String::from_utf16_lossy(&units))
    }
}
