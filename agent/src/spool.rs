//! The agent's durable spool (redb): every observation is written here, with its sequence
//! number, before anything is sent; batches are sealed from it and removed only when the
//! collector acknowledges them.
//!
//! Layout: `events` holds unsent events by sequence number; `outbox` holds sealed, signed
//! batches by batch number until acknowledged. Sealing moves events from one to the other
//! and advances the chain tip in the same transaction, so after a crash the agent resends
//! byte-identical batches and the collector's chain never forks.

use anyhow::{Context, Result};
use haidang_proto::batch::{self, ChainTip};
use haidang_proto::event::Gap;
use haidang_proto::{AgentId, Event, EventBody, SignedBatch, Timestamp};
use redb::{Database, ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition};
use ring::signature::Ed25519KeyPair;
use std::path::Path;
use std::sync::Arc;
use tokio::sync::{Notify, mpsc, oneshot};

const EVENTS: TableDefinition<u64, &[u8]> = TableDefinition::new("events");
const OUTBOX: TableDefinition<u64, &[u8]> = TableDefinition::new("outbox");
const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");

const NEXT_SEQ: &str = "next_seq";
const BYTES: &str = "bytes";
const TIP: &str = "chain_tip";

/// How a gap record caused by overflow begins its reason.
const GAP_REASON: &str = "spool reached its limit";

/// Most observations written in one transaction.
const MAX_GROUP: usize = 4096;

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

/// How full the spool is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Depth {
    pub events: u64,
    pub batches: u64,
    pub bytes: u64,
    /// Sequence number of the newest event recorded (0 before the first).
    pub last_seq: u64,
}

pub struct Spool {
    db: Database,
    max_bytes: u64,
    /// Woken whenever new events are durable, so the uplink can seal them.
    pub new_events: Notify,
}

impl Spool {
    pub fn open(path: &Path, max_bytes: u64) -> Result<Arc<Spool>> {
        // redb would create the file with the process umask; unsent events are private.
        haidang_private::create_private_file(path)?;
        let db = Database::create(path).map_err(|e| match e {
            redb::DatabaseError::DatabaseAlreadyOpen => {
                anyhow::anyhow!("spool {} is in use by another haidang-agent; stop it first", path.display())
            }
            other => anyhow::anyhow!("cannot open spool {}: {other}", path.display()),
        })?;
        let tx = db.begin_write()?;
        tx.open_table(EVENTS)?;
        tx.open_table(OUTBOX)?;
        tx.open_table(META)?;
        tx.commit()?;
        Ok(Arc::new(Spool { db, max_bytes, new_events: Notify::new() }))
    }

    /// Writes observations durably and gives them sequence numbers. When the spool is over
    /// its size limit the oldest unsent events are dropped and a [`Gap`] event says so.
    pub fn append(&self, observations: &[Observation]) -> Result<()> {
        let tx = self.db.begin_write()?;
        {
            let mut events = tx.open_table(EVENTS)?;
            let mut meta = tx.open_table(META)?;
            let mut next_seq = read_u64(&meta, NEXT_SEQ)?.unwrap_or(1);
            let mut bytes = read_u64(&meta, BYTES)?.unwrap_or(0);
            for obs in observations {
                let event = Event { seq: next_seq, time: obs.time, body: obs.body.clone() };
                let encoded = postcard::to_stdvec(&event)?;
                bytes += encoded.len() as u64;
                events.insert(next_seq, encoded.as_slice())?;
                next_seq += 1;
            }
            if bytes > self.max_bytes {
                let target = self.max_bytes - self.max_bytes / 10;
                let (mut lost, mut first, mut last) = (0u64, u64::MAX, 0u64);
                while bytes > target {
                    let Some((seq, value)) = events.pop_first()?.map(|(k, v)| (k.value(), v.value().to_vec())) else {
                        break;
                    };
                    bytes = bytes.saturating_sub(value.len() as u64);
                    // An earlier gap record dropped in turn carries its count forward, so the
                    // total of lost events stays exact however often the spool overflows.
                    match postcard::from_bytes::<Event>(&value).map(|e| e.body) {
                        Ok(EventBody::Gap(g)) if g.reason.starts_with(GAP_REASON) => {
                            lost += g.lost;
                            first = first.min(g.first_seq);
                            last = last.max(g.last_seq);
                        }
                        _ => {
                            lost += 1;
                            first = first.min(seq);
                            last = last.max(seq);
                        }
                    }
                }
                if lost > 0 {
                    tracing::warn!(lost, first, last, "spool full: dropped the oldest unsent events");
                    let gap = Event {
                        seq: next_seq,
                        time: Timestamp::now(),
                        body: EventBody::Gap(Gap {
                            lost,
                            first_seq: first,
                            last_seq: last,
                            reason: format!("{GAP_REASON} of {} bytes", self.max_bytes),
                        }),
                    };
                    let encoded = postcard::to_stdvec(&gap)?;
                    bytes += encoded.len() as u64;
                    events.insert(next_seq, encoded.as_slice())?;
                    next_seq += 1;
                }
            }
            meta.insert(NEXT_SEQ, next_seq.to_le_bytes().as_slice())?;
            meta.insert(BYTES, bytes.to_le_bytes().as_slice())?;
        }
        tx.commit()?;
        self.new_events.notify_one();
        Ok(())
    }

