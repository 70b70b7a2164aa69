//! Metafiles built record by record from the layouts of [MS-EMF], [MS-EMFPLUS] and
//! [MS-EMFSPOOL], and what reading them must give.

use super::*;
use crate::extract::{Content, Extraction, Limits, Verdict, extract};

/// A record: type, size (header included, padded to four bytes), body.
fn record(kind: u32, body: &[u8]) -> Vec<u8> {
    let padded = body.len().next_multiple_of(4);
    let mut out = Vec::new();
    out.extend_from_slice(&kind.to_le_bytes());
    out.extend_from_slice(&u32::try_from(8 + padded).expect("size").to_le_bytes());
    out.extend_from_slice(body);
    out.resize(8 + padded, 0);
    out
}

/// EMR_HEADER (2.3.4.2): bounds, frame, then the " EMF" signature at byte 40 of the record.
fn header() -> Vec<u8> {
    let mut body = vec![0u8; 80];
    body[32..36].copy_from_slice(b" EMF");
    body[36..40].copy_from_slice(&0x0001_0000u32.to_le_bytes());
    record(EMR_HEADER, &body)
}

fn eof() -> Vec<u8> {
    record(EMR_EOF, &[0; 12])
}

/// EMR_EXTTEXTOUTW or A (2.3.5.8): bounds, graphics mode, scales (bytes 8..36), the EMRTEXT
/// (36..76), then the string and the advances, `advance` per character.
fn text_out(wide: bool, x: i32, y: i32, text: &str, advance: i32, options: u32) -> Vec<u8> {
    let string: Vec<u8> =
        if wide { text.encode_utf16().flat_map(u16::to_le_bytes).collect() } else { text.bytes().collect() };
    let chars = if wide { text.encode_utf16().count() } else { text.len() };
    let string_at = 76usize;
    let dx_at = string_at + string.len().next_multiple_of(4);
    let mut body = vec![0u8; 28];
    body[16..20].copy_from_slice(&1u32.to_le_bytes());
    for v in [x, y] {
        body.extend_from_slice(&v.to_le_bytes());
    }
    for v in [chars, string_at, options as usize] {
        body.extend_from_slice(&u32::try_from(v).expect("u32").to_le_bytes());
    }
    body.extend_from_slice(&[0; 16]);
    body.extend_from_slice(&u32::try_from(dx_at).expect("u32").to_le_bytes());
    body.extend_from_slice(&string);
    body.resize(dx_at - 8, 0);
    for _ in 0..chars {
        body.extend_from_slice(&advance.to_le_bytes());
    }
    record(if wide { EMR_EXTTEXTOUTW } else { EMR_EXTTEXTOUTA }, &body)
}

fn metafile(records: &[Vec<u8>]) -> Vec<u8> {
    let mut out = header();
    for r in records {
        out.extend_from_slice(r);
    }
    out.extend_from_slice(&eof());
    out
}

