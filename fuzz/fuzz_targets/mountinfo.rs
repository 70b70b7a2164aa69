//! `/proc/self/mountinfo` lines: the DLP mount watcher parses them on every mount change.
//! Kernel-generated, but parsed as untrusted: any bytes give entries or nothing, never a
//! panic, and every entry has an absolute mount point.
#![no_main]

use haidang_agent::dlp_sensor::mountinfo;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for entry in mountinfo::parse(data) {
        assert!(entry.mount_point.is_absolute(), "{entry:?}");
        let _ = entry.read_only();
    }
});
