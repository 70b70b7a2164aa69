//! fanotify (Linux, root): names the process behind each write.
//!
//! inotify sees every action but not who did it; fanotify reports the pid of the writer with
//! each `FAN_MODIFY` / `FAN_CLOSE_WRITE`. Marks are per filesystem (or per mount, on kernels
//! without filesystem marks), so events from outside the roots are filtered here.

use super::filter::PathFilter;
use super::watch::Signal;
use haidang_proto::Text;
use haidang_proto::event::Actor;
use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Sender;
use std::thread::JoinHandle;
use std::time::Duration;

const MASK: u64 = libc::FAN_MODIFY | libc::FAN_CLOSE_WRITE;
/// How often the reader looks at the stop flag.
const POLL: Duration = Duration::from_millis(200);

/// An initialised fanotify group with marks on the roots' filesystems.
pub(crate) struct Fanotify {
    fd: OwnedFd,
}

impl Fanotify {
    /// Sets up fanotify for `roots`, or says why it cannot be used here.
    pub(crate) fn new(roots: &[PathBuf]) -> Result<Fanotify, String> {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            return Err("the agent is not running as root".into());
        }
        let flags = libc::FAN_CLASS_NOTIF | libc::FAN_CLOEXEC | libc::FAN_NONBLOCK;
        let event_flags = (libc::O_RDONLY | libc::O_LARGEFILE | libc::O_CLOEXEC) as libc::c_uint;
        // SAFETY: plain system call with constant arguments.
        let raw = unsafe { libc::fanotify_init(flags, event_flags) };
        if raw < 0 {
            return Err(format!("fanotify_init failed: {}", io::Error::last_os_error()));
        }
        // SAFETY: `raw` is a new descriptor that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        let mut marked = 0;
        for root in roots.iter().filter(|r| r.exists()) {
            match mark(&fd, root, libc::FAN_MARK_FILESYSTEM).or_else(|_| mark(&fd, root, libc::FAN_MARK_MOUNT)) {
                Ok(()) => marked += 1,
                Err(e) => return Err(format!("fanotify_mark on {} failed: {e}", root.display())),
            }
        }
        if marked == 0 {
            return Err("none of the FIM paths exists yet".into());
        }
        Ok(Fanotify { fd })
    }

    /// Reads events on a thread of its own until `stop` is set, sending [`Signal::Written`]
    /// for paths `filter` covers.
    pub(crate) fn spawn(
        self,
        filter: Arc<PathFilter>,
        tx: Sender<Signal>,
        stop: Arc<AtomicBool>,
    ) -> io::Result<JoinHandle<()>> {
        std::thread::Builder::new().name("fim-fanotify".into()).spawn(move || self.read_loop(&filter, &tx, &stop))
    }

    fn read_loop(&self, filter: &PathFilter, tx: &Sender<Signal>, stop: &AtomicBool) {
        // u64 elements keep the buffer aligned for the event headers.
        let mut buf = vec![0u64; 8192];
        let me = std::process::id();
        while !stop.load(Ordering::Relaxed) {
            let mut pfd = libc::pollfd { fd: self.fd.as_raw_fd(), events: libc::POLLIN, revents: 0 };
            // SAFETY: `pfd` is a valid pollfd for the duration of the call.
            let ready = unsafe { libc::poll(&mut pfd, 1, POLL.as_millis() as libc::c_int) };
            if ready <= 0 {
                continue;
            }
            let bytes = std::mem::size_of_val(buf.as_slice());
            // SAFETY: `buf` is writable for `bytes` bytes.
            let n = unsafe { libc::read(self.fd.as_raw_fd(), buf.as_mut_ptr().cast(), bytes) };
            if n <= 0 {
                let e = io::Error::last_os_error();
                if n < 0 && !matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted) {
                    tracing::warn!(error = %e, "fanotify read failed; falling back to inotify alone");
                    return;
                }
                continue;
            }
            let n = n as usize;
            let base = buf.as_ptr().cast::<u8>();
            let header = std::mem::size_of::<libc::fanotify_event_metadata>();
            let mut off = 0;
            while off + header <= n {
                // SAFETY: the kernel wrote a whole header at `off` (checked against `n`).
                let m = unsafe { std::ptr::read_unaligned(base.add(off).cast::<libc::fanotify_event_metadata>()) };
                let len = m.event_len as usize;
                if m.vers != libc::FANOTIFY_METADATA_VERSION || len < header || off + len > n {
                    tracing::warn!("unexpected fanotify event layout; ignoring the rest of the buffer");
                    break;
                }
                off += len;
                if m.mask & libc::FAN_Q_OVERFLOW != 0 {
                    let _ = tx.send(Signal::Overflow("the fanotify queue overflowed"));
                }
                if m.fd < 0 {
                    continue;
                }
                // SAFETY: the kernel opened this descriptor for us; we own and close it.
                let file = unsafe { OwnedFd::from_raw_fd(m.fd) };
                let pid = u32::try_from(m.pid).unwrap_or(0);
                if pid == me {
                    continue;
                }
                let Some(path) = fd_path(&file) else { continue };
                if !filter.covers(&path) {
                    continue;
                }
                let inode = std::fs::File::from(file).metadata().ok().map(|m| (m.dev(), m.ino()));
                let image =
                    std::fs::read_link(format!("/proc/{pid}/exe")).map(|p| Text::from(p.as_path())).unwrap_or_default();
                if tx.send(Signal::Written(path, inode, Actor { pid, image })).is_err() {
                    return;
                }
            }
        }
    }
}

fn mark(fd: &OwnedFd, path: &Path, kind: libc::c_uint) -> io::Result<()> {
    let c = CString::new(path.as_os_str().as_bytes()).map_err(io::Error::other)?;
    // SAFETY: `c` is a valid NUL-terminated path and `fd` a fanotify descriptor.
    let r = unsafe { libc::fanotify_mark(fd.as_raw_fd(), libc::FAN_MARK_ADD | kind, MASK, libc::AT_FDCWD, c.as_ptr()) };
    if r == 0 { Ok(()) } else { Err(io::Error::last_os_error()) }
}

/// The path of an open file, unless it has been unlinked (then inotify reports the deletion).
fn fd_path(fd: &OwnedFd) -> Option<PathBuf> {
    let p = std::fs::read_link(format!("/proc/self/fd/{}", fd.as_raw_fd())).ok()?;
    if p.as_os_str().as_bytes().ends_with(b" (deleted)") && !p.exists() {
        return None;
    }
    Some(p)
}
