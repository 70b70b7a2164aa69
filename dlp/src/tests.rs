//! The engine's test vectors (tests/vectors.yaml, described in SPEC.md), more identifier and
//! marking cases written out here, plus the views and limits the engine promises: NFD text,
//! box digits, legacy byte strings, look-alike letters, huge lines, UTF-16, aggregation and
//! masking.

use super::*;
use serde::Deserialize;

/// The vectors of SPEC.md, built into the test so that it needs no file at run time.
const VECTORS: &str = include_str!("../tests/vectors.yaml");

fn set() -> DetectorSet {
    match DetectorSet::new(Config { current_year: 2026, ..Config::default() }) {
        Ok(set) => set,
        Err(e) => panic!("detectors do not build: {e}"),
    }
}

fn text(input: &str) -> Vec<Finding> {
    set().scan_text("test", input, Hints::default())
}

fn find(findings: &[Finding], detector: DetectorId) -> Option<&Finding> {
    findings.iter().find(|f| f.detector == detector)
}

fn detector_named(name: &str) -> DetectorId {
    DetectorId::ALL.into_iter().find(|d| d.as_str() == name).unwrap_or_else(|| panic!("unknown detector {name}"))
}

fn confidence_named(name: &str) -> Confidence {
    match name {
        "low" => Confidence::Low,
        "medium" => Confidence::Medium,
        "high" => Confidence::High,
        "critical" => Confidence::Critical,
        other => panic!("unknown confidence {other}"),
    }
}

/// Asserts an identifier vector exactly: a match is one instance of `detector` (at
/// `confidence` when given) and nothing else above low; a non-match reports no `detector` at
/// all and nothing else above low. No identifier vector carries a marking.
fn assert_identifier(input: &str, detector: DetectorId, matches: bool, confidence: Option<Confidence>) {
    let findings = text(input);
    let found = find(&findings, detector);
    if matches {
        let Some(f) = found else { panic!("{input:?}: no {detector} in {findings:?}") };
        assert_eq!(f.count, 1, "{input:?}: {f:?}");
        if let Some(c) = confidence {
            assert_eq!(f.confidence, c, "{input:?}: {f:?}");
        }
        assert!(f.masked_sample.as_deref().is_some_and(|s| s.contains('*')), "{input:?}: unmasked {f:?}");
    } else {
        assert!(found.is_none(), "{input:?}: unexpected {found:?}");
    }
    let others: Vec<_> = findings.iter().filter(|f| f.detector != detector && f.confidence > Confidence::Low).collect();
    assert!(others.is_empty(), "{input:?}: also {others:?}");
    assert!(findings.iter().all(|f| !f.detector.is_marking()), "{input:?}: marking in {findings:?}");
}

/// Weight and level SPEC.md gives each marking of the vectors.
fn marking_expectation(id: DetectorId) -> (Confidence, Option<SecrecyLevel>) {
    match id {
        DetectorId::M1 => (Confidence::Critical, Some(SecrecyLevel::TopSecret)),
        DetectorId::M2 => (Confidence::Critical, Some(SecrecyLevel::Secret)),
        DetectorId::M3 => (Confidence::Critical, Some(SecrecyLevel::Confidential)),
        DetectorId::M4 => (Confidence::Critical, Some(SecrecyLevel::Secret)),
        DetectorId::M5 | DetectorId::M6 => (Confidence::High, None),
        DetectorId::M7 => (Confidence::Medium, None),
        other => panic!("no expectation for {other}"),
    }
}

/// Asserts that `findings` are exactly the marking `expect` (or nothing), found in `view`.
fn assert_marking(what: &str, findings: &[Finding], expect: Option<DetectorId>, view: ViewKind) {
    match expect {
        None => assert!(findings.is_empty(), "{what}: unexpected {findings:?}"),
        Some(id) => {
            let (confidence, level) = marking_expectation(id);
            assert_eq!(findings.len(), 1, "{what}: {findings:?}");
            let f = &findings[0];
            assert_eq!((f.detector, f.confidence, f.level, f.view), (id, confidence, level, view), "{what}: {f:?}");
            assert_eq!((f.count, f.masked_sample.as_deref(), f.location.line), (1, None, 1), "{what}: {f:?}");
        }
    }
}

#[derive(Deserialize)]
struct Vectors {
    identifiers: Vec<IdentifierVector>,
    markings: Vec<MarkingVector>,
}

