use super::*;
use crate::channels::mountinfo::parse_line;

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
