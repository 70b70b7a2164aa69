//! Results of earlier scans, keyed by the content's SHA-256 together with the file's external
//! variables when some rule can see them (a rule may test `filename` or `owner`, so the same
//! bytes under another name are then a different question; the scanner leaves the externals
//! out of the key otherwise). An unchanged file asked about again (a touch, a chmod, the next
//! scheduled scan) is answered without running the rules.
//!
//! Bounded: past [`ScanCache::new`]'s capacity the oldest entries are forgotten (their files
//! are simply scanned again). Shared by the threads of one scan, hence the lock; it is held
//! only to look up or insert, never while scanning.

use crate::externals::Externals;
use crate::scanner::Match;
use haidang_proto::Hash32;
use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

/// The key: what the result of a scan depends on, besides the rules.
type Key = (Hash32, Externals);

/// What a rule matched, without the path (which is in the key's externals).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Hit {
    pub(crate) rule: String,
    pub(crate) namespace: String,
    pub(crate) tags: Vec<String>,
}

/// Results of earlier scans by content (and by name when the rules can see it), shared by
/// the [`Scanner`](crate::Scanner)s of one rule set.
pub struct ScanCache {
    capacity: usize,
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    results: HashMap<Key, Vec<Hit>>,
    /// Insertion order, for forgetting the oldest first.
    order: VecDeque<Key>,
}

impl ScanCache {
    /// A cache of at most `capacity` results (each a hash, the externals and the hits: about
    /// 200 bytes for a clean file).
    pub fn new(capacity: usize) -> ScanCache {
        ScanCache { capacity: capacity.max(1), inner: Mutex::new(Inner::default()) }
    }

    pub(crate) fn get(&self, sha256: &Hash32, externals: &Externals) -> Option<Vec<Hit>> {
        let inner = self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        inner.results.get(&(*sha256, externals.clone())).cloned()
    }

    pub(crate) fn insert(&self, sha256: Hash32, externals: Externals, hits: Vec<Hit>) {
        let mut inner = self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let key = (sha256, externals);
        if inner.results.insert(key.clone(), hits).is_none() {
            inner.order.push_back(key);
        }
        while inner.order.len() > self.capacity {
            if let Some(oldest) = inner.order.pop_front() {
                inner.results.remove(&oldest);
            }
        }
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).results.len()
    }
}

impl Hit {
    pub(crate) fn into_match(self, path: &std::path::Path, sha256: Hash32) -> Match {
        Match { rule: self.rule, namespace: self.namespace, tags: self.tags, path: path.to_path_buf(), sha256 }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forgets_the_oldest_past_capacity() {
        let cache = ScanCache::new(2);
        let x = Externals::default();
        for n in 0..3u8 {
            cache.insert([n; 32], x.clone(), Vec::new());
        }
        assert_eq!(cache.len(), 2);
        assert!(cache.get(&[0; 32], &x).is_none());
        assert!(cache.get(&[2; 32], &x).is_some());
        let other = Externals { filename: "other".into(), ..Externals::default() };
        assert!(cache.get(&[2; 32], &other).is_none(), "another name is another question");
    }
}
