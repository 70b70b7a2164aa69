//! The agent's durable spool (redb): every observation is written here, with its sequence
//! number, before anything is sent; batches are sealed from it and removed only when the
//! collector acknowledges them.
//!
//! Layout: `events` holds unsent events by sequence number; `outbox` holds sealed, signed
//! batches by batch number until acknowledged. Sealing moves events from one to the other
//! and advances the chain tip in the same transaction, so after a crash the agent resends
//! byte-identical batches and the collector's chain never forks.
//!
//! `cursors` holds where sources with their own position (a Windows event log's bookmark)
//! have read up to, written in the transaction that stores what they read, so after a crash
//! such a source neither repeats nor skips a record.
//!
//! When the spool reaches its size limit, or the disk under it is full, the oldest unsent
//! events are dropped and a [`Gap`] event says how many and which; observations that could
//! not be written at all are counted and their gap is written with the next that can be.
//! A full disk lowers the limit to what the spool held when it filled up, so the spool goes
//! on within the space it has (reusing the pages of the events it drops) until the disk has
//! room again.

mod handle;
mod recorder;
mod reserve;

pub use recorder::Recorder;

use anyhow::{Context, Result};
use haidang_proto::batch::{self, ChainTip};
use haidang_proto::event::Gap;
use haidang_proto::{AgentId, Event, EventBody, SignedBatch, Timestamp};
use handle::Handle;
use redb::{ReadableDatabase, ReadableTable, ReadableTableMetadata, Table, TableDefinition};
use reserve::Reserve;
use ring::signature::Ed25519KeyPair;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use tokio::sync::Notify;

const EVENTS: TableDefinition<u64, &[u8]> = TableDefinition::new("events");
const OUTBOX: TableDefinition<u64, &[u8]> = TableDefinition::new("outbox");
const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
const CURSORS: TableDefinition<&str, &[u8]> = TableDefinition::new("cursors");

const NEXT_SEQ: &str = "next_seq";
const BYTES: &str = "bytes";
const TIP: &str = "chain_tip";

/// How a gap record for dropped unsent events begins its reason.
const GAP_REASON: &str = "spool reached its limit";
/// How the gap record for observations that could not be written begins its reason.
const UNWRITTEN_REASON: &str = "spool could not be written";

/// The lowest limit a full disk sets: below it the spool would drop nearly every event.
const MIN_LIMIT: u64 = 256 << 10;

/// Something a sensor saw, before the spool gives it a sequence number.
#[derive(Clone, Debug)]
pub struct Observation {
    pub time: Timestamp,
    pub body: EventBody,
}

impl Observation {
    pub fn now(body: EventBody) -> Observation {
        Observation { time: Timestamp::now(), body }
    }
}

/// Where a source has read up to, by its name (`winlog:Security`), stored with what it read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cursor {
    pub name: String,
    pub position: Vec<u8>,
}

/// How full the spool is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Depth {
    pub events: u64,
    pub batches: u64,
    pub bytes: u64,
    /// Sequence number of the newest event recorded (0 before the first).
    pub last_seq: u64,
}

/// Unsent events dropped from the front of the spool.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Dropped {
    lost: u64,
    first: u64,
    last: u64,
}

pub struct Spool {
    db: Handle,
    reserve: Reserve,
    max_bytes: u64,
    /// The limit in force: `max_bytes`, or less while the disk is full.
    limit: AtomicU64,
    /// Observations that could not be written at all, waiting for their gap record.
    unwritten: Mutex<u64>,
    /// Woken whenever new events are durable, so the uplink can seal them.
    pub new_events: Notify,
}

impl Spool {
    pub fn open(path: &Path, max_bytes: u64) -> Result<Arc<Spool>> {
        let db = Handle::open(path)?;
        db.with(|db| {
            let tx = db.begin_write()?;
            tx.open_table(EVENTS)?;
            tx.open_table(OUTBOX)?;
            tx.open_table(META)?;
            tx.open_table(CURSORS)?;
            tx.commit()?;
            Ok(())
        })?;
        let reserve = Reserve::new(path.with_extension("reserve"));
        reserve.replenish();
        Ok(Arc::new(Spool {
            db,
            reserve,
            max_bytes,
            limit: AtomicU64::new(max_bytes),
            unwritten: Mutex::new(0),
            new_events: Notify::new(),
        }))
    }