#[derive(Deserialize)]
struct IdentifierVector {
    detector: String,
    input: String,
    expect: String,
    confidence: Option<String>,
}

#[derive(Deserialize)]
struct MarkingVector {
    input_text: Option<String>,
    input_hex: Option<String>,
    encoding: Option<String>,
    expect: String,
}

fn vectors() -> Vectors {
    yaml_serde::from_str(VECTORS).unwrap_or_else(|e| panic!("tests/vectors.yaml: {e}"))
}

fn hex(s: &str) -> Vec<u8> {
    let digits: Vec<u8> = s.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    digits
        .chunks(2)
        .map(|pair| {
            let pair = std::str::from_utf8(pair).unwrap_or_else(|e| panic!("hex {s}: {e}"));
            u8::from_str_radix(pair, 16).unwrap_or_else(|e| panic!("hex {s}: {e}"))
        })
        .collect()
}

fn encoding_named(name: &str) -> Option<Encoding> {
    match name {
        "utf-8" => None,
        "tcvn3" => Some(Encoding::Tcvn3),
        "vni" => Some(Encoding::Vni),
        "windows-1258" => Some(Encoding::Windows1258),
        "viqr" => Some(Encoding::Viqr),
        other => panic!("unknown encoding {other}"),
    }
}

#[test]
fn identifier_vectors() {
    let vectors = vectors();
    assert_eq!(vectors.identifiers.len(), 39, "identifier vectors added or lost: review this count");
    for v in &vectors.identifiers {
        let matches = match v.expect.as_str() {
            "match" => true,
            "none" => false,
            other => panic!("{}: expect {other}", v.input),
        };
        assert_identifier(
            &v.input,
            detector_named(&v.detector),
            matches,
            v.confidence.as_deref().map(confidence_named),
        );
    }
}

#[test]
fn marking_vectors() {
    let vectors = vectors();
    assert_eq!(vectors.markings.len(), 16, "marking vectors added or lost: review this count");
    let set = set();
    for v in &vectors.markings {
        let expect = match v.expect.as_str() {
            "none" => None,
            id => Some(detector_named(id)),
        };
        let encoding = v.encoding.as_deref().and_then(encoding_named);
        let view = encoding.map_or(ViewKind::Unicode, ViewKind::Legacy);
        match (&v.input_text, &v.input_hex) {
            (Some(input), None) => {
                assert_marking(input, &set.scan_text("vector", input, Hints::default()), expect, view);
                if encoding.is_some() {
                    let hinted = set.scan_text("vector", input, Hints { encoding, prominent: false });
                    assert_marking(input, &hinted, expect, view);
                }
            }
            (None, Some(hex_input)) => {
                let bytes = hex(hex_input);
                // As the extractor would hand it over, with the encoding known from the font…
                let hinted = set.scan_bytes("vector", &bytes, Hints { encoding, prominent: false });
                assert_marking(hex_input, &hinted, expect, view);
                // …and as a plain file, where the encoding has to be recognised.
                assert_marking(hex_input, &set.scan_bytes("vector", &bytes, Hints::default()), expect, view);
            }
            _ => panic!("marking vector without exactly one input: {:?}", v.expect),
        }
    }
}

