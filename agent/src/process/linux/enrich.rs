//! What the agent can learn about a process from `/proc`: its image, command line, owner and
//! parent, and a BLAKE3 hash of the image file.
//!
//! Reading is split in two. [`capture`] runs as soon as a process is noticed and does only
//! cheap reads, because a short-lived process may be gone a millisecond later; it also opens
//! the image through `/proc/PID/exe`, which pins the very inode that was executed even if the
//! path is later replaced or deleted. Hashing that file and resolving the user name happen
//! afterwards, off the critical path, in [`Enricher`].

use std::collections::HashMap;
use std::ffi::CStr;
use std::fs::File;
use std::io::{self, Read};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Images larger than this are not hashed: one huge file must not stall the sensor.
const MAX_HASH_BYTES: u64 = 1 << 30;
/// Distinct image files whose hashes are remembered.
const HASH_CACHE_ENTRIES: usize = 1024;
/// How long an unknown uid stays unknown before the user database is asked again.
const UNKNOWN_USER_RETRY: Duration = Duration::from_secs(60);

/// What `/proc` said about one process at the moment it was noticed. Every field is optional
/// because the process may exit (or deny access) between any two reads.
#[derive(Debug, Default)]
pub(crate) struct Snapshot {
    pub pid: u32,
    pub ppid: Option<u32>,
    /// Effective uid: whose privileges the process runs with (root for a set-uid `sudo`).
    pub uid: Option<u32>,
    pub image: Option<Vec<u8>>,
    pub command_line: Option<Vec<u8>>,
    pub kernel_thread: bool,
    /// The executed file itself, opened through `/proc/PID/exe`.
    pub exe: Option<File>,
}

/// Reads what can be read about `pid` under `proc_root` (normally `/proc`).
pub(crate) fn capture(proc_root: &Path, pid: u32) -> Snapshot {
    let dir = proc_root.join(pid.to_string());
    let mut snap = Snapshot { pid, ..Snapshot::default() };
    let mut kthread = None;
    if let Ok(status) = std::fs::read(dir.join("status")) {
        let status = parse_status(&status);
        snap.ppid = status.ppid;
        snap.uid = status.euid;
        kthread = status.kthread;
    }
    snap.command_line = std::fs::read(dir.join("cmdline")).ok().map(|raw| crate::process::command_line::format(&raw));
    // Older kernels have no `Kthread:` line. Kernel threads are then told by their
    // parent, kthreadd, and their empty command line: a user-mode helper that kthreadd
    // spawned and that exec'd (modprobe, a core-dump handler) has one, and must be reported.
    snap.kernel_thread = kthread.unwrap_or_else(|| {
        (pid == KTHREADD_PID || snap.ppid == Some(KTHREADD_PID))
            && snap.command_line.as_ref().is_none_or(|c| c.is_empty())
    });
    if snap.kernel_thread {
        snap.command_line = None;
        return snap;
    }
    snap.exe = File::open(dir.join("exe")).ok();
    snap.image = std::fs::read_link(dir.join("exe")).ok().map(|p| p.as_os_str().as_bytes().to_vec());
    snap
}

/// Reads only the image path of `pid`, for naming a parent the sensor has not seen start.
pub(crate) fn read_image(proc_root: &Path, pid: u32) -> Option<Vec<u8>> {
    let link: PathBuf = std::fs::read_link(proc_root.join(pid.to_string()).join("exe")).ok()?;
    Some(link.as_os_str().as_bytes().to_vec())
}

/// The kernel's thread-creating thread; every kernel thread is it or its child.
const KTHREADD_PID: u32 = 2;

#[derive(Debug, Default, PartialEq)]
struct Status {
    ppid: Option<u32>,
    euid: Option<u32>,
    /// `None` on kernels that do not say.
    kthread: Option<bool>,
}

