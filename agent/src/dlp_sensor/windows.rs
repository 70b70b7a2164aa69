//! Windows sources of the DLP channels. The "mounts" are the drive letters (`GetLogicalDrives`,
//! looked at every tick): a removable drive (`GetDriveTypeW` says `DRIVE_REMOVABLE`, as for USB
//! sticks and card readers) is channel `usb`; a mapped network drive (`DRIVE_REMOTE`, fstype
//! `remote`, its UNC path from `WNetGetConnectionW`) is channel `share` while `remote` is in
//! `share_fstypes` (the default). A drive without a medium in it is not a mount.
//!
//! Writes on them are found by walking (see [`super::Walker`]): Windows tells no one that a
//! file was closed after writing without a file-system filter driver, and a UNC path used
//! without a drive letter (`\\server\share\…`) is not seen at all; the README says so.

use super::mountinfo::MountEntry;
use super::{MountTable, WriteSource};
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;
use windows_sys::Win32::NetworkManagement::WNet::WNetGetConnectionW;
use windows_sys::Win32::Storage::FileSystem::{GetDriveTypeW, GetLogicalDrives, GetVolumeInformationW};
use windows_sys::Win32::System::WindowsProgramming::{DRIVE_REMOTE, DRIVE_REMOVABLE};

/// The fstype of a mapped network drive, for `share_fstypes`.
pub(super) const REMOTE_FSTYPE: &str = "remote";

/// The drive letters, as mounts.
pub(super) struct DriveTable {
    /// The letters of the last reading, one bit each.
    letters: u32,
}

impl DriveTable {
    pub(super) fn new() -> DriveTable {
        DriveTable { letters: 0 }
    }
}

impl MountTable for DriveTable {
    fn read(&mut self) -> io::Result<Vec<MountEntry>> {
        // SAFETY: no arguments; 0 means failure.
        let letters = unsafe { GetLogicalDrives() };
        if letters == 0 {
            return Err(io::Error::last_os_error());
        }
        self.letters = letters;
        Ok((0..26u32).filter(|i| letters & (1 << i) != 0).filter_map(drive).collect())
    }

    fn changed(&mut self) -> bool {
        // SAFETY: no arguments.
        unsafe { GetLogicalDrives() != self.letters }
    }
}

/// The mount of drive number `index` (0 is `A:`), if it is removable or remote and has a medium.
fn drive(index: u32) -> Option<MountEntry> {
    let letter = char::from(b'A' + u8::try_from(index).ok()?);
    let root = format!("{letter}:\\");
    let root_w = wide(&root);
    // SAFETY: `root_w` is NUL-terminated.
    let kind = unsafe { GetDriveTypeW(root_w.as_ptr()) };
    if kind != DRIVE_REMOVABLE && kind != DRIVE_REMOTE {
        return None;
    }
    let (serial, filesystem) = volume(&root_w)?;
    let (fstype, source) = match kind {
        DRIVE_REMOTE => (REMOTE_FSTYPE.to_owned(), unc_path(letter).unwrap_or_else(|| format!("{letter}:"))),
        _ => (filesystem, format!("{letter}:")),
    };
    Some(MountEntry {
        // Another medium in the same drive is another mount.
        id: serial.rotate_left(5) ^ index,
        major: kind,
        minor: 0,
        mount_point: PathBuf::from(root),
        options: String::new(),
        fstype,
        source: source.into(),
    })
}

/// Whether a drive of `GetDriveTypeW` type `kind` (kept as the mount's `major`) is removable.
pub(super) fn removable(kind: u32, _minor: u32) -> bool {
    kind == DRIVE_REMOVABLE
}

/// The volume's serial number and file system name; `None` when the drive has no medium.
fn volume(root: &[u16]) -> Option<(u32, String)> {
    let mut filesystem = [0u16; 64];
    let mut serial = 0u32;
    // SAFETY: `root` is NUL-terminated; the output buffer's length is passed with it.
    let ok = unsafe {
        GetVolumeInformationW(
            root.as_ptr(),
            std::ptr::null_mut(),
            0,
            &mut serial,
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            filesystem.as_mut_ptr(),
            filesystem.len() as u32,
        )
    };
    (ok != 0).then(|| (serial, from_wide(&filesystem)))
}

/// `\\server\share` of a mapped network drive.
fn unc_path(letter: char) -> Option<String> {
    let local = wide(&format!("{letter}:"));
    let mut remote = [0u16; 1024];
    let mut length = remote.len() as u32;
    // SAFETY: `local` is NUL-terminated; `length` is the output buffer's length in characters.
    let status = unsafe { WNetGetConnectionW(local.as_ptr(), remote.as_mut_ptr(), &mut length) };
    (status == 0).then(|| from_wide(&remote))
}

fn wide(s: &str) -> Vec<u16> {
    s.encode_utf16().chain(std::iter::once(0)).collect()
}

fn from_wide(units: &[u16]) -> String {
    let end = units.iter().position(|&u| u == 0).unwrap_or(units.len());
    String::from_utf16_lossy(&units[..end])
}

/// Windows has no write notification the channels can use (see the module's comment): every
/// drive is walked. A type with no values, so the watcher's write source is always `None`.
pub(super) enum NoWriteSource {}

impl WriteSource for NoWriteSource {
    fn watch(&mut self, _mount: &Path) -> Result<(), String> {
        match *self {}
    }

    fn written(&mut self, _timeout: Duration, _out: &mut Vec<PathBuf>) {
        match *self {}
    }
}