#[test]
fn identifier_vectors_of_the_table() {
    use Confidence::{High, Low, Medium};
    use DetectorId::*;
    // Identifier cases beyond tests/vectors.yaml.
    let rows: [(&str, DetectorId, bool, Option<Confidence>); 24] = [
        ("0 5 6 0 9 0 0 0 0 1 2 3", Cccd, true, Some(Medium)),
        ("Số CMTND 250000001", Cmnd, true, Some(Medium)),
        ("chứng minh nhân dân số 300000002", Cmnd, true, Some(Medium)),
        ("CMND số 12345678", Cmnd, false, None),
        ("CMND số 1234567890", Cmnd, false, None),
        ("0168 123 4567", Phone, true, Some(Medium)),
        ("Mã số BHXH: 560000012", Bhxh, false, None),
        ("Mã số BHXH: 56000001234", Bhxh, false, None),
        ("Passport No.: P1234567", Passport, true, Some(Medium)),
        ("Hộ chiếu số C000000", Passport, false, None),
        ("9704 3600 0000 0009", Card, false, None),
        ("Số thẻ 9704 3600 0000 0009", Card, true, Some(Medium)),
        ("9704 3600 0000 00", Card, false, None),
        ("BKS 85A-000.01", Plate, true, Some(Medium)),
        ("biển kiểm soát 79-H1 234.56", Plate, true, Some(Medium)),
        ("Biển số 79A-1234567", Plate, false, None),
        ("Biển số 7A-123.45", Plate, false, None),
        ("nguyen.van.test+dlp@example.com.vn", Email, true, Some(Medium)),
        ("a_b-c@sub.example.vn", Email, true, Some(Medium)),
        ("dlp.test@", Email, false, None),
        ("vanthu@example.gov.vn", Email, true, Some(Low)),
        ("Mã số thuế cá nhân: 056090000123", Cccd, true, Some(High)),
        ("Số GPLX: 790123456789", Gplx, true, Some(Medium)),
        ("CMND số 056090000123", Cmnd, true, Some(High)),
    ];
    for (input, detector, matches, confidence) in rows {
        assert_identifier(input, detector, matches, confidence);
    }
    // A space in the local part leaves only the part after it.
    let findings = text("dlp test@example.vn");
    assert_eq!(find(&findings, Email).and_then(|f| f.masked_sample.clone()), Some("t***@example.vn".into()));
}

#[test]
fn marking_vectors_of_the_table() {
    use DetectorId::*;
    let set = set();
    let cases: [(&str, Option<DetectorId>, ViewKind); 14] = [
        ("ＭẬＴ", Some(M3), ViewKind::Unicode),
        ("\u{41C}Ậ\u{422}", Some(M3), ViewKind::Unicode),
        ("ChØ ng\u{AD}êi cã tªn míi ®\u{AD}îc bãc b×", Some(M6), ViewKind::Legacy(Encoding::Tcvn3)),
        ("TèI MËT", Some(M2), ViewKind::Legacy(Encoding::Tcvn3)),
        ("TOÁI MAÄT", Some(M2), ViewKind::Legacy(Encoding::Vni)),
        ("TUYEÄT MAÄT", Some(M1), ViewKind::Legacy(Encoding::Vni)),
        ("GIẢI MẬT\nTừ: 01/01/2026", Some(M7), ViewKind::Unicode),
        ("MÆT TRËN", None, ViewKind::Unicode),
        ("Chính sách bảo mật", None, ViewKind::Unicode),
        ("FORMAT MATERIAL", None, ViewKind::Unicode),
        ("Văn bản này không phải tài liệu mật.", None, ViewKind::Unicode),
        ("MẬT KHẨU", None, ViewKind::Unicode),
        ("BẢO MẬT", None, ViewKind::Unicode),
        ("T U Y Ệ T   M Ậ T", Some(M1), ViewKind::Unicode),
    ];
    for (input, expect, view) in cases {
        assert_marking(input, &set.scan_text("vector", input, Hints::default()), expect, view);
    }
}

