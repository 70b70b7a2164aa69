//! The baseline: the last known state of every monitored path, in its own redb file.
//!
//! Keys are the raw bytes of the path, so the entries under a directory form one key range
//! (see [`subtree_range`]); values are postcard-encoded [`Record`]s.

use super::meta::Record;
use anyhow::{Context, Result};
use redb::{Database, Durability, ReadOnlyTable, ReadableDatabase, ReadableTable, TableDefinition};
use std::path::{Path, PathBuf};

const FILES: TableDefinition<&[u8], &[u8]> = TableDefinition::new("fim_files_v1");
const CACHE_BYTES: usize = 16 << 20;
/// Roots whose first baseline is complete: changes under a root not in this table are not
/// reported, they are the initial state.
const ROOTS: TableDefinition<&[u8], ()> = TableDefinition::new("fim_roots_v1");

/// One change to apply to the baseline.
#[derive(Clone, Debug)]
pub(crate) enum Update {
    Put(PathBuf, Record),
    Remove(PathBuf),
}

/// The baseline store.
pub(crate) struct Baseline {
    db: Database,
}

/// A snapshot for lookups.
pub(crate) struct Snapshot {
    table: Option<ReadOnlyTable<&'static [u8], &'static [u8]>>,
}

impl Snapshot {
    pub(crate) fn get(&self, path: &Path) -> Result<Option<Record>> {
        let Some(table) = &self.table else {
            return Ok(None);
        };
        let Some(v) = table.get(path_key(path).as_slice())? else {
            return Ok(None);
        };
        Ok(decode_or_warn(path, v.value()))
    }

    /// Calls `f` for every entry at or under `dir`, in key order.
    pub(crate) fn for_each_in(&self, dir: &Path, mut f: impl FnMut(PathBuf, Record)) -> Result<()> {
        let Some(table) = &self.table else {
            return Ok(());
        };
        if let Some(v) = table.get(path_key(dir).as_slice())?
            && let Some(r) = decode_or_warn(dir, v.value())
        {
            f(dir.to_path_buf(), r);
        }
        let (lo, hi) = subtree_range(dir);
        for item in table.range(lo.as_slice()..hi.as_slice())? {
            let (k, v) = item?;
            let path = key_path(k.value());
            if let Some(r) = decode_or_warn(&path, v.value()) {
                f(path, r);
            }
        }
        Ok(())
    }
}

impl Baseline {
    /// Opens (or creates) the baseline at `file`, creating its directory.
    pub(crate) fn open(file: &Path) -> Result<Baseline> {
        if let Some(dir) = file.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create the directory of {}", file.display()))?;
        }
        // A small page cache: the baseline is read once per path per scan, and the agent's
        // memory budget matters more than re-reading a page from the OS cache.
        haidang_private::create_private_file(file)?;
        let db = Database::builder()
            .set_cache_size(CACHE_BYTES)
            .create(file)
            .with_context(|| format!("cannot open the FIM baseline {} (is another agent using it?)", file.display()))?;
        let tx = db.begin_write()?;
        tx.open_table(FILES)?;
        tx.open_table(ROOTS)?;
        tx.commit()?;
        Ok(Baseline { db })
    }

    pub(crate) fn snapshot(&self) -> Result<Snapshot> {
        let tx = self.db.begin_read()?;
        let table = match tx.open_table(FILES) {
            Ok(t) => Some(t),
            Err(redb::TableError::TableDoesNotExist(_)) => None,
            Err(e) => return Err(e.into()),
        };
        Ok(Snapshot { table })
    }

    /// Applies `updates` in one transaction. `durable` makes the commit wait for the disk;
    /// without it a crash may lose the commit, which only means the change is reported again.
    pub(crate) fn apply(&self, updates: &[Update], durable: bool) -> Result<()> {
        let mut tx = self.db.begin_write()?;
        tx.set_durability(if durable { Durability::Immediate } else { Durability::None })?;
        {
            let mut t = tx.open_table(FILES)?;
            for u in updates {
                match u {
                    Update::Put(p, r) => {
                        let v = r.encode().context("cannot encode a baseline record")?;
                        t.insert(path_key(p).as_slice(), v.as_slice())?;
                    }
                    Update::Remove(p) => {
                        t.remove(path_key(p).as_slice())?;
                    }
                }
            }
        }
        tx.commit().context("cannot write the FIM baseline")?;
        Ok(())
    }

    /// Whether the first baseline of `root` is complete.
    pub(crate) fn has_root(&self, root: &Path) -> Result<bool> {
        let tx = self.db.begin_read()?;
        let t = tx.open_table(ROOTS)?;
        Ok(t.get(path_key(root).as_slice())?.is_some())
    }

    /// Records that the first baseline of `root` is complete, and forgets the entries of
    /// roots that are no longer configured (a path removed from the configuration is not a
    /// deletion). `roots` are all the configured roots.
    pub(crate) fn set_roots(&self, done: &[PathBuf], roots: &[PathBuf]) -> Result<()> {
        let tx = self.db.begin_write()?;
        {
            let mut rt = tx.open_table(ROOTS)?;
            let mut stale = Vec::new();
            for item in rt.iter()? {
                let (k, ()) = item.map(|(k, v)| (key_path(k.value()), v.value()))?;
                if !roots.contains(&k) {
                    stale.push(k);
                }
            }
            let mut ft = tx.open_table(FILES)?;
            for old in &stale {
                rt.remove(path_key(old).as_slice())?;
                let (lo, hi) = subtree_range(old);
                let own = path_key(old);
                ft.retain_in(lo.as_slice()..hi.as_slice(), |k, _| roots.iter().any(|r| key_path(k).starts_with(r)))?;
                if !roots.iter().any(|r| old.starts_with(r)) {
                    ft.remove(own.as_slice())?;
                }
                tracing::info!(root = %old.display(), "no longer monitored; its baseline entries were dropped");
            }
            for r in done {
                rt.insert(path_key(r).as_slice(), ())?;
            }
        }
        tx.commit().context("cannot write the FIM baseline")?;
        Ok(())
    }

    /// Number of entries.
    #[cfg(test)]
    pub(crate) fn len(&self) -> Result<u64> {
        use redb::ReadableTableMetadata;
        let tx = self.db.begin_read()?;
        Ok(tx.open_table(FILES)?.len()?)
    }
}

