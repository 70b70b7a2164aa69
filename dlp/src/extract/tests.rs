//! Documents the tests write themselves — docx/xlsx/pptx/odt, PDF, .doc, e-mail, zip in zip —
//! with planted and decoy data, asserting exact findings (detector, count, container path);
//! and hostile documents (bombs, deep nesting, malformed files, huge lines) that must end in
//! bounded time with a clear verdict.

use super::*;
use crate::{Confidence, Config, DetectorId};
use std::io::{Cursor, Write};
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipWriter};

fn set() -> DetectorSet {
    match DetectorSet::new(Config { current_year: 2026, ..Config::default() }) {
        Ok(set) => set,
        Err(e) => panic!("detectors do not build: {e}"),
    }
}

fn zip_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut writer = ZipWriter::new(Cursor::new(Vec::new()));
    let options = SimpleFileOptions::default().compression_method(CompressionMethod::Deflated);
    for (name, data) in entries {
        writer.start_file(*name, options).expect("start zip entry");
        writer.write_all(data).expect("write zip entry");
    }
    writer.finish().expect("finish zip").into_inner()
}

/// (detector, count, container path) of every finding, sorted.
fn summary(findings: &[Finding]) -> Vec<(String, usize, String)> {
    let mut out: Vec<_> = findings.iter().map(|f| (f.detector.to_string(), f.count, f.location.part.clone())).collect();
    out.sort();
    out
}

fn scan(name: &str, bytes: &[u8]) -> (Vec<(String, usize, String)>, Extraction) {
    let extraction = extract(name, bytes, &Limits::default());
    let result = scan_extraction(&set(), &extraction, [0; 32]);
    (summary(&result.findings), extraction)
}