    /// Batches sealed earlier and not yet acknowledged, oldest first (resent on reconnect).
    pub fn unacked(&self) -> Result<Vec<SignedBatch>> {
        let tx = self.db.begin_read()?;
        let outbox = tx.open_table(OUTBOX)?;
        let mut out = Vec::new();
        for row in outbox.iter()? {
            let (_, v) = row?;
            out.push(postcard::from_bytes(v.value()).context("spool outbox entry is corrupt")?);
        }
        Ok(out)
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
        let tx = self.db.begin_write()?;
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
    }

    /// Forgets a batch the collector has durably stored.
    pub fn ack(&self, batch_no: u64) -> Result<()> {
        let tx = self.db.begin_write()?;
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
    }

    pub fn depth(&self) -> Result<Depth> {
        let tx = self.db.begin_read()?;
        let events = tx.open_table(EVENTS)?.len()?;
        let batches = tx.open_table(OUTBOX)?.len()?;
        let meta = tx.open_table(META)?;
        let bytes = read_u64(&meta, BYTES)?.unwrap_or(0);
        let last_seq = read_u64(&meta, NEXT_SEQ)?.unwrap_or(1).saturating_sub(1);
        Ok(Depth { events, batches, bytes, last_seq })
    }
}

fn read_u64(table: &impl ReadableTable<&'static str, &'static [u8]>, key: &str) -> Result<Option<u64>> {
    Ok(match table.get(key)? {
        Some(v) => Some(u64::from_le_bytes(v.value().try_into().context("spool metadata is corrupt")?)),
        None => None,
    })
}

/// One `record` call waiting for its commit.
type Pending = (Vec<Observation>, oneshot::Sender<()>);

/// A cheap handle through which sensors record observations. `record` returns once the
/// observations are durable; concurrent calls share one transaction (group commit).
#[derive(Clone)]
pub struct Recorder {
    tx: mpsc::Sender<Pending>,
}

impl Recorder {
    /// Starts the spool's writer thread.
    pub fn start(spool: Arc<Spool>) -> Recorder {
        let (tx, mut rx) = mpsc::channel::<Pending>(1024);
        std::thread::Builder::new()
            .name("spool-writer".into())
            .spawn(move || {
                while let Some(first) = rx.blocking_recv() {
                    let mut group = vec![first];
                    let mut count = group[0].0.len();
                    while count < MAX_GROUP {
                        match rx.try_recv() {
                            Ok(next) => {
                                count += next.0.len();
                                group.push(next);
                            }
                            Err(_) => break,
                        }
                    }
                    let all: Vec<Observation> = group.iter().flat_map(|(o, _)| o.iter().cloned()).collect();
                    // A full disk or a transient I/O error must not lose observations, nor
                    // stop the sensors: keep retrying (sensors wait, which pushes back on them).
                    let mut delay = std::time::Duration::from_millis(100);
                    while let Err(e) = spool.append(&all) {
                        tracing::error!(error = %format!("{e:#}"), "cannot write to the spool; retrying");
                        std::thread::sleep(delay);
                        delay = (delay * 2).min(std::time::Duration::from_secs(10));
                    }
                    for (_, reply) in group {
                        let _ = reply.send(());
                    }
                }
            })
            .map(|_| ())
            .unwrap_or_else(|e| tracing::error!(error = %e, "cannot start the spool writer"));
        Recorder { tx }
    }

    /// Records observations; returns once they are durably in the spool.
    pub async fn record(&self, observations: Vec<Observation>) -> Result<()> {
        if observations.is_empty() {
            return Ok(());
        }
        let (reply, done) = oneshot::channel();
        self.tx.send((observations, reply)).await.map_err(|_| anyhow::anyhow!("the spool writer has stopped"))?;
        done.await.map_err(|_| anyhow::anyhow!("the spool writer has stopped"))
    }
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
