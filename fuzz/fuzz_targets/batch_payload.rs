//! A batch's payload: zstd, then postcard `Vec<Event>`, then the JSON view the collector
//! serves. The same input is also decoded as an already decompressed postcard body, so
//! the fuzzer reaches the event decoder without having to forge zstd frames.
#![no_main]

use haidang_proto::batch::{MAX_BATCH_EVENTS, decode_events, encode_events};
use haidang_proto::{AgentId, Event};
use libfuzzer_sys::fuzz_target;

fn check(events: &[Event]) {
    for e in events {
        let _ = e.to_json(&AgentId([1; 16]));
    }
    // Re-encoding must be stable. Bytes are compared, not values: an f32 NaN in a health
    // event is never equal to itself.
    let once = postcard::to_stdvec(events).expect("decoded events re-encode");
    let decoded = decode_events(&encode_events(events), MAX_BATCH_EVENTS).expect("re-encoded events decode");
    assert_eq!(postcard::to_stdvec(&decoded).expect("events re-encode"), once);
}

fuzz_target!(|data: &[u8]| {
    if let Ok(events) = decode_events(data, MAX_BATCH_EVENTS) {
        check(&events);
    }
    if let Ok(events) = postcard::from_bytes::<Vec<Event>>(data) {
        check(&events);
    }
});
