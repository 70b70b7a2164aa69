//! The single writer: groups the writes of many connections into one redb transaction
//! (group commit) and answers each request only after the commit.

use super::records::{AgentRecord, Alert, CloneRecord, MachineRecord, TokenRecord};
use super::shared::Store;
use super::{
    AGENTS, ALERTS, BATCHES, CHAIN, CLONES, CORRELATION, CORRELATION_STATE_KEY, MACHINES, PENDING, SEQ_INDEX,
    TIME_INDEX, TOKENS, decode_batch,
};
use anyhow::Result;
use haidang_proto::batch::{BatchError, ChainTip, ChainVerdict, check_chain};
use haidang_proto::{AgentId, BatchHeader, Timestamp};
use prometheus_client::metrics::counter::Counter;
use redb::{Database, ReadableTable, WriteTransaction};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// Most requests committed together.
const MAX_GROUP: usize = 512;
/// First and longest wait between attempts to reopen the store after a failed commit.
const REOPEN_FIRST_DELAY: Duration = Duration::from_millis(200);
const REOPEN_MAX_DELAY: Duration = Duration::from_secs(5);
/// While reopening, requests are refused at least this often rather than left waiting.
const REFUSE_EVERY: Duration = Duration::from_millis(100);

/// The outcome of storing a verified batch.
#[derive(Debug, PartialEq, Eq)]
pub enum Stored {
    /// Newly stored.
    New,
    /// Already stored byte-identically (a replay); acknowledge again, store nothing.
    Duplicate,
}

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error(transparent)]
    Chain(#[from] BatchError),
    #[error("store failure: {0}")]
    Store(String),
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EnrollError {
    #[error("unknown enrollment token")]
    UnknownToken,
    #[error("enrollment token has expired")]
    Expired,
    #[error("enrollment token has been used up")]
    UsedUp,
    #[error("store failure: {0}")]
    Store(String),
}

impl EnrollError {
    pub fn code(&self) -> &'static str {
        match self {
            EnrollError::UnknownToken => "token_unknown",
            EnrollError::Expired => "token_expired",
            EnrollError::UsedUp => "token_used",
            EnrollError::Store(_) => "internal",
        }
    }
}

pub enum WriteOp {
    Ingest {
        header: BatchHeader,
        raw: Vec<u8>,
        reply: oneshot::Sender<Result<Stored, IngestError>>,
    },
    /// The correlate stage finished some pending batches: their alerts and the correlation
    /// windows after them are stored, and the batches leave the pending queue, atomically.
    Correlated {
        done: Vec<u64>,
        alerts: Vec<Alert>,
        state: Vec<u8>,
        reply: oneshot::Sender<Result<Vec<Alert>, String>>,
    },
    Enroll {
        token_hash: [u8; 32],
        agent: AgentRecord,
        reply: oneshot::Sender<Result<AgentRecord, EnrollError>>,
    },
    CreateToken {
        token_hash: [u8; 32],
        record: TokenRecord,
        reply: oneshot::Sender<Result<(), String>>,
    },
    Revoke {
        id: AgentId,
        reply: oneshot::Sender<Result<Option<AgentRecord>, String>>,
    },
    /// An agent said which machine it runs on (see [`Sighting`]).
    Machine {
        sighting: Box<Sighting>,
        reply: oneshot::Sender<Result<MachineVerdict, String>>,
    },
}

/// The machine an agent's hello named. The first machine of an identity is recorded; another
/// one is a copy, recorded once with its alert, and given `new_agent` (when its group lets
/// copies re-enroll) in place of any identity given to the same copy before.
pub struct Sighting {
    pub agent: AgentRecord,
    /// The machine the agent runs on now.
    pub seen: MachineRecord,
    /// The identity's machine if none is recorded yet.
    pub first: MachineRecord,
    pub new_agent: Option<AgentRecord>,
}

/// Whether an agent runs on its identity's machine.
#[derive(Debug)]
pub enum MachineVerdict {
    Admitted,
    Copy(Box<Copied>),
}

/// A copy of an agent, as the store has it now.
#[derive(Debug)]
pub struct Copied {
    /// The machine the identity belongs to.
    pub first: MachineRecord,
    /// The alert raised now (none when this copy was seen before).
    pub alert: Option<Alert>,
    /// The new identity stored for the copy.
    pub reenrolled: Option<AgentRecord>,
}

/// Called after each commit with the agents whose records changed.
pub type FleetObserver = Box<dyn Fn(&[AgentRecord]) + Send>;

/// Called after a commit that stored new batches, with the last queue id it gave them (to wake
/// the correlate stage).
pub type BatchObserver = Box<dyn Fn(u64) + Send>;

