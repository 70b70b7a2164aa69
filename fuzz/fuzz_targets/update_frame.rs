//! The update protocol's frames from the other side: what the collector reads from an agent
//! (`UpdateRequest`) and what the agent reads from the collector (`UpdateResponse`, whose offer
//! is then bounds-checked before any of it is written to disk).
#![no_main]

use haidang_proto::update::{UpdateRequest, UpdateResponse, check_name};
use haidang_proto::wire::{decode_frame, encode_frame, frame_length};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((prefix, body)) = data.split_first_chunk::<4>() else { return };
    let Ok(len) = frame_length(*prefix) else { return };
    let Some(body) = body.get(..len) else { return };
    if let Ok(request) = decode_frame::<UpdateRequest>(body) {
        assert_eq!(decode_frame::<UpdateRequest>(&encode_frame(&request)[4..]).as_ref(), Ok(&request));
        if let UpdateRequest::Package { name, .. } = &request
            && check_name(name).is_ok()
        {
            assert!(!name.contains('/') && !name.contains('\\') && name != "..");
        }
    }
    if let Ok(response) = decode_frame::<UpdateResponse>(body) {
        assert_eq!(decode_frame::<UpdateResponse>(&encode_frame(&response)[4..]).as_ref(), Ok(&response));
        if let UpdateResponse::Offer(offer) = &response
            && offer.check().is_ok()
        {
            assert!(offer.metadata.iter().all(|f| f.name.ends_with(".json") && !f.name.contains('/')));
        }
    }
});