#[test]
fn markings_in_context() {
    let set = set();
    let scan = |input: &str, prominent: bool| set.scan_text("doc", input, Hints { encoding: None, prominent });
    // A text box holding the stamp among other words of the header.
    let boxed = scan("Số: 12/QĐ-UBND Khánh Hòa MẬT ngày 01 tháng 01", true);
    assert_eq!(find(&boxed, DetectorId::M3).map(|f| f.confidence), Some(Confidence::Critical));
    // The same words in running prose only mention the level.
    let prose = scan("Số: 12/QĐ-UBND Khánh Hòa MẬT ngày 01 tháng 01", false);
    assert_eq!(find(&prose, DetectorId::M3).map(|f| f.confidence), Some(Confidence::Low));
    // An e-mail subject.
    let subject = scan("Subject: [MẬT] Báo cáo tình hình an ninh tháng 11 năm 2026", false);
    assert_eq!(find(&subject, DetectorId::M3).map(|f| f.confidence), Some(Confidence::Critical));
    // A blank register template.
    let blank = scan("Độ mật:", false);
    assert_eq!(find(&blank, DetectorId::M4).map(|f| (f.confidence, f.level)), Some((Confidence::Medium, None)));
    // Typed without diacritics: the field pattern, at medium.
    let ascii = scan("Do mat: Tuyet mat", false);
    let m4 = find(&ascii, DetectorId::M4).map(|f| (f.confidence, f.level));
    assert_eq!(m4, Some((Confidence::Medium, Some(SecrecyLevel::TopSecret))));
    let stamp = scan("TAI LIEU THU HOI", false);
    assert_eq!(find(&stamp, DetectorId::M5).map(|f| f.confidence), Some(Confidence::Medium));
    // The law's name is no label, a label is.
    assert!(scan("Căn cứ Luật Bảo vệ bí mật nhà nước số 117/2025/QH15", false).is_empty());
    let label = scan("BÍ MẬT NHÀ NƯỚC", false);
    assert_eq!(find(&label, DetectorId::M9).map(|f| f.confidence), Some(Confidence::High));
    let period = scan("Thời hạn bảo vệ bí mật nhà nước: đến ngày 01/01/2036", false);
    assert_eq!(find(&period, DetectorId::M10).map(|f| f.confidence), Some(Confidence::High));
    let circulation = scan("LƯU HÀNH NỘI BỘ", false);
    assert_eq!(find(&circulation, DetectorId::C1).map(|f| f.confidence), Some(Confidence::Medium));
    assert!(scan("Tài liệu này được lưu hành nội bộ trong cơ quan.", false).is_empty());
    // Tone placement and upper case of the TCVN3 view do not hide a field.
    let field = scan("ĐỘ MẬT: TỐI MẬT", false);
    assert_eq!(field.iter().map(|f| f.detector).collect::<Vec<_>>(), [DetectorId::M4]);
}

#[test]
fn nfd_text_is_composed_before_matching() {
    let nfd = "T\u{55}Y\u{45}\u{323}\u{302}T M\u{41}\u{323}\u{302}T\nSo\u{302}\u{301} CCCD: 056090000123";
    let findings = text(nfd);
    assert_eq!(find(&findings, DetectorId::M1).map(|f| f.confidence), Some(Confidence::Critical));
    assert_eq!(find(&findings, DetectorId::Cccd).map(|f| (f.confidence, f.location.line)), Some((Confidence::High, 2)));
    // The offset leads to the number in the NFD input.
    let offset = find(&findings, DetectorId::Cccd).map(|f| f.location.offset);
    assert_eq!(offset, nfd.find("056").and_then(|o| u64::try_from(o).ok()));
}

#[test]
fn box_digits_need_an_identifier_length_and_no_neighbouring_group() {
    assert_identifier("Số định danh: 0 5 6 0 9 0 0 0 0 1 2 3", DetectorId::Cccd, true, Some(Confidence::High));
    assert_identifier("0|5|6|0|9|0|0|0|0|1|2|3", DetectorId::Cccd, true, Some(Confidence::Medium));
    assert_identifier("0 5 6 0 9 0 0 0 0 1 2", DetectorId::Cccd, false, None);
    assert_identifier("12 0 5 6 0 9 0 0 0 0 1 2 3", DetectorId::Cccd, false, None);
    assert_identifier("MST: 4 2 0 0 0 0 0 0 1 1", DetectorId::Mst, true, Some(Confidence::High));
    assert_identifier("Số CCCD: ０５６０９００００１２３", DetectorId::Cccd, true, Some(Confidence::High));
}