fn parse_status(raw: &[u8]) -> Status {
    let mut status = Status::default();
    for line in raw.split(|&b| b == b'\n') {
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        let (key, value) = (&line[..colon], &line[colon + 1..]);
        let mut fields = value.split(|b| b.is_ascii_whitespace()).filter(|f| !f.is_empty());
        let mut number = |index: usize| -> Option<u32> { std::str::from_utf8(fields.nth(index)?).ok()?.parse().ok() };
        match key {
            b"PPid" => status.ppid = number(0),
            // Real, effective, saved, filesystem.
            b"Uid" => status.euid = number(1),
            b"Kthread" => status.kthread = number(0).map(|k| k == 1),
            _ => {}
        }
    }
    status
}

/// Identifies one version of one file: a changed or replaced binary gets a new key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct FileKey {
    dev: u64,
    ino: u64,
    mtime_ns: i128,
    size: u64,
}

/// The slower half of enrichment: image hashes and user names, each cached.
pub(crate) struct Enricher {
    hashes: HashMap<FileKey, ([u8; 32], u64)>,
    /// Increases on every hash lookup; the entry with the smallest stamp is evicted first.
    clock: u64,
    users: HashMap<u32, (Option<String>, Instant)>,
}

impl Enricher {
    pub(crate) fn new() -> Enricher {
        Enricher { hashes: HashMap::new(), clock: 0, users: HashMap::new() }
    }

    /// BLAKE3 of the opened image, from the cache when this exact file version was seen.
    pub(crate) fn image_hash(&mut self, exe: &File) -> Option<[u8; 32]> {
        let meta = exe.metadata().ok()?;
        if !meta.is_file() || meta.len() > MAX_HASH_BYTES {
            return None;
        }
        let key = FileKey {
            dev: meta.dev(),
            ino: meta.ino(),
            mtime_ns: i128::from(meta.mtime()) * 1_000_000_000 + i128::from(meta.mtime_nsec()),
            size: meta.len(),
        };
        self.clock += 1;
        if let Some((hash, used)) = self.hashes.get_mut(&key) {
            *used = self.clock;
            return Some(*hash);
        }
        let hash = hash_file(exe).ok()?;
        if self.hashes.len() >= HASH_CACHE_ENTRIES {
            let oldest = self.hashes.iter().min_by_key(|(_, (_, used))| *used).map(|(k, _)| *k);
            if let Some(oldest) = oldest {
                self.hashes.remove(&oldest);
            }
        }
        self.hashes.insert(key, (hash, self.clock));
        Some(hash)
    }

    /// The account name of `uid`, or the number itself when no account has it.
    pub(crate) fn user_name(&mut self, uid: u32) -> String {
        let now = Instant::now();
        match self.users.get(&uid) {
            Some((Some(name), _)) => return name.clone(),
            Some((None, asked)) if now.duration_since(*asked) < UNKNOWN_USER_RETRY => {
                return uid.to_string();
            }
            _ => {}
        }
        let name = lookup_user(uid);
        self.users.insert(uid, (name.clone(), now));
        name.unwrap_or_else(|| uid.to_string())
    }
}

fn hash_file(file: &File) -> io::Result<[u8; 32]> {
    let mut hasher = blake3::Hasher::new();
    // `&File` reads from the current offset; the handle is fresh from `capture`, and its
    // length was checked against MAX_HASH_BYTES, but a growing file is still capped here.
    hasher.update_reader(file.take(MAX_HASH_BYTES))?;
    Ok(*hasher.finalize().as_bytes())
}

