//! fanotify (Linux, root): names the process behind each write.
//!
//! inotify sees every action but not who did it; fanotify reports the pid of the writer with
//! each `FAN_MODIFY` / `FAN_CLOSE_WRITE`. Marks are per filesystem (or per mount, on kernels
//! without filesystem marks), so events from outside the roots are filtered here.
//!
//! A filesystem mark hears every `write(2)` on the filesystem, watched or not: a build or a
//! log file elsewhere would keep the agent awake. So the first write to a file outside the
//! roots puts an in-kernel ignore mark for `FAN_MODIFY` on its inode, and further writes to it
//! never leave the kernel. `FAN_CLOSE_WRITE` is not ignored: once a file outside is renamed
//! into a root, the next writer's close still names it.

use super::filter::PathFilter;
use super::watch::Signal;
use crate::fanotify_read::{EventBuffer, fd_path, notification_group};
use haidang_proto::Text;
use haidang_proto::event::Actor;
use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Sender;
use std::thread::JoinHandle;
use std::time::Duration;

const MASK: u64 = libc::FAN_MODIFY | libc::FAN_CLOSE_WRITE;
/// Ignore marks pin nothing where the kernel has evictable marks (5.19); elsewhere each one
/// pins its inode in memory, so they are all dropped and relearnt once there are this many.
const MAX_IGNORED: usize = 16_384;
/// How often the reader looks at the stop flag (as the engine's tick: wake-ups cost an idle
/// agent CPU).
const POLL: Duration = Duration::from_secs(1);

/// An initialised fanotify group with marks on the roots' filesystems.
pub(crate) struct Fanotify {
    fd: OwnedFd,
}

impl Fanotify {
    /// Sets up fanotify for `roots`, or says why it cannot be used here.
    pub(crate) fn new(roots: &[PathBuf]) -> Result<Fanotify, String> {
        let fd = notification_group()?;
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
        std::thread::Builder::new().name("fim-fanotify".into()).spawn(move || {
            let stats = self.read_loop(&filter, &tx, &stop);
            tracing::debug!(events = stats.events, ignore_marks = stats.ignore_marks, "fanotify reader stopped");
        })
    }

    fn read_loop(&self, filter: &PathFilter, tx: &Sender<Signal>, stop: &AtomicBool) -> Stats {
        let mut buf = EventBuffer::new();
        let me = std::process::id();
        let mut ignores = Ignores { evictable: true, count: 0 };
        let mut events = 0;
        let stats = |events, ignores: &Ignores| Stats { events, ignore_marks: ignores.count };
        while !stop.load(Ordering::Relaxed) {
            let mut pfd = libc::pollfd { fd: self.fd.as_raw_fd(), events: libc::POLLIN, revents: 0 };
            // SAFETY: `pfd` is a valid pollfd for the duration of the call.
            let ready = unsafe { libc::poll(&mut pfd, 1, POLL.as_millis() as libc::c_int) };
            if ready <= 0 {
                continue;
            }
            let batch = match buf.read(&self.fd) {
                Ok(batch) => batch,
                Err(e) => {
                    tracing::warn!(error = %e, "fanotify read failed; falling back to inotify alone");
                    return stats(events, &ignores);
                }
            };
            for event in batch {
                events += 1;
                if event.mask & libc::FAN_Q_OVERFLOW != 0 {
                    let _ = tx.send(Signal::Overflow("the fanotify queue overflowed"));
                }
                let Some(file) = event.file else { continue };
                let Some(path) = fd_path(&file) else { continue };
                let file = std::fs::File::from(file);
                if !filter.covers(&path) {
                    ignores.add(&self.fd, &file);
                    continue;
                }
                let pid = event.pid;
                if pid == me {
                    continue;
                }
                let inode = file.metadata().ok().map(|m| (m.dev(), m.ino()));
                let image =
                    std::fs::read_link(format!("/proc/{pid}/exe")).map(|p| Text::from(p.as_path())).unwrap_or_default();
                if tx.send(Signal::Written(path, inode, Actor { pid, image })).is_err() {
                    return stats(events, &ignores);
                }
            }
        }
        stats(events, &ignores)
    }
}

/// What a reader saw, for the log when it stops.
#[derive(Debug)]
struct Stats {
    /// Events read from the kernel, wanted or not.
    events: u64,
    /// Ignore marks in place at the end.
    ignore_marks: usize,
}

/// The ignore marks this group has put on inodes outside the roots.
struct Ignores {
    evictable: bool,
    count: usize,
}