    /// Writes observations durably and gives them sequence numbers. When the spool is over
    /// its size limit the oldest unsent events are dropped and a [`Gap`] event says so.
    pub fn append(&self, observations: &[Observation]) -> Result<()> {
        self.append_with_cursors(observations, &[])
    }

    /// As [`Spool::append`], and moves `cursors` in the same transaction: their sources' next
    /// read starts after exactly what this call stored.
    pub fn append_with_cursors(&self, observations: &[Observation], cursors: &[Cursor]) -> Result<()> {
        let unwritten = *self.unwritten.lock().unwrap_or_else(PoisonError::into_inner);
        let limit = self.limit.load(Ordering::Relaxed);
        self.db.with(|db| {
            let tx = db.begin_write()?;
            {
                let mut events = tx.open_table(EVENTS)?;
                let mut meta = tx.open_table(META)?;
                let mut next_seq = read_u64(&meta, NEXT_SEQ)?.unwrap_or(1);
                let mut bytes = read_u64(&meta, BYTES)?.unwrap_or(0);
                if unwritten > 0 {
                    // The lost observations take the sequence numbers they would have had.
                    let lost = Dropped { lost: unwritten, first: next_seq, last: next_seq + unwritten - 1 };
                    next_seq += unwritten;
                    let reason = format!("{UNWRITTEN_REASON} (the disk is full or failing)");
                    bytes += insert(&mut events, &gap_event(next_seq, lost, reason))?;
                    next_seq += 1;
                }
                for obs in observations {
                    let event = Event { seq: next_seq, time: obs.time, body: obs.body.clone() };
                    bytes += insert(&mut events, &event)?;
                    next_seq += 1;
                }
                if bytes > limit {
                    let target = limit - limit / 10;
                    let dropped = drop_oldest(&mut events, &mut bytes, target)?;
                    if let Some(dropped) = dropped {
                        tracing::warn!(
                            lost = dropped.lost,
                            first = dropped.first,
                            last = dropped.last,
                            "spool full: dropped the oldest unsent events"
                        );
                        let reason = match limit < self.max_bytes {
                            true => format!("{GAP_REASON} of {limit} bytes: the disk is full"),
                            false => format!("{GAP_REASON} of {limit} bytes"),
                        };
                        bytes += insert(&mut events, &gap_event(next_seq, dropped, reason))?;
                        next_seq += 1;
                    }
                }
                meta.insert(NEXT_SEQ, next_seq.to_le_bytes().as_slice())?;
                meta.insert(BYTES, bytes.to_le_bytes().as_slice())?;
                let mut positions = tx.open_table(CURSORS)?;
                for cursor in cursors {
                    positions.insert(cursor.name.as_str(), cursor.position.as_slice())?;
                }
            }
            tx.commit()?;
            Ok(())
        })?;
        self.db.succeeded();
        if self.reserve.replenish() && self.limit.swap(self.max_bytes, Ordering::Relaxed) < self.max_bytes {
            tracing::info!(max_bytes = self.max_bytes, "the disk has room again: the spool's limit is restored");
        }
        *self.unwritten.lock().unwrap_or_else(PoisonError::into_inner) -= unwritten;
        self.new_events.notify_one();
        Ok(())
    }

    /// Where the source `name` had read up to when its last observations were stored.
    pub fn cursor(&self, name: &str) -> Result<Option<Vec<u8>>> {
        self.db.with(|db| {
            let tx = db.begin_read()?;
            let positions = tx.open_table(CURSORS)?;
            Ok(positions.get(name)?.map(|v| v.value().to_vec()))
        })
    }

