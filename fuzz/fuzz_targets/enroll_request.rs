//! What the collector decodes from an unauthenticated enrollment connection: the request
//! body (the prefix check is fuzzed by `agent_frame`), then its bounds and proof of
//! possession.
#![no_main]

use haidang_proto::enroll::EnrollRequest;
use haidang_proto::wire::{decode_frame, encode_frame};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(request) = decode_frame::<EnrollRequest>(data) else { return };
    let again = encode_frame(&request);
    assert_eq!(decode_frame::<EnrollRequest>(&again[4..]).as_ref(), Ok(&request));
    if request.validate().is_ok() {
        // Only a request within the documented bounds may pass.
        assert_eq!(request.public_key.len(), 32);
        for field in [&request.token, &request.hostname, &request.os, &request.agent_version] {
            assert!(field.len() <= haidang_proto::enroll::MAX_FIELD_BYTES);
        }
        // Nothing that reaches a log line or a console can carry control characters.
        assert!(haidang_proto::enroll::is_host_name(&request.hostname));
        for field in [&request.hostname, &request.os, &request.agent_version] {
            assert!(!field.chars().any(char::is_control));
        }
    }
});
