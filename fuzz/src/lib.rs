//! Shared pieces of the fuzz targets: the fixed signing key the `agent_frame` target verifies
//! against, and realistic values from which `examples/seeds.rs` writes the seed corpus.
//!
//! Seeds matter here: a batch only gets past signature verification if it was signed by
//! the fixed key, and a payload only gets past zstd if it is a real frame, so without
//! seeds the fuzzer would spend its time on the first few bytes of every decoder.

pub mod extract;

use haidang_proto::batch::{ChainTip, seal};
use haidang_proto::enroll::{EnrollRequest, EnrollResponse, Enrolled};
use haidang_proto::event::{
    Actor, Detection, FileAction, FileEvent, FileMeta, Gap, Health, ProcessAction, ProcessEvent,
};
use haidang_proto::wire::{Ack, AgentFrame, CollectorFrame, Refusal};
use haidang_proto::{AgentId, Event, EventBody, Hello, MachineId, SignedBatch, Text, Timestamp};
use ring::signature::{Ed25519KeyPair, KeyPair};

/// The agent id every seed batch is signed for.
pub const AGENT: AgentId = AgentId([0x5a; 16]);

/// A deterministic Ed25519 key, so a signed seed stays valid across runs.
pub fn key() -> Ed25519KeyPair {
    // A 32-byte seed is always a valid Ed25519 private key.
    Ed25519KeyPair::from_seed_unchecked(&[7; 32]).expect("fixed 32-byte seed")
}

/// The raw public half of [`key`].
pub fn public_key() -> Vec<u8> {
    key().public_key().as_ref().to_vec()
}

/// One event of every kind, with non-UTF-8 and Vietnamese text, starting at `first_seq`.
pub fn sample_events(first_seq: u64) -> Vec<Event> {
    let meta = FileMeta {
        size: 12,
        mode: 0o100644,
        uid: 1000,
        gid: 1000,
        mtime: Timestamp(1_700_000_000_000_000_000),
        hash: Some([0xab; 32]),
    };
    let bodies = vec![
        EventBody::File(FileEvent {
            action: FileAction::Modified,
            path: Text::from("/srv/tài liệu/kế hoạch.txt"),
            old_path: None,
            old: Some(FileMeta { hash: Some([0xcd; 32]), ..meta.clone() }),
            new: Some(meta.clone()),
            critical: true,
            detection: Detection::Realtime,
            actor: Some(Actor { pid: 42, image: Text::from("/usr/bin/vim") }),
        }),
        EventBody::File(FileEvent {
            action: FileAction::Renamed,
            path: Text::from_bytes(b"/srv/th\xff\xfe m\\x41.bin"),
            old_path: Some(Text::from("/srv/old.bin")),
            old: None,
            new: None,
            critical: false,
            detection: Detection::Rescan,
            actor: None,
        }),
        EventBody::Process(ProcessEvent {
            action: ProcessAction::Start,
            pid: 4242,
            ppid: 1,
            image: Text::from("/bin/sh"),
            command_line: Text::from("sh -c 'echo \x1b[2J\u{202e}'"),
            user: Text::from("root"),
            parent_image: Some(Text::from("/sbin/init")),
            image_hash: Some([0x11; 32]),
            exit_code: Some(-1),
        }),
        EventBody::Health(Health {
            spool_events: 3,
            spool_bytes: 4096,
            rss_bytes: 12 << 20,
            cpu_percent: 0.1,
            uptime_secs: 60,
            fim_sensor: "notify".into(),
            process_sensor: "poll".into(),
            agent_version: "0.1.0".into(),
        }),
        EventBody::Gap(Gap { lost: 5, first_seq: 1, last_seq: 5, reason: "spool full".into() }),
    ];
    bodies
        .into_iter()
        .zip(first_seq..)
        .map(|(body, seq)| Event { seq, time: Timestamp(1_700_000_000_000_000_000 + seq as i64), body })
        .collect()
}

/// Batches 1 and 2 of [`AGENT`]'s chain, signed with [`key`].
pub fn sample_batches() -> (SignedBatch, SignedBatch) {
    let key = key();
    let first = seal(&key, AGENT, None, &sample_events(1));
    let second = seal(&key, AGENT, Some(&ChainTip::of(&first.header)), &sample_events(6));
    (first, second)
}

/// Frames in both directions, as they appear on the wire (with the length prefix).
pub fn sample_agent_frames() -> Vec<AgentFrame> {
    let (first, second) = sample_batches();
    let hello = Hello::new(AGENT, MachineId([7; 32]), Some(MachineId([8; 32])), "ubnd-khanh-hoa-01", &key());
    vec![AgentFrame::Hello(hello), AgentFrame::Batch(first), AgentFrame::Batch(second)]
}

pub fn sample_collector_frames() -> Vec<CollectorFrame> {
    vec![
        CollectorFrame::Ack(Ack { batch_no: 7, last_seq: 700, duplicate: true }),
        CollectorFrame::Refused(Refusal { code: "signature".into(), message: "bad signature".into() }),
        CollectorFrame::Welcome,
    ]
}

pub fn sample_enroll_request() -> EnrollRequest {
    EnrollRequest::new(&key(), "hd_0123456789abcdef", "ubnd-khanh-hoa-01", "linux", "0.1.0")
}

pub fn sample_enroll_responses() -> Vec<EnrollResponse> {
    vec![
        EnrollResponse::Enrolled(Enrolled {
            agent_id: AGENT,
            group: "so-tttt".into(),
            certificate: vec![0x30, 0x82, 0x01, 0x00],
            ca_certificate: vec![0x30, 0x82, 0x02, 0x00],
        }),
        EnrollResponse::Refused(Refusal { code: "token_expired".into(), message: "token expired".into() }),
    ]
}
