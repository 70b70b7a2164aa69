//! The EMF reader of Windows print jobs: any bytes as they come (sniffed: a metafile, a spool
//! file, or neither), as the records after a metafile's header, and as the page of an EMF
//! spool file, end with parts or verdicts — never a panic, a hang or unbounded text.
#![no_main]

use libfuzzer_sys::fuzz_target;

use haidang_fuzz::extract as common;

fuzz_target!(|data: &[u8]| {
    common::check("fuzz", data);
    let mut page = common::emf_header();
    page.extend_from_slice(data);
    common::check("page.emf", &page);
    common::check("job.spl", &common::emf_spool(&[page]));
});
