//! The spool's database as its users share it. After a failed write (a full disk, an I/O
//! error) redb refuses every later operation on that `Database` ("Previous I/O error
//! occurred") until it is closed and opened again, so a failed operation takes the database
//! out of use and the next one opens it again, no more often than a backoff allows.

use anyhow::Result;
use redb::{CommitError, Database, DatabaseError, StorageError, TableError, TransactionError};
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// First wait before opening again after a failure; doubles up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(5);

pub(super) struct Handle {
    path: PathBuf,
    state: Mutex<State>,
}

struct State {
    /// None after a failure, until it is opened again.
    db: Option<Arc<Database>>,
    /// Why the last operation or reopening failed.
    problem: Option<String>,
    next_attempt: Instant,
    backoff: Duration,
}

impl Handle {
    pub(super) fn open(path: &Path) -> Result<Handle> {
        let db = open_database(path)?;
        Ok(Handle {
            path: path.to_path_buf(),
            state: Mutex::new(State {
                db: Some(Arc::new(db)),
                problem: None,
                next_attempt: Instant::now(),
                backoff: FIRST_BACKOFF,
            }),
        })
    }

    /// Runs `operation` on the database, opening it again first if an earlier operation
    /// failed. A failure takes the database out of use; it closes when the last operation
    /// still holding it ends.
    pub(super) fn with<T>(&self, operation: impl FnOnce(&Database) -> Result<T>) -> Result<T> {
        let db = self.database()?;
        operation(&db).inspect_err(|e| self.failed(format!("{e:#}")))
    }

    /// Why the spool cannot be written now, if it cannot.
    pub(super) fn problem(&self) -> Option<String> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner).problem.clone()
    }

    /// The database in use, opened again if it was taken out of use and the backoff allows.
    fn database(&self) -> Result<Arc<Database>> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(db) = &state.db {
            return Ok(db.clone());
        }
        let why = state.problem.clone().unwrap_or_default();
        if Instant::now() < state.next_attempt {
            anyhow::bail!("the spool is unavailable until it is opened again: {why}");
        }
        match open_database(&self.path) {
            Ok(db) => {
                tracing::debug!(spool = %self.path.display(), "spool opened again after: {why}");
                let db = Arc::new(db);
                state.db = Some(db.clone());
                state.backoff = FIRST_BACKOFF;
                Ok(db)
            }
            Err(e) => {
                state.problem = Some(format!("{e:#}"));
                state.next_attempt = Instant::now() + state.backoff;
                state.backoff = (state.backoff * 2).min(MAX_BACKOFF);
                Err(e)
            }
        }
    }

    fn failed(&self, why: String) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        state.db = None;
        state.problem = Some(why);
    }

    /// The database wrote successfully: nothing is wrong with it any more.
    pub(super) fn succeeded(&self) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if state.db.is_some() {
            state.problem = None;
        }
    }
}

fn open_database(path: &Path) -> Result<Database> {
    // redb would create the file with the process umask; unsent events are private.
    haidang_private::create_private_file(path)?;
    Database::create(path).map_err(|e| match e {
        DatabaseError::DatabaseAlreadyOpen => {
            anyhow::anyhow!("spool {} is in use by another haidang-agent; stop it first", path.display())
        }
        other => anyhow::anyhow!("cannot open spool {}: {other}", path.display()),
    })
}

/// Whether `error` says the filesystem has no room left (or the quota is used up).
pub(super) fn is_out_of_space(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        let storage = cause
            .downcast_ref::<StorageError>()
            .or_else(|| match cause.downcast_ref::<CommitError>() {
                Some(CommitError::Storage(s)) => Some(s),
                _ => None,
            })
            .or_else(|| match cause.downcast_ref::<TransactionError>() {
                Some(TransactionError::Storage(s)) => Some(s),
                _ => None,
            })
            .or_else(|| match cause.downcast_ref::<TableError>() {
                Some(TableError::Storage(s)) => Some(s),
                _ => None,
            })
            .or_else(|| match cause.downcast_ref::<DatabaseError>() {
                Some(DatabaseError::Storage(s)) => Some(s),
                _ => None,
            });
        let io = match storage {
            Some(StorageError::Io(io)) => Some(io),
            _ => cause.downcast_ref::<std::io::Error>(),
        };
        io.is_some_and(|io| matches!(io.kind(), ErrorKind::StorageFull | ErrorKind::QuotaExceeded))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_space_is_recognised_through_redb_and_anyhow_layers() {
        let full = || std::io::Error::from(ErrorKind::StorageFull);
        assert!(is_out_of_space(&anyhow::Error::new(CommitError::Storage(StorageError::Io(full())))));
        assert!(is_out_of_space(&anyhow::Error::new(StorageError::Io(full())).context("append")));
        assert!(is_out_of_space(&anyhow::Error::new(TransactionError::Storage(StorageError::Io(full())))));
        assert!(is_out_of_space(&anyhow::Error::new(std::io::Error::from(ErrorKind::QuotaExceeded))));
        assert!(!is_out_of_space(&anyhow::Error::new(StorageError::PreviousIo)));
        assert!(!is_out_of_space(&anyhow::Error::new(StorageError::Io(std::io::Error::from(
            ErrorKind::PermissionDenied
        )))));
    }

    #[test]
    fn a_failed_operation_takes_the_database_out_of_use_and_the_next_opens_it_again() {
        let dir = tempfile::tempdir().expect("tempdir");
        let handle = Handle::open(&dir.path().join("s.redb")).expect("open");
        let first = handle.database().expect("database");
        let failed: Result<()> = handle.with(|_| Err(anyhow::anyhow!("disk gone")));
        assert!(failed.is_err());
        assert_eq!(handle.problem().as_deref(), Some("disk gone"));
        // The old database is still held here, so it cannot be opened again yet.
        let refused = handle.with(|_| Ok(()));
        assert!(refused.is_err(), "opened twice");
        drop(first);
        std::thread::sleep(FIRST_BACKOFF * 2);
        handle.with(|_| Ok(())).expect("opened again once the old database is closed");
        handle.succeeded();
        assert_eq!(handle.problem(), None);
    }
}
