//! What the collector does with the bytes an enrolled agent sends on its batch stream:
//! the length prefix, the frame body, a hello's checks, then for a batch the signature check (against a
//! fixed key, which seeds from `examples/seeds.rs` are signed with), payload decoding and
//! the chain decision. `open` and `check_chain` run even when the signature fails, so the
//! fuzzer exercises them on arbitrary headers and payloads, not only on signed ones.
#![no_main]

use haidang_proto::batch::{ChainTip, check_chain};
use haidang_proto::wire::{AgentFrame, decode_frame, encode_frame, frame_length};
use libfuzzer_sys::fuzz_target;
use std::sync::LazyLock;

static PUBLIC_KEY: LazyLock<Vec<u8>> = LazyLock::new(haidang_fuzz::public_key);

fuzz_target!(|data: &[u8]| {
    let Some((prefix, body)) = data.split_first_chunk::<4>() else { return };
    // The collector reads exactly the announced length; a shorter stream is a truncated
    // frame, a longer one the start of the next frame.
    let Ok(len) = frame_length(*prefix) else { return };
    let Some(body) = body.get(..len) else { return };
    let Ok(frame) = decode_frame::<AgentFrame>(body) else { return };
    // Whatever decodes must encode back to a frame that decodes to the same value.
    let again = encode_frame(&frame);
    assert_eq!(decode_frame::<AgentFrame>(&again[4..]).as_ref(), Ok(&frame));

    let batch = match frame {
        AgentFrame::Batch(batch) => batch,
        // The session's first frame: its bounds and the re-enrollment key's signature.
        AgentFrame::Hello(hello) => {
            let _ = hello.validate(haidang_fuzz::AGENT);
            return;
        }
    };
    let verified = batch.verify(&PUBLIC_KEY).is_ok();
    let opened = batch.open();
    if verified && let Ok(events) = &opened {
        // A verified and opened batch is what the collector stores: it must describe itself.
        assert_eq!(events.len(), batch.header.event_count as usize);
        assert!(events.first().is_some_and(|e| e.seq == batch.header.first_seq));
        assert!(events.last().is_some_and(|e| e.seq == batch.header.last_seq));
    }
    let _ = check_chain(None, &batch.header);
    let tip = ChainTip {
        batch_no: batch.header.batch_no.saturating_sub(1),
        hash: batch.header.prev_hash,
        last_seq: batch.header.first_seq.saturating_sub(1),
    };
    let _ = check_chain(Some(&tip), &batch.header);
    let _ = check_chain(Some(&ChainTip::of(&batch.header)), &batch.header);
});
