use super::*;
use crate::dlp_sensor::mountinfo::parse_line;

fn entry(line: &str) -> MountEntry {
    parse_line(line.as_bytes()).expect("mountinfo line")
}

#[test]
fn mounts_are_classified_by_fstype_sysfs_and_glob() {
    let cfg = DlpConfig::default();
    let globs = cfg.removable_globs().expect("globs");
    let never = |_, _| false;
    let class = |line: &str, removable: bool| classify(&entry(line), &globs, &cfg.share_fstypes, |_, _| removable);
    assert_eq!(class("40 27 7:0 / /media/usb0 rw - ext4 /dev/loop0 rw", false), Some((Channel::Usb, false)));
    assert_eq!(class("40 27 7:0 / /run/media/an/KINGSTON rw - vfat /dev/sdb1 rw", false), Some((Channel::Usb, false)));
    assert_eq!(class("40 27 8:17 / /mnt/x rw - vfat /dev/sdb1 rw", true), Some((Channel::Usb, true)));
    assert_eq!(class("40 27 0:50 / /mnt/s rw - cifs //fs01/data rw", false), Some((Channel::Share, false)));
    assert_eq!(class("40 27 0:50 / /mnt/s rw - fuse.sshfs u@h:/ rw", false), Some((Channel::Share, false)));
    assert_eq!(class("40 27 0:50 / /media rw - tmpfs tmpfs rw", false), None, "the glob's parent is not under it");
    assert_eq!(classify(&entry("22 27 8:1 / / rw - ext4 /dev/sda1 rw"), &globs, &cfg.share_fstypes, never), None);
    assert_eq!(classify(&entry("23 27 0:5 / /proc rw - proc proc rw"), &globs, &cfg.share_fstypes, never), None);
}

#[test]
fn the_walker_reports_only_what_changed_after_its_first_walk() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    std::fs::create_dir(root.join("sub")).expect("mkdir");
    std::fs::write(root.join("old.txt"), b"was here").expect("write");
    let mut walker = Walker::new(root);
    let mut out = Vec::new();
    walker.walk(&mut out);
    assert!(out.is_empty(), "{out:?}");
    std::fs::write(root.join("sub/new.txt"), b"new").expect("write");
    std::fs::write(root.join("old.txt"), b"was here, longer").expect("write");
    walker.walk(&mut out);
    out.sort();
    assert_eq!(out, vec![root.join("old.txt"), root.join("sub/new.txt")]);
    out.clear();
    walker.walk(&mut out);
    assert!(out.is_empty(), "{out:?}");
}

/// A mount table the test changes by hand.
struct FakeTable(Arc<Mutex<Vec<MountEntry>>>);

impl MountTable for FakeTable {
    fn read(&mut self) -> std::io::Result<Vec<MountEntry>> {
        Ok(self.0.lock().expect("table").clone())
    }
    fn changed(&mut self) -> bool {
        true
    }
}

/// A write source that cannot watch anything, as for an agent that is not root.
struct NoWrites;

impl WriteSource for NoWrites {
    fn watch(&mut self, _mount: &Path) -> Result<(), String> {
        Err("no marks in this test".into())
    }
    fn written(&mut self, timeout: Duration, _out: &mut Vec<PathBuf>) {
        std::thread::sleep(timeout);
    }
}

// Mounts as Linux lists them; Windows drives are tested end to end under Wine.
#[cfg(target_os = "linux")]
#[test]
fn without_fanotify_a_mount_is_walked_and_its_coming_and_going_are_events() {
    let dir = tempfile::tempdir().expect("tempdir");
    let medium = dir.path().join("usb0");
    std::fs::create_dir(&medium).expect("mkdir");
    std::fs::write(medium.join("already-there.txt"), b"brought in").expect("write");
    let cfg = DlpConfig { removable_mounts: vec![format!("{}/*", dir.path().display())], ..DlpConfig::default() };
    let line = format!("40 27 7:0 / {} rw - vfat /dev/sdz1 rw", medium.display());
    let table = Arc::new(Mutex::new(vec![entry(&line)]));
    let (found_tx, mut found_rx) = tokio::sync::mpsc::channel(16);
    let (job_tx, job_rx) = std::sync::mpsc::sync_channel(16);
    let status = Arc::new(ChannelStatus::default());
    let watcher = Watcher {
        globs: cfg.removable_globs().expect("globs"),
        shares: cfg.share_fstypes.clone(),
        walk_interval: Duration::from_millis(300),
        found: found_tx,
        jobs: job_tx,
        dropped: Arc::new(AtomicU64::new(0)),
        status: status.clone(),
    };
    let stop = Arc::new(AtomicBool::new(false));
    let (fake, stop_w) = (FakeTable(table.clone()), stop.clone());
    let thread = std::thread::spawn(move || watcher.run(fake, Some(NoWrites), &stop_w, "test".into()));
    let _stop = StopOnDrop(stop.clone());

    let mount_event = |rx: &mut tokio::sync::mpsc::Receiver<Vec<Observation>>| match rx.blocking_recv() {
        Some(mut o) if o.len() == 1 => match o.remove(0).body {
            EventBody::Mount(m) => m,
            other => panic!("not a mount event: {other:?}"),
        },
        other => panic!("expected one mount event, got {other:?}"),
    };
    let mounted = mount_event(&mut found_rx);
    assert_eq!((mounted.action, mounted.channel.as_str()), (MountAction::Mounted, "usb"));
    assert!(mounted.watch.starts_with("walk every") && mounted.watch.contains("no marks"), "{}", mounted.watch);
    let (_, lines) = status.snapshot();
    assert!(lines.len() == 1 && lines[0].starts_with("usb ") && lines[0].contains("walk every"), "{lines:?}");

    let written = medium.join("sub/copied.docx");
    std::fs::create_dir(medium.join("sub")).expect("mkdir");
    std::fs::write(&written, b"new content").expect("write");
    let job = job_rx.recv_timeout(Duration::from_secs(10)).expect("a job for the written file");
    assert_eq!((job.path, job.channel, job.mount), (written, Channel::Usb, medium.clone()));
    assert!(job_rx.recv_timeout(Duration::from_millis(800)).is_err(), "the file already there is not egress");

    table.lock().expect("table").clear();
    let unmounted = mount_event(&mut found_rx);
    assert_eq!((unmounted.action, unmounted.mount_point), (MountAction::Unmounted, Text::from(medium.as_path())));
    stop.store(true, Ordering::Relaxed);
    thread.join().expect("watcher thread");
}
