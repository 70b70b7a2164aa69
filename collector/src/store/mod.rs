//! The collector's embedded store (redb): signed batches exactly as received, indexes by
//! agent + sequence and by time, the chain tip of every agent, the fleet registry,
//! enrollment tokens and alerts.
//!
//! All writes go through one writer thread ([`writer`]) that groups the work of many agents
//! into one transaction and answers only after the commit: an ack always means durable.

pub mod events;
pub mod records;
pub mod shared;
pub mod writer;

pub use shared::Store;

use anyhow::{Context, Result};
use haidang_proto::batch::ChainTip;
use haidang_proto::event::EventKind;
use haidang_proto::wire::{AgentFrame, decode_frame};
use haidang_proto::{AgentId, MachineId, SignedBatch, Timestamp};
use records::{AgentRecord, Alert, CloneRecord, MachineRecord, TokenRecord};
use redb::{Database, ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition};
use std::collections::HashMap;
use std::path::Path;

/// (agent, batch number) → the agent's frame body exactly as received.
pub(crate) const BATCHES: TableDefinition<([u8; 16], u64), &[u8]> = TableDefinition::new("batches");
/// (agent, last sequence number of the batch) → batch number.
pub(crate) const SEQ_INDEX: TableDefinition<([u8; 16], u64), u64> = TableDefinition::new("seq_index");
/// (earliest event time, agent, batch number) → latest event time.
pub(crate) const TIME_INDEX: TableDefinition<(i64, [u8; 16], u64), i64> = TableDefinition::new("time_index");
pub(crate) const CHAIN: TableDefinition<[u8; 16], &[u8]> = TableDefinition::new("chain");
pub(crate) const AGENTS: TableDefinition<[u8; 16], &[u8]> = TableDefinition::new("agents");
pub(crate) const TOKENS: TableDefinition<[u8; 32], &[u8]> = TableDefinition::new("tokens");
pub(crate) const ALERTS: TableDefinition<u64, &[u8]> = TableDefinition::new("alerts");
/// Commit order → (agent, batch number) of stored batches the correlate stage has not yet
/// run through the rules. Written with the batch, removed with the alerts it raised, so a
/// crash between the two replays the batch instead of losing it.
pub(crate) const PENDING: TableDefinition<u64, ([u8; 16], u64)> = TableDefinition::new("correlate_pending");
/// `state` → the correlation windows (JSON), saved in the same transaction as the alerts.
pub(crate) const CORRELATION: TableDefinition<&str, &[u8]> = TableDefinition::new("correlation");
pub(crate) const CORRELATION_STATE_KEY: &str = "state";
/// Agent → the machine its identity belongs to ([`records::MachineRecord`]).
pub(crate) const MACHINES: TableDefinition<[u8; 16], &[u8]> = TableDefinition::new("machines");
/// (agent, another machine using its identity) → [`records::CloneRecord`].
pub(crate) const CLONES: TableDefinition<([u8; 16], [u8; 32]), &[u8]> = TableDefinition::new("clones");

pub const DB_FILE: &str = "collector.redb";

/// Which events a query wants.
#[derive(Clone, Debug, Default)]
pub struct EventFilter {
    pub agent: Option<AgentId>,
    pub kind: Option<EventKind>,
    pub from: Option<Timestamp>,
    pub to: Option<Timestamp>,
    pub limit: usize,
}

/// Opens (or creates) the store in a data directory. A second process is refused.
pub fn open(data: &Path) -> Result<Database> {
    let path = data.join(DB_FILE);
    // redb would create the file with the process umask; the store is as private as the CA key.
    haidang_private::create_private_file(&path)?;
    let db = Database::create(&path).map_err(|e| match e {
        redb::DatabaseError::DatabaseAlreadyOpen => anyhow::anyhow!(
            "data directory {} is already in use by another haidang-collector; stop it or choose another --data",
            data.display()
        ),
        other => anyhow::anyhow!("cannot open the store {}: {other}", path.display()),
    })?;
    let tx = db.begin_write()?;
    tx.open_table(BATCHES)?;
    tx.open_table(SEQ_INDEX)?;
    tx.open_table(TIME_INDEX)?;
    tx.open_table(CHAIN)?;
    tx.open_table(AGENTS)?;
    tx.open_table(TOKENS)?;
    tx.open_table(ALERTS)?;
    tx.open_table(PENDING)?;
    tx.open_table(CORRELATION)?;
    tx.open_table(MACHINES)?;
    tx.open_table(CLONES)?;
    tx.commit()?;
    Ok(db)
}

pub fn decode_batch(raw: &[u8]) -> Result<SignedBatch> {
    match decode_frame::<AgentFrame>(raw).context("stored batch does not decode")? {
        AgentFrame::Batch(b) => Ok(b),
        AgentFrame::Hello(_) => anyhow::bail!("stored frame is a hello, not a batch"),
    }
}

