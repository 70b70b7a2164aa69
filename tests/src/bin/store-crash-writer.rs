//! Test helper for the store crash test: appends signed batches for one synthetic agent
//! through the collector's group-commit writer, printing `ack N` after each batch is
//! acknowledged (i.e. committed). The test SIGKILLs it at random moments.

use haidang_collector::store::{self, writer};
use haidang_proto::batch::{ChainTip, seal};
use haidang_proto::event::Gap;
use haidang_proto::wire::{AgentFrame, encode_frame};
use haidang_proto::{AgentId, Event, EventBody, Timestamp};
use ring::signature::Ed25519KeyPair;
use std::io::Write;
use std::sync::Arc;

/// A fixed key: the test re-verifies signatures with the same seed.
pub const SEED: [u8; 32] = [42; 32];
const AGENT: AgentId = AgentId([9; 16]);
/// Batches submitted concurrently, so several share one commit.
const CONCURRENT: usize = 16;

fn main() -> anyhow::Result<()> {
    let data = std::env::args().nth(1).ok_or_else(|| anyhow::anyhow!("usage: store-crash-writer DATA_DIR"))?;
    let shared = Arc::new(store::Store::open(std::path::Path::new(&data), Default::default())?);
    let mut tip: Option<ChainTip> = store::chain_tips(&*shared.db()?)?.get(&AGENT).copied();
    let key = Ed25519KeyPair::from_seed_unchecked(&SEED).map_err(|_| anyhow::anyhow!("bad seed"))?;
    let tx = writer::start(shared, Box::new(|_| {}), Box::new(|_| {}), Default::default())?;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(async move {
        let mut out = std::io::stdout().lock();
        loop {
            let mut replies = Vec::new();
            for _ in 0..CONCURRENT {
                let first = tip.map_or(1, |t| t.last_seq + 1);
                let events: Vec<Event> = (first..first + 50)
                    .map(|seq| Event {
                        seq,
                        time: Timestamp::now(),
                        body: EventBody::Gap(Gap { lost: seq, first_seq: 0, last_seq: 0, reason: "crash test".into() }),
                    })
                    .collect();
                let batch = seal(&key, AGENT, tip.as_ref(), &events);
                tip = Some(ChainTip::of(&batch.header));
                let frame = encode_frame(&AgentFrame::Batch(batch.clone()));
                let (reply, done) = tokio::sync::oneshot::channel();
                let op = writer::WriteOp::Ingest { header: batch.header.clone(), raw: frame[4..].to_vec(), reply };
                tx.send(op).await?;
                replies.push((batch.header.batch_no, done));
            }
            for (batch_no, done) in replies {
                done.await?.map_err(|e| anyhow::anyhow!("{e}"))?;
                writeln!(out, "ack {batch_no}")?;
                out.flush()?;
            }
        }
    })
}
