//! On Windows a private directory is one whose access control list lets in only SYSTEM, the
//! Administrators group and the directory's owner (through the OWNER RIGHTS principal), and
//! no permission inherited from above: under `%ProgramData%`, created by the service running
//! as LocalSystem, that is SYSTEM and Administrators only. Everything made inside inherits it.

use std::io;
use std::os::windows::ffi::OsStrExt;
use std::path::Path;
use windows_sys::Win32::Foundation::LocalFree;
use windows_sys::Win32::Security::Authorization::{
    ConvertStringSecurityDescriptorToSecurityDescriptorW, SDDL_REVISION_1,
};
use windows_sys::Win32::Security::{
    DACL_SECURITY_INFORMATION, PROTECTED_DACL_SECURITY_INFORMATION, PSECURITY_DESCRIPTOR, SetFileSecurityW,
};

/// Protected (`P`: nothing inherited), full control for SYSTEM, Administrators and the owner,
/// inherited by files and directories inside (`OICI`).
pub(crate) const PRIVATE_DACL: &str = "D:P(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)(A;OICI;FA;;;OW)";

fn wide(text: &std::ffi::OsStr) -> Vec<u16> {
    text.encode_wide().chain([0]).collect()
}

/// Gives `dir` the private access control list.
pub(crate) fn restrict(dir: &Path) -> io::Result<()> {
    let sddl = wide(PRIVATE_DACL.as_ref());
    let mut descriptor: PSECURITY_DESCRIPTOR = std::ptr::null_mut();
    // SAFETY: `sddl` is NUL-terminated; on success `descriptor` is a LocalAlloc'd security
    // descriptor that is freed below, whatever SetFileSecurityW answers.
    unsafe {
        if ConvertStringSecurityDescriptorToSecurityDescriptorW(
            sddl.as_ptr(),
            SDDL_REVISION_1,
            &mut descriptor,
            std::ptr::null_mut(),
        ) == 0
        {
            return Err(io::Error::last_os_error());
        }
        let path = wide(dir.as_os_str());
        let set = SetFileSecurityW(
            path.as_ptr(),
            DACL_SECURITY_INFORMATION | PROTECTED_DACL_SECURITY_INFORMATION,
            descriptor,
        );
        let error = io::Error::last_os_error();
        LocalFree(descriptor);
        if set == 0 {
            return Err(error);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use windows_sys::Win32::Security::Authorization::ConvertSecurityDescriptorToStringSecurityDescriptorW;
    use windows_sys::Win32::Security::GetFileSecurityW;

    /// The access control list of `path` in SDDL, as Windows reports it.
    fn dacl(path: &Path) -> io::Result<String> {
        let path = wide(path.as_os_str());
        let mut needed = 0u32;
        // SAFETY: the first call only asks for the size; the buffer passed to the second holds
        // `needed` bytes, aligned for a security descriptor (u64 elements); the string
        // ConvertSecurityDescriptorToStringSecurityDescriptorW allocates is freed after copying.
        unsafe {
            GetFileSecurityW(path.as_ptr(), DACL_SECURITY_INFORMATION, std::ptr::null_mut(), 0, &mut needed);
            let mut buffer = vec![0u64; (needed as usize).div_ceil(8).max(1)];
            let descriptor = buffer.as_mut_ptr().cast();
            if GetFileSecurityW(path.as_ptr(), DACL_SECURITY_INFORMATION, descriptor, needed, &mut needed) == 0 {
                return Err(io::Error::last_os_error());
            }
            let mut text: *mut u16 = std::ptr::null_mut();
            let mut length = 0u32;
            if ConvertSecurityDescriptorToStringSecurityDescriptorW(
                descriptor,
                SDDL_REVISION_1,
                DACL_SECURITY_INFORMATION,
                &mut text,
                &mut length,
            ) == 0
            {
                return Err(io::Error::last_os_error());
            }
            let sddl = String::from_utf16_lossy(std::slice::from_raw_parts(text, length as usize));
            LocalFree(text.cast());
            Ok(sddl.trim_end_matches('\0').to_string())
        }
    }

    #[test]
    fn a_private_directory_admits_only_system_administrators_and_its_owner() {
        let parent = tempfile::tempdir().expect("tempdir");
        let dir = parent.path().join("trạng thái");
        crate::secure_dir(&dir, "state directory").expect("secure");
        let sddl = dacl(&dir).expect("read the DACL back");
        assert!(sddl.starts_with("D:P"), "nothing inherited: {sddl}");
        for ace in ["(A;OICI;FA;;;SY)", "(A;OICI;FA;;;BA)", "(A;OICI;FA;;;OW)"] {
            assert!(sddl.contains(ace), "{ace} in {sddl}");
        }
        assert_eq!(sddl.matches("(A;").count(), 3, "no other access: {sddl}");
    }
}
