//! A compiled-rules cache file read back from disk: any bytes are refused with a message, or
//! give a header and a payload that lie inside the file, never a panic.
#![no_main]

use haidang_yara::testing::{PREFIX_LEN, decode};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    match decode(data) {
        Ok((header, payload)) => assert_eq!(PREFIX_LEN + 4 + header.len() + payload.len(), data.len()),
        Err(e) => assert!(!e.to_string().is_empty()),
    }
});
