//! Linux sources of the DLP channels: the mount table (`/proc/self/mountinfo`, whose
//! descriptor reports `POLLPRI | POLLERR` when a mount comes or goes) and writes on watched
//! mounts (a fanotify group with one `FAN_MARK_MOUNT` mark per mount, `FAN_CLOSE_WRITE`).
//!
//! Verified on Linux 6.18: a mount mark on a FUSE filesystem (`fuse.sshfs`) reports files
//! closed after writing through that mount, as on ext4 or vfat. Changes made on the far side
//! of a network filesystem (by the server or another client) reach no local notification;
//! they are not egress from this machine, so only local writes are watched. A mount that
//! refuses a mark, or an agent that is not root, falls back to a periodic walk (see
//! [`super::Walker`]); `haidang-agent status` shows which each mount uses.

use super::mountinfo::{self, MountEntry};
use super::{MountTable, WriteSource};
use crate::fanotify_read::{EventBuffer, fd_path, notification_group};
use std::ffi::CString;
use std::io::{self, Read, Seek};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// `/proc/self/mountinfo`, kept open to be polled.
pub(super) struct ProcMountInfo {
    file: std::fs::File,
}

impl ProcMountInfo {
    pub(super) fn open() -> io::Result<ProcMountInfo> {
        Ok(ProcMountInfo { file: std::fs::File::open("/proc/self/mountinfo")? })
    }
}

impl MountTable for ProcMountInfo {
    fn read(&mut self) -> io::Result<Vec<MountEntry>> {
        // Reading the whole table from the start also re-arms the change notification.
        self.file.rewind()?;
        let mut text = Vec::new();
        self.file.read_to_end(&mut text)?;
        Ok(mountinfo::parse(&text))
    }

    fn changed(&mut self) -> bool {
        let mut pfd = libc::pollfd { fd: self.file.as_raw_fd(), events: libc::POLLPRI | libc::POLLERR, revents: 0 };
        // SAFETY: `pfd` is a valid pollfd for the duration of the call.
        let ready = unsafe { libc::poll(&mut pfd, 1, 0) };
        ready > 0 && pfd.revents & (libc::POLLPRI | libc::POLLERR) != 0
    }
}

/// A fanotify group reporting files closed after writing on the marked mounts.
pub(super) struct FanotifyWrites {
    fd: OwnedFd,
    buf: EventBuffer,
}

impl FanotifyWrites {
    /// A group, or why there cannot be one here (not root, no fanotify).
    pub(super) fn new() -> Result<FanotifyWrites, String> {
        Ok(FanotifyWrites { fd: notification_group()?, buf: EventBuffer::new() })
    }
}

impl WriteSource for FanotifyWrites {
    fn watch(&mut self, mount: &Path) -> Result<(), String> {
        let c = CString::new(mount.as_os_str().as_bytes()).map_err(|e| e.to_string())?;
        // SAFETY: `c` is a valid NUL-terminated path and `fd` a fanotify descriptor. The mark
        // goes away with the mount.
        let r = unsafe {
            libc::fanotify_mark(
                self.fd.as_raw_fd(),
                libc::FAN_MARK_ADD | libc::FAN_MARK_MOUNT,
                libc::FAN_CLOSE_WRITE,
                libc::AT_FDCWD,
                c.as_ptr(),
            )
        };
        if r == 0 { Ok(()) } else { Err(format!("fanotify_mark failed: {}", io::Error::last_os_error())) }
    }

    fn written(&mut self, timeout: Duration, out: &mut Vec<PathBuf>) {
        let mut pfd = libc::pollfd { fd: self.fd.as_raw_fd(), events: libc::POLLIN, revents: 0 };
        // SAFETY: `pfd` is a valid pollfd for the duration of the call.
        let ready = unsafe { libc::poll(&mut pfd, 1, timeout.as_millis().min(60_000) as libc::c_int) };
        if ready <= 0 {
            return;
        }
        let batch = match self.buf.read(&self.fd) {
            Ok(batch) => batch,
            Err(e) => {
                tracing::warn!(error = %e, "reading the DLP fanotify group failed");
                return;
            }
        };
        let me = std::process::id();
        for event in batch {
            if event.mask & libc::FAN_Q_OVERFLOW != 0 {
                tracing::warn!("the DLP fanotify queue overflowed: some writes to watched mounts were not seen");
            }
            let Some(file) = event.file else { continue };
            if event.pid == me {
                continue;
            }
            // Written then deleted: nothing left on the mount.
            let Some(path) = fd_path(&file) else { continue };
            out.push(path);
        }
    }
}

/// Whether sysfs says the block device `major:minor` (or the disk a partition belongs to)
/// is removable.
pub(super) fn removable(major: u32, minor: u32) -> bool {
    if major == 0 {
        return false;
    }
    let dev = PathBuf::from(format!("/sys/dev/block/{major}:{minor}"));
    let flag = |p: PathBuf| std::fs::read_to_string(p).is_ok_and(|s| s.trim() == "1");
    flag(dev.join("removable")) || flag(dev.join("../removable"))
}

/// `mount -o remount,ro MOUNT`.
pub(super) fn remount_readonly(mount: &Path) -> Result<(), String> {
    let out = std::process::Command::new("mount")
        .args(["-o", "remount,ro"])
        .arg(mount)
        .output()
        .map_err(|e| format!("cannot run mount: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!("mount -o remount,ro failed: {}", String::from_utf8_lossy(&out.stderr).trim()))
    }
}
