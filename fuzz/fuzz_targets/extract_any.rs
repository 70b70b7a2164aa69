//! The content walker on arbitrary bytes: format sniffing, zip (and OOXML/ODF inside),
//! OLE, PDF and mail parsing must end with parts or verdicts, never a panic or a hang.
#![no_main]

use libfuzzer_sys::fuzz_target;

use haidang_fuzz::extract as common;

fuzz_target!(|data: &[u8]| {
    common::check("fuzz", data);
    // Under a mail name the same bytes take the MIME parser.
    common::check("fuzz.eml", data);
});
