//! The Word 97 (.doc) and Excel 97 (.xls) readers — file information block, piece table,
//! font table, BIFF records and shared strings — on arbitrary streams inside a valid
//! compound file, and the compound-file parser itself on arbitrary bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::io::Write;

use haidang_fuzz::extract as common;

fn ole_of(streams: &[(&str, &[u8])]) -> Option<Vec<u8>> {
    let mut file = cfb::CompoundFile::create(std::io::Cursor::new(Vec::new())).ok()?;
    for (name, data) in streams {
        file.create_stream(name).ok()?.write_all(data).ok()?;
    }
    file.flush().ok()?;
    Some(file.into_inner().into_inner())
}

fuzz_target!(|data: &[u8]| {
    let (word, table) = data.split_at(data.len() / 2);
    if let Some(doc) = ole_of(&[("/WordDocument", word), ("/0Table", table), ("/1Table", table)]) {
        common::check("f.doc", &doc);
    }
    if let Some(xls) = ole_of(&[("/Workbook", data)]) {
        common::check("f.xls", &xls);
    }
    let mut raw = vec![0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1];
    raw.extend_from_slice(data);
    common::check("raw.doc", &raw);
});
