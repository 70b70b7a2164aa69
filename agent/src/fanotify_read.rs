//! Reading a fanotify group's events (Linux), shared by the file sensor and the DLP
//! channels: the buffer layout, the descriptors the kernel opens for us, and their paths.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

/// A new notification group (non-blocking, file descriptors in events), or why there cannot
/// be one here (neither root nor CAP_SYS_ADMIN, no fanotify).
pub(crate) fn notification_group() -> Result<OwnedFd, String> {
    if !crate::privilege::has_capability(crate::privilege::CAP_SYS_ADMIN) {
        return Err("the agent runs neither as root nor with CAP_SYS_ADMIN".into());
    }
    let flags = libc::FAN_CLASS_NOTIF | libc::FAN_CLOEXEC | libc::FAN_NONBLOCK;
    let event_flags = (libc::O_RDONLY | libc::O_LARGEFILE | libc::O_CLOEXEC) as libc::c_uint;
    // SAFETY: plain system call with constant arguments.
    let raw = unsafe { libc::fanotify_init(flags, event_flags) };
    if raw < 0 {
        return Err(format!("fanotify_init failed: {}", io::Error::last_os_error()));
    }
    // SAFETY: `raw` is a new descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(raw) })
}

/// One event of a read.
pub(crate) struct FanEvent {
    pub mask: u64,
    /// The process that caused it (0 if the kernel gave none that fits).
    pub pid: u32,
    /// The object, opened by the kernel for us; `None` for a queue-overflow record.
    pub file: Option<OwnedFd>,
}

/// A buffer for reading events; u64 elements keep it aligned for the event headers.
pub(crate) struct EventBuffer(Vec<u64>);

impl EventBuffer {
    pub(crate) fn new() -> EventBuffer {
        EventBuffer(vec![0u64; 8192])
    }

    /// Reads whatever events `group` has ready (the caller has polled it) and parses them.
    /// `Ok` of an empty list when there was nothing to read.
    pub(crate) fn read(&mut self, group: &OwnedFd) -> io::Result<Vec<FanEvent>> {
        let bytes = std::mem::size_of_val(self.0.as_slice());
        // SAFETY: the buffer is writable for `bytes` bytes.
        let n = unsafe { libc::read(group.as_raw_fd(), self.0.as_mut_ptr().cast(), bytes) };
        if n < 0 {
            let e = io::Error::last_os_error();
            return match e.kind() {
                io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted => Ok(Vec::new()),
                _ => Err(e),
            };
        }
        Ok(self.parse(n as usize))
    }

    fn parse(&self, n: usize) -> Vec<FanEvent> {
        let base = self.0.as_ptr().cast::<u8>();
        let header = std::mem::size_of::<libc::fanotify_event_metadata>();
        let mut events = Vec::new();
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
            // SAFETY: a non-negative descriptor was opened by the kernel for us; we own it.
            let file = (m.fd >= 0).then(|| unsafe { OwnedFd::from_raw_fd(m.fd) });
            events.push(FanEvent { mask: m.mask, pid: u32::try_from(m.pid).unwrap_or(0), file });
        }
        events
    }
}

/// The path of an open file, unless it has been unlinked (then there is nothing left to look
/// at, and inotify or a walk reports the deletion).
pub(crate) fn fd_path(fd: &OwnedFd) -> Option<PathBuf> {
    let p = std::fs::read_link(format!("/proc/self/fd/{}", fd.as_raw_fd())).ok()?;
    if p.as_os_str().as_bytes().ends_with(b" (deleted)") && !p.exists() {
        return None;
    }
    Some(p)
}