    /// Makes room on a full disk: gives back the room held in reserve (which this transaction
    /// needs), drops the oldest unsent events, at least `bytes` of them and at least a tenth
    /// of what the spool holds, and records their gap. The pages they free are reused by the
    /// next writes, so the spool goes on taking the newest observations while the disk stays
    /// full. Returns how many events were dropped.
    pub fn make_room(&self, bytes: u64) -> Result<u64> {
        self.reserve.release();
        let dropped = self.db.with(|db| {
            let tx = db.begin_write()?;
            let (dropped, mut held);
            {
                let mut events = tx.open_table(EVENTS)?;
                let mut meta = tx.open_table(META)?;
                held = read_u64(&meta, BYTES)?.unwrap_or(0);
                let target = held.saturating_sub(bytes.max(held / 10));
                dropped = drop_oldest(&mut events, &mut held, target)?;
                if let Some(dropped) = dropped {
                    let next_seq = read_u64(&meta, NEXT_SEQ)?.unwrap_or(1);
                    let reason = format!("{GAP_REASON}: the disk is full");
                    held += insert(&mut events, &gap_event(next_seq, dropped, reason))?;
                    meta.insert(NEXT_SEQ, (next_seq + 1).to_le_bytes().as_slice())?;
                    meta.insert(BYTES, held.to_le_bytes().as_slice())?;
                }
            }
            tx.commit()?;
            Ok(dropped.map(|d| (d, held)))
        })?;
        let Some((dropped, held)) = dropped else { return Ok(0) };
        let limit = held.clamp(MIN_LIMIT, self.max_bytes);
        self.limit.fetch_min(limit, Ordering::Relaxed);
        tracing::warn!(
            lost = dropped.lost,
            first = dropped.first,
            last = dropped.last,
            limit,
            "disk full: dropped the oldest unsent events to make room; the spool keeps within this limit until the \
             disk has room again"
        );
        Ok(dropped.lost)
    }

    /// Counts observations that could not be written; their gap is written with the next
    /// observations that can be.
    pub fn lose_unwritten(&self, count: u64) {
        *self.unwritten.lock().unwrap_or_else(PoisonError::into_inner) += count;
    }

    /// Why the spool cannot be written now, if it cannot.
    pub fn problem(&self) -> Option<String> {
        self.db.problem()
    }

    /// Batches sealed earlier and not yet acknowledged, oldest first (resent on reconnect).
    pub fn unacked(&self) -> Result<Vec<SignedBatch>> {
        self.db.with(|db| {
            let tx = db.begin_read()?;
            let outbox = tx.open_table(OUTBOX)?;
            let mut out = Vec::new();
            for row in outbox.iter()? {
                let (_, v) = row?;
                out.push(postcard::from_bytes(v.value()).context("spool outbox entry is corrupt")?);
            }
            Ok(out)
        })
    }

    /// Moves up to `max_events` of the oldest unsent events into a new signed batch.
    /// Returns None when there is nothing to send.
    pub fn seal(
        &self,
        key: &Ed25519KeyPair,
        agent_id: AgentId,
        max_events: usize,
        max_bytes: usize,
    ) -> Result<Option<SignedBatch>> {
        self.db.with(|db| {
            let tx = db.begin_write()?;
            let sealed;
            {
                let mut events = tx.open_table(EVENTS)?;
                let mut outbox = tx.open_table(OUTBOX)?;
                let mut meta = tx.open_table(META)?;
                let mut taken = Vec::new();
                let mut size = 0usize;
                for row in events.iter()? {
                    let (k, v) = row?;
                    if taken.len() >= max_events || (size >= max_bytes && !taken.is_empty()) {
                        break;
                    }
                    size += v.value().len();
                    let event: Event = postcard::from_bytes(v.value()).context("spool event is corrupt")?;
                    taken.push((k.value(), event));
                }
                if taken.is_empty() {
                    return Ok(None);
                }
                let tip = match meta.get(TIP)? {
                    Some(v) => Some(postcard::from_bytes::<ChainTip>(v.value())?),
                    None => None,
                };
                let list: Vec<Event> = taken.iter().map(|(_, e)| e.clone()).collect();
                let signed = batch::seal(key, agent_id, tip.as_ref(), &list);
                let encoded = postcard::to_stdvec(&signed)?;
                for (seq, _) in &taken {
                    events.remove(*seq)?;
                }
                outbox.insert(signed.header.batch_no, encoded.as_slice())?;
                meta.insert(TIP, postcard::to_stdvec(&ChainTip::of(&signed.header))?.as_slice())?;
                let bytes = read_u64(&meta, BYTES)?.unwrap_or(0).saturating_sub(size as u64) + encoded.len() as u64;
                meta.insert(BYTES, bytes.to_le_bytes().as_slice())?;
                sealed = signed;
            }
            tx.commit()?;
            Ok(Some(sealed))
        })
    }

