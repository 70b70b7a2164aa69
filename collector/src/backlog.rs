//! How long the oldest batch waiting for the correlate stage has waited, for `/healthz` and
//! `/metrics`: a stage that lags shows as a growing wait long before its queue is large.
//!
//! The store's queue holds no times, so the writer marks each commit that queues batches
//! with the last queue id and the time, and the stage removes marks as it finishes them.
//! Batches already queued when the collector starts count from the start.

use std::collections::VecDeque;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Marks kept at most. Past it a commit's batches join the newest mark, whose time is
/// earlier, so a long backlog is never reported younger than it is.
const MAX_MARKS: usize = 4096;

#[derive(Default)]
pub struct BacklogClock {
    /// (last queue id of a commit, when it was queued), oldest first.
    marks: Mutex<VecDeque<(u64, Instant)>>,
}

impl BacklogClock {
    /// Batches up to queue id `last` have just been queued.
    pub fn queued(&self, last: u64) {
        let mut marks = self.marks.lock().unwrap_or_else(PoisonError::into_inner);
        if marks.len() >= MAX_MARKS
            && let Some(newest) = marks.back_mut()
        {
            newest.0 = newest.0.max(last);
            return;
        }
        marks.push_back((last, Instant::now()));
    }

    /// Batches up to queue id `last` are correlated.
    pub fn correlated(&self, last: u64) {
        let mut marks = self.marks.lock().unwrap_or_else(PoisonError::into_inner);
        while marks.front().is_some_and(|&(id, _)| id <= last) {
            marks.pop_front();
        }
    }

    /// How long the oldest waiting batch has waited; zero when none waits.
    pub fn oldest_wait(&self) -> Duration {
        let marks = self.marks.lock().unwrap_or_else(PoisonError::into_inner);
        marks.front().map_or(Duration::ZERO, |&(_, at)| at.elapsed())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wait_is_that_of_the_oldest_batch_not_yet_correlated() {
        let clock = BacklogClock::default();
        assert_eq!(clock.oldest_wait(), Duration::ZERO);
        clock.queued(10);
        std::thread::sleep(Duration::from_millis(30));
        clock.queued(20);
        assert!(clock.oldest_wait() >= Duration::from_millis(30));
        // Part of the first commit done: its remaining batches still wait since then.
        clock.correlated(5);
        assert!(clock.oldest_wait() >= Duration::from_millis(30));
        clock.correlated(10);
        assert!(clock.oldest_wait() < Duration::from_millis(30));
        clock.correlated(20);
        assert_eq!(clock.oldest_wait(), Duration::ZERO);
    }

    #[test]
    fn past_the_mark_limit_new_batches_take_the_older_time() {
        let clock = BacklogClock::default();
        for id in 1..=MAX_MARKS as u64 {
            clock.queued(id);
        }
        std::thread::sleep(Duration::from_millis(20));
        clock.queued(MAX_MARKS as u64 + 100);
        clock.correlated(MAX_MARKS as u64 - 1);
        assert!(
            clock.oldest_wait() >= Duration::from_millis(20),
            "batch {} is no younger than its mark",
            MAX_MARKS + 100
        );
        clock.correlated(MAX_MARKS as u64 + 100);
        assert_eq!(clock.oldest_wait(), Duration::ZERO);
    }
}
