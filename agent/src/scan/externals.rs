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
pub const NAMES: [&str; 5] = ["filename", "filepath", "extension", "filetype", "owner"];

/// One file's values of the external variables.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Externals {
    pub filename: String,
    pub filepath: String,
    pub extension: String,
    pub filetype: &'static str,
    pub owner: String,
}

impl Externals {
    /// The values for a file at `path` owned by `owner`, whose content starts with `head`.
    /// Names that are not UTF-8 are converted lossily: rule conditions compare strings.
    pub fn for_file(path: &Path, owner: String, head: &[u8]) -> Externals {
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
    pub fn values(&self) -> [(&'static str, &str); 5] {
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
pub fn filetype(head: &[u8]) -> &'static str {
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
pub struct Owners {
    #[cfg(unix)]
    names: std::collections::HashMap<u32, String>,
}

impl Owners {
    #[cfg(unix)]
    pub fn name(&mut self, md: &std::fs::Metadata) -> String {
        use std::os::unix::fs::MetadataExt;
        let uid = md.uid();
        self.names
            .entry(uid)
            .or_insert_with(|| crate::process::enrich::lookup_user(uid).unwrap_or_else(|| uid.to_string()))
            .clone()
    }

    /// Windows owners need a security-descriptor lookup, which the Windows port will add.
    #[cfg(not(unix))]
    pub fn name(&mut self, _md: &std::fs::Metadata) -> String {
        String::new()
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
}