    /// Starts a new chain for a new identity (a copied agent re-enrolled): the sealed batches
    /// are dropped, being the original machine's (it sends them itself), and the events not yet
    /// sealed go into the new chain's first batches.
    pub fn begin_new_chain(&self) -> Result<()> {
        self.db.with(|db| {
            let tx = db.begin_write()?;
            {
                let mut outbox = tx.open_table(OUTBOX)?;
                let mut meta = tx.open_table(META)?;
                let mut dropped = 0u64;
                for row in outbox.iter()? {
                    dropped += row?.1.value().len() as u64;
                }
                outbox.retain(|_, _| false)?;
                meta.remove(TIP)?;
                let bytes = read_u64(&meta, BYTES)?.unwrap_or(0).saturating_sub(dropped);
                meta.insert(BYTES, bytes.to_le_bytes().as_slice())?;
            }
            tx.commit()?;
            Ok(())
        })
    }

    /// Forgets a batch the collector has durably stored.
    pub fn ack(&self, batch_no: u64) -> Result<()> {
        self.db.with(|db| {
            let tx = db.begin_write()?;
            {
                let mut outbox = tx.open_table(OUTBOX)?;
                let mut meta = tx.open_table(META)?;
                let removed = outbox.remove(batch_no)?.map(|v| v.value().len() as u64);
                if let Some(len) = removed {
                    let bytes = read_u64(&meta, BYTES)?.unwrap_or(0).saturating_sub(len);
                    meta.insert(BYTES, bytes.to_le_bytes().as_slice())?;
                }
            }
            tx.commit()?;
            Ok(())
        })
    }

    pub fn depth(&self) -> Result<Depth> {
        self.db.with(|db| {
            let tx = db.begin_read()?;
            let events = tx.open_table(EVENTS)?.len()?;
            let batches = tx.open_table(OUTBOX)?.len()?;
            let meta = tx.open_table(META)?;
            let bytes = read_u64(&meta, BYTES)?.unwrap_or(0);
            let last_seq = read_u64(&meta, NEXT_SEQ)?.unwrap_or(1).saturating_sub(1);
            Ok(Depth { events, batches, bytes, last_seq })
        })
    }
}

fn read_u64(table: &impl ReadableTable<&'static str, &'static [u8]>, key: &str) -> Result<Option<u64>> {
    Ok(match table.get(key)? {
        Some(v) => Some(u64::from_le_bytes(v.value().try_into().context("spool metadata is corrupt")?)),
        None => None,
    })
}

/// Encodes and stores one event; returns its size.
fn insert(events: &mut Table<u64, &[u8]>, event: &Event) -> Result<u64> {
    let encoded = postcard::to_stdvec(event)?;
    events.insert(event.seq, encoded.as_slice())?;
    Ok(encoded.len() as u64)
}

fn gap_event(seq: u64, dropped: Dropped, reason: String) -> Event {
    Event {
        seq,
        time: Timestamp::now(),
        body: EventBody::Gap(Gap { lost: dropped.lost, first_seq: dropped.first, last_seq: dropped.last, reason }),
    }
}

/// Drops the oldest unsent events until `bytes` is at most `target`. An earlier gap record
/// of the spool's own dropped in turn carries its count forward, so the total of lost events
/// stays exact however often the spool overflows.
fn drop_oldest(events: &mut Table<u64, &[u8]>, bytes: &mut u64, target: u64) -> Result<Option<Dropped>> {
    let mut dropped: Option<Dropped> = None;
    while *bytes > target {
        let Some((seq, value)) = events.pop_first()?.map(|(k, v)| (k.value(), v.value().to_vec())) else {
            break;
        };
        *bytes = bytes.saturating_sub(value.len() as u64);
        let this = match postcard::from_bytes::<Event>(&value).map(|e| e.body) {
            // The record's own number joins the range, so that no number goes unexplained.
            Ok(EventBody::Gap(g)) if is_spool_gap(&g) => {
                Dropped { lost: g.lost, first: g.first_seq.min(seq), last: g.last_seq.max(seq) }
            }
            _ => Dropped { lost: 1, first: seq, last: seq },
        };
        dropped = Some(match dropped {
            None => this,
            Some(d) => {
                Dropped { lost: d.lost + this.lost, first: d.first.min(this.first), last: d.last.max(this.last) }
            }
        });
    }
    Ok(dropped)
}

/// Whether a gap record was written by the spool itself (rather than by a sensor).
fn is_spool_gap(gap: &Gap) -> bool {
    gap.reason.starts_with(GAP_REASON) || gap.reason.starts_with(UNWRITTEN_REASON)
}

#[cfg(test)]
mod tests {
    use super::*;
    use haidang_proto::event::Gap;
    use ring::rand::SystemRandom;

