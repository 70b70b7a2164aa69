//! Who owns a file and who may use it, where `lstat` does not say. On Linux the owner and the
//! permissions are the uid, gid and mode of the record, and there is nothing more to read. On
//! Windows they live in the file's security descriptor: the owner (a SID, recorded as the
//! account name it resolves to) and the discretionary access control list (recorded as a
//! digest of its SDDL text), so that a file handed to another owner or opened up to Everyone
//! is reported as an attribute change, as a `chown` or a `chmod` is on Linux. The file
//! attribute bits (read-only, hidden, system, …) come with the metadata and are the record's
//! `mode` on Windows (see `meta.rs`).

#[cfg(windows)]
pub use nt::attribute_names;
#[cfg(windows)]
pub(crate) use nt::{Security, recorded_attributes};

/// Nothing beyond `lstat`. A unit struct encodes to no bytes, so the Linux baseline's
/// records are the same as before this type existed.
#[cfg(not(windows))]
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct Security;

#[cfg(not(windows))]
impl Security {
    pub(crate) fn read(_path: &std::path::Path) -> Security {
        Security
    }

    /// Nothing to report beyond the record's uid, gid and mode.
    pub(crate) fn to_wire(&self) -> Option<haidang_proto::event::FileSecurity> {
        None
    }
}

#[cfg(windows)]
mod nt {
    use haidang_proto::event::FileSecurity;
    use haidang_proto::{Hash32, Text};
    use serde::{Deserialize, Serialize};
    use std::collections::HashMap;
    use std::os::windows::fs::OpenOptionsExt;
    use std::os::windows::io::AsRawHandle;
    use std::path::Path;
    use std::sync::{Mutex, OnceLock};
    use windows::Win32::Foundation::{HANDLE, HLOCAL, LocalFree};
    use windows::Win32::Security::Authorization::{
        ConvertSecurityDescriptorToStringSecurityDescriptorW, ConvertSidToStringSidW, GetSecurityInfo, SDDL_REVISION_1,
        SE_FILE_OBJECT,
    };
    use windows::Win32::Security::{
        DACL_SECURITY_INFORMATION, LookupAccountSidW, OWNER_SECURITY_INFORMATION, PSECURITY_DESCRIPTOR, PSID,
        SID_NAME_USE,
    };
    use windows::Win32::Storage::FileSystem::{FILE_FLAG_BACKUP_SEMANTICS, FILE_FLAG_OPEN_REPARSE_POINT, READ_CONTROL};
    use windows::core::PWSTR;

    /// The owner and access control list of one file.
    #[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
    pub(crate) struct Security {
        /// `DOMAIN\name` of the owner, or its SID (`S-1-5-21-…`) when no account name
        /// resolves (a deleted account, a domain out of reach); empty when unreadable.
        pub owner: String,
        /// BLAKE3 of the DACL in SDDL, its control flags (protected, auto-inherited)
        /// included; `None` when it could not be read.
        pub dacl: Option<Hash32>,
    }

    impl Security {
        /// Reads the security descriptor of `path` itself (a symbolic link or junction is
        /// not followed). What cannot be read is left empty and logged once per path at
        /// debug level: the agent runs as LocalSystem, which may read every descriptor, so
        /// a failure here is a file that went away or a volume without ACLs (FAT).
        pub(crate) fn read(path: &Path) -> Security {
            match read_descriptor(path) {
                Ok(security) => security,
                Err(e) => {
                    tracing::debug!(path = %path.display(), error = %e, "cannot read the file's security descriptor");
                    Security::default()
                }
            }
        }

        /// As events carry it.
        pub(crate) fn to_wire(&self) -> Option<FileSecurity> {
            Some(FileSecurity { owner: Text::from(self.owner.as_str()), dacl: self.dacl })
        }
    }

    /// A descriptor allocated by the system (LocalAlloc), freed when dropped.
    struct LocalDescriptor(PSECURITY_DESCRIPTOR);

    impl Drop for LocalDescriptor {
        fn drop(&mut self) {
            // SAFETY: the pointer came from GetSecurityInfo, which allocates with LocalAlloc,
            // and is freed once.
            unsafe {
                LocalFree(Some(HLOCAL(self.0.0)));
            }
        }
    }

