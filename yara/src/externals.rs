//! The external variables that public rule sets (written for LOKI/THOR-style scanners) test
//! in their conditions, computed for each scanned file:
//!
//! | variable    | value                                                          |
//! |-------------|----------------------------------------------------------------|
//! | `filename`  | the file's name, `shell.php`                                   |
//! | `filepath`  | the full path, `/var/www/shell.php`                            |
//! | `extension` | the lower-case extension with its dot, `.php` (empty if none)  |
//! | `filetype`  | the type from the first bytes: `EXE`, `ELF`, `MACHO`, `ZIP`, `PDF`, `OLE`, `RAR`, `7Z`, `GZIP`, `JPEG`, `PNG`, `GIF`, `SCRIPT` (a `#!` line), or empty |
//! | `owner`     | the owning account's name (the uid when no account has it)     |
//!
//! Every rule set is compiled with all five defined, so a rule that uses one compiles even
//! when the content comes from no file (`scan_bytes`), where they are empty.

use std::path::Path;

/// The variable names, in the order [`Externals::values`] gives them.
pub(crate) const NAMES: [&str; 5] = ["filename", "filepath", "extension", "filetype", "owner"];

/// One file's values of the external variables.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub(crate) struct Externals {
    pub(crate) filename: String,
    pub(crate) filepath: String,
    pub(crate) extension: String,
    pub(crate) filetype: &'static str,
    pub(crate) owner: String,
}

impl Externals {
    /// The values for a file at `path` owned by `owner`, whose content starts with `head`.
    /// Names that are not UTF-8 are converted lossily: rule conditions compare strings.
    pub(crate) fn for_file(path: &Path, owner: String, head: &[u8]) -> Externals {
        let filename = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let extension =
            path.extension().map(|e| format!(".{}", e.to_string_lossy().to_lowercase())).unwrap_or_default();
        Externals {
            filename,
            filepath: path.to_string_lossy().into_owned(),
            extension,
            filetype: filetype(head),
            owner,
        }
    }

    /// `(name, value)` for each variable.
    pub(crate) fn values(&self) -> [(&'static str, &str); 5] {
        [
            (NAMES[0], &self.filename),
            (NAMES[1], &self.filepath),
            (NAMES[2], &self.extension),
            (NAMES[3], self.filetype),
            (NAMES[4], &self.owner),
        ]
    }
}

/// The file type by magic number, in the upper-case names public rule sets compare with.
pub(crate) fn filetype(head: &[u8]) -> &'static str {
    const MAGIC: [(&[u8], &str); 15] = [
        (b"MZ", "EXE"),
        (b"\x7fELF", "ELF"),
        (b"\xcf\xfa\xed\xfe", "MACHO"),
        (b"\xce\xfa\xed\xfe", "MACHO"),
        (b"\xca\xfe\xba\xbe", "MACHO"),
        (b"PK\x03\x04", "ZIP"),
        (b"%PDF", "PDF"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "OLE"),
        (b"Rar!", "RAR"),
        (b"7z\xbc\xaf\x27\x1c", "7Z"),
        (b"\x1f\x8b", "GZIP"),
        (b"\xff\xd8\xff", "JPEG"),
        (b"\x89PNG", "PNG"),
        (b"GIF8", "GIF"),
        (b"#!", "SCRIPT"),
    ];
    MAGIC.iter().find(|(magic, _)| head.starts_with(magic)).map_or("", |(_, name)| name)
}

/// The account name owning a file, remembered per uid: a scan of a tree asks for the same few
/// owners again and again, and NSS lookups can go to the network (LDAP, SSSD).
#[derive(Default)]
pub(crate) struct Owners {
    #[cfg(unix)]
    names: std::collections::HashMap<u32, String>,
}

impl Owners {
    /// The name of the account owning the file `md` describes; its uid when no account has it.
    #[cfg(unix)]
    pub(crate) fn name(&mut self, md: &std::fs::Metadata) -> String {
        use std::os::unix::fs::MetadataExt;
        let uid = md.uid();
        self.names.entry(uid).or_insert_with(|| account_name(uid).unwrap_or_else(|| uid.to_string())).clone()
    }

    /// Windows owners need a security-descriptor lookup, which the Windows port will add.
    #[cfg(not(unix))]
    pub(crate) fn name(&mut self, _md: &std::fs::Metadata) -> String {
        String::new()
    }
}

/// The account name of `uid`, asked of the C library (so NSS: LDAP and SSSD domain accounts
/// resolve too, without the enumeration that a full `getpwent` scan would need). The agent's
/// process sensor asks the same way; each crate keeps its own copy so this one needs no agent.
#[cfg(unix)]
fn account_name(uid: u32) -> Option<String> {
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
        let name = unsafe { std::ffi::CStr::from_ptr(pwd.pw_name) };
        return Some(String::from_utf8_lossy(name.to_bytes()).into_owned());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_follow_the_loki_conventions() {
        let x = Externals::for_file(Path::new("/var/www/Shell.PHP"), "www-data".into(), b"<?php");
        assert_eq!(x.filename, "Shell.PHP");
        assert_eq!(x.filepath, "/var/www/Shell.PHP");
        assert_eq!(x.extension, ".php");
        assert_eq!(x.filetype, "");
        let x = Externals::for_file(Path::new("/usr/bin/miner"), String::new(), b"\x7fELF\x02\x01");
        assert_eq!((x.extension.as_str(), x.filetype), ("", "ELF"));
        assert_eq!(filetype(b"MZ\x90\0"), "EXE");
        assert_eq!(filetype(b"#!/bin/sh\n"), "SCRIPT");
    }

    #[cfg(unix)]
    #[test]
    fn owners_are_named_by_their_account() {
        assert_eq!(account_name(0).as_deref(), Some("root"));
        assert_eq!(Owners::default().name(&std::fs::metadata("/").expect("root directory")), "root");
        assert_eq!(account_name(4_000_000_123), None, "a uid no account has");
    }
}
