//! `Text`, the lossless carrier of operating-system strings: any bytes must come back
//! exactly, and any `Text` a peer can send (postcard, with an arbitrary "escaped" value)
//! must render and unescape without panicking.
#![no_main]

use haidang_proto::Text;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let t = Text::from_bytes(data);
    assert_eq!(t.to_bytes(), data, "Text::from_bytes is not lossless");
    assert_eq!(t.is_escaped(), std::str::from_utf8(data).is_err());
    let _ = t.display_safe();

    if let Ok(peer) = postcard::from_bytes::<Text>(data) {
        let _ = peer.to_bytes();
        let safe = peer.display_safe();
        assert!(!safe.chars().any(char::is_control), "control character survives display_safe: {safe:?}");
    }
});