/// Counters the writer hands out, rolled back together when a commit fails.
#[derive(Clone, Copy)]
struct Ids {
    next_alert: u64,
    next_pending: u64,
}

/// What the writer counts.
#[derive(Default)]
pub struct WriterCounters {
    pub commits: Counter,
    pub commit_failures: Counter,
    pub reopens: Counter,
}

/// What the writer keeps in memory besides the database, read back from it after a reopen.
fn cached(db: &Database) -> Result<(HashMap<AgentId, ChainTip>, Ids)> {
    let ids = Ids { next_alert: super::next_alert_id(db)?, next_pending: super::next_pending_id(db)? };
    Ok((super::chain_tips(db)?, ids))
}

/// Starts the writer thread; returns the channel to send it work.
pub fn start(
    store: Arc<Store>,
    on_fleet_change: FleetObserver,
    on_new_batches: BatchObserver,
    counters: WriterCounters,
) -> Result<mpsc::Sender<WriteOp>> {
    let mut db = store.db()?;
    let (mut tips, mut ids) = cached(&db)?;
    let (tx, mut rx) = mpsc::channel::<WriteOp>(4096);
    std::thread::Builder::new().name("store-writer".into()).spawn(move || {
        while let Some(first) = rx.blocking_recv() {
            let mut group = vec![first];
            while group.len() < MAX_GROUP {
                match rx.try_recv() {
                    Ok(op) => group.push(op),
                    Err(_) => break,
                }
            }
            let ids_before = ids;
            match apply(&db, &mut tips, &mut ids, &mut group) {
                Ok((results, changed)) => {
                    counters.commits.inc();
                    if !changed.is_empty() {
                        on_fleet_change(&changed);
                    }
                    if ids.next_pending != ids_before.next_pending {
                        on_new_batches(ids.next_pending - 1);
                    }
                    for (op, result) in group.into_iter().zip(results) {
                        result.send(op);
                    }
                }
                Err(e) => {
                    let why = format!("store commit failed: {e:#}");
                    tracing::error!(
                        error = %why,
                        "nothing in this group was acknowledged; acks stop until the store is reopened"
                    );
                    counters.commit_failures.inc();
                    for op in group {
                        fail(op, &why);
                    }
                    // redb fails every later operation on a database whose write failed, so it
                    // must be closed (our handle dropped first) and opened again.
                    drop(db);
                    store.failed(why.clone());
                    let Some(reopened) = reopen(&store, &mut rx, &why) else { return };
                    counters.reopens.inc();
                    (db, tips, ids) = reopened;
                }
            }
        }
    })?;
    Ok(tx)
}

type Reopened = (Arc<Database>, HashMap<AgentId, ChainTip>, Ids);

/// Reopens the store with a growing delay, refusing the requests that arrive meanwhile;
/// None when every sender is gone (the collector is stopping).
fn reopen(store: &Store, rx: &mut mpsc::Receiver<WriteOp>, why: &str) -> Option<Reopened> {
    let refusal = format!("the store is unavailable: {why}");
    let mut delay = REOPEN_FIRST_DELAY;
    loop {
        let mut waited = Duration::ZERO;
        while waited < delay {
            loop {
                match rx.try_recv() {
                    Ok(op) => fail(op, &refusal),
                    Err(mpsc::error::TryRecvError::Empty) => break,
                    Err(mpsc::error::TryRecvError::Disconnected) => return None,
                }
            }
            std::thread::sleep(REFUSE_EVERY);
            waited += REFUSE_EVERY;
        }
        match store.reopen().and_then(|db| cached(&db).map(|(tips, ids)| (db, tips, ids))) {
            Ok(reopened) => {
                tracing::info!("store reopened; storing and acknowledging batches again");
                return Some(reopened);
            }
            Err(e) => {
                store.failed(format!("{why}; reopening failed: {e:#}"));
                tracing::warn!(error = %format!("{e:#}"), retry_in = ?delay, "cannot reopen the store yet");
                delay = (delay * 2).min(REOPEN_MAX_DELAY);
            }
        }
    }
}

/// The answer for one request, held until the group's commit succeeds.
enum Answer {
    Ingest(Result<Stored, IngestError>),
    Enroll(Result<AgentRecord, EnrollError>),
    Token(Result<(), String>),
    Revoke(Result<Option<AgentRecord>, String>),
    Correlated(Vec<Alert>),
    Machine(MachineVerdict),
}

