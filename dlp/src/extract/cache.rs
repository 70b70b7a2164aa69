//! Scan results by the SHA-256 of the document, least recently used evicted first, so an
//! unchanged file — however often it is copied, printed or renamed — is parsed once.

use super::DocumentResult;
use std::collections::{BTreeMap, HashMap};

pub(super) struct Cache {
    capacity: usize,
    tick: u64,
    entries: HashMap<[u8; 32], Entry>,
    /// Last use → key: the oldest entry is the first.
    by_use: BTreeMap<u64, [u8; 32]>,
}

struct Entry {
    used: u64,
    /// The name the document had when it was scanned: container paths start with it.
    root: String,
    result: DocumentResult,
}

impl Cache {
    pub(super) fn new(capacity: usize) -> Cache {
        Cache { capacity, tick: 0, entries: HashMap::new(), by_use: BTreeMap::new() }
    }

    /// The result for `sha256`, its container paths renamed to start with `root`.
    pub(super) fn get(&mut self, sha256: &[u8; 32], root: &str) -> Option<DocumentResult> {
        self.tick += 1;
        let entry = self.entries.get_mut(sha256)?;
        self.by_use.remove(&entry.used);
        entry.used = self.tick;
        self.by_use.insert(self.tick, *sha256);
        let mut result = DocumentResult { cached: true, ..entry.result.clone() };
        if entry.root != root {
            let rename = |path: &mut String| {
                if let Some(rest) = path.strip_prefix(entry.root.as_str()) {
                    *path = format!("{root}{rest}");
                }
            };
            result.findings.iter_mut().for_each(|f| rename(&mut f.location.part));
            result.could_not_inspect.iter_mut().for_each(|(path, _)| rename(path));
        }
        Some(result)
    }

    pub(super) fn put(&mut self, sha256: [u8; 32], root: &str, result: DocumentResult) {
        self.tick += 1;
        if let Some(old) = self.entries.remove(&sha256) {
            self.by_use.remove(&old.used);
        }
        while self.entries.len() >= self.capacity {
            let Some((_, oldest)) = self.by_use.pop_first() else { break };
            self.entries.remove(&oldest);
        }
        self.by_use.insert(self.tick, sha256);
        self.entries.insert(sha256, Entry { used: self.tick, root: root.to_string(), result });
    }
}