/// Asks the C library (so NSS: LDAP and SSSD domain accounts resolve too, without the
/// enumeration that a full `getpwent` scan would need).
pub(crate) fn lookup_user(uid: u32) -> Option<String> {
    let mut buf = vec![0u8; 1024];
    loop {
        // SAFETY: an all-zero `passwd` is a valid value of this plain C struct.
        let mut pwd: libc::passwd = unsafe { std::mem::zeroed() };
        let mut result: *mut libc::passwd = std::ptr::null_mut();
        // SAFETY: every pointer refers to live, correctly sized storage owned by this frame.
        let rc = unsafe { libc::getpwuid_r(uid, &mut pwd, buf.as_mut_ptr().cast(), buf.len(), &mut result) };
        if rc == libc::ERANGE && buf.len() < 1 << 20 {
            buf.resize(buf.len() * 4, 0);
            continue;
        }
        if rc != 0 || result.is_null() || pwd.pw_name.is_null() {
            return None;
        }
        // SAFETY: on success `pw_name` points to a NUL-terminated string inside `buf`.
        let name = unsafe { CStr::from_ptr(pwd.pw_name) };
        return Some(String::from_utf8_lossy(name.to_bytes()).into_owned());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_fields_are_parsed_and_garbage_is_tolerated() {
        let status = parse_status(b"Name:\tbash\nPPid:\t41\nUid:\t1000\t0\t0\t0\nKthread:\t0\n");
        assert_eq!(status, Status { ppid: Some(41), euid: Some(0), kthread: Some(false) });
        assert_eq!(parse_status(b"PPid:\nUid: x\n\xff:\xff"), Status::default());
        assert_eq!(parse_status(b"Kthread:\t1\n").kthread, Some(true));
    }

    #[test]
    fn kernel_threads_are_recognised_but_user_mode_helpers_are_not() {
        assert!(capture(Path::new("/proc"), KTHREADD_PID).kernel_thread);
        let root = tempfile::tempdir().expect("temp dir");
        let fake = |pid: u32, status: &str, cmdline: &[u8]| {
            let dir = root.path().join(pid.to_string());
            std::fs::create_dir(&dir).expect("mkdir");
            std::fs::write(dir.join("status"), status).expect("write status");
            std::fs::write(dir.join("cmdline"), cmdline).expect("write cmdline");
            capture(root.path(), pid)
        };
        // Kernels without the `Kthread:` line.
        assert!(fake(30, "PPid:\t2\n", b"").kernel_thread);
        let helper = fake(31, "PPid:\t2\n", b"/sbin/modprobe\0-q\0");
        assert!(!helper.kernel_thread);
        assert_eq!(helper.command_line.as_deref(), Some(&b"/sbin/modprobe -q"[..]));
        // Kernels with it are believed.
        assert!(!fake(32, "PPid:\t2\nKthread:\t0\n", b"").kernel_thread);
    }

    #[test]
    fn capture_of_self_and_of_a_vanished_pid() {
        let me = capture(Path::new("/proc"), std::process::id());
        assert_eq!(me.uid, Some(unsafe { libc::geteuid() }));
        assert_eq!(me.ppid, Some(std::os::unix::process::parent_id()));
        let exe = std::env::current_exe().expect("own executable");
        assert_eq!(me.image.as_deref(), Some(exe.as_os_str().as_bytes()));
        assert!(!me.kernel_thread);

        // pid_max is at most 2^22, so this pid cannot exist.
        let gone = capture(Path::new("/proc"), 1 << 23);
        assert!(gone.image.is_none() && gone.command_line.is_none() && gone.ppid.is_none());
    }

    #[test]
    fn image_hash_matches_blake3_and_is_cached_per_file_version() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("tool");
        std::fs::write(&path, b"version one").expect("write");
        let mut enricher = Enricher::new();
        let first = enricher.image_hash(&File::open(&path).expect("open"));
        assert_eq!(first, Some(*blake3::hash(b"version one").as_bytes()));
        assert_eq!(enricher.image_hash(&File::open(&path).expect("open")), first);
        assert_eq!(enricher.hashes.len(), 1);

        std::fs::write(&path, b"version two, longer").expect("rewrite");
        let second = enricher.image_hash(&File::open(&path).expect("open"));
        assert_eq!(second, Some(*blake3::hash(b"version two, longer").as_bytes()));
    }

    #[test]
    fn user_names_resolve_and_unknown_uids_fall_back_to_the_number() {
        let mut enricher = Enricher::new();
        assert_eq!(enricher.user_name(0), "root");
        assert_eq!(enricher.user_name(3_999_999_999), "3999999999");
    }
}
