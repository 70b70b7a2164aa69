//! The spool's writer thread: sensors hand it observations, it writes them in groups (one
//! transaction for whatever is waiting) and answers each sensor once its observations are
//! durable. While the spool cannot be written it makes room or, failing that, counts what it
//! had to let go, so sensors are never held up for long and every loss is accounted for.

use super::{Cursor, Observation, Spool, handle::is_out_of_space};
use anyhow::Result;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};

/// Most observations written in one transaction.
const MAX_GROUP: usize = 4096;

/// Longest a group of observations waits for the spool before it is counted as lost: the
/// sensors behind it wait this long at most.
const HOLD_LIMIT: Duration = Duration::from_secs(5);

/// Room made on a full disk per observation waiting, above the tenth of the spool that is
/// always dropped: generous, as an encoded event is a few hundred bytes.
const ROOM_PER_OBSERVATION: u64 = 512;

/// One `record` call waiting for its commit.
struct Pending {
    observations: Vec<Observation>,
    cursor: Option<Cursor>,
    reply: oneshot::Sender<()>,
}

/// A cheap handle through which sensors record observations. `record` returns once the
/// observations are durable, or once they are counted as lost after [`HOLD_LIMIT`] without a
/// writable spool: a sensor goes on (its next observations may fit) and the gap record tells
/// the collector what is missing. Concurrent calls share one transaction (group commit).
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
                let mut outage = Outage::default();
                while let Some(first) = rx.blocking_recv() {
                    let mut count = first.observations.len();
                    let mut group = vec![first];
                    while count < MAX_GROUP {
                        match rx.try_recv() {
                            Ok(next) => {
                                count += next.observations.len();
                                group.push(next);
                            }
                            Err(_) => break,
                        }
                    }
                    let all: Vec<Observation> = group.iter().flat_map(|p| p.observations.iter().cloned()).collect();
                    // In call order, so a source's later cursor overwrites its earlier one.
                    let cursors: Vec<Cursor> = group.iter().filter_map(|p| p.cursor.clone()).collect();
                    outage.write(&spool, &all, &cursors);
                    for pending in group {
                        let _ = pending.reply.send(());
                    }
                }
            })
            .map(|_| ())
            .unwrap_or_else(|e| tracing::error!(error = %e, "cannot start the spool writer"));
        Recorder { tx }
    }

    /// Records observations; returns once they are durably in the spool or accounted as lost.
    pub async fn record(&self, observations: Vec<Observation>) -> Result<()> {
        if observations.is_empty() {
            return Ok(());
        }
        self.send(observations, None).await
    }

    /// Records observations and, in the same transaction, where their source has read up to.
    /// Observations counted as lost (a spool that cannot be written) leave the cursor where it
    /// was, so the source reads them again after a restart.
    pub async fn record_with_cursor(&self, observations: Vec<Observation>, cursor: Cursor) -> Result<()> {
        self.send(observations, Some(cursor)).await
    }

    async fn send(&self, observations: Vec<Observation>, cursor: Option<Cursor>) -> Result<()> {
        let (reply, done) = oneshot::channel();
        let pending = Pending { observations, cursor, reply };
        self.tx.send(pending).await.map_err(|_| anyhow::anyhow!("the spool writer has stopped"))?;
        done.await.map_err(|_| anyhow::anyhow!("the spool writer has stopped"))
    }
}

/// A time the spool could not be written, summarised in two log lines (when it began and
/// when it ended) rather than one per attempt.
#[derive(Default)]
struct Outage {
    since: Option<Instant>,
    attempts: u64,
    dropped: u64,
    unwritten: u64,
}

impl Outage {
    /// Writes `observations`, making room on a full disk, retrying with backoff for up to
    /// [`HOLD_LIMIT`], then counting them as lost.
    fn write(&mut self, spool: &Spool, observations: &[Observation], cursors: &[Cursor]) {
        let started = Instant::now();
        let mut delay = Duration::from_millis(50);
        loop {
            let error = match spool.append_with_cursors(observations, cursors) {
                Ok(()) => return self.ended(),
                Err(e) => e,
            };
            self.began(&error);
            if is_out_of_space(&error) {
                let room = observations.len() as u64 * ROOM_PER_OBSERVATION;
                match spool.make_room(room) {
                    Ok(dropped) if dropped > 0 => {
                        self.dropped += dropped;
                        continue;
                    }
                    Ok(_) => {}
                    Err(e) => tracing::debug!(error = %format!("{e:#}"), "cannot make room in the spool"),
                }
            }
            if started.elapsed() >= HOLD_LIMIT {
                spool.lose_unwritten(observations.len() as u64);
                self.unwritten += observations.len() as u64;
                return;
            }
            std::thread::sleep(delay);
            delay = (delay * 2).min(Duration::from_secs(2));
        }
    }

    fn began(&mut self, error: &anyhow::Error) {
        self.attempts += 1;
        if self.since.is_none() {
            self.since = Some(Instant::now());
            tracing::error!(
                error = %format!("{error:#}"),
                "cannot write to the spool; on a full disk the oldest unsent events are dropped, \
                 and what cannot be written at all is counted in a gap record"
            );
        }
    }

    fn ended(&mut self) {
        if let Some(since) = self.since.take() {
            tracing::warn!(
                seconds = since.elapsed().as_secs(),
                attempts = self.attempts,
                dropped_oldest = self.dropped,
                not_written = self.unwritten,
                "the spool is written again"
            );
        }
        *self = Outage::default();
    }
}