impl Ignores {
    /// Stops `FAN_MODIFY` for `file` in the kernel. A file with several links may also be
    /// reachable under a root, so it is left alone; failures only cost the saving.
    fn add(&mut self, group: &OwnedFd, file: &std::fs::File) {
        if file.metadata().map_or(true, |m| !m.is_file() || m.nlink() != 1) {
            return;
        }
        if !self.evictable && self.count >= MAX_IGNORED {
            // SAFETY: `group` is a fanotify descriptor; flushing inode marks leaves the
            // filesystem and mount marks in place.
            unsafe {
                libc::fanotify_mark(group.as_raw_fd(), libc::FAN_MARK_FLUSH, 0, libc::AT_FDCWD, std::ptr::null())
            };
            self.count = 0;
        }
        let base = libc::FAN_MARK_ADD | libc::FAN_MARK_IGNORED_MASK | libc::FAN_MARK_IGNORED_SURV_MODIFY;
        let added = if self.evictable {
            let r = ignore_mark(group, file, base | libc::FAN_MARK_EVICTABLE);
            if r.as_ref().is_err_and(|e| e.raw_os_error() == Some(libc::EINVAL)) {
                self.evictable = false;
                ignore_mark(group, file, base)
            } else {
                r
            }
        } else {
            ignore_mark(group, file, base)
        };
        if added.is_ok() {
            self.count += 1;
        }
    }
}

fn ignore_mark(group: &OwnedFd, file: &std::fs::File, flags: libc::c_uint) -> io::Result<()> {
    // SAFETY: `group` is a fanotify descriptor and `file` an open file; a null path marks the
    // inode of `file` itself.
    let r =
        unsafe { libc::fanotify_mark(group.as_raw_fd(), flags, libc::FAN_MODIFY, file.as_raw_fd(), std::ptr::null()) };
    if r == 0 { Ok(()) } else { Err(io::Error::last_os_error()) }
}

fn mark(fd: &OwnedFd, path: &Path, kind: libc::c_uint) -> io::Result<()> {
    let c = CString::new(path.as_os_str().as_bytes()).map_err(io::Error::other)?;
    // SAFETY: `c` is a valid NUL-terminated path and `fd` a fanotify descriptor.
    let r = unsafe { libc::fanotify_mark(fd.as_raw_fd(), libc::FAN_MARK_ADD | kind, MASK, libc::AT_FDCWD, c.as_ptr()) };
    if r == 0 { Ok(()) } else { Err(io::Error::last_os_error()) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fim::FimConfig;
    use std::io::Write;
    use std::process::Command;
    use std::sync::mpsc::Receiver;
    use std::time::Instant;

    /// A tmpfs of its own, so that no other process's writes reach the filesystem mark.
    struct Tmpfs(tempfile::TempDir);

    impl Tmpfs {
        fn mount() -> Tmpfs {
            let dir = tempfile::tempdir().expect("tempdir");
            let status = Command::new("mount")
                .args(["-t", "tmpfs", "-o", "size=16m", "haidang-fanotify-test"])
                .arg(dir.path())
                .status()
                .expect("run mount");
            assert!(status.success(), "mount a tmpfs at {}", dir.path().display());
            Tmpfs(dir)
        }
    }

    impl Drop for Tmpfs {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg("-l").arg(self.0.path()).status();
        }
    }

    /// Appends to `path` from a shell: the reader leaves out its own process's writes.
    fn append_by_shell(path: &Path) -> std::process::Child {
        Command::new("/bin/sh").arg("-c").arg("printf more >> \"$1\"").arg("sh").arg(path).spawn().expect("sh")
    }

    fn written(rx: &Receiver<Signal>, want: &Path) -> Actor {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(Signal::Written(path, _, actor)) if path == want => return actor,
                Ok(_) => {}
                Err(e) => panic!("no write to {} reported: {e}", want.display()),
            }
        }
    }

    #[test]
    fn writes_outside_the_roots_stop_in_the_kernel_after_the_first() {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            eprintln!("fanotify and mount need root; nothing to check");
            return;
        }
        let tmpfs = Tmpfs::mount();
        let root = tmpfs.0.path().join("watched");
        std::fs::create_dir(&root).expect("mkdir");
        let cfg = FimConfig { paths: vec![root.clone()], ..FimConfig::default() };
        let filter = Arc::new(PathFilter::new(&cfg, &[]).expect("filter"));
        let fan = Fanotify::new(std::slice::from_ref(&root)).expect("fanotify");
        let (tx, rx) = std::sync::mpsc::channel();
        let stop = Arc::new(AtomicBool::new(false));
        let reader = {
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || fan.read_loop(&filter, &tx, &stop))
        };

        // Paced, so that the kernel cannot merge the writes into one queued event.
        let outside = tmpfs.0.path().join("elsewhere.log");
        let mut log = std::fs::File::create(&outside).expect("create");
        for _ in 0..200 {
            log.write_all(b"line\n").expect("write");
            std::thread::sleep(Duration::from_millis(1));
        }
        let marker = root.join("marker");
        let mut child = append_by_shell(&marker);
        assert_eq!(written(&rx, &marker).pid, child.id());
        child.wait().expect("wait");

        // Renamed into the root, the file's next writer is still named (by its close).
        drop(log);
        let moved = root.join("moved.log");
        std::fs::rename(&outside, &moved).expect("rename");
        let mut child = append_by_shell(&moved);
        assert_eq!(written(&rx, &moved).pid, child.id());
        child.wait().expect("wait");

        stop.store(true, Ordering::Relaxed);
        let stats = reader.join().expect("reader");
        assert!(stats.ignore_marks >= 1, "{stats:?}");
        assert!(stats.events < 20, "200 writes outside the roots should cost one or two events: {stats:?}");
    }
}
