//! The OOXML and ODF XML walkers (runs, fonts, styles, text boxes, tables and their column
//! headers, worksheets with shared strings and page headers, sheet names, document
//! properties) on arbitrary XML, wrapped in a valid zip so the bytes reach them.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::io::Write;

use haidang_fuzz::extract as common;

fn zip_of(entries: &[(&str, &[u8])]) -> Option<Vec<u8>> {
    let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    for (name, data) in entries {
        writer.start_file(*name, options).ok()?;
        writer.write_all(data).ok()?;
    }
    Some(writer.finish().ok()?.into_inner())
}

fuzz_target!(|data: &[u8]| {
    // The first half is styles, the rest the document, so style fonts meet runs.
    let (styles, body) = data.split_at(data.len() / 2);
    let docx = [("[Content_Types].xml", &b"<Types/>"[..]), ("word/styles.xml", styles), ("word/document.xml", body)];
    let xlsx = [
        ("[Content_Types].xml", &b"<Types/>"[..]),
        ("xl/sharedStrings.xml", styles),
        ("xl/workbook.xml", styles),
        ("xl/worksheets/sheet1.xml", body),
        ("docProps/custom.xml", body),
    ];
    let odt = [("META-INF/manifest.xml", &b"<manifest/>"[..]), ("content.xml", body), ("styles.xml", styles)];
    for (name, entries) in [("f.docx", &docx[..]), ("f.xlsx", &xlsx[..]), ("f.odt", &odt[..])] {
        if let Some(zip) = zip_of(entries) {
            common::check(name, &zip);
        }
    }
});