    fn read_descriptor(path: &Path) -> std::io::Result<Security> {
        // READ_CONTROL alone reads the descriptor without opening the content (no sharing
        // conflict with a file held open, as registry hives are); backup semantics open
        // directories; the reparse flag keeps a link from being followed.
        let file = std::fs::OpenOptions::new()
            .access_mode(READ_CONTROL.0)
            .custom_flags(FILE_FLAG_BACKUP_SEMANTICS.0 | FILE_FLAG_OPEN_REPARSE_POINT.0)
            .open(path)?;
        let mut owner = PSID::default();
        let mut raw = PSECURITY_DESCRIPTOR::default();
        // SAFETY: the handle is open for the call; on success `raw` is a LocalAlloc'd
        // descriptor that `descriptor` frees, and `owner` points into it.
        let status = unsafe {
            GetSecurityInfo(
                HANDLE(file.as_raw_handle()),
                SE_FILE_OBJECT,
                OWNER_SECURITY_INFORMATION | DACL_SECURITY_INFORMATION,
                Some(&mut owner),
                None,
                None,
                None,
                Some(&mut raw),
            )
        };
        if status.is_err() {
            return Err(std::io::Error::from_raw_os_error(status.0 as i32));
        }
        let descriptor = LocalDescriptor(raw);
        let owner = if owner.is_invalid() { String::new() } else { account_name(owner) };
        let dacl = dacl_sddl(&descriptor).map(|sddl| *blake3::hash(sddl.as_bytes()).as_bytes());
        Ok(Security { owner, dacl })
    }

    /// The DACL of `descriptor` as SDDL text (`D:P(A;OICI;FA;;;SY)…`).
    fn dacl_sddl(descriptor: &LocalDescriptor) -> Option<String> {
        let mut text = PWSTR::null();
        // SAFETY: the descriptor is valid while `descriptor` lives; the string the call
        // allocates is copied, then freed.
        unsafe {
            ConvertSecurityDescriptorToStringSecurityDescriptorW(
                descriptor.0,
                SDDL_REVISION_1,
                DACL_SECURITY_INFORMATION,
                &mut text,
                None,
            )
            .ok()?;
            let sddl = text.to_string().ok();
            LocalFree(Some(HLOCAL(text.0.cast())));
            sddl
        }
    }