impl Answer {
    fn send(self, op: WriteOp) {
        match (op, self) {
            (WriteOp::Ingest { reply, .. }, Answer::Ingest(r)) => drop(reply.send(r)),
            (WriteOp::Enroll { reply, .. }, Answer::Enroll(r)) => drop(reply.send(r)),
            (WriteOp::CreateToken { reply, .. }, Answer::Token(r)) => drop(reply.send(r)),
            (WriteOp::Revoke { reply, .. }, Answer::Revoke(r)) => drop(reply.send(r)),
            (WriteOp::Correlated { reply, .. }, Answer::Correlated(alerts)) => drop(reply.send(Ok(alerts))),
            (WriteOp::Machine { reply, .. }, Answer::Machine(v)) => drop(reply.send(Ok(v))),
            _ => tracing::error!("store writer answer does not match its request"),
        }
    }
}

fn fail(op: WriteOp, msg: &str) {
    match op {
        WriteOp::Ingest { reply, .. } => drop(reply.send(Err(IngestError::Store(msg.into())))),
        WriteOp::Enroll { reply, .. } => drop(reply.send(Err(EnrollError::Store(msg.into())))),
        WriteOp::CreateToken { reply, .. } => drop(reply.send(Err(msg.into()))),
        WriteOp::Revoke { reply, .. } => drop(reply.send(Err(msg.into()))),
        WriteOp::Correlated { reply, .. } => drop(reply.send(Err(msg.into()))),
        WriteOp::Machine { reply, .. } => drop(reply.send(Err(msg.into()))),
    }
}

fn apply(
    db: &Database,
    tips: &mut HashMap<AgentId, ChainTip>,
    ids: &mut Ids,
    group: &mut [WriteOp],
) -> Result<(Vec<Answer>, Vec<AgentRecord>)> {
    let tx = db.begin_write()?;
    let mut answers = Vec::with_capacity(group.len());
    let mut changed = Vec::new();
    for op in group.iter_mut() {
        let answer = match op {
            WriteOp::Ingest { header, raw, .. } => Answer::Ingest(ingest(&tx, tips, ids, header, raw)?),
            WriteOp::Correlated { done, alerts, state, .. } => {
                Answer::Correlated(correlated(&tx, ids, done, std::mem::take(alerts), state)?)
            }
            WriteOp::Enroll { token_hash, agent, .. } => {
                let r = enroll(&tx, token_hash, agent)?;
                if let Ok(record) = &r {
                    changed.push(record.clone());
                }
                Answer::Enroll(r)
            }
            WriteOp::CreateToken { token_hash, record, .. } => {
                tx.open_table(TOKENS)?.insert(*token_hash, postcard::to_stdvec(record)?.as_slice())?;
                Answer::Token(Ok(()))
            }
            WriteOp::Revoke { id, .. } => {
                let mut table = tx.open_table(AGENTS)?;
                let existing = table.get(id.0)?.map(|v| AgentRecord::decode(v.value()));
                let answer = match existing {
                    Some(record) => {
                        let mut record = record?;
                        record.revoked = true;
                        table.insert(id.0, postcard::to_stdvec(&record)?.as_slice())?;
                        changed.push(record.clone());
                        Ok(Some(record))
                    }
                    None => Ok(None),
                };
                Answer::Revoke(answer)
            }
            WriteOp::Machine { sighting, .. } => Answer::Machine(machine(&tx, ids, &mut changed, sighting)?),
        };
        answers.push(answer);
    }
    tx.commit()?;
    Ok((answers, changed))
}

fn ingest(
    tx: &WriteTransaction,
    tips: &mut HashMap<AgentId, ChainTip>,
    ids: &mut Ids,
    header: &BatchHeader,
    raw: &[u8],
) -> Result<Result<Stored, IngestError>> {
    let agent = header.agent_id;
    match check_chain(tips.get(&agent), header) {
        Err(e) => Ok(Err(e.into())),
        Ok(ChainVerdict::AlreadyStored) => {
            let batches = tx.open_table(BATCHES)?;
            let stored = batches.get((agent.0, header.batch_no))?.map(|v| decode_batch(v.value()));
            Ok(match stored {
                Some(Ok(b)) if &b.header == header => Ok(Stored::Duplicate),
                _ => Err(BatchError::Fork { batch_no: header.batch_no }.into()),
            })
        }
        Ok(ChainVerdict::Append) => {
            let tip = ChainTip::of(header);
            tx.open_table(BATCHES)?.insert((agent.0, header.batch_no), raw)?;
            tx.open_table(SEQ_INDEX)?.insert((agent.0, header.last_seq), header.batch_no)?;
            tx.open_table(TIME_INDEX)?.insert((header.min_time.0, agent.0, header.batch_no), header.max_time.0)?;
            tx.open_table(CHAIN)?.insert(agent.0, postcard::to_stdvec(&tip)?.as_slice())?;
            tx.open_table(PENDING)?.insert(ids.next_pending, (agent.0, header.batch_no))?;
            ids.next_pending += 1;
            tips.insert(agent, tip);
            Ok(Ok(Stored::New))
        }
    }
}

