//! `/proc/self/mountinfo` lines (proc(5)), parsed without trusting them to be well formed:
//!
//! ```text
//! 36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue
//! (1)(2)(3)   (4)   (5)      (6)      (7)   (8) (9)   (10)         (11)
//! ```
//!
//! Paths escape space, tab, newline and backslash as `\ooo` octal; they are unescaped to
//! bytes. Lines that do not have this shape are skipped, never a panic.

use std::ffi::OsString;
use std::path::PathBuf;

/// One mounted filesystem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountEntry {
    pub id: u32,
    pub major: u32,
    pub minor: u32,
    /// Where it is mounted.
    pub mount_point: PathBuf,
    /// Per-mount options (`rw,nosuid,…`).
    pub options: String,
    /// Filesystem type, with its subtype for FUSE (`fuse.sshfs`).
    pub fstype: String,
    /// The device or remote (`/dev/sdb1`, `//server/share`, `user@host:/dir`), unescaped.
    pub source: OsString,
}

impl MountEntry {
    /// Mounted read-only (per-mount option `ro`).
    pub fn read_only(&self) -> bool {
        self.options.split(',').any(|o| o == "ro")
    }
}

/// Every well-formed line of a mountinfo file.
pub fn parse(text: &[u8]) -> Vec<MountEntry> {
    text.split(|&b| b == b'\n').filter_map(parse_line).collect()
}

/// One line, or `None` when it does not have the shape of proc(5).
pub fn parse_line(line: &[u8]) -> Option<MountEntry> {
    let mut fields = line.split(|&b| b == b' ').filter(|f| !f.is_empty());
    let id = number(fields.next()?)?;
    let _parent = number(fields.next()?)?;
    let (major, minor) = {
        let dev = std::str::from_utf8(fields.next()?).ok()?;
        let (major, minor) = dev.split_once(':')?;
        (major.parse().ok()?, minor.parse().ok()?)
    };
    let _root = fields.next()?;
    let mount_point = unescape(fields.next()?);
    if mount_point.first() != Some(&b'/') {
        return None;
    }
    let options = String::from_utf8_lossy(fields.next()?).into_owned();
    // Optional fields (`shared:1`, `master:2`, …) up to the lone `-`.
    fields.by_ref().find(|f| *f == b"-")?;
    let fstype = String::from_utf8_lossy(&unescape(fields.next()?)).into_owned();
    let source = unescape(fields.next()?);
    Some(MountEntry { id, major, minor, mount_point: path(mount_point), options, fstype, source: os(source) })
}

fn number(field: &[u8]) -> Option<u32> {
    std::str::from_utf8(field).ok()?.parse().ok()
}

/// `\ooo` octal escapes to bytes; anything else is kept as it is.
fn unescape(field: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(field.len());
    let mut i = 0;
    while i < field.len() {
        if field[i] == b'\\'
            && let Some(digits) = field.get(i + 1..i + 4)
            && digits.iter().all(|d| (b'0'..=b'7').contains(d))
        {
            let value = digits.iter().fold(0u32, |acc, d| acc * 8 + u32::from(d - b'0'));
            if let Ok(byte) = u8::try_from(value) {
                out.push(byte);
                i += 4;
                continue;
            }
        }
        out.push(field[i]);
        i += 1;
    }
    out
}

#[cfg(unix)]
fn os(bytes: Vec<u8>) -> OsString {
    use std::os::unix::ffi::OsStringExt;
    OsString::from_vec(bytes)
}

#[cfg(not(unix))]
fn os(bytes: Vec<u8>) -> OsString {
    OsString::from(String::from_utf8_lossy(&bytes).into_owned())
}

fn path(bytes: Vec<u8>) -> PathBuf {
    PathBuf::from(os(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_of_proc_5_parse_with_escapes_and_optional_fields() {
        let text = b"36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue\n\
            43 27 7:0 / /media/USB\\040DISK\\134x ro,relatime shared:5 master:2 - vfat /dev/loop0 rw\n\
            44 27 0:39 / /mnt/share rw,nosuid - fuse.sshfs root@127.0.0.1:/srv rw,user_id=0\n\
            garbage line\n45 27 x:1 / /a rw - ext4 /dev/a rw\n46 27 1:1 / /b rw ext4 /dev/b rw\n";
        let mounts = parse(text);
        assert_eq!(mounts.len(), 3, "{mounts:?}");
        assert_eq!(mounts[0].mount_point, PathBuf::from("/mnt2"));
        assert_eq!((mounts[0].major, mounts[0].minor, mounts[0].fstype.as_str()), (98, 0, "ext3"));
        assert_eq!(mounts[1].mount_point, PathBuf::from("/media/USB DISK\\x"));
        assert!(mounts[1].read_only());
        assert_eq!(mounts[1].source, OsString::from("/dev/loop0"));
        assert_eq!(mounts[2].fstype, "fuse.sshfs");
        assert!(!mounts[2].read_only());
        assert_eq!(mounts[2].source, OsString::from("root@127.0.0.1:/srv"));
    }

    #[test]
    fn hostile_escapes_do_not_panic() {
        for line in [&b"1 1 1:1 / /\\777 rw - x y z"[..], b"1 1 1:1 / /\\12", b"1 1 1:1 / /\\", b"- - - -", b""] {
            let _ = parse_line(line);
        }
        assert_eq!(parse_line(b"1 1 1:1 / /\\777 rw - x y z").map(|m| m.mount_point), Some("/\\777".into()));
    }
}
