//! What the monitor records about one path: `lstat` attributes plus a BLAKE3 digest of the
//! content, read without following symbolic links and without blocking on special files, and
//! on Windows the owner and access control list (`security.rs`).

use super::security::Security;
use haidang_proto::Hash32;
use haidang_proto::event::{FileMeta, Timestamp};
use serde::{Deserialize, Serialize};
use std::cell::RefCell;
use std::collections::HashMap;
use std::fs::{File, Metadata};
use std::io::{self, Read, Seek, SeekFrom};
use std::path::Path;
use std::sync::Mutex;

/// Read size for hashing; large enough that syscalls do not dominate on fast disks.
const READ_BUF: usize = 256 * 1024;

/// The type of a filesystem object.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum Kind {
    File,
    Dir,
    Symlink,
    /// Devices, FIFOs and sockets: recorded, never opened.
    Other,
}

/// One baseline entry.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct Record {
    pub meta: FileMeta,
    pub kind: Kind,
    pub dev: u64,
    pub ino: u64,
    /// Status-change time: it moves on every write, chmod or chown and cannot be set by the
    /// user, so a file whose mtime was forged back still looks changed.
    pub ctime: i64,
    /// The owner and access control list where `lstat` does not hold them (Windows); read
    /// by [`Record::read_security`], empty until then.
    pub security: Security,
}

impl Record {
    /// The record for `md` (from `lstat`), without a hash yet.
    pub(crate) fn from_metadata(md: &Metadata) -> Record {
        let ft = md.file_type();
        let kind = if ft.is_file() {
            Kind::File
        } else if ft.is_dir() {
            Kind::Dir
        } else if ft.is_symlink() {
            Kind::Symlink
        } else {
            Kind::Other
        };
        platform_record(md, kind)
    }

    /// Whether the content cannot have changed since `old`, so its hash can be reused
    /// without reading the file again.
    pub(crate) fn same_content_as(&self, old: &Record) -> bool {
        self.kind == old.kind
            && self.meta.size == old.meta.size
            && self.meta.mtime == old.meta.mtime
            && self.meta.mode == old.meta.mode
            && self.ino == old.ino
            && self.dev == old.dev
            && self.ctime == old.ctime
    }

    /// Fills in the hash: of the content for regular files, of the link target for symbolic
    /// links (so a retargeted link is a modification), none for anything else.
    #[cfg(test)]
    pub(crate) fn hash_from_disk(&mut self, path: &Path) -> io::Result<()> {
        self.hash_opened(path, None, None).map(|_| ())
    }

    /// Fills in the hash as `hash_from_disk` does, with the file perhaps already opened (by
    /// [`prefetch`]) and the hashes of the files with several names already read in this
    /// scan, so that another name of a file is not read again. Returns whether content was
    /// read.
    pub(crate) fn hash_opened(&mut self, path: &Path, opened: Option<File>, links: Option<&Links>) -> io::Result<bool> {
        let (hash, read) = match self.kind {
            Kind::File => {
                let (hash, read) = hash_file(path, self, opened, links)?;
                (Some(hash), read)
            }
            Kind::Symlink => {
                let target = std::fs::read_link(path)?;
                (Some(*blake3::hash(target.as_os_str().as_encoded_bytes()).as_bytes()), false)
            }
            Kind::Dir | Kind::Other => (None, false),
        };
        self.meta.hash = hash;
        Ok(read)
    }

    /// Reads what [`Security`] records of `path`.
    pub(crate) fn read_security(&mut self, path: &Path) {
        self.security = Security::read(path);
    }

    pub(crate) fn encode(&self) -> postcard::Result<Vec<u8>> {
        postcard::to_allocvec(self)
    }

    pub(crate) fn decode(bytes: &[u8]) -> Option<Record> {
        postcard::from_bytes(bytes).ok()
    }
}

/// The hashes of the regular files with more than one name (hard links) read so far in a
/// scan, by inode. Another name of the same inode, unchanged since (same size, mtime and
/// ctime, as for reusing a baseline hash), has the same content and is not read again.
#[derive(Default)]
pub(crate) struct Links(Mutex<HashMap<(u64, u64), Record>>);

impl Links {
    /// Inodes remembered at most, which bounds memory on trees full of hard links.
    const MAX: usize = 65_536;

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(u64, u64), Record>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn get(&self, now: &Record) -> Option<Hash32> {
        let known = self.lock();
        let seen = known.get(&(now.dev, now.ino))?;
        let same = seen.meta.size == now.meta.size && seen.meta.mtime == now.meta.mtime && seen.ctime == now.ctime;
        if same { seen.meta.hash } else { None }
    }