fn correlated(
    tx: &WriteTransaction,
    ids: &mut Ids,
    done: &[u64],
    alerts: Vec<Alert>,
    state: &[u8],
) -> Result<Vec<Alert>> {
    let mut pending = tx.open_table(PENDING)?;
    for id in done {
        pending.remove(id)?;
    }
    let mut table = tx.open_table(ALERTS)?;
    let mut stored = Vec::with_capacity(alerts.len());
    for mut alert in alerts {
        alert.id = ids.next_alert;
        ids.next_alert += 1;
        table.insert(alert.id, postcard::to_stdvec(&alert)?.as_slice())?;
        stored.push(alert);
    }
    tx.open_table(CORRELATION)?.insert(CORRELATION_STATE_KEY, state)?;
    Ok(stored)
}

fn enroll(
    tx: &WriteTransaction,
    token_hash: &[u8; 32],
    agent: &AgentRecord,
) -> Result<Result<AgentRecord, EnrollError>> {
    let mut tokens = tx.open_table(TOKENS)?;
    let record: Option<TokenRecord> = match tokens.get(token_hash)? {
        Some(v) => Some(TokenRecord::decode(v.value())?),
        None => None,
    };
    let Some(mut record) = record else { return Ok(Err(EnrollError::UnknownToken)) };
    if record.expires < Timestamp::now() {
        return Ok(Err(EnrollError::Expired));
    }
    if record.uses_left == 0 {
        return Ok(Err(EnrollError::UsedUp));
    }
    record.uses_left -= 1;
    tokens.insert(token_hash, postcard::to_stdvec(&record)?.as_slice())?;
    let mut agent = agent.clone();
    agent.group = record.group;
    agent.reenroll = record.allow_reenroll;
    tx.open_table(AGENTS)?.insert(agent.id.0, postcard::to_stdvec(&agent)?.as_slice())?;
    Ok(Ok(agent))
}

fn machine(
    tx: &WriteTransaction,
    ids: &mut Ids,
    changed: &mut Vec<AgentRecord>,
    sighting: &mut Sighting,
) -> Result<MachineVerdict> {
    let Sighting { agent, seen, first, new_agent } = sighting;
    let new_agent = new_agent.take();
    let mut machines = tx.open_table(MACHINES)?;
    let recorded: Option<MachineRecord> = match machines.get(agent.id.0)? {
        Some(v) => Some(postcard::from_bytes(v.value())?),
        None => None,
    };
    let first = match recorded {
        Some(r) => r,
        None => {
            machines.insert(agent.id.0, postcard::to_stdvec(&*first)?.as_slice())?;
            first.clone()
        }
    };
    if first.machine == seen.machine {
        return Ok(MachineVerdict::Admitted);
    }
    let mut clones = tx.open_table(CLONES)?;
    let key = (agent.id.0, seen.machine.0);
    let known: Option<CloneRecord> = match clones.get(key)? {
        Some(v) => Some(postcard::from_bytes(v.value())?),
        None => None,
    };
    let mut raised = None;
    let mut record = match known {
        Some(r) => r,
        None => {
            let mut alert = Alert::cloned_agent(agent, &first, seen, new_agent.as_ref().map(|a| a.id));
            alert.id = ids.next_alert;
            ids.next_alert += 1;
            tx.open_table(ALERTS)?.insert(alert.id, postcard::to_stdvec(&alert)?.as_slice())?;
            let record = CloneRecord {
                hostname: seen.hostname.clone(),
                first_seen: seen.since,
                alert: alert.id,
                reenrolled_as: None,
            };
            raised = Some(alert);
            record
        }
    };
    if let Some(new) = &new_agent {
        let mut agents = tx.open_table(AGENTS)?;
        if let Some(previous) = record.reenrolled_as {
            // The copy did not keep the identity it was given before (it would not present
            // this one otherwise): that identity is retired, so a copy holds one at a time.
            let old = agents.get(previous.0)?.map(|v| AgentRecord::decode(v.value())).transpose()?;
            if let Some(mut old) = old {
                old.revoked = true;
                agents.insert(previous.0, postcard::to_stdvec(&old)?.as_slice())?;
                changed.push(old);
            }
        }
        agents.insert(new.id.0, postcard::to_stdvec(new)?.as_slice())?;
        machines.insert(new.id.0, postcard::to_stdvec(&*seen)?.as_slice())?;
        changed.push(new.clone());
        record.reenrolled_as = Some(new.id);
    }
    clones.insert(key, postcard::to_stdvec(&record)?.as_slice())?;
    Ok(MachineVerdict::Copy(Box::new(Copied { first, alert: raised, reenrolled: new_agent })))
}