fn expect(list: &[(&str, usize, &str)]) -> Vec<(String, usize, String)> {
    let mut out: Vec<_> = list.iter().map(|(d, c, p)| (d.to_string(), *c, p.to_string())).collect();
    out.sort();
    out
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

const W: &str = r#"xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main" xmlns:mc="http://schemas.openxmlformats.org/markup-compatibility/2006" xmlns:wps="http://schemas.microsoft.com/office/word/2010/wordprocessingShape""#;

/// A WordprocessingML run in `font` (none: inherited).
fn run(font: Option<&str>, text: &str) -> String {
    let properties =
        font.map_or(String::new(), |f| format!(r#"<w:rPr><w:rFonts w:ascii="{f}" w:hAnsi="{f}"/></w:rPr>"#));
    format!(r#"<w:r>{properties}<w:t xml:space="preserve">{}</w:t></w:r>"#, escape(text))
}

fn paragraph(runs: &str) -> String {
    format!("<w:p>{runs}</w:p>")
}

fn docx(body: &str, header: &str, styles: &str) -> Vec<u8> {
    let document =
        format!(r#"<?xml version="1.0" encoding="UTF-8"?><w:document {W}><w:body>{body}</w:body></w:document>"#);
    let header = format!(r#"<?xml version="1.0" encoding="UTF-8"?><w:hdr {W}>{header}</w:hdr>"#);
    let styles = format!(r#"<?xml version="1.0" encoding="UTF-8"?><w:styles {W}>{styles}</w:styles>"#);
    zip_of(&[
        ("[Content_Types].xml", b"<Types/>"),
        ("_rels/.rels", b"<Relationships/>"),
        ("word/document.xml", document.as_bytes()),
        ("word/header1.xml", header.as_bytes()),
        ("word/styles.xml", styles.as_bytes()),
        ("docProps/app.xml", b"<Properties><Company>MAT</Company></Properties>"),
    ])
}

/// The planted docx: a TCVN3 `.VnTime` run of MẬT (`MËT`), a VNI run of TỐI MẬT
/// (`TOÁI MAÄT`), a CCCD, a text box with the envelope stamp, the "Độ mật" field in the
/// header, a paragraph whose style is `.VnTimeH` holding TÀI LIỆU THU HỒI; decoys: mật khẩu,
/// MẶT TRẬN, and an invalid CCCD.
fn planted_docx() -> Vec<u8> {
    let text_box = format!(
        r#"<w:r><mc:AlternateContent><mc:Choice Requires="wps"><w:drawing><wps:txbx><w:txbxContent>{}</w:txbxContent></wps:txbx></w:drawing></mc:Choice><mc:Fallback><w:pict><w:txbxContent>{}</w:txbxContent></w:pict></mc:Fallback></mc:AlternateContent></w:r>"#,
        paragraph(&run(None, "Chỉ người có tên mới được bóc bì")),
        paragraph(&run(None, "Chỉ người có tên mới được bóc bì")),
    );
    let body = [
        paragraph(&run(Some(".VnTime"), "MËT")),
        paragraph(&run(Some("VNI-Times"), "TOÁI MAÄT")),
        paragraph(&format!("{}{}", run(None, "Số CCCD: "), run(Some("Times New Roman"), "056090000123"))),
        paragraph(&format!("{}{text_box}", run(None, "Kính gửi các đơn vị"))),
        paragraph(&run(None, "Vui lòng nhập mật khẩu")),
        paragraph(&run(None, "MẶT TRẬN TỔ QUỐC VIỆT NAM")),
        paragraph(&run(None, "Số CCCD: 003090000123")),
        r#"<w:p><w:pPr><w:pStyle w:val="Stamp"/></w:pPr><w:r><w:t>TµI LIÖU THU HåI</w:t></w:r></w:p>"#.to_string(),
    ]
    .concat();
    let styles = r#"<w:docDefaults><w:rPrDefault><w:rPr><w:rFonts w:ascii="Times New Roman" w:hAnsi="Times New Roman"/></w:rPr></w:rPrDefault></w:docDefaults><w:style w:type="paragraph" w:styleId="Base"><w:rPr><w:rFonts w:ascii=".VnTimeH" w:hAnsi=".VnTimeH"/></w:rPr></w:style><w:style w:type="paragraph" w:styleId="Stamp"><w:basedOn w:val="Base"/></w:style>"#;
    docx(&body, &paragraph(&run(None, "Độ mật: Tối mật")), styles)
}

#[test]
fn docx_font_runs_text_boxes_headers_and_styles() {
    let (findings, extraction) = scan("plan.docx", &planted_docx());
    assert!(extraction.verdicts.is_empty(), "{:?}", extraction.verdicts);
    let doc = "plan.docx/word/document.xml";
    assert_eq!(
        findings,
        expect(&[
            ("cccd", 1, doc),
            ("M2", 1, doc),
            ("M3", 1, doc),
            ("M4", 1, "plan.docx/word/header1.xml"),
            ("M5", 1, doc),
            ("M6", 1, doc),
        ])
    );
    // The TCVN3 run is its own part, marked with its font's encoding.
    assert!(
        extraction.parts.iter().any(|p| p.content
            == Content::Text { text: "MËT\n".into(), encoding: Some(Encoding::Tcvn3) }
            && p.prominent)
    );
}

#[test]
fn xlsx_shared_strings_rich_runs_and_cells() {
    let shared = r#"<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><si><t>Mã số thuế 4200000029-001</t></si><si><r><rPr><rFont val=".VnTime"/></rPr><t>TUYÖT MËT</t></r></si><si><t>MST: 4200000012</t></si></sst>"#;
    let sheet = r#"<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData><row r="1"><c r="A1" t="s"><v>0</v></c><c r="B1" t="inlineStr"><is><t>ĐT: 0912 345 678</t></is></c><c r="C1"><v>42</v></c></row><row r="2"><c r="A2" t="inlineStr"><is><t>Số CCCD:</t></is></c><c r="B2"><v>0</v></c><c r="C2"><v>5</v></c><c r="D2"><v>6</v></c><c r="E2"><v>0</v></c><c r="F2"><v>9</v></c><c r="G2"><v>0</v></c><c r="H2"><v>0</v></c><c r="I2"><v>0</v></c><c r="J2"><v>0</v></c><c r="K2"><v>1</v></c><c r="L2"><v>2</v></c><c r="M2"><v>3</v></c></row></sheetData></worksheet>"#;
    let xlsx = zip_of(&[
        ("[Content_Types].xml", b"<Types/>"),
        ("xl/sharedStrings.xml", shared.as_bytes()),
        ("xl/worksheets/sheet1.xml", sheet.as_bytes()),
        ("xl/styles.xml", b"<styleSheet/>"),
    ]);
    let (findings, extraction) = scan("book.xlsx", &xlsx);
    assert!(extraction.verdicts.is_empty(), "{:?}", extraction.verdicts);
    assert_eq!(
        findings,
        expect(&[
            ("M1", 1, "book.xlsx/xl/sharedStrings.xml"),
            ("cccd", 1, "book.xlsx/xl/worksheets/sheet1.xml"),
            ("mst", 1, "book.xlsx/xl/sharedStrings.xml"),
            ("phone", 1, "book.xlsx/xl/worksheets/sheet1.xml"),
        ])
    );
}

#[test]
fn pptx_slides_and_notes() {
    let a = r#"xmlns:a="http://schemas.openxmlformats.org/drawingml/2006/main" xmlns:p="http://schemas.openxmlformats.org/presentationml/2006/main""#;
    let slide = format!(
        r#"<p:sld {a}><p:cSld><p:spTree><p:sp><p:txBody><a:p><a:r><a:t>TÀI LIỆU THU HỒI</a:t></a:r></a:p><a:p><a:r><a:rPr><a:latin typeface="VNI-Times"/></a:rPr><a:t>TUYEÄT MAÄT</a:t></a:r></a:p></p:txBody></p:sp></p:spTree></p:cSld></p:sld>"#
    );
    let notes = format!(
        r#"<p:notes {a}><p:txBody><a:p><a:r><a:t>Liên hệ dlp.test@example.gov.vn</a:t></a:r></a:p></p:txBody></p:notes>"#
    );
    let layout = format!(r#"<p:sldLayout {a}><a:p><a:r><a:t>MẬT</a:t></a:r></a:p></p:sldLayout>"#);
    let pptx = zip_of(&[
        ("[Content_Types].xml", b"<Types/>"),
        ("ppt/slides/slide1.xml", slide.as_bytes()),
        ("ppt/notesSlides/notesSlide1.xml", notes.as_bytes()),
        ("ppt/slideLayouts/slideLayout1.xml", layout.as_bytes()),
    ]);
    let (findings, extraction) = scan("deck.pptx", &pptx);
    assert!(extraction.verdicts.is_empty(), "{:?}", extraction.verdicts);
    assert_eq!(
        findings,
        expect(&[
            ("M1", 1, "deck.pptx/ppt/slides/slide1.xml"),
            ("M5", 1, "deck.pptx/ppt/slides/slide1.xml"),
            ("email", 1, "deck.pptx/ppt/notesSlides/notesSlide1.xml"),
        ])
    );
}

#[test]
fn odt_content_headers_and_box_digits() {
    let ns = r#"xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" xmlns:style="urn:oasis:names:tc:opendocument:xmlns:style:1.0""#;
    let cells: String =
        "056090000123".chars().map(|d| format!("<table:table-cell><text:p>{d}</text:p></table:table-cell>")).collect();
    let content = format!(
        r#"<office:document-content {ns}><office:body><office:text><text:p>Thẻ BHYT: HC4565600000123</text:p><text:p>Số CCCD:</text:p><table:table><table:table-row>{cells}</table:table-row></table:table><text:p>Mật ong rừng</text:p></office:text></office:body></office:document-content>"#
    );
    let styles = format!(
        r#"<office:document-styles {ns}><office:master-styles><style:master-page><style:header><text:p>LƯU HÀNH NỘI BỘ</text:p></style:header></style:master-page></office:master-styles></office:document-styles>"#
    );
    let odt = zip_of(&[
        ("mimetype", b"application/vnd.oasis.opendocument.text"),
        ("META-INF/manifest.xml", b"<manifest:manifest/>"),
        ("content.xml", content.as_bytes()),
        ("styles.xml", styles.as_bytes()),
        ("Thumbnails/thumbnail.png", b"\x89PNG\r\n\x1a\n"),
    ]);
    let (findings, extraction) = scan("report.odt", &odt);
    assert!(extraction.verdicts.is_empty(), "{:?}", extraction.verdicts);
    assert_eq!(
        findings,
        expect(&[
            ("C1", 1, "report.odt/styles.xml"),
            ("bhyt", 1, "report.odt/content.xml"),
            ("cccd", 1, "report.odt/content.xml")
        ])
    );
}

/// A PDF with correct cross-reference offsets, from object bodies numbered from 1.
fn pdf_of(objects: &[String]) -> Vec<u8> {
    let mut out = b"%PDF-1.4\n".to_vec();
    let mut offsets = Vec::new();
    for (index, body) in objects.iter().enumerate() {
        offsets.push(out.len());
        out.extend_from_slice(format!("{} 0 obj\n{body}\nendobj\n", index + 1).as_bytes());
    }
    let xref = out.len();
    out.extend_from_slice(format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1).as_bytes());
    for offset in offsets {
        out.extend_from_slice(format!("{offset:010} 00000 n \n").as_bytes());
    }
    let trailer =
        format!("trailer\n<< /Size {} /Root 1 0 R /Info 8 0 R >>\nstartxref\n{xref}\n%%EOF\n", objects.len() + 1);
    out.extend_from_slice(trailer.as_bytes());
    out
}

fn stream(content: &str) -> String {
    format!("<< /Length {} >>\nstream\n{content}\nendstream", content.len())
}

fn utf16_hex(text: &str) -> String {
    let mut hex = String::from("FEFF");
    for unit in text.encode_utf16() {
        hex.push_str(&format!("{unit:04X}"));
    }
    hex
}

fn planted_pdf() -> Vec<u8> {
    // Page 1: a `.VnTime` font (TCVN3 bytes of TUYỆT MẬT) and a CCCD in the same font;
    // page 2: Helvetica with an e-mail address and a stamp annotation.
    let page1 = "BT /F1 14 Tf 72 760 Td <545559D654204DCB54> Tj 0 -20 Td (So CCCD: 056090000123) Tj ET";
    let page2 = "BT /F2 12 Tf 72 700 Td (Lien he dlp.test@example.gov.vn) Tj ET";
    pdf_of(&[
        "<< /Type /Catalog /Pages 2 0 R >>".into(),
        "<< /Type /Pages /Kids [3 0 R 5 0 R] /Count 2 >>".into(),
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 7 0 R >> >> /Contents 4 0 R >>".into(),
        stream(page1),
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F2 9 0 R >> >> /Contents 6 0 R /Annots [10 0 R] >>".into(),
        stream(page2),
        "<< /Type /Font /Subtype /Type1 /BaseFont /ABCDEF+.VnTime /Encoding /WinAnsiEncoding >>".into(),
        format!("<< /Title <{}> /Producer (test) >>", utf16_hex("Kế hoạch")),
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>".into(),
        format!("<< /Type /Annot /Subtype /Stamp /Rect [0 0 100 50] /Contents <{}> >>", utf16_hex("TÀI LIỆU THU HỒI")),
    ])
}

#[test]
fn pdf_pages_legacy_fonts_and_annotations() {
    let (findings, extraction) = scan("plan.pdf", &planted_pdf());
    assert!(extraction.verdicts.is_empty(), "{:?}", extraction.verdicts);
    assert_eq!(
        findings,
        expect(&[
            ("M1", 1, "plan.pdf/page[1]"),
            ("M5", 1, "plan.pdf/page[2]/annotations"),
            ("cccd", 1, "plan.pdf/page[1]"),
            ("email", 1, "plan.pdf/page[2]"),
        ])
    );
}

fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |n, (i, &b)| n | u32::from(b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> (18 - 6 * i) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
        if out.len() % 77 == 76 {
            out.push('\n');
        }
    }
    out
}

#[test]
fn eml_headers_bodies_and_attachments_recurse() {
    let subject = format!("=?UTF-8?B?{}?=", base64("[MẬT] Kế hoạch".as_bytes()));
    let mail = format!(
        "From: a@example.gov.vn\r\nTo: b@example.gov.vn\r\nSubject: {subject}\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"XX\"\r\n\r\n--XX\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n{}\r\n--XX\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>G&#7885;i 0912&nbsp;345&nbsp;678</p>\r\n--XX\r\nContent-Type: application/vnd.openxmlformats-officedocument.wordprocessingml.document; name=\"plan.docx\"\r\nContent-Disposition: attachment; filename=\"plan.docx\"\r\nContent-Transfer-Encoding: base64\r\n\r\n{}\r\n--XX--\r\n",
        base64("Số CCCD: 058301000456".as_bytes()),
        base64(&planted_docx()),
    );
    let (findings, extraction) = scan("mail.eml", mail.as_bytes());
    assert!(extraction.verdicts.is_empty(), "{:?}", extraction.verdicts);
    let doc = "mail.eml/attachment[1]:plan.docx/word/document.xml";
    assert_eq!(
        findings,
        expect(&[
            ("M2", 1, doc),
            ("M3", 2, "mail.eml/headers"),
            ("M4", 1, "mail.eml/attachment[1]:plan.docx/word/header1.xml"),
            ("M5", 1, doc),
            ("M6", 1, doc),
            ("cccd", 2, "mail.eml/body[1]"),
            ("email", 2, "mail.eml/headers"),
            ("phone", 1, "mail.eml/body[2]"),
        ])
    );
}

#[test]
fn zip_in_zip_nfd_text_and_utf16() {
    let nfd = "TO\u{302}\u{301}I MA\u{323}\u{302}T\n".as_bytes().to_vec();
    let utf16: Vec<u8> = "\u{feff}CCCD 001185999999\n".encode_utf16().flat_map(u16::to_le_bytes).collect();
    let inner = zip_of(&[("nfd.txt", &nfd), ("ids.txt", &utf16)]);
    let outer = zip_of(&[("inner.zip", &inner), ("readme.txt", b"nothing here")]);
    let (findings, extraction) = scan("outer.zip", &outer);
    assert!(extraction.verdicts.is_empty(), "{:?}", extraction.verdicts);
    assert_eq!(
        findings,
        expect(&[("M2", 1, "outer.zip/inner.zip/nfd.txt"), ("cccd", 1, "outer.zip/inner.zip/ids.txt")])
    );
}

/// A Word 97 document: a FIB, a font table, character formatting (one FKP page) and a
/// piece table of three pieces: 8-bit TCVN3 bytes of TUYỆT MẬT in a `.VnTime` run, a
/// 16-bit Unicode CCCD line with no font of its own, 8-bit VNI bytes of TỐI MẬT in a
/// `VNI-Times` run.
fn planted_doc() -> Vec<u8> {
    let tcvn3 = b"TUY\xD6T M\xCBT\r";
    let unicode: Vec<u8> = "S\u{1ed1} CCCD: 056090000123\r".encode_utf16().flat_map(u16::to_le_bytes).collect();
    let vni = b"TO\xC1I MA\xC4T\r";
    let mut word = vec![0u8; 0x800];
    word[0..2].copy_from_slice(&0xA5ECu16.to_le_bytes());
    word[2..4].copy_from_slice(&0x00C1u16.to_le_bytes());
    word[0x20..0x22].copy_from_slice(&14u16.to_le_bytes());
    word[0x3E..0x40].copy_from_slice(&22u16.to_le_bytes());
    let total = (tcvn3.len() + unicode.len() / 2 + vni.len()) as u32;
    word[0x40 + 12..0x40 + 16].copy_from_slice(&total.to_le_bytes());
    word[0x98..0x9A].copy_from_slice(&93u16.to_le_bytes());
    let at_tcvn3 = word.len();
    word.extend_from_slice(tcvn3);
    let at_unicode = word.len();
    word.extend_from_slice(&unicode);
    let at_vni = word.len();
    word.extend_from_slice(vni);
    // The FKP page (page 2 of the stream): three runs, the first in font 1, the last in
    // font 2, the middle one without character formatting.
    let fkp = 0x400;
    let bounds = [at_tcvn3, at_unicode, at_vni, at_vni + vni.len()];
    for (i, bound) in bounds.iter().enumerate() {
        word[fkp + 4 * i..fkp + 4 * i + 4].copy_from_slice(&(*bound as u32).to_le_bytes());
    }
    for (run, (chpx, font)) in [(0x100usize, Some(1u16)), (0, None), (0x110, Some(2))].into_iter().enumerate() {
        word[fkp + 16 + run] = (chpx / 2) as u8;
        if let Some(font) = font {
            word[fkp + chpx] = 4;
            word[fkp + chpx + 1..fkp + chpx + 3].copy_from_slice(&0x4A4Fu16.to_le_bytes());
            word[fkp + chpx + 3..fkp + chpx + 5].copy_from_slice(&font.to_le_bytes());
        }
    }
    word[fkp + 511] = 3;
    // Table stream: the font table, the piece table, the PlcBteChpx.
    let mut table = Vec::new();
    let fonts = ["Times New Roman", ".VnTime", "VNI-Times"];
    table.extend_from_slice(&(fonts.len() as u16).to_le_bytes());
    table.extend_from_slice(&0u16.to_le_bytes());
    for font in fonts {
        let mut ffn = vec![0u8; 39];
        ffn.extend(font.encode_utf16().chain([0]).flat_map(u16::to_le_bytes));
        table.push(ffn.len() as u8);
        table.extend_from_slice(&ffn);
    }
    let fonts_lcb = table.len();
    let clx_at = table.len();
    let mut plc = Vec::new();
    let cps = [0, tcvn3.len(), tcvn3.len() + unicode.len() / 2, total as usize];
    for cp in cps {
        plc.extend_from_slice(&(cp as u32).to_le_bytes());
    }
    for fc in [(at_tcvn3 as u32 * 2) | 0x4000_0000, at_unicode as u32, (at_vni as u32 * 2) | 0x4000_0000] {
        plc.extend_from_slice(&[0, 0]);
        plc.extend_from_slice(&fc.to_le_bytes());
        plc.extend_from_slice(&[0, 0]);
    }
    table.push(2);
    table.extend_from_slice(&(plc.len() as u32).to_le_bytes());
    table.extend_from_slice(&plc);
    let clx_lcb = table.len() - clx_at;
    let chpx_at = table.len();
    for value in [at_tcvn3 as u32, (at_vni + vni.len()) as u32, (fkp / 512) as u32] {
        table.extend_from_slice(&value.to_le_bytes());
    }
    let pair = |word: &mut Vec<u8>, index: usize, fc: usize, lcb: usize| {
        let at = 0x9A + 8 * index;
        word[at..at + 4].copy_from_slice(&(fc as u32).to_le_bytes());
        word[at + 4..at + 8].copy_from_slice(&(lcb as u32).to_le_bytes());
    };
    pair(&mut word, 12, chpx_at, 12);
    pair(&mut word, 15, 0, fonts_lcb);
    pair(&mut word, 33, clx_at, clx_lcb);
    ole_of(&[("/WordDocument", &word), ("/0Table", &table)])
}

fn ole_of(streams: &[(&str, &[u8])]) -> Vec<u8> {
    let mut file = cfb::CompoundFile::create(Cursor::new(Vec::new())).expect("create compound file");
    for (name, data) in streams {
        file.create_stream(name).expect("create stream").write_all(data).expect("write stream");
    }
    file.flush().expect("flush compound file");
    file.into_inner().into_inner()
}

#[test]
fn doc_piece_table_and_per_run_legacy_fonts() {
    let (findings, extraction) = scan("old.doc", &planted_doc());
    assert!(extraction.verdicts.is_empty(), "{:?}", extraction.verdicts);
    let part = "old.doc/WordDocument";
    assert_eq!(findings, expect(&[("M1", 1, part), ("M2", 1, part), ("cccd", 1, part)]));
    // Each run is read in its own font's encoding.
    let text = |encoding| {
        extraction.parts.iter().find_map(|p| match &p.content {
            Content::Text { text, encoding: e } if *e == encoding => Some(text.clone()),
            _ => None,
        })
    };
    assert_eq!(text(Some(Encoding::Tcvn3)).as_deref(), Some("TUYÖT MËT\n"));
    assert_eq!(text(Some(Encoding::Vni)).as_deref(), Some("TOÁI MAÄT\n"));
    assert_eq!(text(None).as_deref(), Some("Số CCCD: 056090000123\n"));
}

fn verdicts(extraction: &Extraction) -> Vec<(String, Reason)> {
    extraction
        .verdicts
        .iter()
        .map(|Verdict::CouldNotInspect { container_path, reason }| (container_path.clone(), reason.clone()))
        .collect()
}

#[test]
fn zip_bomb_is_refused_by_ratio_and_the_rest_is_read() {
    let zeros = vec![0u8; 8 << 20];
    let bomb = zip_of(&[("zeros.bin", &zeros), ("note.txt", b"CCCD 001185999999")]);
    let (findings, extraction) = scan("bomb.zip", &bomb);
    let verdicts = verdicts(&extraction);
    assert_eq!(verdicts.len(), 1, "{verdicts:?}");
    assert_eq!(verdicts[0].0, "bomb.zip/zeros.bin");
    assert!(matches!(&verdicts[0].1, Reason::OverLimit(why) if why.contains("ratio")), "{verdicts:?}");
    assert_eq!(findings, expect(&[("cccd", 1, "bomb.zip/note.txt")]));
}

#[test]
fn total_and_entry_caps_give_verdicts() {
    let limits = Limits { max_total_bytes: 100, max_entries: 3, ..Limits::default() };
    let entries: Vec<(String, Vec<u8>)> = (0..6).map(|i| (format!("{i}.txt"), vec![b'a'; 40])).collect();
    let refs: Vec<(&str, &[u8])> = entries.iter().map(|(n, d)| (n.as_str(), d.as_slice())).collect();
    let extraction = extract("many.zip", &zip_of(&refs), &limits);
    let verdicts = verdicts(&extraction);
    assert!(
        verdicts
            .iter()
            .any(|(p, r)| p == "many.zip/2.txt" && matches!(r, Reason::OverLimit(w) if w.contains("in all")))
    );
    assert!(
        verdicts
            .iter()
            .any(|(p, r)| p == "many.zip/3.txt" && matches!(r, Reason::OverLimit(w) if w.contains("entries")))
    );
    assert_eq!(extraction.parts.len(), 2);
}

#[test]
fn fifty_nested_zips_stop_at_the_depth_cap() {
    let mut bytes = zip_of(&[("secret.txt", b"CCCD 001185999999")]);
    for _ in 0..50 {
        bytes = zip_of(&[("nested.zip", &bytes)]);
    }
    let extraction = extract("deep.zip", &bytes, &Limits::default());
    let verdicts = verdicts(&extraction);
    assert_eq!(verdicts.len(), 1, "{verdicts:?}");
    let expected_path = format!("deep.zip{}", "/nested.zip".repeat(8));
    assert_eq!(verdicts[0].0, expected_path);
    assert!(matches!(&verdicts[0].1, Reason::OverLimit(why) if why.contains("nested")));
    assert!(extraction.parts.is_empty());
}

#[test]
fn malformed_documents_are_corrupt_not_silent() {
    // OOXML whose XML is cut off: what was read is kept, the part is reported.
    let truncated = zip_of(&[
        ("[Content_Types].xml", b"<Types/>"),
        ("word/document.xml", "<w:document><w:body><w:p><w:r><w:t>TUYỆT MẬT</w:t></w:r></w:p><w:p></w:bod".as_bytes()),
    ]);
    let (findings, extraction) = scan("cut.docx", &truncated);
    assert_eq!(findings, expect(&[("M1", 1, "cut.docx/word/document.xml")]));
    assert!(matches!(&verdicts(&extraction)[..], [(p, Reason::Corrupt(_))] if p == "cut.docx/word/document.xml"));

    let mut pdf = planted_pdf();
    pdf.truncate(pdf.len() / 3);
    pdf.extend_from_slice(b"garbage");
    let extraction = extract("cut.pdf", &pdf, &Limits::default());
    let verdicts_cut = verdicts(&extraction);
    assert!(
        !verdicts_cut.is_empty()
            && verdicts_cut.iter().all(|(p, r)| p.starts_with("cut.pdf") && matches!(r, Reason::Corrupt(_))),
        "{extraction:?}"
    );

    let mut ole = vec![0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1];
    ole.extend_from_slice(&[0x41; 600]);
    assert!(
        matches!(&verdicts(&extract("bad.doc", &ole, &Limits::default()))[..], [(p, Reason::Corrupt(_))] if p == "bad.doc")
    );

    let zip = b"PK\x03\x04 this is no zip";
    assert!(matches!(&verdicts(&extract("bad.zip", zip, &Limits::default()))[..], [(_, Reason::Corrupt(_))]));

    // A .doc whose piece table points past the stream.
    let mut doc = planted_doc();
    if let Some(at) = doc.windows(4).position(|w| w == b"TUY\xD6") {
        doc[at..at + 4].copy_from_slice(b"TUYX");
    }
    let extraction = extract("odd.doc", &doc, &Limits::default());
    assert!(extraction.verdicts.is_empty(), "a changed letter is still a document");
}

#[test]
fn encrypted_documents_are_reported() {
    let ooxml = ole_of(&[("/EncryptionInfo", b"\x04\x00\x04\x00"), ("/EncryptedPackage", &[0u8; 64])]);
    assert_eq!(
        verdicts(&extract("locked.docx", &ooxml, &Limits::default())),
        vec![("locked.docx".into(), Reason::Encrypted)]
    );

    use zip::unstable::write::FileOptionsExt;
    let mut writer = ZipWriter::new(Cursor::new(Vec::new()));
    let options = SimpleFileOptions::default().with_deprecated_encryption(b"secret").expect("password");
    writer.start_file("hidden.txt", options).expect("start");
    writer.write_all(b"TUYET MAT").expect("write");
    let zip = writer.finish().expect("finish").into_inner();
    assert_eq!(
        verdicts(&extract("locked.zip", &zip, &Limits::default())),
        vec![("locked.zip/hidden.txt".into(), Reason::Encrypted)]
    );
}

#[test]
fn huge_line_is_scanned_in_bounded_time() {
    let mut line = "xin chào ".repeat(1 << 20);
    line.push_str("CCCD 001185999999");
    let zip = zip_of(&[("big.txt", line.as_bytes())]);
    let limits = Limits { max_ratio: u64::MAX, ..Limits::default() };
    let extraction = extract("big.zip", &zip, &limits);
    assert!(extraction.verdicts.is_empty());
    let result = scan_extraction(&set(), &extraction, [0; 32]);
    assert_eq!(summary(&result.findings), expect(&[("cccd", 1, "big.zip/big.txt")]));
}

#[test]
fn time_budget_gives_a_timeout_verdict() {
    let limits = Limits { time_budget: Duration::ZERO, ..Limits::default() };
    let extraction = extract("late.docx", &planted_docx(), &limits);
    assert_eq!(verdicts(&extraction), vec![("late.docx".into(), Reason::Timeout)]);
}

#[test]
fn scan_document_caches_by_content_hash() {
    let dir = tempfile::tempdir().expect("tempdir");
    let first = dir.path().join("a.docx");
    let second = dir.path().join("b.docx");
    std::fs::write(&first, planted_docx()).expect("write");
    std::fs::write(&second, planted_docx()).expect("write");
    let extractor = Extractor::with_isolation(Limits::default(), Isolation::InProcess);
    let set = set();
    let a = extractor.scan_document(&set, &first).expect("scan a");
    assert!(!a.cached);
    let b = extractor.scan_document(&set, &second).expect("scan b");
    assert!(b.cached, "same bytes are not parsed again");
    assert_eq!(a.sha256, b.sha256);
    assert_eq!(
        summary(&b.findings),
        summary(&a.findings).into_iter().map(|(d, c, p)| (d, c, p.replacen("a.docx", "b.docx", 1))).collect::<Vec<_>>()
    );
    std::fs::write(&second, b"CCCD 001185999999").expect("rewrite");
    let changed = extractor.scan_document(&set, &second).expect("scan changed");
    assert!(!changed.cached);
    assert_eq!(summary(&changed.findings), expect(&[("cccd", 1, "b.docx")]));
}

/// An extractor whose child cannot start: whatever reaches the child fails, so a document
/// scanned without a verdict was scanned in-process. It keeps its buffers, as `scan`'s
/// does, so documents read one after another share one.
fn childless(limits: Limits, dir: &std::path::Path) -> Extractor {
    Extractor::with_isolation(limits, Isolation::Child { helper: dir.join("no-such-helper") }).keeping_buffers()
}

fn sha256(bytes: &[u8]) -> [u8; 32] {
    let mut out = [0; 32];
    out.copy_from_slice(ring::digest::digest(&ring::digest::SHA256, bytes).as_ref());
    out
}

#[test]
fn plain_text_is_scanned_without_the_child_and_containers_are_not() {
    let dir = tempfile::tempdir().expect("tempdir");
    let extractor = childless(Limits::default(), dir.path());
    let set = set();
    let text = dir.path().join("notes.txt");
    // Larger than a read chunk, so the hash is taken over several reads.
    let mut bytes = "xin chào ".repeat(100_000).into_bytes();
    bytes.extend_from_slice(b"\nCCCD 001185999999\n");
    std::fs::write(&text, &bytes).expect("write");
    let result = extractor.scan_document(&set, &text).expect("scan text");
    assert_eq!(summary(&result.findings), expect(&[("cccd", 1, "notes.txt")]));
    assert!(result.could_not_inspect.is_empty(), "{:?}", result.could_not_inspect);
    assert_eq!(result.sha256, sha256(&bytes));
    let (in_process, _) = scan("notes.txt", &bytes);
    assert_eq!(summary(&result.findings), in_process, "as the walker finds");

    // A smaller file after a larger one on this thread: nothing of the first is read again.
    let small = dir.path().join("small.txt");
    std::fs::write(&small, "xin chào").expect("write");
    let result = extractor.scan_document(&set, &small).expect("scan small");
    assert!(result.findings.is_empty() && result.could_not_inspect.is_empty());
    assert_eq!(result.sha256, sha256("xin chào".as_bytes()));

    let empty = dir.path().join("empty.txt");
    std::fs::write(&empty, b"").expect("write");
    let result = extractor.scan_document(&set, &empty).expect("scan empty");
    assert!(result.findings.is_empty() && result.could_not_inspect.is_empty());

    let zip = dir.path().join("a.zip");
    std::fs::write(&zip, zip_of(&[("a.txt", b"CCCD 001185999999")])).expect("write");
    let result = extractor.scan_document(&set, &zip).expect("scan zip");
    assert!(result.findings.is_empty());
    assert!(matches!(&result.could_not_inspect[..], [(p, Reason::ChildFailed(_))] if p == "a.zip"));
}

#[test]
fn text_over_the_input_limit_is_hashed_whole_and_not_read() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("big.txt");
    let bytes = "CCCD 001185999999\n".repeat(100_000).into_bytes();
    std::fs::write(&path, &bytes).expect("write");
    let limits = Limits { max_input_bytes: 1000, ..Limits::default() };
    let set = set();
    // It takes the path that reports it: here the child, which cannot start.
    let result = childless(limits.clone(), dir.path()).scan_document(&set, &path).expect("scan");
    assert!(matches!(&result.could_not_inspect[..], [(p, Reason::ChildFailed(_))] if p == "big.txt"));
    let result = Extractor::with_isolation(limits, Isolation::InProcess).scan_document(&set, &path).expect("scan");
    assert!(result.findings.is_empty());
    assert!(matches!(&result.could_not_inspect[..], [(p, Reason::OverLimit(_))] if p == "big.txt"));
    assert_eq!(result.sha256, sha256(&bytes));
}

#[test]
fn images_are_not_inspected_and_say_so() {
    let extraction = extract("scan.png", b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR", &Limits::default());
    assert!(matches!(&verdicts(&extraction)[..], [(p, Reason::Unsupported(_))] if p == "scan.png"));
}

#[test]
fn xml_cut_inside_a_skipped_element_ends() {
    let cut = zip_of(&[
        ("[Content_Types].xml", b"<Types/>"),
        (
            "word/document.xml",
            "<w:document><w:body><w:p><w:r><w:t>TUYỆT MẬT</w:t></w:r></w:p><mc:Fallback><w:p>".as_bytes(),
        ),
    ]);
    let (findings, _) = scan("cut.docx", &cut);
    assert_eq!(findings, expect(&[("M1", 1, "cut.docx/word/document.xml")]));
}

/// Every planted document with bytes flipped and cut at many places: each extraction ends
/// with parts or verdicts named under the document, and no parser panics (the walker would
/// turn a panic into a "parser failed" verdict, which this test refuses).
#[test]
fn mutated_documents_end_with_parts_or_verdicts() {
    let mail = format!(
        "From: a@b.vn\r\nSubject: x\r\nContent-Type: multipart/mixed; boundary=\"XX\"\r\n\r\n--XX\r\nContent-Type: text/plain\r\n\r\nCCCD 001185999999\r\n--XX\r\nContent-Disposition: attachment; filename=\"a.doc\"\r\nContent-Transfer-Encoding: base64\r\n\r\n{}\r\n--XX--\r\n",
        base64(&planted_doc())
    );
    let documents =
        [("m.docx", planted_docx()), ("m.pdf", planted_pdf()), ("m.doc", planted_doc()), ("m.eml", mail.into_bytes())];
    let limits = Limits { time_budget: Duration::from_secs(5), ..Limits::default() };
    for (name, original) in &documents {
        let step = (original.len() / 97).max(1);
        for at in (0..original.len()).step_by(step) {
            let mut flipped = original.clone();
            flipped[at] ^= 0xA5;
            let cut = &original[..at];
            for bytes in [&flipped[..], cut] {
                let extraction = extract(name, bytes, &limits);
                for path in extraction.parts.iter().map(|p| &p.container_path) {
                    assert!(path.starts_with(name), "{path}");
                }
                for Verdict::CouldNotInspect { container_path, reason } in &extraction.verdicts {
                    assert!(container_path.starts_with(name), "{container_path}");
                    assert!(
                        !matches!(reason, Reason::Corrupt(why) if why.ends_with("parser failed")),
                        "{name} at {at}: {reason}"
                    );
                }
            }
        }
    }
}

#[test]
fn only_an_extractor_that_keeps_read_buffers_keeps_one() {
    let dir = tempfile::tempdir().expect("tempdir");
    let set = set();
    let text = dir.path().join("notes.txt");
    std::fs::write(&text, "xin chào ".repeat(200_000)).expect("write");
    // Tests run on threads of their own, so this thread's buffer is this test's.
    let running_agent = Extractor::with_isolation(Limits::default(), Isolation::InProcess);
    running_agent.scan_document(&set, &text).expect("scan");
    assert_eq!(READ_BUFFER.take().capacity(), 0, "the running agent keeps no buffer");
    childless(Limits::default(), dir.path()).scan_document(&set, &text).expect("scan");
    let kept = READ_BUFFER.take();
    assert!(kept.is_empty() && kept.capacity() > 1_800_000, "a batch scan keeps its buffer: {}", kept.capacity());
}

/// Issue 25 class 6: every file the walk cannot read fully says why — archives it does not
/// open, image-only PDF pages — and text that merely starts like one is still read.
#[test]
fn containers_not_opened_and_pages_without_text_are_never_silent() {
    let seven_zip = b"7z\xBC\xAF\x27\x1C\x00\x04TUYET MAT".to_vec();
    let archive = zip_of(&[
        ("a.7z", &seven_zip),
        ("b.rar", b"Rar!\x1A\x07\x01\x00TUYET MAT"),
        ("c.gz", b"\x1F\x8B\x08\x00\x00\x00\x00\x00"),
        ("d.bz2", b"BZh91AY&SY\x00\x00"),
        ("e.xz", b"\xFD7zXZ\x00\x00"),
        ("f.txt", b"BZh is how the note starts. CCCD 056090000123"),
    ]);
    let (findings, extraction) = scan("bundle.zip", &archive);
    let unsupported: Vec<String> = verdicts(&extraction)
        .into_iter()
        .map(|(path, reason)| match reason {
            Reason::Unsupported(why) => format!("{path}: {why}"),
            other => panic!("{path}: {other:?}"),
        })
        .collect();
    assert_eq!(
        unsupported,
        [
            "bundle.zip/a.7z: 7z archive (not opened)",
            "bundle.zip/b.rar: RAR archive (not opened)",
            "bundle.zip/c.gz: gzip stream (not opened)",
            "bundle.zip/d.bz2: bzip2 stream (not opened)",
            "bundle.zip/e.xz: xz stream (not opened)",
        ]
    );
    assert_eq!(findings, expect(&[("cccd", 1, "bundle.zip/f.txt")]));

    // Page 1 has text; page 2 is a scanned image, drawn and nothing else.
    let image = "<< /Type /XObject /Subtype /Image /Width 1 /Height 1 /ColorSpace /DeviceGray /BitsPerComponent 8 /Length 1 >>\nstream\n\x00\nendstream";
    let pdf = pdf_of(&[
        "<< /Type /Catalog /Pages 2 0 R >>".into(),
        "<< /Type /Pages /Kids [3 0 R 5 0 R] /Count 2 >>".into(),
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 7 0 R >> >> /Contents 4 0 R >>".into(),
        stream("BT /F1 12 Tf 72 760 Td (Cong van so 12) Tj ET"),
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /XObject << /Im1 6 0 R >> >> /Contents 9 0 R >>".into(),
        image.into(),
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>".into(),
        "<< /Producer (scanner) >>".into(),
        stream("q 595 0 0 842 0 0 cm /Im1 Do Q"),
    ]);
    let extraction = extract("scan.pdf", &pdf, &Limits::default());
    assert!(
        matches!(&verdicts(&extraction)[..], [(p, Reason::Unsupported(why))] if p == "scan.pdf/page[2]" && why.contains("text layer")),
        "{:?}",
        extraction.verdicts
    );
}

fn docx_cell(paragraphs: &[&str]) -> String {
    let body: String = paragraphs.iter().map(|p| paragraph(&run(None, p))).collect();
    format!("<w:tc>{body}</w:tc>")
}

fn docx_table(rows: &[&[&[&str]]]) -> String {
    let rows: String = rows
        .iter()
        .map(|cells| format!("<w:tr>{}</w:tr>", cells.iter().map(|c| docx_cell(c)).collect::<String>()))
        .collect();
    format!("<w:tbl>{rows}</w:tbl>")
}

/// Ten paragraphs of prose, so that what follows is past the top of the page.
fn docx_prose() -> String {
    (0..10).map(|i| paragraph(&run(None, &format!("Đoạn {i} của báo cáo về công tác năm nay.")))).collect()
}

/// Issue 25 class 2: the "Số: …/KH-UBND" block is a table whose cell holds the number and,
/// in a second paragraph, the stamp; class 5: a stamp cell sharing its row with other cells.
/// Both are past the top of the page, so only their own lines can make them stamps.
#[test]
fn docx_stamps_in_multi_paragraph_cells_and_shared_rows() {
    let block = docx_table(&[&[
        &["UBND TỈNH KHÁNH HÒA", "Số: 12/KH-UBND", "MẬT"],
        &["CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", "Độc lập - Tự do - Hạnh phúc"],
    ]]);
    let shared_row = docx_table(&[&[&["Kính gửi: Sở Nội vụ tỉnh Khánh Hòa và các đơn vị liên quan"], &["TUYỆT MẬT"]]]);
    let body = format!("{}{block}{}{shared_row}", docx_prose(), docx_prose());
    let (findings, extraction) = scan("kh.docx", &docx(&body, "", ""));
    assert!(extraction.verdicts.is_empty(), "{:?}", extraction.verdicts);
    assert_eq!(findings, expect(&[("M1", 1, "kh.docx/word/document.xml"), ("M3", 1, "kh.docx/word/document.xml")]));
    let result = scan_extraction(&set(), &extraction, [0; 32]);
    assert!(result.findings.iter().all(|f| f.confidence == Confidence::Critical), "{:?}", result.findings);
}

/// Issue 25 class 5, DOCX: a column's header is the context of its cells — a tax-code column
/// of numbers that pass as mobiles too, a BHXH column beside it, a grouped CCCD column
/// (class 1 in a docx view) — and box digits in a row still join.
#[test]
fn docx_table_columns_take_their_header_as_context() {
    let people = docx_table(&[
        &[&["STT"], &["Họ và tên"], &["Mã số thuế"], &["Số BHXH"], &["Số CCCD"]],
        &[&["1"], &["Nguyễn Văn A"], &["0912345675"], &["7912345678"], &["056 090 123 456"]],
        &[&["2"], &["Trần Thị B"], &["0912345682"], &["7912345679"], &["056.090.123.457"]],
    ]);
    let boxes: Vec<&[&str]> = std::iter::once(&["Số định danh"][..])
        .chain(["0", "5", "6", "0", "9", "0", "0", "0", "0", "1", "2", "3"].iter().map(std::slice::from_ref))
        .collect();
    let form = docx_table(&[&boxes]);
    let (findings, extraction) = scan("ds.docx", &docx(&format!("{}{people}{form}", docx_prose()), "", ""));
    assert!(extraction.verdicts.is_empty(), "{:?}", extraction.verdicts);
    assert_eq!(
        findings,
        expect(&[
            ("bhxh", 2, "ds.docx/word/document.xml"),
            ("cccd", 3, "ds.docx/word/document.xml"),
            ("mst", 2, "ds.docx/word/document.xml"),
        ])
    );
    let result = scan_extraction(&set(), &extraction, [0; 32]);
    let mst = result.findings.iter().find(|f| f.detector == DetectorId::Mst).expect("tax codes");
    assert_eq!(mst.counts.high, 2, "{mst:?}");
    let cccd = result.findings.iter().find(|f| f.detector == DetectorId::Cccd).expect("CCCD");
    assert_eq!(cccd.counts.high, 3, "{cccd:?}");
}

/// Issue 25 class 5, XLSX: the header row is shared strings, the values numbers, cells
/// sparse (`r="D2"` after `B2`); the header names each column however far down the row is.
#[test]
fn xlsx_columns_take_their_header_as_context() {
    let shared = r#"<sst><si><t>DANH SÁCH NỘP THUẾ</t></si><si><t>ho_ten</t></si><si><t>ma_so_thue</t></si><si><t>ghi_chu</t></si><si><t>so_bhxh</t></si></sst>"#;
    let mut rows = String::from(
        r#"<row r="1"><c r="A1" t="s"><v>0</v></c></row><row r="2"><c r="A2" t="s"><v>1</v></c><c r="B2" t="s"><v>2</v></c><c r="C2" t="s"><v>3</v></c><c r="D2" t="s"><v>4</v></c></row>"#,
    );
    for (i, (mst, bhxh)) in [("0912345675", "7912345678"), ("0912345682", "7912345679")].iter().enumerate() {
        let r = i + 3;
        rows.push_str(&format!(
            r#"<row r="{r}"><c r="A{r}" t="inlineStr"><is><t>Người {r}</t></is></c><c r="B{r}"><v>{mst}</v></c><c r="D{r}"><v>{bhxh}</v></c></row>"#
        ));
    }
    let sheet = format!("<worksheet><sheetData>{rows}</sheetData></worksheet>");
    let xlsx = zip_of(&[
        ("[Content_Types].xml", b"<Types/>"),
        ("xl/sharedStrings.xml", shared.as_bytes()),
        ("xl/worksheets/sheet1.xml", sheet.as_bytes()),
    ]);
    let extraction = extract("thue.xlsx", &xlsx, &Limits::default());
    assert!(extraction.verdicts.is_empty(), "{:?}", extraction.verdicts);
    let result = scan_extraction(&set(), &extraction, [0; 32]);
    assert_eq!(
        summary(&result.findings),
        expect(&[("bhxh", 2, "thue.xlsx/xl/worksheets/sheet1.xml"), ("mst", 2, "thue.xlsx/xl/worksheets/sheet1.xml")])
    );
    let mst = result.findings.iter().find(|f| f.detector == DetectorId::Mst).expect("tax codes");
    assert_eq!(mst.counts.high, 2, "{mst:?}");
}

/// Issue 25 class 5, ODS: a spreadsheet's table with a title row, a header row and repeated
/// empty cells; a stamp cell in a row of other cells stands on its own line.
#[test]
fn ods_columns_take_their_header_as_context() {
    let ns = r#"xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0""#;
    let cell = |text: &str| format!("<table:table-cell><text:p>{text}</text:p></table:table-cell>");
    let row = |cells: &[&str]| {
        format!("<table:table-row>{}</table:table-row>", cells.iter().map(|c| cell(c)).collect::<String>())
    };
    let gap = r#"<table:table-cell table:number-columns-repeated="2"/>"#;
    let data = |name: &str, mst: &str| format!("<table:table-row>{}{gap}{}</table:table-row>", cell(name), cell(mst));
    let content = format!(
        r#"<office:document-content {ns}><office:body><office:spreadsheet><table:table table:name="Sheet1">{}{}{}{}{}</table:table></office:spreadsheet></office:body></office:document-content>"#,
        row(&["Danh sách doanh nghiệp"]),
        row(&["Tên", "Ghi chú", "Khác", "Mã số thuế"]),
        data("Công ty A", "0912345675"),
        data("Công ty B", "0912345682"),
        row(&["Ghi chú chung về tài liệu này của đơn vị", "TỐI MẬT"]),
    );
    let ods = zip_of(&[
        ("mimetype", b"application/vnd.oasis.opendocument.spreadsheet"),
        ("META-INF/manifest.xml", b"<manifest:manifest/>"),
        ("content.xml", content.as_bytes()),
    ]);
    let extraction = extract("dn.ods", &ods, &Limits::default());
    assert!(extraction.verdicts.is_empty(), "{:?}", extraction.verdicts);
    let result = scan_extraction(&set(), &extraction, [0; 32]);
    assert_eq!(summary(&result.findings), expect(&[("M2", 1, "dn.ods/content.xml"), ("mst", 2, "dn.ods/content.xml")]));
    let mst = result.findings.iter().find(|f| f.detector == DetectorId::Mst).expect("tax codes");
    assert_eq!(mst.counts.high, 2, "{mst:?}");
    let stamp = result.findings.iter().find(|f| f.detector == DetectorId::M2).expect("stamp");
    assert_eq!(stamp.confidence, Confidence::Critical);
}

/// Issue 25 class 3: metadata and page furniture (spec §3.3, §4) — OOXML core and custom
/// properties, docx comments and footers, xlsx page headers and sheet names, legacy pptx
/// comments, ODF user-defined properties.
#[test]
fn office_metadata_and_page_furniture_are_read() {
    let core = r#"<cp:coreProperties xmlns:cp="http://schemas.openxmlformats.org/package/2006/metadata/core-properties" xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:title>Kế hoạch bảo vệ</dc:title><dc:subject>Phương án</dc:subject><cp:keywords>TUYỆT MẬT</cp:keywords><cp:category>TÀI LIỆU THU HỒI</cp:category></cp:coreProperties>"#;
    let custom = r#"<Properties xmlns:vt="http://schemas.openxmlformats.org/officeDocument/2006/docPropsVTypes"><property fmtid="{D5CDD505-2E9C-101B-9397-08002B2CF9AE}" pid="2" name="Độ mật"><vt:lpwstr>Tối mật</vt:lpwstr></property></Properties>"#;
    let comments = format!(
        r#"<w:comments {W}><w:comment w:id="0"><w:p>{}</w:p></w:comment></w:comments>"#,
        run(None, "Số CCCD: 056090000123")
    );
    let footer = format!(r#"<w:ftr {W}>{}</w:ftr>"#, paragraph(&run(None, "Trang 2 — XEM XONG TRẢ LẠI")));
    let document = format!(r#"<w:document {W}><w:body>{}</w:body></w:document>"#, paragraph(&run(None, "Nội dung")));
    let docx = zip_of(&[
        ("[Content_Types].xml", b"<Types/>"),
        ("word/document.xml", document.as_bytes()),
        ("word/comments.xml", comments.as_bytes()),
        ("word/footer1.xml", footer.as_bytes()),
        ("docProps/core.xml", core.as_bytes()),
        ("docProps/custom.xml", custom.as_bytes()),
    ]);
    let extraction = extract("kh.docx", &docx, &Limits::default());
    assert!(extraction.verdicts.is_empty(), "{:?}", extraction.verdicts);
    let result = scan_extraction(&set(), &extraction, [0; 32]);
    assert_eq!(
        summary(&result.findings),
        expect(&[
            ("C1", 1, "kh.docx/word/footer1.xml"),
            ("M1", 1, "kh.docx/docProps/core.xml"),
            ("M4", 1, "kh.docx/docProps/custom.xml"),
            ("M5", 1, "kh.docx/docProps/core.xml"),
            ("cccd", 1, "kh.docx/word/comments.xml"),
        ])
    );
    let weights: Vec<_> = result.findings.iter().filter(|f| f.detector.is_marking()).map(|f| f.confidence).collect();
    assert_eq!(weights, [Confidence::Critical, Confidence::Critical, Confidence::High, Confidence::Medium]);

    let sheet = r#"<worksheet><sheetData><row r="1"><c r="A1"><v>1</v></c></row></sheetData><headerFooter><oddHeader>&amp;L&amp;"Times New Roman,Bold"&amp;14&amp;KFF0000TỐI MẬT&amp;RTrang &amp;P / &amp;N</oddHeader><oddFooter>&amp;CLiên hệ dlp.test@example.gov.vn</oddFooter></headerFooter></worksheet>"#;
    let workbook = r#"<workbook><sheets><sheet name="MẬT" sheetId="1" r:id="rId1" xmlns:r="r"/></sheets></workbook>"#;
    let xlsx = zip_of(&[
        ("[Content_Types].xml", b"<Types/>"),
        ("xl/workbook.xml", workbook.as_bytes()),
        ("xl/worksheets/sheet1.xml", sheet.as_bytes()),
    ]);
    let (findings, extraction) = scan("so.xlsx", &xlsx);
    assert!(extraction.verdicts.is_empty(), "{:?}", extraction.verdicts);
    assert_eq!(
        findings,
        expect(&[
            ("M2", 1, "so.xlsx/xl/worksheets/sheet1.xml"),
            ("M3", 1, "so.xlsx/xl/workbook.xml"),
            ("email", 1, "so.xlsx/xl/worksheets/sheet1.xml"),
        ])
    );

    let comment = r#"<p:cmLst xmlns:p="http://schemas.openxmlformats.org/presentationml/2006/main"><p:cm authorId="0"><p:text>Gửi bản này cho dlp.test@example.gov.vn</p:text></p:cm></p:cmLst>"#;
    let pptx = zip_of(&[("[Content_Types].xml", b"<Types/>"), ("ppt/comments/comment1.xml", comment.as_bytes())]);
    assert_eq!(scan("s.pptx", &pptx).0, expect(&[("email", 1, "s.pptx/ppt/comments/comment1.xml")]));

    let meta = r#"<office:document-meta xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" xmlns:meta="urn:oasis:names:tc:opendocument:xmlns:meta:1.0" xmlns:dc="http://purl.org/dc/elements/1.1/"><office:meta><dc:title>Báo cáo</dc:title><meta:keyword>LƯU HÀNH NỘI BỘ</meta:keyword><meta:user-defined meta:name="Độ mật">Mật</meta:user-defined></office:meta></office:document-meta>"#;
    let odt = zip_of(&[
        ("mimetype", b"application/vnd.oasis.opendocument.text"),
        ("META-INF/manifest.xml", b"<manifest:manifest/>"),
        ("content.xml", b"<office:document-content/>"),
        ("meta.xml", meta.as_bytes()),
    ]);
    assert_eq!(scan("bc.odt", &odt).0, expect(&[("C1", 1, "bc.odt/meta.xml"), ("M4", 1, "bc.odt/meta.xml")]));
}

/// Issue 25 class 3, PDF: the information dictionary's keywords and the XMP metadata stream.
#[test]
fn pdf_information_and_xmp_metadata_are_read() {
    let xmp = r#"<?xpacket begin="" id="W5M0MpCehiHzreSzNTczkc9d"?><x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:pdf="http://ns.adobe.com/pdf/1.3/"><dc:title><rdf:Alt><rdf:li xml:lang="x-default">Phương án</rdf:li></rdf:Alt></dc:title><dc:subject><rdf:Bag><rdf:li>TỐI MẬT</rdf:li><rdf:li>TÀI LIỆU THU HỒI</rdf:li></rdf:Bag></dc:subject></rdf:Description></rdf:RDF></x:xmpmeta><?xpacket end="w"?>"#;
    let pdf = pdf_of(&[
        "<< /Type /Catalog /Pages 2 0 R /Metadata 6 0 R >>".into(),
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>".into(),
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 5 0 R >> >> /Contents 4 0 R >>".into(),
        stream("BT /F1 12 Tf 72 760 Td (Noi dung) Tj ET"),
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>".into(),
        format!("<< /Type /Metadata /Subtype /XML /Length {} >>\nstream\n{xmp}\nendstream", xmp.len()),
        "<< >>".into(),
        format!("<< /Title <{}> /Keywords <{}> >>", utf16_hex("Kế hoạch"), utf16_hex("TUYỆT MẬT")),
    ]);
    let (findings, extraction) = scan("pa.pdf", &pdf);
    assert!(extraction.verdicts.is_empty(), "{:?}", extraction.verdicts);
    assert_eq!(
        findings,
        expect(&[("M1", 1, "pa.pdf/info"), ("M2", 1, "pa.pdf/metadata"), ("M5", 1, "pa.pdf/metadata")])
    );
}

/// Issue 25 class 4: text split across text objects, drawn glyph by glyph, or on one
/// baseline with another block, reads as `pdftotext` reads it. The font is `.VnTime`
/// (TCVN3 bytes: `TUYÖT MËT` is TUYỆT MẬT) with widths of 600 thousandths.
#[test]
fn pdf_text_is_rebuilt_from_positions() {
    let widths = vec!["600"; 224].join(" ");
    let font = format!(
        "<< /Type /Font /Subtype /TrueType /BaseFont /ABCDEF+.VnTime /Encoding /WinAnsiEncoding /FirstChar 32 /LastChar 255 /Widths [{widths}] >>"
    );
    // One glyph per text object, placed by its own matrix; spaces are not drawn, only left.
    let glyphs = |text: &[u8], x: f32, y: f32| -> String {
        let mut out = String::new();
        for (i, b) in text.iter().enumerate() {
            if *b != b' ' {
                let at = x + 8.4 * i as f32;
                out.push_str(&format!("BT /F1 14 Tf 1 0 0 1 {at:.1} {y} Tm <{b:02X}> Tj ET\n"));
            }
        }
        out
    };
    // The stamp in two text objects, in reverse order; a CCCD and a second stamp glyph by glyph.
    let page1 = format!(
        "BT /F1 14 Tf 130.8 760 Td <CB54> Tj ET\nBT /F1 14 Tf 72 760 Td <545559D654204D> Tj ET\n{}{}",
        glyphs(b"So CCCD: 056090000123", 72.0, 700.0),
        glyphs(b"T\xE8I M\xCBT", 72.0, 500.0),
    );
    // A letterhead: the agency on the left, the stamp far to the right on the same baseline.
    let page2 = "BT /F1 13 Tf 72 780 Td (UBND TINH KHANH HOA) Tj 380 0 Td <4DCB54> Tj ET";
    let pdf = pdf_of(&[
        "<< /Type /Catalog /Pages 2 0 R >>".into(),
        "<< /Type /Pages /Kids [3 0 R 5 0 R] /Count 2 >>".into(),
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 7 0 R >> >> /Contents 4 0 R >>".into(),
        stream(&page1),
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 7 0 R >> >> /Contents 6 0 R >>".into(),
        stream(page2),
        font,
        "<< /Producer (test) >>".into(),
    ]);
    let extraction = extract("tl.pdf", &pdf, &Limits::default());
    assert!(extraction.verdicts.is_empty(), "{:?}", extraction.verdicts);
    let result = scan_extraction(&set(), &extraction, [0; 32]);
    assert_eq!(
        summary(&result.findings),
        expect(&[
            ("M1", 1, "tl.pdf/page[1]"),
            ("M2", 1, "tl.pdf/page[1]"),
            ("M3", 1, "tl.pdf/page[2]"),
            ("cccd", 1, "tl.pdf/page[1]")
        ])
    );
    for finding in &result.findings {
        let expected = if finding.detector.is_marking() { Confidence::Critical } else { Confidence::High };
        assert_eq!(finding.confidence, expected, "{finding:?}");
    }
}

/// Issue 25 class 5, PDF: a table drawn as strings at positions — a header row, then rows
/// whose cells lie under it — gives each cell its column's header as context.
#[test]
fn pdf_table_columns_take_their_header_as_context() {
    let rows = [("Nguyen Van A", "0912345675", "7912345678"), ("Tran Thi B", "0912345682", "7912345679")];
    let rows = rows.iter().chain(&[("Le Van C", "0912345717", "7912345680"), ("Pham D", "0912345724", "7912345681")]);
    let mut content =
        String::from("BT /F1 12 Tf 72 700 Td (Ho ten) Tj 178 0 Td (Ma so thue) Tj 150 0 Td (So BHXH) Tj ET\n");
    for (i, (name, mst, bhxh)) in rows.enumerate() {
        let y = 680 - 20 * i;
        content.push_str(&format!("BT /F1 12 Tf 72 {y} Td ({name}) Tj 178 0 Td ({mst}) Tj 150 0 Td ({bhxh}) Tj ET\n"));
    }
    content.push_str("BT /F1 12 Tf 72 560 Td (Tong cong bon nguoi) Tj ET");
    let pdf = pdf_of(&[
        "<< /Type /Catalog /Pages 2 0 R >>".into(),
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>".into(),
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 5 0 R >> >> /Contents 4 0 R >>".into(),
        stream(&content),
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>".into(),
        "<< >>".into(),
        "<< >>".into(),
        "<< /Producer (test) >>".into(),
    ]);
    let extraction = extract("ds.pdf", &pdf, &Limits::default());
    assert!(extraction.verdicts.is_empty(), "{:?}", extraction.verdicts);
    let result = scan_extraction(&set(), &extraction, [0; 32]);
    assert_eq!(summary(&result.findings), expect(&[("bhxh", 4, "ds.pdf/page[1]"), ("mst", 4, "ds.pdf/page[1]")]));
    let mst = result.findings.iter().find(|f| f.detector == DetectorId::Mst).expect("tax codes");
    assert_eq!(mst.counts.high, 4, "{mst:?}");
}
