//! Reading the events a query wants without holding them all: a first pass chooses the batches
//! (newest first, until they hold `limit` matching events) and keeps only their keys; a second
//! pass reads the chosen batches oldest first, a chunk at a time, each chunk in its own read
//! transaction, and hands out their events in time order as soon as no unread batch can hold
//! an earlier one. Memory is a few bytes a chosen batch plus the events of batches that overlap
//! in time, whatever the limit.

use super::{BATCHES, EventFilter, SEQ_INDEX, TIME_INDEX, decode_batch};
use anyhow::{Context, Result};
use haidang_proto::{AgentId, Event};
use redb::{Database, ReadableDatabase};
use std::collections::BTreeMap;

/// How many stored events one read transaction of the second pass decodes, at least one batch.
const CHUNK_EVENTS: usize = 1_000;

/// A batch the query reads, ordered by its earliest event: no event of a later batch is older.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct ChosenBatch {
    earliest: i64,
    agent: [u8; 16],
    batch_no: u64,
}

/// The batches a query reads and how many of their matching events are older than the newest
/// `limit`, so that the second pass can drop them.
#[derive(Debug)]
pub struct EventPlan {
    filter: EventFilter,
    batches: Vec<ChosenBatch>,
    skip: usize,
}

fn matches(filter: &EventFilter, event: &Event) -> bool {
    let from = filter.from.map_or(i64::MIN, |t| t.0);
    let to = filter.to.map_or(i64::MAX, |t| t.0);
    event.time.0 >= from && event.time.0 <= to && filter.kind.is_none_or(|k| k == event.kind())
}

fn open_batch(raw: &[u8]) -> Result<Vec<Event>> {
    decode_batch(raw)?.open().context("stored batch does not open")
}

/// The first pass: the newest batches that hold `filter.limit` matching events (all of them
/// when fewer match), by the agent's chain when the filter names one, else by time.
pub fn plan(db: &Database, filter: &EventFilter) -> Result<EventPlan> {
    let tx = db.begin_read()?;
    let stored = tx.open_table(BATCHES)?;
    let limit = filter.limit.max(1);
    let mut batches = Vec::new();
    let mut matching = 0usize;
    // Counts the batch's matching events; true once the chosen batches hold enough.
    let mut choose = |agent: [u8; 16], batch_no: u64, earliest: Option<i64>| -> Result<bool> {
        if let Some(raw) = stored.get((agent, batch_no))? {
            let events = open_batch(raw.value())?;
            let earliest = earliest.unwrap_or_else(|| events.iter().map(|e| e.time.0).min().unwrap_or(i64::MAX));
            matching += events.iter().filter(|e| matches(filter, e)).count();
            batches.push(ChosenBatch { earliest, agent, batch_no });
        }
        Ok(matching >= limit)
    };
    if let Some(agent) = filter.agent {
        let index = tx.open_table(SEQ_INDEX)?;
        for row in index.range((agent.0, 0)..=(agent.0, u64::MAX))?.rev() {
            let (_, batch_no) = row?;
            if choose(agent.0, batch_no.value(), None)? {
                break;
            }
        }
    } else {
        let from = filter.from.map_or(i64::MIN, |t| t.0);
        let to = filter.to.map_or(i64::MAX, |t| t.0);
        let index = tx.open_table(TIME_INDEX)?;
        for row in index.range(..=(to, [0xff; 16], u64::MAX))?.rev() {
            let (k, latest) = row?;
            let (earliest, agent, batch_no) = k.value();
            if latest.value() < from {
                continue;
            }
            if choose(agent, batch_no, Some(earliest))? {
                break;
            }
        }
    }
    batches.sort_unstable();
    Ok(EventPlan { filter: filter.clone(), batches, skip: matching.saturating_sub(limit) })
}

