//! What the monitor records about one path: `lstat` attributes plus a BLAKE3 digest of the
//! content, read without following symbolic links and without blocking on special files.

use haidang_proto::Hash32;
use haidang_proto::event::{FileMeta, Timestamp};
use serde::{Deserialize, Serialize};
use std::cell::RefCell;
use std::fs::{File, Metadata};
use std::io::{self, Read, Seek, SeekFrom};
use std::path::Path;

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
    pub(crate) fn hash_from_disk(&mut self, path: &Path) -> io::Result<()> {
        self.meta.hash = match self.kind {
            Kind::File => Some(hash_file(path, self)?),
            Kind::Symlink => {
                let target = std::fs::read_link(path)?;
                Some(*blake3::hash(target.as_os_str().as_encoded_bytes()).as_bytes())
            }
            Kind::Dir | Kind::Other => None,
        };
        Ok(())
    }

    pub(crate) fn encode(&self) -> postcard::Result<Vec<u8>> {
        postcard::to_allocvec(self)
    }

    pub(crate) fn decode(bytes: &[u8]) -> Option<Record> {
        postcard::from_bytes(bytes).ok()
    }
}

/// Reads `path` and returns its BLAKE3. The file is opened with `O_NOFOLLOW | O_NONBLOCK`
/// so a file swapped for a symbolic link or a FIFO after `lstat` is neither followed nor
/// waited on; `rec` is updated if the file changed while it was read.
fn hash_file(path: &Path, rec: &mut Record) -> io::Result<Hash32> {
    thread_local! {
        static BUF: RefCell<Vec<u8>> = RefCell::new(vec![0; READ_BUF]);
    }
    let mut file = open_no_follow(path)?;
    let mut before = Record::from_metadata(&file.metadata()?);
    if before.kind != Kind::File {
        return Err(io::Error::other("replaced by a non-regular file while being read"));
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
                *rec = Record { meta: FileMeta { hash: None, ..after.meta }, ..after };
                return Ok(*hasher.finalize().as_bytes());
            }
            before = after;
        }
        Err(io::Error::other("file kept changing while being read"))
    })
}

#[cfg(unix)]
fn open_no_follow(path: &Path) -> io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new().read(true).custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK).open(path)
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
    }
}

#[cfg(not(unix))]
fn platform_record(md: &Metadata, kind: Kind) -> Record {
    // Windows has no mode bits or owners in std; the read-only attribute stands for the
    // write permission bits and the change time is unavailable.
    let mode = if md.permissions().readonly() { 0o444 } else { 0o644 };
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