fn decode_or_warn(path: &Path, bytes: &[u8]) -> Option<Record> {
    let r = Record::decode(bytes);
    if r.is_none() {
        tracing::warn!(path = %path.display(), "unreadable baseline entry; the path is treated as new");
    }
    r
}

#[cfg(unix)]
pub(crate) fn path_key(p: &Path) -> Vec<u8> {
    use std::os::unix::ffi::OsStrExt;
    p.as_os_str().as_bytes().to_vec()
}

#[cfg(unix)]
fn key_path(k: &[u8]) -> PathBuf {
    use std::os::unix::ffi::OsStrExt;
    PathBuf::from(std::ffi::OsStr::from_bytes(k))
}

#[cfg(not(unix))]
pub(crate) fn path_key(p: &Path) -> Vec<u8> {
    p.to_string_lossy().into_owned().into_bytes()
}

#[cfg(not(unix))]
fn key_path(k: &[u8]) -> PathBuf {
    PathBuf::from(String::from_utf8_lossy(k).into_owned())
}

/// The half-open key range holding everything strictly under `dir`: keys that start with
/// `dir` and a separator.
fn subtree_range(dir: &Path) -> (Vec<u8>, Vec<u8>) {
    let sep = std::path::MAIN_SEPARATOR as u8;
    let mut lo = path_key(dir);
    if lo.last() != Some(&sep) {
        lo.push(sep);
    }
    let mut hi = lo.clone();
    if let Some(last) = hi.last_mut() {
        *last = sep + 1;
    }
    (lo, hi)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fim::meta::Kind;
    use crate::paths::native;
    use haidang_proto::event::FileMeta;

    fn subtree(b: &Baseline, dir: &str) -> Vec<PathBuf> {
        let mut out = Vec::new();
        b.snapshot().expect("snapshot").for_each_in(&native(dir), |p, _| out.push(p)).expect("range");
        out
    }

    fn rec(ino: u64) -> Record {
        Record { meta: FileMeta::default(), kind: Kind::File, dev: 1, ino, ctime: 0, security: Default::default() }
    }

    #[test]
    fn subtree_is_exactly_the_directory_and_its_descendants() {
        let dir = tempfile::tempdir().expect("tempdir");
        let b = Baseline::open(&dir.path().join("state/baseline.redb")).expect("open");
        let puts = ["/r/a", "/r/a/x", "/r/a/y/z", "/r/a0", "/r/a-b", "/r/b"]
            .iter()
            .enumerate()
            .map(|(i, p)| Update::Put(native(p), rec(i as u64)))
            .collect::<Vec<_>>();
        b.apply(&puts, true).expect("apply");
        assert_eq!(subtree(&b, "/r/a"), ["/r/a", "/r/a/x", "/r/a/y/z"].map(native));
        assert_eq!(subtree(&b, "/").len(), 6);
        b.apply(&[Update::Remove(native("/r/a/x"))], false).expect("remove");
        assert_eq!(b.len().expect("len"), 5);
        assert_eq!(b.snapshot().expect("snap").get(&native("/r/b")).expect("get"), Some(rec(5)));
    }

    #[test]
    fn dropping_a_root_forgets_only_what_no_root_covers() {
        let dir = tempfile::tempdir().expect("tempdir");
        let b = Baseline::open(&dir.path().join("b.redb")).expect("open");
        let puts = ["/r", "/r/a", "/r/keep", "/r/keep/k", "/s/t"].map(|p| Update::Put(native(p), rec(0)));
        b.apply(&puts, true).expect("apply");
        b.set_roots(&[native("/r"), native("/s")], &[native("/r"), native("/s")]).expect("roots");
        assert!(b.has_root(&native("/r")).expect("has"));
        b.set_roots(&[], &[native("/r/keep"), native("/s")]).expect("roots");
        assert!(!b.has_root(&native("/r")).expect("has"));
        assert_eq!(subtree(&b, "/"), ["/r/keep", "/r/keep/k", "/s/t"].map(native));
    }
}