impl EventPlan {
    /// The second pass: hands the newest `limit` matching events to `emit`, oldest first (by
    /// time, then agent, then sequence number). `emit` runs outside any read transaction, so
    /// a slow reader of the result holds no snapshot of the store.
    pub fn read(self, db: &Database, mut emit: impl FnMut(AgentId, Event) -> Result<()>) -> Result<()> {
        let mut skip = self.skip;
        // (time, agent, sequence number, arrival) → an event not yet handed out.
        let mut waiting: BTreeMap<(i64, [u8; 16], u64, u64), Event> = BTreeMap::new();
        let mut arrival = 0u64;
        let mut next = 0;
        while next < self.batches.len() {
            {
                let tx = db.begin_read()?;
                let stored = tx.open_table(BATCHES)?;
                let mut decoded = 0;
                while next < self.batches.len() && decoded < CHUNK_EVENTS {
                    let batch = self.batches[next];
                    next += 1;
                    let Some(raw) = stored.get((batch.agent, batch.batch_no))? else { continue };
                    let events = open_batch(raw.value())?;
                    decoded += events.len();
                    for event in events.into_iter().filter(|e| matches(&self.filter, e)) {
                        waiting.insert((event.time.0, batch.agent, event.seq, arrival), event);
                        arrival += 1;
                    }
                }
            }
            // No unread batch holds an event older than its earliest.
            let unread_earliest = self.batches.get(next).map_or(i64::MAX, |b| b.earliest);
            while let Some(entry) = waiting.first_entry() {
                if next < self.batches.len() && entry.key().0 >= unread_earliest {
                    break;
                }
                let ((_, agent, _, _), event) = entry.remove_entry();
                if skip > 0 {
                    skip -= 1;
                } else {
                    emit(AgentId(agent), event)?;
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store;
    use haidang_proto::Timestamp;
    use haidang_proto::batch::{ChainTip, seal};
    use haidang_proto::event::{EventBody, EventKind, Gap};
    use haidang_proto::wire::{AgentFrame, encode_frame};
    use ring::signature::Ed25519KeyPair;

    const AGENTS: u8 = 3;
    const BATCHES_PER_AGENT: u64 = 40;
    const EVENTS_PER_BATCH: u64 = 50;

    /// The chunked reading, gathered.
    fn collect(db: &Database, filter: &EventFilter) -> Result<Vec<(AgentId, Event)>> {
        let mut found = Vec::new();
        plan(db, filter)?.read(db, |agent, event| {
            found.push((agent, event));
            Ok(())
        })?;
        Ok(found)
    }

    /// The reading this module replaced: every chosen batch's matching events at once, sorted.
    fn collect_all_at_once(db: &Database, filter: &EventFilter) -> Result<Vec<(AgentId, Event)>> {
        let tx = db.begin_read()?;
        let batches = tx.open_table(BATCHES)?;
        let mut found: Vec<(AgentId, Event)> = Vec::new();
        let limit = filter.limit.max(1);
        let from = filter.from.map_or(i64::MIN, |t| t.0);
        let to = filter.to.map_or(i64::MAX, |t| t.0);
        let take_batch = |agent: AgentId, batch_no: u64, found: &mut Vec<(AgentId, Event)>| -> Result<()> {
            let Some(raw) = batches.get((agent.0, batch_no))? else { return Ok(()) };
            for event in open_batch(raw.value())? {
                if matches(filter, &event) {
                    found.push((agent, event));
                }
            }
            Ok(())
        };
        if let Some(agent) = filter.agent {
            let index = tx.open_table(SEQ_INDEX)?;
            for row in index.range((agent.0, 0)..=(agent.0, u64::MAX))?.rev() {
                let (_, batch_no) = row?;
                take_batch(agent, batch_no.value(), &mut found)?;
                if found.len() >= limit {
                    break;
                }
            }
        } else {
            let index = tx.open_table(TIME_INDEX)?;
            for row in index.range(..=(to, [0xff; 16], u64::MAX))?.rev() {
                let (k, max_time) = row?;
                let (_, agent, batch_no) = k.value();
                if max_time.value() < from {
                    continue;
                }
                take_batch(AgentId(agent), batch_no, &mut found)?;
                if found.len() >= limit {
                    break;
                }
            }
        }
        found.sort_by_key(|(a, e)| (e.time, *a, e.seq));
        let skip = found.len().saturating_sub(limit);
        Ok(found.split_off(skip))
    }

    /// Three agents whose batches overlap in time; the last agent's chain is not in time order.
    fn store_with_many_chunks(db: &Database) {
        let rng = ring::rand::SystemRandom::new();
        let tx = db.begin_write().expect("write");
        for a in 0..AGENTS {
            let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng).expect("key");
            let key = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).expect("key");
            let agent = AgentId([a + 1; 16]);
            let mut tip: Option<ChainTip> = None;
            for b in 0..BATCHES_PER_AGENT {
                let slot = if a == AGENTS - 1 { (b * 7) % BATCHES_PER_AGENT } else { b };
                let events: Vec<Event> = (0..EVENTS_PER_BATCH)
                    .map(|j| Event {
                        seq: b * EVENTS_PER_BATCH + j + 1,
                        time: Timestamp(1_000_000 + ((slot * EVENTS_PER_BATCH + j) * 10) as i64 + i64::from(a) * 3),
                        body: EventBody::Gap(Gap { lost: j, first_seq: 0, last_seq: 0, reason: "test".into() }),
                    })
                    .collect();
                let batch = seal(&key, agent, tip.as_ref(), &events);
                let h = &batch.header;
                // Stored as the frame body, without its length prefix.
                let frame = encode_frame(&AgentFrame::Batch(batch.clone()));
                let raw = &frame[4..];
                tx.open_table(BATCHES).expect("table").insert((agent.0, h.batch_no), raw).expect("insert");
                tx.open_table(SEQ_INDEX).expect("table").insert((agent.0, h.last_seq), h.batch_no).expect("insert");
                tx.open_table(TIME_INDEX)
                    .expect("table")
                    .insert((h.min_time.0, agent.0, h.batch_no), h.max_time.0)
                    .expect("insert");
                tip = Some(ChainTip::of(h));
            }
        }
        tx.commit().expect("commit");
    }

    #[test]
    fn chunked_reading_yields_what_reading_everything_at_once_did() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = store::open(dir.path()).expect("store");
        store_with_many_chunks(&db);
        let total = (u64::from(AGENTS) * BATCHES_PER_AGENT * EVENTS_PER_BATCH) as usize;
        assert!(total > 4 * CHUNK_EVENTS, "the store spans several chunks");
        let middle = Some(Timestamp(1_000_000 + 5_000));
        let filters = [
            EventFilter { limit: 100, ..EventFilter::default() },
            EventFilter { limit: 2_345, ..EventFilter::default() },
            EventFilter { limit: 1_000_000, ..EventFilter::default() },
            EventFilter { limit: 0, ..EventFilter::default() },
            EventFilter { from: middle, limit: 1_000_000, ..EventFilter::default() },
            EventFilter { to: middle, limit: 1_500, ..EventFilter::default() },
            EventFilter { kind: Some(EventKind::Gap), limit: 3_000, ..EventFilter::default() },
            EventFilter { kind: Some(EventKind::File), limit: 3_000, ..EventFilter::default() },
            EventFilter { agent: Some(AgentId([AGENTS; 16])), limit: 1_234, ..EventFilter::default() },
            EventFilter { agent: Some(AgentId([1; 16])), limit: 1_000_000, ..EventFilter::default() },
            EventFilter { agent: Some(AgentId([AGENTS; 16])), from: middle, limit: 700, ..EventFilter::default() },
        ];
        for filter in filters {
            let expected = collect_all_at_once(&db, &filter).expect("collect all");
            let streamed = collect(&db, &filter).expect("chunked");
            assert_eq!(streamed.len(), expected.len(), "{filter:?}");
            assert!(streamed == expected, "{filter:?}: a different sequence");
        }
        let everything = collect(&db, &EventFilter { limit: 1_000_000, ..EventFilter::default() }).expect("chunked");
        assert_eq!(everything.len(), total);
        assert!(everything.windows(2).all(|w| (w[0].1.time, w[0].0) <= (w[1].1.time, w[1].0)), "in time order");
    }
}
