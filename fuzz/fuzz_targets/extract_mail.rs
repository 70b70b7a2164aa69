//! The mail reader (MIME structure, encoded words, charsets, HTML bodies, attachments
//! walked again) on arbitrary bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;

use haidang_fuzz::extract as common;

fuzz_target!(|data: &[u8]| {
    let mut mail =
        b"From: a@example.vn\r\nSubject: x\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n".to_vec();
    mail.extend_from_slice(data);
    common::check("f.eml", &mail);
});