/// Issue 25 class 1: identifiers in their common written forms. Spec §1 has the digit view
/// collapse separators before the §2 patterns run; SPEC.md "Identifiers" says which groupings.
#[test]
fn grouped_identifiers_are_joined() {
    for input in [
        "Số CCCD: 056 090 123 456",
        "Số CCCD: 056.090.123.456",
        "Số CCCD: 056-090-123-456",
        "Căn cước: 0560 9012 3456",
        "Số định danh cá nhân: 056090 123456",
    ] {
        assert_identifier(input, DetectorId::Cccd, true, Some(Confidence::High));
    }
    assert_identifier("Ông A, 056 090 123 456, trú tại", DetectorId::Cccd, true, Some(Confidence::Medium));
    assert_identifier("Số CMND: 225 123 456", DetectorId::Cmnd, true, Some(Confidence::Medium));
    assert_identifier("Số CMND: 225-123-456", DetectorId::Cmnd, true, Some(Confidence::Medium));
    assert_identifier("MST: 0311 638 525", DetectorId::Mst, true, Some(Confidence::High));
    assert_identifier("MST: 031.163.8525", DetectorId::Mst, true, Some(Confidence::High));
    assert_identifier("MST chi nhánh: 0311 638 525-027", DetectorId::Mst, true, Some(Confidence::High));
    assert_identifier("Mã số BHXH: 7912 345 678", DetectorId::Bhxh, true, Some(Confidence::Medium));
    // A grouped ten-digit number without tax-code context is a phone number, not a tax code;
    // with it, it is the tax code only.
    assert_identifier("Gọi 0912 345 675 nhé", DetectorId::Phone, true, Some(Confidence::Medium));
    assert!(find(&text("Gọi 0912 345 675 nhé"), DetectorId::Mst).is_none());
    assert_identifier("Mã số thuế 0912 345 675", DetectorId::Mst, true, Some(Confidence::High));
    // Pieces of longer grouped numbers, amounts and lists of small numbers are none.
    assert_identifier("Số CCCD: 056 090 123 456 7", DetectorId::Cccd, false, None);
    assert_identifier("TK 1 056 090 123 456", DetectorId::Cccd, false, None);
    assert_identifier("Số CMND kèm theo. Số tiền: 150.000.000 đồng", DetectorId::Cmnd, false, None);
    assert_identifier("Mục 01 02 03 04 05 06", DetectorId::Cccd, false, None);
    assert_identifier("Số CCCD: 056 090-123 456", DetectorId::Cccd, false, None);
    assert_identifier("Thẻ 4111 1111 1111 1111", DetectorId::Card, true, Some(Confidence::High));
    // One person, two spellings: one distinct value.
    let findings = text("CCCD 056090123456; bản sao: CCCD 056 090 123 456");
    assert_eq!(find(&findings, DetectorId::Cccd).map(|f| f.count), Some(1), "{findings:?}");
}

/// Issue 25 class 5, CSV: a column's header is the context of its cells. A tax-code column's
/// ten-digit values (which pass as mobile numbers too) are tax codes, certainly; the same
/// values in a column with no header keyword stay ambiguous and low.
#[test]
fn csv_columns_take_their_header_as_context() {
    let csv = "stt,ho_ten,ma_so_thue,so_bhxh,ghi_chu\n\
        1,Nguyen Van A,0912345675,7912345678,x\n\
        2,Tran Thi B,0912345682,7912345679,y\n";
    let findings = set().scan_bytes("ds/danhsach.csv", csv.as_bytes(), Hints::default());
    let mst = find(&findings, DetectorId::Mst).expect("tax codes");
    assert_eq!((mst.count, mst.counts.high), (2, 2), "{findings:?}");
    assert!(find(&findings, DetectorId::Phone).is_none(), "{findings:?}");
    let bhxh = find(&findings, DetectorId::Bhxh).expect("social insurance numbers");
    assert_eq!(bhxh.count, 2, "{findings:?}");
    // The same file under another name is not read as a table: the keyword window alone
    // leaves the tax codes low (or takes one for the BHXH number the header beside names).
    let plain = set().scan_bytes("ds/danhsach.txt", csv.as_bytes(), Hints::default());
    assert_eq!(find(&plain, DetectorId::Mst).map(|f| f.counts.high), Some(0), "{plain:?}");
    // Semicolons and quotes, and a first line of data, which is no header.
    let semi = "\"Họ và tên\";\"Số CCCD\"\n\"Lê, C\";056090000123\n";
    let found = set().scan_bytes("a.csv", semi.as_bytes(), Hints::default());
    assert_eq!(find(&found, DetectorId::Cccd).map(|f| f.confidence), Some(Confidence::High), "{found:?}");
    let headless = "1;056090000123\n";
    let found = set().scan_bytes("b.csv", headless.as_bytes(), Hints::default());
    assert_eq!(find(&found, DetectorId::Cccd).map(|f| f.confidence), Some(Confidence::Medium), "{found:?}");
}

