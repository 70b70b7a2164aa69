//! The PDF reader (lopdf loading, page content operators, fonts, annotations, embedded
//! files) on arbitrary bytes after a PDF header.
#![no_main]

use libfuzzer_sys::fuzz_target;

use haidang_fuzz::extract as common;

fuzz_target!(|data: &[u8]| {
    let mut pdf = b"%PDF-1.7\n".to_vec();
    pdf.extend_from_slice(data);
    common::check("f.pdf", &pdf);
});