    fn put(&self, rec: &Record) {
        let mut known = self.lock();
        if known.len() < Self::MAX || known.contains_key(&(rec.dev, rec.ino)) {
            known.insert((rec.dev, rec.ino), rec.clone());
        }
    }
}

/// Reads `path` and returns its BLAKE3, and whether it was read (rather than found in
/// `links`). The file is opened with `O_NOFOLLOW | O_NONBLOCK` (unless `opened` already is)
/// so a file swapped for a symbolic link or a FIFO after `lstat` is neither followed nor
/// waited on; `rec` is updated if the file changed while it was read.
fn hash_file(path: &Path, rec: &mut Record, opened: Option<File>, links: Option<&Links>) -> io::Result<(Hash32, bool)> {
    thread_local! {
        static BUF: RefCell<Vec<u8>> = RefCell::new(vec![0; READ_BUF]);
    }
    let mut file = match opened {
        Some(f) => f,
        None => open_no_follow(path)?,
    };
    let md = file.metadata()?;
    let mut before = Record::from_metadata(&md);
    if before.kind != Kind::File {
        return Err(io::Error::other("replaced by a non-regular file while being read"));
    }
    let links = links.filter(|_| several_names(&md) && before.ino != 0);
    if let Some(hash) = links.and_then(|l| l.get(&before)) {
        *rec = before;
        return Ok((hash, false));
    }
    BUF.with_borrow_mut(|buf| {
        // A file written while it is read is read again, a few times at most; the writer's
        // close will be seen in real time anyway.
        for attempt in 0..3 {
            if attempt > 0 {
                file.seek(SeekFrom::Start(0))?;
            }
            let mut hasher = blake3::Hasher::new();
            loop {
                match file.read(buf) {
                    Ok(0) => break,
                    Ok(n) => {
                        hasher.update(&buf[..n]);
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            }
            let after = Record::from_metadata(&file.metadata()?);
            let stable = after.meta.size == before.meta.size
                && after.meta.mtime == before.meta.mtime
                && after.ctime == before.ctime;
            if stable || attempt == 2 {
                // What was hashed is the content of the opened inode: describe that inode.
                let hash = *hasher.finalize().as_bytes();
                if let Some(l) = links {
                    l.put(&Record { meta: FileMeta { hash: Some(hash), ..after.meta.clone() }, ..after.clone() });
                }
                *rec = Record { meta: FileMeta { hash: None, ..after.meta }, ..after };
                return Ok((hash, true));
            }
            before = after;
        }
        Err(io::Error::other("file kept changing while being read"))
    })
}

/// Opens the regular file at `path` (as hashing does) and asks the kernel to start reading
/// its first `len` bytes into the page cache without waiting for them, so that many small
/// files are read at once on a cold disk. The open file is for [`Record::hash_opened`].
/// Best effort: `None` on any failure, which hashing finds again.
#[cfg(target_os = "linux")]
pub(crate) fn prefetch(path: &Path, len: u64) -> Option<File> {
    use std::os::fd::AsRawFd;
    let file = open_no_follow(path).ok()?;
    let len = libc::off_t::try_from(len).unwrap_or(libc::off_t::MAX);
    // SAFETY: the descriptor is open for the duration of the call; the advice does not
    // touch memory of ours.
    unsafe {
        libc::posix_fadvise(file.as_raw_fd(), 0, len, libc::POSIX_FADV_WILLNEED);
    }
    Some(file)
}

#[cfg(not(target_os = "linux"))]
pub(crate) fn prefetch(_path: &Path, _len: u64) -> Option<File> {
    None
}

#[cfg(unix)]
fn several_names(md: &Metadata) -> bool {
    use std::os::unix::fs::MetadataExt;
    md.nlink() > 1
}

#[cfg(not(unix))]
fn several_names(_md: &Metadata) -> bool {
    false
}

/// Opens `path` for reading without following a symbolic link and without blocking on a
/// FIFO. On Linux the access time is left alone where the kernel allows it (the owner or
/// root): a monitor reading every file must not erase when each was last read, which an
/// investigation may need.
#[cfg(unix)]
fn open_no_follow(path: &Path) -> io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    let open = |extra: libc::c_int| {
        std::fs::OpenOptions::new().read(true).custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | extra).open(path)
    };
    #[cfg(target_os = "linux")]
    match open(libc::O_NOATIME) {
        Err(e) if e.raw_os_error() == Some(libc::EPERM) => {}
        result => return result,
    }
    open(0)
}