pub fn chain_tips(db: &Database) -> Result<HashMap<AgentId, ChainTip>> {
    let tx = db.begin_read()?;
    let table = tx.open_table(CHAIN)?;
    let mut out = HashMap::new();
    for row in table.iter()? {
        let (k, v) = row?;
        out.insert(AgentId(k.value()), postcard::from_bytes(v.value())?);
    }
    Ok(out)
}

pub fn agents(db: &Database) -> Result<Vec<AgentRecord>> {
    let tx = db.begin_read()?;
    let table = tx.open_table(AGENTS)?;
    let mut out = Vec::new();
    for row in table.iter()? {
        let (_, v) = row?;
        out.push(AgentRecord::decode(v.value())?);
    }
    Ok(out)
}

pub fn token(db: &Database, hash: &[u8; 32]) -> Result<Option<TokenRecord>> {
    let tx = db.begin_read()?;
    let table = tx.open_table(TOKENS)?;
    Ok(match table.get(hash)? {
        Some(v) => Some(TokenRecord::decode(v.value())?),
        None => None,
    })
}

/// The machine an agent's identity belongs to, once one has been seen.
pub fn machine(db: &Database, agent: AgentId) -> Result<Option<MachineRecord>> {
    let tx = db.begin_read()?;
    let table = tx.open_table(MACHINES)?;
    Ok(match table.get(agent.0)? {
        Some(v) => Some(postcard::from_bytes(v.value())?),
        None => None,
    })
}

/// What is known of a copy of `agent` on `machine`, and how many copies of it are known.
pub fn copy_of(db: &Database, agent: AgentId, machine: MachineId) -> Result<(Option<CloneRecord>, u64)> {
    let tx = db.begin_read()?;
    let table = tx.open_table(CLONES)?;
    let record = match table.get((agent.0, machine.0))? {
        Some(v) => Some(postcard::from_bytes(v.value())?),
        None => None,
    };
    let copies = table.range((agent.0, [0u8; 32])..=(agent.0, [0xff; 32]))?.count() as u64;
    Ok((record, copies))
}

pub fn alerts(db: &Database, limit: usize) -> Result<Vec<Alert>> {
    let tx = db.begin_read()?;
    let table = tx.open_table(ALERTS)?;
    let mut out = Vec::new();
    for row in table.iter()?.rev().take(limit) {
        let (_, v) = row?;
        out.push(postcard::from_bytes(v.value())?);
    }
    out.reverse();
    Ok(out)
}

pub fn next_alert_id(db: &Database) -> Result<u64> {
    let tx = db.begin_read()?;
    let table = tx.open_table(ALERTS)?;
    Ok(table.last()?.map_or(1, |(k, _)| k.value() + 1))
}

pub fn next_pending_id(db: &Database) -> Result<u64> {
    let tx = db.begin_read()?;
    let table = tx.open_table(PENDING)?;
    Ok(table.last()?.map_or(1, |(k, _)| k.value() + 1))
}

/// Up to `limit` batches waiting for the correlate stage, oldest first: (pending id, agent,
/// raw stored frame).
pub fn pending_batches(db: &Database, limit: usize) -> Result<Vec<(u64, AgentId, Vec<u8>)>> {
    let tx = db.begin_read()?;
    let pending = tx.open_table(PENDING)?;
    let batches = tx.open_table(BATCHES)?;
    let mut out = Vec::new();
    for row in pending.iter()?.take(limit) {
        let (id, v) = row?;
        let (agent, batch_no) = v.value();
        let raw = batches
            .get((agent, batch_no))?
            .with_context(|| format!("pending batch {batch_no} of agent {} is not stored", AgentId(agent)))?;
        out.push((id.value(), AgentId(agent), raw.value().to_vec()));
    }
    Ok(out)
}

pub fn pending_count(db: &Database) -> Result<u64> {
    let tx = db.begin_read()?;
    Ok(tx.open_table(PENDING)?.len()?)
}

/// The correlation windows saved by the last correlate commit, if any.
pub fn correlation_state(db: &Database) -> Result<Option<Vec<u8>>> {
    let tx = db.begin_read()?;
    let table = tx.open_table(CORRELATION)?;
    Ok(table.get(CORRELATION_STATE_KEY)?.map(|v| v.value().to_vec()))
}

/// Every stored batch of one agent, in chain order, exactly as received.
pub fn batches_of(db: &Database, agent: AgentId, mut visit: impl FnMut(u64, &[u8]) -> Result<()>) -> Result<()> {
    let tx = db.begin_read()?;
    let table = tx.open_table(BATCHES)?;
    for row in table.range((agent.0, 0)..=(agent.0, u64::MAX))? {
        let (k, v) = row?;
        visit(k.value().1, v.value())?;
    }
    Ok(())
}
