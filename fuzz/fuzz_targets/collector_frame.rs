//! What an agent decodes from the collector: the frames on its batch stream (acks and
//! refusals) and the answer to its enrollment request. The input is a frame body, without
//! the length prefix (the prefix check is fuzzed by `agent_frame`).
#![no_main]

use haidang_proto::enroll::EnrollResponse;
use haidang_proto::wire::{CollectorFrame, decode_frame, encode_frame};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(frame) = decode_frame::<CollectorFrame>(data) {
        let again = encode_frame(&frame);
        assert_eq!(decode_frame::<CollectorFrame>(&again[4..]).as_ref(), Ok(&frame));
        if let CollectorFrame::Refused(r) = &frame {
            // The agent logs the collector's reason: it must render without panicking.
            let _ = haidang_proto::text::terminal_safe(&r.message);
        }
    }
    if let Ok(response) = decode_frame::<EnrollResponse>(data) {
        let again = encode_frame(&response);
        assert_eq!(decode_frame::<EnrollResponse>(&again[4..]).as_ref(), Ok(&response));
    }
});
