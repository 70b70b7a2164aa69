//! Room held back on the spool's filesystem. On a full disk even dropping events needs a few
//! free blocks (redb copies the pages it changes), so the spool keeps a file of real blocks
//! beside it and gives them back to the filesystem when the disk fills up; it takes them
//! again once the disk has room.

use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Enough for the transactions that drop the oldest events and write the next groups.
const RESERVE_BYTES: usize = 2 << 20;

/// How often a missing reserve is tried again.
const RETRY: Duration = Duration::from_secs(30);

pub(super) struct Reserve {
    path: PathBuf,
    held: AtomicBool,
    last_attempt: Mutex<Option<Instant>>,
}

impl Reserve {
    pub(super) fn new(path: PathBuf) -> Reserve {
        Reserve { path, held: AtomicBool::new(false), last_attempt: Mutex::new(None) }
    }

    /// Takes the room if it is not held, trying at most every [`RETRY`]; on a disk without
    /// room it leaves nothing behind. Returns whether it took the room now.
    pub(super) fn replenish(&self) -> bool {
        if self.held.load(Ordering::Relaxed) {
            return false;
        }
        {
            let mut last = self.last_attempt.lock().unwrap_or_else(PoisonError::into_inner);
            if last.is_some_and(|at| at.elapsed() < RETRY) {
                return false;
            }
            *last = Some(Instant::now());
        }
        match self.write() {
            Ok(()) => {
                self.held.store(true, Ordering::Relaxed);
                true
            }
            Err(e) => {
                let _ = std::fs::remove_file(&self.path);
                tracing::debug!(error = %e, reserve = %self.path.display(), "cannot hold room for the spool yet");
                false
            }
        }
    }

    fn write(&self) -> std::io::Result<()> {
        haidang_private::create_private_file(&self.path).map_err(|e| std::io::Error::other(format!("{e:#}")))?;
        let mut file = std::fs::OpenOptions::new().write(true).truncate(true).open(&self.path)?;
        // Zeros written (not a sparse length) so that the blocks are really allocated.
        file.write_all(&vec![0u8; RESERVE_BYTES])?;
        file.sync_all()
    }

    /// Gives the room back to the filesystem; returns whether any was held.
    pub(super) fn release(&self) -> bool {
        let held = self.held.swap(false, Ordering::Relaxed) || self.path.exists();
        if held {
            match std::fs::remove_file(&self.path) {
                Ok(()) => tracing::warn!(bytes = RESERVE_BYTES, "disk full: released the room held for the spool"),
                Err(e) => tracing::debug!(error = %e, "cannot release the spool's reserve"),
            }
        }
        held
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    #[test]
    fn the_reserve_is_real_blocks_that_are_given_back_and_taken_again() {
        use std::os::unix::fs::MetadataExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("spool.reserve");
        let reserve = Reserve::new(path.clone());
        assert!(reserve.replenish());
        let meta = std::fs::metadata(&path).expect("reserve written");
        assert_eq!(meta.len(), RESERVE_BYTES as u64);
        assert!(meta.blocks() * 512 >= RESERVE_BYTES as u64, "the reserve is not sparse");
        assert!(reserve.release());
        assert!(!path.exists());
        assert!(!reserve.release(), "nothing left to release");
        // Tried again only after the retry interval.
        assert!(!reserve.replenish());
        assert!(!path.exists());
        *reserve.last_attempt.lock().expect("lock") = None;
        assert!(reserve.replenish());
        assert!(path.exists());
        assert!(!reserve.replenish(), "already held");
    }
}