#[test]
fn legacy_files_are_recognised_by_their_words() {
    // A TCVN3 letter head and a CMND number in one file without font information.
    let seen =
        "CéNG HßA X· HéI CHñ NGHÜA VIÖT NAM\n§éc lËp - Tù do - H¹nh phóc\nTUYÖT MËT\nSè chøng minh nh©n d©n: 250000001";
    let bytes = legacy::seen_to_bytes(seen).unwrap_or_default();
    let findings = set().scan_bytes("old.txt", &bytes, Hints::default());
    let m1 = find(&findings, DetectorId::M1).map(|f| (f.view, f.location.line, f.location.offset));
    let offset = u64::try_from(seen.lines().take(2).map(|l| l.chars().count() + 1).sum::<usize>()).ok();
    assert_eq!(m1, offset.map(|o| (ViewKind::Legacy(Encoding::Tcvn3), 3, o)));
    // The keyword is in TCVN3 too ("chứng minh nhân dân").
    let cmnd = find(&findings, DetectorId::Cmnd).map(|f| (f.confidence, f.view));
    assert_eq!(cmnd, Some((Confidence::Medium, ViewKind::Legacy(Encoding::Tcvn3))));
    // The same text pasted into a UTF-8 document as seen through Windows-1252.
    let findings = text(seen);
    assert_eq!(find(&findings, DetectorId::M1).map(|f| f.view), Some(ViewKind::Legacy(Encoding::Tcvn3)));
    assert_eq!(find(&findings, DetectorId::Cmnd).map(|f| f.location.line), Some(4));
}

#[test]
fn legacy_runs_by_font() {
    let set = set();
    let mut object = set.object();
    if let Some(font) = font_encoding(".VnTimeH") {
        object.add_text("doc.docx!word/document.xml", "TUYÖT MËT", Hints { encoding: Some(font), prominent: true });
    }
    if let Some(font) = font_encoding("VNI-Times") {
        object.add_text(
            "doc.docx!word/header1.xml",
            "TAØI LIEÄU THU HOÀI",
            Hints { encoding: Some(font), prominent: false },
        );
    }
    let findings = object.finish();
    let got: Vec<_> = findings.iter().map(|f| (f.detector, f.view, f.location.part.as_str())).collect();
    assert_eq!(
        got,
        [
            (DetectorId::M1, ViewKind::Legacy(Encoding::Tcvn3), "doc.docx!word/document.xml"),
            (DetectorId::M5, ViewKind::Legacy(Encoding::Vni), "doc.docx!word/header1.xml"),
        ]
    );
}

#[test]
fn utf16_files() {
    let body = "Độ mật: Tuyệt mật\r\nSố CCCD: 056090000123\r\n";
    let mut le = vec![0xFF, 0xFE];
    le.extend(body.encode_utf16().flat_map(u16::to_le_bytes));
    let findings = set().scan_bytes("a.txt", &le, Hints::default());
    let got: Vec<_> = findings.iter().map(|f| (f.detector, f.location.line)).collect();
    assert_eq!(got, [(DetectorId::Cccd, 2), (DetectorId::M4, 1)]);
    // Line starts map exactly, other offsets within a few dozen bytes.
    assert_eq!(find(&findings, DetectorId::M4).map(|f| f.location.offset), Some(2));
    let cccd = 2 + 2 * body[..body.find("056").unwrap_or_default()].encode_utf16().count();
    let offset = find(&findings, DetectorId::Cccd).map_or(0, |f| f.location.offset);
    assert!(offset.abs_diff(cccd as u64) <= 64, "{offset} vs {cccd}");
}

#[test]
fn machine_readable_zones() {
    let td1 = "IDVNM0560900008056090000123<<<\n9001011M3001019VNM<<<<<<<<<<<2\nTEST<<SYNTHETIC<DLP<<<<<<<<<<<";
    assert_identifier(td1, DetectorId::MrzTd1, true, Some(Confidence::High));
    let long_number = "I<VNM056090000<1234<<<<<<<<<<<\n9001011F3001019VNM<<<<<<<<<<<2";
    let findings = text(long_number);
    assert_eq!(find(&findings, DetectorId::MrzTd1).and_then(|f| f.masked_sample.clone()), Some("056******123".into()));
    assert_identifier(&td1.replace("2\nTEST", "3\nTEST"), DetectorId::MrzTd1, false, None);
}

#[test]
fn counts_are_of_distinct_values_across_parts_and_views() {
    let set = set();
    let mut object = set.object();
    object.add_text("a", "CCCD 056090000123, 056090000123 và 001185999999; ĐT 0912 345 678", Hints::default());
    object.add_text(
        "b",
        "Số CCCD: 056 090 000 123\n0 5 6 0 9 0 0 0 0 1 2 3\n+84 912 345 678\n0168 123 4567",
        Hints::default(),
    );
    let findings = object.finish();
    let cccd = find(&findings, DetectorId::Cccd);
    assert_eq!(cccd.map(|f| (f.count, f.counts.at_least(Confidence::High))), Some((2, 2)));
    assert_eq!(cccd.map(|f| f.location.part.as_str()), Some("a"));
    // 0912 345 678 twice, and 0168 123 4567 became 038 123 4567.
    assert_eq!(find(&findings, DetectorId::Phone).map(|f| f.count), Some(2));
}