/// An EMF spool file (2.2.2, 2.2.3.1): header with the document name, a DEVMODE record, and an
/// EMRI_METAFILE_DATA record per page.
fn spool(pages: &[Vec<u8>]) -> Vec<u8> {
    let name: Vec<u8> = "Kế hoạch.docx\0".encode_utf16().flat_map(u16::to_le_bytes).collect();
    let size = (16 + name.len()).next_multiple_of(4);
    let mut out = Vec::new();
    for v in [SPOOL_VERSION, u32::try_from(size).expect("size"), 16, 0] {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out.extend_from_slice(&name);
    out.resize(size, 0);
    let mut data_record = |kind: u32, data: &[u8]| {
        out.extend_from_slice(&kind.to_le_bytes());
        out.extend_from_slice(&u32::try_from(data.len()).expect("size").to_le_bytes());
        out.extend_from_slice(data);
        out.resize(out.len().next_multiple_of(4), 0);
    };
    data_record(3, &[0xAA; 30]);
    for page in pages {
        data_record(EMRI_METAFILE_DATA, page);
    }
    out
}

fn texts(extraction: &Extraction) -> Vec<(String, String)> {
    extraction
        .parts
        .iter()
        .map(|p| match &p.content {
            Content::Text { text, .. } => (p.container_path.clone(), text.clone()),
            Content::Bytes(b) => (p.container_path.clone(), format!("bytes:{}", String::from_utf8_lossy(b))),
        })
        .collect()
}

fn reasons(extraction: &Extraction) -> Vec<(String, String)> {
    extraction
        .verdicts
        .iter()
        .map(|Verdict::CouldNotInspect { container_path, reason }| (container_path.clone(), reason.to_string()))
        .collect()
}

#[test]
fn runs_are_laid_out_in_words_and_lines() {
    let emf = metafile(&[
        // "TỐI" then "MẬT" a gap apart: two words.
        text_out(true, 100, 100, "TỐI", 20, 0),
        text_out(true, 180, 100, "MẬT", 20, 0),
        // A number drawn in two pieces that touch (100 + 7 × 10 = 170): one number.
        text_out(true, 100, 200, "0012030", 10, 0),
        text_out(true, 170, 200, "04567", 10, 0),
    ]);
    let page = page(&emf);
    assert_eq!(page.text, "TỐI MẬT\n001203004567");
    assert_eq!((page.glyph_runs, page.images, page.malformed), (0, 0, None));
    // Lines at the top of the first page are where a stamp sits: prominent, as in a PDF.
    let extraction = extract("p.emf", &emf, &Limits::default());
    assert_eq!(texts(&extraction), vec![("p.emf".into(), format!("{}\n", page.text))]);
    assert!(extraction.parts[0].prominent);
}

#[test]
fn eight_bit_runs_are_kept_as_bytes_for_the_detectors_to_decode() {
    let emf = metafile(&[text_out(false, 0, 0, "TOI MAT", 8, 0), text_out(false, 0, 20, "so 2", 8, 0)]);
    let page = page(&emf);
    assert_eq!(page.text, "");
    assert_eq!(page.ansi, b"TOI MAT\nso 2");
}

#[test]
fn glyph_index_runs_and_image_only_pages_are_said_not_inspected() {
    let emf = metafile(&[text_out(true, 0, 0, "abc", 8, ETO_GLYPH_INDEX), text_out(true, 0, 20, "đọc được", 8, 0)]);
    let extraction = extract("g.emf", &emf, &Limits::default());
    assert_eq!(texts(&extraction), vec![("g.emf".into(), "đọc được\n".into())]);
    assert_eq!(
        reasons(&extraction),
        vec![("g.emf".into(), "unsupported: 1 text runs drawn as font glyph indices (not characters)".into())]
    );
    let scan = metafile(&[record(EMR_STRETCHDIBITS, &[0; 72])]);
    let extraction = extract("scan.emf", &scan, &Limits::default());
    assert!(extraction.parts.is_empty());
    assert_eq!(
        reasons(&extraction),
        vec![("scan.emf".into(), "unsupported: page drawn as images (text in images needs OCR)".into())]
    );
}

#[test]
fn small_text_records_are_read() {
    // EMR_SMALLTEXTOUT (2.3.5.37) without bounds: x, y, count, options, mode, scales, chars.
    let mut body = Vec::new();
    for v in [5u32, 6, 3, ETO_NO_RECT | ETO_SMALL_CHARS, 1, 0, 0] {
        body.extend_from_slice(&v.to_le_bytes());
    }
    body.extend_from_slice(b"M\xc2T");
    let page = page(&metafile(&[record(EMR_SMALLTEXTOUT, &body)]));
    assert_eq!(page.text, "MÂT");
}

/// An EMR_COMMENT holding EMF+ records: a header (dual or not) and a DrawString.
fn plus_comment(dual: bool, text: &str) -> Vec<u8> {
    let mut plus = Vec::new();
    let mut plus_record = |kind: u16, flags: u16, data: &[u8]| {
        plus.extend_from_slice(&kind.to_le_bytes());
        plus.extend_from_slice(&flags.to_le_bytes());
        plus.extend_from_slice(&u32::try_from(12 + data.len()).expect("size").to_le_bytes());
        plus.extend_from_slice(&u32::try_from(data.len()).expect("size").to_le_bytes());
        plus.extend_from_slice(data);
    };
    plus_record(EMF_PLUS_HEADER, u16::from(dual), &[0; 16]);
    let string: Vec<u8> = text.encode_utf16().flat_map(u16::to_le_bytes).collect();
    let mut draw = Vec::new();
    for v in [0u32, 0, u32::try_from(text.encode_utf16().count()).expect("len")] {
        draw.extend_from_slice(&v.to_le_bytes());
    }
    for f in [10.0f32, 20.0, 300.0, 40.0] {
        draw.extend_from_slice(&f.to_le_bytes());
    }
    draw.extend_from_slice(&string);
    draw.resize(draw.len().next_multiple_of(4), 0);
    plus_record(EMF_PLUS_DRAW_STRING, 0, &draw);
    let mut body = u32::try_from(4 + plus.len()).expect("size").to_le_bytes().to_vec();
    body.extend_from_slice(&EMF_PLUS.to_le_bytes());
    body.extend_from_slice(&plus);
    record(EMR_COMMENT, &body)
}

#[test]
fn emf_plus_strings_are_read_once() {
    assert_eq!(page(&metafile(&[plus_comment(false, "TỐI MẬT")])).text, "TỐI MẬT");
    // Dual: the EMF records draw the same text, which is what is read.
    let dual = metafile(&[plus_comment(true, "TỐI MẬT"), text_out(true, 10, 20, "TỐI MẬT", 9, 0)]);
    assert_eq!(page(&dual).text, "TỐI MẬT");
}

#[test]
fn spool_files_give_a_part_per_page() {
    let one = metafile(&[text_out(true, 0, 0, "Trang một", 9, 0)]);
    let two = metafile(&[text_out(true, 0, 0, "Số CCCD 001203004567", 9, 0)]);
    let spl = spool(&[one, two]);
    assert!(is_spool(&spl) && !is_metafile(&spl));
    let extraction = extract("00012.SPL", &spl, &Limits::default());
    assert_eq!(
        texts(&extraction),
        vec![
            ("00012.SPL/page[1]".into(), "Trang một\n".into()),
            ("00012.SPL/page[2]".into(), "Số CCCD 001203004567\n".into())
        ]
    );
    assert_eq!(extraction.parts.iter().map(|p| p.prominent).collect::<Vec<_>>(), vec![true, false]);
    assert!(extraction.verdicts.is_empty(), "{:?}", extraction.verdicts);
}

#[test]
fn cut_or_damaged_input_gives_verdicts_never_a_panic() {
    let emf = metafile(&[text_out(true, 0, 0, "TỐI MẬT", 9, 0), plus_comment(false, "x")]);
    let spl = spool(&[emf.clone(), emf.clone()]);
    for cut in 0..spl.len() {
        let _ = extract("cut.SPL", &spl[..cut], &Limits::default());
    }
    for cut in 0..emf.len() {
        let _ = page(&emf[..cut]);
    }
    // A record claiming to be larger than the file ends the page with a verdict.
    let mut bad = emf.clone();
    let at = header().len() + 4;
    bad[at..at + 4].copy_from_slice(&0xFFFF_FFF0u32.to_le_bytes());
    let extraction = extract("bad.emf", &bad, &Limits::default());
    assert!(extraction.parts.is_empty());
    assert_eq!(extraction.verdicts.len(), 1, "{:?}", extraction.verdicts);
    // Offsets pointing outside their record read nothing.
    let mut wild = text_out(true, 0, 0, "abc", 9, 0);
    wild[48..52].copy_from_slice(&0x7FFF_FFFFu32.to_le_bytes());
    assert_eq!(page(&metafile(&[wild])).text, "");
    // A page record that is not a metafile.
    let extraction = extract("x.SPL", &spool(&[b"not a metafile".to_vec()]), &Limits::default());
    assert_eq!(
        reasons(&extraction),
        vec![("x.SPL/page[1]".into(), "corrupt: the page is not an enhanced metafile".into())]
    );
}

#[test]
fn runs_sharing_one_string_cannot_make_more_text_than_the_file() {
    // EMR_POLYTEXTOUTW (2.3.5.33): bounds, mode, scales, count, then EMRTEXTs; all 2000 point
    // at the same 400-character string.
    let (count, chars) = (2000usize, 400usize);
    let string_at = 8 + 32 + 40 * count;
    let mut body = vec![0u8; 28];
    body.extend_from_slice(&u32::try_from(count).expect("count").to_le_bytes());
    for i in 0..count {
        let y = i32::try_from(i).expect("y");
        body.extend_from_slice(&0i32.to_le_bytes());
        body.extend_from_slice(&y.to_le_bytes());
        for v in [chars, string_at, 0, 0, 0, 0, 0, 0] {
            body.extend_from_slice(&u32::try_from(v).expect("u32").to_le_bytes());
        }
    }
    body.extend("x".repeat(chars).encode_utf16().flat_map(u16::to_le_bytes));
    let emf = metafile(&[record(EMR_POLYTEXTOUTW, &body)]);
    let page = page(&emf);
    assert!(page.text.len() <= 2 * emf.len(), "{} bytes of text from {}", page.text.len(), emf.len());
    assert!(page.malformed.is_some_and(|m| m.contains("more text than the metafile holds")));
}

#[test]
fn flipped_bytes_never_panic_and_text_stays_bounded() {
    let emf = metafile(&[
        text_out(true, 0, 0, "TỐI MẬT", 9, 0),
        text_out(false, 0, 9, "abc", 9, ETO_PDY),
        plus_comment(false, "x"),
        record(EMR_STRETCHDIBITS, &[0; 72]),
    ]);
    let spl = spool(&[emf.clone(), emf]);
    // xorshift64: the same bytes flipped on every run.
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for _ in 0..3000 {
        let mut bytes = spl.clone();
        for _ in 0..1 + next() % 4 {
            let at = (next() % bytes.len() as u64) as usize;
            bytes[at] = next() as u8;
        }
        let extraction = extract("f.SPL", &bytes, &Limits::default());
        let text: usize = extraction
            .parts
            .iter()
            .map(|p| match &p.content {
                Content::Text { text, .. } => text.len(),
                Content::Bytes(b) => b.len(),
            })
            .sum();
        // UTF-16 becomes at most 3 bytes of UTF-8 a unit, plus a separator a run.
        assert!(text <= 3 * bytes.len(), "{text} bytes of text from {}", bytes.len());
    }
}