    /// Account names looked up so far, by SID: a tree has few owners, and a lookup may ask
    /// a domain controller.
    fn names() -> &'static Mutex<HashMap<String, String>> {
        static NAMES: OnceLock<Mutex<HashMap<String, String>>> = OnceLock::new();
        NAMES.get_or_init(Mutex::default)
    }

    /// Owners remembered at most; past it names are looked up each time.
    const MAX_NAMES: usize = 4096;

    /// `DOMAIN\name` for `sid`, else the SID's string form.
    fn account_name(sid: PSID) -> String {
        let Some(sid_text) = sid_string(sid) else { return String::new() };
        let mut known = names().lock().unwrap_or_else(|e| e.into_inner());
        if let Some(name) = known.get(&sid_text) {
            return name.clone();
        }
        let name = lookup(sid).unwrap_or_else(|| sid_text.clone());
        if known.len() < MAX_NAMES {
            known.insert(sid_text, name.clone());
        }
        name
    }

    fn sid_string(sid: PSID) -> Option<String> {
        let mut text = PWSTR::null();
        // SAFETY: `sid` points into a live descriptor; the allocated string is copied, then
        // freed.
        unsafe {
            ConvertSidToStringSidW(sid, &mut text).ok()?;
            let s = text.to_string().ok();
            LocalFree(Some(HLOCAL(text.0.cast())));
            s
        }
    }

    fn lookup(sid: PSID) -> Option<String> {
        let (mut name_len, mut domain_len) = (0u32, 0u32);
        let mut kind = SID_NAME_USE::default();
        // SAFETY: the first call only reports the sizes (it fails with a short buffer, which
        // is expected); the second gets buffers of those sizes, in characters.
        unsafe {
            let _ = LookupAccountSidW(None, sid, None, &mut name_len, None, &mut domain_len, &mut kind);
            if name_len == 0 {
                return None;
            }
            let mut name = vec![0u16; name_len as usize];
            let mut domain = vec![0u16; domain_len.max(1) as usize];
            LookupAccountSidW(
                None,
                sid,
                Some(PWSTR(name.as_mut_ptr())),
                &mut name_len,
                Some(PWSTR(domain.as_mut_ptr())),
                &mut domain_len,
                &mut kind,
            )
            .ok()?;
            let name = String::from_utf16_lossy(&name[..name_len as usize]);
            let domain = String::from_utf16_lossy(&domain[..domain_len as usize]);
            Some(if domain.is_empty() { name } else { format!("{domain}\\{name}") })
        }
    }

    /// The file attribute bits someone sets on purpose, by name, in bit order. The bits above
    /// (cloud-file hydration and pinning) change by themselves as OneDrive works, and
    /// FILE_ATTRIBUTE_NORMAL only means "none of these".
    const ATTRIBUTES: [(u32, &str); 15] = [
        (0x1, "readonly"),
        (0x2, "hidden"),
        (0x4, "system"),
        (0x10, "directory"),
        (0x20, "archive"),
        (0x40, "device"),
        (0x100, "temporary"),
        (0x200, "sparse"),
        (0x400, "reparse_point"),
        (0x800, "compressed"),
        (0x1000, "offline"),
        (0x2000, "not_content_indexed"),
        (0x4000, "encrypted"),
        (0x8000, "integrity_stream"),
        (0x20000, "no_scrub_data"),
    ];

    /// The recorded attribute bits of `raw` (`GetFileAttributes`): those of [`ATTRIBUTES`].
    pub(crate) fn recorded_attributes(raw: u32) -> u32 {
        raw & ATTRIBUTES.iter().fold(0, |mask, (bit, _)| mask | bit)
    }

    /// The names of the set bits of `attributes`, comma-separated in bit order
    /// (`readonly,hidden,archive`); bits without a name are left out.
    pub fn attribute_names(attributes: u32) -> String {
        ATTRIBUTES.iter().filter(|(bit, _)| attributes & bit != 0).map(|(_, name)| *name).collect::<Vec<_>>().join(",")
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn attributes_are_named_in_bit_order_and_volatile_bits_are_not_recorded() {
            assert_eq!(attribute_names(0x1 | 0x2 | 0x20), "readonly,hidden,archive");
            assert_eq!(attribute_names(0), "");
            // RECALL_ON_DATA_ACCESS (0x400000) and PINNED (0x80000) move by themselves.
            assert_eq!(recorded_attributes(0x20 | 0x400000 | 0x80000 | 0x80), 0x20);
        }

        /// Gives `path` the DACL of `sddl`.
        fn set_dacl(path: &Path, sddl: &str) {
            use std::os::windows::ffi::OsStrExt;
            use windows::Win32::Security::Authorization::ConvertStringSecurityDescriptorToSecurityDescriptorW;
            use windows::Win32::Security::SetFileSecurityW;
            use windows::core::PCWSTR;
            let sddl: Vec<u16> = sddl.encode_utf16().chain([0]).collect();
            let wide: Vec<u16> = path.as_os_str().encode_wide().chain([0]).collect();
            let mut raw = PSECURITY_DESCRIPTOR::default();
            // SAFETY: both strings are NUL-terminated; the descriptor is freed by the guard.
            unsafe {
                ConvertStringSecurityDescriptorToSecurityDescriptorW(
                    PCWSTR(sddl.as_ptr()),
                    SDDL_REVISION_1,
                    &mut raw,
                    None,
                )
                .expect("valid SDDL");
                let descriptor = LocalDescriptor(raw);
                SetFileSecurityW(PCWSTR(wide.as_ptr()), DACL_SECURITY_INFORMATION, descriptor.0).expect("set the DACL");
            }
        }

        #[test]
        fn the_owner_resolves_to_an_account_and_a_new_dacl_changes_the_digest() {
            let dir = tempfile::tempdir().expect("tempdir");
            let file = dir.path().join("tệp.txt");
            std::fs::write(&file, "x").expect("write");
            let before = Security::read(&file);
            eprintln!("before: {before:?}");
            assert!(!before.owner.is_empty() && !before.owner.starts_with("S-1-"), "{before:?}");
            assert!(before.dacl.is_some(), "{before:?}");
            set_dacl(&file, "D:P(A;;FA;;;SY)(A;;FR;;;WD)");
            let after = Security::read(&file);
            eprintln!("after: {after:?}");
            assert_eq!(after.owner, before.owner);
            assert_ne!(after.dacl, before.dacl, "the digest follows the DACL");
        }
    }
}