#[test]
fn findings_carry_no_content() {
    let input = "Số CCCD: 056090000123\nMST: 4200000011\nThẻ BHYT: HC4565600000123\n9704 3600 0000 0008\n\
                 dlp.test@example.gov.vn\nTUYỆT MẬT\nChỉ người có tên mới được bóc bì";
    let json = serde_json::to_string(&text(input)).unwrap_or_default();
    for secret in ["056090000123", "4200000011", "5600000123", "9704360000000008", "dlp.test", "TUYỆT", "bóc bì"] {
        assert!(!json.contains(secret), "{secret} in {json}");
    }
    assert!(json.contains("\"masked_sample\":\"056******123\""), "{json}");
    assert!(json.contains("\"level\":\"top_secret\""), "{json}");
}

#[test]
fn huge_single_line() {
    // Several megabytes on one line: numbers at the start, the middle and the end, prose
    // around them, and long runs of digits and of MRZ characters that must not blow up.
    let filler = "Văn bản hành chính của Ủy ban nhân dân tỉnh Khánh Hòa, số 0912 345 678; ";
    let mut line = String::from("CCCD 056090000123 ");
    while line.len() < 2_000_000 {
        line.push_str(filler);
    }
    line.push_str("CCCD 058301000456 ");
    line.push_str(&"1".repeat(500_000));
    line.push_str(&"<".repeat(500_000));
    line.push_str(" 0000201");
    while line.len() < 4_000_000 {
        line.push_str(filler);
    }
    line.push_str(" CCCD 001185999999 TUYỆT MẬT");
    let findings = text(&line);
    let cccd = find(&findings, DetectorId::Cccd).map(|f| (f.count, f.location.line, f.location.offset));
    assert_eq!(cccd, Some((3, 1, 5)));
    assert_eq!(find(&findings, DetectorId::Phone).map(|f| f.count), Some(1));
    // In prose, the level is only mentioned.
    assert_eq!(find(&findings, DetectorId::M1).map(|f| f.confidence), Some(Confidence::Low));
}

#[test]
fn lenient_province_codes() {
    let lenient = DetectorSet::new(Config { lenient_cccd_prefix: true, current_year: 2026, ..Config::default() });
    let Ok(lenient) = lenient else { panic!("detectors do not build") };
    let findings = lenient.scan_text("t", "Số CCCD: 003090000123", Hints::default());
    assert_eq!(find(&findings, DetectorId::Cccd).map(|f| f.confidence), Some(Confidence::Medium));
}

#[test]
fn objects_scanned_in_kept_buffers_find_what_fresh_ones_do() {
    // A long decomposed document, then short ones, Unicode and legacy: nothing of a text or
    // offset map built before may leak into the views built after it in the same memory.
    let long = format!(
        "{}Số CCCD: 056090000123\nT\u{4F}\u{302}\u{301}I M\u{41}\u{323}\u{302}T\n",
        "Văn bản.\n".repeat(50_000)
    );
    let seen = "TUYÖT MËT\nSè chøng minh nh©n d©n: 250000001";
    let inputs: [&[u8]; 4] = [
        long.as_bytes(),
        b"CCCD 001185999999",
        &legacy::seen_to_bytes(seen).unwrap_or_default(),
        "Độ mật: Tuyệt mật\nĐT 0912 345 678".as_bytes(),
    ];
    let set = set();
    let mut buffers = Buffers::default();
    for bytes in inputs {
        let mut object = set.object_in(buffers);
        object.add_bytes("kept", bytes, Hints::default());
        let (kept, returned) = object.finish_keeping();
        buffers = returned;
        let fresh = set.scan_bytes("kept", bytes, Hints::default());
        assert_eq!(serde_json::to_string(&kept).ok(), serde_json::to_string(&fresh).ok());
        assert!(!kept.is_empty());
    }
    assert!(buffers.capacity() >= long.len());
}