#[cfg(not(unix))]
fn open_no_follow(path: &Path) -> io::Result<File> {
    File::open(path)
}

#[cfg(unix)]
fn platform_record(md: &Metadata, kind: Kind) -> Record {
    use std::os::unix::fs::MetadataExt;
    let nanos = |secs: i64, ns: i64| secs.saturating_mul(1_000_000_000).saturating_add(ns);
    Record {
        meta: FileMeta {
            size: if kind == Kind::Dir { 0 } else { md.size() },
            mode: md.mode(),
            uid: md.uid(),
            gid: md.gid(),
            mtime: Timestamp(nanos(md.mtime(), md.mtime_nsec())),
            hash: None,
        },
        kind,
        dev: md.dev(),
        ino: md.ino(),
        ctime: nanos(md.ctime(), md.ctime_nsec()),
        security: Security,
    }
}

#[cfg(windows)]
fn platform_record(md: &Metadata, kind: Kind) -> Record {
    use std::os::windows::fs::MetadataExt;
    // Windows has no mode bits: `mode` holds the file attribute bits (read-only, hidden,
    // system, archive, …), so that setting one is an attribute change as a chmod is on
    // Linux. Owners are in `security`; the change time is not in std.
    let mode = super::security::recorded_attributes(md.file_attributes());
    Record {
        meta: FileMeta {
            size: if kind == Kind::Dir { 0 } else { md.len() },
            mode,
            uid: 0,
            gid: 0,
            mtime: md.modified().map(Timestamp::from).unwrap_or_default(),
            hash: None,
        },
        kind,
        dev: 0,
        ino: 0,
        ctime: 0,
        security: Security::default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_content_and_link_targets() {
        let dir = tempfile::tempdir().expect("tempdir");
        let f = dir.path().join("a");
        let data = vec![7u8; READ_BUF * 2 + 5];
        std::fs::write(&f, &data).expect("write");
        let mut rec = Record::from_metadata(&std::fs::symlink_metadata(&f).expect("lstat"));
        rec.hash_from_disk(&f).expect("hash");
        assert_eq!(rec.meta.hash, Some(*blake3::hash(&data).as_bytes()));
        assert_eq!(Record::decode(&rec.encode().expect("encodes")), Some(rec.clone()));

        #[cfg(unix)]
        {
            let l = dir.path().join("l");
            std::os::unix::fs::symlink("a", &l).expect("symlink");
            let mut link = Record::from_metadata(&std::fs::symlink_metadata(&l).expect("lstat"));
            assert_eq!(link.kind, Kind::Symlink);
            link.hash_from_disk(&l).expect("hash link");
            assert_eq!(link.meta.hash, Some(*blake3::hash(b"a").as_bytes()));
        }
    }

    #[cfg(unix)]
    #[test]
    fn another_name_of_an_unchanged_file_is_not_read_again() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        std::fs::write(&a, b"first").expect("write");
        std::fs::hard_link(&a, &b).expect("link");
        let links = Links::default();
        let hash = |p: &Path| {
            let mut rec = Record::from_metadata(&std::fs::symlink_metadata(p).expect("lstat"));
            let read = rec.hash_opened(p, prefetch(p, 5), Some(&links)).expect("hash");
            (rec.meta.hash, read)
        };
        assert_eq!(hash(&a), (Some(*blake3::hash(b"first").as_bytes()), true));
        assert_eq!(hash(&b), (Some(*blake3::hash(b"first").as_bytes()), false));
        // A write through one name changes the inode's ctime: the other name is read again.
        std::fs::write(&a, b"second").expect("write");
        assert_eq!(hash(&b), (Some(*blake3::hash(b"second").as_bytes()), true));
    }

    #[cfg(unix)]
    #[test]
    fn never_blocks_on_a_fifo() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("fifo");
        let c = std::ffi::CString::new(p.as_os_str().as_encoded_bytes()).expect("no NUL");
        // SAFETY: `c` is a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let mut rec = Record::from_metadata(&std::fs::symlink_metadata(&p).expect("lstat"));
        assert_eq!(rec.kind, Kind::Other);
        rec.hash_from_disk(&p).expect("nothing to read");
        assert_eq!(rec.meta.hash, None);
        // Even if a FIFO appears where a regular file was, hashing fails instead of hanging.
        rec.kind = Kind::File;
        assert!(rec.hash_from_disk(&p).is_err());
    }
}