    fn key() -> Ed25519KeyPair {
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).expect("keygen");
        Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).expect("key")
    }

    fn obs(n: usize) -> Vec<Observation> {
        (0..n)
            .map(|i| {
                Observation::now(EventBody::Gap(Gap {
                    lost: i as u64,
                    first_seq: 0,
                    last_seq: 0,
                    reason: "x".repeat(100),
                }))
            })
            .collect()
    }

    #[test]
    fn a_cursor_moves_with_the_events_it_stored_and_survives_reopen() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("spool.redb");
        let at = |position: &str| Cursor { name: "winlog:Security".into(), position: position.as_bytes().to_vec() };
        {
            let spool = Spool::open(&path, 1 << 20).expect("open");
            assert_eq!(spool.cursor("winlog:Security").expect("read"), None);
            spool.append_with_cursors(&obs(3), &[at("record 3")]).expect("append");
            spool.append_with_cursors(&obs(2), &[at("record 4"), at("record 5")]).expect("append");
            spool.append(&obs(1)).expect("append");
            assert_eq!(spool.depth().expect("depth").last_seq, 6);
        }
        let spool = Spool::open(&path, 1 << 20).expect("reopen");
        assert_eq!(spool.cursor("winlog:Security").expect("read"), Some(b"record 5".to_vec()));
        assert_eq!(spool.cursor("winlog:System").expect("read"), None);
    }

    #[test]
    fn sealed_batches_survive_reopen_and_go_on_ack() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("spool.redb");
        let k = key();
        let id = AgentId([1; 16]);
        {
            let spool = Spool::open(&path, 1 << 30).expect("open");
            spool.append(&obs(10)).expect("append");
            let b = spool.seal(&k, id, 4, 1 << 20).expect("seal").expect("batch");
            assert_eq!((b.header.batch_no, b.header.first_seq, b.header.last_seq), (1, 1, 4));
        }
        let spool = Spool::open(&path, 1 << 30).expect("reopen");
        let unacked = spool.unacked().expect("unacked");
        assert_eq!(unacked.len(), 1);
        let b2 = spool.seal(&k, id, 100, 1 << 20).expect("seal").expect("batch");
        assert_eq!((b2.header.batch_no, b2.header.first_seq, b2.header.last_seq), (2, 5, 10));
        assert_eq!(b2.header.prev_hash, unacked[0].header.hash());
        spool.ack(1).expect("ack");
        spool.ack(2).expect("ack");
        assert_eq!(spool.depth().expect("depth"), Depth { events: 0, batches: 0, bytes: 0, last_seq: 10 });
    }

    #[test]
    fn a_new_chain_drops_sealed_batches_and_keeps_unsealed_events() {
        let dir = tempfile::tempdir().expect("tempdir");
        let spool = Spool::open(&dir.path().join("s.redb"), 1 << 30).expect("open");
        let (old, new) = (AgentId([1; 16]), AgentId([2; 16]));
        spool.append(&obs(10)).expect("append");
        spool.seal(&key(), old, 4, 1 << 20).expect("seal").expect("batch");
        spool.seal(&key(), old, 4, 1 << 20).expect("seal").expect("batch");
        spool.begin_new_chain().expect("new chain");
        assert!(spool.unacked().expect("unacked").is_empty());
        let depth = spool.depth().expect("depth");
        assert_eq!((depth.events, depth.batches, depth.last_seq), (2, 0, 10));
        let b = spool.seal(&key(), new, 100, 1 << 20).expect("seal").expect("batch");
        assert_eq!((b.header.batch_no, b.header.prev_hash, b.header.first_seq), (1, [0; 32], 9));
        assert_eq!(haidang_proto::batch::check_chain(None, &b.header), Ok(haidang_proto::ChainVerdict::Append));
        spool.ack(1).expect("ack");
        assert_eq!(spool.depth().expect("depth").bytes, 0, "the dropped batches' bytes are no longer counted");
    }

    #[test]
    fn a_full_spool_drops_oldest_and_records_a_gap() {
        let dir = tempfile::tempdir().expect("tempdir");
        let spool = Spool::open(&dir.path().join("s.redb"), 20_000).expect("open");
        for _ in 0..10 {
            spool.append(&obs(50)).expect("append");
        }
        let depth = spool.depth().expect("depth");
        assert!(depth.bytes <= 20_000, "{depth:?}");
        let b = spool.seal(&key(), AgentId([1; 16]), 10_000, 1 << 30).expect("seal").expect("batch");
        let events = b.open().expect("open");
        let gaps: u64 = events
            .iter()
            .filter_map(|e| match &e.body {
                EventBody::Gap(g) if g.reason.contains("limit") => Some(g.lost),
                _ => None,
            })
            .sum();
        let kept = events.iter().filter(|e| matches!(&e.body, EventBody::Gap(g) if !g.reason.contains("limit"))).count()
            as u64;
        assert_eq!(gaps + kept, 500, "every dropped event is accounted for");
        assert!(gaps > 0);
    }

    /// A spool gap record as (its seq, lost, first, last).
    type GapRecord = (u64, u64, u64, u64);

    /// The sequence numbers of a sealed batch, and its spool gap records.
    fn sealed(spool: &Spool) -> (Vec<u64>, Vec<GapRecord>) {
        let b = spool.seal(&key(), AgentId([1; 16]), 10_000, 1 << 30).expect("seal").expect("batch");
        let events = b.open().expect("open");
        let gaps = events
            .iter()
            .filter_map(|e| match &e.body {
                EventBody::Gap(g) if is_spool_gap(g) => Some((e.seq, g.lost, g.first_seq, g.last_seq)),
                _ => None,
            })
            .collect();
        (events.iter().map(|e| e.seq).collect(), gaps)
    }

    #[test]
    fn making_room_drops_the_oldest_unsent_events_and_says_which() {
        let dir = tempfile::tempdir().expect("tempdir");
        let spool = Spool::open(&dir.path().join("s.redb"), 1 << 30).expect("open");
        spool.append(&obs(100)).expect("append");
        let dropped = spool.make_room(1000).expect("make room");
        assert!((5..100).contains(&dropped), "dropped {dropped}");
        let (seqs, gaps) = sealed(&spool);
        assert_eq!(gaps, vec![(101, dropped, 1, dropped)]);
        let kept: Vec<u64> = (dropped + 1..=101).collect();
        assert_eq!(seqs, kept);
        assert!(spool.make_room(1000).expect("nothing left unsent") == 0);
    }

    #[test]
    fn observations_that_could_not_be_written_keep_their_sequence_numbers_in_a_gap() {
        let dir = tempfile::tempdir().expect("tempdir");
        let spool = Spool::open(&dir.path().join("s.redb"), 1 << 30).expect("open");
        spool.append(&obs(5)).expect("append");
        spool.lose_unwritten(7);
        spool.append(&obs(3)).expect("append");
        let (seqs, gaps) = sealed(&spool);
        assert_eq!(gaps, vec![(13, 7, 6, 12)]);
        assert_eq!(seqs, vec![1, 2, 3, 4, 5, 13, 14, 15, 16]);
        spool.append(&obs(1)).expect("append");
        let (seqs, gaps) = sealed(&spool);
        assert_eq!((seqs, gaps), (vec![17], vec![]), "the loss is recorded once");
    }

    #[test]
    fn a_dropped_gap_record_carries_its_count_into_the_next() {
        let dir = tempfile::tempdir().expect("tempdir");
        let spool = Spool::open(&dir.path().join("s.redb"), 1 << 30).expect("open");
        spool.append(&obs(2)).expect("append");
        spool.lose_unwritten(4);
        spool.append(&obs(10)).expect("append");
        // Everything unsent goes: events 1-2, the gap for 3-6 (seq 7), events 8-17.
        let dropped = spool.make_room(1 << 20).expect("make room");
        assert_eq!(dropped, 16);
        let (_, gaps) = sealed(&spool);
        assert_eq!(gaps, vec![(18, 16, 1, 17)]);
    }

    #[tokio::test]
    async fn recorder_groups_concurrent_writers() {
        let dir = tempfile::tempdir().expect("tempdir");
        let spool = Spool::open(&dir.path().join("s.redb"), 1 << 30).expect("open");
        let rec = Recorder::start(spool.clone());
        let tasks: Vec<_> = (0..8)
            .map(|_| {
                let r = rec.clone();
                tokio::spawn(async move { r.record(obs(25)).await })
            })
            .collect();
        for t in tasks {
            t.await.expect("join").expect("record");
        }
        assert_eq!(spool.depth().expect("depth").events, 200);
    }
}
