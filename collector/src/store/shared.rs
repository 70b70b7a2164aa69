//! The open store as the collector's parts share it. After a failed commit (a full disk, an
//! I/O error) redb refuses every later operation on that `Database` until it is closed and
//! opened again, so the store writer replaces it; everyone else takes the current database for
//! each operation and never keeps it.

use anyhow::Result;
use prometheus_client::metrics::gauge::Gauge;
use redb::Database;
use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError, RwLock};

pub struct Store {
    data: PathBuf,
    state: RwLock<State>,
    /// 1 while the collector can store, 0 while it cannot.
    healthy: Gauge,
}

struct State {
    /// None while the writer is reopening it.
    db: Option<Arc<Database>>,
    /// Why the collector cannot store now.
    problem: Option<String>,
}

impl Store {
    pub fn open(data: &Path, healthy: Gauge) -> Result<Store> {
        let db = super::open(data)?;
        healthy.set(1);
        Ok(Store {
            data: data.to_path_buf(),
            state: RwLock::new(State { db: Some(Arc::new(db)), problem: None }),
            healthy,
        })
    }

    /// The database now; an error while it is being reopened.
    pub fn db(&self) -> Result<Arc<Database>> {
        let state = self.state.read().unwrap_or_else(PoisonError::into_inner);
        match (&state.db, &state.problem) {
            (Some(db), _) => Ok(db.clone()),
            (None, problem) => {
                Err(anyhow::anyhow!("the store is unavailable: {}", problem.as_deref().unwrap_or("reopening")))
            }
        }
    }

    /// Why the collector cannot store now, if it cannot.
    pub fn problem(&self) -> Option<String> {
        self.state.read().unwrap_or_else(PoisonError::into_inner).problem.clone()
    }

    /// A commit failed: the database is taken out of use until [`Store::reopen`]. It closes
    /// (releasing its file) when the last operation still using it ends.
    pub(super) fn failed(&self, why: String) {
        let mut state = self.state.write().unwrap_or_else(PoisonError::into_inner);
        state.db = None;
        state.problem = Some(why);
        self.healthy.set(0);
    }

    /// Opens the database again (redb repairs it if it was not closed cleanly) and puts it back
    /// in use.
    pub(super) fn reopen(&self) -> Result<Arc<Database>> {
        let db = Arc::new(super::open(&self.data)?);
        let mut state = self.state.write().unwrap_or_else(PoisonError::into_inner);
        state.db = Some(db.clone());
        state.problem = None;
        self.healthy.set(1);
        Ok(db)
    }
}
